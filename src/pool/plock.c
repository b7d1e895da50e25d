/*
 * plock.c -- layer 6: persistent locks (issue 12; cf. PMDK's PMEMmutex,
 * PMEMrwlock, PMEMcond): a pm_mutex / pm_rwlock / pm_cond lives inside a
 * pool object and is valid after every open, without the program resetting
 * it, and tx_lock holds one until the calling thread's transaction ends.
 *
 * Model.  A lock is 64 bytes: a run word and a pthread object.  Every open
 * of a pool gets a run id, even and nonzero, that no earlier open of any
 * pool in any process had (a per-process random nonce mixed with the
 * handle's open counter, p->gen; a collision needs the same 64-bit value
 * twice; a child after fork() draws a new nonce).  A lock whose run word
 * is not the pool's current id is from an earlier run -- whatever its pthread bytes say (held by a process that was
 * killed, torn by a crash, never initialised: all zero) -- and is
 * re-initialised on first use: the first thread CASes the run word to the
 * odd "initialising" value id | 1, initialises, and stores id (release);
 * others wait for that.  An odd value left by a crash or an earlier run is
 * never id | 1 of the current run, so it is just stale.  Nothing here is
 * flushed or fenced: a lock's bytes mean nothing across runs, which is the
 * point, so whatever of them reaches media does not matter.
 *
 * Rules for the program (docs/API.md): a lock must not be tx_add'ed (an
 * abort would restore its bytes under a thread that holds it) nor freed or
 * moved (pm_realloc, tx_prealloc) while held; a pmalloc'ed object's bytes
 * are undefined, so a lock in one must be zeroed first (pzalloc, or
 * memset 0) -- unless it was copied whole from an unlocked lock of this
 * run.  A child after fork() cannot use the locks (PM_EFORKED).
 *
 * Can NOT do: locking across processes (a pool is open in one process at a
 * time), robust/priority-inheriting mutexes, detecting a run-id collision.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "pool/pool.h"
#include "base/seeded_bugs.h"

struct plock_mutex {
	_Atomic uint64_t run;
	pthread_mutex_t m;
};
struct plock_rwlock {
	_Atomic uint64_t run;
	pthread_rwlock_t l;
};
struct plock_cond {
	_Atomic uint64_t run;
	pthread_cond_t c;
};
_Static_assert(sizeof(struct plock_mutex) <= sizeof(pm_mutex), "pm_mutex size");
_Static_assert(sizeof(struct plock_rwlock) <= sizeof(pm_rwlock), "pm_rwlock size");
_Static_assert(sizeof(struct plock_cond) <= sizeof(pm_cond), "pm_cond size");

/* ---- run ids ------------------------------------------------------------ */

static uint64_t nonce;
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void nonce_draw(void)
{
	if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		nonce = mix64((uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 30) ^ ((uint64_t)getpid() << 16));
	}
}

static void nonce_init(void)
{
	nonce_draw();
	/* a child after fork() has the parent's open counter (p->gen): its
	 * opens need a nonce of their own (or the parent's next open would
	 * take the run id of the child's, and trust locks the child held) */
	pthread_atfork(NULL, NULL, nonce_draw);
}

/* This open's run id: even, nonzero, different for every open (cached per
 * thread: one compare on the lock path). */
static _Thread_local struct {
	const struct pm_pool *p;
	uint64_t gen, id;
} run_cache;

static uint64_t run_id(const struct pm_pool *p)
{
#if PM_BUG(PM_BUG_LOCK_ONE_RUN)
	return 2; /* BUG: a lock held in an earlier run looks valid */
#endif
	if (run_cache.p == p && run_cache.gen == p->gen && run_cache.id)
		return run_cache.id;
	pthread_once(&nonce_once, nonce_init);
	uint64_t id = mix64(nonce ^ mix64(p->gen ^ ((uint64_t)getpid() << 40))) & ~UINT64_C(1);
	run_cache.p = p;
	run_cache.gen = p->gen;
	run_cache.id = id ? id : 2;
	return run_cache.id;
}

/* ---- the lazy (re)initialisation --------------------------------------- */

static int lock_ok(struct pm_pool *p, const void *l, const char *fn)
{
	if (!p || !l)
		return PM_ERR(PM_EINVAL, "%s: NULL argument", fn);
	const char *c = l;
	if (c < p->base || c + 64 > p->base + pool_size_now(p) || (uintptr_t)c % 8)
		return PM_ERR(PM_EINVAL, "%s: lock %p is not an aligned 64-byte field inside the pool", fn, l);
	if (lane_pool_forked(p))
		return PM_ERR(PM_EFORKED, "%s: pool handle inherited across fork()", fn);
	return 0;
}

enum kind { K_MUTEX, K_RWLOCK, K_COND };

/* Make the lock whose run word is *run valid for this run. */
static void lock_get(struct pm_pool *p, _Atomic uint64_t *run, void *obj, enum kind k)
{
	uint64_t id = run_id(p);
	for (;;) {
		uint64_t v = atomic_load_explicit(run, memory_order_acquire);
		if (v == id)
			return;
		if (v == (id | 1)) { /* another thread initialises it */
			sched_yield();
			continue;
		}
		if (!atomic_compare_exchange_weak_explicit(run, &v, id | 1, memory_order_acquire,
		                                           memory_order_relaxed))
			continue;
		switch (k) {
		case K_MUTEX:
			pthread_mutex_init(obj, NULL);
			break;
		case K_RWLOCK:
			pthread_rwlock_init(obj, NULL);
			break;
		case K_COND:
			pthread_cond_init(obj, NULL);
			break;
		}
		atomic_store_explicit(run, id, memory_order_release);
		return;
	}
}

static int from_errno(int e, const char *fn)
{
	switch (e) {
	case 0:
		return 0;
	case EBUSY:
		return PM_ERR(PM_EBUSY, "%s: the lock is held", fn);
	case ETIMEDOUT:
		return PM_ERR(PM_EBUSY, "%s: timed out", fn);
	default:
		return PM_ERR(PM_EINVAL, "%s: %s", fn, strerror(e));
	}
}

static pthread_mutex_t *mutex_of(struct pm_pool *p, pm_mutex *m)
{
	struct plock_mutex *l = (struct plock_mutex *)(void *)m;
	lock_get(p, &l->run, &l->m, K_MUTEX);
	return &l->m;
}

static pthread_rwlock_t *rwlock_of(struct pm_pool *p, pm_rwlock *rw)
{
	struct plock_rwlock *l = (struct plock_rwlock *)(void *)rw;
	lock_get(p, &l->run, &l->l, K_RWLOCK);
	return &l->l;
}

/* ---- public ------------------------------------------------------------- */

PM_API int pm_mutex_lock(pm_pool *p, pm_mutex *m)
{
	int rc = lock_ok(p, m, "pm_mutex_lock");
	return rc ? rc : from_errno(pthread_mutex_lock(mutex_of(p, m)), "pm_mutex_lock");
}

PM_API int pm_mutex_trylock(pm_pool *p, pm_mutex *m)
{
	int rc = lock_ok(p, m, "pm_mutex_trylock");
	return rc ? rc : from_errno(pthread_mutex_trylock(mutex_of(p, m)), "pm_mutex_trylock");
}

PM_API int pm_mutex_timedlock(pm_pool *p, pm_mutex *m, const struct timespec *abs)
{
	int rc = lock_ok(p, m, "pm_mutex_timedlock");
	return rc ? rc : from_errno(pthread_mutex_timedlock(mutex_of(p, m), abs), "pm_mutex_timedlock");
}

PM_API int pm_mutex_unlock(pm_pool *p, pm_mutex *m)
{
	int rc = lock_ok(p, m, "pm_mutex_unlock");
	return rc ? rc : from_errno(pthread_mutex_unlock(mutex_of(p, m)), "pm_mutex_unlock");
}

PM_API int pm_rwlock_rdlock(pm_pool *p, pm_rwlock *l)
{
	int rc = lock_ok(p, l, "pm_rwlock_rdlock");
	return rc ? rc : from_errno(pthread_rwlock_rdlock(rwlock_of(p, l)), "pm_rwlock_rdlock");
}

PM_API int pm_rwlock_wrlock(pm_pool *p, pm_rwlock *l)
{
	int rc = lock_ok(p, l, "pm_rwlock_wrlock");
	return rc ? rc : from_errno(pthread_rwlock_wrlock(rwlock_of(p, l)), "pm_rwlock_wrlock");
}

PM_API int pm_rwlock_tryrdlock(pm_pool *p, pm_rwlock *l)
{
	int rc = lock_ok(p, l, "pm_rwlock_tryrdlock");
	return rc ? rc : from_errno(pthread_rwlock_tryrdlock(rwlock_of(p, l)), "pm_rwlock_tryrdlock");
}

PM_API int pm_rwlock_trywrlock(pm_pool *p, pm_rwlock *l)
{
	int rc = lock_ok(p, l, "pm_rwlock_trywrlock");
	return rc ? rc : from_errno(pthread_rwlock_trywrlock(rwlock_of(p, l)), "pm_rwlock_trywrlock");
}

PM_API int pm_rwlock_unlock(pm_pool *p, pm_rwlock *l)
{
	int rc = lock_ok(p, l, "pm_rwlock_unlock");
	return rc ? rc : from_errno(pthread_rwlock_unlock(rwlock_of(p, l)), "pm_rwlock_unlock");
}

static pthread_cond_t *cond_of(struct pm_pool *p, pm_cond *c)
{
	struct plock_cond *l = (struct plock_cond *)(void *)c;
	lock_get(p, &l->run, &l->c, K_COND);
	return &l->c;
}

PM_API int pm_cond_wait(pm_pool *p, pm_cond *c, pm_mutex *m)
{
	int rc = lock_ok(p, c, "pm_cond_wait");
	if (!rc)
		rc = lock_ok(p, m, "pm_cond_wait");
	return rc ? rc : from_errno(pthread_cond_wait(cond_of(p, c), mutex_of(p, m)), "pm_cond_wait");
}

PM_API int pm_cond_timedwait(pm_pool *p, pm_cond *c, pm_mutex *m, const struct timespec *abs)
{
	int rc = lock_ok(p, c, "pm_cond_timedwait");
	if (!rc)
		rc = lock_ok(p, m, "pm_cond_timedwait");
	return rc ? rc : from_errno(pthread_cond_timedwait(cond_of(p, c), mutex_of(p, m), abs),
	                            "pm_cond_timedwait");
}

PM_API int pm_cond_signal(pm_pool *p, pm_cond *c)
{
	int rc = lock_ok(p, c, "pm_cond_signal");
	return rc ? rc : from_errno(pthread_cond_signal(cond_of(p, c)), "pm_cond_signal");
}

PM_API int pm_cond_broadcast(pm_pool *p, pm_cond *c)
{
	int rc = lock_ok(p, c, "pm_cond_broadcast");
	return rc ? rc : from_errno(pthread_cond_broadcast(cond_of(p, c)), "pm_cond_broadcast");
}

/* ---- tx_lock: held until the transaction ends --------------------------- */

static void unlock_mutex(void *l)
{
	pthread_mutex_unlock(&((struct plock_mutex *)l)->m);
}

static void unlock_rwlock(void *l)
{
	pthread_rwlock_unlock(&((struct plock_rwlock *)l)->l);
}

PM_API int tx_lock(enum pm_lock_kind kind, void *lock)
{
	pm_pool *p = tx_pool();
	if (!p || tx_stage() != PM_TX_STAGE_WORK)
		return PM_ERR(PM_ETX, "tx_lock: no transaction at work in this thread");
	int rc = lock_ok(p, lock, "tx_lock");
	if (rc || (kind != PM_LOCK_MUTEX && kind != PM_LOCK_RWLOCK_WR && kind != PM_LOCK_RWLOCK_RD)) {
		if (!rc)
			rc = PM_ERR(PM_EINVAL, "tx_lock: unknown lock kind %d", (int)kind);
		tx_abort(rc);
		return rc;
	}
	if (tx_lock_held(lock))
		return 0; /* taken by this transaction already */
	rc = kind == PM_LOCK_MUTEX ? pm_mutex_lock(p, lock)
	     : kind == PM_LOCK_RWLOCK_WR ? pm_rwlock_wrlock(p, lock)
	                                 : pm_rwlock_rdlock(p, lock);
	if (!rc) {
		rc = tx_lock_push(lock, kind == PM_LOCK_MUTEX ? unlock_mutex : unlock_rwlock);
		if (rc)
			(kind == PM_LOCK_MUTEX ? unlock_mutex : unlock_rwlock)(lock);
	}
	if (rc)
		tx_abort(rc);
	return rc;
}
