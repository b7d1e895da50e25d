#!/bin/sh
# kill_model_selftest.sh BINARY KINDS -- run test_kill_model built against a
# library with a seeded bug (power-loss mode unless
# KM_SELFTEST_MODE says otherwise, up to 200 rounds, stop at
# the first failing round) and pass only if it reported a failure of one of
# the expected kinds (an extended regex, e.g. "lost-op").  A run that
# passes, crashes, or fails with another kind fails the self-test.
# KM_SELFTEST_MODE=kill runs kill -9 rounds instead (WAL mode's check).
# POLITE + NOPAIRS: the workload in which the unseeded library (base commit
# included, A4/C1-C3 notwithstanding) passes, so only the seeded bug shows.
bin=$1
kinds=$2
out=$(PMSTORE_KM_POLITE=1 PMSTORE_KM_NOPAIRS=1 PMSTORE_KM_MODE=${KM_SELFTEST_MODE:-pl} PMSTORE_KM_ROUNDS=${PMSTORE_KM_ROUNDS:-200} PMSTORE_KM_BIGROUNDS=0 "$bin" 2>&1)
echo "$out" | grep -E 'KILLMODEL-FAIL|seed|rounds|operations' | head -40
if echo "$out" | grep -Eq "KILLMODEL-FAIL kind=($kinds) "; then
	echo "selftest: expected failure kind reported"
	# clean up the kept images of this run
	for f in $(echo "$out" | sed -n 's/^  image kept in //p'); do
		rm -f "$f"
		rmdir "$(dirname "$f")" 2>/dev/null
	done
	exit 0
fi
echo "selftest: no KILLMODEL-FAIL of kind ($kinds) reported"
exit 1
