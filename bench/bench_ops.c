/*
 * bench_ops.c -- one workload, two libraries.  Built twice: bench_pmstore
 * (pmstore) and, with -DUSE_PMEMOBJ, bench_pmemobj (PMDK libpmemobj).
 *
 *   bench_X CASE THREADS OPS POOL      -> one CSV line on stdout:
 *   lib,case,threads,ops,seconds,ops_per_s,median_ns,fences_per_op,
 *   flushes_per_op,bytes_per_obj
 *   bench_X open SIZE_MIB NOBJ POOL    -> lib,open_SIZE,1,NOBJ,seconds,...
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
 *   tx_alloc           tx { add slot; free old; slot = tx zalloc 64 B }
 *   tx_empty           tx { }
 * Each thread works in its own part of the root.  Latency: every 16th op
 * is timed alone; the median of those.  Fences and flushes per op: pmstore
 * counts them itself (pm_stats); for PMDK they come from bench/pmemcount.so
 * (an LD_PRELOAD counter over libpmem) when it is loaded, else -1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
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
enum { C_ALLOC64, C_ALLOC4K, C_ALLOC64_DRAM, C_TX_ONE, C_TX_TEN, C_TX_ALLOC, C_TX_EMPTY, C_ALLOC100K, C_BAD };
static int cse = C_BAD;
static const char *const case_names[] = { "alloc64", "alloc4k", "alloc64_dram", "tx_one",
                                          "tx_ten", "tx_alloc", "tx_empty", "alloc100k" };
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
	} else if (cse == C_TX_TEN) {
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
	printf("%s,open_%zuM,1,%ld,%.6f,%.1f,%.0f,-1,-1,-1\n", LIB, size >> 20, n, t, 1.0 / t, t * 1e9);
	pmemobj_close(pop);
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
}

static void lib_close(void)
{
	pm_close(pool);
}

static void op(int t)
{
	uint64_t *w = rt->words[t];
	pm_off *s = rt->slot[t];
	if (cse == C_ALLOC64 || cse == C_ALLOC4K || cse == C_ALLOC100K) {
		pmalloc(pool, &s[0], cse == C_ALLOC64 ? 64 : cse == C_ALLOC4K ? 4096 : 100000);
		pfree(pool, &s[0]);
	} else if (cse == C_TX_ONE) {
		tx_begin(pool);
		tx_add(w, 64);
		w[0]++;
		tx_end();
	} else if (cse == C_TX_TEN) {
		tx_begin(pool);
		for (int k = 0; k < 10; k++) {
			tx_add(&w[k * 8], 64);
			w[k * 8]++;
		}
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
	printf("%s,open_%zuM,1,%ld,%.6f,%.1f,%.0f,-1,-1,-1\n", LIB, size >> 20, n, t, 1.0 / t, t * 1e9);
	pm_close(pool);
}
#endif

/* ---- common driver ------------------------------------------------------- */

static pthread_barrier_t bar;

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
		printf("%s,space_%zu,1,%ld,%.6f,%.1f,-1,-1,-1,%.1f\n", LIB, obj, n, t, n / t,
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
	uint64_t f0, l0, f1, l1;
	counters(&f0, &l0);
	double t0 = now();
	pthread_barrier_wait(&bar); /* all done */
	double secs = now() - t0;
	counters(&f1, &l1);
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
	double bpo = bytes_per_obj();
	printf("%s,%s,%d,%ld,%.6f,%.1f,%.0f,%.2f,%.2f,%.1f\n", LIB, cs, nthreads, nops, secs,
	       total / secs, all[n / 2] * 1e9, fen, flu, bpo);
	lib_close();
	unlink(argv[4]);
	return 0;
}
