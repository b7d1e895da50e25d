/*
 * heap.c -- layer 4: size classes, chunk table walk, volatile free state,
 * reservations and the per-lane thread cache.  See heap.h for the format
 * (layout version 3: runs of one or more chunks) and invariants H1-H5.
 *
 * Fast path (small classes, <= 32 KiB): heap_reserve pops a block from the
 * lane's tcache bin (no lock).  Slow path: tcache_refill takes a batch of
 * free blocks from the class's partial runs under the class lock, and only
 * when there is none creates a run from a free extent under the heap lock
 * (run_create, two fences, once per run).
 *
 * Big classes (32 KiB .. 2 MiB, 8 per doubling): no tcache (a lane must not
 * hoard MiBs); one block is taken from a partial run under the class lock,
 * or a run of the class's span (chunks chosen at init so that the blocks
 * fill >= 97 % of it) is created the same way as a small one -- the same
 * two fences, once per run -- and given back at free under the class lock.
 * A class's first run is the smallest span that holds a block (a lone
 * object must not pin 16 chunks); when no extent of the full span is left
 * (the pool's tail), the longest extent that still holds one block makes
 * a shorter run.  Any span 1..16 with a block is a valid header.  An object gets
 * the big class only if its run costs fewer heap bytes per block than
 * whole chunks would; else (and above 2 MiB) it is LARGE, whole chunks.
 *
 * Growth (growable pools, P5 in base/pool_format.h): when a reservation
 * still finds no chunk after the lane's cache is drained, heap_reserve
 * calls the pool's h->grow and tries again.  The pool extends the file and
 * the mapping; heap_extend_prepare makes the new span's FREE header durable
 * past the walk's end (one fence), the pool publishes the new chunk count
 * (one word, one fence), and heap_extend_commit adds the span to the free
 * extents (H1 holds: the extent starts at a header the walk now reaches).
 * runs[] and start[] are sized for the maximum at boot, so growth never
 * moves them under a reader.
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

#define BIG_DATA 64u     /* a big run's bitmap: <= 512 blocks, one line */
#define BIG_PACK_PCT 97u /* a big class's span packs at least this much */

static uint32_t big_nblocks(uint32_t size, uint64_t span)
{
	uint64_t room = span * CHUNK_SIZE - BIG_DATA;
	return (uint32_t)(room / size);
}

/* The smallest span whose blocks of `size` fill BIG_PACK_PCT of it (else
 * the best one); returns whether the target was reached. */
static int big_pick(struct size_class *sc, uint32_t size)
{
	uint64_t bnum = 0, bden = 1;
	uint32_t bspan = 0, bnb = 0;
	int hit = 0;
	for (uint32_t span = 1; span <= RUN_MAX_SPAN && !hit; span++) {
		uint32_t nb = big_nblocks(size, span);
		uint64_t num = (uint64_t)nb * size, den = span * CHUNK_SIZE;
		hit = num * 100 >= den * BIG_PACK_PCT;
		if (nb && (hit || num * bden > bnum * den)) {
			bnum = num;
			bden = den;
			bspan = span;
			bnb = nb;
		}
	}
	sc->size = size;
	sc->span = bspan;
	sc->nblocks = bnb;
	sc->nwords = (bnb + 63) / 64;
	sc->data = BIG_DATA;
	sc->cost = bnb ? (bspan * CHUNK_SIZE + bnb - 1) / bnb : UINT64_MAX;
	return hit;
}

static void classes_init(void)
{
	unsigned n = 0;
	for (uint32_t s = 16; s <= 128; s += 16)
		heap_classes[n++].size = s;
	for (uint32_t base = 128; base < MAX_SMALL_SIZE; base *= 2)
		for (uint32_t k = 1; k <= 4; k++)
			heap_classes[n++].size = base + k * base / 4;
	/* big classes: 8 per doubling.  A size that tiles whole chunks
	 * exactly (1 MiB) loses a block to the bitmap line: such a class is
	 * 64 bytes smaller, so that it tiles again. */
	for (uint32_t base = MAX_SMALL_SIZE; base < (2u << 20); base *= 2)
		for (uint32_t k = 1; k <= 8; k++, n++)
			if (!big_pick(&heap_classes[n], base + k * base / 8))
				big_pick(&heap_classes[n], base + k * base / 8 - 64);
	for (unsigned c = 0; c < NSMALL_CLASSES; c++) {
		struct size_class *sc = &heap_classes[c];
		uint32_t nb = (uint32_t)(CHUNK_SIZE / sc->size);
		for (;;) {
			uint32_t words = (nb + 63) / 64;
			uint32_t data = (words * 8 + 63) & ~63u;
			if (data + (uint64_t)nb * sc->size <= CHUNK_SIZE) {
				sc->nblocks = nb;
				sc->nwords = words;
				sc->data = data;
				sc->span = 1;
				sc->cost = CHUNK_SIZE / nb;
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
	if (size <= MAX_SMALL_SIZE)
		return class_lut[(size + 15) / 16];
	/* 8 classes per doubling from 32 KiB: (base, base * 2] */
	unsigned lg = 63u - (unsigned)__builtin_clzll((unsigned long long)size - 1);
	uint64_t base = UINT64_C(1) << lg;
	unsigned k = (unsigned)(((size - base) * 8 + base - 1) / base);
	unsigned c = NSMALL_CLASSES + (lg - 15) * 8 + k - 1;
	while (heap_classes[c].size < size) /* a class 64 bytes short */
		c++;
	return c;
}

int heap_run_geom(unsigned cls, uint64_t span, struct run_geom *g)
{
	pthread_once(&classes_once, classes_init);
	if (cls >= NCLASSES || span == 0)
		return -1;
	const struct size_class *sc = &heap_classes[cls];
	if (!heap_class_is_big(cls)) {
		if (span != 1)
			return -1;
		*g = (struct run_geom){ sc->nblocks, sc->nwords, sc->data };
		return 0;
	}
	if (span > RUN_MAX_SPAN)
		return -1;
	uint32_t nb = big_nblocks(sc->size, span);
	if (nb == 0)
		return -1;
	*g = (struct run_geom){ nb, (nb + 63) / 64, BIG_DATA };
	return 0;
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

/* The run of class c at chunk k over span chunks (a valid geometry). */
static struct run *run_new(struct heap *h, uint32_t k, unsigned c, uint32_t span)
{
	struct run_geom g;
	if (heap_run_geom(c, span, &g))
		return NULL;
	struct run *r = calloc(1, sizeof(*r) + g.nwords * sizeof(uint64_t));
	if (!r)
		return NULL;
	r->chunk = k;
	r->cls = (uint16_t)c;
	r->span = span;
	r->nblocks = g.nblocks;
	r->nwords = g.nwords;
	/* bits past nblocks are never free */
	uint32_t tail = g.nblocks % 64;
	if (tail)
		r->bits[g.nwords - 1] = ~UINT64_C(0) << tail;
	r->nfree = g.nblocks;
	return r;
}

static void runs_map(struct heap *h, struct run *r, struct run *to)
{
	for (uint32_t j = 0; j < r->span; j++)
		__atomic_store_n(&h->runs[r->chunk + j], to, __ATOMIC_RELEASE);
}

/* Format chunks as an empty run of class c (heap lock held): the class's
 * span; for a big class with no run yet the smallest span that holds a
 * block (one object of a class must not pin 16 chunks), and the longest
 * extent that still holds one when no extent of the span is left. */
static struct run *run_create(struct heap *h, struct lane *ln, unsigned c)
{
	uint32_t k, span = heap_classes[c].span;
	if (heap_class_is_big(c) && h->cls[c].nruns == 0)
		for (span = 1; big_nblocks(heap_classes[c].size, span) == 0; span++)
			;
	if (ext_take(h, ln, span, &k) != 0) {
		struct run_geom g;
		uint32_t longest = 0;
		for (uint32_t i = 0; i < h->next; i++)
			if (h->ext[i].n > longest)
				longest = h->ext[i].n;
		if (!heap_class_is_big(c) || longest >= span || heap_run_geom(c, longest, &g) ||
		    ext_take(h, ln, longest, &k) != 0)
			return NULL;
		span = longest;
	}
	struct run *r = run_new(h, k, c, span);
	if (!r) {
		ext_insert(h, k, span);
		return NULL;
	}
	h->ops->memset_nodrain(run_pbits(h, k), 0, r->nwords * 8);
	ln->cnt.flushes++;
	/* DURABLE: the run's bitmap is zero (H3).
	 * WAITED:  the RUN header below must not reach media first.
	 * CRASH BEFORE: header still FREE: chunk free, bitmap bytes unused. */
	if (!PM_BUG(PM_BUG_RUN_HEADER_EARLY))
		lane_fence(ln);
	h->table[k] = chunk_hdr(CHUNK_RUN, c, span);
	flush_range(h->ops, &ln->cnt, &h->table[k], 8);
	/* DURABLE: RUN(c, span) header; blocks may now be published into it.
	 * CRASH BEFORE: the span reads as FREE(span) (ext_take's header, H5):
	 * nothing was allocated in it; the headers inside it are unreachable. */
	lane_fence(ln);
	runs_map(h, r, r);
	h->cls[c].nruns++;
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
	for (uint32_t w = 0; w < r->nwords && got < want && r->nfree; w++) {
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
		uint64_t blk = (off[i] - h->chunks_off - (uint64_t)r->chunk * CHUNK_SIZE - sc->data) / sc->size;
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
	for (unsigned c = 0; c < NSMALL_CLASSES; c++) {
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
			if (r->nfree == r->nblocks) {
				if (r->owner)
					*r->owner = NULL;
				*pp = r->next;
				runs_map(h, r, NULL);
				ext_insert(h, r->chunk, r->span);
				h->cls[c].nruns--;
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
	if (need > heap_chunks_now(h))
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

/* One block of big class c: from a partial run, else from a new run. */
static int reserve_block(struct heap *h, struct lane *ln, unsigned c, struct heap_resv *r)
{
	uint64_t off = 0;
	struct run *run = NULL;
	pthread_mutex_lock(&h->cls[c].lock);
	struct run **pp = &h->cls[c].partial;
	while (*pp && !run) {
		if ((*pp)->nfree == 0) { /* full: off the list until a free */
			(*pp)->in_partial = 0;
			*pp = (*pp)->next;
		} else {
			run = *pp;
			run_take(h, run, &off, 1);
		}
	}
	pthread_mutex_unlock(&h->cls[c].lock);
	if (!run) {
		pthread_mutex_lock(&h->lock);
		run = run_create(h, ln, c);
		pthread_mutex_unlock(&h->lock);
		if (!run)
			return PM_ENOSPC;
		pthread_mutex_lock(&h->cls[c].lock);
		run_take(h, run, &off, 1);
		if (run->nfree)
			partial_push(h, run);
		pthread_mutex_unlock(&h->cls[c].lock);
	}
	r->off = off;
	/* H2: the bit is in the run's first chunk, wherever the block is */
	r->chunk = PM_BUG(PM_BUG_RUN_BIT_IN_BLOCK_CHUNK) ? (uint32_t)((off - h->chunks_off) / CHUNK_SIZE)
	                                                : run->chunk;
	r->cls = (uint16_t)c;
	r->nchunks = run->span;
	return 0;
}

static _Thread_local char grow_why[200];

void heap_grow_failed(const char *why)
{
	snprintf(grow_why, sizeof(grow_why), "; %s", why);
}

const char *heap_grow_why(void)
{
	return grow_why;
}

int heap_reserve(struct heap *h, struct lane *ln, size_t size,
                 struct heap_resv *r)
{
	grow_why[0] = 0;
	/* over 32 KiB: a big class only where it costs less than whole chunks
	 * (so an exact number of chunks is always LARGE) */
	uint64_t whole = (size + CHUNK_SIZE - 1) / CHUNK_SIZE;
	unsigned big = size > MAX_SMALL_SIZE && size <= MAX_RUN_SIZE ? heap_class_for(size) : 0;
	if (big && heap_classes[big].cost >= whole * CHUNK_SIZE)
		big = 0;
	int large = size > MAX_SMALL_SIZE && !big;
	for (int attempt = 0;; attempt++) {
		uint32_t seen = heap_chunks_now(h);
		int rc;
		if (big) {
			rc = reserve_block(h, ln, big, r);
		} else if (large) {
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
		if (rc == 0)
			return rc;
		if (attempt == 0) {
			/* Out of space: give back what this lane hoards, retry. */
			heap_tcache_drain(h, ln);
			runs_reclaim_empty(h);
			continue;
		}
		/* Still out of space: a growable pool grows (P5) and the
		 * reservation is tried again; at its maximum, or when the file
		 * system is full, the growth's error is the answer. */
		if (!h->grow || attempt > 64) /* others keep taking what it adds */
			return rc;
		/* a LARGE object's chunks exactly; a run's span is run_create's
		 * choice (a shorter one fits the pool's tail): at least a chunk */
		uint64_t need = large ? whole : 1;
		if (need > UINT32_MAX)
			return rc;
		int g = h->grow(h->grow_ctx, ln, seen, (uint32_t)need);
		if (g)
			return g;
	}
}

/*
 * Growth (P5), called by the pool with the file already extended and mapped
 * up to chunk new_n, one growth at a time.  prepare makes the new span's
 * header FREE(new_n - nchunks) durable at table[nchunks], unreachable until
 * the pool publishes the new chunk count; commit (after that publish) makes
 * the span free space in DRAM.
 */
int heap_extend_prepare(struct heap *h, struct lane *ln, uint32_t new_n)
{
	uint32_t old = h->nchunks;
	if (new_n <= old || new_n > h->max_chunks)
		return PM_EINVAL;
	h->table[old] = chunk_hdr(CHUNK_FREE, 0, new_n - old);
	flush_range(h->ops, &ln->cnt, &h->table[old], 8);
	/* DURABLE: FREE(new_n - old) at the old end of the table.
	 * CRASH BEFORE: the heap still ends at `old` on media; this header is
	 * past the walk's end and ignored (never reachable before the count
	 * that covers it, P5). */
	lane_fence(ln);
	return 0;
}

void heap_extend_commit(struct heap *h, uint32_t new_n)
{
	pthread_mutex_lock(&h->lock);
	uint32_t old = h->nchunks;
	h->start[old] = 1;
	/* out of DRAM for the extent list: the span is free on media and
	 * unused until the next open */
	(void)ext_insert(h, old, new_n - old);
	__atomic_store_n(&h->nchunks, new_n, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&h->lock);
}

void heap_cancel(struct heap *h, struct lane *ln, const struct heap_resv *r)
{
	if (r->cls == RESV_LARGE) {
		pthread_mutex_lock(&h->lock);
		ext_insert(h, r->chunk, r->nchunks);
		pthread_mutex_unlock(&h->lock);
	} else if (heap_class_is_big(r->cls)) {
		blocks_return(h, r->cls, &r->off, 1);
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
	if (off < h->chunks_off || off >= h->chunks_off + (uint64_t)heap_chunks_now(h) * CHUNK_SIZE)
		return PM_EINVAL;
	uint32_t k = (uint32_t)((off - h->chunks_off) / CHUNK_SIZE);
	uint64_t in = off - h->chunks_off - (uint64_t)k * CHUNK_SIZE;
	struct run *run = __atomic_load_n(&h->runs[k], __ATOMIC_ACQUIRE);
	if (run) {
		const struct size_class *sc = &heap_classes[run->cls];
		in = off - h->chunks_off - (uint64_t)run->chunk * CHUNK_SIZE;
		if (in < sc->data || (in - sc->data) % sc->size)
			return PM_EINVAL;
		uint64_t blk = (in - sc->data) / sc->size;
		if (blk >= run->nblocks)
			return PM_EINVAL;
		uint64_t word = __atomic_load_n(&run_pbits(h, run->chunk)[blk / 64], __ATOMIC_RELAXED);
		if (!(word & (UINT64_C(1) << (blk % 64))))
			return PM_EINVAL;
		r->off = off;
		r->chunk = run->chunk;
		r->cls = run->cls;
		r->nchunks = run->span;
		return 0;
	}
	uint64_t hd = h->table[k];
	/* only a header a walk reaches means anything (F7/F8) */
	if (in != 0 || chunk_type_of(hd) != CHUNK_LARGE || !h->start[k] ||
	    chunk_count_of(hd) == 0 || chunk_count_of(hd) > heap_chunks_now(h) - k)
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
			struct run_geom g;
			if (c >= NCLASSES) {
				snprintf(why, len, "chunk %u (table offset 0x%llx): run of unknown class %u",
				         k, (unsigned long long)(table_off + 8ull * k), c);
				return PM_ECORRUPT;
			}
			if (n > nchunks - k || heap_run_geom(c, n, &g)) {
				snprintf(why, len, "chunk %u (table offset 0x%llx): run of class %u over %llu chunks: no such run",
				         k, (unsigned long long)(table_off + 8ull * k), c, (unsigned long long)n);
				return PM_ECORRUPT;
			}
			const struct size_class *sc = &heap_classes[c];
			const uint64_t *bm = (const uint64_t *)(base + cbase);
			uint32_t tail = g.nblocks % 64;
			if (tail && (bm[g.nwords - 1] & (~UINT64_C(0) << tail))) {
				snprintf(why, len, "chunk %u (offset 0x%llx): run bitmap has bits past block %u",
				         k, (unsigned long long)cbase, g.nblocks - 1);
				return PM_ECORRUPT;
			}
			if (obj >= cbase + g.data && obj < cbase + n * CHUNK_SIZE &&
			    (obj - cbase - g.data) % sc->size == 0) {
				uint64_t b = (obj - cbase - g.data) / sc->size;
				found = b < g.nblocks && (bm[b / 64] >> (b % 64) & 1) && sc->size >= objsize;
			}
			k += (uint32_t)n;
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

static int boot_run(struct heap *h, uint32_t k, unsigned c, uint32_t span)
{
	struct run *r = run_new(h, k, c, span); /* geometry checked already */
	if (!r)
		return PM_ENOMEM;
	const uint64_t *pb = run_pbits(h, k);
	uint32_t used = 0;
	for (uint32_t w = 0; w < r->nwords; w++) {
		r->bits[w] |= pb[w];
		used += (uint32_t)__builtin_popcountll(pb[w]);
	}
	if (used == 0) { /* empty run: free space (see runs_reclaim_empty) */
		free(r);
		return ext_insert(h, k, span) ? PM_ENOMEM : 0;
	}
	r->nfree = r->nblocks - used;
	runs_map(h, r, r);
	h->cls[c].nruns++;
	if (r->nfree)
		partial_push(h, r);
	return 0;
}

int heap_boot(struct heap *h, char *base, const struct flush_ops *ops,
              uint64_t table_off, uint64_t chunks_off, uint32_t nchunks, uint32_t max_chunks)
{
	pthread_once(&classes_once, classes_init);
	memset(h, 0, sizeof(*h));
	h->base = base;
	h->ops = ops;
	h->table = (uint64_t *)(base + table_off);
	h->table_off = table_off;
	h->chunks_off = chunks_off;
	h->nchunks = nchunks;
	h->max_chunks = max_chunks > nchunks ? max_chunks : nchunks;
	pthread_mutex_init(&h->lock, NULL);
	for (unsigned c = 0; c < NCLASSES; c++)
		pthread_mutex_init(&h->cls[c].lock, NULL);
	/* room for every chunk the pool may grow to: growth never moves
	 * them under a reader (pages past the heap in use stay untouched) */
	h->runs = calloc(h->max_chunks, sizeof(h->runs[0]));
	h->start = calloc(h->max_chunks, 1);
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
		case CHUNK_RUN: {
			struct run_geom g;
			if (n > nchunks - k || heap_run_geom(chunk_class_of(hd), n, &g))
				return PM_ERR(PM_ECORRUPT, "chunk %u: run of class %u over %llu chunks: no such run", k,
				              chunk_class_of(hd), (unsigned long long)n);
			rc = boot_run(h, k, chunk_class_of(hd), (uint32_t)n);
			k += (uint32_t)n;
			break;
		}
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
		for (uint32_t k = 0; k < h->nchunks; k++) {
			struct run *r = h->runs[k];
			if (r && r->chunk == k) { /* once per run: its other chunks */
				uint32_t span = r->span ? r->span : 1; /* name it too */
				free(r);
				k += span - 1;
			}
		}
		free(h->runs);
	}
	free(h->start);
	free(h->ext);
	pthread_mutex_destroy(&h->lock);
	for (unsigned c = 0; c < NCLASSES; c++)
		pthread_mutex_destroy(&h->cls[c].lock);
	memset(h, 0, sizeof(*h));
}
