#!/bin/sh
# test-install.sh CMAKE CC BUILD-DIR SOURCE-DIR LIBDIR WHAT -- install the
# build tree into a fresh prefix (unique to the run: mkdtemp with the pid,
# removed after) and consume it from outside, as a user would.
#   WHAT=pkgconfig      what `cmake --install` put in place (every file of
#                       the list, no header but the public ones, no path of
#                       the build or source tree in the .pc and CMake
#                       files); programs built with `pkg-config pmstore`
#                       (shared, and static: --static, libpmstore.a) and
#                       `pkg-config libvmem`, run
#   WHAT=find_package   cmake/consumer with find_package(pmstore CONFIG):
#                       pmstore::pmstore and pmstore::static, their include
#                       paths inside the prefix, no src/ header reachable
#   WHAT=subdirectory   cmake/consumer with add_subdirectory(SOURCE-DIR):
#                       the same targets, no src/ header reachable
#   WHAT=pmemobj        cmake/consumer/both.c: pmstore.h and libpmemobj.h
#                       in one file, -Werror, both libraries linked
#   WHAT=icount         cmake/consumer/icount_list.c through `pkg-config
#                       pmstore-icount`: a correct list push passes icount,
#                       two broken ones fail naming the file's line
# Each program run creates a pool, allocates, commits a transaction,
# reopens and checks it (consumer.c).  Cannot catch: a problem that shows
# only with another compiler, another prefix layout (an absolute LIBDIR),
# or on a system where libpmem is not in the default library path.
set -u
CMAKE=$1 CC=$2 B=$3 S=$4 LIBDIR=$5 WHAT=$6
C=$S/cmake/consumer
D=$(mktemp -d "/dev/shm/pmstore-install.$$.XXXXXX") || exit 2
trap 'rm -rf "$D"' EXIT
P=$D/prefix L=$D/prefix/$LIBDIR
bad=0
fail() { echo "FAIL: $*"; bad=$((bad + 1)); }
run() { # run a built program on a fresh pool directory
	mkdir -p "$D/run" && rm -rf "$D/run"/* && "$@" "$D/run" || fail "$* did not run"
}
needs() { # needs EXE yes|no -- whether EXE records libpmstore.so.0
	if readelf -d "$1" | grep -q 'NEEDED.*libpmstore\.so\.0'; then has=yes; else has=no; fi
	[ "$has" = "$2" ] || fail "$1: NEEDED libpmstore.so.0 is '$has', want '$2'"
}
install_prefix() {
	"$CMAKE" --install "$B" --prefix "$P" >"$D/install.log" 2>&1 ||
		{ cat "$D/install.log"; fail "cmake --install"; exit 1; }
}

case $WHAT in
pkgconfig)
	install_prefix
	for f in include/pmstore.h "$LIBDIR/libpmstore.so" "$LIBDIR/libpmstore.so.0" \
	         "$LIBDIR/libpmstore.a" "$LIBDIR/pkgconfig/pmstore.pc" \
	         "$LIBDIR/cmake/pmstore/pmstoreConfig.cmake" \
	         "$LIBDIR/cmake/pmstore/pmstoreConfigVersion.cmake" \
	         "$LIBDIR/cmake/pmstore/pmstoreTargets.cmake" bin/pmstore \
	         share/man/man1/pmstore.1.gz share/man/man3/pmstore.3.gz share/man/man7/pmstore.7.gz; do
		[ -e "$P/$f" ] || fail "not installed: $f"
	done
	if [ -e "$B/src/vmmalloc/libvmmalloc.so" ]; then
		for f in "$LIBDIR/libvmmalloc.so.1" "$LIBDIR/libvmem.so.1" include/libvmmalloc.h \
		         include/libvmem.h "$LIBDIR/pkgconfig/libvmmalloc.pc" \
		         "$LIBDIR/pkgconfig/libvmem.pc" share/man/man7/libvmmalloc.7.gz; do
			[ -e "$P/$f" ] || fail "not installed: $f"
		done
	fi
	extra=$(cd "$P/include" && ls | grep -v '^\(pmstore\|pmstore_icount\|libvmmalloc\|libvmem\)\.h$')
	[ -z "$extra" ] || fail "headers that are not public installed: $extra"
	leak=$(grep -rl -e "$S" -e "$B" "$L/pkgconfig" "$L/cmake" 2>/dev/null)
	[ -z "$leak" ] || fail "installed files name the source or build tree: $leak"
	grep -q "^prefix=$P\$" "$L/pkgconfig/pmstore.pc" || fail "pmstore.pc: prefix is not $P"
	export PKG_CONFIG_PATH="$L/pkgconfig"
	[ "$(pkg-config --modversion pmstore)" = "$("$P/bin/pmstore" --version | sed -n 's/^pmstore \([0-9.]*\).*/\1/p')" ] ||
		fail "pkg-config --modversion and pmstore --version disagree"
	# shared
	$CC -Wall -Werror -o "$D/pc_shared" "$C/consumer.c" $(pkg-config --cflags --libs pmstore) ||
		fail "build through pkg-config (shared)"
	needs "$D/pc_shared" yes
	LD_LIBRARY_PATH=$L run "$D/pc_shared"
	# static: libpmstore.a and what --static adds for it (libpmem, pthread)
	$CC -Wall -Werror -o "$D/pc_static" "$C/consumer.c" $(pkg-config --cflags pmstore) \
		-Wl,-Bstatic $(pkg-config --libs-only-l pmstore) -Wl,-Bdynamic \
		$(pkg-config --static --libs pmstore | sed 's/-lpmstore//') ||
		fail "build through pkg-config --static"
	needs "$D/pc_static" no
	run "$D/pc_static"
	if [ -e "$L/pkgconfig/libvmem.pc" ]; then
		$CC -Wall -Werror -o "$D/vmem" "$C/vmem_consumer.c" $(pkg-config --cflags --libs libvmem) ||
			fail "build through pkg-config libvmem"
		LD_LIBRARY_PATH=$L run "$D/vmem"
		pkg-config --exists libvmmalloc || fail "pkg-config libvmmalloc"
	fi
	;;
find_package|subdirectory)
	if [ $WHAT = find_package ]; then
		install_prefix
		set -- -DMODE=package -DCMAKE_PREFIX_PATH="$P" -DPMSTORE_PREFIX="$P"
	else
		# Debug (-O0): this builds the library from source, keep it quick
		set -- -DMODE=subdirectory -DPMSTORE_SRC="$S" -DCMAKE_BUILD_TYPE=Debug
	fi
	"$CMAKE" -S "$C" -B "$D/cb" "$@" >"$D/conf.log" 2>&1 ||
		{ cat "$D/conf.log"; fail "configure the consumer ($WHAT)"; exit 1; }
	grep 'pmstore::.*include' "$D/conf.log"
	nice "$CMAKE" --build "$D/cb" -j2 >"$D/build.log" 2>&1 ||
		{ cat "$D/build.log"; fail "build the consumer ($WHAT)"; exit 1; }
	needs "$D/cb/consumer_static" no
	needs "$D/cb/consumer_shared" yes
	run "$D/cb/consumer_static"
	LD_LIBRARY_PATH=$L:$D/cb/pmstore run "$D/cb/consumer_shared"
	;;
icount)
	# a user's crash test of a list push, built from the installed
	# header and library only: the right push passes, a push without the
	# node's flush or with the link first fails naming icount_list.c
	install_prefix
	export PKG_CONFIG_PATH="$L/pkgconfig"
	for v in 0 1 2; do
		$CC -g -O1 -Wall -Werror -DPUSH_BUG=$v -o "$D/list$v" "$C/icount_list.c" \
			$(pkg-config --cflags --libs pmstore-icount) || fail "build icount_list.c ($v)"
	done
	ICOUNT_DIR=$D/w0 "$D/list0" --quick >"$D/l0.log" 2>&1 ||
		{ tail -20 "$D/l0.log"; fail "the correct push does not pass"; }
	grep "^figures" "$D/l0.log"
	for v in 1 2; do
		if ICOUNT_DIR=$D/w$v "$D/list$v" --quick >"$D/l$v.log" 2>&1; then
			fail "the push with bug $v passes"
		elif ! grep -q "icount_list.c:[0-9]" "$D/l$v.log"; then
			tail -20 "$D/l$v.log"; fail "bug $v: the report does not name icount_list.c"
		else
			grep -m1 "icount_list.c:[0-9]" "$D/l$v.log"
		fi
	done
	;;
pmemobj)
	install_prefix
	export PKG_CONFIG_PATH="$L/pkgconfig"
	$CC -Wall -Wextra -Werror -o "$D/both" "$C/both.c" $(pkg-config --cflags --libs pmstore libpmemobj) ||
		fail "pmstore.h and libpmemobj.h in one file"
	LD_LIBRARY_PATH=$L run "$D/both"
	;;
*)
	echo "usage: test-install.sh CMAKE CC BUILD SOURCE LIBDIR pkgconfig|find_package|subdirectory|pmemobj|icount"
	exit 2
	;;
esac
echo "install test $WHAT: $bad failure(s)"
[ $bad = 0 ]
