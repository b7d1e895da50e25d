/*
 * synccount.c -- LD_PRELOAD counter of the system calls that make file data
 * durable (msync, fsync, fdatasync, sync_file_range, syncfs), for "syncs per
 * operation" on a pool in an ordinary file: the same counter under pmstore,
 * PMDK's libpmemobj and LMDB.  Each bench program reads it with
 * synccount_get() (found with dlsym; absent = not counted, -1 printed).
 * A write to a descriptor opened with O_SYNC or O_DSYNC is a sync too
 * (LMDB writes its meta page through one): open/open64 are watched for
 * those flags and write/pwrite/pwrite64 on such a descriptor are counted.
 * Counts calls that go through the dynamic linker (libpmem, liblmdb and
 * pmstore call libc through their PLT); a raw syscall instruction would be
 * missed, none of the three makes one.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

static _Atomic uint64_t syncs;

uint64_t synccount_get(void);
uint64_t synccount_get(void)
{
	return atomic_load(&syncs);
}

#define NEXT(name)                                                                  \
	static __typeof__(&name) real;                                              \
	if (!real)                                                                  \
		real = (__typeof__(&name))dlsym(RTLD_NEXT, #name)
#define COUNT() atomic_fetch_add_explicit(&syncs, 1, memory_order_relaxed)

int msync(void *a, size_t l, int f);
int msync(void *a, size_t l, int f)
{
	NEXT(msync);
	COUNT();
	return real(a, l, f);
}
int fsync(int fd);
int fsync(int fd)
{
	NEXT(fsync);
	COUNT();
	return real(fd);
}
int fdatasync(int fd);
int fdatasync(int fd)
{
	NEXT(fdatasync);
	COUNT();
	return real(fd);
}
int sync_file_range(int fd, off_t o, off_t n, unsigned int f);
int sync_file_range(int fd, off_t o, off_t n, unsigned int f)
{
	NEXT(sync_file_range);
	COUNT();
	return real(fd, o, n, f);
}
int syncfs(int fd);
int syncfs(int fd)
{
	NEXT(syncfs);
	COUNT();
	return real(fd);
}

/* descriptors opened with O_SYNC / O_DSYNC */
#define MAXFD 4096
static _Atomic unsigned char syncfd[MAXFD];

static int note(int fd, int flags)
{
	if (fd >= 0 && fd < MAXFD)
		atomic_store(&syncfd[fd], (flags & (O_SYNC | O_DSYNC)) != 0);
	return fd;
}

static void on_write(int fd)
{
	if (fd >= 0 && fd < MAXFD && atomic_load(&syncfd[fd]))
		COUNT();
}

int open(const char *p, int flags, ...);
int open(const char *p, int flags, ...)
{
	NEXT(open);
	va_list ap;
	va_start(ap, flags);
	mode_t m = (mode_t)va_arg(ap, int);
	va_end(ap);
	return note(real(p, flags, m), flags);
}
int open64(const char *p, int flags, ...);
int open64(const char *p, int flags, ...)
{
	NEXT(open64);
	va_list ap;
	va_start(ap, flags);
	mode_t m = (mode_t)va_arg(ap, int);
	va_end(ap);
	return note(real(p, flags, m), flags);
}
ssize_t write(int fd, const void *b, size_t n);
ssize_t write(int fd, const void *b, size_t n)
{
	NEXT(write);
	on_write(fd);
	return real(fd, b, n);
}
ssize_t pwrite(int fd, const void *b, size_t n, off_t o);
ssize_t pwrite(int fd, const void *b, size_t n, off_t o)
{
	NEXT(pwrite);
	on_write(fd);
	return real(fd, b, n, o);
}
ssize_t pwrite64(int fd, const void *b, size_t n, off_t o);
ssize_t pwrite64(int fd, const void *b, size_t n, off_t o)
{
	NEXT(pwrite64);
	on_write(fd);
	return real(fd, b, n, o);
}
