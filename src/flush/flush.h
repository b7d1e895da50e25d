/*
 * flush.h -- layer 1: the only code that issues cache flushes and fences.
 *
 * Every store the library makes durable goes through a struct flush_ops
 * table.  Four tables ship with the library (pmem cache-flush path over
 * libpmem, msync path for ordinary files, WAL mode for ordinary files
 * mapped privately -- wal.c -- and a no-op table that only counts); the
 * crash harness (icount/) installs its own tracking table via
 * flush_set_override(), which is why nothing else may call libpmem.
 *
 * Model (docs/DESIGN.md §2): a store is durable only after a flush of it and
 * a later drain by the same thread.  flush() starts write-back and never
 * waits; drain() is the fence that waits.  Fences are what operations are
 * measured in, so every call site of flush_fence() says what it makes
 * durable.
 */
#ifndef PM_FLUSH_H
#define PM_FLUSH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/types.h"

struct flush_ops {
	const char *name;
	/* start write-back of [addr, addr+len); does not wait */
	void (*flush)(const void *addr, size_t len);
	/* fence: wait until this thread's earlier flushes are durable */
	void (*drain)(void);
	/* copy/set and flush the destination; no fence */
	void *(*memcpy_nodrain)(void *dst, const void *src, size_t len);
	void *(*memset_nodrain)(void *dst, int c, size_t len);
};


extern const struct flush_ops flush_ops_pmem;  /* clwb/clflushopt + sfence */
extern const struct flush_ops flush_ops_msync; /* msync at drain time */
extern const struct flush_ops flush_ops_none;  /* counts only (benchmarks) */

/*
 * Group commit on the msync path (flush.c's opening comment has the
 * argument): threads that drain at the same time share one msync.  On by
 * default; PMSTORE_GROUP_COMMIT=0 in the environment (read at the first
 * drain) or flush_group_commit_set(0) turns it off, and every thread then
 * msyncs its own ranges.  PMSTORE_GROUP_COMMIT_WAIT_US=N fixes how long a
 * leader waits for threads expected to drain soon (default: half the last
 * sync's time, none when syncs are cheaper than 20 us; 0: never wait).
 */
void flush_group_commit_set(int on);
int flush_group_commit_get(void);
/* the leader's wait for expected joiners: ns >= 0 fixes it (0: never wait;
 * also no "cheap sync" shortcut, so batching depends on nothing timed),
 * -1 restores the adaptive default */
void flush_group_commit_wait(long ns);

/*
 * Test seam of the msync path (tests/test_flush_group.c), compiled in
 * always; unset it costs one relaxed load per drain.  The hook runs in the
 * thread named by each event:
 *   REGISTER    a draining thread registered its ranges (page-rounded,
 *               n of them) -- with group commit on, under the group lock
 *   BATCH       a leader took every registered waiter (nserved), about to
 *               write them back (no lock held: the hook may block here)
 *   MSYNC_START one msync call over [*lo, *hi) is about to start; setting
 *               ev->err to an errno injects its failure (no msync is made)
 *   MSYNC_END   it completed with ev->err
 *   RETURN      the thread's drain returns with ev->err
 */
enum flush_msync_ev {
	FLUSH_EV_REGISTER = 1,
	FLUSH_EV_BATCH,
	FLUSH_EV_MSYNC_START,
	FLUSH_EV_MSYNC_END,
	FLUSH_EV_RETURN,
};
struct flush_msync_event {
	int kind;
	const void *thread;    /* REGISTER, BATCH (the leader), RETURN */
	unsigned n;            /* ranges at lo[], hi[] */
	const uintptr_t *lo, *hi;
	uint64_t batch;        /* BATCH */
	unsigned nserved;      /* BATCH */
	int err;
};
void flush_msync_set_hook(void (*hook)(struct flush_msync_event *ev));

/*
 * The harness seam: when set, pools opened or created afterwards use `ops`
 * instead of choosing by the mapping.  NULL restores the default choice.
 */
void flush_set_override(const struct flush_ops *ops);
int flush_has_override(void);

/*
 * Choose the table for a mapping: override, else PMSTORE_NO_FLUSH=1 -> none,
 * else pmem_is_pmem() -> pmem (PMEM_IS_PMEM_FORCE=1 forces it), else msync.
 */
const struct flush_ops *flush_choose(const void *base, size_t len);

/*
 * WAL mode (wal.c's opening comment): a pool on an ordinary file mapped
 * MAP_PRIVATE, each fence a frame appended to <pool>.wal, one fdatasync
 * at the end of an operation.  Errors are errno values.
 */
extern const struct flush_ops flush_ops_wal;
struct flush_wal;
struct flush_wal_stats {
	unsigned long syncs, frames, checkpoints;
	uint64_t end, synced_end; /* the log's appended and synced ends (file offsets) */
};
/* "<pool_path>.wal", malloc'd */
char *flush_wal_path(const char *pool_path);
/* Apply a sidecar log of this pool (if any) to pool_fd, synced; then
 * void it (keep) or remove it.  *applied: the frames applied. */
int flush_wal_replay(const char *pool_path, int pool_fd, int keep, unsigned long *applied);
/* The same, applied to a private mapping of the pool (len bytes) only. */
int flush_wal_apply_private(const char *pool_path, char *base, size_t len, unsigned long *applied);
/* Start logging for the pool mapped at base (size bytes in use, reserve
 * bytes of address space); after flush_wal_replay. */
struct flush_wal *flush_wal_attach(const char *pool_path, int pool_fd, char *base, size_t size,
                                   size_t reserve, int *err);
void flush_wal_set_size(struct flush_wal *w, size_t size);
/* Checkpoint and stop (the pool quiescent); NULL is ignored. */
int flush_wal_detach(struct flush_wal *w, struct flush_wal_stats *st);
void flush_wal_stats(struct flush_wal *w, struct flush_wal_stats *st);
/* Inside an operation (lane.c): a WAL drain appends but does not sync;
 * the outermost end syncs this thread's frames (0 or an errno).  Other
 * tables ignore it. */
void flush_defer_begin(void);
int flush_defer_end(void);
/* Sync this thread's appended frames now (pm_drain); 0 or an errno. */
int flush_wal_sync_mine(void);

static inline void flush_range(const struct flush_ops *ops,
                               struct flush_counters *c, const void *addr,
                               size_t len)
{
	c->flushes++;
	ops->flush(addr, len);
}

/*
 * A failed write-back (msync returned an error, e.g. EIO) is recorded per
 * thread by the table (flush_error_set) and reported by the fence that
 * covered it: flush_fence returns nonzero, and the pool marks itself
 * failed (lane/lane.c).  Durability was lost; carrying on would lie.
 */
extern _Thread_local int flush_tls_error;
static inline int flush_fence(const struct flush_ops *ops,
                              struct flush_counters *c)
{
	c->fences++;
	ops->drain();
	if (__builtin_expect(flush_tls_error != 0, 0)) {
		flush_tls_error = 0;
		return -1;
	}
	return 0;
}

static inline int flush_persist(const struct flush_ops *ops,
                                struct flush_counters *c, const void *addr,
                                size_t len)
{
	flush_range(ops, c, addr, len);
	return flush_fence(ops, c);
}

/*
 * The pending-range lists of the msync path (page-rounded ranges) and of
 * WAL mode (8-byte-rounded): widen the first of the n ranges that
 * overlaps or touches [a, b) to cover it.  1 if one did; 0 if the caller
 * must add [a, b) as a new range.
 */
static inline int flush_ranges_merge(uintptr_t *lo, uintptr_t *hi, unsigned n,
                                     uintptr_t a, uintptr_t b)
{
	for (unsigned i = 0; i < n; i++) {
		if (a <= hi[i] && b >= lo[i]) {
			if (a < lo[i])
				lo[i] = a;
			if (b > hi[i])
				hi[i] = b;
			return 1;
		}
	}
	return 0;
}

/* CLOCK_MONOTONIC in ns: the group commits' sync timing and gathering. */
static inline uint64_t flush_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

#endif
