/*
 * test_regress.c -- one test per hole the crash-consistency review found
 * (issue 11: A1-A4, C1-C3, B1-B4), each failing on 451e4ba.
 *
 * The crash-window tests use crash_util.h: every fence of the operation
 * under test (and of the one before it) is recorded, and the images "none",
 * "all", each single pending word and all pending words but one are
 * recovered and must hold the state before or after the operation in
 * flight -- durable linearizability: never an earlier state, never a mix.
 */
#include "test_common.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define CU_TRACK_FSYNC /* growth's fsync sets the durable file length */
#include "crash_util.h"
#include "pool/pool.h"

#define POOL_SZ PM_MIN_POOL_SIZE

struct node {
	pm_off next;
	uint64_t tag[7];
};

struct root {
	uint64_t w[8];
	pm_off slot[16];
	uint8_t pad[512];
};

static char path[256], img[300];

#define R(p) ((struct root *)pm_direct((p), pm_root((p), sizeof(struct root))))

static pm_pool *fresh_ex(unsigned nlanes, uint64_t max_size);
static pm_pool *fresh(unsigned nlanes)
{
	return fresh_ex(nlanes, 0);
}

static pm_pool *fresh_ex(unsigned nlanes, uint64_t max_size)
{
	/* a failed test longjmps past its cleanup: start clean */
	flush_set_override(NULL);
	cu.capturing = 0;
	cu.base = NULL;
	cu.pool = NULL;
	cu_reset();
	test_pool_path(path, sizeof(path), "regress");
	snprintf(img, sizeof(img), "%s.img", path);
	struct pm_create_opts o = { .nlanes = nlanes, .max_size = max_size };
	pm_pool *p = pm_create_ex(path, POOL_SZ, 0600, &o);
	assert_non_null(p);
	assert_non_null(R(p));
	return p;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
	return h;
}

/*
 * The logical state: root words and pad, every slot's object (allocated,
 * its contents, the node it links to), no block named twice, and every
 * allocated object reachable.  0 = inconsistent.
 */
static uint64_t state(pm_pool *p)
{
	struct pm_check_report rep;
	if (pm_check(p, &rep))
		return 0;
	struct root *rt = R(p);
	uint64_t h = 1, seen[64];
	unsigned ns = 0;
	for (int i = 0; i < 8; i++)
		h = mix(h, rt->w[i]);
	for (int i = 0; i < 512; i++)
		h = mix(h, rt->pad[i]);
	for (int i = 0; i < 16; i++) {
		h = mix(h, rt->slot[i]);
		for (pm_off o = rt->slot[i]; o; o = ((struct node *)pm_direct(p, o))->next) {
			if (pm_usable_size(p, o) < sizeof(struct node) || ns == 64) {
				fprintf(stderr, "  slot %d names 0x%llx, not an object\n", i, (unsigned long long)o);
				return 0;
			}
			for (unsigned k = 0; k < ns; k++)
				if (seen[k] == o) {
					fprintf(stderr, "  object 0x%llx named twice\n", (unsigned long long)o);
					return 0;
				}
			seen[ns++] = o;
			const struct node *n = pm_direct(p, o);
			h = mix(h, n->next);
			for (int k = 0; k < 7; k++)
				h = mix(h, n->tag[k]);
		}
	}
	if (rep.objects != 1 + ns) {
		fprintf(stderr, "  %llu objects allocated, %u reachable\n",
		        (unsigned long long)rep.objects, ns + 1);
		return 0;
	}
	return h;
}

static void fill(pm_pool *p, pm_off o, uint64_t tag)
{
	struct node *n = pm_direct(p, o);
	n->next = 0;
	for (int k = 0; k < 7; k++)
		n->tag[k] = tag + (uint64_t)k;
}

/* Check the images recorded at fences [from, to): states a or b. */
static void verify(unsigned from, unsigned to, uint64_t a, uint64_t b)
{
	/* cu_verify checks all recorded fences: keep only [from, to) */
	unsigned nf = cu.nf;
	struct cu_fence keep[CU_MAX_FENCES];
	memcpy(keep, cu.f, sizeof(keep));
	memmove(cu.f, cu.f + from, (to - from) * sizeof(cu.f[0]));
	cu.nf = to - from;
	uint64_t allowed[2] = { a, b };
	unsigned n = 0, fails = cu_verify(img, state, allowed, 2, &n);
	memcpy(cu.f, keep, sizeof(keep));
	cu.nf = nf;
	fprintf(stderr, "  fences %u..%u: %u images, %u failures\n", from, to, n, fails);
	assert_int_equal(fails, 0);
}

static void done(pm_pool *p)
{
	cu_close(p);
	cu_reset();
	unlink(path);
}

/* ---- A1: a large reservation over an empty run, then abort/cancel ----- */

static void large_over_empty_run(int use_tx)
{
	pm_pool *p = fresh(0);
	struct root *rt = R(p);
	assert_int_equal(pmalloc(p, &rt->slot[0], 1000), 0);
	assert_int_equal(pfree(p, &rt->slot[0]), 0); /* its run is empty now */
	assert_int_equal(pmalloc(p, &rt->slot[1], 40000), 0);
	fill(p, rt->slot[1], 7);
	uint64_t s0 = state(p);
	pm_close(p);
	p = pm_open(path); /* the empty run is a free extent in DRAM only */
	assert_non_null(p);
	rt = R(p);
	if (use_tx) {
		assert_int_equal(tx_begin(p), 0);
		pm_off o = tx_pmalloc(250000); /* one whole chunk (LARGE) */
		assert_true(o != 0);
		memset(pm_direct(p, o), 0xff, 250000);
		tx_abort(0);
		assert_int_equal(tx_end(), PM_ECANCELED);
	} else {
		struct pm_action a;
		pm_off o = pm_reserve(p, &a, 250000);
		assert_true(o != 0);
		memset(pm_direct(p, o), 0xff, 250000);
		pm_cancel(p, &a, 1);
	}
	pm_close(p);
	p = pm_open(path);
	assert_non_null(p);
	assert_pool_ok(p);
	assert_int_equal(state(p), s0);
	/* the space is usable again, and large objects go there */
	rt = R(p);
	assert_int_equal(pmalloc(p, &rt->slot[2], 250000), 0);
	assert_pool_ok(p);
	pm_close(p);
	unlink(path);
}

static void test_alloc_large_over_empty_run_tx_abort(void **st)
{
	large_over_empty_run(1);
}

static void test_alloc_large_over_empty_run_cancel(void **st)
{
	large_over_empty_run(0);
}

/* ---- A2: a store into an object reserved in the same publish ---------- */

static void test_alloc_publish_links_new_nodes(void **st)
{
	pm_pool *p = fresh(0);
	pm_close(p);
	p = cu_open(path);
	struct root *rt = R(p);
	uint64_t s0 = state(p);
	struct pm_action a[4];
	pm_off n1 = pm_reserve(p, &a[0], sizeof(struct node));
	pm_off n2 = pm_reserve(p, &a[1], sizeof(struct node));
	assert_true(n1 && n2);
	fill(p, n1, 100);
	fill(p, n2, 200);
	struct node *N1 = pm_direct(p, n1);
	pm_set_value(p, &a[2], &N1->next, n2); /* inside n1 */
	pm_set_value(p, &a[3], &rt->slot[0], n1);
	cu_start("publish n1->n2");
	assert_int_equal(pm_publish(p, a, 4), 0);
	cu_stop();
	uint64_t s1 = state(p);
	assert_true(s1 && s1 != s0);
	verify(0, cu.nf, s0, s1);
	done(p);
}

/* ---- C1: a publish right after a fast-commit transaction, same lane --- */

static void test_tx_publish_after_fast_commit_same_lane(void **st)
{
	pm_pool *p = fresh(0);
	pm_close(p);
	p = cu_open(path);
	struct root *rt = R(p);
	uint64_t s0 = state(p);
	cu_start("tx w0 = 1");
	assert_int_equal(tx_begin(p), 0);
	assert_int_equal(tx_add(&rt->w[0], 8), 0);
	rt->w[0] = 1;
	assert_int_equal(tx_end(), 0);
	unsigned f1 = cu.nf;
	uint64_t s1 = state(p);
	cu.what = "publish w0 = 2, w1 = 5";
	struct pm_action a[2];
	pm_set_value(p, &a[0], &rt->w[0], 2);
	pm_set_value(p, &a[1], &rt->w[1], 5);
	assert_int_equal(pm_publish(p, a, 2), 0);
	cu_stop();
	uint64_t s2 = state(p);
	verify(0, f1, s0, s1);
	verify(f1, cu.nf, s1, s2);
	done(p);
}

/* ---- A3: first tx_add of several gaps after a fast commit ------------- */

static int cmp_off(const void *a, const void *b)
{
	pm_off x = *(const pm_off *)a, y = *(const pm_off *)b;
	return x < y ? -1 : x > y;
}

/* Twelve adjacent 64-byte blocks in rt->slot[], filled and durable; the
 * pool reopened; b[1] freed (it comes back first, LIFO); then tx0 logs 200
 * bytes and tx1 one word, so that tx1's entries and commit block sit after
 * tx0's, at an offset a 64-byte entry fits below.  Returns the state after
 * tx1. */
static pm_pool *twelve_blocks_then_two_tx(pm_off *b, uint64_t *s1)
{
	pm_pool *p = fresh(0);
	struct root *rt = R(p);
	for (int i = 0; i < 12; i++)
		assert_int_equal(pmalloc(p, &rt->slot[i], 64), 0);
	memcpy(b, rt->slot, 12 * sizeof(b[0]));
	qsort(b, 12, sizeof(b[0]), cmp_off);
	for (int i = 1; i < 12; i++)
		assert_true(b[i] == b[i - 1] + 64);
	for (int i = 0; i < 12; i++) {
		rt->slot[i] = b[i];
		fill(p, b[i], 1000 + (uint64_t)i);
	}
	pm_persist(p, rt, sizeof(*rt));
	for (int i = 0; i < 12; i++)
		pm_persist(p, pm_direct(p, b[i]), 64);
	pm_close(p);
	p = cu_open(path);
	rt = R(p);
	assert_int_equal(pfree(p, &rt->slot[1]), 0); /* b[1] goes back, LIFO */
	assert_int_equal(tx_begin(p), 0);
	assert_int_equal(tx_add(rt->pad, 200), 0);
	for (int i = 0; i < 200; i++) /* (memset: a false -Warray-bounds) */
		rt->pad[i] = 0x5a;
	assert_int_equal(tx_end(), 0);
	assert_int_equal(tx_begin(p), 0);
	assert_int_equal(tx_add(&rt->w[1], 8), 0);
	rt->w[1] = 11;
	assert_int_equal(tx_end(), 0);
	*s1 = state(p);
	return p;
}

static void test_tx_multi_gap_add_after_fast_commit(void **st)
{
	pm_off b[12];
	uint64_t s1;
	pm_pool *p = twelve_blocks_then_two_tx(b, &s1);
	struct root *rt = R(p);
	cu_start("tx with a multi-gap first tx_add");
	assert_int_equal(tx_begin(p), 0);
	pm_off o = tx_pmalloc(64);
	assert_true(o == b[1]);
	fill(p, o, 5000);
	/* gaps: b[0] (64 B), b[2..11] (640 B), around the new object */
	assert_int_equal(tx_add(pm_direct(p, b[0]), 12 * 64), 0);
	for (int i = 0; i < 12; i++)
		if (i != 1)
			fill(p, b[i], 2000 + (uint64_t)i);
	assert_int_equal(tx_add(&rt->slot[1], 8), 0);
	rt->slot[1] = o;
	assert_int_equal(tx_end(), 0);
	cu_stop();
	uint64_t s2 = state(p);
	verify(0, cu.nf, s1, s2);
	done(p);
}

/* The same shape with tx_add_ranges as the first add (issue 17): its
 * entries for all ranges are one batch (T8), not the first range's. */
static void test_tx_ranges_first_add_after_fast_commit(void **st)
{
	pm_off b[12];
	uint64_t s1;
	pm_pool *p = twelve_blocks_then_two_tx(b, &s1);
	cu_start("tx whose first add is tx_add_ranges of 64 B + 640 B");
	assert_int_equal(tx_begin(p), 0);
	struct pm_range r[2] = { { pm_direct(p, b[0]), 64 }, { pm_direct(p, b[2]), 10 * 64 } };
	assert_int_equal(tx_add_ranges(r, 2), 0);
	for (int i = 0; i < 12; i++)
		if (i != 1)
			fill(p, b[i], 3000 + (uint64_t)i);
	assert_int_equal(tx_end(), 0);
	cu_stop();
	uint64_t s2 = state(p);
	verify(0, cu.nf, s1, s2);
	done(p);
}

/* ---- issue 18: pm_perm_save is atomic, directory growth included ---- */

#define PERM_N 17
static uint64_t perm_v[PERM_N][6];

static uint64_t perm_state(pm_pool *p)
{
	struct pm_check_report rep;
	if (pm_check(p, &rep))
		return 0;
	uint64_t h = 7, buf[6];
	char name[16];
	for (int i = 0; i < PERM_N; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		memset(buf, 0, sizeof(buf));
		int r = pm_perm_load(p, name, buf, sizeof(buf));
		if (r < 0)
			return 0;
		h = mix(h, (uint64_t)r);
		for (int k = 0; r == 1 && k < 6; k++)
			h = mix(h, buf[k]);
	}
	return h;
}

/* perm_state's value for a pool in which g0..g(nsaved-1) hold v[] */
static uint64_t perm_model(int nsaved, uint64_t (*v)[6])
{
	uint64_t h = 7;
	for (int i = 0; i < PERM_N; i++) {
		h = mix(h, (uint64_t)(i < nsaved));
		for (int k = 0; i < nsaved && k < 6; k++)
			h = mix(h, v[i][k]);
	}
	return h;
}

static void test_perm_save_atomic(void **st)
{
	pm_pool *p = fresh(0);
	char name[16];
	/* 15 names saved: the directory (16 entries) is nearly full */
	for (int i = 0; i < 15; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		for (int k = 0; k < 6; k++)
			perm_v[i][k] = (uint64_t)(i * 100 + k);
		assert_int_equal(pm_perm(p, name, perm_v[i], sizeof(perm_v[i])), 0);
	}
	assert_int_equal(pm_perm_save(p), 0);
	uint64_t s1 = perm_state(p);
	assert_int_equal(s1, perm_model(15, perm_v));
	pm_close(p);
	p = cu_open(path); /* recorded from here */
	/* the 15 come back; two more names (the directory grows, in its own
	 * publish) and every block changed: one save */
	for (int i = 0; i < PERM_N; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		assert_int_equal(pm_perm(p, name, perm_v[i], sizeof(perm_v[i])), i < 15);
	}
	for (int i = 0; i < PERM_N; i++)
		for (int k = 0; k < 6; k++)
			perm_v[i][k] = (uint64_t)(i * 1000 + k + 5);
	cu_start("pm_perm_save: directory growth + 17 blocks");
	assert_int_equal(pm_perm_save(p), 0);
	cu_stop();
	uint64_t s2 = perm_state(p);
	assert_int_equal(s2, perm_model(PERM_N, perm_v));
	assert_true(s1 != s2);
	uint64_t allowed[2] = { s1, s2 };
	unsigned n = 0, fails = cu_verify(img, perm_state, allowed, 2, &n);
	fprintf(stderr, "  pm_perm_save: %u fences, %u images, %u failures\n", cu.nf, n, fails);
	assert_true(cu.nf >= 3); /* the publish's and the transaction's fences */
	assert_int_equal(fails, 0);
	done(p);
}

/* ---- C2/C3: two lanes, the older operation's lazy state -------------- */

struct two_ops {
	pm_pool *p;
	int which;
};

static void *op_thread(void *arg)
{
	struct two_ops *t = arg;
	struct root *rt = R(t->p);
	struct pm_action a[2];
	switch (t->which) {
	case 0: /* A: publish w1 = 1 */
		pm_set_value(t->p, &a[0], &rt->w[1], 1);
		assert_int_equal(pm_publish(t->p, a, 1), 0);
		break;
	case 1: /* A: commit a transaction w1 = 1 */
		assert_int_equal(tx_begin(t->p), 0);
		assert_int_equal(tx_add(&rt->w[1], 8), 0);
		rt->w[1] = 1;
		assert_int_equal(tx_end(), 0);
		break;
	case 2: /* B: publish w1 = 2, w2 = 5 */
		pm_set_value(t->p, &a[0], &rt->w[1], 2);
		pm_set_value(t->p, &a[1], &rt->w[2], 5);
		assert_int_equal(pm_publish(t->p, a, 2), 0);
		break;
	default: /* a thread that only takes a lane, to shift the next ones */
		assert_int_equal(pmalloc(t->p, &rt->slot[15], 64), 0);
		assert_int_equal(pfree(t->p, &rt->slot[15]), 0);
		break;
	}
	return NULL;
}

static void run_thread(pm_pool *p, int which)
{
	pthread_t th;
	struct two_ops t = { p, which };
	assert_int_equal(pthread_create(&th, NULL, op_thread, &t), 0);
	pthread_join(th, NULL);
}

static void two_lanes(int a_is_tx)
{
	/* threads take lanes in turn: 0, 1, 2 extra threads before A give
	 * both orders of A's and B's lanes among the rounds */
	for (int round = 0; round < 3; round++) {
		pm_pool *p = fresh(2);
		pm_close(p);
		p = cu_open(path);
		for (int k = 0; k < round; k++)
			run_thread(p, 3);
		uint64_t s0 = state(p);
		cu_start("A");
		run_thread(p, a_is_tx);
		unsigned f1 = cu.nf;
		uint64_t s1 = state(p);
		cu.what = "B";
		run_thread(p, 2);
		cu_stop();
		uint64_t s2 = state(p);
		verify(0, f1, s0, s1);
		verify(f1, cu.nf, s1, s2);
		done(p);
	}
}

static void test_pool_two_lanes_publish_then_publish(void **st)
{
	two_lanes(0);
}

static void test_pool_two_lanes_tx_then_publish(void **st)
{
	two_lanes(1);
}

/* ---- A4: acting on a result before the call returned ------------------ */

static struct {
	pm_pool *p;
	pthread_t owner;
	_Atomic int started, finished;
	pthread_t b;
	unsigned fences;
} a4;

static void *a4_b(void *arg)
{
	(void)arg;
	struct root *rt = R(a4.p);
	pm_off seen = __atomic_load_n(&rt->slot[0], __ATOMIC_ACQUIRE);
	assert_true(seen != 0);
	assert_int_equal(pfree(a4.p, &rt->slot[0]), 0);
	assert_int_equal(pmalloc(a4.p, &rt->slot[1], 64), 0);
	atomic_store(&a4.finished, 1);
	return NULL;
}

/* At A's last fence (its apply is done, its log still valid): B frees
 * A's new object and allocates again; wait for B a while, then go on. */
static void a4_hook(void)
{
	if (!pthread_equal(pthread_self(), a4.owner) || atomic_load(&a4.started))
		return;
	/* the fence after the apply (the one that completes the pmalloc) */
	if (__atomic_load_n(&R(a4.p)->slot[0], __ATOMIC_ACQUIRE) == 0)
		return;
	atomic_store(&a4.started, 1);
	assert_int_equal(pthread_create(&a4.b, NULL, a4_b, NULL), 0);
	for (int i = 0; i < 300 && !atomic_load(&a4.finished); i++)
		usleep(1000);
	if (atomic_load(&a4.finished))
		cu_capture_now("B done, A in its second fence");
}

static void test_alloc_result_used_before_return(void **st)
{
	pm_pool *p = fresh(0);
	pm_close(p);
	p = cu_open(path);
	struct root *rt = R(p);
	memset(&a4, 0, sizeof(a4));
	a4.p = p;
	a4.owner = pthread_self();
	cu.hook = a4_hook;
	cu_start("A pmalloc, B pfree + pmalloc");
	assert_int_equal(pmalloc(p, &rt->slot[0], 64), 0);
	cu_stop();
	cu.hook = NULL;
	pthread_join(a4.b, NULL);
	cu_capture_now("both done");
	assert_int_equal(rt->slot[0], 0);
	assert_true(rt->slot[1] != 0);
	uint64_t s_end = state(p);
	assert_true(s_end != 0);
	/* every image must be consistent with no block named twice; the ones
	 * taken once B had returned must show B's results */
	unsigned fails = 0, n = 0;
	struct cu_fence all[CU_MAX_FENCES];
	unsigned nf = cu.nf;
	memcpy(all, cu.f, sizeof(all));
	for (unsigned fi = 0; fi < nf; fi++) {
		int after_b = strncmp(all[fi].what, "B done", 6) == 0 ||
		              strcmp(all[fi].what, "both done") == 0;
		cu.f[0] = all[fi];
		cu.nf = 1;
		unsigned ni = 0;
		fails += cu_verify(img, state, after_b ? &s_end : NULL, after_b, &ni);
		n += ni;
	}
	memcpy(cu.f, all, sizeof(all));
	cu.nf = nf;
	fprintf(stderr, "  %u images, %u failures\n", n, fails);
	assert_true(atomic_load(&a4.finished));
	assert_int_equal(fails, 0);
	done(p);
}


/* ---- abort of a transaction whose new value reached media ------------- */

static void test_tx_abort_after_persisted_write(void **st)
{
	pm_pool *p = fresh(0);
	pm_close(p);
	p = cu_open(path);
	struct root *rt = R(p);
	uint64_t s0 = state(p);
	cu_start("tx abort");
	assert_int_equal(tx_begin(p), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(tx_add(&rt->w[i], 8), 0);
		rt->w[i] = 99 + (uint64_t)i;
	}
	/* the modified words reach media (evicted, or flushed by the user) */
	pm_persist(p, rt->w, 4 * 8);
	tx_abort(0);
	assert_int_equal(tx_end(), PM_ECANCELED);
	cu_stop();
	assert_int_equal(state(p), s0);
	/* a crash anywhere in it: before (the rollback is not lost) */
	verify(0, cu.nf, s0, s0);
	done(p);
}

/* ---- logs replayed by a recovery stay void ------------------------------ */

static void *void_publisher(void *arg)
{
	pm_pool *q = arg;
	struct root *qr = R(q);
	struct pm_action a[2];
	pm_set_value(q, &a[0], &qr->w[1], 7);
	pm_set_value(q, &a[1], &qr->w[2], 8);
	assert_int_equal(pm_publish(q, a, 2), 0);
	/* and goes on (its later fences make its own log void) */
	assert_int_equal(pmalloc(q, &qr->slot[15], 64), 0);
	assert_int_equal(pfree(q, &qr->slot[15]), 0);
	return NULL;
}

/*
 * P4/R5: a damaged watermark near 2^56 with a valid log above it (a crash
 * image: a publish whose apply was not durable).  Recovery replays it,
 * renumbers (watermark 0) -- and by then every log must be void ON MEDIA,
 * the replayed one included, whose invalidation R4 leaves lazy: else the
 * next crash finds it valid above the new watermark and replays it over
 * whatever came after.  The shadow after the recorded open is what those
 * fences made durable.
 */
static void test_pool_watermark_renumber_durable(void **st)
{
	pm_pool *p = fresh(2);
	uint64_t w3 = (uint64_t)((char *)&R(p)->w[3] - (char *)pm_base(p));
	size_t size = pm_size(p);
	pm_close(p);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(m != MAP_FAILED);
	((struct pool_desc *)(m + POOL_DESC_OFF))->recovered_seq = SEQ_MASK - 10;
	struct redo_log *log = &((struct lane_layout *)(m + POOL_LANES_OFF))->redo;
	log->entries[0] = (struct redo_entry){ w3 | (uint64_t)REDO_SET << REDO_OP_SHIFT, 77 };
	log->nseq = 1 | (SEQ_MASK - 5) << REDO_SEQ_SHIFT;
	log->checksum = redo_checksum(m, size, log->nseq, log->entries, 1);
	munmap(m, size);
	pm_pool *q = cu_open_recorded(path);
	assert_int_equal(R(q)->w[3], 77);
	const struct pool_desc *d = (const struct pool_desc *)(cu.shadow + POOL_DESC_OFF);
	for (unsigned i = 0; i < 2; i++) {
		const struct redo_log *l =
		    (const struct redo_log *)(cu.shadow + POOL_LANES_OFF + (uint64_t)i * LANE_SIZE);
		uint64_t seq = 0;
		if (redo_valid((const char *)cu.shadow, cu.size, l, REDO_MAX, &seq) >= 0) {
			fprintf(stderr, "  lane %u: a durable valid log, seq %llu, watermark %llu\n", i,
			        (unsigned long long)seq, (unsigned long long)d->recovered_seq);
			assert_true(seq <= d->recovered_seq);
		}
	}
	cu_close(q);
	cu_pre_clear();
	unlink(path);
}

static void test_pool_recovered_logs_stay_void(void **st)
{
	/* a crash image with two lanes' logs valid (C2's window) */
	pm_pool *p = fresh(2);
	pm_close(p);
	p = cu_open(path);
	struct root *rt = R(p);
	run_thread(p, 0);
	cu_start("B");
	run_thread(p, 2);
	cu_stop();
	uint64_t s2 = state(p);
	/* the image "all pending words" of B's commit fence, as a file */
	struct cu_fence *f = &cu.f[0];
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, f->shadow, cu.size), (ssize_t)cu.size);
	for (unsigned k = 0; k < f->np; k++)
		assert_int_equal(pwrite(fd, &f->val[k], 8, (off_t)f->word[k] * 8), 8);
	close(fd);
	cu_close(p);
	cu_reset();
	(void)rt;
	/* recover it (recorded: only what its fences made durable counts),
	 * change the words the logs set, close; power loss; reopen */
	pm_pool *q = cu_open_recorded(img);
	struct root *qr = R(q);
	assert_true(state(q) != 0);
	/* another thread changes the words (the opener fences no more: what
	 * recovery made durable must be durable by the time open returns) */
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, void_publisher, q), 0);
	pthread_join(th, NULL);
	char img2[320], img3[320];
	snprintf(img2, sizeof(img2), "%s.2", img);
	snprintf(img3, sizeof(img3), "%s.3", img);
	cu_write_shadow(img2); /* power loss now */
	pm_close(q);
	cu_write_shadow(img3); /* or after the close */
	cu.base = NULL;
	cu.pool = NULL;
	flush_set_override(NULL);
	const char *imgs[2] = { img2, img3 };
	for (int i = 0; i < 2; i++) {
		q = pm_open(imgs[i]);
		assert_non_null(q);
		qr = R(q);
		assert_int_equal(qr->w[1], 7);
		assert_int_equal(qr->w[2], 8);
		assert_pool_ok(q);
		pm_close(q);
		unlink(imgs[i]);
	}
	(void)s2;
	unlink(img);
	unlink(path);
}


/* ---- a new run over a chunk that held data (mutation M20) -------------- */

static void test_alloc_run_over_dirty_chunk(void **st)
{
	pm_pool *p = fresh(0);
	struct root *rt = R(p);
	/* a chunk full of nonzero bytes, then free again */
	assert_int_equal(pmalloc(p, &rt->slot[0], CHUNK_SIZE), 0);
	memset(pm_direct(p, rt->slot[0]), 0xff, CHUNK_SIZE);
	pm_persist(p, pm_direct(p, rt->slot[0]), CHUNK_SIZE);
	assert_int_equal(pfree(p, &rt->slot[0]), 0);
	pm_close(p);
	p = cu_open(path);
	rt = R(p);
	uint64_t s0 = state(p);
	/* a class no run exists for yet: a run is made on that chunk */
	cu_start("pzalloc making a run");
	assert_int_equal(pzalloc(p, &rt->slot[1], 3000), 0);
	cu_stop();
	uint64_t s1 = state(p);
	/* before or after: no phantom objects from the old bytes (a RUN
	 * header durable before its zeroed bitmap), and the zeroes pzalloc
	 * promises (its log covers them) */
	verify(0, cu.nf, s0, s1);
	done(p);
}

/* ---- issue 12: a big-class run of several chunks over a dirty heap ----- */

/*
 * A new kind of header write: RUN(class, 4) over four chunks that held a
 * LARGE object's nonzero bytes (where the run's bitmap goes) and an empty
 * small run (a stale RUN header inside the new span); the class's first,
 * one-chunk run is full already.  Every fence of the
 * first pzalloc (ext_take's split, the zeroed bitmap, the header) and of
 * the six after it (blocks 1-6: block 6 is the first that starts in the
 * run's second chunk, whose bit is still in the first chunk's bitmap, H2)
 * is recovered: before or after each, never phantom blocks from the old
 * bytes, never a block lost.  Catches PM_BUG_RUN_HEADER_EARLY (17) and
 * PM_BUG_RUN_BIT_IN_BLOCK_CHUNK (23).
 */
static void test_alloc_big_run_over_dirty_heap(void **st)
{
	pm_pool *p = fresh(0);
	struct root *rt = R(p);
	const size_t big = 48 << 10; /* class 48 KiB: runs of 4 chunks, 21 blocks */
	/* the class's first run is one chunk (5 blocks): fill it, so that
	 * the next one has the class's span */
	for (int i = 8; i < 13; i++)
		assert_int_equal(pzalloc(p, &rt->slot[i], big), 0);
	assert_int_equal(pmalloc(p, &rt->slot[0], 3 * CHUNK_SIZE), 0);
	memset(pm_direct(p, rt->slot[0]), 0xff, 3 * CHUNK_SIZE);
	pm_persist(p, pm_direct(p, rt->slot[0]), 3 * CHUNK_SIZE);
	assert_int_equal(pmalloc(p, &rt->slot[1], 5000), 0); /* a run after it */
	memset(pm_direct(p, rt->slot[1]), 0xff, 5000);
	pm_persist(p, pm_direct(p, rt->slot[1]), 5000);
	pm_off dirty = rt->slot[0];
	assert_int_equal(pfree(p, &rt->slot[0]), 0);
	assert_int_equal(pfree(p, &rt->slot[1]), 0);
	pm_close(p);
	p = cu_open(path); /* the empty run is free space in DRAM only */
	rt = R(p);
	uint64_t s[8];
	unsigned f[8];
	s[0] = state(p);
	f[0] = 0;
	assert_true(s[0] != 0);
	cu_start("big-class blocks, the first making a 4-chunk run");
	for (int i = 0; i < 7; i++) {
		/* (pzalloc: the zeroes are part of the state after it) */
		assert_int_equal(pzalloc(p, &rt->slot[i], big), 0);
		f[i + 1] = cu.nf;
		s[i + 1] = state(p);
		assert_true(s[i + 1] != 0);
	}
	cu_stop();
	assert_int_equal(rt->slot[0], dirty + 64); /* the run is where the bytes were */
	assert_true((rt->slot[6] - dirty) / CHUNK_SIZE == 1);
	for (int i = 0; i < 7; i++)
		verify(f[i], f[i + 1], s[i], s[i + 1]);
	/* and after a reopen every block is still allocated */
	cu_close(p);
	p = pm_open(path);
	assert_non_null(p);
	assert_int_equal(state(p), s[7]);
	pm_close(p);
	cu_reset();
	unlink(path);
}

/* ---- recovery crashed after an uncommitted commit log (mutation M90) --- */

struct rc_arg {
	uint64_t s0, s1;
	unsigned fails, images;
};

static void rc_check(const char *image, unsigned k, void *arg)
{
	struct rc_arg *a = arg;
	pm_pool *q = pm_open(image);
	uint64_t s = q ? state(q) : 0;
	if (s != a->s0 && s != a->s1) {
		if (a->fails < 3)
			fprintf(stderr, "  recovery crashed after its fence %u: %s\n", k,
			        q ? "state neither before nor after" : pm_errormsg());
		a->fails++;
	}
	a->images++;
	if (q)
		pm_close(q);
}

static void test_tx_recovery_crashed_keeps_rollback(void **st)
{
	pm_pool *p = fresh(0);
	pm_close(p);
	p = cu_open(path);
	struct root *rt = R(p);
	struct rc_arg a = { .s0 = state(p) };
	cu_start("tx with an allocation");
	assert_int_equal(tx_begin(p), 0);
	assert_int_equal(tx_add(&rt->slot[0], 8), 0);
	pm_off o = tx_pzalloc(sizeof(struct node));
	assert_true(o != 0);
	rt->slot[0] = o;
	assert_int_equal(tx_end(), 0);
	cu_stop();
	a.s1 = state(p);
	cu_close(p);
	/* every image of the transaction, recovered under the recorder, and
	 * recovery power-failed after each of its fences */
	char img2[320];
	snprintf(img2, sizeof(img2), "%s.rec", img);
	unsigned nimg = 0;
	for (unsigned fi = 0; fi < cu.nf; fi++) {
		struct cu_fence *f = &cu.f[fi];
		long nv = 2 + (f->np <= 64 ? (long)f->np : 0);
		for (long v = -2; v < nv - 2; v++) {
			uint8_t *m = malloc(cu.size);
			memcpy(m, f->shadow, cu.size);
			for (unsigned k = 0; k < f->np; k++)
				if (v == -1 || (v >= 0 && (long)k != v))
					memcpy(m + (size_t)f->word[k] * 8, &f->val[k], 8);
			int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, m, cu.size), (ssize_t)cu.size);
			close(fd);
			pm_pool *q = cu_open_recorded(img);
			uintptr_t qb = (uintptr_t)pm_base(q);
			pm_close(q);
			cu.base = NULL;
			cu.pool = NULL;
			flush_set_override(NULL);
			cu_recovery_images(m, cu.size, qb, img2, rc_check, &a);
			free(m);
			nimg++;
		}
	}
	fprintf(stderr, "  %u transaction images, %u recovery images, %u failures\n", nimg,
	        a.images, a.fails);
	cu_total_images += a.images;
	cu_total_fails += a.fails;
	assert_int_equal(a.fails, 0);
	unlink(img);
	unlink(img2);
	cu_reset();
	unlink(path);
}


/* ---- a reservation's bytes over a stale header, crashed (mutation M15) - */

static void test_alloc_large_over_empty_run_crash(void **st)
{
	pm_pool *p = fresh(0);
	struct root *rt = R(p);
	assert_int_equal(pmalloc(p, &rt->slot[0], 1000), 0);
	assert_int_equal(pfree(p, &rt->slot[0]), 0);
	assert_int_equal(pmalloc(p, &rt->slot[1], 40000), 0);
	fill(p, rt->slot[1], 7);
	pm_persist(p, pm_direct(p, rt->slot[1]), sizeof(struct node));
	pm_close(p);
	p = cu_open(path);
	uint64_t s0 = state(p);
	cu_start("reserve over an empty run");
	struct pm_action a;
	pm_off o = pm_reserve(p, &a, 250000); /* one whole chunk (LARGE) */
	assert_true(o != 0);
	memset(pm_direct(p, o), 0xff, 250000); /* may reach media unflushed */
	cu_capture_now("reserved and filled");
	pm_cancel(p, &a, 1);
	cu_stop();
	verify(0, cu.nf, s0, s0); /* never published: as before, no phantoms */
	done(p);
}

/* ---- pm_persist of a result makes the log it came from void (M78) ----- */

static void test_pool_persist_after_pmalloc_voids_its_log(void **st)
{
	pm_pool *p = fresh(0);
	pm_close(p);
	p = cu_open(path);
	struct root *rt = R(p);
	assert_int_equal(pmalloc(p, &rt->slot[0], sizeof(struct node)), 0);
	fill(p, rt->slot[0], 3);
	pm_persist(p, pm_direct(p, rt->slot[0]), sizeof(struct node));
	uint64_t s1 = state(p);
	cu_start("move the pointer by hand, pm_persist");
	rt->slot[1] = rt->slot[0]; /* the user moves the object ... */
	rt->slot[0] = 0;
	pm_persist(p, rt->slot, 2 * sizeof(pm_off)); /* ... durably */
	cu_capture_now("after pm_persist");
	cu_stop();
	uint64_t s2 = state(p);
	/* the image after pm_persist returned must hold the move; the old
	 * pmalloc's log must not put the pointer back (two slots, one block).
	 * (Images inside pm_persist may show half the move: two words are
	 * not one atomic store -- not checked.) */
	(void)s1;
	verify(cu.nf - 1, cu.nf, s2, s2);
	done(p);
}

/* ---- B1: pool calls inside the caller's own transaction --------------- */

static void run_child_with_alarm(void (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		alarm(20);
		fn();
		_exit(0);
	}
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	if (WIFSIGNALED(ws))
		fprintf(stderr, "  child killed by signal %d (a hang ends by SIGALRM)\n", WTERMSIG(ws));
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

static void b1_one_lane(void)
{
	test_pool_path(path, sizeof(path), "b1");
	struct pm_create_opts o = { .nlanes = 1 };
	pm_pool *p = pm_create_ex(path, POOL_SZ, 0600, &o);
	if (!p)
		_exit(2);
	if (tx_begin(p) != 0)
		_exit(3);
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	if (!rt)
		_exit(4);
	if (tx_add(&rt->w[0], 8))
		_exit(5);
	rt->w[0] = 42;
	if (pmalloc(p, &rt->slot[0], 64) || !rt->slot[0])
		_exit(6);
	if (pfree(p, &rt->slot[0]) || rt->slot[0])
		_exit(7);
	if (pzalloc(p, &rt->slot[1], 100))
		_exit(8);
	if (tx_end() != 0)
		_exit(9);
	if (state(p) == 0)
		_exit(10);
	pm_close(p);
	p = pm_open(path);
	if (!p || R(p)->w[0] != 42 || !R(p)->slot[1] || state(p) == 0)
		_exit(11);
	pm_close(p);
	unlink(path);
}

static void test_tx_pool_calls_inside_tx_one_lane(void **st)
{
	run_child_with_alarm(b1_one_lane);
}

static pm_pool *b1_pool;
static pthread_barrier_t b1_bar;

/* Four threads, four lanes: all inside a transaction (every lane held)
 * at once, then each calls pmalloc/pfree. */
static void *b1_worker(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	struct root *rt = R(b1_pool);
	for (int k = 0; k < 50; k++) {
		if (tx_begin(b1_pool) != 0)
			_exit(20);
		pthread_barrier_wait(&b1_bar);
		if (pmalloc(b1_pool, &rt->slot[i], 64) || pfree(b1_pool, &rt->slot[i]))
			_exit(21);
		if (tx_end() != 0)
			_exit(22);
	}
	return NULL;
}

static void b1_threads(void)
{
	test_pool_path(path, sizeof(path), "b1t");
	struct pm_create_opts o = { .nlanes = 4 };
	b1_pool = pm_create_ex(path, POOL_SZ, 0600, &o);
	if (!b1_pool || !R(b1_pool))
		_exit(2);
	pthread_t th[4];
	pthread_barrier_init(&b1_bar, NULL, 4);
	for (unsigned i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, b1_worker, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	if (state(b1_pool) == 0)
		_exit(3);
	pm_close(b1_pool);
	unlink(path);
}

static void test_tx_pool_calls_inside_tx_more_threads_than_lanes(void **st)
{
	run_child_with_alarm(b1_threads);
}

/* ---- B2: double frees through the actions API ------------------------- */

static void test_alloc_double_free_refused(void **st)
{
	pm_pool *p = fresh(0);
	struct root *rt = R(p);
	assert_int_equal(pmalloc(p, &rt->slot[0], 64), 0);
	pm_off x = rt->slot[0];
	struct pm_action a[3];
	assert_int_equal(pm_defer_free(p, &a[0], x), 0);
	assert_int_equal(pm_defer_free(p, &a[1], x), 0);
	pm_set_value(p, &a[2], &rt->slot[0], 0);
	assert_int_equal(pm_publish(p, a, 3), PM_EINVAL); /* one object freed twice */
	assert_int_equal(rt->slot[0], x);
	assert_int_equal(pm_usable_size(p, x), 64);
	/* one free: fine; the same action again in a second publish: refused */
	struct pm_action f1, f2;
	assert_int_equal(pm_defer_free(p, &f1, x), 0);
	assert_int_equal(pm_defer_free(p, &f2, x), 0);
	assert_int_equal(pm_publish(p, &f1, 1), 0);
	assert_int_equal(pm_publish(p, &f2, 1), PM_EINVAL);
	rt->slot[0] = 0;
	pm_persist(p, &rt->slot[0], 8);
	/* tx_pfree, then pfree of a slot holding the same object */
	assert_int_equal(pmalloc(p, &rt->slot[1], 64), 0);
	assert_int_equal(tx_begin(p), 0);
	assert_int_equal(tx_pfree(rt->slot[1]), 0);
	assert_int_equal(pfree(p, &rt->slot[1]), PM_EINVAL);
	assert_int_equal(tx_add(&rt->slot[1], 8), 0);
	rt->slot[1] = 0;
	assert_int_equal(tx_end(), 0);
	/* no block handed out twice */
	assert_int_equal(pmalloc(p, &rt->slot[2], 64), 0);
	assert_int_equal(pmalloc(p, &rt->slot[3], 64), 0);
	assert_int_equal(pmalloc(p, &rt->slot[4], 64), 0);
	assert_true(rt->slot[2] != rt->slot[3] && rt->slot[3] != rt->slot[4] &&
	            rt->slot[2] != rt->slot[4]);
	assert_true(state(p) != 0);
	pm_close(p);
	unlink(path);
}

/* ---- B3: a handle inherited across fork -------------------------------- */

static void test_pool_fork_child_cannot_write(void **st)
{
	pm_pool *p = fresh(0);
	struct root *rt = R(p);
	assert_int_equal(tx_begin(p), 0);
	assert_int_equal(tx_add(&rt->w[0], 8), 0);
	rt->w[0] = 1;
	pid_t pid = fork();
	if (pid == 0) {
		int bad = 0;
		bad |= pmalloc(p, &rt->slot[0], 64) != PM_EFORKED;
		bad |= pm_last_error() != PM_EFORKED;
		bad |= strstr(pm_errormsg(), "fork") == NULL;
		bad |= tx_add(&rt->w[1], 8) != PM_EFORKED;
		struct pm_action a;
		bad |= pm_reserve(p, &a, 64) != 0;
		bad |= tx_end() != PM_EFORKED;
		pm_close(p); /* must leave the parent's transaction alone */
		_exit(bad ? 1 : 0);
	}
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_int_equal(rt->w[0], 1);
	assert_int_equal(tx_end(), 0);
	assert_int_equal(rt->w[0], 1);
	assert_int_equal(rt->slot[0], 0);
	pm_close(p);
	p = pm_open(path);
	assert_non_null(p);
	assert_int_equal(R(p)->w[0], 1);
	assert_pool_ok(p);
	pm_close(p);
	unlink(path);
}

/* ---- B4: destinations inside the heap's own metadata ------------------ */

static void test_alloc_refuses_metadata_destinations(void **st)
{
	pm_pool *p = fresh(0);
	struct root *rt = R(p);
	const struct pool_hdr *h = pm_base(p);
	pm_off *table = pm_direct(p, h->chunk_table_off);
	assert_int_equal(pmalloc(p, &table[3], 64), PM_EINVAL);
	assert_int_equal(pmalloc(p, (pm_off *)((char *)pm_base(p) + h->chunks_off - 8), 64), PM_EINVAL);
	/* the bitmap at the start of the root's run */
	pm_off chunk0 = h->chunks_off + ((pm_root(p, 8) - h->chunks_off) / CHUNK_SIZE) * CHUNK_SIZE;
	uint64_t before = *(uint64_t *)pm_direct(p, chunk0);
	assert_int_equal(pmalloc(p, pm_direct(p, chunk0), 64), PM_EINVAL);
	struct pm_action a;
	pm_set_value(p, &a, pm_direct(p, chunk0), ~0ull);
	assert_int_equal(pm_publish(p, &a, 1), PM_EINVAL);
	assert_int_equal(*(uint64_t *)pm_direct(p, chunk0), before);
	assert_int_equal(pmalloc(p, &rt->slot[0], 64), 0); /* a real destination */
	assert_pool_ok(p);
	pm_close(p);
	unlink(path);
}

/* ---- a big transaction's commit, crashed at every fence (issue 12) ----- */

/*
 * A transaction with more allocations and frees than the lane's redo log
 * holds (tx.c commit_big, tx_format.h F7): it snapshots a 12000-byte blob
 * (its entry nearly fills the lane's inline area, so the action records
 * run on into an overflow block), frees a list of 300 older nodes and
 * allocates a list of 2000 new ones.  Every fence from tx_begin to tx_end
 * is recorded; each image -- none / all pending words, the pending words
 * cut into 8 runs by address (only run g, all but run g), and 4 random
 * halves (seed BIG_SEED, printed) -- must recover to the state before or
 * after, and recovery itself crashed at each of its fences too (the none /
 * all / run images; with its writes durable, or only the lane area's, or
 * only the rest).  Catches PM_BUG_BIG_RETIRE_EARLY (active = 0 durable
 * before the actions), PM_BUG_BIG_COMMIT_EARLY (the commit record durable
 * before the new nodes), PM_BUG_BIG_UNLINK_EARLY (the chain unlinked with
 * active = 0 in one window) and PM_BUG_REPLAY_RETIRE_LOG (recovery applies
 * the retire log in the roll-forward's window).  Can NOT see: stores between two
 * flushes of a word (only final values), other subsets of the pending
 * words (test_crash_model.c's big op draws them at random).
 */
struct bnode {
	pm_off next;
	uint64_t tag;
};

#define BIG_OLD 300
#define BIG_NEW 2000
#define BLOB_SZ 12000

static uint64_t big_state(pm_pool *p)
{
	struct pm_check_report rep;
	if (pm_check(p, &rep))
		return 0;
	struct root *rt = R(p);
	uint64_t h = 1, n = 0;
	for (int i = 0; i < 3; i++)
		h = mix(h, rt->slot[i]);
	for (int s = 0; s < 2; s++) {
		uint64_t k = 0;
		for (pm_off o = rt->slot[s]; o; o = ((struct bnode *)pm_direct(p, o))->next, k++) {
			if (k > BIG_NEW || pm_usable_size(p, o) < sizeof(struct bnode)) {
				fprintf(stderr, "  list %d node %llu: 0x%llx is not an object\n", s,
				        (unsigned long long)k, (unsigned long long)o);
				return 0;
			}
			const struct bnode *b = pm_direct(p, o);
			if (b->tag != ((uint64_t)s << 32 | k)) {
				fprintf(stderr, "  list %d node %llu: tag %llx\n", s, (unsigned long long)k,
				        (unsigned long long)b->tag);
				return 0;
			}
			h = mix(h, b->tag);
		}
		h = mix(h, k);
		n += k;
	}
	const uint64_t *blob = pm_direct(p, rt->slot[2]);
	for (int i = 0; i < BLOB_SZ / 8; i++)
		h = mix(h, blob[i]);
	if (rep.objects != 2 + n) {
		fprintf(stderr, "  %llu objects allocated, %llu reachable\n",
		        (unsigned long long)rep.objects, (unsigned long long)n + 2);
		return 0;
	}
	return h;
}

static pm_off big_list(pm_pool *p, unsigned n, unsigned list, int in_tx)
{
	pm_off head = 0;
	for (unsigned k = n; k-- > 0;) {
		pm_off o = 0;
		if (in_tx) {
			o = tx_pmalloc(sizeof(struct bnode));
		} else {
			struct root *rt = R(p);
			assert_int_equal(pmalloc(p, &rt->slot[3], sizeof(struct bnode)), 0);
			o = rt->slot[3];
			rt->slot[3] = 0;
			pm_persist(p, &rt->slot[3], 8);
		}
		assert_true(o != 0);
		struct bnode *b = pm_direct(p, o);
		b->next = head;
		b->tag = (uint64_t)list << 32 | k;
		if (!in_tx)
			pm_persist(p, b, sizeof(*b));
		head = o;
	}
	return head;
}

static uint64_t rnd_state;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

struct big_arg {
	uint64_t s0, s1;
	unsigned images, fails;
};

static void big_check(const char *image, unsigned k, void *arg)
{
	struct big_arg *a = arg;
	pm_pool *q = pm_open(image);
	uint64_t s = q ? big_state(q) : 0;
	if (s != a->s0 && s != a->s1) {
		if (a->fails < 5)
			fprintf(stderr, "  recovery crashed after its fence %u: %s\n", k,
			            q ? "state neither before nor after" : pm_errormsg());
		a->fails++;
	}
	a->images++;
	if (q)
		pm_close(q);
}

/*
 * Like cu_recovery_images, and more: recovery power-failed at each of its
 * fences k with (0) what fences 0..k made durable, (1) that of 0..k-1 and
 * only the lane-area words of fence k's writes, (2) only the others (the
 * heap, the chunk table, the descriptor).  (1) and (2) are the crashes
 * inside recovery's fence windows that split the lane's undo header from
 * the heap: they see a retire log applied in the same window as the
 * roll-forward (PM_BUG_REPLAY_RETIRE_LOG).
 */
static unsigned big_recovery_images(const uint8_t *orig, size_t size, uintptr_t b,
                                    const char *imgf, void *arg)
{
	uint8_t *m = malloc(size);
	assert_non_null(m);
	unsigned n = 0;
	const struct pool_hdr *h = (const struct pool_hdr *)orig;
	uintptr_t lo = b + POOL_LANES_OFF, hi = lo + (uintptr_t)h->nlanes * LANE_SIZE;
	for (unsigned k = 0; k < cu_pre_fences; k++) {
		for (int v = 0; v < 3; v++) {
			memcpy(m, orig, size);
			for (struct cu_pre *r = cu_pre_head; r; r = r->next) {
				if (r->fence > k || r->addr < b || r->addr + r->len > b + size)
					continue;
				int lane = r->addr >= lo && r->addr < hi;
				if (r->fence == k && ((v == 1 && !lane) || (v == 2 && lane)))
					continue;
				memcpy(m + (r->addr - b), r->data, r->len);
			}
			int fd = open(imgf, O_RDWR | O_CREAT | O_TRUNC, 0600);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, m, size), (ssize_t)size);
			close(fd);
			big_check(imgf, k, arg);
			n++;
		}
	}
	free(m);
	cu_pre_clear();
	return n;
}

static void test_tx_big_commit_crash(void **st)
{
	const char *env = getenv("BIG_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 12;
	fprintf(stderr, "  BIG_SEED=%llu\n", (unsigned long long)seed);
	rnd_state = seed * 0x9E3779B97F4A7C15ull + 1;
	pm_pool *p = fresh(0);
	struct root *rt = R(p);
	assert_int_equal(pmalloc(p, &rt->slot[2], BLOB_SZ), 0);
	memset(pm_direct(p, rt->slot[2]), 0x11, BLOB_SZ);
	pm_persist(p, pm_direct(p, rt->slot[2]), BLOB_SZ);
	pm_off old = big_list(p, BIG_OLD, 1, 0);
	rt->slot[1] = old;
	pm_persist(p, &rt->slot[1], 8);
	pm_close(p);
	p = cu_open(path);
	rt = R(p);
	struct big_arg a = { .s0 = big_state(p) };
	assert_true(a.s0 != 0);
	cu_start("big tx");
	assert_int_equal(tx_begin(p), 0);
	uint8_t *blob = pm_direct(p, rt->slot[2]);
	assert_int_equal(tx_add(blob, BLOB_SZ), 0);
	memset(blob, 0x22, BLOB_SZ);
	assert_int_equal(tx_add(&rt->slot[0], 16), 0);
	for (pm_off o = rt->slot[1]; o; o = ((struct bnode *)pm_direct(p, o))->next)
		assert_int_equal(tx_pfree(o), 0);
	rt->slot[1] = 0;
	rt->slot[0] = big_list(p, BIG_NEW, 0, 1);
	assert_int_equal(tx_end(), 0);
	cu_stop();
	a.s1 = big_state(p);
	assert_true(a.s1 != 0 && a.s1 != a.s0);
	uint8_t *m = malloc(cu.size);
	assert_non_null(m);
	unsigned nimg = 0, fails = 0;
	size_t size = cu.size;
	fprintf(stderr, "  %u fences recorded\n", cu.nf);
	assert_true(cu.nf >= 4 && cu.nf < CU_MAX_FENCES);
	cu_close(p);
	char img2[320];
	snprintf(img2, sizeof(img2), "%s.rec", img);
	for (unsigned fi = 0; fi < cu.nf; fi++) {
		struct cu_fence *f = &cu.f[fi];
		/* variants: 0 none, 1 all, 2..17 run g only / all but run g,
		 * 18..21 random halves */
		for (int v = 0; v < 22; v++) {
			memcpy(m, f->shadow, size);
			for (unsigned k = 0; k < f->np; k++) {
				unsigned g = (unsigned)((uint64_t)k * 8 / (f->np ? f->np : 1));
				int take = v == 1 || (v >= 2 && v < 10 && g == (unsigned)(v - 2)) ||
				           (v >= 10 && v < 18 && g != (unsigned)(v - 10)) ||
				           (v >= 18 && (rnd() & 1));
				if (take)
					memcpy(m + (size_t)f->word[k] * 8, &f->val[k], 8);
			}
			int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, m, size), (ssize_t)size);
			close(fd);
			nimg++;
			pm_pool *q = pm_open(img);
			uint64_t s = q ? big_state(q) : 0;
			if (q)
				pm_close(q);
			if (s != a.s0 && s != a.s1) {
				if (fails < 5)
					fprintf(stderr, "  crash image FAIL at fence %u, variant %d of %u pending words: %s\n",
					        fi, v, f->np, q ? "state neither before nor after" : pm_errormsg());
				fails++;
				continue;
			}
			if (v >= 18)
				continue;
			/* the same image again, with recovery crashed after each of
			 * its fences */
			assert_int_equal(write(fd = open(img, O_RDWR | O_TRUNC), m, size), (ssize_t)size);
			close(fd);
			q = cu_open_recorded(img);
			uintptr_t qb = (uintptr_t)pm_base(q);
			pm_close(q);
			cu.base = NULL;
			cu.pool = NULL;
			flush_set_override(NULL);
			big_recovery_images(m, size, qb, img2, &a);
		}
	}
	free(m);
	fprintf(stderr, "  %u commit images (%u failures), %u recovery images (%u failures)\n", nimg,
	        fails, a.images, a.fails);
	cu_total_images += nimg + a.images;
	cu_total_fails += fails + a.fails;
	assert_int_equal(fails, 0);
	assert_int_equal(a.fails, 0);
	unlink(img);
	unlink(img2);
	cu_reset();
	unlink(path);
}

/* ---- issue 19: growth is crash-atomic (P5 in pool_format.h) ---------- */

/*
 * A pzalloc into a full growable pool grows it (file extended and synced,
 * the new span's header, the count: pool.c G1-G5), makes a run in the new
 * space and publishes.  Every fence's images, each at the file length that
 * was durable then, must recover to before or after.  Seeded bugs 45 (the
 * count before the header) and 46 (no fsync of the new length) fail here.
 */
static void test_pool_grow_crash(void **st)
{
	(void)st;
	pm_pool *p = fresh_ex(4, (uint64_t)64 << 20);
	struct root *rt = R(p);
	struct pm_check_report rep;
	assert_int_equal(pm_check(p, &rep), 0);
	assert_true(rep.free_chunks > 0);
	assert_int_equal(pzalloc(p, &rt->slot[1], rep.free_chunks * (256u << 10)), 0);
	assert_int_equal(pm_check(p, &rep), 0);
	assert_int_equal(rep.free_chunks, 0);
	size_t size0 = pm_size(p);
	uint64_t s0 = state(p);
	pm_close(p);
	p = cu_open(path);
	rt = R(p);
	cu_start("pzalloc that grows the pool");
	assert_int_equal(pzalloc(p, &rt->slot[0], sizeof(struct node)), 0);
	cu_stop();
	assert_true(pm_size(p) > size0);
	uint64_t s1 = state(p);
	assert_true(s1 != s0);
	unsigned nf = cu.nf;
	assert_true(nf >= 4); /* the header's, the count's, the publish's two */
	verify(0, nf, s0, s1);
	/* the next operation, all in the new space */
	cu_reset();
	cu_start("pzalloc in the grown space");
	assert_int_equal(pzalloc(p, &rt->slot[2], 3000), 0);
	cu_stop();
	uint64_t s2 = state(p);
	verify(0, cu.nf, s1, s2);
	done(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_large_over_empty_run_tx_abort),
		cmocka_unit_test(test_alloc_large_over_empty_run_cancel),
		cmocka_unit_test(test_alloc_publish_links_new_nodes),
		cmocka_unit_test(test_tx_publish_after_fast_commit_same_lane),
		cmocka_unit_test(test_tx_multi_gap_add_after_fast_commit),
		cmocka_unit_test(test_tx_ranges_first_add_after_fast_commit),
		cmocka_unit_test(test_perm_save_atomic),
		cmocka_unit_test(test_pool_two_lanes_publish_then_publish),
		cmocka_unit_test(test_pool_two_lanes_tx_then_publish),
		cmocka_unit_test(test_alloc_result_used_before_return),
		cmocka_unit_test(test_tx_abort_after_persisted_write),
		cmocka_unit_test(test_pool_recovered_logs_stay_void),
		cmocka_unit_test(test_pool_watermark_renumber_durable),
		cmocka_unit_test(test_alloc_run_over_dirty_chunk),
		cmocka_unit_test(test_alloc_large_over_empty_run_crash),
		cmocka_unit_test(test_alloc_big_run_over_dirty_heap),
		cmocka_unit_test(test_pool_persist_after_pmalloc_voids_its_log),
		cmocka_unit_test(test_tx_recovery_crashed_keeps_rollback),
		cmocka_unit_test(test_tx_pool_calls_inside_tx_one_lane),
		cmocka_unit_test(test_tx_pool_calls_inside_tx_more_threads_than_lanes),
		cmocka_unit_test(test_alloc_double_free_refused),
		cmocka_unit_test(test_pool_fork_child_cannot_write),
		cmocka_unit_test(test_alloc_refuses_metadata_destinations),
		cmocka_unit_test(test_tx_big_commit_crash),
		cmocka_unit_test(test_pool_grow_crash),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (!getenv("TEST_FILTER"))
		printf("figures: test_regress: %zu review cases, %lu crash images recovered and checked, %lu failures\n",
	       sizeof(tests) / sizeof(tests[0]), cu_total_images, cu_total_fails);
	return rc;
}
