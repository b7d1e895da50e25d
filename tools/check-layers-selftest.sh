#!/bin/sh
# check-layers-selftest.sh SRC-DIR -- the layer check must catch an arrow
# upwards: a copy of src/ where log/log.c includes pool/pool.h must fail
# it, naming that file.
src=${1:?usage: check-layers-selftest.sh SRC-DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/layers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp -r "$src" "$tmp/src"
echo '#include "pool/pool.h"' >> "$tmp/src/log/log.c"
out=$(sh "$here/check-layers.sh" "$tmp/src" 2>&1) && { echo "NOT CAUGHT: $out"; exit 1; }
echo "$out" | grep -q 'layer violation: src/log/log.c (log) includes pool/' || { echo "WRONG: $out"; exit 1; }
echo "caught: $(echo "$out" | grep violation)"
