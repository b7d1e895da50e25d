#!/bin/sh
# .ci/figures.sh BUILD -- after a ctest run, print the crash checkers' figures
# (operations, images, failures): every line a test printed that starts
# with "figures:" (ctest keeps test output in Testing/Temporary/LastTest.log).
B=${1:-build}
LOG=$B/Testing/Temporary/LastTest.log
[ -f "$LOG" ] || exit 0
echo "---- crash checkers' figures ----"
grep -h -E '^figures: ' "$LOG" | sed 's/^figures: /  /' | sort -u
