/*
 * test_crash_tx.c -- power-loss images at every fence of a random sequence
 * of transactions and atomic allocations, with torn fence windows.
 *
 * The pool runs on a recording flush table (the harness seam).  A shadow
 * buffer holds what is durable: a range is copied into it when the thread
 * that flushed it fences.  At every fence, before it takes effect, the
 * words where memory and shadow differ are the pending words -- executed
 * stores, flushed or not, that may or may not be on media, each 8-byte word
 * on its own.  Crash images are the shadow plus: no pending word, all of
 * them, single words, all-but-one, and random subsets.  Each image is
 * opened (recovery) in a forked child, checked with pm_check, and its
 * logical state must equal the state before or after the running operation
 * -- computed from a model, so an operation is atomic and nothing leaks.
 *
 * This complements icount (every instruction, single-stepped) with many
 * operations in sequence, fast: each fence window is where the protocol's
 * orderings are decided.  PMSTORE_CRASH_OPS sets the number of operations.
 */
#include "test_common.h"

#include <fcntl.h>
#include <sys/wait.h>

#include "flush/flush.h"

#define POOL_SZ PM_MIN_POOL_SIZE
#define NWORDS 64
#define NSLOTS 16
#define BIG_SZ ((size_t)8192)

struct root {
	uint64_t words[NWORDS];
	pm_off slots[NSLOTS];
	pm_off big;
};

struct model {
	uint64_t words[NWORDS];
	uint64_t slot[NSLOTS]; /* 0 = empty, else word 0 of the object */
	uint64_t big;          /* every word of the big object */
};

static char path[256], img_path[300];
static pm_pool *pool;
static char *base;
static uint8_t *shadow;
static struct model before, after;
static const char *op_name;
static unsigned seed = 12345;
static unsigned long images, fences_seen, failures;

/* ---- recording flush table -------------------------------------------- */

#define MAXR 4096
static struct {
	uintptr_t lo, hi;
} fl[MAXR];
static unsigned nfl;

static void rec_flush(const void *a, size_t len)
{
	if (!base)
		return;
	if (nfl == MAXR) { /* an early write-back is always allowed */
		for (unsigned i = 0; i < nfl; i++)
			memcpy(shadow + (fl[i].lo - (uintptr_t)base), (void *)fl[i].lo, fl[i].hi - fl[i].lo);
		nfl = 0;
	}
	uintptr_t lo = (uintptr_t)a & ~(uintptr_t)7, hi = ((uintptr_t)a + len + 7) & ~(uintptr_t)7;
	fl[nfl].lo = lo;
	fl[nfl].hi = hi;
	nfl++;
}

static unsigned rnd(void)
{
	seed = seed * 1103515245 + 12345;
	return seed >> 8;
}

static void check_image(const uint32_t *pend, unsigned np, const char *tier);

static void crash_point(void)
{
	static uint32_t pend[POOL_SZ / 8];
	unsigned np = 0;
	const uint64_t *mem = (const uint64_t *)base, *sh = (const uint64_t *)shadow;
	for (uint32_t w = 0; w < POOL_SZ / 8; w++)
		if (mem[w] != sh[w])
			pend[np++] = w;
	fences_seen++;
	static uint32_t sub[POOL_SZ / 8];
	check_image(pend, 0, "none");
	if (np == 0)
		return;
	check_image(pend, np, "all");
	for (int k = 0; k < 6 && np > 1; k++) {
		sub[0] = pend[rnd() % np];
		check_image(sub, 1, "one");
	}
	for (int k = 0; k < 6 && np > 1; k++) {
		unsigned skip = rnd() % np, n = 0;
		for (unsigned i = 0; i < np; i++)
			if (i != skip)
				sub[n++] = pend[i];
		check_image(sub, n, "all-but-one");
	}
	for (int k = 0; k < 8 && np > 2; k++) {
		unsigned n = 0;
		for (unsigned i = 0; i < np; i++)
			if (rnd() & 1)
				sub[n++] = pend[i];
		check_image(sub, n, "random");
	}
}

static void rec_drain(void)
{
	if (!base) { /* pm_open of the clean pool: copied whole afterwards */
		nfl = 0;
		return;
	}
	crash_point();
	for (unsigned i = 0; i < nfl; i++)
		memcpy(shadow + (fl[i].lo - (uintptr_t)base), (void *)fl[i].lo, fl[i].hi - fl[i].lo);
	nfl = 0;
}

static void *rec_memcpy(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	rec_flush(d, n);
	return d;
}

static void *rec_memset(void *d, int c, size_t n)
{
	memset(d, c, n);
	rec_flush(d, n);
	return d;
}

static const struct flush_ops rec_ops = {
	.name = "record", .flush = rec_flush, .drain = rec_drain,
	.memcpy_nodrain = rec_memcpy, .memset_nodrain = rec_memset,
};

/* ---- checking an image ------------------------------------------------ */

/* The logical state of a recovered pool, or -1 (message) if inconsistent. */
static int read_state(pm_pool *p, struct model *m, char *why, size_t wl)
{
	struct pm_check_report rep;
	if (pm_check(p, &rep)) {
		snprintf(why, wl, "pm_check: %s", rep.message);
		return -1;
	}
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	memset(m, 0, sizeof(*m));
	memcpy(m->words, rt->words, sizeof(m->words));
	uint64_t objs = 2; /* root, big */
	for (int i = 0; i < NSLOTS; i++) {
		if (!rt->slots[i])
			continue;
		if (pm_usable_size(p, rt->slots[i]) < 64) {
			snprintf(why, wl, "slot %d = 0x%llx is not an allocated object", i,
			         (unsigned long long)rt->slots[i]);
			return -1;
		}
		m->slot[i] = *(uint64_t *)pm_direct(p, rt->slots[i]);
		if (m->slot[i] == 0) {
			snprintf(why, wl, "slot %d object content lost", i);
			return -1;
		}
		objs++;
	}
	const uint64_t *b = pm_direct(p, rt->big);
	for (size_t i = 1; i < BIG_SZ / 8; i++)
		if (b[i] != b[0]) {
			snprintf(why, wl, "big object torn at word %zu", i);
			return -1;
		}
	m->big = b[0];
	if (rep.objects != objs) {
		snprintf(why, wl, "%llu objects allocated, %llu reachable (leak)",
		         (unsigned long long)rep.objects, (unsigned long long)objs);
		return -1;
	}
	return 0;
}

/* The shadow with the chosen pending words from memory, as a file. */
static int write_image(const char *to, const uint32_t *words, unsigned n)
{
	static const uint8_t zero[4096];
	int fd = open(to, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, POOL_SZ))
		return -1;
	for (size_t o = 0; o < POOL_SZ; o += 4096) /* sparse: most pages are 0 */
		if (memcmp(shadow + o, zero, 4096) &&
		    pwrite(fd, shadow + o, 4096, (off_t)o) != 4096)
			return -1;
	for (unsigned i = 0; i < n; i++) {
		off_t o = (off_t)words[i] * 8;
		if (pwrite(fd, base + o, 8, o) != 8)
			return -1;
	}
	return close(fd);
}

static void check_image(const uint32_t *words, unsigned n, const char *tier)
{
	images++;
	pid_t pid = fork();
	if (pid == 0) {
		flush_set_override(NULL);
		if (write_image(img_path, words, n))
			_exit(10);
		char why[300] = "";
		pm_pool *p = pm_open(img_path);
		struct model m;
		int st = 0;
		if (!p) {
			snprintf(why, sizeof(why), "pm_open: %s", pm_errormsg());
			st = 1;
		} else if (read_state(p, &m, why, sizeof(why))) {
			st = 1;
		} else if (memcmp(&m, &before, sizeof(m)) && memcmp(&m, &after, sizeof(m))) {
			snprintf(why, sizeof(why), "state is neither before nor after");
			st = 1;
		}
		if (st) {
			fprintf(stderr, "FAIL op=%s fence=%lu tier=%s (%u words): %s\n", op_name,
			        fences_seen, tier, n, why);
			/* keep the image as it was before recovery touched it */
			char keep[400];
			snprintf(keep, sizeof(keep), "%s.failed", img_path);
			if (p)
				pm_close(p);
			write_image(keep, words, n);
			fprintf(stderr, "  image kept: %s\n", keep);
			_exit(1);
		}
		pm_close(p);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		failures++;
}

/* ---- the operations ---------------------------------------------------- */

static struct root *rt;

static void op_tx_words(int abort_it)
{
	op_name = abort_it ? "tx-abort" : "tx-words";
	unsigned n = 1 + rnd() % 10;
	unsigned idx[10];
	for (unsigned k = 0; k < n; k++)
		idx[k] = rnd() % NWORDS;
	if (!abort_it)
		for (unsigned k = 0; k < n; k++)
			after.words[idx[k]] += 1 + k;
	assert_int_equal(tx_begin(pool), 0);
	for (unsigned k = 0; k < n; k++) {
		assert_int_equal(tx_add(&rt->words[idx[k]], 8), 0);
		rt->words[idx[k]] += 1 + k;
	}
	if (abort_it)
		tx_abort(0);
	tx_end();
}

/* Odd-sized, unaligned ranges: entries and images that are not whole words. */
static void op_tx_bytes(void)
{
	op_name = "tx-bytes";
	unsigned n = 1 + rnd() % 3;
	assert_int_equal(tx_begin(pool), 0);
	for (unsigned k = 0; k < n; k++) {
		unsigned at = rnd() % (NWORDS * 8 - 24), len = 1 + rnd() % 23;
		uint8_t *mem = (uint8_t *)rt->words + at, *mod = (uint8_t *)after.words + at;
		assert_int_equal(tx_add(mem, len), 0);
		for (unsigned b = 0; b < len; b++) {
			mem[b] += 1 + b;
			mod[b] += 1 + b;
		}
	}
	assert_int_equal(tx_end(), 0);
}

static void op_tx_slot(void)
{
	op_name = "tx-slot";
	unsigned j = rnd() % NSLOTS;
	uint64_t v = rnd() | 1;
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_add(&rt->slots[j], 8), 0);
	assert_int_equal(tx_add(&rt->words[j], 8), 0);
	rt->words[j]++;
	after.words[j]++;
	if (rt->slots[j]) {
		assert_int_equal(tx_pfree(rt->slots[j]), 0);
		rt->slots[j] = 0;
		after.slot[j] = 0;
	} else {
		pm_off o = tx_pzalloc(64 + rnd() % 200);
		assert_true(o != 0);
		*(uint64_t *)pm_direct(pool, o) = v;
		rt->slots[j] = o;
		after.slot[j] = v;
	}
	assert_int_equal(tx_end(), 0);
}

static void op_tx_big(void)
{
	op_name = "tx-big";
	uint64_t *b = pm_direct(pool, rt->big);
	uint64_t v = b[0] + 1;
	after.big = v;
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_add(b, BIG_SZ), 0); /* 8 KiB + its image: slow path */
	for (size_t i = 0; i < BIG_SZ / 8; i++)
		b[i] = v;
	assert_int_equal(tx_end(), 0);
}

static void op_atomic(void)
{
	op_name = "pmalloc/pfree";
	unsigned j = rnd() % NSLOTS;
	if (rt->slots[j]) {
		after.slot[j] = 0;
		assert_int_equal(pfree(pool, &rt->slots[j]), 0);
	} else {
		/* contents written and flushed before the publish: the publish's
		 * first fence covers them (pmstore.h, pm_publish) */
		struct pm_action a[2];
		uint64_t v = rnd() | 1;
		pm_off o = pm_reserve(pool, &a[0], 100);
		assert_true(o != 0);
		*(uint64_t *)pm_direct(pool, o) = v;
		pm_flush(pool, pm_direct(pool, o), 8);
		pm_set_value(pool, &a[1], &rt->slots[j], o);
		after.slot[j] = v;
		assert_int_equal(pm_publish(pool, a, 2), 0);
	}
}

static void test_crash_tx_sequence(void **state)
{
	test_pool_path(path, sizeof(path), "crashtx");
	snprintf(img_path, sizeof(img_path), "%s.img", path);
	pool = pm_create(path, POOL_SZ, 0600);
	assert_non_null(pool);
	struct root *r0 = pm_direct(pool, pm_root(pool, sizeof(struct root)));
	assert_int_equal(pzalloc(pool, &r0->big, BIG_SZ), 0);
	pm_close(pool);

	shadow = malloc(POOL_SZ);
	assert_non_null(shadow);
	flush_set_override(&rec_ops);
	pool = pm_open(path);
	assert_non_null(pool);
	base = pm_base(pool);
	memcpy(shadow, base, POOL_SZ); /* everything on media at open */
	rt = pm_direct(pool, pm_root(pool, sizeof(struct root)));
	memset(&before, 0, sizeof(before));
	after = before;

	const char *e = getenv("PMSTORE_CRASH_OPS");
	int nops = e ? atoi(e) : 60;
	for (int i = 0; i < nops; i++) {
		before = after;
		unsigned k = rnd() % 11;
		if (k == 10)
			op_tx_bytes();
		else if (k < 4)
			op_tx_words(0);
		else if (k < 5)
			op_tx_words(1);
		else if (k < 7)
			op_tx_slot();
		else if (k < 8)
			op_tx_big();
		else
			op_atomic();
	}
	/* and the pending lazy stores, at close */
	before = after;
	op_name = "close";
	pm_close(pool);
	flush_set_override(NULL);
	printf("%d operations, %lu fences, %lu crash images checked, %lu failures\n", nops,
	       fences_seen, images, failures);
	assert_int_equal(failures, 0);
	free(shadow);
	unlink(path);
	unlink(img_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_tx_sequence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
