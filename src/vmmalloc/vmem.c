/*
 * vmem.c -- the volatile-pools API (libvmem.h): explicit pools, each a
 * vmem_arena over its own mapping.
 *
 * Layer: top of libvmem.so; also linked into libvmmalloc.so.
 *
 * Objects are allocated with explicit arenas and no thread cache
 * (vmem_arena_alloc): a cache is per thread, not per pool, so with several
 * pools it could hand one pool's object to another pool's caller.
 *
 * Pools are not fork-aware: a pool from vmem_create is a MAP_SHARED file
 * mapping, so after fork(2) parent and child share it (and must not both
 * allocate from it).  VMMALLOC_FORK applies to the libvmmalloc heap only.
 */
#include "libvmem.h"
#include "pool_file.h"
#include "pool_backing.h"
#include "alloc/vmem_arena.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

struct vmem {
	struct vmem_arena *va;
	void *base;
	size_t size;
	int fd; /* -1 for a caller's region (not ours to unmap) */
	struct vm_backing *backing; /* file pools: reserves the file's blocks */
};

static __thread char errmsg[256];

__attribute__((format(printf, 1, 2))) static void set_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
}

EXPORT const char *vmem_errormsg(void)
{
	return errmsg;
}

static VMEM *pool_new(void *base, size_t size, int fd, bool zeroed)
{
	VMEM *vmp = mmap(NULL, sizeof(*vmp), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vmp == MAP_FAILED) {
		set_err("cannot map the pool descriptor: %s", strerror(errno));
		return NULL;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	vmp->va = vmem_arena_create(base, size, ncpu > 0 ? (unsigned)ncpu : 1,
				    zeroed);
	if (!vmp->va) {
		int e = errno;
		set_err("cannot create the pool's arenas: %s", strerror(e));
		munmap(vmp, sizeof(*vmp));
		errno = e;
		return NULL;
	}
	vmp->base = base;
	vmp->size = size;
	vmp->fd = fd;
	return vmp;
}

EXPORT VMEM *vmem_create(const char *dir, size_t size)
{
	if (size < VMEM_MIN_POOL) {
		set_err("size %zu smaller than %zu", size, VMEM_MIN_POOL);
		errno = EINVAL;
		return NULL;
	}
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	size = size / ps * ps;
	const char *what;
	int fd = vm_pool_file_create(dir, size, &what);
	if (fd < 0) {
		set_err("%s: %s: %s", dir, what, strerror(errno));
		return NULL;
	}
	void *base = vm_pool_file_map(fd, size, NULL);
	if (!base) {
		int e = errno;
		set_err("cannot map %zu bytes: %s", size, strerror(e));
		close(fd);
		errno = e;
		return NULL;
	}
	VMEM *vmp = pool_new(base, size, fd, true);
	if (vmp) {
		vmp->backing = vm_backing_attach(vmp->va, fd, base, size);
		if (!vmp->backing) {
			int e = errno;
			set_err("cannot install the pool's extent hooks: %s",
				strerror(e));
			vmem_arena_destroy(vmp->va);
			munmap(vmp, sizeof(*vmp));
			vmp = NULL;
			errno = e;
		}
	}
	if (!vmp) {
		int e = errno;
		munmap(base, size);
		close(fd);
		errno = e;
	}
	return vmp;
}

EXPORT VMEM *vmem_create_in_region(void *addr, size_t size)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	if (size < VMEM_MIN_POOL || !addr || (uintptr_t)addr % ps) {
		set_err("region must be page-aligned and at least %zu bytes",
			VMEM_MIN_POOL);
		errno = EINVAL;
		return NULL;
	}
	/* The caller's bytes may hold anything: never assume zeros. */
	return pool_new(addr, size / ps * ps, -1, false);
}

EXPORT void vmem_delete(VMEM *vmp)
{
	if (!vmp)
		return;
	vmem_arena_destroy(vmp->va); /* through the wrappers: free them after */
	vm_backing_free(vmp->backing);
	if (vmp->fd >= 0) {
		munmap(vmp->base, vmp->size);
		close(vmp->fd);
	}
	munmap(vmp, sizeof(*vmp));
}

EXPORT int vmem_check(VMEM *vmp)
{
	const char *what;
	if (vmem_arena_check(vmp->va, &what)) {
		set_err("%s", what);
		return 0;
	}
	return 1;
}

EXPORT void vmem_stats_print(VMEM *vmp, const char *opts)
{
	struct vmem_arena_stats st;
	vmem_arena_get_stats(vmp->va, &st);
	char buf[512];
	int n = snprintf(buf, sizeof(buf),
			 "vmem pool %p: size %zu, allocated %zu, extents in "
			 "use %zu, high water %zu, free ranges %zu, "
			 "purge-and-retry rounds %zu\n",
			 (void *)vmp, st.pool_size, st.allocated,
			 st.extents_used, st.high_water, st.free_ranges,
			 st.purge_retries);
	if (write(2, buf, (size_t)n) < 0) {
		/* best effort */
	}
}

static void *oom(size_t size)
{
	set_err("out of pool memory for %zu bytes", size);
	errno = ENOMEM;
	return NULL;
}

EXPORT void *vmem_malloc(VMEM *vmp, size_t size)
{
	void *p = vmem_arena_alloc(vmp->va, size, 0);
	return p ? p : oom(size);
}

EXPORT void vmem_free(VMEM *vmp, void *ptr)
{
	vmem_arena_free(vmp->va, ptr);
}

EXPORT void *vmem_calloc(VMEM *vmp, size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total))
		return oom(SIZE_MAX);
	void *p = vmem_arena_alloc(vmp->va, total, VMEM_MALLOCX_ZERO);
	return p ? p : oom(total);
}

EXPORT void *vmem_realloc(VMEM *vmp, void *ptr, size_t size)
{
	if (!ptr)
		return vmem_malloc(vmp, size);
	if (size == 0) { /* like realloc(3) in glibc */
		vmem_free(vmp, ptr);
		return NULL;
	}
	void *p = vmem_arena_realloc(vmp->va, ptr, size, 0);
	return p ? p : oom(size);
}

EXPORT void *vmem_aligned_alloc(VMEM *vmp, size_t alignment, size_t size)
{
	if (!alignment || (alignment & (alignment - 1))) {
		set_err("alignment %zu is not a power of two", alignment);
		errno = EINVAL;
		return NULL;
	}
	int flags = VMEM_MALLOCX_LG_ALIGN(__builtin_ctzl(alignment));
	void *p = vmem_arena_alloc(vmp->va, size, flags);
	return p ? p : oom(size);
}

EXPORT char *vmem_strdup(VMEM *vmp, const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = vmem_malloc(vmp, len);
	if (p)
		memcpy(p, s, len);
	return p;
}

EXPORT size_t vmem_malloc_usable_size(VMEM *vmp, void *ptr)
{
	return ptr ? vmjem_sallocx(ptr, 0) : 0;
}
