/*
 * test_api.c -- the calls of issue 12 that PMDK users reach for, one test
 * each: pm_realloc, pm_strdup, tx_prealloc, tx_strdup, growing the root,
 * typed offsets (PM_TOID), persistent locks (pm_mutex, pm_rwlock, tx_lock),
 * the tx helpers (tx_memcpy, tx_memset, PM_TX_SET) and the PM_TX block.
 * Functional behaviour, errors, fences per call (pm_stats), and what a
 * reopen (clean) shows.  Crash behaviour is checked elsewhere: the ops are
 * in tests/test_crash_model.c's op mix (power-loss images at every fence,
 * DRAM oracle) and the PM_TX / lock behaviour across kill -9 in the
 * examples' kill tests.  Can NOT catch: crashes (none are simulated here),
 * thread interleavings beyond the few the lock tests force.
 */
#include "test_common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define POOL_SZ ((size_t)32 << 20)

struct root {
	pm_off a, b;
	uint64_t words[16];
};

static char path[256];
static pm_pool *pool;
static struct root *rt;

static int setup(void **state)
{
	test_pool_path(path, sizeof(path), "api");
	pool = pm_create(path, POOL_SZ, 0600);
	assert_non_null(pool);
	rt = pm_direct(pool, pm_root(pool, sizeof(struct root)));
	assert_non_null(rt);
	return 0;
}

static int teardown(void **state)
{
	if (pool) {
		assert_pool_ok(pool);
		pm_close(pool);
	}
	pool = NULL;
	unlink(path);
	return 0;
}

static void reopen(void)
{
	pm_close(pool);
	pool = pm_open(path);
	assert_non_null(pool);
	rt = pm_direct(pool, pm_root(pool, sizeof(struct root)));
	assert_non_null(rt);
	assert_pool_ok(pool);
}

static uint64_t objects(void)
{
	struct pm_check_report rep;
	assert_int_equal(pm_check(pool, &rep), 0);
	return rep.objects;
}

static uint64_t fences(void)
{
	struct pm_stats st;
	pm_stats_get(pool, &st);
	return st.fences;
}

static void fill(pm_off off, size_t n, unsigned seed)
{
	unsigned char *d = pm_direct(pool, off);
	for (size_t i = 0; i < n; i++)
		d[i] = (unsigned char)(seed + i * 7);
}

static int filled(pm_off off, size_t n, unsigned seed)
{
	const unsigned char *d = pm_direct(pool, off);
	for (size_t i = 0; i < n; i++)
		if (d[i] != (unsigned char)(seed + i * 7))
			return 0;
	return 1;
}

/* ---- pm_realloc --------------------------------------------------------- */

static void test_pm_realloc(void **state)
{
	uint64_t n0 = objects();
	/* *dest == 0: an allocation */
	assert_int_equal(pm_realloc(pool, &rt->a, 100), 0);
	assert_true(rt->a != 0);
	assert_int_equal(objects(), n0 + 1);
	fill(rt->a, 100, 1);
	pm_persist(pool, pm_direct(pool, rt->a), 100);

	/* grow: small -> small, small -> large (a chunk), large -> small */
	static const size_t sizes[] = {1000, 100000, 300, 40};
	size_t have = 100;
	for (unsigned i = 0; i < 4; i++) {
		pm_off old = rt->a;
		assert_int_equal(pm_realloc(pool, &rt->a, sizes[i]), 0);
		assert_true(rt->a != 0 && rt->a != old);
		assert_true(pm_usable_size(pool, rt->a) >= sizes[i]);
		size_t keep = have < sizes[i] ? have : sizes[i];
		assert_true(filled(rt->a, keep, 1));
		assert_int_equal(objects(), n0 + 1); /* the old one is freed */
		if (sizes[i] > have) {
			fill(rt->a, sizes[i], 1);
			pm_persist(pool, pm_direct(pool, rt->a), sizes[i]);
		}
		have = sizes[i];
	}
	reopen();
	assert_true(filled(rt->a, 40, 1));

	/* steady state (runs of both classes exist): 2 fences, as pmalloc */
	for (int k = 0; k < 6; k++) {
		uint64_t f0 = fences();
		assert_int_equal(pm_realloc(pool, &rt->a, k % 2 ? 40 : 1000), 0);
		if (k >= 2) /* the first two may format a run */
			assert_int_equal(fences() - f0, 2);
	}
	assert_true(filled(rt->a, 40, 1));

	/* fits and more than half used: nothing moves, nothing is written */
	size_t us = pm_usable_size(pool, rt->a);
	pm_off same = rt->a;
	uint64_t f0 = fences();
	assert_int_equal(pm_realloc(pool, &rt->a, us), 0);
	assert_int_equal(rt->a, same);
	assert_int_equal(fences(), f0);

	/* errors: a word that is not an object, dest inside the object */
	rt->b = rt->a + 8;
	assert_int_equal(pm_realloc(pool, &rt->b, 64), PM_EINVAL);
	assert_int_equal(rt->b, rt->a + 8);
	rt->b = 0;
	pm_off *inside = pm_direct(pool, rt->a);
	*inside = rt->a;
	assert_int_equal(pm_realloc(pool, inside, 4000), PM_EINVAL);
	assert_int_equal(pm_realloc(pool, (pm_off *)rt, 1ull << 50), PM_EINVAL);
	assert_int_equal(pm_realloc(pool, NULL, 8), PM_EINVAL);

	/* no room: nothing changes */
	pm_off before = rt->a;
	assert_int_equal(pm_realloc(pool, &rt->a, POOL_SZ), PM_ENOSPC);
	assert_int_equal(rt->a, before);
	assert_int_equal(objects(), n0 + 1);

	/* size 0: a free */
	assert_int_equal(pm_realloc(pool, &rt->a, 0), 0);
	assert_int_equal(rt->a, 0);
	assert_int_equal(objects(), n0);
	/* a tx_pfree'd object is refused while the transaction runs */
	assert_int_equal(pmalloc(pool, &rt->a, 64), 0);
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_pfree(rt->a), 0);
	assert_int_equal(pm_realloc(pool, &rt->a, 4000), PM_EINVAL);
	tx_abort(0);
	assert_int_equal(tx_end(), PM_ECANCELED);
	assert_int_equal(pm_realloc(pool, &rt->a, 0), 0);
}

static void test_pm_strdup(void **state)
{
	assert_int_equal(pmalloc(pool, &rt->a, 12), 0); /* the class's run exists */
	assert_int_equal(pfree(pool, &rt->a), 0);
	uint64_t n0 = objects(), f0 = fences();
	assert_int_equal(pm_strdup(pool, &rt->a, "hello, pool"), 0);
	assert_int_equal(fences() - f0, 2);
	assert_string_equal(pm_direct(pool, rt->a), "hello, pool");
	assert_int_equal(pm_strdup(pool, &rt->b, ""), 0);
	assert_string_equal(pm_direct(pool, rt->b), "");
	assert_int_equal(objects(), n0 + 2);
	reopen();
	assert_string_equal(pm_direct(pool, rt->a), "hello, pool");
	assert_int_equal(pm_strdup(pool, NULL, "x"), PM_EINVAL);
	assert_int_equal(pm_strdup(pool, &rt->words[0], NULL), PM_EINVAL);
	uint64_t junk;
	assert_int_equal(pm_strdup(pool, &junk, "x"), PM_EINVAL); /* dest outside */
	assert_int_equal(objects(), n0 + 2);
	assert_int_equal(pfree(pool, &rt->a), 0);
	assert_int_equal(pfree(pool, &rt->b), 0);
}

/* ---- tx_prealloc / tx_strdup ------------------------------------------ */

static void test_tx_prealloc(void **state)
{
	uint64_t n0 = objects();
	assert_int_equal(pmalloc(pool, &rt->a, 200), 0);
	fill(rt->a, 200, 3);
	pm_persist(pool, pm_direct(pool, rt->a), 200);
	pm_off old = rt->a;

	/* abort: the old object stays, the new one never existed */
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_add(&rt->a, 8), 0);
	pm_off n = tx_prealloc(rt->a, 5000);
	assert_true(n != 0 && n != old);
	assert_true(filled(n, 200, 3));
	rt->a = n;
	tx_abort(0);
	assert_int_equal(tx_end(), PM_ECANCELED);
	assert_int_equal(rt->a, old);
	assert_int_equal(objects(), n0 + 1);

	/* commit: moved, old freed; then grow an object of the same tx */
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_add(&rt->a, 8), 0);
	n = tx_prealloc(rt->a, 5000);
	assert_true(n != 0);
	rt->a = n;
	fill(n + 200, 4800, 9);
	pm_off m = tx_prealloc(0, 50);  /* = tx_pmalloc */
	assert_true(m != 0);
	fill(m, 50, 5);
	pm_off m2 = tx_prealloc(m, 70000);  /* an object of this transaction */
	assert_true(m2 != 0 && m2 != m);
	assert_true(filled(m2, 50, 5));
	assert_int_equal(tx_add(&rt->b, 8), 0);
	rt->b = m2;
	assert_int_equal(tx_prealloc(rt->a, 4999), rt->a); /* fits: stays */
	assert_int_equal(tx_end(), 0);
	assert_int_equal(objects(), n0 + 2);
	reopen();
	assert_true(filled(rt->a, 200, 3));
	assert_true(filled(rt->a + 200, 4800, 9));
	assert_true(filled(rt->b, 50, 5));

	/* size 0 frees at commit */
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_add(rt, 16), 0);
	assert_int_equal(tx_prealloc(rt->b, 0), 0);
	rt->b = 0;
	assert_int_equal(tx_end(), 0);
	assert_int_equal(objects(), n0 + 1);

	/* errors abort the transaction */
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_prealloc(rt->a + 8, 100), 0);
	assert_int_equal(pm_last_error(), PM_EINVAL);
	assert_int_equal(tx_stage(), PM_TX_STAGE_ONABORT);
	assert_int_equal(tx_end(), PM_EINVAL);
	assert_int_equal(tx_prealloc(rt->a, 100), 0); /* outside a transaction */
	assert_int_equal(pm_last_error(), PM_ETX);
	assert_int_equal(pfree(pool, &rt->a), 0);
	assert_int_equal(objects(), n0);
}

static void test_tx_strdup(void **state)
{
	uint64_t n0 = objects();
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_add(&rt->a, 8), 0);
	rt->a = tx_strdup("persistent");
	assert_true(rt->a != 0);
	assert_int_equal(tx_end(), 0);
	reopen();
	assert_string_equal(pm_direct(pool, rt->a), "persistent");
	assert_int_equal(objects(), n0 + 1);
	/* abort: no object */
	assert_int_equal(tx_begin(pool), 0);
	assert_true(tx_strdup("gone") != 0);
	tx_abort(0);
	assert_int_equal(tx_end(), PM_ECANCELED);
	assert_int_equal(objects(), n0 + 1);
	assert_int_equal(tx_strdup("x"), 0);
	assert_int_equal(pm_last_error(), PM_ETX);
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_strdup(NULL), 0);
	assert_int_equal(tx_end(), PM_EINVAL);
	assert_int_equal(pfree(pool, &rt->a), 0);
}

/* ---- growing the root ------------------------------------------------- */

static void test_root_grow(void **state)
{
	for (int i = 0; i < 16; i++)
		rt->words[i] = 1000 + i;
	pm_persist(pool, rt->words, sizeof(rt->words));
	pm_off r0 = pm_root(pool, sizeof(struct root));
	size_t us = pm_usable_size(pool, r0);
	uint64_t n0 = objects();

	/* smaller or equal: nothing happens */
	uint64_t f0 = fences();
	assert_int_equal(pm_root(pool, 8), r0);
	assert_int_equal(pm_root_size(pool), sizeof(struct root));
	assert_int_equal(fences(), f0);

	/* in place (up to the usable size): same offset, tail zero */
	if (us > sizeof(struct root)) {
		memset((char *)rt + sizeof(struct root), 0x77, us - sizeof(struct root));
		f0 = fences();
		assert_int_equal(pm_root(pool, us), r0);
		assert_int_equal(fences() - f0, 2);
		assert_int_equal(pm_root_size(pool), us);
		const unsigned char *t = (const unsigned char *)rt + sizeof(struct root);
		for (size_t i = 0; i < us - sizeof(struct root); i++)
			assert_int_equal(t[i], 0);
	}
	/* moved: inside a transaction refused, outside it moves */
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(pm_root(pool, 100000), 0);
	assert_int_equal(pm_last_error(), PM_ETX);
	assert_int_equal(tx_end(), 0);
	pm_off r1 = pm_root(pool, 100000);
	assert_true(r1 != 0 && r1 != r0);
	assert_int_equal(pm_root_size(pool), 100000);
	assert_int_equal(objects(), n0); /* the old root is freed */
	reopen();
	assert_int_equal(pm_root(pool, 1), r1);
	assert_int_equal(pm_root_size(pool), 100000);
	for (int i = 0; i < 16; i++)
		assert_int_equal(rt->words[i], 1000 + i);
	const unsigned char *t = (const unsigned char *)rt + sizeof(struct root);
	for (size_t i = 0; i < 100000 - sizeof(struct root); i++)
		assert_int_equal(t[i], 0);
	/* too large: refused, the root unchanged */
	assert_int_equal(pm_root(pool, POOL_SZ), 0);
	assert_int_equal(pm_last_error(), PM_ENOSPC);
	assert_int_equal(pm_root(pool, 1), r1);
	assert_int_equal(pm_root_size(pool), 100000);
}

/* ---- typed offsets ---------------------------------------------------- */

struct tnode;
PM_TOID_DECLARE(struct tnode);
struct tnode {
	PM_TOID(struct tnode) next;
	uint64_t v;
};
struct troot {
	PM_TOID(struct tnode) head;
	uint64_t n;
};
PM_TOID_DECLARE(struct troot);
_Static_assert(sizeof(PM_TOID(struct tnode)) == sizeof(pm_off), "a typed offset is a pm_off");

static void test_typed(void **state)
{
	PM_TOID(struct troot) r = PM_ROOT(pool, struct troot);
	assert_false(PM_TOID_IS_NULL(r));
	assert_int_equal(PM_TOID_OFF(r), pm_root(pool, 1));
	struct troot *tr = PM_D_RW(pool, r);
	/* atomic: allocation sized by the declared type */
	PM_TOID(struct tnode) n = PM_TOID_NULL(struct tnode);
	assert_int_equal(PM_ZNEW(pool, tr->head), 0);
	assert_true(pm_usable_size(pool, PM_TOID_OFF(tr->head)) >= sizeof(struct tnode));
	assert_int_equal(PM_D_RO(pool, tr->head)->v, 0);
	/* transactional: push 3 nodes */
	for (uint64_t i = 1; i <= 3; i++) {
		assert_int_equal(tx_begin(pool), 0);
		n = PM_TX_ZNEW(struct tnode);
		assert_false(PM_TOID_IS_NULL(n));
		PM_D_RW(pool, n)->v = i;
		PM_D_RW(pool, n)->next = tr->head;
		assert_int_equal(PM_TX_ADD_FIELD(pool, r, head), 0);
		assert_int_equal(PM_TX_ADD_FIELD(pool, r, n), 0);
		tr->head = n;
		tr->n++;
		assert_int_equal(tx_end(), 0);
	}
	assert_true(PM_TOID_EQUALS(tr->head, n));
	reopen();
	r = PM_ROOT(pool, struct troot);
	tr = PM_D_RW(pool, r);
	uint64_t want = 3, count = 0;
	for (PM_TOID(struct tnode) c = tr->head; !PM_TOID_IS_NULL(c); c = PM_D_RO(pool, c)->next) {
		assert_int_equal(PM_D_RO(pool, c)->v, want);
		want = want ? want - 1 : 0;
		count++;
	}
	assert_int_equal(count, 4);
	assert_int_equal(tr->n, 3);
	/* the whole object, then free it inside a transaction */
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(PM_TX_ADD(pool, r), 0);
	PM_TOID(struct tnode) h = tr->head;
	tr->head = PM_D_RO(pool, h)->next;
	assert_int_equal(PM_TX_FREE(h), 0);
	assert_int_equal(tx_end(), 0);
	assert_int_equal(PM_D_RO(pool, tr->head)->v, 2);
	assert_int_equal(PM_NEW(pool, n), PM_EINVAL); /* n is not in the pool */
	PM_TOID(struct tnode) x = PM_D_RO(pool, tr->head)->next;
	assert_int_equal(PM_FREE(pool, PM_D_RW(pool, tr->head)->next), 0);
	assert_true(PM_TOID_IS_NULL(PM_D_RO(pool, tr->head)->next));
	assert_false(PM_TOID_IS_NULL(x));
	/* the rest leaks on purpose: teardown's pm_check only checks shape */
}

/* ---- persistent locks -------------------------------------------------- */

struct lroot {
	pm_off a, b;
	pm_mutex m;
	pm_rwlock rw;
	pm_cond cv;
	uint64_t counter, ready;
};

static struct lroot *lrt(void)
{
	return pm_direct(pool, pm_root(pool, sizeof(struct lroot)));
}

static void *try_mutex(void *arg)
{
	return (void *)(intptr_t)pm_mutex_trylock(pool, arg);
}

/* free? (taken and given back by the other thread itself: a mutex must be
 * unlocked by the thread that holds it) */
static void *try_mutex_release(void *arg)
{
	int rc = pm_mutex_trylock(pool, arg);
	if (rc == 0)
		pm_mutex_unlock(pool, arg);
	return (void *)(intptr_t)rc;
}

static void *try_wr(void *arg)
{
	return (void *)(intptr_t)pm_rwlock_trywrlock(pool, arg);
}

static void *try_rd(void *arg)
{
	int rc = pm_rwlock_tryrdlock(pool, arg);
	if (rc == 0)
		pm_rwlock_unlock(pool, arg);
	return (void *)(intptr_t)rc;
}

static int other_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	void *ret;
	assert_int_equal(pthread_create(&t, NULL, fn, arg), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	return (int)(intptr_t)ret;
}

static void *counter_thread(void *arg)
{
	struct lroot *r = arg;
	for (int i = 0; i < 20000; i++) {
		if (pm_mutex_lock(pool, &r->m))
			return (void *)1;
		uint64_t v = r->counter; /* a plain read-modify-write under the lock */
		r->counter = v + 1;
		pm_mutex_unlock(pool, &r->m);
	}
	return NULL;
}

/* Locks held by a process that dies, then the pool opened again: the
 * locks work without anyone resetting them (each open is a new run). */
static void test_plock_survives_kill(void **state)
{
	struct lroot *r = lrt();
	assert_int_equal(pm_mutex_lock(pool, &r->m), 0);
	assert_int_equal(other_thread(try_mutex, &r->m), PM_EBUSY);
	assert_int_equal(pm_mutex_unlock(pool, &r->m), 0);
	pm_close(pool);
	pool = NULL;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pm_pool *p = pm_open(path);
		if (!p)
			_exit(2);
		struct lroot *cr = pm_direct(p, pm_root(p, sizeof(struct lroot)));
		if (pm_mutex_lock(p, &cr->m) || pm_rwlock_wrlock(p, &cr->rw))
			_exit(3);
		pm_persist(p, cr, sizeof(*cr)); /* the held state on media too */
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	pool = pm_open(path);
	assert_non_null(pool);
	r = lrt();
	/* the bytes say "held" (by a thread of a dead process) */
	assert_int_equal(pm_mutex_trylock(pool, &r->m), 0);
	assert_int_equal(other_thread(try_mutex, &r->m), PM_EBUSY);
	assert_int_equal(pm_mutex_unlock(pool, &r->m), 0);
	assert_int_equal(pm_rwlock_trywrlock(pool, &r->rw), 0);
	assert_int_equal(other_thread(try_rd, &r->rw), PM_EBUSY);
	assert_int_equal(pm_rwlock_unlock(pool, &r->rw), 0);
	/* and a lock held when the pool is closed, in this process */
	assert_int_equal(pm_mutex_lock(pool, &r->m), 0);
	reopen();
	r = lrt();
	assert_int_equal(other_thread(try_mutex_release, &r->m), 0);
}

static void test_plock_threads(void **state)
{
	struct lroot *r = lrt();
	pthread_t t[4];
	/* four threads race to the lock's first use in this run, then count */
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, counter_thread, r), 0);
	for (int i = 0; i < 4; i++) {
		void *ret;
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(r->counter, 80000);
	/* readers share, a writer excludes */
	assert_int_equal(pm_rwlock_rdlock(pool, &r->rw), 0);
	assert_int_equal(other_thread(try_rd, &r->rw), 0);
	assert_int_equal(other_thread(try_wr, &r->rw), PM_EBUSY);
	assert_int_equal(pm_rwlock_unlock(pool, &r->rw), 0);
	assert_int_equal(other_thread(try_wr, &r->rw), 0); /* and keeps it */
	assert_int_equal(pm_rwlock_tryrdlock(pool, &r->rw), PM_EBUSY);
	/* errors */
	pm_mutex dram;
	memset(&dram, 0, sizeof(dram));
	assert_int_equal(pm_mutex_lock(pool, &dram), PM_EINVAL);
	assert_int_equal(pm_mutex_lock(NULL, &r->m), PM_EINVAL);
	assert_int_equal(pm_mutex_lock(pool, (pm_mutex *)((char *)pm_base(pool) + pm_size(pool) - 32)),
	                 PM_EINVAL);
}

static void *cond_producer(void *arg)
{
	struct lroot *r = arg;
	pm_mutex_lock(pool, &r->m);
	r->ready = 42;
	pm_cond_signal(pool, &r->cv);
	pm_mutex_unlock(pool, &r->m);
	return NULL;
}

static void test_plock_cond(void **state)
{
	struct lroot *r = lrt();
	pthread_t t;
	assert_int_equal(pm_mutex_lock(pool, &r->m), 0);
	assert_int_equal(pthread_create(&t, NULL, cond_producer, r), 0);
	while (r->ready != 42)
		assert_int_equal(pm_cond_wait(pool, &r->cv, &r->m), 0);
	assert_int_equal(pm_mutex_unlock(pool, &r->m), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	assert_int_equal(pm_mutex_lock(pool, &r->m), 0);
	assert_int_equal(pm_cond_timedwait(pool, &r->cv, &r->m, &ts), PM_EBUSY); /* timed out */
	assert_int_equal(pm_mutex_unlock(pool, &r->m), 0);
	assert_int_equal(pm_cond_broadcast(pool, &r->cv), 0);
}

static void test_tx_lock(void **state)
{
	struct lroot *r = lrt();
	assert_int_equal(tx_lock(PM_LOCK_MUTEX, &r->m), PM_ETX); /* no transaction */
	/* held until the outermost end, committed */
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_lock(PM_LOCK_MUTEX, &r->m), 0);
	assert_int_equal(tx_lock(PM_LOCK_MUTEX, &r->m), 0); /* again: not re-taken */
	assert_int_equal(tx_lock(PM_LOCK_RWLOCK_WR, &r->rw), 0);
	assert_int_equal(tx_add(&r->counter, 8), 0);
	r->counter = 5;
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_end(), 0);
	assert_int_equal(other_thread(try_mutex, &r->m), PM_EBUSY); /* inner end: still held */
	assert_int_equal(tx_commit(), 0);
	assert_int_equal(other_thread(try_mutex, &r->m), PM_EBUSY); /* committed, not ended */
	assert_int_equal(other_thread(try_rd, &r->rw), PM_EBUSY);
	assert_int_equal(tx_end(), 0);
	assert_int_equal(other_thread(try_mutex_release, &r->m), 0); /* released */
	/* aborted: released too; a failed tx_lock aborts */
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_lock(PM_LOCK_RWLOCK_RD, &r->rw), 0);
	assert_int_equal(other_thread(try_rd, &r->rw), 0);
	assert_int_equal(other_thread(try_wr, &r->rw), PM_EBUSY);
	tx_abort(0);
	assert_int_equal(tx_end(), PM_ECANCELED);
	assert_int_equal(other_thread(try_wr, &r->rw), 0);
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_lock((enum pm_lock_kind)9, &r->m), PM_EINVAL);
	assert_int_equal(tx_stage(), PM_TX_STAGE_ONABORT);
	assert_int_equal(tx_end(), PM_EINVAL);
}

/* ---- tx_memcpy / tx_memset / PM_TX_SET ---------------------------------- */

static void test_tx_write_helpers(void **state)
{
	char src[64];
	for (int i = 0; i < 64; i++)
		src[i] = (char)(i + 1);
	/* a warm-up transaction (the lane's first) */
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(PM_TX_SET(rt->words[15], 1), 0);
	assert_int_equal(tx_end(), 0);

	uint64_t f0 = fences();
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_memcpy(rt->words, src, 64), 0);
	uint64_t f1 = fences();
	assert_int_equal(f1 - f0, 1); /* tx_add's fence */
	assert_int_equal(tx_memset(&rt->words[2], 0xee, 8), 0); /* covered: none */
	assert_int_equal(PM_TX_SET(rt->words[3], 77), 0);
	assert_int_equal(fences(), f1);
	assert_int_equal(tx_end(), 0);
	assert_int_equal(fences() - f0, 2); /* as tx { add 64 B; write } */
	reopen();
	assert_memory_equal(rt->words, src, 16);
	assert_int_equal(rt->words[2], 0xeeeeeeeeeeeeeeeeull);
	assert_int_equal(rt->words[3], 77);
	assert_memory_equal(&rt->words[4], src + 32, 32);

	/* abort restores; a new object's bytes need no snapshot (no fence) */
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_memset(rt->words, 0, 64), 0);
	assert_int_equal(PM_TX_SET(rt->b, 5), 0);
	pm_off o = tx_pmalloc(256);
	assert_true(o != 0);
	f0 = fences();
	assert_int_equal(tx_memcpy(pm_direct(pool, o), src, 64), 0);
	assert_int_equal(tx_memset((char *)pm_direct(pool, o) + 64, 1, 192), 0);
	assert_int_equal(fences(), f0);
	tx_abort(0);
	assert_int_equal(tx_end(), PM_ECANCELED);
	assert_memory_equal(rt->words, src, 16);
	assert_int_equal(rt->b, 0);
	/* overlapping copy, and an error aborts */
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_memcpy((char *)rt->words + 8, rt->words, 24), 0);
	assert_memory_equal((char *)rt->words + 8, src, 16);
	uint64_t dram[2];
	assert_int_equal(tx_memcpy(dram, src, 16), PM_ERANGE);
	assert_int_equal(tx_stage(), PM_TX_STAGE_ONABORT);
	assert_int_equal(tx_end(), PM_ERANGE);
	assert_memory_equal(rt->words, src, 16);
	assert_int_equal(tx_memset(rt->words, 0, 8), PM_ETX); /* no transaction */
}

/* ---- PM_TX -------------------------------------------------------------- */

#ifdef PM_TEST_NAIVE_TX
/* The PMDK-style shape (what test_api_naive_tx builds): a `break` or
 * `return` in the body skips the end.  test_pm_tx_early_exit must fail. */
#undef PM_TX
#define PM_TX(pool, rc) \
	for (int pm_once_ = (tx_begin(pool), 1); pm_once_; pm_once_ = 0, (rc) = tx_end())
#endif

static int tx_body_returns(int *rc)
{
	PM_TX(pool, *rc) {
		if (PM_TX_SET(rt->words[0], 11))
			return -1;
		return 7; /* the end still runs: committed */
	}
	return 0;
}

static int tx_nested_returns(void)
{
	int outer = -99, inner = -99;
	(void)outer;
	(void)inner;
	PM_TX(pool, outer) {
		PM_TX_SET(rt->words[5], 55);
		PM_TX(pool, inner) {
			PM_TX_SET(rt->words[6], 66);
			return 1;
		}
	}
	return 0;
}

static void test_pm_tx_early_exit(void **state)
{
	int rc = -99;
	/* normal end */
	PM_TX(pool, rc) {
		PM_TX_SET(rt->words[1], 1);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(tx_stage(), PM_TX_STAGE_NONE);
	/* return from inside */
	int rc2 = -99;
	assert_int_equal(tx_body_returns(&rc2), 7);
	assert_int_equal(tx_stage(), PM_TX_STAGE_NONE);
	assert_int_equal(rc2, 0);
	/* break: the rest of the body is skipped, the end is not */
	rc = -99;
	PM_TX(pool, rc) {
		PM_TX_SET(rt->words[2], 2);
		if (rt->words[2] == 2)
			break;
		PM_TX_SET(rt->words[3], 3);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(tx_stage(), PM_TX_STAGE_NONE);
	assert_int_equal(rt->words[3], 0);
	/* goto out of it */
	rc = -99;
	PM_TX(pool, rc) {
		PM_TX_SET(rt->words[4], 4);
		goto out;
	}
out:
	assert_int_equal(rc, 0);
	assert_int_equal(tx_stage(), PM_TX_STAGE_NONE);
	/* nested, returning from the inner block */
	assert_int_equal(tx_nested_returns(), 1);
	assert_int_equal(tx_stage(), PM_TX_STAGE_NONE);
	/* abort + continue: rolled back, rc = the error */
	rc = -99;
	PM_TX(pool, rc) {
		PM_TX_SET(rt->words[7], 7);
		tx_abort(-42);
		continue;
	}
	assert_int_equal(rc, -42);
	assert_int_equal(rt->words[7], 0);
	/* tx_begin fails: the body does not run, the end does */
	rc = -99;
	int ran = 0;
	PM_TX(NULL, rc) {
		ran = 1;
	}
	assert_int_equal(ran, 0);
	assert_int_equal(rc, PM_EINVAL);
	assert_int_equal(tx_stage(), PM_TX_STAGE_NONE);
	reopen();
	static const uint64_t want[8] = {11, 1, 2, 0, 4, 55, 66, 0};
	for (int i = 0; i < 8; i++)
		assert_int_equal(rt->words[i], want[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pm_realloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pm_strdup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_prealloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_strdup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_grow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_typed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plock_survives_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plock_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plock_cond, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_write_helpers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pm_tx_early_exit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
