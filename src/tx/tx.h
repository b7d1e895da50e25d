/*
 * tx.h -- layer 5: what the pool layer calls of the transaction code:
 * recovery's decisions per lane (undo.c), retiring generations, closing,
 * the overflow chains left at boot.  Protocol: tx.c, docs/TX.md.
 */
#ifndef PM_TX_H
#define PM_TX_H

#include "base/types.h"

struct undo_entry;

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
/* Installed as every lane's free_pending (pool.c): the calling thread's
 * transaction on ln's pool has off pending as a free (tx_pfree). */
int tx_free_pending_lane(struct lane *ln, uint64_t off);
/* Called by pm_close: a transaction still open in this thread is aborted. */
void tx_pool_closing(struct pm_pool *p);
/* Called once the heap is booted at open: free what recovery left (e.g.
 * undo overflow blocks of rolled-back transactions). */
int tx_after_boot(struct pm_pool *p);
/* Usable size of an object the calling thread's transaction tx_pmalloc'ed
 * (not freed); 0 otherwise.  For tx_util.c (tx_prealloc). */
size_t tx_reserved_size(uint64_t off);
/* Locks held until the outermost tx_end (tx_util.c; pool/plock.c's
 * tx_lock pushes them): held already?  push (0 or PM_ENOMEM); release in
 * reverse order (forget = 1: a forked child's copy, drop without unlocking). */
int tx_lock_held(const void *lock);
int tx_lock_push(void *lock, void (*unlock)(void *lock));
void tx_locks_release(int forget);

#endif
