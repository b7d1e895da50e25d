#!/bin/sh
# flush_crash_selftest.sh BINARY FAULT KIND -- run test_flush_crash with the
# seeded fault PMSTORE_FC_FAULT=FAULT (e.g. drop-msync:3: the third msync is
# silently not issued) and pass only if the checker reported
# "FLUSHCRASH-FAIL kind=KIND".  A clean run, or another kind only, fails.
bin=$1
fault=$2
kind=$3
out=$(PMSTORE_FC_FAULT=$fault PMSTORE_FC_ITERS=${PMSTORE_FC_ITERS:-4000} "$bin" 2>&1)
echo "$out" | grep -E 'FLUSHCRASH-FAIL|seed|checked' | head -20
if echo "$out" | grep -q "FLUSHCRASH-FAIL kind=$kind "; then
	echo "selftest: fault $fault reported as kind=$kind"
	exit 0
fi
echo "selftest: fault $fault NOT reported as kind=$kind"
exit 1
