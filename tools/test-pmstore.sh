#!/bin/sh
# Tests of the pmstore tool: every command on a good pool, and refusals
# (exit codes and messages) for bad input; --version, --help on every
# command, human units, --json of info/check/stats (parsed, values
# compared with the text output), dump --hex (the bytes quickstart wrote),
# and info's recovery line on pools a crash left with work for recovery (a
# transaction left active by a killed process, a pmalloc's redo log valid
# after a power failure), which info must report without changing the file.
# Cannot catch: output a user finds unclear; states no helper builds.
# usage: test-pmstore.sh PMSTORE QUICKSTART BINARYTREE DAMAGE_POOL
set -u
T=$1 Q=$2 B=$3 H=$4
D=$(mktemp -d /dev/shm/pmstore-tool-XXXXXX)
trap 'rm -rf "$D"' EXIT
n=0 bad=0
expect() { # expect CODE PATTERN -- command...
	code=$1 pat=$2; shift 3
	n=$((n + 1))
	out=$("$@" 2>&1); rc=$?
	if [ "$rc" != "$code" ] || ! printf '%s' "$out" | grep -qi -- "$pat"; then
		echo "FAIL: $* -> exit $rc (want $code), output:"; echo "$out" | sed 's/^/    /'
		bad=$((bad + 1))
	fi
}
P=$D/pool
expect 0 "16 MiB (16777216 bytes)" -- $T create $P 16M
expect 1 "exists"      -- $T create $P 16M
expect 2 "bad size"    -- $T create $D/x 16Q
expect 1 "minimum"     -- $T create $D/small 1M
expect 0 "version 3"   -- $T info $P
expect 0 "size *16 MiB (16777216 bytes)" -- $T info $P
expect 0 "recovery *not needed" -- $T info $P
expect 0 "consistent"  -- $T check $P
# growable pools (issue 19)
G=$D/gpool
expect 0 "4 MiB file (4194304 bytes.*grows to 1 GiB" -- $T create --max 1G $G 4M
expect 0 "grows to 1 GiB"  -- $T info $G
expect 0 '"max_size":1073741824,"growable":true' -- $T info --json $G
expect 0 "64.0 MiB .*was 3.8 MiB, grows to 1 GiB" -- $T grow $G 64M
expect 0 "size *64.0 MiB"  -- $T info $G
expect 0 "consistent"      -- $T check $G
expect 1 "maximum"         -- $T grow $G 2G
expect 1 "fixed size"      -- $T grow $P 32M
expect 2 "bad maximum"     -- $T create --max 1Q $D/g2 4M
expect 1 "chunk table is sized for the maximum" -- $T create --max 1T $D/g3 4M
expect 2 "usage"           -- $T grow $G
$Q $P alpha beta gamma >/dev/null || { echo "FAIL: quickstart"; bad=$((bad + 1)); }
expect 0 "objects .*4" -- $T info $P
expect 0 "consistent: 4 objects" -- $T check $P
expect 0 "64 B .* 3 "  -- $T stats $P
expect 0 "0x"          -- $T dump $P
[ "$($T dump $P | grep -c '^0x')" = 4 ] || { echo "FAIL: dump does not list 4 objects"; bad=$((bad + 1)); }
expect 0 "64 B .* 3 .*192 B" -- $T stats $P
# dump --hex: quickstart's items are {next, text[56]}; "gamma" was added
# last, so it is the object the root's head names (root: {head, count})
root=$($T info --json $P | python3 -c 'import json,sys; print(json.load(sys.stdin)["root"]["offset"])')
expect 0 "|" -- $T dump --hex $root $P
head=$(python3 -c 'import sys; print(int.from_bytes(bytes.fromhex(sys.argv[1]), "little"))' \
	"$($T dump --hex $root $P | awk 'NR == 2 { print $2 $3 $4 $5 $6 $7 $8 $9 }')")
expect 0 "object 0x.*64 usable bytes" -- $T dump --hex $head $P
expect 0 "67 61 6d 6d 61 00.*|.*gamma" -- $T dump --hex $head $P
expect 1 "no allocated object" -- $T dump --hex $((head + 8)) $P
expect 2 "bad offset" -- $T dump --hex zz $P
# --json: parses, and says what the text says
$T info --json $P > $D/info.json && python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["size"] == 16777216 and d["objects"] == 4 and d["layout_version"] == 3, d
assert d["recovery"] == {"needed": False, "redo_pending": 0, "tx_active": 0, "torn": 0}, d
' $D/info.json || { echo "FAIL: info --json: $(cat $D/info.json)"; bad=$((bad + 1)); }
$T stats --json $P > $D/stats.json && python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
c = {x["class"]: x for x in d["classes"]}
assert d["objects"] == 4 and c["64"]["objects"] == 3 and c["64"]["bytes"] == 192, d
assert sum(x["objects"] for x in d["classes"]) == d["objects"], d
assert sum(x["bytes"] for x in d["classes"]) == d["bytes_allocated"], d
' $D/stats.json || { echo "FAIL: stats --json: $(cat $D/stats.json)"; bad=$((bad + 1)); }
$T check --json $P > $D/check.json && python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "consistent" and d["counts"]["objects"] == 4, d
' $D/check.json || { echo "FAIL: check --json: $(cat $D/check.json)"; bad=$((bad + 1)); }
# read-only: the file is unchanged by info/check/stats/dump
sum1=$(md5sum < $P); $T info $P >/dev/null; $T check $P >/dev/null; $T stats $P >/dev/null
$T dump --hex $head $P >/dev/null; $T info --json $P >/dev/null; $T stats --json $P >/dev/null
[ "$sum1" = "$(md5sum < $P)" ] || { echo "FAIL: a read-only command changed the pool"; bad=$((bad + 1)); }
# corrupt header byte (inside the checksummed part)
cp $P $D/corrupt && printf 'X' | dd of=$D/corrupt bs=1 seek=20 conv=notrunc 2>/dev/null
expect 1 "checksum"    -- $T check $D/corrupt
expect 1 "checksum"    -- $T info $D/corrupt
# foreign file, truncated file, missing file, directory
yes 'not a pool' | head -c 10000000 > $D/text
expect 1 "not a pmstore pool\|magic\|foreign" -- $T check $D/text
cp $P $D/trunc && truncate -s 9M $D/trunc
expect 1 "truncated\|bytes"  -- $T check $D/trunc
expect 1 "no such\|exist"    -- $T info $D/missing
expect 1 ""                  -- $T check $D
# a pool another process holds open
$B --size 16 $D/held /dev/null >/dev/null 2>&1
(sleep 2 | $B $D/held >/dev/null 2>&1) &
sleep 0.5
expect 1 "busy\|another process\|lock" -- $T check $D/held
wait
expect 0 "consistent"  -- $T check $D/held
# info on pools a crash left with work for recovery: reported, file unchanged
$H make $D/crash-tx >/dev/null && $H crash $D/crash-tx tx
$H make $D/crash-log >/dev/null && $H damage $D/crash-log pending-pmalloc >/dev/null
for f in crash-tx crash-log; do
	sum1=$(md5sum < $D/$f)
	case $f in
	crash-tx)  expect 0 "recovery *NEEDED: 0 redo .* 1 transaction" -- $T info $D/$f
	           expect 0 "lane 0 undo header.*active" -- $T info $D/$f
	           want='{"needed": True, "redo_pending": 0, "tx_active": 1, "torn": 0}' ;;
	crash-log) expect 0 "recovery *NEEDED: 1 redo log(s) pending" -- $T info $D/$f
	           expect 0 "lane 6 redo.*replays" -- $T info $D/$f
	           want='{"needed": True, "redo_pending": 1, "tx_active": 0, "torn": 0}' ;;
	esac
	$T info --json $D/$f | python3 -c "import json,sys; r=json.load(sys.stdin)['recovery']; assert r == $want, r" ||
		{ echo "FAIL: info --json recovery of $f"; bad=$((bad + 1)); }
	[ "$sum1" = "$(md5sum < $D/$f)" ] || { echo "FAIL: info changed $f"; bad=$((bad + 1)); }
	$H verify $D/$f >/dev/null || { echo "FAIL: $f does not recover"; bad=$((bad + 1)); }
	expect 0 "recovery *not needed" -- $T info $D/$f
done
# version, help
expect 0 "^pmstore [0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]* " -- $T --version
for c in create info check repair stats dump backup restore verify; do
	expect 0 "usage: pmstore $c" -- $T $c --help
	expect 0 "usage: pmstore $c" -- $T help $c
	expect 2 "usage: pmstore $c" -- $T $c --frobnicate
done
expect 2 "usage: pmstore info" -- $T info --hex 0x10 $P
expect 2 "usage: pmstore dump" -- $T dump --json $P
# backup / verify / restore (issue 18): a pool with objects, the copy
# checked, damage named, no overwrite unless --replace
expect 0 "writers held"  -- $T backup --quiet $P $D/bk
expect 1 "exists"        -- $T backup --quiet $P $D/bk
expect 0 "intact: a backup of a 16 MiB pool" -- $T verify $D/bk
expect 0 "restored from .* checked" -- $T restore --quiet $D/bk $D/restored
expect 0 "consistent"    -- $T check $D/restored
expect 1 "file exists"   -- $T restore --quiet $D/bk $D/restored
expect 0 "restored"      -- $T restore --replace --quiet $D/bk $D/restored
expect 0 "backup: .*(100%)" -- $T backup $P $D/bk2
cp $D/bk $D/bkdmg && printf 'X' | dd of=$D/bkdmg bs=1 seek=$(($(stat -c %s $D/bk) - 100)) conv=notrunc 2>/dev/null
expect 1 "chunk [0-9]* .*checksum mismatch" -- $T verify $D/bkdmg
expect 1 "checksum mismatch" -- $T restore --quiet $D/bkdmg $D/fromdmg
[ -e $D/fromdmg ] && { echo "FAIL: restore of a damaged backup left $D/fromdmg"; bad=$((bad + 1)); }
expect 1 "not a pmstore backup" -- $T verify $P
expect 2 "usage: pmstore restore" -- $T restore $D/bk
# usage
expect 2 "usage"       -- $T
expect 2 "unknown"     -- $T frobnicate $P
expect 0 "usage"       -- $T --help
echo "$n cases, $bad failed"
[ $bad = 0 ]
