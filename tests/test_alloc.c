/*
 * test_alloc.c -- pmalloc / pzalloc / pfree / actions: every size class up
 * to multi-MiB objects, fill-the-pool-then-free-all, reuse, reopen, the
 * reserve -> publish | cancel API, errors, and the space cost of small
 * objects.
 */
#include "test_common.h"

#define POOL_SZ ((size_t)64 << 20)

struct root {
	pm_off arr;   /* array of pm_off slots */
	uint64_t nslots;
	pm_off a, b, c;
};

struct ctx {
	char path[256];
	pm_pool *p;
	struct root *rt;
	pm_off *slots;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	test_pool_path(c->path, sizeof(c->path), "alloc");
	c->p = pm_create(c->path, POOL_SZ, 0);
	assert_non_null(c->p);
	c->rt = pm_direct(c->p, pm_root(c->p, sizeof(struct root)));
	c->rt->nslots = 1 << 20;
	pm_persist(c->p, &c->rt->nslots, 8);
	assert_int_equal(pzalloc(c->p, &c->rt->arr, c->rt->nslots * sizeof(pm_off)), 0);
	c->slots = pm_direct(c->p, c->rt->arr);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	pm_close(c->p);
	unlink(c->path);
	free(c);
	return 0;
}

static void reopen(struct ctx *c)
{
	pm_close(c->p);
	c->p = pm_open(c->path);
	assert_non_null(c->p);
	c->rt = pm_direct(c->p, pm_root(c->p, sizeof(struct root)));
	c->slots = pm_direct(c->p, c->rt->arr);
}

static void test_alloc_every_size(void **state)
{
	struct ctx *c = *state;
	size_t sizes[600];
	unsigned n = 0;
	for (size_t s = 1; s <= 4096; s += (s < 256 ? 7 : 61))
		sizes[n++] = s;
	for (size_t s = 4096; s <= 40000; s += 1111)
		sizes[n++] = s;
	size_t big[] = {32768, 32769, 65536, 262144, 262145, 1 << 20, 3 << 20, 5 << 20};
	for (unsigned i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		sizes[n++] = big[i];
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(pmalloc(c->p, &c->slots[i], sizes[i]), 0);
		size_t us = pm_usable_size(c->p, c->slots[i]);
		assert_true(us >= sizes[i]);
		assert_true(sizes[i] > 32768 || us <= sizes[i] + sizes[i] / 4 + 16);
		memset(pm_direct(c->p, c->slots[i]), (int)i, sizes[i]);
		if (sizes[i] <= 4096)
			assert_true(c->slots[i] % 16 == 0);
	}
	for (unsigned i = 0; i < n; i++) /* no overlap: patterns survived */
		for (size_t k = 0; k < sizes[i]; k += 97)
			assert_int_equal(((unsigned char *)pm_direct(c->p, c->slots[i]))[k], (unsigned char)i);
	assert_pool_ok(c->p);
	reopen(c);
	assert_pool_ok(c->p);
	for (unsigned i = 0; i < n; i++) {
		assert_true(pm_usable_size(c->p, c->slots[i]) >= sizes[i]);
		assert_int_equal(((unsigned char *)pm_direct(c->p, c->slots[i]))[0], (unsigned char)i);
		assert_int_equal(pfree(c->p, &c->slots[i]), 0);
		assert_int_equal(c->slots[i], 0);
	}
	assert_pool_ok(c->p);
}

static void test_alloc_pzalloc_zeroes(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(pmalloc(c->p, &c->rt->a, 5000), 0);
	memset(pm_direct(c->p, c->rt->a), 0xff, 5000);
	pm_off old = c->rt->a;
	assert_int_equal(pfree(c->p, &c->rt->a), 0);
	assert_int_equal(pzalloc(c->p, &c->rt->a, 5000), 0);
	assert_int_equal(c->rt->a, old); /* same block reused from the cache */
	unsigned char *o = pm_direct(c->p, c->rt->a);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(o[i], 0);
	pfree(c->p, &c->rt->a);
}

/* Fill with `size` objects until ENOSPC; returns the count. */
static uint64_t fill(struct ctx *c, size_t size)
{
	uint64_t n = 0;
	int rc;
	while ((rc = pmalloc(c->p, &c->slots[n], size)) == 0) {
		n++;
		assert_true(n < c->rt->nslots);
	}
	assert_int_equal(rc, PM_ENOSPC);
	assert_non_null(strstr(pm_errormsg(), "no room"));
	return n;
}

static void free_all(struct ctx *c, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(pfree(c->p, &c->slots[i]), 0);
}

static void test_alloc_fill_free_reuse(void **state)
{
	struct ctx *c = *state;
	if (getenv("PMSTORE_TEST_QUICK")) /* on a disk every fence is an msync */
		skip();
	uint64_t n64 = fill(c, 64);
	assert_pool_ok(c->p);
	/* space cost: heap bytes per 64-byte object (issue: <= 72) */
	size_t heap = POOL_SZ - (size_t)c->rt->nslots * 8;
	double per = (double)heap / (double)n64;
	printf("64-byte objects: %llu in a %zu MiB pool, %.1f pool bytes each\n",
	       (unsigned long long)n64, POOL_SZ >> 20, per);
	assert_true(per <= 72.0);
	free_all(c, n64);
	assert_pool_ok(c->p);
	/* fully reusable: same count again, then a different size class */
	assert_int_equal(fill(c, 64), n64);
	free_all(c, n64);
	uint64_t nbig = fill(c, 1 << 20);
	assert_true(nbig >= 40);
	free_all(c, nbig);
	assert_pool_ok(c->p);
	reopen(c);
	assert_int_equal(fill(c, 64), n64);
	free_all(c, n64);
	assert_pool_ok(c->p);
}

static void test_alloc_actions_publish_cancel(void **state)
{
	struct ctx *c = *state;
	struct pm_action act[6];
	pm_off o1 = pm_reserve(c->p, &act[0], 64);
	pm_off o2 = pm_reserve(c->p, &act[1], 300);
	pm_off o3 = pm_reserve(c->p, &act[2], 1 << 20);
	assert_true(o1 && o2 && o3);
	assert_int_equal(pm_usable_size(c->p, o1), 0); /* not allocated yet */
	pm_set_value(c->p, &act[3], &c->rt->a, o1);
	pm_set_value(c->p, &act[4], &c->rt->b, o2);
	pm_set_value(c->p, &act[5], &c->rt->c, o3);
	assert_int_equal(pm_publish(c->p, act, 6), 0);
	assert_int_equal(c->rt->a, o1);
	assert_int_equal(c->rt->c, o3);
	assert_true(pm_usable_size(c->p, o3) >= (1 << 20));
	assert_pool_ok(c->p);

	/* cancel: reservations go back, nothing reaches the pool */
	struct pm_check_report before, after;
	pm_check(c->p, &before);
	pm_off r1 = pm_reserve(c->p, &act[0], 64);
	pm_off r2 = pm_reserve(c->p, &act[1], 2 << 20);
	assert_true(r1 && r2);
	pm_cancel(c->p, act, 2);
	pm_check(c->p, &after);
	assert_int_equal(before.objects, after.objects);
	assert_int_equal(pmalloc(c->p, &c->slots[0], 2 << 20), 0);
	assert_int_equal(c->slots[0], r2); /* the cancelled space is reused */
	pfree(c->p, &c->slots[0]);

	/* defer_free + set_value in one publish */
	assert_int_equal(pm_defer_free(c->p, &act[0], o1), 0);
	pm_set_value(c->p, &act[1], &c->rt->a, 0);
	assert_int_equal(pm_defer_free(c->p, &act[2], o2), 0);
	pm_set_value(c->p, &act[3], &c->rt->b, 0);
	assert_int_equal(pm_defer_free(c->p, &act[4], o3), 0);
	pm_set_value(c->p, &act[5], &c->rt->c, 0);
	assert_int_equal(pm_publish(c->p, act, 6), 0);
	assert_int_equal(c->rt->a | c->rt->b | c->rt->c, 0);
	assert_int_equal(pm_usable_size(c->p, o1), 0);
	pm_check(c->p, &after);
	assert_int_equal(after.objects, before.objects - 3);
	assert_pool_ok(c->p);
}

static void test_alloc_errors(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(pmalloc(c->p, &c->rt->a, 0), PM_EINVAL);
	assert_int_equal(pmalloc(c->p, &c->rt->a, POOL_SZ * 2), PM_ENOSPC);
	assert_int_equal(pmalloc(c->p, NULL, 8), PM_EINVAL);
	assert_int_equal(pmalloc(NULL, &c->rt->a, 8), PM_EINVAL);
	assert_int_equal(pmalloc(c->p, (pm_off *)((char *)&c->rt->a + 1), 8), PM_EINVAL);
	c->rt->a = 12345; /* not an object */
	assert_int_equal(pfree(c->p, &c->rt->a), PM_EINVAL);
	assert_non_null(strstr(pm_errormsg(), "not an allocated object"));
	assert_int_equal(pm_usable_size(c->p, 12345), 0);
	c->rt->a = 0;
	assert_int_equal(pfree(c->p, &c->rt->a), 0); /* null: no-op */
	assert_int_equal(pmalloc(c->p, &c->rt->a, 64), 0);
	pm_off dup = c->rt->a;
	assert_int_equal(pfree(c->p, &c->rt->a), 0);
	c->rt->a = dup; /* double free is refused, not corrupting */
	assert_int_equal(pfree(c->p, &c->rt->a), PM_EINVAL);
	c->rt->a = 0;
	struct pm_action act[PM_MAX_ACTIONS + 1];
	assert_int_equal(pm_publish(c->p, act, PM_MAX_ACTIONS + 1), PM_ENOLOG);
	pm_set_value(c->p, &act[0], (uint64_t *)pm_base(c->p), 1); /* header */
	assert_int_equal(pm_publish(c->p, act, 1), PM_EINVAL);
	assert_int_equal(pm_reserve(c->p, &act[0], 0), 0);
	assert_pool_ok(c->p);
}

static void test_alloc_fence_counts(void **state)
{
	struct ctx *c = *state;
	struct pm_stats a, b;
	pmalloc(c->p, &c->rt->a, 64); /* warm the cache */
	pfree(c->p, &c->rt->a);
	pm_stats_get(c->p, &a);
	const int N = 1000;
	for (int i = 0; i < N; i++) {
		assert_int_equal(pmalloc(c->p, &c->rt->a, 64), 0);
		assert_int_equal(pfree(c->p, &c->rt->a), 0);
	}
	pm_stats_get(c->p, &b);
	double fences = (double)(b.fences - a.fences) / (2.0 * N);
	double flushes = (double)(b.flushes - a.flushes) / (2.0 * N);
	printf("pmalloc/pfree 64 B: %.2f fences, %.2f flushes per operation\n", fences, flushes);
	/* the design's bound: at most 2 waiting fences per publish */
	assert_true(b.fences - a.fences <= (uint64_t)(4 * N));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_alloc_every_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_pzalloc_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_fill_free_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_actions_publish_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_fence_counts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
