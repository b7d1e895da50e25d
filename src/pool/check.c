/*
 * check.c -- layer 6: pm_check (full consistency walk), pm_check_path
 * (the same on a private copy of a pool file, after recovery in DRAM), and
 * pm_walk (every allocated object).
 *
 * What is checked: the header (P1: unchanged since it was validated at
 * open), a growable pool's recorded heap size (P5: the one in use; open
 * checked that the file holds it), every lane's logs (no valid redo log
 * above the recovery watermark and no active undo log in a quiescent pool;
 * undo generations in range and
 * the undo header's checksum, tx_format.h F5; no overflow chain linked from
 * an idle lane: commit, abort, a big commit's retire log and open all
 * unlink it), the chunk table walk (spans in range, ending exactly at the
 * last chunk, known types and classes, a run's span one its class has:
 * heap_run_geom), run bitmaps (no bit past the last block), the root
 * object, the persistent globals' directory, and the volatile state against
 * the persistent one (H4: every persistently allocated block is taken in
 * DRAM; the DRAM run of every chunk of a run is that run's; no free extent
 * overlaps an allocated chunk).
 *
 * Every problem found goes to the report's status and message if it is the
 * first (pm_check's public behaviour) and to the caller's list if there is
 * one (pool_check_all, repair.h: the pmstore tool lists them all).  A chunk
 * header that cannot be walked past ends the heap walk: the raw walk of
 * repair.c resynchronises there, this one does not (a pool that opened has
 * no such header).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/pool.h"
#include "pool/repair.h"
#include "tx/tx_format.h"

/* ---- the problem list (repair.h) --------------------------------------- */

void pool_problems_add(struct pool_problems *l, int err, const char *kind, uint64_t offset,
                       const char *structure, const char *fmt, ...)
{
	if (!l)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct pool_problem *v = l->n < PROBLEMS_MAX ? realloc(l->v, cap * sizeof(*v)) : NULL;
		if (!v) {
			l->dropped++;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	struct pool_problem *q = &l->v[l->n++];
	q->err = err;
	snprintf(q->kind, sizeof(q->kind), "%s", kind);
	q->offset = offset;
	snprintf(q->structure, sizeof(q->structure), "%s", structure);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->message, sizeof(q->message), fmt, ap);
	va_end(ap);
}

void pool_problems_free(struct pool_problems *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* What a check reports into: the public report (first problem) and,
 * if the caller wants every one, the list. */
struct chk {
	struct pm_check_report *rep;
	struct pool_problems *list;
};

static void __attribute__((format(printf, 6, 7)))
chk_fail(struct chk *c, int err, const char *kind, uint64_t off, const char *structure,
         const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->rep->status == 0) {
		c->rep->status = err;
		snprintf(c->rep->message, sizeof(c->rep->message), "%s", msg);
	}
	pool_problems_add(c->list, err, kind, off, structure, "%s", msg);
}

/* "chunk K (table offset 0x...)" */
static const char *chunk_name(char *buf, size_t len, const struct heap *h, uint32_t k)
{
	snprintf(buf, len, "chunk %u (table offset 0x%llx)", k,
	         (unsigned long long)(h->table_off + 8ull * k));
	return buf;
}

typedef int (*object_cb)(pm_off off, size_t usable, void *arg);

/* Walk the chunk table; call cb per allocated object; fill counts in rep.
 * A header that cannot be walked past ends the walk (a pool that opened
 * has none: open checks the table on media first). */
static void walk_heap(struct pm_pool *p, struct chk *c, object_cb cb, void *arg, int *stopped)
{
	struct heap *h = &p->heap;
	struct pm_check_report *rep = c->rep;
	char nm[64];
	uint32_t k = 0;
	while (k < h->nchunks && !*stopped) {
		uint64_t hd = h->table[k];
		uint64_t n = chunk_count_of(hd);
		uint64_t base = h->chunks_off + (uint64_t)k * CHUNK_SIZE;
		uint64_t toff = h->table_off + 8ull * k;
		switch (chunk_type_of(hd)) {
		case CHUNK_FREE:
			if (n == 0 || n > h->nchunks - k) {
				chk_fail(c, PM_ECORRUPT, "chunk_span", toff, chunk_name(nm, sizeof(nm), h, k),
				         "chunk %u: FREE span %llu out of range", k, (unsigned long long)n);
				return;
			}
			rep->free_chunks += n;
			k += (uint32_t)n;
			break;
		case CHUNK_LARGE:
			if (n == 0 || n > h->nchunks - k) {
				chk_fail(c, PM_ECORRUPT, "chunk_span", toff, chunk_name(nm, sizeof(nm), h, k),
				         "chunk %u: LARGE span %llu out of range", k, (unsigned long long)n);
				return;
			}
			rep->large_chunks += n;
			rep->objects++;
			rep->bytes_allocated += n * CHUNK_SIZE;
			if (cb && cb(base, n * CHUNK_SIZE, arg))
				*stopped = 1;
			k += (uint32_t)n;
			break;
		case CHUNK_RUN: {
			unsigned cl = chunk_class_of(hd);
			struct run_geom g;
			if (cl >= NCLASSES) {
				chk_fail(c, PM_ECORRUPT, "chunk_header", toff, chunk_name(nm, sizeof(nm), h, k),
				         "chunk %u: run of unknown class %u", k, cl);
				return;
			}
			if (n > h->nchunks - k || heap_run_geom(cl, n, &g)) {
				chk_fail(c, PM_ECORRUPT, "chunk_span", toff, chunk_name(nm, sizeof(nm), h, k),
				         "chunk %u: run of class %u over %llu chunks: no such run", k, cl,
				         (unsigned long long)n);
				return;
			}
			const struct size_class *sc = &heap_classes[cl];
			const uint64_t *bits = (const uint64_t *)(p->base + base);
			struct run *vr = h->runs[k];
			rep->run_chunks += n;
			snprintf(nm, sizeof(nm), "chunk %u run bitmap", k);
			for (uint32_t j = 0; j < n; j++)
				if (h->runs[k + j] != vr || (vr && (vr->chunk != k || vr->span != n || vr->cls != cl))) {
					chk_fail(c, PM_ECORRUPT, "run_state", toff, nm,
					         "chunk %u: the heap's DRAM run for chunk %u is not this run (class %u, %llu chunks)",
					         k, k + j, cl, (unsigned long long)n);
					break;
				}
			if (vr && (vr->chunk != k || vr->span != n || vr->cls != cl))
				vr = NULL; /* reported; read the bits alone */
			for (uint32_t w = 0; w < g.nwords; w++) {
				uint64_t word = bits[w];
				if (w == g.nwords - 1 && g.nblocks % 64 &&
				    (word >> (g.nblocks % 64)))
					chk_fail(c, PM_ECORRUPT, "bitmap_tail", base + 8ull * w, nm,
					         "chunk %u: bitmap bit set past block %u", k, g.nblocks);
				if (word && !vr)
					chk_fail(c, PM_ECORRUPT, "run_state", base + 8ull * w, nm,
					         "chunk %u: allocated blocks in a run the heap treats as free", k);
				if (vr && (word & ~vr->bits[w]))
					chk_fail(c, PM_ECORRUPT, "run_state", base + 8ull * w, nm,
					         "chunk %u word %u: allocated block free in DRAM", k, w);
				while (word && !*stopped) {
					unsigned b = (unsigned)__builtin_ctzll(word);
					word &= word - 1;
					rep->objects++;
					rep->bytes_allocated += sc->size;
					if (cb && cb(base + g.data + (uint64_t)(w * 64 + b) * sc->size, sc->size, arg))
						*stopped = 1;
				}
			}
			k += (uint32_t)n;
			break;
		}
		default:
			chk_fail(c, PM_ECORRUPT, "chunk_header", toff, chunk_name(nm, sizeof(nm), h, k),
			         "chunk %u: bad header type %u", k, (unsigned)chunk_type_of(hd));
			return;
		}
	}
	if (!*stopped && k != h->nchunks)
		chk_fail(c, PM_ECORRUPT, "chunk_span", h->table_off + 8ull * k, "chunk table",
		         "chunk walk ends at %u, heap has %u chunks", k, h->nchunks);
}

/* Every volatile free extent must cover only FREE spans or empty runs. */
static void check_extents(struct pm_pool *p, struct chk *c)
{
	struct heap *h = &p->heap;
	char nm[64];
	pthread_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < h->next; i++) {
		uint32_t s = h->ext[i].start, e = s + h->ext[i].n;
		if (e > h->nchunks) {
			chk_fail(c, PM_ECORRUPT, "free_extent", h->table_off + 8ull * s, "free extents (DRAM)",
			         "free extent %u..%u past the heap", s, e);
			continue;
		}
		/* walk from chunk 0 to find headers inside [s, e) */
		for (uint32_t k = 0; k < e;) {
			uint64_t hd = h->table[k];
			uint64_t n = chunk_span_of(hd);
			if (n == 0)
				break;
			if (k + n > s && k < e) {
				if (chunk_type_of(hd) == CHUNK_LARGE)
					chk_fail(c, PM_ECORRUPT, "free_extent", h->table_off + 8ull * k,
					         chunk_name(nm, sizeof(nm), h, k),
					         "free extent %u..%u overlaps object at chunk %u", s, e, k);
				if (chunk_type_of(hd) == CHUNK_RUN && h->runs[k])
					chk_fail(c, PM_ECORRUPT, "free_extent", h->table_off + 8ull * k,
					         chunk_name(nm, sizeof(nm), h, k),
					         "free extent %u..%u overlaps run at chunk %u", s, e, k);
			}
			k += (uint32_t)n;
		}
	}
	pthread_mutex_unlock(&h->lock);
}

static void check_lanes(struct pm_pool *p, struct chk *c)
{
	char nm[64];
	uint64_t wo = POOL_DESC_OFF + offsetof(struct pool_desc, recovered_seq);
	if (p->desc->recovered_seq > SEQ_MASK) /* P4 */
		chk_fail(c, PM_ECORRUPT, "recovered_seq", wo, "descriptor",
		         "descriptor (offset 0x%llx): recovery watermark 0x%llx is above every sequence "
		         "number a log can carry (2^56 - 1)",
		         (unsigned long long)wo, (unsigned long long)p->desc->recovered_seq);
	for (unsigned i = 0; i < p->nlanes; i++) {
		const struct lane_layout *pl = p->lanes[i].pl;
		uint64_t seq = 0;
		int valid = redo_valid(p->base, p->size, &pl->redo, REDO_MAX, &seq) >= 0 &&
		            seq > p->desc->recovered_seq;
		if (valid || pl->undo.active)
			c->rep->logs_pending++;
		const struct undo_log *u = &pl->undo;
		uint64_t lo = (uint64_t)((const char *)u - p->base);
		snprintf(nm, sizeof(nm), "lane %u undo header", i);
		if (u->gen >= UNDO_GEN_MAX || u->active >= UNDO_GEN_MAX)
			chk_fail(c, PM_ECORRUPT, "undo_generation", lo, nm,
			         "lane %u (offset 0x%llx): undo generation out of range",
			         i, (unsigned long long)lo);
		else if (u->hcsum != undo_hdr_csum(i, u->gen, u->start, u->active))
			chk_fail(c, PM_ECORRUPT, "undo_checksum", lo, nm,
			         "lane %u (offset 0x%llx): undo header checksum mismatch",
			         i, (unsigned long long)lo);
		else if (!u->active && u->next)
			/* every commit, abort and open unlinks (and frees) the
			 * chain of an idle lane: a link left is leaked blocks, or
			 * a big commit whose retire log was never applied */
			chk_fail(c, PM_ECORRUPT, "undo_chain", lo + offsetof(struct undo_log, next), nm,
			         "lane %u (offset 0x%llx): idle undo log still links overflow block 0x%llx",
			         i, (unsigned long long)lo, (unsigned long long)u->next);
	}
}

static int check_root(pm_off off, size_t usable, void *arg)
{
	uint64_t *want = arg; /* [root_off, root_size, found] */
	if (off == want[0] && usable >= want[1])
		want[2] = 1;
	return 0;
}

int pool_check_all(struct pm_pool *p, struct pm_check_report *rep, struct pool_problems *list)
{
	struct pm_check_report local;
	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	if (!p)
		return PM_ERR(PM_EINVAL, "pm_check: NULL pool");
	struct chk c = { rep, list };
	rep->pool_size = p->size;
	rep->max_size = pm_max_size(p);
	rep->heap_chunks = p->heap.nchunks;
	rep->nlanes = p->nlanes;
	/* the header is validated once at open and never written after (the
	 * DRAM copy's nchunks is the heap in use, P5: compare the maximum) */
	struct pool_hdr want = *p->hdr;
	if (p->growable)
		want.nchunks = p->max_chunks;
	if (memcmp(p->base, &want, sizeof(want)) != 0)
		chk_fail(&c, PM_ECORRUPT, "header", 0, "header",
		         "pool header (offset 0) changed since the pool was opened");
	/* P5: the recorded heap size is the one in use */
	uint64_t hc = p->desc->heap_chunks;
	if (p->growable ? hc != p->hdr->nchunks : hc != 0 && hc != p->hdr->nchunks)
		chk_fail(&c, PM_ECORRUPT, "heap_chunks", POOL_DESC_OFF + offsetof(struct pool_desc, heap_chunks),
		         "descriptor", "descriptor records a heap of %llu chunks, %llu are in use",
		         (unsigned long long)hc, (unsigned long long)p->hdr->nchunks);
	check_lanes(p, &c);
	uint64_t root[3] = {p->desc->root_off, p->desc->root_size, 0};
	int stopped = 0;
	walk_heap(p, &c, root[0] ? check_root : NULL, root, &stopped);
	if (root[0] && !root[2])
		chk_fail(&c, PM_ECORRUPT, "root", POOL_DESC_OFF, "root (descriptor)",
		         "root 0x%llx (%llu bytes) is not an allocated object",
		         (unsigned long long)root[0], (unsigned long long)root[1]);
	struct heap_resv pr;
	if (p->desc->perm_off) {
		if (heap_lookup(&p->heap, p->desc->perm_off, &pr))
			chk_fail(&c, PM_ECORRUPT, "perm", POOL_DESC_OFF + offsetof(struct pool_desc, perm_off),
			         "persistent globals (descriptor)",
			         "persistent globals' directory 0x%llx is not an allocated object",
			         (unsigned long long)p->desc->perm_off);
	}
	check_extents(p, &c);
	if (rep->free_chunks + rep->run_chunks + rep->large_chunks != rep->heap_chunks)
		chk_fail(&c, PM_ECORRUPT, "chunk_counts", p->heap.table_off, "chunk table",
		         "chunk counts %llu+%llu+%llu do not add up to %llu",
		         (unsigned long long)rep->free_chunks, (unsigned long long)rep->run_chunks,
		         (unsigned long long)rep->large_chunks, (unsigned long long)rep->heap_chunks);
	if (rep->status)
		return PM_ERR(rep->status, "pm_check: %s", rep->message);
	return 0;
}

PM_API int pm_check(pm_pool *p, struct pm_check_report *rep)
{
	return pool_check_all(p, rep, NULL);
}

PM_API int pm_check_path(const char *path, struct pm_check_report *rep)
{
	struct pm_check_report local;
	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	struct pm_pool *p = pool_open_private(path);
	if (!p) {
		rep->status = pm_last_error();
		snprintf(rep->message, sizeof(rep->message), "%s", pm_errormsg());
		return rep->status;
	}
	int rc = pm_check(p, rep);
	pm_close(p);
	return rc;
}

PM_API int pm_walk(pm_pool *p, pm_walk_fn fn, void *arg)
{
	struct pm_check_report rep;
	memset(&rep, 0, sizeof(rep));
	struct chk c = { &rep, NULL };
	int stopped = 0;
	walk_heap(p, &c, fn, arg, &stopped);
	return rep.status;
}
