/*
 * flush.h -- layer 1: the only code that issues cache flushes and fences.
 *
 * Every store the library makes durable goes through a struct flush_ops
 * table.  Three tables ship with the library (pmem cache-flush path over
 * libpmem, msync path for ordinary files, and a no-op table that only
 * counts); the crash harness (icount/) installs its own tracking table via
 * flush_set_override(), which is why nothing else may call libpmem.
 *
 * Model (docs/DESIGN.md §2): a store is durable only after a flush of it and
 * a later drain by the same thread.  flush() starts write-back and never
 * waits; drain() is the fence that waits.  Fences are what operations are
 * measured in, so every call site of flush_fence() says what it makes
 * durable.
 */
#ifndef PM_FLUSH_H
#define PM_FLUSH_H

#include <stddef.h>
#include <stdint.h>

#include "base/types.h"

struct flush_ops {
	const char *name;
	/* start write-back of [addr, addr+len); does not wait */
	void (*flush)(const void *addr, size_t len);
	/* fence: wait until this thread's earlier flushes are durable */
	void (*drain)(void);
	/* copy/set and flush the destination; no fence */
	void *(*memcpy_nodrain)(void *dst, const void *src, size_t len);
	void *(*memset_nodrain)(void *dst, int c, size_t len);
};


extern const struct flush_ops flush_ops_pmem;  /* clwb/clflushopt + sfence */
extern const struct flush_ops flush_ops_msync; /* msync at drain time */
extern const struct flush_ops flush_ops_none;  /* counts only (benchmarks) */

/*
 * The harness seam: when set, pools opened or created afterwards use `ops`
 * instead of choosing by the mapping.  NULL restores the default choice.
 */
void flush_set_override(const struct flush_ops *ops);

/*
 * Choose the table for a mapping: override, else PMSTORE_NO_FLUSH=1 -> none,
 * else pmem_is_pmem() -> pmem (PMEM_IS_PMEM_FORCE=1 forces it), else msync.
 */
const struct flush_ops *flush_choose(const void *base, size_t len);

static inline void flush_range(const struct flush_ops *ops,
                               struct flush_counters *c, const void *addr,
                               size_t len)
{
	c->flushes++;
	ops->flush(addr, len);
}

/*
 * A failed write-back (msync returned an error, e.g. EIO) is recorded per
 * thread by the table (flush_error_set) and reported by the fence that
 * covered it: flush_fence returns nonzero, and the pool marks itself
 * failed (lane/lane.c).  Durability was lost; carrying on would lie.
 */
extern _Thread_local int flush_tls_error;
static inline int flush_fence(const struct flush_ops *ops,
                              struct flush_counters *c)
{
	c->fences++;
	ops->drain();
	if (__builtin_expect(flush_tls_error != 0, 0)) {
		flush_tls_error = 0;
		return -1;
	}
	return 0;
}

static inline int flush_persist(const struct flush_ops *ops,
                                struct flush_counters *c, const void *addr,
                                size_t len)
{
	flush_range(ops, c, addr, len);
	return flush_fence(ops, c);
}

#endif
