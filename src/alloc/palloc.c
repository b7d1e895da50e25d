/*
 * palloc.c -- layer 4: atomic allocation.  pmalloc / pzalloc / pfree /
 * pm_realloc and the public actions API (reserve -> publish | cancel), all
 * of which end in palloc_publish_redo(): one redo-log commit that carries
 * the heap metadata change and the 8-byte stores to the destinations
 * together.  (pm_realloc: the new block's OR, the old block's AND, the
 * store into dest and a cover of the copied bytes in one log.)
 *
 * Two fences per publish (docs/DESIGN.md §5):
 *   0. take a pool-wide sequence number (recovery replays oldest first)
 *   1. log written + flushed      -> fence  (the commit point)
 *   2. lane marked in flight; words applied + flushed -> fence (durable)
 *   3. log invalidated by a plain store, neither flushed nor fenced, and
 *      the lane marked pending: the next commit fence of ANY thread
 *      flushes it first (lane_flush_pending), and one that comes while the
 *      lane is in flight (a thread acting on a result before the call
 *      returned) waits for step 3 -- so the invalidation is durable before
 *      anything that could depend on this operation is.
 */
#include <string.h>

#include "alloc/heap.h"
#include "alloc/palloc.h"
#include "base/error.h"
#include "lane/lane.h"
#include "log/log.h"
#include "base/seeded_bugs.h"

enum act_type { ACT_NONE = 0, ACT_ALLOC = 0x414c4c43, ACT_SET, ACT_FREE };

struct action {
	uint32_t type;
	uint32_t pad;
	union {
		struct heap_resv resv; /* ACT_ALLOC, ACT_FREE */
		struct {
			uint64_t *dest;
			uint64_t value;
		} set;
	} u;
};
_Static_assert(sizeof(struct action) == sizeof(struct pm_action), "pm_action size");

int palloc_publish_redo(struct lane *ln)
{
	struct pm_pool *p = ln->pool;
	const struct flush_ops *ops = p->ops;
	struct redo_log *log = &ln->pl->redo;
	uint64_t seq = ln->op_seq ? ln->op_seq : lane_next_seq(p);
	ln->op_seq = 0;
#if PM_BUG(PM_BUG_APPLY_BEFORE_COMMIT)
	redo_apply(ops, &ln->cnt, p->base, ln->redo.e, ln->redo.n); /* BUG */
#endif
	redo_write(ops, &ln->cnt, p->base, pool_size_now(p), log, &ln->redo, seq);
#if !PM_BUG(PM_BUG_NO_COMMIT_FENCE)
	/* DURABLE: the redo entries and their checksum (the commit point),
	 *          and whatever this thread flushed before (object contents).
	 * WAITED:  no applied word may reach media before the log does.
	 * CRASH BEFORE: the log fails its checksum -> ignored; nothing of this
	 *          operation is visible after recovery.  Or it is whole, and
	 *          so may be other lanes' older logs whose invalidations this
	 *          fence flushes: recovery replays by seq, oldest first.
	 * Also re-flushes other threads' pending invalidations first, so no
	 * log this operation depends on can be replayed after it.  (Our own
	 * pending one is in the header line redo_write just flushed.) */
	lane_commit_fence_logged(ln);
#endif
	lane_mark_inflight(ln);
	redo_apply(ops, &ln->cnt, p->base, ln->redo.e, ln->redo.n);
#if PM_BUG(PM_BUG_EARLY_INVALIDATE)
	redo_invalidate(log); /* BUG: same window as the apply */
	flush_range(ops, &ln->cnt, &log->checksum, 8);
#endif
	/* DURABLE: every applied word; the operation is complete.
	 * WAITED:  the invalidation below must not precede the applied words.
	 * CRASH BEFORE: the log is valid -> recovery replays it (idempotent). */
	lane_fence(ln);
#if !PM_BUG(PM_BUG_EARLY_INVALIDATE)
	/* Lazy invalidation: stored now, flushed by the next commit fence of
	 * any thread (lane_flush_pending), durable after that fence. */
	redo_invalidate(log);
#endif
	lane_mark_pending(ln, PEND_REDO);
	ln->publishes++;
	return atomic_load_explicit(&p->failed, memory_order_relaxed)
	               ? PM_ERR(PM_EIO, "a fence failed (msync error): the operation may not be durable; "
	                        "the handle refuses writes until the pool is reopened")
	               : 0;
}

/* ---- validation ------------------------------------------------------- */

int palloc_dest_ok(struct pm_pool *p, const void *dest)
{
	uintptr_t d = (uintptr_t)dest, b = (uintptr_t)p->base;
	if (d % 8 || d < b + POOL_DESC_OFF || d + 8 > b + pool_size_now(p))
		return 0;
	uint64_t off = d - b;
	if (off < POOL_DESC_OFF + offsetof(struct pool_desc, recovered_seq) ||
	    off == POOL_DESC_OFF + offsetof(struct pool_desc, perm_off))
		return 1; /* the root descriptor's two words, the globals' directory */
	if (off < p->heap.chunks_off)
		return 0; /* rest of the descriptor page, lanes, chunk table */
	/* not a run's bitmap (nor the padding before its first block), which
	 * is at the start of the run's first chunk */
	struct heap *h = &p->heap;
	uint32_t k = (uint32_t)((off - h->chunks_off) / CHUNK_SIZE);
	if (k >= heap_chunks_now(h))
		return 0;
	struct run *r = __atomic_load_n(&h->runs[k], __ATOMIC_ACQUIRE);
	if (!r)
		return 1;
	uint64_t in = off - h->chunks_off - (uint64_t)r->chunk * CHUNK_SIZE; /* from the run's start */
	return in >= heap_classes[r->cls].data;
}

static int size_ok(size_t size)
{
	return size != 0 && size <= PM_MAX_ALLOC_SIZE;
}

/* ---- pmalloc / pfree -------------------------------------------------- */

int palloc_alloc_in_lane(struct lane *ln, uint64_t *dest, size_t size, int zero)
{
	struct pm_pool *p = ln->pool;
	struct heap_resv r;
	int rc = heap_reserve(&p->heap, ln, size, &r);
	if (rc)
		return PM_ERR(rc, "pmalloc: no room for %zu bytes in pool (%zu bytes)%s", size, pool_size_now(p),
		              heap_grow_why());
	redo_buf_init(&ln->redo);
	if (zero) {
		lane_take_seq(ln); /* before the flushes (pool.h) */
		/* the zeroes are covered by the log (log.h): a log that reached
		 * media before them does not count */
		p->ops->memset_nodrain(p->base + r.off, 0, size);
		ln->cnt.flushes++;
		redo_buf_add(&ln->redo, r.off, REDO_MARK, size);
	}
	heap_redo_alloc(&p->heap, &ln->redo, &r);
	redo_buf_add(&ln->redo, (uint64_t)((char *)dest - p->base), REDO_SET, r.off);
	rc = palloc_publish_redo(ln);
	ln->allocs++;
	return rc;
}

int palloc_free_in_lane(struct lane *ln, uint64_t *dest)
{
	struct pm_pool *p = ln->pool;
	pm_off off = *dest;
	if (off == 0)
		return 0;
	struct heap_resv r;
	if (heap_lookup(&p->heap, off, &r))
		return PM_ERR(PM_EINVAL, "pfree: offset 0x%llx is not an allocated object", (unsigned long long)off);
	if ((ln->free_pending && ln->free_pending(ln, off)) && !PM_BUG(PM_BUG_DOUBLE_FREE_OK))
		return PM_ERR(PM_EINVAL, "pfree: 0x%llx is already freed by this thread's transaction (tx_pfree)",
		              (unsigned long long)off);
	redo_buf_init(&ln->redo);
	heap_redo_free(&p->heap, &ln->redo, &r);
	redo_buf_add(&ln->redo, (uint64_t)((char *)dest - p->base), REDO_SET, 0);
	int rc = palloc_publish_redo(ln);
	heap_release(&p->heap, ln, &r);
	ln->frees++;
	return rc;
}

/*
 * pm_realloc: one publish frees the old object, allocates the new one and
 * stores its offset into *dest; the log covers the bytes copied into the
 * new object (flushed before the commit fence), so a log that counts
 * implies they are durable.  A crash leaves either the old object at *dest
 * (the new one never published) or the new one with the copied bytes and
 * the old one freed -- never both, never neither.  2 fences, as pmalloc.
 */
static int realloc_in_lane(struct lane *ln, uint64_t *dest, size_t size)
{
	struct pm_pool *p = ln->pool;
	pm_off old = *dest;
	struct heap_resv o, r;
	if (heap_lookup(&p->heap, old, &o))
		return PM_ERR(PM_EINVAL, "pm_realloc: *dest = 0x%llx is not an allocated object", (unsigned long long)old);
	size_t usable = heap_resv_size(&o);
	uint64_t doff = (uint64_t)((char *)dest - p->base);
	if (doff >= old && doff < old + usable)
		return PM_ERR(PM_EINVAL, "pm_realloc: the destination word lies inside the object it reallocates (0x%llx)",
		              (unsigned long long)old);
	if (ln->free_pending && ln->free_pending(ln, old))
		return PM_ERR(PM_EINVAL, "pm_realloc: 0x%llx is already freed by this thread's transaction (tx_pfree)",
		              (unsigned long long)old);
	if (size <= usable && size > usable / 2)
		return 0; /* fits, and not worth moving: nothing written */
	int rc = heap_reserve(&p->heap, ln, size, &r);
	if (rc)
		return PM_ERR(rc, "pm_realloc: no room for %zu bytes in pool (%zu bytes)%s", size, pool_size_now(p),
		              heap_grow_why());
	size_t copy = size < usable ? size : usable;
	lane_take_seq(ln); /* before the flushes (pool.h) */
	redo_buf_init(&ln->redo);
#if PM_BUG(PM_BUG_REALLOC_NO_COVER)
	memcpy(p->base + r.off, p->base + old, copy); /* BUG: not flushed, not covered */
#else
	p->ops->memcpy_nodrain(p->base + r.off, p->base + old, copy);
	ln->cnt.flushes++;
	redo_buf_add(&ln->redo, r.off, REDO_MARK, copy); /* cover (log.h) */
#endif
	heap_redo_alloc(&p->heap, &ln->redo, &r);
#if PM_BUG(PM_BUG_REALLOC_TWO_PUBLISHES)
	redo_buf_add(&ln->redo, doff, REDO_SET, r.off);
	rc = palloc_publish_redo(ln);
	redo_buf_init(&ln->redo); /* BUG: the free is a second operation */
	heap_redo_free(&p->heap, &ln->redo, &o);
	rc = rc ? rc : palloc_publish_redo(ln);
#else
	heap_redo_free(&p->heap, &ln->redo, &o);
	redo_buf_add(&ln->redo, doff, REDO_SET, r.off);
	rc = palloc_publish_redo(ln);
#endif
	heap_release(&p->heap, ln, &o);
	ln->allocs++;
	ln->frees++;
	return rc;
}

PM_API int pm_realloc(pm_pool *p, pm_off *dest, size_t size)
{
	if (!p || !dest || !palloc_dest_ok(p, dest))
		return PM_ERR(PM_EINVAL, "pm_realloc: destination %p is not an aligned 8-byte word inside the pool's heap (or the root descriptor)", (void *)dest);
	if (size > PM_MAX_ALLOC_SIZE)
		return PM_ERR(PM_EINVAL, "pm_realloc: bad size %zu", size);
	if (*dest == 0)
		return size ? pmalloc(p, dest, size) : 0;
	if (size == 0)
		return pfree(p, dest);
	int rc = lane_pool_writable(p, "pm_realloc");
	if (rc)
		return rc;
	struct lane *ln = lane_acquire(p);
	rc = realloc_in_lane(ln, dest, size);
	int rr = lane_release(ln);
	return rc ? rc : rr;
}

static int alloc_common(struct pm_pool *p, pm_off *dest, size_t size, int zero)
{
	if (!p || !dest || !palloc_dest_ok(p, dest))
		return PM_ERR(PM_EINVAL, "pmalloc: destination %p is not an aligned 8-byte word inside the pool's heap (or the root descriptor)", (void *)dest);
	if (!size_ok(size))
		return PM_ERR(PM_EINVAL, "pmalloc: bad size %zu", size);
	int rc = lane_pool_writable(p, "pmalloc");
	if (rc)
		return rc;
	struct lane *ln = lane_acquire(p);
	rc = palloc_alloc_in_lane(ln, dest, size, zero);
	int rr = lane_release(ln);
	return rc ? rc : rr;
}

PM_API int pmalloc(pm_pool *p, pm_off *dest, size_t size)
{
	return alloc_common(p, dest, size, 0);
}

PM_API int pzalloc(pm_pool *p, pm_off *dest, size_t size)
{
	return alloc_common(p, dest, size, 1);
}

PM_API int pfree(pm_pool *p, pm_off *dest)
{
	if (!p || !dest || !palloc_dest_ok(p, dest))
		return PM_ERR(PM_EINVAL, "pfree: destination %p is not an aligned 8-byte word inside the pool's heap (or the root descriptor)", (void *)dest);
	int rc = lane_pool_writable(p, "pfree");
	if (rc)
		return rc;
	if (*dest == 0)
		return 0;
	struct lane *ln = lane_acquire(p);
	rc = palloc_free_in_lane(ln, dest);
	int rr = lane_release(ln);
	return rc ? rc : rr;
}

PM_API size_t pm_usable_size(pm_pool *p, pm_off off)
{
	struct heap_resv r;
	if (!p || heap_lookup(&p->heap, off, &r)) {
		PM_ERR(PM_EINVAL, "pm_usable_size: offset 0x%llx is not an allocated object", (unsigned long long)off);
		return 0;
	}
	return heap_resv_size(&r);
}

/* ---- actions ---------------------------------------------------------- */

PM_API pm_off pm_reserve(pm_pool *p, struct pm_action *pa, size_t size)
{
	struct action *a = (struct action *)pa;
	memset(a, 0, sizeof(*a));
	if (!p || !size_ok(size)) {
		PM_ERR(PM_EINVAL, "pm_reserve: bad size %zu", size);
		return 0;
	}
	if (lane_pool_writable(p, "pm_reserve"))
		return 0;
	struct lane *ln = lane_acquire(p);
	int rc = heap_reserve(&p->heap, ln, size, &a->u.resv);
	lane_release(ln);
	if (rc) {
		PM_ERR(rc, "pm_reserve: no room for %zu bytes%s", size, heap_grow_why());
		return 0;
	}
	a->type = ACT_ALLOC;
	a->pad = size <= UINT32_MAX ? (uint32_t)size : 0; /* what publish covers */
	return a->u.resv.off;
}

PM_API void pm_set_value(pm_pool *p, struct pm_action *pa, uint64_t *dest,
                         uint64_t value)
{
	struct action *a = (struct action *)pa;
	memset(a, 0, sizeof(*a));
	a->type = ACT_SET;
	a->u.set.dest = dest;
	a->u.set.value = value;
}

PM_API int pm_defer_free(pm_pool *p, struct pm_action *pa, pm_off off)
{
	struct action *a = (struct action *)pa;
	memset(a, 0, sizeof(*a));
	if (!p || heap_lookup(&p->heap, off, &a->u.resv))
		return PM_ERR(PM_EINVAL, "pm_defer_free: offset 0x%llx is not an allocated object", (unsigned long long)off);
	a->type = ACT_FREE;
	return 0;
}

static int actions_to_redo(struct pm_pool *p, struct lane *ln,
                           const struct action *a, size_t n)
{
	redo_buf_init(&ln->redo);
	for (size_t i = 0; i < n; i++) {
		int rc = 0;
		switch (a[i].type) {
		case ACT_ALLOC: {
			/* The object's contents become reachable with this publish:
			 * flush them and cover them (log.h), so they are durable no
			 * later than the pointer to them. */
			uint64_t off = a[i].u.resv.off;
			uint64_t len = a[i].pad ? a[i].pad : heap_resv_size(&a[i].u.resv);
			flush_range(p->ops, &ln->cnt, p->base + off, len);
			rc = heap_redo_alloc(&p->heap, &ln->redo, &a[i].u.resv);
			if (!rc)
				rc = redo_buf_add(&ln->redo, off, REDO_MARK, len);
			break;
		}
		case ACT_FREE: {
			/* refuse a second free of one object: in this publish, an
			 * earlier one (published since pm_defer_free), or one
			 * pending in this thread's transaction */
			uint64_t off = a[i].u.resv.off;
			struct heap_resv now;
			int dup = heap_lookup(&p->heap, off, &now) != 0 || (ln->free_pending && ln->free_pending(ln, off));
			for (size_t k = 0; k < i && !dup; k++)
				dup = a[k].type == ACT_FREE && a[k].u.resv.off == off;
			if (dup && !PM_BUG(PM_BUG_DOUBLE_FREE_OK))
				return PM_ERR(PM_EINVAL, "pm_publish: action %zu frees 0x%llx, which is freed already (or twice in this publish)",
				              i, (unsigned long long)off);
			rc = heap_redo_free(&p->heap, &ln->redo, &a[i].u.resv);
			break;
		}
		case ACT_SET:
			if (!palloc_dest_ok(p, a[i].u.set.dest))
				return PM_ERR(PM_EINVAL, "pm_publish: action %zu stores to %p, outside the pool's heap", i, (void *)a[i].u.set.dest);
			rc = redo_buf_add(&ln->redo, (uint64_t)((char *)a[i].u.set.dest - p->base),
			                  REDO_SET, a[i].u.set.value);
			break;
		default:
			return PM_ERR(PM_EINVAL, "pm_publish: action %zu is not initialised", i);
		}
		if (rc)
			return PM_ERR(PM_ENOLOG, "pm_publish: %zu actions do not fit in one redo log (max %u entries)", n, (unsigned)REDO_MAX);
	}
	return 0;
}

PM_API int pm_publish(pm_pool *p, struct pm_action *pa, size_t n)
{
	struct action *a = (struct action *)pa;
	if (!p || (n && !pa))
		return PM_ERR(PM_EINVAL, "pm_publish: NULL argument");
	if (n > PM_MAX_ACTIONS)
		return PM_ERR(PM_ENOLOG, "pm_publish: %zu actions, at most %d per publish", n, PM_MAX_ACTIONS);
	if (n == 0)
		return 0;
	int rc = lane_pool_writable(p, "pm_publish");
	if (rc)
		return rc;
	struct lane *ln = lane_acquire(p);
	lane_take_seq(ln); /* before the contents' flushes (pool.h) */
	rc = actions_to_redo(p, ln, a, n);
	if (rc != 0)
		ln->op_seq = 0;
	if (rc == 0) {
		rc = palloc_publish_redo(ln);
		for (size_t i = 0; i < n; i++) {
			if (a[i].type == ACT_FREE) {
				heap_release(&p->heap, ln, &a[i].u.resv);
				ln->frees++;
			} else if (a[i].type == ACT_ALLOC) {
				ln->allocs++;
			}
			a[i].type = ACT_NONE;
		}
	}
	int rr = lane_release(ln);
	return rc ? rc : rr;
}

PM_API void pm_cancel(pm_pool *p, struct pm_action *pa, size_t n)
{
	struct action *a = (struct action *)pa;
	if (!p || !pa || lane_pool_forked(p))
		return;
	struct lane *ln = lane_acquire(p);
	for (size_t i = 0; i < n; i++) {
		if (a[i].type == ACT_ALLOC)
			heap_cancel(&p->heap, ln, &a[i].u.resv);
		a[i].type = ACT_NONE;
	}
	lane_release(ln);
}
