/*
 * undo.c -- layer 3: reading undo logs, and what recovery does with them.
 * The protocol and its invariants (T1-T8, F1-F4) are in tx.c, tx_format.h
 * and docs/TX.md; this file is the reader side: the walker used by abort
 * and recovery, the per-lane recovery decision (committed -> roll forward,
 * else roll back), retiring generations, and freeing leftover overflow
 * chains after the heap is booted.
 */
#include <string.h>

#include "tx/undo.h"

struct undo_area undo_area_inline(struct lane_layout *pl)
{
	return (struct undo_area){ (char *)pl->undo_area, sizeof(pl->undo_area),
	                           &pl->undo.next };
}

/* The block linked by *link, if it looks like one (F3). */
int undo_area_follow(struct pm_pool *p, const uint64_t *link, struct undo_area *a)
{
	uint64_t off = *link;
	if (off == 0 || off % 64 || off < POOL_LANES_OFF || off >= p->size)
		return 0;
	struct undo_block *b = (struct undo_block *)(p->base + off);
	if (b->capacity < sizeof(*b) + UNDO_ENTRY_MIN || b->capacity > p->size - off)
		return 0;
	a->start = (char *)(b + 1);
	a->cap = b->capacity - sizeof(*b);
	a->link = &b->next;
	return 1;
}

/* Does the entry at e (with room bytes left in its area) count for gen? */
static int entry_counts(struct pm_pool *p, struct lane *ln, uint64_t gen,
                        const struct undo_entry *e, uint64_t room)
{
	return e->gen == gen && e->len != 0 && e->len <= room - sizeof(*e) &&
	       e->off >= POOL_LANES_OFF && e->off <= p->size && e->len <= p->size - e->off &&
	       e->checksum == undo_entry_csum(ln->idx, e);
}

/*
 * Walk the entries of generation `gen` in this lane's undo log, from
 * undo.start, with the writer's rule (F4); the first entry that does not
 * count ends the log.  Returns the commit block there if it is a valid one
 * for gen, else NULL.  Flushes, never fences.
 */
const struct undo_entry *undo_walk(struct pm_pool *p, struct lane *ln, uint64_t gen,
                                          enum walk_op op, uint8_t *img, uint64_t img_len)
{
	struct undo_area a = undo_area_inline(ln->pl);
	uint64_t pos = ln->pl->undo.start, done = 0;
	if (pos > a.cap || pos % 8)
		return NULL;
	for (;;) {
		if (a.cap - pos < UNDO_ENTRY_MIN) {
			if (!undo_area_follow(p, a.link, &a))
				return NULL;
			pos = 0;
			continue;
		}
		struct undo_entry *e = (struct undo_entry *)(a.start + pos);
		if (!entry_counts(p, ln, gen, e, a.cap - pos)) {
			if (undo_is_commit(e->off) && e->gen == gen &&
			    e->len <= a.cap - pos - sizeof(*e) &&
			    e->checksum == undo_commit_csum(ln->idx, e))
				return e;
			return NULL;
		}
		char *dst = p->base + e->off;
		switch (op) {
		case WALK_FIND:
			break;
		case WALK_RESTORE:
			memcpy(dst, e->data, e->len);
			flush_range(p->ops, &ln->cnt, dst, e->len);
			break;
		case WALK_FORWARD:
			if (done + e->len > img_len)
				return NULL;
			memcpy(dst, img + done, e->len);
			flush_range(p->ops, &ln->cnt, dst, e->len);
			break;
		}
		done += e->len;
		pos += undo_entry_size(e->len);
	}
}

/* ---- recovery hooks (pool.c, pool_recover) ----------------------------- */

/* T5: retire every generation a crashed transaction may have used (one
 * that crashed before its first fence may have left entries of gen + 1
 * with neither gen nor active durable), and finish: active = 0.  Flushed;
 * the caller fences once for all lanes. */
void tx_retire_lane(struct pm_pool *p, struct lane *ln)
{
	struct undo_log *u = &ln->pl->undo;
	u->gen = (u->gen > u->active ? u->gen : u->active) + 1;
	ln->undo_gen = u->gen;
	u->start = 0;
	u->active = 0;
	flush_range(p->ops, &ln->cnt, u, sizeof(*u));
}

/*
 * T3/T4: committed iff a valid commit block ends the entries and, if its
 * tag says so, the commit log marked with the generation is valid too.
 * (Before the commit fence either may be torn; after it both are whole
 * until active = 0 is durable.)
 */
int tx_lane_committed(struct pm_pool *p, struct lane *ln, long nredo,
                      const struct undo_entry **cbp, uint64_t *cb_seq, int *log_is_commit)
{
	struct redo_log *log = &ln->pl->redo;
	uint64_t g = ln->pl->undo.active;
	uint64_t mark = nredo >= 0 ? redo_mark(log->entries, (uint64_t)nredo) : 0;
	*log_is_commit = nredo >= 0 && mark == g;
	const struct undo_entry *cb = undo_walk(p, ln, g, WALK_FIND, NULL, 0);
	int committed = cb && ((cb->off & UNDO_TAG_MASK) == UNDO_COMMIT_TAG || *log_is_commit);
	*cbp = committed ? cb : NULL;
	*cb_seq = committed ? cb->off & SEQ_MASK : 0;
	return committed;
}

void tx_lane_forward(struct pm_pool *p, struct lane *ln, const struct undo_entry *cb)
{
	undo_walk(p, ln, ln->pl->undo.active, WALK_FORWARD, (uint8_t *)cb->data, cb->len);
}

void tx_lane_rollback(struct pm_pool *p, struct lane *ln)
{
	undo_walk(p, ln, ln->pl->undo.active, WALK_RESTORE, NULL, 0);
}

/*
 * After the heap is booted: free the overflow chain of every idle lane (a
 * rolled-back transaction's, or a committed one's whose unlink did not get
 * published).  One publish per lane: frees + unlink together.
 */
int tx_after_boot(struct pm_pool *p)
{
	for (unsigned i = 0; i < p->nlanes; i++) {
		struct lane *ln = &p->lanes[i];
		struct undo_log *u = &ln->pl->undo;
		if (u->active || u->next == 0)
			continue;
		struct heap_resv blk[UNDO_MAX_BLOCKS];
		unsigned n = 0;
		struct undo_area a;
		const uint64_t *link = &u->next;
		while (n < UNDO_MAX_BLOCKS && undo_area_follow(p, link, &a) &&
		       heap_lookup(&p->heap, *link, &blk[n]) == 0) {
			link = a.link;
			n++;
		}
		redo_buf_init(&ln->redo);
		for (unsigned k = 0; k < n; k++)
			heap_redo_free(&p->heap, &ln->redo, &blk[k]);
		redo_buf_add(&ln->redo, (uint64_t)((char *)&u->next - p->base), REDO_SET, 0);
		int rc = palloc_publish_redo(ln);
		if (rc)
			return rc;
		for (unsigned k = 0; k < n; k++)
			heap_release(&p->heap, ln, &blk[k]);
	}
	return 0;
}
