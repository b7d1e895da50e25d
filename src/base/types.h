/*
 * types.h -- layer 0: the in-DRAM types every layer shares (the open pool,
 * its lanes, the volatile heap), in one header that includes no layer
 * above it (cf. mimalloc's types.h).  Each layer's own header declares the
 * functions; the on-media formats are in base/pool_format.h and
 * base/log_format.h.
 */
#ifndef PM_BASE_TYPES_H
#define PM_BASE_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log_format.h"
#include "base/pool_format.h"
#include "pmstore.h"

struct flush_ops;

#define CHUNK_SIZE ((uint64_t)256 << 10)

/* Counters of one lane (or of the pool for user calls); owner-written. */
struct flush_counters {
	uint64_t flushes;
	uint64_t fences;
};

/* A redo log built in DRAM (log/log.h). */
struct redo_buf {
	unsigned n;
	struct redo_entry e[REDO_MAX];
};

/* ---- the volatile heap (alloc/heap.h) ---- */

struct size_class {
	uint32_t size;    /* block size */
	uint32_t nblocks; /* blocks per run (of `span` chunks) */
	uint32_t data;    /* offset of block 0 in the run (bitmap before it) */
	uint32_t nwords;  /* bitmap words */
	uint32_t span;    /* chunks per run: 1 for small classes */
	uint64_t cost;    /* heap bytes per block: span * CHUNK_SIZE / nblocks */
};

/* Small classes (16 B .. 32 KiB): one-chunk runs, cached per lane.  Big
 * classes (32 KiB .. 2 MiB, 8 per doubling): runs of up to RUN_MAX_SPAN
 * chunks, taken under the class lock (alloc/heap.h). */
#define NSMALL_CLASSES 40
#define NBIG_CLASSES 48
#define NCLASSES (NSMALL_CLASSES + NBIG_CLASSES)
#define MAX_SMALL_SIZE 32768u
#define MAX_RUN_SIZE ((2u << 20) - 64) /* the largest big class */
#define RUN_MAX_SPAN 16u


struct run {
	uint32_t chunk;    /* its first chunk (runs[] names it for all) */
	uint16_t cls;
	uint16_t in_partial;
	uint32_t nfree;    /* volatile free blocks */
	uint32_t span;     /* chunks (its header's count) */
	uint32_t nblocks;  /* blocks, for this span (heap_run_geom) */
	uint32_t nwords;   /* bitmap words */
	struct run *next;  /* in the class's partial list */
	struct run **owner; /* the lane slot that prefers this run, or NULL */
	uint64_t bits[];   /* volatile bitmap: 1 = allocated or reserved */
};

struct extent {
	uint32_t start, n;
};

#define TCACHE_MAX 64
struct tcache_bin {
	uint32_t n;
	uint64_t off[TCACHE_MAX];
};

struct lane;
struct heap {
	char *base;
	const struct flush_ops *ops;
	uint64_t *table;   /* persistent chunk headers */
	uint64_t table_off;
	uint64_t chunks_off;
	uint32_t nchunks;     /* in the heap now (grows: heap_extend_commit) */
	uint32_t max_chunks;  /* runs[] and start[] have room for this many */
	/* out of chunks with `seen` in the heap: make at least `need` more
	 * (the pool's growth, P5); 0 when it grew (or another thread's growth
	 * since `seen` may cover it: try again), else PM_E* (heap_grow_failed
	 * says why) */
	int (*grow)(void *ctx, struct lane *ln, uint32_t seen, uint32_t need);
	void *grow_ctx;

	pthread_mutex_t lock; /* extents, runs[] creation */
	struct extent *ext;
	uint32_t next, ext_cap;
	struct run **runs;    /* per chunk; NULL if not in a live run */
	uint8_t *start;       /* per chunk: a span starts here (walk-reachable) */

	struct {
		pthread_mutex_t lock;
		struct run *partial;
		uint32_t nruns; /* live runs (under the heap lock) */
	} cls[NCLASSES];
};

/* What a reservation took, for publish and cancel. */
struct heap_resv {
	uint64_t off;     /* object offset */
	uint32_t chunk;   /* large: its first chunk; a block: its run's first */
	uint16_t cls;     /* class, or 0xffff for large */
	uint16_t pad;
	uint32_t nchunks; /* large: its chunks; a run's block: the run's span */
};
#define RESV_LARGE 0xffff

/* ---- lanes and the open pool (lane/lane.h, pool/pool.h) ---- */

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
	/* does the calling thread's transaction free `off` already?  Set by
	 * the pool layer to tx's answer, so alloc can refuse a second free
	 * without calling up into tx. */
	int (*free_pending)(struct lane *ln, uint64_t off);
	unsigned idx;
	struct pm_pool *pool;
	struct lane_layout *pl;
	struct flush_counters cnt;
	uint64_t allocs, frees, publishes, tx_commits, tx_aborts;
	struct redo_buf redo;
	struct tcache_bin tcache[NSMALL_CLASSES];
	/* the run each class refills from first (under the class lock): lanes
	 * keep to their own runs so threads do not share bitmap words */
	struct run *cur_run[NSMALL_CLASSES];
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
	size_t size;       /* mapped and in use: grows with the heap (P5) */
	size_t max_size;   /* hdr.pool_size: the most it can grow to */
	size_t reserve;    /* address space reserved at base (guards apart) */
	size_t file_len;   /* the file's length as last seen / made */
	size_t mapped_len; /* bytes of the file mapped at base */
	int fd;
	int is_pmem;
	int mapped_private; /* pm_check_path: private copy, no lock */
	struct flush_wal *wal; /* WAL mode (flush/wal.c), else NULL */
	unsigned open_flags;   /* PM_WAL / PM_NO_WAL as the caller gave them */
	const struct flush_ops *ops;
	/* = &hdr_copy: validated once, never re-read.  Its nchunks is the
	 * heap IN USE (desc.heap_chunks of a growable pool, read once at open
	 * and raised only by growth, under grow_lock); max_chunks the table's */
	const struct pool_hdr *hdr;
	struct pool_hdr hdr_copy;
	struct pool_desc *desc;
	unsigned nlanes;
	struct lane *lanes;
	struct heap heap;
	pthread_mutex_t root_lock;
	pthread_mutex_t grow_lock; /* one growth at a time (pool.c) */
	uint32_t max_chunks;
	int growable;
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
	/* pm_backup is taking every lane: new operations wait for it to
	 * finish instead of wandering over the lanes not taken yet */
	_Atomic int quiesce;
	struct perm_table *perm; /* pm_perm's registry (pool/perm.c), root_lock */
};

extern _Atomic uint64_t pm_fork_gen;

/* The sizes growth raises (P5 in pool_format.h) while other threads read
 * them: the pool's bytes in use and the heap's chunks.  Values only grow;
 * a reader that saw an object allocated in the new space (through a lock
 * or its own allocation) sees the size that holds it. */
static inline size_t pool_size_now(const struct pm_pool *p)
{
	return __atomic_load_n(&p->size, __ATOMIC_ACQUIRE);
}
static inline uint32_t heap_chunks_now(const struct heap *h)
{
	return __atomic_load_n(&h->nchunks, __ATOMIC_ACQUIRE);
}

#endif
