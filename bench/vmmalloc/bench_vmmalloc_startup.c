/*
 * bench_vmmalloc_startup.c -- start-up cost of libvmmalloc against
 * VMMALLOC_POOL_SIZE (issue 14), and the pool RAM a small process holds.
 *
 * Model: what every process of a shell pipeline or a make pays: exec a
 * small program under LD_PRELOAD, which mallocs 100 bytes and exits.  For
 * each pool size, REPS runs; the median wall time from fork to exit, and
 * the child's RssShmem (pool pages of a tmpfs file that it has mapped).
 * The slope between the smallest and the largest size is the cost per GiB.
 * The pool directory is a fresh mkdtemp under DIR (default /dev/shm, i.e.
 * tmpfs, where issue 14 measured 0.7 s per GiB), removed at the end.
 *
 * Output (CSV): lib,pool_bytes,median_ms,rss_shmem_kB,pool_file_kB (blocks
 * the pool file holds while the process runs: RAM, on tmpfs), then a line
 *     per_gib_ms,<slope>
 * Usage: bench_vmmalloc_startup [--lib PATH] [--dir DIR] [--reps N]
 *                               [--sizes 64M,1G,4G]
 * (--lib: another build of libvmmalloc, e.g. the base commit's, to compare.)
 * Cannot tell: the cost of the first touch of each page (paid later, as
 * the heap grows, by both versions).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	switch (*end) {
	case 'k': case 'K': return v * 1024;
	case 'm': case 'M': return v * 1024 * 1024;
	case 'g': case 'G': return v * 1024 * 1024 * 1024;
	}
	return v;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Blocks allocated to the (unlinked) pool file, in kB: the RAM a tmpfs
 * pool holds.  The pool file is the open regular file with no links whose
 * size is VMMALLOC_POOL_SIZE (libvmmalloc keeps its fd open). */
static long pool_file_kb(void)
{
	const char *s = getenv("VMMALLOC_POOL_SIZE");
	off_t want = s ? (off_t)parse_size(s) : -1;
	for (int fd = 3; fd < 4096; fd++) {
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_nlink == 0 && st.st_size == want)
			return (long)(st.st_blocks / 2);
	}
	return -1;
}

/* The measured program: malloc, then report RssShmem and the pool file's
 * allocated kB on stdout. */
static int child_main(void)
{
	char *p = malloc(100);
	if (!p)
		return 1;
	memset(p, 1, 100);
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "RssShmem: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	printf("%ld %ld\n", kb, pool_file_kb());
	free(p);
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One run: returns the wall ms, *rss the child's RssShmem (kB). */
static double run_once(const char *lib, const char *dir, const char *size,
		       long *rss, long *file_kb)
{
	int fds[2];
	if (pipe(fds))
		return -1;
	double t0 = now_ms();
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		setenv("LD_PRELOAD", lib, 1);
		setenv("VMMALLOC_POOL_DIR", dir, 1);
		setenv("VMMALLOC_POOL_SIZE", size, 1);
		execl("/proc/self/exe", "bench_vmmalloc_startup", "--child",
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char buf[64] = {0};
	ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	double ms = now_ms() - t0;
	if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	if (sscanf(buf, "%ld %ld", rss, file_kb) != 2)
		return -1;
	return ms;
}

int main(int argc, char **argv)
{
	const char *lib = VMMALLOC_LIB, *base_dir = "/dev/shm";
	char sizes_buf[256] = "64M,1G,4G";
	int reps = 5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--child"))
			return child_main();
		else if (!strcmp(argv[i], "--lib") && i + 1 < argc)
			lib = argv[++i];
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			base_dir = argv[++i];
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
			snprintf(sizes_buf, sizeof(sizes_buf), "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--lib PATH] [--dir DIR] "
				"[--reps N] [--sizes 64M,1G,4G]\n", argv[0]);
			return 2;
		}
	}
	if (reps < 1 || reps > 100)
		return 2;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/vmm_startup.%d.XXXXXX", base_dir,
		 (int)getpid());
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	printf("lib,pool_bytes,median_ms,rss_shmem_kB,pool_file_kB\n");
	double first_b = 0, first_ms = 0, last_b = 0, last_ms = 0;
	int rc = 0, k = 0;
	for (char *save, *s = strtok_r(sizes_buf, ",", &save); s;
	     s = strtok_r(NULL, ",", &save), k++) {
		double t[100];
		long rss = -1, file_kb = -1;
		for (int r = 0; r < reps; r++) {
			t[r] = run_once(lib, dir, s, &rss, &file_kb);
			if (t[r] < 0) {
				fprintf(stderr, "run with pool %s failed\n", s);
				rc = 1;
				goto out;
			}
		}
		qsort(t, (size_t)reps, sizeof(t[0]), cmp_d);
		double med = t[reps / 2], b = parse_size(s);
		printf("%s,%.0f,%.2f,%ld,%ld\n", lib, b, med, rss, file_kb);
		fflush(stdout);
		if (k == 0)
			first_b = b, first_ms = med;
		last_b = b, last_ms = med;
	}
	if (last_b > first_b)
		printf("per_gib_ms,%.2f\n", (last_ms - first_ms) /
						    ((last_b - first_b) / (1 << 30)));
out:
	rmdir(dir);
	return rc;
}
