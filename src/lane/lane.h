/*
 * lane.h -- layer 3: lanes, the commit fence, and lazy invalidation.
 *
 * A lane is a per-operation slot: a persistent half (redo + undo log in the
 * pool, struct lane_layout) and a volatile half (struct lane: lock, flush
 * counters, the thread cache of reserved blocks, DRAM scratch for building
 * a redo log).  A thread keeps using the lane it last had, so in the common
 * case acquiring one is an uncontended trylock.  While pm_backup holds (or
 * is taking) every lane, the pool's `quiesce` flag is set and new
 * acquisitions wait for it to clear (pool/backup.c): an operation never
 * runs half inside a snapshot, and threads do not wander to other lanes.
 *
 * Lazy invalidation (docs/DESIGN.md §5): after an operation's second fence
 * its redo log is invalidated by a plain store, not flushed.  The lane's
 * `pend` word says so.  Every commit fence -- the first fence of any
 * operation, by any thread -- first flushes the log header of every lane
 * whose flag is set (lane_flush_pending), so no operation that depends on
 * another one's result becomes durable while that one's log could still be
 * replayed over it.  `pend` is set (odd: "in flight") BEFORE the apply makes
 * the result visible, and a commit fence that finds a lane in flight waits
 * until its invalidation is stored (even): a thread that acts on a result
 * before the call returned cannot overtake it.  The new operation's log may
 * become durable in the same fence window as the old invalidation; every
 * log and commit block therefore carries a pool-wide sequence number and
 * recovery replays oldest first.  Only lanes in pool->active are looked at.
 *
 * The argument, step by step (docs/DESIGN.md §5):
 *  1. Before the apply (the first store another thread could act on) the
 *     lane's pend goes odd, "in flight" (lane_mark_inflight); after the
 *     operation's second fence and the invalidation store it goes even,
 *     "pending" (lane_mark_pending).
 *  2. Every commit fence is preceded by lane_flush_pending: the log line
 *     (and a lazy active = 0) of every lane whose pend is set is flushed by
 *     the fencing thread; a lane in flight is waited for first (its owner
 *     is between its two fences and waits for nobody).
 *  3. An operation that depends on another's result read it after that
 *     one's in-flight flag, so its commit fence flushes that one's
 *     invalidation (or waits for it): no log can be replayed over a
 *     completed operation that depended on it.
 *  4. The new operation's log may become durable in the same window as the
 *     old invalidation: every log and commit block carries a seq
 *     (lane_next_seq, a locked add taken before the operation flushes
 *     anything), and recovery replays oldest first.
 *  5. Idle lanes drop out: a thread that sees the same even epoch at 16
 *     of its commit fences clears it with a compare-and-swap.
 */
#ifndef PM_LANE_H
#define PM_LANE_H

#include "base/types.h"
#include "flush/flush.h"

extern _Atomic uint64_t pm_fork_gen;

/* 0, or PM_EFORKED / PM_EIO (with a message naming fn) if this handle must
 * not write: inherited across fork, or failed by an earlier fence. */
int lane_pool_writable(struct pm_pool *p, const char *fn);
static inline int lane_pool_forked(const struct pm_pool *p)
{
	return p->fork_gen != atomic_load_explicit(&pm_fork_gen, memory_order_relaxed);
}
/* The next sequence number (a locked add: ordered after everything this
 * thread saw, in particular the result of an operation it depends on).
 * Take it before the operation flushes anything: on x86 a locked
 * instruction waits for the thread's outstanding clwbs, like a fence. */
static inline uint64_t lane_next_seq(struct pm_pool *p)
{
	return atomic_fetch_add(&p->seq, 1);
}
/* Record a failed fence (msync error): sticky for the handle. */
void lane_pool_failed(struct pm_pool *p);

/* ---- lanes ------------------------------------------------------------ */

/* A lane for one operation.  Inside the calling thread's own transaction
 * on the same pool, the transaction's lane (nested: never waits). */
struct lane *lane_acquire(struct pm_pool *p);
/* 0, or PM_EIO when the operation's WAL sync failed (pool failed). */
int lane_release(struct lane *ln);
/* The transaction of this thread holds ln until lane_tx_unhold. */
void lane_tx_hold(struct lane *ln);
void lane_tx_unhold(struct lane *ln);

/*
 * The fences the library issues (besides recovery and close).
 * lane_commit_fence is the first fence of an operation, the one that makes
 * its log (or, for a transaction, its commit) durable: it first re-flushes
 * other threads' pending invalidations (see above).  Later fences of the
 * same operation use lane_fence: everything the operation depends on was
 * already covered at its commit fence.  Both make this lane's own pending
 * invalidation durable.
 */
void lane_commit_fence(struct lane *ln);
/* The same, when this lane's redo log header was just flushed (redo_write):
 * its own pending invalidation is in that line already. */
void lane_commit_fence_logged(struct lane *ln);
void lane_fence(struct lane *ln);
/* Flush every lane's pending invalidation (skip: a lane whose line the
 * caller flushed already, or NULL). */
struct pend_seen;
void lane_flush_pending(struct pm_pool *p, struct flush_counters *c,
                        const struct lane *skip, struct pend_seen *seen);
#define PEND_REDO 1u /* the redo log's invalidation (checksum = 0) */
#define PEND_UNDO 2u /* a committed transaction's undo_log.active = 0 */
/* After the invalidation (or lazy active = 0) was stored. */
void lane_mark_pending(struct lane *ln, unsigned what);
/* Before the apply makes an operation's results visible: until the
 * matching lane_mark_pending, other threads' commit fences wait. */
void lane_mark_inflight(struct lane *ln);

/* The commit's (or publish's) seq, taken early, before the flushes of
 * the operation: used by its redo_write / commit block (alloc, tx). */
static inline void lane_take_seq(struct lane *ln)
{
	ln->op_seq = lane_next_seq(ln->pool);
}

#endif
