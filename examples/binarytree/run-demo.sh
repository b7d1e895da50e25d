#!/bin/sh
# run-demo.sh BUILD_DIR -- what `make run` shows: count the words of a
# bundled 1.9 MB text (the GNU coreutils and gettext manuals, GFDL) in a
# persistent tree, print the top words and the pool's statistics, run the
# same text again on the same pool to show every count doubled, and check
# the tree and the pool.  No network needed.  The pool goes to /dev/shm
# (tmpfs) when writable, else $TMPDIR; it is removed at the end.
set -eu
LC_ALL=C
export LC_ALL

build=${1:?usage: run-demo.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/examples/binarytree/binarytree
[ -x "$bin" ] || { echo "run-demo.sh: $bin not built" >&2; exit 1; }

dir=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && dir=/dev/shm
work=$(mktemp -d "$dir/binarytree-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
pool=$work/words.pool
text=$work/gnu-manuals.txt
gzip -dc "$here/data/gnu-manuals.txt.gz" > "$text"

echo "== binarytree: word counts in a persistent binary search tree"
echo "   text: GNU coreutils 9.1 + gettext manuals ($(wc -c < "$text") bytes, GFDL)"
echo "   pool: $pool"
echo
echo "== run 1: $bin --stats POOL TEXT"
"$bin" --stats "$pool" "$text"
echo
echo "== top 10 words after run 1"
"$bin" "$pool" --top 10 | tee "$work/top1"
echo
echo "== run 2 on the same pool (the tree persisted; counts must double)"
"$bin" --stats "$pool" "$text"
echo
echo "== top 10 words after run 2"
"$bin" "$pool" --top 10 | tee "$work/top2"
echo
awk 'NR == FNR { want[$2] = 2 * $1; next }
     { if (want[$2] != $1) { bad = 1; print "   NOT DOUBLED: " $0 } }
     END { exit bad }' "$work/top1" "$work/top2"
"$bin" "$pool" --print | awk '{ s += $1 % 2 } END { exit s != 0 }' ||
	{ echo "   some count is odd after two identical runs" >&2; exit 1; }
echo "== every count doubled (all $("$bin" "$pool" --print | wc -l) words)"
echo
echo "== check: tree order, no leaked object, pm_check"
"$bin" "$pool" --check
