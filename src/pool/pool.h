/*
 * pool.h -- layer 4 (internal): the open pool, its lanes, and the helpers
 * every layer uses to fence and to report errors.
 *
 * A lane is a per-operation slot: a persistent half (redo + undo log in the
 * pool, struct lane_layout) and a volatile half (struct lane: lock, flush
 * counters, the thread cache of reserved blocks, DRAM scratch for building
 * a redo log).  A thread keeps using the lane it last had, so in the common
 * case acquiring one is an uncontended trylock.
 *
 * Lazy invalidation (docs/DESIGN.md §5): after an operation's second fence
 * its redo log is invalidated by a plain store, not flushed.  The lane's
 * `pend` word says so.  Every commit fence -- the first fence of any
 * operation, by any thread -- first flushes the log header of every lane
 * whose flag is set (pool_flush_pending), so no operation that depends on
 * another one's result becomes durable while that one's log could still be
 * replayed over it.  `pend` is set (odd: "in flight") BEFORE the apply makes
 * the result visible, and a commit fence that finds a lane in flight waits
 * until its invalidation is stored (even): a thread that acts on a result
 * before the call returned cannot overtake it.  The new operation's log may
 * become durable in the same fence window as the old invalidation; every
 * log and commit block therefore carries a pool-wide sequence number and
 * recovery replays oldest first.  Only lanes in pool->active are looked at.
 */
#ifndef PM_POOL_H
#define PM_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "alloc/heap.h"
#include "flush/flush.h"
#include "log/log.h"
#include "pmstore.h"
#include "pool/pool_format.h"

struct tx_state;

struct lane {
	/* read by other threads at their commit fences: a line of its own.
	 * Nonzero (an epoch, from pend_seq): this lane's redo invalidation is
	 * stored but not known durable; every commit fence flushes it first.
	 * Only the holder sets it; a thread that flushed and fenced it may
	 * clear it with a compare-and-swap on the epoch it saw. */
	_Alignas(64) _Atomic uint64_t pend; /* epoch << 1 | in flight */
	_Atomic unsigned pend_what; /* PEND_*: which words; set before pend */
	uint64_t pend_seq;
	_Alignas(64) atomic_flag busy;
	unsigned nest; /* acquisitions of this lane nested in its holder's tx */
	unsigned idx;
	struct pm_pool *pool;
	struct lane_layout *pl;
	struct flush_counters cnt;
	uint64_t allocs, frees, publishes, tx_commits, tx_aborts;
	struct redo_buf redo;
	struct tcache_bin tcache[NCLASSES];
	/* the run each class refills from first (under the class lock): lanes
	 * keep to their own runs so threads do not share bitmap words */
	struct run *cur_run[NCLASSES];
	/* the last transaction's inline undo entries and commit block, and
	 * whether its active = 0 may still be only in the cache (tx.c) */
	uint64_t undo_prev_start, undo_prev_end;
	int undo_lazy;
	uint64_t undo_gen; /* = pl->undo.gen, kept in DRAM */
	uint64_t op_seq;   /* seq taken early for the next publish, 0 = none */
};

#define PENDING_WORDS (POOL_MAX_LANES / 64)

struct pm_pool {
	char *base; /* must stay first: pm_direct() reads it */
	size_t size;
	int fd;
	int is_pmem;
	int mapped_private; /* pm_check_path: private copy, no lock */
	const struct flush_ops *ops;
	const struct pool_hdr *hdr; /* = &hdr_copy: validated once, never re-read */
	struct pool_hdr hdr_copy;
	struct pool_desc *desc;
	unsigned nlanes;
	struct lane *lanes;
	struct heap heap;
	pthread_mutex_t root_lock;
	uint64_t gen; /* distinguishes pools at the same address in TLS caches */
	struct flush_counters user_cnt; /* pm_persist & co., under user_lock */
	pthread_mutex_t user_lock;
	/* lanes that have ever left an invalidation pending (set once each) */
	_Atomic uint64_t active[PENDING_WORDS];
	/* the next operation sequence number (log_format.h): every redo log
	 * and commit block takes one; recovery replays in this order */
	_Alignas(64) _Atomic uint64_t seq;
	uint64_t fork_gen; /* pm_fork_gen at open: differs in a forked child */
	_Atomic int failed; /* a fence failed: the handle refuses writes */
};

extern _Atomic uint64_t pm_fork_gen;

/* 0, or PM_EFORKED / PM_EIO (with a message naming fn) if this handle must
 * not write: inherited across fork, or failed by an earlier fence. */
int pool_writable(struct pm_pool *p, const char *fn);
static inline int pool_forked(const struct pm_pool *p)
{
	return p->fork_gen != atomic_load_explicit(&pm_fork_gen, memory_order_relaxed);
}
/* The next sequence number (a locked add: ordered after everything this
 * thread saw, in particular the result of an operation it depends on).
 * Take it before the operation flushes anything: on x86 a locked
 * instruction waits for the thread's outstanding clwbs, like a fence. */
static inline uint64_t pool_next_seq(struct pm_pool *p)
{
	return atomic_fetch_add(&p->seq, 1);
}
/* Record a failed fence (msync error): sticky for the handle. */
void pool_fence_failed(struct pm_pool *p);

/* ---- lanes ------------------------------------------------------------ */

/* A lane for one operation.  Inside the calling thread's own transaction
 * on the same pool, the transaction's lane (nested: never waits). */
struct lane *lane_acquire(struct pm_pool *p);
void lane_release(struct lane *ln);
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
void pool_flush_pending(struct pm_pool *p, struct flush_counters *c,
                        const struct lane *skip, struct pend_seen *seen);
#define PEND_REDO 1u /* the redo log's invalidation (checksum = 0) */
#define PEND_UNDO 2u /* a committed transaction's undo_log.active = 0 */
/* After the invalidation (or lazy active = 0) was stored. */
void lane_mark_pending(struct lane *ln, unsigned what);
/* Before the apply makes an operation's results visible: until the
 * matching lane_mark_pending, other threads' commit fences wait. */
void lane_mark_inflight(struct lane *ln);

/* ---- publish (alloc/palloc.c) ------------------------------------------ */

/* Publish the redo log in ln->redo: write, fence, apply, fence, invalidate.
 * 0, or PM_EIO if a fence failed.  Its seq is ln->op_seq if the caller
 * took one before flushing object contents (palloc_take_seq), else new. */
int palloc_publish_redo(struct lane *ln);
static inline void palloc_take_seq(struct lane *ln)
{
	ln->op_seq = pool_next_seq(ln->pool);
}
/* pmalloc / pfree with a lane the caller already holds (tx uses these). */
int palloc_alloc_in_lane(struct lane *ln, uint64_t *dest, size_t size, int zero);
int palloc_free_in_lane(struct lane *ln, uint64_t *dest);
/* dest is an aligned word in the heap or root descriptor (not header/lanes). */
int palloc_dest_ok(struct pm_pool *p, const void *dest);

/* ---- errors (pool/error.c) -------------------------------------------- */

int pm_seterr(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define PM_ERR(err, ...) pm_seterr((err), __VA_ARGS__)

/* ---- transactions (tx/tx.c) ------------------------------------------- */

/*
 * Recovery decision for a lane whose undo log is active (undo.c): did its
 * transaction commit?  nredo/seq: the lane's redo log (-1 if invalid or
 * void).  Sets *cb (the commit block, if committed), *cb_seq, and
 * *log_is_commit (the valid log is this transaction's own commit log).
 */
int tx_lane_committed(struct pm_pool *p, struct lane *ln, uint64_t g, long nredo,
                      const struct undo_entry **cb, uint64_t *cb_seq, int *log_is_commit);
/* The lane's running generation: undo.active if its header checksum
 * matches (tx_format.h F5), else 0 (no transaction). */
uint64_t tx_lane_active(const struct lane *ln);
/* Roll the lane's transaction forward from its commit block, or back from
 * its entries (flushes, no fence). */
void tx_lane_forward(struct pm_pool *p, struct lane *ln, uint64_t g, const struct undo_entry *cb);
void tx_lane_rollback(struct pm_pool *p, struct lane *ln, uint64_t g);
/* Retire the lane's undo generation (active = 0, gen past anything used),
 * flushed, not fenced (the opener fences once for all lanes). */
void tx_retire_lane(struct pm_pool *p, struct lane *ln);
/* The calling thread's transaction on p has off pending as a free. */
int tx_free_pending(struct pm_pool *p, uint64_t off);
/* Called by pm_close: a transaction still open in this thread is aborted. */
void tx_pool_closing(struct pm_pool *p);
/* Called once the heap is booted at open: free what recovery left (e.g.
 * undo overflow blocks of rolled-back transactions). */
int tx_after_boot(struct pm_pool *p);

#include "pool/pool_internal.h"

#endif
