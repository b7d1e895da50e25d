/*
 * test_heap_space.c -- space use of mid-size and large objects (issue 12:
 * "objects over 32 KiB take whole 256 KiB chunks").
 *
 * What it checks.  For each size of 32 KiB + 1, 33 000, 48 KiB, 64 KiB,
 * 100 KB, 200 KB, 500 KB, 1 MiB and 3 MiB, a fresh 64 MiB pool is filled
 * with objects of that size until pmalloc says PM_ENOSPC, and the bytes
 * asked for (count x size) must be at least 80 % of the heap (pm_check's
 * heap_chunks x CHUNK_SIZE: everything after the lanes and chunk table).
 * The objects form a list (each one's first word links the next, so every
 * pmalloc publishes into the previous object: no side array in the pool).
 * Then: pm_check clean and the walk's object count right; everything freed
 * (pm_check: only the root left); refilled, which must give the same count
 * again; closed, reopened (heap_boot rebuilds runs from the table: empty
 * runs become free space), refilled once more with the same count; and
 * finally, after freeing, filled with the NEXT size of the list, which must
 * also reach 80 % (the empty runs of one class are reused by another class
 * or by whole-chunk objects).
 * Also: 64-byte objects still cost 64 B + their bitmap bit (3 x 4088 of
 * them take 3 new run chunks, pm_usable_size 64), and requests of an exact number of chunks
 * stay whole-chunk (chunk-aligned) objects, as the undo log's overflow
 * blocks need; a pmalloc + pfree pair of a big-class block takes at most 4
 * fences, as a small one does (pm_stats; a whole-chunk object 6, as
 * before).
 *
 * Model: single thread, no crash (the crash checkers cover the protocol:
 * test_crash_model draws these sizes; test_regress has the targeted crash
 * test of a multi-chunk run over a dirty heap).  What it can NOT catch:
 * fragmentation under a mixed workload (each fill is of one size), or space
 * lost to other lanes' caches (one thread, one lane).
 *
 * Environment: PMSTORE_TEST_DIR (pool directory), PMSTORE_SPACE_SIZES
 * (comma-separated sizes instead of the list above).
 */
#include "test_common.h"

#include "base/types.h"

#define POOL_SZ ((size_t)64 << 20)
#define MAXOBJ 20000

struct root {
	pm_off head;
};

static size_t sizes[32] = { 32769, 33000, 48 << 10, 64 << 10, 100000, 200000, 500000, 1 << 20, 3 << 20 };
static unsigned nsizes = 9;

static pm_off objs[MAXOBJ];

/* Fill with `size` objects until PM_ENOSPC: the list from rt->head. */
static unsigned fill(pm_pool *p, size_t size)
{
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	pm_off *dest = &rt->head;
	unsigned n = 0;
	int rc;
	assert_int_equal(rt->head, 0);
	while ((rc = pmalloc(p, dest, size)) == 0) {
		assert_true(n < MAXOBJ);
		objs[n++] = *dest;
		pm_off *next = pm_direct(p, *dest);
		*next = 0;
		pm_persist(p, next, sizeof(*next));
		dest = next;
	}
	assert_int_equal(rc, PM_ENOSPC);
	return n;
}

/* Free the list from its tail: every pfree unlinks one object. */
static void free_all(pm_pool *p, unsigned n)
{
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	for (unsigned i = n; i-- > 0;) {
		pm_off *dest = i ? (pm_off *)pm_direct(p, objs[i - 1]) : &rt->head;
		assert_int_equal(*dest, objs[i]);
		assert_int_equal(pfree(p, dest), 0);
	}
	assert_int_equal(rt->head, 0);
	struct pm_check_report rep;
	assert_int_equal(pm_check(p, &rep), 0);
	assert_int_equal(rep.objects, 1); /* the root */
}

/* Bytes asked for / heap bytes, and the checks after a fill. */
static double used(pm_pool *p, size_t size, unsigned n)
{
	struct pm_check_report rep;
	int rc = pm_check(p, &rep);
	if (rc)
		fprintf(stderr, "pm_check: %s\n", rep.message);
	assert_int_equal(rc, 0);
	assert_int_equal(rep.objects, (uint64_t)n + 1);
	return (double)n * (double)size / (double)(rep.heap_chunks * CHUNK_SIZE);
}

static void test_heap_space_mid_and_large(void **state)
{
	(void)state;
	unsigned bad = 0;
	printf("%10s %7s %8s %8s %8s\n", "size", "objects", "used %", "next", "used %");
	for (unsigned i = 0; i < nsizes; i++) {
		char path[256];
		test_pool_path(path, sizeof(path), "space");
		pm_pool *p = pm_create(path, POOL_SZ, 0600);
		assert_non_null(p);
		assert_true(pm_root(p, sizeof(struct root)) != 0);
		size_t s = sizes[i];
		unsigned n = fill(p, s);
		double u = used(p, s, n);
		free_all(p, n);
		assert_int_equal(fill(p, s), n); /* free all, refill: the same */
		free_all(p, n);
		pm_close(p);
		p = pm_open(path);
		assert_non_null(p);
		assert_int_equal(fill(p, s), n); /* after a reopen too */
		free_all(p, n);
		size_t s2 = sizes[(i + 1) % nsizes];
		unsigned n2 = fill(p, s2); /* another size over the empty runs */
		double u2 = used(p, s2, n2);
		free_all(p, n2);
		printf("%10zu %7u %8.1f %8zu %8.1f\n", s, n, 100 * u, s2, 100 * u2);
		if (u < 0.80 || u2 < 0.80) {
			fprintf(stderr, "  size %zu: %.1f %% of the heap in objects (next size %zu: %.1f %%), want >= 80 %%\n",
			        s, 100 * u, s2, 100 * u2);
			bad++;
		}
		pm_close(p);
		unlink(path);
	}
	assert_int_equal(bad, 0);
}

static void test_heap_space_small_and_whole_chunks(void **state)
{
	(void)state;
	char path[256];
	test_pool_path(path, sizeof(path), "space");
	pm_pool *p = pm_create(path, POOL_SZ, 0600);
	assert_non_null(p);
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	/* exact numbers of chunks: LARGE, chunk-aligned, no rounding */
	pm_off heap0 = 0;
	for (unsigned k = 1; k <= 8; k++) {
		assert_int_equal(pmalloc(p, &rt->head, k * CHUNK_SIZE), 0);
		if (!heap0)
			heap0 = rt->head;
		assert_int_equal(pm_usable_size(p, rt->head), k * CHUNK_SIZE);
		assert_int_equal((rt->head - heap0) % CHUNK_SIZE, 0);
		assert_int_equal(pfree(p, &rt->head), 0);
	}
	/* every size from 32 KiB to 4 MiB: usable >= asked, and no more than
	 * the next class (1/8 + the 64 bytes a class may be short) or whole
	 * chunks, whichever the allocator picked */
	for (size_t sz = 32000; sz <= (4u << 20); sz += sz / 37 + 1) {
		assert_int_equal(pmalloc(p, &rt->head, sz), 0);
		size_t us = pm_usable_size(p, rt->head);
		size_t whole = (sz + CHUNK_SIZE - 1) / CHUNK_SIZE * CHUNK_SIZE;
		if (us < sz || (us > sz + sz / 8 + 64 && us != whole))
			fprintf(stderr, "  size %zu: usable %zu\n", sz, us);
		assert_true(us >= sz);
		assert_true(us <= sz + sz / 8 + 64 || us == whole);
		memset(pm_direct(p, rt->head), 0x5a, sz);
		assert_int_equal(pfree(p, &rt->head), 0);
	}
	assert_pool_ok(p);
	/* 64 B objects: 64 B + one bitmap bit each -- 4088 to a chunk (the
	 * bitmap's 4088 bits take the room of 8 blocks): 64.13 heap bytes */
	struct pm_check_report rep;
	assert_int_equal(pm_check(p, &rep), 0);
	uint64_t runs0 = rep.run_chunks;
	pm_off *dest = &rt->head;
	unsigned n = 3 * 4088;
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(pmalloc(p, dest, 64), 0);
		objs[i] = *dest;
		dest = pm_direct(p, *dest);
		*dest = 0;
	}
	pm_persist(p, pm_direct(p, rt->head), 8); /* (the rest is not read after a crash) */
	assert_int_equal(pm_usable_size(p, objs[0]), 64);
	assert_int_equal(pm_check(p, &rep), 0);
	printf("64-byte objects: %u in %llu new run chunks, %.2f heap bytes each\n", n,
	       (unsigned long long)(rep.run_chunks - runs0),
	       (double)((rep.run_chunks - runs0) * CHUNK_SIZE) / n);
	assert_int_equal(rep.run_chunks - runs0, 3);
	free_all(p, n);
	/* fences: a pmalloc + pfree pair of a big-class block costs the same
	 * 4 as a small one once its run exists (no per-object split) */
	static const size_t fsz[] = { 64, 33000, 48 << 10, 100000, 200000, 500000 };
	for (unsigned i = 0; i < sizeof(fsz) / sizeof(fsz[0]); i++) {
		struct pm_stats a, b;
		assert_int_equal(pmalloc(p, &rt->head, fsz[i]), 0); /* the run */
		assert_int_equal(pfree(p, &rt->head), 0);
		pm_stats_get(p, &a);
		for (int k = 0; k < 200; k++) {
			assert_int_equal(pmalloc(p, &rt->head, fsz[i]), 0);
			assert_int_equal(pfree(p, &rt->head), 0);
		}
		pm_stats_get(p, &b);
		printf("pmalloc/pfree %zu B: %.2f fences per pair\n", fsz[i], (double)(b.fences - a.fences) / 200);
		/* 500000 B is whole chunks: each pmalloc splits a free extent
		 * (2 fences, as every LARGE object did before version 3) */
		assert_true(b.fences - a.fences <= (fsz[i] == 500000 ? 6 : 4) * 200);
	}
	pm_close(p);
	unlink(path);
}

int main(void)
{
	const char *e = getenv("PMSTORE_SPACE_SIZES");
	if (e && *e) {
		nsizes = 0;
		for (char *q = (char *)e; *q && nsizes < 32;) {
			sizes[nsizes++] = strtoull(q, &q, 0);
			while (*q == ',')
				q++;
		}
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_space_mid_and_large),
		cmocka_unit_test(test_heap_space_small_and_whole_chunks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
