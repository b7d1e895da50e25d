/*
 * icount_list.c -- a user's crash test, built outside the source tree
 * against the installed libpmstore-icount only (issue 20's "done when"):
 * a linked-list push with direct stores and pm_persist, checked by icount
 * at every instruction.  The list must recover to its state before a push
 * or after it.
 *   -DPUSH_BUG=1  the node is not persisted before it is linked
 *   -DPUSH_BUG=2  the node is linked before its fields are written
 * Both must fail, with the report naming this file's line.
 */
#include <pmstore_icount.h>

struct node {
	pm_off next;
	uint64_t val;
};
struct root {
	pm_off head;
	pm_off spare; /* the node being pushed: allocated, not yet linked */
};

static struct root *R(pm_pool *p)
{
	return pm_direct(p, pm_root(p, sizeof(struct root)));
}

static void push(pm_pool *p, uint64_t v)
{
	struct root *r = R(p);
	if (!r->spare && pzalloc(p, &r->spare, sizeof(struct node)))
		return;
	struct node *n = pm_direct(p, r->spare);
#if PUSH_BUG == 2
	r->head = r->spare; /* BUG: linked before it holds anything */
	pm_persist(p, &r->head, sizeof(r->head));
#endif
	n->val = v;
	n->next = r->head;
#if PUSH_BUG != 1
	pm_persist(p, n, sizeof(*n)); /* the node, durable before the link */
#endif
	r->head = r->spare;
	pm_persist(p, &r->head, sizeof(r->head));
	r->spare = 0;
	pm_persist(p, &r->spare, sizeof(r->spare));
}

static void setup(pm_pool *p)
{
	push(p, 1);
}

static void snippet(pm_pool *p)
{
	push(p, 2);
	icount_checkpoint(p);
	push(p, 3);
}

/* the list's values, head first; a node whose value is not what a push
 * wrote makes the state unique (never allowed) */
static uint64_t digest(pm_pool *p)
{
	uint64_t h = 0, n = 0;
	for (pm_off o = R(p)->head; o && n < 100; n++) {
		struct node *x = pm_direct(p, o);
		h = icount_mix(h, x->val);
		o = x->next;
	}
	return icount_mix(h, n);
}

static const struct icount_scenario sc = { .name = "push", .what = "two pushes onto a list",
	.setup = setup, .snippet = snippet, .digest = digest };
static const struct icount_scenario *const all[] = { &sc };

int main(int argc, char **argv)
{
	return icount_main(argc, argv, all, 1);
}
