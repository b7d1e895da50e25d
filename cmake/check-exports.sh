#!/bin/sh
# check-exports.sh LIBPMSTORE.SO PMSTORE.H -- the shared library exports
# exactly the functions include/pmstore.h declares PM_API, each under the
# version node PMSTORE_0 of cmake/pmstore.map, and its SONAME is
# libpmstore.so.0.  Catches: an internal symbol leaking (visibility or the
# version script broken), a public function missing or left unversioned,
# a renamed public function the version script's patterns do not cover.
# Cannot catch: an exported data symbol the header declares without PM_API
# (there are none), or an ABI change that keeps the names.
set -u
lib=${1:?usage: check-exports.sh LIB HEADER} hdr=${2:?usage}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmstore-exports.$$.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
# the name before the first '(' of every line starting with PM_API
sed -n 's/^PM_API[^(]*[^A-Za-z0-9_(]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$hdr" | sort -u > "$tmp/api"
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' > "$tmp/raw"
sed 's/@.*//' "$tmp/raw" | sort -u > "$tmp/exported"
bad=0
n=$(wc -l < "$tmp/api")
[ "$n" -gt 20 ] || { echo "only $n PM_API names parsed from $hdr"; bad=1; }
if ! cmp -s "$tmp/api" "$tmp/exported"; then
	echo "exported symbols differ from the PM_API declarations (< header only, > library only):"
	diff "$tmp/api" "$tmp/exported" | grep '^[<>]'
	bad=1
fi
unversioned=$(grep -v '@@PMSTORE_0$' "$tmp/raw")
[ -z "$unversioned" ] || { echo "not under PMSTORE_0: $unversioned"; bad=1; }
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libpmstore.so.0 ] || { echo "SONAME is '$soname', want libpmstore.so.0"; bad=1; }
echo "exports: $n PM_API functions, $(wc -l < "$tmp/exported") exported, SONAME $soname"
exit $bad
