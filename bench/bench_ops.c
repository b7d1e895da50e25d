/*
 * bench_ops.c -- one workload, three libraries.  Built three times:
 * bench_pmstore (pmstore), with -DUSE_PMEMOBJ bench_pmemobj (PMDK
 * libpmemobj), with -DUSE_LMDB bench_lmdb (LMDB: the tx cases only, a
 * 64-byte put per range, in one write transaction, default durable flags).
 *
 *   bench_X CASE THREADS OPS POOL      -> one CSV line on stdout:
 *   lib,case,threads,ops,seconds,ops_per_s,median_ns,fences_per_op,
 *   flushes_per_op,bytes_per_obj,syncs_per_op
 *   bench_X open SIZE_MIB NOBJ POOL    -> lib,open_SIZE,1,NOBJ,seconds,...
 *   bench_pmstore backup MIB 0 POOL    -> pmstore,backup_MIBM,... (pm_backup)
 *   bench_X space OBJ_SIZE SIZE_MIB POOL
 *                                      -> lib,space_OBJSIZE,1,NOBJ,seconds,
 *      ops_per_s,-1,-1,-1,pool_bytes_per_obj: a fresh pool of SIZE_MIB
 *      filled with OBJ_SIZE-byte objects until an allocation fails; the
 *      pool file's bytes per object (bench/space.sh: the size sweep)
 *
 * Cases (64 B unless named; "dest in pool": the destination of the
 * allocation is a word of the pool, so the allocation and the pointer to it
 * are made durable together):
 *   alloc64, alloc4k   alloc + free pairs, dest in pool (an op = a pair)
 *   alloc100k          the same, 100 000 B (issue 12: a big-class block)
 *   alloc64_dram       PMDK only: the OID in DRAM (reference)
 *   tx_one             tx { add 64 B; write }
 *   tx_ten             tx { 10 x add 64 B (distinct lines); write }
 *   tx_ten_batch       the same ten ranges declared together: pmstore's
 *                      tx_add_ranges (one fence); PMDK has no batch form and
 *                      LMDB no ranges, so they run tx_ten
 *   tx_alloc           tx { add slot; free old; slot = tx zalloc 64 B }
 *   tx_empty           tx { }
 * Each thread works in its own part of the root.  Latency: every 16th op
 * is timed alone; the median of those.  Fences and flushes per op: pmstore
 * counts them itself (pm_stats); for PMDK they come from bench/pmemcount.so
 * (an LD_PRELOAD counter over libpmem) when it is loaded, else -1.  Syncs
 * per op (msync/fsync/fdatasync calls: what a fence costs on a file) come
 * from bench/synccount.so when it is preloaded, for all three, else -1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 64 /* per thread: 64 words = 512 B, line-aligned */

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static const char *cs;
/* the case, decoded once (a strcmp per op would be measured too) */
enum { C_ALLOC64, C_ALLOC4K, C_ALLOC64_DRAM, C_TX_ONE, C_TX_TEN, C_TX_ALLOC, C_TX_EMPTY,
       C_TX_TEN_BATCH, C_ALLOC100K, C_BAD };
static int cse = C_BAD;
static const char *const case_names[] = { "alloc64", "alloc4k", "alloc64_dram", "tx_one",
                                          "tx_ten", "tx_alloc", "tx_empty", "tx_ten_batch",
                                          "alloc100k" };
static long nops;
static int nthreads;
static double *lat[8];
static long nlat[8];

#ifdef USE_PMEMOBJ
/* ---- libpmemobj --------------------------------------------------------- */
#include <libpmemobj.h>
#define LIB "pmemobj"
static PMEMobjpool *pop;
struct broot {
	uint64_t words[8][SLOTS * 10];
	PMEMoid oid[8][4];
};
static struct broot *rt;

static void lib_open(const char *path, size_t size)
{
	unlink(path);
	pop = pmemobj_create(path, "bench", size, 0600);
	if (!pop) {
		perror("pmemobj_create");
		exit(1);
	}
	rt = pmemobj_direct(pmemobj_root(pop, sizeof(struct broot)));
}

static void lib_close(void)
{
	pmemobj_close(pop);
}

static void op(int t)
{
	uint64_t *w = rt->words[t];
	PMEMoid *o = rt->oid[t];
	if (cse == C_ALLOC64 || cse == C_ALLOC4K || cse == C_ALLOC100K) {
		size_t sz = cse == C_ALLOC64 ? 64 : cse == C_ALLOC4K ? 4096 : 100000;
		pmemobj_alloc(pop, &o[0], sz, 0, NULL, NULL);
		pmemobj_free(&o[0]);
	} else if (cse == C_ALLOC64_DRAM) {
		PMEMoid d;
		pmemobj_alloc(pop, &d, 64, 0, NULL, NULL);
		pmemobj_free(&d);
	} else if (cse == C_TX_ONE) {
		TX_BEGIN(pop) {
			pmemobj_tx_add_range_direct(w, 64);
			w[0]++;
		} TX_END
	} else if (cse == C_TX_TEN || cse == C_TX_TEN_BATCH) {
		TX_BEGIN(pop) {
			for (int k = 0; k < 10; k++) {
				pmemobj_tx_add_range_direct(&w[k * 8], 64);
				w[k * 8]++;
			}
		} TX_END
	} else if (cse == C_TX_ALLOC) {
		TX_BEGIN(pop) {
			pmemobj_tx_add_range_direct(&o[1], sizeof(PMEMoid));
			if (!OID_IS_NULL(o[1]))
				pmemobj_tx_free(o[1]);
			o[1] = pmemobj_tx_zalloc(64, 0);
		} TX_END
	} else if (cse == C_TX_EMPTY) {
		TX_BEGIN(pop) {
		} TX_END
	}
}

static void counters(uint64_t *fences, uint64_t *flushes)
{
	void (*f)(uint64_t *, uint64_t *) = (void (*)(uint64_t *, uint64_t *))dlsym(RTLD_DEFAULT, "pmemcount_get");
	if (f)
		f(fences, flushes);
	else
		*fences = *flushes = UINT64_MAX;
}

static double bytes_per_obj(void)
{
	/* 1000 objects of 64 B: the distance the heap moves per object */
	PMEMoid a, b;
	pmemobj_alloc(pop, &a, 64, 0, NULL, NULL);
	for (int i = 0; i < 999; i++)
		pmemobj_alloc(pop, &b, 64, 0, NULL, NULL);
	return (double)(b.off > a.off ? b.off - a.off : a.off - b.off) / 999.0;
}

static long space_fill(size_t obj)
{
	long n = 0; /* NULL oidp: reachable by iteration only (fine here) */
	while (pmemobj_alloc(pop, NULL, obj, 0, NULL, NULL) == 0)
		n++;
	return n;
}

static void open_test(const char *path, size_t size, long n)
{
	lib_open(path, size);
	PMEMoid arr;
	pmemobj_zalloc(pop, &arr, (size_t)n * sizeof(PMEMoid), 0);
	PMEMoid *a = pmemobj_direct(arr);
	for (long i = 0; i < n; i++)
		pmemobj_alloc(pop, &a[i], 64, 0, NULL, NULL);
	pmemobj_close(pop);
	double t0 = now();
	pop = pmemobj_open(path, "bench");
	double t = now() - t0;
	if (!pop) {
		perror("pmemobj_open");
		exit(1);
	}
	printf("%s,open_%zuM,1,%ld,%.6f,%.1f,%.0f,-1,-1,-1,-1\n", LIB, size >> 20, n, t, 1.0 / t, t * 1e9);
	pmemobj_close(pop);
}
#elif defined(USE_LMDB)
/* ---- LMDB ------------------------------------------------------------------ */
#include <lmdb.h>
#define LIB "lmdb"
static MDB_env *env;
static MDB_dbi dbi;
static char lpath[4096];

static void lmdb_die(const char *what, int rc)
{
	fprintf(stderr, "lmdb: %s: %s\n", what, mdb_strerror(rc));
	exit(1);
}

static void put(MDB_txn *txn, uint64_t k, uint64_t v)
{
	uint64_t val[8] = { v };
	MDB_val key = { sizeof(k), &k }, data = { sizeof(val), val };
	int rc = mdb_put(txn, dbi, &key, &data, 0);
	if (rc)
		lmdb_die("mdb_put", rc);
}

static void lib_open(const char *path, size_t size)
{
	snprintf(lpath, sizeof(lpath), "%s", path);
	unlink(path);
	int rc;
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_mapsize(env, size)) ||
	    (rc = mdb_env_open(env, path, MDB_NOSUBDIR, 0600)))
		lmdb_die("mdb_env_open", rc);
	MDB_txn *txn;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, NULL, 0, &dbi)))
		lmdb_die("mdb_dbi_open", rc);
	for (uint64_t t = 0; t < 8; t++) /* the keys exist: a put overwrites */
		for (uint64_t k = 0; k < 10; k++)
			put(txn, t * 100 + k, 0);
	if ((rc = mdb_txn_commit(txn)))
		lmdb_die("mdb_txn_commit", rc);
}

static void lib_close(void)
{
	mdb_env_close(env);
	char lock[4200];
	snprintf(lock, sizeof(lock), "%s-lock", lpath);
	unlink(lock);
}

static uint64_t ctr[8];

static void op(int t)
{
	int n = cse == C_TX_ONE ? 1 : (cse == C_TX_TEN || cse == C_TX_TEN_BATCH) ? 10
	        : cse == C_TX_EMPTY ? 0 : -1;
	if (n < 0) {
		fprintf(stderr, "no case %s for lmdb\n", cs);
		exit(2);
	}
	MDB_txn *txn;
	int rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc)
		lmdb_die("mdb_txn_begin", rc);
	ctr[t]++;
	for (int k = 0; k < n; k++)
		put(txn, (uint64_t)t * 100 + (uint64_t)k, ctr[t]);
	if ((rc = mdb_txn_commit(txn)))
		lmdb_die("mdb_txn_commit", rc);
}

static void counters(uint64_t *fences, uint64_t *flushes)
{
	*fences = *flushes = UINT64_MAX;
}

static double bytes_per_obj(void)
{
	return -1;
}

static void open_test(const char *path, size_t size, long n)
{
	(void)path;
	(void)size;
	(void)n;
	fprintf(stderr, "no open case for lmdb\n");
	exit(2);
}

static long space_fill(size_t obj)
{
	(void)obj;
	fprintf(stderr, "no space case for lmdb\n");
	exit(2);
}
#else
/* ---- pmstore ------------------------------------------------------------- */
#include "pmstore.h"
#define LIB "pmstore"
static pm_pool *pool;
struct broot {
	uint64_t words[8][SLOTS * 10];
	pm_off slot[8][8];
};
static struct broot *rt;

static void lib_open(const char *path, size_t size)
{
	unlink(path);
	pool = pm_create(path, size, 0600);
	if (!pool) {
		fprintf(stderr, "%s\n", pm_errormsg());
		exit(1);
	}
	rt = pm_direct(pool, pm_root(pool, sizeof(struct broot)));
	if (!rt) {
		fprintf(stderr, "pm_root: %s\n", pm_errormsg());
		exit(1);
	}
}

/* a measured run whose operations failed must not print a figure */
static _Atomic long op_errors;
static void lib_check(void)
{
	if (atomic_load(&op_errors)) {
		fprintf(stderr, "%ld operations failed: %s\n", atomic_load(&op_errors), pm_errormsg());
		exit(1);
	}
}
#define CK(call) do { if ((call) != 0) atomic_fetch_add(&op_errors, 1); } while (0)

static void lib_close(void)
{
	pm_close(pool);
}

static void op(int t)
{
	uint64_t *w = rt->words[t];
	pm_off *s = rt->slot[t];
	if (cse == C_ALLOC64 || cse == C_ALLOC4K || cse == C_ALLOC100K) {
		CK(pmalloc(pool, &s[0], cse == C_ALLOC64 ? 64 : cse == C_ALLOC4K ? 4096 : 100000));
		CK(pfree(pool, &s[0]));
	} else if (cse == C_TX_ONE) {
		CK(tx_begin(pool));
		CK(tx_add(w, 64));
		w[0]++;
		CK(tx_end());
	} else if (cse == C_TX_TEN) {
		tx_begin(pool);
		for (int k = 0; k < 10; k++) {
			tx_add(&w[k * 8], 64);
			w[k * 8]++;
		}
		tx_end();
	} else if (cse == C_TX_TEN_BATCH) {
		struct pm_range r[10];
		for (int k = 0; k < 10; k++)
			r[k] = (struct pm_range){ &w[k * 8], 64 };
		tx_begin(pool);
		tx_add_ranges(r, 10);
		for (int k = 0; k < 10; k++)
			w[k * 8]++;
		tx_end();
	} else if (cse == C_TX_ALLOC) {
		tx_begin(pool);
		tx_add(&s[1], 8);
		if (s[1])
			tx_pfree(s[1]);
		s[1] = tx_pzalloc(64);
		tx_end();
	} else if (cse == C_TX_EMPTY) {
		tx_begin(pool);
		tx_end();
	} else {
		fprintf(stderr, "no case %s for pmstore\n", cs);
		exit(2);
	}
}

static void counters(uint64_t *fences, uint64_t *flushes)
{
	struct pm_stats st;
	pm_stats_get(pool, &st);
	*fences = st.fences;
	*flushes = st.flushes;
}

static double bytes_per_obj(void)
{
	pm_off *a = &rt->slot[7][2], *b = &rt->slot[7][3];
	pmalloc(pool, a, 64);
	for (int i = 0; i < 999; i++)
		pmalloc(pool, b, 64);
	return (double)(*b > *a ? *b - *a : *a - *b) / 999.0;
}

static long space_fill(size_t obj)
{
	long n = 0; /* one destination word, overwritten: the objects stay */
	while (pmalloc(pool, &rt->slot[0][0], obj) == 0)
		n++;
	return n;
}

static void open_test(const char *path, size_t size, long n)
{
	lib_open(path, size);
	pm_off *arr = &rt->slot[0][0];
	pzalloc(pool, arr, (size_t)n * 8);
	pm_off *a = pm_direct(pool, *arr);
	for (long i = 0; i < n; i++)
		pmalloc(pool, &a[i], 64);
	pm_close(pool);
	double t0 = now();
	pool = pm_open(path);
	double t = now() - t0;
	if (!pool) {
		fprintf(stderr, "%s\n", pm_errormsg());
		exit(1);
	}
	printf("%s,open_%zuM,1,%ld,%.6f,%.1f,%.0f,-1,-1,-1,-1\n", LIB, size >> 20, n, t, 1.0 / t, t * 1e9);
	pm_close(pool);
}

/* pm_backup of a pool with MIB MiB in use (1 MiB objects, written): how
 * long writers are held (the copy), and the whole call (with the fsync).
 * Line: pmstore,backup_MIBM,1,MIB,seconds,MiB_per_s,held_ns,-1,-1,bytes,-1 */
static void backup_test(const char *path, long mib)
{
	lib_open(path, (size_t)(mib + mib / 8 + 64) << 20);
	pm_off *arr = &rt->slot[0][0];
	pzalloc(pool, arr, (size_t)mib * 8);
	pm_off *a = pm_direct(pool, *arr);
	for (long i = 0; i < mib; i++) {
		pmalloc(pool, &a[i], (1 << 20) - 64);
		memset(pm_direct(pool, a[i]), (int)i, (1 << 20) - 64);
	}
	char bk[4200];
	snprintf(bk, sizeof(bk), "%s.backup", path);
	unlink(bk);
	struct pm_backup_stats st;
	struct pm_backup_opts o = { .stats = &st };
	double t0 = now();
	if (pm_backup(pool, bk, &o)) {
		fprintf(stderr, "%s\n", pm_errormsg());
		exit(1);
	}
	double t = now() - t0;
	printf("%s,backup_%ldM,1,%ld,%.6f,%.1f,%llu,-1,-1,%llu,-1\n", LIB, mib, mib, t, mib / t,
	       (unsigned long long)st.writers_held_ns, (unsigned long long)st.bytes);
	unlink(bk);
	pm_close(pool);
}
#endif

/* ---- common driver ------------------------------------------------------- */

static pthread_barrier_t bar;

static uint64_t syncs(void)
{
	uint64_t (*f)(void) = (uint64_t (*)(void))dlsym(RTLD_DEFAULT, "synccount_get");
	return f ? f() : UINT64_MAX;
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	for (long i = 0; i < nops / 10 + 1; i++) /* warm: runs, caches, lanes */
		op(t);
	pthread_barrier_wait(&bar);
	lat[t] = malloc(sizeof(double) * (size_t)(nops / 16 + 1));
	for (long i = 0; i < nops; i++) {
		if ((i & 15) == 0) {
			double t0 = now();
			op(t);
			lat[t][nlat[t]++] = now() - t0;
		} else {
			op(t);
		}
	}
	pthread_barrier_wait(&bar);
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s CASE THREADS OPS POOL | open SIZE_MIB NOBJ POOL | space OBJ_SIZE SIZE_MIB POOL\n", argv[0]);
		return 2;
	}
	cs = argv[1];
	for (int i = 0; i < C_BAD; i++)
		if (!strcmp(cs, case_names[i]))
			cse = i;
#if !defined(USE_PMEMOBJ) && !defined(USE_LMDB)
	if (!strcmp(cs, "backup")) {
		backup_test(argv[4], atol(argv[2]));
		unlink(argv[4]);
		return 0;
	}
#endif
	if (!strcmp(cs, "open")) {
		open_test(argv[4], (size_t)atol(argv[2]) << 20, atol(argv[3]));
		unlink(argv[4]);
		return 0;
	}
	if (!strcmp(cs, "space")) {
		size_t obj = (size_t)atol(argv[2]), psize = (size_t)atol(argv[3]) << 20;
		lib_open(argv[4], psize);
		double t0 = now();
		long n = space_fill(obj);
		double t = now() - t0;
		printf("%s,space_%zu,1,%ld,%.6f,%.1f,-1,-1,-1,%.1f,-1\n", LIB, obj, n, t, n / t,
		       n ? (double)psize / (double)n : -1.0);
		lib_close();
		unlink(argv[4]);
		return 0;
	}
	nthreads = atoi(argv[2]);
	nops = atol(argv[3]);
	if (nthreads < 1 || nthreads > 8 || nops < 1 || cse == C_BAD) {
		fprintf(stderr, "%s: bad arguments (case %s?)\n", argv[0], cs);
		return 2;
	}
	lib_open(argv[4], (size_t)256 << 20);
	pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
	pthread_t th[8];
	for (int t = 0; t < nthreads; t++)
		pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
	pthread_barrier_wait(&bar); /* all warm */
	uint64_t f0, l0, f1, l1, s0, s1;
	counters(&f0, &l0);
	s0 = syncs();
	double t0 = now();
	pthread_barrier_wait(&bar); /* all done */
	double secs = now() - t0;
	counters(&f1, &l1);
	s1 = syncs();
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	long n = 0;
	double *all = malloc(sizeof(double) * (size_t)(nops / 16 + 1) * (size_t)nthreads);
	for (int t = 0; t < nthreads; t++)
		for (long i = 0; i < nlat[t]; i++)
			all[n++] = lat[t][i];
	qsort(all, (size_t)n, sizeof(double), cmp_d);
	double total = (double)nops * nthreads;
	double fen = f0 == UINT64_MAX ? -1 : (double)(f1 - f0) / total;
	double flu = l0 == UINT64_MAX ? -1 : (double)(l1 - l0) / total;
	double syn = s0 == UINT64_MAX ? -1 : (double)(s1 - s0) / total;
	double bpo = bytes_per_obj();
#if !defined(USE_PMEMOBJ) && !defined(USE_LMDB)
	lib_check();
#endif
	printf("%s,%s,%d,%ld,%.6f,%.1f,%.0f,%.2f,%.2f,%.1f,%.2f\n", LIB, cs, nthreads, nops, secs,
	       total / secs, all[n / 2] * 1e9, fen, flu, bpo, syn);
	lib_close();
	unlink(argv[4]);
	return 0;
}
