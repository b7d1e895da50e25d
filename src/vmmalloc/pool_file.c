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
	int err = posix_fallocate(fd, 0, (off_t)size);
	if (err == EOPNOTSUPP || err == EINVAL) /* no fallocate here: sparse */
		err = ftruncate(fd, (off_t)size) ? errno : 0;
	if (err) {
		close(fd);
		errno = err;
		*what = "cannot reserve the pool file's space";
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
	 * the memory has the current contents. */
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
