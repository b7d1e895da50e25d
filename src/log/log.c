/*
 * log.c -- layer 1: redo log build, write, validate, apply, invalidate.
 *
 * See log.h for the protocol and invariants L1-L3.  The fences between the
 * steps are the caller's (alloc/palloc.c, pool recovery), because the
 * caller decides what else rides on the same fence.
 */
#include "log/log.h"

#include <string.h>

#include "pool/seeded_bugs.h"

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

uint64_t redo_checksum(const char *base, uint64_t size, const struct redo_entry *e,
                       uint64_t n)
{
	uint64_t h = log_hash(UINT64_C(0x5245444f4c4f4721), &n, sizeof(n));
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
		h = log_hash(h, base + off, len);
	}
	return h ? h : 1;
}

int redo_buf_add(struct redo_buf *b, uint64_t off, enum redo_op op,
                 uint64_t value)
{
	uint64_t key = off | ((uint64_t)op << REDO_OP_SHIFT);
	if (op == REDO_OR || op == REDO_AND) {
		for (unsigned i = 0; i < b->n; i++) {
			if (b->e[i].off_op != key)
				continue;
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
                const struct redo_buf *b)
{
	size_t bytes = b->n * sizeof(b->e[0]);
	memcpy(log->entries, b->e, bytes);
	log->nentries = b->n;
	log->checksum = redo_checksum(base, size, b->e, b->n);
#if PM_BUG(PM_BUG_NO_LOG_FLUSH)
	flush_range(ops, c, log, sizeof(*log)); /* BUG: entries never flushed */
#else
	/* header and entries in one range: one flush for a short log */
	flush_range(ops, c, log, sizeof(*log) + bytes);
#endif
}

long redo_valid(const char *base, uint64_t size, const struct redo_log *log,
                size_t capacity)
{
	uint64_t sum = log->checksum;
	uint64_t n = log->nentries;
	if (sum == 0 || n > capacity)
		return -1;
	return redo_checksum(base, size, log->entries, n) == sum ? (long)n : -1;
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
