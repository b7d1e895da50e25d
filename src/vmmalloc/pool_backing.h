/*
 * pool_backing.h -- back a sparse pool file with blocks only as jemalloc
 * takes extents, so that a full file system is ENOMEM and never SIGBUS.
 *
 * Layer: libvmmalloc / volatile pools, between jemalloc and the free-extent
 * manager (src/alloc/vmem_arena.c), which it does not change: it replaces
 * each arena's extent hooks with wrappers that call the manager's hooks and
 * then reserve the file's blocks.
 *
 * Why: the pool file is created sparse (start-up no longer depends on
 * VMMALLOC_POOL_SIZE, and RAM on tmpfs is taken only as the heap grows).
 * A store to a hole of a sparse file on a full file system raises SIGBUS.
 * The alloc wrapper therefore reserves (fallocate) every extent's blocks
 * before jemalloc may touch it, and refuses the extent when the file system
 * says ENOSPC: jemalloc then returns NULL, malloc ENOMEM.
 *
 * Invariant B1: file bytes [0, backed) have their blocks allocated; every
 * extent the hooks handed out lies below backed (or the file system cannot
 * fallocate at all, see no_falloc).  backed only grows.
 */
#ifndef VM_POOL_BACKING_H
#define VM_POOL_BACKING_H

#include <stdbool.h>
#include <stddef.h>

struct vmem_arena;
struct vm_backing;

/*
 * Wrap the extent hooks of every jemalloc arena of va, a heap over the
 * mapping of fd at base (size bytes).  Returns NULL with errno on failure.
 * The struct lives in its own DRAM mapping.
 */
struct vm_backing *vm_backing_attach(struct vmem_arena *va, int fd,
				     void *base, size_t size);

/*
 * The part of [0, used) (used: the manager's high water) that may hold
 * data: by B1 every extent handed out lies below backed, and above it are
 * only extents refused for lack of space, which must not even be read (a
 * read fault on a hole of a full tmpfs is SIGBUS too).  For fork copies.
 */
size_t vm_backing_clip(const struct vm_backing *b, size_t used);

/* Free b once its arenas are destroyed (NULL is fine). */
void vm_backing_free(struct vm_backing *b);

/* After fork mode 2/3: the child now maps fd, whose first backed bytes
 * were written by the copy. */
void vm_backing_set_file(struct vm_backing *b, int fd, size_t backed);

/*
 * The mapping no longer shows only what this process wrote (a VMMALLOC_FORK=0
 * child remapped private while the parent keeps writing the file): from now
 * on never report fresh extents as zero; clear them when jemalloc needs it.
 */
void vm_backing_distrust_zero(struct vm_backing *b);

/* Bytes of the file reserved so far, and extents refused for lack of space. */
size_t vm_backing_backed(const struct vm_backing *b);
size_t vm_backing_refused(const struct vm_backing *b);

#endif
