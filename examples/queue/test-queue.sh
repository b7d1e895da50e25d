#!/bin/sh
# test-queue.sh MODE BINARY -- ctest checks of examples/queue.
#
#   run   one run of 2 x 3000 items to the end: check passes, all consumed,
#         the queue empty; a second run on the same pool has nothing to do
#   kill  ROUNDS (default 40, $QUEUE_ROUNDS) runs of 2 x 20000 items on one
#         pool (a fresh one once a pool's items are all consumed), each
#         SIGKILLed after a delay spread by $QUEUE_SEED (printed) -- with the
#         3 threads anywhere: in a transaction, a commit, holding or waiting
#         on the persistent mutex / conditions -- each followed by `check`
#         (FIFO per producer, every item exactly once, counts, sum, no
#         leaked object, pm_check).  Each run resumes the last (the locks
#         a killed run held must work again without a reset; a hang would
#         be a failure: every run is under `timeout`).  Then a run to the
#         end and a final check with everything consumed.
# Process-kill semantics; power loss is the crash checkers'.  Can NOT
# catch: what only a kill between two particular instructions shows.
set -u
mode=$1 bin=$2
dir=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && dir=/dev/shm
work=$(mktemp -d "$dir/queue-test.$$.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
pool=$work/pool
fail() { echo "FAIL ($mode): $*" >&2; exit 1; }
n=3000

case $mode in
run)
	timeout 60 "$bin" "$pool" run $n > "$work/out" || fail "run: $(cat "$work/out")"
	"$bin" "$pool" check > "$work/chk" || fail "check: $(cat "$work/chk")"
	grep -q "^ok: produced $n + $n, consumed $((2 * n)), 0 queued" "$work/chk" || fail "state: $(cat "$work/chk")"
	timeout 60 "$bin" "$pool" run $n > /dev/null || fail "second run"
	"$bin" "$pool" check | grep -q "consumed $((2 * n)), 0 queued" || fail "second run changed the state"
	echo "ok: 2 x $n items through the queue, 3 threads, FIFO per producer, exactly once"
	;;
kill)
	rounds=${QUEUE_ROUNDS:-40}
	seed=${QUEUE_SEED:-$$}
	n=20000 # per producer: a run takes a few hundred ms on tmpfs
	echo "seed $seed, $rounds rounds"
	r=0 killed=0 fresh=0
	while [ $r -lt $rounds ]; do
		r=$((r + 1))
		us=$(( 1000 + (seed * 7919 + r * 104729) % 200000 ))
		QUEUE_KILL_US=$us timeout 60 "$bin" "$pool" run $n > /dev/null 2>&1
		rc=$?
		[ $rc -eq 124 ] && fail "round $r (seed $seed): the run hung (a lock left by a killed run?)"
		[ $rc -eq 137 ] && killed=$((killed + 1))
		[ -e "$pool" ] || continue
		"$bin" "$pool" check > "$work/chk" 2>&1 || fail "round $r (seed $seed, kill after ${us}us): $(cat "$work/chk")"
		if grep -q "consumed $((2 * n)), 0 queued" "$work/chk"; then
			rm -f "$pool" # all done: the next round starts a fresh pool
			fresh=$((fresh + 1))
		fi
	done
	timeout 120 "$bin" "$pool" run $n > /dev/null || fail "the final run (rc $?)"
	"$bin" "$pool" check > "$work/chk" || fail "final check: $(cat "$work/chk")"
	grep -q "consumed $((2 * n)), 0 queued" "$work/chk" || fail "final state: $(cat "$work/chk")"
	[ $killed -ge $((rounds / 2)) ] || fail "only $killed of $rounds runs were killed"
	echo "ok: $rounds runs, $killed killed by SIGKILL mid-run ($fresh pools completed), invariants held after each; $(cat "$work/chk")"
	;;
*) fail "unknown mode" ;;
esac
