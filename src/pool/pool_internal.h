/*
 * pool_internal.h -- layer 6 (internal): pool.c's functions shared with
 * check.c, repair.c, the tool and the crash harnesses (private opens,
 * geometry, header and log-shape checks).  Included by pool.h.
 */
#ifndef PM_POOL_INTERNAL_H
#define PM_POOL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct pm_pool;
struct pool_hdr;
struct redo_log;


/* Open a would-be pool file: regular (a FIFO never blocks), locked
 * (lock_op LOCK_SH / LOCK_EX, never waiting: PM_EBUSY), at least a header
 * long.  The fd, or a PM_E* code with the message set. */
struct stat;
int pool_open_locked(const char *path, int flags, int lock_op, struct stat *st);

/* fsync the directory holding path (a link or rename there is durable). */
int pool_fsync_dir_of(const char *path);
/* pm_perm's registry, freed with the handle (perm.c). */
struct pm_pool;
void perm_free(struct pm_pool *p);
/* The persistent globals' directory and its images (for checkers that
 * account for every object): up to max offsets, their count. */
size_t perm_objects(struct pm_pool *p, uint64_t *out, size_t max);

struct pool_layout {
	unsigned nlanes;
	uint64_t table_off, chunks_off;
	uint32_t nchunks;
};
/* The geometry a pool of `size` bytes with nlanes lanes has; -1 if none. */
int pool_layout_for(uint64_t size, unsigned nlanes, struct pool_layout *l);
/* The header's checksum (over every field before it). */
uint64_t pool_hdr_checksum(const struct pool_hdr *h);
/* -1 if the redo log's shape is one the library writes (pool.c, F1/F11),
 * else the index of the first entry that is not (n if n is too large).
 * budget: cover bytes left for all lanes together. */
long pool_redo_shape_bad(const struct pool_hdr *h, uint64_t undo_off, const struct redo_log *log,
                         uint64_t *budget);
struct pm_pool *pool_open_private(const char *path);
/* The same, with `patch` applied to the private mapping before recovery
 * (the crash harness builds its images this way, without writing files). */
struct pm_pool *pool_open_private_patched(const char *path,
                                          void (*patch)(char *base, size_t size, void *arg),
                                          void *arg);
void pm_memset_persist_nodrain_(struct pm_pool *p, void *dst, int c, size_t len);
int pmem_msync_all_(void *addr, size_t len);

#endif
