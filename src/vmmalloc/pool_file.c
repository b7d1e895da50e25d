/*
 * pool_file.c -- create, map and copy the unlinked file behind a pool.
 *
 * Layer: libvmmalloc / volatile pools.  See pool_file.h.
 *
 * The file is never linked into the directory for longer than mkstemp needs
 * (and not at all with O_TMPFILE), so its space returns to the file system
 * when the process exits or crashes: the heap is volatile by contract.
 */
#include "pool_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_unlinked(const char *dir, const char **what)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* O_TMPFILE is refused by some file systems (EOPNOTSUPP) and old
	 * kernels (EISDIR/EINVAL); fall back to a named file unlinked at
	 * once.  ENOENT, ENOTDIR, EACCES are real answers about dir. */
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		*what = "cannot create the pool file in VMMALLOC_POOL_DIR";
		return -1;
	}
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/vmmalloc.XXXXXX", dir) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		*what = "pool directory path is too long";
		return -1;
	}
	mode_t old = umask(077); /* mkstemp already uses 0600; belt and braces */
	fd = mkostemp(path, O_CLOEXEC);
	umask(old);
	if (fd < 0) {
		*what = "cannot create the pool file in VMMALLOC_POOL_DIR";
		return -1;
	}
	unlink(path);
	return fd;
}

int vm_pool_file_create(const char *dir, size_t size, const char **what)
{
	int fd = open_unlinked(dir, what);
	if (fd < 0)
		return -1;
	/* Sparse: no block is reserved here (that would cost ~0.7 s per GiB
	 * on tmpfs in every process, and hold the RAM); pool_backing.c
	 * reserves blocks as extents are handed out. */
	if (ftruncate(fd, (off_t)size)) {
		int err = errno;
		close(fd);
		errno = err;
		*what = "cannot size the pool file";
		return -1;
	}
	return fd;
}

void *vm_pool_file_map(int fd, size_t size, void *addr)
{
	void *p = mmap(addr, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | (addr ? MAP_FIXED : 0), fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

int vm_pool_file_copy(const char *dir, const void *base, size_t size,
		      size_t used)
{
	const char *what;
	int fd = vm_pool_file_create(dir, size, &what);
	if (fd < 0)
		return -1;
	/* Write from the mapping rather than copying the file: after a
	 * VMMALLOC_FORK=3 fallback the mapping may be private, and then only
	 * the memory has the current contents.  The writes allocate the
	 * copy's blocks for [0, used); the rest stays a hole, reserved later
	 * by the child's pool_backing (so a full file system fails the copy
	 * here, or a later allocation of the child with ENOMEM). */
	for (size_t off = 0; off < used;) {
		ssize_t n = pwrite(fd, (const char *)base + off, used - off,
				   (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			errno = e;
			return -1;
		}
		off += (size_t)n;
	}
	return fd;
}
