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

#endif
