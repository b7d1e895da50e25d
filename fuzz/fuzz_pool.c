/*
 * fuzz_pool.c -- the fuzz target of issue 13: pool files as untrusted input.
 *
 * What it checks.  An input is a patch list over one of a few seed pools
 * that the target builds itself at start-up (deterministically: fixed uuid
 * and creation time, in a run-unique directory under /dev/shm or
 * $PMFUZZ_TMP): an empty pool, a pool with objects and a root, a pool with
 * an open transaction (overflow blocks included), and crash images taken
 * under a recording flush table (the durable shadow at chosen fences:
 * valid redo logs on several lanes, an active undo log with a commit block,
 * a rolled-back transaction with overflow blocks, a lazily invalidated
 * state, a big commit: its record durable, its action records not yet
 * applied).  The patched file is then:
 *   1. checked with pm_check_path (read-only, recovery in DRAM);
 *   2. opened with pm_open.  If the open fails, the file must be byte for
 *      byte unchanged (a refused pool is not written to, F12), and
 *      pm_check_path must have refused it too;
 *   3. if the open succeeds: pm_check must say consistent, and so must
 *      pm_check_path before it (the two checks agree, F13);
 *   3b. closed and opened again: it opens, pm_check consistent (recovery
 *      is idempotent and leaves nothing to replay);
 *   4. operations: pmalloc/pfree of several sizes, a committed and an
 *      aborted transaction (tx_add, tx_pmalloc): they succeed or fail with
 *      an error code; every allocation lies inside the heap, within the pool,
 *      never overlaps another live allocation or an object pm_walk listed
 *      at open; the abort restores the snapshotted bytes; persistent
 *      globals (the 4 MiB objects seed has a directory and two images):
 *      pm_perm_load / pm_perm / pm_perm_save work or fail with a code, and
 *      a successful save reads back; pm_check is still consistent
 *      afterwards, and pm_check_path after pm_close.
 * A violation is abort() with a line on stderr (libFuzzer records it).
 * Hangs are left to libFuzzer's -timeout (the replay uses alarm()).
 *
 * Input: [seed][flags][size delta (2, if flagged)] then patches:
 *   [kind][off lo][off hi]([off top] for absolute)[payload]
 * kind & 7 = region (header, descriptor, a lane's redo log, a lane's undo
 * log, chunk table, chunk starts (run bitmaps, overflow block headers),
 * a whole lane, anywhere); kind & 8: the payload is an index + addend into a
 * table of interesting 64-bit values (offsets of chunks, lanes, the chunk
 * table, chunk headers, near 2^64), written at an aligned offset; else
 * (kind >> 4) + 1 raw bytes.  Flags can re-seal what a hostile writer can
 * re-seal: the header checksum, redo log checksums, undo entry, action
 * record and commit block checksums (all keyed by public functions) -- without these the
 * fuzzer would never get past a checksum.  Two sets of seeds: 4 MiB pools
 * (the default; an execution costs ~1 ms) and, when both bits of
 * PMFUZZ_F_GEOM_8M are set in the flags, the 8 MiB pools of the first
 * campaigns, for which fuzz/cases and fuzz/crashers were written.  With
 * 0x40 alone (PMFUZZ_F_GROWABLE) the 4 MiB seed is turned into a growable
 * pool of at most 8 MiB (issue 19: the header's maximum and flag, the
 * descriptor's heap_chunks; same table and chunk offsets), before the
 * patches, so they can hit those fields too; operations that run out of
 * heap then grow the work file.
 *
 * Speed: one image buffer and one work file per slot (geometry, seed,
 * resized or not) are kept between executions; only the patched ranges are
 * put back and rewritten (through a shared mapping of the work file).  The
 * seeds are mostly zero pages, which the work files keep as holes: after a
 * refused open the oracle compares the pages the image may have nonzero
 * (the seed's and the patched ones) and requires every other page the file
 * holds (SEEK_DATA) to be zero, which is the whole file's equality at the
 * cost of a few pages; after a successful open the same pages are put back
 * and the others punched out.  PMFUZZ_VERIFY_SYNC=1 checks the harness
 * itself against pread of the whole file (after every rewrite, and every
 * verdict of the write oracle); PMFUZZ_HBUG seeds bugs into it (the ctests
 * fuzz_hbugN).
 *
 * What it can NOT catch: wrong but self-consistent results (an object
 * silently freed by recovery, data restored to the wrong value outside the
 * snapshotted ranges), slowness below the timeout (F11 is a hand-made case
 * in fuzz/cases/), crash windows (the crash checkers do those), races
 * (one thread), and anything pm_check itself does not look at.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmstore.h"
#include "pool/pool.h"
#include "tx/tx_format.h"

#include "fuzz_pool.h"

#define SEED_LANES 4
/* Two geometries of seed pools.  The small one (the default) keeps an
 * execution cheap: the target's own cost is a few passes over the file
 * (write, compare after a refused open); the library's work is O(metadata).
 * Inputs whose flags byte has both PMFUZZ_F_GEOM_8M bits get the 8 MiB seeds
 * of the first campaigns (fuzz/cases and fuzz/crashers were made for them). */
#define SMALL_SIZE ((size_t)4 << 20)
#define BIG_SIZE ((size_t)8 << 20)
#define MAX_FILE_SIZE ((size_t)16 << 20) /* of the 8 MiB geometry */
struct geo {
	size_t size, max; /* seed pool size; largest file an input can make */
	const char *name;
	uint8_t *seed[PMFUZZ_NSEEDS];
};
static struct geo g_geo[2] = {
	{ SMALL_SIZE, 2 * SMALL_SIZE, "4M", { 0 } },
	{ BIG_SIZE, MAX_FILE_SIZE, "8M", { 0 } },
};
static int geo_of_flags(unsigned flags)
{
	return (flags & PMFUZZ_F_GEOM_8M) == PMFUZZ_F_GEOM_8M;
}

/* An oracle violation: abort (libFuzzer records the input).  Oracles
 * named in $PMFUZZ_SKIP (comma-separated tags: write, agree, check, reopen,
 * ops), and violations whose message contains one of the '|'-separated
 * strings of $PMFUZZ_SKIP_MSG, are passed over, so that a campaign can
 * look past a known bug. */
static int oracle_skipped(const char *tag, const char *msg)
{
	const char *s = getenv("PMFUZZ_SKIP");
	if (s && strstr(s, tag))
		return 1;
	const char *m = getenv("PMFUZZ_SKIP_MSG");
	while (m && *m) {
		const char *e = strchr(m, '|');
		size_t n = e ? (size_t)(e - m) : strlen(m);
		if (n && memmem(msg, strlen(msg), m, n))
			return 1;
		m = e ? e + 1 : NULL;
	}
	return 0;
}
#define FAILT(tag, ...)                                                        \
	do {                                                                       \
		char msg_[768];                                                        \
		snprintf(msg_, sizeof(msg_), __VA_ARGS__);                             \
		if (!oracle_skipped(tag, msg_)) {                                      \
			fprintf(stderr, "pmfuzz ORACLE [%s]: %s\n", tag, msg_);            \
			abort();                                                           \
		}                                                                      \
	} while (0)
#define FAIL(...) FAILT("ops", __VA_ARGS__)

static char g_dir[256];
/* while seeds are built: the geometry being built */
static uint8_t **g_seed = g_geo[0].seed;
static size_t SEED_SIZE = SMALL_SIZE;
static const char *g_seed_name[PMFUZZ_NSEEDS];
static int g_ready;
int pmfuzz_verbose;

/* ---- helpers ------------------------------------------------------------ */

static void die(const char *what)
{
	fprintf(stderr, "pmfuzz: seed building: %s: %s (%s)\n", what, pm_errormsg(), strerror(errno));
	exit(2);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st)) {
		close(fd);
		return NULL;
	}
	uint8_t *b = malloc((size_t)st.st_size + 1);
	if (b && pread(fd, b, (size_t)st.st_size, 0) != st.st_size) {
		free(b);
		b = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}


static uint64_t hdr_csum(const struct pool_hdr *h)
{
	uint64_t s = log_hash(UINT64_C(0x504d53544f524521), h, offsetof(struct pool_hdr, checksum));
	return s ? s : 1;
}

/* Fixed uuid and time: the seeds are the same in every run. */
static void make_deterministic(uint8_t *img)
{
	struct pool_hdr *h = (struct pool_hdr *)img;
	memset(h->uuid, 0x5a, sizeof(h->uuid));
	h->create_time = 1700000000;
	h->checksum = hdr_csum(h);
}

/* ---- the recording flush table (cf. tests/crash_util.h) ----------------- */

/*
 * Single recorder: flushed ranges per thread until that thread's fence,
 * then copied into `shadow` (what is durable).  `late` is a second shadow
 * in which invalidations of redo logs (a checksum word going to 0) never
 * become durable: the state of several lanes whose lazy invalidations all
 * missed media (recovery must order their logs by seq).
 */
#define REC_RANGES 8192
static struct {
	pthread_mutex_t mu;
	char *base;
	size_t size;
	uint8_t *shadow, *late;
	unsigned n;
	uintptr_t lo[REC_RANGES], hi[REC_RANGES];
	pthread_t who[REC_RANGES];
	unsigned fences;
	/* the images kept: index into g_seed */
	int best_valid;
} rec = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int is_redo_csum_word(size_t off, unsigned nlanes)
{
	return off >= POOL_LANES_OFF && off < POOL_LANES_OFF + (size_t)nlanes * LANE_SIZE &&
	       (off - POOL_LANES_OFF) % LANE_SIZE == 0;
}

static void rec_apply(pthread_t self)
{
	uintptr_t b = (uintptr_t)rec.base;
	unsigned keep = 0;
	for (unsigned i = 0; i < rec.n; i++) {
		if (!pthread_equal(rec.who[i], self)) {
			rec.lo[keep] = rec.lo[i];
			rec.hi[keep] = rec.hi[i];
			rec.who[keep++] = rec.who[i];
			continue;
		}
		if (rec.lo[i] < b || rec.hi[i] > b + rec.size)
			continue;
		size_t o = rec.lo[i] - b, len = rec.hi[i] - rec.lo[i];
		memcpy(rec.shadow + o, rec.base + o, len);
		for (size_t w = o; w < o + len; w += 8) {
			uint64_t v;
			memcpy(&v, rec.base + w, 8);
			if (v == 0 && is_redo_csum_word(w, SEED_LANES))
				continue; /* the invalidation is lost in `late` */
			memcpy(rec.late + w, &v, 8);
		}
	}
	rec.n = keep;
}

static void rec_flush(const void *a, size_t len)
{
	if (!rec.base || len == 0)
		return;
	pthread_mutex_lock(&rec.mu);
	if (rec.n == REC_RANGES) /* an early write-back is allowed */
		rec_apply(pthread_self());
	rec.lo[rec.n] = (uintptr_t)a & ~(uintptr_t)7;
	rec.hi[rec.n] = ((uintptr_t)a + len + 7) & ~(uintptr_t)7;
	rec.who[rec.n++] = pthread_self();
	pthread_mutex_unlock(&rec.mu);
}

/* Valid redo logs above the watermark in an image. */
static unsigned valid_logs(const uint8_t *img, size_t size)
{
	const struct pool_desc *d = (const struct pool_desc *)(img + POOL_DESC_OFF);
	unsigned n = 0;
	for (unsigned i = 0; i < SEED_LANES; i++) {
		const struct lane_layout *pl =
		        (const struct lane_layout *)(img + POOL_LANES_OFF + (size_t)i * LANE_SIZE);
		uint64_t seq = 0;
		if (redo_valid((const char *)img, size, &pl->redo, REDO_MAX, &seq) >= 0 &&
		    seq > d->recovered_seq)
			n++;
	}
	return n;
}

/* Some lane has an active undo log; *commit: a commit-tagged entry header
 * with that gen lies in its inline area (*big: a big commit record, tx.c
 * commit_big); *overflow: it links a block. */
static int big_seen;
static int active_lane_big(const uint8_t *img, int *commit, int *overflow, int *big)
{
	for (unsigned i = 0; i < SEED_LANES; i++) {
		const struct lane_layout *pl =
		        (const struct lane_layout *)(img + POOL_LANES_OFF + (size_t)i * LANE_SIZE);
		if (!pl->undo.active)
			continue;
		*commit = *big = 0;
		*overflow = pl->undo.next != 0;
		for (size_t o = 0; o + sizeof(struct undo_entry) <= sizeof(pl->undo_area); o += 8) {
			const struct undo_entry *e = (const struct undo_entry *)(pl->undo_area + o);
			if (undo_is_commit(e->off) && e->gen == pl->undo.active) {
				if ((e->off & UNDO_TAG_MASK) == UNDO_COMMIT_TAG_BIG &&
				    e->checksum == undo_commit_csum(i, e))
					*big = 1;
				else if ((e->off & UNDO_TAG_MASK) != UNDO_COMMIT_TAG_BIG)
					*commit = 1;
			}
		}
		return 1;
	}
	return 0;
}

static int active_lane(const uint8_t *img, int *commit, int *overflow)
{
	int big;
	return active_lane_big(img, commit, overflow, &big);
}

static void rec_drain(void)
{
	if (!rec.base)
		return;
	pthread_mutex_lock(&rec.mu);
	rec.fences++;
	/* before the fence takes effect: the durable images */
	unsigned v = valid_logs(rec.late, rec.size);
	if ((int)v > rec.best_valid) {
		rec.best_valid = (int)v;
		memcpy(g_seed[PMFUZZ_SEED_LANES], rec.late, rec.size);
	}
	rec_apply(pthread_self());
	int commit = 0, overflow = 0, big = 0;
	if (active_lane_big(rec.shadow, &commit, &overflow, &big)) {
		if (big) {
			/* the first image with the record durable: the actions
			 * are not applied yet */
			if (!big_seen++)
				memcpy(g_seed[PMFUZZ_SEED_BIG], rec.shadow, rec.size);
		} else if (commit)
			memcpy(g_seed[PMFUZZ_SEED_COMMIT], rec.shadow, rec.size);
		else if (overflow)
			memcpy(g_seed[PMFUZZ_SEED_ROLLBACK], rec.shadow, rec.size);
	}
	pthread_mutex_unlock(&rec.mu);
}

static void *rec_memcpy(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	rec_flush(d, n);
	return d;
}

static void *rec_memset(void *d, int c, size_t n)
{
	memset(d, c, n);
	rec_flush(d, n);
	return d;
}

static const struct flush_ops rec_ops = {
	.name = "pmfuzz-recorder", .flush = rec_flush, .drain = rec_drain,
	.memcpy_nodrain = rec_memcpy, .memset_nodrain = rec_memset,
};

/* ---- seeds ------------------------------------------------------------ */

struct rootv {
	pm_off f[32];
};

static pm_pool *open_or_die(const char *path)
{
	pm_pool *p = pm_open(path);
	if (!p)
		die(path);
	return p;
}

static void fill_objects(pm_pool *p)
{
	pm_off r = pm_root(p, sizeof(struct rootv));
	if (!r)
		die("pm_root");
	struct rootv *rt = PM_D(p, r, struct rootv);
	/* f[7] is what the transactions of the seeds log 200000 bytes of */
	const size_t big = SEED_SIZE == BIG_SIZE ? 600000 : 250000;
	const size_t sizes[] = { 16, 64, 200, 1000, 5000, 32768, 40000, big, 100, 3000 };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (pmalloc(p, &rt->f[i], sizes[i]))
			die("pmalloc");
		memset(PM_D(p, rt->f[i], char), 'a' + (int)i, sizes[i] < 256 ? sizes[i] : 256);
		pm_persist(p, PM_D(p, rt->f[i], char), sizes[i] < 256 ? sizes[i] : 256);
	}
	pfree(p, &rt->f[2]);
	pfree(p, &rt->f[6]);
	if (SEED_SIZE != BIG_SIZE) {
		/* persistent globals: a directory and two images (the 8 MiB
		 * seeds stay as fuzz/cases was written for) */
		static uint64_t g1[2] = { 0x1111, 0x2222 }, g2[40];
		if (pm_perm(p, "fz1", g1, sizeof(g1)) < 0 || pm_perm(p, "fz2", g2, sizeof(g2)) < 0 ||
		    pm_perm_save(p))
			die("pm_perm_save");
	}
}

struct thr_arg {
	pm_pool *p;
	pm_off *dest;
	size_t size;
	int do_free;
};

static void *thr_op(void *a)
{
	struct thr_arg *t = a;
	if (t->do_free)
		pfree(t->p, t->dest);
	else
		pmalloc(t->p, t->dest, t->size);
	return NULL;
}

static void op_on_new_thread(pm_pool *p, pm_off *dest, size_t size, int do_free)
{
	struct thr_arg t = { p, dest, size, do_free };
	pthread_t th;
	if (pthread_create(&th, NULL, thr_op, &t))
		die("pthread_create");
	pthread_join(th, NULL);
}

/* The crash scenario under the recorder. */
static void record_scenario(const char *path)
{
	flush_set_override(&rec_ops);
	rec.base = NULL;
	pm_pool *p = open_or_die(path);
	rec.base = pm_base(p);
	rec.size = pm_size(p);
	rec.shadow = malloc(rec.size);
	rec.late = malloc(rec.size);
	if (!rec.shadow || !rec.late)
		die("malloc");
	memcpy(rec.shadow, rec.base, rec.size);
	memcpy(rec.late, rec.base, rec.size);
	for (unsigned i = PMFUZZ_SEED_LANES; i <= PMFUZZ_SEED_ROLLBACK; i++)
		memcpy(g_seed[i], rec.base, rec.size);
	memcpy(g_seed[PMFUZZ_SEED_BIG], rec.base, rec.size);
	big_seen = 0;
	rec.best_valid = 0;
	struct rootv *rt = PM_D(p, pm_root(p, sizeof(struct rootv)), struct rootv);
	/* publishes on three lanes (each new thread starts on another lane) */
	op_on_new_thread(p, &rt->f[20], 100, 0);
	op_on_new_thread(p, &rt->f[21], 3000, 0);
	op_on_new_thread(p, &rt->f[22], 70000, 0);
	op_on_new_thread(p, &rt->f[20], 0, 1);
	/* a fast-commit transaction (commit block) */
	if (tx_begin(p) == 0) {
		tx_add(rt, 64);
		rt->f[0] ^= 0; /* touched, unchanged */
		rt->f[23] = tx_pmalloc(64);
		tx_add(PM_D(p, rt->f[1], char), 64);
		memset(PM_D(p, rt->f[1], char), 'T', 64);
	}
	tx_end();
	/* a transaction with overflow blocks, aborted (rollback), then one
	 * committed */
	for (int round = 0; round < 2; round++) {
		if (tx_begin(p) == 0) {
			tx_add(PM_D(p, rt->f[7], char), 100000);
			memset(PM_D(p, rt->f[7], char), 'U' + round, 100000);
			tx_add(rt, sizeof(*rt));
			rt->f[24] = tx_pmalloc(500);
			if (round == 0)
				tx_abort(PM_ECANCELED);
		}
		tx_end();
	}
	pmalloc(p, &rt->f[25], 48);
	/* a big transaction (more allocations than the lane's commit log
	 * holds): action records and a big commit record; 300 objects
	 * allocated and linked, f[26] their head, and f[25] freed */
	if (tx_begin(p) == 0) {
		tx_add(rt, sizeof(*rt));
		pm_off head = 0;
		for (int k = 0; k < 300; k++) {
			pm_off o = tx_pmalloc(16);
			if (!o)
				break;
			*PM_D(p, o, pm_off) = head;
			head = o;
		}
		rt->f[26] = head;
		tx_pfree(rt->f[25]);
		rt->f[25] = 0;
	}
	tx_end();
	/* the lazily invalidated state: what is durable now, before close */
	memcpy(g_seed[PMFUZZ_SEED_LAZY], rec.shadow, rec.size);
	pthread_mutex_lock(&rec.mu);
	rec.n = 0;
	rec.base = NULL;
	pthread_mutex_unlock(&rec.mu);
	pm_close(p);
	flush_set_override(NULL);
	free(rec.shadow);
	free(rec.late);
	rec.shadow = rec.late = NULL;
}

static void cleanup(void)
{
	if (!g_dir[0])
		return;
	DIR *d = opendir(g_dir);
	if (d) {
		struct dirent *e;
		char buf[600];
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(buf, sizeof(buf), "%s/%s", g_dir, e->d_name);
			unlink(buf);
		}
		closedir(d);
	}
	rmdir(g_dir);
	g_dir[0] = 0;
}

static void seed_from_file(unsigned idx, const char *path)
{
	size_t len;
	uint8_t *b = read_file(path, &len);
	if (!b || len != SEED_SIZE)
		die(path);
	memcpy(g_seed[idx], b, len);
	free(b);
}

/* Build the seeds of geometry k (g_seed / SEED_SIZE point at it). */
static void build_seeds(unsigned k)
{
	g_seed = g_geo[k].seed;
	SEED_SIZE = g_geo[k].size;
	for (unsigned i = 0; i < PMFUZZ_NSEEDS; i++)
		if (!(g_seed[i] = malloc(SEED_SIZE)))
			die("malloc");
	char path[300];
	struct pm_create_opts o = { .nlanes = SEED_LANES };
	/* 0: empty */
	snprintf(path, sizeof(path), "%s/empty", g_dir);
	pm_pool *p = pm_create_ex(path, SEED_SIZE, 0600, &o);
	if (!p)
		die("pm_create");
	pm_close(p);
	seed_from_file(PMFUZZ_SEED_EMPTY, path);
	unlink(path);
	/* 1: objects and a root */
	snprintf(path, sizeof(path), "%s/objects", g_dir);
	p = pm_create_ex(path, SEED_SIZE, 0600, &o);
	if (!p)
		die("pm_create");
	fill_objects(p);
	pm_close(p);
	seed_from_file(PMFUZZ_SEED_OBJECTS, path);
	/* 2: an open transaction with overflow blocks: everything stored so
	 * far reached media (the memory image while the transaction runs) */
	p = open_or_die(path);
	struct rootv *rt = PM_D(p, pm_root(p, sizeof(struct rootv)), struct rootv);
	if (tx_begin(p) == 0) {
		tx_add(rt, sizeof(*rt));
		rt->f[30] = tx_pmalloc(100);
		tx_add(PM_D(p, rt->f[7], char), 200000);
		memset(PM_D(p, rt->f[7], char), 'X', 200000);
		memcpy(g_seed[PMFUZZ_SEED_OPENTX], pm_base(p), SEED_SIZE);
		tx_abort(PM_ECANCELED);
	}
	tx_end();
	pm_close(p);
	/* 3..6: crash images of a recorded run on a copy of 1 */
	record_scenario(path);
	unlink(path);
	for (unsigned i = 0; i < PMFUZZ_NSEEDS; i++)
		make_deterministic(g_seed[i]);
	/* each seed must be what its name says (a geometry too small for the
	 * overflow blocks once made three of them plain pools, silently) */
	{
		int c = 0, ov = 0;
		if (active_lane(g_seed[PMFUZZ_SEED_OPENTX], &c, &ov) != 1 || !ov ||
		    valid_logs(g_seed[PMFUZZ_SEED_LANES], SEED_SIZE) < 3 ||
		    active_lane(g_seed[PMFUZZ_SEED_COMMIT], &c, &ov) != 1 || !c ||
		    active_lane(g_seed[PMFUZZ_SEED_ROLLBACK], &c, &ov) != 1 || !ov ||
		    valid_logs(g_seed[PMFUZZ_SEED_LAZY], SEED_SIZE) < 1) {
			fprintf(stderr, "pmfuzz: the %s seeds lack the state their names promise "
			        "(PMFUZZ_SEEDINFO=1 shows them)\n", g_geo[k].name);
			exit(2);
		}
	}
	if (pmfuzz_verbose || getenv("PMFUZZ_SEEDINFO")) {
		for (unsigned i = 0; i < PMFUZZ_NSEEDS; i++) {
			int c = 0, ov = 0;
			int a = active_lane(g_seed[i], &c, &ov);
			fprintf(stderr, "pmfuzz seed %u %s %-18s valid logs %u, active undo %d (commit %d, overflow %d)\n",
			        i, g_geo[k].name, g_seed_name[i], valid_logs(g_seed[i], SEED_SIZE), a, c, ov);
		}
	}
}

void pmfuzz_init(void)
{
	if (g_ready)
		return;
	pmfuzz_verbose = getenv("PMFUZZ_VERBOSE") != NULL;
	/* the library's flushes are irrelevant here (tmpfs, no power loss) */
	setenv("PMSTORE_NO_FLUSH", "1", 0);
	const char *t = getenv("PMFUZZ_TMP");
	snprintf(g_dir, sizeof(g_dir), "%s/pmfuzz.%d.XXXXXX", t ? t : "/dev/shm", (int)getpid());
	if (!mkdtemp(g_dir))
		die("mkdtemp");
	atexit(cleanup);
	g_seed_name[PMFUZZ_SEED_EMPTY] = "empty";
	g_seed_name[PMFUZZ_SEED_OBJECTS] = "objects";
	g_seed_name[PMFUZZ_SEED_OPENTX] = "open-tx";
	g_seed_name[PMFUZZ_SEED_LANES] = "valid-logs";
	g_seed_name[PMFUZZ_SEED_COMMIT] = "commit-block";
	g_seed_name[PMFUZZ_SEED_ROLLBACK] = "rollback-overflow";
	g_seed_name[PMFUZZ_SEED_LAZY] = "lazy";
	g_seed_name[PMFUZZ_SEED_BIG] = "big-commit";
	build_seeds(1);
	build_seeds(0);
	g_ready = 1;
}

const uint8_t *pmfuzz_seed(unsigned i, size_t *len)
{
	pmfuzz_init();
	if (i >= 2 * PMFUZZ_NSEEDS)
		return NULL;
	*len = g_geo[i / PMFUZZ_NSEEDS].size;
	return g_geo[i / PMFUZZ_NSEEDS].seed[i % PMFUZZ_NSEEDS];
}

/* ---- input decoding ----------------------------------------------------- */

struct geom {
	uint64_t nlanes, table_off, chunks_off, nchunks;
};

static void geom_of(const uint8_t *img, struct geom *g)
{
	const struct pool_hdr *h = (const struct pool_hdr *)img;
	g->nlanes = h->nlanes ? h->nlanes : 1;
	g->table_off = h->chunk_table_off;
	g->chunks_off = h->chunks_off;
	g->nchunks = h->nchunks ? h->nchunks : 1;
}

static unsigned interesting(const struct geom *g, size_t size, uint64_t *v)
{
	unsigned n = 0;
	v[n++] = 0;
	v[n++] = 1;
	v[n++] = ~UINT64_C(0);
	v[n++] = ~UINT64_C(0) - 1;
	v[n++] = UINT64_C(1) << 63;
	v[n++] = size;
	v[n++] = size - 8;
	v[n++] = POOL_DESC_OFF;
	v[n++] = POOL_LANES_OFF;
	v[n++] = POOL_LANES_OFF + LANE_REDO_SIZE;                 /* lane 0 undo header */
	v[n++] = POOL_LANES_OFF + LANE_REDO_SIZE + 64;            /* lane 0 undo area */
	v[n++] = POOL_LANES_OFF + LANE_SIZE + LANE_REDO_SIZE;     /* lane 1 undo header */
	v[n++] = g->table_off;
	v[n++] = g->table_off + 8;
	v[n++] = g->chunks_off;
	v[n++] = g->chunks_off + CHUNK_SIZE;
	v[n++] = g->chunks_off + 2 * CHUNK_SIZE;
	v[n++] = g->chunks_off + 8 * CHUNK_SIZE;
	v[n++] = g->chunks_off + (g->nchunks - 1) * CHUNK_SIZE;
	v[n++] = g->chunks_off + g->nchunks * CHUNK_SIZE;
	v[n++] = chunk_hdr(CHUNK_FREE, 0, 1);
	v[n++] = chunk_hdr(CHUNK_FREE, 0, g->nchunks);
	v[n++] = chunk_hdr(CHUNK_FREE, 0, g->nchunks + 1);
	v[n++] = chunk_hdr(CHUNK_LARGE, 0, 1);
	v[n++] = chunk_hdr(CHUNK_LARGE, 0, 3);
	v[n++] = chunk_hdr(CHUNK_LARGE, 0, g->nchunks);
	v[n++] = chunk_hdr(CHUNK_RUN, 0, 1);
	v[n++] = chunk_hdr(CHUNK_RUN, 5, 1);
	v[n++] = chunk_hdr(CHUNK_RUN, NCLASSES - 1, 1);
	v[n++] = chunk_hdr(CHUNK_RUN, NCLASSES, 1);
	v[n++] = CHUNK_SIZE;
	v[n++] = UNDO_COMMIT_TAG | 5;
	return n;
}

static void mark(size_t off, size_t len);

/* Re-seal what a hostile writer can: the header checksum, redo log and
 * undo checksums (all computed by functions of the public format). */
/* Re-seal what the library would hash: a log whose shape it refuses
 * (pool_redo_shape_bad, with the same budget of cover bytes for all lanes)
 * is never hashed by it, and hashing its covers here cost up to 2 s an
 * execution under ASan (255 whole-pool covers per lane). */
static void reseal_redo(uint8_t *img, size_t size, const struct geom *g)
{
	struct pool_hdr hc = *(const struct pool_hdr *)img;
	hc.chunks_off = g->chunks_off;
	hc.chunk_table_off = g->table_off;
	hc.nchunks = g->nchunks;
	uint64_t budget = g->nchunks * CHUNK_SIZE;
	for (uint64_t i = 0; i < g->nlanes && POOL_LANES_OFF + (i + 1) * LANE_SIZE <= size; i++) {
		struct redo_log *log = (struct redo_log *)(img + POOL_LANES_OFF + i * LANE_SIZE);
		uint64_t n = log->nseq & REDO_N_MASK;
		uint64_t undo_off = POOL_LANES_OFF + i * LANE_SIZE + offsetof(struct lane_layout, undo);
		if (log->checksum == 0 || n > REDO_MAX || pool_redo_shape_bad(&hc, undo_off, log, &budget) >= 0)
			continue;
		log->checksum = redo_checksum((const char *)img, size, log->nseq, log->entries, n);
		mark((size_t)((uint8_t *)&log->checksum - img), 8);
	}
}

static void reseal_undo(uint8_t *img, size_t size, const struct geom *g)
{
	for (uint64_t i = 0; i < g->nlanes && POOL_LANES_OFF + (i + 1) * LANE_SIZE <= size; i++) {
		struct lane_layout *pl = (struct lane_layout *)(img + POOL_LANES_OFF + i * LANE_SIZE);
		uint64_t gen = pl->undo.active;
		if (!gen)
			continue;
		char *area = (char *)pl->undo_area;
		uint64_t cap = sizeof(pl->undo_area), pos = pl->undo.start;
		uint64_t *link = &pl->undo.next;
		if (pos > cap || pos % 8)
			continue;
		for (unsigned k = 0, blocks = 0; k < 256; k++) {
			if (cap - pos < UNDO_ENTRY_MIN) {
				uint64_t off = *link;
				if (blocks++ == 8 || off == 0 || off % 64 || off < POOL_LANES_OFF ||
				    off >= size - sizeof(struct undo_block))
					break;
				struct undo_block *b = (struct undo_block *)(img + off);
				if (b->capacity < sizeof(*b) + UNDO_ENTRY_MIN || b->capacity > size - off)
					break;
				area = (char *)(b + 1);
				cap = b->capacity - sizeof(*b);
				link = &b->next;
				pos = 0;
				continue;
			}
			struct undo_entry *e = (struct undo_entry *)(area + pos);
			if (e->gen != gen || e->len > cap - pos - sizeof(*e))
				break;
			if (e->off == UNDO_ACTS_TAG) { /* a big commit's action record */
				e->checksum = undo_acts_csum((unsigned)i, e, e->data);
				mark((size_t)((uint8_t *)&e->checksum - img), 8);
				pos += undo_entry_size(e->len);
				continue;
			}
			if (undo_is_commit(e->off)) {
				e->checksum = undo_commit_csum((unsigned)i, e);
				mark((size_t)((uint8_t *)&e->checksum - img), 8);
				break;
			}
			if (e->len == 0)
				break;
			e->checksum = undo_entry_csum((unsigned)i, e);
			mark((size_t)((uint8_t *)&e->checksum - img), 8);
			pos += undo_entry_size(e->len);
		}
	}
}

/*
 * Images and work files are kept between executions, one of each per slot:
 * a (geometry, seed, resized or not) triple, so that an input on another
 * seed than the last one costs no full copy.  A slot's image holds its seed
 * plus the ranges recorded in its dirty list (patches, reseals), which the
 * slot's next build puts back from the seed (a full copy only the first
 * time or when too many ranges were patched).  The ranges of the last
 * build are also what the slot's file needs rewritten when it still holds
 * that image exactly (after a refused open, which the oracle has compared).
 */
#define MAX_DIRTY 512
#define NSLOTS (2 * PMFUZZ_NSEEDS * 2)
struct range {
	size_t off, len;
};
struct slot {
	struct range dirty[MAX_DIRTY], prev_dirty[MAX_DIRTY];
	unsigned ndirty, nprev_dirty;
	int dirty_all, prev_dirty_all;
	size_t hi; /* bytes at or past the seed's end may be nonzero below this */
	uint8_t *img;
	/* the slot's work file, mapped shared (MAX_FILE_SIZE) */
	char path[320];
	int fd;
	uint8_t *map;
	size_t fsize;
	int file_exact; /* the file holds the previous build's image */
	/* the pages in which this build's image may be nonzero (the seed's
	 * nonzero pages and the pages the build wrote): want[0..nwant), and
	 * page_gen[p] == gen for each */
	unsigned want[MAX_FILE_SIZE / 4096], nwant, gen;
	unsigned page_gen[MAX_FILE_SIZE / 4096];
	const unsigned *seed_nz; /* the seed's nonzero pages */
	unsigned nseed_nz;
};
static struct slot g_slots[NSLOTS];
static struct slot *S; /* the slot of the input being built or run */

static const uint8_t g_zero_page[4096];
static int all_zero(const uint8_t *p, size_t n)
{
	return memcmp(p, g_zero_page, n) == 0;
}

static struct slot *slot_of(unsigned seed, unsigned flags)
{
	unsigned k = ((unsigned)geo_of_flags(flags) * PMFUZZ_NSEEDS + seed) * 2 +
	             ((flags & PMFUZZ_F_RESIZE) != 0);
	struct slot *s = &g_slots[k];
	if (!s->img) {
		if (!(s->img = calloc(1, MAX_FILE_SIZE)))
			abort();
		s->dirty_all = s->prev_dirty_all = 1;
		s->fd = -1;
		snprintf(s->path, sizeof(s->path), "%s/work.%u", g_dir, k);
		const struct geo *G = &g_geo[geo_of_flags(flags)];
		unsigned *nz = calloc(G->size / 4096, sizeof(*nz)), n = 0;
		if (!nz)
			abort();
		for (size_t o = 0; o < G->size; o += 4096)
			if (!all_zero(G->seed[seed] + o, 4096))
				nz[n++] = (unsigned)(o / 4096);
		s->seed_nz = nz;
		s->nseed_nz = n;
	}
	return s;
}

static void mark(size_t off, size_t len)
{
	if (S->dirty_all || len == 0)
		return;
	if (S->ndirty == MAX_DIRTY) {
		S->dirty_all = 1;
		return;
	}
	S->dirty[S->ndirty++] = (struct range){ off, len };
}

static void put_back(uint8_t *img, const struct geo *G, int seed, size_t off, size_t len)
{
	if (off >= G->size) {
		memset(img + off, 0, len);
		return;
	}
	size_t n = off + len <= G->size ? len : G->size - off;
	memcpy(img + off, G->seed[seed] + off, n);
	if (n < len)
		memset(img + off + n, 0, len - n);
}

/* The seed as a growable pool of at most G->max bytes (P5), if the larger
 * table keeps the chunks where they are (it does for the 4 MiB seeds). */
static void make_growable(uint8_t *img, const struct geo *G)
{
	struct pool_hdr *h = (struct pool_hdr *)img;
	struct pool_layout l;
	if (pool_layout_for(G->max, h->nlanes, &l) || l.chunks_off != h->chunks_off ||
	    l.table_off != h->chunk_table_off)
		return;
	((struct pool_desc *)(img + POOL_DESC_OFF))->heap_chunks = h->nchunks;
	mark(POOL_DESC_OFF, sizeof(struct pool_desc));
	h->flags |= POOL_FLAG_GROWABLE;
	h->pool_size = G->max;
	h->nchunks = l.nchunks;
	h->checksum = hdr_csum(h);
	mark(0, sizeof(struct pool_hdr));
}

/* Build the patched image in its slot's buffer (S is set to the slot);
 * returns its size. */
static size_t build_image(const uint8_t *data, size_t len, unsigned *seedp, unsigned *flagsp)
{
	unsigned seed = len > 0 ? data[0] % PMFUZZ_NSEEDS : 0;
	unsigned flags = len > 1 ? data[1] : 0;
	int gk = geo_of_flags(flags);
	const struct geo *G = &g_geo[gk];
	size_t pos = 2, size = G->size;
	*seedp = seed;
	*flagsp = flags;
	S = slot_of(seed, flags);
	uint8_t *img = S->img;
	/* back to the plain seed */
	memcpy(S->prev_dirty, S->dirty, S->ndirty * sizeof(S->dirty[0]));
	S->nprev_dirty = S->ndirty;
	S->prev_dirty_all = S->dirty_all;
	if (S->dirty_all) {
		memcpy(img, G->seed[seed], G->size);
		if (S->hi > G->size)
			memset(img + G->size, 0, S->hi - G->size);
		S->hi = G->size;
	} else {
		for (unsigned i = 0; i < S->ndirty; i++)
			put_back(img, G, (int)seed, S->dirty[i].off, S->dirty[i].len);
	}
	S->ndirty = 0;
	S->dirty_all = 0;
	if (flags & PMFUZZ_F_RESIZE) {
		int16_t d = 0;
		if (pos + 2 <= len)
			d = (int16_t)(data[pos] | data[pos + 1] << 8);
		pos += 2;
		/* in 8-byte steps near the end (small d), pages beyond */
		int64_t delta = (d > -512 && d < 512) ? (int64_t)d * 8 : (int64_t)d * 4096;
		int64_t ns = (int64_t)G->size + delta;
		if (ns < 1)
			ns = 1;
		if (ns > (int64_t)G->max)
			ns = (int64_t)G->max;
		size = (size_t)ns;
	}
	if ((flags & PMFUZZ_F_GEOM_8M) == PMFUZZ_F_GROWABLE)
		make_growable(img, G);
	struct geom g;
	geom_of(G->seed[seed], &g);
	uint64_t vals[64];
	unsigned nv = interesting(&g, size, vals);
	while (pos < len) {
		unsigned kind = data[pos++];
		unsigned region = kind & 7;
		uint64_t off = 0;
		if (pos + 2 > len)
			break;
		uint64_t o16 = data[pos] | (uint64_t)data[pos + 1] << 8;
		pos += 2;
		switch (region) {
		case 0: off = o16 % 128; break;                       /* header fields */
		case 1: off = POOL_DESC_OFF + o16 % 64; break;        /* descriptor */
		case 2: /* a lane's redo header and first entries */
			off = POOL_LANES_OFF + (o16 >> 12) % g.nlanes * LANE_SIZE + o16 % 512;
			break;
		case 3: /* a lane's undo header and first entries */
			off = POOL_LANES_OFF + (o16 >> 13) % g.nlanes * LANE_SIZE + LANE_REDO_SIZE +
			      o16 % 1024;
			break;
		case 4: off = g.table_off + o16 % (g.nchunks * 8 + 8); break; /* chunk table */
		case 5: /* chunk starts: run bitmaps, overflow block headers */
			off = g.chunks_off + (o16 >> 9) % (g.nchunks + 1) * CHUNK_SIZE + o16 % 512;
			break;
		case 6: off = POOL_LANES_OFF + o16 * 8 % (g.nlanes * LANE_SIZE); break;
		case 7:
			if (pos >= len)
				goto done;
			off = (o16 | (uint64_t)data[pos++] << 16) * 8 % G->max;
			break;
		}
		if (kind & 8) { /* an interesting value, aligned */
			if (pos + 2 > len)
				break;
			uint64_t v = vals[data[pos] % nv] + (uint64_t)(int64_t)(int8_t)data[pos + 1] * 8;
			pos += 2;
			off &= ~UINT64_C(7);
			if (off + 8 <= G->max) {
				memcpy(img + off, &v, 8);
				mark(off, 8);
			}
		} else {
			size_t n = (kind >> 4) + 1;
			if (pos + n > len)
				n = len - pos;
			if (off + n > G->max)
				n = G->max - off;
			memcpy(img + off, data + pos, n);
			mark(off, n);
			pos += n;
		}
		if (off + 8 > S->hi)
			S->hi = off + 8 <= G->max ? off + 8 : G->max;
	}
done:
	/* the file ends at size: what lies past it is not part of the image
	 * (only [0, size) is written, checked and opened) */
	if (flags & PMFUZZ_F_SIZE_HDR && size >= sizeof(struct pool_hdr)) {
		((struct pool_hdr *)img)->pool_size = size;
		mark(0, sizeof(struct pool_hdr));
	}
	if ((flags & PMFUZZ_F_REDO) && size >= POOL_LANES_OFF)
		reseal_redo(img, size, &g);
	if ((flags & PMFUZZ_F_UNDO) && size >= POOL_LANES_OFF)
		reseal_undo(img, size, &g);
	if ((flags & PMFUZZ_F_HDR) && size >= sizeof(struct pool_hdr)) {
		((struct pool_hdr *)img)->checksum = hdr_csum((struct pool_hdr *)img);
		mark(0, sizeof(struct pool_hdr));
	}
	return size;
}

/* ---- the oracles after a successful open -------------------------------- */

struct span {
	uint64_t off, len;
};

#define MAX_SPANS 40000
static struct span g_existing[MAX_SPANS];
static unsigned g_nexisting;

static int collect(pm_off off, size_t usable, void *arg)
{
	(void)arg;
	if (g_nexisting < MAX_SPANS)
		g_existing[g_nexisting++] = (struct span){ off, usable };
	return 0;
}

struct mine {
	uint64_t off, len;
	int live;
};
#define MAX_MINE 32
static struct mine g_mine[MAX_MINE];
static unsigned g_nmine;

static void check_alloc(pm_pool *p, uint64_t off, size_t asked, const char *what)
{
	struct pm_pool *ip = p;
	const struct pool_hdr *h = ip->hdr;
	size_t us = pm_usable_size(p, off);
	if (us < asked)
		FAIL("%s: object 0x%llx of %zu bytes has usable size %zu", what,
		     (unsigned long long)off, asked, us);
	uint64_t heap_end = h->chunks_off + h->nchunks * CHUNK_SIZE;
	if (off < h->chunks_off || off + us > heap_end || off + us > ip->size || off + us < off)
		FAIL("%s: object 0x%llx+%zu outside the heap [0x%llx, 0x%llx) / pool %zu", what,
		     (unsigned long long)off, us, (unsigned long long)h->chunks_off,
		     (unsigned long long)heap_end, ip->size);
	for (unsigned i = 0; i < g_nexisting; i++)
		if (off < g_existing[i].off + g_existing[i].len && g_existing[i].off < off + us)
			FAIL("%s: new object 0x%llx+%zu overlaps object 0x%llx+%llu that existed at open",
			     what, (unsigned long long)off, us, (unsigned long long)g_existing[i].off,
			     (unsigned long long)g_existing[i].len);
	for (unsigned i = 0; i < g_nmine; i++)
		if (g_mine[i].live && off < g_mine[i].off + g_mine[i].len && g_mine[i].off < off + us)
			FAIL("%s: new object 0x%llx+%zu overlaps live allocation 0x%llx+%llu", what,
			     (unsigned long long)off, us, (unsigned long long)g_mine[i].off,
			     (unsigned long long)g_mine[i].len);
	if (g_nmine < MAX_MINE)
		g_mine[g_nmine++] = (struct mine){ off, us, 1 };
	/* a store into every byte: outside the pool it faults (guard pages) */
	memset(ip->base + off, 0xa5, us < 4096 ? us : 4096);
	memset(ip->base + off + us - (us < 4096 ? us : 4096), 0x5a, us < 4096 ? us : 4096);
}

static void forget(uint64_t off)
{
	for (unsigned i = 0; i < g_nmine; i++)
		if (g_mine[i].live && g_mine[i].off == off)
			g_mine[i].live = 0;
}

static void must_check(pm_pool *p, const char *when)
{
	struct pm_check_report rep;
	if (pm_check(p, &rep))
		FAILT("check", "pm_check inconsistent %s: %s", when, rep.message);
}

static void run_ops(pm_pool *p, unsigned flags)
{
	g_nexisting = 0;
	g_nmine = 0;
	pm_walk(p, collect, NULL);
	pm_off r = pm_root(p, 64);
	if (!r)
		return; /* a root too small for us, or no room: nothing to do */
	if (pm_usable_size(p, r) < 64)
		FAIL("root 0x%llx has usable size %zu < 64", (unsigned long long)r, pm_usable_size(p, r));
	if (g_nexisting < MAX_SPANS) /* a root pm_root just made is not in the walk */
		g_existing[g_nexisting++] = (struct span){ r, 64 };
	pm_off *slot = PM_D(p, r, pm_off);
	static const size_t sizes[] = { 16, 100, 1000, 4096, 30000, 70000, 300000, 48 };
	for (unsigned i = 0; i < 8; i++) {
		slot[i] = 0;
		int rc = pmalloc(p, &slot[i], sizes[i]);
		if (rc == 0) {
			if (!slot[i])
				FAIL("pmalloc(%zu) returned 0 and a null destination", sizes[i]);
			check_alloc(p, slot[i], sizes[i], "pmalloc");
		} else if (rc > 0 || slot[i]) {
			FAIL("pmalloc(%zu) failed with %d but set the destination", sizes[i], rc);
		}
	}
	for (unsigned i = 1; i < 8; i += 3) {
		uint64_t o = slot[i];
		if (!o)
			continue;
		int rc = pfree(p, &slot[i]);
		if (rc == 0) {
			if (slot[i])
				FAIL("pfree left the destination set");
			forget(o);
		}
	}
	must_check(p, "after pmalloc/pfree");
	/* an aborted transaction: the bytes come back */
	uint8_t before[64], before2[64];
	memcpy(before, slot, 64);
	uint8_t *o0 = slot[0] ? PM_D(p, slot[0], uint8_t) : NULL;
	uint8_t *o5 = slot[5] ? PM_D(p, slot[5], uint8_t) : NULL;
	static uint8_t before5[20000];
	if (o0)
		memcpy(before2, o0, 16);
	if (o5)
		memcpy(before5, o5, sizeof(before5));
	if (tx_begin(p) == 0) {
		if (tx_add(slot, 64) == 0) {
			/* a transaction with a logged range must be rollback-able
			 * after a crash: some lane's undo log is active (F9) */
			struct pm_pool *ip = p;
			unsigned act = 0;
			for (unsigned i = 0; i < ip->nlanes; i++)
				act += ip->lanes[i].pl->undo.active != 0;
			if (!act)
				FAIL("tx_add logged a range but no lane's undo log is active (undo.gen wrapped?): a crash now would not roll back");
			memset(slot, 0xee, 64);
		}
		if (o0 && tx_add(o0, 16) == 0)
			memset(o0, 0xdd, 16);
		pm_off t = tx_pmalloc(200);
		if (t && (t < ((struct pm_pool *)p)->hdr->chunks_off || t >= p->size))
			FAIL("tx_pmalloc returned 0x%llx outside the heap", (unsigned long long)t);
		if (o5 && (flags & PMFUZZ_F_BIGTX) && tx_add(o5, sizeof(before5)) == 0)
			memset(o5, 0xcc, sizeof(before5));
		if (tx_stage() == PM_TX_STAGE_WORK)
			tx_abort(PM_ECANCELED);
	}
	tx_end();
	if (memcmp(before, slot, 64) != 0)
		FAIL("tx_abort did not restore the root's 64 bytes");
	if (o0 && memcmp(before2, o0, 16) != 0)
		FAIL("tx_abort did not restore object 0x%llx", (unsigned long long)slot[0]);
	if (o5 && (flags & PMFUZZ_F_BIGTX) && memcmp(before5, o5, sizeof(before5)) != 0)
		FAIL("tx_abort did not restore 20000 bytes of object 0x%llx", (unsigned long long)slot[5]);
	must_check(p, "after an aborted transaction");
	/* a committed one */
	if (tx_begin(p) == 0) {
		tx_add(slot, 64);
		pm_off t = tx_pmalloc(500);
		slot[1] = t;
		if (slot[4])
			tx_pfree(slot[4]);
		slot[4] = 0;
	}
	int rc = tx_end();
	if (rc == 0) {
		if (slot[1])
			check_alloc(p, slot[1], 500, "tx_pmalloc (committed)");
	}
	must_check(p, "after a committed transaction");
	/* persistent globals: whatever the directory holds, reading it, a
	 * registration and a save either work or fail with a code */
	uint64_t g1[2], g2[40];
	int r1 = pm_perm_load(p, "fz1", g1, sizeof(g1));
	if (r1 > 1 || pm_perm_load(p, "fz2", g2, sizeof(g2)) > 1)
		FAIL("pm_perm_load returned more than 1");
	if (pm_perm(p, "fz1", g1, sizeof(g1)) >= 0) {
		g1[0]++;
		if (pm_perm_save(p) == 0 && (pm_perm_load(p, "fz1", g2, sizeof(g1)) != 1 || g2[0] != g1[0]))
			FAIL("pm_perm_save succeeded but the image does not read back");
	}
	must_check(p, "after pm_perm_save");
}

/* ---- the target --------------------------------------------------------- */

/* PMFUZZ_VERIFY_SYNC=1: the harness checks itself, reading the file with
 * pread (which, unlike the mapping, leaves holes as holes). */
static int verify_sync(void)
{
	static int verify = -1;
	if (verify < 0)
		verify = getenv("PMFUZZ_VERIFY_SYNC") != NULL;
	return verify;
}

static size_t read_differs(size_t size)
{
	static uint8_t buf[65536];
	for (size_t o = 0; o < size; o += sizeof(buf)) {
		size_t n = size - o < sizeof(buf) ? size - o : sizeof(buf);
		if (pread(S->fd, buf, n, (off_t)o) != (ssize_t)n)
			die("pread of the work file");
		if (memcmp(buf, S->img + o, n) == 0)
			continue;
		size_t i = 0;
		while (buf[i] == S->img[o + i])
			i++;
		return o + i;
	}
	return SIZE_MAX;
}

/* Seeded bugs that show what the incremental file handling's checks
 * catch (fuzz/CMakeLists.txt builds pmfuzz_replay_hbugN and expects each
 * replay to fail with the message named): 1, other pages are never punched
 * out (the self-check, [harness]); 2, the want list misses the pages this
 * build patched ([harness]); 3, a refused open "writes" a byte into a page
 * outside the want list, 4, it punches out one of the image's nonzero pages
 * (both the write oracle, [write]). */
#ifndef PMFUZZ_HBUG
#define PMFUZZ_HBUG 0
#endif
static void hbug_write(size_t size)
{
	unsigned p = (unsigned)(size / 4096) - 1;
	if (PMFUZZ_HBUG == 3) {
		/* the last whole page outside the want list (a hole, usually) */
		while (p > 0 && S->page_gen[p] == S->gen)
			p--;
		S->map[(size_t)p * 4096 + 40] ^= 0x10;
	} else if (S->nwant > 0) {
		size_t o = (size_t)S->want[S->nwant / 2] * 4096;
		if (o + 4096 <= size && !all_zero(S->img + o, 4096))
			(void)fallocate(S->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)o, 4096);
	}
}

/* The pages of [0, size) in which the image may be nonzero (the slot's
 * want list): the seed's nonzero pages and every page a range of this build
 * touched (or, when too many ranges were patched to list, every nonzero
 * page of the image).  Every other page of the image is zero (put_back
 * restores the previous build's ranges from the seed, zero past its end). */
static void want_pages(size_t size)
{
	unsigned npages = (unsigned)((size + 4095) / 4096);
	S->nwant = 0;
	if (++S->gen == 0) {
		memset(S->page_gen, 0, sizeof(S->page_gen));
		S->gen = 1;
	}
#define WANT(p)                                                                \
	do {                                                                       \
		unsigned p_ = (p);                                                     \
		if (p_ < npages && S->page_gen[p_] != S->gen) {                        \
			S->page_gen[p_] = S->gen;                                          \
			S->want[S->nwant++] = p_;                                          \
		}                                                                      \
	} while (0)
	if (S->dirty_all) {
		for (size_t o = 0; o < size; o += 4096)
			if (!all_zero(S->img + o, size - o < 4096 ? size - o : 4096))
				WANT((unsigned)(o / 4096));
		return;
	}
	for (unsigned i = 0; i < S->nseed_nz; i++)
		WANT(S->seed_nz[i]);
	for (unsigned i = 0; i < S->ndirty && PMFUZZ_HBUG != 2; i++) {
		size_t o = S->dirty[i].off, e = o + S->dirty[i].len;
		for (size_t q = o / 4096; q * 4096 < e; q++)
			WANT((unsigned)q);
	}
#undef WANT
}

/* Walk the pages of [0, size) that the work file holds (tmpfs: data, not
 * holes; a hole reads as zeros) and are not in the want list: each must be
 * zero.  fix: punch out the ones that are not (returns 0); else return the
 * offset of the first nonzero byte found, or SIZE_MAX. */
static size_t other_pages(size_t size, int fix)
{
	size_t bad = SIZE_MAX;
	off_t pos = 0;
	while ((size_t)pos < size) {
		off_t d = lseek(S->fd, pos, SEEK_DATA);
		if (d < 0 || (size_t)d >= size)
			break;
		off_t h = lseek(S->fd, d, SEEK_HOLE);
		if (h < 0 || (size_t)h > size)
			h = (off_t)size;
		for (size_t q = (size_t)d / 4096; q * 4096 < (size_t)h; q++) {
			size_t o = q * 4096, n = size - o < 4096 ? size - o : 4096;
			if (S->page_gen[q] == S->gen || all_zero(S->map + o, n))
				continue;
			if (!fix) {
				size_t i = 0;
				while (!S->map[o + i])
					i++;
				if (o + i < bad)
					bad = o + i;
			} else if (PMFUZZ_HBUG != 1 && fallocate(S->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)o,
			                     (off_t)n)) {
				die("punching a hole in the work file");
			}
		}
		pos = h;
	}
	return fix ? 0 : bad;
}

/* Does the work file hold the image exactly?  SIZE_MAX, or the offset of
 * the first difference found. */
static size_t file_differs(size_t size)
{
	const uint8_t *img = S->img, *map = S->map;
	size_t bad = SIZE_MAX;
	for (unsigned k = 0; k < S->nwant; k++) {
		size_t o = (size_t)S->want[k] * 4096, n = size - o < 4096 ? size - o : 4096;
		if (memcmp(map + o, img + o, n) == 0)
			continue;
		size_t i = 0;
		while (map[o + i] == img[o + i])
			i++;
		if (o + i < bad)
			bad = o + i;
	}
	size_t b2 = other_pages(size, 0);
	if (b2 < bad)
		bad = b2;
	if (verify_sync() && (bad == SIZE_MAX) != (read_differs(size) == SIZE_MAX))
		FAILT("harness", "file_differs and a read of the file disagree");
	return bad;
}

/* Make the slot's work file hold its image [0, size), through the
 * harness's own shared mapping (the page cache pm_open maps too).  When the
 * file still holds the previous build's image (a refused open, which the
 * oracle compared), only the ranges of that build and of this one are
 * rewritten.  Else (a successful open and the operations wrote to it) the
 * want pages are compared and rewritten where they differ, and every other
 * page the file holds must be zero or is punched out: the seeds are mostly
 * zero pages (6 to 80 of 1024 are not), which tmpfs keeps as holes, so
 * this reads a few pages, not the file. */
static void sync_file(size_t size)
{
	const uint8_t *img = S->img;
	if (S->fd < 0) {
		if ((S->fd = open(S->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
			die(S->path);
		S->map = mmap(NULL, MAX_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, S->fd, 0);
		if (S->map == MAP_FAILED)
			die("mmap of the work file");
	}
	want_pages(size);
	/* a growable pool's operations may have extended the file */
	struct stat st;
	if (fstat(S->fd, &st) == 0 && (size_t)st.st_size != S->fsize) {
		S->fsize = (size_t)st.st_size;
		S->file_exact = 0;
	}
	size_t old = S->fsize;
	/* a shrink drops what lies past size; a growth adds holes (zeros) */
	if (size != S->fsize && ftruncate(S->fd, (off_t)size))
		die(S->path);
	if (S->file_exact && !S->prev_dirty_all && !S->dirty_all) {
		const struct range *set[2] = { S->prev_dirty, S->dirty };
		unsigned cnt[2] = { S->nprev_dirty, S->ndirty };
		for (unsigned k = 0; k < 2; k++)
			for (unsigned i = 0; i < cnt[k]; i++) {
				size_t o = set[k][i].off, n = set[k][i].len;
				if (o < size)
					memcpy(S->map + o, img + o, o + n <= size ? n : size - o);
			}
		/* what the file gained past its old end is zero: the seed's
		 * nonzero pages there need writing */
		for (unsigned k = 0; k < S->nwant && size > old; k++) {
			size_t o = (size_t)S->want[k] * 4096, e = o + 4096 < size ? o + 4096 : size;
			if (e > old) {
				o = o > old ? o : old;
				memcpy(S->map + o, img + o, e - o);
			}
		}
	} else {
		for (unsigned k = 0; k < S->nwant; k++) {
			size_t o = (size_t)S->want[k] * 4096, n = size - o < 4096 ? size - o : 4096;
			if (memcmp(S->map + o, img + o, n))
				memcpy(S->map + o, img + o, n);
		}
		other_pages(size, 1);
	}
	S->fsize = size;
	S->file_exact = 0; /* until the oracle sees it unchanged */
	if (verify_sync() && read_differs(size) != SIZE_MAX)
		FAILT("harness", "the work file does not hold the image after sync_file");
}

int pmfuzz_one(const uint8_t *data, size_t len)
{
	pmfuzz_init();
	unsigned seed, flags;
	size_t size = build_image(data, len, &seed, &flags);
	if (S->hi > MAX_FILE_SIZE)
		abort();
	if (pmfuzz_verbose)
		fprintf(stderr, "pmfuzz: seed %u (%s, %s), flags 0x%x, size %zu\n", seed,
		        g_seed_name[seed], g_geo[geo_of_flags(flags)].name, flags, size);
	sync_file(size);
	const char *work = S->path;

	struct pm_check_report rep1;
	int crc = pm_check_path(work, &rep1);
	if (pmfuzz_verbose)
		fprintf(stderr, "pmfuzz: pm_check_path: %d %s\n", crc, crc ? rep1.message : "");

	pm_pool *p = pm_open(work);
	if (!p) {
		int e = pm_last_error();
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", pm_errormsg());
		if (pmfuzz_verbose)
			fprintf(stderr, "pmfuzz: pm_open: %d %s\n", e, msg);
		struct stat st;
		if (fstat(S->fd, &st))
			abort();
		size_t got = (size_t)st.st_size, diff;
		if (PMFUZZ_HBUG == 3 || PMFUZZ_HBUG == 4)
			hbug_write(size);
		if (got != size)
			FAILT("write", "a failed pm_open (%s) changed the file size from %zu to %zu", msg, size, got);
		else if ((diff = file_differs(size)) != SIZE_MAX) {
			FAILT("write", "a failed pm_open (%s) wrote to the file (first difference at 0x%zx)", msg, diff);
		} else {
			S->file_exact = 1;
		}
		if (crc == 0)
			FAILT("agree", "pm_check_path calls the pool consistent, pm_open refuses it: %s", msg);
		return 0;
	}
	struct pm_check_report rep2;
	if (pm_check(p, &rep2))
		FAILT("check", "pm_open accepted a pool that pm_check calls inconsistent: %s", rep2.message);
	if (crc != 0)
		FAILT("agree", "pm_open accepted a pool that pm_check_path rejects: %s", rep1.message);
	/* recovery left a pool that opens again, as consistent, with nothing
	 * left to recover (a log it planted or did not void is replayed now) */
	pm_close(p);
	p = pm_open(work);
	if (!p)
		FAILT("reopen", "a pool that opened once does not open again: %s", pm_errormsg());
	if (pm_check(p, &rep2))
		FAILT("reopen", "second pm_open: pm_check inconsistent: %s", rep2.message);
	run_ops(p, flags);
	pm_close(p);
	struct pm_check_report rep3;
	if (pm_check_path(work, &rep3))
		FAIL("after the operations and pm_close, pm_check_path: %s", rep3.message);
	return 0;
}

const uint8_t *pmfuzz_image(const uint8_t *data, size_t len, size_t *size)
{
	pmfuzz_init();
	unsigned seed, flags;
	*size = build_image(data, len, &seed, &flags);
	S->file_exact = 0; /* the slot's file was not given this image */
	return S->img;
}

#ifdef PMFUZZ_LIBFUZZER
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	pmfuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	return pmfuzz_one(data, len);
}
#endif
