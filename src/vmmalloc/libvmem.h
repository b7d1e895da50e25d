/*
 * libvmem.h -- volatile pools: several independent heaps, each in its own
 * memory-mapped file or in a caller's memory region (the role of PMDK's
 * libvmem, same names and semantics for the calls provided).
 *
 * Available in libvmem.so (alone: malloc stays the system's) and in
 * libvmmalloc.so (beside the interposed malloc).  Thread-safe.  Objects of a
 * pool must be freed with vmem_free on that pool, never with free().
 */
#ifndef LIBVMEM_H
#define LIBVMEM_H 1

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Smallest pool vmem_create / vmem_create_in_region accept. */
#define VMEM_MIN_POOL ((size_t)(1024 * 1024 * 14))

typedef struct vmem VMEM;

/* A pool in an unlinked file in dir (space returns at exit or delete). */
VMEM *vmem_create(const char *dir, size_t size);
/* A pool in [addr, addr+size), page-aligned, owned by the caller. */
VMEM *vmem_create_in_region(void *addr, size_t size);
/* Release the pool and everything allocated from it. */
void vmem_delete(VMEM *vmp);
/* 1 if the pool's allocator state is consistent, 0 if not. */
int vmem_check(VMEM *vmp);
/* A short human-readable summary on stderr (opts is ignored). */
void vmem_stats_print(VMEM *vmp, const char *opts);

void *vmem_malloc(VMEM *vmp, size_t size);
void vmem_free(VMEM *vmp, void *ptr);
void *vmem_calloc(VMEM *vmp, size_t nmemb, size_t size);
void *vmem_realloc(VMEM *vmp, void *ptr, size_t size);
void *vmem_aligned_alloc(VMEM *vmp, size_t alignment, size_t size);
char *vmem_strdup(VMEM *vmp, const char *s);
size_t vmem_malloc_usable_size(VMEM *vmp, void *ptr);

/* Why the last failing call of this thread failed. */
const char *vmem_errormsg(void);

#ifdef __cplusplus
}
#endif
#endif
