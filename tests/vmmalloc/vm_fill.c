/*
 * vm_fill.c -- fill the heap until malloc says no, touching every byte, for
 * full_fs.sh (run under LD_PRELOAD=libvmmalloc with the pool on a small
 * tmpfs, smaller than VMMALLOC_POOL_SIZE).
 *
 * Checks: allocation ends with NULL and errno ENOMEM (a SIGBUS would kill
 * the process: the shell sees status 135); calloc on a full file system
 * also returns NULL; after freeing everything the same amount (at least
 * 90 %) can be allocated and touched again; the bytes read back are the
 * ones written.  Sizes are random (seed printed, VM_FILL_SEED to repeat),
 * from 16 bytes to 1 MiB so both slabs and large extents run out.
 * Prints "filled <bytes> <bytes>" (first and second round) on stdout.
 * Cannot catch: a SIGBUS on a page no allocation touched (there is none to
 * touch), or space freed by another process in between.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXBLK 100000

static void *blk[MAXBLK];
static size_t len[MAXBLK];

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	return *x;
}

static size_t fill(uint64_t *x, size_t *n)
{
	size_t total = 0;
	for (*n = 0; *n < MAXBLK; (*n)++) {
		uint64_t r = rnd(x);
		size_t sz = r % 4 ? 16 + (size_t)(r >> 8) % 4096
				  : 4096 + (size_t)(r >> 8) % (1 << 20);
		errno = 0;
		char *p = malloc(sz);
		if (!p) {
			if (errno != ENOMEM) {
				fprintf(stderr, "malloc NULL, errno %d\n", errno);
				exit(2);
			}
			if (sz > 4096)
				continue; /* a small one may still fit */
			break;
		}
		memset(p, (int)(*n & 0xff), sz);
		blk[*n] = p;
		len[*n] = sz;
		total += sz;
	}
	if (*n == MAXBLK) {
		fprintf(stderr, "never ran out (pool or file system too big)\n");
		exit(2);
	}
	return total;
}

static void check_free(size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!blk[i])
			continue;
		unsigned char *p = blk[i];
		for (size_t k = 0; k < len[i]; k += 61)
			if (p[k] != (unsigned char)(i & 0xff)) {
				fprintf(stderr, "block %zu byte %zu changed\n",
					i, k);
				exit(3);
			}
		free(blk[i]);
		blk[i] = NULL;
	}
}

int main(void)
{
	const char *s = getenv("VM_FILL_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : 0x5eed1234;
	if (!seed)
		seed = 1;
	fprintf(stderr, "vm_fill: seed %llu\n", (unsigned long long)seed);
	uint64_t x = seed;
	size_t n1, n2;
	size_t t1 = fill(&x, &n1);
	errno = 0;
	void *c = calloc(1, 4 << 20);
	if (c || errno != ENOMEM) {
		fprintf(stderr, "calloc of 4 MiB on a full pool: %p errno %d\n",
			c, errno);
		return 4;
	}
	check_free(n1);
	size_t t2 = fill(&x, &n2);
	check_free(n2);
	printf("filled %zu %zu\n", t1, t2);
	if (t2 < t1 / 10 * 9) {
		fprintf(stderr, "second round got much less: %zu < %zu\n", t2,
			t1);
		return 5;
	}
	return 0;
}
