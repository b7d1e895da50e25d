/*
 * heap.h -- layer 4: heap format (chunk table, size classes, runs) and the
 * volatile allocator state rebuilt from it on open.
 *
 * Format (layout version 3).  The heap is an array of CHUNK_SIZE chunks and
 * a table with one 8-byte header per chunk (type | class << 8 | count << 32).
 * Objects carry no inline header.
 *   FREE(n)      n free chunks start here
 *   RUN(class,n) n chunks of equal blocks: a bitmap (1 = allocated) at the
 *                start of the first chunk, blocks after it, across the n
 *                chunks.  Small classes (16 B .. 32 KiB) have n = 1; big
 *                classes (32 KiB .. 2 MiB) 1 <= n <= RUN_MAX_SPAN, their
 *                bitmap in the first cache line (data = 64).  The block
 *                count follows from (class, n) alone (heap_run_geom); a
 *                header whose (class, n) gives no block is corrupt.
 *   LARGE(n)     one object of n chunks
 * Only headers reachable by walking from chunk 0 (skipping n chunks per
 * span, whatever its type) mean anything; the rest are stale.  (Version 2
 * had RUN(class, 1) only and 40 classes: it is a subset, but the version
 * is bumped so that an older library refuses a pool with big runs instead
 * of calling it corrupt.)
 *
 * Which shape an object gets (heap_reserve): <= 32 KiB a small class;
 * up to MAX_RUN_SIZE the big class unless a LARGE span of whole chunks
 * costs no more heap bytes (class cost = run bytes / blocks per run), so
 * a request of an exact number of chunks is always LARGE (tx's undo
 * overflow blocks rely on that: chunk-aligned LARGE objects); above, LARGE.
 * Big classes are 8 per doubling, so any size from 32 KiB + 1 to a few MiB
 * loses at most 1/8 to rounding plus <= 3 % to run packing.
 *
 * Invariants:
 *  H1 Every volatile free extent starts at a reachable header whose span
 *     (and the spans after it up to the extent's end) hold no allocated
 *     block.  Splitting an extent therefore writes the tail's header first
 *     and the head's second, each made durable before the next step.
 *  H2 A block is set in its run's persistent bitmap iff it is allocated;
 *     bits change only by redo-log apply (OR to allocate, AND to free).
 *     The bitmap is always the run's FIRST chunk's, whichever chunk of the
 *     run the block lies in (heap_resv.chunk is the run's first chunk).
 *  H3 A run's bitmap is zero and durable before its header says RUN.
 *  H4 The volatile bitmap of a run is a superset of the persistent one:
 *     reserved-but-unpublished blocks are set there only.
 *  H5 Chunks handed out by ext_take are covered by one durable FREE(n)
 *     header: an empty run given back in DRAM only (header still RUN) is
 *     rewritten before a reservation's bytes can land on its old bitmap.
 */
#ifndef PM_HEAP_H
#define PM_HEAP_H

#include <pthread.h>
#include <stdint.h>

#include "base/types.h"
#include "flush/flush.h"

#define RUN_MAX_BLOCKS (CHUNK_SIZE / 16)

enum chunk_type { CHUNK_FREE = 0, CHUNK_RUN = 1, CHUNK_LARGE = 2 };

static inline uint64_t chunk_hdr(enum chunk_type t, unsigned cls, uint64_t n)
{
	return (uint64_t)t | ((uint64_t)cls << 8) | (n << 32);
}
static inline enum chunk_type chunk_type_of(uint64_t h)
{
	return (enum chunk_type)(h & 0xff);
}
static inline unsigned chunk_class_of(uint64_t h)
{
	return (unsigned)((h >> 8) & 0xff);
}
static inline uint64_t chunk_count_of(uint64_t h)
{
	return h >> 32;
}


extern struct size_class heap_classes[NCLASSES];
/* Class index for a size (<= MAX_RUN_SIZE): the smallest class that holds
 * it (a big one above MAX_SMALL_SIZE). */
unsigned heap_class_for(size_t size);
static inline int heap_class_is_big(unsigned c)
{
	return c >= NSMALL_CLASSES;
}

/* Geometry of a run of class cls over span chunks. */
struct run_geom {
	uint32_t nblocks, nwords, data;
};
/* 0 and *g if RUN(cls, span) is a header the library writes (a known
 * class, span 1 for a small class, 1..RUN_MAX_SPAN with at least one block
 * for a big one), else -1.  Every reader of the table on media uses it. */
int heap_run_geom(unsigned cls, uint64_t span, struct run_geom *g);
/* The chunks a walk skips at header hd (its count, for every type). */
static inline uint64_t chunk_span_of(uint64_t hd)
{
	return chunk_count_of(hd);
}

/* Rebuild the volatile state from the table (nchunks in use, room for
 * max_chunks: a growable pool's maximum, else nchunks). */
int heap_boot(struct heap *h, char *base, const struct flush_ops *ops,
              uint64_t table_off, uint64_t chunks_off, uint32_t nchunks, uint32_t max_chunks);
/* Growth (pool.c, P5 in pool_format.h): the new span's header made durable
 * (prepare, before the pool publishes new_n), then the span made free space
 * in DRAM (commit, after).  With h->grow set, heap_reserve calls it when
 * the heap is out of chunks. */
int heap_extend_prepare(struct heap *h, struct lane *ln, uint32_t new_n);
void heap_extend_commit(struct heap *h, uint32_t new_n);
/* Why this thread's last heap_reserve could not grow the pool ("; ..." to
 * append to an out-of-space message, or ""); grow callbacks set it. */
void heap_grow_failed(const char *why);
const char *heap_grow_why(void);
void heap_fini(struct heap *h);
/*
 * Walk the chunk table as it is on media, building nothing: spans in range
 * and ending at the last chunk, known types and classes, no run bitmap bit
 * past the last block, and `obj` (if nonzero) an allocated object of at
 * least objsize bytes.  0, or PM_ECORRUPT with why naming the chunk and
 * offset.  (Open runs it before recovery writes anything.)
 */
int heap_check_media(const char *base, uint64_t table_off, uint64_t chunks_off,
                     uint32_t nchunks, uint64_t obj, uint64_t objsize, char *why, size_t len);
/* Format a fresh chunk table (create time): FREE(nchunks) at chunk 0. */
void heap_format(char *base, uint64_t table_off, uint32_t nchunks);

/* Reserve a block; fence_cb makes the durable split/run-format steps. */
struct lane;
int heap_reserve(struct heap *h, struct lane *ln, size_t size,
                 struct heap_resv *r);
void heap_cancel(struct heap *h, struct lane *ln, const struct heap_resv *r);
/* After a free was published: make the space reusable. */
void heap_release(struct heap *h, struct lane *ln, const struct heap_resv *r);
/* Return every block cached by this lane to the runs. */
void heap_tcache_drain(struct heap *h, struct lane *ln);

/*
 * Describe the allocated object at `off` (checks it really is one).
 * Returns 0 and fills r, or PM_EINVAL.
 */
int heap_lookup(struct heap *h, uint64_t off, struct heap_resv *r);
size_t heap_resv_size(const struct heap_resv *r);

/* Redo entries that publish an allocation / a free of r. */
struct redo_buf;
int heap_redo_alloc(struct heap *h, struct redo_buf *b,
                    const struct heap_resv *r);
int heap_redo_free(struct heap *h, struct redo_buf *b,
                   const struct heap_resv *r);

#endif
