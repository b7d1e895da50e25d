/*
 * api_fences.c -- fences per call of issue 12's calls, pmstore side by side
 * with PMDK's libpmemobj (built twice: -DUSE_PMEMOBJ for PMDK).  Counts,
 * not times: pmstore by its own counters (pm_stats), PMDK by
 * pmemcount.so (LD_PRELOAD, see pmemcount.c).  Pools in /dev/shm.
 *
 *   PMEM_IS_PMEM_FORCE=1 build/bench/api_fences_pmstore
 *   PMEM_IS_PMEM_FORCE=1 LD_PRELOAD=build/bench/pmemcount.so build/bench/api_fences_pmemobj
 *
 * Steady state: each call is repeated 100 times after a warm-up (so run
 * formatting is not counted); the root growth is one call (it includes the
 * large extent's split).  Can NOT show: time per call (bench_ops does).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef USE_PMEMOBJ
#include <libpmemobj.h>
typedef PMEMoid obj_t;
static PMEMobjpool *pop;
static uint64_t fences(void)
{
	static void (*get)(uint64_t *, uint64_t *);
	if (!get)
		get = (void (*)(uint64_t *, uint64_t *))dlsym(RTLD_DEFAULT, "pmemcount_get");
	if (!get) {
		fprintf(stderr, "run with LD_PRELOAD=pmemcount.so\n");
		exit(2);
	}
	uint64_t f, l;
	get(&f, &l);
	return f;
}
#define LIB "libpmemobj"
#define OPEN(path) ((pop = pmemobj_create(path, "api", 64 << 20, 0600)) != NULL)
#define ROOT(sz) pmemobj_direct(pmemobj_root(pop, sz))
#define REALLOC(o, sz) pmemobj_realloc(pop, &(o), sz, 0)
#define STRDUP(o, s) pmemobj_strdup(pop, &(o), s, 0)
#define FREE(o) pmemobj_free(&(o))
#define GROW(sz) pmemobj_root(pop, sz)
#define CLOSE() pmemobj_close(pop)
#else
#include "pmstore.h"
typedef pm_off obj_t;
static pm_pool *pool;
static uint64_t fences(void)
{
	struct pm_stats st;
	pm_stats_get(pool, &st);
	return st.fences;
}
#define LIB "pmstore"
#define OPEN(path) ((pool = pm_create(path, 64 << 20, 0600)) != NULL)
#define ROOT(sz) pm_direct(pool, pm_root(pool, sz))
#define REALLOC(o, sz) pm_realloc(pool, &(o), sz)
#define STRDUP(o, s) pm_strdup(pool, &(o), s)
#define FREE(o) pfree(pool, &(o))
#define GROW(sz) pm_root(pool, sz)
#define CLOSE() pm_close(pool)
#endif

struct root {
	obj_t a, b;
};

int main(void)
{
	char path[128];
	snprintf(path, sizeof(path), "/dev/shm/api-fences-%s-%d", LIB, (int)getpid());
	unlink(path);
	if (!OPEN(path)) {
		perror(path);
		return 1;
	}
	struct root *rt = ROOT(sizeof(struct root));
	for (int i = 0; i < 4; i++)
		REALLOC(rt->a, i % 2 ? 40 : 1000);
	uint64_t f0 = fences();
	for (int i = 0; i < 100; i++)
		REALLOC(rt->a, i % 2 ? 40 : 1000);
	printf("%s: realloc 40 <-> 1000 bytes: %.1f fences\n", LIB, (double)(fences() - f0) / 100);
	STRDUP(rt->b, "warm");
	FREE(rt->b);
	f0 = fences();
	for (int i = 0; i < 100; i++) {
		STRDUP(rt->b, "hello, pool");
		FREE(rt->b);
	}
	printf("%s: strdup + free: %.1f fences\n", LIB, (double)(fences() - f0) / 100);
	f0 = fences();
	GROW(100000);
	printf("%s: root growth %zu -> 100000 bytes: %llu fences\n", LIB, sizeof(struct root),
	       (unsigned long long)(fences() - f0));
	CLOSE();
	unlink(path);
	return 0;
}
