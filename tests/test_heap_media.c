/*
 * test_heap_media.c -- the readers of the chunk table on media and runs of
 * several chunks (layout version 3, issue 12): open's check and heap_boot,
 * pm_check, and the raw walk / repair of the pmstore tool (repair.c).
 *
 * What it checks.  A pool with a big class's one-chunk first run and a
 * second run of 5 chunks (100 000-byte objects: the 104 KiB class, 12
 * blocks), some blocks of which straddle a chunk boundary:
 *  - the raw walk (pool_scan_path) and pm_check agree on objects, run
 *    chunks and bytes, and pm_walk lists every object with its contents;
 *  - a RUN header whose span its class does not have (17 chunks, 0
 *    chunks, a small class over 2 chunks, a big class over a span with no
 *    block) is refused by pm_open (PM_ECORRUPT) before anything is
 *    written, reported by pm_check_path, listed by the raw walk, and
 *    repaired (the gap quarantined or freed) into a pool that passes
 *    pm_check with the other run's objects intact;
 *  - a bitmap bit past the last block of the 5-chunk run is refused.
 *
 * Model: damage is written into a closed pool file (no crash: the crash
 * checkers cover the protocol).  What it can NOT catch: damage the walk
 * cannot tell from a valid header (a span changed to another valid span
 * of the same class reads as a valid run over other bytes).
 */
#include "test_common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "alloc/heap.h"
#include "pool/repair.h"

#define POOL_SZ ((size_t)16 << 20)
#define NOBJ 12
#define OBJ 100000

struct root {
	pm_off slot[16];
};

static char path[256];

static void pattern(pm_pool *p, pm_off o, unsigned i)
{
	uint8_t *d = pm_direct(p, o);
	for (size_t k = 0; k < OBJ; k += 4096)
		d[k] = (uint8_t)(i + 1);
	d[OBJ - 1] = (uint8_t)(i + 1);
	pm_persist(p, d, OBJ);
}

static int pattern_ok(pm_pool *p, pm_off o, unsigned i)
{
	const uint8_t *d = pm_direct(p, o);
	for (size_t k = 0; k < OBJ; k += 4096)
		if (d[k] != (uint8_t)(i + 1))
			return 0;
	return d[OBJ - 1] == (uint8_t)(i + 1);
}

/* The pool; returns the chunk of the second (5-chunk) run. */
static uint32_t make_pool(void)
{
	test_pool_path(path, sizeof(path), "heapmedia");
	pm_pool *p = pm_create(path, POOL_SZ, 0600);
	assert_non_null(p);
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	for (unsigned i = 0; i < NOBJ; i++) {
		assert_int_equal(pmalloc(p, &rt->slot[i], OBJ), 0);
		pattern(p, rt->slot[i], i);
	}
	struct pm_check_report rep;
	assert_int_equal(pm_check(p, &rep), 0);
	const struct pool_hdr *h = pm_base(p);
	uint32_t k = (uint32_t)((rt->slot[NOBJ - 1] - h->chunks_off) / CHUNK_SIZE);
	const uint64_t *t = (const uint64_t *)((char *)pm_base(p) + h->chunk_table_off);
	while (chunk_type_of(t[k]) != CHUNK_RUN || chunk_count_of(t[k]) != 5)
		k--; /* the run's first chunk */
	/* the first run (one chunk, 2 blocks) and the second (5 chunks) */
	assert_int_equal(rep.run_chunks, 1 + 1 + 5); /* + the root's run */
	pm_close(p);
	return k;
}

static uint64_t *table_of(char *m)
{
	return (uint64_t *)(m + ((struct pool_hdr *)m)->chunk_table_off);
}

static char *map_file(size_t *size)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct stat st;
	fstat(fd, &st);
	char *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(m != MAP_FAILED);
	*size = (size_t)st.st_size;
	return m;
}

struct walk_arg {
	unsigned n;
	size_t bytes;
};

static int walk_cb(pm_off off, size_t usable, void *arg)
{
	struct walk_arg *a = arg;
	(void)off;
	a->n++;
	a->bytes += usable;
	return 0;
}

static void test_heap_media_walks_agree(void **st)
{
	(void)st;
	make_pool();
	struct media_scan s;
	assert_int_equal(pool_scan_path(path, &s), 0);
	pm_pool *p = pm_open(path);
	assert_non_null(p);
	struct pm_check_report rep;
	assert_int_equal(pm_check(p, &rep), 0);
	assert_int_equal(s.problems.n, 0);
	assert_int_equal(s.objects, rep.objects);
	assert_int_equal(s.run_chunks, rep.run_chunks);
	assert_int_equal(s.bytes_allocated, rep.bytes_allocated);
	assert_int_equal(s.free_chunks + s.run_chunks + s.large_chunks, s.heap_chunks);
	struct walk_arg a = { 0, 0 };
	assert_int_equal(pm_walk(p, walk_cb, &a), 0);
	assert_int_equal(a.n, NOBJ + 1);
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	for (unsigned i = 0; i < NOBJ; i++) {
		assert_true(pattern_ok(p, rt->slot[i], i));
		assert_true(pm_usable_size(p, rt->slot[i]) >= OBJ);
	}
	media_scan_free(&s);
	pm_close(p);
	unlink(path);
}

/* Damage the 5-chunk run's header to hd: refused, listed, repaired. */
static void bad_header(uint64_t (*damage)(uint64_t hd))
{
	uint32_t k = make_pool();
	size_t size;
	char *m = map_file(&size);
	uint64_t *t = table_of(m);
	t[k] = damage(t[k]);
	munmap(m, size);
	pm_pool *p = pm_open(path);
	if (p)
		fprintf(stderr, "  pm_open accepted header 0x%016llx\n", (unsigned long long)damage(0));
	assert_null(p);
	assert_int_equal(pm_last_error(), PM_ECORRUPT);
	struct pm_check_report rep;
	assert_int_equal(pm_check_path(path, &rep), PM_ECORRUPT);
	struct media_scan s;
	assert_int_equal(pool_scan_path(path, &s), 0);
	int listed = 0;
	for (size_t i = 0; i < s.problems.n; i++)
		listed |= !strcmp(s.problems.v[i].kind, "chunk_header") || !strcmp(s.problems.v[i].kind, "chunk_span");
	assert_true(listed);
	media_scan_free(&s);
	struct repair_opts o = { 0, NULL };
	struct repair_result r;
	int rc = pool_repair_path(path, &o, &r);
	if (rc)
		fprintf(stderr, "  repair: %d %s\n", rc, r.verify_msg);
	assert_int_equal(rc, 0);
	assert_int_equal(r.verify_status, 0);
	char backup[4200];
	snprintf(backup, sizeof(backup), "%s", r.backup);
	repair_result_free(&r);
	p = pm_open(path);
	assert_non_null(p);
	assert_pool_ok(p);
	/* the first run's two blocks are intact; the damaged run's are not
	 * individually allocated any more (quarantined as one span) */
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	for (unsigned i = 0; i < 2; i++) {
		assert_true(pm_usable_size(p, rt->slot[i]) >= OBJ);
		assert_true(pattern_ok(p, rt->slot[i], i));
	}
	pm_close(p);
	unlink(backup);
	unlink(path);
}

static uint64_t span17(uint64_t hd)
{
	return chunk_hdr(CHUNK_RUN, chunk_class_of(hd), RUN_MAX_SPAN + 1);
}
static uint64_t span0(uint64_t hd)
{
	return chunk_hdr(CHUNK_RUN, chunk_class_of(hd), 0);
}
static uint64_t small_over_two(uint64_t hd)
{
	(void)hd;
	return chunk_hdr(CHUNK_RUN, heap_class_for(64), 2);
}
static uint64_t no_block(uint64_t hd)
{
	(void)hd; /* the largest class over one chunk holds no block */
	return chunk_hdr(CHUNK_RUN, NCLASSES - 1, 1);
}

static void test_heap_media_span_too_long(void **st)
{
	(void)st;
	bad_header(span17);
}

static void test_heap_media_span_zero(void **st)
{
	(void)st;
	bad_header(span0);
}

static void test_heap_media_small_class_two_chunks(void **st)
{
	(void)st;
	bad_header(small_over_two);
}

static void test_heap_media_span_without_block(void **st)
{
	(void)st;
	bad_header(no_block);
}

static void test_heap_media_bitmap_tail(void **st)
{
	(void)st;
	uint32_t k = make_pool();
	size_t size;
	char *m = map_file(&size);
	const struct pool_hdr *h = (const struct pool_hdr *)m;
	uint64_t *bm = (uint64_t *)(m + h->chunks_off + (uint64_t)k * CHUNK_SIZE);
	struct run_geom g;
	assert_int_equal(heap_run_geom(chunk_class_of(table_of(m)[k]), 5, &g), 0);
	assert_int_equal(g.nblocks, 12);
	bm[0] |= UINT64_C(1) << g.nblocks; /* no such block */
	munmap(m, size);
	assert_null(pm_open(path));
	assert_int_equal(pm_last_error(), PM_ECORRUPT);
	assert_non_null(strstr(pm_errormsg(), "bits past block"));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_media_walks_agree),
		cmocka_unit_test(test_heap_media_span_too_long),
		cmocka_unit_test(test_heap_media_span_zero),
		cmocka_unit_test(test_heap_media_small_class_two_chunks),
		cmocka_unit_test(test_heap_media_span_without_block),
		cmocka_unit_test(test_heap_media_bitmap_tail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
