/*
 * log.c -- layer 2: redo log build, write, validate, apply, invalidate.
 *
 * See log.h for the protocol and invariants L1-L3.  The fences between the
 * steps are the caller's (alloc/palloc.c, pool recovery), because the
 * caller decides what else rides on the same fence.
 */
#include "log/log.h"

#include <string.h>

#include "base/seeded_bugs.h"

#define HASH_MUL UINT64_C(0x9E3779B97F4A7C15)

uint64_t log_hash(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * HASH_MUL;
		h ^= h >> 29;
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t w = 0;
		memcpy(&w, p, len);
		h = (h ^ w ^ ((uint64_t)len << 56)) * HASH_MUL;
		h ^= h >> 29;
	}
	return h;
}

void log_stream_feed(struct log_stream *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len && s->n) { /* complete a partial word first */
		s->buf[s->n++] = *p++;
		len--;
		if (s->n == 8) {
			s->h = log_hash(s->h, s->buf, 8);
			s->n = 0;
		}
	}
	if (len == 0)
		return; /* the partial word (if any) stays buffered */
	size_t whole = len & ~(size_t)7;
	s->h = log_hash(s->h, p, whole);
	p += whole;
	len -= whole;
	memcpy(s->buf, p, len);
	s->n = (unsigned)len;
}

uint64_t log_stream_end(struct log_stream *s)
{
	return log_hash(s->h, s->buf, s->n);
}

/*
 * The value the word at `w` will hold once the log is applied: the log's
 * ops on it, in order, from its value now.  Every op sequence on a word is
 * x -> (x & A) | B, and idempotent, so this is the same before the apply,
 * after it, and after any prefix of it (a crash inside redo_apply).
 */
static uint64_t applied_word(const char *base, uint64_t w, const struct redo_entry *e,
                             uint64_t n)
{
	uint64_t v;
	memcpy(&v, base + w, 8);
	for (uint64_t i = 0; i < n; i++) {
		if ((e[i].off_op & REDO_OFF_MASK) != w)
			continue;
		switch ((enum redo_op)(e[i].off_op >> REDO_OP_SHIFT)) {
		case REDO_SET: v = e[i].value; break;
		case REDO_OR: v |= e[i].value; break;
		case REDO_AND: v &= e[i].value; break;
		case REDO_MARK: break;
		}
	}
	return v;
}

/* Hash a cover [off, off + len) as it will be after the apply: words the
 * log itself stores to (a pm_set_value into an object reserved by the same
 * publish) count with their new values. */
static uint64_t hash_cover(uint64_t h, const char *base, uint64_t off, uint64_t len,
                           const struct redo_entry *e, uint64_t n)
{
	int any = 0;
	for (uint64_t i = 0; i < n && !any; i++) {
		uint64_t t = e[i].off_op & REDO_OFF_MASK;
		any = (e[i].off_op >> REDO_OP_SHIFT) != REDO_MARK && t + 8 > off && t < off + len;
	}
	if (!any || PM_BUG(PM_BUG_COVER_PRE_APPLY))
		return log_hash(h, base + off, len);
	struct log_stream s;
	log_stream_init(&s, h);
	uint64_t pos = off, end = off + len;
	while (pos < end) {
		uint64_t w = pos & ~UINT64_C(7), take = w + 8 - pos;
		if (take > end - pos)
			take = end - pos;
		uint64_t v = applied_word(base, w, e, n);
		log_stream_feed(&s, (const char *)&v + (pos - w), take);
		pos += take;
	}
	return log_stream_end(&s);
}

uint64_t redo_checksum(const char *base, uint64_t size, uint64_t nseq,
                       const struct redo_entry *e, uint64_t n)
{
	uint64_t h = log_hash(UINT64_C(0x5245444f4c4f4721), &nseq, sizeof(nseq));
#if PM_BUG(PM_BUG_CSUM_SKIPS_FIELD)
	for (uint64_t i = 0; i < n; i++) /* BUG: values not covered */
		h = log_hash(h, &e[i].off_op, sizeof(e[i].off_op));
#else
	h = log_hash(h, e, n * sizeof(*e));
#endif
	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = e[i].off_op & REDO_OFF_MASK, len = e[i].value;
		if ((e[i].off_op >> REDO_OP_SHIFT) != REDO_MARK || off == 0)
			continue;
		if (!base || off > size || len > size - off)
			return 0; /* no valid log covers memory outside the pool */
		h = hash_cover(h, base, off, len, e, n);
	}
	return h ? h : 1;
}

int redo_buf_add(struct redo_buf *b, uint64_t off, enum redo_op op,
                 uint64_t value)
{
	uint64_t key = off | ((uint64_t)op << REDO_OP_SHIFT);
	if (op == REDO_OR || op == REDO_AND) {
		/* merge into the LAST op on this word, and only if it is the
		 * same op: merging into an earlier one would reorder it past an
		 * op of the other kind (AND ~z, OR x, AND ~x merged into the
		 * first AND left x set: a transaction's own freed object leaked) */
		for (unsigned i = b->n; i-- > 0;) {
			if ((b->e[i].off_op & REDO_OFF_MASK) != off ||
			    (b->e[i].off_op >> REDO_OP_SHIFT) == REDO_MARK)
				continue;
			if (b->e[i].off_op != key)
				break;
			if (op == REDO_OR)
				b->e[i].value |= value;
			else
				b->e[i].value &= value;
			return 0;
		}
	}
	if (b->n == REDO_MAX)
		return -1;
	b->e[b->n].off_op = key;
	b->e[b->n].value = value;
	b->n++;
	return 0;
}

void redo_write(const struct flush_ops *ops, struct flush_counters *c,
                const char *base, uint64_t size, struct redo_log *log,
                const struct redo_buf *b, uint64_t seq)
{
	size_t bytes = b->n * sizeof(b->e[0]);
	uint64_t nseq = (uint64_t)b->n | (seq & SEQ_MASK) << REDO_SEQ_SHIFT;
	memcpy(log->entries, b->e, bytes);
	log->nseq = nseq;
	log->checksum = redo_checksum(base, size, nseq, b->e, b->n);
#if PM_BUG(PM_BUG_NO_LOG_FLUSH)
	flush_range(ops, c, log, sizeof(*log)); /* BUG: entries never flushed */
#else
	/* header and entries in one range: one flush for a short log */
	flush_range(ops, c, log, sizeof(*log) + bytes);
#endif
}

long redo_valid(const char *base, uint64_t size, const struct redo_log *log,
                size_t capacity, uint64_t *seq)
{
	uint64_t sum = log->checksum;
	uint64_t nseq = log->nseq, n = nseq & REDO_N_MASK;
	if (sum == 0 || n > capacity)
		return -1;
	if (redo_checksum(base, size, nseq, log->entries, n) != sum)
		return -1;
	if (seq)
		*seq = nseq >> REDO_SEQ_SHIFT;
	return (long)n;
}

/*
 * All stores first, then all flushes: on x86 a locked read-modify-write
 * (the OR/AND below) waits for earlier clwb/clflushopt to finish, so
 * interleaving them would turn each flush into a partial fence.
 */
void redo_apply(const struct flush_ops *ops, struct flush_counters *c,
                char *base, const struct redo_entry *e, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t *w = (uint64_t *)(base + (e[i].off_op & REDO_OFF_MASK));
		switch ((enum redo_op)(e[i].off_op >> REDO_OP_SHIFT)) {
		case REDO_SET:
			__atomic_store_n(w, e[i].value, __ATOMIC_RELAXED);
			break;
		case REDO_OR: /* other lanes may own other bits of this word */
			__atomic_fetch_or(w, e[i].value, __ATOMIC_RELAXED);
			break;
		case REDO_AND:
			__atomic_fetch_and(w, e[i].value, __ATOMIC_RELAXED);
			break;
		case REDO_MARK:
			break;
		}
	}
#if !PM_BUG(PM_BUG_NO_APPLY_FLUSH)
	for (uint64_t i = 0; i < n; i++)
		if ((e[i].off_op >> REDO_OP_SHIFT) != REDO_MARK)
			flush_range(ops, c, base + (e[i].off_op & REDO_OFF_MASK), sizeof(uint64_t));
#endif
}

uint64_t redo_mark(const struct redo_entry *e, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (e[i].off_op == ((uint64_t)REDO_MARK << REDO_OP_SHIFT)) /* not a cover */
			return e[i].value;
	return 0;
}

void redo_invalidate(struct redo_log *log)
{
	log->checksum = 0;
}
