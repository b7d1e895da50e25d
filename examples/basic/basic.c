/*
 * basic.c -- the lesson of the 2013 linux-examples "basic" program, checked
 * by icount at every instruction (issue 20).
 *
 * A string in a pool is replaced three ways:
 *   persist  plain stores, then pm_persist: crash points in between leave
 *            half-written strings (icount names each one);
 *   tx       the same stores inside a transaction (tx_add first): none;
 *   actions  the new string in a reserved object, published with the
 *            pointer to it (pm_reserve / pm_set_value / pm_defer_free /
 *            pm_publish): none.
 * The recovered state must be the old string or the new one, whole.
 * Run `basic_icount` (all three) or `basic_icount persist`; `basic_icount
 * --help` lists them.  Built against libpmstore-icount and pmstore_icount.h
 * only, like a user's test program.
 */
#include <string.h>

#include <pmstore_icount.h>

#define LEN 64
static const char old_s[] = "hello, world";
static const char new_s[] = "persistent memory, crash-tested";

struct root {
	char buf[LEN]; /* persist, tx */
	pm_off str;    /* actions: an object holding the string */
};

static struct root *R(pm_pool *p)
{
	return pm_direct(p, pm_root(p, sizeof(struct root)));
}

/* a byte loop, not strcpy: the stores are this file's instructions */
static void copy(char *d, const char *s)
{
	size_t i = 0;
	do
		d[i] = s[i];
	while (s[i++]);
}

static void setup(pm_pool *p)
{
	struct root *r = R(p);
	copy(r->buf, old_s);
	pm_persist(p, r->buf, sizeof(r->buf));
	pm_strdup(p, &r->str, old_s);
}

static void replace_persist(pm_pool *p)
{
	struct root *r = R(p);
	copy(r->buf, new_s);
	pm_persist(p, r->buf, sizeof(new_s));
}

static void replace_tx(pm_pool *p)
{
	struct root *r = R(p);
	tx_begin(p);
	tx_add(r->buf, sizeof(new_s));
	copy(r->buf, new_s);
	tx_end();
}

static void replace_actions(pm_pool *p)
{
	struct root *r = R(p);
	struct pm_action a[3];
	pm_off o = pm_reserve(p, &a[0], sizeof(new_s));
	copy(pm_direct(p, o), new_s);
	pm_set_value(p, &a[1], &r->str, o);
	pm_defer_free(p, &a[2], r->str);
	pm_publish(p, a, 3);
}

/* The state: which whole string each place holds (1 old, 2 new, 3 torn). */
static uint64_t which(const char *s)
{
	if (!strncmp(s, old_s, sizeof(old_s)))
		return 1;
	if (!strncmp(s, new_s, sizeof(new_s)))
		return 2;
	return 3;
}

static uint64_t digest(pm_pool *p)
{
	struct root *r = R(p);
	uint64_t h = icount_mix(0, which(r->buf));
	return icount_mix(h, r->str ? which(pm_direct(p, r->str)) : 0);
}

static const struct icount_scenario persist = { .name = "persist",
	.what = "plain stores + pm_persist (torn strings expected)", .setup = setup,
	.snippet = replace_persist, .digest = digest };
static const struct icount_scenario tx = { .name = "tx",
	.what = "the same stores in a transaction", .setup = setup, .snippet = replace_tx,
	.digest = digest };
static const struct icount_scenario actions = { .name = "actions",
	.what = "a new object published with its pointer", .setup = setup,
	.snippet = replace_actions, .digest = digest };
static const struct icount_scenario *const all[] = { &persist, &tx, &actions };

int main(int argc, char **argv)
{
	return icount_main(argc, argv, all, sizeof(all) / sizeof(all[0]));
}
