#!/bin/sh
# fuzz/run.sh MINUTES -- a short libFuzzer campaign of fuzz/pmfuzz (issue 13).
# Configures a clang build in build-fuzz (-DPMSTORE_FUZZ=ON), builds the
# fuzzer, runs it for MINUTES (default 2) on one job/one worker (the machine
# is shared), starting from fuzz/corpus and fuzz/crashers, and prints execs
# and findings.  New inputs go to build-fuzz/corpus, crashes/timeouts to
# build-fuzz/findings (copy the ones worth keeping to fuzz/crashers with a
# README line).  Seed pools live in a run-unique directory under /dev/shm,
# removed at the end.  Env: PMFUZZ_SEED (libFuzzer -seed, printed),
# PMFUZZ_EXTRA (more libFuzzer flags), PMFUZZ_SKIP (oracle tags to pass
# over, default none),
# PMFUZZ_SKIP_MSG (message substrings to pass over, default none).
# Cannot catch: what fuzz_pool.c's header lists; a short run finds little.
set -eu
MIN=${1:-2}
HERE=$(cd "$(dirname "$0")/.." && pwd)
B=$HERE/build-fuzz
SEED=${PMFUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
cmake -S "$HERE" -B "$B" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	-DPMSTORE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$B" -j2 --target pmfuzz >/dev/null 2>&1 || cmake --build "$B" -j2 --target pmfuzz
mkdir -p "$B/corpus" "$B/findings"
TMP=$(mktemp -d /dev/shm/pmfuzz-run.$$.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM
LOG=$B/fuzz-$$.log
# oracles of bugs already known (fuzz/crashers/KNOWN) that would stop every
# run at once: PMFUZZ_SKIP= (empty) checks them all
SKIP=${PMFUZZ_SKIP-}
SKIP_MSG=${PMFUZZ_SKIP_MSG-}
echo "pmfuzz: $MIN minute(s), seed $SEED, log $LOG, oracles passed over: ${SKIP:-none}, messages: ${SKIP_MSG:-none}"
set +e
cd "$B"
PMFUZZ_SKIP=$SKIP PMFUZZ_SKIP_MSG=$SKIP_MSG PMFUZZ_TMP=$TMP ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
UBSAN_OPTIONS=print_stacktrace=1 \
"$B/fuzz/pmfuzz" -jobs=1 -workers=1 -seed="$SEED" -max_len=512 -timeout=5 \
	-rss_limit_mb=2048 -max_total_time=$((MIN * 60)) -print_final_stats=1 \
	-artifact_prefix="$B/findings/" ${PMFUZZ_EXTRA:-} \
	"$B/corpus" "$HERE/fuzz/corpus" >"$LOG" 2>&1
rc=$?
set -e
# -jobs writes the worker's output to fuzz-0.log in the cwd
[ -f "$B/fuzz-0.log" ] && cat "$B/fuzz-0.log" >>"$LOG" && rm -f "$B/fuzz-0.log"
echo "pmfuzz: exit $rc"
grep -E "stat::number_of_executed_units|Done [0-9]+ runs|ORACLE|ERROR: (Address|libFuzzer)|runtime error|SUMMARY" "$LOG" | sort | uniq -c | head -40
echo "findings in $B/findings:"
ls -la "$B/findings"
