/*
 * log.h -- layer 2: redo log operations (undo-log helpers live in tx/).
 *
 * A redo log is built in DRAM (struct redo_buf, merging bit operations on
 * the same word), written into a lane's persistent redo area and flushed
 * (redo_write), made durable by the caller's fence, applied word by word
 * with each target flushed (redo_apply), and finally invalidated
 * (redo_invalidate).  Replay after a crash is redo_valid + redo_apply:
 * every op is idempotent (SET, OR, AND), so replaying twice is harmless.
 *
 * Invariants:
 *  L1 A log is valid iff its checksum is nonzero and matches its entries;
 *     a torn write (any subset of words durable) fails the check.
 *  L2 No apply store reaches the pool before the log is durable (caller's
 *     fence between redo_write and redo_apply).
 *  L3 Invalidation becomes durable only after every applied word is: it
 *     is stored after the fence that made them durable.
 */
#ifndef PM_LOG_H
#define PM_LOG_H

#include "flush/flush.h"
#include "base/log_format.h"
#include "base/types.h"


uint64_t log_hash(uint64_t h, const void *data, size_t len);

/* log_hash of a buffer fed in pieces: log_stream_end returns exactly
 * log_hash(h0, concatenation of the pieces). */
struct log_stream {
	uint64_t h;
	uint8_t buf[8];
	unsigned n;
};
static inline void log_stream_init(struct log_stream *s, uint64_t h0)
{
	s->h = h0;
	s->n = 0;
}
void log_stream_feed(struct log_stream *s, const void *data, size_t len);
uint64_t log_stream_end(struct log_stream *s);

static inline void redo_buf_init(struct redo_buf *b)
{
	b->n = 0;
}

/* Add an op; OR/AND on a word already in the buffer merge.  -1 if full. */
int redo_buf_add(struct redo_buf *b, uint64_t off, enum redo_op op,
                 uint64_t value);

/*
 * Covers.  A REDO_MARK entry with a nonzero target is a cover: the log's
 * checksum also hashes the pool bytes [target, target + value) as they will
 * be once the log is applied (a word the log itself stores to counts with
 * its new value: a pm_set_value into an object reserved by the same
 * publish), both when it is written and when it is validated, so a partly
 * applied log still validates.  A publish covers the
 * contents of the objects it makes reachable (flushed before its commit
 * fence), so a log that reached media before those contents did fails its
 * checksum and is not replayed.  Once the log was applied and fenced the
 * contents may change: the log then fails its checksum, which is as good
 * as the invalidation it is waiting for.  base/size: the pool (NULL/0 for
 * a log without covers).
 */
uint64_t redo_checksum(const char *base, uint64_t size, uint64_t nseq,
                       const struct redo_entry *e, uint64_t n);

/* Store entries + header (with the operation's seq) into the persistent
 * log and flush them (no fence). */
void redo_write(const struct flush_ops *ops, struct flush_counters *c,
                const char *base, uint64_t size, struct redo_log *log,
                const struct redo_buf *b, uint64_t seq);

/* Number of entries if the log is valid (and its seq), -1 otherwise. */
long redo_valid(const char *base, uint64_t size, const struct redo_log *log,
                size_t capacity, uint64_t *seq);

/* Perform the entries on the pool at `base`, flushing each target. */
void redo_apply(const struct flush_ops *ops, struct flush_counters *c,
                char *base, const struct redo_entry *e, uint64_t n);

/* The value of the log's REDO_MARK entry (a transaction's generation), 0 if none. */
uint64_t redo_mark(const struct redo_entry *e, uint64_t n);

/* checksum = 0: a plain store, neither flushed nor fenced (the caller
 * decides when; see lane/lane.h on lazy invalidation). */
void redo_invalidate(struct redo_log *log);

#endif
