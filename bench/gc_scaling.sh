#!/bin/sh
# bench/gc_scaling.sh BUILD-DIR [RUNS] -- group commit on a disk file
# (issue 17): pmstore's tx_one and alloc64 pairs with 1 and 2 threads, with
# group commit on (the default) and off (PMSTORE_GROUP_COMMIT=0), the
# configurations interleaved run by run so that the disk's drift hits all
# alike.  The pool is in a directory unique to the run under BENCH_DISK_DIR
# (default /var/tmp; refused if tmpfs).  Prints per configuration the
# median ops/s (min-max), syncs/op (bench/synccount.so), median latency,
# and the 2-thread scaling (median of 2 threads / median of 1 thread) of
# each case with group commit on and off, as the ratio of the medians and
# as the median of each run's own ratio (2 threads / the 1-thread run just
# before it: the disk's state drifts between runs, much less within one
# pair), and from the median latencies (2 x latency with 1 thread / latency
# with 2: what the threads would do without the stalls of a shared VM,
# which dominate the throughput here).  The issue's goal: >= 1.6x.
# BENCH_OPS (default 600) operations per thread per run; BENCH_CASES.
# Lines: BENCH_OUT (default a new file under /tmp, printed).
set -u
B=${1:?usage: gc_scaling.sh BUILD-DIR [RUNS]}
RUNS=${2:-5}
PS=$B/bench/bench_pmstore
SYN=$B/bench/synccount.so
[ -x "$PS" ] && [ -f "$SYN" ] || { echo "gc_scaling.sh: build bench_pmstore and synccount.so first" >&2; exit 1; }
DISKROOT=${BENCH_DISK_DIR:-/var/tmp}
DISK=$(mktemp -d "$DISKROOT/pmstore-gc.XXXXXX") || exit 1
trap 'rm -rf "$DISK"' EXIT INT TERM
if [ "$(stat -f -c %T "$DISK")" = tmpfs ]; then
	echo "gc_scaling.sh: $DISKROOT is tmpfs: set BENCH_DISK_DIR to a directory on a block device" >&2
	exit 1
fi
OPS=${BENCH_OPS:-600}
CASES=${BENCH_CASES:-"tx_one alloc64"}
OUT=${BENCH_OUT:-$(mktemp /tmp/pmstore-gc-scaling.XXXXXX.csv)}
echo "gc,lib,case,threads,ops,seconds,ops_per_s,median_ns,fences_per_op,flushes_per_op,bytes_per_obj,syncs_per_op" > "$OUT"
echo "disk: $DISK ($(stat -f -c %T "$DISK")), $RUNS runs, $OPS ops/thread; lines: $OUT" >&2
for r in $(seq "$RUNS"); do
	for c in $CASES; do
		for gc in 1 0; do
			for t in 1 2; do
				line=$(env PMEM_IS_PMEM_FORCE=0 PMSTORE_GROUP_COMMIT=$gc LD_PRELOAD="$SYN" \
				       "$PS" "$c" $t "$OPS" "$DISK/p.pool") && echo "$gc,$line" >> "$OUT"
			done
		done
	done
	printf '\r  run %d/%d ' "$r" "$RUNS" >&2
done
echo >&2
awk -F, 'NR > 1 { k = $1 "," $3 "," $4; n[k]++; v[k, n[k]] = $7; l[k, n[k]] = $8; s[k, n[k]] = $12
	if (!(k in seen)) { seen[k] = 1; o[++no] = k }
	if ($4 == 2) { k1 = $1 "," $3 ",1"; q = $1 "," $3 ",r"; n[q]++; v[q, n[q]] = $7 / v[k1, n[k1]] } }
function med(k, arr,   i, j, t, a, m) {
	m = n[k]
	for (i = 1; i <= m; i++) a[i] = arr[k, i]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	lo = a[1]; hi = a[m]
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
	printf "%-8s %-3s %-4s | %-26s | %-9s | %s\n", "case", "thr", "gc", "ops/s median (min-max)", "syncs/op", "median latency us"
	for (i = 1; i <= no; i++) {
		k = o[i]; split(k, kk, ",")
		m = med(k, v); a = lo; z = hi; M[k] = m
		printf "%-8s %-3s %-4s | %8.0f (%6.0f - %6.0f) | %9.2f | %.0f\n", kk[2], kk[3], kk[1] ? "on" : "off",
		       m, a, z, med(k, s), med(k, l) / 1000
	}
	print ""
	for (i = 1; i <= no; i++) {
		k = o[i]; split(k, kk, ",")
		if (kk[3] != 1) continue
		k2 = kk[1] "," kk[2] ",2"
		q = kk[1] "," kk[2] ",r"
		if (M[k] > 0 && (k2 in M)) {
			pr = med(q, v)
			a = lo; z = hi
			el = 2 * med(k, l) / med(k2, l)
			vd = "unclear (the estimates disagree)"
			if (M[k2] / M[k] >= 1.6 && pr >= 1.6 && el >= 1.6) vd = "met"
			if (M[k2] / M[k] < 1.6 && pr < 1.6 && el < 1.6) vd = "short"
			printf "2-thread scaling %-8s group commit %-3s: %5.2fx of the medians, %5.2fx median of the runs\047 own ratios (%.2f-%.2f), %5.2fx from the median latencies; goal 1.6x: %s\n",
			       kk[2], kk[1] ? "on" : "off", M[k2] / M[k], pr, a, z, el, vd
		}
	}
}' "$OUT"
