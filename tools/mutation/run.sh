#!/bin/sh
# run.sh -- mutation testing of the crash-consistency checks (issue 11).
#
# Checks: that every mutant of tools/mutation/mutants.txt (fences, flushes,
# stores moved across fences, pending/in-flight marks, recovery steps and
# order, checksums and covers, close, boot, T8 placement, heap H1/H3/H5)
# makes at least one check of each named set fail.  Writes a table to
# tools/mutation/results.md and the raw results to
# build-mut/run-*/results.jsonl.  The model and its limits (a survival in a
# multi-threaded check is not a proof; --quick shortens the loops) are in
# mutate.py's header.  One mutant at a time, builds with -j2, checks one at
# a time, each bounded by a timeout (a timeout counts as killed).
#
#   tools/mutation/run.sh [--quick] [OPTIONS] [CHECKSET...]
#     CHECKSET   old | new | a regex over ctest names (default: old new)
#     --quick    shorter crash loops (fewer ops / rounds)
#     --ids M01,M02,...          only these mutants
#     --extra NAME='CMD ARGS'    one more check in "new" (CMD relative to the
#                                build dir), e.g. --extra 'ic=icount/icount'
#     --no-baseline [--baseline-times FILE.json]   skip the clean run
#     --cap SECONDS              cap every check's timeout
#     --verify                   only check the patterns (each matches once)
#     --report JSONL...          only regenerate results.md from raw results
#   MUT_SEED=n   seed of the seeded checkers (PMSTORE_KM_SEED), default 1
#
# After merging new checkers (e.g. tests/test_crash_model.c labelled crash):
# re-run `tools/mutation/run.sh old new`; "new" is read from ctest then.
set -e
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/mutate.py" "$@"
