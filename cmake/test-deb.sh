#!/bin/sh
# test-deb.sh CPACK BUILD-DIR HAVE_VMMALLOC -- build the Debian packages of
# the build tree with CPack (into a directory unique to the run, removed
# after) and check them with dpkg-deb: the package set; what each holds
# (dpkg-deb -c: the library only in libpmstore0, header/static/pkg-config/
# CMake package/man3+7 in libpmstore-dev, the tool and man1 in
# pmstore-tools, ...; every file under /usr; no file in two packages; a
# copyright file in each); their control data (dpkg-deb -I / -f: names,
# versions, Depends on libpmem1 and on the exact library version, the
# shlibs line, the ldconfig trigger).
# Cannot catch: what only an installation on a fresh system shows (`make
# deb` runs lintian and `apt-get install -s` for that), packages of a build
# configured for another prefix.
set -u
CPACK=$1 B=$2 VM=$3
D=$(mktemp -d "/dev/shm/pmstore-deb.$$.XXXXXX") || exit 2
trap 'rm -rf "$D"' EXIT
bad=0
fail() { echo "FAIL: $*"; bad=$((bad + 1)); }
(cd "$B" && "$CPACK" -G DEB -B "$D" >"$D/cpack.log" 2>&1) || { cat "$D/cpack.log"; fail "cpack"; exit 1; }
pkgs="libpmstore0 libpmstore-dev pmstore-tools"
[ "$VM" = 1 ] && pkgs="$pkgs libvmmalloc1 libvmmalloc-dev"
n=$(ls "$D"/*.deb | wc -l)
[ "$n" = "$(echo $pkgs | wc -w)" ] || fail "$n packages, want: $pkgs"
ver=
for p in $pkgs; do
	f=$(ls "$D/${p}_"*.deb 2>/dev/null)
	[ -n "$f" ] || { fail "no package $p"; continue; }
	dpkg-deb -I "$f" >/dev/null || fail "$p: dpkg-deb -I"
	[ "$(dpkg-deb -f "$f" Package)" = "$p" ] || fail "$p: Package field"
	v=$(dpkg-deb -f "$f" Version)
	[ -z "$ver" ] && ver=$v
	[ "$v" = "$ver" ] || fail "$p: version $v, others $ver"
	dpkg-deb -c "$f" | awk '{ print $6 }' | grep -v '/$' | sed 's|^\./|/|' > "$D/$p.files"
	grep -v '^/usr/' "$D/$p.files" | sed "s/^/$p outside \/usr: /" | while read -r l; do echo "FAIL: $l"; done
	grep -q "^/usr/share/doc/$p/copyright\$" "$D/$p.files" || fail "$p: no copyright file"
done
has() { grep -q "$2" "$D/$1.files" || fail "$1 lacks $2"; }
hasnt() { ! grep -q "$2" "$D/$1.files" || fail "$1 holds $2"; }
has libpmstore0 '/libpmstore\.so\.0$'
has libpmstore0 '/libpmstore\.so\.0\.[0-9.]*$'
hasnt libpmstore0 '\.h$'
hasnt libpmstore0 '/libpmstore\.so$'
has libpmstore-dev '^/usr/include/pmstore\.h$'
has libpmstore-dev '/libpmstore\.so$'
has libpmstore-dev '/libpmstore\.a$'
has libpmstore-dev '/pkgconfig/pmstore\.pc$'
has libpmstore-dev '/cmake/pmstore/pmstoreConfig\.cmake$'
has libpmstore-dev '/man3/pmstore\.3\.gz$'
has libpmstore-dev '/man7/pmstore\.7\.gz$'
has libpmstore-dev '/include/pmstore_icount\.h$'
has libpmstore-dev '/libpmstore-icount\.a$'
has libpmstore-dev '/pkgconfig/pmstore-icount\.pc$'
[ "$(grep -c '^/usr/include/' "$D/libpmstore-dev.files")" = 2 ] ||
	fail "libpmstore-dev: headers other than pmstore.h and pmstore_icount.h"
has pmstore-tools '^/usr/bin/pmstore$'
has pmstore-tools '/man1/pmstore\.1\.gz$'
if [ "$VM" = 1 ]; then
	has libvmmalloc1 '/libvmmalloc\.so\.1$'
	has libvmmalloc1 '/libvmem\.so\.1$'
	has libvmmalloc1 '/man7/libvmmalloc\.7\.gz$'
	has libvmmalloc-dev '^/usr/include/libvmmalloc\.h$'
	has libvmmalloc-dev '/pkgconfig/libvmem\.pc$'
	hasnt libvmmalloc1 '\.h$'
fi
dup=$(cat "$D"/*.files | sort | uniq -d)
[ -z "$dup" ] || fail "files in two packages: $dup"
dep() { # dep PACKAGE REGEX: the Depends field matches
	d=$(dpkg-deb -f "$D/${1}_"*.deb Depends)
	printf '%s' "$d" | grep -q "$2" || fail "$1: Depends '$d' lacks $2"
}
dep libpmstore0 'libpmem1'
dep libpmstore0 'libc6'
dep libpmstore-dev "libpmstore0 (= $ver)"
dep libpmstore-dev 'libpmem-dev'
dep pmstore-tools 'libpmem1'
[ "$VM" = 1 ] && dep libvmmalloc-dev "libvmmalloc1 (= $ver)"
f=$(ls "$D"/libpmstore0_*.deb)
mkdir "$D/ctl" && dpkg-deb -e "$f" "$D/ctl" || fail "dpkg-deb -e"
grep -q "^libpmstore 0 libpmstore0 " "$D/ctl/shlibs" 2>/dev/null || fail "libpmstore0: shlibs"
grep -q "ldconfig" "$D/ctl/triggers" 2>/dev/null || fail "libpmstore0: no ldconfig trigger"
[ "$(dpkg-deb -f "$f" Section)" = libs ] || fail "libpmstore0: section"
echo "deb: $(echo $pkgs | wc -w) packages, version $ver, $(cat "$D"/*.files | wc -l) files"
exit $bad
