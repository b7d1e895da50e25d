/*
 * vmem_arena.c -- jemalloc arenas over one pool range, and the free-extent
 * manager their hooks share.
 *
 * Layer: volatile heap (libvmmalloc / volatile pools).  Nothing here is
 * persistent: a crash loses the heap, and that is the contract.
 *
 * How it fits together
 * --------------------
 * jemalloc asks for memory in extents (page-multiple ranges: slabs for small
 * size classes, single large allocations).  For an arena created with custom
 * extent hooks it calls our alloc hook for a new extent and our dalloc hook
 * when it no longer wants one.  Both hooks go to the free-extent manager
 * below, which is the one authority on which pool bytes are in use.  Several
 * arenas (one per CPU, up to VMEM_ARENA_MAX) share a manager, so memory freed
 * by one arena is available to the others.
 *
 * jemalloc is configured (malloc_conf in src/vmmalloc/) with retain:false, so
 * extents it no longer needs really come back through dalloc instead of being
 * retained forever inside the arena that first grew them, which would strand
 * pool space in one arena.
 *
 * Free-extent manager invariants (checked by vmem_arena_check):
 *   I1  base <= r[i].start < r[i].end <= brk <= end; all page-aligned.
 *   I2  ranges are sorted and never adjacent: r[i].end < r[i+1].start
 *       (a freed range is coalesced with its neighbours at once).
 *   I3  [brk, end) has never been handed out, so it still reads as zero
 *       when the range was zeroed at creation.
 *   I4  in_use + sum of range lengths == brk - base.
 * Allocation is first fit in address order, then bump at brk: keeping the
 * used part of the pool low keeps its high water (and a fork copy) small.
 */
#include "alloc/vmem_arena.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jemalloc/jemalloc.h> /* types and macros only; calls use vmjem_ */

_Static_assert(VMEM_MALLOCX_ZERO == MALLOCX_ZERO, "mallocx flag mirror");
_Static_assert(VMEM_MALLOCX_TCACHE_NONE == MALLOCX_TCACHE_NONE,
	       "mallocx flag mirror");
_Static_assert(VMEM_MALLOCX_ARENA(3) == MALLOCX_ARENA(3), "mallocx flag mirror");

/*
 * Mirror of jemalloc 5.3's arena_config_t (include/jemalloc/internal/
 * arena_types.h), the argument of experimental.arenas_create_ext; it is not
 * in the public header.  ctl.c rejects a write of any other size with EINVAL,
 * which vmem_arena_create reports, so a layout change cannot go unnoticed.
 */
struct je_arena_config {
	extent_hooks_t *extent_hooks;
	bool metadata_use_hooks;
};

/*
 * Configuration of the private jemalloc (its renamed malloc_conf symbol; our
 * strong definition overrides the archive's weak empty one):
 *   retain:false          extents jemalloc no longer needs come back to the
 *                         free-extent manager (shared by all arenas of a
 *                         pool) instead of staying retained in one arena;
 *   narenas:1             jemalloc's automatic arenas only hold its own DRAM
 *                         allocations: one is enough;
 *   oversize_threshold:0  no dedicated automatic "huge" arena: large requests
 *                         of a thread bound to a pool arena stay in the pool;
 *   background_thread:false  we never create threads (libvmmalloc(7)).
 */
const char *vmjem_malloc_conf =
	"retain:false,narenas:1,oversize_threshold:0,background_thread:false";

struct vmem_range {
	uintptr_t start, end;
};

struct vmem_arena {
	/* First member: a hook gets &va->hooks and casts it back to va. */
	extent_hooks_t hooks;

	pthread_mutex_t lock; /* guards everything below it */
	uintptr_t base, end;  /* the pool range */
	uintptr_t brk;	      /* I3: [brk, end) never handed out */
	bool zeroed;	      /* range read as zero at creation */
	struct vmem_range *r; /* sorted free ranges below brk (I1, I2) */
	size_t n, cap;
	size_t in_use; /* bytes handed to jemalloc (I4) */
	size_t hook_allocs, hook_fails;

	_Atomic size_t purge_retries;
	_Atomic unsigned next_arena; /* round robin for vmem_arena_alloc */
	unsigned narenas;
	unsigned ind[VMEM_ARENA_MAX];
	size_t r_map_len; /* bytes of the mapping holding r */
};

static size_t page_size(void)
{
	static size_t ps;
	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

static uintptr_t align_up(uintptr_t x, size_t a)
{
	return (x + a - 1) & ~(uintptr_t)(a - 1);
}

/* ---- free-extent manager (caller holds va->lock) ----------------------- */

/* Index of the first range whose start is > addr (binary search). */
static size_t ranges_upper(const struct vmem_arena *va, uintptr_t addr)
{
	size_t lo = 0, hi = va->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (va->r[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void ranges_remove(struct vmem_arena *va, size_t i)
{
	memmove(&va->r[i], &va->r[i + 1], (va->n - i - 1) * sizeof(va->r[0]));
	va->n--;
}

static void ranges_insert_at(struct vmem_arena *va, size_t i, uintptr_t s,
			     uintptr_t e)
{
	/* cap bounds the number of disjoint non-adjacent page ranges. */
	memmove(&va->r[i + 1], &va->r[i], (va->n - i) * sizeof(va->r[0]));
	va->r[i] = (struct vmem_range){s, e};
	va->n++;
}

/* Return [s, e) to the free set, coalescing with its neighbours (I2). */
static void extents_put(struct vmem_arena *va, uintptr_t s, uintptr_t e)
{
	size_t i = ranges_upper(va, s); /* r[i-1].start <= s < r[i].start */
	bool join_left = i > 0 && va->r[i - 1].end == s;
	bool join_right = i < va->n && va->r[i].start == e;

	if (join_left && join_right) {
		va->r[i - 1].end = va->r[i].end;
		ranges_remove(va, i);
	} else if (join_left) {
		va->r[i - 1].end = e;
	} else if (join_right) {
		va->r[i].start = s;
	} else {
		ranges_insert_at(va, i, s, e);
	}
	va->in_use -= e - s;
}

/*
 * Take [s, e) out of free range i, or out of the bump area when i == n.  The
 * range may run past brk only if it ends at brk (the bump area continues it).
 */
static void extents_carve(struct vmem_arena *va, size_t i, uintptr_t s,
			  uintptr_t e)
{
	if (i < va->n) {
		struct vmem_range r = va->r[i];
		/* Replace r by its right and left leftovers; if e > r.end, r
		 * ended at brk and [r.end, e) comes from the bump area. */
		ranges_remove(va, i);
		if (e < r.end)
			ranges_insert_at(va, i, e, r.end);
		if (s > r.start)
			ranges_insert_at(va, i, r.start, s);
	} else if (s > va->brk) {
		/* The alignment gap at the old brk becomes free (I2: extend a
		 * last range that ends at brk instead of adding a neighbour). */
		if (va->n && va->r[va->n - 1].end == va->brk)
			va->r[va->n - 1].end = s;
		else
			ranges_insert_at(va, va->n, va->brk, s);
	}
	if (e > va->brk)
		va->brk = e;
	va->in_use += e - s;
}

/*
 * Find room for size bytes aligned to align (at new_addr if given).  Returns
 * the start, or 0.  *dirty_end is the end of the part that was below the old
 * brk (may hold old data); the rest is fresh.
 */
static uintptr_t extents_get(struct vmem_arena *va, uintptr_t new_addr,
			     size_t size, size_t align, uintptr_t *dirty_end)
{
	uintptr_t old_brk = va->brk;
	for (size_t i = 0; i <= va->n; i++) {
		bool bump = i == va->n;
		uintptr_t rs = bump ? va->brk : va->r[i].start;
		uintptr_t re = bump || va->r[i].end == va->brk ? va->end
							       : va->r[i].end;
		uintptr_t s = new_addr ? new_addr : align_up(rs, align);
		if (s < rs || s >= re || re - s < size)
			continue;
		if (bump && new_addr && s != va->brk)
			return 0; /* no gap for an in-place expansion */
		extents_carve(va, i, s, s + size);
		*dirty_end = s + size < old_brk ? s + size : old_brk;
		if (*dirty_end < s)
			*dirty_end = s;
		return s;
	}
	return 0;
}

/* ---- extent hooks (jemalloc's contract: false = success) -------------- */

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size,
			size_t alignment, bool *zero, bool *commit,
			unsigned arena_ind)
{
	struct vmem_arena *va = (struct vmem_arena *)h;
	uintptr_t dirty_end = 0;
	if (alignment < page_size())
		alignment = page_size();

	pthread_mutex_lock(&va->lock);
	uintptr_t s = extents_get(va, (uintptr_t)new_addr, size, alignment,
				  &dirty_end);
	if (s)
		va->hook_allocs++;
	else
		va->hook_fails++;
	pthread_mutex_unlock(&va->lock);
	if (!s)
		return NULL;

	/* Fresh pool bytes of a zeroed range are zero; recycled ones are not
	 * unless we clear them, which we do only when jemalloc needs zeros. */
	bool fresh_zero = va->zeroed && dirty_end == s;
	if (*zero && !fresh_zero)
		memset((void *)s, 0, dirty_end - s);
	else
		*zero = fresh_zero;
	*commit = true; /* a file mapping is always committed */
	return (void *)s;
}

static bool hook_dalloc(extent_hooks_t *h, void *addr, size_t size,
			bool committed, unsigned arena_ind)
{
	struct vmem_arena *va = (struct vmem_arena *)h;
	pthread_mutex_lock(&va->lock);
	extents_put(va, (uintptr_t)addr, (uintptr_t)addr + size);
	pthread_mutex_unlock(&va->lock);
	return false; /* taken back: jemalloc forgets the extent */
}

static void hook_destroy(extent_hooks_t *h, void *addr, size_t size,
			 bool committed, unsigned arena_ind)
{
	hook_dalloc(h, addr, size, committed, arena_ind);
}

/* Pool pages are always mapped: commit trivially succeeds, decommit is
 * refused (jemalloc then keeps them committed). */
static bool hook_commit(extent_hooks_t *h, void *addr, size_t size,
			size_t off, size_t len, unsigned arena_ind)
{
	return false;
}

static bool hook_decommit(extent_hooks_t *h, void *addr, size_t size,
			  size_t off, size_t len, unsigned arena_ind)
{
	return true;
}

/* The pool is one mapping, so any split or merge of its extents is fine. */
static bool hook_split(extent_hooks_t *h, void *addr, size_t size,
		       size_t size_a, size_t size_b, bool committed,
		       unsigned arena_ind)
{
	return false;
}

static bool hook_merge(extent_hooks_t *h, void *addr_a, size_t size_a,
		       void *addr_b, size_t size_b, bool committed,
		       unsigned arena_ind)
{
	return false;
}

/* purge_lazy / purge_forced stay NULL: purging a MAP_SHARED file page
 * would not zero it, and decay then hands the extent back via dalloc. */
static const extent_hooks_t vmem_hooks = {
	.alloc = hook_alloc,
	.dalloc = hook_dalloc,
	.destroy = hook_destroy,
	.commit = hook_commit,
	.decommit = hook_decommit,
	.purge_lazy = NULL,
	.purge_forced = NULL,
	.split = hook_split,
	.merge = hook_merge,
};

/* ---- arenas ---------------------------------------------------------- */

static int arena_ctl(unsigned ind, const char *leaf)
{
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.%s", ind, leaf);
	return vmjem_mallctl(name, NULL, NULL, NULL, 0);
}

struct vmem_arena *vmem_arena_create(void *base, size_t size, unsigned narenas,
				     bool zeroed)
{
	size_t ps = page_size();
	if (!base || (uintptr_t)base % ps || size % ps || size < ps ||
	    narenas == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (narenas > VMEM_ARENA_MAX)
		narenas = VMEM_ARENA_MAX;

	/* DRAM state in its own mappings: we are the malloc, so no malloc. */
	struct vmem_arena *va = mmap(NULL, sizeof(*va), PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (va == MAP_FAILED)
		return NULL;
	va->cap = size / ps / 2 + 2; /* most disjoint free page ranges */
	va->r_map_len = align_up(va->cap * sizeof(va->r[0]), ps);
	va->r = mmap(NULL, va->r_map_len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (va->r == MAP_FAILED) {
		munmap(va, sizeof(*va));
		return NULL;
	}
	va->hooks = vmem_hooks;
	pthread_mutex_init(&va->lock, NULL);
	va->base = va->brk = (uintptr_t)base;
	va->end = va->base + size;
	va->zeroed = zeroed;

	struct je_arena_config cfg = {&va->hooks, false};
	for (unsigned i = 0; i < narenas; i++) {
		size_t sz = sizeof(va->ind[i]);
		int err = vmjem_mallctl("experimental.arenas_create_ext",
					&va->ind[i], &sz, &cfg, sizeof(cfg));
		if (err) {
			va->narenas = i;
			vmem_arena_destroy(va);
			errno = err;
			return NULL;
		}
		va->narenas = i + 1;
	}
	return va;
}

void vmem_arena_destroy(struct vmem_arena *va)
{
	if (!va)
		return;
	/* arena.<i>.destroy hands every extent back through the hooks. */
	for (unsigned i = 0; i < va->narenas; i++)
		arena_ctl(va->ind[i], "destroy");
	pthread_mutex_destroy(&va->lock);
	munmap(va->r, va->r_map_len);
	munmap(va, sizeof(*va));
}

unsigned vmem_arena_index(const struct vmem_arena *va, unsigned i)
{
	return va->ind[i % va->narenas];
}

unsigned vmem_arena_count(const struct vmem_arena *va)
{
	return va->narenas;
}

bool vmem_arena_owns(const struct vmem_arena *va, const void *ptr)
{
	return (uintptr_t)ptr >= va->base && (uintptr_t)ptr < va->end;
}

void vmem_arena_purge(struct vmem_arena *va)
{
	atomic_fetch_add(&va->purge_retries, 1);
	/* Only the calling thread's cache can be flushed; others keep theirs. */
	vmjem_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	for (unsigned i = 0; i < va->narenas; i++)
		arena_ctl(va->ind[i], "purge");
}

/* Explicit arena, no thread cache: see vmem_arena.h. */
static int explicit_flags(struct vmem_arena *va, int flags)
{
	unsigned k = atomic_fetch_add_explicit(&va->next_arena, 1,
					       memory_order_relaxed);
	return flags | VMEM_MALLOCX_ARENA(va->ind[k % va->narenas]) |
	       VMEM_MALLOCX_TCACHE_NONE;
}

void *vmem_arena_alloc(struct vmem_arena *va, size_t size, int flags)
{
	void *p = vmjem_mallocx(size ? size : 1, explicit_flags(va, flags));
	if (!p) {
		vmem_arena_purge(va); /* slow path: then retry once */
		p = vmjem_mallocx(size ? size : 1, explicit_flags(va, flags));
	}
	if (!p)
		errno = ENOMEM;
	return p;
}

void *vmem_arena_realloc(struct vmem_arena *va, void *ptr, size_t size,
			 int flags)
{
	void *p = vmjem_rallocx(ptr, size ? size : 1, explicit_flags(va, flags));
	if (!p) {
		vmem_arena_purge(va);
		p = vmjem_rallocx(ptr, size ? size : 1,
				  explicit_flags(va, flags));
	}
	if (!p)
		errno = ENOMEM;
	return p;
}

void vmem_arena_free(struct vmem_arena *va, void *ptr)
{
	if (ptr)
		vmjem_dallocx(ptr, VMEM_MALLOCX_TCACHE_NONE);
}

void vmem_arena_fork_lock(struct vmem_arena *va)
{
	pthread_mutex_lock(&va->lock);
}

void vmem_arena_fork_unlock(struct vmem_arena *va, bool child)
{
	if (child) /* the child has one thread: start from a fresh mutex */
		pthread_mutex_init(&va->lock, NULL);
	else
		pthread_mutex_unlock(&va->lock);
}

size_t vmem_arena_high_water(const struct vmem_arena *va)
{
	return va->brk - va->base;
}

static size_t arena_stat(unsigned ind, const char *leaf)
{
	char name[96];
	size_t v = 0, sz = sizeof(v);
	snprintf(name, sizeof(name), "stats.arenas.%u.%s", ind, leaf);
	if (vmjem_mallctl(name, &v, &sz, NULL, 0))
		return 0;
	return v;
}

void vmem_arena_get_stats(struct vmem_arena *va, struct vmem_arena_stats *st)
{
	uint64_t epoch = 1;
	size_t sz = sizeof(epoch);
	vmjem_mallctl("epoch", &epoch, &sz, &epoch, sz); /* refresh stats */

	pthread_mutex_lock(&va->lock);
	st->pool_size = va->end - va->base;
	st->high_water = va->brk - va->base;
	st->extents_used = va->in_use;
	st->free_ranges = va->n;
	st->hook_allocs = va->hook_allocs;
	st->hook_fails = va->hook_fails;
	pthread_mutex_unlock(&va->lock);
	st->purge_retries = atomic_load(&va->purge_retries);
	st->allocated = 0;
	for (unsigned i = 0; i < va->narenas; i++)
		st->allocated += arena_stat(va->ind[i], "small.allocated") +
				 arena_stat(va->ind[i], "large.allocated");
}

int vmem_arena_check(struct vmem_arena *va, const char **what)
{
	size_t ps = page_size(), free_bytes = 0;
	int ret = 0;
	pthread_mutex_lock(&va->lock);
	if (va->base > va->brk || va->brk > va->end || va->brk % ps) {
		*what = "I1: brk outside the pool or unaligned";
		ret = -1;
	}
	for (size_t i = 0; ret == 0 && i < va->n; i++) {
		struct vmem_range r = va->r[i];
		if (r.start < va->base || r.start >= r.end || r.end > va->brk ||
		    r.start % ps || r.end % ps) {
			*what = "I1: free range outside [base, brk) or unaligned";
			ret = -1;
		} else if (i + 1 < va->n && r.end >= va->r[i + 1].start) {
			*what = "I2: free ranges unsorted, overlapping or adjacent";
			ret = -1;
		}
		free_bytes += r.end - r.start;
	}
	if (ret == 0 && va->in_use + free_bytes != va->brk - va->base) {
		*what = "I4: in-use + free bytes != high water";
		ret = -1;
	}
	pthread_mutex_unlock(&va->lock);
	return ret;
}
