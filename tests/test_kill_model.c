/*
 * test_kill_model.c -- multi-threaded crash loop checked against a MODEL of
 * the operations that returned, not only against invariants.
 *
 * What it checks.  A child process runs N threads (8, or 68 on a pool of
 * 96 lanes in some rounds) on a pool.  Before calling the library, a thread
 * writes the operation it is about to make into a journal that lives in a
 * MAP_SHARED anonymous mapping (not the pool), and marks it done after the
 * call returned.  The state the pool can be in is split into cells: one
 * slot (a pm_off in the root), a pair of words, 8 balances, the big
 * object.  Every operation on a cell gets the cell's next sequence number
 * k (taken before the call, after the thread observed the effect of the
 * operation k-1 in memory), so the journal of a cell is its linearization
 * order even when threads act on each other's results without locks.
 * After the crash the parent recovers the image (pm_open) and requires, per
 * cell, with J the newest operation that returned: the cell holds the state
 * after operation J or after a later one that had started (a pmalloc'ed
 * object, a published object with its tag, pzalloc's zeroes, the words a
 * tx or publish or pm_persist wrote).  Across cells: no block named by two
 * slots (double-owner), objects == reachable (leak), pm_check clean
 * (check), an in-flight operation on two cells all or nothing (mixed).
 * Values written are unique, so a state names the operation it came from.
 *
 * Thread roles (tid % 4):
 *   0  A4 producer: pmalloc(64) into its empty slots, no lock; and the A side
 *      of a pair cell: a fast tx {w1 = u} (lazy active = 0) or a publish
 *      {w1 = u} (lazy invalidation), then hands the cell to thread tid+1
 *      with an atomic flag.
 *   1  A4 consumer: spins on thread tid-1's slots and pfrees a slot as soon
 *      as it is nonzero (often before that pmalloc returned), then pfree +
 *      pmalloc(64) of its own slot (the freed block comes back); and the B
 *      side of the pair: publish {w1 = u', w2 = u''} (the C2/C3 shape).
 *   2  general: pmalloc / pzalloc / pfree of its slots, two tagged objects
 *      published at once (two slots, one operation), reserve + cancel,
 *      direct stores made durable by pm_persist or pm_flush + pm_drain.
 *   3  transactions: balances moved with a tx_pzalloc / tx_pfree of a slot
 *      in the same tx, some aborted; tx on x0 then publish {x0, x1} on the
 *      same thread (C1 shape); thread 3 rewrites a 128 KiB object whole
 *      (undo log beyond the lane).
 *
 * Every 6th round of 8 threads uses only the pair cells, and power fails
 * in B's commit fence (the C2/C3 shape without other threads' fences).
 * Every 5th round starts on a fresh GROWABLE pool (4 MiB, at most the
 * fixed pool's size; issue 19) that the general threads grow a chunk at a
 * time among everyone's operations; its power-loss images are as long as
 * the maximum (the file length's durability is test_regress's).
 *
 * Crash modes.
 *   power loss: the child's flush table (flush_set_override) copies a range
 *   into a shadow file only when the thread that flushed it fences, under
 *   one lock (media only moves forward).  Power fails (the shadow freezes)
 *   at a random fence, in the middle of it: of that fence's ranges a random
 *   part reaches the image (flushed-but-not-fenced, partly there), and so
 *   do random words of lines other threads flushed recently; the fence is
 *   the round's random fence number, or the f-th fence (f = 1..3) of an
 *   operation of a kind chosen for the round (per role), or a fence in
 *   which an A4 producer sleeps (a slow fence, which is when others act on
 *   its result).  Fences also write back, at
 *   random, lines nobody flushed since their last store: a line recently
 *   flushed by any thread or a line of the root, copied as it is now (a
 *   store that was never flushed reaching media on its own).  After the
 *   freeze no operation is marked done and threads stop starting new ones.
 *   kill -9: the child is SIGKILLed at a random moment; every store it made
 *   survives.
 * Each round starts from the previous round's recovered image (so
 * recovery is followed by more operations), and ends with the checks.
 *
 * Output: any failure prints a line "KILLMODEL-FAIL kind=<kind> ..." with
 * kind one of open, check, leak, dangling, double-owner, lost-op, phantom,
 * mixed, content, torn, harness; the image is kept next to the pool.
 * PMSTORE_KM_ROUNDS (rounds per mode), PMSTORE_KM_SEED, PMSTORE_KM_MODE
 * (pl, kill, both), PMSTORE_KM_BIGROUNDS (every n-th round runs 68
 * threads; 0 = never), PMSTORE_KM_CONTINUE=1 (count failing rounds and go
 * on instead of stopping at the first), PMSTORE_KM_MAXFAIL, PMSTORE_KM_NO_A4=1
 * (the consumers leave the producers' slots alone: to see the other bugs
 * once A4 is known), PMSTORE_KM_POLITE=1 (a consumer frees a producer's
 * object only after that pmalloc returned, a producer allocates into a
 * slot only after the pfree returned: the test_kill pattern, which seeded
 * bug 8 breaks), PMSTORE_KM_NOPAIRS=1 (no pair / C1 operations).
 *
 * What it can NOT catch: a word that reaches media holding an older value
 * than one already durable, or an intermediate value it never held at a
 * copy (copies are of the value at copy time); reorderings
 * the real CPU makes inside one 8-byte word (none); a state that is wrong
 * but equal to an allowed one (for slots filled by plain pmalloc only
 * "some allocated object" is known, not which block); crashes inside
 * recovery itself (recovery runs once, in the parent, with the real flush
 * table); bugs that need a workload shape not listed above (A1's exact-fit
 * large reservation, A2's store into an object reserved in the same
 * publish, A3's multi-gap first tx_add).  Thread interleavings are not
 * reproducible from the seed; the seed fixes the choices, not the timing.
 */
#include "test_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "flush/flush.h"

#define POOL_SZ ((size_t)32 << 20)
#define NLANES 96
#define NTHR_MAX 68
#define NTHR_SMALL 8
#define NSL 8    /* slots per thread */
#define NBAL 8   /* balances per tx thread */
#define BIG_SZ ((size_t)128 << 10)
#define RING 16  /* journal entries kept per cell */

#define CPT 12 /* cells per thread */
#define C_PAIR 8
#define C_PERS 9
#define C_BAL 10
#define C_C1 11
#define NCELLS (NTHR_MAX * CPT + 1)
#define C_BIG (NTHR_MAX * CPT)
#define CELL(t, i) ((unsigned)(t) * CPT + (i))

#define ANY (~(uint64_t)0) /* "some allocated object" */

struct root {
	pm_off slot[NTHR_MAX][NSL];
	uint64_t pair[NTHR_MAX][2];
	uint64_t pers[NTHR_MAX][8]; /* words 0 and 4: two lines */
	uint64_t bal[NTHR_MAX][NBAL];
	uint64_t c1[NTHR_MAX][2];
	pm_off big;
};

enum { CK_NONE = 0, CK_ZERO, CK_TAG };          /* object contents */
enum { T_SLOT = 1, T_ATOM, T_WISE, T_BIG };     /* cell types */
enum { OP_PMALLOC = 1, OP_PZALLOC, OP_PFREE, OP_PUB, OP_TX, OP_TXPUB, OP_PERSIST, OP_DRAIN, OP_BIGTX };
static const char *op_name[] = {"?", "pmalloc", "pzalloc", "pfree", "publish-objs",
                                "tx", "publish-words", "pm_persist", "pm_flush+pm_drain", "tx-big"};

struct jent {
	uint64_t k;      /* sequence number in the cell, 0 = being written */
	uint64_t opid;   /* the operation (shared by the cells it changes) */
	uint32_t op, ck; /* what, and the object contents it promises */
	uint32_t done, ncells;
	int32_t tid;
	uint32_t pad;
	uint64_t v[NBAL]; /* the cell's words after the operation */
	uint64_t tag, size;
};

struct jcell {
	_Atomic uint64_t top;
	struct jent e[RING];
};

struct journal {
	_Atomic int frozen, ready;
	int nthreads, power_loss;
	uint64_t seed;
	_Atomic uint64_t fences, freeze_at, uniq, opid, ops_done;
	_Atomic int freeze_why; /* 1 random fence, 2 slow fence, 3 parent, 4 target */
	/* this round's target: power fails at fence t_fidx of an operation
	 * t_op of a thread of role t_role, with probability 1/t_p */
	unsigned t_role, t_op, t_fidx, t_p;
	int focus; /* only the pair cells are used (C2/C3 shape, no other fences) */
	int b_first; /* focus: B takes its lane before A (B's lane index lower) */
	_Atomic int b_started;
	struct jcell c[NCELLS];
};

static struct journal *J;

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x ? x : 0x9e3779b97f4a7c15ull;
}

/* ---- cell geometry ------------------------------------------------------ */

static unsigned cell_type(unsigned c)
{
	if (c == C_BIG)
		return T_BIG;
	unsigned i = c % CPT;
	if (i < NSL)
		return T_SLOT;
	return i == C_PERS ? T_WISE : T_ATOM;
}

static unsigned cell_nw(unsigned c)
{
	switch (cell_type(c)) {
	case T_SLOT:
	case T_BIG:
		return 1;
	default:
		return c % CPT == C_BAL ? NBAL : 2;
	}
}

static uint64_t *cell_word(struct root *rt, unsigned c, unsigned w)
{
	if (c == C_BIG)
		return &rt->big;
	unsigned t = c / CPT, i = c % CPT;
	if (i < NSL)
		return &rt->slot[t][i];
	switch (i) {
	case C_PAIR: return &rt->pair[t][w];
	case C_PERS: return &rt->pers[t][w * 4];
	case C_BAL: return &rt->bal[t][w];
	default: return &rt->c1[t][w];
	}
}

/* ---- shadow (power-loss) flush table ---------------------------------- */

static char *g_pool, *g_shadow;
static size_t g_size;
static uintptr_t g_root_lo, g_root_hi;

#define SH_MAX 64
static _Thread_local struct {
	unsigned n;
	uintptr_t lo[SH_MAX], hi[SH_MAX];
	uint64_t rng;
	int role;          /* 1 + tid % 4 */
	unsigned op, fidx; /* the operation under way, its fences so far */
} sh;

#define RECENT 256
static _Atomic uintptr_t recent[RECENT];
static _Atomic unsigned recent_i;
static pthread_mutex_t sh_lock = PTHREAD_MUTEX_INITIALIZER;

static int in_pool(uintptr_t lo, uintptr_t hi)
{
	return g_shadow && lo >= (uintptr_t)g_pool && hi <= (uintptr_t)g_pool + g_size;
}

/* copy words [lo, hi) of memory to the shadow: they reached media */
static void sh_copy(uintptr_t lo, uintptr_t hi, uint64_t *rng, int partial)
{
	lo &= ~(uintptr_t)7;
	if (!in_pool(lo, hi))
		return;
	for (uintptr_t a = lo; a < hi; a += 8) {
		if (partial && (rng_next(rng) & 1))
			continue;
		uint64_t v = __atomic_load_n((uint64_t *)a, __ATOMIC_RELAXED);
		__atomic_store_n((uint64_t *)(g_shadow + (a - (uintptr_t)g_pool)), v, __ATOMIC_RELAXED);
	}
}

/* Lines nobody flushed since their last store written back on their own:
 * a recently flushed line (any thread's) or a line of the root. */
static void sh_early_writeback(uint64_t *rng)
{
	uint64_t r = rng_next(rng);
	if (r % 4 == 0) {
		uintptr_t a = atomic_load_explicit(&recent[(r >> 8) % RECENT], memory_order_relaxed);
		if (a) {
			a &= ~(uintptr_t)63;
			sh_copy(a, a + 64, rng, (r >> 20) & 1);
		}
	} else if (r % 4 == 1 && g_root_hi) {
		uintptr_t a = g_root_lo + ((r >> 8) % ((g_root_hi - g_root_lo) / 64)) * 64;
		sh_copy(a, a + 64, rng, (r >> 20) & 1);
	}
}

static void sh_freeze(int why)
{
	int z = 0;
	if (atomic_compare_exchange_strong(&J->frozen, &z, 1))
		atomic_store(&J->freeze_why, why);
}

static void sh_drain(void)
{
	int slow = 0;
	if (!sh.rng)
		sh.rng = (uint64_t)(uintptr_t)&sh ^ J->seed;
	uint64_t r = rng_next(&sh.rng);
	if (sh.role == 1 + 0 && r % 8 == 0) { /* an A4 producer's slow fence */
		struct timespec ts = {0, (long)(100000 + (r >> 8) % 700000)};
		nanosleep(&ts, NULL);
		slow = 1;
	}
	pthread_mutex_lock(&sh_lock);
	if (atomic_load(&J->frozen)) { /* power is off: nothing reaches media */
		pthread_mutex_unlock(&sh_lock);
		sh.n = 0;
		return;
	}
	uint64_t f = atomic_fetch_add(&J->fences, 1) + 1;
	sh.fidx++;
	int why = f == atomic_load(&J->freeze_at) ? 1 : slow && (r >> 40) % 10 == 0 ? 2 : 0;
	if (!why && sh.op && sh.op == J->t_op && sh.role == (int)J->t_role && sh.fidx == J->t_fidx &&
	    (r >> 32) % J->t_p == 0)
		why = 4;
	int die = why != 0;
	for (unsigned i = 0; i < sh.n; i++) {
		if (!die) {
			sh_copy(sh.lo[i], sh.hi[i], &sh.rng, 0);
		} else { /* power fails inside this fence: part of it is there */
			uint64_t m = rng_next(&sh.rng) % 4;
			if (m)
				sh_copy(sh.lo[i], sh.hi[i], &sh.rng, m == 3);
		}
	}
	if (die) {
		/* other threads' flushed-but-not-fenced lines may be partly
		 * there too: some recently flushed lines, as they are now */
		for (uint64_t n = rng_next(&sh.rng) % 8; n; n--) {
			uintptr_t a = atomic_load_explicit(&recent[rng_next(&sh.rng) % RECENT], memory_order_relaxed);
			if (a)
				sh_copy(a & ~(uintptr_t)63, (a & ~(uintptr_t)63) + 64, &sh.rng, 1);
		}
		sh_freeze(why);
	}
	else if (r % 3 == 0)
		sh_early_writeback(&sh.rng);
	pthread_mutex_unlock(&sh_lock);
	sh.n = 0;
}

static void sh_flush(const void *addr, size_t len)
{
	if (len == 0)
		return;
	if (sh.n == SH_MAX) { /* write back early (allowed), do not fence */
		pthread_mutex_lock(&sh_lock);
		if (!atomic_load(&J->frozen))
			for (unsigned i = 0; i < sh.n; i++)
				sh_copy(sh.lo[i], sh.hi[i], &sh.rng, 0);
		pthread_mutex_unlock(&sh_lock);
		sh.n = 0;
	}
	sh.lo[sh.n] = (uintptr_t)addr;
	sh.hi[sh.n] = ((uintptr_t)addr + len + 7) & ~(uintptr_t)7;
	sh.n++;
	unsigned i = atomic_fetch_add_explicit(&recent_i, 1, memory_order_relaxed);
	atomic_store_explicit(&recent[i % RECENT], (uintptr_t)addr, memory_order_relaxed);
}

static void *sh_memcpy(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	sh_flush(d, n);
	return d;
}

static void *sh_memset(void *d, int c, size_t n)
{
	memset(d, c, n);
	sh_flush(d, n);
	return d;
}

static const struct flush_ops shadow_ops = {
	.name = "shadow-km", .flush = sh_flush, .drain = sh_drain,
	.memcpy_nodrain = sh_memcpy, .memset_nodrain = sh_memset,
};

/* ---- the journal, child side ------------------------------------------ */

static pm_pool *cp;
static struct root *crt;
static _Atomic int turn[NTHR_MAX]; /* pair cell of thread t: 0 = A's, 1 = B's */
static int g_no_a4; /* PMSTORE_KM_NO_A4=1: no thread frees another's fresh object */
static int g_polite; /* PMSTORE_KM_POLITE=1: ... only once its pmalloc returned */
static int g_nopairs; /* PMSTORE_KM_NOPAIRS=1: no pair / C1 cell operations */

static uint64_t uniq(void)
{
	return atomic_fetch_add(&J->uniq, 1) + 1;
}

static struct jent *jstart(unsigned c, uint64_t opid, unsigned op, const uint64_t *v,
                           unsigned ck, uint64_t tag, uint64_t size, unsigned ncells, int tid)
{
	struct jcell *jc = &J->c[c];
	uint64_t k = atomic_fetch_add(&jc->top, 1) + 1;
	struct jent *e = &jc->e[k % RING];
	__atomic_store_n(&e->k, 0, __ATOMIC_RELEASE);
	e->done = 0;
	e->opid = opid;
	e->op = op;
	e->ck = ck;
	e->ncells = ncells;
	e->tid = tid;
	memcpy(e->v, v, cell_nw(c) * 8);
	e->tag = tag;
	e->size = size;
	__atomic_store_n(&e->k, k, __ATOMIC_RELEASE);
	sh.op = op;
	sh.fidx = 0;
	return e;
}

/* The call returned: rc != 0 means it did nothing, the cell keeps prev. */
static void jdone(struct jent *e, unsigned c, int rc, const uint64_t *prev)
{
	sh.op = 0;
	if (rc && prev)
		memcpy(e->v, prev, cell_nw(c) * 8);
	if (atomic_load(&J->frozen))
		return; /* returned after the power failed: not known durable */
	__atomic_store_n(&e->done, 1, __ATOMIC_RELEASE);
	atomic_fetch_add_explicit(&J->ops_done, 1, memory_order_relaxed);
}

static void park_if_frozen(void)
{
	while (atomic_load(&J->frozen))
		pause();
}

static uint64_t ld(const uint64_t *w)
{
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static void read_cell(unsigned c, uint64_t *v)
{
	for (unsigned w = 0; w < cell_nw(c); w++)
		v[w] = ld(cell_word(crt, c, w));
}

/* ---- thread roles ------------------------------------------------------- */

static void pair_a(int tid, uint64_t r)
{
	unsigned c = CELL(tid, C_PAIR);
	uint64_t prev[2], v[2];
	read_cell(c, prev);
	v[0] = uniq();
	v[1] = prev[1];
	uint64_t id = atomic_fetch_add(&J->opid, 1);
	int rc;
	struct jent *e;
	if (r & 1) { /* C3: fast commit, active = 0 left lazy */
		if (tx_begin(cp)) {
			tx_end();
			return;
		}
		if (tx_add(&crt->pair[tid][0], 8)) {
			tx_end();
			return;
		}
		crt->pair[tid][0] = v[0];
		e = jstart(c, id, OP_TX, v, CK_NONE, 0, 0, 1, tid);
		rc = tx_commit();
		rc |= tx_end();
	} else { /* C2: publish, invalidation left lazy */
		struct pm_action a;
		e = jstart(c, id, OP_TXPUB, v, CK_NONE, 0, 0, 1, tid);
		pm_set_value(cp, &a, &crt->pair[tid][0], v[0]);
		rc = pm_publish(cp, &a, 1);
	}
	jdone(e, c, rc, prev);
	atomic_store_explicit(&turn[tid], 1, memory_order_release);
}

static void pair_b(int tid)
{
	int a = tid - 1;
	unsigned c = CELL(a, C_PAIR);
	uint64_t prev[2], v[2];
	read_cell(c, prev);
	v[0] = uniq();
	v[1] = uniq();
	struct pm_action act[2];
	struct jent *e = jstart(c, atomic_fetch_add(&J->opid, 1), OP_TXPUB, v, CK_NONE, 0, 0, 1, tid);
	pm_set_value(cp, &act[0], &crt->pair[a][0], v[0]);
	pm_set_value(cp, &act[1], &crt->pair[a][1], v[1]);
	int rc = pm_publish(cp, act, 2);
	jdone(e, c, rc, prev);
	atomic_store_explicit(&turn[a], 0, memory_order_release);
}

/* one-slot operation: pmalloc / pzalloc (size) or pfree */
static void slot_op(int tid, unsigned c, unsigned op, size_t size)
{
	pm_off *s = cell_word(crt, c, 0);
	uint64_t prev = ld(s), v = op == OP_PFREE ? 0 : ANY;
	struct jent *e = jstart(c, atomic_fetch_add(&J->opid, 1), op, &v,
	                        op == OP_PZALLOC ? CK_ZERO : CK_NONE, 0, size, 1, tid);
	int rc = op == OP_PFREE ? pfree(cp, s) : op == OP_PZALLOC ? pzalloc(cp, s, size)
	                                                        : pmalloc(cp, s, size);
	jdone(e, c, rc, &prev);
}

/* the newest operation on cell c returned (PMSTORE_KM_POLITE) */
static int last_returned(unsigned c)
{
	struct jcell *jc = &J->c[c];
	uint64_t top = atomic_load(&jc->top);
	const struct jent *e = &jc->e[top % RING];
	return top == 0 || (__atomic_load_n(&e->k, __ATOMIC_ACQUIRE) == top &&
	                    __atomic_load_n(&e->done, __ATOMIC_ACQUIRE));
}

static void role_producer(int tid, uint64_t *rng)
{
	while (J->b_first && atomic_load(&J->b_started) < J->nthreads / 4)
		sched_yield();
	for (;;) {
		park_if_frozen();
		uint64_t r = rng_next(rng);
		if (!g_nopairs && !atomic_load_explicit(&turn[tid], memory_order_acquire) &&
		    (r % 3 == 0 || J->focus)) {
			pair_a(tid, r >> 8);
			continue;
		}
		if (J->focus) {
			sched_yield();
			continue;
		}
		unsigned i0 = (r >> 16) % NSL, i;
		for (i = 0; i < NSL; i++)
			if (!ld(&crt->slot[tid][(i0 + i) % NSL]) &&
			    (!g_polite || last_returned(CELL(tid, (i0 + i) % NSL))))
				break;
		if (i == NSL) {
			if (g_polite)
				nanosleep(&(struct timespec){0, 20000}, NULL);
			if (g_no_a4) /* nobody frees them for us */
				slot_op(tid, CELL(tid, i0), OP_PFREE, 0);
			else
				sched_yield();
			continue;
		}
		slot_op(tid, CELL(tid, (i0 + i) % NSL), OP_PMALLOC, 64);
	}
}

static void role_consumer(int tid, uint64_t *rng)
{
	int a = tid - 1;
	unsigned b = 0;
	if (J->b_first) { /* take a lane before the producers do */
		if (ld(&crt->slot[tid][0]))
			slot_op(tid, CELL(tid, 0), OP_PFREE, 0);
		else
			slot_op(tid, CELL(tid, 0), OP_PMALLOC, 64);
		atomic_fetch_add(&J->b_started, 1);
		while (atomic_load(&J->b_started) < J->nthreads / 4)
			sched_yield();
	}
	for (;;) {
		park_if_frozen();
		int did = 0;
		for (unsigned i = 0; i < NSL && !g_no_a4 && !J->focus; i++) {
			if (!ld(&crt->slot[a][i]))
				continue;
			if (g_polite && !last_returned(CELL(a, i)))
				continue; /* wait until a's pmalloc returned */
			/* a's pmalloc may not have returned yet */
			slot_op(tid, CELL(a, i), OP_PFREE, 0);
			park_if_frozen();
			b = (b + 1) % NSL;
			if (ld(&crt->slot[tid][b]))
				slot_op(tid, CELL(tid, b), OP_PFREE, 0);
			park_if_frozen();
			slot_op(tid, CELL(tid, b), OP_PMALLOC, 64);
			did = 1;
			park_if_frozen();
		}
		if (atomic_load_explicit(&turn[a], memory_order_acquire)) {
			pair_b(tid);
			did = 1;
		}
		if (!did)
			sched_yield();
	}
}

static void persist_op(int tid, uint64_t r)
{
	unsigned c = CELL(tid, C_PERS);
	uint64_t v[2] = {uniq(), uniq()};
	uint64_t *w0 = cell_word(crt, c, 0), *w1 = cell_word(crt, c, 1);
	unsigned op = r & 1 ? OP_PERSIST : OP_DRAIN;
	struct jent *e = jstart(c, atomic_fetch_add(&J->opid, 1), op, v, CK_NONE, 0, 0, 1, tid);
	if (op == OP_PERSIST) {
		*w0 = v[0];
		pm_persist(cp, w0, 8);
		*w1 = v[1];
		pm_persist(cp, w1, 8);
	} else {
		*w0 = v[0];
		*w1 = v[1];
		pm_flush(cp, w0, 8);
		pm_flush(cp, w1, 8);
		pm_drain(cp);
	}
	jdone(e, c, 0, NULL);
}

static void role_general(int tid, uint64_t *rng)
{
	for (;;) {
		park_if_frozen();
		uint64_t r = rng_next(rng);
		unsigned i = r % NSL, c = CELL(tid, i);
		unsigned what = (r >> 8) % 10;
		/* a growable pool (every 5th round starts one): now and then a
		 * growth by one chunk, among the other threads' operations (no
		 * cell: what it must keep is everything else) */
		if (pm_max_size(cp) > pm_size(cp) && (r >> 56) % 24 == 0) {
			pm_grow(cp, pm_size(cp) + (256u << 10));
			continue;
		}
		if (what < 2) {
			persist_op(tid, r >> 16);
			continue;
		}
		if (crt->slot[tid][i]) {
			slot_op(tid, c, OP_PFREE, 0);
			continue;
		}
		size_t sz = 16 + (r >> 20) % ((r & (1u << 12)) ? 40000 : 600);
		if (what < 5) {
			slot_op(tid, c, OP_PMALLOC, sz);
		} else if (what < 7) {
			slot_op(tid, c, OP_PZALLOC, sz);
		} else if (what < 9) { /* two tagged objects, one publish */
			unsigned j = (i + 1 + (r >> 40) % (NSL - 1)) % NSL, c2 = CELL(tid, j);
			if (crt->slot[tid][j])
				continue;
			struct pm_action a[4];
			size_t s2 = 16 + (r >> 44) % 4000;
			pm_off o1 = pm_reserve(cp, &a[0], 48);
			pm_off o2 = o1 ? pm_reserve(cp, &a[1], s2) : 0;
			if (!o1 || !o2) {
				pm_cancel(cp, a, o1 ? 1 : 0);
				continue;
			}
			uint64_t tag = uniq();
			uint64_t *p1 = pm_direct(cp, o1), *p2 = pm_direct(cp, o2);
			p1[0] = tag;
			p1[1] = c;
			p2[0] = tag;
			p2[1] = c2;
			memset(p2 + 2, 0x5a, s2 - 16 > 64 ? 64 : s2 - 16);
			pm_set_value(cp, &a[2], &crt->slot[tid][i], o1);
			pm_set_value(cp, &a[3], &crt->slot[tid][j], o2);
			uint64_t id = atomic_fetch_add(&J->opid, 1), z = 0;
			struct jent *e1 = jstart(c, id, OP_PUB, &o1, CK_TAG, tag, 48, 2, tid);
			struct jent *e2 = jstart(c2, id, OP_PUB, &o2, CK_TAG, tag, s2, 2, tid);
			int rc = pm_publish(cp, a, 4);
			if (rc)
				pm_cancel(cp, a, 2);
			jdone(e1, c, rc, &z);
			jdone(e2, c2, rc, &z);
		} else { /* reserve and cancel: must leave nothing */
			struct pm_action a;
			if (pm_reserve(cp, &a, sz))
				pm_cancel(cp, &a, 1);
		}
	}
}

static void role_tx(int tid, uint64_t *rng)
{
	for (;;) {
		park_if_frozen();
		uint64_t r = rng_next(rng);
		unsigned sel = r % 16;
		if (sel == 0 && tid == 3 && crt->big) {
			uint64_t *w = pm_direct(cp, crt->big), prev = w[0], v = uniq();
			if (tx_begin(cp)) {
				tx_end();
				continue;
			}
			if (tx_add(w, BIG_SZ)) { /* aborted: nothing may be stored */
				static int said;
				if (!said++ && getenv("PMSTORE_KM_VERBOSE"))
					fprintf(stderr, "big tx_add: %s\n", pm_errormsg());
				tx_end();
				continue;
			}
			for (size_t i = 0; i < BIG_SZ / 8; i++)
				w[i] = v;
			struct jent *e = jstart(C_BIG, atomic_fetch_add(&J->opid, 1), OP_BIGTX, &v, CK_NONE, 0, 0, 1, tid);
			int rc = tx_commit();
			rc |= tx_end();
			jdone(e, C_BIG, rc, &prev);
		} else if (sel < 4 && !g_nopairs) { /* C1: tx on x0, then publish {x0, x1}, same thread */
			unsigned c = CELL(tid, C_C1);
			uint64_t prev[2], v[2];
			read_cell(c, prev);
			v[0] = uniq();
			v[1] = prev[1];
			if (tx_begin(cp)) {
				tx_end();
				continue;
			}
			if (tx_add(&crt->c1[tid][0], 8)) {
				tx_end();
				continue;
			}
			crt->c1[tid][0] = v[0];
			struct jent *e = jstart(c, atomic_fetch_add(&J->opid, 1), OP_TX, v, CK_NONE, 0, 0, 1, tid);
			int rc = tx_commit();
			rc |= tx_end();
			jdone(e, c, rc, prev);
			park_if_frozen();
			read_cell(c, prev);
			v[0] = uniq();
			v[1] = uniq();
			struct pm_action a[2];
			e = jstart(c, atomic_fetch_add(&J->opid, 1), OP_TXPUB, v, CK_NONE, 0, 0, 1, tid);
			pm_set_value(cp, &a[0], &crt->c1[tid][0], v[0]);
			pm_set_value(cp, &a[1], &crt->c1[tid][1], v[1]);
			rc = pm_publish(cp, a, 2);
			jdone(e, c, rc, prev);
		} else { /* move a balance, maybe with an allocation or a free */
			unsigned cb = CELL(tid, C_BAL), i = (r >> 8) % NBAL, j = (r >> 12) % NBAL;
			unsigned si = (r >> 16) % NSL, cs = CELL(tid, si);
			int with_slot = (r >> 20) & 1, abort = (r >> 24) % 6 == 0;
			uint64_t x = 1 + (r >> 28) % 1000, pb[NBAL], vb[NBAL];
			if (i == j)
				j = (i + 1) % NBAL;
			pm_off ps = crt->slot[tid][si], vs = ps;
			size_t sz = 16 + (r >> 40) % 3000;
			read_cell(cb, pb);
			memcpy(vb, pb, sizeof(vb));
			vb[i] -= x;
			vb[j] += x;
			if (tx_begin(cp)) {
				tx_end();
				continue;
			}
			if (tx_add(&crt->bal[tid][i], 8) || tx_add(&crt->bal[tid][j], 8)) {
				tx_end();
				continue;
			}
			crt->bal[tid][i] -= x;
			crt->bal[tid][j] += x;
			if (with_slot) {
				if (tx_add(&crt->slot[tid][si], 8)) {
					tx_end();
					continue;
				}
				if (ps) {
					if (tx_pfree(ps))
						abort = 1;
					vs = 0;
				} else {
					vs = tx_pzalloc(sz);
					if (!vs)
						abort = 1;
				}
				if (tx_stage() == PM_TX_STAGE_WORK)
					crt->slot[tid][si] = vs;
			}
			if (abort || tx_stage() != PM_TX_STAGE_WORK) {
				if (tx_stage() == PM_TX_STAGE_WORK)
					tx_abort(0);
				tx_end();
				continue;
			}
			uint64_t id = atomic_fetch_add(&J->opid, 1);
			struct jent *e1 = jstart(cb, id, OP_TX, vb, CK_NONE, 0, 0, with_slot ? 2 : 1, tid);
			struct jent *e2 = with_slot ? jstart(cs, id, OP_TX, &vs, vs ? CK_ZERO : CK_NONE, 0, sz, 2, tid) : NULL;
			int rc = tx_commit();
			rc |= tx_end();
			jdone(e1, cb, rc, pb);
			if (e2)
				jdone(e2, cs, rc, &ps);
		}
	}
}

struct targ {
	int tid;
};

static void *child_thread(void *arg)
{
	int tid = ((struct targ *)arg)->tid;
	uint64_t rng = J->seed * 0x9e3779b97f4a7c15ull + (uint64_t)tid * 7919 + 1;
	sh.rng = rng ^ 0x5555;
	sh.role = 1 + tid % 4;
	if (J->focus && tid % 4 >= 2)
		for (;;)
			pause();
	switch (tid % 4) {
	case 0: role_producer(tid, &rng); break;
	case 1: role_consumer(tid, &rng); break;
	case 2: role_general(tid, &rng); break;
	default: role_tx(tid, &rng); break;
	}
	return NULL;
}

static void child_main(const char *pool, const char *shadow)
{
	if (shadow) {
		int fd = open(shadow, O_RDWR);
		if (fd < 0)
			_exit(4);
		g_size = POOL_SZ;
		g_shadow = mmap(NULL, g_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (g_shadow == MAP_FAILED)
			_exit(4);
		flush_set_override(&shadow_ops);
	}
	cp = pm_open(pool);
	if (!cp)
		_exit(3);
	g_no_a4 = getenv("PMSTORE_KM_NO_A4") && atoi(getenv("PMSTORE_KM_NO_A4"));
	g_polite = getenv("PMSTORE_KM_POLITE") && atoi(getenv("PMSTORE_KM_POLITE"));
	g_nopairs = getenv("PMSTORE_KM_NOPAIRS") && atoi(getenv("PMSTORE_KM_NOPAIRS"));
	g_pool = pm_base(cp);
	crt = pm_direct(cp, pm_root(cp, sizeof(struct root)));
	g_root_lo = (uintptr_t)crt & ~(uintptr_t)63;
	g_root_hi = ((uintptr_t)(crt + 1) + 63) & ~(uintptr_t)63;
	int n = J->nthreads;
	static pthread_t th[NTHR_MAX];
	static struct targ ta[NTHR_MAX];
	for (int t = 0; t < n; t++) {
		ta[t].tid = t;
		if (pthread_create(&th[t], NULL, child_thread, &ta[t]))
			_exit(6);
	}
	atomic_store(&J->ready, 1);
	for (;;)
		pause();
}

/* ---- verification ----------------------------------------------------- */

struct base {
	uint64_t v[NBAL];
	uint32_t ck;
	uint64_t tag, size;
};
static struct base base[NCELLS];

struct stats {
	uint64_t rounds, ops_done, fences, cells_checked, fail_rounds, frozen[8];
	uint64_t inflight_seen, inflight_applied;
	uint64_t grow_rounds; /* rounds started on a fresh growable pool */
	uint64_t grown_max;   /* the largest size a recovered growable pool had */
};
static struct stats st;

static int g_fail; /* failures in this round */
static int g_round;
static uint64_t g_seed;

static void report(const char *kind, const char *fmt, ...)
{
	va_list ap;
	char msg[600];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("KILLMODEL-FAIL kind=%s round=%d seed=%llu mode=%s threads=%d %s\n", kind, g_round,
	       (unsigned long long)g_seed, J->power_loss ? "power-loss" : "kill-9", J->nthreads, msg);
	fflush(stdout);
	g_fail++;
}

static const char *cell_desc(unsigned c, char *buf, size_t n)
{
	if (c == C_BIG)
		snprintf(buf, n, "big");
	else if (c % CPT < NSL)
		snprintf(buf, n, "slot[%u][%u]", c / CPT, c % CPT);
	else
		snprintf(buf, n, "%s[%u]", (const char *[]){"pair", "pers", "bal", "c1"}[c % CPT - NSL], c / CPT);
	return buf;
}

/* a candidate state of a cell: the base (k = 0) or a journal entry */
struct cand {
	uint64_t k;
	const struct jent *e; /* NULL for the base */
	const uint64_t *v;
	uint32_t ck;
	uint64_t tag, size;
};

static int content_ok(pm_pool *p, pm_off off, const struct cand *cd, unsigned c, char *why, size_t n)
{
	size_t us = pm_usable_size(p, off);
	if (us == 0) {
		snprintf(why, n, "0x%llx is not an allocated object", (unsigned long long)off);
		return 0;
	}
	if (cd->size && us < cd->size) {
		snprintf(why, n, "usable %zu < %llu", us, (unsigned long long)cd->size);
		return 0;
	}
	const uint64_t *o = pm_direct(p, off);
	if (cd->ck == CK_TAG && (o[0] != cd->tag || o[1] != c)) {
		snprintf(why, n, "tag %llx/%llu, expected %llx/%u", (unsigned long long)o[0],
		         (unsigned long long)o[1], (unsigned long long)cd->tag, c);
		return 0;
	}
	if (cd->ck == CK_ZERO) {
		size_t m = cd->size < 512 ? cd->size : 512;
		for (size_t i = 0; i < m; i++)
			if (((const unsigned char *)o)[i]) {
				snprintf(why, n, "pzalloc'ed object byte %zu = 0x%x", i, ((const unsigned char *)o)[i]);
				return 0;
			}
	}
	return 1;
}

static int cand_match(const uint64_t *state, unsigned nw, const struct cand *cd, unsigned wonly)
{
	if (wonly < nw)
		return cd->v[wonly] == state[wonly];
	for (unsigned w = 0; w < nw; w++)
		if (!(cd->v[w] == state[w] || (cd->v[w] == ANY && state[w] != 0)))
			return 0;
	return 1;
}

/* per cell result, for the cross-cell checks */
static uint64_t matched_k[NCELLS], matched_J[NCELLS];
static uint64_t match_lo[NCELLS], match_hi[NCELLS]; /* acceptable candidates that match */

static int g_printed; /* candidate lists printed this round */

static void print_cands(unsigned c, const struct cand *cd, unsigned nc, uint64_t Jk, const uint64_t *state)
{
	char b[64];
	if (g_printed++ >= 4)
		return;
	unsigned nw = cell_nw(c);
	printf("  cell %s state:", cell_desc(c, b, sizeof(b)));
	for (unsigned w = 0; w < nw; w++)
		printf(" %llx", (unsigned long long)state[w]);
	printf("  (J=%llu)\n", (unsigned long long)Jk);
	for (unsigned i = 0; i < nc; i++) {
		printf("    k=%llu %s tid=%d %s:", (unsigned long long)cd[i].k,
		       cd[i].e ? op_name[cd[i].e->op] : "start-of-round", cd[i].e ? cd[i].e->tid : -1,
		       cd[i].e ? (cd[i].e->done ? "returned" : "in-flight") : "");
		for (unsigned w = 0; w < nw; w++)
			printf(" %llx", (unsigned long long)cd[i].v[w]);
		printf("\n");
	}
}

static void verify_cell(pm_pool *p, struct root *rt, unsigned c)
{
	char b[64], why[200];
	unsigned nw = cell_nw(c), ty = cell_type(c);
	uint64_t state[NBAL];
	for (unsigned w = 0; w < nw; w++)
		state[w] = *cell_word(rt, c, w);
	struct jcell *jc = &J->c[c];
	uint64_t top = atomic_load(&jc->top);
	static struct cand cd[RING + 1];
	unsigned nc = 0;
	uint64_t lo = top >= RING ? top - RING + 1 : 1;
	if (lo == 1)
		cd[nc++] = (struct cand){0, NULL, base[c].v, base[c].ck, base[c].tag, base[c].size};
	uint64_t Jk = 0;
	int have_j = lo == 1;
	for (uint64_t k = lo; k <= top; k++) {
		const struct jent *e = &jc->e[k % RING];
		if (e->k != k)
			continue; /* being written when the child died: not started */
		cd[nc++] = (struct cand){k, e, e->v, e->ck, e->tag, e->size};
		if (e->done) {
			Jk = k;
			have_j = 1;
		}
	}
	if (!have_j) {
		report("harness", "cell %s: %llu operations, none returned in the last %d", cell_desc(c, b, sizeof(b)),
		       (unsigned long long)top, RING);
		return;
	}
	matched_J[c] = Jk;
	st.cells_checked++;
	/* BIG: every word of the object equal */
	if (ty == T_BIG) {
		if (!state[0])
			return;
		const uint64_t *w = pm_direct(p, state[0]);
		uint64_t x = w[0];
		for (size_t i = 1; i < BIG_SZ / 8; i++)
			if (w[i] != x) {
				report("torn", "big object word %zu = %llx, word 0 = %llx", i,
				       (unsigned long long)w[i], (unsigned long long)x);
				return;
			}
		state[0] = x; /* the logical value: the generation */
	}
	int found = -1, older = -1;
	if (ty == T_WISE) { /* words independent (two pm_persist calls) */
		for (unsigned w = 0; w < nw; w++) {
			int ok = 0, old = 0;
			for (unsigned i = 0; i < nc; i++)
				if (cand_match(state, nw, &cd[i], w)) {
					if (cd[i].k >= Jk)
						ok = 1;
					else
						old = 1;
				}
			if (!ok) {
				print_cands(c, cd, nc, Jk, state);
				report(old ? "lost-op" : "phantom", "cell %s word %u = %llx", cell_desc(c, b, sizeof(b)), w,
				       (unsigned long long)state[w]);
				return;
			}
		}
		matched_k[c] = match_lo[c] = Jk;
		match_hi[c] = ~(uint64_t)0;
		memcpy(base[c].v, state, nw * 8);
		return;
	}
	/* prefer exact matches over ANY, the newest among them */
	for (int pass = 0; pass < 2 && found < 0; pass++)
		for (int i = (int)nc - 1; i >= 0; i--) {
			if (cd[i].k < Jk)
				continue;
			if (pass == 0 && ty == T_SLOT && cd[i].v[0] == ANY)
				continue;
			if (cand_match(state, nw, &cd[i], nw)) {
				found = i;
				break;
			}
		}
	if (found < 0) {
		for (unsigned i = 0; i < nc; i++)
			if (cd[i].k < Jk && cand_match(state, nw, &cd[i], nw))
				older = (int)i;
		print_cands(c, cd, nc, Jk, state);
		if (older >= 0) {
			report("lost-op", "cell %s holds the state of k=%llu (%s) but k=%llu (%s by thread %d) returned",
			       cell_desc(c, b, sizeof(b)), (unsigned long long)cd[older].k,
			       cd[older].e ? op_name[cd[older].e->op] : "start of round", (unsigned long long)Jk,
			       op_name[jc->e[Jk % RING].op], jc->e[Jk % RING].tid);
			return;
		}
		/* mixed: every word is some candidate's, but no one candidate's */
		int each = nw > 1;
		for (unsigned w = 0; w < nw && each; w++) {
			int ok = 0;
			for (unsigned i = 0; i < nc; i++)
				ok |= cand_match(state, nw, &cd[i], w);
			each = ok;
		}
		report(each ? "mixed" : "phantom", "cell %s: state of no operation that started since k=%llu",
		       cell_desc(c, b, sizeof(b)), (unsigned long long)Jk);
		return;
	}
	matched_k[c] = cd[found].k;
	match_lo[c] = match_hi[c] = cd[found].k;
	for (unsigned i = 0; i < nc; i++)
		if (cd[i].k >= Jk && cand_match(state, nw, &cd[i], nw)) {
			match_lo[c] = cd[i].k < match_lo[c] ? cd[i].k : match_lo[c];
			match_hi[c] = cd[i].k > match_hi[c] ? cd[i].k : match_hi[c];
		}
	if (cd[found].e && !cd[found].e->done)
		st.inflight_applied++;
	if (ty == T_SLOT && state[0] && !content_ok(p, state[0], &cd[found], c, why, sizeof(why))) {
		print_cands(c, cd, nc, Jk, state);
		report(pm_usable_size(p, state[0]) ? "content" : "dangling", "cell %s = %llx (k=%llu): %s",
		       cell_desc(c, b, sizeof(b)), (unsigned long long)state[0], (unsigned long long)cd[found].k, why);
		return;
	}
	memcpy(base[c].v, state, nw * 8);
	if (ty == T_BIG)
		base[c].v[0] = state[0];
	base[c].ck = cd[found].ck;
	base[c].tag = cd[found].tag;
	base[c].size = cd[found].size;
}

/* an in-flight operation on several cells: all of it or none */
struct mc {
	uint64_t opid;
	unsigned c;
	int here; /* 1 surely reflected, -1 surely not, 0 cannot tell */
	const struct jent *e;
};

static int cmp_mc(const void *a, const void *b)
{
	const struct mc *x = a, *y = b;
	return x->opid < y->opid ? -1 : x->opid > y->opid;
}

static void verify_multicell(void)
{
	static struct mc m[NCELLS * RING];
	unsigned n = 0;
	for (unsigned c = 0; c < NCELLS; c++) {
		struct jcell *jc = &J->c[c];
		uint64_t top = atomic_load(&jc->top);
		for (uint64_t k = top >= RING ? top - RING + 1 : 1; k <= top; k++) {
			const struct jent *e = &jc->e[k % RING];
			if (e->k != k || e->done || e->ncells < 2)
				continue;
			int h = match_lo[c] >= k ? 1 : match_hi[c] < k ? -1 : 0;
			m[n++] = (struct mc){e->opid, c, h, e};
		}
	}
	qsort(m, n, sizeof(m[0]), cmp_mc);
	/* harness sanity: at most one operation per thread not returned */
	static uint64_t inflight_op[NTHR_MAX];
	memset(inflight_op, 0xff, sizeof(inflight_op));
	for (unsigned c = 0; c < NCELLS; c++) {
		struct jcell *jc = &J->c[c];
		uint64_t top = atomic_load(&jc->top);
		for (uint64_t k = top >= RING ? top - RING + 1 : 1; k <= top; k++) {
			const struct jent *e = &jc->e[k % RING];
			if (e->k != k || e->done || e->tid < 0 || e->tid >= NTHR_MAX)
				continue;
			if (inflight_op[e->tid] != ~(uint64_t)0 && inflight_op[e->tid] != e->opid)
				report("harness", "thread %d has two operations not returned (%llu, %llu)", e->tid,
				       (unsigned long long)inflight_op[e->tid], (unsigned long long)e->opid);
			inflight_op[e->tid] = e->opid;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (i + 1 < n && m[i + 1].opid == m[i].opid)
			st.inflight_seen++;
		if (i + 1 < n && m[i + 1].opid == m[i].opid && m[i + 1].here * m[i].here == -1) {
			char b1[64], b2[64];
			const struct mc *in = m[i].here > 0 ? &m[i] : &m[i + 1], *out = m[i].here > 0 ? &m[i + 1] : &m[i];
			report("mixed", "operation %llu (%s, thread %d) in %s but not in %s",
			       (unsigned long long)m[i].opid, op_name[m[i].e->op], m[i].e->tid,
			       cell_desc(in->c, b1, sizeof(b1)), cell_desc(out->c, b2, sizeof(b2)));
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void keep_image(const char *path);

static void verify(const char *path)
{
	g_fail = 0;
	g_printed = 0;
	pm_pool *p = pm_open(path);
	if (!p) {
		report("open", "pm_open: %s", pm_errormsg());
		return;
	}
	struct pm_check_report rep;
	if (pm_check(p, &rep))
		report("check", "pm_check: %s", rep.message);
	if (pm_max_size(p) > (size_t)4 << 20 && pm_size(p) > st.grown_max)
		st.grown_max = pm_size(p); /* a growable pool, recovered at this size */
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	memset(matched_k, 0, sizeof(matched_k));
	memset(matched_J, 0, sizeof(matched_J));
	memset(match_lo, 0, sizeof(match_lo));
	memset(match_hi, 0xff, sizeof(match_hi));
	for (unsigned c = 0; c < NCELLS; c++)
		verify_cell(p, rt, c);
	verify_multicell();
	/* ownership: every slot a distinct allocated object */
	static uint64_t live[NCELLS][2];
	unsigned n = 0;
	for (unsigned c = 0; c < NCELLS; c++) {
		if (cell_type(c) != T_SLOT && c != C_BIG)
			continue;
		uint64_t o = *cell_word(rt, c, 0);
		if (!o)
			continue;
		if (!pm_usable_size(p, o)) {
			char b[64];
			report("dangling", "%s = 0x%llx is not an allocated object", cell_desc(c, b, sizeof(b)),
			       (unsigned long long)o);
		}
		live[n][0] = o;
		live[n][1] = c;
		n++;
	}
	qsort(live, n, sizeof(live[0]), cmp_u64);
	unsigned distinct = n;
	for (unsigned i = 1; i < n; i++)
		if (live[i][0] == live[i - 1][0]) {
			char b1[64], b2[64];
			report("double-owner", "block 0x%llx named by %s and %s", (unsigned long long)live[i][0],
			       cell_desc((unsigned)live[i - 1][1], b1, sizeof(b1)), cell_desc((unsigned)live[i][1], b2, sizeof(b2)));
			distinct--;
		}
	pm_check(p, &rep);
	if (rep.objects != distinct + 1)
		report(rep.objects > distinct + 1 ? "leak" : "dangling",
		       "pm_check counts %llu objects, reachable: %u (slots, big) + root",
		       (unsigned long long)rep.objects, distinct);
	pm_close(p);
	if (g_fail)
		keep_image(path);
}

/* ---- the loop --------------------------------------------------------- */

static char g_dir[200];


static void keep_image(const char *path)
{
	char keep[800];
	snprintf(keep, sizeof(keep), "%s.failed-r%d", path, g_round);
	test_copy_file(path, keep);
	printf("  image kept in %s\n", keep);
}

static long envl(const char *name, long dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtol(s, NULL, 0) : dflt;
}

static void msleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* growable: a 4 MiB pool that may grow to POOL_SZ (issue 19; the same
 * heap at its maximum as the fixed pool's) */
static void fresh_pool_ex(const char *path, int growable)
{
	unlink(path);
	struct pm_create_opts o = {.nlanes = NLANES, .max_size = growable ? POOL_SZ : 0};
	pm_pool *p = pm_create_ex(path, growable ? (size_t)4 << 20 : POOL_SZ, 0, &o);
	if (!p)
		fail_msg("pm_create_ex: %s", pm_errormsg());
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	assert_non_null(rt);
	assert_int_equal(pzalloc(p, &rt->big, BIG_SZ), 0);
	memset(base, 0, sizeof(base)); /* big: the value of its words, 0 */
	pm_close(p);
}

static void fresh_pool(const char *path)
{
	fresh_pool_ex(path, 0);
}

static int kill_loop(int power_loss)
{
	char path[300], shadow[320];
	snprintf(path, sizeof(path), "%s/pool-%s", g_dir, power_loss ? "pl" : "kill");
	snprintf(shadow, sizeof(shadow), "%s.shadow", path);
	fresh_pool(path);

	int nr = (int)envl("PMSTORE_KM_ROUNDS", 30), bigr = (int)envl("PMSTORE_KM_BIGROUNDS", 5);
	int cont = envl("PMSTORE_KM_CONTINUE", 0) != 0, maxfail = (int)envl("PMSTORE_KM_MAXFAIL", 1000000);
	uint64_t seed0 = (uint64_t)envl("PMSTORE_KM_SEED", (long)time(NULL));
	int failed_rounds = 0;
	uint64_t ops0 = st.ops_done;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("%s: seed %llu (PMSTORE_KM_SEED), %d rounds\n", power_loss ? "power loss" : "kill -9",
	       (unsigned long long)seed0, nr);
	for (int r = 0; r < nr; r++) {
		g_round = r;
		g_seed = seed0 + (uint64_t)r * 1000003u + (uint64_t)power_loss;
		uint64_t rs = g_seed * 0x9e3779b97f4a7c15ull + 1;
		/* journal for this round */
		memset(J, 0, sizeof(*J));
		J->seed = g_seed;
		J->power_loss = power_loss;
		J->nthreads = bigr > 0 && r % bigr == bigr - 1 ? NTHR_MAX : NTHR_SMALL;
		J->uniq = (uint64_t)(r + 1) << 40 | (uint64_t)power_loss << 39;
		J->freeze_at = 200 + rng_next(&rs) % (J->nthreads > NTHR_SMALL ? 20000 : 8000);
		{
			static const unsigned ops[4][6] = {
				{OP_PMALLOC, OP_TX, OP_TXPUB},
				{OP_PFREE, OP_PMALLOC, OP_TXPUB},
				{OP_PMALLOC, OP_PZALLOC, OP_PFREE, OP_PUB, OP_PERSIST, OP_DRAIN},
				{OP_TX, OP_TXPUB, OP_BIGTX},
			};
			static const unsigned nops[4] = {3, 3, 6, 3};
			unsigned role = (unsigned)(rng_next(&rs) % 4);
			J->t_role = 1 + role;
			J->t_op = ops[role][rng_next(&rs) % nops[role]];
			J->t_fidx = 1 + (unsigned)(rng_next(&rs) % 3);
			J->t_p = 1 + (unsigned)(rng_next(&rs) % 8);
			if (r % 6 == 5 && J->nthreads == NTHR_SMALL) {
				/* the C2/C3 shape alone: A's lazy invalidation or
				 * active = 0 pending while B commits on the same word */
				J->focus = 1;
				J->b_first = (int)(rng_next(&rs) & 1);
				J->t_role = 2;
				J->t_op = OP_TXPUB;
				J->t_fidx = 1;
				J->t_p = 1 + (unsigned)(rng_next(&rs) % 4);
			}
		}
		if (r % 5 == 4) {
			fresh_pool_ex(path, 1);
			st.grow_rounds++;
		}
		if (power_loss) {
			test_copy_file(path, shadow);
			/* the shadow covers the pool's maximum (a growable pool's
			 * file may be that long: it opens at its recorded size) */
			assert_int_equal(truncate(shadow, (off_t)POOL_SZ), 0);
		}
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0)
			child_main(path, power_loss ? shadow : NULL);
		int st_;
		for (int w = 0; !atomic_load(&J->ready); w++) {
			if (waitpid(pid, &st_, WNOHANG) == pid)
				fail_msg("child exited early (status 0x%x)", st_);
			msleep(1);
		}
		long limit = 20 + (long)(rng_next(&rs) % (power_loss ? 400 : 120));
		if (power_loss) {
			long w = 0;
			while (!atomic_load(&J->frozen) && w < limit) {
				msleep(1);
				w++;
			}
			sh_freeze(3); /* no-op if it already happened */
			msleep(2);
		} else {
			msleep(limit);
		}
		kill(pid, SIGKILL);
		waitpid(pid, &st_, 0);
		if (!WIFSIGNALED(st_))
			fail_msg("child ended without the kill (status 0x%x)", st_);
		st.frozen[atomic_load(&J->freeze_why) & 7]++;
		st.ops_done += atomic_load(&J->ops_done);
		st.fences += atomic_load(&J->fences);
		if (power_loss)
			assert_int_equal(rename(shadow, path), 0);
		verify(path);
		st.rounds++;
		if (g_fail) {
			failed_rounds++;
			st.fail_rounds++;
			if (!cont || failed_rounds >= maxfail)
				break;
			fresh_pool(path); /* later rounds must not inherit the damage */
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s: %llu operations returned, %llu fences, power failed at: %llu random fence, %llu slow fence, "
	       "%llu targeted fence, %llu timeout; in-flight applied %llu; %llu rounds began a growable pool "
	       "(4 MiB; recovered at up to %llu KiB); failing rounds %d; %.1f s\n",
	       power_loss ? "power loss" : "kill -9", (unsigned long long)(st.ops_done - ops0),
	       (unsigned long long)st.fences, (unsigned long long)st.frozen[1], (unsigned long long)st.frozen[2],
	       (unsigned long long)st.frozen[4], (unsigned long long)st.frozen[3], (unsigned long long)st.inflight_applied,
	       (unsigned long long)st.grow_rounds, (unsigned long long)st.grown_max >> 10, failed_rounds,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	memset(st.frozen, 0, sizeof(st.frozen));
	st.fences = 0;
	st.grow_rounds = 0;
	st.grown_max = 0;
	unlink(path);
	unlink(shadow);
	return failed_rounds;
}

static int mode_on(const char *m)
{
	const char *s = getenv("PMSTORE_KM_MODE");
	return !s || !*s || !strcmp(s, "both") || !strcmp(s, m);
}

static void test_kill_model_power_loss(void **state)
{
	if (!mode_on("pl"))
		skip();
	int f = kill_loop(1);
	if (f)
		fail_msg("power loss: %d failing rounds (KILLMODEL-FAIL lines above)", f);
}

static void test_kill_model_process_kill(void **state)
{
	if (!mode_on("kill"))
		skip();
	int f = kill_loop(0);
	if (f)
		fail_msg("kill -9: %d failing rounds (KILLMODEL-FAIL lines above)", f);
}

static int setup(void **state)
{
	snprintf(g_dir, sizeof(g_dir), "%s/pmstore-km-XXXXXX", test_dir());
	if (!mkdtemp(g_dir))
		return -1;
	J = mmap(NULL, sizeof(*J), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return J == MAP_FAILED ? -1 : 0;
}

static int teardown(void **state)
{
	/* failed images stay for inspection; the directory goes if empty */
	rmdir(g_dir);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_model_power_loss),
		cmocka_unit_test(test_kill_model_process_kill),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
