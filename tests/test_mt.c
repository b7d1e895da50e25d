/*
 * test_mt.c -- many threads allocating and freeing concurrently on one
 * pool (more threads than lanes too), then pm_check and a reopen.
 */
#include "test_common.h"

#include <pthread.h>

#define POOL_SZ ((size_t)128 << 20)
#define NTHREADS 8
#define SLOTS 512
#define ROUNDS 20000

struct root {
	pm_off slots[NTHREADS][SLOTS];
};

static pm_pool *pool;
static struct root *rt;

static void *worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	unsigned seed = id * 7919 + 1;
	for (int i = 0; i < ROUNDS; i++) {
		seed = seed * 1103515245 + 12345;
		pm_off *slot = &rt->slots[id][(seed >> 8) % SLOTS];
		if (*slot) {
			unsigned char *o = pm_direct(pool, *slot);
			if (o[0] != (unsigned char)id || pfree(pool, slot) != 0)
				return (void *)1;
		} else {
			size_t sz = 16 + (seed >> 16) % ((seed & 64) ? 300000 : 2000);
			if (pmalloc(pool, slot, sz) != 0)
				continue; /* full is allowed, nothing else */
			memset(pm_direct(pool, *slot), (int)id, 64 < sz ? 64 : sz);
		}
	}
	return NULL;
}

static void run_threads(unsigned nlanes)
{
	char path[256];
	test_pool_path(path, sizeof(path), "mt");
	struct pm_create_opts o = {.nlanes = nlanes};
	pool = pm_create_ex(path, POOL_SZ, 0, &o);
	assert_non_null(pool);
	rt = pm_direct(pool, pm_root(pool, sizeof(struct root)));
	pthread_t th[NTHREADS];
	for (uintptr_t i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < NTHREADS; i++) {
		void *r;
		pthread_join(th[i], &r);
		assert_null(r);
	}
	assert_pool_ok(pool);
	struct pm_check_report a, b;
	pm_check(pool, &a);
	uint64_t live = 0;
	for (int t = 0; t < NTHREADS; t++)
		for (int s = 0; s < SLOTS; s++)
			live += rt->slots[t][s] != 0;
	assert_int_equal(a.objects, live + 1); /* + root */
	pm_close(pool);
	pool = pm_open(path);
	assert_non_null(pool);
	pm_check(pool, &b);
	assert_int_equal(a.objects, b.objects);
	assert_int_equal(a.bytes_allocated, b.bytes_allocated);
	pm_close(pool);
	unlink(path);
}

static void test_mt_alloc_free_concurrent(void **state)
{
	run_threads(0);
}

static void test_mt_more_threads_than_lanes(void **state)
{
	run_threads(2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mt_alloc_free_concurrent),
		cmocka_unit_test(test_mt_more_threads_than_lanes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
