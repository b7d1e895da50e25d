#!/bin/sh
# Tests of `pmstore check` (every problem, with its offset; --json) and
# `pmstore repair` on damaged pools built the way tests/test_damaged.c
# builds them (tools/damage-pool.c): a bad chunk header over free space,
# over a large object and over a run; bitmap bits past the last block; a
# forged redo log; a valid log whose replay breaks the chunk table; a torn
# undo header; an undo generation out of range; a stray LARGE header with
# the root moved onto it; a header checksum mismatch; a damaged header over
# a pending large allocation; several at once; a growable pool's recorded
# heap size (0, past the file); a recovery watermark out of range.
# For each: check lists it at its offset and its JSON parses, repair
# --dry-run changes nothing, repair leaves a pool that check calls
# consistent and pm_open opens, the backup equals the original, and every
# object whose metadata was intact is there with its contents.  Refusals:
# foreign file, unrecoverable header, existing backup, a pool another
# process holds, missing file, usage.
# Deterministic: no random input (nothing to seed).
# What it can NOT catch: damage kinds not listed here, or a repair that is
# interrupted half-way (repair is not crash-atomic by design).
# usage: test-repair.sh PMSTORE DAMAGE_POOL BINARYTREE
set -u
T=$1 X=$2 B=$3
D=$(mktemp -d /dev/shm/pmstore-repair-XXXXXX)
trap 'rm -rf "$D"' EXIT
n=0 bad=0
failmsg() { echo "FAIL: $*"; bad=$((bad + 1)); }
expect() { # expect CODE PATTERN -- command...
	code=$1 pat=$2; shift 3
	n=$((n + 1))
	out=$("$@" 2>&1); rc=$?
	if [ "$rc" != "$code" ] || ! printf '%s' "$out" | grep -qi -- "$pat"; then
		echo "FAIL: $* -> exit $rc (want $code, /$pat/), output:"; echo "$out" | sed 's/^/    /'
		bad=$((bad + 1))
	fi
}
# json_has FILE KIND OFFSET STATUS: the JSON parses, has that status and a
# problem (or note) of that kind at that offset
json_has() {
	n=$((n + 1))
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
kind, off, status = sys.argv[2], int(sys.argv[3], 16), sys.argv[4]
assert d["status"] == status, "status %s, want %s" % (d["status"], status)
items = d["problems"] + d["notes"]
assert any(p["kind"] == kind and p["offset"] == off for p in items), \
	"no %s at 0x%x in %r" % (kind, off, items)
assert d["counts"]["problems"] == len(d["problems"])
for p in items:
	assert set(p) >= {"kind", "offset", "structure", "message"}
' "$@" || failmsg "json $*: $(cat "$1")"
}
hex12() { printf '0x%012x' "$1"; }

P=$D/base
$X make $P >/dev/null || { echo "FAIL: damage-pool make"; exit 1; }
expect 0 "verified"    -- $X verify $P
expect 0 "consistent"  -- $T check $P
expect 0 "consistent"  -- $T check --raw $P
expect 0 "nothing to repair" -- $T repair $P
[ -e $P.before-repair ] && failmsg "repair of a good pool made a backup"
$T check --json $P > $D/j && python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["status"]=="consistent" and d["problems"]==[]' < $D/j ||
	failmsg "check --json of a good pool: $(cat $D/j)"

# case KIND CHECK-EXIT KIND-TAG OFFSET|- VERIFY...
case_one() {
	k=$1 cx=$2 tag=$3 want=$4; shift 4
	F=$D/$k
	cp $P $F
	off=$($X damage $F $k) || { failmsg "damage $k"; return; }
	[ "$want" = - ] && want=$off
	cp $F $F.orig
	expect $cx "$(hex12 $want) .*\[$tag\]" -- $T check $F
	$T check --json $F > $F.json
	st=inconsistent; [ $cx = 0 ] && st=consistent
	json_has $F.json $tag $want $st
	expect 0 "dry run, nothing changed" -- $T repair --dry-run $F
	cmp -s $F $F.orig || failmsg "$k: repair --dry-run changed the file"
	[ -e $F.before-repair ] && failmsg "$k: repair --dry-run made a backup"
	$T repair $F > $F.out 2>&1; rc=$?
	n=$((n + 1))
	[ $rc = 0 ] && grep -q "repaired" $F.out && grep -q "\[$tag\]" $F.out &&
		grep -q "^result: consistent" $F.out && grep -q "^backup: $F.before-repair" $F.out ||
		failmsg "$k: repair exit $rc: $(cat $F.out)"
	cmp -s $F.before-repair $F.orig || failmsg "$k: the backup differs from the original"
	cmp -s $F $F.orig && failmsg "$k: repair changed nothing"
	expect 0 "^$F: consistent" -- $T check $F
	v=$1; shift
	expect 0 "verified" -- $X $v $F "$@"
	expect 0 "nothing to repair" -- $T repair $F
	expect 1 "exists"   -- $T repair --backup $F.before-repair $F.orig
	cmp -s $F.orig $F.before-repair || failmsg "$k: a refused repair changed a file"
}
# chunk 7's header (the all-zero free tail): bad type -> FREE again
case_one chunk-header-free 1 chunk_header - verify
expect 0 "chunk_free.*FREE(52)" -- cat $D/chunk-header-free.out
# a LARGE(2) object's header says a span past the heap -> quarantined as
# LARGE(2): the object itself survives (slot 3)
case_one chunk-header-data 1 chunk_span - verify
expect 0 "chunk_quarantine.*LARGE(2)" -- cat $D/chunk-header-data.out
# a run's class is unknown -> quarantined; its blocks (slot 2) are lost,
# the other objects stay
case_one chunk-header-run 1 chunk_header - verify 0 1 3
expect 0 "chunk_quarantine.*LARGE(1)" -- cat $D/chunk-header-run.out
expect 1 "slot 2 .*not an allocated object" -- $X verify $D/chunk-header-run 2
case_one bitmap-tail 1 bitmap_tail - verify
case_one forged-redo 1 redo_forged - verify
case_one replay-redo 1 redo_replay - verify
case_one undo-header 0 undo_checksum - verify
case_one undo-gen 1 undo_generation - verify
# the root moved onto a stray LARGE header -> the root is cleared
case_one stray-large 1 root 0x1000 noroot
expect 0 "root_cleared" -- cat $D/stray-large.out
case_one header-csum 1 header_checksum 0x60 verify
# a pending large allocation whose chunk header is damaged: the gap is
# all zero, but the log stores there -> quarantined, and recovery's replay
# then makes it the allocated object slot 5 names
case_one pending-large 1 chunk_header - verify 0 1 2 3 5
expect 0 "pending log stores there" -- cat $D/pending-large.out
expect 0 "chunk_quarantine.*LARGE(1)" -- cat $D/pending-large.out

# several at once: each listed at its offset, one repair for all
M=$D/multi
cp $P $M
offs=""
for k in chunk-header-data bitmap-tail forged-redo undo-gen replay-redo; do
	offs="$offs $($X damage $M $k)"
done
$X damage $M undo-header > /dev/null
cp $M $M.orig
out=$($T check $M); rc=$?
n=$((n + 1))
[ $rc = 1 ] || failmsg "multi: check exit $rc"
for o in $offs; do
	printf '%s\n' "$out" | grep -q "^  $(hex12 $o) " || failmsg "multi: check does not list $(hex12 $o): $out"
done
$T check --json $M | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "inconsistent" and d["walk"] == "raw" and d["open_error"]
assert len(d["problems"]) == 5, d["problems"]
assert d["counts"]["raw"]["undo"]["damaged"] == 2
' || failmsg "multi: check --json"
expect 0 "result (on a private copy): consistent" -- $T repair --dry-run $M
cmp -s $M $M.orig || failmsg "multi: dry run changed the file"
expect 0 "result: consistent" -- sh -c "$T repair --backup $D/multi.bak $M | tee $D/multi.out"
cmp -s $D/multi.bak $M.orig || failmsg "multi: --backup differs from the original"
[ -e $M.before-repair ] && failmsg "multi: --backup still wrote POOL.before-repair"
expect 0 "consistent: 5 objects" -- $T check $M
expect 0 "verified" -- $X verify $M
expect 0 "after: 5 objects" -- cat $D/multi.out

# a dry run of a header rebuild is judged by the raw walk
H=$D/hdr
cp $P $H && $X damage $H header-csum >/dev/null && cp $H $H.orig
expect 0 "0 problem(s) left" -- $T repair --dry-run $H
cmp -s $H $H.orig || failmsg "header dry run changed the file"

# refusals: nothing written, no backup
yes 'not a pool' | head -c 10000000 > $D/text
expect 1 "not a pmstore pool" -- $T repair $D/text
[ -e $D/text.before-repair ] && failmsg "repair of a foreign file made a backup"
G=$D/geometry
cp $P $G && $X damage $G header-geometry >/dev/null && cp $G $G.orig
expect 1 "header\(.*\)unrecoverable" -- $T repair $G
expect 1 "unrecoverable" -- $T check $G
cmp -s $G $G.orig || failmsg "a refused repair changed the file"
[ -e $G.before-repair ] && failmsg "a refused repair made a backup"
V=$D/version
cp $P $V && $X damage $V header-version >/dev/null && cp $V $V.orig
expect 1 "another layout version" -- $T repair $V
expect 1 "version" -- $T check $V
cmp -s $V $V.orig || failmsg "a refused repair changed the file"
[ -e $V.before-repair ] && failmsg "a refused repair made a backup"
expect 1 "no such" -- $T repair $D/missing
expect 1 "no such" -- $T check --json $D/missing
$B --size 16 $D/held /dev/null >/dev/null 2>&1
(sleep 2 | $B $D/held >/dev/null 2>&1) &
sleep 0.5
expect 1 "already open\|busy\|lock" -- $T repair $D/held
expect 1 "already open\|busy\|lock" -- $T repair --dry-run $D/held
wait
[ -e $D/held.before-repair ] && failmsg "repair of a held pool made a backup"
expect 0 "nothing to repair" -- $T repair $D/held

# a growable pool whose recorded heap size is damaged (issue 19): 0, and
# past what the file holds; repair sets it to the chunks the file holds
G=$D/grow
for v in '\000' '\377'; do
	rm -f $G $G.before-repair
	$T create --max 64M $G 4M >/dev/null && $T grow $G 20M >/dev/null || failmsg "growable pool"
	printf "$v\000\000\000\000\000\000\000" | dd of=$G bs=1 seek=4128 conv=notrunc 2>/dev/null
	expect 1 "0x000000001020  descriptor  \[heap_chunks\]" -- $T check $G
	expect 0 "heap size set to the 76 chunks the file holds" -- $T repair --dry-run $G
	expect 0 "result: consistent" -- $T repair $G
	expect 0 "consistent: 0 objects" -- $T check $G
	expect 0 "size *20.0 MiB .*grows to 64 MiB" -- $T info $G
done

# a recovery watermark above every seq a log can carry (P4): open and check
# refuse it; repair drops the logs it voided and sets it to 0
W=$D/wmark
$T create $W 8M >/dev/null || failmsg "watermark pool"
printf '\377\377\377\377\377\377\377\377' | dd of=$W bs=1 seek=4112 conv=notrunc 2>/dev/null
expect 1 "0x000000001010  descriptor  \[recovered_seq\]" -- $T check $W
expect 0 "recovery watermark set to 0" -- $T repair --dry-run $W
expect 0 "result: consistent" -- $T repair $W
expect 0 "consistent: 0 objects" -- $T check $W

# usage
expect 2 "usage"  -- $T repair
expect 2 "usage"  -- $T repair --frob $P
expect 2 "usage"  -- $T check --json
expect 2 "usage"  -- $T check $P $P
expect 0 "dry-run" -- $T repair --help
expect 0 "json"    -- $T check --help
expect 0 "repair"  -- $T --help
for c in create info check repair stats dump; do
	expect 0 "usage: pmstore $c" -- $T $c --help
done
echo "$n cases, $bad failed"
[ $bad = 0 ]
