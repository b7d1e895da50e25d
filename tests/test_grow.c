/*
 * test_grow.c -- growable pools (issue 19, P5 in src/base/pool_format.h):
 * a pool created small with a large maximum grows as the heap runs out, at
 * the same base, in one thread and in several; pm_grow; the limits (the
 * maximum, a full file system: a small tmpfs mounted in a private mount
 * namespace when that is allowed, RLIMIT_FSIZE otherwise and as well);
 * reopen and pm_check after each; bad sizes and damaged size records
 * refused at create and open; a 1 TiB maximum on a sparse file.
 *
 * Model: every object written is read back, by content, after growth and
 * after reopen; pm_walk sees each allocation once and none overlap.
 * test_grow_kill: kill -9 at random moments while two threads allocate
 * (growing the pool) and a third grows it a chunk at a time: every counted
 * object intact, nothing leaked.
 * Cannot catch: power loss during growth (tests/test_regress.c builds those
 * images at every fence, icount's grow_pmalloc at every instruction), nor
 * what only a real DAX device would show.
 */
#define _GNU_SOURCE
#include "test_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define MiB ((size_t)1 << 20)

static off_t file_len(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* The size of object i and its fill byte: small, big-class and large. */
static size_t obj_size(unsigned i)
{
	static const size_t sz[] = { 1000, 100 << 10, 48, 3 << 20, 33000, 4096 };
	return sz[i % 6];
}
static unsigned char obj_fill(unsigned tag, unsigned i)
{
	return (unsigned char)(tag * 31 + i * 7 + 1);
}

static void fill_obj(pm_pool *p, pm_off o, size_t n, unsigned char c)
{
	unsigned char *d = pm_direct(p, o);
	memset(d, c, n);
	pm_persist(p, d, n);
}

static int obj_ok(pm_pool *p, pm_off o, size_t n, unsigned char c)
{
	const unsigned char *d = pm_direct(p, o);
	for (size_t k = 0; k < n; k += 509)
		if (d[k] != c)
			return 0;
	return d[n - 1] == c;
}

struct walk_acc {
	uint64_t n, last_end;
	int overlap;
};
static int walk_cb(pm_off off, size_t usable, void *arg)
{
	struct walk_acc *a = arg;
	if (off < a->last_end)
		a->overlap = 1;
	a->last_end = off + usable;
	a->n++;
	return 0;
}

static void check_walk(pm_pool *p, uint64_t expect)
{
	struct walk_acc a = { 0, 0, 0 };
	assert_int_equal(pm_walk(p, walk_cb, &a), 0);
	assert_false(a.overlap);
	assert_int_equal(a.n, expect);
}

/* One thread fills a growable pool to many times its initial size. */
static void test_grow_one_thread(void **state)
{
	(void)state;
	char path[256];
	test_pool_path(path, sizeof(path), "grow1");
	struct pm_create_opts o = { .max_size = (uint64_t)1 << 30 };
	pm_pool *p = pm_create_ex(path, 4 * MiB, 0, &o);
	assert_non_null(p);
	assert_int_equal(file_len(path), 4 * MiB);
	assert_true(pm_size(p) <= 4 * MiB);
	assert_int_equal(pm_max_size(p), (size_t)1 << 30);
	size_t size0 = pm_size(p);
	void *base = pm_base(p);
	enum { N = 420 };
	pm_off root = pm_root(p, N * sizeof(pm_off));
	assert_true(root != 0);
	pm_off *objs = pm_direct(p, root);
	size_t total = 0;
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(pmalloc(p, &objs[i], obj_size(i)), 0);
		fill_obj(p, objs[i], obj_size(i), obj_fill(0, i));
		total += obj_size(i);
		/* growth keeps the base: every earlier object is where it was */
		if (i % 50 == 49)
			for (unsigned j = 0; j <= i; j++)
				assert_true(obj_ok(p, objs[j], obj_size(j), obj_fill(0, j)));
	}
	assert_ptr_equal(pm_base(p), base);
	assert_true(total > 50 * size0);
	assert_true(pm_size(p) >= total);
	assert_true((size_t)file_len(path) >= pm_size(p));
	assert_pool_ok(p);
	check_walk(p, N + 1);
	size_t grown = pm_size(p);
	pm_close(p);

	p = pm_open(path);
	assert_non_null(p);
	assert_int_equal(pm_size(p), grown);
	assert_int_equal(pm_max_size(p), (size_t)1 << 30);
	objs = pm_direct(p, pm_root(p, N * sizeof(pm_off)));
	for (unsigned j = 0; j < N; j++)
		assert_true(obj_ok(p, objs[j], obj_size(j), obj_fill(0, j)));
	assert_pool_ok(p);
	/* frees and reallocations in the grown pool */
	for (unsigned j = 0; j < N; j += 2)
		assert_int_equal(pfree(p, &objs[j]), 0);
	for (unsigned j = 0; j < N; j += 2) {
		assert_int_equal(pmalloc(p, &objs[j], obj_size(j)), 0);
		fill_obj(p, objs[j], obj_size(j), obj_fill(1, j));
	}
	assert_int_equal(pm_size(p), grown); /* the freed space sufficed */
	check_walk(p, N + 1);
	assert_pool_ok(p);
	pm_close(p);
	struct pm_check_report rep;
	assert_int_equal(pm_check_path(path, &rep), 0);
	assert_int_equal(rep.pool_size, grown);
	assert_int_equal(rep.max_size, (uint64_t)1 << 30);
	unlink(path);
}

/* Several threads allocate at once, each growth shared by whoever waits. */
struct mt_arg {
	pm_pool *p;
	pm_off *objs;
	unsigned tag, n;
	int rc;
};
static void *mt_worker(void *v)
{
	struct mt_arg *a = v;
	for (unsigned i = 0; i < a->n; i++) {
		size_t n = obj_size(i + a->tag);
		if ((a->rc = pmalloc(a->p, &a->objs[i], n)) != 0)
			return NULL;
		fill_obj(a->p, a->objs[i], n, obj_fill(a->tag, i));
	}
	return NULL;
}

static void test_grow_threads(void **state)
{
	(void)state;
	char path[256];
	test_pool_path(path, sizeof(path), "growmt");
	struct pm_create_opts o = { .nlanes = 8, .max_size = (uint64_t)2 << 30 };
	pm_pool *p = pm_create_ex(path, 3 * MiB, 0, &o);
	assert_non_null(p);
	size_t size0 = pm_size(p);
	enum { T = 4, N = 150 };
	pm_off root = pm_root(p, T * N * sizeof(pm_off));
	pm_off *objs = pm_direct(p, root);
	pthread_t th[T];
	struct mt_arg a[T];
	for (unsigned t = 0; t < T; t++) {
		a[t] = (struct mt_arg){ p, objs + t * N, t + 1, N, 0 };
		assert_int_equal(pthread_create(&th[t], NULL, mt_worker, &a[t]), 0);
	}
	for (unsigned t = 0; t < T; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(a[t].rc, 0);
	}
	assert_true(pm_size(p) > 40 * size0);
	for (unsigned t = 0; t < T; t++)
		for (unsigned i = 0; i < N; i++)
			assert_true(obj_ok(p, objs[t * N + i], obj_size(i + t + 1), obj_fill(t + 1, i)));
	check_walk(p, T * N + 1);
	assert_pool_ok(p);
	pm_close(p);
	p = pm_open(path);
	assert_non_null(p);
	objs = pm_direct(p, pm_root(p, T * N * sizeof(pm_off)));
	for (unsigned t = 0; t < T; t++)
		for (unsigned i = 0; i < N; i++)
			assert_true(obj_ok(p, objs[t * N + i], obj_size(i + t + 1), obj_fill(t + 1, i)));
	assert_pool_ok(p);
	pm_close(p);
	unlink(path);
}

/* pm_grow, the maximum, and a fixed pool. */
static void test_grow_explicit_and_max(void **state)
{
	(void)state;
	char path[256];
	test_pool_path(path, sizeof(path), "growmax");
	struct pm_create_opts o = { .max_size = 40 * MiB };
	pm_pool *p = pm_create_ex(path, 4 * MiB, 0, &o);
	assert_non_null(p);
	assert_int_equal(pm_grow(p, 20 * MiB), 0);
	assert_true(pm_size(p) >= 20 * MiB);
	assert_true((size_t)file_len(path) >= 20 * MiB);
	size_t s = pm_size(p);
	assert_int_equal(pm_grow(p, 10 * MiB), 0); /* smaller: nothing to do */
	assert_int_equal(pm_size(p), s);
	assert_int_equal(pm_grow(p, 41 * MiB), PM_EINVAL);
	assert_non_null(strstr(pm_errormsg(), "maximum"));
	assert_int_equal(pm_size(p), s);
	/* fill to the maximum: then PM_ENOSPC, saying so, and still usable */
	enum { N = 64 };
	pm_off root = pm_root(p, N * sizeof(pm_off));
	pm_off *objs = pm_direct(p, root);
	unsigned n = 0;
	int rc = 0;
	while (n < N && (rc = pmalloc(p, &objs[n], MiB)) == 0)
		n++;
	assert_int_equal(rc, PM_ENOSPC);
	assert_non_null(strstr(pm_errormsg(), "maximum size"));
	assert_true(n >= 30);
	assert_true(pm_size(p) <= 40 * MiB);
	assert_pool_ok(p);
	assert_int_equal(pfree(p, &objs[0]), 0);
	assert_int_equal(pmalloc(p, &objs[0], MiB), 0);
	assert_pool_ok(p);
	/* a transaction at the maximum aborts cleanly */
	assert_int_equal(tx_begin(p), 0);
	assert_int_equal(tx_pmalloc(8 * MiB), 0);
	assert_int_equal(tx_end(), PM_ENOSPC);
	assert_pool_ok(p);
	pm_close(p);
	assert_non_null(p = pm_open(path));
	assert_pool_ok(p);
	pm_close(p);
	unlink(path);

	/* a fixed-size pool does not grow */
	p = pm_create(path, 8 * MiB, 0);
	assert_non_null(p);
	assert_int_equal(pm_max_size(p), 8 * MiB);
	assert_int_equal(pm_grow(p, 16 * MiB), PM_EINVAL);
	pm_off *big = pm_direct(p, pm_root(p, sizeof(pm_off)));
	assert_int_equal(pmalloc(p, big, 16 * MiB), PM_ENOSPC);
	assert_int_equal(pm_size(p), 8 * MiB);
	pm_close(p);
	unlink(path);
}

static void test_grow_bad_sizes(void **state)
{
	(void)state;
	char path[256];
	test_pool_path(path, sizeof(path), "growbad");
	/* the table is sized for the maximum: the initial size must hold it */
	struct pm_create_opts o = { .max_size = (uint64_t)1 << 40 };
	assert_null(pm_create_ex(path, 8 * MiB, 0, &o));
	assert_int_equal(pm_last_error(), PM_ETOOSMALL);
	assert_non_null(strstr(pm_errormsg(), "chunk table"));
	assert_int_equal(access(path, F_OK), -1);
	o.max_size = (uint64_t)65 << 40;
	assert_null(pm_create_ex(path, 8 * MiB, 0, &o));
	assert_int_equal(pm_last_error(), PM_EINVAL);
	/* a maximum below the size is a fixed pool of that size */
	o.max_size = 1;
	pm_pool *p = pm_create_ex(path, 8 * MiB, 0, &o);
	assert_non_null(p);
	assert_int_equal(pm_max_size(p), 8 * MiB);
	pm_close(p);
	unlink(path);
}

/* A 1 TiB maximum: the file is sparse, the heap grows in steps. */
static void test_grow_terabyte(void **state)
{
	(void)state;
	char path[256];
	test_pool_path(path, sizeof(path), "growtb");
	struct pm_create_opts o = { .nlanes = 4, .max_size = (uint64_t)1 << 40 };
	pm_pool *p = pm_create_ex(path, 40 * MiB, 0, &o);
	assert_non_null(p);
	assert_int_equal(pm_max_size(p), (size_t)1 << 40);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	/* the 32 MiB table for the maximum is a hole, not blocks */
	assert_true((uint64_t)st.st_blocks * 512 < 16 * MiB);
	pm_off *ab = pm_direct(p, pm_root(p, 2 * sizeof(pm_off)));
	assert_int_equal(pmalloc(p, &ab[0], 100 * MiB), 0);
	assert_int_equal(pmalloc(p, &ab[1], 300 * MiB), 0);
	assert_true(pm_size(p) >= 400 * MiB);
	fill_obj(p, ab[0], 4096, 0x5a);
	pm_close(p);
	assert_non_null(p = pm_open(path));
	ab = pm_direct(p, pm_root(p, 2 * sizeof(pm_off)));
	assert_true(obj_ok(p, ab[0], 4096, 0x5a));
	assert_true(pm_usable_size(p, ab[1]) >= 300 * MiB);
	assert_pool_ok(p);
	/* a backup holds the table's pages in use, not the 32 MiB of the
	 * maximum's (100 MiB of the objects are unwritten zeroes: counted) */
	char bk[300], to[300];
	snprintf(bk, sizeof(bk), "%s.backup", path);
	snprintf(to, sizeof(to), "%s.restored", path);
	unlink(bk);
	unlink(to);
	struct pm_backup_stats bs;
	struct pm_backup_opts bo = { .stats = &bs };
	assert_int_equal(pm_backup(p, bk, &bo), 0);
	size_t used = (size_t)bs.used_chunks * (256u << 10);
	assert_true(bs.bytes < used + 8 * MiB);
	pm_close(p);
	assert_int_equal(pm_restore(bk, to, NULL), 0);
	assert_non_null(p = pm_open(to));
	assert_int_equal(pm_max_size(p), (size_t)1 << 40);
	ab = pm_direct(p, pm_root(p, 2 * sizeof(pm_off)));
	assert_true(obj_ok(p, ab[0], 4096, 0x5a));
	assert_pool_ok(p);
	pm_close(p);
	unlink(bk);
	unlink(to);
	unlink(path);
}

/* Damaged or changed size records: refused, or opened at the recorded size. */
static void test_grow_file_vs_record(void **state)
{
	(void)state;
	char path[256];
	test_pool_path(path, sizeof(path), "growrec");
	struct pm_create_opts o = { .max_size = 64 * MiB };
	pm_pool *p = pm_create_ex(path, 4 * MiB, 0, &o);
	assert_non_null(p);
	assert_int_equal(pm_grow(p, 12 * MiB), 0);
	size_t rec = pm_size(p);
	pm_off *x = pm_direct(p, pm_root(p, sizeof(pm_off)));
	assert_int_equal(pmalloc(p, x, 64), 0);
	pm_close(p);

	/* extended but never recorded (a crash after G1): opens at the
	 * recorded size; the next growth takes the tail */
	assert_int_equal(truncate(path, (off_t)(20 * MiB)), 0);
	assert_non_null(p = pm_open(path));
	assert_int_equal(pm_size(p), rec);
	assert_pool_ok(p);
	assert_int_equal(pm_grow(p, 24 * MiB), 0);
	assert_true(pm_size(p) >= 24 * MiB);
	rec = pm_size(p);
	pm_close(p);
	assert_int_equal(file_len(path), (off_t)rec);

	/* shorter than recorded, or longer than the maximum: refused */
	assert_int_equal(truncate(path, (off_t)(rec - 4096)), 0);
	assert_null(pm_open(path));
	assert_int_equal(pm_last_error(), PM_ECORRUPT);
	assert_non_null(strstr(pm_errormsg(), "heap of"));
	struct pm_check_report rep;
	assert_int_not_equal(pm_check_path(path, &rep), 0);
	assert_int_equal(truncate(path, (off_t)rec), 0);
	assert_non_null(p = pm_open(path));
	pm_close(p);
	assert_int_equal(truncate(path, (off_t)(65 * MiB)), 0);
	assert_null(pm_open(path));
	assert_int_equal(pm_last_error(), PM_ECORRUPT);
	assert_int_equal(truncate(path, (off_t)rec), 0);

	/* the recorded count damaged: 0, past the maximum */
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint64_t hc, bad;
	const off_t where = 4096 + 32; /* pool_desc.heap_chunks */
	assert_int_equal(pread(fd, &hc, 8, where), 8);
	uint64_t bads[] = { 0, 1u << 30, hc + 1 };
	for (unsigned i = 0; i < 3; i++) {
		bad = bads[i];
		assert_int_equal(pwrite(fd, &bad, 8, where), 8);
		assert_null(pm_open(path));
		assert_int_equal(pm_last_error(), PM_ECORRUPT);
		assert_int_not_equal(pm_check_path(path, &rep), 0);
	}
	assert_int_equal(pwrite(fd, &hc, 8, where), 8);
	close(fd);
	assert_non_null(p = pm_open(path));
	assert_pool_ok(p);
	pm_close(p);
	unlink(path);
}

/* Fill until the file system says no; the pool stays consistent. */
static int fill_until_full(const char *path, size_t max)
{
	struct pm_create_opts o = { .nlanes = 4, .max_size = max };
	pm_pool *p = pm_create_ex(path, 2 * MiB, 0, &o);
	if (!p)
		return 10;
	enum { N = 1024 };
	pm_off root = pm_root(p, N * sizeof(pm_off));
	pm_off *objs = pm_direct(p, root);
	unsigned n = 0;
	int rc = 0;
	while (n < N && (rc = pmalloc(p, &objs[n], 512 << 10)) == 0) {
		fill_obj(p, objs[n], 512 << 10, (unsigned char)n);
		n++;
	}
	if (rc != PM_ENOSPC || !strstr(pm_errormsg(), "growing the file")) {
		fprintf(stderr, "fill: rc %d after %u: %s\n", rc, n, pm_errormsg());
		return 11;
	}
	struct pm_check_report rep;
	if (pm_check(p, &rep) != 0 || n < 4)
		return 12;
	/* still usable: free one, take it again */
	if (pfree(p, &objs[0]) || pmalloc(p, &objs[0], 512 << 10))
		return 13;
	fill_obj(p, objs[0], 512 << 10, 0);
	pm_close(p);
	if (!(p = pm_open(path)))
		return 14;
	objs = pm_direct(p, pm_root(p, N * sizeof(pm_off)));
	for (unsigned i = 0; i < n; i++)
		if (!obj_ok(p, objs[i], 512 << 10, (unsigned char)i))
			return 15;
	if (pm_check(p, &rep) != 0)
		return 16;
	pm_close(p);
	unlink(path);
	return 0;
}

static void test_grow_fs_full(void **state)
{
	(void)state;
	char path[256];
	/* RLIMIT_FSIZE: the file may not pass 20 MiB (EFBIG, as ENOSPC) */
	test_pool_path(path, sizeof(path), "growfsize");
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = { 20 * MiB, 20 * MiB };
		setrlimit(RLIMIT_FSIZE, &rl);
		_exit(fill_until_full(path, (size_t)1 << 30));
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	unlink(path);

	/* a real full file system: a 24 MiB tmpfs in a mount namespace of
	 * the child's own (root only; skipped where mounting is not allowed) */
	char dir[] = "/tmp/pmstore-test-growfs.XXXXXX";
	assert_non_null(mkdtemp(dir));
	pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("tmpfs", dir, "tmpfs", 0, "size=24m"))
			_exit(77);
		snprintf(path, sizeof(path), "%s/pool", dir);
		_exit(fill_until_full(path, (size_t)1 << 30));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	rmdir(dir);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		fprintf(stderr, "test_grow_fs_full: cannot mount a tmpfs here; the RLIMIT_FSIZE part ran\n");
	else
		assert_int_equal(WEXITSTATUS(st), 0);
}

/* A grown pool backed up and restored: same size, same objects, still
 * growable up to the same maximum. */
static void test_grow_backup_restore(void **state)
{
	(void)state;
	char path[256], bk[300], to[300];
	test_pool_path(path, sizeof(path), "growbk");
	snprintf(bk, sizeof(bk), "%s.backup", path);
	snprintf(to, sizeof(to), "%s.restored", path);
	unlink(bk);
	unlink(to);
	struct pm_create_opts o = { .nlanes = 4, .max_size = 256 * MiB };
	pm_pool *p = pm_create_ex(path, 4 * MiB, 0, &o);
	assert_non_null(p);
	enum { N = 40 };
	pm_off *objs = pm_direct(p, pm_root(p, N * sizeof(pm_off)));
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(pmalloc(p, &objs[i], obj_size(i)), 0);
		fill_obj(p, objs[i], obj_size(i), obj_fill(3, i));
	}
	size_t grown = pm_size(p);
	assert_true(grown > 16 * MiB);
	assert_int_equal(pm_backup(p, bk, NULL), 0);
	pm_close(p);
	assert_int_equal(pm_restore(bk, to, NULL), 0);
	assert_non_null(p = pm_open(to));
	assert_int_equal(pm_size(p), grown);
	assert_int_equal(pm_max_size(p), 256 * MiB);
	objs = pm_direct(p, pm_root(p, N * sizeof(pm_off)));
	for (unsigned i = 0; i < N; i++)
		assert_true(obj_ok(p, objs[i], obj_size(i), obj_fill(3, i)));
	assert_int_equal(pm_grow(p, grown + 8 * MiB), 0);
	assert_pool_ok(p);
	pm_close(p);
	unlink(path);
	unlink(bk);
	unlink(to);
}

/* kill -9 while two threads allocate (and so grow the pool): after each
 * kill the pool opens, checks clean, holds every counted object with its
 * contents, and nothing is leaked (the in-flight one is there or not). */
#define KN 1500
struct kroot {
	uint64_t count[2];
	pm_off objs[2][KN];
};
static size_t kill_size(unsigned i)
{
	static const size_t sz[] = { 4096, 100 << 10, 700, 40000, 300 << 10, 64 };
	return sz[i % 6];
}
struct kill_arg {
	pm_pool *p;
	struct kroot *r;
	unsigned t;
};
static void *kill_worker(void *v)
{
	struct kill_arg *a = v;
	struct kroot *r = a->r;
	for (uint64_t i = r->count[a->t]; i < KN; i++) {
		if (pmalloc(a->p, &r->objs[a->t][i], kill_size((unsigned)i)))
			break;
		fill_obj(a->p, r->objs[a->t][i], kill_size((unsigned)i), obj_fill(a->t + 5, (unsigned)i));
		r->count[a->t] = i + 1;
		pm_persist(a->p, &r->count[a->t], 8);
	}
	return NULL;
}

/* and a third thread growing it a chunk at a time */
static void *kill_grower(void *v)
{
	pm_pool *p = v;
	while (pm_size(p) + (256u << 10) <= pm_max_size(p) && pm_grow(p, pm_size(p) + (256u << 10)) == 0) {
		struct timespec ts = { 0, 300000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void test_grow_kill(void **state)
{
	(void)state;
	char path[256];
	test_pool_path(path, sizeof(path), "growkill");
	struct pm_create_opts o = { .nlanes = 4, .max_size = 512 * MiB };
	pm_pool *p = pm_create_ex(path, 2 * MiB, 0, &o);
	assert_non_null(p);
	assert_true(pm_root(p, sizeof(struct kroot)) != 0);
	pm_close(p);
	unsigned seed = (unsigned)(getenv("PMSTORE_GROW_SEED") ? atoi(getenv("PMSTORE_GROW_SEED"))
	                                                       : getpid());
	fprintf(stderr, "  test_grow_kill: seed %u (PMSTORE_GROW_SEED)\n", seed);
	srand(seed);
	unsigned rounds = 0, grew = 0;
	unsigned nrounds = getenv("PMSTORE_GROW_ROUNDS") ? (unsigned)atoi(getenv("PMSTORE_GROW_ROUNDS")) : 25;
	size_t prev = 0;
	for (; rounds < nrounds; rounds++) {
		pid_t pid = fork();
		if (pid == 0) {
			pm_pool *c = pm_open(path);
			if (!c)
				_exit(3);
			struct kroot *r = pm_direct(c, pm_root(c, sizeof(struct kroot)));
			/* an object allocated but not counted before the kill */
			for (unsigned t = 0; t < 2; t++)
				if (r->count[t] < KN && r->objs[t][r->count[t]])
					pfree(c, &r->objs[t][r->count[t]]);
			pthread_t th[3];
			struct kill_arg ka[2] = { { c, r, 0 }, { c, r, 1 } };
			for (unsigned t = 0; t < 2; t++)
				pthread_create(&th[t], NULL, kill_worker, &ka[t]);
			pthread_create(&th[2], NULL, kill_grower, c);
			for (unsigned t = 0; t < 3; t++)
				pthread_join(th[t], NULL);
			pm_close(c);
			_exit(0);
		}
		struct timespec ts = { 0, (long)(2 + rand() % 40) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		assert_false(WIFEXITED(st) && WEXITSTATUS(st) != 0);
		p = pm_open(path);
		if (!p)
			fprintf(stderr, "round %u: %s\n", rounds, pm_errormsg());
		assert_non_null(p);
		assert_pool_ok(p);
		struct kroot *r = pm_direct(p, pm_root(p, sizeof(struct kroot)));
		uint64_t live = 0;
		for (unsigned t = 0; t < 2; t++) {
			assert_true(r->count[t] <= KN);
			for (uint64_t i = 0; i < r->count[t]; i++)
				assert_true(obj_ok(p, r->objs[t][i], kill_size((unsigned)i),
				                   obj_fill(t + 5, (unsigned)i)));
			live += r->count[t];
			if (r->count[t] < KN && r->objs[t][r->count[t]]) {
				assert_true(pm_usable_size(p, r->objs[t][r->count[t]]) >=
				            kill_size((unsigned)r->count[t]));
				live++;
			}
		}
		check_walk(p, live + 1);
		grew += pm_size(p) > prev; /* the pool grew in this round */
		prev = pm_size(p);
		int full = r->count[0] == KN && r->count[1] == KN;
		pm_close(p);
		if (full) { /* a fresh pool: growth again from 2 MiB */
			unlink(path);
			p = pm_create_ex(path, 2 * MiB, 0, &o);
			assert_non_null(p);
			assert_true(pm_root(p, sizeof(struct kroot)) != 0);
			pm_close(p);
			prev = 0;
		}
	}
	fprintf(stderr, "  test_grow_kill: %u kill rounds, the pool grew in %u of them\n", rounds, grew);
	assert_true(grew > 0);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_one_thread),
		cmocka_unit_test(test_grow_threads),
		cmocka_unit_test(test_grow_explicit_and_max),
		cmocka_unit_test(test_grow_bad_sizes),
		cmocka_unit_test(test_grow_terabyte),
		cmocka_unit_test(test_grow_file_vs_record),
		cmocka_unit_test(test_grow_fs_full),
		cmocka_unit_test(test_grow_backup_restore),
		cmocka_unit_test(test_grow_kill),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
