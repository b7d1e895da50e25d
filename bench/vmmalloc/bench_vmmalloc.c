/*
 * bench_vmmalloc.c -- malloc/free throughput: libvmmalloc vs glibc vs
 * jemalloc vs memkind's PMEM kind.
 *
 * Workload (the one issue 6 names): each thread owns SLOTS slots; every op
 * picks a random slot and frees its object if it has one, else allocates a
 * random size in [8, 4096] bytes and touches it.  OPS ops in total, split
 * evenly over the threads; time is wall-clock for all threads together.
 *
 * Output, one line per case (machine-readable, for bench/run.sh):
 *     case,threads,ops,seconds,ns_per_op
 *
 * Usage:
 *   bench_vmmalloc [--quick] [--ops N] [--dir DIR]
 *       runs every case for 1 and 2 threads: glibc (plain), jemalloc and
 *       vmmalloc (re-executing itself under LD_PRELOAD), memkind_pmem (the
 *       memkind API with a PMEM kind in DIR).  --quick: 1 M ops.
 *   bench_vmmalloc --case NAME --threads T --ops N [--dir DIR]
 *       one case in this process (what the driver runs).
 */
#include <errno.h>
#include <memkind.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 4096

static memkind_t kind; /* memkind_pmem case only */
static long ops_per_thread;

static void *do_alloc(size_t n)
{
	return kind ? memkind_malloc(kind, n) : malloc(n);
}

static void do_free(void *p)
{
	if (kind)
		memkind_free(kind, p);
	else
		free(p);
}

static void *worker(void *arg)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
	void **slot = calloc(SLOTS, sizeof(void *));
	for (long i = 0; i < ops_per_thread; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
		unsigned s = (unsigned)(x % SLOTS);
		if (slot[s]) {
			do_free(slot[s]);
			slot[s] = NULL;
		} else {
			size_t n = 8 + (size_t)((x >> 32) % 4089);
			char *p = do_alloc(n);
			if (!p) {
				fprintf(stderr, "allocation of %zu failed\n", n);
				exit(2);
			}
			p[0] = p[n - 1] = (char)i;
			slot[s] = p;
		}
	}
	for (unsigned s = 0; s < SLOTS; s++)
		if (slot[s])
			do_free(slot[s]);
	free(slot);
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int run_case(const char *name, int threads, long ops, const char *dir)
{
	if (strcmp(name, "memkind_pmem") == 0) {
		int err = memkind_create_pmem(dir, 0, &kind);
		if (err) {
			fprintf(stderr, "memkind_create_pmem(%s): %d\n", dir, err);
			return 1;
		}
	}
	ops_per_thread = ops / threads;
	pthread_t t[64];
	double t0 = now();
	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	double sec = now() - t0;
	long total = ops_per_thread * threads;
	printf("%s,%d,%ld,%.4f,%.2f\n", name, threads, total, sec,
	       sec * 1e9 / (double)total);
	fflush(stdout);
	if (kind)
		memkind_destroy_kind(kind);
	return 0;
}

/* Re-execute ourselves for one case, with LD_PRELOAD set as it needs. */
static int spawn(const char *self, const char *name, int threads, long ops,
		 const char *dir)
{
	pid_t pid = fork();
	if (pid == 0) {
		char t[16], o[32];
		snprintf(t, sizeof(t), "%d", threads);
		snprintf(o, sizeof(o), "%ld", ops);
		if (strcmp(name, "vmmalloc") == 0) {
			setenv("LD_PRELOAD", VMMALLOC_LIB, 1);
			setenv("VMMALLOC_POOL_DIR", dir, 1);
			setenv("VMMALLOC_POOL_SIZE", "1G", 1);
		} else if (strcmp(name, "jemalloc") == 0) {
			setenv("LD_PRELOAD", JEMALLOC_LIB, 1);
		}
		execl(self, self, "--case", name, "--threads", t, "--ops", o,
		      "--dir", dir, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv)
{
	const char *one = NULL, *dir = "/tmp";
	long ops = 10 * 1000 * 1000;
	int threads = 1, rc = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			ops = 1000 * 1000;
		else if (!strcmp(argv[i], "--case") && i + 1 < argc)
			one = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
			ops = atol(argv[++i]);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--quick] [--ops N] [--dir D] "
				"[--case glibc|jemalloc|vmmalloc|memkind_pmem "
				"--threads T]\n", argv[0]);
			return 2;
		}
	}
	if (threads < 1 || threads > 64 || ops < threads)
		return 2;
	if (one)
		return run_case(one, threads, ops, dir);

	static const char *cases[] = {"glibc", "jemalloc", "vmmalloc",
				      "memkind_pmem"};
	printf("case,threads,ops,seconds,ns_per_op\n");
	fflush(stdout);
	for (int t = 1; t <= 2; t++)
		for (unsigned c = 0; c < 4; c++)
			rc |= spawn("/proc/self/exe", cases[c], t, ops, dir);
	return rc;
}
