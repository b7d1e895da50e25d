/*
 * tx_util.c -- layer 5: convenience calls built on the public transaction
 * API (issue 12): tx_prealloc, tx_strdup, tx_memcpy, tx_memset, and the
 * list of locks tx_lock holds until the outermost tx_end.  Nothing here touches the undo
 * log or the commit path directly: every persistent effect goes through
 * tx_add / tx_pmalloc / tx_pfree (tx.c), so these calls are exactly as
 * crash-safe as the sequences of those calls they stand for, and cost the
 * same fences (tx_prealloc and tx_strdup: none before the commit;
 * tx_memcpy / tx_memset: tx_add's one, or none for a covered range).
 *
 * Why no tx_add for the copies: an object tx_pmalloc'd by this
 * transaction is covered (tx.c): commit flushes it and the commit log's
 * cover makes a log that reached media before the bytes invalid.
 */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "tx/tx.h"
#include "pmstore.h"

/* The transaction this thread may add to, or NULL (PM_ETX set). */
static pm_pool *work_pool(const char *fn)
{
	pm_pool *p = tx_pool();
	if (!p) {
		PM_ERR(PM_ETX, "%s: no transaction in this thread", fn);
		return NULL;
	}
	if (tx_stage() != PM_TX_STAGE_WORK) {
		PM_ERR(PM_ETX, "%s: the transaction has already %s", fn,
		       tx_stage() == PM_TX_STAGE_ONABORT ? "aborted" : "committed");
		return NULL;
	}
	return p;
}

/* Abort the running transaction with err (message already set). */
static void abort_with(int err)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%s", pm_errormsg());
	tx_abort(err);
	PM_ERR(err, "%s", msg); /* the abort's own calls must not overwrite it */
}

PM_API pm_off tx_prealloc(pm_off off, size_t size)
{
	pm_pool *p = work_pool("tx_prealloc");
	if (!p)
		return 0;
	if (off == 0)
		return size ? tx_pmalloc(size) : 0;
	if (size == 0) {
		tx_pfree(off);
		return 0;
	}
	if (size > PM_MAX_ALLOC_SIZE) {
		PM_ERR(PM_EINVAL, "tx_prealloc: bad size %zu", size);
		abort_with(PM_EINVAL);
		return 0;
	}
	/* an object of this transaction, or a published one */
	size_t usable = tx_reserved_size(off);
	if (!usable)
		usable = pm_usable_size(p, off);
	if (!usable) {
		PM_ERR(PM_EINVAL, "tx_prealloc: offset 0x%llx is not an allocated object",
		       (unsigned long long)off);
		abort_with(PM_EINVAL);
		return 0;
	}
	if (size <= usable && size > usable / 2)
		return off; /* fits, not worth moving (as pm_realloc) */
	pm_off n = tx_pmalloc(size);
	if (!n)
		return 0;
	memcpy(pm_direct(p, n), pm_direct(p, off), size < usable ? size : usable);
	if (tx_pfree(off))
		return 0;
	return n;
}

PM_API pm_off tx_strdup(const char *s)
{
	pm_pool *p = work_pool("tx_strdup");
	if (!p)
		return 0;
	if (!s) {
		PM_ERR(PM_EINVAL, "tx_strdup: NULL string");
		abort_with(PM_EINVAL);
		return 0;
	}
	size_t len = strlen(s) + 1;
	pm_off n = tx_pmalloc(len);
	if (n)
		memcpy(pm_direct(p, n), s, len);
	return n;
}

/* ---- snapshot and write in one call -------------------------------------- */

PM_API int tx_memcpy(void *dst, const void *src, size_t len)
{
	int rc = tx_add(dst, len);
	if (rc == 0)
		memmove(dst, src, len);
	return rc;
}

PM_API int tx_memset(void *dst, int c, size_t len)
{
	int rc = tx_add(dst, len);
	if (rc == 0)
		memset(dst, c, len);
	return rc;
}

/* ---- locks held until the transaction ends (tx_lock, pool/plock.c) ---- */

#define TX_LOCKS_MAX 64

struct held_lock {
	void *lock;
	void (*unlock)(void *lock);
};
static _Thread_local struct held_lock held[TX_LOCKS_MAX];
static _Thread_local unsigned nheld;

int tx_lock_held(const void *lock)
{
	for (unsigned i = 0; i < nheld; i++)
		if (held[i].lock == lock)
			return 1;
	return 0;
}

int tx_lock_push(void *lock, void (*unlock)(void *lock))
{
	if (nheld == TX_LOCKS_MAX)
		return PM_ERR(PM_ENOMEM, "tx_lock: more than %d locks in one transaction", TX_LOCKS_MAX);
	held[nheld].lock = lock;
	held[nheld].unlock = unlock;
	nheld++;
	return 0;
}

void tx_locks_release(int forget)
{
	while (nheld > 0) {
		nheld--;
		if (!forget)
			held[nheld].unlock(held[nheld].lock);
	}
}
