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
 * Lazy invalidation (docs/DESIGN.md, "two fences"): after an operation's
 * second fence its redo log is invalidated by a store that is flushed but
 * not fenced; the lane's next fence makes it durable.  Until then the
 * lane's `pend` flag is set (owner-written, in the lane's own cache line).
 * Before any fence, lane_fence() re-flushes the log headers of the other
 * lanes whose flag is set, so an operation that depends on another
 * thread's earlier one never becomes durable before that one's
 * invalidation does.  Only lanes in pool->active are looked at.
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
	_Alignas(64) atomic_flag busy;
	/* the redo invalidation is flushed, not yet fenced: 0, or the token of
	 * the thread that flushed it (only that thread's fence covers it) */
	_Atomic uintptr_t pend;
	unsigned idx;
	struct pm_pool *pool;
	struct lane_layout *pl;
	struct flush_counters cnt;
	uint64_t allocs, frees, publishes, tx_commits, tx_aborts;
	struct redo_buf redo;
	struct tcache_bin tcache[NCLASSES];
};

#define PENDING_WORDS (POOL_MAX_LANES / 64)

struct pm_pool {
	char *base; /* must stay first: pm_direct() reads it */
	size_t size;
	int fd;
	int is_pmem;
	int mapped_private; /* pm_check_path: private copy, no lock */
	const struct flush_ops *ops;
	struct pool_hdr *hdr;
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
};

/* ---- lanes ------------------------------------------------------------ */

struct lane *lane_acquire(struct pm_pool *p);
void lane_release(struct lane *ln);

/*
 * The only fence the library issues (besides recovery and close).  First
 * re-flushes other lanes' pending invalidations (see above), then fences,
 * which also makes this lane's own pending invalidation durable.
 */
void lane_fence(struct lane *ln);
void pool_flush_pending(struct pm_pool *p, struct flush_counters *c);
void lane_mark_pending(struct lane *ln);

/* ---- publish (alloc/palloc.c) ------------------------------------------ */

/* Publish the redo log in ln->redo: write, fence, apply, fence, invalidate. */
void palloc_publish_redo(struct lane *ln);
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

/* Recovery of one lane's undo log; called only when its redo log is invalid. */
int tx_recover_lane(struct pm_pool *p, struct lane *ln);
/* Discard a lane's undo log after its redo log (the commit record) replayed. */
void tx_discard_lane(struct pm_pool *p, struct lane *ln);
/* Called by pm_close: a transaction still open in this thread is aborted. */
void tx_pool_closing(struct pm_pool *p);
/* Called once the heap is booted at open: free what recovery left (e.g.
 * undo overflow blocks of rolled-back transactions). */
int tx_after_boot(struct pm_pool *p);

#endif

/* ---- pool.c internals shared with check.c ----------------------------- */
struct pm_pool *pool_open_private(const char *path);
void pm_memset_persist_nodrain_(struct pm_pool *p, void *dst, int c, size_t len);
int pmem_msync_all_(void *addr, size_t len);
