/*
 * test_vmmalloc_fork.c -- VMMALLOC_FORK modes with threads and nested forks.
 *
 * Run once per mode (CTest sets VMMALLOC_FORK).  The parent keeps two
 * threads allocating while it forks; the child checks the heap it inherited,
 * allocates with its own threads, and forks a grandchild that does the same.
 * Checks in every mode: the child's writes never reach the parent, and the
 * child does not see what the parent writes after the fork (a snapshot).
 * Checks per mode:
 *   0  the parent's mapping stays shared, the child's is private (it got a
 *      snapshot; on the base commit the child wrote into the parent's heap,
 *      which crashed bash);
 *   1  after fork the pool mapping is private (copy-on-write) in both, and
 *      the child's writes do not reach the parent;
 *   2  the child runs on its own pool file (another inode, still shared);
 *   3  as 2; with --rmdir (the pool directory is removed first, so no copy
 *      can be made) it falls back to 1;
 *   2 with --rmdir: the child cannot get its copy and exits with status 1.
 * Exit status 0 = all checks passed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vm_test_util.h"

#define CHECK(c)                                                              \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "[%d] %s:%d: check failed: %s\n",     \
				(int)getpid(), __FILE__, __LINE__, #c);       \
			exit(3);                                              \
		}                                                             \
	} while (0)

static atomic_int stop;
static uintptr_t pool_lo, pool_hi; /* the parent's pool mapping */

/* Allocate, fill, verify, free; returns NULL if every byte was ours. */
static void *churn(void *arg)
{
	uintptr_t tag = (uintptr_t)arg;
	unsigned char *slot[64] = {0};
	size_t len[64];
	uint64_t x = 0x12345 + tag;
	for (long i = 0; !atomic_load(&stop) || i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		unsigned s = (unsigned)(x % 64);
		if (slot[s]) {
			for (size_t k = 0; k < len[s]; k += 97)
				if (slot[s][k] != (unsigned char)tag)
					return (void *)1;
			free(slot[s]);
			slot[s] = NULL;
		} else {
			len[s] = 1 + (x >> 33) % 9000;
			slot[s] = malloc(len[s]);
			if (!slot[s])
				return (void *)2;
			memset(slot[s], (int)tag, len[s]);
		}
		if (i > 2000000)
			break;
	}
	for (int s = 0; s < 64; s++)
		free(slot[s]);
	return NULL;
}

static void run_threads(int n, uintptr_t tag0)
{
	pthread_t t[4];
	for (int i = 0; i < n; i++)
		CHECK(pthread_create(&t[i], NULL, churn, (void *)(tag0 + i)) == 0);
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++) {
		void *r;
		pthread_join(t[i], &r);
		CHECK(r == NULL);
	}
}

/* What a child (or grandchild) checks and does; returns its exit status. */
static int child_body(char *shared, int mode, unsigned long parent_ino,
		      int depth)
{
	struct vm_map m;
	CHECK(strcmp(shared, "parent") == 0);
	CHECK(vm_find_map(shared, &m) == 0);
	if (mode == 0 || mode == 1)
		CHECK(m.perms[3] == 'p');
	if (mode == 2 || mode == 3) {
		CHECK(m.perms[3] == 's');
		CHECK(m.inode != parent_ino); /* a pool file of its own */
	}
	strcpy(shared, "child"); /* must not reach the parent */
	run_threads(2, 10 + 2 * (uintptr_t)depth);
	char *mine = malloc(1000);
	/* Private or not, same range; in mode 0 the used part is the
	 * snapshot, anonymous memory moved over the pool's start. */
	CHECK(mine && (mode == 0 ? (uintptr_t)mine >= pool_lo &&
					   (uintptr_t)mine < pool_hi
				 : vm_in_pool(mine)));
	if (depth == 0) {
		/* Nested: the grandchild sees "child", not "parent". */
		strcpy(shared, "parent");
		pid_t g = fork();
		CHECK(g >= 0);
		if (g == 0)
			_exit(child_body(shared, mode, m.inode, 1));
		int st;
		CHECK(waitpid(g, &st, 0) == g);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	free(mine);
	return 0;
}

int main(int argc, char **argv)
{
	const char *fm = getenv("VMMALLOC_FORK");
	int mode = fm ? atoi(fm) : 1;
	int rm = argc > 1 && strcmp(argv[1], "--rmdir") == 0;
	char *shared = malloc(64);
	CHECK(shared && vm_in_pool(shared));
	strcpy(shared, "parent");
	char *later = malloc(64); /* the parent changes it after the fork */
	CHECK(later && vm_in_pool(later));
	strcpy(later, "before");
	int sync[2];
	CHECK(pipe(sync) == 0);
	struct vm_map m;
	CHECK(vm_find_map(shared, &m) == 0 && m.perms[3] == 's');
	unsigned long ino = m.inode;
	pool_lo = m.start;
	pool_hi = m.end;
	if (rm) /* the pool file is unlinked: the directory is empty */
		CHECK(rmdir(getenv("VMMALLOC_POOL_DIR")) == 0);

	/* Threads keep allocating while we fork. */
	pthread_t t[2];
	for (uintptr_t i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0);
	usleep(1000);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char c;
		CHECK(read(sync[0], &c, 1) == 1); /* parent has written later */
		CHECK(strcmp(later, "before") == 0);
		int effective = (mode == 3 && rm) ? 1 : mode;
		_exit(child_body(shared, effective, ino, 0));
	}
	strcpy(later, "after");
	CHECK(write(sync[1], "x", 1) == 1);
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++) {
		void *r;
		pthread_join(t[i], &r);
		CHECK(r == NULL);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	if (mode == 2 && rm) {
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1); /* no copy */
	} else {
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CHECK(strcmp(shared, "parent") == 0);
	CHECK(vm_find_map(shared, &m) == 0);
	CHECK(m.perms[3] == ((mode == 1 || (mode == 3 && rm)) ? 'p' : 's'));
	run_threads(2, 20); /* the parent's heap still works */
	free(shared);
	printf("fork mode %d%s: ok\n", mode, rm ? " (no pool dir)" : "");
	return 0;
}
