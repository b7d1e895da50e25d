/*
 * check.c -- layer 4: pm_check (full consistency walk), pm_check_path
 * (the same on a private copy of a pool file, after recovery in DRAM), and
 * pm_walk (every allocated object).
 *
 * What is checked: the header (P1), every lane's logs (no valid redo log
 * and no active undo log in a quiescent pool), the chunk table walk (spans
 * in range, ending exactly at the last chunk, known types and classes), run
 * bitmaps (no bit past the last block), the root object, and the volatile
 * state against the persistent one (H4: every persistently allocated block
 * is taken in DRAM; no free extent overlaps an allocated chunk).
 */
#include <stdio.h>
#include <string.h>

#include "pool/pool.h"
#include "tx/tx_format.h"

#define CHECK_FAIL(rep, err, ...)                                              \
	do {                                                                       \
		if ((rep)->status == 0) {                                              \
			(rep)->status = (err);                                             \
			snprintf((rep)->message, sizeof((rep)->message), __VA_ARGS__);     \
		}                                                                      \
	} while (0)

typedef int (*object_cb)(pm_off off, size_t usable, void *arg);

/* Walk the chunk table; call cb per allocated object; fill counts in rep. */
static void walk_heap(struct pm_pool *p, struct pm_check_report *rep,
                      object_cb cb, void *arg, int *stopped)
{
	struct heap *h = &p->heap;
	uint32_t k = 0;
	while (k < h->nchunks && !*stopped) {
		uint64_t hd = h->table[k];
		uint64_t n = chunk_count_of(hd);
		uint64_t base = h->chunks_off + (uint64_t)k * CHUNK_SIZE;
		switch (chunk_type_of(hd)) {
		case CHUNK_FREE:
			if (n == 0 || n > h->nchunks - k) {
				CHECK_FAIL(rep, PM_ECORRUPT, "chunk %u: FREE span %llu out of range", k, (unsigned long long)n);
				return;
			}
			rep->free_chunks += n;
			k += (uint32_t)n;
			break;
		case CHUNK_LARGE:
			if (n == 0 || n > h->nchunks - k) {
				CHECK_FAIL(rep, PM_ECORRUPT, "chunk %u: LARGE span %llu out of range", k, (unsigned long long)n);
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
			unsigned c = chunk_class_of(hd);
			if (c >= NCLASSES) {
				CHECK_FAIL(rep, PM_ECORRUPT, "chunk %u: run of unknown class %u", k, c);
				return;
			}
			const struct size_class *sc = &heap_classes[c];
			const uint64_t *bits = (const uint64_t *)(p->base + base);
			struct run *vr = h->runs[k];
			rep->run_chunks++;
			for (uint32_t w = 0; w < sc->nwords; w++) {
				uint64_t word = bits[w];
				if (w == sc->nwords - 1 && sc->nblocks % 64 &&
				    (word >> (sc->nblocks % 64)))
					CHECK_FAIL(rep, PM_ECORRUPT, "chunk %u: bitmap bit set past block %u", k, sc->nblocks);
				if (word && !vr)
					CHECK_FAIL(rep, PM_ECORRUPT, "chunk %u: allocated blocks in a run the heap treats as free", k);
				if (vr && (word & ~vr->bits[w]))
					CHECK_FAIL(rep, PM_ECORRUPT, "chunk %u word %u: allocated block free in DRAM", k, w);
				while (word && !*stopped) {
					unsigned b = (unsigned)__builtin_ctzll(word);
					word &= word - 1;
					rep->objects++;
					rep->bytes_allocated += sc->size;
					if (cb && cb(base + sc->data + (uint64_t)(w * 64 + b) * sc->size, sc->size, arg))
						*stopped = 1;
				}
			}
			k += 1;
			break;
		}
		default:
			CHECK_FAIL(rep, PM_ECORRUPT, "chunk %u: bad header type %u", k, (unsigned)chunk_type_of(hd));
			return;
		}
	}
	if (!*stopped && k != h->nchunks)
		CHECK_FAIL(rep, PM_ECORRUPT, "chunk walk ends at %u, heap has %u chunks", k, h->nchunks);
}

/* Every volatile free extent must cover only FREE spans or empty runs. */
static void check_extents(struct pm_pool *p, struct pm_check_report *rep)
{
	struct heap *h = &p->heap;
	pthread_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < h->next; i++) {
		uint32_t s = h->ext[i].start, e = s + h->ext[i].n;
		if (e > h->nchunks) {
			CHECK_FAIL(rep, PM_ECORRUPT, "free extent %u..%u past the heap", s, e);
			continue;
		}
		/* walk from chunk 0 to find headers inside [s, e) */
		for (uint32_t k = 0; k < e;) {
			uint64_t hd = h->table[k];
			uint64_t n = chunk_type_of(hd) == CHUNK_RUN ? 1 : chunk_count_of(hd);
			if (n == 0)
				break;
			if (k + n > s && k < e) {
				if (chunk_type_of(hd) == CHUNK_LARGE)
					CHECK_FAIL(rep, PM_ECORRUPT, "free extent %u..%u overlaps object at chunk %u", s, e, k);
				if (chunk_type_of(hd) == CHUNK_RUN && h->runs[k])
					CHECK_FAIL(rep, PM_ECORRUPT, "free extent %u..%u overlaps run at chunk %u", s, e, k);
			}
			k += (uint32_t)n;
		}
	}
	pthread_mutex_unlock(&h->lock);
}

static void check_lanes(struct pm_pool *p, struct pm_check_report *rep)
{
	for (unsigned i = 0; i < p->nlanes; i++) {
		const struct lane_layout *pl = p->lanes[i].pl;
		uint64_t seq = 0;
		int valid = redo_valid(p->base, p->size, &pl->redo, REDO_MAX, &seq) >= 0 &&
		            seq > p->desc->recovered_seq;
		if (valid || pl->undo.active)
			rep->logs_pending++;
		const struct undo_log *u = &pl->undo;
		uint64_t lo = (uint64_t)((const char *)u - p->base);
		if (u->gen >= UNDO_GEN_MAX || u->active >= UNDO_GEN_MAX)
			CHECK_FAIL(rep, PM_ECORRUPT, "lane %u (offset 0x%llx): undo generation out of range",
			           i, (unsigned long long)lo);
		else if (u->hcsum != undo_hdr_csum(i, u->gen, u->start, u->active))
			CHECK_FAIL(rep, PM_ECORRUPT, "lane %u (offset 0x%llx): undo header checksum mismatch",
			           i, (unsigned long long)lo);
	}
}

static int check_root(pm_off off, size_t usable, void *arg)
{
	uint64_t *want = arg; /* [root_off, root_size, found] */
	if (off == want[0] && usable >= want[1])
		want[2] = 1;
	return 0;
}

PM_API int pm_check(pm_pool *p, struct pm_check_report *rep)
{
	struct pm_check_report local;
	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	if (!p)
		return PM_ERR(PM_EINVAL, "pm_check: NULL pool");
	rep->pool_size = p->size;
	rep->heap_chunks = p->heap.nchunks;
	rep->nlanes = p->nlanes;
	/* the header is validated once at open and never written after */
	if (memcmp(p->base, p->hdr, sizeof(*p->hdr)) != 0)
		CHECK_FAIL(rep, PM_ECORRUPT, "pool header (offset 0) changed since the pool was opened");
	check_lanes(p, rep);
	uint64_t root[3] = {p->desc->root_off, p->desc->root_size, 0};
	int stopped = 0;
	walk_heap(p, rep, root[0] ? check_root : NULL, root, &stopped);
	if (root[0] && !root[2])
		CHECK_FAIL(rep, PM_ECORRUPT, "root 0x%llx (%llu bytes) is not an allocated object",
		           (unsigned long long)root[0], (unsigned long long)root[1]);
	check_extents(p, rep);
	if (rep->free_chunks + rep->run_chunks + rep->large_chunks != rep->heap_chunks)
		CHECK_FAIL(rep, PM_ECORRUPT, "chunk counts %llu+%llu+%llu do not add up to %llu",
		           (unsigned long long)rep->free_chunks, (unsigned long long)rep->run_chunks,
		           (unsigned long long)rep->large_chunks, (unsigned long long)rep->heap_chunks);
	if (rep->status)
		return PM_ERR(rep->status, "pm_check: %s", rep->message);
	return 0;
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
	int stopped = 0;
	walk_heap(p, &rep, fn, arg, &stopped);
	return rep.status;
}
