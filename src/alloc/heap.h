/*
 * heap.h -- layer 4: heap format (chunk table, size classes, runs) and the
 * volatile allocator state rebuilt from it on open.
 *
 * Format.  The heap is an array of CHUNK_SIZE chunks and a table with one
 * 8-byte header per chunk.  Objects carry no inline header.
 *   FREE(n)      n free chunks start here
 *   RUN(class)   one chunk of equal blocks: a bitmap (1 = allocated) at the
 *                chunk's start, blocks after it
 *   LARGE(n)     one object of n chunks
 * Only headers reachable by walking from chunk 0 (skipping n chunks per
 * FREE/LARGE span, one per RUN) mean anything; the rest are stale.
 *
 * Invariants:
 *  H1 Every volatile free extent starts at a reachable header whose span
 *     (and the spans after it up to the extent's end) hold no allocated
 *     block.  Splitting an extent therefore writes the tail's header first
 *     and the head's second, each made durable before the next step.
 *  H2 A block is set in its run's persistent bitmap iff it is allocated;
 *     bits change only by redo-log apply (OR to allocate, AND to free).
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
/* Class index for a size (<= MAX_SMALL_SIZE). */
unsigned heap_class_for(size_t size);

int heap_boot(struct heap *h, char *base, const struct flush_ops *ops,
              uint64_t table_off, uint64_t chunks_off, uint32_t nchunks);
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
