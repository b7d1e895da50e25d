#!/bin/sh
# expect_oracle.sh TAG CMD... -- run CMD (a pmfuzz_replay built with a
# seeded harness bug, PMFUZZ_HBUG) and pass only if it fails with the oracle
# TAG ("pmfuzz ORACLE [TAG]"): the check meant to catch that bug does.
tag=$1
shift
# the run aborts on purpose, so its seed directory is not removed by it
dir=$(mktemp -d "${PMFUZZ_TMP:-/dev/shm}/pmfuzz-hbug.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
out=$(PMFUZZ_TMP="$dir" PMFUZZ_VERIFY_SYNC=1 "$@" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
	echo "NOT CAUGHT: $* passed"
	printf '%s\n' "$out" | tail -3
	exit 1
fi
if ! printf '%s\n' "$out" | grep -q "pmfuzz ORACLE \[$tag\]"; then
	echo "WRONG FAILURE: no [$tag] oracle (rc $rc)"
	printf '%s\n' "$out" | tail -5
	exit 1
fi
echo "caught: $(printf '%s\n' "$out" | grep -m1 "pmfuzz ORACLE \[$tag\]")"
