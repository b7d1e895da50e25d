#!/bin/sh
# expect_caught.sh EXE TEST -- run one cmocka test of EXE (built against a
# library with a seeded bug) and pass only if THAT test fails: the check
# catches the bug it is there for, not just anything.
exe=$1 test=$2
out=$(TEST_FILTER="$test" "$exe" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
	echo "NOT CAUGHT: $test passed against $(basename "$exe")"
	echo "$out" | tail -5
	exit 1
fi
if ! printf '%s\n' "$out" | grep -q "\[  FAILED  \] $test"; then
	echo "WRONG FAILURE: $test did not fail as a test (rc $rc)"
	echo "$out" | tail -10
	exit 1
fi
echo "caught: $test fails against $(basename "$exe")"
printf '%s\n' "$out" | grep -E "FAIL at|images|ERROR" | head -3
exit 0
