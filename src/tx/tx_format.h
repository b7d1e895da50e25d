/*
 * tx_format.h -- layer 5 (tx-internal): on-media format of the undo log's
 * overflow blocks and of an entry's checksum.  The lane's undo header
 * (struct undo_log) and the entry header (struct undo_entry) live in
 * base/log_format.h; the protocol is in tx.c and docs/TX.md.
 *
 *   lane undo area:  struct undo_log { gen, used, next, active } + entries
 *   overflow block:  struct undo_block { next, capacity } + entries
 *   entry:           { off, len, gen, checksum } + data[len rounded up to 8]
 *   action record:   { UNDO_ACTS_TAG, len, gen, checksum } + redo entries
 *   big commit:      { UNDO_COMMIT_TAG_BIG | seq, 8, gen, checksum } + count
 *
 * Invariants:
 *  F1 undo_log.active is 0 (nothing to roll back) or the generation of the
 *     running transaction: one 8-byte word, never torn.
 *  F2 An entry counts iff it fits its area, gen == active, and its checksum
 *     (seeded with the lane index, so entries another lane left in a reused
 *     block never count) matches.  Entries are read in order; the first
 *     one that does not count ends the log.
 *  F3 A block's next and capacity are set by the same redo publish that
 *     links it, so a linked block always has a valid header.
 *  F4 Entries are appended in order and the writer moves to the next area
 *     exactly when fewer than UNDO_ENTRY_MIN bytes are left, so a reader
 *     that applies the same rule finds every entry.
 *  F5 gen, start and active are written together with hcsum =
 *     undo_hdr_csum(...); a single stray word (a damaged file) cannot make
 *     recovery roll a committed transaction back or forward.
 *     gen and active stay below UNDO_GEN_MAX (open and check refuse more);
 *     the library stores at most UNDO_GEN_CAP: retiring saturates there and
 *     a transaction that would need it is refused (TX.md T5).
 *  F6 A chain has at most UNDO_MAX_BLOCKS blocks, each a chunk-aligned
 *     heap object whose capacity is CHUNK_SIZE << min(i, 8), no block twice;
 *     entries restore only heap bytes outside their own chain.
 *  F7 A big transaction (more allocations and frees than the lane's redo
 *     log holds, tx.c) appends action records after its entries: entry-
 *     shaped, off = UNDO_ACTS_TAG, data = redo entries (SET/OR/AND of
 *     aligned words of the chunk table or the heap, never inside the
 *     chain), checksummed like an entry but with their own seed; at most
 *     one per area (the writer fills the area; a record of 0 actions pads
 *     an area with room for a header but not for one action).  They count
 *     only when a big commit record (UNDO_COMMIT_TAG_BIG, data = the
 *     number of actions of all the records) follows them, and recovery
 *     checks every target before it applies any.
 */
#ifndef PM_TX_FORMAT_H
#define PM_TX_FORMAT_H

#include <stdint.h>

#include "log/log.h"
#include "base/log_format.h"

struct undo_block {
	uint64_t next;     /* offset of the next block, 0 = last */
	uint64_t capacity; /* bytes of the block, this header included */
	uint64_t reserved[6];
};
_Static_assert(sizeof(struct undo_block) == 64, "undo_block header");

/* Overflow block i is (256 KiB << min(i, 8)) bytes, 64 MiB at most: a
 * handful of blocks covers any transaction, and each is one LARGE object
 * (one redo entry to allocate, one to free). */
#define UNDO_BLOCK_SHIFT_MAX 8
#define UNDO_MAX_BLOCKS 48
#define UNDO_ENTRY_MIN (sizeof(struct undo_entry) + 8)

static inline uint64_t undo_entry_size(uint64_t len)
{
	return sizeof(struct undo_entry) + ((len + 7) & ~UINT64_C(7));
}

/* An entry's checksum: over its header words and `data` (which the writer
 * may pass from where it copies them, so as not to read the log back). */
static inline uint64_t undo_csum_of(unsigned lane, const struct undo_entry *hdr,
                                    const void *data)
{
	uint64_t h = log_hash(UINT64_C(0x554e444f454e5452) ^ ((uint64_t)lane << 40), hdr,
	                      3 * sizeof(uint64_t));
	h = log_hash(h, data, hdr->len);
	return h ? h : 1;
}

static inline uint64_t undo_entry_csum(unsigned lane, const struct undo_entry *e)
{
	return undo_csum_of(lane, e, e->data);
}

/*
 * Commit block (fast commit, tx.c T3): written right after the last entry
 * of an inline-only transaction, in the same fence as its data.  Header as
 * an entry's, with off = a commit tag in the top byte | the commit's seq
 * (the pool-wide operation order, log_format.h); data = the new contents
 * of every entry's range, in entry order (len bytes in all).  With the
 * _REDO tag the transaction also wrote a commit redo log (marked with its
 * gen, same seq) that must be valid for the block to count.
 */
#define UNDO_COMMIT_TAG (UINT64_C(0xff) << 56)
#define UNDO_COMMIT_TAG_REDO (UINT64_C(0xfe) << 56)
/* Big commit (tx.c commit_big, F7): written after a fence that made the
 * data, the new objects and the action records durable; data = one u64,
 * the number of actions in the records before it.  Its data ranges are
 * durable already: recovery applies the actions, restores nothing. */
#define UNDO_COMMIT_TAG_BIG (UINT64_C(0xfc) << 56)
#define UNDO_ACTS_TAG (UINT64_C(0xfd) << 56)
#define UNDO_TAG_MASK (UINT64_C(0xff) << 56)
static inline int undo_is_commit(uint64_t off)
{
	uint64_t t = off & UNDO_TAG_MASK;
	return t == UNDO_COMMIT_TAG || t == UNDO_COMMIT_TAG_REDO || t == UNDO_COMMIT_TAG_BIG;
}
/* Action records per chain (F7): one per area at most. */
#define UNDO_MAX_ACT_RECORDS (UNDO_MAX_BLOCKS + 1)
#define UNDO_BIG_COMMIT_SIZE (sizeof(struct undo_entry) + sizeof(uint64_t))

static inline uint64_t undo_acts_csum(unsigned lane, const struct undo_entry *hdr,
                                      const void *data)
{
	uint64_t h = log_hash(UINT64_C(0x554e444f41435453) ^ ((uint64_t)lane << 40), hdr,
	                      3 * sizeof(uint64_t));
	h = log_hash(h, data, hdr->len);
	return h ? h : 1;
}

/* The undo header's checksum (F5 in the list above): a header whose
 * checksum does not match is read as "no transaction" (every way it can be
 * torn is a moment when rolling nothing back is right: before the first
 * fence of a transaction, or after its outcome is durable). */
static inline uint64_t undo_hdr_csum(unsigned lane, uint64_t gen, uint64_t start,
                                     uint64_t active)
{
	uint64_t w[3] = { gen, start, active };
	uint64_t h = log_hash(UINT64_C(0x554e444f48445221) ^ ((uint64_t)lane << 40), w, sizeof(w));
	return h ? h : 1;
}

static inline uint64_t undo_commit_seed(unsigned lane, const struct undo_entry *hdr)
{
	return log_hash(UINT64_C(0x434f4d4d49544230) ^ ((uint64_t)lane << 40), hdr,
	                3 * sizeof(uint64_t));
}

static inline uint64_t undo_commit_csum(unsigned lane, const struct undo_entry *e)
{
	uint64_t h = log_hash(undo_commit_seed(lane, e), e->data, e->len);
	return h ? h : 1;
}

#endif
