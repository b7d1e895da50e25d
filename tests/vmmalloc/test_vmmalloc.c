/*
 * test_vmmalloc.c -- every libvmmalloc entry point, out-of-memory then
 * reuse, threads, "the heap is in the pool", and the volatile-pools API.
 *
 * Linked with -lvmmalloc, so this program's malloc is libvmmalloc's (the
 * "-lvmmalloc" way of libvmmalloc(7)); CTest sets VMMALLOC_POOL_DIR and
 * VMMALLOC_POOL_SIZE=128M.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "libvmem.h"
#include "libvmmalloc.h"
#include "vm_test_util.h"

void cfree(void *ptr); /* not declared by glibc >= 2.26 headers */

#define MiB (1024 * 1024)

static void test_vmmalloc_in_pool(void **state)
{
	void *small = malloc(24), *big = malloc(8 * MiB);
	assert_non_null(small);
	assert_non_null(big);
	assert_true(vm_in_pool(small));
	assert_true(vm_in_pool(big));
	free(small);
	free(big);
}

static void test_vmmalloc_malloc_usable_size(void **state)
{
	static const size_t sizes[] = {0, 1, 8, 15, 16, 100, 4095, 4096, 14336,
				       16385, 1 << 20, 5 * MiB};
	void *p[12];
	for (int i = 0; i < 12; i++) {
		p[i] = malloc(sizes[i]);
		assert_non_null(p[i]);
		/* C11: aligned for any object that fits; 16 from 16 up. */
		size_t al = sizes[i] >= 16 ? 16 : sizes[i] >= 8 ? 8 : 1;
		assert_int_equal((uintptr_t)p[i] % al, 0);
		assert_true(malloc_usable_size(p[i]) >= sizes[i]);
		memset(p[i], 0xa5, malloc_usable_size(p[i]));
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(p[i], p[j]);
	}
	for (int i = 0; i < 12; i++)
		free(p[i]);
	assert_int_equal(malloc_usable_size(NULL), 0);
	free(NULL);
	cfree(malloc(10));
	cfree(NULL);
	errno = 0;
	assert_null(malloc(SIZE_MAX - 4096));
	assert_int_equal(errno, ENOMEM);
}

static void test_vmmalloc_calloc(void **state)
{
	/* Dirty memory first, so calloc must really clear recycled bytes. */
	for (int round = 0; round < 3; round++) {
		unsigned char *d = malloc(100000);
		memset(d, 0xff, 100000);
		free(d);
		unsigned char *p = calloc(1000, 100);
		assert_non_null(p);
		for (size_t i = 0; i < 100000; i++)
			assert_int_equal(p[i], 0);
		free(p);
	}
	assert_non_null(calloc(0, 0) ? (void *)1 : NULL);
	errno = 0;
	assert_null(calloc(SIZE_MAX / 2, 3));
	assert_int_equal(errno, ENOMEM);
}

static void test_vmmalloc_realloc(void **state)
{
	char *p = realloc(NULL, 10); /* = malloc */
	assert_non_null(p);
	memcpy(p, "abcdefghi", 10);
	for (size_t n = 20; n < 4 * MiB; n *= 3) {
		p = realloc(p, n);
		assert_non_null(p);
		assert_true(vm_in_pool(p));
		assert_memory_equal(p, "abcdefghi", 10);
	}
	p = realloc(p, 5); /* shrink keeps the prefix */
	assert_memory_equal(p, "abcde", 5);
	assert_null(realloc(p, 0)); /* glibc: frees, returns NULL */

	char *q = malloc(16);
	errno = 0;
	assert_null(realloc(q, SIZE_MAX - 4096));
	assert_int_equal(errno, ENOMEM);
	free(q); /* still valid after a failed realloc */
}

static void test_vmmalloc_reallocarray(void **state)
{
	int *a = reallocarray(NULL, 10, sizeof(int));
	assert_non_null(a);
	for (int i = 0; i < 10; i++)
		a[i] = i;
	a = reallocarray(a, 100000, sizeof(int));
	assert_non_null(a);
	for (int i = 0; i < 10; i++)
		assert_int_equal(a[i], i);
	errno = 0;
	assert_null(reallocarray(a, SIZE_MAX / 2, 4));
	assert_int_equal(errno, ENOMEM);
	free(a);
}

static void test_vmmalloc_posix_memalign(void **state)
{
	for (size_t al = sizeof(void *); al <= 4 * MiB; al *= 2) {
		void *p = (void *)1;
		assert_int_equal(posix_memalign(&p, al, 100), 0);
		assert_int_equal((uintptr_t)p % al, 0);
		assert_true(vm_in_pool(p));
		assert_true(malloc_usable_size(p) >= 100);
		free(p);
	}
	void *p = (void *)1;
	assert_int_equal(posix_memalign(&p, 0, 8), EINVAL);
	assert_int_equal(posix_memalign(&p, 24, 8), EINVAL); /* not 2^n */
	assert_int_equal(posix_memalign(&p, 4, 8), EINVAL); /* < void * */
	assert_ptr_equal(p, (void *)1);			     /* untouched */
	assert_int_equal(posix_memalign(&p, 64, 0), 0);
	free(p);
	assert_int_equal(posix_memalign(&p, 64, SIZE_MAX - 4096), ENOMEM);
}

static void test_vmmalloc_aligned_alloc_memalign(void **state)
{
	for (size_t al = 1; al <= MiB; al *= 4) {
		void *a = aligned_alloc(al, 3 * al);
		void *m = memalign(al, 1000);
		assert_non_null(a);
		assert_non_null(m);
		assert_int_equal((uintptr_t)a % al, 0);
		assert_int_equal((uintptr_t)m % al, 0);
		free(a);
		free(m);
	}
	errno = 0;
	assert_null(aligned_alloc(48, 96));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(memalign(0, 16));
	assert_int_equal(errno, EINVAL);
}

static void test_vmmalloc_valloc_pvalloc(void **state)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	void *v = valloc(10), *w = pvalloc(ps + 1), *z = pvalloc(0);
	assert_int_equal((uintptr_t)v % ps, 0);
	assert_int_equal((uintptr_t)w % ps, 0);
	assert_int_equal((uintptr_t)z % ps, 0);
	assert_true(malloc_usable_size(w) >= 2 * ps); /* rounded to pages */
	assert_true(malloc_usable_size(z) >= ps);
	free(v);
	free(w);
	free(z);
	errno = 0;
	assert_null(pvalloc(SIZE_MAX - 10));
	assert_int_equal(errno, ENOMEM);
}

/* Fill the pool with size-byte blocks; the pointer array is mmap'd so it
 * takes no pool space.  Returns the count. */
static size_t fill(void **v, size_t max, size_t size)
{
	size_t n = 0;
	while (n < max && (v[n] = malloc(size)) != NULL)
		memset(v[n++], 0x5a, 64);
	return n;
}

static void test_vmmalloc_oom_free_reuse(void **state)
{
	size_t max = 128 * MiB / 1024;
	void **v = mmap(NULL, max * sizeof(void *), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(v != MAP_FAILED);
	errno = 0;
	size_t n1 = fill(v, max, 3000);
	assert_int_equal(errno, ENOMEM);
	assert_true(n1 > 128 * MiB / 3072 * 8 / 10); /* most of 128M used */
	assert_true(n1 < max);
	for (size_t i = 0; i < n1; i++)
		free(v[i]);

	/* Same size again: at least as much as the first time, nearly. */
	size_t n2 = fill(v, max, 3000);
	assert_true(n2 >= n1 * 95 / 100);
	for (size_t i = 0; i < n2; i++)
		free(v[i]);

	/* Small blocks all freed: their slabs must coalesce for a big one. */
	n2 = fill(v, max, 100);
	assert_true(n2 > 100000);
	for (size_t i = 0; i < n2; i++)
		free(v[i]);
	void *big = malloc(96 * MiB);
	assert_non_null(big);
	assert_true(vm_in_pool(big));
	free(big);
	munmap(v, max * sizeof(void *));
}

static void *thread_body(void *arg)
{
	unsigned char tag = (unsigned char)(uintptr_t)arg;
	void *slot[256] = {0};
	size_t len[256] = {0};
	uint64_t x = 88172645463325252ull + tag;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		unsigned s = (unsigned)(x % 256);
		if (slot[s]) {
			unsigned char *p = slot[s];
			if (p[0] != tag || p[len[s] - 1] != tag)
				return (void *)1; /* someone else's bytes */
			free(p);
			slot[s] = NULL;
		} else {
			len[s] = 1 + (x >> 40) % 20000;
			unsigned char *p = (x & 1) ? malloc(len[s])
						   : realloc(NULL, len[s]);
			if (!p || (i % 1000 == 0 && !vm_in_pool(p)))
				return (void *)2;
			memset(p, tag, len[s]);
			slot[s] = p;
		}
	}
	for (int s = 0; s < 256; s++)
		free(slot[s]);
	return NULL;
}

static void test_vmmalloc_threads(void **state)
{
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_body,
						(void *)(i + 1)), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		assert_null(r);
	}
}

/* Objects made by one thread and freed by another that never allocates
 * (its first call into the library is free). */
static void *free_all(void *arg)
{
	void **v = arg;
	for (int i = 0; i < 20000; i++)
		free(v[i]);
	return NULL;
}

static void test_vmmalloc_cross_thread_free(void **state)
{
	void **v = mmap(NULL, 20000 * sizeof(void *), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 20000; i++) {
			v[i] = malloc(16 + (size_t)(i % 5000));
			assert_non_null(v[i]);
		}
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, free_all, v), 0);
		pthread_join(t, NULL);
	}
	/* 5 rounds of ~50 MB went through a 128 MB pool, so the other thread's
	 * frees were reused; and the space coalesces for a big block. */
	void *big = malloc(48 * MiB);
	assert_non_null(big);
	free(big);
	munmap(v, 20000 * sizeof(void *));
}

/* Touch 64 MB of heap: anonymous memory must not grow with it. */
static void test_vmmalloc_anon_small(void **state)
{
	long anon0 = vm_rollup_kb("Anonymous");
	char *p[64];
	for (int i = 0; i < 64; i++) {
		p[i] = malloc(MiB - 100);
		memset(p[i], i, MiB - 100);
	}
	long anon1 = vm_rollup_kb("Anonymous");
	assert_true(anon0 >= 0);
	assert_true(anon1 - anon0 < 4 * 1024); /* < 4 MB of 64 MB */
	for (int i = 0; i < 64; i++)
		free(p[i]);
}

static void vmem_exercise(VMEM *vmp)
{
	char *s = vmem_strdup(vmp, "pool string");
	assert_string_equal(s, "pool string");
	int *z = vmem_calloc(vmp, 1000, sizeof(int));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(z[i], 0);
	z = vmem_realloc(vmp, z, 100000 * sizeof(int));
	assert_non_null(z);
	void *a = vmem_aligned_alloc(vmp, 4096, 10);
	assert_int_equal((uintptr_t)a % 4096, 0);
	assert_true(vmem_malloc_usable_size(vmp, s) >= 12);
	assert_null(vmem_aligned_alloc(vmp, 3, 10));
	assert_int_equal(vmem_check(vmp), 1);

	/* Out of memory, free everything, the same again. */
	void **v = mmap(NULL, 100000 * sizeof(void *), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t n1 = 0, n2 = 0;
	while (n1 < 100000 && (v[n1] = vmem_malloc(vmp, 2000)))
		n1++;
	assert_true(n1 > 5000 && n1 < 100000);
	while (n1)
		vmem_free(vmp, v[--n1 + 0 * n2]);
	while (n2 < 100000 && (v[n2] = vmem_malloc(vmp, 2000)))
		n2++;
	assert_true(n2 > 5000);
	while (n2)
		vmem_free(vmp, v[--n2]);
	munmap(v, 100000 * sizeof(void *));
	vmem_free(vmp, s);
	vmem_free(vmp, z);
	vmem_free(vmp, a);
	assert_int_equal(vmem_check(vmp), 1);
}

static void test_vmem_pools(void **state)
{
	const char *dir = getenv("VMMALLOC_POOL_DIR");
	assert_null(vmem_create(dir, VMEM_MIN_POOL - 1));
	assert_null(vmem_create("/nonexistent/dir", VMEM_MIN_POOL));
	assert_true(strlen(vmem_errormsg()) > 0);

	VMEM *a = vmem_create(dir, 32 * MiB);
	assert_non_null(a);
	size_t rs = 32 * MiB;
	void *region = mmap(NULL, rs, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(region, 0xee, rs); /* not zero: calloc must clear */
	VMEM *b = vmem_create_in_region(region, rs);
	assert_non_null(b);
	void *pa = vmem_malloc(a, 100), *pb = vmem_malloc(b, 100);
	assert_true((char *)pb >= (char *)region &&
		    (char *)pb < (char *)region + rs);
	assert_false(vm_in_pool(pb));
	vmem_exercise(a);
	vmem_exercise(b);
	vmem_free(a, pa);
	vmem_free(b, pb);
	vmem_delete(a);
	vmem_delete(b);
	munmap(region, rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmmalloc_in_pool),
		cmocka_unit_test(test_vmmalloc_malloc_usable_size),
		cmocka_unit_test(test_vmmalloc_calloc),
		cmocka_unit_test(test_vmmalloc_realloc),
		cmocka_unit_test(test_vmmalloc_reallocarray),
		cmocka_unit_test(test_vmmalloc_posix_memalign),
		cmocka_unit_test(test_vmmalloc_aligned_alloc_memalign),
		cmocka_unit_test(test_vmmalloc_valloc_pvalloc),
		cmocka_unit_test(test_vmmalloc_oom_free_reuse),
		cmocka_unit_test(test_vmmalloc_threads),
		cmocka_unit_test(test_vmmalloc_cross_thread_free),
		cmocka_unit_test(test_vmmalloc_anon_small),
		cmocka_unit_test(test_vmem_pools),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
