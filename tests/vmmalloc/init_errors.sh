#!/bin/sh
# init_errors.sh LIB HELLO DIR -- libvmmalloc's start-up checks.
# Every missing or invalid variable must end the process with status 1 and
# exactly one line on stderr naming the variable; valid settings must run
# silently; the log variables must do what libvmmalloc(7) says.
lib=$1 hello=$2 dir=$3
fails=0
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect_fail NAME_IN_MESSAGE env-assignments...
expect_fail() {
	want=$1; shift
	env -u VMMALLOC_POOL_DIR -u VMMALLOC_POOL_SIZE "$@" LD_PRELOAD="$lib" \
		"$hello" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(wc -l <"$tmp/err")
	if [ $rc -ne 1 ] || [ "$lines" -ne 1 ] || ! grep -q "^libvmmalloc: .*$want" "$tmp/err" ||
		[ -s "$tmp/out" ]; then
		echo "FAIL ($*): rc=$rc, stderr:"; cat "$tmp/err"; fails=$((fails + 1))
	else
		echo "ok   ($*): $(cat "$tmp/err")"
	fi
}

expect_ok() {
	env "$@" LD_PRELOAD="$lib" "$hello" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -ne 0 ] || [ "$(cat "$tmp/out")" != "hello 5" ] || [ -s "$tmp/err" ]; then
		echo "FAIL ($*): rc=$rc, stderr:"; cat "$tmp/err"; fails=$((fails + 1))
	else
		echo "ok   ($*)"
	fi
}

D=VMMALLOC_POOL_DIR=$dir
expect_fail VMMALLOC_POOL_DIR VMMALLOC_POOL_SIZE=64M
expect_fail VMMALLOC_POOL_DIR VMMALLOC_POOL_DIR= VMMALLOC_POOL_SIZE=64M
expect_fail VMMALLOC_POOL_SIZE "$D"
for bad in "" abc 12X -5 64MB 1.5G " 64M" 99999999999999999999999 99999999999T; do
	expect_fail VMMALLOC_POOL_SIZE "$D" "VMMALLOC_POOL_SIZE=$bad"
done
expect_fail minimum "$D" VMMALLOC_POOL_SIZE=1M
expect_fail minimum "$D" VMMALLOC_POOL_SIZE=14680063
expect_fail VMMALLOC_POOL_DIR VMMALLOC_POOL_DIR=/nonexistent/dir VMMALLOC_POOL_SIZE=64M
expect_fail VMMALLOC_POOL_DIR VMMALLOC_POOL_DIR=/etc/passwd VMMALLOC_POOL_SIZE=64M
# The file is sparse now: an absurd size fails at mmap (address space) or
# at ftruncate (past the file system's maximum file size, or off_t).  (A size past the file system's free space
# starts; full_fs.sh checks what happens when it fills.)
expect_fail "cannot \\(map a pool\\|size the pool file\\)" "$D" VMMALLOC_POOL_SIZE=100000T
expect_fail "cannot size the pool file" "$D" VMMALLOC_POOL_SIZE=9000000T
expect_fail VMMALLOC_FORK "$D" VMMALLOC_POOL_SIZE=64M VMMALLOC_FORK=4
expect_fail VMMALLOC_FORK "$D" VMMALLOC_POOL_SIZE=64M VMMALLOC_FORK=x
expect_fail VMMALLOC_LOG_LEVEL "$D" VMMALLOC_POOL_SIZE=64M VMMALLOC_LOG_LEVEL=9
expect_fail VMMALLOC_LOG_FILE "$D" VMMALLOC_POOL_SIZE=64M VMMALLOC_LOG_FILE=/nonexistent/log

expect_ok "$D" VMMALLOC_POOL_SIZE=14680064 # exactly VMMALLOC_MIN_POOL
expect_ok "$D" VMMALLOC_POOL_SIZE=16384k
expect_ok "$D" VMMALLOC_POOL_SIZE=64M
expect_ok "$D" VMMALLOC_POOL_SIZE=1G VMMALLOC_FORK=0
expect_ok "$D" VMMALLOC_POOL_SIZE=64M VMMALLOC_LOG_LEVEL=0

# VMMALLOC_LOG_FILE with a trailing '-' gets the pid; level 2 logs the pool.
env "$D" VMMALLOC_POOL_SIZE=64M VMMALLOC_LOG_LEVEL=2 VMMALLOC_LOG_FILE="$tmp/log-" \
	VMMALLOC_LOG_STATS=1 LD_PRELOAD="$lib" "$hello" >"$tmp/out" 2>"$tmp/err"
log=$(ls "$tmp"/log-[0-9]* 2>/dev/null | head -1)
if [ -n "$log" ] && grep -q "pool of 67108864 bytes" "$log" && grep -q "stats: allocated" "$log" &&
	[ ! -s "$tmp/err" ]; then
	echo "ok   log file $log"
else
	echo "FAIL log file"; ls "$tmp"; cat "$tmp/err"; fails=$((fails + 1))
fi
# VMMALLOC_LOG_STATS=1 alone: the summary goes to stderr.
env "$D" VMMALLOC_POOL_SIZE=64M VMMALLOC_LOG_STATS=1 LD_PRELOAD="$lib" "$hello" \
	>/dev/null 2>"$tmp/err"
if grep -q "stats: pool 67108864 bytes" "$tmp/err"; then echo "ok   stats"; else
	echo "FAIL stats"; fails=$((fails + 1)); fi
# Programs that close stderr before exit (gnulib's close_stdout: ls, sort,
# wc, cat, tar) still get their statistics: libvmmalloc writes them to a
# copy of stderr made at start-up.  And the stats are on the original
# stderr even when the program has reused descriptor 2 for something else.
for prog in "ls /" "sort /etc/passwd" "wc /etc/passwd" "cat /etc/passwd" "tar cf - /etc/passwd"; do
	env "$D" VMMALLOC_POOL_SIZE=64M VMMALLOC_LOG_STATS=1 LD_PRELOAD="$lib" $prog \
		>/dev/null 2>"$tmp/err"
	n=$(grep -c "^<libvmmalloc>: <1> \[[0-9]*\] stats: " "$tmp/err")
	if [ "$n" -ge 5 ] && grep -q "stats: pool 67108864 bytes" "$tmp/err"; then
		echo "ok   stats of $prog ($n lines)"
	else
		echo "FAIL stats of $prog: $n lines:"; cat "$tmp/err"; fails=$((fails + 1))
	fi
done
# A program that replaces descriptor 2 after start-up: the stats still go
# to the stderr it started with, never into its new file.
env "$D" VMMALLOC_POOL_SIZE=64M VMMALLOC_LOG_STATS=1 LD_PRELOAD="$lib" \
	bash -c "exec 2>$tmp/late; echo x >&2" 2>"$tmp/err"
if [ "$(cat "$tmp/late")" = x ] && grep -q "stats: pool" "$tmp/err"; then
	echo "ok   stats on the original stderr, none in the program's new fd 2"
else
	echo "FAIL stats after exec 2>file:"; cat "$tmp/late" "$tmp/err"; fails=$((fails + 1))
fi

# No pool file is left behind in the directory.
if [ -z "$(ls -A "$dir" | grep vmmalloc)" ]; then echo "ok   no file left"; else
	echo "FAIL files left in $dir"; fails=$((fails + 1)); fi

echo "$fails failure(s)"
[ $fails -eq 0 ]
