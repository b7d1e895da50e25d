/*
 * names_c.c -- compiled, not run, by the test_pmemobj_names_c99_* ctests
 * (tests/api.cmake): pmstore.h and libpmemobj.h in one strict ISO C
 * translation unit (-std=c99 -pedantic -Werror), in the order
 * PM_NAMES_ORDER picks (0: pmstore first).  Can NOT catch what a link or a
 * run would (syntax only).
 */
#if PM_NAMES_ORDER == 0
#include "pmstore.h"
#include <libpmemobj.h>
#else
#include <libpmemobj.h>
#include "pmstore.h"
#endif

int names_c(void);
int names_c(void)
{
	return (int)PM_TX_STAGE_WORK + (int)TX_STAGE_WORK;
}
