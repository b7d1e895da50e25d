/*
 * pmemcount.c -- LD_PRELOAD counter of libpmem's flushes and fences, for
 * measuring PMDK's libpmemobj the way pmstore's flush layer counts itself.
 *
 * Counts calls that reach libpmem's exported functions (libpmemobj reaches
 * them through the dynamic linker, so interposition sees them): a fence is
 * pmem_drain, pmem_persist, pmem_msync, pmem_deep_*, a *_persist copy, or a
 * pmem_memcpy/memmove/memset without PMEM_F_MEM_NODRAIN; a flush is any call
 * that writes back (flush, persist, msync, every copy/set).  bench_pmemobj
 * reads the counters with pmemcount_get().
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PMEM_F_MEM_NODRAIN (1U << 0)

static _Atomic uint64_t fences, flushes;

void pmemcount_get(uint64_t *f, uint64_t *l)
{
	*f = atomic_load(&fences);
	*l = atomic_load(&flushes);
}

#define NEXT(name) static __typeof__(&name) real; if (!real) real = (__typeof__(&name))dlsym(RTLD_NEXT, #name)
#define FENCE() atomic_fetch_add_explicit(&fences, 1, memory_order_relaxed)
#define FLUSH() atomic_fetch_add_explicit(&flushes, 1, memory_order_relaxed)

void pmem_drain(void);
void pmem_drain(void) { NEXT(pmem_drain); FENCE(); real(); }
void pmem_flush(const void *a, size_t l);
void pmem_flush(const void *a, size_t l) { NEXT(pmem_flush); FLUSH(); real(a, l); }
void pmem_persist(const void *a, size_t l);
void pmem_persist(const void *a, size_t l) { NEXT(pmem_persist); FLUSH(); FENCE(); real(a, l); }
int pmem_msync(const void *a, size_t l);
int pmem_msync(const void *a, size_t l) { NEXT(pmem_msync); FLUSH(); FENCE(); return real(a, l); }
int pmem_deep_persist(const void *a, size_t l);
int pmem_deep_persist(const void *a, size_t l) { NEXT(pmem_deep_persist); FLUSH(); FENCE(); return real(a, l); }
int pmem_deep_drain(const void *a, size_t l);
int pmem_deep_drain(const void *a, size_t l) { NEXT(pmem_deep_drain); FENCE(); return real(a, l); }

#define COPY(name, T2)                                                                  \
	void *name(void *d, T2 s, size_t l);                                             \
	void *name(void *d, T2 s, size_t l) { NEXT(name); FLUSH(); return real(d, s, l); }
#define COPYP(name, T2)                                                                  \
	void *name(void *d, T2 s, size_t l);                                              \
	void *name(void *d, T2 s, size_t l) { NEXT(name); FLUSH(); FENCE(); return real(d, s, l); }
#define COPYF(name, T2)                                                                            \
	void *name(void *d, T2 s, size_t l, unsigned f);                                          \
	void *name(void *d, T2 s, size_t l, unsigned f)                                            \
	{                                                                                          \
		NEXT(name);                                                                        \
		FLUSH();                                                                           \
		if (!(f & PMEM_F_MEM_NODRAIN))                                                     \
			FENCE();                                                                   \
		return real(d, s, l, f);                                                           \
	}

COPY(pmem_memcpy_nodrain, const void *)
COPY(pmem_memmove_nodrain, const void *)
COPY(pmem_memset_nodrain, int)
COPYP(pmem_memcpy_persist, const void *)
COPYP(pmem_memmove_persist, const void *)
COPYP(pmem_memset_persist, int)
COPYF(pmem_memcpy, const void *)
COPYF(pmem_memmove, const void *)
COPYF(pmem_memset, int)
