/*
 * icount.c -- the crash harness: trace a snippet once, derive every crash
 * image in O(N), check each distinct one in a forked child.
 *
 * Per scenario:
 *  1. setup on a fresh pool (not traced); the pool file is the start.
 *     Recovery scenarios then run an operation killed inside one of its
 *     fences (process kill, or power loss: only flushed-then-fenced data
 *     kept), and note the states before and after that operation.
 *  2. pre-run (not traced): open, run the prelude and the snippet natively
 *     with the recording flush table, note the logical states (digest
 *     before, at every icount_checkpoint, after) and the pages the snippet
 *     may write (every flushed range, every page that differs at the end).
 *  3. traced run: a child with PTRACE_TRACEME runs the same code; from the
 *     start marker (int3) the tracer single-steps it to the stop marker
 *     (the prelude, if any, is stepped too but its boundaries are not
 *     crash points; checkpoints are events with their step).
 *     After each step it compares the candidate pages (through its own
 *     MAP_SHARED mapping of the same file) with its shadow copy: a changed
 *     8-byte word is a STORE event of that step.  The child's flush table
 *     writes FLUSH and FENCE events into a shared ring.  Ptrace is the
 *     ground truth for "instruction"; nothing is re-run.
 *  4. derivation: walking the events in order keeps, per touched word,
 *     its value in memory, its durable value (flushed, then fenced), and
 *     every distinct value it held since it last became durable (up to
 *     HMAX): any of them may be what reached media.  At every step that
 *     stored or fenced, the crash images of that boundary are built from
 *     these (tiers a-d, see README.md), hashed, and the new ones queued
 *     with the number of checkpoints passed (which fixes the two allowed
 *     states).
 *  5. checking: each image is the start file mapped privately and patched
 *     (pool_open_private_patched), then recovered by the real open path,
 *     pm_check'ed, tested with the scenario's invariant and digest, in a
 *     forked child with a timeout; two children at a time.  The child
 *     records recovery's own flushes and fences, and re-recovers (in
 *     grandchildren) the power-failed image at each of recovery's fences
 *     and the image right after open: the same state is required.  Then
 *     it runs a follow-on sequence, closes the pool, and reopens what a
 *     power loss after the close leaves: consistent, same state.
 *
 * What it can NOT catch: bugs needing two threads (tests/test_kill.c), a
 * store to a page the pre-run neither flushed nor changed, media errors,
 * words torn below 8 bytes, values a word held beyond the HMAX distinct
 * ones (counted and printed), recovery's unflushed stores reaching media
 * (recovery's re-crash images use its flushed ranges only).
 */
#define _GNU_SOURCE
#include "pmstore_icount.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flush/flush.h"
#include "pool/pool.h"
#include "pool/pool_internal.h"

/* ---- shared control block (tracer <-> tracee, via MAP_SHARED) ---------- */

enum ev_type { EV_FLUSH = 1, EV_FENCE = 2, EV_STORE = 3, EV_CKPT = 4, EV_BEGIN = 5 };

#define MAXEV (1u << 20)
#define MAXALLOW 64

struct ring_ev {
	uint32_t type;
	uint64_t lo, hi; /* addresses (FLUSH) */
};

struct ctl {
	volatile int phase;   /* 1: in the snippet, 2: snippet done */
	volatile int tracing; /* the tracee is being single-stepped */
	volatile int in_prelude;
	volatile uint64_t nev;
	uint64_t base;        /* the pool's address in the child */
	/* logical states: [0] before the snippet (after the prelude), [k] at
	 * checkpoint k, [nstate-1] after; recovery scenarios: [0] = after */
	uint64_t nstate, nck;
	uint64_t state[MAXALLOW];
	/* recovery scenarios: the states before and after the crashed op */
	uint64_t op_before, op_after;
	/* per check worker: re-crash images and follow-ons run */
	uint64_t recrash[2], followon[2];
	char why[2][768];
	struct ring_ev ev[MAXEV];
};

static struct ctl *ctl;
static const struct icount_scenario *cur;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "icount: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}


/* ---- the recording flush table (runs in the child) --------------------- */

static void ev_add(uint32_t t, const void *a, size_t len)
{
	uint64_t n = ctl->nev;
	if (n < MAXEV) {
		ctl->ev[n].type = t;
		ctl->ev[n].lo = (uint64_t)(uintptr_t)a;
		ctl->ev[n].hi = (uint64_t)(uintptr_t)a + len;
	}
	ctl->nev = n + 1;
}

static void rec_flush(const void *a, size_t len) { ev_add(EV_FLUSH, a, len); }
static void rec_drain(void) { ev_add(EV_FENCE, NULL, 0); }
static void *rec_memcpy(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	ev_add(EV_FLUSH, d, n);
	return d;
}
static void *rec_memset(void *d, int c, size_t n)
{
	memset(d, c, n);
	ev_add(EV_FLUSH, d, n);
	return d;
}

static const struct flush_ops rec_ops = {
	.name = "icount", .flush = rec_flush, .drain = rec_drain,
	.memcpy_nodrain = rec_memcpy, .memset_nodrain = rec_memset,
};

/* Markers.  noinline: the tracer recognises the start by its int3. */
__attribute__((noinline)) static void icount_start(void)
{
	ctl->phase = 1;
	if (ctl->tracing)
		__asm__ volatile("int3");
}

/* After a prelude: crash points start here. */
__attribute__((noinline)) static void icount_begin(void)
{
	if (ctl->tracing)
		ev_add(EV_BEGIN, NULL, 0);
}

__attribute__((noinline)) static void icount_stop(void)
{
	ctl->phase = 2;
}

/* Scenarios call this between operations of the snippet.  Pre-run: note
 * the state reached; traced: an event with its step (a few instructions). */
void icount_checkpoint(pm_pool *pool)
{
	if (ctl->phase != 1 || ctl->in_prelude)
		return;
	if (ctl->tracing) {
		ev_add(EV_CKPT, NULL, 0);
		return;
	}
	if (ctl->nstate < MAXALLOW - 1)
		ctl->state[ctl->nstate++] = cur->digest(pool);
	ctl->nck++;
}

/* ---- durability log (check children, power-loss setup) -------------------
 * Flushed ranges with their contents at flush time, in order; the first
 * nfenced of them were followed by a fence (durable).  The image a power
 * loss leaves = the image the pool was opened on + the durable prefix. */

struct dent {
	uint64_t off, len;
	uint8_t *data;
};

static struct {
	char *base; /* the mapping being recorded */
	size_t size;
	int on, marking;
	struct dent *e;
	size_t n, cap, nfenced;
	/* at each fence while marking: {durable prefix, flushed prefix} */
	size_t (*mark)[2];
	size_t nmark, markcap;
} RL;

static void rl_flush(const void *a, size_t len)
{
	if (!RL.on || !RL.base)
		return;
	uintptr_t lo = (uintptr_t)a, hi = lo + len, b = (uintptr_t)RL.base;
	if (hi <= b || lo >= b + RL.size)
		return;
	if (lo < b)
		lo = b;
	if (hi > b + RL.size)
		hi = b + RL.size;
	if (RL.n == RL.cap) {
		RL.cap = RL.cap ? RL.cap * 2 : 256;
		RL.e = realloc(RL.e, RL.cap * sizeof(*RL.e));
	}
	struct dent *d = &RL.e[RL.n++];
	d->off = lo - b;
	d->len = hi - lo;
	d->data = malloc(d->len);
	memcpy(d->data, (void *)lo, d->len);
}

static void rl_fence(void)
{
	if (!RL.on)
		return;
	if (RL.marking) {
		if (RL.nmark == RL.markcap) {
			RL.markcap = RL.markcap ? RL.markcap * 2 : 16;
			RL.mark = realloc(RL.mark, RL.markcap * sizeof(*RL.mark));
		}
		RL.mark[RL.nmark][0] = RL.nfenced;
		RL.mark[RL.nmark++][1] = RL.n;
	}
	RL.nfenced = RL.n;
}

static void rl_apply(char *base, size_t size, size_t nent)
{
	for (size_t i = 0; i < nent && i < RL.n; i++)
		if (RL.e[i].off + RL.e[i].len <= size)
			memcpy(base + RL.e[i].off, RL.e[i].data, RL.e[i].len);
}

static void *rl_memcpy(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	rl_flush(d, n);
	return d;
}
static void *rl_memset(void *d, int c, size_t n)
{
	memset(d, c, n);
	rl_flush(d, n);
	return d;
}

/*
 * Privately mapped pools (the check children's) always get the library's
 * flush_ops_none table, whatever flush_set_override says (pool.c,
 * pool_attach).  To see recovery's own flushes and fences there, the
 * harness rewrites that table's entries in its own process image at start
 * (a COW page of the executable; nothing on disk changes).  With RL.on = 0
 * it behaves exactly like the original (copies, no flushes).  The clean
 * hook would be pool_attach honouring the override for private mappings.
 */
static void hook_none_table(void)
{
	uintptr_t a = (uintptr_t)&flush_ops_none, pg = a & ~(uintptr_t)4095;
	size_t len = (a + sizeof(flush_ops_none) - pg + 4095) & ~(size_t)4095;
	if (mprotect((void *)pg, len, PROT_READ | PROT_WRITE))
		die("mprotect of the flush table: %s", strerror(errno));
	struct flush_ops *o = (struct flush_ops *)(uintptr_t)&flush_ops_none;
	o->flush = rl_flush;
	o->drain = rl_fence;
	o->memcpy_nodrain = rl_memcpy;
	o->memset_nodrain = rl_memset;
}

/* ---- a small word map: file offset -> index ---------------------------- */

struct wmap {
	uint64_t *key; /* offset + 1, 0 = empty */
	uint32_t *idx;
	size_t cap, n;
};

static uint32_t wmap_get(struct wmap *m, uint64_t off, int *isnew)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t oc = m->cap;
		uint64_t *ok = m->key;
		uint32_t *oi = m->idx;
		m->cap = oc ? oc * 2 : 1024;
		m->key = calloc(m->cap, sizeof(*m->key));
		m->idx = calloc(m->cap, sizeof(*m->idx));
		for (size_t i = 0; i < oc; i++) {
			if (!ok[i])
				continue;
			size_t h = (ok[i] * 0x9E3779B97F4A7C15ull) & (m->cap - 1);
			while (m->key[h])
				h = (h + 1) & (m->cap - 1);
			m->key[h] = ok[i];
			m->idx[h] = oi[i];
		}
		free(ok);
		free(oi);
	}
	size_t h = ((off + 1) * 0x9E3779B97F4A7C15ull) & (m->cap - 1);
	while (m->key[h]) {
		if (m->key[h] == off + 1) {
			*isnew = 0;
			return m->idx[h];
		}
		h = (h + 1) & (m->cap - 1);
	}
	m->key[h] = off + 1;
	m->idx[h] = (uint32_t)m->n++;
	*isnew = 1;
	return m->idx[h];
}

static int wmap_find(const struct wmap *m, uint64_t off, uint32_t *idx)
{
	if (m->cap == 0)
		return 0;
	size_t h = ((off + 1) * 0x9E3779B97F4A7C15ull) & (m->cap - 1);
	while (m->key[h]) {
		if (m->key[h] == off + 1) {
			*idx = m->idx[h];
			return 1;
		}
		h = (h + 1) & (m->cap - 1);
	}
	return 0;
}

/* ---- trace records ----------------------------------------------------- */

struct tev {
	uint64_t step;
	uint32_t type;
	uint64_t a, b; /* STORE: off, value; FLUSH: lo, hi (file offsets) */
};

struct trace {
	struct tev *ev;
	size_t n, cap;
	uint64_t *rip; /* per step */
	size_t nsteps, ripcap;
};

static void trace_add(struct trace *t, uint64_t step, uint32_t type, uint64_t a, uint64_t b)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 4096;
		t->ev = realloc(t->ev, t->cap * sizeof(*t->ev));
	}
	t->ev[t->n++] = (struct tev){ step, type, a, b };
}

/* ---- paths and files ---------------------------------------------------- */

static char workdir[256];
static const char *self_exe;

static void path_of(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "%s/%s.%s", workdir, cur->name, what);
}

static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		die("%s: %s", path, strerror(errno));
	char *b = malloc((size_t)st.st_size);
	if (pread(fd, b, (size_t)st.st_size, 0) != st.st_size)
		die("%s: short read", path);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void write_file(const char *path, const char *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, b, len) != (ssize_t)len || close(fd))
		die("%s: %s", path, strerror(errno));
}

/* ---- 1. setup ----------------------------------------------------------- */

static int wait_child(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

/* Kill-at-fence tables for crash_op: the process dies inside its Nth
 * fence.  Process kill: every store executed so far is in the file.  Power
 * loss: the file is rewritten to the image at open plus what was flushed
 * and then fenced before (durability log). */
static int kill_countdown, kill_power;
static char *kill_snapshot;
static const char *kill_path;

static void kill_now(void)
{
	if (kill_power) {
		rl_apply(kill_snapshot, RL.size, RL.nfenced);
		int fd = open(kill_path, O_WRONLY);
		if (fd < 0 || pwrite(fd, kill_snapshot, RL.size, 0) != (ssize_t)RL.size)
			_exit(5);
		close(fd);
	}
	_exit(0);
}

static void kill_drain(void)
{
	if (--kill_countdown == 0)
		kill_now();
	rl_fence();
}
static const struct flush_ops kill_ops = {
	.name = "kill-at-fence", .flush = rl_flush, .drain = kill_drain,
	.memcpy_nodrain = rl_memcpy, .memset_nodrain = rl_memset,
};

static int no_kill;
void icount_arm_kill(void)
{
	if (!no_kill)
		kill_countdown = cur->crash_fence;
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	char *b = read_file(from, &len);
	write_file(to, b, len);
	free(b);
}

/* The crashed operation's states: run it to completion on a copy. */
static void op_states(const char *start)
{
	char ref[400];
	path_of(ref, sizeof(ref), "opref");
	copy_file(start, ref);
	pid_t pid = fork();
	if (pid == 0) {
		pm_pool *p = pm_open(ref);
		if (!p)
			_exit(3);
		ctl->op_before = cur->digest(p);
		no_kill = 1;
		cur->crash_op(p);
		ctl->op_after = cur->digest(p);
		pm_close(p);
		_exit(0);
	}
	int st = wait_child(pid);
	unlink(ref);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s: the operation did not run to completion on a copy", cur->name);
}

static void run_setup(const char *start)
{
	unlink(start);
	pid_t pid = fork();
	if (pid == 0) {
		struct pm_create_opts o = { .nlanes = cur->nlanes ? cur->nlanes : 4,
		                            .max_size = cur->max_size };
		pm_pool *p = pm_create_ex(start, cur->pool_size ? cur->pool_size : PM_MIN_POOL_SIZE,
		                          0600, &o);
		if (!p) {
			fprintf(stderr, "setup: %s\n", pm_errormsg());
			_exit(3);
		}
		if (cur->setup)
			cur->setup(p);
		pm_close(p);
		_exit(0);
	}
	int st = wait_child(pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s: setup failed", cur->name);
	/* a growable pool: the file at its maximum length (see max_size) */
	if (cur->max_size && truncate(start, (off_t)cur->max_size) != 0)
		die("%s: truncate: %s", start, strerror(errno));
	if (!cur->crash_op)
		return;
	op_states(start);
	pid = fork();
	if (pid == 0) {
		/* reopen with the kill-at-fence table (chosen at open) */
		flush_set_override(&kill_ops);
		kill_countdown = -1; /* recovery's fences do not count */
		pm_pool *p = pm_open(start);
		if (!p)
			_exit(3);
		pm_drain(p);
		kill_power = cur->crash_power;
		kill_path = start;
		RL.base = pm_base(p);
		RL.size = pm_size(p);
		kill_snapshot = malloc(RL.size);
		memcpy(kill_snapshot, RL.base, RL.size);
		RL.on = 1;
		kill_countdown = -1; /* armed by the op: icount_arm_kill() */
		cur->crash_op(p);
		fprintf(stderr, "setup: the operation has no fence number %d\n", cur->crash_fence);
		_exit(4);
	}
	st = wait_child(pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s: the crashed operation failed", cur->name);
}

/* ---- 2./3. the child side: run the snippet ------------------------------ */

static void child_run(const char *work, int traced)
{
	flush_set_override(&rec_ops);
	ctl->tracing = traced;
	pm_pool *p = NULL;
	if (cur->snippet) {
		p = pm_open(work);
		if (!p) {
			fprintf(stderr, "open: %s\n", pm_errormsg());
			_exit(3);
		}
		pm_drain(p); /* quiescent: everything before the start is durable */
		ctl->base = (uint64_t)(uintptr_t)pm_base(p);
	}
	ctl->nev = 0;
	icount_start();
	if (cur->prelude) {
		ctl->in_prelude = 1;
		cur->prelude(p); /* traced, no crash points: lazy state stays */
		ctl->in_prelude = 0;
		icount_begin();
	}
	if (cur->snippet) {
		if (!traced)
			ctl->state[ctl->nstate++] = cur->digest(p);
		cur->snippet(p);
	} else {
		p = pm_open(work);
	}
	icount_stop();
	if (!p)
		_exit(3);
	ctl->base = (uint64_t)(uintptr_t)pm_base(p);
	if (!traced) {
		uint64_t d = cur->digest(p);
		if (cur->after_only)
			ctl->nstate = 0;
		ctl->state[ctl->nstate++] = d;
	}
	_exit(0);
}

/* ---- 3. the tracer ------------------------------------------------------ */

struct cand {
	uint64_t *page; /* file offsets of candidate pages */
	size_t n;
};

static void add_page(struct cand *c, uint64_t pg, size_t npages, uint8_t *seen)
{
	if (pg >= npages || seen[pg])
		return;
	seen[pg] = 1;
	c->page = realloc(c->page, (c->n + 1) * sizeof(*c->page));
	c->page[c->n++] = pg * 4096;
}

/* Pre-run: allowed digests and the pages the snippet may write. */
static void pre_run(const char *start, const char *work, struct cand *cand, size_t size)
{
	size_t len;
	char *img = read_file(start, &len);
	write_file(work, img, len);
	ctl->nstate = 0;
	ctl->nck = 0;
	ctl->phase = 0;
	pid_t pid = fork();
	if (pid == 0)
		child_run(work, 0);
	int st = wait_child(pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s: pre-run failed", cur->name);
	size_t npages = size / 4096;
	uint8_t *seen = calloc(npages, 1);
	uint64_t n = ctl->nev < MAXEV ? ctl->nev : MAXEV;
	for (uint64_t i = 0; i < n; i++) {
		if (ctl->ev[i].type != EV_FLUSH)
			continue;
		uint64_t lo = ctl->ev[i].lo - ctl->base, hi = ctl->ev[i].hi - ctl->base;
		for (uint64_t pg = lo / 4096; pg * 4096 < hi; pg++)
			add_page(cand, pg, npages, seen);
	}
	size_t len2;
	char *after = read_file(work, &len2);
	for (size_t pg = 0; pg < npages; pg++)
		if (memcmp(img + pg * 4096, after + pg * 4096, 4096))
			add_page(cand, pg, npages, seen);
	free(seen);
	free(img);
	free(after);
}

static uint64_t trace_run(const char *start, const char *work, const struct cand *cand,
                          size_t size, struct trace *t, char **startimg)
{
	size_t len;
	char *img = read_file(start, &len);
	write_file(work, img, len);
	free(img);
	ctl->phase = 0;
	ctl->nev = 0;
	int fd = open(work, O_RDWR);
	char *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		die("mmap %s", work);
	cpu_set_t one, all;
	sched_getaffinity(0, sizeof(all), &all);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one); /* tracer and tracee share a CPU */
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		child_run(work, 1);
	}
	int st = wait_child(pid);
	if (!WIFSTOPPED(st))
		die("tracee did not stop");
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)PTRACE_O_EXITKILL);
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	st = wait_child(pid);
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP || ctl->phase != 1)
		die("%s: tracee did not reach the start marker", cur->name);
	/* the start: the file as it is now is the durable state (quiescent) */
	*startimg = malloc(size);
	memcpy(*startimg, map, size);
	char *shadow = malloc(size);
	memcpy(shadow, map, size);
	uint64_t seen_ev = 0, step = 0;
	for (;;) {
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL))
			die("singlestep: %s", strerror(errno));
		st = wait_child(pid);
		if (!WIFSTOPPED(st))
			die("%s: tracee ended inside the snippet", cur->name);
		step++;
		struct user_regs_struct regs;
		ptrace(PTRACE_GETREGS, pid, NULL, &regs);
		if (t->nsteps == t->ripcap) {
			t->ripcap = t->ripcap ? t->ripcap * 2 : 65536;
			t->rip = realloc(t->rip, t->ripcap * sizeof(*t->rip));
		}
		t->rip[t->nsteps++] = regs.rip;
		/* events of the flush table during this step */
		uint64_t nev = ctl->nev;
		for (; seen_ev < nev && seen_ev < MAXEV; seen_ev++) {
			const struct ring_ev *e = &ctl->ev[seen_ev];
			trace_add(t, step, e->type, e->lo, e->hi);
		}
		/* stores: changed words of the candidate pages */
		for (size_t i = 0; i < cand->n; i++) {
			uint64_t pg = cand->page[i];
			if (memcmp(map + pg, shadow + pg, 4096) == 0)
				continue;
			const uint64_t *m = (const uint64_t *)(map + pg);
			uint64_t *s = (uint64_t *)(shadow + pg);
			for (unsigned w = 0; w < 512; w++)
				if (m[w] != s[w]) {
					s[w] = m[w];
					trace_add(t, step, EV_STORE, pg + 8 * w, m[w]);
				}
		}
		if (ctl->phase == 2)
			break;
	}
	if (ctl->nev > MAXEV)
		die("%s: more than %u flush events", cur->name, MAXEV);
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	st = wait_child(pid);
	sched_setaffinity(0, sizeof(all), &all);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s: tracee failed after the snippet", cur->name);
	/* flush addresses -> file offsets (the base is known now) */
	for (size_t i = 0; i < t->n; i++)
		if (t->ev[i].type == EV_FLUSH) {
			t->ev[i].a -= ctl->base;
			t->ev[i].b -= ctl->base;
		}
	free(shadow);
	munmap(map, size);
	return step;
}

/* ---- 4./5. images and checks ------------------------------------------- */

enum tier { TIER_KILL, TIER_POWER, TIER_SINGLE, TIER_SUBSET, NTIERS };
static const char *tier_name[NTIERS] = { "a:process-kill", "b:power-loss", "c:one-word",
                                         "d:subset" };

struct image {
	uint64_t step;
	int tier;
	uint32_t ck; /* checkpoints passed at this crash point */
	size_t n;
	uint64_t *off, *val; /* words that differ from the start image */
};

static void apply_patch(char *base, size_t size, void *arg)
{
	const struct image *im = arg;
	for (size_t i = 0; i < im->n; i++)
		if (im->off[i] + 8 <= size)
			memcpy(base + im->off[i], &im->val[i], 8);
}

/* The image a check opens: the crash image, then the first nent entries of
 * the durability log (a crash of recovery or after the follow-on), or the
 * pages of a still-mapped recovered pool (re-open after open). */
struct img_patch {
	const struct image *im;
	size_t nent;
	const char *mem;       /* a recovered mapping, and its pages that */
	const uint32_t *pages; /* differ from the file (npages of them) */
	size_t npages;
};

static void patch_cb(char *base, size_t size, void *arg)
{
	const struct img_patch *a = arg;
	apply_patch(base, size, (void *)a->im);
	rl_apply(base, size, a->nent);
	for (size_t i = 0; i < a->npages; i++)
		if ((size_t)a->pages[i] * 4096 + 4096 <= size)
			memcpy(base + (size_t)a->pages[i] * 4096, a->mem + (size_t)a->pages[i] * 4096, 4096);
	RL.base = base;
	RL.size = size;
}

/*
 * The pages of a privately mapped pool that recovery stored to: the
 * private (anonymous) ones per /proc/self/pagemap, minus those equal to
 * the crash image (patched, not stored to).  Returns how many; *out is
 * malloc'ed.  Reading the whole mapping instead would fault in every page.
 */
static size_t stored_pages(const char *start, const char *base, size_t size,
                           const struct image *im, uint32_t **out)
{
	size_t np = size / 4096, n = 0;
	uint64_t *pm = malloc(np * 8);
	uint32_t *pg = malloc(np * sizeof(*pg));
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || pread(fd, pm, np * 8, (off_t)((uintptr_t)base / 4096 * 8)) != (ssize_t)(np * 8)) {
		/* no pagemap: every page is a candidate */
		for (size_t i = 0; i < np; i++)
			pm[i] = UINT64_C(1) << 63;
	}
	if (fd >= 0)
		close(fd);
	int sfd = open(start, O_RDONLY);
	char page[4096];
	for (size_t i = 0; i < np; i++) {
		if (!(pm[i] >> 63 & 1) || (pm[i] >> 61 & 1))
			continue; /* not present, or still the file's page */
		if (sfd >= 0 && pread(sfd, page, 4096, (off_t)(i * 4096)) == 4096) {
			for (size_t k = 0; k < im->n; k++)
				if (im->off[k] / 4096 == i && im->off[k] % 4096 <= 4096 - 8)
					memcpy(page + im->off[k] % 4096, &im->val[k], 8);
			if (memcmp(page, base + i * 4096, 4096) == 0)
				continue;
		}
		pg[n++] = (uint32_t)i;
	}
	if (sfd >= 0)
		close(sfd);
	free(pm);
	*out = pg;
	return n;
}

/* The states allowed for a crash with ck checkpoints passed. */
static size_t allowed_at(uint32_t ck, uint64_t *allow)
{
	if (cur->after_only || ctl->nstate < 2) {
		allow[0] = ctl->state[0];
		return 1;
	}
	uint32_t k = ck + 1 < ctl->nstate ? ck : (uint32_t)ctl->nstate - 2;
	allow[0] = ctl->state[k];
	allow[1] = ctl->state[k + 1];
	return 2;
}

/* Check one recovered pool; 0 or a message in why. */
static int check_pool(pm_pool *p, const uint64_t *allow, size_t nallow, const char *what,
                      char *why, size_t len)
{
	struct pm_check_report rep;
	if (pm_check(p, &rep)) {
		snprintf(why, len, "%spm_check: %s", what, rep.message);
		return 1;
	}
	if (cur->check && cur->check(p, why, len)) {
		if (*what) {
			char t[600];
			snprintf(t, sizeof(t), "%s%s", what, why);
			snprintf(why, len, "%s", t);
		}
		return 1;
	}
	uint64_t d = cur->digest(p);
	for (size_t i = 0; i < nallow; i++)
		if (allow[i] == d)
			return 0;
	int n = snprintf(why, len, "%sstate %016llx is none of the %zu allowed here:", what,
	                 (unsigned long long)d, nallow);
	for (size_t i = 0; i < nallow && n > 0 && (size_t)n < len; i++)
		n += snprintf(why + n, len - (size_t)n, " %016llx", (unsigned long long)allow[i]);
	return 1;
}

/* Re-recover in a grandchild; the state must be d1 again. */
static int recheck(const char *start, const struct img_patch *a, uint64_t d1, const char *what,
                   char *why, size_t len)
{
	pid_t pid = fork();
	if (pid == 0) {
		alarm(20);
		RL.on = 0;
		pm_pool *q = pool_open_private_patched(start, patch_cb, (void *)a);
		if (!q) {
			snprintf(why, len, "%srecovery (open) failed: %s", what, pm_errormsg());
			_exit(1);
		}
		_exit(check_pool(q, &d1, 1, what, why, len));
	}
	int st = wait_child(pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st) && !why[0])
		snprintf(why, len, "%sre-recovery died: signal %d", what, WTERMSIG(st));
	return 1;
}

#define FO_MAGIC UINT64_C(0xf0110f0110f0110f)

uint64_t icount_harness_objects;

/* Follow-on: operations on the recovered pool, close, power loss, reopen.
 * Catches state recovery (or the crashed op) left lazy and never made
 * durable, and anything pm_close leaves pending. */
static int follow_on(pm_pool *p, const char *start, const struct image *im, char *why,
                     size_t len)
{
	const char *w = "follow-on: ";
	if (tx_begin(p)) {
		snprintf(why, len, "%stx_begin: %s", w, pm_errormsg());
		return 1;
	}
	pm_off x = tx_pzalloc(256);
	if (!x) {
		tx_abort(0);
		tx_end();
		snprintf(why, len, "%stx_pzalloc(256): %s", w, pm_errormsg());
		return 1;
	}
	uint64_t *X = pm_direct(p, x);
	X[0] = X[1] = X[2] = X[3] = FO_MAGIC;
	if (tx_end()) {
		snprintf(why, len, "%stx_end: %s", w, pm_errormsg());
		return 1;
	}
	if (pmalloc(p, &X[4], 1000) || pfree(p, &X[4])) {
		snprintf(why, len, "%spmalloc/pfree(1000): %s", w, pm_errormsg());
		return 1;
	}
	/* a fast commit (lazy active = 0), then a publish on the same lane */
	tx_begin(p);
	tx_add(&X[0], 16);
	X[0] = 1;
	X[1] = 2;
	if (tx_end()) {
		snprintf(why, len, "%stx_end (fast): %s", w, pm_errormsg());
		return 1;
	}
	struct pm_action a[2];
	pm_off y = pm_reserve(p, &a[0], 64);
	if (!y) {
		snprintf(why, len, "%spm_reserve(64): %s", w, pm_errormsg());
		return 1;
	}
	memset(pm_direct(p, y), 0x77, 64);
	pm_set_value(p, &a[1], &X[5], y);
	if (pm_publish(p, a, 2)) {
		snprintf(why, len, "%spm_publish: %s", w, pm_errormsg());
		return 1;
	}
	icount_harness_objects = 2; /* x and y */
	uint64_t d2 = cur->digest(p);
	p->mapped_private = 0; /* close as a real pool: drain what is pending */
	pm_close(p);
	RL.on = 0;
	struct img_patch ap = { im, RL.nfenced, NULL, NULL, 0 };
	pm_pool *q = pool_open_private_patched(start, patch_cb, &ap);
	if (!q) {
		snprintf(why, len, "%sreopen after pm_close + power loss failed: %s", w,
		         pm_errormsg());
		return 1;
	}
	if (check_pool(q, &d2, 1, "follow-on, after pm_close + power loss: ", why, len))
		return 1;
	X = pm_direct(q, x);
	const uint8_t *Y = pm_direct(q, y);
	int bad = X[0] != 1 || X[1] != 2 || X[2] != FO_MAGIC || X[3] != FO_MAGIC || X[4] != 0 ||
	          X[5] != y || pm_usable_size(q, y) < 64;
	for (int i = 0; i < 64 && !bad; i++)
		bad = Y[i] != 0x77;
	if (bad) {
		snprintf(why, len, "%safter pm_close + power loss its objects hold the wrong contents", w);
		return 1;
	}
	return 0;
}

/* One image: recover (recording recovery's flushes and fences), check,
 * re-recover the power-failed images of recovery's fences and the image
 * right after open, run the follow-on.  0 or a message in why. */
static int check_image(const char *start, const struct image *im, const uint64_t *allow,
                       size_t nallow, int worker, char *why, size_t len)
{
	why[0] = 0;
	RL.n = RL.nfenced = RL.nmark = 0;
	RL.on = 1;
	RL.marking = 1;
	struct img_patch a0 = { im, 0, NULL, NULL, 0 };
	pm_pool *p = pool_open_private_patched(start, patch_cb, &a0);
	RL.marking = 0;
	if (!p) {
		snprintf(why, len, "recovery (open) failed: %s", pm_errormsg());
		return 1;
	}
	size_t after_open = RL.nfenced;
	if (check_pool(p, allow, nallow, "", why, len))
		return 1;
	uint64_t d1 = cur->digest(p);
	/* recovery crashed at each of its fences: what was durable before
	 * it, and with its in-flight flushes too; and power loss right after
	 * open.  Prefix 0 is the image itself. */
	size_t pre[2 * 64 + 1], np = 0;
	for (size_t i = 0; i < RL.nmark && np < 128; i++) {
		pre[np++] = RL.mark[i][0];
		pre[np++] = RL.mark[i][1];
	}
	pre[np++] = after_open;
	for (size_t i = 0; i < np; i++) {
		int dup = pre[i] == 0;
		for (size_t j = 0; j < i && !dup; j++)
			dup = pre[j] == pre[i];
		if (dup)
			continue;
		char what[160];
		size_t f = 0;
		while (f < RL.nmark && RL.mark[f][1] < pre[i])
			f++;
		if (pre[i] == after_open && f >= RL.nmark)
			snprintf(what, sizeof(what), "power loss right after recovery (%zu flushes durable): ",
			         pre[i]);
		else
			snprintf(what, sizeof(what), "recovery crashed in its fence %zu (%zu flushes durable), recovered again: ",
			         f + 1, pre[i]);
		struct img_patch a = { im, pre[i], NULL, NULL, 0 };
		if (worker >= 0)
			ctl->recrash[worker]++;
		if (recheck(start, &a, d1, what, why, len))
			return 1;
	}
	/* re-open right after open (a process kill after recovery), if
	 * recovery stored anything */
	uint32_t *pages;
	size_t npg = stored_pages(start, pm_base(p), pm_size(p), im, &pages);
	if (npg) {
		struct img_patch ak = { im, 0, pm_base(p), pages, npg };
		if (worker >= 0)
			ctl->recrash[worker]++;
		if (recheck(start, &ak, d1, "re-opened right after recovery: ", why, len))
			return 1;
	}
	free(pages);
	if (worker >= 0)
		ctl->followon[worker]++;
	return follow_on(p, start, im, why, len);
}

static int check_child(const char *start, const struct image *im, int worker)
{
	alarm(60);
	uint64_t allow[2];
	size_t n = allowed_at(im->ck, allow);
	return check_image(start, im, allow, n, worker, ctl->why[worker], sizeof(ctl->why[0]));
}

struct stats {
	uint64_t steps, prelude, points, images[NTIERS], checks, recrash, followon, failures;
	uint64_t overflow, multi;
	double seconds;
};

static uint64_t prelude_steps; /* traced steps before the crash points */

/*
 * The most recent instruction at or before `step` that is in the program's
 * own code -- not pmstore's (files under PMSTORE_ICOUNT_SRC, the source
 * tree the harness was built from), not a library without line info (libc:
 * "??") -- as "func at file:line", with how many instructions before the
 * crash point it ran.  One addr2line over the distinct addresses of the
 * last 200 000 steps.  0 if none.
 */
#ifndef PMSTORE_ICOUNT_SRC
#define PMSTORE_ICOUNT_SRC "/nonexistent/"
#endif
static int user_frame(const struct trace *t, uint64_t step, char *out, size_t len, uint64_t *back)
{
	enum { MAXD = 1024 };
	uint64_t addr[MAXD], first[MAXD];
	size_t nd = 0;
	for (uint64_t k = step, seen = 0; k-- > 0 && seen < 200000 && nd < MAXD; seen++) {
		uint64_t r = t->rip[k];
		size_t i = 0;
		while (i < nd && addr[i] != r)
			i++;
		if (i == nd) {
			addr[nd] = r;
			first[nd++] = step - 1 - k;
		}
	}
	if (!nd)
		return 0;
	size_t clen = 64 + strlen(self_exe) + nd * 20;
	char *cmd = malloc(clen);
	if (!cmd)
		return 0;
	size_t o = (size_t)snprintf(cmd, clen, "addr2line -f -p -e %s", self_exe);
	for (size_t i = 0; i < nd; i++)
		o += (size_t)snprintf(cmd + o, clen - o, " 0x%llx", (unsigned long long)addr[i]);
	snprintf(cmd + o, clen - o, " 2>/dev/null");
	FILE *f = popen(cmd, "r");
	free(cmd);
	if (!f)
		return 0;
	char line[600];
	int found = 0;
	for (size_t i = 0; i < nd && fgets(line, sizeof(line), f); i++) {
		line[strcspn(line, "\n")] = 0;
		if (found || strstr(line, " at ??") || strstr(line, PMSTORE_ICOUNT_SRC) ||
		    !strstr(line, " at "))
			continue;
		snprintf(out, len, "%s", line);
		*back = first[i];
		found = 1;
	}
	pclose(f);
	return found;
}

/* The object (start, usable size) of the start image holding word off, for
 * the failure report: a walk of the start pool, opened privately. */
struct obj_find {
	const struct image *im;
	uint64_t start[8], len[8];
};

static int obj_find_cb(pm_off off, size_t usable, void *arg)
{
	struct obj_find *f = arg;
	for (size_t i = 0; i < f->im->n && i < 8; i++)
		if (f->im->off[i] >= off && f->im->off[i] < off + usable) {
			f->start[i] = off;
			f->len[i] = usable;
		}
	return 0;
}

static void report_failure(const char *start, const struct image *im, const struct trace *t,
                           const char *why, int nshown)
{
	if (nshown >= 3)
		return;
	char where[512] = "?";
	uint64_t rip = im->step ? t->rip[im->step - 1] : 0;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "addr2line -f -i -p -e %s 0x%llx 2>/dev/null", self_exe,
	         (unsigned long long)rip);
	FILE *f = popen(cmd, "r");
	if (f) {
		if (fgets(where, sizeof(where), f))
			where[strcspn(where, "\n")] = 0;
		pclose(f);
	}
	size_t len;
	char *img = read_file(start, &len);
	apply_patch(img, len, (void *)im);
	char saved[400];
	snprintf(saved, sizeof(saved), "%s/%s.fail%d.img", workdir, cur->name, nshown);
	write_file(saved, img, len);
	uint64_t ro = 0, rs = 0; /* the root, to name offsets inside it */
	if (len >= POOL_DESC_OFF + sizeof(struct pool_desc)) {
		const struct pool_desc *d = (const struct pool_desc *)(img + POOL_DESC_OFF);
		ro = d->root_off;
		rs = d->root_size;
	}
	free(img);
	fprintf(stderr, "  FAIL %s: crash after instruction %llu of the snippet (0x%llx %s), %u checkpoint(s) passed, tier %s, %zu words differ from the start\n",
	        cur->name, (unsigned long long)(im->step - prelude_steps), (unsigned long long)rip,
	        where, im->ck, tier_name[im->tier], im->n);
	fprintf(stderr, "       %s\n", why);
	char uf[600];
	uint64_t back = 0;
	if (im->step && user_frame(t, im->step, uf, sizeof(uf), &back))
		fprintf(stderr, "       in the program's code: %s (%llu instruction(s) before the crash point)\n",
		        uf, (unsigned long long)back);
	struct obj_find of;
	memset(&of, 0, sizeof(of));
	of.im = im;
	if (im->n) {
		pm_pool *sp = pool_open_private(start);
		if (sp) {
			pm_walk(sp, obj_find_cb, &of);
			pm_close(sp);
		}
	}
	if (im->n) { /* where the differing words are, in pool terms */
		fprintf(stderr, "       words that differ (pool offsets):");
		for (size_t i = 0; i < im->n && i < 8; i++) {
			uint64_t o = im->off[i];
			if (ro && o >= ro && o < ro + rs)
				fprintf(stderr, " 0x%llx (root+%llu)", (unsigned long long)o,
				        (unsigned long long)(o - ro));
			else if (of.len[i])
				fprintf(stderr, " 0x%llx (object 0x%llx+%llu)", (unsigned long long)o,
				        (unsigned long long)of.start[i], (unsigned long long)(o - of.start[i]));
			else
				fprintf(stderr, " 0x%llx", (unsigned long long)o);
		}
		fprintf(stderr, "%s\n", im->n > 8 ? " ..." : "");
	}
	uint64_t allow[2];
	size_t n = allowed_at(im->ck, allow);
	fprintf(stderr, "       image: %s\n       replay: %s --replay %s %s", saved, self_exe, cur->name, saved);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %016llx", (unsigned long long)allow[i]);
	fprintf(stderr, "\n");
}

/* Dedup set of image hashes. */
struct hset {
	uint64_t *k;
	size_t cap, n;
};

static int hset_add(struct hset *s, uint64_t h)
{
	if (h == 0)
		h = 1;
	if ((s->n + 1) * 2 > s->cap) {
		size_t oc = s->cap;
		uint64_t *ok = s->k;
		s->cap = oc ? oc * 2 : 4096;
		s->k = calloc(s->cap, sizeof(*s->k));
		s->n = 0;
		for (size_t i = 0; i < oc; i++)
			if (ok[i])
				hset_add(s, ok[i]);
		free(ok);
	}
	size_t i = (h * 0x9E3779B97F4A7C15ull) & (s->cap - 1);
	while (s->k[i]) {
		if (s->k[i] == h)
			return 0;
		i = (i + 1) & (s->cap - 1);
	}
	s->k[i] = h;
	s->n++;
	return 1;
}

/* Queue + run checks, two at a time. */
struct checker {
	const char *start;
	const struct trace *t;
	struct stats *st;
	pid_t pid[2];
	struct image *running[2];
	int shown;
	int quick;
	struct hset tier_seen[NTIERS];
};

static void finish(struct checker *c, int w, int s)
{
	c->st->checks++;
	c->st->recrash += ctl->recrash[w];
	c->st->followon += ctl->followon[w];
	if (!WIFEXITED(s) || WEXITSTATUS(s) != 0) {
		char why[900];
		if (WIFSIGNALED(s))
			snprintf(why, sizeof(why), "check child died: signal %d%s (%s)", WTERMSIG(s),
			         WTERMSIG(s) == SIGALRM ? " (timeout)" : "", ctl->why[w]);
		else
			snprintf(why, sizeof(why), "%s", ctl->why[w]);
		report_failure(c->start, c->running[w], c->t, why, c->shown++);
		c->st->failures++;
	}
	free(c->running[w]->off);
	free(c->running[w]->val);
	free(c->running[w]);
	c->pid[w] = 0;
}

static void reap(struct checker *c, int w)
{
	finish(c, w, wait_child(c->pid[w]));
}

static void submit(struct checker *c, struct image *im)
{
	int w = !c->pid[0] ? 0 : !c->pid[1] ? 1 : -1;
	if (w < 0) {
		int s;
		pid_t p;
		while ((p = wait(&s)) < 0 && errno == EINTR)
			;
		w = p == c->pid[0] ? 0 : 1;
		finish(c, w, s);
	}
	c->running[w] = im;
	ctl->recrash[w] = ctl->followon[w] = 0;
	pid_t pid = fork();
	if (pid == 0)
		_exit(check_child(c->start, im, w));
	c->pid[w] = pid;
}

static void drain_checks(struct checker *c)
{
	for (int w = 0; w < 2; w++)
		if (c->pid[w])
			reap(c, w);
}

static uint64_t mixw(uint64_t off, uint64_t v)
{
	uint64_t h = (off * 0x9E3779B97F4A7C15ull) ^ (v + 0x632BE59BD9B4E019ull);
	h ^= h >> 31;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 29;
	return h;
}

/*
 * The per-word state during derivation.  hist[] holds the distinct values
 * (other than dur) the word held since it last became durable, oldest
 * first; any of them, or dur, may be what media holds after a crash.  mem
 * is dur or the last of them.  fmark: how many of them were stored before
 * the word's last flush (after the next fence only the later ones remain
 * possible, besides the new durable value).
 */
#define HMAX 4

struct words {
	struct wmap map;
	uint64_t *off, *init, *mem, *dur, *fv, *hist;
	uint8_t *flushed, *nh, *fmark, *over;
	size_t cap;
	uint64_t overflow; /* words that held more than HMAX values */
	uint64_t multi;    /* words that held 2+ values while pending */
};

static uint32_t word_of(struct words *W, uint64_t off, const char *start)
{
	int isnew;
	uint32_t i = wmap_get(&W->map, off, &isnew);
	if (isnew) {
		if (i >= W->cap) {
			W->cap = W->cap ? W->cap * 2 : 1024;
			W->off = realloc(W->off, W->cap * 8);
			W->init = realloc(W->init, W->cap * 8);
			W->mem = realloc(W->mem, W->cap * 8);
			W->dur = realloc(W->dur, W->cap * 8);
			W->fv = realloc(W->fv, W->cap * 8);
			W->hist = realloc(W->hist, W->cap * 8 * HMAX);
			W->flushed = realloc(W->flushed, W->cap);
			W->nh = realloc(W->nh, W->cap);
			W->fmark = realloc(W->fmark, W->cap);
			W->over = realloc(W->over, W->cap);
		}
		uint64_t v;
		memcpy(&v, start + off, 8);
		W->off[i] = off;
		W->init[i] = W->mem[i] = W->dur[i] = W->fv[i] = v;
		W->flushed[i] = W->nh[i] = W->fmark[i] = W->over[i] = 0;
	}
	return i;
}

static void word_store(struct words *W, uint32_t i, uint64_t v)
{
	W->mem[i] = v;
	if (v == W->dur[i])
		return;
	uint64_t *h = &W->hist[(size_t)i * HMAX];
	unsigned n = W->nh[i];
	for (unsigned j = 0; j < n; j++)
		if (h[j] == v) { /* held again: now the latest */
			memmove(&h[j], &h[j + 1], (n - j - 1) * 8);
			if (j < W->fmark[i])
				W->fmark[i]--;
			n--;
			break;
		}
	if (n == HMAX) { /* drop the oldest */
		memmove(&h[0], &h[1], (n - 1) * 8);
		if (W->fmark[i])
			W->fmark[i]--;
		n--;
		if (!(W->over[i] & 1)) {
			W->over[i] |= 1;
			W->overflow++;
		}
	}
	h[n++] = v;
	W->nh[i] = (uint8_t)n;
	if (n >= 2 && !(W->over[i] & 2)) {
		W->over[i] |= 2;
		W->multi++;
	}
}

static void word_flush(struct words *W, uint32_t i)
{
	W->fv[i] = W->mem[i];
	W->flushed[i] = 1;
	W->fmark[i] = W->nh[i];
}

static void word_fence(struct words *W, uint32_t i)
{
	uint64_t *h = &W->hist[(size_t)i * HMAX];
	unsigned n = 0;
	W->dur[i] = W->fv[i];
	for (unsigned j = W->fmark[i]; j < W->nh[i]; j++)
		if (h[j] != W->dur[i])
			h[n++] = h[j];
	W->nh[i] = (uint8_t)n;
	W->flushed[i] = W->fmark[i] = 0;
}

/* A word's share of an image's hash: 0 where it equals the start image, so
 * equal images hash equal however they were reached (the sum commutes). */
static uint64_t share(const struct words *W, size_t i, uint64_t v)
{
	return v != W->init[i] ? mixw(W->off[i], v) : 0;
}

/* Image = durable values, with the pending words k taken as sel[k].
 * hdur is the hash of the durable image; only the pending words are
 * looked at unless the image is new. */
static void emit(struct checker *c, struct hset *seen, struct words *W, uint64_t hdur,
                 const uint32_t *pend, size_t np, const uint64_t *sel, uint64_t step,
                 uint32_t ck, int tier)
{
	uint64_t h = hdur + ck * 0x2545F4914F6CDD1Dull; /* the allowed pair is part of it */
	for (size_t k = 0; k < np; k++)
		h += share(W, pend[k], sel[k]) - share(W, pend[k], W->dur[pend[k]]);
	if (hset_add(&c->tier_seen[tier], h))
		c->st->images[tier]++; /* distinct within its tier */
	if (!hset_add(seen, h))
		return; /* checked already (this or another tier) */
	size_t nw = W->map.n;
	static uint64_t *val;
	static size_t valcap;
	if (valcap < nw + 1) {
		valcap = nw * 2 + 1;
		val = realloc(val, valcap * 8);
	}
	memcpy(val, W->dur, nw * 8);
	for (size_t k = 0; k < np; k++)
		val[pend[k]] = sel[k];
	struct image *im = malloc(sizeof(*im));
	im->step = step;
	im->tier = tier;
	im->ck = ck;
	im->n = 0;
	im->off = malloc((nw + 1) * 8);
	im->val = malloc((nw + 1) * 8);
	for (size_t i = 0; i < nw; i++)
		if (val[i] != W->init[i]) {
			im->off[im->n] = W->off[i];
			im->val[im->n++] = val[i];
		}
	submit(c, im);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t seed_base;

static void images_at(struct checker *c, struct hset *seen, struct words *W, uint64_t step,
                      uint32_t ck)
{
	static uint32_t *pend;
	static uint64_t *sel;
	static size_t cap;
	size_t nw = W->map.n, np = 0;
	if (cap < nw + 1) {
		cap = nw * 2 + 1;
		pend = realloc(pend, cap * sizeof(*pend));
		sel = realloc(sel, cap * sizeof(*sel));
	}
	uint64_t hdur = 0;
	int multi = 0;
	for (size_t i = 0; i < nw; i++) {
		hdur += share(W, i, W->dur[i]);
		if (W->nh[i]) {
			pend[np++] = (uint32_t)i;
			multi |= W->nh[i] > 1;
		}
	}
#define ALL(expr) for (size_t k_ = 0; k_ < np; k_++) sel[k_] = (expr)
#define MEM(k) W->mem[pend[k]]
#define DUR(k) W->dur[pend[k]]
#define HIST(k, j) W->hist[(size_t)pend[k] * HMAX + (j)]
	/* (a) every executed store kept */
	ALL(MEM(k_));
	emit(c, seen, W, hdur, pend, np, sel, step, ck, TIER_KILL);
	/* (b) only flushed-then-fenced data */
	ALL(DUR(k_));
	emit(c, seen, W, hdur, pend, np, sel, step, ck, TIER_POWER);
	if (np == 0)
		return;
	uint64_t s = (step + seed_base) * 0x9E3779B97F4A7C15ull + 1;
	/* (c) each pending word alone (with each value it held), and all but
	 * one (that one durable, or at an earlier value); a seeded sample of
	 * them when many words are pending, e.g. inside a large copy */
	size_t nc = np <= 32 ? np : 16;
	for (size_t j = 0; j < nc; j++) {
		size_t k = np <= 32 ? j : rng_next(&s) % np;
		for (unsigned v = 0; v < W->nh[pend[k]]; v++) {
			ALL(DUR(k_));
			sel[k] = HIST(k, v);
			emit(c, seen, W, hdur, pend, np, sel, step, ck, TIER_SINGLE);
		}
		ALL(MEM(k_));
		sel[k] = DUR(k);
		emit(c, seen, W, hdur, pend, np, sel, step, ck, TIER_SINGLE);
		for (unsigned v = 0; v + 1 < W->nh[pend[k]]; v++) {
			ALL(MEM(k_));
			sel[k] = HIST(k, v);
			emit(c, seen, W, hdur, pend, np, sel, step, ck, TIER_SINGLE);
		}
	}
	/* (d) every subset of a few (durable or latest), else a seeded
	 * sample; any value held, where words held several */
	size_t full = c->quick ? 6 : 10;
	int samples = 0;
	if (np <= full) {
		for (uint64_t m = 0; m < (UINT64_C(1) << np); m++) {
			ALL(((m >> k_) & 1) ? MEM(k_) : DUR(k_));
			emit(c, seen, W, hdur, pend, np, sel, step, ck, TIER_SUBSET);
		}
		if (multi)
			samples = c->quick ? 4 : 16;
	} else {
		samples = c->quick ? 8 : np <= 64 ? 48 : 12;
	}
	for (int r = 0; r < samples; r++) {
		for (size_t k = 0; k < np; k++) {
			uint64_t x = rng_next(&s) >> 11;
			sel[k] = (x & 1) ? DUR(k) : HIST(k, (x >> 1) % W->nh[pend[k]]);
		}
		emit(c, seen, W, hdur, pend, np, sel, step, ck, TIER_SUBSET);
	}
#undef ALL
#undef MEM
#undef DUR
#undef HIST
}

static void derive_and_check(const char *start_path, const char *startimg, const struct trace *t,
                             struct stats *st, int quick)
{
	struct checker c = { .start = start_path, .t = t, .st = st, .quick = quick };
	struct hset seen = { 0 };
	struct words W = { 0 };
	int emitting = !cur->prelude;
	prelude_steps = 0;
	uint32_t ck = 0;
	if (emitting)
		images_at(&c, &seen, &W, 0, 0);
	size_t i = 0;
	while (i < t->n) {
		uint64_t step = t->ev[i].step;
		int changed = 0;
		for (; i < t->n && t->ev[i].step == step; i++) {
			const struct tev *e = &t->ev[i];
			if (e->type == EV_STORE) {
				uint32_t w = word_of(&W, e->a, startimg);
				word_store(&W, w, e->b);
				changed = 1;
			} else if (e->type == EV_FLUSH) {
				/* the line's value when written back: now */
				for (uint64_t o = e->a & ~7ull; o < e->b; o += 8) {
					uint32_t w;
					if (!wmap_find(&W.map, o, &w))
						continue; /* never stored: nothing to write back */
					word_flush(&W, w);
				}
			} else if (e->type == EV_FENCE) {
				for (size_t w = 0; w < W.map.n; w++)
					if (W.flushed[w])
						word_fence(&W, (uint32_t)w);
				changed = 1;
			} else if (e->type == EV_CKPT) {
				ck++;
			} else if (e->type == EV_BEGIN) {
				emitting = 1;
				changed = 1;
				st->prelude = prelude_steps = step;
			}
		}
		if (changed && emitting)
			images_at(&c, &seen, &W, step, ck);
	}
	drain_checks(&c);
	if (ck != ctl->nck)
		die("%s: %u checkpoints traced, %llu in the pre-run", cur->name, ck,
		    (unsigned long long)ctl->nck);
	st->overflow = W.overflow;
	st->multi = W.multi;
	free(seen.k);
	free(W.map.key);
	free(W.map.idx);
	free(W.off);
	free(W.init);
	free(W.mem);
	free(W.dur);
	free(W.fv);
	free(W.hist);
	free(W.flushed);
	free(W.nh);
	free(W.fmark);
	free(W.over);
	for (int i = 0; i < NTIERS; i++)
		free(c.tier_seen[i].k);
}

/* ---- driver --------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int run_scenario(const struct icount_scenario *sc, int quick, struct stats *st)
{
	cur = sc;
	memset(st, 0, sizeof(*st));
	double t0 = now();
	char start[400], work[400];
	path_of(start, sizeof(start), "start");
	path_of(work, sizeof(work), "work");
	size_t size = sc->max_size ? sc->max_size : sc->pool_size ? sc->pool_size : PM_MIN_POOL_SIZE;
	fprintf(stderr, "%-16s setup", sc->name);
	run_setup(start);
	struct cand cand = { 0 };
	fprintf(stderr, ", pre-run");
	pre_run(start, work, &cand, size);
	fprintf(stderr, " (%zu candidate pages, %llu states), trace, checking\n", cand.n,
	        (unsigned long long)ctl->nstate);
	if (sc->crash_op && ctl->state[0] != ctl->op_before && ctl->state[0] != ctl->op_after) {
		fprintf(stderr, "\n  FAIL %s: the crashed operation recovers to %016llx, neither its "
		        "state before (%016llx) nor after (%016llx)\n", sc->name,
		        (unsigned long long)ctl->state[0], (unsigned long long)ctl->op_before,
		        (unsigned long long)ctl->op_after);
		st->failures++;
	}
	struct trace t = { 0 };
	char *startimg;
	uint64_t steps = trace_run(start, work, &cand, size, &t, &startimg);
	/* the images are patches over the start image; a file mapping of it
	 * (not anonymous memory) keeps the check children's forks cheap */
	write_file(start, startimg, size);
	free(startimg);
	int sfd = open(start, O_RDONLY);
	startimg = mmap(NULL, size, PROT_READ, MAP_SHARED, sfd, 0);
	close(sfd);
	if (startimg == MAP_FAILED)
		die("mmap %s", start);
	derive_and_check(start, startimg, &t, st, quick);
	st->steps = steps - st->prelude;
	st->points = st->steps + 1;
	st->seconds = now() - t0;
	fprintf(stderr, "%-16s %llu instructions (+%llu of prelude), %llu checks, %.1f s%s\n",
	        sc->name, (unsigned long long)st->steps, (unsigned long long)st->prelude,
	        (unsigned long long)st->checks, st->seconds, st->failures ? ", FAILED" : "");
	if (st->multi)
		fprintf(stderr, "%-16s %llu words held 2+ values while pending (each value modelled)\n",
		        sc->name, (unsigned long long)st->multi);
	if (st->overflow)
		fprintf(stderr, "%-16s note: %llu words held more than %d values since durable; "
		        "only their latest %d were modelled\n", sc->name,
		        (unsigned long long)st->overflow, HMAX, HMAX);
	munmap(startimg, size);
	free(t.ev);
	free(t.rip);
	free(cand.page);
	unlink(work);
	unlink(start);
	return st->failures ? 1 : 0;
}

static int replay(const struct icount_scenario *sc, const char *img, int argc, char **argv)
{
	cur = sc;
	uint64_t allow[MAXALLOW];
	size_t n = 0;
	for (int i = 0; i < argc && n < MAXALLOW; i++)
		allow[n++] = strtoull(argv[i], NULL, 16);
	struct image none = { 0 };
	char why[768];
	if (check_image(img, &none, allow, n, -1, why, sizeof(why))) {
		printf("%s: %s\n", img, why);
		return 1;
	}
	printf("%s: recovered, consistent, allowed state; re-crashed recovery and follow-on fine\n",
	       img);
	return 0;
}

static void usage(const char *argv0, const struct icount_scenario *const *list, size_t n)
{
	printf("usage: %s [--quick] [SCENARIO...]\n"
	       "       %s --replay SCENARIO IMAGE [ALLOWED-DIGEST...]\n"
	       "env: ICOUNT_DIR (work directory; default a new /dev/shm/icount.XXXXXX),\n"
	       "     ICOUNT_SEED (seed of the sampled tiers, default 0)\n"
	       "scenarios:\n", argv0, argv0);
	for (size_t i = 0; i < n; i++)
		printf("  %-16s %s\n", list[i]->name, list[i]->what);
}

int icount_main(int argc, char **argv, const struct icount_scenario *const *list, size_t n)
{
	/* a crash point must mean the same instruction every run */
	int pers = personality(0xffffffff);
	if (pers != -1 && !(pers & ADDR_NO_RANDOMIZE) && !getenv("ICOUNT_NO_REEXEC")) {
		personality(pers | ADDR_NO_RANDOMIZE);
		setenv("ICOUNT_NO_REEXEC", "1", 1);
		execv("/proc/self/exe", argv);
	}
	static char exe[512];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[el > 0 ? el : 0] = 0;
	self_exe = exe;
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED)
		die("mmap");
	hook_none_table();
	const char *sd = getenv("ICOUNT_SEED");
	seed_base = sd && *sd ? strtoull(sd, NULL, 0) : 0;

	int quick = 0;
	const char *only[64];
	size_t nonly = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(argv[0], list, n);
			return 0;
		} else if (!strcmp(argv[i], "--replay") && i + 2 < argc) {
			for (size_t k = 0; k < n; k++)
				if (!strcmp(list[k]->name, argv[i + 1]))
					return replay(list[k], argv[i + 2], argc - i - 3, argv + i + 3);
			die("no scenario %s", argv[i + 1]);
		} else if (argv[i][0] == '-') {
			usage(argv[0], list, n);
			return 2;
		} else if (nonly < 64)
			only[nonly++] = argv[i];
	}
	const char *wd = getenv("ICOUNT_DIR");
	int own_dir = !(wd && *wd);
	if (own_dir) {
		snprintf(workdir, sizeof(workdir), "/dev/shm/icount.XXXXXX");
		if (!mkdtemp(workdir))
			die("mkdtemp %s: %s", workdir, strerror(errno));
	} else {
		snprintf(workdir, sizeof(workdir), "%s", wd);
		mkdir(workdir, 0700);
	}
	fprintf(stderr, "icount: work directory %s, seed %llu (ICOUNT_SEED)\n", workdir,
	        (unsigned long long)seed_base);
	struct stats tot = { 0 }, st;
	int failed = 0, ran = 0;
	static struct {
		const char *name;
		struct stats st;
	} rows[64];
	for (size_t k = 0; k < n; k++) {
		int want = nonly == 0;
		for (size_t j = 0; j < nonly; j++)
			want |= !strcmp(only[j], list[k]->name);
		if (!want)
			continue;
		failed |= run_scenario(list[k], quick, &st);
		rows[ran].name = list[k]->name;
		rows[ran++].st = st;
		tot.steps += st.steps;
		tot.prelude += st.prelude;
		tot.points += st.points;
		for (int i = 0; i < NTIERS; i++)
			tot.images[i] += st.images[i];
		tot.checks += st.checks;
		tot.recrash += st.recrash;
		tot.followon += st.followon;
		tot.failures += st.failures;
		tot.seconds += st.seconds;
	}
	if (ran == 0)
		die("no such scenario");
	printf("\n%-16s %7s %7s %6s %6s %6s %6s %7s %7s %7s %6s %7s\n", "scenario", "instr",
	       "points", "a:kill", "b:pow", "c:1wrd", "d:sub", "images", "recrash", "follow",
	       "fails", "seconds");
	for (int r = 0; r <= ran; r++) {
		const struct stats *s = r < ran ? &rows[r].st : &tot;
		printf("%-16s %7llu %7llu %6llu %6llu %6llu %6llu %7llu %7llu %7llu %6llu %7.1f\n",
		       r < ran ? rows[r].name : "total", (unsigned long long)s->steps,
		       (unsigned long long)s->points, (unsigned long long)s->images[0],
		       (unsigned long long)s->images[1], (unsigned long long)s->images[2],
		       (unsigned long long)s->images[3], (unsigned long long)s->checks,
		       (unsigned long long)s->recrash, (unsigned long long)s->followon,
		       (unsigned long long)s->failures, s->seconds);
	}
	printf("(images: distinct crash images checked; recrash: recovery re-run on its own "
	       "power-failed writes or re-opened; follow: follow-on sequences)\n");
	for (int r = 0; r < ran; r++)
		if (rows[r].st.failures)
			printf("FAILED: %s\n", rows[r].name);
	printf("%s\n", failed ? "FAILED: crash images that do not recover to an allowed state"
	                      : "every crash image recovered to an allowed state");
	printf("figures: icount%s: %u scenarios, %llu instructions, %llu crash images checked, "
	       "%llu re-crash images, %llu follow-ons, %llu failures\n",
	       quick ? " --quick" : "", ran, (unsigned long long)tot.steps,
	       (unsigned long long)tot.checks, (unsigned long long)tot.recrash,
	       (unsigned long long)tot.followon, (unsigned long long)tot.failures);
	if (own_dir && !failed)
		rmdir(workdir);
	else if (failed)
		printf("failure images kept in %s\n", workdir);
	return failed ? 1 : 0;
}
