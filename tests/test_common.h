/*
 * test_common.h -- helpers shared by the cmocka tests: unique pool paths in
 * $PMSTORE_TEST_DIR (default /dev/shm), so the suite runs on tmpfs and on an
 * ordinary file system (msync path) alike.
 */
#ifndef PM_TEST_COMMON_H
#define PM_TEST_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "pmstore.h"

static inline const char *test_dir(void)
{
	const char *d = getenv("PMSTORE_TEST_DIR");
	return d && *d ? d : "/dev/shm";
}

/* Fill buf with a fresh pool path and remove any stale file there. */
static inline const char *test_pool_path(char *buf, size_t len, const char *tag)
{
	static unsigned seq;
	snprintf(buf, len, "%s/pmstore-test-%s-%d-%u", test_dir(), tag, (int)getpid(), seq++);
	unlink(buf);
	return buf;
}

static inline void assert_pool_ok(pm_pool *p)
{
	struct pm_check_report rep;
	int rc = pm_check(p, &rep);
	if (rc)
		fprintf(stderr, "pm_check: %s\n", rep.message);
	assert_int_equal(rc, 0);
}

/* A whole file read into malloc'ed memory (the caller frees it). */
static inline uint8_t *test_slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	uint8_t *b = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	*len = (size_t)sb.st_size;
	return b;
}

/* path made to hold exactly len bytes of b. */
static inline void test_spit(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

/* A copy of a (possibly sparse, possibly large) pool file. */
static inline void test_copy_file(const char *from, const char *to)
{
	char cmd[8400];
	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

#endif
