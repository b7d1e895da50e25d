#!/bin/sh
# bench/run.sh BUILD-DIR [--quick] -- pmstore side by side with libpmemobj
# (and LMDB for the transaction cases on files).
#
# One process per measurement, the libraries alternating.  Modes: pmem
# (PMEM_IS_PMEM_FORCE=1 on /dev/shm: the cache-flush path), msync (a tmpfs
# file, not pmem), noflush (PMSTORE_NO_FLUSH=1 / PMEM_NO_FLUSH=1 on the pmem
# path: software cost only), disk (a file in BENCH_DISK_DIR, default
# /var/tmp, which must not be tmpfs: a fence is an msync that reaches the
# block device), disknogc (the same with PMSTORE_GROUP_COMMIT=0: pmstore's
# tx_one and alloc64 only, for the 2-thread scaling without group
# commit), diskwal (pmstore alone, PMSTORE_WAL=1: WAL mode, src/flush/wal.c;
# compared with the disk mode's PMDK and LMDB of the same run).  Each case runs RUNS times; the table shows medians and the
# spread (min-max), fences, flushes and syncs (msync/fsync/fdatasync/O_DSYNC
# writes, counted by bench/synccount.so under all three libraries) per op.
# Every ratio is against the peer measured in the same run; the fixed
# reference figures of issue 7 are printed as context only.
# Output: a table on stdout and, for a full run, bench/results/latest.csv
# (one line per run), summary.csv, throughput.png (gnuplot) and grow.txt
# (bench_grow: the cost of growth, issue 19).  A --quick
# run never rewrites bench/results: it writes to BENCH_OUT (default a new
# directory under /tmp, printed).  --report prints the table and targets of
# the last full run again (from latest.csv) without measuring.  Pools go to directories unique to the run
# (under /dev/shm and BENCH_DISK_DIR), removed at the end.
set -u
B=${1:?usage: run.sh BUILD-DIR [--quick | --report]}
QUICK=0 REPORT=0
[ "${2:-}" = "--quick" ] && QUICK=1
# --report: no measurement; the table, targets and plot again from the
# raw lines of an earlier full run ($OUT/latest.csv)
[ "${2:-}" = "--report" ] && REPORT=1
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $QUICK = 1 ]; then
	OUT=${BENCH_OUT:-$(mktemp -d /tmp/pmstore-bench-quick.XXXXXX)}
else
	OUT=${BENCH_OUT:-$HERE/results}
fi
mkdir -p "$OUT"
SHM=$(mktemp -d /dev/shm/pmstore-bench.XXXXXX)
DISKROOT=${BENCH_DISK_DIR:-/var/tmp}
DISK=$(mktemp -d "$DISKROOT/pmstore-bench.XXXXXX") || DISK=
trap 'rm -rf "$SHM" ${DISK:+"$DISK"}' EXIT INT TERM
PS=$B/bench/bench_pmstore
PO=$B/bench/bench_pmemobj
PL=$B/bench/bench_lmdb
CNT=$B/bench/pmemcount.so
SYN=$B/bench/synccount.so
[ -x "$PS" ] || { echo "run.sh: $PS not built" >&2; exit 1; }
[ -f "$SYN" ] || SYN=
HAVE_PMDK=1
[ -x "$PO" ] || { HAVE_PMDK=0; echo "run.sh: libpmemobj side not built (libpmemobj-dev missing): no PMDK column" >&2; }
HAVE_LMDB=1
[ -x "$PL" ] || { HAVE_LMDB=0; echo "run.sh: LMDB side not built (liblmdb-dev missing): no LMDB column" >&2; }
if [ -n "$DISK" ] && [ "$(stat -f -c %T "$DISK")" = tmpfs ]; then
	echo "run.sh: $DISKROOT is tmpfs: no disk mode (set BENCH_DISK_DIR to a directory on a block device)" >&2
	rm -rf "$DISK"; DISK=
fi

if [ $QUICK = 1 ]; then
	RUNS=2; THREADS="1 2"; MODES="pmem noflush disk diskwal"; SCALE=5 # disk: 1 thread
else
	RUNS=5; THREADS="1 2"; MODES="pmem msync noflush disk diskwal disknogc"; SCALE=1
fi
[ -n "$DISK" ] || MODES=$(echo $MODES | sed 's/disk[a-z]*//g')
CASES="alloc64 alloc4k alloc64_dram tx_one tx_ten tx_ten_batch tx_alloc tx_empty"
ops_for() { # case threads mode -> ops per thread
	if [ "$3" = disknogc ]; then # group commit off: pmstore's tx_one, alloc64
		case $1 in alloc64|tx_one) echo $((1000 / SCALE)) ;; *) echo 0 ;; esac
		return
	fi
	if [ "$3" = disk ] || [ "$3" = diskwal ]; then # ~1 ms per fence-pair: keep a run to seconds
		case $1 in
		alloc64|tx_one|tx_ten_batch) n=1000 ;; tx_ten) n=250 ;; tx_alloc) n=500 ;;
		*) n=0 ;;
		esac
		echo $((n / SCALE)); return
	fi
	case $1 in
	alloc4k) n=100000 ;; tx_ten|tx_ten_batch) n=40000 ;; tx_empty) n=2000000 ;;
	*) n=150000 ;;
	esac
	[ "$3" = noflush ] && n=$((n * 4))
	echo $((n / SCALE))
}
env_for() { # lib mode
	case $2 in
	pmem) echo "PMEM_IS_PMEM_FORCE=1" ;;
	msync|disk) echo "PMEM_IS_PMEM_FORCE=0" ;;
	disknogc) echo "PMEM_IS_PMEM_FORCE=0 PMSTORE_GROUP_COMMIT=0" ;;
	diskwal) echo "PMEM_IS_PMEM_FORCE=0 PMSTORE_WAL=1" ;;
	noflush) [ $1 = pmstore ] && echo "PMEM_IS_PMEM_FORCE=1 PMSTORE_NO_FLUSH=1" ||
	         echo "PMEM_IS_PMEM_FORCE=1 PMEM_NO_FLUSH=1" ;;
	esac
}
dir_for() { case $1 in disk*) echo "$DISK" ;; *) echo "$SHM" ;; esac; }
lmdb_runs() { # LMDB: the tx cases, on files (its own msync-free durability)
	[ $HAVE_LMDB = 1 ] || return 1
	case $1 in msync|disk) ;; *) return 1 ;; esac
	case $2 in tx_one|tx_ten|tx_ten_batch) return 0 ;; esac
	return 1
}

RAW=$OUT/latest.csv
if [ $REPORT = 1 ]; then
	[ -s "$RAW" ] || { echo "run.sh: --report: no $RAW" >&2; exit 1; }
else
echo "mode,lib,case,threads,ops,seconds,ops_per_s,median_ns,fences_per_op,flushes_per_op,bytes_per_obj,syncs_per_op" > "$RAW"
total=0
for m in $MODES; do for c in $CASES; do for t in $THREADS; do total=$((total + RUNS)); done; done; done
done_n=0
start=$(date +%s)
for m in $MODES; do
	d=$(dir_for $m)
	for c in $CASES; do
		for t in $THREADS; do
			[ $QUICK = 1 ] && [ $m = disk -o $m = diskwal ] && [ $t != 1 ] && continue
			n=$(ops_for $c $t $m)
			for r in $(seq $RUNS); do
				done_n=$((done_n + 1))
				[ "$n" -gt 0 ] || continue
				if [ $c != alloc64_dram ]; then
					line=$(env $(env_for pmstore $m) LD_PRELOAD="$SYN" "$PS" $c $t $n "$d/pmstore.pool") &&
						echo "$m,$line" >> "$RAW"
				fi
				if [ $HAVE_PMDK = 1 ] && [ $m != disknogc ] && [ $m != diskwal ]; then
					line=$(env $(env_for pmemobj $m) LD_PRELOAD="$CNT $SYN" "$PO" $c $t $n "$d/pmemobj.pool") &&
						echo "$m,$line" >> "$RAW"
				fi
				if lmdb_runs $m $c; then
					line=$(env LD_PRELOAD="$SYN" "$PL" $c $t $n "$d/lmdb.db") &&
						echo "$m,$line" >> "$RAW"
				fi
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
	zcat "$TEXT" > "$SHM/words.txt"
	for m in pmem msync; do
		for r in $(seq $RUNS); do
			for lib in pmstore pmemobj; do
				exe=$BT; [ $lib = pmemobj ] && exe=$PT
				[ -x "$exe" ] || continue
				rm -f "$SHM/bt.pool"
				s=$(env $(env_for $lib $m) "$exe" --stats "$SHM/bt.pool" "$SHM/words.txt" 2>&1 >/dev/null |
				    sed -n 's/.*words=\([0-9]*\).*seconds=\([0-9.]*\).*words\/s=\([0-9]*\).*/\1,\2,\3/p' | head -1)
				[ -n "$s" ] && echo "$m,$lib,binarytree,1,${s%%,*},$(echo $s | cut -d, -f2),$(echo $s | cut -d, -f3),-1,-1,-1,-1,-1" >> "$RAW"
			done
		done
	done
	rm -f "$SHM/bt.pool" "$SHM/words.txt"
fi

# open (recovery) time: 1 M objects in 256 MiB and 4 GiB pools
NOBJ=1000000; SIZES="256 4096"
[ $QUICK = 1 ] && SIZES="256"
for sz in $SIZES; do
	for r in $(seq $(( RUNS < 3 ? RUNS : 3 ))); do
		line=$(env PMEM_IS_PMEM_FORCE=1 "$PS" open $sz $NOBJ "$SHM/open.pool") && echo "pmem,$line" >> "$RAW"
		[ $HAVE_PMDK = 1 ] && line=$(env PMEM_IS_PMEM_FORCE=1 "$PO" open $sz $NOBJ "$SHM/open.pool") && echo "pmem,$line" >> "$RAW"
	done
done
rm -f "$SHM/open.pool"

# libvmmalloc vs glibc / jemalloc / memkind (its own benchmark)
VM=$B/bench/vmmalloc/bench_vmmalloc
if [ -x "$VM" ]; then
	q=""; [ $QUICK = 1 ] && q=--quick
	"$VM" $q --dir "$SHM" 2>/dev/null | while IFS=, read cse th ops secs ns; do
		case $cse in case|"") continue ;; esac
		echo "heap,$cse,malloc_free,$th,$ops,$secs,$(awk "BEGIN{print $ops/$secs}"),$ns,-1,-1,-1,-1" >> "$RAW"
	done
fi

fi # REPORT

# ---- summary: medians and spread, ratios ----------------------------------
SUM=$OUT/summary.csv
awk -F, 'NR > 1 {
	k = $1 "," $2 "," $3 "," $4
	n[k]++; v[k, n[k]] = $7; l[k, n[k]] = $8; f[k] = $9; fl[k] = $10; b[k] = $11; sy[k] = $12
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
	print "mode,lib,case,threads,runs,ops_per_s_median,ops_per_s_min,ops_per_s_max,median_ns,fences_per_op,flushes_per_op,bytes_per_obj,syncs_per_op"
	for (i = 1; i <= no; i++) {
		k = order[i]; m = med(k, v); a = lo; z = hi; lat = med(k, l)
		printf "%s,%d,%.0f,%.0f,%.0f,%.0f,%s,%s,%s,%s\n", k, n[k], m, a, z, lat, f[k], fl[k], b[k], sy[k]
	}
}' "$RAW" > "$SUM"

# the table: pmstore, PMDK and LMDB per (mode, case, threads), ratios
# against the peers of this run
awk -F, 'NR > 1 { k = $1 "," $3 "," $4; r[k "," $2] = $0; if (!(k in s)) { s[k] = 1; o[++n] = k } }
function nz(x) { return (x == "" || x < 0) ? "-" : x }
END {
	printf "%-7s %-12s %3s | %-24s %-24s %6s | %-22s %6s | %-11s %-11s %-16s %-9s %s\n", "mode", "case", "thr",
	       "pmstore ops/s (min-max)", "PMDK ops/s (min-max)", "xPMDK", "LMDB ops/s (min-max)", "xLMDB",
	       "fences/op", "flushes/op", "syncs/op S/P/L", "bytes/obj", "median ns S/P/L"
	for (i = 1; i <= n; i++) {
		k = o[i]; split(k, kk, ",")
		if (kk[1] == "heap") continue
		pa = (k ",pmstore") in r; pb = (k ",pmemobj") in r; pc = (k ",lmdb") in r
		delete a; delete b; delete c
		if (pa) split(r[k ",pmstore"], a, ",")
		if (pb) split(r[k ",pmemobj"], b, ",")
		if (pc) split(r[k ",lmdb"], c, ",")
		sa = pa ? sprintf("%8.0f (%.0f-%.0f)", a[6], a[7], a[8]) : "-"
		sb = pb ? sprintf("%8.0f (%.0f-%.0f)", b[6], b[7], b[8]) : "-"
		sc = pc ? sprintf("%7.0f (%.0f-%.0f)", c[6], c[7], c[8]) : "-"
		ra = (pa && pb && b[6] > 0) ? sprintf("%5.2fx", a[6] / b[6]) : "-"
		rc = (pa && pc && c[6] > 0) ? sprintf("%5.2fx", a[6] / c[6]) : "-"
		fe = sprintf("%s/%s", pa ? nz(a[10]) : "-", pb ? nz(b[10]) : "-")
		fl = sprintf("%s/%s", pa ? nz(a[11]) : "-", pb ? nz(b[11]) : "-")
		sy = sprintf("%s/%s/%s", pa ? nz(a[13]) : "-", pb ? nz(b[13]) : "-", pc ? nz(c[13]) : "-")
		by = sprintf("%s/%s", pa ? nz(a[12]) : "-", pb ? nz(b[12]) : "-")
		la = sprintf("%s/%s/%s", pa ? a[9] : "-", pb ? b[9] : "-", pc ? c[9] : "-")
		printf "%-7s %-12s %3s | %-24s %-24s %6s | %-22s %6s | %-11s %-11s %-16s %-9s %s\n", kk[1], kk[2], kk[3], sa, sb, ra, sc, rc, fe, fl, sy, by, la
	}
	print ""
	print "heap (libvmmalloc benchmark: random 8-4096 B malloc/free):"
	for (i = 1; i <= n; i++) { k = o[i]; split(k, kk, ","); if (kk[1] != "heap") continue
		for (x in r) if (index(x, k ",") == 1) { split(r[x], a, ","); printf "  %-14s %d thread(s): %8.1f ns/op\n", a[2], a[4], a[9] } }
}' "$SUM"

# targets: every verdict against the peer measured in this run; the fixed
# reference figures (issue 7, from ANCHORS) are context, never a verdict
awk -F, 'NR > 1 { v[$1 "," $2 "," $3 "," $4] = $6; sy[$1 "," $2 "," $3 "," $4] = $13 }
function show(name, got, want, unit) {
	printf "  %-58s %10.2f %-4s target %-5s %s\n", name, got, unit, want, (got >= want ? "ok" : "SHORT")
}
function vs(m, c, peer, want, t) {
	t = t ? t : 1
	if (v[m ",pmstore," c "," t] && v[m "," peer "," c "," t])
		show(sprintf("%s %s, %d thr: pmstore / %s (same run)", m, c, t, peer),
		     v[m ",pmstore," c "," t] / v[m "," peer "," c "," t], want, "x")
}
# WAL mode (PMSTORE_WAL=1): pmstore alone; its peers are those of the disk mode
function vsw(c, peer, want) {
	if (v["diskwal,pmstore," c ",1"] && v["disk," peer "," c ",1"])
		show(sprintf("diskwal %s, 1 thr: pmstore WAL / %s (same run)", c, peer),
		     v["diskwal,pmstore," c ",1"] / v["disk," peer "," c ",1"], want, "x")
	if (("diskwal,pmstore," c ",1") in sy && ("disk," peer "," c ",1") in sy && sy["disk," peer "," c ",1"] >= 0)
		printf "  %-58s %5s vs %-5s  %s\n", sprintf("diskwal %s: syncs/op pmstore WAL vs %s", c, peer),
		       sy["diskwal,pmstore," c ",1"], sy["disk," peer "," c ",1"],
		       (sy["diskwal,pmstore," c ",1"] < sy["disk," peer "," c ",1"] ? "ok (fewer)" : "SHORT (not fewer)")
}
function fewer(m, c, peer) {
	if ((m ",pmstore," c ",1") in sy && (m "," peer "," c ",1") in sy && sy[m "," peer "," c ",1"] >= 0)
		printf "  %-58s %5s vs %-5s  %s\n", sprintf("%s %s: syncs/op pmstore vs %s", m, c, peer),
		       sy[m ",pmstore," c ",1"], sy[m "," peer "," c ",1"],
		       (sy[m ",pmstore," c ",1"] < sy[m "," peer "," c ",1"] ? "ok (fewer)" : "SHORT (not fewer)")
}
END {
	print ""; print "targets (verdicts against the peer in this run):"
	vs("pmem", "alloc64", "pmemobj", 3); vs("pmem", "tx_one", "pmemobj", 2)
	vs("pmem", "tx_ten", "pmemobj", 2); vs("pmem", "tx_ten_batch", "pmemobj", 3)
	vs("pmem", "tx_alloc", "pmemobj", 2)
	if (v["pmem,pmstore,alloc64,1"])
		show("pmem 2-thread scaling, alloc+free (x)", v["pmem,pmstore,alloc64,2"] / v["pmem,pmstore,alloc64,1"], 1.8, "x")
	if (v["pmem,pmstore,tx_one,1"])
		show("pmem 2-thread scaling, one-range tx (x)", v["pmem,pmstore,tx_one,2"] / v["pmem,pmstore,tx_one,1"], 1.8, "x")
	for (ci = 1; ci <= 5; ci++) {
		c = ci == 1 ? "alloc64" : ci == 2 ? "tx_one" : ci == 3 ? "tx_ten" : ci == 4 ? "tx_ten_batch" : "tx_alloc"
		vs("disk", c, "pmemobj", 1); vs("disk", c, "lmdb", 1)
		fewer("disk", c, "pmemobj"); fewer("disk", c, "lmdb")
		vsw(c, "pmemobj", 1); vsw(c, "lmdb", 1)
	}
	if (v["diskwal,pmstore,tx_one,1"])
		show("diskwal 2-thread scaling, one-range tx (x)", v["diskwal,pmstore,tx_one,2"] / v["diskwal,pmstore,tx_one,1"], 1.6, "x")
	if (v["diskwal,pmstore,alloc64,1"])
		show("diskwal 2-thread scaling, alloc+free (x)", v["diskwal,pmstore,alloc64,2"] / v["diskwal,pmstore,alloc64,1"], 1.6, "x")
	if (v["disk,pmstore,tx_one,1"])
		show("disk 2-thread scaling, one-range tx (x)", v["disk,pmstore,tx_one,2"] / v["disk,pmstore,tx_one,1"], 1.6, "x")
	if (v["disk,pmstore,alloc64,1"])
		show("disk 2-thread scaling, alloc+free (x)", v["disk,pmstore,alloc64,2"] / v["disk,pmstore,alloc64,1"], 1.6, "x")
	if (v["disknogc,pmstore,tx_one,1"])
		printf "  %-58s %10.2f x  (group commit off, PMSTORE_GROUP_COMMIT=0)\n", "disk 2-thread scaling, one-range tx",
		       v["disknogc,pmstore,tx_one,2"] / v["disknogc,pmstore,tx_one,1"]
	if (v["disknogc,pmstore,alloc64,1"])
		printf "  %-58s %10.2f x  (group commit off)\n", "disk 2-thread scaling, alloc+free",
		       v["disknogc,pmstore,alloc64,2"] / v["disknogc,pmstore,alloc64,1"]
	print "  (disk throughput ratios are noisy on a shared VM: bench/gc_scaling.sh, PERFORMANCE.md)"
	if (v["noflush,pmstore,alloc64,1"]) {
		ns = 1e9 / v["noflush,pmstore,alloc64,1"] / 2
		printf "  %-58s %10.1f %-4s target <= 100 %s\n", "software cost per small op (alloc or free, flushes off)", ns, "ns", (ns <= 100 ? "ok" : "SHORT")
		ns = 1e9 / v["noflush,pmstore,tx_one,1"]
		printf "  %-58s %10.1f %-4s target <= 100 %s\n", "software cost of a one-range tx (flushes off)", ns, "ns", (ns <= 100 ? "ok" : "SHORT")
	}
	print ""; print "context only (fixed reference figures of issue 7; PMDK drifts run to run, so no verdict):"
	if (v["pmem,pmstore,alloc64,1"]) {
		printf "  %-58s %10.2f x\n", "pmem alloc+free pairs / 354k/s", v["pmem,pmstore,alloc64,1"] / 354000
		printf "  %-58s %10.2f x\n", "pmem one-range tx / 939k/s", v["pmem,pmstore,tx_one,1"] / 939000
		printf "  %-58s %10.2f x\n", "pmem ten-range tx / 192k/s", v["pmem,pmstore,tx_ten,1"] / 192000
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
# growth (issue 19): pm_grow in steps, pmalloc in a growing pool vs a fixed
# one (bench_grow.c), on the cache-flush path and on disk
if [ $REPORT = 0 ] && [ -x "$B/bench/bench_grow" ]; then
	{ PMEM_IS_PMEM_FORCE=1 "$B/bench/bench_grow" "$SHM"
	  [ -z "$DISK" ] || "$B/bench/bench_grow" "$DISK"; } | tee "$OUT/grow.txt"
fi
echo "raw: $RAW  summary: $SUM  ($(($(date +%s) - ${start:-$(date +%s)})) s)"
