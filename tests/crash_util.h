/*
 * crash_util.h -- deterministic power-loss images for regression tests of
 * single crash windows (tests/test_review.c).
 *
 * A recording flush table (installed with flush_set_override) keeps, per
 * thread, the ranges flushed since that thread's last fence; a fence copies
 * them into a shadow of the pool: the shadow is what is durable.  While
 * capturing, every fence (before it takes effect) records an image: the
 * shadow plus the list of pending words (memory differs from the shadow:
 * stores that may or may not be on media).  cu_verify() then builds, for
 * every recorded fence, the images "none pending", "all pending", each
 * single pending word and all pending words but one, opens each (recovery),
 * runs pm_check and asks the test's state function for a state id, which
 * must be one of the allowed ones.
 *
 * Growable pools (P5): with cu_open the recorder follows the pool's size
 * (the shadow grows with it, the new space durable as zeroes, as a freshly
 * allocated file range reads) and the file length that is durable: the
 * length at open, then whatever the file had at each fsync of it (a test
 * that defines CU_TRACK_FSYNC before including this gets an fsync(2) of its
 * own that notes it; the library's calls resolve to it).  Each image is
 * written at its fence's durable length: longer than the pool is (zeroes),
 * or shorter, cutting what was not synced.
 *
 * What it cannot see: values a word held between two flushes (only the
 * final memory value of a pending word is offered), and subsets other than
 * single words and all-but-one.  The random checkers and icount cover
 * those; this is for pinning one known window down.
 */
#ifndef PM_CRASH_UTIL_H
#define PM_CRASH_UTIL_H

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "flush/flush.h"

#define CU_MAX_FENCES 48
#define CU_RANGES 4096

struct cu_fence {
	uint8_t *shadow;
	size_t size, file_len; /* the shadow's bytes; the image file's length */
	uint32_t *word;
	uint64_t *val;
	unsigned np;
	const char *what;
};

static struct {
	pthread_mutex_t mu;
	char *base;
	size_t size;
	uint8_t *shadow;
	int capturing;
	struct cu_fence f[CU_MAX_FENCES];
	unsigned nf;
	unsigned long dropped;
	const char *what;
	/* called at the start of every fence while capturing (outside mu) */
	void (*hook)(void);
	/* growable pools: the pool followed (cu_open), its file's inode and
	 * the length that is durable */
	pm_pool *pool;
	ino_t ino;
	size_t durable_len;
} cu = { .mu = PTHREAD_MUTEX_INITIALIZER };

#ifdef CU_TRACK_FSYNC
#include <sys/syscall.h>
int fsync(int fd)
{
	struct stat st;
	if (cu.pool && fstat(fd, &st) == 0 && st.st_ino == cu.ino)
		cu.durable_len = (size_t)st.st_size;
	return (int)syscall(SYS_fsync, fd);
}
#endif

static _Thread_local struct {
	unsigned n;
	uintptr_t lo[CU_RANGES], hi[CU_RANGES];
} cu_tl;

static _Thread_local unsigned cu_thread_fences;
static unsigned long cu_total_images, cu_total_fails; /* for the figures line */

static void cu_apply_own(void)
{
	for (unsigned i = 0; i < cu_tl.n; i++) {
		uintptr_t b = (uintptr_t)cu.base;
		if (cu_tl.lo[i] >= b && cu_tl.hi[i] <= b + cu.size)
			memcpy(cu.shadow + (cu_tl.lo[i] - b), (void *)cu_tl.lo[i], cu_tl.hi[i] - cu_tl.lo[i]);
	}
	cu_tl.n = 0;
}

static int cu_pre_open;
static uint8_t *cu_orig; /* the file cu_open_recorded opened, as it was */

/* While a pool is being opened (base not known yet): what each fence made
 * durable, with its bytes, applied to the shadow once the base is known. */
static struct cu_pre {
	uintptr_t addr;
	size_t len;
	unsigned fence; /* recovery's fence that made it durable */
	struct cu_pre *next;
	uint8_t data[];
} *cu_pre_head, **cu_pre_tail = &cu_pre_head;
static unsigned cu_pre_fences;

static void cu_drain_pre_(int fence)
{
	pthread_mutex_lock(&cu.mu);
	for (unsigned i = 0; cu_pre_open && i < cu_tl.n; i++) {
		size_t len = cu_tl.hi[i] - cu_tl.lo[i];
		struct cu_pre *r = malloc(sizeof(*r) + len);
		assert_non_null(r);
		r->addr = cu_tl.lo[i];
		r->len = len;
		r->fence = cu_pre_fences;
		r->next = NULL;
		memcpy(r->data, (void *)cu_tl.lo[i], len);
		*cu_pre_tail = r;
		cu_pre_tail = &r->next;
	}
	if (fence && cu_pre_open)
		cu_pre_fences++;
	pthread_mutex_unlock(&cu.mu);
	cu_tl.n = 0;
}

static void cu_drain_pre(void)
{
	cu_drain_pre_(0);
}

static void cu_flush(const void *a, size_t len)
{
	if ((!cu.base && !cu_pre_open) || len == 0)
		return;
	if (cu_tl.n == CU_RANGES) { /* an early write-back is always allowed */
		if (!cu.base) {
			cu_drain_pre();
		} else {
			pthread_mutex_lock(&cu.mu);
			cu_apply_own();
			pthread_mutex_unlock(&cu.mu);
		}
	}
	cu_tl.lo[cu_tl.n] = (uintptr_t)a & ~(uintptr_t)7;
	cu_tl.hi[cu_tl.n] = ((uintptr_t)a + len + 7) & ~(uintptr_t)7;
	cu_tl.n++;
}

static void cu_record(const char *what)
{
	if (cu.nf == CU_MAX_FENCES) {
		cu.dropped++;
		return;
	}
	struct cu_fence *f = &cu.f[cu.nf];
	const uint64_t *mem = (const uint64_t *)cu.base, *sh = (const uint64_t *)cu.shadow;
	size_t nw = cu.size / 8;
	unsigned np = 0;
	for (size_t w = 0; w < nw; w++)
		np += mem[w] != sh[w];
	f->size = cu.size;
	f->file_len = cu.pool ? cu.durable_len : cu.size;
	f->shadow = malloc(cu.size);
	f->word = malloc((np + 1) * sizeof(uint32_t));
	f->val = malloc((np + 1) * sizeof(uint64_t));
	assert_non_null(f->shadow);
	memcpy(f->shadow, cu.shadow, cu.size);
	np = 0;
	for (size_t w = 0; w < nw; w++)
		if (mem[w] != sh[w]) {
			f->word[np] = (uint32_t)w;
			f->val[np++] = mem[w];
		}
	f->np = np;
	f->what = what;
	cu.nf++;
}

static void cu_drain(void)
{
	if (!cu.base) {
		cu_drain_pre_(1);
		return;
	}
	cu_thread_fences++;
	if (cu.capturing && cu.hook)
		cu.hook();
	pthread_mutex_lock(&cu.mu);
	size_t now = cu.pool ? pm_size(cu.pool) : cu.size;
	if (now > cu.size) { /* the pool grew: its new space reads as zeroes */
		uint8_t *sh = realloc(cu.shadow, now);
		assert_non_null(sh);
		memset(sh + cu.size, 0, now - cu.size);
		cu.shadow = sh;
		cu.size = now;
	}
	if (cu.capturing)
		cu_record(cu.what ? cu.what : "fence");
	cu_apply_own();
	pthread_mutex_unlock(&cu.mu);
}

static void *cu_memcpy(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	cu_flush(d, n);
	return d;
}

static void *cu_memset(void *d, int c, size_t n)
{
	memset(d, c, n);
	cu_flush(d, n);
	return d;
}

static const struct flush_ops cu_ops = {
	.name = "crash-util", .flush = cu_flush, .drain = cu_drain,
	.memcpy_nodrain = cu_memcpy, .memset_nodrain = cu_memset,
};

/*
 * Open `path` under the recorder with its recovery recorded too: the shadow
 * starts as the file was, plus what recovery's fences made durable (what
 * recovery stored but never fenced is not in it).
 */
static pm_pool *cu_open_recorded(const char *path)
{
	flush_set_override(&cu_ops);
	cu.base = NULL;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat stt;
	assert_int_equal(fstat(fd, &stt), 0);
	uint8_t *orig = malloc((size_t)stt.st_size);
	assert_non_null(orig);
	assert_int_equal(pread(fd, orig, (size_t)stt.st_size, 0), (ssize_t)stt.st_size);
	close(fd);
	cu_pre_open = 1;
	cu_pre_fences = 0;
	pm_pool *p = pm_open(path);
	cu_pre_open = 0;
	assert_non_null(p);
	cu.base = pm_base(p);
	cu.size = pm_size(p);
	free(cu.shadow);
	cu.shadow = malloc((size_t)stt.st_size);
	assert_non_null(cu.shadow);
	memcpy(cu.shadow, orig, (size_t)stt.st_size);
	free(cu_orig);
	cu_orig = orig;
	uintptr_t b = (uintptr_t)cu.base;
	for (struct cu_pre *r = cu_pre_head; r; r = r->next)
		if (r->addr >= b && r->addr + r->len <= b + cu.size)
			memcpy(cu.shadow + (r->addr - b), r->data, r->len);
	return p;
}


/* Drop the recorded recovery writes (after their images were checked). */
static void cu_pre_clear(void)
{
	for (struct cu_pre *r = cu_pre_head, *nx; r; r = nx) {
		nx = r->next;
		free(r);
	}
	cu_pre_head = NULL;
	cu_pre_tail = &cu_pre_head;
	cu_pre_fences = 0;
}

/*
 * After cu_open_recorded (b: the base the pool had): the power-loss images
 * of recovery itself, one
 * per recovery fence k (the file as it was plus what fences 0..k made
 * durable, nothing pending), each written to `img` and handed to check().
 * Returns the number of images.  Frees the record.
 */
static unsigned cu_recovery_images(const uint8_t *orig, size_t size, uintptr_t b, const char *img,
                                   void (*check)(const char *img, unsigned k, void *arg), void *arg)
{
	uint8_t *m = malloc(size);
	assert_non_null(m);
	unsigned n = 0;
	for (unsigned k = 0; k < cu_pre_fences; k++) {
		memcpy(m, orig, size);
		for (struct cu_pre *r = cu_pre_head; r; r = r->next)
			if (r->fence <= k && r->addr >= b && r->addr + r->len <= b + size)
				memcpy(m + (r->addr - b), r->data, r->len);
		int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, m, size), (ssize_t)size);
		close(fd);
		check(img, k, arg);
		n++;
	}
	free(m);
	cu_pre_clear();
	return n;
}

/* The shadow (what is durable now) as a file. */
static void cu_write_shadow(const char *to)
{
	int fd = open(to, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, cu.shadow, cu.size), (ssize_t)cu.size);
	close(fd);
}

/* Open `path` under the recorder; the shadow starts as the file is now. */
static pm_pool *cu_open(const char *path)
{
	flush_set_override(&cu_ops);
	cu.base = NULL;
	pm_pool *p = pm_open(path);
	assert_non_null(p);
	cu.base = pm_base(p);
	cu.size = pm_size(p);
	free(cu.shadow);
	cu.shadow = malloc(cu.size);
	assert_non_null(cu.shadow);
	memcpy(cu.shadow, cu.base, cu.size);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	cu.pool = p;
	cu.ino = st.st_ino;
	cu.durable_len = (size_t)st.st_size;
	return p;
}

/* Take a record of the present moment (as if a fence came now). */
static void cu_capture_now(const char *what)
{
	pthread_mutex_lock(&cu.mu);
	cu_record(what);
	pthread_mutex_unlock(&cu.mu);
}

static void cu_start(const char *what)
{
	cu.what = what;
	cu.capturing = 1;
}

static void cu_stop(void)
{
	cu.capturing = 0;
}

static void cu_close(pm_pool *p)
{
	cu.capturing = 0;
	cu.pool = NULL;
	pm_close(p);
	cu.base = NULL;
	flush_set_override(NULL);
}

/*
 * Check every recorded image.  state(p) returns a state id (a digest of the
 * logical state, 0 = inconsistent); it must be one of allowed[0..nallowed)
 * (allowed == NULL: any consistent state).
 * Returns the number of failing images (and prints the first few).
 */
static unsigned cu_verify(const char *img, uint64_t (*state)(pm_pool *),
                          const uint64_t *allowed, unsigned nallowed, unsigned *nimages)
{
	unsigned fails = 0, n = 0;
	for (unsigned fi = 0; fi < cu.nf; fi++) {
		struct cu_fence *f = &cu.f[fi];
		/* variants: -2 none, -1 all, 0..np-1 only word k, np..2np-1 all but k */
		long nv = 2 + (f->np <= 256 ? 2 * (long)f->np : 0);
		for (long v = -2; v < nv - 2; v++) {
			int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, f->shadow, f->size), (ssize_t)f->size);
			if (f->file_len != f->size)
				assert_int_equal(ftruncate(fd, (off_t)f->file_len), 0);
			for (unsigned k = 0; k < f->np; k++) {
				int take = v == -1 || (v >= 0 && v < (long)f->np && (long)k == v) ||
				           (v >= (long)f->np && (long)k != v - (long)f->np);
				if (take && (uint64_t)f->word[k] * 8 + 8 <= f->file_len)
					assert_int_equal(pwrite(fd, &f->val[k], 8, (off_t)f->word[k] * 8), 8);
			}
			close(fd);
			n++;
			pm_pool *p = pm_open(img);
			uint64_t s = 0;
			struct pm_check_report rep;
			const char *why = "state not allowed";
			if (!p)
				why = pm_errormsg();
			else if (pm_check(p, &rep))
				why = rep.message;
			else
				s = state(p);
			int ok = !allowed && s != 0; /* NULL: any consistent state */
			for (unsigned a = 0; s && allowed && a < nallowed; a++)
				ok |= s == allowed[a];
			if (!ok) {
				if (fails < 5)
					fprintf(stderr,
					        "  crash image FAIL at fence %u (%s), variant %ld of %u pending words: %s (state %llx)\n",
					        fi, f->what, v, f->np, why, (unsigned long long)s);
				fails++;
			}
			if (p)
				pm_close(p);
			unlink(img);
		}
	}
	if (nimages)
		*nimages = n;
	cu_total_images += n;
	cu_total_fails += fails;
	return fails;
}

static void cu_reset(void)
{
	for (unsigned i = 0; i < cu.nf; i++) {
		free(cu.f[i].shadow);
		free(cu.f[i].word);
		free(cu.f[i].val);
	}
	cu.nf = 0;
	cu.dropped = 0;
	cu.hook = NULL;
	cu.what = NULL;
}

#endif
