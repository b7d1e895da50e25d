/*
 * pool_format.h -- layer 0: on-media layout of a pool file (all little-endian,
 * fixed-width; offsets are from the pool base).
 *
 *   0        struct pool_hdr      (4 KiB, write-once at create, checksummed)
 *   4096     struct pool_desc     (4 KiB, mutable 8-byte words: the root)
 *   8192     lanes[nlanes]        (LANE_SIZE each: redo log + undo log)
 *   ...      chunk table          (8 bytes per chunk, see alloc/heap.h:
 *                                  FREE(n), RUN(class, n), LARGE(n))
 *   ...      chunks               (CHUNK_SIZE each, page aligned; a run
 *                                  spans 1 chunk (classes <= 32 KiB) or
 *                                  1-16 (big classes, version 3))
 *
 * Invariants:
 *  P1 The header is never written after create; its checksum covers every
 *     field before it.  A file whose magic or checksum is wrong is refused.
 *  P2 A pool file becomes visible under its name (link(2)) only after the
 *     whole image, header included, is durable.
 *  P3 pool_desc.root_off / root_size / perm_off change only through a
 *     redo-log publish.
 *  P4 pool_desc.recovered_seq only grows, and only recovery writes it, once
 *     everything it replayed is durable: one word voids every replayed log
 *     at once (so no older log can survive a newer one's invalidation).
 *     It is at most SEQ_MASK; from SEQ_RENUMBER up (a damaged descriptor)
 *     recovery sets it back to 0 once no lane holds a log (pool.c R5).
 *  P5 Growable pools (hdr.flags & POOL_FLAG_GROWABLE, docs/DESIGN.md §3a):
 *     the header describes the MAXIMUM (pool_size, nchunks: the chunk table
 *     has room for every chunk the pool may ever have); pool_desc.heap_chunks
 *     says how many chunks are in the heap now.  The file is at least
 *     chunks_off + heap_chunks * CHUNK_SIZE long and at most pool_size; a
 *     longer file than recorded (a crash after the file was extended) opens
 *     at the recorded size, the tail is reused by the next growth.
 *     heap_chunks only grows, by one 8-byte store made durable after the
 *     file is extended (and synced) and after the new span's FREE header at
 *     table[old heap_chunks] is durable: before the store that header is
 *     unreachable, after it the span is free space.  No log is involved and
 *     recovery never writes the word.  A fixed-size pool has heap_chunks 0
 *     (pools made before growth existed) or nchunks, and a file of exactly
 *     pool_size bytes.
 */
#ifndef PM_POOL_FORMAT_H
#define PM_POOL_FORMAT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log_format.h"

#define POOL_MAGIC "PMSTORE"  /* 7 chars + NUL = 8 bytes */
#define POOL_LAYOUT_VERSION 3u /* 2: seq in redo logs and commit blocks; 3: big
                                * commits (action records in the undo chain),
                                * runs of 1-16 chunks, 88 classes (alloc/heap.h) */
#define POOL_HDR_SIZE 4096u
#define POOL_DESC_OFF 4096u
#define POOL_LANES_OFF 8192u
#define POOL_DEFAULT_LANES 64u
#define POOL_MAX_LANES 1024u
#define POOL_FLAG_GROWABLE 1u /* hdr.flags: P5 */
#define POOL_FLAGS_KNOWN POOL_FLAG_GROWABLE
#define POOL_MAX_SIZE ((uint64_t)64 << 40) /* 64 TiB: address space reserved at open */

struct pool_hdr {
	char magic[8];
	uint32_t layout_version;
	uint32_t flags;
	uint8_t uuid[16];
	uint64_t pool_size;
	uint64_t lanes_off;
	uint32_t nlanes;
	uint32_t lane_size;
	uint64_t chunk_table_off;
	uint64_t chunks_off;
	uint64_t nchunks;
	uint64_t chunk_size;
	uint64_t create_time;
	uint64_t checksum; /* over all bytes before this field */
};
_Static_assert(offsetof(struct pool_hdr, checksum) == 96, "pool_hdr layout");
_Static_assert(sizeof(struct pool_hdr) <= POOL_HDR_SIZE, "pool_hdr size");

struct pool_desc {
	uint64_t root_off;
	uint64_t root_size;
	/* recovery's watermark: redo logs whose seq is <= this were replayed
	 * by a recovery and are void (written only by recovery, P4) */
	uint64_t recovered_seq;
	/* persistent globals' directory (pool/perm.c), 0 if none; changes
	 * only through a publish, like the root (P3) */
	uint64_t perm_off;
	/* chunks in the heap now (P5); 0 = all of hdr.nchunks */
	uint64_t heap_chunks;
	uint64_t reserved[3];
};
_Static_assert(sizeof(struct pool_desc) == 64, "pool_desc size");

/* One lane: the persistent half of a per-thread operation slot. */
#define LANE_REDO_SIZE 4096u
#define LANE_UNDO_SIZE 12288u
#define LANE_SIZE (LANE_REDO_SIZE + LANE_UNDO_SIZE)

struct lane_layout {
	struct redo_log redo; /* LANE_REDO_SIZE bytes */
	uint8_t redo_pad_[LANE_REDO_SIZE - sizeof(struct redo_log)];
	struct undo_log undo; /* header, then LANE_UNDO_SIZE - 64 bytes of entries */
	uint8_t undo_area[LANE_UNDO_SIZE - sizeof(struct undo_log)];
};
_Static_assert(sizeof(struct lane_layout) == LANE_SIZE, "lane size");

#endif
