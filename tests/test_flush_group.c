/*
 * test_flush_group.c -- group commit on the msync path (src/flush/flush.c):
 * threads that drain at the same time share one msync, and the model of
 * flush.h still holds for each of them.
 *
 * How.  A file on an ordinary file system (PMSTORE_TEST_DIR, else a new
 * directory under /var/tmp; not /dev/shm, which is tmpfs) is mapped shared,
 * and threads write, flush and drain through flush_ops_msync -- the real
 * table, real msyncs.  The flush layer's test seam (flush_msync_set_hook)
 * reports each registration (a thread's page ranges), each batch a leader
 * takes, the start and the end of every msync call and every drain's
 * return; the hook stamps them with one global sequence number.  Checks:
 *  (a) coverage: for every drain that returned 0, each range the thread
 *      registered is covered by msyncs (any thread's) that STARTED after
 *      its registration and ENDED, successfully, before its drain returned;
 *      a drain that returned an error saw a failed msync in that window;
 *  (b) sharing: forced without timing -- the first leader is held in its
 *      batch hook until the other N-1 threads have registered, so the next
 *      batch must serve all N-1 with one msync: N drains, 2 msyncs;
 *  (c) errors: an msync failure injected into that shared batch is
 *      reported (flush_fence() == -1) by every one of its N-1 threads, and
 *      not by the first leader, whose own msync succeeded;
 *  plus a random stress (threads x drains over shared and private pages,
 *  group commit on with the default adaptive wait, and off) and a real
 *  pool on the file (4 threads of pmalloc / pfree / tx_one) under check (a),
 *  then pm_check.
 * Deterministic parts run with flush_group_commit_wait(0): no leader waits
 * for joiners, so which batch serves whom follows only from the hook.
 * Seeded bugs (tests/selftest_bugs.cmake): 50, a leader also completes the
 * waiters that registered during its sync -> (a) and (b) fail; 51, a leader
 * msyncs only its own ranges -> (a) fails; 52, a failed batch's error
 * reaches its leader only -> (c) fails.
 * PMSTORE_GC_SEED seeds the stress (printed).
 *
 * What it can NOT catch: whether the kernel's msync really writes back
 * (trusted once called: a power cut is not simulated here; the crash
 * checkers replace the flush table and never run this code); how much
 * group commit saves in time (bench/, docs/PERFORMANCE.md); a data race
 * the interleavings here never hit (the stress only samples).
 */
#define _GNU_SOURCE
#include "test_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "flush/flush.h"

#define PG ((uintptr_t)4096)
#define NTH 4
#define MAP_PAGES 64
#define NEV (1u << 16)
#define NRANGE 16

/* ---- the trace ----------------------------------------------------------- */

struct ev {
	int kind;
	uint64_t seq;
	pthread_t tid;
	const void *thread;
	unsigned n;
	uintptr_t lo[NRANGE], hi[NRANGE];
	unsigned nserved;
	int err;
};

static struct ev evs[NEV];
static unsigned nev;
static int ev_overflow;
static _Atomic uint64_t gseq;
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv = PTHREAD_COND_INITIALIZER;
static unsigned nregistered; /* REGISTER events since reset */

/* scenario controls */
static int hold_first_batch;   /* hold the first leader until `hold_until` registered */
static unsigned hold_until;
static int held;               /* the first batch was held */
static int hold_timed_out;
static uint64_t fail_batch = 0; /* inject EIO into every msync of this batch (1-based) */
static unsigned nbatch;
static _Thread_local unsigned tl_batch; /* the batch this thread leads now */

static void hook(struct flush_msync_event *e)
{
	pthread_mutex_lock(&ev_mu);
	uint64_t s = atomic_fetch_add(&gseq, 1) + 1;
	if (nev < NEV) {
		struct ev *r = &evs[nev++];
		memset(r, 0, sizeof(*r));
		r->kind = e->kind;
		r->seq = s;
		r->tid = pthread_self();
		r->thread = e->thread;
		r->n = e->n < NRANGE ? e->n : NRANGE;
		for (unsigned i = 0; i < r->n; i++) {
			r->lo[i] = e->lo[i];
			r->hi[i] = e->hi[i];
		}
		r->nserved = e->nserved;
		r->err = e->err;
	} else {
		ev_overflow = 1;
	}
	switch (e->kind) {
	case FLUSH_EV_REGISTER:
		nregistered++;
		pthread_cond_broadcast(&ev_cv);
		break;
	case FLUSH_EV_BATCH:
		tl_batch = ++nbatch;
		if (hold_first_batch && !held) {
			held = 1;
			/* the others must be able to register while a sync is
			 * in flight; a generous bound only turns a hang into a
			 * failure */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 20;
			while (nregistered < hold_until)
				if (pthread_cond_timedwait(&ev_cv, &ev_mu, &ts) == ETIMEDOUT) {
					hold_timed_out = 1;
					break;
				}
		}
		break;
	case FLUSH_EV_MSYNC_START:
		if (fail_batch && tl_batch == fail_batch) {
			e->err = EIO;
			evs[nev - 1].err = EIO;
		}
		break;
	}
	pthread_mutex_unlock(&ev_mu);
}

static void trace_reset(void)
{
	pthread_mutex_lock(&ev_mu);
	nev = 0;
	ev_overflow = 0;
	nregistered = 0;
	hold_first_batch = held = hold_timed_out = 0;
	fail_batch = 0;
	nbatch = 0;
	pthread_mutex_unlock(&ev_mu);
}

static int cmp_iv(const void *a, const void *b)
{
	const uintptr_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* is [lo, hi) inside the union of the msyncs that started after `after`,
 * ended before `before` (with err == 0 if `ok_only`)? */
static int covered(uintptr_t lo, uintptr_t hi, uint64_t after, uint64_t before)
{
	static uintptr_t iv[NEV][2];
	unsigned n = 0;
	for (unsigned i = 0; i < nev; i++) {
		const struct ev *s = &evs[i];
		if (s->kind != FLUSH_EV_MSYNC_START || s->seq <= after)
			continue;
		/* its end: the next MSYNC_END of the same OS thread */
		for (unsigned j = i + 1; j < nev; j++) {
			const struct ev *t = &evs[j];
			if (t->kind != FLUSH_EV_MSYNC_END || !pthread_equal(t->tid, s->tid))
				continue;
			if (t->seq < before && t->err == 0) {
				iv[n][0] = s->lo[0];
				iv[n][1] = s->hi[0];
				n++;
			}
			break;
		}
	}
	qsort(iv, n, sizeof(iv[0]), cmp_iv);
	uintptr_t at = lo;
	for (unsigned i = 0; i < n && at < hi; i++) {
		if (iv[i][0] > at)
			break;
		if (iv[i][1] > at)
			at = iv[i][1];
	}
	return at >= hi;
}

static int failed_msync_between(uint64_t after, uint64_t before)
{
	for (unsigned i = 0; i < nev; i++)
		if (evs[i].kind == FLUSH_EV_MSYNC_END && evs[i].err && evs[i].seq < before) {
			/* its start */
			for (unsigned j = i; j-- > 0;)
				if (evs[j].kind == FLUSH_EV_MSYNC_START &&
				    pthread_equal(evs[j].tid, evs[i].tid)) {
					if (evs[j].seq > after)
						return 1;
					break;
				}
		}
	return 0;
}

/* check (a) over the whole trace; returns the number of drains checked */
static unsigned check_coverage(const char *where)
{
	assert_false(ev_overflow);
	unsigned drains = 0;
	for (unsigned i = 0; i < nev; i++) {
		const struct ev *r = &evs[i];
		if (r->kind != FLUSH_EV_RETURN)
			continue;
		const struct ev *g = NULL;
		for (unsigned j = i; j-- > 0;)
			if (evs[j].kind == FLUSH_EV_REGISTER && evs[j].thread == r->thread &&
			    pthread_equal(evs[j].tid, r->tid)) {
				g = &evs[j];
				break;
			}
		assert_non_null(g);
		drains++;
		if (r->err) {
			if (!failed_msync_between(g->seq, r->seq)) {
				printf("GC-FAIL %s: a drain returned error %d with no failed msync after its registration\n",
				       where, r->err);
				fail();
			}
			continue;
		}
		for (unsigned k = 0; k < g->n; k++)
			if (!covered(g->lo[k], g->hi[k], g->seq, r->seq)) {
				printf("GC-FAIL %s: range [%#lx, %#lx) registered at %llu, drain returned at %llu: "
				       "not covered by msyncs started after and ended before\n",
				       where, (unsigned long)g->lo[k], (unsigned long)g->hi[k],
				       (unsigned long long)g->seq, (unsigned long long)r->seq);
				fail();
			}
	}
	return drains;
}

static unsigned count_kind(int kind)
{
	unsigned n = 0;
	for (unsigned i = 0; i < nev; i++)
		n += evs[i].kind == kind;
	return n;
}

/* ---- the file ------------------------------------------------------------- */

static char g_dir[512];
static int g_own_dir;
static char *g_map;
static char g_path[600];

static int setup(void **st)
{
	const char *d = getenv("PMSTORE_TEST_DIR");
	if (d && *d) {
		snprintf(g_dir, sizeof(g_dir), "%s", d);
	} else {
		snprintf(g_dir, sizeof(g_dir), "/var/tmp/pmstore-gc-%d.XXXXXX", (int)getpid());
		if (!mkdtemp(g_dir))
			return -1;
		g_own_dir = 1;
	}
	snprintf(g_path, sizeof(g_path), "%s/pmstore-gc-%d", g_dir, (int)getpid());
	int fd = open(g_path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)(MAP_PAGES * PG)) != 0)
		return -1;
	g_map = mmap(NULL, MAP_PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (g_map == MAP_FAILED)
		return -1;
	memset(g_map, 0, MAP_PAGES * PG);
	flush_msync_set_hook(hook);
	return 0;
}

static int teardown(void **st)
{
	flush_msync_set_hook(NULL);
	munmap(g_map, MAP_PAGES * PG);
	unlink(g_path);
	if (g_own_dir)
		rmdir(g_dir);
	return 0;
}

/* ---- (a) (b) (c): N threads, one drain each, the first leader held -------- */

struct one {
	int id;
	pthread_barrier_t *b;
	int rc;
};

static void *one_drain(void *arg)
{
	struct one *o = arg;
	char *pg = g_map + (uintptr_t)(o->id + 1) * 2 * PG; /* distinct pages, gaps between */
	pthread_barrier_wait(o->b);
	memset(pg + 100, 0x40 + o->id, 200);
	flush_ops_msync.flush(pg + 100, 200);
	struct flush_counters c = { 0, 0 };
	o->rc = flush_fence(&flush_ops_msync, &c);
	return NULL;
}

static void run_one_each(struct one *o, unsigned n)
{
	pthread_t th[NTH];
	pthread_barrier_t b;
	pthread_barrier_init(&b, NULL, n);
	for (unsigned i = 0; i < n; i++) {
		o[i] = (struct one){ .id = (int)i, .b = &b };
		pthread_create(&th[i], NULL, one_drain, &o[i]);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&b);
}

/* the thread that led batch k (its BATCH event) */
static const void *batch_leader(unsigned k)
{
	unsigned seen = 0;
	for (unsigned i = 0; i < nev; i++)
		if (evs[i].kind == FLUSH_EV_BATCH && ++seen == k)
			return evs[i].thread;
	return NULL;
}

static void test_gc_shared_batch(void **st)
{
	flush_group_commit_set(1);
	flush_group_commit_wait(0);
	trace_reset();
	hold_first_batch = 1;
	hold_until = NTH;
	struct one o[NTH];
	run_one_each(o, NTH);
	assert_false(hold_timed_out);
	unsigned drains = check_coverage("shared-batch");
	unsigned batches = count_kind(FLUSH_EV_BATCH), msyncs = count_kind(FLUSH_EV_MSYNC_START);
	printf("shared batch: %u drains, %u batches, %u msyncs\n", drains, batches, msyncs);
	assert_int_equal(drains, NTH);
	/* (b) the first batch served its leader; the second all the others */
	assert_int_equal(batches, 2);
	unsigned k = 0;
	for (unsigned i = 0; i < nev; i++)
		if (evs[i].kind == FLUSH_EV_BATCH) {
			assert_int_equal(evs[i].nserved, k == 0 ? 1 : NTH - 1);
			k++;
		}
	assert_true(msyncs < drains);
	for (unsigned i = 0; i < NTH; i++)
		assert_int_equal(o[i].rc, 0);
	flush_group_commit_wait(-1);
}

static void test_gc_error_reaches_every_waiter(void **st)
{
	flush_group_commit_set(1);
	flush_group_commit_wait(0);
	trace_reset();
	hold_first_batch = 1;
	hold_until = NTH;
	fail_batch = 2; /* the shared one */
	struct one o[NTH];
	run_one_each(o, NTH);
	assert_false(hold_timed_out);
	check_coverage("error");
	assert_int_equal(count_kind(FLUSH_EV_BATCH), 2);
	const void *first = batch_leader(1);
	assert_non_null(first);
	/* the first leader's drain succeeded; every waiter of the failed
	 * batch must report the failure */
	unsigned failed = 0;
	for (unsigned i = 0; i < nev; i++) {
		if (evs[i].kind != FLUSH_EV_RETURN)
			continue;
		if (evs[i].thread == first) {
			assert_int_equal(evs[i].err, 0);
		} else {
			if (!evs[i].err)
				printf("GC-FAIL error: a waiter of the failed batch returned success\n");
			assert_int_equal(evs[i].err, EIO);
			failed++;
		}
	}
	assert_int_equal(failed, NTH - 1);
	unsigned rc_fail = 0;
	for (unsigned i = 0; i < NTH; i++)
		rc_fail += o[i].rc != 0;
	assert_int_equal(rc_fail, NTH - 1);
	flush_group_commit_wait(-1);
}

/* ---- stress -------------------------------------------------------------- */

struct sarg {
	int id;
	uint64_t seed;
	int iters;
	pthread_barrier_t *b;
	int fails;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *stress_thread(void *arg)
{
	struct sarg *a = arg;
	uint64_t s = a->seed * 2654435761u + (uint64_t)a->id + 1;
	pthread_barrier_wait(a->b);
	for (int it = 0; it < a->iters; it++) {
		int nr = 1 + (int)(rnd(&s) % 3);
		for (int k = 0; k < nr; k++) {
			/* pages 0..7 shared by everyone, then 8 private ones each */
			uintptr_t pg = rnd(&s) % 2 ? rnd(&s) % 8 : 8 + (uintptr_t)a->id * 8 + rnd(&s) % 8;
			uintptr_t off = pg * PG + rnd(&s) % (PG - 64);
			memset(g_map + off, (int)(rnd(&s) & 0xff), 64);
			flush_ops_msync.flush(g_map + off, 64);
		}
		struct flush_counters c = { 0, 0 };
		a->fails += flush_fence(&flush_ops_msync, &c) != 0;
	}
	return NULL;
}

static void run_stress(int on, uint64_t seed, int iters)
{
	flush_group_commit_set(on);
	flush_group_commit_wait(-1);
	trace_reset();
	pthread_t th[NTH];
	struct sarg a[NTH];
	pthread_barrier_t b;
	pthread_barrier_init(&b, NULL, NTH);
	for (int i = 0; i < NTH; i++) {
		a[i] = (struct sarg){ .id = i, .seed = seed, .iters = iters, .b = &b };
		pthread_create(&th[i], NULL, stress_thread, &a[i]);
	}
	for (int i = 0; i < NTH; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&b);
	unsigned drains = check_coverage(on ? "stress-on" : "stress-off");
	unsigned batches = count_kind(FLUSH_EV_BATCH), msyncs = count_kind(FLUSH_EV_MSYNC_START);
	printf("stress group commit %s: %u drains, %u batches, %u msyncs\n", on ? "on" : "off", drains,
	       batches, msyncs);
	assert_int_equal(drains, NTH * iters);
	if (!on)
		assert_int_equal(batches, 0);
	for (int i = 0; i < NTH; i++)
		assert_int_equal(a[i].fails, 0);
}

static uint64_t seed_from_env(void)
{
	const char *e = getenv("PMSTORE_GC_SEED");
	uint64_t s = e && *e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL);
	printf("PMSTORE_GC_SEED=%llu\n", (unsigned long long)s);
	return s ? s : 1;
}

static void test_gc_stress(void **st)
{
	uint64_t seed = seed_from_env();
	int iters = getenv("PMSTORE_TEST_QUICK") ? 20 : 60;
	run_stress(1, seed, iters);
	run_stress(0, seed, iters / 2);
	flush_group_commit_set(1);
}

/* ---- a real pool on the file ---------------------------------------------- */

struct parg {
	pm_pool *p;
	pm_off *slots;
	int id;
	int ops;
	int errs;
};

static void *pool_thread(void *arg)
{
	struct parg *a = arg;
	pm_off *mine = a->slots + a->id * 8;
	for (int i = 0; i < a->ops; i++) {
		int k = i % 8;
		switch (i % 3) {
		case 0:
			if (mine[k])
				a->errs += pfree(a->p, &mine[k]) != 0;
			a->errs += pmalloc(a->p, &mine[k], 64) != 0;
			break;
		case 1:
			if (mine[k])
				a->errs += pfree(a->p, &mine[k]) != 0;
			break;
		default:
			if (tx_begin(a->p) != 0) {
				a->errs++;
				break;
			}
			pm_off *w = &a->slots[64 + a->id];
			a->errs += tx_add(w, 8) != 0;
			*w = (pm_off)i;
			a->errs += tx_end() != 0;
		}
	}
	return NULL;
}

static void test_gc_pool(void **st)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/pmstore-gc-pool-%d", g_dir, (int)getpid());
	unlink(path);
	flush_group_commit_set(1);
	flush_group_commit_wait(-1);
	pm_pool *p = pm_create(path, PM_MIN_POOL_SIZE, 0600);
	assert_non_null(p);
	if (pm_is_pmem(p)) {
		pm_close(p);
		unlink(path);
		skip();
	}
	pm_off *slots = pm_direct(p, pm_root(p, 128 * sizeof(pm_off)));
	assert_non_null(slots);
	trace_reset();
	int ops = getenv("PMSTORE_TEST_QUICK") ? 30 : 90;
	pthread_t th[NTH];
	struct parg a[NTH];
	for (int i = 0; i < NTH; i++) {
		a[i] = (struct parg){ .p = p, .slots = slots, .id = i, .ops = ops };
		pthread_create(&th[i], NULL, pool_thread, &a[i]);
	}
	for (int i = 0; i < NTH; i++)
		pthread_join(th[i], NULL);
	unsigned drains = check_coverage("pool");
	printf("pool: %u drains, %u batches, %u msyncs\n", drains, count_kind(FLUSH_EV_BATCH),
	       count_kind(FLUSH_EV_MSYNC_START));
	for (int i = 0; i < NTH; i++)
		assert_int_equal(a[i].errs, 0);
	assert_pool_ok(p);
	pm_close(p);
	p = pm_open(path);
	assert_non_null(p);
	assert_pool_ok(p);
	pm_close(p);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gc_shared_batch),
		cmocka_unit_test(test_gc_error_reaches_every_waiter),
		cmocka_unit_test(test_gc_stress),
		cmocka_unit_test(test_gc_pool),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
