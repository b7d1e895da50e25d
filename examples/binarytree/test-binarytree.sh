#!/bin/sh
# test-binarytree.sh MODE BINARY TEXT.gz -- CTest checks of the binarytree
# program (label unit).  Every mode ends in a verdict (exit 0 = pass).
#
#   wordcount  the text (>= 1 MB) counted by binarytree --print equals
#              LC_ALL=C tr -cs 'A-Za-z' '\n' | tr A-Z a-z | sort | uniq -c
#              (empty lines dropped, "count word" normalised), and --check
#              passes with no leaked object
#   rerun      a second run on the same pool doubles every count; the pool
#              survives close/reopen; --top agrees with sort -rn
#   kill       SIGKILL binarytree at 8 moments while it counts the text;
#              after each, the reopened tree passes --check and counts
#              exactly the first S words of the text (S = its total count):
#              every insert happened completely or not at all, in order
#              (process-kill semantics; power loss is icount's job)
#   badargs    missing POOL, unreadable FILE, bad --top / --size, unknown
#              option, report on a missing pool: exit 1 and a message, and
#              no pool file left behind
set -u
LC_ALL=C
export LC_ALL

mode=$1 bin=$2 text_gz=$3
# Pools on tmpfs when there is one: on a disk every fence is an msync that
# waits for the device (the wordcount test then takes a minute, not seconds).
dir=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && dir=/dev/shm
work=$(mktemp -d "$dir/bt-test.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
pool=$work/pool
fail() { echo "FAIL ($mode): $*" >&2; exit 1; }

gzip -dc "$text_gz" > "$work/text" || fail "cannot decompress $text_gz"

# The reference: the same definition of a word, by standard tools.
reference() {
	tr -cs 'A-Za-z' '\n' < "$1" | tr 'A-Z' 'a-z' | grep -v '^$' | sort |
		uniq -c | awk -v k="$2" '{ print $1 * k, $2 }'
}

case $mode in
wordcount)
	size=$(wc -c < "$work/text")
	[ "$size" -ge 1000000 ] || fail "text is only $size bytes, want >= 1 MB"
	"$bin" --stats "$pool" "$work/text" 2> "$work/stats" ||
		fail "insert failed: $(cat "$work/stats")"
	grep -q 'words/s=' "$work/stats" || fail "--stats printed no words/s"
	"$bin" "$pool" --print > "$work/got" || fail "--print failed"
	reference "$work/text" 1 > "$work/want"
	cmp -s "$work/got" "$work/want" ||
		fail "counts differ from tr|sort|uniq -c: $(diff "$work/want" "$work/got" | head -5)"
	"$bin" "$pool" --check > "$work/check" || fail "--check: $(cat "$work/check")"
	n=$(wc -l < "$work/want")
	grep -q "ok: $n distinct words" "$work/check" || fail "check: $(cat "$work/check"), want $n words"
	echo "ok: $size bytes, $n distinct words, output equals the tr|sort|uniq pipeline"
	;;
rerun)
	head -c 200000 "$work/text" > "$work/part"
	"$bin" "$pool" "$work/part" || fail "first run"
	"$bin" "$pool" < "$work/part" || fail "second run (stdin)"
	"$bin" "$pool" --print > "$work/got" || fail "--print"
	reference "$work/part" 2 > "$work/want"
	cmp -s "$work/got" "$work/want" || fail "second run did not double every count"
	"$bin" "$pool" --top 5 > "$work/top" || fail "--top"
	sort -k1,1nr -k2,2 "$work/want" | head -5 > "$work/top-want"
	cmp -s "$work/top" "$work/top-want" || fail "--top 5 differs: $(cat "$work/top")"
	"$bin" "$pool" --check > /dev/null || fail "--check after two runs"
	echo "ok: second run doubled every count; --top and --check agree"
	;;
kill)
	tr -cs 'A-Za-z' '\n' < "$work/text" | tr 'A-Z' 'a-z' | grep -v '^$' > "$work/words"
	for delay in 0.02 0.04 0.06 0.08 0.1 0.12 0.15 0.2; do
		rm -f "$pool"
		"$bin" "$pool" "$work/text" &
		pid=$!
		sleep $delay
		kill -9 $pid 2> /dev/null
		wait $pid 2> /dev/null
		[ -e "$pool" ] || continue # killed before the pool existed
		"$bin" "$pool" --check > "$work/check" 2>&1 ||
			fail "after kill at ${delay}s: $(cat "$work/check")"
		total=$(sed -n 's/.* distinct words, \([0-9]*\) words.*/\1/p' "$work/check")
		[ -n "$total" ] || fail "after kill at ${delay}s: no total in $(cat "$work/check")"
		"$bin" "$pool" --print > "$work/got" 2>&1 || fail "--print after kill"
		head -n "$total" "$work/words" | sort | uniq -c | awk '{ print $1, $2 }' > "$work/want"
		cmp -s "$work/got" "$work/want" ||
			fail "after kill at ${delay}s: tree is not the first $total words"
		echo "kill at ${delay}s: $total words counted, a consistent prefix"
	done
	echo "ok: every killed run left a valid tree counting a prefix of the input"
	;;
badargs)
	expect1() { # expect1 WHAT-IN-MESSAGE ARGS... : exit 1, message on stderr
		want=$1; shift
		"$bin" "$@" > /dev/null 2> "$work/err" < /dev/null
		rc=$?
		[ $rc -eq 1 ] || fail "'binarytree $*' exited $rc, want 1"
		grep -qi -- "$want" "$work/err" || fail "'binarytree $*' said: $(cat "$work/err")"
	}
	expect1 "missing POOL"
	expect1 "missing POOL" --print
	expect1 "cannot read '$work/nonexistent'" "$pool" "$work/nonexistent"
	[ ! -e "$pool" ] || fail "a pool was created although the input is missing"
	expect1 "is a directory" "$pool" "$work"
	expect1 "--top needs" "$pool" --top
	expect1 "--top needs" "$pool" --top x
	expect1 "--top needs" "$pool" --top 0
	expect1 "--size needs" --size 1 "$pool" "$work/text"
	expect1 "unknown option" "$pool" --frobnicate
	expect1 "$pool" "$pool" --print
	[ ! -e "$pool" ] || fail "--print created a pool"
	echo "not a pool" > "$work/foreign"
	expect1 "pmstore pool" "$work/foreign" "$work/text"
	echo "ok: bad arguments give exit 1 and a message"
	;;
*)
	fail "unknown mode"
	;;
esac
