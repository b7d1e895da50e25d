/*
 * test_pmemobj_names.c -- pmstore.h and PMDK's libpmemobj.h in one program
 * (issue 12: programs that migrate from PMDK have both for a while).
 *
 * Built only when libpmemobj.h is present (tests/api.cmake), with -Wall
 * -Wextra -Werror, twice: PM_NAMES_POBJ_FIRST selects the include order.
 * It compiles at all only if no enumerator, macro, typedef or function of
 * one header is declared differently by the other (before the rename,
 * TX_STAGE_NONE.. were declared by both: "redeclaration of enumerator").
 * At run time it uses both libraries side by side: a pmstore transaction
 * reports PM_TX_STAGE_WORK while PMDK's thread reports TX_STAGE_NONE, and a
 * PMDK pool and a pmstore pool are open at once (libpmemobj linked too, so
 * exported symbols of the two libraries must not collide either).
 *
 * Can NOT catch: a clash with a PMDK header this file does not include
 * (libpmemobj.h includes every libpmemobj/ header in 1.12), with a
 * later PMDK version, or a macro both headers define with the same body
 * (the compiler accepts an identical redefinition silently).
 */
#ifdef PM_NAMES_POBJ_FIRST
#include <libpmemobj.h>
#include "test_common.h"
#else
#include "test_common.h"
#include <libpmemobj.h>
#endif

#include <sys/stat.h>

/* Both stage enums exist, with their own names and types. */
_Static_assert(PM_TX_STAGE_NONE == 0, "pmstore stage none");
_Static_assert(TX_STAGE_NONE == 0, "PMDK stage none");
_Static_assert(sizeof(enum pm_tx_stage) > 0 && sizeof(enum pobj_tx_stage) > 0,
               "both stage types");

static void test_side_by_side(void **state)
{
	char path[256], opath[256];
	test_pool_path(path, sizeof(path), "names");
	test_pool_path(opath, sizeof(opath), "names-pobj");

	pm_pool *pool = pm_create(path, PM_MIN_POOL_SIZE, 0600);
	assert_non_null(pool);
	PMEMobjpool *pop = pmemobj_create(opath, "names", PMEMOBJ_MIN_POOL, 0600);
	assert_non_null(pop);

	assert_int_equal(tx_stage(), PM_TX_STAGE_NONE);
	assert_int_equal(tx_begin(pool), 0);
	assert_int_equal(tx_stage(), PM_TX_STAGE_WORK);
	/* PMDK's per-thread transaction state is its own. */
	assert_int_equal(pmemobj_tx_stage(), TX_STAGE_NONE);
	pm_off o = tx_pzalloc(64);
	assert_true(o != 0);
	assert_int_equal(tx_end(), 0);
	assert_int_equal(tx_stage(), PM_TX_STAGE_NONE);

	/* A PMDK transaction while pmstore has none. */
	PMEMoid root = pmemobj_root(pop, 64);
	assert_false(OID_IS_NULL(root));
	TX_BEGIN(pop) {
		assert_int_equal(pmemobj_tx_stage(), TX_STAGE_WORK);
		assert_int_equal(tx_stage(), PM_TX_STAGE_NONE);
		pmemobj_tx_add_range(root, 0, 8);
		*(uint64_t *)pmemobj_direct(root) = 7;
	} TX_END
	assert_int_equal(*(uint64_t *)pmemobj_direct(root), 7);

	assert_pool_ok(pool);
	pmemobj_close(pop);
	pm_close(pool);
	unlink(path);
	unlink(opath);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_side_by_side),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
