/*
 * vmem_arena.h -- a volatile heap over one pool mapping, served by jemalloc.
 *
 * Layer: below the libvmmalloc interposer and the volatile-pools API
 * (src/vmmalloc/), beside but independent of the persistent pmstore core.
 *
 * A vmem_arena owns:
 *   - a memory range [base, base+size) (a mapped pool file, or a region the
 *     caller handed us);
 *   - a free-extent manager over that range (the only thing that decides which
 *     pool bytes are in use by jemalloc);
 *   - one or more jemalloc arenas whose extent hooks carve extents out of the
 *     manager and give them back to it.
 *
 * jemalloc's own metadata (extent records, bins, slab bitmaps) never lives in
 * the pool: the arenas are created with metadata_use_hooks = false, so the
 * pool holds user data only.  See docs/VMMALLOC.md for why.
 *
 * jemalloc here is a private, renamed copy of Debian's libjemalloc_pic.a
 * (every public symbol is prefixed vmjem_ at build time, see
 * src/vmmalloc/CMakeLists.txt), so it never meets a program's own malloc.
 */
#ifndef VMEM_ARENA_H
#define VMEM_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The renamed private jemalloc (only what we call). */
void *vmjem_malloc(size_t size);
void *vmjem_calloc(size_t n, size_t size);
void *vmjem_realloc(void *ptr, size_t size);
void vmjem_free(void *ptr);
void *vmjem_mallocx(size_t size, int flags);
void *vmjem_rallocx(void *ptr, size_t size, int flags);
void vmjem_dallocx(void *ptr, int flags);
size_t vmjem_sallocx(const void *ptr, int flags);
size_t vmjem_malloc_usable_size(const void *ptr);
int vmjem_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
		  size_t newlen);

/* Same encodings as <jemalloc/jemalloc.h> (checked in vmem_arena.c). */
#define VMEM_MALLOCX_LG_ALIGN(la) ((int)(la))
#define VMEM_MALLOCX_ZERO ((int)0x40)
#define VMEM_MALLOCX_TCACHE_NONE ((int)(((unsigned)(-1 + 2)) << 8))
#define VMEM_MALLOCX_ARENA(a) ((int)(((unsigned)(a) + 1) << 20))

#define VMEM_ARENA_MAX 16 /* jemalloc arenas per pool */

struct vmem_arena;

/* Statistics of one pool, for VMMALLOC_LOG_STATS and vmem_stats. */
struct vmem_arena_stats {
	size_t pool_size;     /* bytes in the range */
	size_t high_water;    /* bytes ever handed to jemalloc (brk - base) */
	size_t extents_used;  /* bytes jemalloc holds now */
	size_t free_ranges;   /* number of free ranges below the high water */
	size_t allocated;     /* bytes in live allocations (jemalloc stats) */
	size_t hook_allocs;   /* extent alloc hook calls that succeeded */
	size_t hook_fails;    /* extent alloc hook calls refused */
	size_t purge_retries; /* purge-and-retry rounds after ENOMEM */
};

/*
 * Create a heap over [base, base+size) with narenas jemalloc arenas.  base
 * and size must be page-aligned.  The memory is assumed to read as zero
 * (fresh file or fresh mapping) iff zeroed is true.  Returns NULL and sets
 * errno on failure.  The struct itself lives in DRAM (its own mapping).
 */
struct vmem_arena *vmem_arena_create(void *base, size_t size, unsigned narenas,
				     bool zeroed);

/* Destroy the jemalloc arenas and free the DRAM state (not the range). */
void vmem_arena_destroy(struct vmem_arena *va);

/* jemalloc arena index number i (0 <= i < count) of this heap. */
unsigned vmem_arena_index(const struct vmem_arena *va, unsigned i);
unsigned vmem_arena_count(const struct vmem_arena *va);

/* Does ptr point into the heap's range? */
bool vmem_arena_owns(const struct vmem_arena *va, const void *ptr);

/*
 * Slow path after an allocation failed: force every arena of this heap to
 * purge its unused dirty extents back to the free-extent manager (where
 * they coalesce) and flush the calling thread's cache.  The caller retries
 * once.  (jemalloc coalesces freed extents only when they decay, so a pool
 * that was full and then freed could otherwise refuse requests it can hold.)
 */
void vmem_arena_purge(struct vmem_arena *va);

/*
 * Allocation through explicit arenas, for the volatile-pools API: flags are
 * mallocx flags without the arena bits; thread caches are not used, so no
 * object of this pool ever sits in a cache another pool could hand out.
 * Each does purge-and-retry on ENOMEM.
 */
void *vmem_arena_alloc(struct vmem_arena *va, size_t size, int flags);
void *vmem_arena_realloc(struct vmem_arena *va, void *ptr, size_t size,
			 int flags);
void vmem_arena_free(struct vmem_arena *va, void *ptr);

/* Lock / unlock the free-extent manager around fork (see interposer). */
void vmem_arena_fork_lock(struct vmem_arena *va);
void vmem_arena_fork_unlock(struct vmem_arena *va, bool child);

/* Bytes [base, base + high water) that may be non-zero (for pool copies). */
size_t vmem_arena_high_water(const struct vmem_arena *va);

void vmem_arena_get_stats(struct vmem_arena *va, struct vmem_arena_stats *st);

/*
 * Check the free-extent manager's invariants (I1..I4 in vmem_arena.c).
 * Returns 0, or -1 with a static description in *what.
 */
int vmem_arena_check(struct vmem_arena *va, const char **what);

#endif
