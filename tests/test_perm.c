/*
 * test_perm.c -- persistent globals: pm_perm / pm_perm_save / PM_PERM
 * (issue 18).
 *
 * Checks: a registered block gets its saved image back at registration
 * after a reopen (and is left alone when there is none); errors (a saved
 * image of another size, a name twice, bad names, a save inside a
 * transaction); the PM_PERM section registered in one call; the directory
 * growing past its first capacity (40 names); pm_check and a reopen after
 * every save.  Crash atomicity of pm_perm_save is checked by
 * test_regress (test_perm_save_atomic, every fence) and icount
 * (perm_save, every instruction).
 * Cannot catch: concurrent writers of a block during a save (documented as
 * the caller's business).
 */
#include "test_common.h"

#define POOL_SZ ((size_t)16 << 20)

PM_PERM static int garray[10];
PM_PERM static char gbuf[80];

struct cfg {
	uint64_t counter;
	char label[24];
};

static void reopen(pm_pool **p, const char *path)
{
	assert_pool_ok(*p);
	pm_close(*p);
	*p = pm_open(path);
	assert_non_null(*p);
	assert_pool_ok(*p);
}

static void test_perm_roundtrip(void **st)
{
	(void)st;
	char path[256];
	test_pool_path(path, sizeof(path), "perm");
	pm_pool *p = pm_create(path, POOL_SZ, 0600);
	assert_non_null(p);
	struct cfg c = { 7, "first" };
	uint64_t big[512];
	for (int i = 0; i < 512; i++)
		big[i] = (uint64_t)i * 3;
	assert_int_equal(pm_perm(p, "cfg", &c, sizeof(c)), 0); /* nothing saved yet */
	assert_int_equal(c.counter, 7);                          /* left alone */
	assert_int_equal(pm_perm(p, "big", big, sizeof(big)), 0);
	assert_int_equal(pm_perm(p, "cfg", &c, sizeof(c)), PM_EEXIST);
	assert_int_equal(pm_perm(p, "", &c, sizeof(c)), PM_EINVAL);
	char longname[64];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[63] = 0;
	assert_int_equal(pm_perm(p, longname, &c, sizeof(c)), PM_EINVAL);
	assert_int_equal(pm_perm(p, "zero", &c, 0), PM_EINVAL);
	assert_int_equal(pm_perm_save(p), 0);
	c.counter = 8;
	strcpy(c.label, "second");
	big[100] = 999;
	assert_int_equal(pm_perm_save(p), 0);
	c.counter = 9; /* not saved */
	assert_int_equal(tx_begin(p), 0);
	assert_int_equal(pm_perm_save(p), PM_ETX);
	tx_end();
	reopen(&p, path);
	struct cfg c2;
	memset(&c2, 0, sizeof(c2));
	uint64_t big2[512];
	assert_int_equal(pm_perm(p, "cfg", &c2, sizeof(c2)), 1);
	assert_int_equal(c2.counter, 8);
	assert_string_equal(c2.label, "second");
	assert_int_equal(pm_perm(p, "big", big2, sizeof(big2)), 1);
	assert_int_equal(big2[100], 999);
	assert_int_equal(big2[511], 511 * 3);
	/* the saved size differs from the registered one: a clear error */
	struct {
		struct cfg c;
		int more;
	} grown;
	reopen(&p, path);
	assert_int_equal(pm_perm(p, "cfg", &grown, sizeof(grown)), PM_EINVAL);
	assert_non_null(strstr(pm_errormsg(), "saved with"));
	pm_close(p);
	unlink(path);
}

static void test_perm_section(void **st)
{
	(void)st;
	char path[256];
	test_pool_path(path, sizeof(path), "perm-sec");
	pm_pool *p = pm_create(path, POOL_SZ, 0600);
	assert_non_null(p);
	assert_true(PM_PERM_SIZE >= sizeof(garray) + sizeof(gbuf));
	assert_true((char *)garray >= (char *)PM_PERM_START &&
	            (char *)garray < (char *)PM_PERM_START + PM_PERM_SIZE);
	assert_true(gbuf >= (char *)PM_PERM_START && gbuf < (char *)PM_PERM_START + PM_PERM_SIZE);
	assert_int_equal(pm_perm(p, "globals", PM_PERM_START, PM_PERM_SIZE), 0);
	for (int i = 0; i < 10; i++)
		garray[i] = i + 100;
	strcpy(gbuf, "persistent globals");
	assert_int_equal(pm_perm_save(p), 0);
	memset(garray, 0, sizeof(garray));
	memset(gbuf, 0, sizeof(gbuf));
	reopen(&p, path);
	assert_int_equal(pm_perm(p, "globals", PM_PERM_START, PM_PERM_SIZE), 1);
	assert_int_equal(garray[9], 109);
	assert_string_equal(gbuf, "persistent globals");
	pm_close(p);
	unlink(path);
}

static void test_perm_many(void **st)
{
	(void)st;
	char path[256];
	test_pool_path(path, sizeof(path), "perm-many");
	pm_pool *p = pm_create(path, POOL_SZ, 0600);
	assert_non_null(p);
	static uint64_t v[40][5];
	char name[16];
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		for (int k = 0; k < 5; k++)
			v[i][k] = (uint64_t)(i * 10 + k);
		assert_int_equal(pm_perm(p, name, v[i], sizeof(v[i])), 0);
		if (i == 5 || i == 20) /* saves before and after the directory grows */
			assert_int_equal(pm_perm_save(p), 0);
	}
	assert_int_equal(pm_perm_save(p), 0);
	memset(v, 0, sizeof(v));
	reopen(&p, path);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		assert_int_equal(pm_perm(p, name, v[i], sizeof(v[i])), 1);
		assert_int_equal(v[i][4], (uint64_t)(i * 10 + 4));
	}
	pm_close(p);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_perm_roundtrip),
		cmocka_unit_test(test_perm_section),
		cmocka_unit_test(test_perm_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
