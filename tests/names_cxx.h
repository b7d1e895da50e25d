/*
 * names_cxx.h -- compiled as C++ by the test_pmemobj_names_cxx_* ctests
 * (tests/api.cmake, -fsyntax-only -Werror): pmstore.h and libpmemobj.h in
 * one C++ translation unit, in the order PM_NAMES_ORDER picks (0: pmstore
 * first).  Can NOT catch anything a real link would (syntax only).
 */
#if PM_NAMES_ORDER == 0
#include "pmstore.h"
#include <libpmemobj.h>
#else
#include <libpmemobj.h>
#include "pmstore.h"
#endif
static_assert(PM_TX_STAGE_WORK != PM_TX_STAGE_NONE, "pmstore stages");
static_assert(TX_STAGE_WORK != TX_STAGE_NONE, "PMDK stages");
