#!/bin/sh
# bench/run.sh BUILD-DIR [--quick] -- pmstore side by side with libpmemobj.
#
# One process per measurement, the two libraries alternating, pool on
# /dev/shm.  Modes: pmem (PMEM_IS_PMEM_FORCE=1: the cache-flush path),
# msync (a tmpfs file, not pmem), noflush (PMSTORE_NO_FLUSH=1 /
# PMEM_NO_FLUSH=1 on the pmem path: software cost only).  Each case runs
# RUNS times; the table shows medians and the spread (min-max).
# Output: a table on stdout, bench/results/latest.csv (one line per run),
# bench/results/summary.csv, and bench/results/throughput.png (gnuplot).
set -u
B=${1:?usage: run.sh BUILD-DIR [--quick]}
# pools and the word list in a directory of this run only (two runs at once
# must not share pool files)
W=$(mktemp -d "/dev/shm/pmstore-bench.$$.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
QUICK=0
[ "${2:-}" = "--quick" ] && QUICK=1
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/results
mkdir -p "$OUT"
PS=$B/bench/bench_pmstore
PO=$B/bench/bench_pmemobj
CNT=$B/bench/pmemcount.so
[ -x "$PS" ] || { echo "run.sh: $PS not built" >&2; exit 1; }
HAVE_PMDK=1
[ -x "$PO" ] || { HAVE_PMDK=0; echo "run.sh: libpmemobj side not built (libpmemobj-dev missing): pmstore only" >&2; }

if [ $QUICK = 1 ]; then
	RUNS=2; THREADS="1 2"; MODES="pmem noflush"; SCALE=5
else
	RUNS=5; THREADS="1 2"; MODES="pmem msync noflush"; SCALE=1
fi
CASES="alloc64 alloc4k alloc64_dram tx_one tx_ten tx_alloc tx_empty"
ops_for() { # per thread
	case $1 in
	alloc4k) n=100000 ;; tx_ten) n=40000 ;; tx_empty) n=2000000 ;;
	*) n=150000 ;;
	esac
	[ "$3" = noflush ] && n=$((n * 4))
	echo $((n / SCALE))
}
env_for() { # lib mode
	case $2 in
	pmem) echo "PMEM_IS_PMEM_FORCE=1" ;;
	msync) echo "PMEM_IS_PMEM_FORCE=0" ;;
	noflush) [ $1 = pmstore ] && echo "PMEM_IS_PMEM_FORCE=1 PMSTORE_NO_FLUSH=1" ||
	         echo "PMEM_IS_PMEM_FORCE=1 PMEM_NO_FLUSH=1" ;;
	esac
}

RAW=$OUT/latest.csv
echo "mode,lib,case,threads,ops,seconds,ops_per_s,median_ns,fences_per_op,flushes_per_op,bytes_per_obj" > "$RAW"
total=0
for m in $MODES; do for c in $CASES; do for t in $THREADS; do total=$((total + RUNS)); done; done; done
done_n=0
start=$(date +%s)
for m in $MODES; do
	for c in $CASES; do
		for t in $THREADS; do
			n=$(ops_for $c $t $m)
			for r in $(seq $RUNS); do
				if [ $c != alloc64_dram ]; then
					line=$(env $(env_for pmstore $m) "$PS" $c $t $n "$W"/bench-pmstore.pool) &&
						echo "$m,$line" >> "$RAW"
				fi
				if [ $HAVE_PMDK = 1 ]; then
					line=$(env $(env_for pmemobj $m) LD_PRELOAD="$CNT" "$PO" $c $t $n "$W"/bench-pmemobj.pool) &&
						echo "$m,$line" >> "$RAW"
				fi
				done_n=$((done_n + 1))
				printf '\r  [%d/%d] %-8s %-12s %d thread(s)   %ds ' $done_n $total $m $c $t $(($(date +%s) - start)) >&2
			done
		done
	done
done
echo >&2

# binarytree word count on the bundled text (words/s), both libraries
TEXT=$HERE/../examples/binarytree/data/gnu-manuals.txt.gz
BT=$B/examples/binarytree/binarytree
PT=$B/bench/pmemobj_tree/pmemobj_tree
if [ -x "$BT" ]; then
	zcat "$TEXT" > "$W"/bench-words.txt
	for m in pmem msync; do
		for r in $(seq $RUNS); do
			for lib in pmstore pmemobj; do
				exe=$BT; [ $lib = pmemobj ] && exe=$PT
				[ -x "$exe" ] || continue
				rm -f "$W"/bench-bt.pool
				s=$(env $(env_for $lib $m) "$exe" --stats "$W"/bench-bt.pool "$W"/bench-words.txt 2>&1 >/dev/null |
				    sed -n 's/.*words=\([0-9]*\).*seconds=\([0-9.]*\).*words\/s=\([0-9]*\).*/\1,\2,\3/p' | head -1)
				[ -n "$s" ] && echo "$m,$lib,binarytree,1,${s%%,*},$(echo $s | cut -d, -f2),$(echo $s | cut -d, -f3),-1,-1,-1,-1" >> "$RAW"
			done
		done
	done
	rm -f "$W"/bench-bt.pool "$W"/bench-words.txt
fi

# open (recovery) time: 1 M objects in 256 MiB and 4 GiB pools
NOBJ=1000000; SIZES="256 4096"
[ $QUICK = 1 ] && SIZES="256"
for sz in $SIZES; do
	for r in $(seq $(( RUNS < 3 ? RUNS : 3 ))); do
		line=$(env PMEM_IS_PMEM_FORCE=1 "$PS" open $sz $NOBJ "$W"/bench-open.pool) && echo "pmem,$line" >> "$RAW"
		[ $HAVE_PMDK = 1 ] && line=$(env PMEM_IS_PMEM_FORCE=1 "$PO" open $sz $NOBJ "$W"/bench-open.pool) && echo "pmem,$line" >> "$RAW"
	done
done
rm -f "$W"/bench-open.pool

# libvmmalloc vs glibc / jemalloc / memkind (its own benchmark)
VM=$B/bench/vmmalloc/bench_vmmalloc
if [ -x "$VM" ]; then
	q=""; [ $QUICK = 1 ] && q=--quick
	"$VM" $q --dir "$W" 2>/dev/null | while IFS=, read cse th ops secs ns; do
		case $cse in case|"") continue ;; esac
		echo "heap,$cse,malloc_free,$th,$ops,$secs,$(awk "BEGIN{print $ops/$secs}"),$ns,-1,-1,-1" >> "$RAW"
	done
fi

# ---- summary: medians and spread, ratios ----------------------------------
SUM=$OUT/summary.csv
awk -F, 'NR > 1 {
	k = $1 "," $2 "," $3 "," $4
	n[k]++; v[k, n[k]] = $7; l[k, n[k]] = $8; f[k] = $9; fl[k] = $10; b[k] = $11
	if (!(k in seen)) { seen[k] = 1; order[++no] = k }
}
function med(k, arr,   i, j, t, a, m) {
	m = n[k]
	for (i = 1; i <= m; i++) a[i] = arr[k, i]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	lo = a[1]; hi = a[m]
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
	print "mode,lib,case,threads,runs,ops_per_s_median,ops_per_s_min,ops_per_s_max,median_ns,fences_per_op,flushes_per_op,bytes_per_obj"
	for (i = 1; i <= no; i++) {
		k = order[i]; m = med(k, v); a = lo; z = hi; lat = med(k, l)
		printf "%s,%d,%.0f,%.0f,%.0f,%.0f,%s,%s,%s\n", k, n[k], m, a, z, lat, f[k], fl[k], b[k]
	}
}' "$RAW" > "$SUM"

# the table: pmstore and PMDK per (mode, case, threads), ratio, targets
awk -F, 'NR > 1 { k = $1 "," $3 "," $4; r[k "," $2] = $0; if (!(k in s)) { s[k] = 1; o[++n] = k } }
END {
	printf "%-8s %-13s %3s | %-26s %-26s %6s | %-11s %-11s | %-9s %s\n", "mode", "case", "thr",
	       "pmstore ops/s (min-max)", "PMDK ops/s (min-max)", "ratio", "fences/op", "flushes/op",
	       "bytes/obj", "median ns (pmstore/PMDK)"
	for (i = 1; i <= n; i++) {
		k = o[i]; split(k, kk, ",")
		if (kk[1] == "heap") continue
		pa = (k ",pmstore") in r; pb = (k ",pmemobj") in r
		delete a; delete b
		if (pa) split(r[k ",pmstore"], a, ",")
		if (pb) split(r[k ",pmemobj"], b, ",")
		sa = pa ? sprintf("%9.0f (%.0f-%.0f)", a[6], a[7], a[8]) : "-"
		sb = pb ? sprintf("%9.0f (%.0f-%.0f)", b[6], b[7], b[8]) : "-"
		ra = (pa && pb && b[6] > 0) ? sprintf("%5.2fx", a[6] / b[6]) : "-"
		fe = sprintf("%s/%s", pa ? a[10] : "-", pb ? b[10] : "-")
		fl = sprintf("%s/%s", pa ? a[11] : "-", pb ? b[11] : "-")
		by = sprintf("%s/%s", pa ? a[12] : "-", pb ? b[12] : "-")
		la = sprintf("%s/%s", pa ? a[9] : "-", pb ? b[9] : "-")
		printf "%-8s %-13s %3s | %-26s %-26s %6s | %-11s %-11s | %-9s %s\n", kk[1], kk[2], kk[3], sa, sb, ra, fe, fl, by, la
	}
	print ""
	print "heap (libvmmalloc benchmark: random 8-4096 B malloc/free):"
	for (i = 1; i <= n; i++) { k = o[i]; split(k, kk, ","); if (kk[1] != "heap") continue
		for (x in r) if (index(x, k ",") == 1) { split(r[x], a, ","); printf "  %-14s %d thread(s): %8.1f ns/op\n", a[2], a[4], a[9] } }
}' "$SUM"

# targets (issue 7), from the pmem-mode medians
awk -F, 'NR > 1 { v[$1 "," $2 "," $3 "," $4] = $6; lat[$1 "," $2 "," $3 "," $4] = $9 }
function show(name, got, want, unit) {
	printf "  %-52s %12.2f %-6s target %s %s\n", name, got, unit, want, (got >= want ? "ok" : "SHORT")
}
END {
	print ""; print "targets (pmem path, 1 thread unless said):"
	if (v["pmem,pmstore,alloc64,1"]) {
		show("alloc+free pairs vs PMDK 354k/s (x)", v["pmem,pmstore,alloc64,1"] / 354000, 3, "x")
		show("one-range tx vs PMDK 939k/s (x)", v["pmem,pmstore,tx_one,1"] / 939000, 2, "x")
		show("ten-range tx vs PMDK 192k/s (x)", v["pmem,pmstore,tx_ten,1"] / 192000, 2, "x")
		if (v["pmem,pmemobj,tx_one,1"]) {
			show("one-range tx vs PMDK measured here (x)", v["pmem,pmstore,tx_one,1"] / v["pmem,pmemobj,tx_one,1"], 2, "x")
			show("ten-range tx vs PMDK measured here (x)", v["pmem,pmstore,tx_ten,1"] / v["pmem,pmemobj,tx_ten,1"], 2, "x")
		}
		show("2-thread scaling, alloc+free (x)", v["pmem,pmstore,alloc64,2"] / v["pmem,pmstore,alloc64,1"], 1.8, "x")
		show("2-thread scaling, one-range tx (x)", v["pmem,pmstore,tx_one,2"] / v["pmem,pmstore,tx_one,1"], 1.8, "x")
	}
	if (v["noflush,pmstore,alloc64,1"]) {
		ns = 1e9 / v["noflush,pmstore,alloc64,1"] / 2
		printf "  %-52s %12.1f %-6s target <= 100 %s\n", "software cost per small op (alloc or free, flushes off)", ns, "ns", (ns <= 100 ? "ok" : "SHORT")
		ns = 1e9 / v["noflush,pmstore,tx_one,1"]
		printf "  %-52s %12.1f %-6s target <= 100 %s\n", "software cost of a one-range tx (flushes off)", ns, "ns", (ns <= 100 ? "ok" : "SHORT")
	}
}' "$SUM"

# plot
if command -v gnuplot >/dev/null 2>&1; then
	awk -F, 'NR > 1 && $1 == "pmem" && $4 == 1 && $3 != "binarytree" && $3 !~ /open/ { v[$3 "," $2] = $6; c[$3] = 1 }
	END { for (k in c) printf "%s %.0f %.0f\n", k, v[k ",pmstore"], v[k ",pmemobj"] }' "$SUM" | sort > "$OUT/plot.dat"
	gnuplot <<EOF 2>/dev/null && echo "plot: $OUT/throughput.png"
set terminal png size 900,500 noenhanced
set output "$OUT/throughput.png"
set title "ops/s, 1 thread, cache-flush path (PMEM_IS_PMEM_FORCE=1), median of $RUNS"
set style data histograms
set style fill solid 0.8
set logscale y
set ylabel "ops/s"
set xtics rotate by -30
plot "$OUT/plot.dat" using 2:xtic(1) title "pmstore", "" using 3 title "PMDK libpmemobj"
EOF
fi
echo "raw: $RAW  summary: $SUM  ($(($(date +%s) - start)) s)"
