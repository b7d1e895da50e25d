#!/bin/sh
# Tests of the pmstore tool: every command on a good pool, and refusals
# (exit codes and messages) for bad input.
# usage: test-pmstore.sh PMSTORE QUICKSTART BINARYTREE
set -u
T=$1 Q=$2 B=$3
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
expect 0 "bytes"       -- $T create $P 16M
expect 1 "exists"      -- $T create $P 16M
expect 2 "bad size"    -- $T create $D/x 16Q
expect 1 "minimum"     -- $T create $D/small 1M
expect 0 "version 3"   -- $T info $P
expect 0 "consistent"  -- $T check $P
$Q $P alpha beta gamma >/dev/null || { echo "FAIL: quickstart"; bad=$((bad + 1)); }
expect 0 "objects .*4" -- $T info $P
expect 0 "consistent: 4 objects" -- $T check $P
expect 0 "64 B .* 3 "  -- $T stats $P
expect 0 "0x"          -- $T dump $P
[ "$($T dump $P | grep -c '^0x')" = 4 ] || { echo "FAIL: dump does not list 4 objects"; bad=$((bad + 1)); }
# read-only: the file is unchanged by info/check/stats/dump
sum1=$(md5sum < $P); $T info $P >/dev/null; $T check $P >/dev/null; $T stats $P >/dev/null
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
# usage
expect 2 "usage"       -- $T
expect 2 "unknown"     -- $T frobnicate $P
expect 0 "usage"       -- $T --help
echo "$n cases, $bad failed"
[ $bad = 0 ]
