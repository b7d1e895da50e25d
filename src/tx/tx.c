/*
 * tx.c -- layer 5: transactions.  Each lane has an undo log (inline in the
 * lane, growing into overflow blocks allocated from the heap) that makes
 * tx_add'ed ranges roll back.  Allocations and frees are reserved in DRAM
 * and published at commit by one redo log -- or, past what that log holds,
 * by action records in the undo chain (a big commit, T9).  docs/TX.md has the argument in
 * full; the on-media format is in tx_format.h; the reader side (abort's
 * and recovery's walks, the commit decision) is in undo.c.
 *
 * Per thread there is one struct tx_state (flat nesting: depth counts the
 * levels).  The outermost tx_begin holds a lane until the outermost tx_end;
 * pmalloc / pfree / pm_publish called inside the transaction use that lane
 * (lane_acquire nests) and are not part of the transaction.
 *
 * Protocol, with the fences that wait ("F"):
 *   tx_begin   nothing persistent.                                    0 F
 *   tx_add     undo entries for the parts of the range not yet covered
 *              (the first one of a transaction also stores gen = active
 *              = G and start in the undo header), flushed; F.  0 F if
 *              covered.                                               1 F
 *   tx_add_ranges  the same for R ranges, one F for all of them.      1 F
 *   tx_pmalloc heap_reserve in DRAM; the bitmap OR goes into the commit
 *   tx_pfree   redo log being built in DRAM (an AND for a free).       0 F
 *   commit     flush every covered range and every new object; take a
 *              seq; fast commit (no overflow block, room for a commit
 *              block in the lane): the commit block {tag | seq, G, the
 *              new contents of every logged range} after the entries,
 *              and without allocations/frees:  F1; active = 0 lazily  1 F
 *              with them: the commit log (seq, REDO_MARK = G, covers of
 *              the new objects) too; F1; apply; active = 0; F2; lazy
 *              invalidation.                                          2 F
 *              slow commit: [commit log;] F1; active = 0; F2; [apply;
 *              F3; lazy invalidation].                              2-3 F
 *              big commit (T9: more heap ops than the lane's redo log
 *              holds): action records after the entries [growing the
 *              chain]; F1; commit record + retire log; F2; apply; F3;
 *              active = 0; F4; apply the retire log; F5.  5 F (+2-4 per
 *              overflow block grown)
 *              An empty transaction writes nothing.                   0 F
 *   abort      restore every entry; F; active = 0; F.                 2 F
 *
 * So tx{add 64 B; write} = 2 F, tx{10 x add} = 11 F, tx{add_ranges of 10}
 * = 2 F, tx{add slot; slot = tx_pzalloc(64)} = 3 F, an empty transaction
 * 0 F.
 *
 * Invariants:
 *  T1 Before the user may modify a range (tx_add returned 0), an undo entry
 *     holding its old contents is durable, counts (tx_format.h F2), and
 *     active names its generation.
 *  T2 Entries of one transaction cover disjoint ranges (only the gaps in
 *     the covered-range list are logged), so rollback order does not
 *     matter and restoring twice is harmless (recovery may be re-run).
 *  T3 The transaction is committed exactly when its commit block (and, for
 *     the _REDO form, its commit log) is durable and whole while active =
 *     G, or once active = 0 is durable after that.
 *  T4 A commit log is replayed only if its transaction committed:
 *     recovery drops a valid log whose REDO_MARK equals the still-active
 *     generation of an uncommitted transaction, durably, before the lane
 *     is retired (pool.c, pool_recover).
 *  T5 A generation is used once per lane: a new transaction takes
 *     max(gen, active) + 1, and recovery sets gen = max(gen, active) + 1,
 *     past anything a crashed transaction may have written, so stale
 *     entries never count.
 *  T6 Reserved objects are published only by the commit log and are
 *     cancelled at abort; freed objects stay allocated until the commit is
 *     durable and applied.
 *  T7 The first fence of every step is lane_commit_fence: other lanes'
 *     pending redo invalidations (and this lane's) are durable before
 *     anything of this transaction is, so no stale log replays over it
 *     (and one that becomes durable in the same window is older by seq).
 *  T8 While the previous transaction's lazy active = 0 may not be durable,
 *     its entries and commit block are its evidence: the first batch of
 *     entries of the next transaction on the lane (every gap of its first
 *     tx_add) goes where it cannot overwrite them.
 *  T9 A transaction of any size: once its heap ops outgrow the lane's
 *     commit log (REDO_TX_LIMIT) they are composed per word in DRAM (acts)
 *     and the commit writes them as action records into the undo chain
 *     (tx_format.h F7).  The big commit record is written only after a
 *     fence made the data, the new objects and the records durable (so it
 *     needs no covers and no images); the actions are durable before
 *     active = 0 may be, and active = 0 before the chain (which holds the
 *     record) is unlinked; recovery never applies an active lane's retire
 *     log (pool.c R1).  Small transactions never take this path.
 */
#include <stdlib.h>
#include <string.h>

#include "base/seeded_bugs.h"
#include "tx/tx_format.h"
#include "tx/undo.h"

/* ---- volatile state ---------------------------------------------------- */

struct tx_range {
	uint64_t off, end; /* [off, end), sorted, disjoint, not adjacent */
};

struct tx_obj {
	struct heap_resv r;
	int freed; /* tx_pfree'd by the same transaction */
};

struct vec {
	void *a;
	size_t n, cap;
};

/* An open-addressing map of nonzero 64-bit keys (pool offsets) to values:
 * tx_pfree and the big commit's actions find what they need in O(1), so a
 * transaction of 100 000 calls stays linear. */
struct offmap {
	uint64_t *k, *v;
	size_t cap, n; /* cap: 0 or a power of two */
};

/* A big transaction's pending change of one word (F7): x -> (x & andm) |
 * orm, or a SET of setv (chunk headers); several ops on one word compose. */
struct act {
	uint64_t off, andm, orm, setv;
	int has_set;
};

struct tx_state {
	struct pm_pool *pool;
	struct lane *ln;
	unsigned depth;
	enum pm_tx_stage stage;
	int err;
	uint64_t gen; /* generation of this tx's entries, 0 = none written yet */
	uint64_t start; /* first inline entry's offset in the lane's area */
	uint64_t logged; /* bytes of ranges logged (the commit block's size) */
	uint64_t batch;  /* bytes the first tx_add's entries take (T8) */
	int batch_fixed; /* tx_add_ranges set batch for all its ranges */
	struct undo_area cur;
	uint64_t pos;
	unsigned nblocks;
	struct vec ranges; /* struct tx_range: snapshotted ranges, new objects */
	struct vec objs;   /* struct tx_obj: reservations */
	struct vec frees;  /* struct heap_resv: deferred frees */
	struct vec blocks; /* struct heap_resv: the overflow chain, in order */
	struct vec ents;   /* struct tx_range: the entries written, in order */
	struct redo_buf redo; /* heap ops of objs + frees, built as we go */
	/* big mode (more heap ops than the lane's redo log holds): the ops
	 * go to acts instead of redo, and the commit writes them into the
	 * undo chain as action records (commit_big) */
	int big;
	struct vec acts;       /* struct act, one per word */
	struct offmap actidx;  /* word offset -> index + 1 in acts */
	struct offmap objidx;  /* object offset -> index + 1 in objs */
	struct offmap freeidx; /* offset of a pending free -> 1 */
	struct vec flat;       /* struct redo_entry: acts, flattened at commit */
};

/* Commit-log entries kept free for the chain's frees, its unlink and the
 * mark. */
#define REDO_TX_LIMIT (REDO_MAX - UNDO_MAX_BLOCKS - 2)

static _Thread_local struct tx_state *tls_tx;
static pthread_key_t tx_key;
static pthread_once_t tx_key_once = PTHREAD_ONCE_INIT;

static void vec_free(struct vec *v)
{
	free(v->a);
	memset(v, 0, sizeof(*v));
}

static void om_free(struct offmap *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* Empty the map; a big one is given back (the next transaction is most
 * likely small, and clearing a big table would cost it the time). */
static void om_clear(struct offmap *m)
{
	if (m->cap > 4096)
		om_free(m);
	else if (m->n)
		memset(m->k, 0, m->cap * sizeof(*m->k));
	m->n = 0;
}

static size_t om_slot(const struct offmap *m, uint64_t key)
{
	size_t i = (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & (m->cap - 1);
	while (m->k[i] && m->k[i] != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

/* The value of key, 0 if absent. */
static uint64_t om_get(const struct offmap *m, uint64_t key)
{
	if (!m->n)
		return 0;
	size_t i = om_slot(m, key);
	return m->k[i] ? m->v[i] : 0;
}

/* Set key (nonzero) to val; 0 or PM_ENOMEM. */
static int om_put(struct offmap *m, uint64_t key, uint64_t val)
{
	if (2 * (m->n + 1) > m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct offmap g = { calloc(cap, sizeof(uint64_t)), malloc(cap * sizeof(uint64_t)), cap, 0 };
		if (!g.k || !g.v) {
			free(g.k);
			free(g.v);
			return PM_ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->k[i]) {
				size_t j = om_slot(&g, m->k[i]);
				g.k[j] = m->k[i];
				g.v[j] = m->v[i];
				g.n++;
			}
		om_free(m);
		*m = g;
	}
	size_t i = om_slot(m, key);
	if (!m->k[i]) {
		m->k[i] = key;
		m->n++;
	}
	m->v[i] = val;
	return 0;
}

static void tx_state_free(void *arg)
{
	struct tx_state *tx = arg;
	vec_free(&tx->acts);
	vec_free(&tx->flat);
	om_free(&tx->actidx);
	om_free(&tx->objidx);
	om_free(&tx->freeidx);
	vec_free(&tx->ranges);
	vec_free(&tx->objs);
	vec_free(&tx->frees);
	vec_free(&tx->blocks);
	vec_free(&tx->ents);
	free(tx);
}

static void tx_key_init(void)
{
	pthread_key_create(&tx_key, tx_state_free);
}

static struct tx_state *tx_get(void)
{
	if (tls_tx)
		return tls_tx;
	pthread_once(&tx_key_once, tx_key_init);
	struct tx_state *tx = calloc(1, sizeof(*tx));
	if (!tx)
		return NULL;
	pthread_setspecific(tx_key, tx);
	tls_tx = tx;
	return tx;
}

/* Room for `more` elements of size sz; 0 or PM_ENOMEM. */
static int vec_reserve(struct vec *v, size_t more, size_t sz)
{
	if (v->n + more <= v->cap)
		return 0;
	size_t cap = v->cap ? v->cap * 2 : 16;
	while (cap < v->n + more)
		cap *= 2;
	void *a = realloc(v->a, cap * sz);
	if (!a)
		return PM_ENOMEM;
	v->a = a;
	v->cap = cap;
	return 0;
}

/* ---- writing the undo log --------------------------------------------- */

/* Link a new overflow block after the current area and move to it. */
static int area_grow(struct tx_state *tx)
{
	struct pm_pool *p = tx->pool;
	struct lane *ln = tx->ln;
	if (tx->nblocks == UNDO_MAX_BLOCKS)
		return PM_ERR(PM_ENOLOG, "tx_add: undo log full (%u overflow blocks)", UNDO_MAX_BLOCKS);
	if (vec_reserve(&tx->blocks, 1, sizeof(struct heap_resv)))
		return PM_ERR(PM_ENOMEM, "tx_add: out of DRAM");
	unsigned sh = tx->nblocks < UNDO_BLOCK_SHIFT_MAX ? tx->nblocks : UNDO_BLOCK_SHIFT_MAX;
	uint64_t size = CHUNK_SIZE << sh;
	struct heap_resv r;
	if (heap_reserve(&p->heap, ln, size, &r))
		return PM_ERR(PM_ENOSPC, "tx_add: no room in the pool for %llu more bytes of undo log",
		              (unsigned long long)size);
	uint64_t cap = heap_resv_size(&r);
	/* F3: the block's header and the link become durable together. */
	redo_buf_init(&ln->redo);
	heap_redo_alloc(&p->heap, &ln->redo, &r);
	redo_buf_add(&ln->redo, r.off + offsetof(struct undo_block, next), REDO_SET, 0);
	redo_buf_add(&ln->redo, r.off + offsetof(struct undo_block, capacity), REDO_SET, cap);
	redo_buf_add(&ln->redo, (uint64_t)((char *)tx->cur.link - p->base), REDO_SET, r.off);
	palloc_publish_redo(ln);
	((struct heap_resv *)tx->blocks.a)[tx->blocks.n++] = r;
	tx->nblocks++;
	struct undo_block *b = (struct undo_block *)(p->base + r.off);
	tx->cur = (struct undo_area){ (char *)(b + 1), cap - sizeof(*b), &b->next };
	tx->pos = 0;
	return 0;
}

/* The first record of this transaction: take a fresh generation (T5); gen
 * and active are flushed with the record and become durable at the same
 * fence.  need: what the first batch of records takes (T8). */
static int undo_begin(struct tx_state *tx, uint64_t need)
{
	struct pm_pool *p = tx->pool;
	struct lane *ln = tx->ln;
	struct undo_log *u = &ln->pl->undo;
	__builtin_prefetch(u, 1); /* evicted by its last flush */
	if (ln->undo_gen + 1 >= UNDO_GEN_CAP)
		/* only a damaged header puts a lane here (2^62 transactions) */
		return PM_ERR(PM_ECORRUPT,
		              "tx: lane %u has used up its transaction generations (%llu, limit 2^62 - 1): "
		              "its undo header was damaged",
		              ln->idx, (unsigned long long)ln->undo_gen);
	/* ln->undo_gen mirrors u->gen (only the lane's holder and recovery
	 * write it): reading the header line, which the last commit flushed
	 * and so evicted, would cost a cache miss */
	uint64_t g = ++ln->undo_gen;
	/* T8: while the previous transaction's lazy active = 0 may not be
	 * durable, its entries and commit block are evidence that it
	 * committed: start where this batch (entry + a commit block for it)
	 * cannot overwrite them. */
	uint64_t start = 0;
	if (ln->undo_lazy && need > ln->undo_prev_start)
		start = ln->undo_prev_end;
	u->gen = g;
	u->start = start;
	u->active = g;
	u->hcsum = undo_hdr_csum(ln->idx, g, start, g); /* F5 */
	flush_range(p->ops, &ln->cnt, u, sizeof(*u));
	tx->gen = g;
	tx->start = tx->pos = start;
	return 0;
}

/* Append entries holding the current contents of [off, end); flushed. */
static int undo_append(struct tx_state *tx, uint64_t off, uint64_t end)
{
	struct pm_pool *p = tx->pool;
	struct lane *ln = tx->ln;
	if (tx->gen == 0) {
#if PM_BUG(PM_BUG_FIRST_GAP_ONLY)
		int rc = undo_begin(tx, 2 * undo_entry_size(end - off)); /* BUG */
#else
		int rc = undo_begin(tx, tx->batch);
#endif
		if (rc)
			return rc;
	}
	while (off < end) {
		uint64_t avail = tx->cur.cap - tx->pos;
		if (avail < UNDO_ENTRY_MIN) { /* F4 */
			int rc = area_grow(tx);
			if (rc)
				return rc;
			continue;
		}
		uint64_t len = (avail - sizeof(struct undo_entry)) & ~UINT64_C(7);
		if (len > end - off)
			len = end - off;
		if (vec_reserve(&tx->ents, 1, sizeof(struct tx_range)))
			return PM_ERR(PM_ENOMEM, "tx_add: out of DRAM");
		struct undo_entry *e = (struct undo_entry *)(tx->cur.start + tx->pos);
		/* the log lines were evicted by their last flush: fetch them for
		 * writing now, in parallel with the source's read below; the
		 * commit block's lines too (it goes right after the entries) */
		for (uint64_t o = 0; o < 2 * undo_entry_size(len) && o < avail; o += 64)
			__builtin_prefetch((char *)e + o, 1);
		/* The checksum is computed from the source, not read back from
		 * the log: its lines were evicted by their last flush (clwb
		 * does on some CPUs) and reading them would wait for memory. */
		struct undo_entry h = { .off = off, .len = len, .gen = tx->gen };
		h.checksum = undo_csum_of(ln->idx, &h, p->base + off);
		*e = h;
		if (len <= 256) {
			/* header and data flushed as one range: the header shares
			 * a line with the data, which two flushes would write
			 * back (and, where clwb evicts, fetch) twice */
			memcpy(e->data, p->base + off, len);
			flush_range(p->ops, &ln->cnt, e, sizeof(*e) + len);
		} else {
			p->ops->memcpy_nodrain(e->data, p->base + off, len);
			ln->cnt.flushes++;
			flush_range(p->ops, &ln->cnt, e, sizeof(*e));
		}
		((struct tx_range *)tx->ents.a)[tx->ents.n++] = (struct tx_range){ off, off + len };
		tx->pos += undo_entry_size(len);
		tx->logged += len;
		off += len;
	}
	return 0;
}

/* Index of the first range with end > off. */
static size_t ranges_find(const struct vec *v, uint64_t off)
{
	const struct tx_range *r = v->a;
	size_t lo = 0, hi = v->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (r[mid].end > off)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Log the parts of [off, end) no range covers yet; *logged = 1 if any. */
static int snapshot_gaps(struct tx_state *tx, uint64_t off, uint64_t end, int *logged)
{
	const struct tx_range *r = tx->ranges.a;
	size_t i = ranges_find(&tx->ranges, off);
	uint64_t c = off;
	if (tx->gen == 0 && !tx->batch_fixed) {
		/* T8: what all the gaps of this first tx_add take in the log
		 * (an entry each, one more header per split, a commit block) */
		uint64_t b = 0, k = i, cc = off;
		while (cc < end) {
			if (k < tx->ranges.n && r[k].off <= cc) {
				cc = r[k++].end;
				continue;
			}
			uint64_t ge = k < tx->ranges.n && r[k].off < end ? r[k].off : end;
			b += undo_entry_size(ge - cc) + sizeof(struct undo_entry);
			cc = ge;
		}
		tx->batch = b;
	}
	while (c < end) {
		if (i < tx->ranges.n && r[i].off <= c) {
			c = r[i++].end;
			continue;
		}
		uint64_t gap_end = i < tx->ranges.n && r[i].off < end ? r[i].off : end;
		int rc = undo_append(tx, c, gap_end);
		if (rc)
			return rc;
		*logged = 1;
		c = gap_end;
	}
	return 0;
}

/* Merge [off, end) into the sorted list (room for one more reserved). */
static void ranges_insert(struct vec *v, uint64_t off, uint64_t end)
{
	struct tx_range *r = v->a;
	size_t i = off ? ranges_find(v, off - 1) : 0; /* first with end >= off */
	size_t j = i;
	while (j < v->n && r[j].off <= end) { /* overlapping or adjacent */
		if (r[j].off < off)
			off = r[j].off;
		if (r[j].end > end)
			end = r[j].end;
		j++;
	}
	if (j == i) {
		memmove(&r[i + 1], &r[i], (v->n - i) * sizeof(*r));
		v->n++;
	} else if (j > i + 1) {
		memmove(&r[i + 1], &r[j], (v->n - j) * sizeof(*r));
		v->n -= j - i - 1;
	}
	r[i].off = off;
	r[i].end = end;
}

/* ---- commit and rollback ---------------------------------------------- */

static void tx_reset(struct tx_state *tx)
{
	tx->gen = 0;
	tx->nblocks = 0;
	tx->pos = tx->start = tx->logged = 0;
	tx->ranges.n = tx->objs.n = tx->frees.n = tx->blocks.n = tx->ents.n = 0;
	redo_buf_init(&tx->redo);
	tx->big = 0;
	tx->acts.n = tx->flat.n = 0;
	om_clear(&tx->actidx);
	om_clear(&tx->objidx);
	om_clear(&tx->freeidx);
	if (tx->ln)
		tx->cur = undo_area_inline(tx->ln->pl);
}

/* Store active = 0 and make it durable: the commit (or abort) point. */
static void undo_deactivate(struct tx_state *tx)
{
	struct lane *ln = tx->ln;
	struct undo_log *u = &ln->pl->undo;
	u->active = 0;
	u->hcsum = undo_hdr_csum(ln->idx, ln->undo_gen, tx->start, 0);
	flush_range(tx->pool->ops, &ln->cnt, &u->active, 2 * sizeof(u->active));
}

/* Give back to the DRAM heap what the finished transaction left over. */
static void release_all(struct tx_state *tx, int committed)
{
	struct pm_pool *p = tx->pool;
	struct tx_obj *o = tx->objs.a;
	for (size_t i = 0; i < tx->objs.n; i++)
		if (!committed || o[i].freed)
			heap_cancel(&p->heap, tx->ln, &o[i].r);
	if (committed) {
		struct heap_resv *f = tx->frees.a;
		for (size_t i = 0; i < tx->frees.n; i++)
			heap_release(&p->heap, tx->ln, &f[i]);
	}
}

/*
 * Fast commit (T3): the transaction's logged ranges fit, with a commit block
 * holding their new contents, in the lane's inline area.  One fence makes
 * data, new objects, commit block (and commit log) durable: committed.
 */
static void commit_fast(struct tx_state *tx, uint64_t cbsize)
{
	struct pm_pool *p = tx->pool;
	struct lane *ln = tx->ln;
	const struct flush_ops *ops = p->ops;
	struct undo_log *u = &ln->pl->undo;
	struct undo_entry *cb = (struct undo_entry *)(tx->cur.start + tx->pos);
	int has_redo = tx->redo.n != 0;
	/* the images: every entry's range as it is now, in entry order; the
	 * checksum is fed from the sources (cached), not read back */
	uint64_t seq = ln->op_seq;
	ln->op_seq = 0;
	struct undo_entry h = { .off = (has_redo ? UNDO_COMMIT_TAG_REDO : UNDO_COMMIT_TAG) | (seq & SEQ_MASK),
	                        .len = tx->logged, .gen = tx->gen };
	struct log_stream hs;
	log_stream_init(&hs, undo_commit_seed(ln->idx, &h));
	const struct tx_range *en = tx->ents.a;
	uint8_t *img = cb->data;
	for (size_t i = 0; i < tx->ents.n; i++) {
		size_t len = en[i].end - en[i].off;
		log_stream_feed(&hs, p->base + en[i].off, len);
		memcpy(img, p->base + en[i].off, len);
		img += len;
	}
	h.checksum = log_stream_end(&hs);
	if (h.checksum == 0)
		h.checksum = 1;
	*cb = h;
	flush_range(ops, &ln->cnt, cb, cbsize);
	if (!has_redo) {
		/* DURABLE: the data and the commit block: committed (recovery
		 * rolls the block's contents forward).  CRASH BEFORE: a torn
		 * block does not count -> rolled back. */
		lane_commit_fence(ln);
		/* Lazy, like a redo invalidation (T8): flushed by the next
		 * commit fence of any thread, so durable before anything that
		 * could change these ranges again is. */
		u->active = 0;
		u->hcsum = undo_hdr_csum(ln->idx, ln->undo_gen, tx->start, 0);
		lane_mark_pending(ln, PEND_UNDO);
		ln->undo_lazy = 1;
		ln->undo_prev_start = tx->start;
		ln->undo_prev_end = tx->pos + cbsize;
		return;
	}
	struct redo_buf *b = &tx->redo;
	redo_buf_add(b, 0, REDO_MARK, tx->gen);
	redo_write(ops, &ln->cnt, p->base, pool_size_now(p), &ln->pl->redo, b, seq);
	/* DURABLE: data, new objects, commit block and commit log: committed.
	 * CRASH BEFORE: block or log torn -> the log is dropped, rolled back. */
	lane_commit_fence_logged(ln);
	lane_mark_inflight(ln);
	redo_apply(ops, &ln->cnt, p->base, b->e, b->n);
	u->active = 0;
	u->hcsum = undo_hdr_csum(ln->idx, ln->undo_gen, tx->start, 0);
	flush_range(ops, &ln->cnt, &u->active, 2 * sizeof(u->active));
	/* DURABLE: bitmaps and active = 0.  The log may be invalidated only
	 * after this (with active = g, block + log are the commit's evidence).
	 * CRASH BEFORE: active = g -> replay + roll forward; 0 -> replay. */
	lane_fence(ln);
	redo_invalidate(&ln->pl->redo); /* lazy, as in palloc.c */
	lane_mark_pending(ln, PEND_REDO);
}

/* Conservative commit: overflow blocks in use, or no room for a block. */
static void commit_slow(struct tx_state *tx)
{
	struct pm_pool *p = tx->pool;
	struct lane *ln = tx->ln;
	const struct flush_ops *ops = p->ops;
	if (tx->redo.n == 0 && tx->nblocks == 0) {
		/* DURABLE: every byte the transaction wrote.
		 * CRASH BEFORE: active = gen -> rolled back. */
		lane_commit_fence(ln);
		undo_deactivate(tx);
		/* DURABLE: active = 0, the commit point.  CRASH BEFORE: either
		 * value of active may be on media; both leave a consistent pool
		 * (rolled back, or committed). */
		lane_fence(ln);
		return;
	}
	/* The commit log: heap ops, the overflow chain's frees and unlink,
	 * and the mark naming this generation (T4). */
	struct redo_buf *b = &tx->redo;
	const struct heap_resv *blk = tx->blocks.a;
	for (size_t i = 0; i < tx->blocks.n; i++)
		heap_redo_free(&p->heap, b, &blk[i]);
	if (tx->blocks.n)
		redo_buf_add(b, (uint64_t)((char *)&ln->pl->undo.next - p->base), REDO_SET, 0);
	redo_buf_add(b, 0, REDO_MARK, tx->gen);
	redo_write(ops, &ln->cnt, p->base, pool_size_now(p), &ln->pl->redo, b, ln->op_seq);
	ln->op_seq = 0;
	/* DURABLE: the transaction's data and its commit log.
	 * CRASH BEFORE: active = gen and no commit block, so recovery drops
	 * the log (even if it is whole) and rolls back. */
	lane_commit_fence_logged(ln);
	undo_deactivate(tx);
	/* DURABLE: active = 0, the commit point.
	 * CRASH BEFORE: active = gen -> dropped and rolled back; active = 0
	 * -> the log is replayed: committed. */
	lane_fence(ln);
	lane_mark_inflight(ln);
	redo_apply(ops, &ln->cnt, p->base, b->e, b->n);
	/* DURABLE: bitmaps and chain unlink.  CRASH BEFORE: the log is valid
	 * and active = 0 -> replayed. */
	lane_fence(ln);
	redo_invalidate(&ln->pl->redo); /* lazy, as in palloc.c */
	lane_mark_pending(ln, PEND_REDO);
	for (size_t i = 0; i < tx->blocks.n; i++)
		heap_release(&p->heap, ln, &blk[i]);
}

/* ---- big transactions (F7) --------------------------------------------- */

/* Compose b's heap ops (covers and marks skipped) into the per-word acts. */
static int acts_fold(struct tx_state *tx, const struct redo_buf *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		uint64_t off = b->e[i].off_op & REDO_OFF_MASK, v = b->e[i].value;
		enum redo_op op = (enum redo_op)(b->e[i].off_op >> REDO_OP_SHIFT);
		if (op == REDO_MARK)
			continue;
		uint64_t k = om_get(&tx->actidx, off);
		if (!k) {
			if (vec_reserve(&tx->acts, 1, sizeof(struct act)) ||
			    om_put(&tx->actidx, off, tx->acts.n + 1))
				return PM_ENOMEM;
			((struct act *)tx->acts.a)[tx->acts.n++] =
			        (struct act){ off, ~UINT64_C(0), 0, 0, 0 };
			k = tx->acts.n;
		}
		struct act *a = &((struct act *)tx->acts.a)[k - 1];
		switch (op) {
		case REDO_SET:
			a->has_set = 1;
			a->setv = v;
			break;
		case REDO_OR:
			if (a->has_set)
				a->setv |= v;
			else
				a->orm |= v;
			break;
		case REDO_AND:
			if (a->has_set) {
				a->setv &= v;
			} else {
				a->andm &= v;
				a->orm &= v;
			}
			break;
		case REDO_MARK:
			break;
		}
	}
	return 0;
}

/* The lane's redo log is full: from now on every heap op goes to acts.
 * (The covers are dropped: a big commit makes the new objects durable
 * before its commit record is written, commit_big.) */
static int go_big(struct tx_state *tx)
{
	if (acts_fold(tx, &tx->redo))
		return PM_ENOMEM;
	redo_buf_init(&tx->redo);
	tx->big = 1;
	return 0;
}

/* The heap op that allocates (or frees) r: into the commit log, or in big
 * mode composed into acts. */
static int heap_op(struct tx_state *tx, const struct heap_resv *r, int is_free)
{
	struct heap *h = &tx->pool->heap;
	if (!tx->big) {
		if (is_free)
			heap_redo_free(h, &tx->redo, r);
		else
			heap_redo_alloc(h, &tx->redo, r);
		return 0;
	}
	struct redo_buf b;
	redo_buf_init(&b);
	if (is_free)
		heap_redo_free(h, &b, r);
	else
		heap_redo_alloc(h, &b, r);
	return acts_fold(tx, &b);
}

/*
 * Before the commit's seq is taken: flatten acts into redo entries and
 * write them as action records after the entries, growing the chain as
 * needed (F7: each area filled, one record per area; a record of 0
 * actions where a header fits but no action), then make room for the
 * commit record.  Flushed, not fenced (area_grow's publishes fence).
 * An error (no room for the chain) aborts the transaction.
 */
static int big_prepare(struct tx_state *tx)
{
	struct pm_pool *p = tx->pool;
	struct lane *ln = tx->ln;
	const struct act *a = tx->acts.a;
	if (vec_reserve(&tx->flat, 2 * tx->acts.n, sizeof(struct redo_entry)))
		return PM_ERR(PM_ENOMEM, "tx_commit: out of DRAM");
	struct redo_entry *f = tx->flat.a;
	size_t n = 0;
	for (size_t i = 0; i < tx->acts.n; i++) {
		if (a[i].has_set) {
			f[n++] = (struct redo_entry){ a[i].off | (uint64_t)REDO_SET << REDO_OP_SHIFT, a[i].setv };
			continue;
		}
		if (a[i].andm != ~UINT64_C(0))
			f[n++] = (struct redo_entry){ a[i].off | (uint64_t)REDO_AND << REDO_OP_SHIFT, a[i].andm };
		if (a[i].orm)
			f[n++] = (struct redo_entry){ a[i].off | (uint64_t)REDO_OR << REDO_OP_SHIFT, a[i].orm };
	}
	tx->flat.n = n;
	if (tx->gen == 0) {
		int rc = undo_begin(tx, UINT64_MAX); /* the whole log is the first batch */
		if (rc)
			return rc;
	}
	size_t i = 0;
	while (i < n) {
		uint64_t avail = tx->cur.cap - tx->pos;
		if (avail < UNDO_ENTRY_MIN) { /* F4 */
			int rc = area_grow(tx);
			if (rc)
				return rc;
			continue;
		}
		uint64_t k = (avail - sizeof(struct undo_entry)) / sizeof(struct redo_entry);
		if (k > n - i)
			k = n - i;
		struct undo_entry *e = (struct undo_entry *)(tx->cur.start + tx->pos);
		struct undo_entry h = { .off = UNDO_ACTS_TAG, .len = k * sizeof(struct redo_entry),
		                        .gen = tx->gen };
		h.checksum = undo_acts_csum(ln->idx, &h, &f[i]);
		*e = h;
		memcpy(e->data, &f[i], h.len);
		flush_range(p->ops, &ln->cnt, e, sizeof(*e) + h.len);
		tx->pos += undo_entry_size(h.len);
		i += k;
	}
	if (tx->cur.cap - tx->pos < UNDO_ENTRY_MIN) /* the commit record's place */
		return area_grow(tx);
	return 0;
}

/*
 * Big commit (F7): more heap ops than the lane's redo log holds.  The ops
 * are in action records in the undo chain (big_prepare); the data and the
 * new objects are flushed (tx_do_commit).
 */
static void commit_big(struct tx_state *tx)
{
	struct pm_pool *p = tx->pool;
	struct lane *ln = tx->ln;
	const struct flush_ops *ops = p->ops;
#if !PM_BUG(PM_BUG_BIG_COMMIT_EARLY)
	/* DURABLE: the data, the new objects, the action records (and the
	 * header, gen = active = G).  CRASH BEFORE: no commit record, so
	 * the records do not count: rolled back. */
	lane_commit_fence(ln);
#endif
	/* the commit record, right after the last action record */
	struct undo_entry *cb = (struct undo_entry *)(tx->cur.start + tx->pos);
	uint64_t count = tx->flat.n;
	cb->off = UNDO_COMMIT_TAG_BIG | (ln->op_seq & SEQ_MASK);
	cb->len = sizeof(count);
	cb->gen = tx->gen;
	memcpy(cb->data, &count, sizeof(count));
	cb->checksum = undo_commit_csum(ln->idx, cb);
	ln->op_seq = 0;
	flush_range(ops, &ln->cnt, cb, UNDO_BIG_COMMIT_SIZE);
	/* The retire log, in the lane's redo log: free the chain, unlink it,
	 * active = 0.  A newer seq than the commit's: recovery replays it
	 * after the actions (pool.c R2), or after a rollback. */
	struct redo_buf *b = &ln->redo;
	const struct heap_resv *blk = tx->blocks.a;
	redo_buf_init(b);
	for (size_t i = 0; i < tx->blocks.n; i++)
		heap_redo_free(&p->heap, b, &blk[i]);
	struct undo_log *u = &ln->pl->undo;
	redo_buf_add(b, (uint64_t)((char *)&u->next - p->base), REDO_SET, 0);
	redo_buf_add(b, (uint64_t)((char *)&u->active - p->base), REDO_SET, 0);
	redo_buf_add(b, (uint64_t)((char *)&u->hcsum - p->base), REDO_SET,
	             undo_hdr_csum(ln->idx, ln->undo_gen, tx->start, 0));
	redo_write(ops, &ln->cnt, p->base, pool_size_now(p), &ln->pl->redo, b, lane_next_seq(p));
#if PM_BUG(PM_BUG_BIG_COMMIT_EARLY)
	lane_commit_fence(ln); /* BUG: data and commit record in one window */
#else
	/* DURABLE: the commit record: committed.  CRASH BEFORE: a torn record
	 * -> rolled back (and the retire log, if whole, replayed after the
	 * rollback: the chain freed); a whole one -> the actions applied. */
	lane_fence(ln);
#endif
	lane_mark_inflight(ln);
	redo_apply(ops, &ln->cnt, p->base, tx->flat.a, tx->flat.n);
#if !PM_BUG(PM_BUG_BIG_RETIRE_EARLY)
	/* DURABLE: the actions (bitmaps, chunk headers).  Only now may active
	 * = 0 reach media.  CRASH BEFORE: active = G and the commit record:
	 * recovery applies the actions again (and never the retire log while
	 * active = G, pool.c R1). */
	lane_fence(ln);
#endif
	undo_deactivate(tx);
#if !PM_BUG(PM_BUG_BIG_UNLINK_EARLY)
	/* DURABLE: active = 0: the lane is idle, the chain garbage.  Only now
	 * may the unlink reach media (the commit record is in the chain: with
	 * active = G and the chain unlinked, recovery would roll back).
	 * CRASH BEFORE: a torn header reads as no transaction, like active =
	 * 0: the retire log is replayed (idempotent). */
	lane_fence(ln);
#endif
	redo_apply(ops, &ln->cnt, p->base, b->e, b->n);
	/* DURABLE: the chain freed and unlinked.  CRASH BEFORE: the retire
	 * log is valid and the lane idle: replayed. */
	lane_fence(ln);
	redo_invalidate(&ln->pl->redo); /* lazy, as in palloc.c */
	lane_mark_pending(ln, PEND_REDO);
	for (size_t i = 0; i < tx->blocks.n; i++)
		heap_release(&p->heap, ln, &blk[i]);
}

static void tx_do_abort(struct tx_state *tx);

static int tx_do_commit(struct tx_state *tx)
{
	struct pm_pool *p = tx->pool;
	struct lane *ln = tx->ln;
	const struct tx_range *r = tx->ranges.a;
	if (tx->big) {
		/* the action records first: growing the chain publishes (and
		 * takes seqs) of its own */
		int rc = big_prepare(tx);
		if (rc) {
			tx_do_abort(tx);
			tx->stage = PM_TX_STAGE_ONABORT;
			return rc;
		}
	}
	/* the commit's seq, before the flushes below (pool.h) */
	lane_take_seq(ln);
	for (size_t i = 0; i < tx->ranges.n; i++)
		flush_range(p->ops, &ln->cnt, p->base + r[i].off, r[i].end - r[i].off);

	uint64_t cbsize = undo_entry_size(tx->logged);
	if (tx->big) {
		commit_big(tx);
	} else if (tx->gen == 0) {
		if (tx->redo.n) {
			/* Allocations and frees only, no undo entries: publish
			 * them like pm_publish (the flushes above ride on its
			 * commit fence). */
			ln->redo.n = tx->redo.n;
			memcpy(ln->redo.e, tx->redo.e, tx->redo.n * sizeof(tx->redo.e[0]));
			palloc_publish_redo(ln); /* a failed fence: below */
		}
		/* else: an empty transaction, nothing to make durable */
	} else if (tx->nblocks == 0 && tx->cur.cap - tx->pos >= cbsize) {
		commit_fast(tx, cbsize);
	} else {
		commit_slow(tx);
	}
	ln->op_seq = 0; /* an empty or log-less commit did not use it */
	release_all(tx, 1);
	ln->tx_commits++;
	return atomic_load_explicit(&p->failed, memory_order_relaxed)
	               ? PM_ERR(PM_EIO, "tx_commit: a fence failed (msync error): the transaction may not be durable")
	               : 0;
}

static void tx_do_abort(struct tx_state *tx)
{
	struct pm_pool *p = tx->pool;
	struct lane *ln = tx->ln;
	if (tx->gen) {
#if PM_BUG(PM_BUG_ABORT_EARLY_DEACTIVATE)
		ln->pl->undo.active = 0; /* BUG: before the restore is durable */
#endif
		undo_walk(p, ln, tx->gen, WALK_RESTORE, NULL, 0);
		/* DURABLE: every range restored.  CRASH BEFORE: active = gen,
		 * recovery restores again. */
		lane_commit_fence(ln);
		if (tx->blocks.n) {
			/* free the chain, unlink it and clear active in one publish */
			const struct heap_resv *blk = tx->blocks.a;
			redo_buf_init(&ln->redo);
			for (size_t i = 0; i < tx->blocks.n; i++)
				heap_redo_free(&p->heap, &ln->redo, &blk[i]);
			redo_buf_add(&ln->redo, (uint64_t)((char *)&ln->pl->undo.next - p->base), REDO_SET, 0);
			redo_buf_add(&ln->redo, (uint64_t)((char *)&ln->pl->undo.active - p->base), REDO_SET, 0);
			redo_buf_add(&ln->redo, (uint64_t)((char *)&ln->pl->undo.hcsum - p->base), REDO_SET,
			             undo_hdr_csum(ln->idx, ln->undo_gen, tx->start, 0));
			palloc_publish_redo(ln);
			for (size_t i = 0; i < tx->blocks.n; i++)
				heap_release(&p->heap, ln, &blk[i]);
		} else {
			undo_deactivate(tx);
			/* DURABLE: active = 0, the rollback is final.  CRASH
			 * BEFORE: restoring again is harmless. */
			lane_fence(ln);
		}
		/* the restore overwrote ranges other threads may now change:
		 * nothing of this transaction stays lazy */
	}
	release_all(tx, 0);
	ln->tx_aborts++;
}

/* ---- public API ------------------------------------------------------- */

static struct tx_state *tx_in_work(const char *fn)
{
	struct tx_state *tx = tls_tx;
	if (!tx || tx->depth == 0) {
		PM_ERR(PM_ETX, "%s: no transaction in this thread", fn);
		return NULL;
	}
	if (tx->pool && lane_pool_forked(tx->pool)) {
		lane_pool_writable(tx->pool, fn);
		return NULL;
	}
	if (tx->stage != PM_TX_STAGE_WORK) {
		PM_ERR(PM_ETX, "%s: the transaction has already %s", fn,
		       tx->stage == PM_TX_STAGE_ONABORT ? "aborted" : "committed");
		return NULL;
	}
	return tx;
}

int tx_free_pending_lane(struct lane *ln, uint64_t off)
{
	struct tx_state *tx = tls_tx;
	if (!tx || tx->depth == 0 || tx->pool != ln->pool)
		return 0;
	if (om_get(&tx->freeidx, off))
		return 1;
	uint64_t k = om_get(&tx->objidx, off);
	return k && ((const struct tx_obj *)tx->objs.a)[k - 1].freed;
}

/* Abort with err after a failed call; returns err. */
static int fail(struct tx_state *tx, int err)
{
	tx_do_abort(tx);
	tx->stage = PM_TX_STAGE_ONABORT;
	tx->err = err;
	return err;
}

PM_API int tx_begin(pm_pool *pool)
{
	struct tx_state *tx = tx_get();
	if (!tx)
		return PM_ERR(PM_ENOMEM, "tx_begin: out of DRAM");
	if (tx->depth > 0) {
		tx->depth++;
		if (tx->stage != PM_TX_STAGE_WORK)
			return PM_ERR(PM_ETX, "tx_begin: the enclosing transaction has already %s",
			              tx->stage == PM_TX_STAGE_ONABORT ? "aborted" : "committed");
		if (pool != tx->pool) {
			PM_ERR(PM_EINVAL, "tx_begin: nested transaction on a different pool");
			return fail(tx, PM_EINVAL);
		}
		return 0;
	}
	tx->depth = 1;
	if (!pool) {
		tx->pool = NULL;
		tx->ln = NULL;
		tx->stage = PM_TX_STAGE_ONABORT;
		tx->err = PM_EINVAL;
		return PM_ERR(PM_EINVAL, "tx_begin: NULL pool");
	}
	int rc = lane_pool_writable(pool, "tx_begin");
	if (rc) {
		tx->pool = NULL;
		tx->ln = NULL;
		tx->stage = PM_TX_STAGE_ONABORT;
		tx->err = rc;
		return rc;
	}
	tx->pool = pool;
	tx->ln = lane_acquire(pool);
	lane_tx_hold(tx->ln);
	tx->stage = PM_TX_STAGE_WORK;
	tx->err = 0;
	tx_reset(tx);
	return 0;
}

PM_API int tx_add(void *ptr, size_t len)
{
	struct tx_state *tx = tx_in_work("tx_add");
	if (!tx)
		return pm_last_error();
	if (len == 0)
		return 0;
	struct pm_pool *p = tx->pool;
	uintptr_t a = (uintptr_t)ptr, lo = (uintptr_t)p->base + p->heap.chunks_off,
	          hi = lo + (uintptr_t)heap_chunks_now(&p->heap) * CHUNK_SIZE;
	if (a < lo || a >= hi || len > hi - a) {
		PM_ERR(PM_ERANGE, "tx_add: range %p + %zu is not inside the pool's heap", ptr, len);
		return fail(tx, PM_ERANGE);
	}
	if (vec_reserve(&tx->ranges, 1, sizeof(struct tx_range))) {
		PM_ERR(PM_ENOMEM, "tx_add: out of DRAM");
		return fail(tx, PM_ENOMEM);
	}
	uint64_t off = a - (uintptr_t)p->base;
	int logged = 0;
	int rc = snapshot_gaps(tx, off, off + len, &logged);
	if (rc)
		return fail(tx, rc);
	ranges_insert(&tx->ranges, off, off + len);
#if !PM_BUG(PM_BUG_TX_NO_UNDO_FENCE)
	if (logged)
		/* DURABLE: the new entries (and, the first time, gen = active)
		 * -- T1: only now may the caller modify the range.
		 * CRASH BEFORE: a torn entry fails its checksum and ends the
		 * log; the range is unmodified, so nothing is lost. */
		lane_commit_fence(tx->ln);
#endif
	return 0;
}

/*
 * Several ranges under one fence: the gaps of each (against what is
 * covered, the earlier ranges of the call included, so T2 holds) are logged
 * and flushed, then one fence makes them all durable (T1 for every range).
 * As the first tx_add of a transaction, T8's batch is all of their entries:
 * the sum is taken before any is written (overlaps counted twice: more than
 * they take, which only moves the start past the previous commit block more
 * often).
 */
PM_API int tx_add_ranges(const struct pm_range *r, size_t n)
{
	struct tx_state *tx = tx_in_work("tx_add_ranges");
	if (!tx)
		return pm_last_error();
	if (n && !r) {
		PM_ERR(PM_EINVAL, "tx_add_ranges: NULL ranges");
		return fail(tx, PM_EINVAL);
	}
	struct pm_pool *p = tx->pool;
	uintptr_t lo = (uintptr_t)p->base + p->heap.chunks_off,
	          hi = lo + (uintptr_t)heap_chunks_now(&p->heap) * CHUNK_SIZE;
	for (size_t k = 0; k < n; k++) {
		uintptr_t a = (uintptr_t)r[k].ptr;
		if (r[k].len && (a < lo || a >= hi || r[k].len > hi - a)) {
			PM_ERR(PM_ERANGE, "tx_add_ranges: range %zu (%p + %zu) is not inside the pool's heap",
			       k, r[k].ptr, r[k].len);
			return fail(tx, PM_ERANGE);
		}
	}
	if (vec_reserve(&tx->ranges, n, sizeof(struct tx_range))) {
		PM_ERR(PM_ENOMEM, "tx_add_ranges: out of DRAM");
		return fail(tx, PM_ENOMEM);
	}
	if (tx->gen == 0) {
		/* T8 over the whole call */
		const struct tx_range *cr = tx->ranges.a;
		uint64_t b = 0;
		for (size_t k = 0; k < n; k++) {
			uint64_t off = (uintptr_t)r[k].ptr - (uintptr_t)p->base, end = off + r[k].len;
			size_t i = ranges_find(&tx->ranges, off);
			uint64_t cc = off;
			while (cc < end) {
				if (i < tx->ranges.n && cr[i].off <= cc) {
					cc = cr[i++].end;
					continue;
				}
				uint64_t ge = i < tx->ranges.n && cr[i].off < end ? cr[i].off : end;
				b += undo_entry_size(ge - cc) + sizeof(struct undo_entry);
				cc = ge;
			}
		}
		tx->batch = b;
#if !PM_BUG(PM_BUG_RANGES_FIRST_ONLY)
		tx->batch_fixed = 1;
#endif
	}
	int logged = 0, rc = 0;
	for (size_t k = 0; k < n && rc == 0; k++) {
		if (!r[k].len)
			continue;
		uint64_t off = (uintptr_t)r[k].ptr - (uintptr_t)p->base;
		rc = snapshot_gaps(tx, off, off + r[k].len, &logged);
		if (rc == 0)
			ranges_insert(&tx->ranges, off, off + r[k].len);
	}
	tx->batch_fixed = 0;
	if (rc)
		return fail(tx, rc);
#if !PM_BUG(PM_BUG_TX_NO_UNDO_FENCE)
	if (logged)
		/* DURABLE: every new entry of every range (and, the first
		 * time, gen = active) -- T1 for all of them at once.
		 * CRASH BEFORE: any subset of the entries may be durable; a
		 * torn or missing one ends the log where it is, and no range
		 * has been modified yet, so rolling back what is there is
		 * exact. */
		lane_commit_fence(tx->ln);
#endif
	return 0;
}

static pm_off tx_alloc(size_t size, int zero, const char *fn)
{
	struct tx_state *tx = tx_in_work(fn);
	if (!tx)
		return 0;
	struct pm_pool *p = tx->pool;
	if (size == 0 || size > PM_MAX_ALLOC_SIZE) {
		PM_ERR(PM_EINVAL, "%s: bad size %zu", fn, size);
		fail(tx, PM_EINVAL);
		return 0;
	}
	if (!tx->big && tx->redo.n + 2 > REDO_TX_LIMIT && go_big(tx)) {
		PM_ERR(PM_ENOMEM, "%s: out of DRAM", fn);
		fail(tx, PM_ENOMEM);
		return 0;
	}
	if (vec_reserve(&tx->objs, 1, sizeof(struct tx_obj)) ||
	    vec_reserve(&tx->ranges, 1, sizeof(struct tx_range))) {
		PM_ERR(PM_ENOMEM, "%s: out of DRAM", fn);
		fail(tx, PM_ENOMEM);
		return 0;
	}
	struct tx_obj *o = &((struct tx_obj *)tx->objs.a)[tx->objs.n];
	if (heap_reserve(&p->heap, tx->ln, size, &o->r)) {
		PM_ERR(PM_ENOSPC, "%s: no room for %zu bytes in the pool%s", fn, size, heap_grow_why());
		fail(tx, PM_ENOSPC);
		return 0;
	}
	o->freed = 0;
	tx->objs.n++;
	if (heap_op(tx, &o->r, 0) || om_put(&tx->objidx, o->r.off, tx->objs.n)) {
		PM_ERR(PM_ENOMEM, "%s: out of DRAM", fn);
		fail(tx, PM_ENOMEM);
		return 0;
	}
	/* the commit log covers the new object's contents (log.h): flushed at
	 * commit, durable no later than the pointers to it (a big commit
	 * makes them durable before its record instead) */
	if (!tx->big)
		redo_buf_add(&tx->redo, o->r.off, REDO_MARK, size);
	if (zero)
		memset(p->base + o->r.off, 0, size);
	/* the object is new: tx_add need not snapshot it; commit flushes it */
	ranges_insert(&tx->ranges, o->r.off, o->r.off + size);
	tx->ln->allocs++;
	return o->r.off;
}

PM_API pm_off tx_pmalloc(size_t size)
{
	return tx_alloc(size, 0, "tx_pmalloc");
}

PM_API pm_off tx_pzalloc(size_t size)
{
	return tx_alloc(size, 1, "tx_pzalloc");
}

PM_API int tx_pfree(pm_off off)
{
	struct tx_state *tx = tx_in_work("tx_pfree");
	if (!tx)
		return pm_last_error();
	if (off == 0)
		return 0;
	struct pm_pool *p = tx->pool;
	if (!tx->big && tx->redo.n >= REDO_TX_LIMIT && go_big(tx)) {
		PM_ERR(PM_ENOMEM, "tx_pfree: out of DRAM");
		return fail(tx, PM_ENOMEM);
	}
	/* freeing an object this transaction allocated: the commit log gets
	 * its OR and then an AND, so it ends up free; it stays reserved (so no
	 * later tx_pmalloc can get it) until the end */
	uint64_t k = om_get(&tx->objidx, off);
	if (k) {
		struct tx_obj *o = &((struct tx_obj *)tx->objs.a)[k - 1];
		if (o->freed) {
			PM_ERR(PM_EINVAL, "tx_pfree: 0x%llx freed twice", (unsigned long long)off);
			return fail(tx, PM_EINVAL);
		}
		o->freed = 1;
		if (heap_op(tx, &o->r, 1)) {
			PM_ERR(PM_ENOMEM, "tx_pfree: out of DRAM");
			return fail(tx, PM_ENOMEM);
		}
		tx->ln->frees++;
		return 0;
	}
	struct heap_resv r;
	if (heap_lookup(&p->heap, off, &r)) {
		PM_ERR(PM_EINVAL, "tx_pfree: offset 0x%llx is not an allocated object", (unsigned long long)off);
		return fail(tx, PM_EINVAL);
	}
	if (om_get(&tx->freeidx, off)) {
		PM_ERR(PM_EINVAL, "tx_pfree: 0x%llx freed twice", (unsigned long long)off);
		return fail(tx, PM_EINVAL);
	}
	if (vec_reserve(&tx->frees, 1, sizeof(r)) || om_put(&tx->freeidx, off, 1)) {
		PM_ERR(PM_ENOMEM, "tx_pfree: out of DRAM");
		return fail(tx, PM_ENOMEM);
	}
	((struct heap_resv *)tx->frees.a)[tx->frees.n++] = r;
	if (heap_op(tx, &r, 1)) {
		PM_ERR(PM_ENOMEM, "tx_pfree: out of DRAM");
		return fail(tx, PM_ENOMEM);
	}
	tx->ln->frees++;
	return 0;
}

PM_API int tx_commit(void)
{
	struct tx_state *tx = tls_tx;
	if (!tx || tx->depth == 0)
		return PM_ERR(PM_ETX, "tx_commit: no transaction in this thread");
	if (tx->stage == PM_TX_STAGE_ONABORT)
		return tx->err;
	if (tx->pool && lane_pool_forked(tx->pool))
		return lane_pool_writable(tx->pool, "tx_commit");
	if (tx->stage == PM_TX_STAGE_ONCOMMIT || tx->depth > 1)
		return tx->stage == PM_TX_STAGE_ONCOMMIT ? tx->err : 0; /* flat nesting */
	tx->err = tx_do_commit(tx);
	if (tx->stage == PM_TX_STAGE_WORK) /* else: the commit aborted */
		tx->stage = PM_TX_STAGE_ONCOMMIT;
	return tx->err;
}

PM_API void tx_abort(int err)
{
	struct tx_state *tx = tls_tx;
	if (!tx || tx->depth == 0) {
		PM_ERR(PM_ETX, "tx_abort: no transaction in this thread");
		return;
	}
	if (tx->stage != PM_TX_STAGE_WORK || (tx->pool && lane_pool_forked(tx->pool)))
		return;
	fail(tx, err ? err : PM_ECANCELED);
}

PM_API int tx_end(void)
{
	struct tx_state *tx = tls_tx;
	if (!tx || tx->depth == 0)
		return PM_ERR(PM_ETX, "tx_end: no transaction in this thread");
	if (tx->pool && lane_pool_forked(tx->pool)) {
		/* a transaction of the parent, inherited by fork: the parent
		 * ends it; here it is only forgotten */
		int rc = lane_pool_writable(tx->pool, "tx_end");
		if (--tx->depth == 0) {
			tx_locks_release(1);
			tx->ln = NULL;
			tx->pool = NULL;
			tx->stage = PM_TX_STAGE_NONE;
		}
		return rc;
	}
	if (tx->depth == 1 && tx->stage == PM_TX_STAGE_WORK)
		tx_commit(); /* ending the outermost level commits */
	int err = tx->stage != PM_TX_STAGE_WORK ? tx->err : 0;
	if (--tx->depth == 0) {
		if (tx->ln) {
			lane_tx_unhold(tx->ln);
			int rr = lane_release(tx->ln); /* WAL mode: the commit's sync */
			if (rr && !err)
				err = rr;
		}
		tx_locks_release(0); /* tx_lock's, after the commit/abort */
		tx->ln = NULL;
		tx->pool = NULL;
		tx->stage = PM_TX_STAGE_NONE;
	}
	return err;
}

PM_API enum pm_tx_stage tx_stage(void)
{
	struct tx_state *tx = tls_tx;
	return tx && tx->depth ? tx->stage : PM_TX_STAGE_NONE;
}

PM_API pm_pool *tx_pool(void)
{
	struct tx_state *tx = tls_tx;
	return tx && tx->depth ? tx->pool : NULL;
}

PM_API int tx_run(pm_pool *pool, int (*fn)(pm_pool *pool, void *arg), void *arg)
{
	if (tx_begin(pool) == 0) {
		int rc = fn ? fn(pool, arg) : PM_EINVAL;
		if (rc != 0)
			tx_abort(rc);
	}
	return tx_end();
}

void tx_pool_closing(struct pm_pool *p)
{
	struct tx_state *tx = tls_tx;
	if (!tx || tx->depth == 0 || tx->pool != p)
		return;
	if (lane_pool_forked(p)) { /* the parent's transaction: leave it alone */
		tx_locks_release(1);
		tx->ln = NULL;
		tx->pool = NULL;
		tx->depth = 0;
		tx->stage = PM_TX_STAGE_NONE;
		return;
	}
	if (tx->stage == PM_TX_STAGE_WORK)
		fail(tx, PM_ECANCELED);
	if (tx->ln) {
		lane_tx_unhold(tx->ln);
		lane_release(tx->ln);
	}
	tx_locks_release(0); /* before the pool is unmapped */
	tx->ln = NULL;
	tx->pool = NULL;
	tx->depth = 0;
	tx->stage = PM_TX_STAGE_NONE;
}

/* tx_util.c's tx_prealloc: the usable size of an object this thread's
 * transaction tx_pmalloc'ed and has not freed (heap_lookup sees only
 * published objects); 0 if off is not one. */
size_t tx_reserved_size(uint64_t off)
{
	struct tx_state *tx = tls_tx;
	if (!tx || tx->depth == 0)
		return 0;
	const struct tx_obj *o = tx->objs.a;
	for (size_t i = 0; i < tx->objs.n; i++)
		if (o[i].r.off == off && !o[i].freed)
			return heap_resv_size(&o[i].r);
	return 0;
}
