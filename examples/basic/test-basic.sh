#!/bin/sh
# test-basic.sh EXE -- the verdicts of examples/basic under icount: the
# plain-store replacement must fail (exit nonzero) with a report naming
# basic.c, the transactional and action-based ones must pass.  Work
# directories unique to the run (ICOUNT_DIR).  Cannot catch: a wrong
# verdict of icount itself on scenarios other than these (its own
# self-tests: make allcounts-selftest).
set -u
exe=$1
d=$(mktemp -d /dev/shm/pmstore-basic.XXXXXX) || exit 2
trap 'rm -rf "$d"' EXIT
bad=0
ICOUNT_DIR=$d/p "$exe" --quick persist > "$d/persist.log" 2>&1
rc=$?
if [ $rc = 0 ] || ! grep -q "FAIL persist" "$d/persist.log" ||
   ! grep -q "in the program's code: .*basic.c:[0-9]" "$d/persist.log"; then
	echo "FAIL: persist should fail with a report naming basic.c (exit $rc):"
	tail -20 "$d/persist.log"; bad=1
else
	grep -m2 "FAIL persist\|in the program's code" "$d/persist.log"
fi
if ! ICOUNT_DIR=$d/t "$exe" --quick tx actions > "$d/ok.log" 2>&1; then
	echo "FAIL: tx / actions should pass:"; tail -20 "$d/ok.log"; bad=1
else
	grep "^figures" "$d/ok.log"
fi
[ $bad = 0 ] && echo "example_basic_verdicts: ok"
exit $bad
