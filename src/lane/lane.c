/*
 * lane.c -- layer 3: lane acquire/release, the commit fence, pending
 * invalidations and idle epochs, the handle's write permission (fork,
 * failed fences).  The protocol is argued in lane.h and docs/DESIGN.md §5.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>

#include "base/error.h"
#include "base/seeded_bugs.h"
#include "lane/lane.h"

_Atomic uint64_t pm_fork_gen;

int lane_pool_writable(struct pm_pool *p, const char *fn)
{
	if (lane_pool_forked(p))
		return PM_ERR(PM_EFORKED, "%s: this pool handle was inherited across fork(); "
		              "it is read-only in the child (open the pool again there)", fn);
	if (atomic_load_explicit(&p->failed, memory_order_relaxed))
		return PM_ERR(PM_EIO, "%s: a fence failed earlier (msync error); "
		              "the handle refuses writes: close and reopen the pool", fn);
	return 0;
}

void lane_pool_failed(struct pm_pool *p)
{
	atomic_store(&p->failed, 1);
}

/* ---- lanes ------------------------------------------------------------ */

static _Thread_local struct {
	struct pm_pool *pool;
	uint64_t gen;
	unsigned idx;
} tls_lane;

/* the lane this thread's transaction holds (lane_tx_hold) */
static _Thread_local struct {
	struct pm_pool *pool;
	uint64_t gen;
	struct lane *ln;
} tls_txlane;

struct lane *lane_acquire(struct pm_pool *p)
{
	static _Atomic unsigned next_start;
	if (tls_txlane.pool == p && tls_txlane.gen == p->gen) {
		/* inside our own transaction: its lane, never another (with
		 * every lane held by a transaction, waiting would hang) */
		tls_txlane.ln->nest++;
		return tls_txlane.ln;
	}
	while (atomic_load_explicit(&p->quiesce, memory_order_acquire))
		sched_yield(); /* a backup holds (or is taking) every lane */
	unsigned start;
	if (tls_lane.pool == p && tls_lane.gen == p->gen)
		start = tls_lane.idx;
	else /* spread threads over lanes: each new one starts elsewhere */
		start = atomic_fetch_add_explicit(&next_start, 1, memory_order_relaxed) % p->nlanes;
	for (unsigned spin = 0;; spin++) {
		for (unsigned i = 0; i < p->nlanes; i++) {
			unsigned k = (start + i) % p->nlanes;
			if (!atomic_flag_test_and_set_explicit(&p->lanes[k].busy,
			                                       memory_order_acquire)) {
				flush_defer_begin(); /* WAL mode: one sync, at release */
				tls_lane.pool = p;
				tls_lane.gen = p->gen;
				tls_lane.idx = k;
				return &p->lanes[k];
			}
		}
		sched_yield();
	}
}

int lane_release(struct lane *ln)
{
	if (ln->nest) {
		ln->nest--;
		return 0;
	}
	atomic_flag_clear_explicit(&ln->busy, memory_order_release);
	/* WAL mode: the operation's frames were appended at its fences; its
	 * durability is this sync (flush/wal.c).  Other tables: nothing. */
	if (flush_defer_end() == 0)
		return 0;
	lane_pool_failed(ln->pool);
	return PM_ERR(PM_EIO, "a sync of the pool's log failed: durability is lost; "
	              "the handle refuses writes until the pool is reopened");
}

void lane_tx_hold(struct lane *ln)
{
	tls_txlane.pool = ln->pool;
	tls_txlane.gen = ln->pool->gen;
	tls_txlane.ln = ln;
}

void lane_tx_unhold(struct lane *ln)
{
	if (tls_txlane.ln == ln)
		memset(&tls_txlane, 0, sizeof(tls_txlane));
}

static void lane_set_active(struct lane *ln)
{
	struct pm_pool *p = ln->pool;
	uint64_t bit = UINT64_C(1) << (ln->idx % 64);
	if (!(atomic_load_explicit(&p->active[ln->idx / 64], memory_order_relaxed) & bit))
		atomic_fetch_or_explicit(&p->active[ln->idx / 64], bit, memory_order_release);
}

void lane_mark_inflight(struct lane *ln)
{
	unsigned w = atomic_load_explicit(&ln->pend, memory_order_relaxed)
	                     ? atomic_load_explicit(&ln->pend_what, memory_order_relaxed) : 0;
	atomic_store_explicit(&ln->pend_what, w | PEND_REDO, memory_order_relaxed);
	atomic_store_explicit(&ln->pend, (++ln->pend_seq << 1) | 1, memory_order_relaxed);
	lane_set_active(ln);
	/* the apply's stores (the results other threads may act on) must not
	 * be seen before the flag: whoever sees a result and then loads pend
	 * (after its acquire fence, lane_flush_pending) sees it in flight.
	 * Release/acquire fences, not seq_cst: on x86 (TSO) they cost nothing,
	 * while an mfence would wait for this thread's clwbs like a fence. */
	atomic_thread_fence(memory_order_release);
}

void lane_mark_pending(struct lane *ln, unsigned what)
{
	/* keep the words of an epoch not yet cleared (a thread that cleared
	 * it concurrently made them durable: an extra bit is only a flush) */
	unsigned w = atomic_load_explicit(&ln->pend, memory_order_relaxed)
	                     ? atomic_load_explicit(&ln->pend_what, memory_order_relaxed) : 0;
	atomic_store_explicit(&ln->pend_what, w | what, memory_order_relaxed);
	lane_set_active(ln);
	/* release: whoever sees our results afterwards sees the new epoch,
	 * the stores it names and pend_what */
	atomic_store_explicit(&ln->pend, ++ln->pend_seq << 1, memory_order_release);
}

/*
 * Idle lanes.  A lane whose thread went quiet keeps its flag set, and every
 * commit fence would flush its line forever.  So a thread remembers the
 * epoch it last flushed for each lane; seeing the same epoch at
 * IDLE_FENCES of its commit fences in a row means the lane is idle, and
 * after the fence (which made that epoch's invalidation durable) the
 * thread clears the flag -- by compare-and-swap, so a newer epoch set
 * meanwhile stays.
 * A busy lane changes epoch every operation and is never cleared by
 * others, so its flag's cache line is not bounced between threads.
 */
#define SEEN_MAX 4
struct pend_seen {
	unsigned n;
	struct lane *lane[SEEN_MAX];
	uint64_t epoch[SEEN_MAX];
};
/* A lane is idle when its epoch stays the same over this many of our
 * commit fences (a busy lane changes it every operation; one operation of
 * ours may hold several commit fences, a transaction one per tx_add). */
#define IDLE_FENCES 16
static _Thread_local struct {
	uint64_t pool_gen;
	uint64_t epoch[64]; /* by lane index, first 64 lanes */
	uint32_t times[64];  /* commit fences that saw that epoch again */
} tls_seen;

void lane_flush_pending(struct pm_pool *p, struct flush_counters *c,
                        const struct lane *skip, struct pend_seen *seen)
{
	if (seen && tls_seen.pool_gen != p->gen) {
		memset(&tls_seen, 0, sizeof(tls_seen));
		tls_seen.pool_gen = p->gen;
	}
	/* results this thread read (relaxed or plain) come before the loads
	 * of pend below: a lane whose result we saw is seen in flight or done */
	atomic_thread_fence(memory_order_acquire);
	for (unsigned w = 0; w < (p->nlanes + 63) / 64; w++) {
		uint64_t m = atomic_load_explicit(&p->active[w], memory_order_acquire);
		while (m) {
			unsigned b = (unsigned)__builtin_ctzll(m);
			m &= m - 1;
			struct lane *o = &p->lanes[w * 64 + b];
			uint64_t e = atomic_load_explicit(&o->pend, memory_order_acquire);
			if (PM_BUG(PM_BUG_NO_CROSS_LANE_FLUSH))
				continue;
			/* in flight: its results may be visible already, its
			 * invalidation is not stored yet -- wait for it (the
			 * owner is between its two fences and waits for no one) */
			for (unsigned k = 0; (e & 1) && !PM_BUG(PM_BUG_NO_INFLIGHT_WAIT); k++) {
				if (k > 64)
					sched_yield();
				e = atomic_load_explicit(&o->pend, memory_order_acquire);
			}
			if (!e)
				continue;
			unsigned what = atomic_load_explicit(&o->pend_what, memory_order_relaxed);
			if ((what & PEND_REDO) && o != skip)
				flush_range(p->ops, c, &o->pl->redo.checksum, 8);
			if (what & PEND_UNDO) /* active and its header checksum */
				flush_range(p->ops, c, &o->pl->undo.active, 16);
			if (!seen || o->idx >= 64)
				continue;
			if (tls_seen.epoch[o->idx] != e) {
				tls_seen.epoch[o->idx] = e;
				tls_seen.times[o->idx] = 0;
			} else if (++tls_seen.times[o->idx] == IDLE_FENCES && seen->n < SEEN_MAX) {
				seen->lane[seen->n] = o;
				seen->epoch[seen->n++] = e;
			}
		}
	}
}

static void commit_fence(struct lane *ln, const struct lane *skip)
{
	struct pend_seen seen = { 0 };
	lane_flush_pending(ln->pool, &ln->cnt, skip, &seen);
	if (flush_fence(ln->pool->ops, &ln->cnt))
		lane_pool_failed(ln->pool);
	/* our lane's invalidation (or the new log over it) is durable now,
	 * and so is the epoch of every idle lane seen twice */
	if (atomic_load_explicit(&ln->pend, memory_order_relaxed))
		atomic_store_explicit(&ln->pend, 0, memory_order_relaxed);
	ln->undo_lazy = 0;
	for (unsigned i = 0; i < seen.n; i++) {
		uint64_t e = seen.epoch[i];
		if (seen.lane[i] != ln && !(e & 1))
			atomic_compare_exchange_strong_explicit(&seen.lane[i]->pend, &e, 0,
			                                        memory_order_relaxed,
			                                        memory_order_relaxed);
	}
}

void lane_commit_fence(struct lane *ln)
{
	commit_fence(ln, NULL);
}

void lane_commit_fence_logged(struct lane *ln)
{
	commit_fence(ln, ln);
}

void lane_fence(struct lane *ln)
{
	if (flush_fence(ln->pool->ops, &ln->cnt))
		lane_pool_failed(ln->pool);
}

