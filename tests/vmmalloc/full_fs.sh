#!/bin/sh
# full_fs.sh LIB FILL HELLO -- a pool bigger than its file system: libvmmalloc
# keeps the pool file sparse and reserves blocks as the heap grows, so when
# the file system is full the program must see ENOMEM (malloc NULL, its own
# out-of-memory error), never SIGBUS.
# Model: a tmpfs of 8 MiB, mounted by this script (needs root; otherwise it
# prints why and skips, exit 0 with "SKIP"), holding a 64 MiB pool.
# Checks: vm_fill (FILL) runs out with ENOMEM after 3-8 MiB, refills >= 90 %
# after freeing, calloc fails cleanly; python3 with PYTHONMALLOC=malloc gets
# MemoryError (status 1, not 135); a 1 GiB pool on the 8 MiB file system
# starts; fork mode 2 with no room for the copy ends only the child.
# Cannot catch: SIGBUS on file systems without fallocate (documented), or on
# pages no allocation reached.
lib=$1 fill=$2 hello=$3
if [ "$(id -u)" != 0 ]; then
	echo "SKIP full_fs: needs root to mount a small tmpfs"
	exit 0
fi
mnt=$(mktemp -d /tmp/vmm_fullfs.$$.XXXXXX)
if ! mount -t tmpfs -o size=8m tmpfs "$mnt" 2>/dev/null; then
	rmdir "$mnt"
	echo "SKIP full_fs: cannot mount tmpfs (no CAP_SYS_ADMIN here)"
	exit 0
fi
out=$(mktemp -d)
trap 'umount "$mnt"; rmdir "$mnt"; rm -rf "$out"' EXIT
fails=0
VM="VMMALLOC_POOL_DIR=$mnt VMMALLOC_POOL_SIZE=64M"

env $VM LD_PRELOAD="$lib" "$fill" >"$out/fill" 2>"$out/fill.err"
rc=$?
set -- $(cat "$out/fill")
if [ $rc -eq 0 ] && [ "$1" = filled ] && [ "$2" -ge $((3 << 20)) ] &&
	[ "$2" -le $((8 << 20)) ]; then
	echo "ok   vm_fill: ENOMEM after $2 bytes, refilled $3 ($(cat "$out/fill.err"))"
else
	echo "FAIL vm_fill: status $rc (135 = SIGBUS), output: $(cat "$out/fill")"
	cat "$out/fill.err"; fails=$((fails + 1))
fi
[ -z "$(ls -A "$mnt")" ] || { echo "FAIL files left in $mnt"; fails=$((fails + 1)); }

PY=$(command -v python3)
if [ -n "$PY" ]; then
	env $VM PYTHONMALLOC=malloc LD_PRELOAD="$lib" "$PY" -c '
b = []
for i in range(64):
    b.append(bytearray(1 << 20))
print("not full")' >"$out/py" 2>"$out/py.err"
	rc=$?
	if [ $rc -eq 1 ] && grep -q MemoryError "$out/py.err"; then
		echo "ok   python3: MemoryError, status 1"
	else
		echo "FAIL python3: status $rc (135 = SIGBUS)"; tail -3 "$out/py.err"
		fails=$((fails + 1))
	fi
else
	echo "skip python3: not installed"
fi

# A pool far bigger than the file system starts: nothing is reserved upfront.
if env VMMALLOC_POOL_DIR="$mnt" VMMALLOC_POOL_SIZE=1G LD_PRELOAD="$lib" "$hello" |
	grep -q "hello 5"; then
	echo "ok   1 GiB pool on an 8 MiB file system starts"
else
	echo "FAIL 1 GiB pool on an 8 MiB file system"; fails=$((fails + 1))
fi

# Fork mode 2 while the file system is nearly full: the copy cannot be made,
# the child exits 1 with one line, the parent carries on.
env $VM VMMALLOC_FORK=2 LD_PRELOAD="$lib" sh -c '
	env -u LD_PRELOAD dd if=/dev/zero of='"$mnt"'/filler bs=64k 2>/dev/null
	(exit 0); echo "child status $?"; rm -f '"$mnt"'/filler; echo parent alive' \
	>"$out/f2" 2>"$out/f2.err"
if grep -q "child status 1" "$out/f2" && grep -q "parent alive" "$out/f2" &&
	grep -q "^libvmmalloc: VMMALLOC_FORK=2" "$out/f2.err"; then
	echo "ok   fork mode 2 without room: child status 1, parent alive"
else
	echo "FAIL fork mode 2 without room:"; cat "$out/f2" "$out/f2.err"
	fails=$((fails + 1))
fi

echo "$fails failure(s)"
[ $fails -eq 0 ]
