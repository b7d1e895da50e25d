/*
 * log_format.h -- layer 0: on-media format of the redo and undo logs.
 *
 * Redo log (one per lane, inline, fixed capacity):
 *   header { checksum, n | seq << 8 } + entries[REDO_MAX]
 *   entry  { target offset | op << 62, value }
 * The log is valid iff checksum != 0 and equals redo_checksum(header word,
 * entries).  Invalidation = storing 0 into checksum.  seq is the pool-wide
 * operation sequence number (56 bits): recovery replays the valid logs and
 * committed transactions of all lanes oldest first, and ignores logs whose
 * seq is at or below the pool's recovered watermark (pool_desc).
 *
 * Undo log (one per lane, for transactions): see tx/tx.c for the protocol.
 *   header { gen, start, next (overflow chain head), active, hcsum, reserved }
 *   entries: { off, len, gen, checksum, data[len rounded up to 8] }
 *   commit block (tx.c): an entry header with off = a commit tag in the
 *   top byte | the commit's seq, then the new contents of every entry's
 *   range
 *   big transactions (tx_format.h F7): action records (entry headers
 *   tagged UNDO_ACTS_TAG, data = redo entries) after the entries, then a
 *   big commit record (UNDO_COMMIT_TAG_BIG | seq, data = their count)
 */
#ifndef PM_LOG_FORMAT_H
#define PM_LOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

enum redo_op {
	REDO_SET = 0, /* *target = value */
	REDO_OR = 1,  /* *target |= value  (allocate bits) */
	REDO_AND = 2, /* *target &= value  (free bits: value has them cleared) */
	REDO_MARK = 3, /* no store: value is the undo generation whose commit
	                * this log completes (tx/tx.c); covered by the checksum */
};

#define REDO_OP_SHIFT 62
#define REDO_OFF_MASK ((UINT64_C(1) << REDO_OP_SHIFT) - 1)

struct redo_entry {
	uint64_t off_op; /* target offset (8-aligned) | op << 62 */
	uint64_t value;
};

/* The header is two words so that a short log (up to 3 entries: every
 * pmalloc and pfree) shares one cache line with it: one flush. */
struct redo_log {
	uint64_t checksum; /* 0 = invalid */
	uint64_t nseq;     /* entries (low 8 bits) | seq << REDO_SEQ_SHIFT */
	struct redo_entry entries[];
};
#define REDO_SEQ_SHIFT 8
#define REDO_N_MASK ((UINT64_C(1) << REDO_SEQ_SHIFT) - 1)
#define SEQ_MASK ((UINT64_C(1) << 56) - 1)
/* Sequence numbers are 56 bits wherever they are stored (logs, commit
 * blocks); pool_desc.recovered_seq above SEQ_MASK is damage (open and check
 * refuse it: every log would read as replayed).  A watermark at or above
 * SEQ_RENUMBER (only a damaged descriptor gets there: 2^55 operations)
 * makes recovery renumber once it is done (pool.c R5), so that no session
 * hands out a seq that wraps to below the watermark. */
#define SEQ_RENUMBER (UINT64_C(1) << 55)
_Static_assert(sizeof(struct redo_log) == 16, "redo_log header");

#define REDO_MAX ((4096u - sizeof(struct redo_log)) / sizeof(struct redo_entry))

struct undo_log {
	uint64_t gen;   /* transaction generation; entries of other gens are stale */
	uint64_t start; /* offset in the lane's area of the running tx's first entry */
	uint64_t next;  /* offset of first overflow block, 0 = none */
	uint64_t active; /* nonzero while a transaction may need rolling back */
	uint64_t hcsum; /* over lane, gen, start, active (undo_hdr_csum): a
	                 * header that does not match means no transaction */
	uint64_t reserved[3];
};
/* Generations stay far below this: a larger gen or active is damage. */
#define UNDO_GEN_MAX (UINT64_C(1) << 62)
/* The highest generation the library stores.  A transaction never uses it
 * (one that would is refused: tx.c undo_begin), so retiring a lane there
 * voids every generation one could have used; retiring saturates at it
 * (undo.c tx_retire_lane, repair.c), and no open, however many, pushes a
 * lane past what open and check accept.  Real use never comes near (2^62
 * transactions); a damaged header can put a lane there. */
#define UNDO_GEN_CAP (UNDO_GEN_MAX - 1)
_Static_assert(sizeof(struct undo_log) == 64, "undo_log header");

struct undo_entry {
	uint64_t off;      /* start of the snapshot range */
	uint64_t len;      /* bytes; 0 marks the end */
	uint64_t gen;      /* must equal undo_log.gen */
	uint64_t checksum; /* over off, len, gen and data */
	uint8_t data[];
};
_Static_assert(sizeof(struct undo_entry) == 32, "undo_entry header");

#endif
