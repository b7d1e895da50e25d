#!/bin/sh
# bench/wal_disk.sh BUILD-DIR [RUNS] -- WAL mode on a disk file, side by side
# with pmstore's msync path, PMDK and LMDB, in the same run; with 2
# threads also WAL mode without its sync gathering (walng:
# PMSTORE_WAL_GATHER=0), against which its 2-thread scaling is shown.
#
# Every configuration runs RUNS times (default 5), interleaved run by run
# so that the virtual disk's drift hits all alike; one process per
# measurement; syncs counted by bench/synccount.so under every library.
# Pools go to a directory unique to the run under BENCH_DISK_DIR (default
# /var/tmp, which must not be tmpfs), removed at the end.
# Output: one CSV line per run on stdout (the bench's own line, prefixed
# with the configuration), then a table of medians on stderr.
set -u
B=${1:?usage: wal_disk.sh BUILD-DIR [RUNS]}
RUNS=${2:-5}
ROOT=${BENCH_DISK_DIR:-/var/tmp}
D=$(mktemp -d "$ROOT/pmstore-wal.XXXXXX") || exit 1
OUT=$(mktemp /tmp/pmstore-wal-lines.XXXXXX) || exit 1
trap 'rm -rf "$D" "$OUT"' EXIT INT TERM
[ "$(stat -f -c %T "$D")" = tmpfs ] && { echo "wal_disk.sh: $ROOT is tmpfs" >&2; exit 1; }
SYN=$B/bench/synccount.so
CNT=$B/bench/pmemcount.so
ops_for() { case $1 in tx_ten) echo 250 ;; *) echo 1000 ;; esac; }
run() { # config case threads
	n=$(ops_for $2)
	rm -f "$D"/*
	case $1 in
	msync) env PMEM_IS_PMEM_FORCE=0 LD_PRELOAD="$SYN" "$B/bench/bench_pmstore" $2 $3 $n "$D/p" ;;
	wal) env PMEM_IS_PMEM_FORCE=0 PMSTORE_WAL=1 LD_PRELOAD="$SYN" "$B/bench/bench_pmstore" $2 $3 $n "$D/p" ;;
	walng) env PMEM_IS_PMEM_FORCE=0 PMSTORE_WAL=1 PMSTORE_WAL_GATHER=0 LD_PRELOAD="$SYN" "$B/bench/bench_pmstore" $2 $3 $n "$D/p" ;;
	pmemobj) [ -x "$B/bench/bench_pmemobj" ] &&
		env PMEM_IS_PMEM_FORCE=0 LD_PRELOAD="$CNT $SYN" "$B/bench/bench_pmemobj" $2 $3 $n "$D/o" ;;
	lmdb) [ -x "$B/bench/bench_lmdb" ] && case $2 in tx_*) env LD_PRELOAD="$SYN" "$B/bench/bench_lmdb" $2 $3 $n "$D/l.db" ;; esac ;;
	esac
}
echo "config,lib,case,threads,ops,seconds,ops_per_s,median_ns,fences_per_op,flushes_per_op,bytes_per_obj,syncs_per_op"
for r in $(seq "$RUNS"); do
	for c in tx_one tx_ten tx_ten_batch alloc64; do
		for cfg in msync wal pmemobj lmdb; do
			line=$(run $cfg $c 1) && [ -n "$line" ] && echo "$cfg,$line" | tee -a "$OUT"
		done
	done
	for c in tx_one alloc64; do
		for cfg in msync wal walng; do
			line=$(run $cfg $c 2) && [ -n "$line" ] && echo "$cfg,$line" | tee -a "$OUT"
		done
	done
	printf '\r  run %d/%d done ' "$r" "$RUNS" >&2
done
echo >&2
awk -F, '{ k = $1 "," $3 "," $4; n[k]++; v[k, n[k]] = $7; s[k] = $12; if (!(k in seen)) { seen[k] = 1; o[++no] = k } }
function med(k,   i, j, t, a, m) { m = n[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	lo = a[1]; hi = a[m]; return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
END {
	printf "%-8s %-13s %3s %10s %19s %9s\n", "config", "case", "thr", "ops/s", "(min-max)", "syncs/op"
	for (i = 1; i <= no; i++) { k = o[i]; split(k, kk, ","); m = med(k)
		med_[k] = m; printf "%-8s %-13s %3s %10.0f %19s %9s\n", kk[1], kk[2], kk[3], m, sprintf("(%.0f-%.0f)", lo, hi), s[k] }
	print ""
	print "ratios of medians, same run:"
	for (i = 1; i <= no; i++) { k = o[i]; split(k, kk, ","); if (kk[1] != "wal") continue
		for (p = 1; p <= 3; p++) { peer = p == 1 ? "msync" : p == 2 ? "pmemobj" : "lmdb"
			pk = peer "," kk[2] "," kk[3]
			if (pk in med_ && med_[pk] > 0) printf "  wal / %-8s %-13s %s thr: %6.2fx\n", peer, kk[2], kk[3], med_[k] / med_[pk] } }
	for (p = 1; p <= 3; p++) { cf = p == 1 ? "msync" : p == 2 ? "wal" : "walng"
		for (q = 1; q <= 2; q++) { c = q == 1 ? "tx_one" : "alloc64"
			one = (cf == "walng" ? "wal" : cf) "," c ",1"; two = cf "," c ",2"
			if ((one in med_) && (two in med_) && med_[one] > 0)
				printf "  %-5s 2-thread scaling, %-8s %.2fx (2 threads vs %s 1 thread)\n", cf, c ":", med_[two] / med_[one], (cf == "walng" ? "wal" : cf) } }
}' "$OUT" >&2
