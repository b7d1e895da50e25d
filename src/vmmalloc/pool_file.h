/*
 * pool_file.h -- the unlinked file behind a volatile pool, and its mapping.
 *
 * Layer: libvmmalloc / volatile pools, below the interposer and the API.
 * No call here allocates from the heap (the heap is what we are building).
 */
#ifndef VM_POOL_FILE_H
#define VM_POOL_FILE_H

#include <stddef.h>

/*
 * Create an unlinked, 0600, sparse file of size bytes in dir (O_TMPFILE,
 * else mkstemp + unlink).  No space is reserved: pool_backing.h reserves
 * blocks as the heap grows, so that a full file system surfaces as ENOMEM
 * from malloc instead of SIGBUS.  Returns the fd, or -1 with errno set and
 * *what naming the failed step.
 */
int vm_pool_file_create(const char *dir, size_t size, const char **what);

/* Map fd's first size bytes shared and writable (at addr with MAP_FIXED if
 * addr != NULL).  Returns the address or NULL with errno. */
void *vm_pool_file_map(int fd, size_t size, void *addr);

/*
 * Make a copy of the pool at base for a forked child: a new file in dir
 * whose first used bytes are written from the mapping (the rest is left a
 * hole, which reads as zero).  Returns the new fd or -1.
 */
int vm_pool_file_copy(const char *dir, const void *base, size_t size,
		      size_t used);

#endif
