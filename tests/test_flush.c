/*
 * test_flush.c -- unit tests of layer 0: the three flush tables do what
 * they say, flush_choose honours PMSTORE_NO_FLUSH and the override seam,
 * and the counters count.
 */
#include "test_common.h"

#include <fcntl.h>
#include <sys/mman.h>

#include "flush/flush.h"

static void test_flush_counters_count(void **state)
{
	struct flush_counters c = {0, 0};
	char buf[256] = {0};
	flush_range(&flush_ops_none, &c, buf, sizeof(buf));
	flush_fence(&flush_ops_none, &c);
	flush_persist(&flush_ops_none, &c, buf, 8);
	assert_int_equal(c.flushes, 2);
	assert_int_equal(c.fences, 2);
}

static void copy_and_set(const struct flush_ops *ops, char *m)
{
	char src[300];
	for (int i = 0; i < 300; i++)
		src[i] = (char)i;
	ops->memcpy_nodrain(m + 5, src, sizeof(src));
	ops->memset_nodrain(m + 400, 0x5a, 100);
	ops->flush(m, 8);
	ops->drain();
	assert_memory_equal(m + 5, src, sizeof(src));
	for (int i = 0; i < 100; i++)
		assert_int_equal((unsigned char)m[400 + i], 0x5a);
}

static void test_flush_tables_copy_and_drain(void **state)
{
	char path[256];
	test_pool_path(path, sizeof(path), "flush");
	int fd = open(path, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	copy_and_set(&flush_ops_pmem, m);
	copy_and_set(&flush_ops_msync, m + 4096);
	copy_and_set(&flush_ops_none, m + 8192);
	/* many ranges: the msync table's pending list overflows and drains */
	for (int i = 0; i < 40; i++)
		flush_ops_msync.flush(m + i * 8192, 16);
	flush_ops_msync.drain();
	munmap(m, 1 << 20);
	close(fd);
	unlink(path);
}

static void test_flush_choose_env_and_override(void **state)
{
	static char buf[4096] = {1};
	setenv("PMSTORE_NO_FLUSH", "1", 1);
	assert_ptr_equal(flush_choose(buf, sizeof(buf)), &flush_ops_none);
	unsetenv("PMSTORE_NO_FLUSH");
	flush_set_override(&flush_ops_pmem);
	assert_ptr_equal(flush_choose(buf, sizeof(buf)), &flush_ops_pmem);
	flush_set_override(NULL);
	const struct flush_ops *o = flush_choose(buf, sizeof(buf));
	assert_true(o == &flush_ops_pmem || o == &flush_ops_msync);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flush_counters_count),
		cmocka_unit_test(test_flush_tables_copy_and_drain),
		cmocka_unit_test(test_flush_choose_env_and_override),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
