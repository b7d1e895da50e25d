/*
 * heap.c -- layer 4: size classes, chunk table walk, volatile free state,
 * reservations and the per-lane thread cache.  See heap.h for the format
 * and invariants H1-H4.
 *
 * Fast path: heap_reserve pops a block from the lane's tcache bin (no lock).
 * Slow path: tcache_refill takes a batch of free blocks from the class's
 * partial runs under the class lock, and only when there is none creates a
 * run from a free extent under the heap lock (run_create, two fences, once
 * per run).  Large objects (> MAX_SMALL_SIZE) take whole chunks.
 */
#include "alloc/heap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "lane/lane.h"
#include "log/log.h"
#include "base/seeded_bugs.h"

struct size_class heap_classes[NCLASSES];
static uint8_t class_lut[MAX_SMALL_SIZE / 16 + 1];
static pthread_once_t classes_once = PTHREAD_ONCE_INIT;

static void classes_init(void)
{
	unsigned n = 0;
	for (uint32_t s = 16; s <= 128; s += 16)
		heap_classes[n++].size = s;
	for (uint32_t base = 128; base < MAX_SMALL_SIZE; base *= 2)
		for (uint32_t k = 1; k <= 4; k++)
			heap_classes[n++].size = base + k * base / 4;
	for (unsigned c = 0; c < NCLASSES; c++) {
		struct size_class *sc = &heap_classes[c];
		uint32_t nb = (uint32_t)(CHUNK_SIZE / sc->size);
		for (;;) {
			uint32_t words = (nb + 63) / 64;
			uint32_t data = (words * 8 + 63) & ~63u;
			if (data + (uint64_t)nb * sc->size <= CHUNK_SIZE) {
				sc->nblocks = nb;
				sc->nwords = words;
				sc->data = data;
				break;
			}
			nb--;
		}
	}
	unsigned c = 0;
	for (unsigned i = 0; i <= MAX_SMALL_SIZE / 16; i++) {
		while (heap_classes[c].size < i * 16)
			c++;
		class_lut[i] = (uint8_t)c;
	}
}

unsigned heap_class_for(size_t size)
{
	return class_lut[(size + 15) / 16];
}

static inline char *chunk_base(struct heap *h, uint32_t k)
{
	return h->base + h->chunks_off + (uint64_t)k * CHUNK_SIZE;
}

static inline uint64_t *run_pbits(struct heap *h, uint32_t k)
{
	return (uint64_t *)chunk_base(h, k);
}

size_t heap_resv_size(const struct heap_resv *r)
{
	if (r->cls == RESV_LARGE)
		return (size_t)r->nchunks * CHUNK_SIZE;
	return heap_classes[r->cls].size;
}

/* ---- free extents (heap lock held) ------------------------------------ */

static int ext_insert(struct heap *h, uint32_t start, uint32_t n)
{
	uint32_t i = 0;
	while (i < h->next && h->ext[i].start < start)
		i++;
	int merge_prev = i > 0 && h->ext[i - 1].start + h->ext[i - 1].n == start;
	int merge_next = i < h->next && start + n == h->ext[i].start;
	if (merge_prev && merge_next) {
		h->ext[i - 1].n += n + h->ext[i].n;
		memmove(&h->ext[i], &h->ext[i + 1], (h->next - i - 1) * sizeof(h->ext[0]));
		h->next--;
	} else if (merge_prev) {
		h->ext[i - 1].n += n;
	} else if (merge_next) {
		h->ext[i].start = start;
		h->ext[i].n += n;
	} else {
		if (h->next == h->ext_cap) {
			uint32_t cap = h->ext_cap ? h->ext_cap * 2 : 64;
			struct extent *e = realloc(h->ext, cap * sizeof(*e));
			if (!e)
				return -1;
			h->ext = e;
			h->ext_cap = cap;
		}
		memmove(&h->ext[i + 1], &h->ext[i], (h->next - i) * sizeof(h->ext[0]));
		h->ext[i].start = start;
		h->ext[i].n = n;
		h->next++;
	}
	return 0;
}

/*
 * Take `need` chunks from the first extent that fits, keeping H1: when the
 * extent is longer, the tail gets its own header (durable) before the head's
 * header is shortened (durable), so every extent start stays reachable.
 * H5: the head's header says FREE(need) on media before the chunks are
 * handed out, whatever the extent was made of (an exact fit included).
 */
static int ext_take(struct heap *h, struct lane *ln, uint32_t need,
                    uint32_t *out)
{
	uint32_t i = 0;
	while (i < h->next && h->ext[i].n < need)
		i++;
	if (i == h->next)
		return -1;
	uint32_t s = h->ext[i].start, n = h->ext[i].n;
	if (n > need) {
		h->table[s + need] = chunk_hdr(CHUNK_FREE, 0, n - need);
		flush_range(h->ops, &ln->cnt, &h->table[s + need], 8);
		/* DURABLE: the tail's header FREE(n-need).
		 * WAITED:  the head's shortened header must not precede it.
		 * CRASH BEFORE: the head's old span still covers the tail; the
		 * tail header is unreachable and ignored. */
		lane_fence(ln);
		h->table[s] = chunk_hdr(CHUNK_FREE, 0, need);
		flush_range(h->ops, &ln->cnt, &h->table[s], 8);
		/* DURABLE: head FREE(need); tail now reachable on its own.
		 * CRASH BEFORE: walk sees the old span, both halves free. */
		lane_fence(ln);
		h->ext[i].start = s + need;
		h->ext[i].n = n - need;
		h->start[s + need] = 1; /* a span starts there now (F7) */
	} else {
		if (h->table[s] != chunk_hdr(CHUNK_FREE, 0, need) && !PM_BUG(PM_BUG_EXACT_FIT_NO_HEADER)) {
			/* The extent is not one FREE span on media: it holds an
			 * empty run freed in DRAM only (its header still says
			 * RUN, runs_reclaim_empty) or spans merged in DRAM.  The
			 * caller's bytes must not land on a stale bitmap that a
			 * walk would read if the reservation is never published. */
			h->table[s] = chunk_hdr(CHUNK_FREE, 0, need);
			flush_range(h->ops, &ln->cnt, &h->table[s], 8);
			/* DURABLE: one FREE(need) span over the whole extent.
			 * CRASH BEFORE: the old headers, all of free space (an
			 * empty run reads as free at boot). */
			lane_fence(ln);
		}
		memmove(&h->ext[i], &h->ext[i + 1], (h->next - i - 1) * sizeof(h->ext[0]));
		h->next--;
	}
	*out = s;
	return 0;
}

/* ---- runs ------------------------------------------------------------- */

static struct run *run_new(struct heap *h, uint32_t k, unsigned c)
{
	const struct size_class *sc = &heap_classes[c];
	struct run *r = calloc(1, sizeof(*r) + sc->nwords * sizeof(uint64_t));
	if (!r)
		return NULL;
	r->chunk = k;
	r->cls = (uint16_t)c;
	/* bits past nblocks are never free */
	uint32_t tail = sc->nblocks % 64;
	if (tail)
		r->bits[sc->nwords - 1] = ~UINT64_C(0) << tail;
	r->nfree = sc->nblocks;
	return r;
}

/* Format a chunk as an empty run of class c (heap lock held). */
static struct run *run_create(struct heap *h, struct lane *ln, unsigned c)
{
	uint32_t k;
	if (ext_take(h, ln, 1, &k) != 0)
		return NULL;
	struct run *r = run_new(h, k, c);
	if (!r) {
		ext_insert(h, k, 1);
		return NULL;
	}
	const struct size_class *sc = &heap_classes[c];
	h->ops->memset_nodrain(run_pbits(h, k), 0, sc->nwords * 8);
	ln->cnt.flushes++;
	/* DURABLE: the run's bitmap is zero (H3).
	 * WAITED:  the RUN header below must not reach media first.
	 * CRASH BEFORE: header still FREE: chunk free, bitmap bytes unused. */
	if (!PM_BUG(PM_BUG_RUN_HEADER_EARLY))
		lane_fence(ln);
	h->table[k] = chunk_hdr(CHUNK_RUN, c, 1);
	flush_range(h->ops, &ln->cnt, &h->table[k], 8);
	/* DURABLE: RUN(c) header; blocks may now be published into it.
	 * CRASH BEFORE: chunk reads as FREE(1): nothing was allocated in it. */
	lane_fence(ln);
	h->runs[k] = r;
	return r;
}

static void partial_push(struct heap *h, struct run *r)
{
	if (r->in_partial)
		return;
	r->in_partial = 1;
	r->next = h->cls[r->cls].partial;
	h->cls[r->cls].partial = r;
}

/* Take up to `want` free blocks of run r (class lock held). */
static uint32_t run_take(struct heap *h, struct run *r, uint64_t *out, uint32_t want)
{
	const struct size_class *sc = &heap_classes[r->cls];
	uint64_t base = h->chunks_off + (uint64_t)r->chunk * CHUNK_SIZE + sc->data;
	uint32_t got = 0;
	for (uint32_t w = 0; w < sc->nwords && got < want && r->nfree; w++) {
		while (~r->bits[w] && got < want) {
			unsigned b = (unsigned)__builtin_ctzll(~r->bits[w]);
			r->bits[w] |= UINT64_C(1) << b;
			r->nfree--;
			out[got++] = base + (uint64_t)(w * 64 + b) * sc->size;
		}
	}
	return got;
}

static void run_set_owner(struct run *r, struct run **slot)
{
	if (*slot)
		(*slot)->owner = NULL;
	*slot = r;
	if (r)
		r->owner = slot;
}

/*
 * Take up to `want` free blocks for lane ln (class lock held).  Fast path:
 * the lane's own run.  Slow path: adopt a partial run nobody owns; with
 * `shared`, any partial run (when no chunk is left for a new run).  Full
 * runs found on the way leave the partial list.
 */
static uint32_t runs_take(struct heap *h, struct lane *ln, unsigned c,
                          uint64_t *out, uint32_t want, int shared)
{
	struct run **slot = &ln->cur_run[c];
	if (*slot && (*slot)->nfree)
		return run_take(h, *slot, out, want);
	struct run **pp = &h->cls[c].partial;
	while (*pp) {
		struct run *r = *pp;
		if (r->nfree == 0) {
			*pp = r->next;
			r->in_partial = 0;
			continue;
		}
		if (!r->owner) {
			run_set_owner(r, slot);
			return run_take(h, r, out, want);
		}
		if (shared)
			return run_take(h, r, out, want);
		pp = &r->next;
	}
	return 0;
}

static int tcache_refill(struct heap *h, struct lane *ln, unsigned c)
{
	struct tcache_bin *bin = &ln->tcache[c];
	uint32_t want = heap_classes[c].size >= 4096 ? 4 : TCACHE_MAX / 2;
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_mutex_lock(&h->cls[c].lock);
		bin->n = runs_take(h, ln, c, bin->off, want, 0);
		pthread_mutex_unlock(&h->cls[c].lock);
		if (bin->n)
			return 0;
		pthread_mutex_lock(&h->lock);
		struct run *r = run_create(h, ln, c);
		pthread_mutex_unlock(&h->lock);
		pthread_mutex_lock(&h->cls[c].lock);
		if (r)
			partial_push(h, r);
		else /* no chunk left: share other lanes' runs */
			bin->n = runs_take(h, ln, c, bin->off, want, 1);
		pthread_mutex_unlock(&h->cls[c].lock);
		if (!r)
			return bin->n ? 0 : -1;
	}
	return -1;
}

/* Give blocks back to their runs (volatile only). */
static void blocks_return(struct heap *h, unsigned c, const uint64_t *off,
                          uint32_t n)
{
	const struct size_class *sc = &heap_classes[c];
	pthread_mutex_lock(&h->cls[c].lock);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = (uint32_t)((off[i] - h->chunks_off) / CHUNK_SIZE);
		struct run *r = h->runs[k];
		uint64_t blk = (off[i] - h->chunks_off - (uint64_t)k * CHUNK_SIZE - sc->data) / sc->size;
		r->bits[blk / 64] &= ~(UINT64_C(1) << (blk % 64));
		r->nfree++;
		partial_push(h, r);
	}
	pthread_mutex_unlock(&h->cls[c].lock);
}

static void tcache_push(struct heap *h, struct lane *ln, unsigned c, uint64_t off)
{
	struct tcache_bin *bin = &ln->tcache[c];
	if (bin->n == TCACHE_MAX) {
		blocks_return(h, c, bin->off, TCACHE_MAX / 2);
		memmove(bin->off, bin->off + TCACHE_MAX / 2,
		        (TCACHE_MAX / 2) * sizeof(bin->off[0]));
		bin->n = TCACHE_MAX / 2;
	}
	bin->off[bin->n++] = off;
}

void heap_tcache_drain(struct heap *h, struct lane *ln)
{
	for (unsigned c = 0; c < NCLASSES; c++) {
		struct tcache_bin *bin = &ln->tcache[c];
		if (bin->n)
			blocks_return(h, c, bin->off, bin->n);
		bin->n = 0;
	}
}

/*
 * Empty runs (no block allocated or reserved) become free chunks again, in
 * DRAM only: their header stays RUN with a zero bitmap, which the walk
 * already reads as free space (H1 holds: the header is reachable).
 */
static void runs_reclaim_empty(struct heap *h)
{
	pthread_mutex_lock(&h->lock);
	for (unsigned c = 0; c < NCLASSES; c++) {
		pthread_mutex_lock(&h->cls[c].lock);
		struct run **pp = &h->cls[c].partial;
		while (*pp) {
			struct run *r = *pp;
			if (r->nfree == heap_classes[c].nblocks) {
				if (r->owner)
					*r->owner = NULL;
				*pp = r->next;
				h->runs[r->chunk] = NULL;
				ext_insert(h, r->chunk, 1);
				free(r);
			} else {
				pp = &r->next;
			}
		}
		pthread_mutex_unlock(&h->cls[c].lock);
	}
	pthread_mutex_unlock(&h->lock);
}

/* ---- reserve / cancel / release --------------------------------------- */

static int reserve_large(struct heap *h, struct lane *ln, size_t size,
                         struct heap_resv *r)
{
	uint64_t need = (size + CHUNK_SIZE - 1) / CHUNK_SIZE;
	if (need > h->nchunks)
		return PM_ENOSPC;
	pthread_mutex_lock(&h->lock);
	uint32_t s;
	int rc = ext_take(h, ln, (uint32_t)need, &s);
	pthread_mutex_unlock(&h->lock);
	if (rc != 0)
		return PM_ENOSPC;
	r->off = h->chunks_off + (uint64_t)s * CHUNK_SIZE;
	r->chunk = s;
	r->cls = RESV_LARGE;
	r->nchunks = (uint32_t)need;
	return 0;
}

int heap_reserve(struct heap *h, struct lane *ln, size_t size,
                 struct heap_resv *r)
{
	for (int attempt = 0;; attempt++) {
		int rc;
		if (size > MAX_SMALL_SIZE) {
			rc = reserve_large(h, ln, size, r);
		} else {
			unsigned c = heap_class_for(size);
			struct tcache_bin *bin = &ln->tcache[c];
			rc = (bin->n || tcache_refill(h, ln, c) == 0) ? 0 : PM_ENOSPC;
			if (rc == 0) {
				r->off = bin->off[--bin->n];
				r->chunk = (uint32_t)((r->off - h->chunks_off) / CHUNK_SIZE);
				r->cls = (uint16_t)c;
				r->nchunks = 1;
			}
		}
		if (rc == 0 || attempt == 1)
			return rc;
		/* Out of space: give back what this lane hoards, retry once. */
		heap_tcache_drain(h, ln);
		runs_reclaim_empty(h);
	}
}

void heap_cancel(struct heap *h, struct lane *ln, const struct heap_resv *r)
{
	if (r->cls == RESV_LARGE) {
		pthread_mutex_lock(&h->lock);
		ext_insert(h, r->chunk, r->nchunks);
		pthread_mutex_unlock(&h->lock);
	} else {
		tcache_push(h, ln, r->cls, r->off);
	}
}

void heap_release(struct heap *h, struct lane *ln, const struct heap_resv *r)
{
	heap_cancel(h, ln, r);
}

/* ---- lookup and redo entries ------------------------------------------ */

int heap_lookup(struct heap *h, uint64_t off, struct heap_resv *r)
{
	if (off < h->chunks_off || off >= h->chunks_off + (uint64_t)h->nchunks * CHUNK_SIZE)
		return PM_EINVAL;
	uint32_t k = (uint32_t)((off - h->chunks_off) / CHUNK_SIZE);
	uint64_t in = off - h->chunks_off - (uint64_t)k * CHUNK_SIZE;
	struct run *run = __atomic_load_n(&h->runs[k], __ATOMIC_ACQUIRE);
	if (run) {
		const struct size_class *sc = &heap_classes[run->cls];
		if (in < sc->data || (in - sc->data) % sc->size)
			return PM_EINVAL;
		uint64_t blk = (in - sc->data) / sc->size;
		if (blk >= sc->nblocks)
			return PM_EINVAL;
		uint64_t word = __atomic_load_n(&run_pbits(h, k)[blk / 64], __ATOMIC_RELAXED);
		if (!(word & (UINT64_C(1) << (blk % 64))))
			return PM_EINVAL;
		r->off = off;
		r->chunk = k;
		r->cls = run->cls;
		r->nchunks = 1;
		return 0;
	}
	uint64_t hd = h->table[k];
	/* only a header a walk reaches means anything (F7/F8) */
	if (in != 0 || chunk_type_of(hd) != CHUNK_LARGE || !h->start[k] ||
	    chunk_count_of(hd) == 0 || chunk_count_of(hd) > h->nchunks - k)
		return PM_EINVAL;
	r->off = off;
	r->chunk = k;
	r->cls = RESV_LARGE;
	r->nchunks = (uint32_t)chunk_count_of(hd);
	return 0;
}

static void bit_pos(struct heap *h, const struct heap_resv *r, uint64_t *word_off,
                    uint64_t *mask)
{
	const struct size_class *sc = &heap_classes[r->cls];
	uint64_t blk = (r->off - h->chunks_off - (uint64_t)r->chunk * CHUNK_SIZE - sc->data) / sc->size;
	*word_off = h->chunks_off + (uint64_t)r->chunk * CHUNK_SIZE + (blk / 64) * 8;
	*mask = UINT64_C(1) << (blk % 64);
}

int heap_redo_alloc(struct heap *h, struct redo_buf *b, const struct heap_resv *r)
{
	if (r->cls == RESV_LARGE)
		return redo_buf_add(b, h->table_off + 8 * (uint64_t)r->chunk, REDO_SET,
		                    chunk_hdr(CHUNK_LARGE, 0, r->nchunks));
	uint64_t woff, mask;
	bit_pos(h, r, &woff, &mask);
	return redo_buf_add(b, woff, REDO_OR, mask);
}

int heap_redo_free(struct heap *h, struct redo_buf *b, const struct heap_resv *r)
{
	if (r->cls == RESV_LARGE)
		return redo_buf_add(b, h->table_off + 8 * (uint64_t)r->chunk, REDO_SET,
		                    chunk_hdr(CHUNK_FREE, 0, r->nchunks));
	uint64_t woff, mask;
	bit_pos(h, r, &woff, &mask);
	return redo_buf_add(b, woff, REDO_AND, ~mask);
}

/* ---- checking the table on media --------------------------------------- */

int heap_check_media(const char *base, uint64_t table_off, uint64_t chunks_off,
                     uint32_t nchunks, uint64_t obj, uint64_t objsize, char *why, size_t len)
{
	pthread_once(&classes_once, classes_init);
	const uint64_t *t = (const uint64_t *)(base + table_off);
	int found = obj == 0;
	for (uint32_t k = 0; k < nchunks;) {
		uint64_t hd = t[k], n = chunk_count_of(hd);
		uint64_t cbase = chunks_off + (uint64_t)k * CHUNK_SIZE;
		switch (chunk_type_of(hd)) {
		case CHUNK_FREE:
		case CHUNK_LARGE:
			if (n == 0 || n > nchunks - k) {
				snprintf(why, len, "chunk %u (table offset 0x%llx): %s span of %llu chunks out of range",
				         k, (unsigned long long)(table_off + 8ull * k),
				         chunk_type_of(hd) == CHUNK_FREE ? "FREE" : "LARGE", (unsigned long long)n);
				return PM_ECORRUPT;
			}
			if (chunk_type_of(hd) == CHUNK_LARGE && obj == cbase && n * CHUNK_SIZE >= objsize)
				found = 1;
			k += (uint32_t)n;
			break;
		case CHUNK_RUN: {
			unsigned c = chunk_class_of(hd);
			if (c >= NCLASSES) {
				snprintf(why, len, "chunk %u (table offset 0x%llx): run of unknown class %u",
				         k, (unsigned long long)(table_off + 8ull * k), c);
				return PM_ECORRUPT;
			}
			const struct size_class *sc = &heap_classes[c];
			const uint64_t *bm = (const uint64_t *)(base + cbase);
			uint32_t tail = sc->nblocks % 64;
			if (tail && (bm[sc->nwords - 1] & (~UINT64_C(0) << tail))) {
				snprintf(why, len, "chunk %u (offset 0x%llx): run bitmap has bits past block %u",
				         k, (unsigned long long)cbase, sc->nblocks - 1);
				return PM_ECORRUPT;
			}
			if (obj >= cbase + sc->data && obj < cbase + CHUNK_SIZE &&
			    (obj - cbase - sc->data) % sc->size == 0) {
				uint64_t b = (obj - cbase - sc->data) / sc->size;
				found = b < sc->nblocks && (bm[b / 64] >> (b % 64) & 1) && sc->size >= objsize;
			}
			k += 1;
			break;
		}
		default:
			snprintf(why, len, "chunk %u (table offset 0x%llx): bad header type %u", k,
			         (unsigned long long)(table_off + 8ull * k), (unsigned)chunk_type_of(hd));
			return PM_ECORRUPT;
		}
	}
	if (!found) {
		snprintf(why, len, "root object 0x%llx (%llu bytes) is not an allocated object",
		         (unsigned long long)obj, (unsigned long long)objsize);
		return PM_ECORRUPT;
	}
	return 0;
}

/* ---- boot ------------------------------------------------------------- */

void heap_format(char *base, uint64_t table_off, uint32_t nchunks)
{
	pthread_once(&classes_once, classes_init);
	uint64_t *t = (uint64_t *)(base + table_off);
	memset(t, 0, (size_t)nchunks * 8);
	t[0] = chunk_hdr(CHUNK_FREE, 0, nchunks);
}

static int boot_run(struct heap *h, uint32_t k, unsigned c)
{
	const struct size_class *sc = &heap_classes[c];
	struct run *r = run_new(h, k, c);
	if (!r)
		return PM_ENOMEM;
	const uint64_t *pb = run_pbits(h, k);
	uint32_t used = 0;
	for (uint32_t w = 0; w < sc->nwords; w++) {
		r->bits[w] |= pb[w];
		used += (uint32_t)__builtin_popcountll(pb[w]);
	}
	if (used == 0) { /* empty run: free space (see runs_reclaim_empty) */
		free(r);
		return ext_insert(h, k, 1) ? PM_ENOMEM : 0;
	}
	r->nfree = sc->nblocks - used;
	h->runs[k] = r;
	if (r->nfree)
		partial_push(h, r);
	return 0;
}

int heap_boot(struct heap *h, char *base, const struct flush_ops *ops,
              uint64_t table_off, uint64_t chunks_off, uint32_t nchunks)
{
	pthread_once(&classes_once, classes_init);
	memset(h, 0, sizeof(*h));
	h->base = base;
	h->ops = ops;
	h->table = (uint64_t *)(base + table_off);
	h->table_off = table_off;
	h->chunks_off = chunks_off;
	h->nchunks = nchunks;
	pthread_mutex_init(&h->lock, NULL);
	for (unsigned c = 0; c < NCLASSES; c++)
		pthread_mutex_init(&h->cls[c].lock, NULL);
	h->runs = calloc(nchunks, sizeof(h->runs[0]));
	h->start = calloc(nchunks, 1);
	if (!h->runs || !h->start)
		return PM_ERR(PM_ENOMEM, "out of DRAM building the heap");
	char why[160];
	int bad = heap_check_media(base, table_off, chunks_off, nchunks, 0, 0, why, sizeof(why));
	if (bad)
		return PM_ERR(bad, "%s", why);
	for (uint32_t k = 0; k < nchunks;) {
		uint64_t hd = h->table[k];
		uint64_t n = chunk_count_of(hd);
		int rc = 0;
		h->start[k] = 1;
		switch (chunk_type_of(hd)) {
		case CHUNK_FREE:
			if (n == 0 || n > nchunks - k)
				return PM_ERR(PM_ECORRUPT, "chunk %u: FREE span %llu out of range", k,
				              (unsigned long long)n);
			rc = ext_insert(h, k, (uint32_t)n) ? PM_ENOMEM : 0;
			k += (uint32_t)n;
			break;
		case CHUNK_RUN:
			if (chunk_class_of(hd) >= NCLASSES)
				return PM_ERR(PM_ECORRUPT, "chunk %u: run of unknown class %u", k,
				              chunk_class_of(hd));
			rc = boot_run(h, k, chunk_class_of(hd));
			k += 1;
			break;
		case CHUNK_LARGE:
			if (n == 0 || n > nchunks - k)
				return PM_ERR(PM_ECORRUPT, "chunk %u: LARGE span %llu out of range", k,
				              (unsigned long long)n);
			k += (uint32_t)n;
			break;
		default:
			return PM_ERR(PM_ECORRUPT, "chunk %u: bad header type %u", k,
			              (unsigned)chunk_type_of(hd));
		}
		if (rc)
			return rc == PM_ENOMEM ? PM_ERR(PM_ENOMEM, "out of DRAM building the heap") : rc;
	}
	return 0;
}

void heap_fini(struct heap *h)
{
	if (h->runs) {
		for (uint32_t k = 0; k < h->nchunks; k++)
			free(h->runs[k]);
		free(h->runs);
	}
	free(h->start);
	free(h->ext);
	pthread_mutex_destroy(&h->lock);
	for (unsigned c = 0; c < NCLASSES; c++)
		pthread_mutex_destroy(&h->cls[c].lock);
	memset(h, 0, sizeof(*h));
}
