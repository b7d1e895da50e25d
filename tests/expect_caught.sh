#!/bin/sh
# expect_caught.sh EXE TEST -- run one cmocka test of EXE (built against a
# library with a seeded bug) and pass only if THAT test fails: the check
# catches the bug it is there for, not just anything.
# The test fails on purpose, so it does not remove its pools: it runs with
# its own directory (under PMSTORE_TEST_DIR or /dev/shm), removed here.
exe=$1 test=$2
dir=$(mktemp -d "${PMSTORE_TEST_DIR:-/dev/shm}/pmstore-caught.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
out=$(PMSTORE_TEST_DIR="$dir" TEST_FILTER="$test" "$exe" 2>&1)
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
