#!/bin/sh
# test-perm.sh EXE -- runs PERM's example on pmstore: 10 steps (backups at 4
# and 8), again 3 steps (the globals come back: 13; a backup at 12), then
# -r: the pool is
# restored from the step-12 backup and the globals say 12, consistent.
# Directory unique to the run.  Cannot catch: crashes (test_regress and
# icount check pm_perm_save; test_backup checks backups under kill -9).
set -eu
exe=$1
d=$(mktemp -d "${TMPDIR:-/tmp}/pmstore-perm.XXXXXX")
trap 'rm -rf "$d"' EXIT
out=$("$exe" "$d/pool" "$d/backup" 10)
echo "$out"
echo "$out" | grep -q "^end: steps=10 records=10 .* consistent$"
out=$("$exe" "$d/pool" "$d/backup" 3)
echo "$out"
echo "$out" | grep -q "^start (globals restored): steps=10 .* consistent$"
echo "$out" | grep -q "^end: steps=13 records=13 .* consistent$"
out=$("$exe" -r "$d/pool" "$d/backup" 1)
echo "$out"
echo "$out" | grep -q "^start (globals restored): steps=12 records=12 .* consistent$"
echo "$out" | grep -q "^end: steps=13 records=13 .* consistent$"
echo "example_perm: ok"
