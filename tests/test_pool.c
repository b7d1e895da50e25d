/*
 * test_pool.c -- pool lifecycle: create / open / close, the root object,
 * refusal of bad input (foreign, truncated, corrupt, wrong version, too
 * small, existing file, second opener), small pools with few lanes, file
 * mode, pm_check_path.
 */
#include "test_common.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define POOL_SZ ((size_t)16 << 20)

struct root {
	pm_off obj;
	uint64_t counter;
};

static void test_pool_create_reopen_root(void **state)
{
	char path[256];
	test_pool_path(path, sizeof(path), "pool");
	pm_pool *p = pm_create(path, POOL_SZ, 0);
	assert_non_null(p);
	assert_int_equal(pm_size(p), POOL_SZ);
	pm_off r = pm_root(p, sizeof(struct root));
	assert_true(r != 0);
	struct root *rt = pm_direct(p, r);
	assert_int_equal(rt->obj, 0);
	assert_int_equal(rt->counter, 0);
	assert_int_equal(pmalloc(p, &rt->obj, 100), 0);
	memset(pm_direct(p, rt->obj), 0xab, 100);
	pm_persist(p, pm_direct(p, rt->obj), 100);
	rt->counter = 12345;
	pm_persist(p, &rt->counter, 8);
	assert_int_equal(pm_root(p, sizeof(struct root)), r);
	assert_int_equal(pm_root(p, 8), r); /* smaller: same root */
	assert_int_equal(pm_root(p, 1 << 20), 0); /* larger than created */
	assert_int_equal(pm_last_error(), PM_EINVAL);
	pm_off obj = rt->obj;
	pm_close(p);

	p = pm_open(path);
	assert_non_null(p);
	assert_int_equal(pm_root(p, sizeof(struct root)), r);
	assert_int_equal(pm_root_size(p), sizeof(struct root));
	rt = pm_direct(p, r);
	assert_int_equal(rt->obj, obj);
	assert_int_equal(rt->counter, 12345);
	unsigned char *o = pm_direct(p, obj);
	for (int i = 0; i < 100; i++)
		assert_int_equal(o[i], 0xab);
	assert_true(pm_usable_size(p, obj) >= 100);
	assert_pool_ok(p);
	pm_close(p);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	unlink(path);
}

static void test_pool_create_refuses_bad_input(void **state)
{
	char path[256];
	test_pool_path(path, sizeof(path), "bad");
	assert_null(pm_create(path, 1 << 20, 0));
	assert_int_equal(pm_last_error(), PM_ETOOSMALL);
	assert_non_null(strstr(pm_errormsg(), "minimum"));
	assert_null(pm_create(NULL, POOL_SZ, 0));
	assert_null(pm_create("/nonexistent-dir/x/pool", POOL_SZ, 0));
	assert_int_equal(pm_last_error(), PM_ESYS);
	pm_pool *p = pm_create(path, POOL_SZ, 0640);
	assert_non_null(p);
	pm_close(p);
	assert_null(pm_create(path, POOL_SZ, 0));
	assert_int_equal(pm_last_error(), PM_EEXIST);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	unlink(path);
}

static void write_file(const char *path, const void *data, size_t len, off_t size)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	assert_true(fd >= 0);
	if (len)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	if (size)
		assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

/* pm_create_ex with a lane count: pools down to lanes + table + one chunk
 * (4 lanes: 332 KiB); one byte less is refused with the minimum named. */
static void test_pool_small_with_few_lanes(void **state)
{
	(void)state;
	char path[256];
	test_pool_path(path, sizeof(path), "small");
	struct pm_create_opts o = { .nlanes = 4 };
	size_t min = 8192 + 4 * 16384 + 4096 + (256 << 10);
	assert_null(pm_create_ex(path, min - 1, 0, &o));
	assert_int_equal(pm_last_error(), PM_ETOOSMALL);
	assert_non_null(strstr(pm_errormsg(), "339968"));
	assert_null(pm_create_ex(path, min, 0, NULL)); /* default lanes: 8 MiB */
	assert_int_equal(pm_last_error(), PM_ETOOSMALL);
	pm_pool *p = pm_create_ex(path, min, 0, &o);
	assert_non_null(p);
	pm_off r = pm_root(p, 64);
	assert_true(r != 0);
	pm_off *slot = pm_direct(p, r);
	assert_int_equal(pmalloc(p, &slot[0], 64), 0); /* the root's run */
	assert_int_not_equal(pmalloc(p, &slot[1], 300000), 0); /* one chunk: no room */
	assert_int_equal(pm_last_error(), PM_ENOSPC);
	pm_close(p);
	p = pm_open(path);
	assert_non_null(p);
	struct pm_check_report rep;
	assert_int_equal(pm_check(p, &rep), 0);
	pm_close(p);
	unlink(path);
}

static void test_pool_open_refuses_foreign(void **state)
{
	char path[256];
	test_pool_path(path, sizeof(path), "foreign");
	assert_null(pm_open(path));
	assert_int_equal(pm_last_error(), PM_ENOENT);
	write_file(path, "", 0, 0);
	assert_null(pm_open(path));
	assert_int_equal(pm_last_error(), PM_EFOREIGN);
	static char text[POOL_SZ / 4];
	memset(text, 'x', sizeof(text));
	write_file(path, text, sizeof(text), 0);
	assert_null(pm_open(path));
	assert_int_equal(pm_last_error(), PM_EFOREIGN);
	assert_non_null(strstr(pm_errormsg(), "not a pmstore pool"));
	assert_null(pm_open("/dev/shm"));
	unlink(path);
}

/* Create a pool, then patch `len` bytes at `off` (XORed into what is
 * there when `flip`, so the byte always changes) and expect `err`. */
static void corrupt_and_expect_(const char *tag, off_t off, const void *bytes,
                                size_t len, int err, int flip)
{
	char path[256];
	test_pool_path(path, sizeof(path), tag);
	pm_pool *p = pm_create(path, POOL_SZ, 0);
	assert_non_null(p);
	pm_close(p);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t buf[64];
	assert_true(len <= sizeof(buf));
	memcpy(buf, bytes, len);
	if (flip) {
		uint8_t old[64];
		assert_int_equal(pread(fd, old, len, off), (ssize_t)len);
		for (size_t i = 0; i < len; i++)
			buf[i] ^= old[i];
	}
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
	assert_null(pm_open(path));
	assert_int_equal(pm_last_error(), err);
	struct pm_check_report rep;
	assert_int_equal(pm_check_path(path, &rep), err);
	assert_true(rep.message[0] != 0);
	unlink(path);
}

static void corrupt_and_expect(const char *tag, off_t off, const void *bytes,
                               size_t len, int err)
{
	corrupt_and_expect_(tag, off, bytes, len, err, 0);
}

static void test_pool_open_refuses_corrupt_header(void **state)
{
	uint32_t v = 99;
	corrupt_and_expect("ver", 8, &v, 4, PM_EVERSION);
	uint64_t size = 12345;
	corrupt_and_expect("size", 32, &size, 8, PM_ECORRUPT);
	/* the uuid is random: flip its bits, so the byte changes whatever it
	 * was (writing a fixed value left it unchanged once in 256 runs) */
	uint8_t uuid = 0x77;
	corrupt_and_expect_("uuid", 16, &uuid, 1, PM_ECORRUPT, 1);
	corrupt_and_expect("magic", 0, "PMSTORX", 8, PM_EFOREIGN);
}

static void test_pool_open_refuses_truncated(void **state)
{
	char path[256];
	test_pool_path(path, sizeof(path), "trunc");
	pm_pool *p = pm_create(path, POOL_SZ, 0);
	assert_non_null(p);
	pm_close(p);
	assert_int_equal(truncate(path, POOL_SZ / 2), 0);
	assert_null(pm_open(path));
	assert_int_equal(pm_last_error(), PM_ECORRUPT);
	assert_non_null(strstr(pm_errormsg(), "truncated"));
	unlink(path);
}

static void test_pool_second_opener_refused(void **state)
{
	char path[256];
	test_pool_path(path, sizeof(path), "lock");
	pm_pool *p = pm_create(path, POOL_SZ, 0);
	assert_non_null(p);
	assert_null(pm_open(path)); /* same process, second opener */
	assert_int_equal(pm_last_error(), PM_EBUSY);
	pid_t pid = fork();
	if (pid == 0)
		_exit(pm_open(path) == NULL && pm_last_error() == PM_EBUSY ? 0 : 1);
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	pm_close(p);
	p = pm_open(path);
	assert_non_null(p);
	pm_close(p);
	unlink(path);
}

static void test_pool_check_path_readonly(void **state)
{
	char path[256];
	test_pool_path(path, sizeof(path), "chk");
	pm_pool *p = pm_create(path, POOL_SZ, 0);
	pm_off r = pm_root(p, 64);
	pm_off *slot = pm_direct(p, r);
	assert_int_equal(pmalloc(p, slot, 1000), 0);
	pm_close(p);
	struct pm_check_report rep;
	assert_int_equal(pm_check_path(path, &rep), 0);
	assert_int_equal(rep.objects, 2);
	assert_int_equal(rep.logs_pending, 0);
	assert_int_equal(rep.free_chunks + rep.run_chunks + rep.large_chunks, rep.heap_chunks);
	unlink(path);
}

static void test_pool_offsets_checked(void **state)
{
	char path[256];
	test_pool_path(path, sizeof(path), "off");
	pm_pool *p = pm_create(path, POOL_SZ, 0);
	assert_null(pm_direct(p, 0));
	assert_int_equal(pm_offset(p, NULL), 0);
	assert_null(pm_direct_checked(p, POOL_SZ, 1));
	assert_int_equal(pm_last_error(), PM_ERANGE);
	assert_non_null(pm_direct_checked(p, 4096, 8));
	char local;
	assert_int_equal(pm_offset_checked(p, &local), 0);
	assert_int_equal(pm_offset_checked(p, (char *)pm_base(p) + 100), 100);
	/* destinations outside the heap area are refused */
	pm_off outside;
	assert_int_equal(pmalloc(p, &outside, 64), PM_EINVAL);
	assert_int_equal(pmalloc(p, (pm_off *)pm_base(p), 64), PM_EINVAL);
	assert_int_equal(pfree(p, &outside), PM_EINVAL);
	pm_close(p);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_create_reopen_root),
		cmocka_unit_test(test_pool_create_refuses_bad_input),
		cmocka_unit_test(test_pool_small_with_few_lanes),
		cmocka_unit_test(test_pool_open_refuses_foreign),
		cmocka_unit_test(test_pool_open_refuses_corrupt_header),
		cmocka_unit_test(test_pool_open_refuses_truncated),
		cmocka_unit_test(test_pool_second_opener_refused),
		cmocka_unit_test(test_pool_check_path_readonly),
		cmocka_unit_test(test_pool_offsets_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
