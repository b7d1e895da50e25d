/*
 * scenarios.c -- the crash scenarios of `make allcounts`.
 *
 * Each one: a setup (not traced), optionally a prelude (run on the same
 * open pool, traced but no crash points: the snippet starts from its lazy
 * state), a snippet (every instruction boundary a crash point, checkpoints
 * between its operations), and a digest of the logical state that a
 * recovered image must match: the two states around the operation the
 * crash interrupted.  Digests include the number of allocated objects, so
 * a leak or a lost object is a wrong state; the check functions add
 * structural invariants (every slot names an allocated object, objects
 * hold what the API promises: pzalloc zeroes, published contents, linked
 * nodes; trees are valid BSTs).  setup_used/dirty_heap give a used heap
 * (free space full of garbage).  c1, c1_lazy, a1, a2, a3, a3_lazy are the
 * review's findings (issue 11) and fail until they are fixed.
 * realloc_used, root_grow_move and root_grow_inplace are issue 12's
 * pm_realloc and growing root (seeded bugs 31-33 must make them fail).
 * grow_pmalloc is issue 19's growth (seeded bug 45 must make it fail).
 *
 * Can NOT catch: anything needing two threads (A4, C2, C3: tests/test_kill.c),
 * layouts the setups do not build (e.g. A1 needs the empty run to be an
 * exactly fitting one-chunk extent).
 */
#include <stdio.h>
#include <string.h>

#include "pmstore_icount.h"
#include "tree.h"

#define NSLOT 8
#define NWORD 16
#define BIG (6656u) /* 6.5 KiB: entry + commit block exceed the lane */
#define HUGE_ (20u << 10)

struct root {
	pm_off slot[NSLOT];
	uint64_t word[NWORD];
	pm_off big;
};

static struct root *R(pm_pool *p)
{
	return pm_direct(p, pm_root(p, sizeof(struct root)));
}

static uint64_t objects(pm_pool *p)
{
	struct pm_check_report rep;
	pm_check(p, &rep);
	return rep.objects - icount_harness_objects;
}

/* slots (and the first word of what they point to), words, objects */
static uint64_t digest_root(pm_pool *p)
{
	if (pm_root_size(p) == 0)
		return icount_mix(1, objects(p));
	struct root *r = R(p);
	uint64_t h = 0;
	for (int i = 0; i < NSLOT; i++) {
		h = icount_mix(h, r->slot[i]);
		if (r->slot[i] && pm_usable_size(p, r->slot[i]))
			h = icount_mix(h, *(uint64_t *)pm_direct(p, r->slot[i]));
	}
	for (int i = 0; i < NWORD; i++)
		h = icount_mix(h, r->word[i]);
	if (r->big) {
		const uint64_t *b = pm_direct(p, r->big);
		for (size_t i = 0; i < HUGE_ / 8; i++)
			h = icount_mix(h, b[i]);
	}
	return icount_mix(h, objects(p));
}

static int check_root(pm_pool *p, char *why, size_t len)
{
	if (pm_root_size(p) == 0)
		return 0;
	struct root *r = R(p);
	for (int i = 0; i < NSLOT; i++)
		if (r->slot[i] && pm_usable_size(p, r->slot[i]) == 0) {
			snprintf(why, len, "slot %d = 0x%llx is not an allocated object", i,
			         (unsigned long long)r->slot[i]);
			return 1;
		}
	return 0;
}

static void setup_root(pm_pool *p)
{
	struct root *r = R(p);
	pmalloc(p, &r->slot[1], 100);
	pmalloc(p, &r->slot[2], 3000);
	*(uint64_t *)pm_direct(p, r->slot[1]) = 11;
	*(uint64_t *)pm_direct(p, r->slot[2]) = 22;
	pm_persist(p, pm_direct(p, r->slot[1]), 8);
	pm_persist(p, pm_direct(p, r->slot[2]), 8);
}

/* ---- atomic allocation --------------------------------------------------- */

static void snip_pmalloc(pm_pool *p)
{
	pzalloc(p, &R(p)->slot[0], 64);
}

static void snip_pfree(pm_pool *p)
{
	pfree(p, &R(p)->slot[1]);
}

static void snip_publish(pm_pool *p)
{
	struct root *r = R(p);
	struct pm_action a[6];
	pm_off o1 = pm_reserve(p, &a[0], 48), o2 = pm_reserve(p, &a[1], 5000);
	*(uint64_t *)pm_direct(p, o1) = 0x1111;
	*(uint64_t *)pm_direct(p, o2) = 0x2222;
	pm_set_value(p, &a[2], &r->slot[3], o1);
	pm_set_value(p, &a[3], &r->slot[4], o2);
	pm_defer_free(p, &a[4], r->slot[2]);
	pm_set_value(p, &a[5], &r->slot[2], 0);
	pm_publish(p, a, 6);
}

static void snip_root(pm_pool *p)
{
	pm_root(p, sizeof(struct root));
}

static void setup_none(pm_pool *p)
{
	(void)p;
}

/* ---- transactions ---------------------------------------------------------- */

static void snip_tx_commit(pm_pool *p)
{
	struct root *r = R(p);
	tx_begin(p);
	tx_add(&r->word[0], 8);
	r->word[0] = 100;
	tx_add(&r->word[5], 24);
	r->word[5] = 5;
	r->word[6] = 6;
	r->word[7] = 7;
	tx_end();
}

static void snip_tx_alloc(pm_pool *p)
{
	struct root *r = R(p);
	tx_begin(p);
	tx_add(&r->slot[0], 8);
	pm_off o = tx_pzalloc(64);
	*(uint64_t *)pm_direct(p, o) = 0xabc;
	r->slot[0] = o;
	tx_add(&r->slot[1], 8);
	tx_pfree(r->slot[1]);
	r->slot[1] = 0;
	tx_add(&r->word[3], 8);
	r->word[3]++;
	tx_end();
}

static void snip_tx_abort(pm_pool *p)
{
	struct root *r = R(p);
	tx_begin(p);
	tx_add(&r->word[0], 16);
	r->word[0] = 1;
	r->word[1] = 2;
	tx_add(&r->slot[0], 8);
	r->slot[0] = tx_pzalloc(200);
	tx_pfree(r->slot[2]);
	tx_abort(0);
	tx_end();
}

static void setup_big(pm_pool *p)
{
	setup_root(p);
	struct root *r = R(p);
	pzalloc(p, &r->big, HUGE_);
}

/* 6.5 KiB: entry + commit block do not fit the lane: the slow commit.
 * The snippet writes one word per cache line (fewer crash points, the same
 * protocol steps). */
static void snip_tx_large(pm_pool *p)
{
	struct root *r = R(p);
	uint64_t *b = pm_direct(p, r->big);
	tx_begin(p);
	tx_add(b, BIG);
	for (size_t i = 0; i < BIG / 8; i += 8)
		b[i] = i + 1;
	tx_end();
}

/* 20 KiB: the undo log grows into an overflow block */
static void snip_tx_overflow(pm_pool *p)
{
	struct root *r = R(p);
	uint64_t *b = pm_direct(p, r->big);
	tx_begin(p);
	tx_add(b, HUGE_);
	for (size_t i = 0; i < HUGE_ / 8; i += 64)
		b[i] = i + 7;
	tx_add(&r->slot[0], 8);
	r->slot[0] = tx_pmalloc(80);
	*(uint64_t *)pm_direct(p, r->slot[0]) = 99;
	tx_end();
}

/* ---- a big transaction (issue 12) ---------------------------------------- */

/* A transaction with more allocations than the lane's commit log holds:
 * 12100 bytes of the big object snapshotted (the entry nearly fills the
 * lane, so the action records run on into an overflow block), 220 16-byte
 * nodes linked from slot 0, slot 1 freed; its commit writes action records
 * and a big commit record, applies them, active = 0, the retire log (tx.c
 * commit_big).  (All of it is the snippet: a prelude ending inside a
 * transaction would make its uncommitted view a state.) */
static void snip_tx_big(pm_pool *p)
{
	struct root *r = R(p);
	uint64_t *b = pm_direct(p, r->big);
	tx_begin(p);
	tx_add(b, 12100);
	for (size_t i = 0; i < 12100 / 8; i += 64)
		b[i] = i + 5;
	tx_add(&r->slot[0], 16);
	pm_off head = 0;
	for (int k = 0; k < 220; k++) {
		pm_off o = tx_pmalloc(16);
		*(uint64_t *)pm_direct(p, o) = head;
		head = o;
	}
	r->slot[0] = head;
	tx_pfree(r->slot[1]);
	r->slot[1] = 0;
	tx_end();
}

/* ---- recovery itself crashed ---------------------------------------------- */

static void op_pmalloc_pair(pm_pool *p)
{
	struct root *r = R(p);
	struct pm_action a[4];
	pm_off o1 = pm_reserve(p, &a[0], 64);
	*(uint64_t *)pm_direct(p, o1) = 0x77;
	pm_set_value(p, &a[1], &r->slot[5], o1);
	pm_defer_free(p, &a[2], r->slot[1]);
	pm_set_value(p, &a[3], &r->slot[1], 0);
	icount_arm_kill(); /* killed inside the publish's commit fence */
	pm_publish(p, a, 4);
}

/* killed inside fence 2: the commit block is in the file, active is set */
static void op_tx_forward(pm_pool *p)
{
	struct root *r = R(p);
	tx_begin(p);
	tx_add(&r->slot[0], 8);
	pm_off o = tx_pzalloc(64);
	*(uint64_t *)pm_direct(p, o) = 0xabc;
	r->slot[0] = o;
	tx_add(&r->word[3], 8);
	r->word[3]++;
	icount_arm_kill(); /* the commit's first fence: commit block + log */
	tx_end();
}

/* killed inside fence 2 (the second tx_add): the first range is modified,
 * the transaction is not committed: recovery rolls back */
static void op_tx_back(pm_pool *p)
{
	struct root *r = R(p);
	tx_begin(p);
	tx_add(&r->word[0], 32);
	r->word[0] = r->word[1] = r->word[2] = r->word[3] = 9;
	icount_arm_kill(); /* the second tx_add's fence */
	tx_add(&r->word[8], 8);
	tx_end();
}

/* ---- binarytree --------------------------------------------------------- */

static uint64_t digest_tree(pm_pool *p)
{
	uint64_t d = 0;
	tree_digest(p, &d);
	return icount_mix(d, objects(p));
}

static int check_tree(pm_pool *p, char *why, size_t len)
{
	uint64_t n, sum;
	if (tree_check(p, &n, &sum)) {
		snprintf(why, len, "tree: %s", tree_errmsg());
		return 1;
	}
	if (objects(p) != n + 1) {
		snprintf(why, len, "tree has %llu nodes, pool %llu objects (+1 root): leak",
		         (unsigned long long)n, (unsigned long long)objects(p));
		return 1;
	}
	return 0;
}

static void setup_tree(pm_pool *p)
{
	struct tree_root *root;
	tree_init(p, &root);
	tree_insert(p, root, "middle");
	tree_insert(p, root, "apple");
}

static void snip_tree(pm_pool *p)
{
	struct tree_root *root;
	tree_lookup_root(p, &root);
	static const char *w[] = { "zebra", "banana", "apple", "mango", "cherry" };
	for (int i = 0; i < 5; i++) {
		tree_insert(p, root, w[i]);
		if (i < 4)
			icount_checkpoint(p);
	}
}

/* ---- used heap: free space full of nonzero garbage ----------------------- */

/* Fill (nearly) all free space with nonzero bytes through objects of many
 * sizes, make them durable, free them all: later allocations land on
 * garbage, so a missing flush of pzalloc's zeroes, a reserved object's
 * unflushed last line, or a run header durable before its zeroed bitmap
 * become visible in a crash image. */
static void dirty_heap_(pm_pool *p, int large_only)
{
	struct root *r = R(p);
	/* the holder: large_only -> a large object too (no run of its class) */
	if (pmalloc(p, &r->slot[7], large_only ? 40000 : 512 * 8))
		return;
	pm_off *h = pm_direct(p, r->slot[7]);
	static const struct {
		size_t size;
		int n;
	} plan[] = { { 64, 64 }, { 256, 32 }, { 1000, 32 }, { 3000, 16 }, { 20000, 8 },
		     { 200000, 400 } };
	int n = 0;
	for (size_t k = large_only ? 5 : 0; k < sizeof(plan) / sizeof(plan[0]); k++)
		for (int i = 0; i < plan[k].n && n < 512; i++) {
			if (pmalloc(p, &h[n], plan[k].size))
				break;
			void *o = pm_direct(p, h[n]);
			memset(o, 0xa5 ^ (n & 0x3f), plan[k].size);
			pm_persist(p, o, plan[k].size);
			n++;
		}
	for (int i = 0; i < n; i++)
		pfree(p, &h[i]);
	pfree(p, &r->slot[7]);
}

static void dirty_heap(pm_pool *p)
{
	dirty_heap_(p, 0);
}

static void setup_used(pm_pool *p)
{
	dirty_heap(p);
	setup_root(p);
}

/* every byte of an object from `from` on is c */
static int bytes_are(pm_pool *p, pm_off o, size_t from, size_t len, int c)
{
	const uint8_t *b = pm_direct(p, o);
	for (size_t i = from; i < len; i++)
		if (b[i] != (uint8_t)c)
			return 0;
	return 1;
}

/* ---- several operations, checkpoints between them --------------------------- */

static void snip_pmalloc3(pm_pool *p)
{
	struct root *r = R(p);
	pzalloc(p, &r->slot[0], 64);
	icount_checkpoint(p);
	pmalloc(p, &r->slot[3], 200);
	icount_checkpoint(p);
	pfree(p, &r->slot[1]);
}

/* pzalloc on a used heap: the objects must read as zero */
static void snip_pzalloc_used(pm_pool *p)
{
	struct root *r = R(p);
	pzalloc(p, &r->slot[0], 64);
	icount_checkpoint(p);
	pzalloc(p, &r->slot[3], 3000);
}

static int check_zeroed(pm_pool *p, char *why, size_t len)
{
	if (check_root(p, why, len))
		return 1;
	struct root *r = R(p);
	if (r->slot[0] && !bytes_are(p, r->slot[0], 0, 64, 0)) {
		snprintf(why, len, "pzalloc(64) object 0x%llx is not all zero", (unsigned long long)r->slot[0]);
		return 1;
	}
	if (r->slot[3] && !bytes_are(p, r->slot[3], 0, 3000, 0)) {
		snprintf(why, len, "pzalloc(3000) object 0x%llx is not all zero", (unsigned long long)r->slot[3]);
		return 1;
	}
	return 0;
}

/* publish on a used heap, every byte of both objects filled */
#define PU_SMALL 48
#define PU_LARGE 520
static uint8_t pu_pat(size_t i) { return (uint8_t)(0x31 + i * 7) | 1; }

static void snip_publish_used(pm_pool *p)
{
	struct root *r = R(p);
	struct pm_action a[4];
	static uint8_t pat[PU_LARGE];
	for (size_t i = 0; i < PU_LARGE; i++)
		pat[i] = pu_pat(i);
	pm_off o1 = pm_reserve(p, &a[0], PU_SMALL), o2 = pm_reserve(p, &a[1], PU_LARGE);
	memcpy(pm_direct(p, o1), pat, PU_SMALL);
	memcpy(pm_direct(p, o2), pat, PU_LARGE);
	pm_set_value(p, &a[2], &r->slot[3], o1);
	pm_set_value(p, &a[3], &r->slot[4], o2);
	pm_publish(p, a, 4);
}

static int check_filled(pm_pool *p, char *why, size_t len)
{
	if (check_root(p, why, len))
		return 1;
	struct root *r = R(p);
	static const size_t sz[2] = { PU_SMALL, PU_LARGE };
	for (int k = 0; k < 2; k++) {
		pm_off o = r->slot[3 + k];
		if (!o)
			continue;
		const uint8_t *b = pm_direct(p, o);
		for (size_t i = 0; i < sz[k]; i++)
			if (b[i] != pu_pat(i)) {
				snprintf(why, len, "published object 0x%llx (%zu B): byte %zu is 0x%02x, "
				         "was filled with 0x%02x", (unsigned long long)o, sz[k], i, b[i],
				         pu_pat(i));
				return 1;
			}
	}
	return 0;
}

/* tx_pzalloc on a used heap */
static void snip_tx_zalloc_used(pm_pool *p)
{
	struct root *r = R(p);
	tx_begin(p);
	tx_add(&r->slot[0], 8);
	pm_off o = tx_pzalloc(300);
	*(uint64_t *)pm_direct(p, o) = 0xabc;
	r->slot[0] = o;
	tx_end();
}

static int check_tx_zeroed(pm_pool *p, char *why, size_t len)
{
	if (check_root(p, why, len))
		return 1;
	struct root *r = R(p);
	if (r->slot[0] && (*(uint64_t *)pm_direct(p, r->slot[0]) != 0xabc ||
	                   !bytes_are(p, r->slot[0], 8, 300, 0))) {
		snprintf(why, len, "tx_pzalloc(300) object 0x%llx: not 0xabc then zeroes",
		         (unsigned long long)r->slot[0]);
		return 1;
	}
	return 0;
}

/* a range written twice after its tx_add, a pointer set twice before a
 * publish: words that hold an intermediate value while pending (the model
 * lets media hold it) */
static void snip_rewrite(pm_pool *p)
{
	struct root *r = R(p);
	volatile uint64_t *w = r->word;
	tx_begin(p);
	tx_add(r->word, 16);
	w[0] = 1;
	w[1] = 1;
	w[0] = 2;
	w[1] = 3;
	tx_end();
	icount_checkpoint(p);
	struct pm_action a[2];
	pm_off o = pm_reserve(p, &a[0], 64);
	volatile uint64_t *ob = pm_direct(p, o);
	ob[0] = 0x1234;
	ob[0] = 0x5678;
	pm_set_value(p, &a[1], &r->slot[3], o);
	pm_publish(p, a, 2);
}

static int check_rewrite(pm_pool *p, char *why, size_t len)
{
	if (check_root(p, why, len))
		return 1;
	struct root *r = R(p);
	if (r->slot[3] && *(uint64_t *)pm_direct(p, r->slot[3]) != 0x5678) {
		snprintf(why, len, "published object holds 0x%llx, not its final 0x5678",
		         (unsigned long long)*(uint64_t *)pm_direct(p, r->slot[3]));
		return 1;
	}
	return 0;
}

/* tx_alloc's object: tx_pzalloc(64), first word 0xabc */
static int check_tx_alloc(pm_pool *p, char *why, size_t len)
{
	if (check_root(p, why, len))
		return 1;
	struct root *r = R(p);
	if (r->slot[0] && (*(uint64_t *)pm_direct(p, r->slot[0]) != 0xabc ||
	                   !bytes_are(p, r->slot[0], 8, 64, 0))) {
		snprintf(why, len, "tx_pzalloc(64) object 0x%llx: not 0xabc then zeroes",
		         (unsigned long long)r->slot[0]);
		return 1;
	}
	return 0;
}

/* ---- review findings (issue 11): these FAIL until the fixes are in ----------- */

/* C1: same lane, a fast-commit tx (lazy active = 0) then a publish */
static void c1_tx(pm_pool *p)
{
	struct root *r = R(p);
	tx_begin(p);
	tx_add(&r->word[0], 8);
	r->word[0] = 1;
	tx_end();
}

static void c1_publish(pm_pool *p)
{
	struct root *r = R(p);
	struct pm_action a[2];
	pm_set_value(p, &a[0], &r->word[0], 2);
	pm_set_value(p, &a[1], &r->word[1], 5);
	pm_publish(p, a, 2);
}

static void snip_c1(pm_pool *p)
{
	c1_tx(p);
	icount_checkpoint(p);
	c1_publish(p);
}

/* A2: two new nodes linked inside the same publish */
struct node {
	uint64_t key;
	pm_off next;
	uint64_t pad[6];
};

static void snip_a2(pm_pool *p)
{
	struct root *r = R(p);
	struct pm_action a[4];
	pm_off n1 = pm_reserve(p, &a[0], sizeof(struct node));
	pm_off n2 = pm_reserve(p, &a[1], sizeof(struct node));
	if (!n1 || !n2)
		return;
	struct node *a1 = pm_direct(p, n1), *a2 = pm_direct(p, n2);
	memset(a1, 0, sizeof(*a1));
	memset(a2, 0, sizeof(*a2));
	a1->key = 1;
	a2->key = 2;
	for (int i = 0; i < 6; i++)
		a1->pad[i] = a2->pad[i] = 0x5a5a0000u + (unsigned)i;
	pm_set_value(p, &a[2], &a1->next, n2);
	pm_set_value(p, &a[3], &r->slot[6], n1);
	pm_publish(p, a, 4);
}

static int check_list(pm_pool *p, char *why, size_t len)
{
	if (check_root(p, why, len))
		return 1;
	struct root *r = R(p);
	pm_off o = r->slot[6];
	for (uint64_t k = 1; o; k++) {
		if (k > 2 || pm_usable_size(p, o) < sizeof(struct node)) {
			snprintf(why, len, "list: node %llu at 0x%llx is not an allocated node",
			         (unsigned long long)k, (unsigned long long)o);
			return 1;
		}
		const struct node *n = pm_direct(p, o);
		int bad = n->key != k || (k == 1 && !n->next) || (k == 2 && n->next);
		for (int i = 0; i < 6; i++)
			bad |= n->pad[i] != 0x5a5a0000u + (unsigned)i;
		if (bad) {
			snprintf(why, len, "list: node %llu at 0x%llx holds key %llu next 0x%llx (wrong)",
			         (unsigned long long)k, (unsigned long long)o,
			         (unsigned long long)n->key, (unsigned long long)n->next);
			return 1;
		}
		o = n->next;
	}
	return 0;
}

static uint64_t digest_list(pm_pool *p)
{
	uint64_t h = digest_root(p);
	if (pm_root_size(p) == 0)
		return h;
	pm_off o = R(p)->slot[6];
	for (int k = 0; o && k < 4 && pm_usable_size(p, o); k++) {
		const struct node *n = pm_direct(p, o);
		h = icount_mix(h, n->key);
		o = n->next;
		h = icount_mix(h, o != 0);
	}
	return h;
}

/* A3: fast commit, then a tx whose first tx_add spans an object it
 * tx_pmalloc'ed (the range is logged in several gaps) */
static void setup_a3(pm_pool *p)
{
	setup_root(p);
	struct root *r = R(p);
	pmalloc(p, &r->slot[5], 256);
	pmalloc(p, &r->slot[6], 256);
	pmalloc(p, &r->slot[7], 256);
	pfree(p, &r->slot[6]); /* the hole tx_pmalloc(256) takes */
}

static void a3_tx2(pm_pool *p)
{
	struct root *r = R(p);
	tx_begin(p);
	pm_off o = tx_pmalloc(256);
	/* 8 bytes before it (a gap small enough to be logged before the
	 * previous commit block), the object, 256 bytes after it: two gaps */
	pm_off lo = o - 8, hi = o + 256 + 256;
	uint8_t *b = pm_direct(p, lo);
	tx_add(b, hi - lo);
	for (pm_off x = lo; x < hi; x += 64)
		b[x - lo] ^= 0x40;
	*(uint64_t *)pm_direct(p, o) = 0x3333;
	tx_add(&r->slot[6], 8);
	r->slot[6] = o;
	tx_end();
}

/* two fast commits: the second one's entries start after the first's
 * (which is lazy), so the lane's previous transaction does not start at 0 */
static void a3_tx01(pm_pool *p)
{
	struct root *r = R(p);
	tx_begin(p);
	tx_add(&r->word[2], 8);
	r->word[2] = 7;
	tx_end();
	icount_checkpoint(p);
	c1_tx(p);
}

/* tx_add_ranges (issue 17): three ranges -- one of two words, one
 * overlapping it, one apart -- under one fence, then the writes */
static void ranges_tx(pm_pool *p)
{
	struct root *r = R(p);
	struct pm_range rg[3] = { { &r->word[8], 16 }, { &r->word[9], 16 }, { &r->word[13], 8 } };
	tx_begin(p);
	tx_add_ranges(rg, 3);
	r->word[8] = 81;
	r->word[9] = 91;
	r->word[10] = 101;
	r->word[13] = 131;
	tx_end();
}

/* pm_perm_save (issue 18): three blocks saved, then all changed and one
 * more registered: every block must recover as of the same save */
static uint64_t pv_a[2], pv_b[3], pv_c[5];

static int perm_reg(pm_pool *p, uint64_t *a, uint64_t *b, uint64_t *c)
{
	int r = 0;
	r |= pm_perm(p, "a", a, 2 * 8) < 0;
	r |= pm_perm(p, "b", b, 3 * 8) < 0;
	r |= pm_perm(p, "c", c, 5 * 8) < 0;
	return r;
}

static void setup_perm(pm_pool *p)
{
	setup_root(p);
	pm_perm(p, "a", pv_a, sizeof(pv_a));
	pm_perm(p, "b", pv_b, sizeof(pv_b));
	pv_a[0] = 1, pv_a[1] = 2, pv_b[0] = 3, pv_b[1] = 4, pv_b[2] = 5;
	pm_perm_save(p);
}

static void snip_perm(pm_pool *p)
{
	perm_reg(p, pv_a, pv_b, pv_c); /* a, b back; c new */
	for (int i = 0; i < 2; i++)
		pv_a[i] += 10;
	for (int i = 0; i < 3; i++)
		pv_b[i] += 20;
	for (int i = 0; i < 5; i++)
		pv_c[i] = 30 + (uint64_t)i;
	pm_perm_save(p);
}

static uint64_t digest_perm(pm_pool *p)
{
	uint64_t a[2] = { 0 }, b[3] = { 0 }, c[5] = { 0 };
	if (pm_perm_load(p, "a", a, sizeof(a)) < 0 || pm_perm_load(p, "b", b, sizeof(b)) < 0 ||
	    pm_perm_load(p, "c", c, sizeof(c)) < 0)
		return 1;
	uint64_t h = 0;
	for (int i = 0; i < 2; i++)
		h = icount_mix(h, a[i]);
	for (int i = 0; i < 3; i++)
		h = icount_mix(h, b[i]);
	for (int i = 0; i < 5; i++)
		h = icount_mix(h, c[i]);
	return icount_mix(h, objects(p));
}

static void snip_a3(pm_pool *p)
{
	a3_tx01(p);
	icount_checkpoint(p);
	a3_tx2(p);
}

static uint64_t digest_a3(pm_pool *p)
{
	uint64_t h = digest_root(p);
	if (pm_root_size(p) == 0)
		return h;
	struct root *r = R(p);
	for (int k = 5; k <= 7; k += 2)
		if (r->slot[k])
			for (size_t i = 0; i < 256; i += 8)
				h = icount_mix(h, *(uint64_t *)((char *)pm_direct(p, r->slot[k]) + i));
	return h;
}

/* A1: an empty run is a DRAM-only free extent with a stale RUN header; a
 * large tx_pmalloc that exactly fits takes it; filled, aborted, reopened */
static void setup_a1(pm_pool *p)
{
	/* used heap first: the free chunks hold garbage (large objects only,
	 * so that no other empty run competes with the one below) */
	dirty_heap_(p, 1);
	setup_root(p);
	struct root *r = R(p);
	pmalloc(p, &r->slot[3], 1000);    /* a run of its own class */
	pmalloc(p, &r->slot[4], 200000);  /* the next chunk: a large object */
	pfree(p, &r->slot[3]);            /* the run is empty */
}

static void snip_a1(pm_pool *p)
{
	tx_begin(p);
	pm_off o = tx_pmalloc(200000);
	if (o) {
		uint64_t *b = pm_direct(p, o);
		for (size_t i = 0; i < 64; i++) /* where a run keeps its bitmap */
			b[i] = ~(uint64_t)0;
		for (size_t i = 64; i < 200000 / 8; i += 2048)
			b[i] = 0x1111111111111111ull;
	}
	tx_abort(0);
	tx_end();
}

/* ---- recovery from power-loss images ------------------------------------- */

/* killed inside the publish's fence 2: the log is durable, the applied
 * stores are not (power loss): recovery must replay them */
static void op_publish_f2(pm_pool *p)
{
	struct root *r = R(p);
	struct pm_action a[4];
	pm_off o1 = pm_reserve(p, &a[0], 64);
	*(uint64_t *)pm_direct(p, o1) = 0x77;
	pm_set_value(p, &a[1], &r->slot[5], o1);
	pm_defer_free(p, &a[2], r->slot[1]);
	pm_set_value(p, &a[3], &r->slot[1], 0);
	icount_arm_kill();
	pm_publish(p, a, 4);
}

/* ---- the list ---------------------------------------------------------- */

/* ---- issue 12: pm_realloc, a growing root ---------------------------------- */

#define RA_OLD 100
#define RA_NEW 5000
static uint8_t ra_pat(size_t i) { return (uint8_t)(0x5b + i * 11) | 1; }

/* used heap; slot 1's 100 bytes all written and durable */
static void setup_realloc(pm_pool *p)
{
	setup_used(p);
	uint8_t *b = pm_direct(p, R(p)->slot[1]);
	for (size_t i = 0; i < RA_OLD; i++)
		b[i] = ra_pat(i);
	pm_persist(p, b, RA_OLD);
}

static void snip_realloc(pm_pool *p)
{
	pm_realloc(p, &R(p)->slot[1], RA_NEW);
}

/* slot 1 (old or moved) holds the 100 bytes; the old one is freed if it
 * moved (digest_root counts the objects) */
static int check_realloc(pm_pool *p, char *why, size_t len)
{
	if (check_root(p, why, len))
		return 1;
	pm_off o = R(p)->slot[1];
	const uint8_t *b = pm_direct(p, o);
	for (size_t i = 0; o && i < RA_OLD; i++)
		if (b[i] != ra_pat(i)) {
			snprintf(why, len, "slot 1 = 0x%llx: byte %zu = 0x%02x, was 0x%02x before pm_realloc",
			         (unsigned long long)o, i, b[i], ra_pat(i));
			return 1;
		}
	return 0;
}

/* the root's size, and zero bytes past struct root */
static uint64_t digest_root_grown(pm_pool *p)
{
	return icount_mix(digest_root(p), pm_root_size(p));
}

static int check_root_grown(pm_pool *p, char *why, size_t len)
{
	if (check_root(p, why, len))
		return 1;
	size_t sz = pm_root_size(p);
	const uint8_t *b = (const uint8_t *)R(p);
	for (size_t i = sizeof(struct root); i < sz; i++)
		if (b[i]) {
			snprintf(why, len, "root of %zu bytes: byte %zu = 0x%02x past the old size, not zero", sz,
			         i, b[i]);
			return 1;
		}
	return 0;
}

/* the bytes a grown root takes hold garbage first (a used heap, and the
 * in-place tail written over) */
static void setup_root_grow(pm_pool *p)
{
	setup_used(p);
	struct root *r = R(p);
	size_t us = pm_usable_size(p, pm_root(p, 1));
	memset((char *)r + sizeof(*r), 0xc3, us - sizeof(*r));
	pm_persist(p, (char *)r + sizeof(*r), us - sizeof(*r));
}

static void snip_root_grow_move(pm_pool *p)
{
	pm_root(p, 20000);
}

static void snip_root_grow_inplace(pm_pool *p)
{
	pm_root(p, pm_usable_size(p, pm_root(p, 1)));
}

/* ---- issue 19: an allocation that grows the pool ---------------------------- */

/* a growable pool (4 MiB, at most 12 MiB) whose heap is full: slot 5 holds
 * every free chunk (zeroed), so the next run needs a chunk growth makes */
static void setup_grow(pm_pool *p)
{
	struct root *r = R(p);
	struct pm_check_report rep;
	pm_check(p, &rep);
	pzalloc(p, &r->slot[5], rep.free_chunks * (256u << 10));
}

static void snip_grow(pm_pool *p)
{
	pzalloc(p, &R(p)->slot[0], 64);
}

#define S(n, w, su, sn, dg, ck) \
	static const struct icount_scenario sc_##n = { .name = #n, .what = w, .setup = su, \
		.snippet = sn, .digest = dg, .check = ck }
#define R_(n, w, su, op, f) \
	static const struct icount_scenario sc_##n = { .name = #n, .what = w, .setup = su, \
		.crash_op = op, .crash_fence = f, .digest = digest_root, .check = check_root, \
		.after_only = 1, .nlanes = 4 }

S(pmalloc, "pzalloc(64) into a root slot", setup_root, snip_pmalloc, digest_root, check_zeroed);
/* the library's default lane count (64) here; the others use 4 (cheaper opens) */
static const struct icount_scenario sc_pfree = { .name = "pfree", .what = "pfree of a root slot (64 lanes)",
	.setup = setup_root, .snippet = snip_pfree, .digest = digest_root, .check = check_root,
	.nlanes = 64 };
S(publish, "2 reservations + 3 stores + 1 free in one pm_publish", setup_root, snip_publish,
  digest_root, check_root);
S(root, "pm_root on a fresh pool", setup_none, snip_root, digest_root, check_root);
S(tx_commit, "tx: 2 ranges, fast commit", setup_root, snip_tx_commit, digest_root, check_root);
S(tx_alloc, "tx: tx_pzalloc + tx_pfree + range, commit log", setup_root, snip_tx_alloc,
  digest_root, check_tx_alloc);
S(tx_abort, "tx: ranges, alloc, free, then tx_abort", setup_root, snip_tx_abort, digest_root,
  check_root);
S(tx_large, "tx: 6.5 KiB range, slow commit", setup_big, snip_tx_large, digest_root, check_root);
S(tx_overflow, "tx: 20 KiB range (overflow block) + alloc", setup_big, snip_tx_overflow,
  digest_root, check_root);
R_(recover_publish, "recovery of a committed publish, crashed", setup_root, op_pmalloc_pair, 1);
R_(recover_tx_fwd, "recovery rolling a tx forward, crashed", setup_root, op_tx_forward, 1);
R_(recover_tx_back, "recovery rolling a tx back, crashed", setup_root, op_tx_back, 1);
S(binarytree, "binarytree: 4 new words + 1 known", setup_tree, snip_tree, digest_tree,
  check_tree);

#define P_(n, w, su, pre, sn, dg, ck) \
	static const struct icount_scenario sc_##n = { .name = #n, .what = w, .setup = su, \
		.prelude = pre, .snippet = sn, .digest = dg, .check = ck }
#define RP(n, w, su, op, f) \
	static const struct icount_scenario sc_##n = { .name = #n, .what = w, .setup = su, \
		.crash_op = op, .crash_fence = f, .crash_power = 1, .digest = digest_root, \
		.check = check_root, .after_only = 1, .nlanes = 4 }

S(pmalloc3, "pzalloc, pmalloc, pfree: checkpoints between", setup_root, snip_pmalloc3,
  digest_root, check_root);
S(pzalloc_used, "pzalloc 64 + 3000 on a used heap, contents zero", setup_used,
  snip_pzalloc_used, digest_root, check_zeroed);
S(publish_used, "publish of 2 filled reservations on a used heap", setup_used,
  snip_publish_used, digest_root, check_filled);
S(tx_zalloc_used, "tx_pzalloc on a used heap, contents checked", setup_used,
  snip_tx_zalloc_used, digest_root, check_tx_zeroed);
S(rewrite, "tx range and a reserved object written twice (intermediate values)", setup_used,
  snip_rewrite, digest_root, check_rewrite);
S(c1, "C1: fast-commit tx then publish of the same word, one lane", setup_root, snip_c1,
  digest_root, check_root);
P_(c1_lazy, "C1 from lazy state: prelude tx, snippet publish", setup_root, c1_tx, c1_publish,
   digest_root, check_root);
S(a2, "A2: publish of 2 new nodes linked inside node 1", setup_root, snip_a2, digest_list,
  check_list);
S(a3, "A3: fast commit, then tx_add spanning a tx_pmalloc'ed object", setup_a3, snip_a3,
  digest_a3, check_root);
P_(a3_lazy, "A3 from lazy state: prelude 2 fast commits, snippet tx", setup_a3, a3_tx01, a3_tx2,
   digest_a3, check_root);
S(a1, "A1: empty run, tx_pmalloc(200000) filled and aborted, used heap", setup_a1, snip_a1,
  digest_root, check_root);
S(tx_ranges, "tx_add_ranges of 3 overlapping ranges, fast commit", setup_root, ranges_tx,
  digest_root, check_root);
P_(tx_ranges_lazy, "tx_add_ranges after 2 fast commits (T8 over all its entries)", setup_root,
   a3_tx01, ranges_tx, digest_root, check_root);
S(perm_save, "pm_perm_save: 2 saved blocks changed + 1 new, one save", setup_perm, snip_perm,
  digest_perm, check_root);
S(realloc_used, "pm_realloc 100 -> 5000 bytes on a used heap, contents kept", setup_realloc,
  snip_realloc, digest_root, check_realloc);
S(root_grow_move, "pm_root grows 200 -> 20000 bytes (moves), tail zero", setup_root_grow,
  snip_root_grow_move, digest_root_grown, check_root_grown);
S(root_grow_inplace, "pm_root grows to its usable size (in place), tail zero", setup_root_grow,
  snip_root_grow_inplace, digest_root_grown, check_root_grown);
S(tx_big, "big tx: 12 KiB range, 220 tx_pmalloc + 1 tx_pfree (action records in a block)",
  setup_big, snip_tx_big, digest_root, check_root);
static const struct icount_scenario sc_grow_pmalloc = { .name = "grow_pmalloc",
	.what = "pzalloc(64) in a full growable pool: grows it, then publishes",
	.setup = setup_grow, .snippet = snip_grow, .digest = digest_root, .check = check_zeroed,
	.pool_size = (size_t)4 << 20, .max_size = (size_t)12 << 20 };
RP(recover_publish_pow, "recovery of a publish power-failed in fence 2", setup_root,
   op_publish_f2, 2);
RP(recover_tx_fwd_pow, "recovery of a tx power-failed in its commit fence", setup_root,
   op_tx_forward, 1);
RP(recover_tx_back_pow, "recovery of a tx power-failed in its 2nd tx_add", setup_root,
   op_tx_back, 1);

static const struct icount_scenario *const all[] = {
	&sc_pmalloc, &sc_pfree, &sc_publish, &sc_root, &sc_tx_commit, &sc_tx_alloc,
	&sc_tx_abort, &sc_tx_large, &sc_tx_overflow, &sc_recover_publish, &sc_recover_tx_fwd,
	&sc_recover_tx_back, &sc_binarytree, &sc_pmalloc3, &sc_pzalloc_used, &sc_publish_used,
	&sc_tx_zalloc_used, &sc_recover_publish_pow, &sc_recover_tx_fwd_pow,
	&sc_recover_tx_back_pow, &sc_rewrite, &sc_c1, &sc_c1_lazy, &sc_a2, &sc_a3, &sc_a3_lazy, &sc_a1,
	&sc_tx_ranges, &sc_tx_ranges_lazy, &sc_perm_save,
	&sc_realloc_used, &sc_root_grow_move, &sc_root_grow_inplace,
	&sc_tx_big, &sc_grow_pmalloc,
};
int main(int argc, char **argv)
{
	return icount_main(argc, argv, all, sizeof(all) / sizeof(all[0]));
}
