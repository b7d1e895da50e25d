/*
 * pool_backing.c -- reserve a sparse pool file's blocks as extents are
 * handed to jemalloc (see pool_backing.h; invariant B1 there).
 *
 * Layer: libvmmalloc / volatile pools.  Called from jemalloc's extent hooks:
 * nothing here allocates, locks or logs.
 *
 * The reservation is a high-water mark: the free-extent manager hands out
 * extents first fit from the bottom of the pool and bumps its brk, so every
 * extent lies below brk, and reserving [backed, end of extent) rounded up to
 * BACKING_STEP keeps B1 with at most one fallocate per BACKING_STEP of heap
 * growth.  Blocks once reserved stay reserved until the process exits (the
 * RAM a tmpfs pool holds is its high water, as with any heap that is not
 * trimmed).  backed is advanced with a compare-and-swap after a successful
 * fallocate, so threads racing here may reserve overlapping ranges, which
 * fallocate allows; no lock means nothing to handle at fork.
 * fallocate(2), not posix_fallocate(3): where the file system has no
 * fallocate, glibc's emulation writes a byte per block, which on a hole of
 * a full file system fails the same way and costs a write per 4 KiB.
 */
#include "pool_backing.h"
#include "alloc/vmem_arena.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <jemalloc/jemalloc.h> /* extent_hooks_t */

#define BACKING_STEP ((size_t)1 << 20)

struct vm_backing {
	/* First member: jemalloc passes &b->hooks to the wrappers. */
	extent_hooks_t hooks;
	extent_hooks_t *orig; /* the free-extent manager's hooks */
	uintptr_t base;
	size_t size;
	_Atomic int fd;
	_Atomic size_t backed;	 /* B1 */
	_Atomic size_t refused;	 /* extents refused for ENOSPC (or EIO...) */
	atomic_bool no_falloc;	 /* the file system has no fallocate */
	atomic_bool distrust_zero;
};

/* Make [0, end) of the file reserved (B1).  0, or an errno value. */
static int reserve(struct vm_backing *b, size_t end)
{
	size_t cur = atomic_load(&b->backed);
	if (end <= cur || atomic_load(&b->no_falloc))
		return 0;
	size_t want = (end + BACKING_STEP - 1) / BACKING_STEP * BACKING_STEP;
	if (want > b->size)
		want = b->size;
	for (;;) {
		int fd = atomic_load(&b->fd);
		if (fallocate(fd, 0, (off_t)cur, (off_t)(want - cur)) == 0)
			break;
		int e = errno;
		if (e == EINTR)
			continue;
		if (e == EOPNOTSUPP) {
			/* No block reservation here (some network and FUSE
			 * file systems): the file stays sparse, as documented. */
			atomic_store(&b->no_falloc, true);
			return 0;
		}
		if (end <= atomic_load(&b->backed))
			return 0; /* another thread reserved it meanwhile */
		if (e == ENOSPC && want > end) {
			want = end; /* the rounding may be what does not fit */
			continue;
		}
		return e;
	}
	while (cur < want &&
	       !atomic_compare_exchange_weak(&b->backed, &cur, want))
		;
	return 0;
}

static void *w_alloc(extent_hooks_t *h, void *new_addr, size_t size,
		     size_t alignment, bool *zero, bool *commit,
		     unsigned arena_ind)
{
	struct vm_backing *b = (struct vm_backing *)h;
	bool want_zero = *zero;
	/* Never let the manager clear the extent itself: that would touch it
	 * before its blocks are reserved.  With *zero false it only reports
	 * whether the extent is fresh (known zero). */
	*zero = false;
	void *p = b->orig->alloc(b->orig, new_addr, size, alignment, zero,
				 commit, arena_ind);
	if (!p)
		return NULL;
	if (reserve(b, (uintptr_t)p + size - b->base)) {
		/* Give the range back before anyone touches it: jemalloc
		 * sees a refused extent, the allocation fails with ENOMEM. */
		b->orig->dalloc(b->orig, p, size, *commit, arena_ind);
		atomic_fetch_add(&b->refused, 1);
		return NULL;
	}
	if (*zero && atomic_load(&b->distrust_zero))
		*zero = false;
	if (want_zero && !*zero) {
		memset(p, 0, size);
		*zero = true;
	}
	return p;
}

static bool w_dalloc(extent_hooks_t *h, void *addr, size_t size,
		     bool committed, unsigned arena_ind)
{
	struct vm_backing *b = (struct vm_backing *)h;
	return b->orig->dalloc(b->orig, addr, size, committed, arena_ind);
}

static void w_destroy(extent_hooks_t *h, void *addr, size_t size,
		      bool committed, unsigned arena_ind)
{
	struct vm_backing *b = (struct vm_backing *)h;
	b->orig->destroy(b->orig, addr, size, committed, arena_ind);
}

static bool w_commit(extent_hooks_t *h, void *addr, size_t size, size_t off,
		     size_t len, unsigned arena_ind)
{
	struct vm_backing *b = (struct vm_backing *)h;
	return b->orig->commit(b->orig, addr, size, off, len, arena_ind);
}

static bool w_decommit(extent_hooks_t *h, void *addr, size_t size, size_t off,
		       size_t len, unsigned arena_ind)
{
	struct vm_backing *b = (struct vm_backing *)h;
	return b->orig->decommit(b->orig, addr, size, off, len, arena_ind);
}

static bool w_split(extent_hooks_t *h, void *addr, size_t size, size_t size_a,
		    size_t size_b, bool committed, unsigned arena_ind)
{
	struct vm_backing *b = (struct vm_backing *)h;
	return b->orig->split(b->orig, addr, size, size_a, size_b, committed,
			      arena_ind);
}

static bool w_merge(extent_hooks_t *h, void *addr_a, size_t size_a,
		    void *addr_b, size_t size_b, bool committed,
		    unsigned arena_ind)
{
	struct vm_backing *b = (struct vm_backing *)h;
	return b->orig->merge(b->orig, addr_a, size_a, addr_b, size_b,
			      committed, arena_ind);
}

struct vm_backing *vm_backing_attach(struct vmem_arena *va, int fd,
				     void *base, size_t size)
{
	struct vm_backing *b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		return NULL;
	b->base = (uintptr_t)base;
	b->size = size;
	atomic_store(&b->fd, fd);
	for (unsigned i = 0; i < vmem_arena_count(va); i++) {
		char name[64];
		extent_hooks_t *old = NULL, *new = &b->hooks;
		size_t sz = sizeof(old);
		snprintf(name, sizeof(name), "arena.%u.extent_hooks",
			 vmem_arena_index(va, i));
		int err = vmjem_mallctl(name, &old, &sz, NULL, 0);
		if (!err && i == 0) {
			b->orig = old;
			/* Same optional hooks as the manager's: a NULL purge
			 * hook must stay NULL. */
			b->hooks = (extent_hooks_t){
				.alloc = w_alloc,
				.dalloc = old->dalloc ? w_dalloc : NULL,
				.destroy = old->destroy ? w_destroy : NULL,
				.commit = old->commit ? w_commit : NULL,
				.decommit = old->decommit ? w_decommit : NULL,
				.purge_lazy = NULL,
				.purge_forced = NULL,
				.split = old->split ? w_split : NULL,
				.merge = old->merge ? w_merge : NULL,
			};
			if (old->purge_lazy || old->purge_forced)
				err = ENOTSUP; /* would need wrapping too */
		} else if (!err && old != b->orig) {
			err = EINVAL; /* arenas of one heap share hooks */
		}
		if (!err)
			err = vmjem_mallctl(name, NULL, NULL, &new, sizeof(new));
		if (err) {
			/* Arenas already switched keep b: leak it. */
			errno = err;
			return NULL;
		}
	}
	return b;
}

size_t vm_backing_clip(const struct vm_backing *b, size_t used)
{
	struct vm_backing *w = (struct vm_backing *)b;
	size_t backed = atomic_load(&w->backed);
	return atomic_load(&w->no_falloc) || used < backed ? used : backed;
}

void vm_backing_free(struct vm_backing *b)
{
	if (b)
		munmap(b, sizeof(*b));
}

void vm_backing_set_file(struct vm_backing *b, int fd, size_t backed)
{
	atomic_store(&b->fd, fd);
	atomic_store(&b->backed, backed);
}

void vm_backing_distrust_zero(struct vm_backing *b)
{
	atomic_store(&b->distrust_zero, true);
}

size_t vm_backing_backed(const struct vm_backing *b)
{
	return atomic_load(&((struct vm_backing *)b)->backed);
}

size_t vm_backing_refused(const struct vm_backing *b)
{
	return atomic_load(&((struct vm_backing *)b)->refused);
}
