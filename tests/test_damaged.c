/*
 * test_damaged.c -- damaged and forged pool files (issue 13, F1-F14).
 *
 * Each test builds a real pool, damages it the way the fuzzing review did
 * (checksums are unkeyed, so a forged log or entry passes them: the test
 * computes them with the library's own functions), and requires: no crash,
 * no hang (alarm), no store outside the pool, pm_open and pm_check_path
 * agree, and a refused open leaves the file byte for byte as it was.
 */
#include "test_common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "pool/pool.h"
#include "tx/tx_format.h"

#define POOL_SZ ((size_t)16 << 20)

struct root {
	pm_off slot[8];
	uint64_t w[8];
};

static char path[256];

static pm_pool *make_pool(void)
{
	test_pool_path(path, sizeof(path), "damaged");
	pm_pool *p = pm_create(path, POOL_SZ, 0600);
	assert_non_null(p);
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	assert_int_equal(pmalloc(p, &rt->slot[0], 64), 0);
	assert_int_equal(pmalloc(p, &rt->slot[1], 250000), 0); /* large: one whole chunk (100000 is a big-class block now) */
	for (int i = 0; i < 8; i++)
		rt->w[i] = 1000 + (uint64_t)i;
	pm_persist(p, rt->w, sizeof(rt->w));
	return p;
}

/* The closed pool file, mapped shared for patching. */
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

static uint8_t *read_all(size_t *n)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat st;
	fstat(fd, &st);
	uint8_t *b = malloc((size_t)st.st_size);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return b;
}

static const struct pool_hdr *H(const char *m)
{
	return (const struct pool_hdr *)m;
}

static struct lane_layout *L(char *m, unsigned i)
{
	return (struct lane_layout *)(m + POOL_LANES_OFF + (uint64_t)i * LANE_SIZE);
}

/* Write a log with a valid (forged) checksum into lane i. */
static void forge_log(char *m, size_t size, unsigned i, const struct redo_entry *e, unsigned n,
                      uint64_t seq)
{
	struct redo_log *log = &L(m, i)->redo;
	memcpy(log->entries, e, n * sizeof(*e));
	log->nseq = n | seq << REDO_SEQ_SHIFT;
	log->checksum = redo_checksum(m, size, log->nseq, e, n);
}

/* pm_open refuses with err (0: opens) and pm_check_path agrees; a refused
 * open leaves the file unchanged. */
static void expect_open(int err)
{
	size_t n0, n1;
	uint8_t *before = read_all(&n0);
	alarm(30); /* a hang fails the test */
	pm_pool *p = pm_open(path);
	int got = p ? 0 : pm_last_error();
	if (got != err)
		fprintf(stderr, "  pm_open: %d (%s), want %d\n", got, p ? "ok" : pm_errormsg(), err);
	assert_int_equal(got, err);
	if (!p) {
		assert_true(strlen(pm_errormsg()) > 0);
		uint8_t *after = read_all(&n1);
		assert_true(n0 == n1 && memcmp(before, after, n0) == 0); /* F12 */
		free(after);
	}
	struct pm_check_report rep;
	int c = p ? pm_check(p, &rep) : pm_check_path(path, &rep);
	if (c != err)
		fprintf(stderr, "  check: %d (%s), open said %d\n", c, rep.message, err);
	assert_int_equal(c, err); /* open and check agree */
	if (p)
		pm_close(p);
	alarm(0);
	free(before);
}

/* F1: redo entries outside the pool, misaligned, or into the header. */
static void test_damaged_redo_targets(void **st)
{
	pm_pool *p = make_pool();
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	struct redo_entry e1[] = { { (uint64_t)size + 4096, 0xdead } }; /* past the end */
	forge_log(m, size, 0, e1, 1, 5);
	struct redo_entry e2[] = { { H(m)->chunks_off + 3, 0xdead } }; /* misaligned */
	forge_log(m, size, 1, e2, 1, 6);
	struct redo_entry e3[] = { { offsetof(struct pool_hdr, chunk_table_off), 64 } }; /* F2 */
	forge_log(m, size, 2, e3, 1, 7);
	struct redo_entry e4[] = { { POOL_LANES_OFF + 5 * LANE_SIZE, 1 } }; /* another lane */
	forge_log(m, size, 3, e4, 1, 8);
	munmap(m, size);
	expect_open(0); /* the logs are not of a shape the library writes: ignored */
	p = pm_open(path);
	assert_non_null(p);
	assert_int_equal(H(pm_base(p))->chunk_table_off, p->hdr->chunk_table_off);
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	assert_int_equal(rt->w[3], 1003);
	/* ... and zeroed, so no later open looks at them again */
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(p->lanes[i].pl->redo.checksum, 0);
	pm_close(p);
	unlink(path);
}

/* F3: undo entries into the lane's own log and the chunk table. */
static void test_damaged_undo_targets(void **st)
{
	pm_pool *p = make_pool();
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	struct lane_layout *ln = L(m, 0);
	uint64_t g = ln->undo.gen + 1;
	struct undo_entry *e = (struct undo_entry *)ln->undo_area;
	e->off = POOL_LANES_OFF + 64; /* its own lane's redo log */
	e->len = 64;
	e->gen = g;
	memset(e->data, 0x41, 64);
	e->checksum = undo_entry_csum(0, e);
	ln->undo.gen = g;
	ln->undo.start = 0;
	ln->undo.active = g;
	ln->undo.hcsum = undo_hdr_csum(0, g, 0, g);
	struct lane_layout *l1 = L(m, 1);
	uint64_t g1 = l1->undo.gen + 1;
	e = (struct undo_entry *)l1->undo_area;
	e->off = H(m)->chunk_table_off; /* the chunk table */
	e->len = 64;
	e->gen = g1;
	memset(e->data, 0x42, 64);
	e->checksum = undo_entry_csum(1, e);
	l1->undo.gen = g1;
	l1->undo.start = 0;
	l1->undo.active = g1;
	l1->undo.hcsum = undo_hdr_csum(1, g1, 0, g1);
	uint64_t table0 = *(uint64_t *)(m + H(m)->chunk_table_off);
	munmap(m, size);
	expect_open(0);
	m = map_file(&size);
	assert_int_equal(*(uint64_t *)(m + H(m)->chunk_table_off), table0);
	munmap(m, size);
	unlink(path);
}

/* F4: a cycle in an active lane's overflow chain. */
static void test_damaged_undo_chain_cycle(void **st)
{
	pm_pool *p = make_pool();
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	/* a real chunk-aligned 256 KiB object to pose as block 0 */
	assert_int_equal(pmalloc(p, &rt->slot[2], CHUNK_SIZE), 0);
	pm_off blk = rt->slot[2];
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	struct lane_layout *ln = L(m, 0);
	uint64_t g = ln->undo.gen + 1;
	struct undo_block *b = (struct undo_block *)(m + blk);
	b->next = blk; /* itself */
	b->capacity = CHUNK_SIZE;
	ln->undo.next = blk;
	ln->undo.gen = g;
	ln->undo.start = sizeof(ln->undo_area) - 8; /* no room: follow the link */
	ln->undo.active = g;
	ln->undo.hcsum = undo_hdr_csum(0, g, ln->undo.start, g);
	/* entries in the block that count for g, ending where the block
	 * ends, so the walk follows next = the block again */
	char *a = (char *)(b + 1);
	uint64_t cap = CHUNK_SIZE - sizeof(*b), pos = 0;
	while (cap - pos >= UNDO_ENTRY_MIN) {
		struct undo_entry *e = (struct undo_entry *)(a + pos);
		uint64_t len = (cap - pos - sizeof(*e)) & ~UINT64_C(7);
		if (len > 4096)
			len = 4096;
		e->off = rt ? H(m)->chunks_off + 64 : 0;
		e->len = 8;
		e->gen = g;
		memset(e->data, 0, 8);
		e->checksum = undo_entry_csum(0, e);
		pos += undo_entry_size(8);
		(void)len;
	}
	munmap(m, size);
	alarm(30);
	pm_pool *q = pm_open(path); /* must come back */
	alarm(0);
	if (q)
		pm_close(q);
	struct pm_check_report rep;
	alarm(30);
	pm_check_path(path, &rep);
	alarm(0);
	unlink(path);
}

/* F5/F6: an idle lane's chain naming a live object, or one block twice. */
static void test_damaged_idle_chain(void **st)
{
	pm_pool *p = make_pool();
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	pm_off large = rt->slot[1];
	assert_int_equal(pmalloc(p, &rt->slot[2], CHUNK_SIZE), 0);
	pm_off blk = rt->slot[2];
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	L(m, 0)->undo.next = large; /* a user object, not an undo block */
	munmap(m, size);
	expect_open(0);
	p = pm_open(path);
	rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	assert_int_equal(pm_usable_size(p, large), CHUNK_SIZE); /* not freed */
	pm_close(p);
	/* one block-shaped object linked from two lanes */
	m = map_file(&size);
	struct undo_block *b = (struct undo_block *)(m + blk);
	b->next = 0;
	b->capacity = CHUNK_SIZE;
	L(m, 0)->undo.next = blk;
	L(m, 1)->undo.next = blk;
	munmap(m, size);
	/* a block-shaped object cannot be told from a real leftover block, so
	 * it is freed -- once: the second chain finds it free already */
	expect_open(0);
	p = pm_open(path);
	assert_non_null(p);
	rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	assert_int_equal(pmalloc(p, &rt->slot[3], CHUNK_SIZE), 0);
	assert_int_equal(pmalloc(p, &rt->slot[4], CHUNK_SIZE), 0);
	assert_int_equal(pmalloc(p, &rt->slot[5], CHUNK_SIZE), 0);
	assert_true(rt->slot[3] != rt->slot[4] && rt->slot[4] != rt->slot[5] &&
	            rt->slot[3] != rt->slot[5]);
	assert_pool_ok(p);
	pm_close(p);
	unlink(path);
}

/* F7/F8: a LARGE header no walk reaches. */
static void test_damaged_unreachable_large_header(void **st)
{
	pm_pool *p = make_pool();
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	uint64_t *t = (uint64_t *)(m + H(m)->chunk_table_off);
	uint32_t n = (uint32_t)H(m)->nchunks;
	/* the last FREE span's second chunk */
	uint32_t k = 0, last_free = 0;
	while (k < n) {
		if (chunk_type_of(t[k]) == CHUNK_FREE)
			last_free = k;
		k += (uint32_t)chunk_count_of(t[k]); /* every span, runs too (version 3) */
	}
	uint32_t inner = last_free + 1;
	t[inner] = chunk_hdr(CHUNK_LARGE, 0, 1000);
	pm_off bogus = H(m)->chunks_off + (uint64_t)inner * CHUNK_SIZE;
	munmap(m, size);
	expect_open(0);
	p = pm_open(path);
	assert_int_equal(pm_usable_size(p, bogus), 0);
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	assert_int_equal(pfree(p, &(pm_off){ bogus }), PM_EINVAL);
	(void)rt;
	pm_close(p);
	/* a root there: refused */
	m = map_file(&size);
	((struct pool_desc *)(m + POOL_DESC_OFF))->root_off = bogus;
	munmap(m, size);
	expect_open(PM_ECORRUPT);
	unlink(path);
}

/* F9: a generation at the end of its range. */
static void test_damaged_generation_wrap(void **st)
{
	pm_pool *p = make_pool();
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	L(m, 2)->undo.gen = UINT64_MAX;
	munmap(m, size);
	expect_open(PM_ECORRUPT);
	unlink(path);
}

/* F9, the top of the range (found by pmfuzz: fuzz/crashers/
 * f9_gen_cap_retire_past_limit): a
 * stray active word just below the limit.  Every open retires every lane
 * (max(gen, active) + 1); that must never carry a lane past what open and
 * check accept, however many times the pool is opened, and a transaction
 * on a lane that has no generation left is refused, not run. */
static void test_damaged_generation_top(void **st)
{
	pm_pool *p = make_pool();
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	for (unsigned i = 0; i < H(m)->nlanes; i++)
		L(m, i)->undo.active = UNDO_GEN_CAP - 1; /* no checksum: reads as no tx */
	munmap(m, size);
	for (int round = 0; round < 3; round++)
		expect_open(0); /* opens, pm_check consistent, closes */
	p = pm_open(path);
	assert_non_null(p);
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	assert_int_equal(tx_begin(p), 0);
	int rc = tx_add(&rt->w[0], 8);
	assert_int_equal(rc, PM_ECORRUPT);
	assert_non_null(strstr(pm_errormsg(), "generations"));
	assert_int_not_equal(tx_end(), 0);
	assert_int_equal(rt->w[0], 1000);
	assert_int_equal(pmalloc(p, &rt->slot[2], 64), 0); /* redo logs still work */
	assert_pool_ok(p);
	pm_close(p);
	expect_open(0);
	m = map_file(&size);
	for (unsigned i = 0; i < H(m)->nlanes; i++)
		assert_true(L(m, i)->undo.gen <= UNDO_GEN_CAP);
	munmap(m, size);
	unlink(path);
}

/* P4: a damaged recovery watermark.  Above 2^56 - 1 (no log can carry such
 * a seq: every log would read as replayed) open and check refuse it; just
 * below, open renumbers (R5), else the session's seqs would wrap their 56
 * bits to below the watermark and a log a crash left would read as
 * replayed already. */
static void test_damaged_watermark(void **st)
{
	pm_pool *p = make_pool();
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	struct pool_desc *d = (struct pool_desc *)(m + POOL_DESC_OFF);
	d->recovered_seq = SEQ_MASK + 1;
	munmap(m, size);
	expect_open(PM_ECORRUPT);
	assert_non_null(strstr(pm_errormsg(), "watermark"));
	m = map_file(&size);
	d = (struct pool_desc *)(m + POOL_DESC_OFF);
	d->recovered_seq = SEQ_MASK - 2;
	munmap(m, size);
	expect_open(0);
	p = pm_open(path);
	assert_non_null(p);
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	char *b = pm_base(p);
	d = (struct pool_desc *)(b + POOL_DESC_OFF);
	unsigned nl = H(b)->nlanes;
	uint64_t *was = calloc(nl, sizeof(*was));
	assert_non_null(was);
	for (int k = 0; k < 6; k++) {
		for (unsigned i = 0; i < nl; i++)
			was[i] = L(b, i)->redo.nseq;
		assert_int_equal(pmalloc(p, &rt->slot[2 + k % 4], 64), 0);
		/* the seq the operation's log carried: had the crash come
		 * before its apply was durable, recovery must replay it, so it
		 * must be above the watermark */
		int seen = 0;
		for (unsigned i = 0; i < nl; i++) {
			uint64_t ns = L(b, i)->redo.nseq;
			if (ns == was[i])
				continue;
			seen = 1;
			uint64_t seq = ns >> REDO_SEQ_SHIFT;
			if (seq <= d->recovered_seq)
				fprintf(stderr, "  op %d: its log's seq %llu, watermark %llu\n", k,
				        (unsigned long long)seq, (unsigned long long)d->recovered_seq);
			assert_true(seq > d->recovered_seq);
		}
		assert_true(seen);
	}
	free(was);
	assert_pool_ok(p);
	pm_close(p);
	expect_open(0);
	unlink(path);
}

/* F10: a stray active word must not roll a committed transaction back. */
static void test_damaged_stray_active(void **st)
{
	pm_pool *p = make_pool();
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	/* the only lane this thread uses: commit a tx there, then a second one
	 * changes the same word again without a transaction */
	assert_int_equal(tx_begin(p), 0);
	assert_int_equal(tx_add(&rt->w[0], 8), 0);
	rt->w[0] = 7;
	assert_int_equal(tx_end(), 0);
	rt->w[0] = 9;
	pm_persist(p, &rt->w[0], 8);
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	for (unsigned i = 0; i < H(m)->nlanes; i++) {
		struct undo_log *u = &L(m, i)->undo;
		u->active = u->gen; /* one stray word per lane, no checksum */
	}
	munmap(m, size);
	p = pm_open(path);
	assert_non_null(p);
	rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	assert_int_equal(rt->w[0], 9);
	assert_pool_ok(p);
	pm_close(p);
	unlink(path);
}

/* F11: a log with a wrong nonzero checksum and 255 whole-heap covers. */
static void test_damaged_cover_storm(void **st)
{
	pm_pool *p = make_pool();
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	uint64_t heap = H(m)->chunks_off, len = H(m)->nchunks * CHUNK_SIZE;
	struct redo_log *log = &L(m, 0)->redo;
	for (unsigned i = 0; i < REDO_MAX; i++) {
		log->entries[i].off_op = heap | (uint64_t)REDO_MARK << REDO_OP_SHIFT;
		log->entries[i].value = len;
	}
	log->nseq = REDO_MAX | UINT64_C(9) << REDO_SEQ_SHIFT;
	log->checksum = 12345;
	munmap(m, size);
	expect_open(0);
	m = map_file(&size);
	assert_int_equal(L(m, 0)->redo.checksum, 0); /* cleared: not hashed again */
	munmap(m, size);
	unlink(path);
}

/* F12: refused before anything is written -- a corrupt table with recovery
 * work pending, and a forged log whose replay would corrupt the heap. */
static void test_damaged_refused_before_writing(void **st)
{
	pm_pool *p = make_pool();
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	uint64_t *t = (uint64_t *)(m + H(m)->chunk_table_off);
	struct redo_entry e[] = { { H(m)->chunk_table_off + 8 * 3, chunk_hdr(CHUNK_LARGE, 0, 1u << 20) } };
	forge_log(m, size, 4, e, 1, 11); /* replayed, it breaks the walk */
	munmap(m, size);
	expect_open(PM_ECORRUPT);
	m = map_file(&size);
	t = (uint64_t *)(m + H(m)->chunk_table_off);
	memset(&L(m, 4)->redo, 0, 16);
	t[0] = 0x77; /* a bad type, with a transaction left active elsewhere */
	L(m, 5)->undo.active = L(m, 5)->undo.gen;
	munmap(m, size);
	expect_open(PM_ECORRUPT);
	unlink(path);
}

/* F13: bitmap bits past the last block. */
static void test_damaged_bitmap_tail(void **st)
{
	pm_pool *p = make_pool();
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	pm_off small = rt->slot[0];
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	uint64_t chunk = H(m)->chunks_off + (small - H(m)->chunks_off) / CHUNK_SIZE * CHUNK_SIZE;
	uint64_t *t = (uint64_t *)(m + H(m)->chunk_table_off);
	unsigned c = chunk_class_of(t[(chunk - H(m)->chunks_off) / CHUNK_SIZE]);
	(void)c;
	/* the 64-byte class: 4095 blocks, the last bitmap word has room */
	uint64_t *bm = (uint64_t *)(m + chunk);
	bm[4095 / 64] |= UINT64_C(1) << 63;
	munmap(m, size);
	expect_open(PM_ECORRUPT);
	unlink(path);
}

/* F14: a FIFO is not a pool, and opening it does not wait. */
static void test_damaged_fifo(void **st)
{
	test_pool_path(path, sizeof(path), "fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10);
	assert_null(pm_open(path));
	assert_int_equal(pm_last_error(), PM_EFOREIGN);
	struct pm_check_report rep;
	assert_int_equal(pm_check_path(path, &rep), PM_EFOREIGN);
	alarm(0);
	unlink(path);
}

/*
 * Forged big commits (tx_format.h F7): an active lane whose log holds an
 * action record and a big commit record, resealed.  A record is honoured
 * only if every target is an aligned word of the chunk table or of the heap
 * outside the lane's own chain, its op a SET/OR/AND, and the commit
 * record's count matches; otherwise the transaction is rolled back and no
 * target is written.  area: the record's place (the inline area, or an
 * overflow block the test makes).
 */
static void forge_big(char *area, unsigned lane, uint64_t g, const struct redo_entry *e, unsigned n,
                      uint64_t count)
{
	struct undo_entry *r = (struct undo_entry *)area;
	r->off = UNDO_ACTS_TAG;
	r->len = n * sizeof(*e);
	r->gen = g;
	memcpy(r->data, e, r->len);
	r->checksum = undo_acts_csum(lane, r, r->data);
	struct undo_entry *c = (struct undo_entry *)(area + undo_entry_size(r->len));
	c->off = UNDO_COMMIT_TAG_BIG | 99;
	c->len = 8;
	c->gen = g;
	memcpy(c->data, &count, 8);
	c->checksum = undo_commit_csum(lane, c);
}

static void activate(struct lane_layout *ln, unsigned lane, uint64_t g, uint64_t start)
{
	ln->undo.gen = g;
	ln->undo.start = start;
	ln->undo.active = g;
	ln->undo.hcsum = undo_hdr_csum(lane, g, start, g);
}

static void test_damaged_big_commit_targets(void **st)
{
	for (int k = 0; k < 7; k++) {
		pm_pool *p = make_pool();
		struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
		assert_int_equal(pmalloc(p, &rt->slot[2], CHUNK_SIZE), 0);
		pm_off blk = rt->slot[2];
		pm_close(p);
		size_t size;
		char *m = map_file(&size);
		struct lane_layout *ln = L(m, 0);
		uint64_t g = ln->undo.gen + 1;
		uint64_t want = 0, *watch = NULL;
		struct redo_entry e = { 0, 0xdeadbeef };
		uint64_t count = 1;
		char *area = (char *)ln->undo_area;
		switch (k) {
		case 0: /* the pool header */
			e.off_op = 64;
			break;
		case 1: /* another lane's redo log */
			e.off_op = (uint64_t)((char *)&L(m, 1)->redo.nseq - m);
			break;
		case 2: /* past the end of the pool */
			e.off_op = size + 4096;
			break;
		case 3: /* misaligned, in the heap */
			e.off_op = H(m)->chunks_off + 4;
			break;
		case 4: /* a MARK (a cover) */
			e.off_op = H(m)->chunks_off | (uint64_t)REDO_MARK << REDO_OP_SHIFT;
			e.value = 64;
			break;
		case 5: /* the count does not match */
			e.off_op = blk + 1024;
			count = 2;
			break;
		case 6: { /* a target inside the lane's own chain (its block) */
			struct undo_block *b = (struct undo_block *)(m + blk);
			b->next = 0;
			b->capacity = CHUNK_SIZE;
			ln->undo.next = blk;
			area = (char *)(b + 1);
			e.off_op = blk + 2048;
			break;
		}
		}
		uint64_t woff = e.off_op & REDO_OFF_MASK & ~UINT64_C(7);
		if (woff < size)
			watch = (uint64_t *)(m + woff);
		if (watch)
			want = *watch;
		forge_big(area, 0, g, &e, 1, count);
		activate(ln, 0, g, area == (char *)ln->undo_area ? 0 : sizeof(ln->undo_area) - 8);
		munmap(m, size);
		expect_open(0); /* rolled back: the record does not count */
		m = map_file(&size);
		if (watch)
			assert_int_equal(*(uint64_t *)(m + woff), want);
		assert_int_equal(L(m, 0)->undo.active, 0);
		munmap(m, size);
		unlink(path);
	}
}

/* A well-formed forged big commit is applied: its SET breaks the chunk
 * table, so the open's dry run refuses the pool and the file stays as it
 * was (F12). */
static void test_damaged_big_commit_breaks_table(void **st)
{
	pm_pool *p = make_pool();
	pm_close(p);
	size_t size;
	char *m = map_file(&size);
	struct lane_layout *ln = L(m, 0);
	uint64_t g = ln->undo.gen + 1;
	struct redo_entry e = { H(m)->chunk_table_off, 0x13000 }; /* FREE(0) at chunk 0 */
	forge_big((char *)ln->undo_area, 0, g, &e, 1, 1);
	activate(ln, 0, g, 0);
	munmap(m, size);
	expect_open(PM_ECORRUPT);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_damaged_redo_targets),
		cmocka_unit_test(test_damaged_undo_targets),
		cmocka_unit_test(test_damaged_undo_chain_cycle),
		cmocka_unit_test(test_damaged_idle_chain),
		cmocka_unit_test(test_damaged_unreachable_large_header),
		cmocka_unit_test(test_damaged_generation_wrap),
		cmocka_unit_test(test_damaged_generation_top),
		cmocka_unit_test(test_damaged_watermark),
		cmocka_unit_test(test_damaged_stray_active),
		cmocka_unit_test(test_damaged_cover_storm),
		cmocka_unit_test(test_damaged_refused_before_writing),
		cmocka_unit_test(test_damaged_bitmap_tail),
		cmocka_unit_test(test_damaged_fifo),
		cmocka_unit_test(test_damaged_big_commit_targets),
		cmocka_unit_test(test_damaged_big_commit_breaks_table),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
