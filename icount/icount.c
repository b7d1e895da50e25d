/*
 * icount.c -- the crash harness: trace a snippet once, derive every crash
 * image in O(N), check each distinct one in a forked child.
 *
 * Per scenario:
 *  1. setup on a fresh pool (not traced); the pool file is the start.
 *  2. pre-run (not traced): open, run the snippet natively with the
 *     recording flush table, note the allowed states (digest before, at
 *     every icount_checkpoint, after) and the pages the snippet may write
 *     (every flushed range, every page that differs at the end).
 *  3. traced run: a child with PTRACE_TRACEME runs the same code; from the
 *     start marker (int3) the tracer single-steps it to the stop marker.
 *     After each step it compares the candidate pages (through its own
 *     MAP_SHARED mapping of the same file) with its shadow copy: a changed
 *     8-byte word is a STORE event of that step.  The child's flush table
 *     writes FLUSH and FENCE events into a shared ring.  Ptrace is the
 *     ground truth for "instruction"; nothing is re-run.
 *  4. derivation: walking the events in order keeps, per touched word,
 *     its value in memory, its last flushed value and its durable value
 *     (flushed, then fenced).  At every step that stored or fenced, the
 *     crash images of that boundary are built from these (tiers a-d, see
 *     README.md), hashed, and the new ones queued.
 *  5. checking: each image is the start file mapped privately and patched
 *     (pool_open_private_patched), then recovered by the real open path,
 *     pm_check'ed, tested with the scenario's invariant and digest, in a
 *     forked child with a timeout; two children at a time.
 */
#define _GNU_SOURCE
#include "icount.h"

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

/* ---- shared control block (tracer <-> tracee, via MAP_SHARED) ---------- */

enum ev_type { EV_FLUSH = 1, EV_FENCE = 2, EV_STORE = 3 };

#define MAXEV (1u << 20)
#define MAXALLOW 64

struct ring_ev {
	uint32_t type;
	uint64_t lo, hi; /* addresses (FLUSH) */
};

struct ctl {
	volatile int phase;   /* 1: in the snippet, 2: snippet done */
	volatile int tracing; /* the tracee is being single-stepped */
	volatile uint64_t nev;
	uint64_t base;        /* the pool's address in the child */
	uint64_t nallow;
	uint64_t allow[MAXALLOW];
	char why[2][512];     /* per check worker */
	struct ring_ev ev[MAXEV];
};

static struct ctl *ctl;
static const struct icount_scenario *cur;

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

__attribute__((noinline)) static void icount_stop(void)
{
	ctl->phase = 2;
}

/* Scenarios call this between steps of the snippet: the state reached is
 * allowed too (pre-run only; a no-op, a few instructions, when traced). */
void icount_checkpoint(pm_pool *pool)
{
	if (ctl->tracing || ctl->phase != 1 || ctl->nallow >= MAXALLOW)
		return;
	ctl->allow[ctl->nallow++] = cur->digest(pool);
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

/* Kill-at-fence table for crash_setup: the process dies inside its Nth
 * fence; every store executed so far is in the file (process kill). */
static int kill_countdown;
static void kill_drain(void)
{
	if (--kill_countdown == 0)
		_exit(0);
}
static void kill_flush(const void *a, size_t l) { (void)a; (void)l; }
static void *kill_memcpy(void *d, const void *s, size_t n) { return memcpy(d, s, n); }
static void *kill_memset(void *d, int c, size_t n) { return memset(d, c, n); }
static const struct flush_ops kill_ops = {
	.name = "kill-at-fence", .flush = kill_flush, .drain = kill_drain,
	.memcpy_nodrain = kill_memcpy, .memset_nodrain = kill_memset,
};

void icount_arm_kill(void)
{
	kill_countdown = cur->crash_fence;
}

static void run_setup(const char *start)
{
	unlink(start);
	pid_t pid = fork();
	if (pid == 0) {
		struct pm_create_opts o = { .nlanes = cur->nlanes };
		pm_pool *p = pm_create_ex(start, cur->pool_size ? cur->pool_size : PM_MIN_POOL_SIZE,
		                          0600, &o);
		if (!p) {
			fprintf(stderr, "setup: %s\n", pm_errormsg());
			_exit(3);
		}
		if (cur->setup)
			cur->setup(p);
		if (cur->crash_op) {
			/* reopen with the kill-at-fence table (chosen at open) */
			pm_close(p);
			flush_set_override(&kill_ops);
			kill_countdown = -1; /* recovery's fences do not count */
			p = pm_open(start);
			if (!p)
				_exit(3);
			kill_countdown = -1; /* armed by the op: icount_arm_kill() */
			cur->crash_op(p);
			fprintf(stderr, "setup: the operation has no fence number %d\n", cur->crash_fence);
			_exit(4);
		}
		pm_close(p);
		_exit(0);
	}
	int st = wait_child(pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s: setup failed", cur->name);
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
		if (!traced)
			ctl->allow[ctl->nallow++] = cur->digest(p);
	}
	ctl->nev = 0;
	icount_start();
	if (cur->snippet) {
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
			ctl->nallow = 0;
		ctl->allow[ctl->nallow++] = d;
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
	ctl->nallow = 0;
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
	size_t n;
	uint64_t *off, *val; /* words that differ from the start image */
};

struct patch_arg {
	const struct image *im;
};

static void apply_patch(char *base, size_t size, void *arg)
{
	const struct image *im = arg;
	for (size_t i = 0; i < im->n; i++)
		if (im->off[i] + 8 <= size)
			memcpy(base + im->off[i], &im->val[i], 8);
}

/* Check one recovered pool; 0 or a message in why. */
static int check_pool(pm_pool *p, const uint64_t *allow, size_t nallow, char *why, size_t len)
{
	struct pm_check_report rep;
	if (pm_check(p, &rep)) {
		snprintf(why, len, "pm_check: %s", rep.message);
		return 1;
	}
	if (cur->check && cur->check(p, why, len))
		return 1;
	uint64_t d = cur->digest(p);
	for (size_t i = 0; i < nallow; i++)
		if (allow[i] == d)
			return 0;
	snprintf(why, len, "state %016llx is none of the %zu allowed (before, checkpoints, after)",
	         (unsigned long long)d, nallow);
	return 1;
}

static int check_child(const char *start, const struct image *im, int worker)
{
	alarm(20);
	char *why = ctl->why[worker];
	why[0] = 0;
	pm_pool *p = pool_open_private_patched(start, apply_patch, (void *)im);
	if (!p) {
		snprintf(why, 512, "recovery (open) failed: %s", pm_errormsg());
		return 1;
	}
	return check_pool(p, ctl->allow, ctl->nallow, why, 512);
}

struct stats {
	uint64_t steps, points, images[NTIERS], checks, failures;
	double seconds;
};

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
	free(img);
	fprintf(stderr, "  FAIL %s: crash after instruction %llu (0x%llx %s), tier %s, %zu words differ from the start\n",
	        cur->name, (unsigned long long)im->step, (unsigned long long)rip, where,
	        tier_name[im->tier], im->n);
	fprintf(stderr, "       %s\n", why);
	fprintf(stderr, "       image: %s\n       replay: %s --replay %s %s", saved, self_exe, cur->name, saved);
	for (size_t i = 0; i < ctl->nallow; i++)
		fprintf(stderr, " %016llx", (unsigned long long)ctl->allow[i]);
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
	if (!WIFEXITED(s) || WEXITSTATUS(s) != 0) {
		char why[600];
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

/* The per-word state during derivation. */
struct words {
	struct wmap map;
	uint64_t *off, *init, *mem, *dur, *fv;
	uint8_t *flushed;
	size_t cap;
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
			W->flushed = realloc(W->flushed, W->cap);
		}
		uint64_t v;
		memcpy(&v, start + off, 8);
		W->off[i] = off;
		W->init[i] = W->mem[i] = W->dur[i] = W->fv[i] = v;
		W->flushed[i] = 0;
	}
	return i;
}

/* A word's share of an image's hash: 0 where it equals the start image, so
 * equal images hash equal however they were reached (the sum commutes). */
static uint64_t share(const struct words *W, size_t i, uint64_t v)
{
	return v != W->init[i] ? mixw(W->off[i], v) : 0;
}

/* Image = durable values, with the picked pending words taken from memory.
 * hdur is the hash of the durable image; only the picked words are looked
 * at unless the image is new. */
static void emit(struct checker *c, struct hset *seen, struct words *W, uint64_t hdur,
                 const uint32_t *pend, size_t np, const uint8_t *pick, uint64_t step, int tier)
{
	uint64_t h = hdur;
	for (size_t k = 0; k < np; k++)
		if (pick[k])
			h += share(W, pend[k], W->mem[pend[k]]) - share(W, pend[k], W->dur[pend[k]]);
	if (hset_add(&c->tier_seen[tier], h))
		c->st->images[tier]++; /* distinct within its tier */
	if (!hset_add(seen, h))
		return; /* checked already (this or another tier) */
	size_t nw = W->map.n;
	static uint8_t *use;
	static size_t usecap;
	if (usecap < nw + 1) {
		usecap = nw * 2 + 1;
		use = realloc(use, usecap);
	}
	memset(use, 0, nw);
	for (size_t k = 0; k < np; k++)
		if (pick[k])
			use[pend[k]] = 1;
	struct image *im = malloc(sizeof(*im));
	im->step = step;
	im->tier = tier;
	im->n = 0;
	im->off = malloc((nw + 1) * 8);
	im->val = malloc((nw + 1) * 8);
	for (size_t i = 0; i < nw; i++) {
		uint64_t v = use[i] ? W->mem[i] : W->dur[i];
		if (v != W->init[i]) {
			im->off[im->n] = W->off[i];
			im->val[im->n++] = v;
		}
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

static void images_at(struct checker *c, struct hset *seen, struct words *W, uint64_t step)
{
	static uint32_t *pend;
	static uint8_t *pick;
	static size_t cap;
	size_t nw = W->map.n, np = 0;
	if (cap < nw + 1) {
		cap = nw * 2 + 1;
		pend = realloc(pend, cap * sizeof(*pend));
		pick = realloc(pick, cap);
	}
	uint64_t hdur = 0;
	for (size_t i = 0; i < nw; i++) {
		hdur += share(W, i, W->dur[i]);
		if (W->mem[i] != W->dur[i])
			pend[np++] = (uint32_t)i;
	}
	/* (a) every executed store kept */
	memset(pick, 1, np);
	emit(c, seen, W, hdur, pend, np, pick, step, TIER_KILL);
	/* (b) only flushed-then-fenced data */
	memset(pick, 0, np);
	emit(c, seen, W, hdur, pend, np, pick, step, TIER_POWER);
	if (np == 0)
		return;
	uint64_t s = step * 0x9E3779B97F4A7C15ull + 1;
	/* (c) each pending word alone, and all but one (a seeded sample of
	 * them when many words are pending, e.g. inside a large copy) */
	size_t nc = np <= 32 ? np : 16;
	for (size_t j = 0; j < nc; j++) {
		size_t k = np <= 32 ? j : rng_next(&s) % np;
		memset(pick, 0, np);
		pick[k] = 1;
		emit(c, seen, W, hdur, pend, np, pick, step, TIER_SINGLE);
		memset(pick, 1, np);
		pick[k] = 0;
		emit(c, seen, W, hdur, pend, np, pick, step, TIER_SINGLE);
	}
	/* (d) every subset of a few, else a seeded sample */
	size_t full = c->quick ? 6 : 10;
	if (np <= full) {
		for (uint64_t m = 0; m < (UINT64_C(1) << np); m++) {
			for (size_t k = 0; k < np; k++)
				pick[k] = (m >> k) & 1;
			emit(c, seen, W, hdur, pend, np, pick, step, TIER_SUBSET);
		}
	} else {
		int samples = c->quick ? 8 : np <= 64 ? 48 : 12;
		for (int r = 0; r < samples; r++) {
			for (size_t k = 0; k < np; k++)
				pick[k] = (rng_next(&s) >> 11) & 1;
			emit(c, seen, W, hdur, pend, np, pick, step, TIER_SUBSET);
		}
	}
}

static void derive_and_check(const char *start_path, const char *startimg, const struct trace *t,
                             struct stats *st, int quick)
{
	struct checker c = { .start = start_path, .t = t, .st = st, .quick = quick };
	struct hset seen = { 0 };
	struct words W = { 0 };
	images_at(&c, &seen, &W, 0);
	size_t i = 0;
	while (i < t->n) {
		uint64_t step = t->ev[i].step;
		int changed = 0;
		for (; i < t->n && t->ev[i].step == step; i++) {
			const struct tev *e = &t->ev[i];
			if (e->type == EV_STORE) {
				uint32_t w = word_of(&W, e->a, startimg);
				W.mem[w] = e->b;
				changed = 1;
			} else if (e->type == EV_FLUSH) {
				/* the line's value when written back: now */
				for (uint64_t o = e->a & ~7ull; o < e->b; o += 8) {
					uint32_t w;
					if (!wmap_find(&W.map, o, &w))
						continue; /* never stored: nothing to write back */
					W.fv[w] = W.mem[w];
					W.flushed[w] = 1;
				}
			} else if (e->type == EV_FENCE) {
				for (size_t w = 0; w < W.map.n; w++)
					if (W.flushed[w]) {
						W.dur[w] = W.fv[w];
						W.flushed[w] = 0;
					}
				changed = 1;
			}
		}
		if (changed)
			images_at(&c, &seen, &W, step);
	}
	drain_checks(&c);
	free(seen.k);
	free(W.map.key);
	free(W.map.idx);
	free(W.off);
	free(W.init);
	free(W.mem);
	free(W.dur);
	free(W.fv);
	free(W.flushed);
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
	size_t size = sc->pool_size ? sc->pool_size : PM_MIN_POOL_SIZE;
	fprintf(stderr, "%-16s setup", sc->name);
	run_setup(start);
	struct cand cand = { 0 };
	fprintf(stderr, ", pre-run");
	pre_run(start, work, &cand, size);
	fprintf(stderr, " (%zu candidate pages, %llu allowed states), trace", cand.n,
	        (unsigned long long)ctl->nallow);
	struct trace t = { 0 };
	char *startimg;
	st->steps = trace_run(start, work, &cand, size, &t, &startimg);
	st->points = st->steps + 1;
	fprintf(stderr, " (%llu instructions, %.1f s), checking\n", (unsigned long long)st->steps,
	        now() - t0);
	/* the images are patches over the start image */
	write_file(start, startimg, size);
	derive_and_check(start, startimg, &t, st, quick);
	st->seconds = now() - t0;
	free(startimg);
	free(t.ev);
	free(t.rip);
	free(cand.page);
	unlink(work);
	return st->failures ? 1 : 0;
}

static int replay(const struct icount_scenario *sc, const char *img, int argc, char **argv)
{
	cur = sc;
	uint64_t allow[MAXALLOW];
	size_t n = 0;
	for (int i = 0; i < argc && n < MAXALLOW; i++)
		allow[n++] = strtoull(argv[i], NULL, 16);
	pm_pool *p = pool_open_private(img);
	if (!p) {
		printf("%s: recovery (open) failed: %s\n", img, pm_errormsg());
		return 1;
	}
	char why[512];
	if (check_pool(p, allow, n, why, sizeof(why))) {
		printf("%s: %s\n", img, why);
		return 1;
	}
	printf("%s: recovered, consistent, allowed state\n", img);
	return 0;
}

static void usage(const char *argv0, const struct icount_scenario *const *list, size_t n)
{
	printf("usage: %s [--quick] [SCENARIO...]\n"
	       "       %s --replay SCENARIO IMAGE [ALLOWED-DIGEST...]\n"
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
	const char *wd = getenv("ICOUNT_DIR");
	snprintf(workdir, sizeof(workdir), "%s", wd && *wd ? wd : "/dev/shm/icount");
	mkdir(workdir, 0700);

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
		tot.points += st.points;
		for (int i = 0; i < NTIERS; i++)
			tot.images[i] += st.images[i];
		tot.checks += st.checks;
		tot.failures += st.failures;
		tot.seconds += st.seconds;
	}
	if (ran == 0)
		die("no such scenario");
	printf("\n%-16s %8s %8s %8s %8s %8s %8s %8s %8s %7s\n", "scenario", "instr", "points",
	       "a:kill", "b:power", "c:1word", "d:subset", "checks", "failures", "seconds");
	for (int r = 0; r <= ran; r++) {
		const struct stats *s = r < ran ? &rows[r].st : &tot;
		printf("%-16s %8llu %8llu %8llu %8llu %8llu %8llu %8llu %8llu %7.1f\n",
		       r < ran ? rows[r].name : "total", (unsigned long long)s->steps,
		       (unsigned long long)s->points, (unsigned long long)s->images[0],
		       (unsigned long long)s->images[1], (unsigned long long)s->images[2],
		       (unsigned long long)s->images[3], (unsigned long long)s->checks,
		       (unsigned long long)s->failures, s->seconds);
	}
	printf("%s\n", failed ? "FAILED: crash images that do not recover to an allowed state"
	                      : "every crash image recovered to an allowed state");
	return failed ? 1 : 0;
}
