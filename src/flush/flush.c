/*
 * flush.c -- layer 1: flush tables over libpmem (see flush.h).
 *
 * The msync path batches: flush() only records the range in a small
 * per-thread list and drain() msyncs what was recorded, so a publish that
 * flushes five ranges costs one fence worth of msync calls, not five.  That
 * keeps the model (nothing is promised durable before drain) and the fence
 * count identical on both paths.
 */
#include "flush.h"

#include <errno.h>
#include <libpmem.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- pmem path -------------------------------------------------------- */

static void pmem_path_flush(const void *addr, size_t len)
{
	pmem_flush(addr, len);
}

static void pmem_path_drain(void)
{
	pmem_drain();
}

static void *pmem_path_memcpy(void *dst, const void *src, size_t len)
{
	return pmem_memcpy(dst, src, len, PMEM_F_MEM_NODRAIN);
}

static void *pmem_path_memset(void *dst, int c, size_t len)
{
	return pmem_memset(dst, c, len, PMEM_F_MEM_NODRAIN);
}

const struct flush_ops flush_ops_pmem = {
	.name = "pmem",
	.flush = pmem_path_flush,
	.drain = pmem_path_drain,
	.memcpy_nodrain = pmem_path_memcpy,
	.memset_nodrain = pmem_path_memset,
};

/* ---- msync path ------------------------------------------------------- */

#define MSYNC_PENDING_MAX 16
#define PAGE_MASK_ ((uintptr_t)4095)

struct msync_pending {
	unsigned n;
	uintptr_t lo[MSYNC_PENDING_MAX];
	uintptr_t hi[MSYNC_PENDING_MAX];
};

static _Thread_local struct msync_pending tls_pending;
_Thread_local int flush_tls_error;

static void msync_range(uintptr_t lo, uintptr_t hi)
{
	if (pmem_msync((void *)lo, hi - lo) != 0)
		flush_tls_error = errno ? errno : EIO;
}

/* Ranges closer than this are written back by one msync of their span: a
 * system call costs more than the kernel's walk over a few clean pages. */
#define MSYNC_SPAN_MAX ((uintptr_t)4 << 20)

static void msync_path_drain(void)
{
	struct msync_pending *p = &tls_pending;
	if (p->n == 0)
		return;
	uintptr_t lo = p->lo[0], hi = p->hi[0];
	for (unsigned i = 1; i < p->n; i++) {
		lo = p->lo[i] < lo ? p->lo[i] : lo;
		hi = p->hi[i] > hi ? p->hi[i] : hi;
	}
	if (hi - lo <= MSYNC_SPAN_MAX) {
		msync_range(lo, hi);
	} else {
		for (unsigned i = 0; i < p->n; i++)
			msync_range(p->lo[i], p->hi[i]);
	}
	p->n = 0;
}

static void msync_path_flush(const void *addr, size_t len)
{
	if (len == 0)
		return;
	struct msync_pending *p = &tls_pending;
	uintptr_t lo = (uintptr_t)addr & ~PAGE_MASK_;
	uintptr_t hi = ((uintptr_t)addr + len + PAGE_MASK_) & ~PAGE_MASK_;
	for (unsigned i = 0; i < p->n; i++) {
		if (lo <= p->hi[i] && hi >= p->lo[i]) { /* overlaps or touches */
			if (lo < p->lo[i])
				p->lo[i] = lo;
			if (hi > p->hi[i])
				p->hi[i] = hi;
			return;
		}
	}
	if (p->n == MSYNC_PENDING_MAX) /* list full: write back the oldest now */
		msync_path_drain();
	p->lo[p->n] = lo;
	p->hi[p->n] = hi;
	p->n++;
}

static void *msync_path_memcpy(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
	msync_path_flush(dst, len);
	return dst;
}

static void *msync_path_memset(void *dst, int c, size_t len)
{
	memset(dst, c, len);
	msync_path_flush(dst, len);
	return dst;
}

const struct flush_ops flush_ops_msync = {
	.name = "msync",
	.flush = msync_path_flush,
	.drain = msync_path_drain,
	.memcpy_nodrain = msync_path_memcpy,
	.memset_nodrain = msync_path_memset,
};

/* ---- no-op path (software cost only) ---------------------------------- */

static void none_flush(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
}

static void none_drain(void)
{
	atomic_signal_fence(memory_order_seq_cst);
}

const struct flush_ops flush_ops_none = {
	.name = "none",
	.flush = none_flush,
	.drain = none_drain,
	.memcpy_nodrain = memcpy,
	.memset_nodrain = memset,
};

/* ---- selection -------------------------------------------------------- */

static const struct flush_ops *_Atomic override_ops;

void flush_set_override(const struct flush_ops *ops)
{
	atomic_store(&override_ops, ops);
}

const struct flush_ops *flush_choose(const void *base, size_t len)
{
	const struct flush_ops *o = atomic_load(&override_ops);
	if (o)
		return o;
	const char *nf = getenv("PMSTORE_NO_FLUSH");
	if (nf && nf[0] == '1')
		return &flush_ops_none;
	return pmem_is_pmem(base, len) ? &flush_ops_pmem : &flush_ops_msync;
}
