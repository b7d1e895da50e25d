/*
 * flush.c -- layer 1: flush tables over libpmem (see flush.h).
 *
 * The msync path batches: flush() only records the range (page-rounded) in
 * a small per-thread list and drain() msyncs what was recorded, so a
 * publish that flushes five ranges costs one fence worth of msync calls,
 * not five.  That keeps the model (nothing is promised durable before
 * drain) and the fence count identical on both paths.
 *
 * GROUP COMMIT.  On a disk file a drain is an msync that waits for the
 * device (100-250 us on ext4 here), and threads that drain at the same
 * time can share one.  A draining thread registers (under gc.mu) a waiter
 * naming its pending ranges and then either follows or leads:
 *   - if a leader exists, it waits for done_cv;
 *   - else it becomes the leader: it takes EVERY registered waiter (itself
 *     included) as its batch, drops the lock, msyncs the union of their
 *     ranges (sorted; runs within 4 MiB as one span), re-locks, marks each
 *     waiter of the batch done with the batch's result, and wakes everyone.
 *     A waiter not done when the leader goes becomes the next leader.
 * Why a follower may return when its waiter is done.  Its stores were made
 * before it registered, to a MAP_SHARED mapping of the file: they are in
 * the file's page cache (a store to a clean page faults and dirties it
 * first), where any msync of those pages writes them back, whichever
 * thread calls it.  Its waiter was registered before the leader took the
 * batch (both under gc.mu), so every msync of that batch STARTED after the
 * registration, covers the follower's ranges, and had COMPLETED when the
 * leader marked it done (the follower reads `done` under gc.mu).  An msync
 * already in flight when a thread registers does not count for it -- the
 * kernel may have written the page before the store (or be writing it) --
 * which is why a registering thread never joins a batch already taken:
 * it waits for the next.  So a drain still returns only after an msync
 * that started after its ranges were registered has completed, and
 * nothing is durable before drain returns (the flush.h model, unchanged).
 * Errors: the batch's first msync error is the result of every waiter it
 * served (flush_tls_error in each thread, then the fence's -1 and the
 * pool's failed state, lane.c); a range of the batch that failed may be
 * anyone's, so no waiter of it may think itself durable.
 * Gathering: with two threads, a leader that starts at once serves only
 * itself (the other thread's stores come while the sync runs), and the
 * two alternate, one msync per drain.  So a leader waits, bounded, for the
 * threads the last two batches served that have not registered yet (they
 * are expected to drain soon), up to half the last sync's duration
 * (PMSTORE_GROUP_COMMIT_WAIT_US fixes it); a joiner that comes saves a
 * whole sync, one that does not costs that wait once.  Nothing waits
 * unboundedly on another thread: a follower waits only for a leader that
 * is in msync or in its bounded gathering, so a thread spinning elsewhere
 * on the leader (lane.c's in-flight wait) delays it at most the bound.
 * Where syncs are cheap (< 20 us measured: tmpfs, whose msync writes
 * nothing back) there is no gathering, and a thread that finds a sync in
 * flight does its own msync instead of sleeping behind it.
 * One thread alone takes no lock: while no other thread drained lately, a
 * drain takes the leader state by one compare-and-swap, msyncs its own
 * ranges (a batch of one) and clears the state by one exchange -- a
 * thread that came meanwhile marked itself waiting there and is woken to
 * lead the next batch.  No clock reads, no waiting (docs/PERFORMANCE.md,
 * group commit: within the noise on tmpfs, where an msync is ~0.4 us).
 * PMSTORE_GROUP_COMMIT=0 restores one msync per drain by its own thread.
 * A test seam (flush_msync_set_hook) reports registration, batches, each
 * msync's start and end and each return, and injects msync failures;
 * tests/test_flush_group.c checks the argument above against it.
 */
#include "flush.h"

#include <errno.h>
#include <libpmem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/seeded_bugs.h"

/* ---- pmem path -------------------------------------------------------- */

static void pmem_path_flush(const void *addr, size_t len)
{
	pmem_flush(addr, len);
}

static void pmem_path_drain(void)
{
	pmem_drain();
}

static void *pmem_path_memcpy(void *dst, const void *src, size_t len)
{
	return pmem_memcpy(dst, src, len, PMEM_F_MEM_NODRAIN);
}

static void *pmem_path_memset(void *dst, int c, size_t len)
{
	return pmem_memset(dst, c, len, PMEM_F_MEM_NODRAIN);
}

const struct flush_ops flush_ops_pmem = {
	.name = "pmem",
	.flush = pmem_path_flush,
	.drain = pmem_path_drain,
	.memcpy_nodrain = pmem_path_memcpy,
	.memset_nodrain = pmem_path_memset,
};

/* ---- msync path ------------------------------------------------------- */

#define MSYNC_PENDING_MAX 16
#define PAGE_MASK_ ((uintptr_t)4095)

struct msync_pending {
	unsigned n;
	uintptr_t lo[MSYNC_PENDING_MAX];
	uintptr_t hi[MSYNC_PENDING_MAX];
};

static _Thread_local struct msync_pending tls_pending;
_Thread_local int flush_tls_error;

/* The test seam (flush.h): one relaxed load per drain when unset. */
static void (*_Atomic msync_hook)(struct flush_msync_event *);

void flush_msync_set_hook(void (*hook)(struct flush_msync_event *))
{
	atomic_store(&msync_hook, hook);
}

static void hook_call(struct flush_msync_event *ev)
{
	void (*h)(struct flush_msync_event *) = atomic_load_explicit(&msync_hook,
	                                                             memory_order_acquire);
	if (h)
		h(ev);
}
#define HOOK(...)                                                                  \
	do {                                                                       \
		if (__builtin_expect(atomic_load_explicit(&msync_hook,             \
		                                          memory_order_relaxed) != NULL, 0)) { \
			struct flush_msync_event ev_ = { __VA_ARGS__ };            \
			hook_call(&ev_);                                           \
		}                                                                  \
	} while (0)

/* one msync system call; returns 0 or the errno it failed with */
static int msync_call(uintptr_t lo, uintptr_t hi)
{
	int err = 0;
	struct flush_msync_event ev = { .kind = FLUSH_EV_MSYNC_START, .lo = &lo, .hi = &hi, .n = 1 };
	int hooked = atomic_load_explicit(&msync_hook, memory_order_relaxed) != NULL;
	if (__builtin_expect(hooked, 0))
		hook_call(&ev); /* may inject a failure: ev.err */
	if (hooked && ev.err)
		err = ev.err;
	else if (pmem_msync((void *)lo, hi - lo) != 0)
		err = errno ? errno : EIO;
	if (__builtin_expect(hooked, 0)) {
		ev.kind = FLUSH_EV_MSYNC_END;
		ev.err = err;
		hook_call(&ev);
	}
	return err;
}

/* Ranges closer than this are written back by one msync of their span: a
 * system call costs more than the kernel's walk over a few clean pages
 * (msync walks the page cache's dirty tags, not every page). */
#define MSYNC_SPAN_MAX ((uintptr_t)4 << 20)

static int cmp_lo(const void *a, const void *b)
{
	const uintptr_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/*
 * Write back the ranges iv[0..n) (pairs lo, hi; reordered): sorted, and
 * every run of them whose span is at most MSYNC_SPAN_MAX in one msync.  A
 * span msync that fails with ENOMEM crossed a hole between two mappings
 * (two pools, or ranges of two threads in different pools): it is redone
 * range by range, whose errors are real.  Returns the first error.
 */
static int msync_ranges(uintptr_t (*iv)[2], unsigned n)
{
	if (n == 0)
		return 0;
	if (n > 1)
		qsort(iv, n, sizeof(iv[0]), cmp_lo);
	int err = 0;
	for (unsigned i = 0; i < n;) {
		uintptr_t lo = iv[i][0], hi = iv[i][1];
		unsigned j = i + 1;
		while (j < n && iv[j][1] - lo <= MSYNC_SPAN_MAX) {
			if (iv[j][1] > hi)
				hi = iv[j][1];
			j++;
		}
		while (j < n && iv[j][1] <= hi) /* inside the span already */
			j++;
		int e = msync_call(lo, hi);
		if (e == ENOMEM && j - i > 1) {
			e = 0;
			for (unsigned k = i; k < j; k++) {
				int e2 = msync_call(iv[k][0], iv[k][1]);
				if (e2 && !e)
					e = e2;
			}
		}
		if (e && !err)
			err = e;
		i = j;
	}
	return err;
}

/* The thread's own pending ranges, written back by itself (no group). */
static int msync_own(struct msync_pending *p)
{
	uintptr_t iv[MSYNC_PENDING_MAX][2];
	for (unsigned i = 0; i < p->n; i++) {
		iv[i][0] = p->lo[i];
		iv[i][1] = p->hi[i];
	}
	return msync_ranges(iv, p->n);
}

/* ---- group commit ------------------------------------------------------
 *
 * One draining thread is a waiter: its pending ranges (tls_pending, left
 * untouched until it is done) and a result.  See the opening comment for
 * the argument.  Everything below is under gc.mu.
 */
struct gc_waiter {
	struct gc_waiter *next;
	const struct msync_pending *p;
	int done;
	int err;
};

#define GC_LEADER 1u  /* gc.state: a leader is gathering or syncing */
#define GC_WAITERS 2u /* gc.state: someone sleeps in done_cv: broadcast */
#define GC_HIST 8          /* threads remembered per batch */
#define GC_BATCH_RANGES 256 /* ranges collected per batch on the stack */
#define GC_WAIT_MIN_NS 20000   /* a sync shorter than this is not waited for */
#define GC_WAIT_DEFAULT_NS 100000
#define GC_WAIT_MAX_NS 1000000

static struct {
	pthread_mutex_t mu;
	pthread_cond_t done_cv;  /* batches completed, or no leader */
	pthread_cond_t join_cv;  /* a waiter registered (leader gathering) */
	struct gc_waiter *head, **tail; /* registered, not taken by a leader */
	unsigned nqueued;
	_Atomic unsigned state;  /* GC_LEADER | GC_WAITERS (read without mu) */
	int gathering;           /* ... and waits in join_cv */
	uint64_t batches;
	/* who the last two batches served (identity: &tls_pending) */
	const void *hist[2][GC_HIST];
	unsigned nhist[2];
	_Atomic int multi;       /* they were more than one thread */
	const void *_Atomic solo; /* the thread that drained alone last */
	uint64_t sync_ns;        /* last measured batch sync (0: none yet) */
} gc = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.tail = &gc.head,
};

/* 1 on (default), 0 off (PMSTORE_GROUP_COMMIT=0); -1 until read */
static _Atomic int gc_mode = -1;
/* the leader's longest wait for expected joiners, ns; -1 adaptive */
static long gc_wait_fixed = -1;
static pthread_once_t gc_once = PTHREAD_ONCE_INIT;

static void gc_reinit(void)
{
	/* the child of a fork: no other thread exists, whatever the parent's
	 * threads were doing in here */
	pthread_mutex_init(&gc.mu, NULL);
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&gc.done_cv, &a);
	pthread_cond_init(&gc.join_cv, &a);
	pthread_condattr_destroy(&a);
	gc.head = NULL;
	gc.tail = &gc.head;
	gc.nqueued = 0;
	atomic_store(&gc.state, 0);
	gc.gathering = 0;
	atomic_store(&gc.multi, 0);
	atomic_store(&gc.solo, NULL);
	gc.nhist[0] = gc.nhist[1] = 0;
}

static void gc_init(void)
{
	gc_reinit();
	pthread_atfork(NULL, NULL, gc_reinit);
	const char *e = getenv("PMSTORE_GROUP_COMMIT");
	int on = !(e && e[0] == '0');
	const char *w = getenv("PMSTORE_GROUP_COMMIT_WAIT_US");
	if (w && *w)
		gc_wait_fixed = atol(w) * 1000;
	int expect = -1;
	atomic_compare_exchange_strong(&gc_mode, &expect, on);
}

void flush_group_commit_wait(long ns)
{
	pthread_once(&gc_once, gc_init);
	pthread_mutex_lock(&gc.mu);
	gc_wait_fixed = ns < 0 ? -1 : ns;
	pthread_mutex_unlock(&gc.mu);
}

void flush_group_commit_set(int on)
{
	pthread_once(&gc_once, gc_init);
	atomic_store(&gc_mode, on ? 1 : 0);
}

int flush_group_commit_get(void)
{
	pthread_once(&gc_once, gc_init);
	return atomic_load(&gc_mode);
}

/* did the last two batches serve more than one thread? */
static int gc_multi(void)
{
	const void *id = gc.nhist[0] ? gc.hist[0][0] : NULL;
	for (unsigned h = 0; h < 2; h++)
		for (unsigned i = 0; i < gc.nhist[h]; i++)
			if (gc.hist[h][i] != id)
				return 1;
	return 0;
}

/* Threads the last two batches served that are not registered now: they
 * drain again soon, and a leader that waits a little for them serves them
 * with its one msync instead of leaving each its own. */
static unsigned gc_expected(void)
{
	unsigned exp = 0;
	for (unsigned h = 0; h < 2; h++) {
		for (unsigned i = 0; i < gc.nhist[h]; i++) {
			const void *id = gc.hist[h][i];
			int seen = 0;
			for (unsigned j = 0; j < i && !seen; j++)
				seen = gc.hist[h][j] == id;
			for (unsigned j = 0; h == 1 && j < gc.nhist[0] && !seen; j++)
				seen = gc.hist[0][j] == id;
			for (struct gc_waiter *w = gc.head; w && !seen; w = w->next)
				seen = w->p == id;
			exp += !seen;
		}
	}
	return exp;
}

/* As leader, with gc.mu held and GC_LEADER set: wait (bounded) for the
 * threads expected to drain soon, so that one msync serves them too. */
static void gc_gather(void)
{
	if (!atomic_load_explicit(&gc.multi, memory_order_relaxed))
		return; /* one thread: nothing to wait for, no clock read */
	unsigned exp = gc_expected();
	if (exp == 0)
		return;
	long wait = gc_wait_fixed;
	if (wait < 0) { /* half the last sync: worth it while a joiner saves one */
		uint64_t s = gc.sync_ns ? gc.sync_ns : GC_WAIT_DEFAULT_NS;
		if (s < GC_WAIT_MIN_NS)
			return; /* syncs are cheap here (tmpfs): do not wait */
		wait = (long)(s / 2 < GC_WAIT_MAX_NS ? s / 2 : GC_WAIT_MAX_NS);
	}
	if (wait <= 0)
		return;
	uint64_t until = flush_now_ns() + (uint64_t)wait;
	struct timespec ts = { (time_t)(until / 1000000000u), (long)(until % 1000000000u) };
	unsigned target = gc.nqueued + exp;
	gc.gathering = 1;
	while (gc.nqueued < target)
		if (pthread_cond_timedwait(&gc.join_cv, &gc.mu, &ts) == ETIMEDOUT)
			break;
	gc.gathering = 0;
}

/* As leader, without gc.mu: write back every range of the batch. */
static int gc_sync_batch(struct gc_waiter *batch, const struct gc_waiter *self)
{
	uintptr_t iv[GC_BATCH_RANGES][2];
	unsigned n = 0;
	int err = 0;
	for (const struct gc_waiter *w = batch; w; w = w->next) {
		if (PM_BUG(PM_BUG_GC_LEADER_OWN_RANGES) && w != self)
			continue;
		if (n + w->p->n > GC_BATCH_RANGES) { /* many threads: in parts */
			int e = msync_ranges(iv, n);
			err = err ? err : e;
			n = 0;
		}
		for (unsigned i = 0; i < w->p->n; i++) {
			iv[n][0] = w->p->lo[i];
			iv[n][1] = w->p->hi[i];
			n++;
		}
	}
	int e = msync_ranges(iv, n);
	return err ? err : e;
}

#if PM_BUG(PM_BUG_GC_DONE_TOO_MANY)
/* BUG: a leader also completes the waiters that registered while it was
 * syncing (nothing synced their ranges).  Under gc.mu. */
static void gc_bug_done_too_many(int err)
{
	for (struct gc_waiter *w = gc.head; w; w = w->next)
		w->done = 1, w->err = err;
	gc.head = NULL;
	gc.tail = &gc.head;
	gc.nqueued = 0;
}
#else
static void gc_bug_done_too_many(int err)
{
	(void)err;
}
#endif

/*
 * One thread alone: no lock, no queue.  It takes GC_LEADER by one
 * compare-and-swap when nobody leads and no other thread drained lately,
 * syncs its own ranges (a batch of one), and clears the state; a thread
 * that came meanwhile set GC_WAITERS and sleeps in done_cv (it registered
 * after this sync started, so the sync does not count for it), and is
 * woken to lead its own batch.  Returns -1 if it did not apply.
 */
static int gc_drain_solo(struct msync_pending *p)
{
	if (atomic_load_explicit(&gc.multi, memory_order_relaxed))
		return -1;
	const void *last = atomic_load_explicit(&gc.solo, memory_order_relaxed);
	if (last != p) {
		if (last) { /* another thread drained alone: several now */
			atomic_store_explicit(&gc.multi, 1, memory_order_relaxed);
			return -1;
		}
		atomic_store_explicit(&gc.solo, p, memory_order_relaxed);
	}
	unsigned s = 0;
	if (!atomic_compare_exchange_strong_explicit(&gc.state, &s, GC_LEADER,
	                                             memory_order_acquire, memory_order_relaxed))
		return -1;
	HOOK(.kind = FLUSH_EV_REGISTER, .thread = p, .n = p->n, .lo = p->lo, .hi = p->hi);
	HOOK(.kind = FLUSH_EV_BATCH, .nserved = 1, .thread = p);
	int err = msync_own(p);
	if (PM_BUG(PM_BUG_GC_DONE_TOO_MANY)) {
		pthread_mutex_lock(&gc.mu);
		gc_bug_done_too_many(err);
		pthread_mutex_unlock(&gc.mu);
	}
	if (atomic_exchange_explicit(&gc.state, 0, memory_order_acq_rel) & GC_WAITERS) {
		pthread_mutex_lock(&gc.mu);
		pthread_cond_broadcast(&gc.done_cv);
		pthread_mutex_unlock(&gc.mu);
	}
	return err;
}

static int gc_drain(struct msync_pending *p)
{
	int solo = gc_drain_solo(p);
	if (solo >= 0)
		return solo;
	struct gc_waiter self = { .p = p };
	pthread_mutex_lock(&gc.mu);
	if ((atomic_load(&gc.state) & GC_LEADER) && !gc.gathering && gc.sync_ns && gc.sync_ns < GC_WAIT_MIN_NS &&
	    gc_wait_fixed < 0) {
		/* a sync is in flight and syncs are cheap here (tmpfs): a
		 * system call of our own costs less than waiting for it */
		pthread_mutex_unlock(&gc.mu);
		HOOK(.kind = FLUSH_EV_REGISTER, .thread = p, .n = p->n, .lo = p->lo, .hi = p->hi);
		return msync_own(p);
	}
	self.next = NULL;
	*gc.tail = &self;
	gc.tail = &self.next;
	gc.nqueued++;
	HOOK(.kind = FLUSH_EV_REGISTER, .thread = p, .n = p->n, .lo = p->lo, .hi = p->hi);
	if (gc.gathering)
		pthread_cond_signal(&gc.join_cv);
	while (!self.done) {
		unsigned s = atomic_load(&gc.state);
		if (s & GC_LEADER) {
			/* a sync is gathering or in flight; if it is in flight it
			 * started before we registered and does not count for us.
			 * GC_WAITERS first, so that a lone leader wakes us. */
			if (!(s & GC_WAITERS) &&
			    !atomic_compare_exchange_strong(&gc.state, &s, s | GC_WAITERS))
				continue;
			pthread_cond_wait(&gc.done_cv, &gc.mu);
			continue;
		}
		/* lead: take every registered waiter (ourselves included) */
		if (!atomic_compare_exchange_strong(&gc.state, &s, GC_LEADER))
			continue;
		gc_gather();
		struct gc_waiter *batch = gc.head;
		unsigned nb = gc.nqueued;
		gc.head = NULL;
		gc.tail = &gc.head;
		gc.nqueued = 0;
		uint64_t bno = ++gc.batches;
		int timed = nb > 1 || atomic_load_explicit(&gc.multi, memory_order_relaxed);
		pthread_mutex_unlock(&gc.mu);

		HOOK(.kind = FLUSH_EV_BATCH, .batch = bno, .nserved = nb, .thread = p);
		uint64_t t0 = timed ? flush_now_ns() : 0;
		int err = gc_sync_batch(batch, &self);
		uint64_t t1 = timed ? flush_now_ns() : 0;

		pthread_mutex_lock(&gc.mu);
		/* every waiter of the batch registered before we took it, so
		 * the msyncs above started after its ranges were registered
		 * and have completed: its drain may return */
		for (struct gc_waiter *w = batch; w; w = w->next) {
			w->err = PM_BUG(PM_BUG_GC_ERROR_LEADER_ONLY) && w != &self ? 0 : err;
			w->done = 1;
		}
		if (PM_BUG(PM_BUG_GC_DONE_TOO_MANY))
			gc_bug_done_too_many(err);
		/* history: the batch before, and this one */
		memcpy(gc.hist[1], gc.hist[0], sizeof(gc.hist[0]));
		gc.nhist[1] = gc.nhist[0];
		unsigned k = 0;
		for (struct gc_waiter *w = batch; w && k < GC_HIST; w = w->next)
			gc.hist[0][k++] = w->p;
		gc.nhist[0] = k;
		int multi = gc_multi();
		atomic_store_explicit(&gc.multi, multi, memory_order_relaxed);
		if (!multi) /* one thread again: it may drain alone */
			atomic_store_explicit(&gc.solo, k ? gc.hist[0][0] : NULL, memory_order_relaxed);
		if (timed && t1 > t0)
			gc.sync_ns = t1 - t0;
		atomic_store(&gc.state, 0);
		pthread_cond_broadcast(&gc.done_cv);
	}
	pthread_mutex_unlock(&gc.mu);
	return self.err;
}

static void msync_path_drain(void)
{
	struct msync_pending *p = &tls_pending;
	if (p->n == 0)
		return;
	int mode = atomic_load_explicit(&gc_mode, memory_order_acquire);
	if (__builtin_expect(mode < 0, 0)) {
		pthread_once(&gc_once, gc_init);
		mode = atomic_load(&gc_mode);
	}
	int err;
	if (mode) {
		err = gc_drain(p);
	} else {
		HOOK(.kind = FLUSH_EV_REGISTER, .thread = p, .n = p->n, .lo = p->lo, .hi = p->hi);
		err = msync_own(p);
	}
	HOOK(.kind = FLUSH_EV_RETURN, .thread = p, .err = err);
	if (err)
		flush_tls_error = err;
	p->n = 0;
}

static void msync_path_flush(const void *addr, size_t len)
{
	if (len == 0)
		return;
	struct msync_pending *p = &tls_pending;
	uintptr_t lo = (uintptr_t)addr & ~PAGE_MASK_;
	uintptr_t hi = ((uintptr_t)addr + len + PAGE_MASK_) & ~PAGE_MASK_;
	if (flush_ranges_merge(p->lo, p->hi, p->n, lo, hi))
		return;
	if (p->n == MSYNC_PENDING_MAX) /* list full: write back the oldest now */
		msync_path_drain();
	p->lo[p->n] = lo;
	p->hi[p->n] = hi;
	p->n++;
}

static void *msync_path_memcpy(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
	msync_path_flush(dst, len);
	return dst;
}

static void *msync_path_memset(void *dst, int c, size_t len)
{
	memset(dst, c, len);
	msync_path_flush(dst, len);
	return dst;
}

const struct flush_ops flush_ops_msync = {
	.name = "msync",
	.flush = msync_path_flush,
	.drain = msync_path_drain,
	.memcpy_nodrain = msync_path_memcpy,
	.memset_nodrain = msync_path_memset,
};

/* ---- no-op path (software cost only) ---------------------------------- */

static void none_flush(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
}

static void none_drain(void)
{
	atomic_signal_fence(memory_order_seq_cst);
}

const struct flush_ops flush_ops_none = {
	.name = "none",
	.flush = none_flush,
	.drain = none_drain,
	.memcpy_nodrain = memcpy,
	.memset_nodrain = memset,
};

/* ---- selection -------------------------------------------------------- */

static const struct flush_ops *_Atomic override_ops;

void flush_set_override(const struct flush_ops *ops)
{
	atomic_store(&override_ops, ops);
}

int flush_has_override(void)
{
	return atomic_load(&override_ops) != NULL;
}

const struct flush_ops *flush_choose(const void *base, size_t len)
{
	const struct flush_ops *o = atomic_load(&override_ops);
	if (o)
		return o;
	const char *nf = getenv("PMSTORE_NO_FLUSH");
	if (nf && nf[0] == '1')
		return &flush_ops_none;
	return pmem_is_pmem(base, len) ? &flush_ops_pmem : &flush_ops_msync;
}
