/*
 * test_crash_model.c -- random, model-based crash checker: power-loss and
 * process-kill images at every flush and fence of a long sequence of
 * operations, each recovered in a forked child and compared with an
 * in-DRAM model of the logical state (durable linearizability).
 *
 * What it checks.  One pool, opened once (plus a rare reopen operation), on
 * a recording flush table (flush_set_override, the harness seam), starting
 * from a USED heap (the whole heap filled with nonzero bytes and freed, so
 * stale contents are not zero, and empty runs between pinned large objects).
 * Operations run back to back, so lazy state (lazy active = 0, pending redo
 * invalidations) carries from one into the next: pmalloc/pzalloc/pfree,
 * pm_reserve + fill + pm_set_value (also into a word of an object reserved
 * in the same publish: linked nodes) + pm_defer_free + pm_publish, pm_cancel,
 * transactions (tx_add, tx_add_ranges, tx_pmalloc/tx_pzalloc/tx_pfree, nesting, abort, a
 * first tx_add spanning an object tx_pmalloc'ed in the same transaction so
 * that several gaps are logged, a transaction overflowing the lane's 12 KiB
 * undo area), big transactions (more tx_pmalloc/tx_pfree than the lane's
 * redo log holds: the commit's action records in the undo chain, issue 12),
 * objects over 32 KiB (issue 12's sizes 32 KiB + 1, 33 000, 48 KiB, 64 KiB,
 * 100 KB, 200 KB, 500 KB, 1 MiB, 3 MiB: big-class blocks in runs of 1-16
 * chunks and whole-chunk LARGE objects, and random 40 KiB .. 300 KiB ones)
 * allocated, freed, reserved over empty runs and aborted / cancelled,
 * pm_persist of a direct store, pm_perm_save of three registered blocks
 * (issue 18: every block as of the same save; seeded bug 41, images
 * overwritten without undo, fails it at 150 operations).
 *
 * The model.  Root words, each slot's object (null, or allocated with its
 * size, and contents where the API promises them: pzalloc's zeroes, the
 * pattern written before a publish or inside a committed transaction,
 * transactional writes, pm_persist'ed words; pmalloc's contents are not
 * modelled), linked children, and the exact set of allocated objects
 * (pm_walk must list exactly the root and the reachable objects: a leak or a
 * phantom object is a wrong state).  Each operation computes the model after
 * it before it runs; an object whose offset is not known yet (allocation in
 * flight) matches any allocated object of the right size and contents.
 *
 * Persistence model.  A flush records a snapshot of the flushed words; the
 * fence after it makes the snapshot durable (the shadow).  At every fence,
 * before it takes effect, every word where memory and shadow differ is
 * pending and may be on media holding ANY value it held since it was last
 * durable: the values seen at every flush call and every fence are kept.
 * Values a word held between two such calls are NOT observed (a store
 * overwritten before the next flush/fence call is invisible here; icount,
 * which single-steps, covers that).  Images: the shadow plus no pending
 * word, all of them, each single word and all-but-one (exhaustive up to
 * PMSTORE_MODEL_EXHAUST pending words; beyond, every word that overwrites a
 * value made durable in the last 8 fences -- evidence such as a commit block
 * -- plus random samples), each cache line and all-but-one line (every line
 * that starts or ends a run of pending lines, plus samples), random subsets,
 * and random per-word value choices; plus a process-kill image (memory as
 * it is) at every flush and every fence.  Each distinct image (per
 * operation) is opened in a forked child (in a fresh thread: no inherited
 * transaction state): recovery, pm_check (clean, no log pending), pm_walk,
 * and the state must equal the model before or after the operation in
 * flight -- never an earlier state, never a mix.
 *
 * Recovery crashed.  For a sample of images the child runs its recovery on
 * a recording table too, crashes it at each of ITS fences (power-loss images
 * of recovery's writes) and right after pm_open returns (power loss and
 * kill), recovers those in grandchildren and requires the same state as the
 * uncrashed recovery.  Follow-on: after a good recovery the child (for a
 * sample of images) runs a few more operations (a large reservation or
 * transactional allocation that is cancelled or aborted, an allocation, a
 * free, a transaction) on the recovered pool, closes, reopens, pm_checks and
 * compares with the model continued from the recovered state: this sees
 * lazy state left wrong by recovery or by the operation in flight.
 *
 * Targeted cases (PMSTORE_MODEL_CASE=A1|A2|A3|C1|R1|BIG, or `cases` for the
 * first four) run short deterministic sequences for the bugs of issue 11
 * (and R1, found by the follow-on: a redo log rejected at recovery comes
 * back once its block is reused; BIG: three big transactions, each
 * followed by a small one, issue 12); the random mode also queues those shapes
 * now and then.  Environment: PMSTORE_MODEL_SEED, PMSTORE_MODEL_OPS,
 * PMSTORE_MODEL_SEEDS (that many seeds from SEED), PMSTORE_MODEL_TWICE /
 * PMSTORE_MODEL_FOLLOW (1 image in N; 0 = never), PMSTORE_MODEL_EXHAUST and
 * PMSTORE_MODEL_SAMPLES (tier sizes), PMSTORE_MODEL_LARGE (1 in N sizes of
 * allocations and reservations is over 32 KiB, default 8; below 8, also 1
 * in N operations allocates one of issue 12's sizes, eight blocks of one
 * big class in one publish, or frees),
 * PMSTORE_MODEL_MAXFAIL (stop after so
 * many failing images), PMSTORE_MODEL_TRACK=0 (full scans instead of
 * mprotect write tracking), PMSTORE_TEST_DIR (run directory parent).
 *
 * What it can NOT catch: anything between two flush/fence calls (see
 * above); multi-thread hazards (one thread, one lane: A4, C2, C3 are out of
 * reach); a cache line torn inside an 8-byte word; media errors; states
 * that differ only in bytes the model does not promise (pmalloc contents,
 * usable bytes past the requested size); crashes during the follow-on
 * operations (not recorded); sampled tiers may miss a bad subset that only
 * one combination of many pending words produces.  Flushes are taken at
 * 8-byte granularity (stricter than a cache line: a neighbouring word in a
 * flushed line is not assumed written back).
 */
#include "test_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "flush/flush.h"
#include "pool/pool_internal.h"

#define POOL_SZ ((size_t)8 << 20)
#define POOL_WORDS (POOL_SZ / 8)
#define NLANES 8
#define NWORDS 64
#define NSLOTS 40
#define NPINS 4   /* slots 0..NPINS-1: large objects never freed */
#define PIN_SIZE ((uint32_t)256 << 10) /* one whole chunk: a LARGE object */
#define NB_SIZE 64 /* the class of the span transaction's neighbours */
#define MAXL 8      /* content layers per modelled object */
#define KEEP_MAX 4  /* failing images kept */
#define PRINT_MAX 12

struct root {
	uint64_t words[NWORDS];
	pm_off slots[NSLOTS];
};

/* ---- the model -------------------------------------------------------- */

enum { B_UNDEF, B_ZERO, B_PAT, B_STR };
enum { L_PAT, L_VAL };

struct layer {
	uint32_t start, n; /* words */
	uint32_t kind;
	uint64_t v; /* L_VAL: the value; L_PAT: the pattern seed */
};

struct obj {
	int ref;
	uint64_t off;  /* 0: not known yet (allocation in flight) */
	uint32_t size; /* bytes asked for */
	uint32_t base;
	uint32_t blim; /* nonzero: the base is promised below word blim only
	                * (pm_realloc / tx_prealloc keep a prefix) */
	uint64_t seed;
	unsigned nl;
	struct layer l[MAXL];
	struct obj *child; /* linked node: word link_word holds its offset */
	uint32_t link_word;
	uint64_t *exp; /* expected words, computed before forking (cache) */
};

#define PERM_NB 3 /* persistent globals "g0".."g2", 32 bytes each */
struct model {
	uint64_t perm[PERM_NB][4];
	uint8_t perm_saved[PERM_NB];
	uint64_t words[NWORDS];
	struct obj *slot[NSLOTS];
	uint32_t root_size; /* 0: not checked (never grown) */
};

static struct model before, after;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t pat(uint64_t seed, uint64_t i)
{
	return mix(seed * 0x9e3779b97f4a7c15ULL + i + 1) | 1;
}

/* Word i of an n-word string of pm_strdup / tx_strdup: no NUL byte but
 * the last (8n - 1 characters). */
static uint64_t str_word(uint64_t seed, uint64_t i, uint64_t n)
{
	uint64_t w = pat(seed, i) | UINT64_C(0x0101010101010101);
	return i + 1 == n ? w & UINT64_C(0x00ffffffffffffff) : w;
}

static uint64_t rng;
static uint64_t rnd64(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}
static unsigned rndn(unsigned n)
{
	return n ? (unsigned)(rnd64() % n) : 0;
}

static struct obj *obj_new(uint32_t size, unsigned base_kind, uint64_t seed)
{
	struct obj *o = calloc(1, sizeof(*o));
	if (!o)
		abort();
	o->ref = 1;
	o->size = size;
	o->base = base_kind;
	o->seed = seed;
	return o;
}

static struct obj *obj_get(struct obj *o)
{
	if (o)
		o->ref++;
	return o;
}

static void obj_put(struct obj *o)
{
	if (o && --o->ref == 0) {
		obj_put(o->child);
		free(o->exp);
		free(o);
	}
}

/* The slot's object in `after`, private to it (copy on write). */
static struct obj *obj_mut(int j)
{
	struct obj *o = after.slot[j];
	if (o->ref > 1) {
		struct obj *c = malloc(sizeof(*c));
		if (!c)
			abort();
		*c = *o;
		c->ref = 1;
		c->exp = NULL;
		obj_get(c->child);
		o->ref--;
		after.slot[j] = c;
		o = c;
	}
	return o;
}

static void obj_layer(struct obj *o, uint32_t start, uint32_t n, unsigned kind, uint64_t v)
{
	if (o->nl == MAXL)
		abort(); /* callers check */
	free(o->exp);
	o->exp = NULL;
	o->l[o->nl++] = (struct layer){start, n, kind, v};
}

/* Word i of the modelled contents; *def = 0 where nothing is promised. */
static uint64_t obj_word(const struct obj *o, uint32_t i, int *def)
{
	*def = 1;
	for (unsigned k = o->nl; k-- > 0;) {
		const struct layer *l = &o->l[k];
		if (i >= l->start && i < l->start + l->n)
			return l->kind == L_VAL ? l->v : pat(l->v, i);
	}
	if (o->blim && i >= o->blim) {
		*def = 0;
		return 0;
	}
	if (o->base == B_ZERO)
		return 0;
	if (o->base == B_PAT)
		return pat(o->seed, i);
	if (o->base == B_STR)
		return str_word(o->seed, i, o->size / 8);
	*def = 0;
	return 0;
}

static void model_set(struct model *dst, const struct model *src)
{
	if (dst == src)
		return;
	for (int j = 0; j < NSLOTS; j++)
		obj_get(src->slot[j]);
	for (int j = 0; j < NSLOTS; j++)
		obj_put(dst->slot[j]);
	*dst = *src;
}

static void slot_set(int j, struct obj *o)
{
	obj_put(after.slot[j]);
	after.slot[j] = o;
}

/* ---- run-wide state ---------------------------------------------------- */

static char rundir[256], path[300], img_path[320], img2_path[320], exe[512];
static const char *case_name = "random";
static uint64_t run_seed;
static int run_ops;
static pm_pool *pool;
static char *base;
static struct root *rt;
static uint64_t nb_stride;

static const char *op_name = "setup";
static unsigned long op_index;
static unsigned long batch_adds, perm_saves;
static unsigned long fences_seen, op_fence, images, kill_images, failures, span_multi,
	parent_errors;
/* counted by the children, in a shared page */
static struct shared_counts {
	unsigned long rec_images, twice_runs, follow_runs;
	int file_ok; /* the child left img_path holding its image */
} *SH;
/*
 * img_path is rewritten only where it may differ from the next image: the
 * words the shadow changed since and the previous image's pending words
 * (the child restores what recovery changed before it exits).
 */
#define DIRTY_MAX 65536
static uint32_t dirtyw[DIRTY_MAX];
static unsigned ndirty;
static int file_valid;

static void dirty_add(uint32_t w)
{
	if (ndirty < DIRTY_MAX)
		dirtyw[ndirty++] = w;
	else
		file_valid = 0;
}
static int twice_every = 96, follow_every = 5, exhaust = 12, samples = 4;
static unsigned long max_failures = 30; /* the run stops after that many */
static int in_child; /* 1 child, 2 grandchild */
static jmp_buf op_abort;
static int stopped;
static int follow_large = 1; /* 0: no large objects (cases that must not show A1) */
static const char *follow_of;
static char follow_trace[600]; /* the follow-on operations, for reports */

static void trace_slot(int j)
{
	size_t l = strlen(follow_trace);
	if (in_child)
		snprintf(follow_trace + l, sizeof(follow_trace) - l, ":%d", j);
} /* in a follow-on: the operation crashed */

struct fail_rec {
	const char *op;
	unsigned long idx, n;
};
static struct fail_rec fail_by_op[32];
static unsigned nfail_ops;

/* An operation the library refused unexpectedly: a finding too. */
#define REQUIRE(c)                                                                      \
	do {                                                                            \
		if (!(c))                                                               \
			require_failed(__LINE__, #c);                                  \
	} while (0)

static void print_repro(void);
static void require_failed(int line, const char *what)
{
	if (in_child)
		fprintf(stderr, "FAIL [follow-on after a crash in %s, image %lu] op=%s: line %d: %s (%s)\n",
		        follow_of, images, op_name, line, what, pm_errormsg());
	else
		fprintf(stderr, "FAIL op=%s #%lu: line %d: %s (%s)\n", op_name, op_index, line, what,
		        pm_errormsg());
	print_repro();
	if (in_child)
		_exit(1);
	parent_errors++;
	longjmp(op_abort, 1);
}

/* ---- recording flush table -------------------------------------------- */

enum { M_OFF, M_PARENT, M_RECOVERY };

struct hent {
	uint32_t n, next_free;
	uint64_t v[6];
};

static struct {
	int mode;
	char *base;          /* mapping, or NULL until found by path */
	const char *path;    /* file mapped by the pool being recorded */
	uint8_t *shadow;     /* what is durable */
	uint64_t shadow_hash; /* xor of hw(w, shadow[w]) over all words */
	struct {
		uint32_t lo, n; /* words */
		size_t at;      /* in snap */
	} *fl;
	unsigned nfl, capfl;
	uint64_t *snap;
	size_t nsnap, capsnap;
	uint32_t *hidx; /* per word: history entry, 0 = none */
	struct hent *h;
	uint32_t nh, caph, hfree;
} R;

static uint32_t *pend, np;
/* per word: the fence that last made a new value durable (0: before the run) */
static uint32_t *dur_at;
static uint32_t *pairs_w;
static uint64_t *pairs_v;

static uint64_t hw(uint64_t w, uint64_t v)
{
	return mix(v ^ mix(w + 0x632be59bd9b4e019ULL));
}

static void resolve_base(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char p[600];
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %599s", &lo, &hi, p) == 3 &&
		    !strcmp(p, R.path) && hi - lo == POOL_SZ) {
			R.base = (char *)lo;
			break;
		}
	}
	if (f)
		fclose(f);
}

static void hist_clear(uint32_t w)
{
	uint32_t e = R.hidx[w];
	if (e) {
		R.h[e].next_free = R.hfree;
		R.hfree = e;
		R.hidx[w] = 0;
	}
}

static void hist_note(uint32_t w, uint64_t v)
{
	uint32_t e = R.hidx[w];
	if (!e) {
		if (R.hfree) {
			e = R.hfree;
			R.hfree = R.h[e].next_free;
		} else {
			if (R.nh == R.caph) {
				R.caph = R.caph ? R.caph * 2 : 4096;
				R.h = realloc(R.h, R.caph * sizeof(R.h[0]));
				if (!R.h)
					abort();
				if (R.nh == 0)
					R.nh = 1; /* entry 0 means none */
			}
			e = R.nh++;
		}
		R.h[e].n = 0;
		R.hidx[w] = e;
	}
	struct hent *h = &R.h[e];
	if (h->n && h->v[(h->n - 1) % 6] == v)
		return;
	h->v[h->n % 6] = v;
	h->n++;
}

/*
 * Write tracking (parent only): after each scan the pool mapping is made
 * read-only; the first store to a page faults, the handler marks the page
 * and makes it writable.  A scan then looks only at pages written since,
 * pages whose shadow changed, and pages that held pending words.
 */
#define NPAGES (POOL_SZ / 4096)
static uint8_t pg_dirty[NPAGES], pg_pend[NPAGES];
static char *track_base; /* mapping being tracked, or NULL */
static int track_on = 1;

static void segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	char *a = si->si_addr;
	if (track_base && a >= track_base && a < track_base + POOL_SZ) {
		size_t pg = (size_t)(a - track_base) / 4096;
		pg_dirty[pg] = 1;
		mprotect(track_base + pg * 4096, 4096, PROT_READ | PROT_WRITE);
		return;
	}
	signal(sig, SIG_DFL); /* a real fault: crash on return */
}

static void track_stop(void)
{
	if (track_base)
		mprotect(track_base, POOL_SZ, PROT_READ | PROT_WRITE);
	track_base = NULL;
}

/* Pending words (memory != shadow), noting their values in the history. */
static void scan(void)
{
	const uint64_t *m = (const uint64_t *)R.base, *s = (const uint64_t *)R.shadow;
	int full = R.mode != M_PARENT || !track_on || track_base != R.base;
	if (full && track_base)
		track_stop();
	np = 0;
	for (size_t pg = 0; pg < POOL_SZ; pg += 4096) {
		if (!full && !pg_dirty[pg / 4096] && !pg_pend[pg / 4096])
			continue;
		pg_dirty[pg / 4096] = 0;
		pg_pend[pg / 4096] = 0;
		if (!memcmp(R.base + pg, R.shadow + pg, 4096))
			continue;
		pg_pend[pg / 4096] = 1;
		for (uint32_t w = (uint32_t)(pg / 8); w < (pg + 4096) / 8; w++)
			if (m[w] != s[w]) {
				pend[np++] = w;
				hist_note(w, m[w]);
			}
	}
	if (R.mode == M_PARENT && track_on) {
		if (full) {
			memset(pg_dirty, 0, sizeof(pg_dirty));
			track_base = R.base;
		}
		mprotect(track_base, POOL_SZ, PROT_READ);
	}
}

static void crash_point(int at_fence);

static int rec_attach(void)
{
	if (R.mode == M_OFF)
		return 0;
	if (!R.base && R.path)
		resolve_base();
	return R.base != NULL;
}

static void rec_flush(const void *a, size_t len)
{
	if (!rec_attach())
		return;
	uintptr_t b = (uintptr_t)R.base;
	uintptr_t lo = (uintptr_t)a & ~(uintptr_t)7, hi = ((uintptr_t)a + len + 7) & ~(uintptr_t)7;
	if (lo < b)
		lo = b;
	if (hi > b + POOL_SZ)
		hi = b + POOL_SZ;
	if (hi <= lo)
		return;
	uint32_t n = (uint32_t)((hi - lo) / 8);
	if (R.nfl == R.capfl) {
		R.capfl = R.capfl ? R.capfl * 2 : 1024;
		R.fl = realloc(R.fl, R.capfl * sizeof(R.fl[0]));
	}
	if (R.nsnap + n > R.capsnap) {
		while (R.nsnap + n > R.capsnap)
			R.capsnap = R.capsnap ? R.capsnap * 2 : 65536;
		R.snap = realloc(R.snap, R.capsnap * 8);
	}
	if (!R.fl || !R.snap)
		abort();
	R.fl[R.nfl].lo = (uint32_t)((lo - b) / 8);
	R.fl[R.nfl].n = n;
	R.fl[R.nfl].at = R.nsnap;
	memcpy(R.snap + R.nsnap, (void *)lo, (size_t)n * 8);
	R.nsnap += n;
	R.nfl++;
	if (R.mode == M_PARENT)
		crash_point(0); /* the process-kill image at this flush */
}

static void rec_drain(void)
{
	if (!rec_attach()) {
		R.nfl = 0;
		R.nsnap = 0;
		return;
	}
	if (R.mode == M_PARENT)
		fences_seen++, op_fence++;
	crash_point(1);
	uint64_t *s = (uint64_t *)R.shadow;
	for (unsigned i = 0; i < R.nfl; i++)
		for (uint32_t k = 0; k < R.fl[i].n; k++) {
			uint32_t w = R.fl[i].lo + k;
			uint64_t v = R.snap[R.fl[i].at + k];
			if (s[w] != v) {
				R.shadow_hash ^= hw(w, s[w]) ^ hw(w, v);
				s[w] = v;
				if (R.mode == M_PARENT) {
					dirty_add(w);
					pg_dirty[w / 512] = 1;
				}
				dur_at[w] = (uint32_t)fences_seen;
			}
			hist_clear(w);
		}
	R.nfl = 0;
	R.nsnap = 0;
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
	.name = "record", .flush = rec_flush, .drain = rec_drain,
	.memcpy_nodrain = rec_memcpy, .memset_nodrain = rec_memset,
};

/* Start recording a pool mapped from `file`, whose durable contents are sh. */
static void rec_start(int mode, const char *file, uint8_t *sh)
{
	R.mode = mode;
	R.base = NULL;
	R.path = file;
	R.shadow = sh;
	R.nfl = 0;
	R.nsnap = 0;
	if (!R.hidx)
		R.hidx = calloc(POOL_WORDS, sizeof(R.hidx[0]));
	else
		memset(R.hidx, 0, POOL_WORDS * sizeof(R.hidx[0]));
	R.nh = 0;
	R.hfree = 0;
	uint64_t hsh = 0;
	const uint64_t *s = (const uint64_t *)sh;
	for (uint32_t w = 0; w < POOL_WORDS; w++)
		hsh ^= hw(w, s[w]);
	R.shadow_hash = hsh;
}

/* ---- dedup of images within one operation ----------------------------- */

#define DEDUP_SZ 8192
static uint64_t dedup[DEDUP_SZ];
static unsigned ndedup;

static void dedup_clear(void)
{
	memset(dedup, 0, sizeof(dedup));
	ndedup = 0;
}

/* 1 if the key was new (and is now recorded). */
static int dedup_add(uint64_t key)
{
	key |= 1;
	if (ndedup > DEDUP_SZ * 3 / 4)
		dedup_clear();
	for (unsigned i = (unsigned)(key % DEDUP_SZ);; i = (i + 1) % DEDUP_SZ) {
		if (dedup[i] == key)
			return 0;
		if (!dedup[i]) {
			dedup[i] = key;
			ndedup++;
			return 1;
		}
	}
}

/* Fully defined objects get their expected words computed once, here in
 * the parent, so that each child compares with memcmp. */
static void obj_prepare(struct obj *o)
{
	for (; o; o = o->child) {
		if (o->exp || o->base == B_UNDEF || o->blim)
			continue;
		uint32_t n = o->size / 8;
		o->exp = malloc((size_t)n * 8 + 8);
		if (!o->exp)
			return;
		for (uint32_t i = 0; i < n; i++) {
			int def;
			o->exp[i] = obj_word(o, i, &def);
		}
		if (o->child) /* the link word is not known: the slow path */
			o->exp[o->link_word] = ~o->exp[o->link_word];
	}
}

static void models_prepare(void)
{
	for (int j = 0; j < NSLOTS; j++) {
		obj_prepare(before.slot[j]);
		obj_prepare(after.slot[j]);
	}
}

/* ---- reading and judging a recovered pool ----------------------------- */

struct wobj {
	uint64_t off, usable;
};
#define WALK_MAX 4096
struct walkset {
	struct wobj o[WALK_MAX];
	unsigned n, overflow;
};

static int walk_cb(pm_off off, size_t usable, void *arg)
{
	struct walkset *ws = arg;
	if (ws->n == WALK_MAX) {
		ws->overflow = 1;
		return 1;
	}
	ws->o[ws->n].off = off;
	ws->o[ws->n].usable = usable;
	ws->n++;
	return 0;
}

static const struct wobj *walk_find(const struct walkset *ws, uint64_t off)
{
	unsigned lo = 0, hi = ws->n;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (ws->o[mid].off < off)
			lo = mid + 1;
		else if (ws->o[mid].off > off)
			hi = mid;
		else
			return &ws->o[mid];
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Object at off (actual) against model object o; 0 or -1 with why. */
static int obj_cmp(pm_pool *p, const struct walkset *ws, uint64_t off, const struct obj *o,
                   const char *what, uint64_t *refs, unsigned *nref, char *why, size_t wl)
{
	if (!off) {
		snprintf(why, wl, "%s is null, model has an object of %u bytes", what, o->size);
		return -1;
	}
	if (o->off && off != o->off) {
		snprintf(why, wl, "%s = 0x%llx, model 0x%llx", what, (unsigned long long)off,
		         (unsigned long long)o->off);
		return -1;
	}
	const struct wobj *w = walk_find(ws, off);
	if (!w) {
		snprintf(why, wl, "%s = 0x%llx is not an allocated object (dangling)", what,
		         (unsigned long long)off);
		return -1;
	}
	if (w->usable < o->size) {
		snprintf(why, wl, "%s = 0x%llx: usable %llu < %u asked", what, (unsigned long long)off,
		         (unsigned long long)w->usable, o->size);
		return -1;
	}
	refs[(*nref)++] = off;
	const uint64_t *d = pm_direct(p, off);
	if (o->exp && !memcmp(d, o->exp, (size_t)(o->size / 8) * 8))
		goto contents_ok;
	for (uint32_t i = 0; i < o->size / 8; i++) {
		if (o->child && i == o->link_word)
			continue;
		int def;
		uint64_t v = obj_word(o, i, &def);
		if (def && d[i] != v) {
			snprintf(why, wl, "%s = 0x%llx (%u bytes): word %u = 0x%llx, model 0x%llx", what,
			         (unsigned long long)off, o->size, i, (unsigned long long)d[i],
			         (unsigned long long)v);
			return -1;
		}
	}
contents_ok:
	if (o->child) {
		char cw[64];
		snprintf(cw, sizeof(cw), "%s->word[%u]", what, o->link_word);
		return obj_cmp(p, ws, d[o->link_word], o->child, cw, refs, nref, why, wl);
	}
	return 0;
}

static int state_cmp(pm_pool *p, const struct walkset *ws, const struct model *m, char *why,
                     size_t wl)
{
	pm_off roff = pm_root(p, sizeof(struct root));
	if (!roff) {
		snprintf(why, wl, "no root: %s", pm_errormsg());
		return -1;
	}
	const struct root *r = pm_direct(p, roff);
	if (m->root_size) { /* grown: the size, and zero bytes past struct root */
		if (pm_root_size(p) != m->root_size) {
			snprintf(why, wl, "root size %zu, model %u", pm_root_size(p), m->root_size);
			return -1;
		}
		const uint64_t *t = (const uint64_t *)(r + 1);
		for (uint32_t i = 0; i < (m->root_size - sizeof(*r)) / 8; i++)
			if (t[i]) {
				snprintf(why, wl, "root grown to %u bytes: word %zu = 0x%llx, model 0",
				         m->root_size, sizeof(*r) / 8 + i, (unsigned long long)t[i]);
				return -1;
			}
	}
	for (int i = 0; i < NWORDS; i++)
		if (r->words[i] != m->words[i]) {
			snprintf(why, wl, "root word %d = 0x%llx, model 0x%llx", i,
			         (unsigned long long)r->words[i], (unsigned long long)m->words[i]);
			return -1;
		}
	uint64_t refs[2 * NSLOTS + 1 + 1 + PERM_NB];
	unsigned nref = 0;
	refs[nref++] = roff;
	/* persistent globals (issue 18): each saved block holds the model's
	 * value, the unsaved ones have no image; the directory and the images
	 * are objects too */
	for (int i = 0; i < PERM_NB; i++) {
		char nm[8];
		uint64_t buf[4];
		snprintf(nm, sizeof(nm), "g%d", i);
		int pr = pm_perm_load(p, nm, buf, sizeof(buf));
		if (pr != (m->perm_saved[i] ? 1 : 0) ||
		    (pr == 1 && memcmp(buf, m->perm[i], sizeof(buf)))) {
			snprintf(why, wl, "persistent global %s: load %d (saved in the model: %d), word 0 0x%llx, model 0x%llx",
			         nm, pr, m->perm_saved[i], (unsigned long long)(pr == 1 ? buf[0] : 0),
			         (unsigned long long)m->perm[i][0]);
			return -1;
		}
	}
	nref += (unsigned)perm_objects(p, refs + nref, 1 + PERM_NB);
	for (int j = 0; j < NSLOTS; j++) {
		char what[32];
		snprintf(what, sizeof(what), "slot %d", j);
		if (!m->slot[j]) {
			if (r->slots[j]) {
				snprintf(why, wl, "slot %d = 0x%llx, model empty", j,
				         (unsigned long long)r->slots[j]);
				return -1;
			}
			continue;
		}
		if (obj_cmp(p, ws, r->slots[j], m->slot[j], what, refs, &nref, why, wl))
			return -1;
	}
	qsort(refs, nref, sizeof(refs[0]), cmp_u64);
	for (unsigned i = 1; i < nref; i++)
		if (refs[i] == refs[i - 1]) {
			snprintf(why, wl, "object 0x%llx named twice", (unsigned long long)refs[i]);
			return -1;
		}
	for (unsigned i = 0, k = 0; i < ws->n; i++) {
		if (k < nref && ws->o[i].off == refs[k]) {
			k++;
			continue;
		}
		snprintf(why, wl, "%u objects allocated, %u reachable: 0x%llx (usable %llu) is a leak or phantom",
		         ws->n, nref, (unsigned long long)ws->o[i].off,
		         (unsigned long long)ws->o[i].usable);
		return -1;
	}
	if (ws->overflow) {
		snprintf(why, wl, "more than %d objects allocated (phantoms)", WALK_MAX);
		return -1;
	}
	return 0;
}

static struct walkset wset;

/* pm_check + walk; 0 or -1 with why. */
static int pool_sane(pm_pool *p, char *why, size_t wl)
{
	struct pm_check_report rep;
	if (pm_check(p, &rep)) {
		snprintf(why, wl, "pm_check: %s", rep.message);
		return -1;
	}
	if (rep.logs_pending) {
		snprintf(why, wl, "pm_check: %llu lane logs still valid after recovery",
		         (unsigned long long)rep.logs_pending);
		return -1;
	}
	wset.n = 0;
	wset.overflow = 0;
	pm_walk(p, walk_cb, &wset);
	if (!wset.overflow && rep.objects != wset.n) {
		snprintf(why, wl, "pm_check counts %llu objects, pm_walk %u",
		         (unsigned long long)rep.objects, wset.n);
		return -1;
	}
	return 0;
}

/* Bits: 1 = state before, 2 = state after; 0 = neither (why says both). */
static int verdict(pm_pool *p, char *why, size_t wl)
{
	if (pool_sane(p, why, wl))
		return -1;
	char wb[400] = "", wa[400] = "";
	int bits = (state_cmp(p, &wset, &before, wb, sizeof(wb)) == 0 ? 1 : 0) |
	           (state_cmp(p, &wset, &after, wa, sizeof(wa)) == 0 ? 2 : 0);
	if (!bits)
		snprintf(why, wl, "neither before (%s) nor after (%s)", wb, wa);
	return bits;
}

/* ---- images ------------------------------------------------------------ */

static int write_file(const char *to, const uint8_t *img)
{
	/* no O_TRUNC: rewriting the pages in place is much cheaper on tmpfs */
	int fd = open(to, O_RDWR | O_CREAT, 0600);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || (st.st_size != (off_t)POOL_SZ && ftruncate(fd, (off_t)POOL_SZ))) {
		close(fd);
		return -1;
	}
	size_t done = 0;
	while (done < POOL_SZ) {
		ssize_t k = pwrite(fd, img + done, POOL_SZ - done, (off_t)done);
		if (k <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)k;
	}
	return close(fd);
}

/* Write only the pages holding the listed words (the file holds the rest). */
static int write_pages(const char *to, const uint8_t *img, const uint32_t *w1, unsigned n1,
                       const uint32_t *w2, unsigned n2)
{
	static uint64_t done[POOL_SZ / 4096 / 64];
	memset(done, 0, sizeof(done));
	int fd = open(to, O_RDWR);
	if (fd < 0)
		return -1;
	for (unsigned k = 0; k < n1 + n2; k++) {
		uint32_t pg = (k < n1 ? w1[k] : w2[k - n1]) / 512;
		if (done[pg / 64] >> (pg % 64) & 1)
			continue;
		done[pg / 64] |= UINT64_C(1) << (pg % 64);
		if (pwrite(fd, img + (size_t)pg * 4096, 4096, (off_t)pg * 4096) != 4096) {
			close(fd);
			return -1;
		}
	}
	return close(fd);
}

/* Put back what recovery and the follow-on changed in the image file. */
static void restore_file(const char *to, const uint8_t *img)
{
	int fd = open(to, O_RDWR);
	if (fd < 0)
		return;
	uint8_t *m = mmap(NULL, POOL_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	for (size_t pg = 0; pg < POOL_SZ; pg += 4096)
		if (memcmp(m + pg, img + pg, 4096))
			memcpy(m + pg, img + pg, 4096);
	munmap(m, POOL_SZ);
	SH->file_ok = 1;
}

static const uint32_t *img_w2;
static unsigned img_n2;

static const char *tier_name;
static unsigned tier_n;
static int keep_allowed;

static void print_repro(void)
{
	fprintf(stderr, "  reproduce: PMSTORE_MODEL_SEED=%llu PMSTORE_MODEL_OPS=%d PMSTORE_MODEL_CASE=%s %s\n",
	        (unsigned long long)run_seed, run_ops, case_name, exe);
}

static void report_fail(const char *stage, const char *why, const uint8_t *img)
{
	if (!keep_allowed && failures >= PRINT_MAX)
		return;
	fprintf(stderr, "FAIL op=%s #%lu fence=%lu (op fence %lu) tier=%s (%u words)%s: %s\n",
	        op_name, op_index, fences_seen, op_fence, tier_name, tier_n, stage, why);
	print_repro();
	if (keep_allowed && img) {
		char keep[400];
		snprintf(keep, sizeof(keep), "%s/fail-%lu-op%lu-%s.img", rundir, failures, op_index,
		         tier_name);
		if (write_file(keep, img) == 0)
			fprintf(stderr, "  image kept (before recovery): %s\n", keep);
	}
}

static void *thread_tramp(void *arg)
{
	int (*fn)(void) = (int (*)(void))arg;
	return (void *)(intptr_t)fn();
}

/* Run fn in a fresh thread: no transaction or lane state inherited. */
static int in_thread(int (*fn)(void))
{
	pthread_t t;
	void *ret;
	if (pthread_create(&t, NULL, thread_tramp, (void *)fn))
		return 99;
	pthread_join(t, &ret);
	return (int)(intptr_t)ret;
}

static int wait_child(pid_t pid)
{
	int st;
	if (pid < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(st))
		return 200 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

/* -- grandchild: an image of the child's recovery, crashed -- */

struct gcv {
	int bits;
	unsigned long fence;
	const char *tier;
};
static struct gcv gcv[512];
static unsigned ngcv;
static unsigned long rec_fence;

static int gc_may_print;

static int gc_main(void)
{
	char why[900] = "";
	pm_pool *p = pm_open(img2_path);
	if (!p) {
		if (gc_may_print)
		fprintf(stderr, "FAIL op=%s #%lu fence=%lu tier=%s: recovery crashed at its fence %lu (%s, %u words), re-recovery: pm_open: %s\n",
		        op_name, op_index, fences_seen, tier_name, rec_fence, "", tier_n, pm_errormsg());
		return 1;
	}
	int bits = verdict(p, why, sizeof(why));
	pm_close(p);
	if (bits <= 0) {
		if (gc_may_print)
		fprintf(stderr, "FAIL op=%s #%lu fence=%lu: recovery crashed at its fence %lu (%u words), re-recovery: %s\n",
		        op_name, op_index, fences_seen, rec_fence, tier_n, why);
		return 1;
	}
	return 20 + bits;
}

/* ---- the follow-on operations (child) -------------------------------- */

/* Offsets not known when the image was taken: the recovered ones. */
static void model_adopt(pm_pool *p)
{
	const struct root *r = pm_direct(p, pm_root(p, sizeof(struct root)));
	for (int j = 0; j < NSLOTS; j++) {
		struct obj *o = after.slot[j];
		if (!o)
			continue;
		if (!o->off)
			o->off = r->slots[j];
		if (o->child && !o->child->off)
			o->child->off = ((const uint64_t *)pm_direct(p, o->off))[o->link_word];
	}
}

static void run_follow_on(void);

/* -- child: one image, recovered -- */

static uint8_t *child_img;

static int child_check(void);

static int child_main(void)
{
	int rc = child_check();
	restore_file(img_path, child_img);
	return rc;
}

static int child_check(void)
{
	char why[900] = "";
	int twice = twice_every && (images % (unsigned long)twice_every) == 0;
	int follow = follow_every && (images % (unsigned long)follow_every) == 0;
	if (file_valid ? write_pages(img_path, child_img, dirtyw, ndirty, img_w2, img_n2)
	               : write_file(img_path, child_img)) {
		fprintf(stderr, "cannot write %s: %s\n", img_path, strerror(errno));
		return 2;
	}
	uint8_t *rec_sh = NULL;
	if (twice) {
		rec_sh = malloc(POOL_SZ);
		if (!rec_sh)
			return 2;
		memcpy(rec_sh, child_img, POOL_SZ);
		rec_start(M_RECOVERY, img_path, rec_sh);
		rec_fence = 0;
		ngcv = 0;
		SH->twice_runs++;
		dedup_clear();
		flush_set_override(&rec_ops);
	} else {
		R.mode = M_OFF;
		flush_set_override(NULL);
	}
	pm_pool *p = pm_open(img_path);
	flush_set_override(NULL);
	if (!p) {
		snprintf(why, sizeof(why), "pm_open: %s", pm_errormsg());
		report_fail("", why, child_img);
		return 1;
	}
	int bits = verdict(p, why, sizeof(why));
	if (bits <= 0) {
		report_fail("", why, child_img);
		return 1;
	}
	if (twice) {
		/* crash again right after open: power loss, then kill */
		rec_fence++;
		crash_point(1);
		R.mode = M_OFF;
		for (unsigned i = 0; i < ngcv; i++)
			if (gcv[i].bits != bits) {
				snprintf(why, sizeof(why),
				         "recovery crashed at its fence %lu (tier %s) recovers to %s, uncrashed recovery to %s",
				         gcv[i].fence, gcv[i].tier,
				         gcv[i].bits == 1 ? "before" : gcv[i].bits == 2 ? "after" :
				         gcv[i].bits == 3 ? "before=after" : "a bad state (above)",
				         bits == 1 ? "before" : bits == 2 ? "after" : "before=after");
				report_fail(" [recover twice]", why, child_img);
				return 1;
			}
	}
	if (follow) {
		SH->follow_runs++;
		const char *pop = op_name;
		unsigned long pidx = op_index, pfence = op_fence;
		pool = p;
		base = pm_base(p);
		rt = pm_direct(p, pm_root(p, sizeof(struct root)));
		model_set(&after, (bits & 1) ? &before : &after);
		model_set(&before, &after);
		model_adopt(p);
		rng ^= mix(images);
		in_child = 1;
		follow_of = pop;
		run_follow_on();
		in_child = 0;
		op_name = pop;
		op_index = pidx;
		op_fence = pfence;
		pm_close(p);
		p = pm_open(img_path);
		if (!p) {
			snprintf(why, sizeof(why), "follow-on (%s): reopen: %s", op_name, pm_errormsg());
			report_fail(" [follow-on]", why, child_img);
			return 1;
		}
		char w2[400];
		if (pool_sane(p, w2, sizeof(w2)) || state_cmp(p, &wset, &after, w2, sizeof(w2))) {
			snprintf(why, sizeof(why), "recovered to %s, then follow-on ops [%.300s], reopened: %.400s",
			         bits == 1 ? "before" : bits == 2 ? "after" : "before=after", follow_trace, w2);
			report_fail(" [follow-on]", why, child_img);
			return 1;
		}
	}
	pm_close(p);
	return 0;
}

static void note_failure(void)
{
	failures++;
	if (failures == max_failures && !in_child) {
		fprintf(stderr, "crash_model: %lu failing images, stopping the run (PMSTORE_MODEL_MAXFAIL)\n",
		        failures);
		longjmp(op_abort, 2);
	}
	for (unsigned i = 0; i < nfail_ops; i++)
		if (!strcmp(fail_by_op[i].op, op_name)) {
			fail_by_op[i].n++;
			return;
		}
	if (nfail_ops < 32)
		fail_by_op[nfail_ops++] = (struct fail_rec){op_name, op_index, 1};
}

/* Check the image shadow + pairs (if it is new for this operation). */
static void check_pairs(unsigned n, const char *tier)
{
	uint64_t key = R.shadow_hash ^ mix(op_index * 7919 + 17);
	const uint64_t *s = (const uint64_t *)R.shadow;
	unsigned real = 0;
	for (unsigned i = 0; i < n; i++)
		if (pairs_v[i] != s[pairs_w[i]]) {
			key ^= hw(pairs_w[i], pairs_v[i]) ^ hw(pairs_w[i], s[pairs_w[i]]);
			real++;
		}
	if (!dedup_add(key))
		return;
	tier_name = tier;
	tier_n = real;
	if (R.mode == M_PARENT) {
		images++;
		if (!strcmp(tier, "kill"))
			kill_images++;
		keep_allowed = failures < KEEP_MAX;
		models_prepare();
		img_w2 = pairs_w;
		img_n2 = n;
		SH->file_ok = 0;
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		if (pid == 0) {
			in_child = 1;
			track_base = NULL;
			track_on = 0;
			/* the child's own copy of the shadow becomes the image */
			uint64_t *img = (uint64_t *)R.shadow;
			for (unsigned i = 0; i < n; i++)
				img[pairs_w[i]] = pairs_v[i];
			child_img = R.shadow;
			in_child = 0;
			_exit(in_thread(child_main));
		}
		int rc = wait_child(pid);
		/* the file now holds this image: shadow + these pairs */
		ndirty = 0;
		file_valid = SH->file_ok;
		for (unsigned i = 0; i < n && file_valid; i++)
			dirty_add(pairs_w[i]);
		if (rc != 0) {
			if (rc >= 200 && failures < PRINT_MAX)
				fprintf(stderr, "FAIL op=%s #%lu fence=%lu tier=%s: checking child died (signal %d)\n",
				        op_name, op_index, fences_seen, tier, rc - 200);
			note_failure();
		}
	} else { /* M_RECOVERY, in the child: a grandchild recovers again */
		SH->rec_images++;
		static int gc_failed;
		gc_may_print = !gc_failed && keep_allowed;
		pid_t pid = fork();
		if (pid == 0) {
			in_child = 2;
			uint64_t *img = (uint64_t *)R.shadow;
			for (unsigned i = 0; i < n; i++)
				img[pairs_w[i]] = pairs_v[i];
			if (write_file(img2_path, R.shadow))
				_exit(2);
			R.mode = M_OFF;
			_exit(in_thread(gc_main));
		}
		int rc = wait_child(pid);
		if (rc < 20 || rc > 23)
			gc_failed = 1;
		if (ngcv < 512)
			gcv[ngcv++] = (struct gcv){rc >= 20 && rc <= 23 ? rc - 20 : -1, rec_fence, tier};
	}
}

/* ---- crash points ------------------------------------------------------ */

static unsigned all_pairs(void)
{
	const uint64_t *m = (const uint64_t *)R.base;
	for (unsigned i = 0; i < np; i++) {
		pairs_w[i] = pend[i];
		pairs_v[i] = m[pend[i]];
	}
	return np;
}

static void crash_point(int at_fence)
{
	if (R.mode == M_OFF || !R.base)
		return;
	if (R.mode == M_RECOVERY && at_fence)
		rec_fence++;
	scan();
	if (!at_fence) { /* kill at a flush: memory as it is */
		if (np)
			check_pairs(all_pairs(), "kill");
		return;
	}
	const uint64_t *m = (const uint64_t *)R.base;
	int rec = R.mode == M_RECOVERY;
	unsigned ex = rec ? 4 : (unsigned)exhaust, ns = rec ? 3 : (unsigned)samples;
	check_pairs(0, "none");
	if (!np)
		return;
	check_pairs(all_pairs(), rec ? "all" : "all/kill");
	if (np > 1) {
		/* every pending word that overwrites a value made durable in the
		 * last few fences (evidence an earlier operation may still need:
		 * a commit block, a log), up to a cap, plus samples */
		static uint32_t pick[POOL_WORDS];
		unsigned npk = 0, cap = rec ? ex : 12;
		for (unsigned i = 0; i < np; i++) {
			uint32_t d = dur_at[pend[i]];
			if (np <= ex || (d && fences_seen - d <= 8))
				pick[npk++] = i;
		}
		if (np > ex && npk > cap) { /* the most recent evidence first */
			for (unsigned a = 0; a < cap; a++)
				for (unsigned b = a + 1; b < npk; b++)
					if (dur_at[pend[pick[b]]] > dur_at[pend[pick[a]]]) {
						uint32_t t = pick[a];
						pick[a] = pick[b];
						pick[b] = t;
					}
			npk = cap;
		}
		for (unsigned t = 0; np > ex && t < ns; t++)
			pick[npk++] = rndn(np);
		for (unsigned t = 0; t < npk; t++) {
			pairs_w[0] = pend[pick[t]];
			pairs_v[0] = m[pend[pick[t]]];
			check_pairs(1, "one-word");
		}
		for (unsigned t = 0; t < npk; t++) {
			unsigned n = 0;
			for (unsigned i = 0; i < np; i++)
				if (i != pick[t]) {
					pairs_w[n] = pend[i];
					pairs_v[n++] = m[pend[i]];
				}
			check_pairs(n, "all-but-one-word");
		}
	}
	/* cache lines: the pending words of one line together */
	static uint32_t line_start[POOL_WORDS / 8 + 1];
	unsigned nl = 0;
	for (unsigned i = 0; i < np; i++)
		if (i == 0 || pend[i] / 8 != pend[i - 1] / 8)
			line_start[nl++] = i;
	line_start[nl] = np;
	if (nl > 1) {
		/* every line that starts or ends a run of pending lines (log
		 * headers, commit marks, lone metadata words: the lines that
		 * decide), up to a cap, plus samples of the others */
		static unsigned pick[POOL_WORDS / 8 + 1];
		unsigned npk = 0, cap = rec ? ex : 12;
		for (unsigned l = 0; l < nl; l++) {
			uint32_t ln = pend[line_start[l]] / 8;
			int first = l == 0 || pend[line_start[l - 1]] / 8 != ln - 1;
			int last = l + 1 == nl || pend[line_start[l + 1]] / 8 != ln + 1;
			if (nl <= ex || ((first || last) && npk < cap))
				pick[npk++] = l;
		}
		for (unsigned t = 0; nl > ex && t < ns; t++)
			pick[npk++] = rndn(nl);
		for (unsigned t = 0; t < npk; t++) {
			unsigned l = pick[t], n = 0;
			for (unsigned i = line_start[l]; i < line_start[l + 1]; i++) {
				pairs_w[n] = pend[i];
				pairs_v[n++] = m[pend[i]];
			}
			check_pairs(n, "one-line");
			n = 0;
			for (unsigned i = 0; i < np; i++)
				if (i < line_start[l] || i >= line_start[l + 1]) {
					pairs_w[n] = pend[i];
					pairs_v[n++] = m[pend[i]];
				}
			check_pairs(n, "all-but-one-line");
		}
	}
	unsigned nr = rec ? 2 : ns;
	for (unsigned t = 0; t < nr && np > 2; t++) {
		unsigned n = 0;
		for (unsigned i = 0; i < np; i++)
			if (rnd64() & 1) {
				pairs_w[n] = pend[i];
				pairs_v[n++] = m[pend[i]];
			}
		check_pairs(n, "random");
	}
	/* per-word value choices among the values each word held */
	int multi = 0;
	for (unsigned i = 0; i < np && !multi; i++) {
		uint32_t e = R.hidx[pend[i]];
		if (e && R.h[e].n > 1)
			multi = 1;
	}
	for (unsigned t = 0; multi && t < (rec ? 1u : (ns + 1) / 2); t++) {
		unsigned n = 0;
		for (unsigned i = 0; i < np; i++) {
			uint32_t w = pend[i], e = R.hidx[w];
			unsigned nv = e ? (R.h[e].n < 6 ? R.h[e].n : 6) : 0;
			unsigned c = rndn(nv + 2); /* shadow, memory, or a recorded value */
			if (c == 0)
				continue;
			pairs_w[n] = w;
			pairs_v[n++] = c == 1 ? m[w] : R.h[e].v[c - 2];
		}
		check_pairs(n, "values");
	}
}

/* ---- operations -------------------------------------------------------- */

static void op_begin(const char *name)
{
	if (in_child) {
		size_t l = strlen(follow_trace);
		snprintf(follow_trace + l, sizeof(follow_trace) - l, "%s%s", l ? "," : "", name);
	}
	op_name = name;
	op_index++;
	op_fence = 0;
	model_set(&before, &after);
	dedup_clear();
}

static void op_failed_nospace(void)
{
	model_set(&after, &before);
}

static void fill(uint64_t off, uint32_t size, uint64_t seed)
{
	uint64_t *d = pm_direct(pool, off);
	for (uint32_t i = 0; i < size / 8; i++)
		d[i] = pat(seed, i);
}

static uint32_t small_size(void)
{
	static const uint32_t sz[] = {24, NB_SIZE, 128, 192, 1000, 3000};
	return sz[rndn(6)];
}

/* Over 32 KiB: issue 12's sizes (big classes in runs of 1-16 chunks,
 * whole-chunk objects, a 3 MiB one) half the time, else 40..300 KiB. */
static const uint32_t big_sz[] = {32769, 33000, 48u << 10, 64u << 10, 100000, 200000,
                                  500000, 1u << 20, 3u << 20};
#define NBIG_SZ (sizeof(big_sz) / sizeof(big_sz[0]))
static unsigned long big_drawn[NBIG_SZ]; /* this process's draws (summary) */

/* one of them: at random, or (in turn) each in its turn */
static uint32_t big_size(int in_turn)
{
	static unsigned turn;
	unsigned i = in_turn ? turn++ % NBIG_SZ : rndn(NBIG_SZ);
	big_drawn[i]++;
	return big_sz[i];
}

static uint32_t large_size(void)
{
	return rndn(2) ? big_size(0) : (uint32_t)(((40u << 10) + rndn(260u << 10)) & ~7u);
}

static unsigned large_every = 8; /* PMSTORE_MODEL_LARGE: 1 in N sizes is large */

static uint32_t any_size(void)
{
	return rndn(large_every) == 0 && follow_large ? large_size() : small_size();
}

static int slot_empty(void)
{
	unsigned k = rndn(NSLOTS - NPINS);
	for (unsigned t = 0; t < NSLOTS - NPINS; t++) {
		int j = NPINS + (int)((k + t) % (NSLOTS - NPINS));
		if (!after.slot[j])
			return j;
	}
	return -1;
}

/* A random nonempty slot: freeable (no pins) or any. */
static int slot_full(int freeable)
{
	unsigned lo = freeable ? NPINS : 0, n = NSLOTS - lo, k = rndn(n);
	for (unsigned t = 0; t < n; t++) {
		int j = (int)(lo + (k + t) % n);
		if (after.slot[j])
			return j;
	}
	return -1;
}

static int count_empty(void)
{
	int c = 0;
	for (int j = NPINS; j < NSLOTS; j++)
		c += !after.slot[j];
	return c;
}

static int op_alloc(int zero, uint32_t size)
{
	op_begin(zero ? "pzalloc" : "pmalloc");
	int j = slot_empty();
	if (j < 0)
		return -1;
	trace_slot(j);
	struct obj *o = obj_new(size, zero ? B_ZERO : B_UNDEF, 0);
	slot_set(j, o);
	int rc = zero ? pzalloc(pool, &rt->slots[j], size) : pmalloc(pool, &rt->slots[j], size);
	if (rc == PM_ENOSPC) {
		op_failed_nospace();
		return -1;
	}
	REQUIRE(rc == 0 && rt->slots[j]);
	o->off = rt->slots[j];
	if (zero) { /* zeroes in memory too, not only after recovery */
		const uint64_t *d = pm_direct(pool, o->off);
		for (uint32_t i = 0; i < size / 8; i++)
			REQUIRE(d[i] == 0);
	}
	return j;
}

struct pubplan {
	unsigned nres;
	uint32_t size[16];
	int slot[16];    /* -1: the linked child of reservation 0 */
	unsigned nfree;
	int fslot[4];
	unsigned nw;
	int widx[4];
	uint64_t wval[4];
	uint32_t link_word;
};

static void do_publish(const char *name, struct pubplan *pl)
{
	op_begin(name);
	struct obj *o[16];
	for (unsigned r = 0; r < pl->nres; r++) {
		o[r] = obj_new(pl->size[r], B_PAT, rnd64());
		if (pl->slot[r] >= 0)
			slot_set(pl->slot[r], o[r]);
	}
	for (unsigned r = 0; r < pl->nres; r++)
		if (pl->slot[r] < 0) {
			o[0]->child = o[r];
			o[0]->link_word = pl->link_word;
		}
	uint64_t foff[4][2];
	for (unsigned f = 0; f < pl->nfree; f++) {
		struct obj *x = after.slot[pl->fslot[f]];
		foff[f][0] = x->off;
		foff[f][1] = x->child ? x->child->off : 0;
		slot_set(pl->fslot[f], NULL);
	}
	for (unsigned w = 0; w < pl->nw; w++)
		after.words[pl->widx[w]] = pl->wval[w];

	struct pm_action acts[PM_MAX_ACTIONS];
	unsigned na = 0;
	for (unsigned r = 0; r < pl->nres; r++) {
		pm_off off = pm_reserve(pool, &acts[na], o[r]->size);
		if (!off) {
			REQUIRE(pm_last_error() == PM_ENOSPC);
			pm_cancel(pool, acts, na);
			op_failed_nospace();
			return;
		}
		na++;
		o[r]->off = off;
		fill(off, o[r]->size, o[r]->seed);
	}
	for (unsigned r = 0; r < pl->nres; r++) {
		if (pl->slot[r] >= 0)
			pm_set_value(pool, &acts[na++], &rt->slots[pl->slot[r]], o[r]->off);
		else /* A2: the target word lies inside an object reserved here */
			pm_set_value(pool, &acts[na++],
			             (uint64_t *)pm_direct(pool, o[0]->off) + pl->link_word, o[r]->off);
	}
	for (unsigned f = 0; f < pl->nfree; f++) {
		REQUIRE(pm_defer_free(pool, &acts[na++], foff[f][0]) == 0);
		if (foff[f][1])
			REQUIRE(pm_defer_free(pool, &acts[na++], foff[f][1]) == 0);
		pm_set_value(pool, &acts[na++], &rt->slots[pl->fslot[f]], 0);
	}
	for (unsigned w = 0; w < pl->nw; w++)
		pm_set_value(pool, &acts[na++], &rt->words[pl->widx[w]], pl->wval[w]);
	REQUIRE(pm_publish(pool, acts, na) == 0);
}

static int in_list(const int *l, unsigned n, int v)
{
	for (unsigned i = 0; i < n; i++)
		if (l[i] == v)
			return 1;
	return 0;
}

static void op_publish(void)
{
	struct pubplan pl = {0};
	int used[12];
	unsigned nu = 0;
	unsigned want = 1 + rndn(3);
	for (unsigned r = 0; r < want; r++) {
		int j = slot_empty();
		if (j < 0 || in_list(used, nu, j))
			break;
		used[nu++] = j;
		pl.slot[pl.nres] = j;
		pl.size[pl.nres++] = any_size();
	}
	if (pl.nres && rndn(3) == 0) { /* linked node (A2) */
		pl.slot[pl.nres] = -1;
		pl.size[pl.nres++] = any_size();
		pl.link_word = rndn(pl.size[0] / 8);
	}
	if (rndn(3) == 0) {
		int f = slot_full(1);
		if (f >= 0) {
			pl.fslot[pl.nfree++] = f;
			used[nu++] = f;
		}
	}
	if (rndn(3) == 0)
		for (unsigned w = 0, n = 1 + rndn(2); w < n; w++) {
			pl.widx[pl.nw] = (int)rndn(NWORDS);
			if (!in_list(pl.widx, pl.nw, pl.widx[pl.nw]))
				pl.wval[pl.nw++] = rnd64();
		}
	if (pl.nres + pl.nfree + pl.nw == 0)
		return;
	do_publish(pl.nres ? (pl.slot[pl.nres - 1] < 0 ? "publish-linked" : "publish") : "publish-free/words", &pl);
}

static void op_free(int j)
{
	if (j < 0)
		j = slot_full(1);
	if (j < 0)
		return;
	if (after.slot[j]->child) {
		struct pubplan pl = {0};
		pl.fslot[pl.nfree++] = j;
		do_publish("publish-free-linked", &pl);
		return;
	}
	op_begin("pfree");
	trace_slot(j);
	slot_set(j, NULL);
	REQUIRE(pfree(pool, &rt->slots[j]) == 0);
	REQUIRE(rt->slots[j] == 0);
}

static void op_cancel(int large)
{
	op_begin(large ? "reserve-large+cancel" : "reserve+cancel");
	struct pm_action acts[3];
	unsigned n = large ? 1 : 1 + rndn(3);
	for (unsigned r = 0; r < n; r++) {
		uint32_t size = large ? large_size() : any_size();
		pm_off off = pm_reserve(pool, &acts[r], size);
		if (!off) {
			REQUIRE(pm_last_error() == PM_ENOSPC);
			n = r;
			break;
		}
		fill(off, size, rnd64()); /* nonzero bytes that must not count */
	}
	pm_cancel(pool, acts, n);
}

/* Large tx_pmalloc (or tx_pzalloc), filled, aborted: A1's shape. */
static void op_large_abort(void)
{
	op_begin("tx-large-abort");
	REQUIRE(tx_begin(pool) == 0);
	uint32_t size = large_size();
	pm_off o = rndn(2) ? tx_pmalloc(size) : tx_pzalloc(size);
	if (o) {
		fill(o, size, rnd64());
		if (rndn(2)) {
			int i = (int)rndn(NWORDS);
			REQUIRE(tx_add(&rt->words[i], 8) == 0);
			rt->words[i] = rnd64();
		}
		tx_abort(0);
	}
	int rc = tx_end();
	REQUIRE(rc == PM_ECANCELED || (o == 0 && rc == PM_ENOSPC));
}

/* Direct store of one word, then pm_persist: part of the model after it. */
/* pm_perm_save of up to three registered blocks, some changed (issue 18):
 * the save is atomic, so every block is as of the last save or this one. */
static uint64_t perm_buf[PERM_NB][4];

static void op_perm_save(void)
{
	op_begin("pm_perm_save");
	for (int i = 0; i < PERM_NB; i++) {
		char nm[8];
		snprintf(nm, sizeof(nm), "g%d", i);
		/* registered on this handle already (EEXIST), or now: a saved
		 * image is copied into the buffer */
		int r = pm_perm(pool, nm, perm_buf[i], sizeof(perm_buf[i]));
		REQUIRE(r >= 0 || r == PM_EEXIST);
	}
	for (int i = 0; i < PERM_NB; i++)
		if (rndn(2))
			for (int k = 0; k < 4; k++)
				perm_buf[i][k] = rnd64();
	/* the model after the save, before it runs (its fences are checked
	 * against it as they happen) */
	for (int i = 0; i < PERM_NB; i++) {
		memcpy(after.perm[i], perm_buf[i], sizeof(perm_buf[i]));
		after.perm_saved[i] = 1;
	}
	int rc = pm_perm_save(pool);
	REQUIRE(rc == 0 || rc == PM_ENOSPC);
	if (rc)
		model_set(&after, &before); /* refused whole: nothing changed */
	perm_saves++;
}

static void op_persist(void)
{
	op_begin("pm_persist");
	int j = rndn(2) ? slot_full(0) : -1;
	uint64_t v = rnd64();
	if (j >= 0 && after.slot[j]->nl < MAXL) {
		struct obj *o = obj_mut(j);
		uint32_t k = rndn(o->size / 8);
		if (o->child && k == o->link_word)
			k = k ? k - 1 : k + 1;
		if (k >= o->size / 8)
			return;
		obj_layer(o, k, 1, L_VAL, v);
		uint64_t *d = (uint64_t *)pm_direct(pool, o->off) + k;
		*d = v;
		pm_persist(pool, d, 8);
	} else {
		int i = (int)rndn(NWORDS);
		after.words[i] = v;
		rt->words[i] = v;
		pm_persist(pool, &rt->words[i], 8);
	}
}

/* ---- issue 12's calls ------------------------------------------------- */

/* calls that ran (parent only): pm_realloc moved / kept, pm_strdup,
 * pm_root grown in place / moved, tx_prealloc, tx_strdup */
static unsigned long api_n[9]; /* + tx_memcpy, tx_memset */

/* The model of old after pm_realloc / tx_prealloc to size: the first
 * min(old, new) words as they were, nothing promised past them; NULL if
 * the realloc would cut a linked child's link word (not chosen). */
static struct obj *obj_resized(const struct obj *old, uint32_t size)
{
	uint32_t ow = old->size / 8, nw = size / 8, keep = ow < nw ? ow : nw;
	if (old->child && old->link_word >= keep)
		return NULL;
	struct obj *n = obj_new(size, old->base, old->seed);
	uint32_t lim = old->blim && old->blim < keep ? old->blim : keep;
	if (old->base == B_STR && nw != ow && lim > keep - 1)
		lim = keep - 1; /* str_word's last word depends on the size */
	if (lim)
		n->blim = lim;
	else
		n->base = B_UNDEF; /* nothing of the base is kept */
	for (unsigned k = 0; k < old->nl; k++) {
		struct layer l = old->l[k];
		if (l.start >= keep)
			continue;
		if (l.start + l.n > keep)
			l.n = keep - l.start;
		n->l[n->nl++] = l;
	}
	n->child = obj_get(old->child);
	n->link_word = old->link_word;
	return n;
}

static uint32_t resize_to(const struct obj *o)
{
	switch (rndn(4)) {
	case 0:
		return o->size / 16 * 8 + 8;    /* shrink by half */
	case 1:
		return o->size + 8 * (1 + rndn(64)); /* a little more */
	case 2:
		return follow_large ? large_size() : small_size();
	default:
		return small_size();
	}
}

static void op_realloc(void)
{
	int j = slot_full(1);
	if (j < 0)
		return;
	uint32_t size = resize_to(after.slot[j]);
	struct obj *n = obj_resized(after.slot[j], size);
	if (!n)
		return;
	op_begin("pm_realloc");
	trace_slot(j);
	slot_set(j, n); /* n->off unknown until it returns (may move or not) */
	int rc = pm_realloc(pool, &rt->slots[j], size);
	if (rc == PM_ENOSPC) {
		op_failed_nospace();
		return;
	}
	REQUIRE(rc == 0 && rt->slots[j]);
	api_n[rt->slots[j] == before.slot[j]->off ? 1 : 0] += !in_child;
	n->off = rt->slots[j];
}

static void str_make(char *buf, uint64_t seed, uint32_t nwords)
{
	for (uint32_t i = 0; i < nwords; i++) {
		uint64_t w = str_word(seed, i, nwords);
		memcpy(buf + 8 * i, &w, 8);
	}
}

static void op_strdup(void)
{
	op_begin("pm_strdup");
	int j = slot_empty();
	if (j < 0)
		return;
	trace_slot(j);
	uint32_t nw = rndn(8) ? 1 + rndn(40) : 600 + rndn(5000); /* up to 44 KiB */
	static char buf[8 * 6000];
	struct obj *o = obj_new(nw * 8, B_STR, rnd64());
	str_make(buf, o->seed, nw);
	REQUIRE(strlen(buf) == (size_t)nw * 8 - 1);
	slot_set(j, o);
	int rc = pm_strdup(pool, &rt->slots[j], buf);
	if (rc == PM_ENOSPC) {
		op_failed_nospace();
		return;
	}
	REQUIRE(rc == 0 && rt->slots[j]);
	api_n[2] += !in_child;
	o->off = rt->slots[j];
}

/* pm_root with a larger size: in place (up to the usable size) or moved. */
static void op_root_grow(void)
{
	pm_off r0 = pm_root(pool, 1);
	uint32_t cur = (uint32_t)pm_root_size(pool);
	size_t us = pm_usable_size(pool, r0);
	if (cur >= (48u << 10))
		return; /* keep the pool's room for the rest */
	uint32_t to = us > cur && rndn(2) ? (uint32_t)(us & ~(size_t)7)
	                                   : cur + 8 * (1 + rndn(rndn(3) ? 64 : 2000));
	if (to <= cur)
		to = cur + 8;
	op_begin(to <= us ? "pm_root-grow-in-place" : "pm_root-grow-move");
	after.root_size = to;
	pm_off r = pm_root(pool, to);
	if (!r && pm_last_error() == PM_ENOSPC) {
		op_failed_nospace();
		return;
	}
	REQUIRE(r != 0 && pm_root_size(pool) == to);
	api_n[r == r0 ? 3 : 4] += !in_child;
	rt = pm_direct(pool, r);
}

/* One random transactional step; returns 0, or the error that aborted it. */
static int touched[NSLOTS];

static int api_steps; /* 1: tx_step takes only issue 12's calls */

static int tx_step(int commit)
{
	unsigned k = api_steps ? (unsigned[]){9, 10, 11}[rndn(3)] : rndn(12);
	if (k == 3) { /* several words under one fence, overlapping at times */
		struct pm_range r[5];
		unsigned n = 2 + rndn(4);
		int w[5];
		for (unsigned q = 0; q < n; q++) {
			w[q] = (int)rndn(NWORDS);
			r[q] = (struct pm_range){ &rt->words[w[q]], 8 };
		}
		if (rndn(3) == 0 && w[0] + 1 < NWORDS)
			r[0].len = 16; /* spans the next word: overlaps, maybe */
		int rc = tx_add_ranges(r, n);
		if (rc)
			return rc;
		batch_adds++;
		for (unsigned q = 0; q < n; q++) {
			for (unsigned x = 0; x < r[q].len / 8; x++) {
				uint64_t v = rnd64();
				rt->words[w[q] + (int)x] = v;
				if (commit)
					after.words[w[q] + (int)x] = v;
			}
		}
		return 0;
	}
	if (k == 10) { /* tx_prealloc of a slot's object */
		int j = slot_full(1);
		if (j < 0 || touched[j])
			return 0;
		uint32_t size = resize_to(after.slot[j]);
		struct obj *m = obj_resized(after.slot[j], size);
		if (!m)
			return 0;
		int rc = tx_add(&rt->slots[j], 8);
		if (rc) {
			obj_put(m);
			return rc;
		}
		pm_off o = tx_prealloc(after.slot[j]->off, size);
		if (!o) {
			obj_put(m);
			return pm_last_error();
		}
		m->off = o;
		rt->slots[j] = o;
		touched[j] = 1;
		api_n[5] += !in_child;
		if (commit)
			slot_set(j, m);
		else
			obj_put(m);
		return 0;
	}
	if (k == 11) { /* tx_strdup into a slot */
		int j = slot_empty();
		if (j < 0 || touched[j])
			return 0;
		int rc = tx_add(&rt->slots[j], 8);
		if (rc)
			return rc;
		uint32_t nw = 1 + rndn(100);
		static char buf[800];
		struct obj *m = obj_new(nw * 8, B_STR, rnd64());
		str_make(buf, m->seed, nw);
		pm_off o = tx_strdup(buf);
		if (!o) {
			obj_put(m);
			return pm_last_error();
		}
		api_n[6] += !in_child;
		m->off = o;
		rt->slots[j] = o;
		touched[j] = 1;
		if (commit)
			slot_set(j, m);
		else
			obj_put(m);
		return 0;
	}
	if (k < 4) { /* words */
		int i = (int)rndn(NWORDS);
		uint64_t v = rnd64();
		int rc = rndn(4) ? tx_add(&rt->words[i], 8) : PM_TX_SET(rt->words[i], v);
		if (rc)
			return rc;
		rt->words[i] = v;
		if (rndn(4) == 0)
			pm_persist(pool, &rt->words[i], 8);
		if (commit)
			after.words[i] = v;
		return 0;
	}
	if (k < 6) { /* allocate into a slot */
		int j = slot_empty();
		if (j < 0 || touched[j])
			return 0;
		int rc = tx_add(&rt->slots[j], 8);
		if (rc)
			return rc;
		uint32_t size = any_size();
		int zero = rndn(2);
		pm_off o = zero ? tx_pzalloc(size) : tx_pmalloc(size);
		if (!o)
			return pm_last_error();
		struct obj *m = obj_new(size, zero ? B_ZERO : B_PAT, rnd64());
		m->off = o;
		if (zero) {
			uint32_t s = rndn(size / 8), n = 1 + rndn(size / 8 - s);
			if (n > 64)
				n = 64;
			uint64_t *d = pm_direct(pool, o);
			for (uint32_t i = 0; i < size / 8; i++)
				REQUIRE(d[i] == 0);
			obj_layer(m, s, n, L_PAT, m->seed);
			for (uint32_t i = s; i < s + n; i++)
				d[i] = pat(m->seed, i);
		} else {
			fill(o, size, m->seed);
		}
		rt->slots[j] = o;
		touched[j] = 1;
		if (commit)
			slot_set(j, m);
		else
			obj_put(m);
		return 0;
	}
	if (k < 7) { /* free a slot's object */
		int j = slot_full(1);
		if (j < 0 || touched[j])
			return 0;
		int rc = tx_add(&rt->slots[j], 8);
		if (rc)
			return rc;
		struct obj *x = after.slot[j];
		if (x->child && (rc = tx_pfree(x->child->off)))
			return rc;
		if ((rc = tx_pfree(x->off)))
			return rc;
		rt->slots[j] = 0;
		touched[j] = 1;
		if (commit)
			slot_set(j, NULL);
		return 0;
	}
	/* write a range of an existing object (pins included) */
	int j = slot_full(0);
	if (j < 0 || touched[j] || after.slot[j]->nl >= MAXL)
		return 0;
	struct obj *x = after.slot[j];
	uint32_t nw = x->size / 8, s = rndn(nw), n = 1 + rndn(nw - s < 32 ? nw - s : 32);
	if (x->child && x->link_word >= s && x->link_word < s + n)
		return 0;
	uint64_t *d = (uint64_t *)pm_direct(pool, x->off) + s;
	uint64_t seed = rnd64();
	unsigned how = api_steps ? 2 + rndn(2) : rndn(4); /* 0, 1: tx_add + stores; 2: tx_memcpy; 3: tx_memset */
	int rc;
	if (how == 2) {
		static uint64_t src[32];
		for (uint32_t i = 0; i < n; i++)
			src[i] = pat(seed, s + i);
		rc = tx_memcpy(d, src, (size_t)n * 8);
		api_n[7] += !rc && !in_child;
	} else if (how == 3) {
		int c = 1 + (int)rndn(255);
		seed = (uint64_t)c * UINT64_C(0x0101010101010101); /* the word value */
		rc = tx_memset(d, c, (size_t)n * 8);
		api_n[8] += !rc && !in_child;
	} else if (!(rc = tx_add(d, (size_t)n * 8))) {
		for (uint32_t i = 0; i < n; i++)
			d[i] = pat(seed, s + i);
	}
	if (rc)
		return rc;
	if (rndn(3) == 0) /* persisted inside the transaction: abort must still undo it */
		pm_persist(pool, d, (size_t)n * 8);
	if (commit)
		obj_layer(obj_mut(j), s, n, how == 3 ? L_VAL : L_PAT, seed);
	return 0;
}

static void tx_finish(int rc, int commit)
{
	int end = tx_end();
	if (rc == PM_ENOSPC || rc == PM_ENOLOG) {
		REQUIRE(end == rc);
		op_failed_nospace();
		return;
	}
	REQUIRE(rc == 0);
	REQUIRE(commit ? end == 0 : end == PM_ECANCELED);
}

static void op_tx(void)
{
	int commit = rndn(6) != 0, nest = rndn(4) == 0;
	op_begin(commit ? (nest ? "tx-nested" : "tx") : (nest ? "tx-nested-abort" : "tx-abort"));
	memset(touched, 0, sizeof(touched));
	REQUIRE(tx_begin(pool) == 0);
	int rc = 0;
	unsigned n = 1 + rndn(5);
	for (unsigned s = 0; s < n && !rc; s++)
		rc = tx_step(commit);
	if (nest && !rc) {
		REQUIRE(tx_begin(pool) == 0);
		for (unsigned s = 0, m = 1 + rndn(2); s < m && !rc; s++)
			rc = tx_step(commit);
		if (!rc && !commit && rndn(2)) {
			tx_abort(0); /* inner abort: everything rolls back */
			REQUIRE(tx_end() == PM_ECANCELED);
			REQUIRE(tx_end() == PM_ECANCELED);
			return;
		}
		if (!rc)
			REQUIRE(tx_commit() == 0);
		int e = tx_end();
		if (rc) {
			REQUIRE(e == rc);
		} else {
			REQUIRE(e == 0);
		}
	}
	if (!rc && !commit)
		tx_abort(0);
	tx_finish(rc, commit);
}

/* A fast-commit transaction on given root words (C1, A3's first half). */
static void op_tx_words(int w0, int nwords)
{
	op_begin("tx-words");
	REQUIRE(tx_begin(pool) == 0);
	for (int k = 0; k < nwords; k++) {
		int i = w0 >= 0 ? (w0 + k) % NWORDS : (int)rndn(NWORDS);
		uint64_t v = rnd64();
		REQUIRE(tx_add(&rt->words[i], 8) == 0);
		rt->words[i] = v;
		after.words[i] = v;
	}
	REQUIRE(tx_end() == 0);
}

/* One tx_add of a range of root words: an entry of up to 320 bytes. */
static void op_tx_range(int nw)
{
	op_begin("tx-range");
	int s = (int)rndn(NWORDS - nw + 1);
	uint64_t seed = rnd64();
	REQUIRE(tx_begin(pool) == 0);
	REQUIRE(tx_add(&rt->words[s], (size_t)nw * 8) == 0);
	for (int i = 0; i < nw; i++)
		after.words[s + i] = rt->words[s + i] = pat(seed, (uint64_t)i);
	REQUIRE(tx_end() == 0);
}

/*
 * The first call of the transaction is a tx_pmalloc of the neighbours'
 * class; the first tx_add spans it and the owned neighbours around it, so it
 * logs one entry per gap (A3 when both neighbours are owned).
 */
static void op_tx_span(void)
{
	int j = slot_empty();
	if (j < 0 || !nb_stride)
		return;
	int commit = rndn(8) != 0;
	op_begin(commit ? "tx-span" : "tx-span-abort");
	REQUIRE(tx_begin(pool) == 0);
	pm_off o = tx_pmalloc(NB_SIZE);
	if (!o) {
		tx_finish(pm_last_error(), commit);
		return;
	}
	uint64_t lo = o, hi = o + nb_stride;
	int owner[NSLOTS];
	unsigned nown = 0;
	for (int grew = 1; grew;) {
		grew = 0;
		for (int s = 0; s < NSLOTS; s++) {
			struct obj *x = after.slot[s];
			if (!x || x->size != NB_SIZE || !x->off || x->child || x->nl >= MAXL ||
			    in_list(owner, nown, s))
				continue;
			if (x->off + nb_stride == lo) {
				lo = x->off;
			} else if (x->off == hi) {
				hi += nb_stride;
			} else {
				continue;
			}
			owner[nown++] = s;
			grew = 1;
		}
	}
	int gaps = (lo < o) + (hi > o + nb_stride);
	if (gaps >= 2)
		span_multi++;
	int rc = tx_add(pm_direct(pool, lo), hi - lo);
	if (rc) {
		tx_finish(rc, commit);
		return;
	}
	struct obj *m = obj_new(NB_SIZE, B_PAT, rnd64());
	m->off = o;
	fill(o, NB_SIZE, m->seed);
	for (unsigned q = 0; q < nown; q++) {
		uint64_t s2 = rnd64();
		fill(after.slot[owner[q]]->off, NB_SIZE, s2);
		if (commit)
			obj_layer(obj_mut(owner[q]), 0, NB_SIZE / 8, L_PAT, s2);
	}
	rc = tx_add(&rt->slots[j], 8);
	if (rc) {
		obj_put(m);
		tx_finish(rc, commit);
		return;
	}
	rt->slots[j] = o;
	if (commit)
		slot_set(j, m);
	else
		obj_put(m);
	if (!commit)
		tx_abort(0);
	tx_finish(0, commit);
}

/* More than the lane's 12 KiB of undo: overflow blocks. */
static void op_tx_big(void)
{
	int cand[NSLOTS], nc = 0;
	for (int j = 0; j < NSLOTS; j++) {
		struct obj *x = after.slot[j];
		if (x && x->size >= (40u << 10) && !x->child && x->nl + 3 <= MAXL)
			cand[nc++] = j;
	}
	if (!nc)
		return;
	int j = cand[rndn((unsigned)nc)];
	int commit = rndn(5) != 0;
	op_begin(commit ? "tx-overflow" : "tx-overflow-abort");
	REQUIRE(tx_begin(pool) == 0);
	uint32_t nw = after.slot[j]->size / 8;
	unsigned pieces = 1 + rndn(3);
	uint32_t per = ((14u << 10) / 8 + rndn((24u << 10) / 8)) / pieces;
	int rc = 0;
	for (unsigned q = 0; q < pieces && !rc; q++) {
		uint32_t s = rndn(nw - per);
		uint64_t *d = (uint64_t *)pm_direct(pool, after.slot[j]->off) + s;
		if ((rc = tx_add(d, (size_t)per * 8)))
			break;
		uint64_t seed = rnd64();
		for (uint32_t i = 0; i < per; i++)
			d[i] = pat(seed, s + i);
		if (commit)
			obj_layer(obj_mut(j), s, per, L_PAT, seed);
	}
	if (!rc) {
		int i = (int)rndn(NWORDS);
		uint64_t v = rnd64();
		if (!(rc = tx_add(&rt->words[i], 8))) {
			rt->words[i] = v;
			if (commit)
				after.words[i] = v;
		}
	}
	if (!rc && !commit)
		tx_abort(0);
	tx_finish(rc, commit);
}

/*
 * A big transaction (issue 12): more allocations and frees than the lane's
 * redo log holds, so the commit goes through action records in the undo
 * chain (tx.c commit_big).  Optionally 12+ KiB of undo first (the records
 * then run into an overflow block), then 210..270 tx_pmalloc + tx_pfree of
 * the same objects (they end free: the model is unchanged by them; now and
 * then a large one gives chunk-header SETs), then ordinary steps (allocations into
 * slots with their contents, frees of slots, words) that the model sees.
 */
static void op_tx_many(void)
{
	int commit = rndn(5) != 0;
	op_begin(commit ? "tx-many" : "tx-many-abort");
	memset(touched, 0, sizeof(touched));
	REQUIRE(tx_begin(pool) == 0);
	int rc = 0;
	if (rndn(2)) {
		for (int j = 0; j < NSLOTS; j++) {
			struct obj *x = after.slot[j];
			if (!x || x->size < (40u << 10) || x->child || x->nl + 1 > MAXL)
				continue;
			uint32_t per = (12u << 10) / 8 + rndn(256), s = rndn(x->size / 8 - per);
			uint64_t *d = (uint64_t *)pm_direct(pool, x->off) + s;
			if ((rc = tx_add(d, (size_t)per * 8)))
				break;
			uint64_t seed = rnd64();
			for (uint32_t i = 0; i < per; i++)
				d[i] = pat(seed, s + i);
			if (commit)
				obj_layer(obj_mut(j), s, per, L_PAT, seed);
			touched[j] = 1;
			break;
		}
	}
	/* just past the commit log's 205 entries (a cover per allocation):
	 * small objects, so that the images stay few */
	unsigned n = 210 + rndn(60), nlarge = 0, nkept = 0;
	pm_off kept[64];
	for (unsigned i = 0; i < n && !rc; i++) {
		uint32_t size = nlarge < 1 && rndn(128) == 0 ? (nlarge++, large_size())
		                                             : (rndn(2) ? 24 : NB_SIZE);
		pm_off o = tx_pmalloc(size);
		if (!o)
			rc = pm_last_error();
		else if (rndn(8) && nkept < 64)
			kept[nkept++] = o; /* freed after the steps below */
		else
			rc = tx_pfree(o);
		if (!rc && rndn(16) == 0)
			rc = tx_step(commit);
	}
	for (unsigned s = 0, m = 1 + rndn(4); s < m && !rc; s++)
		rc = tx_step(commit);
	for (unsigned q = 0; q < nkept && !rc; q++)
		rc = tx_pfree(kept[q]);
	if (!rc && !commit)
		tx_abort(0);
	tx_finish(rc, commit);
}

static void op_reopen(void)
{
	op_begin("close+reopen");
	pm_close(pool);
	track_stop();
	pool = NULL;
	/* power loss right after close: what never became durable is lost */
	REQUIRE(write_file(path, R.shadow) == 0);
	rec_start(M_PARENT, path, R.shadow);
	pool = pm_open(path);
	REQUIRE(pool != NULL);
	if (!R.base)
		R.base = pm_base(pool);
	base = pm_base(pool);
	REQUIRE(R.base == base);
	rt = pm_direct(pool, pm_root(pool, sizeof(struct root)));
}

/* ---- shapes of issue 11 (also queued by the random mode) -------------- */

static void pat_c1(void)
{
	int w = (int)rndn(NWORDS - 1);
	op_tx_words(w, 1);
	struct pubplan pl = {0};
	pl.nw = 2;
	pl.widx[0] = w;
	pl.wval[0] = rnd64();
	pl.widx[1] = w + 1;
	pl.wval[1] = rnd64();
	do_publish("publish-words", &pl);
}

static void pat_a2(void)
{
	struct pubplan pl = {0};
	int j = slot_empty();
	if (j < 0)
		return;
	pl.nres = 2;
	pl.slot[0] = j;
	pl.size[0] = rndn(3) || !follow_large ? small_size() : large_size();
	pl.slot[1] = -1;
	pl.size[1] = small_size();
	pl.link_word = rndn(pl.size[0] / 8);
	do_publish("publish-linked", &pl);
}

static void pat_a3(void)
{
	if (count_empty() < 14)
		return;
	struct pubplan pl = {0};
	for (unsigned r = 0; r < 12; r++) {
		int j = slot_empty();
		after.slot[j] = (struct obj *)1; /* taken while planning */
		pl.slot[pl.nres] = j;
		pl.size[pl.nres++] = NB_SIZE;
	}
	for (unsigned r = 0; r < 12; r++)
		after.slot[pl.slot[r]] = NULL;
	do_publish("publish-batch", &pl);
	if (!after.slot[pl.slot[0]])
		return; /* no room */
	/* free the second lowest: the next tx_pmalloc takes it back (LIFO),
	 * one neighbour below it (a 64-byte gap), ten above (640 bytes) */
	uint64_t offs[12];
	for (unsigned r = 0; r < 12; r++)
		offs[r] = after.slot[pl.slot[r]]->off;
	qsort(offs, 12, sizeof(offs[0]), cmp_u64);
	for (unsigned r = 0; r < 12; r++)
		if (after.slot[pl.slot[r]]->off == offs[1])
			op_free(pl.slot[r]);
	/* tx0 logs ~200 bytes, tx1 one word (fast commits, lazy active = 0):
	 * tx1's entries and commit block sit after tx0's, where the span's
	 * first (small) gap fits below and its second one overlaps them */
	op_tx_range(24 + (int)rndn(5));
	op_tx_words(-1, 1);
	op_tx_span();
}

static void op_large_abort_sz(uint32_t size);

static void pat_a1(int kind, uint32_t size)
{
	/* an empty run of a class of its own, then a reopen makes it a
	 * DRAM-only free extent whose header still says RUN */
	if (count_empty() >= 3) {
		struct pubplan pl = {0};
		for (unsigned r = 0; r < 3; r++) {
			int j = slot_empty();
			after.slot[j] = (struct obj *)1;
			pl.slot[pl.nres] = j;
			pl.size[pl.nres++] = 5000;
		}
		for (unsigned r = 0; r < 3; r++)
			after.slot[pl.slot[r]] = NULL;
		do_publish("publish-batch", &pl);
		if (after.slot[pl.slot[0]]) {
			struct pubplan fr = {0};
			for (unsigned r = 0; r < 3; r++)
				fr.fslot[fr.nfree++] = pl.slot[r];
			do_publish("publish-free", &fr);
		}
	}
	op_reopen();
	if (kind)
		op_large_abort_sz(size);
	else {
		op_begin("reserve-large+cancel");
		struct pm_action act;
		pm_off off = pm_reserve(pool, &act, size);
		if (off) {
			fill(off, size, rnd64());
			pm_cancel(pool, &act, 1);
		}
	}
}

static void op_large_abort_sz(uint32_t size)
{
	op_begin("tx-large-abort");
	REQUIRE(tx_begin(pool) == 0);
	pm_off o = tx_pmalloc(size);
	if (o) {
		fill(o, size, rnd64());
		tx_abort(0);
	}
	int rc = tx_end();
	REQUIRE(rc == PM_ECANCELED || (o == 0 && rc == PM_ENOSPC));
}

static int large_live(void)
{
	int n = 0;
	for (int j = NPINS; j < NSLOTS; j++) {
		const struct obj *x = after.slot[j];
		for (; x; x = x->child)
			n += x->size > 32768;
	}
	return n;
}

static int case_r1;

static void run_follow_on(void)
{
	if (case_r1) { /* the same block again, zeroed, then freed */
		op_free(op_alloc(1, 128));
		return;
	}
	if (!follow_large)
		;
	else if (rndn(2))
		op_large_abort();
	else
		op_cancel(1);
	op_alloc(rndn(2), follow_large && large_live() < 3 && rndn(4) == 0 ? large_size() : small_size());
	op_free(-1);
	op_tx();
}

/* A transaction of tx_prealloc, tx_strdup, tx_memcpy, tx_memset steps. */
static void op_tx_api(void)
{
	api_steps = 1;
	op_tx();
	api_steps = 0;
}

static void api_op(void)
{
	unsigned k = rndn(10);
	if (count_empty() < 5)
		op_free(-1);
	else if (k < 3)
		op_realloc();
	else if (k < 5)
		op_strdup();
	else if (k < 7)
		op_root_grow();
	else
		op_tx_api();
}

/* Eight blocks of one big class in one publish: past the class's first
 * (one-chunk) run, into a run of several chunks, where a block starts in
 * the run's second chunk and its bit is in the first's (H2). */
static void op_big_batch(void)
{
	static const uint32_t sz[] = {64u << 10, 100000, 90000};
	struct pubplan pl = {0};
	uint32_t size = sz[rndn(3)];
	for (unsigned r = 0; r < 8; r++) {
		int j = slot_empty();
		after.slot[j] = (struct obj *)1;
		pl.slot[pl.nres] = j;
		pl.size[pl.nres++] = size;
	}
	for (unsigned r = 0; r < pl.nres; r++)
		after.slot[pl.slot[r]] = NULL;
	do_publish("publish-big-batch", &pl);
}

static void random_op(void)
{
	/* PMSTORE_MODEL_LARGE < 8: also 1 in N operations an allocation of
	 * one of issue 12's sizes (each in turn), or a free */
	if (large_every < 8 && rndn(large_every) == 0) {
		if (count_empty() >= 12 && rndn(4) == 0)
			op_big_batch();
		else if (count_empty() >= 5 && rndn(3))
			op_alloc(rndn(2), big_size(1));
		else
			op_free(-1);
		return;
	}
	if (rndn(30) == 0) { /* persistent globals */
		op_perm_save();
		return;
	}
	if (rndn(10) == 0) { /* issue 12's calls */
		api_op();
		return;
	}
	unsigned k = rndn(100);
	if (count_empty() < 5)
		k = 15; /* keep room */
	if (k < 12)
		op_alloc(rndn(2), any_size());
	else if (k < 22)
		op_free(-1);
	else if (k < 34)
		op_publish();
	else if (k < 39)
		op_cancel(rndn(2));
	else if (k < 58)
		op_tx();
	else if (k < 62)
		op_tx_span();
	else if (k < 66)
		op_tx_big();
	else if (k < 71)
		op_large_abort();
	else if (k < 77)
		op_persist();
	else if (k < 79)
		op_tx_many();
	else if (k < 83)
		op_tx_words(-1, 1 + (int)rndn(3));
	else if (k < 86)
		op_tx_range(1 + (int)rndn(40));
	else if (k < 88)
		op_reopen();
	else if (k < 91)
		pat_c1();
	else if (k < 93)
		pat_a2();
	else if (k < 97)
		pat_a3();
	else
		/* sizes whose object fits the empty run's one chunk: a LARGE
		 * chunk or a one-chunk run of the smallest big class */
		pat_a1((int)rndn(2), rndn(2) ? (uint32_t)(245768 + rndn(16376)) & ~7u
		                             : (uint32_t)(32776 + rndn(4088)) & ~7u);
}

/* ---- setup: a used heap ------------------------------------------------ */

static void setup_pool(void)
{
	struct pm_create_opts co = {.nlanes = NLANES};
	pool = pm_create_ex(path, POOL_SZ, 0600, &co);
	REQUIRE(pool != NULL);
	base = pm_base(pool);
	rt = pm_direct(pool, pm_root(pool, sizeof(struct root)));
	REQUIRE(rt != NULL);
	/* the whole heap written with nonzero bytes, then freed */
	pm_off offs[256];
	unsigned n = 0;
	while (n < 256 && pmalloc(pool, &rt->words[0], 250u << 10) == 0) {
		offs[n] = rt->words[0];
		pm_memset_persist(pool, pm_direct(pool, offs[n]), 0xa5 ^ (int)n, 250u << 10);
		n++;
	}
	REQUIRE(n > 8);
	for (unsigned i = 0; i < n; i++) {
		rt->words[0] = offs[i];
		REQUIRE(pfree(pool, &rt->words[0]) == 0);
	}
	/* empty runs between pinned large objects: [run][pin][run][pin]... */
	static const uint32_t cls[NPINS] = {2000, 6000, 9000, 16000};
	for (int i = 0; i < NPINS; i++) {
		for (int k = 1; k <= 3; k++) {
			REQUIRE(pmalloc(pool, &rt->words[k], cls[i]) == 0);
			pm_memset_persist(pool, pm_direct(pool, rt->words[k]), 0x5a, cls[i]);
		}
		REQUIRE(pmalloc(pool, &rt->slots[i], PIN_SIZE) == 0);
		struct obj *o = obj_new(PIN_SIZE, B_PAT, rnd64());
		o->off = rt->slots[i];
		fill(o->off, PIN_SIZE, o->seed);
		pm_persist(pool, pm_direct(pool, o->off), PIN_SIZE);
		slot_set(i, o);
		for (int k = 1; k <= 3; k++)
			REQUIRE(pfree(pool, &rt->words[k]) == 0);
	}
	REQUIRE(pmalloc(pool, &rt->words[0], NB_SIZE) == 0);
	nb_stride = pm_usable_size(pool, rt->words[0]);
	REQUIRE(pfree(pool, &rt->words[0]) == 0);
	pm_close(pool);
	pool = NULL;
}

/* ---- driver ------------------------------------------------------------ */

static long env_int(const char *name, long dflt)
{
	const char *e = getenv(name);
	return e && *e ? strtol(e, NULL, 0) : dflt;
}

static void run_case(const char *c)
{
	/* the A2/A3/C1 cases keep off large reservations, A1's ground */
	follow_large = !strcmp(c, "A1") || !strcmp(c, "random");
	if (!strcmp(c, "A1")) { /* over the empty runs the setup left */
		op_large_abort_sz(250000); /* one whole chunk */
		op_begin("reserve-large+cancel");
		struct pm_action act;
		pm_off off = pm_reserve(pool, &act, 36000); /* a one-chunk big run */
		REQUIRE(off != 0);
		fill(off, 36000, rnd64());
		pm_cancel(pool, &act, 1);
		op_reopen();
		op_alloc(0, 64);
	} else if (!strcmp(c, "A2")) {
		pat_a2();
		pat_a2();
	} else if (!strcmp(c, "A3")) {
		pat_a3();
	} else if (!strcmp(c, "C1")) {
		pat_c1();
	} else if (!strcmp(c, "api")) {
		/* issue 12's calls, half of the mix (and tx_prealloc/tx_strdup
		 * inside the transactions) */
		for (int i = 0; i < run_ops; i++)
			if (rndn(2))
				api_op();
			else
				random_op();
	} else if (!strcmp(c, "BIG")) { /* big transactions, back to back */
		for (int i = 0; i < 3; i++) {
			op_tx_many();
			op_tx(); /* a small one after: lazy state of the big */
		}
	} else if (!strcmp(c, "R1")) {
		/* a crashed pzalloc whose log recovery rejects (the object's
		 * zeroes not durable) must not come back once the block is
		 * allocated, zeroed and freed again (follow-on) */
		case_r1 = 1;
		int sf = follow_every, st = twice_every;
		follow_every = 1;
		twice_every = 0;
		op_alloc(1, 128);
		follow_every = sf;
		twice_every = st;
		case_r1 = 0;
	} else {
		for (int i = 0; i < run_ops; i++)
			random_op();
	}
}

static void run_one(uint64_t seed, const char *c)
{
	run_seed = seed;
	case_name = c;
	rng = mix(seed) | 1;
	struct model empty = {0};
	model_set(&after, &empty);
	model_set(&before, &empty);
	op_name = "setup";
	op_index = 0;
	snprintf(path, sizeof(path), "%s/pool", rundir);
	snprintf(img_path, sizeof(img_path), "%s/img", rundir);
	snprintf(img2_path, sizeof(img2_path), "%s/img2", rundir);
	unlink(path);
	flush_set_override(NULL);
	R.mode = M_OFF;
	if (setjmp(op_abort)) {
		fprintf(stderr, "  (setup failed)\n");
		return;
	}
	setup_pool();
	static uint8_t *sh;
	if (!sh && !(sh = malloc(POOL_SZ)))
		abort();
	int fd = open(path, O_RDONLY);
	REQUIRE(fd >= 0 && pread(fd, sh, POOL_SZ, 0) == (ssize_t)POOL_SZ);
	close(fd);
	rec_start(M_PARENT, path, sh);
	file_valid = 0;
	ndirty = 0;
	flush_set_override(&rec_ops);
	if (setjmp(op_abort) == 0) {
		op_begin("open");
		pool = pm_open(path);
		REQUIRE(pool != NULL);
		if (!R.base)
			R.base = pm_base(pool);
		base = pm_base(pool);
		rt = pm_direct(pool, pm_root(pool, sizeof(struct root)));
		run_case(c);
		op_begin("close");
		pm_close(pool);
		track_stop();
		pool = NULL;
		R.mode = M_OFF;
		flush_set_override(NULL);
		/* and without a crash: the pool as closed holds the last state */
		pm_pool *p = pm_open(path);
		char why[600];
		if (!p || verdict(p, why, sizeof(why)) != 3) {
			fprintf(stderr, "FAIL seed %llu: the closed pool: %s\n", (unsigned long long)seed,
			        p ? why : pm_errormsg());
			print_repro();
			parent_errors++;
		}
		pm_close(p);
	} else {
		print_repro();
		stopped = 1; /* the library is mid-operation: no more seeds */
	}
	R.mode = M_OFF;
	track_stop();
	flush_set_override(NULL);
	unlink(path);
	unlink(img_path);
	unlink(img2_path);
}

static void rm_rundir(void)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/pool", rundir);
	unlink(p);
	rmdir(rundir);
}

static void test_crash_model(void **state)
{
	(void)state;
	uint64_t seed = (uint64_t)env_int("PMSTORE_MODEL_SEED", 1);
	run_ops = (int)env_int("PMSTORE_MODEL_OPS", 40);
	long nseeds = env_int("PMSTORE_MODEL_SEEDS", 1);
	twice_every = (int)env_int("PMSTORE_MODEL_TWICE", 96);
	max_failures = (unsigned long)env_int("PMSTORE_MODEL_MAXFAIL", 30);
	follow_every = (int)env_int("PMSTORE_MODEL_FOLLOW", 5);
	exhaust = (int)env_int("PMSTORE_MODEL_EXHAUST", 12);
	samples = (int)env_int("PMSTORE_MODEL_SAMPLES", 4);
	large_every = (unsigned)env_int("PMSTORE_MODEL_LARGE", 8);
	if (large_every == 0)
		large_every = 1;
	const char *c = getenv("PMSTORE_MODEL_CASE");
	if (!c || !*c)
		c = "random";
	ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[k > 0 ? k : 0] = 0;
	snprintf(rundir, sizeof(rundir), "%s/pmstore-model-%d-XXXXXX", test_dir(), (int)getpid());
	assert_non_null(mkdtemp(rundir));
	track_on = (int)env_int("PMSTORE_MODEL_TRACK", 1);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	SH = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(SH != MAP_FAILED);
	pend = malloc(POOL_WORDS * sizeof(pend[0]));
	dur_at = calloc(POOL_WORDS, sizeof(dur_at[0]));
	pairs_w = malloc(POOL_WORDS * sizeof(pairs_w[0]));
	pairs_v = malloc(POOL_WORDS * sizeof(pairs_v[0]));
	assert_true(pend && pairs_w && pairs_v && dur_at);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	static const char *const cases[] = {"A1", "A2", "A3", "C1"};
	unsigned long ops_total = 0;
	for (long s = 0; s < nseeds && !stopped; s++) {
		if (!strcmp(c, "cases")) {
			for (unsigned i = 0; i < 4 && !stopped; i++) {
				unsigned long f0 = failures + parent_errors;
				run_one(seed + (uint64_t)s, cases[i]);
				ops_total += op_index;
				printf("crash_model: case %s: %s\n", cases[i],
				       failures + parent_errors > f0 ? "FAILED" : "passed");
			}
		} else {
			run_one(seed + (uint64_t)s, c);
			ops_total += op_index;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("crash_model: seed=%llu seeds=%ld case=%s ops=%lu fences=%lu images=%lu (kill %lu; "
	       "%lu recover-twice runs, %lu recovery images; %lu follow-on runs) multi-gap spans=%lu "
	       "tx_add_ranges=%lu pm_perm_save=%lu failures=%lu errors=%lu seconds=%.1f\n",
	       (unsigned long long)seed, nseeds, c, ops_total, fences_seen, images, kill_images,
	       SH->twice_runs, SH->rec_images, SH->follow_runs, span_multi, batch_adds, perm_saves, failures,
	       parent_errors, secs);
	printf("crash_model: issue 12 calls: pm_realloc %lu moved + %lu kept, pm_strdup %lu, "
	       "pm_root grown %lu in place + %lu moved, tx_prealloc %lu, tx_strdup %lu, "
	       "tx_memcpy %lu, tx_memset %lu\n",
	       api_n[0], api_n[1], api_n[2], api_n[3], api_n[4], api_n[5], api_n[6], api_n[7], api_n[8]);
	printf("crash_model: issue 12's sizes drawn (not in follow-on children):");
	for (unsigned i = 0; i < NBIG_SZ; i++)
		printf(" %u x%lu", big_sz[i], big_drawn[i]);
	printf("\n");
	for (unsigned i = 0; i < nfail_ops; i++)
		printf("crash_model:   failing op %s (first #%lu): %lu images\n", fail_by_op[i].op,
		       fail_by_op[i].idx, fail_by_op[i].n);
	if (failures || parent_errors)
		printf("crash_model: failing images kept in %s\n", rundir);
	else
		rm_rundir();
	assert_int_equal(failures + parent_errors, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
