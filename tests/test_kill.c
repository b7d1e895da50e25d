/*
 * test_kill.c -- crash loops against a child that allocates and frees in
 * two threads.
 *
 * Mode 1, kill -9: the child works on the pool file and is SIGKILLed at a
 * random moment; every store it executed survives (process-kill model).
 *
 * Mode 2, power loss: the child runs with a flush table (installed through
 * flush_set_override, the harness seam) that copies a range into a shadow
 * file only when the SAME thread that flushed it fences.  After the kill
 * the shadow holds only flushed-and-fenced data: a power-loss image of a
 * multi-threaded run.  The threads free each other's objects under striped
 * locks, which is the cross-thread case the lazy log invalidation must
 * survive (docs/DESIGN.md, "two fences").
 *
 * A third thread runs transactions: a 1 MiB object rewritten whole (its
 * undo log overflows the lane into heap blocks), transfers between
 * balances, tx_pzalloc / tx_pfree of slots, some aborted.
 *
 * Each round: recover (pm_open), pm_check, and verify that every non-null
 * slot names a distinct allocated object, that objects == slots + root +
 * big (no leak, undo blocks included), that the big object's words are all
 * equal (all of one transaction or of the one before) and that the
 * balances still sum to zero.
 * PMSTORE_KILL_ROUNDS sets the number of rounds per mode.
 */
#include "test_common.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "flush/flush.h"

#define POOL_SZ ((size_t)32 << 20)
#define NSLOTS 2048
#define NSTRIPES 64

#define BIG_SZ ((size_t)1 << 20)
#define NBAL 64

struct root {
	pm_off slots[NSLOTS];
	/* the transaction thread's: one big object rewritten whole (undo log
	 * far beyond the lane's), balances moved between accounts, and slots
	 * allocated and freed inside transactions */
	pm_off big;
	uint64_t bal[NBAL];
	pm_off tslots[NBAL];
};

/* ---- shadow (power-loss) flush table ---------------------------------- */

static char *g_pool, *g_shadow;
static size_t g_size;

#define SH_MAX 64
static _Thread_local struct {
	unsigned n;
	uintptr_t lo[SH_MAX], hi[SH_MAX];
} sh_pending;

/*
 * Copies are serialized: a copy reads memory and writes the shadow under
 * one lock, so the shadow only ever moves forward, as media does.  (Two
 * unserialized copies could write an older value after a newer one.)
 */
static pthread_mutex_t sh_lock = PTHREAD_MUTEX_INITIALIZER;

static void sh_drain(void)
{
	pthread_mutex_lock(&sh_lock);
	for (unsigned i = 0; i < sh_pending.n; i++) {
		uintptr_t lo = sh_pending.lo[i] & ~(uintptr_t)7, hi = sh_pending.hi[i];
		if (!g_shadow || lo < (uintptr_t)g_pool || hi > (uintptr_t)g_pool + g_size)
			continue;
		for (uintptr_t a = lo; a < hi; a += 8) {
			uint64_t v = __atomic_load_n((uint64_t *)a, __ATOMIC_RELAXED);
			__atomic_store_n((uint64_t *)(g_shadow + (a - (uintptr_t)g_pool)), v, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&sh_lock);
	sh_pending.n = 0;
}

static void sh_flush(const void *addr, size_t len)
{
	if (sh_pending.n == SH_MAX)
		sh_drain(); /* conservative: an early write-back is allowed */
	sh_pending.lo[sh_pending.n] = (uintptr_t)addr;
	sh_pending.hi[sh_pending.n] = ((uintptr_t)addr + len + 7) & ~(uintptr_t)7;
	sh_pending.n++;
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
	.name = "shadow", .flush = sh_flush, .drain = sh_drain,
	.memcpy_nodrain = sh_memcpy, .memset_nodrain = sh_memset,
};

/* ---- the child's work ------------------------------------------------- */

static pm_pool *cp;
static struct root *crt;
static pthread_mutex_t stripes[NSTRIPES];

static void *child_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + (unsigned)getpid();
	for (;;) {
		seed = seed * 1103515245 + 12345;
		unsigned s = (seed >> 4) % NSLOTS;
		pthread_mutex_t *m = &stripes[s % NSTRIPES];
		pthread_mutex_lock(m);
		if (crt->slots[s]) {
			pfree(cp, &crt->slots[s]);
		} else if (seed & 0x10000) {
			size_t sz = 16 + (seed >> 20) % ((seed & 0x20000) ? 100000 : 600);
			pmalloc(cp, &crt->slots[s], sz);
		} else { /* two objects in one publish: slot s and its stripe-mate */
			unsigned t = (s + NSTRIPES) % NSLOTS;
			if (!crt->slots[t]) {
				struct pm_action a[4];
				pm_off o1 = pm_reserve(cp, &a[0], 48);
				pm_off o2 = pm_reserve(cp, &a[1], 4000);
				if (o1 && o2) {
					pm_set_value(cp, &a[2], &crt->slots[s], o1);
					pm_set_value(cp, &a[3], &crt->slots[t], o2);
					pm_publish(cp, a, 4);
				} else {
					pm_cancel(cp, a, o1 ? 1 : 0);
				}
			}
		}
		pthread_mutex_unlock(m);
	}
	return NULL;
}

static void *tx_worker(void *arg)
{
	unsigned seed = (unsigned)getpid() * 7919u;
	for (;;) {
		seed = seed * 1103515245 + 12345;
		if (tx_begin(cp))
			_exit(5);
		if ((seed >> 8) % 8 == 0) {
			uint64_t *w = pm_direct(cp, crt->big);
			uint64_t v = w[0] + 1;
			tx_add(w, BIG_SZ);
			for (size_t i = 0; i < BIG_SZ / 8; i++)
				w[i] = v;
		} else {
			unsigned i = (seed >> 10) % NBAL, j = (seed >> 16) % NBAL;
			uint64_t x = seed % 1000;
			tx_add(&crt->bal[i], 8);
			tx_add(&crt->bal[j], 8);
			crt->bal[i] -= x;
			crt->bal[j] += x;
			pm_off *s = &crt->tslots[(seed >> 20) % NBAL];
			tx_add(s, 8);
			if (*s) {
				tx_pfree(*s);
				*s = 0;
			} else {
				*s = tx_pzalloc(16 + (seed >> 3) % 3000);
			}
		}
		if ((seed >> 24) % 5 == 0)
			tx_abort(0);
		tx_end();
	}
	return NULL;
}

static void child_main(const char *pool, const char *shadow)
{
	if (shadow) {
		int fd = open(shadow, O_RDWR);
		g_size = POOL_SZ;
		g_shadow = mmap(NULL, g_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		flush_set_override(&shadow_ops);
	}
	cp = pm_open(pool);
	if (!cp)
		_exit(3);
	g_pool = pm_base(cp);
	crt = pm_direct(cp, pm_root(cp, sizeof(struct root)));
	for (int i = 0; i < NSTRIPES; i++)
		pthread_mutex_init(&stripes[i], NULL);
	pthread_t th, tt;
	pthread_create(&th, NULL, child_worker, (void *)1);
	pthread_create(&tt, NULL, tx_worker, NULL);
	child_worker((void *)2);
}

/* ---- verification ----------------------------------------------------- */

static int cmp_off(const void *a, const void *b)
{
	pm_off x = *(const pm_off *)a, y = *(const pm_off *)b;
	return x < y ? -1 : x > y;
}

static uint64_t big_gen_seen;

static void verify(const char *path)
{
	pm_pool *p = pm_open(path);
	if (!p)
		fprintf(stderr, "reopen: %s\n", pm_errormsg());
	assert_non_null(p);
	assert_pool_ok(p);
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	static pm_off live[NSLOTS + NBAL + 1];
	unsigned n = 0;
	for (unsigned s = 0; s < NSLOTS; s++) {
		if (!rt->slots[s])
			continue;
		if (pm_usable_size(p, rt->slots[s]) == 0) {
			char keep[400];
			snprintf(keep, sizeof(keep), "%s.failed", path);
			fprintf(stderr, "slot %u = 0x%llx is not an allocated object; image kept in %s\n",
			        s, (unsigned long long)rt->slots[s], keep);
			pm_close(p);
			test_copy_file(path, keep);
			fail();
		}
		live[n++] = rt->slots[s];
	}
	for (unsigned s = 0; s < NBAL; s++)
		if (rt->tslots[s]) {
			assert_true(pm_usable_size(p, rt->tslots[s]) != 0);
			live[n++] = rt->tslots[s];
		}
	live[n++] = rt->big;
	const uint64_t *w = pm_direct(p, rt->big);
	for (size_t i = 1; i < BIG_SZ / 8; i++)
		if (w[i] != w[0])
			fail_msg("big object torn: word %zu = %llu, word 0 = %llu", i,
			         (unsigned long long)w[i], (unsigned long long)w[0]);
	uint64_t sum = 0;
	for (unsigned i = 0; i < NBAL; i++)
		sum += rt->bal[i];
	assert_int_equal(sum, 0);
	qsort(live, n, sizeof(live[0]), cmp_off);
	for (unsigned i = 1; i < n; i++)
		assert_true(live[i] != live[i - 1]);
	struct pm_check_report rep;
	pm_check(p, &rep);
	assert_int_equal(rep.objects, n + 1); /* no leak, nothing dangling */
	big_gen_seen = w[0] > big_gen_seen ? w[0] : big_gen_seen;
	pm_close(p);
}


static int rounds(void)
{
	const char *r = getenv("PMSTORE_KILL_ROUNDS");
	return r ? atoi(r) : 25;
}

static void kill_loop(int power_loss)
{
	char path[256], shadow[300];
	test_pool_path(path, sizeof(path), power_loss ? "pl" : "kill");
	snprintf(shadow, sizeof(shadow), "%s.shadow", path);
	pm_pool *p = pm_create(path, POOL_SZ, 0);
	assert_non_null(p);
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	assert_non_null(rt);
	assert_int_equal(pzalloc(p, &rt->big, BIG_SZ), 0);
	pm_close(p);
	big_gen_seen = 0;
	srand((unsigned)time(NULL));
	int n = rounds();
	for (int r = 0; r < n; r++) {
		if (power_loss)
			test_copy_file(path, shadow);
		pid_t pid = fork();
		if (pid == 0)
			child_main(path, power_loss ? shadow : NULL);
		struct timespec ts = {0, (2 + rand() % 40) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		assert_true(WIFSIGNALED(st));
		if (power_loss) {
			assert_int_equal(rename(shadow, path), 0);
			if (getenv("PMSTORE_KILL_KEEP")) {
				char raw[400];
				snprintf(raw, sizeof(raw), "%s.raw", path);
				test_copy_file(path, raw);
			}
		}
		verify(path);
	}
	printf("%s: %d rounds, every recovered image consistent; big-object "
	       "transactions committed: %llu\n",
	       power_loss ? "power loss (3 threads)" : "kill -9 (3 threads)", n,
	       (unsigned long long)big_gen_seen);
	unlink(path);
}

static void test_kill_process_kill_loop(void **state)
{
	if (getenv("PMSTORE_KILL_ONLY_PL"))
		skip();
	kill_loop(0);
}

static void test_kill_power_loss_loop(void **state)
{
	kill_loop(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_process_kill_loop),
		cmocka_unit_test(test_kill_power_loss_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
