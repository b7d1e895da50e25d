/*
 * undo.c -- layer 5: reading undo logs, and what recovery does with them.
 * The protocol and its invariants (T1-T8, F1-F4) are in tx.c, tx_format.h
 * and docs/TX.md; this file is the reader side: the walker used by abort
 * and recovery, the per-lane recovery decision (committed -> roll forward,
 * else roll back), retiring generations, and freeing leftover overflow
 * chains after the heap is booted.
 *
 * A big commit (tx.c commit_big, tx_format.h F7) is recognised here too:
 * its commit record follows the entries and the action records; recovery
 * rolls it "forward" by applying the actions (the data ranges were durable
 * before the record was written), every target checked first.
 */
#include <stdlib.h>
#include <string.h>

#include "base/seeded_bugs.h"
#include "tx/undo.h"

struct undo_area undo_area_inline(struct lane_layout *pl)
{
	return (struct undo_area){ (char *)pl->undo_area, sizeof(pl->undo_area),
	                           &pl->undo.next };
}

/* The block linked by *link, if it looks like the idx-th block of a chain
 * (F3, F6): a chunk-aligned heap object with its schedule's capacity. */
int undo_area_follow(struct pm_pool *p, const uint64_t *link, unsigned idx,
                     struct undo_area *a)
{
	uint64_t off = *link;
	const struct heap *h = &p->heap;
	uint64_t heap_end = h->chunks_off + (uint64_t)heap_chunks_now(h) * CHUNK_SIZE;
	if (idx >= UNDO_MAX_BLOCKS || off < h->chunks_off || off >= heap_end ||
	    (off - h->chunks_off) % CHUNK_SIZE)
		return 0;
	unsigned sh = idx < UNDO_BLOCK_SHIFT_MAX ? idx : UNDO_BLOCK_SHIFT_MAX;
	struct undo_block *b = (struct undo_block *)(p->base + off);
	if (b->capacity != (CHUNK_SIZE << sh) || b->capacity > heap_end - off)
		return 0;
	a->start = (char *)(b + 1);
	a->cap = b->capacity - sizeof(*b);
	a->link = &b->next;
	return 1;
}

/* Does the entry at e (with room bytes left in its area) count for gen?
 * Its target must be heap bytes outside the log's own blocks (F6). */
static int entry_counts(struct pm_pool *p, struct lane *ln, uint64_t gen,
                        const struct undo_entry *e, uint64_t room,
                        const uint64_t *blk, unsigned nblk)
{
	const struct heap *h = &p->heap;
	uint64_t heap_end = h->chunks_off + (uint64_t)heap_chunks_now(h) * CHUNK_SIZE;
	if (e->gen != gen || e->len == 0 || e->len > room - sizeof(*e) ||
	    e->off < h->chunks_off || e->off > heap_end || e->len > heap_end - e->off)
		return 0;
	for (unsigned i = 0; i < nblk; i++) {
		uint64_t cap = CHUNK_SIZE << (i < UNDO_BLOCK_SHIFT_MAX ? i : UNDO_BLOCK_SHIFT_MAX);
		if (e->off < blk[i] + cap && blk[i] < e->off + e->len)
			return 0;
	}
	return e->checksum == undo_entry_csum(ln->idx, e);
}

/*
 * Action records (tx_format.h F7): every target an aligned word of the chunk
 * table or of the heap outside the lane's own chain (blk: its blocks), ops
 * SET / OR / AND only.  Checked for all records before any is applied.
 */
static int acts_valid(struct pm_pool *p, const struct undo_acts *a, const uint64_t *blk,
                      unsigned nblk)
{
	const struct heap *h = &p->heap;
	uint64_t heap_end = h->chunks_off + (uint64_t)heap_chunks_now(h) * CHUNK_SIZE;
	uint64_t tab_end = h->table_off + (uint64_t)heap_chunks_now(h) * 8;
	for (unsigned r = 0; r < a->nrec; r++) {
		const struct redo_entry *e = (const struct redo_entry *)a->rec[r]->data;
		uint64_t n = a->rec[r]->len / sizeof(*e);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t t = e[i].off_op & REDO_OFF_MASK;
			unsigned op = (unsigned)(e[i].off_op >> REDO_OP_SHIFT);
			if (op == REDO_MARK || t % 8)
				return 0;
			if (t >= h->table_off && t < tab_end)
				continue;
			if (t < h->chunks_off || t >= heap_end)
				return 0;
			for (unsigned k = 0; k < nblk; k++) {
				uint64_t cap = CHUNK_SIZE << (k < UNDO_BLOCK_SHIFT_MAX ? k : UNDO_BLOCK_SHIFT_MAX);
				if (t >= blk[k] && t - blk[k] < cap)
					return 0;
			}
		}
	}
	return 1;
}

/*
 * Walk the entries of generation `gen` in this lane's undo log, from
 * undo.start, with the writer's rule (F4); the first entry that does not
 * count ends the log.  Returns the commit block there if it is a valid one
 * for gen, else NULL.  Action records (F7) are collected into *acts (a big
 * commit record counts only if their number matches and every target is
 * valid); the other ops skip them.  Flushes, never fences.
 */
static const struct undo_entry *walk(struct pm_pool *p, struct lane *ln, uint64_t gen,
                                     enum walk_op op, uint8_t *img, uint64_t img_len,
                                     struct undo_acts *acts)
{
	struct undo_area a = undo_area_inline(ln->pl);
	uint64_t pos = ln->pl->undo.start, done = 0;
	uint64_t blk[UNDO_MAX_BLOCKS];
	unsigned nblk = 0;
	acts->nrec = 0;
	acts->nacts = 0;
	if (pos > a.cap || pos % 8)
		return NULL;
	for (;;) {
		if (a.cap - pos < UNDO_ENTRY_MIN) {
			/* bounded: at most UNDO_MAX_BLOCKS blocks (F6) */
			uint64_t next = *a.link;
			if (!undo_area_follow(p, a.link, nblk, &a))
				return NULL;
			for (unsigned i = 0; i < nblk; i++)
				if (blk[i] == next)
					return NULL; /* a cycle: damaged */
			blk[nblk++] = next;
			pos = 0;
			continue;
		}
		struct undo_entry *e = (struct undo_entry *)(a.start + pos);
		uint64_t room = a.cap - pos - sizeof(*e);
		if (e->off == UNDO_ACTS_TAG && e->gen == gen && e->len <= room &&
		    e->len % sizeof(struct redo_entry) == 0 &&
		    e->checksum == undo_acts_csum(ln->idx, e, e->data)) {
			/* F7: one record per area at most, so a bounded list */
			if (acts->nrec == UNDO_MAX_ACT_RECORDS)
				return NULL;
			acts->rec[acts->nrec++] = e;
			acts->nacts += e->len / sizeof(struct redo_entry);
			pos += undo_entry_size(e->len);
			continue;
		}
		if (!entry_counts(p, ln, gen, e, a.cap - pos, blk, nblk)) {
			if (!undo_is_commit(e->off) || e->gen != gen || e->len > room ||
			    e->checksum != undo_commit_csum(ln->idx, e))
				return NULL;
			if ((e->off & UNDO_TAG_MASK) != UNDO_COMMIT_TAG_BIG)
				return acts->nrec ? NULL : e; /* records only before a big one */
			uint64_t count;
			if (e->len != sizeof(count))
				return NULL;
			memcpy(&count, e->data, sizeof(count));
			return count == acts->nacts && acts_valid(p, acts, blk, nblk) ? e : NULL;
		}
		if (acts->nrec)
			return NULL; /* entries never follow action records */
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

const struct undo_entry *undo_walk(struct pm_pool *p, struct lane *ln, uint64_t gen,
                                   enum walk_op op, uint8_t *img, uint64_t img_len)
{
	struct undo_acts acts;
	return walk(p, ln, gen, op, img, img_len, &acts);
}

/* ---- recovery hooks (pool.c, pool_recover) ----------------------------- */

/* T5: retire every generation a crashed transaction may have used (one
 * that crashed before its first fence may have left entries of gen + 1
 * with neither gen nor active durable), and finish: active = 0.  Flushed;
 * the caller fences once for all lanes. */
void tx_retire_lane(struct pm_pool *p, struct lane *ln)
{
	struct undo_log *u = &ln->pl->undo;
	uint64_t g = (u->gen > u->active ? u->gen : u->active) + 1;
#if !PM_BUG(PM_BUG_RETIRE_PAST_CAP)
	/* open and check accept gen and active up to UNDO_GEN_CAP: one
	 * more would make the next open refuse a pool this one accepted;
	 * no transaction ever used the cap, so stopping there voids all */
	if (g > UNDO_GEN_CAP)
		g = UNDO_GEN_CAP;
#endif
	u->gen = g;
	ln->undo_gen = u->gen;
	u->start = 0;
	u->active = 0;
	u->hcsum = undo_hdr_csum(ln->idx, u->gen, 0, 0);
	flush_range(p->ops, &ln->cnt, u, sizeof(*u));
}

uint64_t tx_lane_active(const struct lane *ln)
{
	const struct undo_log *u = &ln->pl->undo;
	if (!u->active || u->hcsum != undo_hdr_csum(ln->idx, u->gen, u->start, u->active) ||
	    u->active != u->gen)
		return 0; /* F5: no transaction (or a damaged header) */
	return u->active;
}

/*
 * T3/T4: committed iff a valid commit block ends the entries and, if its
 * tag says so, the commit log marked with the generation is valid too.
 * (Before the commit fence either may be torn; after it both are whole
 * until active = 0 is durable.)
 */
int tx_lane_committed(struct pm_pool *p, struct lane *ln, uint64_t g, long nredo,
                      const struct undo_entry **cbp, uint64_t *cb_seq, int *log_is_commit)
{
	struct redo_log *log = &ln->pl->redo;
	uint64_t mark = nredo >= 0 ? redo_mark(log->entries, (uint64_t)nredo) : 0;
	*log_is_commit = nredo >= 0 && mark == g;
	const struct undo_entry *cb = undo_walk(p, ln, g, WALK_FIND, NULL, 0);
	uint64_t tag = cb ? cb->off & UNDO_TAG_MASK : 0;
	int committed = cb && (tag == UNDO_COMMIT_TAG || tag == UNDO_COMMIT_TAG_BIG || *log_is_commit);
	*cbp = committed ? cb : NULL;
	*cb_seq = committed ? cb->off & SEQ_MASK : 0;
	return committed;
}

void tx_lane_forward(struct pm_pool *p, struct lane *ln, uint64_t g, const struct undo_entry *cb)
{
	if ((cb->off & UNDO_TAG_MASK) != UNDO_COMMIT_TAG_BIG) {
		undo_walk(p, ln, g, WALK_FORWARD, (uint8_t *)cb->data, cb->len);
		return;
	}
	/* A big commit (F7): the data ranges were durable before the record
	 * was written; apply the action records, each target checked again
	 * (the walk validates all of them before returning the record). */
	struct undo_acts a;
	if (walk(p, ln, g, WALK_FIND, NULL, 0, &a) != cb)
		return;
	for (unsigned r = 0; r < a.nrec; r++)
		redo_apply(p->ops, &ln->cnt, p->base, (const struct redo_entry *)a.rec[r]->data,
		           a.rec[r]->len / sizeof(struct redo_entry));
}

void tx_lane_rollback(struct pm_pool *p, struct lane *ln, uint64_t g)
{
	undo_walk(p, ln, g, WALK_RESTORE, NULL, 0);
}

/*
 * After the heap is booted: free the overflow chain of every idle lane (a
 * rolled-back transaction's, or a committed one's whose unlink did not get
 * published).  One publish per lane: frees + unlink together.
 */
int tx_after_boot(struct pm_pool *p)
{
	/* F6: no block in two chains, nor twice in one */
	uint64_t *seen = calloc((size_t)p->nlanes * UNDO_MAX_BLOCKS + 1, sizeof(*seen));
	size_t nseen = 0;
	if (!seen)
		return PM_ERR(PM_ENOMEM, "out of DRAM at open");
	int rc = 0;
	for (unsigned i = 0; i < p->nlanes && !rc; i++) {
		struct lane *ln = &p->lanes[i];
		struct undo_log *u = &ln->pl->undo;
		if (u->active || u->next == 0)
			continue;
		struct heap_resv blk[UNDO_MAX_BLOCKS];
		unsigned n = 0;
		struct undo_area a;
		const uint64_t *link = &u->next;
		while (n < UNDO_MAX_BLOCKS && undo_area_follow(p, link, n, &a) &&
		       heap_lookup(&p->heap, *link, &blk[n]) == 0 &&
		       blk[n].cls == RESV_LARGE &&
		       (uint64_t)blk[n].nchunks * CHUNK_SIZE == a.cap + sizeof(struct undo_block)) {
			int dup = 0;
			for (size_t k = 0; k < nseen && !dup; k++)
				dup = seen[k] == *link;
			if (dup) {
				rc = PM_ERR(PM_ECORRUPT, "lane %u: undo overflow block 0x%llx is linked twice",
				            i, (unsigned long long)*link);
				break;
			}
			seen[nseen++] = *link;
			link = a.link;
			n++;
		}
		if (rc)
			break;
		redo_buf_init(&ln->redo);
		for (unsigned k = 0; k < n; k++)
			heap_redo_free(&p->heap, &ln->redo, &blk[k]);
		redo_buf_add(&ln->redo, (uint64_t)((char *)&u->next - p->base), REDO_SET, 0);
		rc = palloc_publish_redo(ln);
		if (rc)
			break;
		for (unsigned k = 0; k < n; k++)
			heap_release(&p->heap, ln, &blk[k]);
	}
	free(seen);
	return rc;
}
