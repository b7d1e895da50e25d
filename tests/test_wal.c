/*
 * test_wal.c -- WAL mode (PMSTORE_WAL=1, src/flush/wal.c).
 *
 * The crash check.  A child process runs N operations in WAL mode on a
 * pool with a log too big to checkpoint -- each a transaction that writes
 * its number into all of a root's words (and allocates or frees an
 * object) -- recording after each returns where the log ended, and exits
 * without closing: the pool file is as created, and the log holds every
 * frame.  A power loss keeps some prefix of the log (frames are written
 * in order, but the device may keep any prefix of what was not synced,
 * and anything past it may be torn or stale).  For every frame boundary t
 * (and torn cuts inside frames, and stale or random bytes after the cut),
 * the parent builds that image, opens it and checks durable
 * linearizability: the words are all equal to some k, k is the last
 * operation whose frames end at or before t, or the next one (the one in
 * flight), the object count matches k, and pm_check passes.  Every
 * operation that returned before the cut is there.
 *
 * What it cannot see: a power loss that keeps a frame but not an earlier
 * one (the device reordering within the unsynced tail) is the same as a
 * cut at the earlier frame plus stale bytes after it, which is covered; a
 * failure of fdatasync itself is not simulated.
 */
#include "test_common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/seeded_bugs.h"
#include "base/types.h"
#include "flush/flush.h"
#include "pool/repair.h"

#define NW 16
#define NOPS 40

struct root {
	uint64_t w[NW];
	pm_off obj[NOPS];
	uint64_t nobj;
};

static char path[256], wal[300], img[300], imgwal[310];

#define R(p) ((struct root *)pm_direct((p), pm_root((p), sizeof(struct root))))



/* One operation: op k writes k into every word, and allocates object k
 * (odd k frees the newest instead when there is one). */
static int one_op(pm_pool *p, uint64_t k)
{
	struct root *r = R(p);
	int rc = tx_begin(p);
	if (rc)
		return rc;
	tx_add(r, sizeof(*r));
	for (unsigned i = 0; i < NW; i++)
		r->w[i] = k;
	if (k % 3 == 2 && r->nobj) {
		r->nobj--;
		tx_pfree(r->obj[r->nobj]);
		r->obj[r->nobj] = 0;
	} else {
		r->obj[r->nobj++] = tx_pzalloc(200 + 8 * k);
	}
	return tx_end();
}

static uint64_t objs_after(uint64_t k)
{
	uint64_t n = 0;
	for (uint64_t j = 1; j <= k; j++)
		if (j % 3 == 2 && n)
			n--;
		else
			n++;
	return n;
}

/* the child: N ops, the log's end after each into ends[] (a pipe) */
static void child(int wfd)
{
	setenv("PMSTORE_WAL", "1", 1);
	setenv("PMSTORE_WAL_SIZE", "1048576", 1); /* 1 MiB: 40 ops fit, images stay small */
	pm_pool *p = pm_open(path);
	if (!p)
		_exit(3);
	uint64_t ends[NOPS + 1];
	struct flush_wal_stats st;
	flush_wal_stats(p->wal, &st);
	ends[0] = st.end;
	for (uint64_t k = 1; k <= NOPS; k++) {
		if (one_op(p, k))
			_exit(4);
		flush_wal_stats(p->wal, &st);
		ends[k] = st.synced_end; /* what the op's return promised */
	}
	if (write(wfd, ends, sizeof(ends)) != (ssize_t)sizeof(ends))
		_exit(5);
	_exit(0); /* a crash: no close, no checkpoint */
}

static unsigned nimages, nfails;

/* Open the image (pool + log variant) and check it against [lo, hi]. */
static void check_image(const uint8_t *pool, size_t plen, const uint8_t *log, size_t llen,
                        uint64_t lo, uint64_t hi, const char *what, size_t t)
{
	test_spit(img, pool, plen);
	test_spit(imgwal, log, llen);
	nimages++;
	unsetenv("PMSTORE_WAL");
	pm_pool *p = pm_open(img);
	if (!p) {
		fprintf(stderr, "  %s cut %zu: open failed: %s\n", what, t, pm_errormsg());
		nfails++;
		return;
	}
	struct root *r = R(p);
	uint64_t k = r->w[0];
	int bad = k < lo || k > hi;
	for (unsigned i = 1; i < NW; i++)
		bad |= r->w[i] != k;
	bad |= r->nobj != objs_after(k);
	struct pm_check_report rep;
	bad |= pm_check(p, &rep) != 0;
	if (bad) {
		fprintf(stderr, "  %s cut %zu: words %llu..%llu, want %llu or %llu; %llu objects (want %llu)\n",
		        what, t, (unsigned long long)k, (unsigned long long)r->w[NW - 1],
		        (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)r->nobj,
		        (unsigned long long)objs_after(k));
		nfails++;
	}
	pm_close(p);
	struct stat st;
	if (stat(imgwal, &st) == 0) { /* opened without WAL mode: removed */
		fprintf(stderr, "  %s cut %zu: the log is still there\n", what, t);
		nfails++;
	}
}

static void test_wal_crash_prefixes(void **st)
{
	(void)st;
	test_pool_path(path, sizeof(path), "wal");
	snprintf(wal, sizeof(wal), "%s.wal", path);
	snprintf(img, sizeof(img), "%s.img", path);
	snprintf(imgwal, sizeof(imgwal), "%s.wal", img);
	unsetenv("PMSTORE_WAL");
	pm_pool *p = pm_create(path, PM_MIN_POOL_SIZE, 0600);
	assert_non_null(p);
	assert_non_null(R(p));
	pm_close(p);
	size_t plen;
	uint8_t *pool = test_slurp(path, &plen);
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		child(pfd[1]);
	}
	close(pfd[1]);
	uint64_t ends[NOPS + 1];
	assert_int_equal(read(pfd[0], ends, sizeof(ends)), (ssize_t)sizeof(ends));
	close(pfd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the pool file was not written in WAL mode (no checkpoint) */
	size_t plen2;
	uint8_t *pool2 = test_slurp(path, &plen2);
	assert_int_equal(plen2, plen);
	assert_memory_equal(pool2, pool, plen);
	free(pool2);
	/* pm_check_path checks what pm_open would see: the log applied (to
	 * its private copy; the files stay as they are) */
	struct pm_check_report rep;
	assert_int_equal(pm_check_path(path, &rep), 0);
	fprintf(stderr, "  pm_check_path before any open: %llu objects (root + %llu)\n",
	        (unsigned long long)rep.objects, (unsigned long long)objs_after(NOPS));
	assert_int_equal(rep.objects, 1 + objs_after(NOPS));
	size_t llen;
	uint8_t *log = test_slurp(wal, &llen);
	assert_true(ends[NOPS] <= llen);
	uint8_t *var = malloc(llen);
	assert_non_null(var);
	/* the frame boundaries: walk the log */
	size_t at = 4096;
	unsigned nb = 0;
	size_t *bound = malloc(sizeof(size_t) * 100000);
	assert_non_null(bound);
	bound[nb++] = at;
	while (at + 40 <= ends[NOPS]) {
		const uint64_t *f = (const uint64_t *)(log + at);
		at += (f[3] >> 32) * 8;
		bound[nb++] = at;
	}
	assert_int_equal(at, ends[NOPS]);
	fprintf(stderr, "  %u ops, %u frames, log %llu bytes\n", NOPS, nb - 1,
	        (unsigned long long)(ends[NOPS] - 4096));
	srand(7);
	for (unsigned b = 0; b < nb; b++) {
		size_t t = bound[b];
		/* lo: the last op whose promise is at or before t */
		uint64_t lo = 0;
		while (lo < NOPS && ends[lo + 1] <= t)
			lo++;
		uint64_t hi = lo < NOPS ? lo + 1 : lo;
		/* (a) the tail zero (the file as preallocated) */
		memcpy(var, log, t);
		memset(var + t, 0, llen - t);
		check_image(pool, plen, var, llen, lo, hi, "zero tail", t);
		/* (b) a torn next frame: its first half */
		if (b + 1 < nb) {
			size_t half = t + ((bound[b + 1] - t) / 16) * 8;
			memcpy(var, log, half);
			check_image(pool, plen, var, llen, lo, hi, "torn frame", t);
		}
		/* (c) random bytes after the cut */
		memcpy(var, log, t);
		for (size_t i = t; i < llen && i < t + 65536; i++)
			var[i] = (uint8_t)rand();
		check_image(pool, plen, var, llen, lo, hi, "random tail", t);
		/* (d) a hole: the next frame lost, the rest kept (out of order
		 * write-back of the unsynced tail) */
		if (b + 2 < nb) {
			memcpy(var, log, llen);
			memset(var + t, 0, bound[b + 1] - t);
			check_image(pool, plen, var, llen, lo, hi, "hole", t);
		}
	}
	/* the whole log: every op that returned */
	check_image(pool, plen, log, llen, NOPS, NOPS, "whole log", llen);
	fprintf(stderr, "  %u images, %u failures\n", nimages, nfails);
	assert_int_equal(nfails, 0);
	free(bound);
	free(var);
	free(log);
	free(pool);
	unlink(path);
	unlink(wal);
	unlink(img);
	unlink(imgwal);
}

/* Checkpoints (a log of 1 MiB fills many times), close, reopen in both
 * modes: nothing lost; a pool opened without WAL mode loses its log. */
static void test_wal_checkpoints_and_modes(void **st)
{
	(void)st;
	test_pool_path(path, sizeof(path), "walck");
	snprintf(wal, sizeof(wal), "%s.wal", path);
	setenv("PMSTORE_WAL", "1", 1);
	setenv("PMSTORE_WAL_SIZE", "1048576", 1);
	pm_pool *p = pm_create(path, PM_MIN_POOL_SIZE, 0600);
	assert_non_null(p);
	assert_non_null(p->wal);
	assert_string_equal(p->ops->name, "wal");
	struct root *r = R(p);
	for (uint64_t k = 1; k <= 3000; k++) {
		assert_int_equal(tx_begin(p), 0);
		tx_add(r->w, sizeof(r->w));
		for (unsigned i = 0; i < NW; i++)
			r->w[i] = k;
		assert_int_equal(tx_end(), 0);
		pm_off *o = &r->obj[0]; /* the destination: a word in the pool */
		int ar = pmalloc(p, o, 4000);
		if (ar)
			fprintf(stderr, "  op %llu: pmalloc: %d %s\n", (unsigned long long)k, ar, pm_errormsg());
		assert_int_equal(ar, 0);
		assert_true(*o != 0);
		int fr = pfree(p, o);
		if (fr)
			fprintf(stderr, "  op %llu: pfree: %d %s\n", (unsigned long long)k, fr, pm_errormsg());
		assert_int_equal(fr, 0);
	}
	struct flush_wal_stats s;
	flush_wal_stats(p->wal, &s);
	fprintf(stderr, "  3000 tx + 3000 alloc/free pairs: %lu frames, %lu syncs, %lu checkpoints\n",
	        s.frames, s.syncs, s.checkpoints);
	assert_true(s.checkpoints >= 2);
	/* one sync per operation: tx, pmalloc, pfree (recovery at create
	 * adds a few) */
	assert_true(s.syncs <= 3 * 3000 + 20);
	assert_pool_ok(p);
	pm_close(p);
	struct stat sst;
	assert_int_equal(stat(wal, &sst), 0); /* kept in WAL mode */
	p = pm_open(path);
	assert_non_null(p);
	assert_int_equal(R(p)->w[NW - 1], 3000);
	/* pm_persist inside a transaction still promises durability: it
	 * syncs, though the transaction's own fences do not */
	assert_int_equal(tx_begin(p), 0);
	flush_wal_stats(p->wal, &s);
	unsigned long before = s.syncs;
	R(p)->nobj = 77;
	assert_int_equal(pm_persist(p, &R(p)->nobj, 8), 0);
	flush_wal_stats(p->wal, &s);
	assert_true(s.syncs > before);
	assert_int_equal(tx_end(), 0);
	pm_close(p);
	unsetenv("PMSTORE_WAL");
	unsetenv("PMSTORE_WAL_SIZE");
	p = pm_open(path);
	assert_non_null(p);
	assert_null(p->wal);
	assert_int_equal(R(p)->w[0], 3000);
	assert_int_equal(R(p)->nobj, 77);
	assert_pool_ok(p);
	pm_close(p);
	assert_int_equal(stat(wal, &sst), -1); /* replayed and removed */
	unlink(path);
}

/* A stale log next to a new pool of the same name is not applied. */
static void test_wal_foreign_log_ignored(void **st)
{
	(void)st;
	test_pool_path(path, sizeof(path), "walfor");
	snprintf(wal, sizeof(wal), "%s.wal", path);
	setenv("PMSTORE_WAL", "1", 1);
	pm_pool *p = pm_create(path, PM_MIN_POOL_SIZE, 0600);
	assert_non_null(p);
	for (uint64_t k = 1; k <= 10; k++)
		assert_int_equal(one_op(p, k), 0);
	/* the log as a crash leaves it (frames not checkpointed) */
	size_t llen;
	uint8_t *log = test_slurp(wal, &llen);
	pm_close(p);
	unlink(path);
	unsetenv("PMSTORE_WAL");
	p = pm_create(path, PM_MIN_POOL_SIZE, 0600);
	assert_non_null(p);
	R(p)->w[0] = 5;
	assert_int_equal(pm_persist(p, &R(p)->w[0], 8), 0);
	pm_close(p);
	test_spit(wal, log, llen);
	p = pm_open(path);
	assert_non_null(p);
	assert_int_equal(R(p)->w[0], 5);
	assert_int_equal(R(p)->w[1], 0);
	assert_pool_ok(p);
	pm_close(p);
	free(log);
	unlink(path);
	unlink(wal);
}

/* The word at `off` of the pool file, as the file holds it (not the
 * mapping): in WAL mode a store reaches it only at a checkpoint. */
static uint64_t file_word(const char *f, pm_off off)
{
	int fd = open(f, O_RDONLY);
	assert_true(fd >= 0);
	uint64_t v = 0;
	assert_int_equal(pread(fd, &v, 8, (off_t)off), 8);
	close(fd);
	return v;
}

/* A new pool at `path` (its log at `wal`), created in WAL mode by the
 * flag, the environment unset, after operations 1..n. */
static pm_pool *wal_pool_after(const char *tag, uint64_t n)
{
	test_pool_path(path, sizeof(path), tag);
	snprintf(wal, sizeof(wal), "%s.wal", path);
	unsetenv("PMSTORE_WAL");
	struct pm_create_opts o = { .flags = PM_WAL };
	pm_pool *p = pm_create_ex(path, PM_MIN_POOL_SIZE, 0600, &o);
	assert_non_null(p);
	for (uint64_t k = 1; k <= n; k++)
		assert_int_equal(one_op(p, k), 0);
	return p;
}

/* The pool file f, opened with `flags`, holds the state after operation
 * k: every word k, the objects of k, pm_check clean. */
static void expect_state(const char *f, unsigned flags, uint64_t k)
{
	pm_pool *p = pm_open_ex(f, flags);
	assert_non_null(p);
	for (unsigned i = 0; i < NW; i++)
		assert_int_equal(R(p)->w[i], k);
	assert_int_equal(R(p)->nobj, objs_after(k));
	assert_pool_ok(p);
	pm_close(p);
}

/* The API switch: PM_WAL without the environment, PM_NO_WAL against it,
 * bad flags refused. */
static void test_wal_open_flags(void **st)
{
	(void)st;
	pm_pool *p = wal_pool_after("walflags", 0);
	assert_non_null(p->wal);
	assert_int_equal(pm_is_pmem(p), 0);
	assert_string_equal(pm_durability(p), "wal");
	pm_off w0 = pm_offset(p, &R(p)->w[0]);
	assert_int_equal(one_op(p, 1), 0);
	struct stat sst;
	assert_int_equal(stat(wal, &sst), 0);
	assert_int_equal(file_word(path, w0), 0); /* in the log only */
	pm_close(p);
	assert_int_equal(file_word(path, w0), 1); /* checkpointed */

	p = pm_open_ex(path, PM_WAL);
	assert_non_null(p);
	assert_non_null(p->wal);
	assert_int_equal(one_op(p, 2), 0);
	assert_int_equal(file_word(path, w0), 1);
	pm_close(p);

	/* PM_NO_WAL wins over PMSTORE_WAL=1: stores reach the file itself */
	setenv("PMSTORE_WAL", "1", 1);
	p = pm_open_ex(path, PM_NO_WAL);
	assert_non_null(p);
	assert_null(p->wal);
	assert_string_equal(pm_durability(p), pm_is_pmem(p) ? "pmem" : "msync");
	assert_int_equal(R(p)->w[0], 2);
	assert_int_equal(one_op(p, 3), 0);
	assert_int_equal(file_word(path, w0), 3);
	assert_pool_ok(p);
	pm_close(p);
	assert_int_equal(stat(wal, &sst), -1); /* replayed and removed */
	/* and the environment alone still decides when no flag is given */
	p = pm_open_ex(path, 0);
	assert_non_null(p);
	assert_non_null(p->wal);
	pm_close(p);
	unsetenv("PMSTORE_WAL");

	assert_null(pm_open_ex(path, 0x4));
	assert_int_equal(pm_last_error(), PM_EINVAL);
	assert_null(pm_open_ex(path, PM_WAL | PM_NO_WAL));
	assert_int_equal(pm_last_error(), PM_EINVAL);
	assert_non_null(strstr(pm_errormsg(), "PM_WAL"));
	unlink(path);
	struct pm_create_opts bad = { .flags = 0x10 };
	assert_null(pm_create_ex(path, PM_MIN_POOL_SIZE, 0600, &bad));
	assert_int_equal(pm_last_error(), PM_EINVAL);
	assert_int_equal(stat(path, &sst), -1); /* nothing created */
	unlink(wal);
}

/* A crashed WAL-mode opener's log belongs to the pool it logged: a
 * backup restored over that pool (or in its place, the pool file gone
 * and the log left) must not get those frames applied over it. */
static void crash_after_ops(uint64_t from, uint64_t to)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pm_pool *q = pm_open_ex(path, PM_WAL);
		if (!q)
			_exit(3);
		for (uint64_t k = from; k <= to; k++)
			if (one_op(q, k))
				_exit(4);
		_exit(0); /* a crash: no close, no checkpoint */
	}
	int stt;
	assert_int_equal(waitpid(pid, &stt, 0), pid);
	assert_true(WIFEXITED(stt) && WEXITSTATUS(stt) == 0);
}

static void test_wal_restore_drops_old_log(void **st)
{
	(void)st;
	char bk[320];
	pm_pool *p = wal_pool_after("walrestore", 5);
	snprintf(bk, sizeof(bk), "%s.backup", path);
	assert_int_equal(pm_backup(p, bk, NULL), 0);
	pm_close(p);

	/* over the pool: frames of ops 6..12 in its log, not checkpointed */
	crash_after_ops(6, 12);
	struct pm_backup_opts ro = { .flags = PM_RESTORE_REPLACE };
	assert_int_equal(pm_restore(bk, path, &ro), 0);
	expect_state(path, 0, 5);

	/* in its place: the pool file removed, its log left behind */
	crash_after_ops(6, 12);
	unlink(path);
	assert_int_equal(pm_restore(bk, path, NULL), 0);
	expect_state(path, PM_WAL, 5);

	/* and the pool replaced keeps what its log held until the rename:
	 * a restore that fails (a damaged backup) leaves it whole */
	crash_after_ops(6, 12);
	int fd = open(bk, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 100), 0);
	close(fd);
	assert_int_not_equal(pm_restore(bk, path, &ro), 0);
	expect_state(path, 0, 12);
	unlink(path);
	unlink(wal);
	unlink(bk);
}

/* pmstore check's raw walk and pmstore repair see the pool as pm_open
 * would: with the frames a crashed WAL-mode opener left applied. */
static void test_wal_scan_and_repair_see_the_log(void **st)
{
	(void)st;
	pm_close(wal_pool_after("walscan", 5));
	crash_after_ops(6, 12); /* 7 operations, 3 more objects, in the log only */
	struct pm_check_report rep;
	assert_int_equal(pm_check_path(path, &rep), 0);
	struct media_scan sc;
	memset(&sc, 0, sizeof(sc));
	assert_int_equal(pool_scan_path(path, &sc), 0);
	fprintf(stderr, "  raw walk: %llu objects, pm_check_path: %llu\n", (unsigned long long)sc.objects,
	        (unsigned long long)rep.objects);
	assert_int_equal(sc.objects, rep.objects);
	media_scan_free(&sc);
	/* a repair (nothing to fix: it verifies) leaves the frames applied
	 * or still to apply -- never lost */
	struct repair_opts ro;
	memset(&ro, 0, sizeof(ro));
	struct repair_result rr;
	assert_int_equal(pool_repair_path(path, &ro, &rr), 0);
	repair_result_free(&rr);
	expect_state(path, 0, 12);

	/* a repair with work to do (a torn redo log in lane 60, which no
	 * operation here uses): the frames are applied before the copy it
	 * keeps of the pool, so that copy holds them too */
	crash_after_ops(13, 15);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint64_t torn[4] = { 0x1234, 1 | (1u << 8), 4096, 7 };
	off_t lane60 = (off_t)POOL_LANES_OFF + 60 * (off_t)LANE_SIZE;
	assert_int_equal(pwrite(fd, torn, sizeof(torn), lane60), (ssize_t)sizeof(torn));
	close(fd);
	memset(&rr, 0, sizeof(rr));
	int rc = pool_repair_path(path, &ro, &rr);
	if (rc)
		fprintf(stderr, "  repair: %d %s\n", rc, pm_errormsg());
	assert_int_equal(rc, 0);
	assert_true(rr.scan.redo_invalid + rr.scan.redo_forged > 0);
	char copy[400];
	snprintf(copy, sizeof(copy), "%s.copy", path);
	test_copy_file(rr.backup, copy); /* without any log beside it */
	unlink(rr.backup);
	repair_result_free(&rr);
	expect_state(copy, 0, 15);
	unlink(copy);
	expect_state(path, 0, 15);
	unlink(path);
	unlink(wal);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wal_crash_prefixes),
		cmocka_unit_test(test_wal_checkpoints_and_modes),
		cmocka_unit_test(test_wal_foreign_log_ignored),
		cmocka_unit_test(test_wal_open_flags),
		cmocka_unit_test(test_wal_restore_drops_old_log),
		cmocka_unit_test(test_wal_scan_and_repair_see_the_log),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (!getenv("TEST_FILTER"))
		printf("figures: test_wal: %u crash images of the log recovered and checked, %u failures\n",
		       nimages, nfails);
	return rc;
}
