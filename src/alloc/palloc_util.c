/*
 * palloc_util.c -- layer 4: pm_strdup, built on the public actions API
 * (reserve -> fill -> pm_set_value -> pm_publish).  The publish flushes
 * and covers the reserved object's bytes (DESIGN.md §5, covers), so after
 * a crash the object exists with its whole string iff *dest names it.
 * Two fences, as pmalloc.  pm_realloc needs the heap and lives in palloc.c.
 */
#include <string.h>

#include "base/error.h"
#include "pmstore.h"

PM_API int pm_strdup(pm_pool *pool, pm_off *dest, const char *s)
{
	if (!pool || !dest || !s)
		return PM_ERR(PM_EINVAL, "pm_strdup: NULL argument");
	size_t len = strlen(s) + 1;
	struct pm_action act[2];
	pm_off off = pm_reserve(pool, &act[0], len);
	if (!off)
		return pm_last_error();
	memcpy(pm_direct(pool, off), s, len);
	pm_set_value(pool, &act[1], dest, off);
	int rc = pm_publish(pool, act, 2);
	if (rc) /* a refused publish leaves the reservation (a no-op otherwise) */
		pm_cancel(pool, act, 1);
	return rc;
}
