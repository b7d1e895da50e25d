#!/bin/sh
# bench/space.sh BUILD-DIR [POOL_MIB] -- space cost by object size, pmstore
# vs PMDK libpmemobj (issue 12: the size sweep).
#
# For each object size, a fresh pool of POOL_MIB (default 64) MiB on
# /dev/shm is filled with objects of that size until an allocation fails
# (bench_X space): the count, the pool file's bytes per object, and the
# share of the file that holds objects (count x size / file size; PMDK's
# and pmstore's own metadata -- lanes, headers, chunk tables -- count
# against both).  One run each: the fill is deterministic.
# Output: a table on stdout (markdown, for docs/PERFORMANCE.md),
# bench/results/space.csv (one line per library and size) and
# bench/results/space.md (the table).
# What it can NOT show: fragmentation under a mixed workload (one size per
# pool), or the cost of threads' caches (one thread).
set -u
B=${1:?usage: space.sh BUILD-DIR [POOL_MIB]}
MIB=${2:-64}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/results
mkdir -p "$OUT"
PS=$B/bench/bench_pmstore
PO=$B/bench/bench_pmemobj
[ -x "$PS" ] || { echo "space.sh: $PS not built" >&2; exit 1; }
HAVE_PMDK=1
[ -x "$PO" ] || { HAVE_PMDK=0; echo "space.sh: libpmemobj side not built (libpmemobj-dev missing): pmstore only" >&2; }
SIZES="64 256 1000 4096 16384 32768 32769 33000 40000 49152 65536 100000 131072 200000 262144 300000 500000 750000 1048576 1310721 2097152 3145728"
DIR=$(mktemp -d /dev/shm/bench-space-$$-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
CSV=$OUT/space.csv
echo "lib,case,threads,objects,seconds,objs_per_s,median_ns,fences_per_op,flushes_per_op,pool_bytes_per_obj" > "$CSV"
for s in $SIZES; do
	"$PS" space $s $MIB "$DIR/pmstore.pool" >> "$CSV" || echo "space.sh: pmstore $s failed" >&2
	if [ $HAVE_PMDK = 1 ]; then
		PMEM_IS_PMEM_FORCE=1 "$PO" space $s $MIB "$DIR/pmemobj.pool" >> "$CSV" || echo "space.sh: pmemobj $s failed" >&2
	fi
done
POOLB=$((MIB * 1048576))
awk -F, -v pool=$POOLB -v mib=$MIB '
NR == 1 { next }
{ sz = substr($2, 7); key = sz; n[$1, key] = $4; bpo[$1, key] = $10; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
END {
	printf "Space cost by object size: a %d MiB pool filled with one size until the allocation fails (bench/space.sh).\n\n", mib
	printf "| object size | pmstore objects | pmstore pool B/object | pmstore used %% | PMDK objects | PMDK pool B/object | PMDK used %% |\n"
	printf "|---:|---:|---:|---:|---:|---:|---:|\n"
	for (i = 1; i <= k; i++) {
		s = order[i]
		ps = n["pmstore", s]; po = n["pmemobj", s]
		printf "| %d | %d | %.1f | %.1f | %s | %s | %s |\n", s, ps, bpo["pmstore", s], 100.0 * ps * s / pool,
		       po == "" ? "-" : po, po == "" ? "-" : sprintf("%.1f", bpo["pmemobj", s]),
		       po == "" ? "-" : sprintf("%.1f", 100.0 * po * s / pool)
	}
}' "$CSV" | tee "$OUT/space.md"
