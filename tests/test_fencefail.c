/*
 * test_fencefail.c -- a failed write-back (msync returns EIO) is an error
 * the caller sees, and the handle stays failed (issue 11, B4).
 *
 * Linked with -Wl,--wrap=pmem_msync: the msync path's calls into libpmem
 * come here, and fail while `fail_msync` is set.  The pool must be on the
 * msync path (an ordinary file or tmpfs; the test skips when the pool would
 * use the cache-flush path).
 */
#include "test_common.h"

#include <errno.h>

int __real_pmem_msync(const void *addr, size_t len);
static int fail_msync;
int __wrap_pmem_msync(const void *addr, size_t len);
int __wrap_pmem_msync(const void *addr, size_t len)
{
	if (fail_msync) {
		errno = EIO;
		return -1;
	}
	return __real_pmem_msync(addr, len);
}

struct root {
	pm_off slot[4];
	uint64_t w;
};

static void test_pool_failed_fence_is_sticky(void **st)
{
	char path[256];
	test_pool_path(path, sizeof(path), "fencefail");
	pm_pool *p = pm_create(path, PM_MIN_POOL_SIZE, 0600);
	assert_non_null(p);
	if (pm_is_pmem(p)) {
		pm_close(p);
		unlink(path);
		skip();
	}
	struct root *rt = pm_direct(p, pm_root(p, sizeof(*rt)));
	assert_int_equal(pmalloc(p, &rt->slot[0], 64), 0);

	fail_msync = 1;
	assert_int_equal(pmalloc(p, &rt->slot[1], 64), PM_EIO);
	assert_non_null(strstr(pm_errormsg(), "fence failed"));
	fail_msync = 0;
	/* sticky: every write refuses, whatever the device does now */
	assert_int_equal(pmalloc(p, &rt->slot[2], 64), PM_EIO);
	assert_int_equal(pfree(p, &rt->slot[0]), PM_EIO);
	assert_int_equal(tx_begin(p), PM_EIO);
	assert_int_equal(tx_end(), PM_EIO);
	assert_int_equal(pm_persist(p, &rt->w, 8), PM_EIO);
	pm_close(p);

	/* a user fence that fails: pm_persist says so */
	p = pm_open(path);
	assert_non_null(p);
	rt = pm_direct(p, pm_root(p, sizeof(*rt)));
	rt->w = 5;
	fail_msync = 1;
	assert_int_equal(pm_persist(p, &rt->w, 8), PM_EIO);
	fail_msync = 0;
	assert_int_equal(pmalloc(p, &rt->slot[3], 64), PM_EIO);
	pm_close(p);

	/* a transaction whose commit fence fails */
	p = pm_open(path);
	assert_non_null(p);
	rt = pm_direct(p, pm_root(p, sizeof(*rt)));
	assert_int_equal(tx_begin(p), 0);
	assert_int_equal(tx_add(&rt->w, 8), 0);
	rt->w = 6;
	fail_msync = 1;
	assert_int_equal(tx_end(), PM_EIO);
	fail_msync = 0;
	pm_close(p);

	/* reopened, the pool is consistent and usable again */
	p = pm_open(path);
	assert_non_null(p);
	assert_pool_ok(p);
	rt = pm_direct(p, pm_root(p, sizeof(*rt)));
	assert_int_equal(pmalloc(p, &rt->slot[2], 64), 0);
	assert_pool_ok(p);
	pm_close(p);

	/* recovery whose fence fails: pm_open refuses with PM_EIO */
	fail_msync = 1;
	assert_null(pm_open(path));
	assert_int_equal(pm_last_error(), PM_EIO);
	fail_msync = 0;
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_failed_fence_is_sticky),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
