#!/bin/sh
# .ci/figures.sh BUILD -- after a ctest run, print the crash checkers' figures
# (operations, images, failures): every line a test printed that starts
# with "figures:", and the summary lines of the model checker, the
# multi-threaded kill loop and the flush-table check (ctest keeps test
# output in Testing/Temporary/LastTest.log).
B=${1:-build}
LOG=$B/Testing/Temporary/LastTest.log
[ -f "$LOG" ] || exit 0
echo "---- crash checkers' figures ----"
grep -h -E '^figures: |^crash_model: seed=|^(power loss|kill -9): [0-9]+ operations returned|table: [0-9]+ ranges checked|^pool, [0-9]+ thread' "$LOG" |
	sed 's/^figures: /  /; s/^\([^ ]\)/  \1/' | sort -u
