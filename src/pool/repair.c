/*
 * repair.c -- layer 6 (internal, for the pmstore tool): the raw walk of a
 * pool file's media (no recovery) and offline repair.  See repair.h.
 *
 * What the walk checks, in file order, listing EVERY problem (not only the
 * first) with its offset and structure:
 *   header   magic, layout version, checksum, size and geometry; a header
 *            whose checksum is bad but whose geometry is exactly the one
 *            layout_for derives from the file size and its lane count is
 *            "rebuildable" (checksum recomputed over the fields as they
 *            are: uuid, flags and creation time kept); any other
 *            disagreement is unrecoverable and ends the walk.
 *   lanes    redo: empty / of a shape the library never writes (forged:
 *            pool.c redo_shape_ok) / invalid (checksum: torn or stale) /
 *            void (seq at or below the watermark) / pending replay; a
 *            pending log whose replay would break the chunk table.
 *            undo: generation out of range, header checksum mismatch,
 *            active transaction, overflow chain shape (blocks, cycle); an
 *            active lane walked as recovery walks it: a committed big
 *            transaction (action records + big commit record, tx_format.h
 *            F7) is noted, its actions count as pending stores (gaps,
 *            the chunk-table replay check), a refused target or a
 *            missing record is noted as a rollback, the lane's retire log
 *            noted as zeroed (recovery never replays it).
 *   heap     the chunk table walk; at a header that cannot be walked past
 *            (bad type, unknown class, span out of range, a run span its
 *            class does not have: heap_run_geom) it resyncs at
 *            the first chunk from which the walk is clean to the end; run
 *            bitmap bits past the last block; stray LARGE headers no walk
 *            reaches (notes).
 *   root     an allocated object of at least root_size bytes.
 *
 * What repair (fix = 1) does with each:
 *   header checksum (rebuildable)  checksum recomputed
 *   forged / invalid redo log      dropped (checksum and n|seq zeroed)
 *   valid log breaking the table   dropped (it is forged: the library
 *                                  never writes such a log)
 *   undo header bad checksum       lane retired (active 0, gen + 1); a note,
 *                                  not a problem: a crash can tear it so
 *   undo generation out of range   lane retired at a generation above
 *                                  every lane's, its inline entries zeroed
 *   watermark above 2^56 - 1       every lane's log dropped (all read as
 *                                  replayed under it), watermark set to 0
 *   damaged chunk header           the gap up to the resync point becomes
 *                                  FREE(gap) if every byte of it is zero
 *                                  and neither the root nor a pending
 *                                  log's store is in it (nothing there to
 *                                  lose), else LARGE(gap):
 *                                  quarantined, never handed out
 *   bitmap bits past the last block cleared (they name no block)
 *   perm_off not an allocated object   cleared (the saved globals lost),
 *   root not an allocated object   cleared (root_off = root_size = 0),
 *                                  unless a pending log sets it
 * Valid pending logs and active transactions are left for recovery.
 * A WAL-mode log beside the pool (<pool>.wal, flush/wal.c) is applied
 * first, as pm_open would: to the private copy of the look and of a dry
 * run, to the file itself before a repair copies and changes it.
 *
 * What it can NOT do: recognise which objects a quarantined span held (a
 * damaged RUN header loses its blocks' individual allocation: they stay
 * unavailable as one LARGE object), tell a stale header that happens to
 * start a clean walk from a real one (resync picks the first such chunk:
 * two damaged headers close together become one gap), or survive a crash
 * half-way (no atomicity: plain stores, then msync and fsync; the backup
 * is the way back).
 *
 * The geometry, the header checksum and the log-shape rule are pool.c's
 * own (pool_layout_for, pool_hdr_checksum, pool_redo_shape_bad), so what
 * repair drops is exactly what open ignores.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flush/flush.h"
#include "pool/repair.h"
#include "tx/tx_format.h"

/* ---- the walk ------------------------------------------------------------ */

void media_scan_free(struct media_scan *s)
{
	pool_problems_free(&s->problems);
	pool_problems_free(&s->notes);
	pool_problems_free(&s->actions);
}

struct scan {
	char *base;
	size_t size;
	int fix;
	struct media_scan *s;
	struct pool_hdr h; /* as validated (or rebuilt) */
	struct pool_desc *desc;
	uint64_t *table;
	uint8_t *pending; /* per lane: a valid log recovery would replay */
	uint64_t *pseq;
	struct big_recs *big; /* per lane: a committed big transaction's records */
};

/* The action records of a lane's committed big transaction (tx_format.h
 * F7), as recovery would apply them (n = 0: none). */
struct big_recs {
	const struct undo_entry *rec[UNDO_MAX_ACT_RECORDS];
	unsigned n;
	uint64_t seq;
};

static struct lane_layout *lane_at(struct scan *c, unsigned i)
{
	return (struct lane_layout *)(c->base + POOL_LANES_OFF + (uint64_t)i * LANE_SIZE);
}

static int scan_header(struct scan *c)
{
	struct media_scan *s = c->s;
	if (c->size < POOL_HDR_SIZE) {
		s->hdr = HDR_FOREIGN;
		snprintf(s->hdr_why, sizeof(s->hdr_why), "%zu bytes is too short for a pmstore pool", c->size);
		return PM_EFOREIGN;
	}
	struct pool_hdr *h = (struct pool_hdr *)c->base;
	if (memcmp(h->magic, POOL_MAGIC, 8) != 0) {
		s->hdr = HDR_FOREIGN;
		snprintf(s->hdr_why, sizeof(s->hdr_why), "not a pmstore pool (bad magic)");
		return PM_EFOREIGN;
	}
	if (h->layout_version != POOL_LAYOUT_VERSION) {
		s->hdr = HDR_VERSION;
		snprintf(s->hdr_why, sizeof(s->hdr_why), "pool layout version %u, this tool reads %u",
		         h->layout_version, POOL_LAYOUT_VERSION);
		return PM_EVERSION;
	}
	int csum_ok = h->checksum == pool_hdr_checksum(h);
	struct pool_layout l = { 0 };
	const char *bad = NULL;
	int growable = (h->flags & POOL_FLAG_GROWABLE) != 0;
	uint64_t geo = growable ? h->pool_size : c->size; /* P5: the maximum's geometry */
	if (h->flags & ~POOL_FLAGS_KNOWN)
		bad = "flags unknown to this tool";
	else if (!growable && h->pool_size != c->size)
		bad = "pool_size differs from the file's size (truncated or extended?)";
	else if (growable && (h->pool_size > POOL_MAX_SIZE || c->size > h->pool_size ||
	                      c->size < h->chunks_off + CHUNK_SIZE))
		bad = "a growable pool's file is longer than its maximum or shorter than its first chunk";
	else if (h->nlanes == 0 || h->nlanes > POOL_MAX_LANES)
		bad = "lane count out of range";
	else if (h->lane_size != LANE_SIZE || h->lanes_off != POOL_LANES_OFF)
		bad = "lane size or offset";
	else if (h->chunk_size != CHUNK_SIZE)
		bad = "chunk size";
	else if (pool_layout_for(geo, h->nlanes, &l) || l.table_off != h->chunk_table_off ||
	         l.chunks_off != h->chunks_off || l.nchunks != h->nchunks)
		bad = "chunk table / heap geometry does not follow from the size and lane count";
	if (bad) {
		s->hdr = HDR_BAD;
		snprintf(s->hdr_why, sizeof(s->hdr_why), "pool header %s: %s (unrecoverable: %s)",
		         csum_ok ? "geometry is inconsistent" : "checksum mismatch", bad,
		         "the header cannot be rebuilt from the file size and lane count");
		pool_problems_add(&s->problems, PM_ECORRUPT, "header", 0, "header", "%s", s->hdr_why);
		return PM_ECORRUPT;
	}
	if (!csum_ok) {
		s->hdr = HDR_REBUILDABLE;
		snprintf(s->hdr_why, sizeof(s->hdr_why),
		         "pool header checksum mismatch; its geometry agrees with the file size (%zu bytes) "
		         "and its lane count (%u)", c->size, h->nlanes);
		pool_problems_add(&s->problems, PM_ECORRUPT, "header_checksum",
		                  offsetof(struct pool_hdr, checksum), "header", "%s", s->hdr_why);
		if (c->fix) {
			h->checksum = pool_hdr_checksum(h);
			pool_problems_add(&s->actions, 0, "header_checksum", offsetof(struct pool_hdr, checksum),
			                  "header", "checksum recomputed over the header as it is (geometry "
			                  "from size %zu and %u lanes; uuid, flags, creation time kept)",
			                  c->size, h->nlanes);
		}
	}
	c->h = *h;
	if (growable) {
		/* P5: the heap in use is the recorded count's; a count the file
		 * cannot hold is damage.  The fix takes every whole chunk the
		 * file has (up to the maximum): the walk below then ends there,
		 * quarantining what it cannot read as free. */
		struct pool_desc *d = (struct pool_desc *)(c->base + POOL_DESC_OFF);
		uint64_t fit = (c->size - h->chunks_off) / CHUNK_SIZE;
		if (fit > h->nchunks)
			fit = h->nchunks;
		uint64_t off = POOL_DESC_OFF + offsetof(struct pool_desc, heap_chunks);
		if (d->heap_chunks == 0 || d->heap_chunks > fit) {
			pool_problems_add(&s->problems, PM_ECORRUPT, "heap_chunks", off, "descriptor",
			                  "descriptor records a heap of %llu chunks; the file holds %llu",
			                  (unsigned long long)d->heap_chunks, (unsigned long long)fit);
			if (c->fix) {
				pool_problems_add(&s->actions, 0, "heap_chunks", off, "descriptor",
				                  "heap size set to the %llu chunks the file holds (was %llu)",
				                  (unsigned long long)fit, (unsigned long long)d->heap_chunks);
				d->heap_chunks = fit;
			}
		}
		c->h.nchunks = d->heap_chunks && d->heap_chunks <= fit ? d->heap_chunks : fit;
	}
	return 0;
}

static void drop_redo(struct scan *c, unsigned i, const char *why)
{
	struct redo_log *log = &lane_at(c, i)->redo;
	log->checksum = 0;
	log->nseq = 0;
	char nm[64];
	snprintf(nm, sizeof(nm), "lane %u redo", i);
	pool_problems_add(&c->s->actions, 0, "redo_dropped",
	                  (uint64_t)((char *)log - c->base), nm, "log dropped (%s)", why);
}

static void scan_redo(struct scan *c, unsigned i, uint64_t *budget)
{
	struct media_scan *s = c->s;
	struct lane_layout *pl = lane_at(c, i);
	struct redo_log *log = &pl->redo;
	uint64_t off = (uint64_t)((char *)log - c->base), mark = c->desc->recovered_seq;
	char nm[64];
	snprintf(nm, sizeof(nm), "lane %u redo", i);
	if (log->checksum == 0) {
		s->redo_empty++;
		return;
	}
	uint64_t n = log->nseq & REDO_N_MASK, seq = log->nseq >> REDO_SEQ_SHIFT;
	long bad = pool_redo_shape_bad(&c->h, (uint64_t)((char *)&pl->undo - c->base), log, budget);
	if (bad >= 0) {
		s->redo_forged++;
		if ((uint64_t)bad >= n)
			pool_problems_add(&s->problems, PM_ECORRUPT, "redo_forged", off, nm,
			                  "%llu entries, at most %u: a shape the library never writes "
			                  "(never replayed)", (unsigned long long)n, (unsigned)REDO_MAX);
		else
			pool_problems_add(&s->problems, PM_ECORRUPT, "redo_forged", off, nm,
			                  "entry %ld (op %u, target 0x%llx, value 0x%llx) is of a shape the "
			                  "library never writes (never replayed)", bad,
			                  (unsigned)(log->entries[bad].off_op >> REDO_OP_SHIFT),
			                  (unsigned long long)(log->entries[bad].off_op & REDO_OFF_MASK),
			                  (unsigned long long)log->entries[bad].value);
		if (c->fix)
			drop_redo(c, i, "forged");
		return;
	}
	if (redo_valid(c->base, c->size, log, REDO_MAX, &seq) < 0) {
		s->redo_invalid++;
		pool_problems_add(&s->notes, 0, "redo_invalid", off, nm,
		                  "checksum does not match its %llu entries (torn or stale): not replayed",
		                  (unsigned long long)n);
		if (c->fix)
			drop_redo(c, i, "invalid");
		return;
	}
	if (seq <= mark) {
		s->redo_void++;
		pool_problems_add(&s->notes, 0, "redo_void", off, nm,
		                  "valid, seq %llu at or below the watermark %llu: void",
		                  (unsigned long long)seq, (unsigned long long)mark);
		return;
	}
	s->redo_pending++;
	c->pending[i] = 1;
	c->pseq[i] = seq;
	pool_problems_add(&s->notes, 0, "redo_pending", off, nm,
	                  "valid, %llu entries, seq %llu above the watermark %llu: recovery replays it",
	                  (unsigned long long)n, (unsigned long long)seq, (unsigned long long)mark);
}

/* The overflow chain's shape (undo.c undo_area_follow's rules). */
static void scan_chain(struct scan *c, unsigned i, const struct undo_log *u, uint64_t uoff)
{
	uint64_t heap_lo = c->h.chunks_off, heap_end = heap_lo + c->h.nchunks * CHUNK_SIZE;
	uint64_t blk[UNDO_MAX_BLOCKS];
	unsigned nb = 0;
	uint64_t off = u->next;
	const char *end = "end of chain";
	char nm[64];
	snprintf(nm, sizeof(nm), "lane %u undo chain", i);
	while (off) {
		unsigned sh = nb < UNDO_BLOCK_SHIFT_MAX ? nb : UNDO_BLOCK_SHIFT_MAX;
		if (nb >= UNDO_MAX_BLOCKS) {
			end = "more blocks than a chain has: the rest is ignored";
			break;
		}
		if (off < heap_lo || off >= heap_end || (off - heap_lo) % CHUNK_SIZE) {
			end = "a link that is not a chunk of the heap: the rest is ignored";
			break;
		}
		const struct undo_block *b = (const struct undo_block *)(c->base + off);
		if (b->capacity != (CHUNK_SIZE << sh) || b->capacity > heap_end - off) {
			end = "a block whose capacity is not its schedule's: the rest is ignored";
			break;
		}
		int dup = 0;
		for (unsigned k = 0; k < nb; k++)
			dup |= blk[k] == off;
		if (dup) {
			end = "a cycle (a block linked twice): the walk ends there";
			break;
		}
		blk[nb++] = off;
		off = b->next;
	}
	pool_problems_add(&c->s->notes, 0, "undo_chain", uoff + offsetof(struct undo_log, next), nm,
	                  "overflow chain: %u block(s) from 0x%llx, then %s%s", nb,
	                  (unsigned long long)u->next, end,
	                  u->active ? "" : " (an idle lane's: open frees it)");
}

/*
 * A lane's active transaction, walked as recovery walks it (undo.c: the
 * entries, then action records, then a commit record; chain links by
 * scan_chain's rules): a big commit record whose count matches means
 * recovery applies the records' actions -- noted, and kept for the gap and
 * replay checks below; a target recovery refuses (undo.c acts_valid) makes
 * it roll the transaction back instead.
 */
static void scan_big(struct scan *c, unsigned i, const struct undo_log *u, uint64_t uoff)
{
	uint64_t heap_lo = c->h.chunks_off, heap_end = heap_lo + c->h.nchunks * CHUNK_SIZE;
	uint64_t tab_lo = c->h.chunk_table_off, tab_end = tab_lo + c->h.nchunks * 8;
	struct lane_layout *pl = lane_at(c, i);
	const char *area = (const char *)pl->undo_area;
	uint64_t cap = sizeof(pl->undo_area), pos = u->start, gen = u->active, nacts = 0;
	const uint64_t *link = &u->next;
	uint64_t blk[UNDO_MAX_BLOCKS];
	unsigned nb = 0;
	struct big_recs *b = &c->big[i];
	const struct undo_entry *cb = NULL;
	b->n = 0;
	if (pos > cap || pos % 8)
		return;
	for (;;) {
		if (cap - pos < UNDO_ENTRY_MIN) {
			uint64_t off = *link;
			unsigned sh = nb < UNDO_BLOCK_SHIFT_MAX ? nb : UNDO_BLOCK_SHIFT_MAX;
			int dup = 0;
			for (unsigned k = 0; k < nb; k++)
				dup |= blk[k] == off;
			if (nb >= UNDO_MAX_BLOCKS || dup || off < heap_lo || off >= heap_end ||
			    (off - heap_lo) % CHUNK_SIZE)
				break;
			const struct undo_block *ub = (const struct undo_block *)(c->base + off);
			if (ub->capacity != (CHUNK_SIZE << sh) || ub->capacity > heap_end - off)
				break;
			blk[nb++] = off;
			area = (const char *)(ub + 1);
			cap = ub->capacity - sizeof(*ub);
			link = &ub->next;
			pos = 0;
			continue;
		}
		const struct undo_entry *e = (const struct undo_entry *)(area + pos);
		uint64_t room = cap - pos - sizeof(*e);
		if (e->gen != gen || e->len > room)
			break;
		if (e->off == UNDO_ACTS_TAG && e->len % sizeof(struct redo_entry) == 0 &&
		    e->checksum == undo_acts_csum(i, e, e->data)) {
			if (b->n == UNDO_MAX_ACT_RECORDS)
				break;
			b->rec[b->n++] = e;
			nacts += e->len / sizeof(struct redo_entry);
			pos += undo_entry_size(e->len);
			continue;
		}
		if (undo_is_commit(e->off)) {
			if (e->checksum == undo_commit_csum(i, e))
				cb = e;
			break;
		}
		if (b->n || e->len == 0 || e->checksum != undo_entry_csum(i, e))
			break;
		pos += undo_entry_size(e->len);
	}
	char nm[64];
	snprintf(nm, sizeof(nm), "lane %u undo log", i);
	uint64_t count = 0;
	int big = cb && (cb->off & UNDO_TAG_MASK) == UNDO_COMMIT_TAG_BIG && cb->len == 8;
	if (big)
		memcpy(&count, cb->data, 8);
	if (!big || count != nacts) {
		if (b->n)
			pool_problems_add(&c->s->notes, 0, "big_uncommitted", uoff, nm,
			                  "%u action records (%llu actions) without a matching big commit "
			                  "record: recovery rolls the transaction back", b->n,
			                  (unsigned long long)nacts);
		b->n = 0;
		return;
	}
	for (unsigned r = 0; r < b->n; r++) {
		const struct redo_entry *a = (const struct redo_entry *)b->rec[r]->data;
		for (uint64_t k = 0; k < b->rec[r]->len / sizeof(*a); k++) {
			uint64_t t = a[k].off_op & REDO_OFF_MASK;
			int ok = (a[k].off_op >> REDO_OP_SHIFT) != REDO_MARK && t % 8 == 0 &&
			         ((t >= tab_lo && t < tab_end) || (t >= heap_lo && t < heap_end));
			for (unsigned q = 0; ok && q < nb && t >= heap_lo; q++)
				ok = !(t >= blk[q] && t - blk[q] < (CHUNK_SIZE << (q < UNDO_BLOCK_SHIFT_MAX
				                                                     ? q : UNDO_BLOCK_SHIFT_MAX)));
			if (!ok) {
				pool_problems_add(&c->s->notes, 0, "big_refused",
				                  (uint64_t)((const char *)&a[k] - c->base), nm,
				                  "big commit record, but action %llu of record %u (target "
				                  "0x%llx) is one recovery refuses: it rolls the transaction back",
				                  (unsigned long long)k, r, (unsigned long long)t);
				b->n = 0;
				return;
			}
		}
	}
	b->seq = cb->off & SEQ_MASK;
	pool_problems_add(&c->s->notes, 0, "big_commit", (uint64_t)((const char *)cb - c->base), nm,
	                  "committed big transaction (seq %llu): %llu actions in %u records; recovery "
	                  "applies them", (unsigned long long)b->seq, (unsigned long long)nacts, b->n);
}

static void scan_undo(struct scan *c, unsigned i, uint8_t *bad)
{
	struct media_scan *s = c->s;
	struct undo_log *u = &lane_at(c, i)->undo;
	uint64_t off = (uint64_t)((char *)u - c->base);
	char nm[64];
	snprintf(nm, sizeof(nm), "lane %u undo header", i);
	if (u->gen >= UNDO_GEN_MAX || u->active >= UNDO_GEN_MAX) {
		s->undo_bad++;
		bad[i] = 2;
		pool_problems_add(&s->problems, PM_ECORRUPT, "undo_generation", off, nm,
		                  "undo generation out of range (gen 0x%llx, active 0x%llx; limit 2^62): "
		                  "pm_open refuses the pool", (unsigned long long)u->gen,
		                  (unsigned long long)u->active);
		return;
	}
	if (u->hcsum != undo_hdr_csum(i, u->gen, u->start, u->active)) {
		s->undo_bad++;
		bad[i] = 1;
		/* a note, not damage: a crash can tear the header this way
		 * (tx.c writes its words with the checksum, then one fence) */
		pool_problems_add(&s->notes, 0, "undo_checksum", off, nm,
		                  "undo header checksum mismatch (gen %llu, active %llu, start %llu): "
		                  "torn or damaged, read as no transaction", (unsigned long long)u->gen,
		                  (unsigned long long)u->active, (unsigned long long)u->start);
		return;
	}
	if (u->active) {
		s->undo_active++;
		if (u->active == u->gen)
			scan_big(c, i, u, off);
		if (c->pending[i]) {
			/* the transaction's own retire log (it stores to this
			 * lane's active): recovery never applies it while the
			 * lane is active (pool.c R1), it zeroes it */
			const struct redo_log *log = &lane_at(c, i)->redo;
			uint64_t t = off + offsetof(struct undo_log, active);
			for (uint64_t e = 0; e < (log->nseq & REDO_N_MASK); e++)
				if ((log->entries[e].off_op & REDO_OFF_MASK) == t) {
					c->pending[i] = 0;
					s->redo_pending--; /* (the note above stands corrected) */
					pool_problems_add(&s->notes, 0, "redo_retire", off, nm,
					                  "the pending log is this transaction's retire log: "
					                  "recovery zeroes it instead of replaying it");
					break;
				}
		}
		pool_problems_add(&s->notes, 0, "undo_active", off, nm,
		                  u->active == u->gen ? "transaction generation %llu active: recovery rolls "
		                                        "it forward (committed) or back"
		                                      : "active %llu differs from gen: read as no transaction",
		                  (unsigned long long)u->active);
	} else {
		s->undo_idle++;
	}
	if (u->next)
		scan_chain(c, i, u, off);
}

/* Retire the damaged undo headers (after every lane was read: an out of
 * range generation restarts above every lane's). */
static void fix_undo(struct scan *c, const uint8_t *bad)
{
	uint64_t top = 0;
	for (unsigned i = 0; i < c->h.nlanes; i++) {
		const struct undo_log *u = &lane_at(c, i)->undo;
		if (u->gen < UNDO_GEN_MAX && u->gen > top)
			top = u->gen;
		if (u->active < UNDO_GEN_MAX && u->active > top)
			top = u->active;
	}
	for (unsigned i = 0; i < c->h.nlanes; i++) {
		if (!bad[i])
			continue;
		struct lane_layout *pl = lane_at(c, i);
		struct undo_log *u = &pl->undo;
		uint64_t g;
		if (bad[i] == 2) {
			g = top + 1;
			memset(pl->undo_area, 0, sizeof(pl->undo_area));
		} else {
			g = (u->gen > u->active ? u->gen : u->active) + 1;
		}
		if (g > UNDO_GEN_CAP) /* as tx_retire_lane: open accepts no more */
			g = UNDO_GEN_CAP;
		u->gen = g;
		u->start = 0;
		u->active = 0;
		u->hcsum = undo_hdr_csum(i, g, 0, 0);
		char nm[64];
		snprintf(nm, sizeof(nm), "lane %u undo header", i);
		pool_problems_add(&c->s->actions, 0, "undo_retired", (uint64_t)((char *)u - c->base), nm,
		                  "header rewritten idle: active 0, generation %llu%s (a transaction it "
		                  "described is neither rolled back nor forward)", (unsigned long long)g,
		                  bad[i] == 2 ? ", inline entries zeroed" : "");
	}
}

static int hdr_walkable(uint64_t hd, uint32_t k, uint32_t n)
{
	uint64_t cnt = chunk_count_of(hd);
	switch (chunk_type_of(hd)) {
	case CHUNK_FREE:
	case CHUNK_LARGE:
		return cnt >= 1 && cnt <= n - k;
	case CHUNK_RUN: {
		struct run_geom g; /* a (class, span) the library writes */
		return cnt <= n - k && heap_run_geom(chunk_class_of(hd), cnt, &g) == 0;
	}
	default:
		return 0;
	}
}

static uint32_t hdr_span(uint64_t hd)
{
	return (uint32_t)chunk_span_of(hd);
}

/* clean[k]: the walk from chunk k reaches the end through walkable headers. */
static uint8_t *clean_suffix(const uint64_t *t, uint32_t n)
{
	uint8_t *ok = calloc((size_t)n + 1, 1);
	if (!ok)
		return NULL;
	ok[n] = 1;
	for (uint32_t k = n; k-- > 0;)
		ok[k] = hdr_walkable(t[k], k, n) && ok[k + hdr_span(t[k])];
	return ok;
}

static int all_zero(const char *p, uint64_t len)
{
	const uint64_t *w = (const uint64_t *)p;
	for (uint64_t i = 0; i < len / 8; i++)
		if (w[i])
			return 0;
	return 1;
}

/* A pending log (to be replayed by recovery) stores into or covers
 * [lo, hi): the gap is not free even if its bytes are zero. */
static int pending_touches(struct scan *c, uint64_t lo, uint64_t hi)
{
	for (unsigned i = 0; i < c->h.nlanes; i++) {
		const struct big_recs *b = &c->big[i];
		for (unsigned r = 0; r < b->n; r++) {
			const struct redo_entry *a = (const struct redo_entry *)b->rec[r]->data;
			for (uint64_t k = 0; k < b->rec[r]->len / sizeof(*a); k++) {
				uint64_t t = a[k].off_op & REDO_OFF_MASK;
				if (t < hi && lo < t + 8)
					return 1;
			}
		}
		if (!c->pending[i])
			continue;
		const struct redo_log *log = &lane_at(c, i)->redo;
		for (uint64_t e = 0; e < (log->nseq & REDO_N_MASK); e++) {
			uint64_t t = log->entries[e].off_op & REDO_OFF_MASK, v = log->entries[e].value;
			uint64_t len = (log->entries[e].off_op >> REDO_OP_SHIFT) == REDO_MARK ? v : 8;
			if (t && t < hi && lo < t + len)
				return 1;
		}
	}
	return 0;
}

static int scan_heap(struct scan *c)
{
	struct media_scan *s = c->s;
	uint32_t n = (uint32_t)c->h.nchunks;
	uint64_t *t = c->table, toff = c->h.chunk_table_off, coff = c->h.chunks_off;
	uint64_t root = c->desc->root_off, rsize = c->desc->root_size;
	uint8_t *ok = clean_suffix(t, n);
	uint8_t *start = calloc((size_t)n + 1, 1);
	if (!ok || !start) {
		free(ok);
		free(start);
		return PM_ENOMEM;
	}
	s->heap_chunks = n;
	char nm[64];
	for (uint32_t k = 0; k < n;) {
		uint64_t hd = t[k], cnt = chunk_count_of(hd);
		uint64_t cbase = coff + (uint64_t)k * CHUNK_SIZE;
		snprintf(nm, sizeof(nm), "chunk %u (table offset 0x%llx)", k,
		         (unsigned long long)(toff + 8ull * k));
		start[k] = 1;
		if (!hdr_walkable(hd, k, n)) {
			uint32_t j = k + 1;
			while (!ok[j])
				j++;
			uint64_t gap = j - k, gend = coff + (uint64_t)j * CHUNK_SIZE;
			int zero = all_zero(c->base + cbase, gap * CHUNK_SIZE);
			/* the root or a pending replay in the gap: something
			 * reachable would be lost if it were made free */
			int pend = pending_touches(c, cbase, gend) ||
			           pending_touches(c, toff + 8ull * k, toff + 8ull * j);
			int has_root = (root >= cbase && root < gend) || pend;
			const char *what = chunk_type_of(hd) == CHUNK_RUN
			                           ? (chunk_class_of(hd) >= NCLASSES ? "run of unknown class"
			                                                             : "run span its class does not have")
			                   : chunk_type_of(hd) <= CHUNK_LARGE ? "span out of range"
			                                                      : "bad header type";
			pool_problems_add(&s->problems, PM_ECORRUPT,
			                  chunk_type_of(hd) <= CHUNK_LARGE && chunk_type_of(hd) != CHUNK_RUN
			                          ? "chunk_span" : "chunk_header",
			                  toff + 8ull * k, nm,
			                  "%s (header 0x%016llx: type %u, class %u, count %llu); the walk "
			                  "resumes at chunk %u: chunks %u..%u (%llu bytes) %s", what,
			                  (unsigned long long)hd, (unsigned)chunk_type_of(hd),
			                  chunk_class_of(hd), (unsigned long long)cnt, j, k, j - 1,
			                  (unsigned long long)(gap * CHUNK_SIZE),
			                  zero && !has_root ? "are all zero: free space"
			                  : !zero ? "hold data: to be quarantined"
			                  : pend ? "are all zero, but a pending log stores there: to be quarantined"
			                         : "are all zero, but the root is there: to be quarantined");
			if (c->fix) {
				if (zero && !has_root) {
					t[k] = chunk_hdr(CHUNK_FREE, 0, gap);
					s->freed_gap_chunks += gap;
					s->free_chunks += gap;
					pool_problems_add(&s->actions, 0, "chunk_free", toff + 8ull * k, nm,
					                  "header set to FREE(%llu): chunks %u..%u are all zero, "
					                  "nothing is lost", (unsigned long long)gap, k, j - 1);
				} else {
					t[k] = chunk_hdr(CHUNK_LARGE, 0, gap);
					s->large_chunks += gap;
					s->quarantined_spans++;
					pool_problems_add(&s->actions, 0, "chunk_quarantine", toff + 8ull * k, nm,
					                  "header set to LARGE(%llu): chunks %u..%u (%llu bytes) "
					                  "quarantined -- never handed out; objects whose metadata "
					                  "was there are no longer individually allocated",
					                  (unsigned long long)gap, k, j - 1,
					                  (unsigned long long)(gap * CHUNK_SIZE));
					if (root == cbase && gap * CHUNK_SIZE >= rsize)
						s->root_off = root; /* found: the quarantined span */
				}
			}
			s->quarantined_chunks += c->fix && zero && !has_root ? 0 : gap;
			k = j;
			continue;
		}
		switch (chunk_type_of(hd)) {
		case CHUNK_FREE:
			s->free_chunks += cnt;
			break;
		case CHUNK_LARGE:
			s->large_chunks += cnt;
			s->objects++;
			s->bytes_allocated += cnt * CHUNK_SIZE;
			if (root == cbase && cnt * CHUNK_SIZE >= rsize)
				s->root_off = root;
			break;
		case CHUNK_RUN: {
			const struct size_class *sc = &heap_classes[chunk_class_of(hd)];
			struct run_geom gm;
			heap_run_geom(chunk_class_of(hd), cnt, &gm); /* walkable: valid */
			const struct run_geom *g = &gm;
			uint64_t *bm = (uint64_t *)(c->base + cbase);
			uint32_t tail = g->nblocks % 64;
			s->run_chunks += cnt;
			if (tail && (bm[g->nwords - 1] & (~UINT64_C(0) << tail))) {
				uint64_t extra = bm[g->nwords - 1] & (~UINT64_C(0) << tail);
				uint64_t woff = cbase + 8ull * (g->nwords - 1);
				snprintf(nm, sizeof(nm), "chunk %u run bitmap", k);
				pool_problems_add(&s->problems, PM_ECORRUPT, "bitmap_tail", woff, nm,
				                  "%d bit(s) set past block %u (word 0x%016llx)",
				                  __builtin_popcountll(extra), g->nblocks - 1,
				                  (unsigned long long)bm[g->nwords - 1]);
				if (c->fix) {
					bm[g->nwords - 1] &= ~extra;
					s->bits_cleared += (uint64_t)__builtin_popcountll(extra);
					pool_problems_add(&s->actions, 0, "bitmap_cleared", woff, nm,
					                  "%d bit(s) past the last block cleared (they name no block)",
					                  __builtin_popcountll(extra));
				}
			}
			for (uint32_t w = 0; w < g->nwords; w++) {
				uint64_t word = bm[w];
				if (w == g->nwords - 1 && tail)
					word &= ~(~UINT64_C(0) << tail);
				s->objects += (uint64_t)__builtin_popcountll(word);
				s->bytes_allocated += (uint64_t)__builtin_popcountll(word) * sc->size;
			}
			if (root >= cbase + g->data && root < cbase + cnt * CHUNK_SIZE &&
			    (root - cbase - g->data) % sc->size == 0) {
				uint64_t b = (root - cbase - g->data) / sc->size;
				if (b < g->nblocks && (bm[b / 64] >> (b % 64) & 1) && sc->size >= rsize)
					s->root_off = root;
			}
			break;
		}
		}
		k += hdr_span(hd);
	}
	/* stray LARGE headers: harmless (only reachable headers mean
	 * anything), but a sign of damage */
	unsigned stray = 0;
	for (uint32_t k = 0; k < n; k++) {
		if (start[k] || chunk_type_of(t[k]) != CHUNK_LARGE || !chunk_count_of(t[k]))
			continue;
		if (++stray > 16)
			continue;
		snprintf(nm, sizeof(nm), "chunk %u (table offset 0x%llx)", k,
		         (unsigned long long)(toff + 8ull * k));
		pool_problems_add(&s->notes, 0, "stray_header", toff + 8ull * k, nm,
		                  "LARGE(%llu) header no walk reaches: stale, never an object",
		                  (unsigned long long)chunk_count_of(t[k]));
	}
	if (stray > 16)
		pool_problems_add(&s->notes, 0, "stray_header", toff, "chunk table",
		                  "%u more stray LARGE headers", stray - 16);
	free(ok);
	free(start);
	return 0;
}

/* Pending logs replayed (oldest first) onto a copy of the chunk table:
 * the table must stay walkable, else the logs that store to it are forged
 * (the library never writes such a log) and recovery would refuse. */
static int scan_replay(struct scan *c)
{
	uint32_t n = (uint32_t)c->h.nchunks;
	uint64_t toff = c->h.chunk_table_off, tend = toff + 8ull * n;
	unsigned nl = c->h.nlanes, any = 0;
	for (unsigned i = 0; i < nl; i++)
		any |= c->pending[i] | (c->big[i].n != 0);
	if (!any)
		return 0;
	uint64_t *t = malloc((size_t)n * 8);
	/* ord: lane * 2 + (1: its big commit's actions, 0: its pending log) */
	unsigned *ord = malloc(2 * nl * sizeof(*ord));
	uint64_t *key = malloc(2 * nl * sizeof(*key));
	uint8_t *hits = calloc(2 * nl, 1);
	if (!t || !ord || !key || !hits) {
		free(t);
		free(ord);
		free(key);
		free(hits);
		return PM_ENOMEM;
	}
	memcpy(t, c->table, (size_t)n * 8);
	unsigned m = 0;
	for (unsigned i = 0; i < nl; i++) {
		if (c->pending[i]) {
			key[m] = c->pseq[i];
			ord[m++] = 2 * i;
		}
		if (c->big[i].n) {
			key[m] = c->big[i].seq;
			ord[m++] = 2 * i + 1;
		}
	}
	for (unsigned a = 1; a < m; a++) /* insertion sort by seq, lane */
		for (unsigned b = a; b > 0 && key[b - 1] > key[b]; b--) {
			unsigned x = ord[b];
			uint64_t y = key[b];
			ord[b] = ord[b - 1];
			key[b] = key[b - 1];
			ord[b - 1] = x;
			key[b - 1] = y;
		}
	for (unsigned a = 0; a < m; a++) {
		unsigned ln = ord[a] / 2;
		const struct big_recs *bg = &c->big[ln];
		for (unsigned r = 0; r < (ord[a] & 1 ? bg->n : 1); r++) {
			const struct redo_entry *en = lane_at(c, ln)->redo.entries;
			uint64_t ne = lane_at(c, ln)->redo.nseq & REDO_N_MASK;
			if (ord[a] & 1) {
				en = (const struct redo_entry *)bg->rec[r]->data;
				ne = bg->rec[r]->len / sizeof(*en);
			}
			for (uint64_t e = 0; e < ne; e++) {
				uint64_t tg = en[e].off_op & REDO_OFF_MASK, v = en[e].value;
				unsigned op = (unsigned)(en[e].off_op >> REDO_OP_SHIFT);
				if (op == REDO_MARK || tg < toff || tg >= tend)
					continue;
				uint64_t *w = &t[(tg - toff) / 8];
				*w = op == REDO_SET ? v : op == REDO_OR ? *w | v : *w & v;
				hits[ord[a]] = 1;
			}
		}
	}
	uint32_t k = 0;
	while (k < n && hdr_walkable(t[k], k, n))
		k += hdr_span(t[k]);
	if (k < n) {
		char nm[64];
		for (unsigned i = 0; i < nl; i++) {
			if (hits[2 * i + 1]) { /* a committed transaction: not dropped */
				snprintf(nm, sizeof(nm), "lane %u undo log", i);
				pool_problems_add(&c->s->problems, PM_ECORRUPT, "big_replay",
				                  (uint64_t)((char *)&lane_at(c, i)->undo - c->base), nm,
				                  "committed big transaction (seq %llu) stores to the chunk "
				                  "table; applied, the table cannot be walked past chunk %u "
				                  "(header 0x%016llx): recovery will refuse the pool",
				                  (unsigned long long)c->big[i].seq, k, (unsigned long long)t[k]);
			}
			if (!hits[2 * i])
				continue;
			struct redo_log *log = &lane_at(c, i)->redo;
			snprintf(nm, sizeof(nm), "lane %u redo", i);
			pool_problems_add(&c->s->problems, PM_ECORRUPT, "redo_replay",
			                  (uint64_t)((char *)log - c->base), nm,
			                  "valid log (seq %llu) stores to the chunk table; replayed, the table "
			                  "cannot be walked past chunk %u (header 0x%016llx): forged",
			                  (unsigned long long)c->pseq[i], k, (unsigned long long)t[k]);
			if (c->fix) {
				drop_redo(c, i, "its replay breaks the chunk table");
				c->pending[i] = 0;
			}
		}
	}
	free(t);
	free(ord);
	free(key);
	free(hits);
	return 0;
}

static void scan_root(struct scan *c)
{
	struct media_scan *s = c->s;
	uint64_t root = c->desc->root_off, rsize = c->desc->root_size;
	if (!root || s->root_off == root)
		return;
	/* a pending log may set the root (recovery first) */
	uint64_t roff = POOL_DESC_OFF + offsetof(struct pool_desc, root_off);
	for (unsigned i = 0; i < c->h.nlanes; i++) {
		if (!c->pending[i])
			continue;
		const struct redo_log *log = &lane_at(c, i)->redo;
		for (uint64_t e = 0; e < (log->nseq & REDO_N_MASK); e++)
			if ((log->entries[e].off_op & REDO_OFF_MASK) == roff) {
				pool_problems_add(&s->notes, 0, "root", POOL_DESC_OFF, "root (descriptor)",
				                  "root 0x%llx is not an allocated object yet; lane %u's pending "
				                  "log sets it", (unsigned long long)root, i);
				return;
			}
	}
	pool_problems_add(&s->problems, PM_ECORRUPT, "root", POOL_DESC_OFF, "root (descriptor)",
	                  "root 0x%llx (%llu bytes) is not an allocated object",
	                  (unsigned long long)root, (unsigned long long)rsize);
	if (c->fix) {
		c->desc->root_off = 0;
		c->desc->root_size = 0;
		s->root_cleared = 1;
		pool_problems_add(&s->actions, 0, "root_cleared", POOL_DESC_OFF, "root (descriptor)",
		                  "root cleared (was 0x%llx, %llu bytes): the pool has no root; the "
		                  "objects stay allocated", (unsigned long long)root,
		                  (unsigned long long)rsize);
	}
}

/* The persistent globals' directory (pool/perm.c) must be an allocated
 * object: checked on the media as it is after the other fixes, with the
 * check open uses; else it is cleared (the saved globals are lost, the
 * objects stay allocated). */
static void scan_perm(struct scan *c)
{
	struct media_scan *s = c->s;
	uint64_t po = c->desc->perm_off;
	char why[200];
	if (!po || heap_check_media(c->base, c->h.chunk_table_off, c->h.chunks_off,
	                            (uint32_t)c->h.nchunks, po, 32, why, sizeof(why)) == 0)
		return;
	uint64_t off = POOL_DESC_OFF + offsetof(struct pool_desc, perm_off);
	pool_problems_add(&s->problems, PM_ECORRUPT, "perm", off, "persistent globals (descriptor)",
	                  "persistent globals' directory 0x%llx is not an allocated object",
	                  (unsigned long long)po);
	if (c->fix) {
		c->desc->perm_off = 0;
		pool_problems_add(&s->actions, 0, "perm_cleared", off, "persistent globals (descriptor)",
		                  "directory cleared (was 0x%llx): the saved globals are lost; the "
		                  "objects stay allocated", (unsigned long long)po);
	}
}

int pool_scan_media(char *base, size_t size, int fix, struct media_scan *s)
{
	memset(s, 0, sizeof(*s));
	char dummy[8] = { 0 }, why[8];
	heap_check_media(dummy, 0, 0, 0, 0, 0, why, sizeof(why)); /* heap_classes set up */
	struct scan c = { .base = base, .size = size, .fix = fix, .s = s };
	int rc = scan_header(&c);
	if (rc)
		return rc;
	c.desc = (struct pool_desc *)(base + POOL_DESC_OFF);
	c.table = (uint64_t *)(base + c.h.chunk_table_off);
	s->nlanes = c.h.nlanes;
	s->root_size = c.desc->root_size;
	c.pending = calloc(c.h.nlanes, 1);
	c.pseq = calloc(c.h.nlanes, sizeof(*c.pseq));
	c.big = calloc(c.h.nlanes, sizeof(*c.big));
	uint8_t *bad = calloc(c.h.nlanes, 1);
	if (!c.pending || !c.pseq || !c.big || !bad) {
		free(c.pending);
		free(c.pseq);
		free(c.big);
		free(bad);
		return PM_ERR(PM_ENOMEM, "out of DRAM");
	}
	if (c.desc->recovered_seq > SEQ_MASK) {
		/* P4: every log reads as replayed under such a watermark, so
		 * the fix drops them all before it sets the watermark to 0
		 * (else they would come back to life) */
		uint64_t wo = POOL_DESC_OFF + offsetof(struct pool_desc, recovered_seq);
		pool_problems_add(&s->problems, PM_ECORRUPT, "recovered_seq", wo, "descriptor",
		                  "recovery watermark 0x%llx is above every sequence number a log can "
		                  "carry (2^56 - 1): pm_open refuses the pool",
		                  (unsigned long long)c.desc->recovered_seq);
		if (fix) {
			for (unsigned i = 0; i < c.h.nlanes; i++)
				if (lane_at(&c, i)->redo.checksum)
					drop_redo(&c, i, "void under the damaged watermark");
			c.desc->recovered_seq = 0;
			pool_problems_add(&s->actions, 0, "recovered_seq", wo, "descriptor",
			                  "recovery watermark set to 0 (no log left to replay)");
		}
	}
	uint64_t budget = c.h.nchunks * CHUNK_SIZE;
	for (unsigned i = 0; i < c.h.nlanes; i++) {
		scan_redo(&c, i, &budget);
		scan_undo(&c, i, bad);
	}
	if (fix)
		fix_undo(&c, bad);
	rc = scan_heap(&c);
	if (!rc)
		rc = scan_replay(&c);
	if (!rc)
		scan_root(&c);
	if (!rc)
		scan_perm(&c);
	free(c.pending);
	free(c.pseq);
	free(c.big);
	free(bad);
	return rc ? PM_ERR(rc, "out of DRAM") : 0;
}

/* ---- files --------------------------------------------------------------- */

/* The file mapped for a look or a repair: a private look sees what
 * pm_open would, a WAL-mode log's frames applied (a shared mapping comes
 * after pool_repair_path applied them to the file). */
static int map_file(int fd, size_t size, const char *path, int shared, char **out)
{
	char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return PM_ERR(PM_ESYS, "%s: mmap of %zu bytes failed", path, size);
	unsigned long applied;
	int e = shared ? 0 : flush_wal_apply_private(path, m, size, &applied);
	if (e) {
		munmap(m, size);
		return PM_ERR(PM_ESYS, "%s.wal: cannot read the pool's log: %s", path, strerror(e));
	}
	*out = m;
	return 0;
}

/* Open path for the scan or the repair: a regular file, locked (refused
 * if another process holds it), at least a header long. */
static int scan_fd(int fd, size_t size, const char *path, int fix, int shared, struct media_scan *s)
{
	char *m;
	int rc = map_file(fd, size, path, shared, &m);
	if (rc)
		return rc;
	rc = pool_scan_media(m, size, fix, s);
	if (rc && rc != PM_ENOMEM)
		PM_ERR(rc, "%s: %s", path, s->hdr_why);
	if (shared && msync(m, size, MS_SYNC) != 0 && !rc)
		rc = PM_ERR(PM_ESYS, "%s: msync failed: %s", path, strerror(errno));
	munmap(m, size);
	return rc;
}

int pool_scan_path(const char *path, struct media_scan *s)
{
	memset(s, 0, sizeof(*s));
	struct stat st;
	int fd = pool_open_locked(path, O_RDONLY, LOCK_SH, &st);
	if (fd < 0)
		return pm_last_error();
	int rc = scan_fd(fd, (size_t)st.st_size, path, 0, 0, s);
	close(fd);
	return rc;
}

/* Copy the whole file to a new file (O_EXCL), fsynced. */
static int backup_copy(int fd, uint64_t size, const char *path, const char *to)
{
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return errno == EEXIST ? PM_ERR(PM_EEXIST, "%s: backup file exists (repair never overwrites one)", to)
		                       : PM_ERR(PM_ESYS, "%s: cannot create the backup: %s", to, strerror(errno));
	size_t bs = 1 << 20;
	char *buf = malloc(bs);
	int rc = buf ? 0 : PM_ERR(PM_ENOMEM, "out of DRAM");
	for (uint64_t off = 0; !rc && off < size;) {
		ssize_t r = pread(fd, buf, bs, (off_t)off);
		if (r <= 0) {
			rc = PM_ERR(PM_ESYS, "%s: read failed at %llu", path, (unsigned long long)off);
			break;
		}
		for (ssize_t w = 0; w < r && !rc;) {
			ssize_t k = pwrite(out, buf + w, (size_t)(r - w), (off_t)(off + (uint64_t)w));
			if (k <= 0)
				rc = PM_ERR(PM_ESYS, "%s: write failed: %s", to, strerror(errno));
			else
				w += k;
		}
		off += (uint64_t)r;
	}
	free(buf);
	if (!rc && (fsync(out) != 0 || pool_fsync_dir_of(to) != 0))
		rc = PM_ERR(PM_ESYS, "%s: cannot make the backup durable", to);
	close(out);
	if (rc)
		unlink(to);
	return rc;
}

void repair_result_free(struct repair_result *r)
{
	media_scan_free(&r->scan);
}

/* dry run: the repair on the private mapping of pool_open_private_patched,
 * so the library's own recovery and pm_check judge the result */
struct dry_ctx {
	struct media_scan *s;
	int rc;
};
static void dry_patch(char *base, size_t size, void *arg)
{
	struct dry_ctx *d = arg;
	d->rc = pool_scan_media(base, size, 1, d->s);
}

static void verify(const char *path, struct repair_result *r)
{
	struct pm_check_report rep;
	r->verified = 1;
	r->verify_status = pm_check_path(path, &rep);
	snprintf(r->verify_msg, sizeof(r->verify_msg), "%s", r->verify_status ? rep.message : "");
	r->objects_after = rep.objects;
	r->bytes_after = rep.bytes_allocated;
}

int pool_repair_path(const char *path, const struct repair_opts *o, struct repair_result *r)
{
	memset(r, 0, sizeof(*r));
	struct stat st;
	int fd = pool_open_locked(path, o->dry_run ? O_RDONLY : O_RDWR, o->dry_run ? LOCK_SH : LOCK_EX, &st);
	if (fd < 0)
		return pm_last_error();
	size_t size = (size_t)st.st_size;
	/* look first, on a private mapping: refuse before anything is written */
	int rc = scan_fd(fd, size, path, 0, 0, &r->scan);
	if (rc) {
		close(fd);
		return rc;
	}
	int work = r->scan.problems.n > 0 || r->scan.redo_invalid > 0 || r->scan.undo_bad > 0;
	if (!work) {
		close(fd);
		verify(path, r);
		return r->verify_status;
	}
	if (o->dry_run) {
		media_scan_free(&r->scan);
		if (r->scan.hdr == HDR_OK) {
			/* close ours first: the private open takes its own lock */
			close(fd);
			struct dry_ctx d = { &r->scan, 0 };
			pm_pool *p = pool_open_private_patched(path, dry_patch, &d);
			struct pm_check_report rep;
			memset(&rep, 0, sizeof(rep));
			r->verified = 1;
			if (!p) {
				r->verify_status = pm_last_error();
				snprintf(r->verify_msg, sizeof(r->verify_msg), "%s", pm_errormsg());
			} else {
				r->verify_status = pm_check(p, &rep);
				snprintf(r->verify_msg, sizeof(r->verify_msg), "%s", rep.message);
				r->objects_after = rep.objects;
				r->bytes_after = rep.bytes_allocated;
				pm_close(p);
			}
			return d.rc ? d.rc : r->verify_status;
		}
		/* a header to rebuild: the library cannot open the copy; the
		 * raw walk judges the repaired private image instead */
		char *m;
		rc = map_file(fd, size, path, 0, &m);
		close(fd);
		if (rc)
			return rc;
		rc = pool_scan_media(m, size, 1, &r->scan);
		struct media_scan after;
		memset(&after, 0, sizeof(after));
		if (!rc && pool_scan_media(m, size, 0, &after) == 0) {
			r->raw_verified = 1;
			r->raw_after_problems = after.problems.n;
			r->objects_after = after.objects;
			r->bytes_after = after.bytes_allocated;
		}
		media_scan_free(&after);
		munmap(m, size);
		return rc ? rc : r->raw_after_problems ? PM_ECORRUPT : 0;
	}
	/* WAL mode: the frames a crashed opener left, applied to the file
	 * first, as pm_open would, so that the copy below holds them too
	 * (the log kept when it is not this pool's: a header to rebuild may
	 * have lost the uuid that binds it) */
	unsigned long applied;
	int we = flush_wal_replay(path, fd, 1, &applied);
	if (we) {
		close(fd);
		return PM_ERR(PM_ESYS, "%s.wal: cannot apply the pool's log: %s", path, strerror(we));
	}
	if (o->backup)
		snprintf(r->backup, sizeof(r->backup), "%s", o->backup);
	else
		snprintf(r->backup, sizeof(r->backup), "%s.before-repair", path);
	rc = backup_copy(fd, size, path, r->backup);
	if (rc) {
		r->backup[0] = 0;
		close(fd);
		return rc;
	}
	media_scan_free(&r->scan);
	rc = scan_fd(fd, size, path, 1, 1, &r->scan);
	if (!rc && fsync(fd) != 0)
		rc = PM_ERR(PM_ESYS, "%s: fsync failed: %s", path, strerror(errno));
	close(fd); /* the lock goes: the check below takes its own */
	if (rc)
		return rc;
	verify(path, r);
	return r->verify_status;
}
