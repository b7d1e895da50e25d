#!/bin/sh
# test-hashmap.sh MODE BINARY -- ctest checks of examples/hashmap.
#
#   basic  put / get / del / a replacement that no longer fits (tx_prealloc
#          moves the entry) / bulk of 1000 keys in batches of 100 / dump /
#          check, across runs of the program (each run reopens the pool)
#   kill   ROUNDS (default 30, $HASHMAP_ROUNDS) rounds: bulk-insert 1500
#          keys (batches of 100, one transaction each) into a fresh pool and
#          SIGKILL it -- at the K-th key, inside a transaction, or after a
#          delay (anywhere, commits included); then `check` (structure,
#          count, pm_check, no leaked object) and the prefix property: the
#          keys are exactly the first m*100 of the file for some m.  Then a
#          second bulk with longer values (every entry moves) is killed the
#          same way: each key has its new value iff it is among the first
#          m2*100.  Then both complete, and all keys have the new values.
#          Seeds: $HASHMAP_SEED (printed).
# Process-kill semantics (what the page cache holds survives); power loss
# is the crash checkers' (tests/test_crash_model.c's api case).  Can NOT
# catch: a kill that lands between the same two instructions every time
# (the delays are spread, not chosen).
set -u
LC_ALL=C
export LC_ALL
mode=$1 bin=$2
dir=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && dir=/dev/shm
work=$(mktemp -d "$dir/hashmap-test.$$.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
pool=$work/pool
fail() { echo "FAIL ($mode): $*" >&2; exit 1; }

case $mode in
basic)
	"$bin" "$pool" put alpha 1 || fail "put"
	"$bin" "$pool" put beta 2 || fail "put"
	[ "$("$bin" "$pool" get alpha)" = 1 ] || fail "get alpha"
	long=$(printf 'x%.0s' $(seq 1 300))
	"$bin" "$pool" put alpha "$long" || fail "put long"
	[ "$("$bin" "$pool" get alpha)" = "$long" ] || fail "get long value"
	"$bin" "$pool" put alpha 3 || fail "put short"
	[ "$("$bin" "$pool" get alpha)" = 3 ] || fail "get after shrink"
	"$bin" "$pool" del beta || fail "del"
	"$bin" "$pool" get beta > /dev/null && fail "beta still there"
	"$bin" "$pool" del beta && fail "del of a missing key succeeded"
	seq 1 1000 | awk '{ print "k" $1, "v" $1 }' > "$work/in"
	"$bin" "$pool" bulk "$work/in" 100 > "$work/out" || fail "bulk: $(cat "$work/out")"
	grep -q '^10 batches, 1000 keys' "$work/out" || fail "bulk said $(cat "$work/out")"
	"$bin" "$pool" check > "$work/chk" || fail "check: $(cat "$work/chk")"
	grep -q '^ok: 1001 keys' "$work/chk" || fail "check: $(cat "$work/chk")"
	"$bin" "$pool" dump | sort > "$work/got"
	{ cat "$work/in"; echo "alpha 3"; } | sort > "$work/want"
	cmp -s "$work/got" "$work/want" || fail "dump differs: $(diff "$work/want" "$work/got" | head -3)"
	echo "ok: put/get/del/replace, bulk of 1000 in one-transaction batches of 100, check"
	;;
kill)
	rounds=${HASHMAP_ROUNDS:-30}
	seed=${HASHMAP_SEED:-$$}
	echo "seed $seed, $rounds rounds"
	n=1500 b=100
	seq 1 $n | awk '{ print "key" $1, "v" $1 }' > "$work/in1"
	seq 1 $n | awk '{ print "key" $1, "value-number-" $1 "-which-is-longer" }' > "$work/in2"
	# keys present after a kill must be the first m*b lines (m whole batches)
	prefix_ok() { # FILE-OF-DUMP INPUT -> prints m, or fails
		got=$(wc -l < "$1")
		[ $((got % b)) -eq 0 ] || [ "$got" -eq $n ] || return 1
		head -n "$got" "$2" | sort > "$work/want"
		sort "$1" > "$work/gots"
		cmp -s "$work/want" "$work/gots" || return 1
		echo "$got"
	}
	r=0 killed=0
	while [ $r -lt $rounds ]; do
		r=$((r + 1))
		rm -f "$pool"
		s=$(( (seed * 31 + r * 7919) % 100000 ))
		# odd rounds: kill at a key (inside a transaction); even: after a delay
		if [ $((r % 2)) -eq 1 ]; then
			env HASHMAP_KILL_AT=$(( s % n + 1 )) "$bin" "$pool" bulk "$work/in1" $b > /dev/null 2>&1
		else
			env HASHMAP_KILL_US=$(( 2000 + s % 60000 )) "$bin" "$pool" bulk "$work/in1" $b > /dev/null 2>&1
		fi
		rc=$?
		[ $rc -eq 137 ] && killed=$((killed + 1))
		[ -e "$pool" ] || continue
		"$bin" "$pool" check > "$work/chk" 2>&1 || fail "round $r (seed $seed): after kill 1: $(cat "$work/chk")"
		"$bin" "$pool" dump > "$work/d1"
		m1=$(prefix_ok "$work/d1" "$work/in1") || fail "round $r (seed $seed): after kill 1 the keys are not a prefix of whole batches ($(wc -l < "$work/d1") keys)"
		# second pass: longer values, every entry moves (tx_prealloc)
		if [ $((r % 2)) -eq 1 ]; then
			env HASHMAP_KILL_AT=$(( (s * 13) % n + 1 )) "$bin" "$pool" bulk "$work/in2" $b > /dev/null 2>&1
		else
			env HASHMAP_KILL_US=$(( 2000 + (s * 13) % 60000 )) "$bin" "$pool" bulk "$work/in2" $b > /dev/null 2>&1
		fi
		[ $? -eq 137 ] && killed=$((killed + 1))
		"$bin" "$pool" check > "$work/chk" 2>&1 || fail "round $r (seed $seed): after kill 2: $(cat "$work/chk")"
		"$bin" "$pool" dump | sort > "$work/d2"
		# expected: key i has value2 if i <= m2 (some whole number of batches),
		# else value1 if i <= m1, else absent
		ok=0
		m2=0
		while [ $m2 -le $n ]; do
			{ head -n $m2 "$work/in2"; [ "$m1" -gt $m2 ] && sed -n "$((m2 + 1)),${m1}p" "$work/in1"; } | sort > "$work/want2"
			if cmp -s "$work/want2" "$work/d2"; then ok=1; break; fi
			[ $m2 -eq $n ] && break
			m2=$((m2 + b)); [ $m2 -gt $n ] && m2=$n
		done
		[ $ok -eq 1 ] || fail "round $r (seed $seed): after kill 2 the map is not (first m2 batches new, up to $m1 old): $(head -3 "$work/d2")"
		"$bin" "$pool" bulk "$work/in2" $b > /dev/null || fail "round $r: completing"
		"$bin" "$pool" check > "$work/chk" || fail "round $r: final check: $(cat "$work/chk")"
		"$bin" "$pool" dump | sort > "$work/d3"
		sort "$work/in2" | cmp -s - "$work/d3" || fail "round $r: after completing, not all new values"
	done
	[ $killed -ge $((rounds / 2)) ] || fail "only $killed of $((2 * rounds)) runs were killed (the kill points missed)"
	echo "ok: $rounds rounds, $killed runs killed by SIGKILL, every map a prefix of whole batches"
	;;
*) fail "unknown mode" ;;
esac
