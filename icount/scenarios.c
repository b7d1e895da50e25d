/*
 * scenarios.c -- the crash scenarios of `make allcounts`.
 *
 * Each one: a setup (not traced), a snippet (every instruction boundary a
 * crash point), and a digest of the logical state that a recovered image
 * must match (before, a checkpoint, or after).  Digests include the number
 * of allocated objects, so a leak or a lost object is a wrong state; the
 * check functions add structural invariants (every slot names an allocated
 * object, new objects hold what was written, trees are valid BSTs).
 */
#include <stdio.h>
#include <string.h>

#include "icount.h"
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

/* ---- the list ---------------------------------------------------------- */

#define S(n, w, su, sn, dg, ck) \
	static const struct icount_scenario sc_##n = { .name = #n, .what = w, .setup = su, \
		.snippet = sn, .digest = dg, .check = ck }
#define R_(n, w, su, op, f) \
	static const struct icount_scenario sc_##n = { .name = #n, .what = w, .setup = su, \
		.crash_op = op, .crash_fence = f, .digest = digest_root, .check = check_root, \
		.after_only = 1, .nlanes = 4 }

S(pmalloc, "pzalloc(64) into a root slot", setup_root, snip_pmalloc, digest_root, check_root);
S(pfree, "pfree of a root slot", setup_root, snip_pfree, digest_root, check_root);
S(publish, "2 reservations + 3 stores + 1 free in one pm_publish", setup_root, snip_publish,
  digest_root, check_root);
S(root, "pm_root on a fresh pool", setup_none, snip_root, digest_root, check_root);
S(tx_commit, "tx: 2 ranges, fast commit", setup_root, snip_tx_commit, digest_root, check_root);
S(tx_alloc, "tx: tx_pzalloc + tx_pfree + range, commit log", setup_root, snip_tx_alloc,
  digest_root, check_root);
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

static const struct icount_scenario *const all[] = {
	&sc_pmalloc, &sc_pfree, &sc_publish, &sc_root, &sc_tx_commit, &sc_tx_alloc,
	&sc_tx_abort, &sc_tx_large, &sc_tx_overflow, &sc_recover_publish, &sc_recover_tx_fwd,
	&sc_recover_tx_back, &sc_binarytree,
};

int main(int argc, char **argv)
{
	return icount_main(argc, argv, all, sizeof(all) / sizeof(all[0]));
}
