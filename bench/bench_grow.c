/*
 * bench_grow.c -- what growth costs (issue 19).
 *
 *   bench_grow [DIR]        pools in a run-unique directory under DIR
 *                           (default /dev/shm; BENCH_DISK_DIR for ext4)
 *
 * 1. pm_grow by 1 GiB in steps of 16 MiB, 64 MiB, 256 MiB and 1 GiB (a pool
 *    of at most 2 GiB starting at 8 MiB): total time, time per step.
 * 2. pmalloc throughput filling 1 GiB with objects of 64 KiB and of 1 MiB,
 *    in a pool that starts at 8 MiB and grows on its own, and in a pool
 *    created at full size, measured in the same run (the ratio is
 *    growing / fixed), for the allocations alone and with the pool's
 *    creation counted (a fixed pool pays its whole file up front, a
 *    growing one as it goes: on tmpfs allocating the file's pages is most
 *    of either).
 * Prints one line per figure; measures, asserts nothing.  Set
 * PMEM_IS_PMEM_FORCE=1 for the cache-flush path (as bench/run.sh does).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pmstore.h"

#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char dir[512];

static pm_pool *make(const char *tag, size_t size, size_t max)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, tag);
	unlink(path);
	struct pm_create_opts o = { .nlanes = 4, .max_size = max };
	pm_pool *p = pm_create_ex(path, size, 0, &o);
	if (!p) {
		fprintf(stderr, "bench_grow: %s: %s\n", path, pm_errormsg());
		exit(1);
	}
	return p;
}

static void drop(pm_pool *p, const char *tag)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, tag);
	pm_close(p);
	unlink(path);
}

/* objects of `obj` bytes until `total` are allocated: ops/s */
static double fill(pm_pool *p, size_t obj, size_t total)
{
	size_t n = total / obj;
	pm_off *slots = pm_direct(p, pm_root(p, n * sizeof(pm_off)));
	if (!slots) {
		fprintf(stderr, "bench_grow: root: %s\n", pm_errormsg());
		exit(1);
	}
	double t0 = now();
	for (size_t i = 0; i < n; i++)
		if (pmalloc(p, &slots[i], obj)) {
			fprintf(stderr, "bench_grow: pmalloc %zu of %zu: %s\n", i, n, pm_errormsg());
			exit(1);
		}
	return (double)n / (now() - t0);
}

int main(int argc, char **argv)
{
	const char *base = argc > 1 ? argv[1] : "/dev/shm";
	snprintf(dir, sizeof(dir), "%s/pmstore-bench-grow-%d-XXXXXX", base, (int)getpid());
	if (!mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	pm_pool *p = make("probe", 8 * MiB, 2 * GiB);
	printf("bench_grow: pools in %s (%s path)\n", base, pm_is_pmem(p) ? "cache-flush" : "msync");
	drop(p, "probe");

	static const size_t steps[] = { 16 * MiB, 64 * MiB, 256 * MiB, GiB };
	for (unsigned s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		p = make("steps", 8 * MiB, 2 * GiB);
		size_t start = pm_size(p), n = 0;
		double t0 = now();
		while (pm_size(p) < start + GiB) {
			if (pm_grow(p, pm_size(p) + steps[s])) {
				fprintf(stderr, "bench_grow: pm_grow: %s\n", pm_errormsg());
				return 1;
			}
			n++;
		}
		double t = now() - t0;
		printf("grow 1 GiB in %4zu MiB steps: %3zu steps, %8.2f ms total, %7.3f ms per step\n",
		       steps[s] / MiB, n, t * 1e3, t * 1e3 / (double)n);
		drop(p, "steps");
	}

	static const size_t objs[] = { 64 << 10, MiB };
	for (unsigned k = 0; k < 2; k++) {
		double t0 = now();
		p = make("growing", 8 * MiB, 2 * GiB);
		double g = fill(p, objs[k], GiB), tg = now() - t0;
		size_t grown = pm_size(p);
		drop(p, "growing");
		t0 = now();
		p = make("fixed", GiB + 64 * MiB, 0);
		double f = fill(p, objs[k], GiB), tf = now() - t0;
		drop(p, "fixed");
		printf("pmalloc %4zu KiB objects to 1 GiB: growing pool (8 MiB -> %zu MiB) %9.0f/s, "
		       "fixed pool %9.0f/s, ratio %.2f; with create: %.0f ms vs %.0f ms, ratio %.2f\n",
		       objs[k] >> 10, grown / MiB, g, f, g / f, tg * 1e3, tf * 1e3, tf / tg);
	}
	rmdir(dir);
	return 0;
}
