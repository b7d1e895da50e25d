/*
 * both.c -- pmstore.h and libpmemobj.h in one translation unit, compiled
 * with -Wall -Werror against the installed pmstore (cmake/test-install.sh,
 * ctest install_consumer_pmemobj): a program moving data from a PMDK pool
 * to a pmstore pool must be able to include both.  Both libraries are
 * called, so linking both is checked too.  Cannot catch: clashes of
 * headers this file does not include (libpmem.h is included by both).
 *
 *   both DIR
 */
#include <pmstore.h>
#include <libpmemobj.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	char a[4096], b[4096];
	snprintf(a, sizeof(a), "%s/both.pmemobj", argv[1]);
	snprintf(b, sizeof(b), "%s/both.pmstore", argv[1]);
	PMEMobjpool *po = pmemobj_create(a, "both", PMEMOBJ_MIN_POOL, 0600);
	pm_pool *ps = pm_create(b, PM_MIN_POOL_SIZE, 0600);
	if (!po || !ps) {
		fprintf(stderr, "both: %s / %s\n", po ? "" : pmemobj_errormsg(), ps ? "" : pm_errormsg());
		return 1;
	}
	/* each library's own "no transaction" stage, side by side */
	int ok = pmemobj_tx_stage() == TX_STAGE_NONE && tx_stage() == PM_TX_STAGE_NONE;
	pm_off *slot = PM_D(ps, pm_root(ps, sizeof(pm_off)), pm_off);
	ok = ok && slot && pmalloc(ps, slot, 64) == 0 && *slot != 0;
	pmemobj_close(po);
	pm_close(ps);
	printf("both: pmstore %s and libpmemobj: %s\n", pmstore_version(), ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}
