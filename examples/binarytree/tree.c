/*
 * tree.c -- the persistent word-count tree of examples/binarytree (see
 * tree.h for the layout and invariants T1-T4, README.md for the crash
 * argument).  It is a small library, bt_tree, so that the binarytree
 * program, its tests and the icount crash scenarios share one copy.
 *
 * Durability of each operation, in fences (one waiting fence ~ 200 ns):
 *   known word: count++, pm_persist(&count)              -> 1 fence
 *   new word:   pm_reserve, fill the node,
 *               pm_publish { alloc, parent slot = node } -> the publish's
 *               fences (2 in the current core; none extra from us)
 * Nothing here walks the tree recursively: a tree built from sorted input
 * is a list, and its depth is the number of words.
 */
#include "tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char tree_msg[320];

const char *tree_errmsg(void)
{
	return tree_msg[0] ? tree_msg : "no error";
}

__attribute__((format(printf, 2, 3)))
static int tree_err(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tree_msg, sizeof(tree_msg), fmt, ap);
	va_end(ap);
	return err;
}

/* ---- root ------------------------------------------------------------- */

static int root_check(struct tree_root *r)
{
	if (r->magic == TREE_MAGIC)
		return 0;
	if (r->magic == 0 && r->top == 0)
		return 0; /* root object allocated, magic not yet set: empty */
	return tree_err(PM_EFOREIGN,
	                "root object is not a binarytree root (magic 0x%llx)",
	                (unsigned long long)r->magic);
}

int tree_lookup_root(pm_pool *pool, struct tree_root **rootp)
{
	*rootp = NULL;
	size_t have = pm_root_size(pool);
	if (have == 0)
		return 0;
	if (have < sizeof(struct tree_root))
		return tree_err(PM_EFOREIGN, "root object is %zu bytes, a binarytree root needs %zu",
		                have, sizeof(struct tree_root));
	pm_off off = pm_root(pool, sizeof(struct tree_root));
	if (off == 0)
		return tree_err(pm_last_error(), "pm_root: %s", pm_errormsg());
	struct tree_root *r = PM_D(pool, off, struct tree_root);
	int rc = root_check(r);
	if (rc == 0)
		*rootp = r;
	return rc;
}

int tree_init(pm_pool *pool, struct tree_root **rootp)
{
	int rc = tree_lookup_root(pool, rootp);
	if (rc)
		return rc;
	if (!*rootp) {
		pm_off off = pm_root(pool, sizeof(struct tree_root)); /* zeroed */
		if (off == 0)
			return tree_err(pm_last_error(), "pm_root: %s", pm_errormsg());
		*rootp = PM_D(pool, off, struct tree_root);
	}
	struct tree_root *r = *rootp;
	if (r->magic == 0) {
		/* One aligned 8-byte store.  CRASH BEFORE: magic 0, top 0 --
		 * root_check() accepts that as an empty tree and the next
		 * tree_init() sets it.  No insert happens before this fence. */
		r->magic = TREE_MAGIC;
		pm_persist(pool, &r->magic, sizeof(r->magic));
	}
	return 0;
}

/* ---- insert and lookup ------------------------------------------------ */

/* Compare word[0..len) (no NUL inside) with the NUL-terminated s, bytewise. */
static int cmp_n(const char *word, size_t len, const char *s)
{
	int c = strncmp(word, s, len);
	if (c)
		return c;
	return s[len] ? -1 : 0; /* word is a prefix of s, or equal */
}

/* Fast path: the count of a known word.  Slow path: new_node() below. */
int tree_insert_n(pm_pool *pool, struct tree_root *root, const char *word,
                  size_t len)
{
	if (len == 0 || memchr(word, '\0', len))
		return tree_err(PM_EINVAL, "tree_insert: empty word or NUL inside");
	pm_off *slot = &root->top;
	while (*slot) {
		struct tree_node *n = PM_D(pool, *slot, struct tree_node);
		int c = cmp_n(word, len, n->word);
		if (c == 0) {
			/* An aligned 8-byte store is never torn: after a crash
			 * the count is the old or the new value.
			 * DURABLE: the new count. */
			n->count++;
			pm_persist(pool, &n->count, sizeof(n->count));
			return 0;
		}
		slot = c < 0 ? &n->left : &n->right;
	}

	/* New word: *slot is the null child slot it belongs in. */
	size_t size = sizeof(struct tree_node) + len + 1;
	struct pm_action act[2];
	pm_off off = pm_reserve(pool, &act[0], size);
	if (off == 0)
		return tree_err(pm_last_error(), "no room for a %zu-byte node: %s",
		                size, pm_errormsg());
	/* The reservation is in DRAM only: until the publish, a crash leaves
	 * the block free and *slot null, whatever we write here. */
	struct tree_node *n = PM_D(pool, off, struct tree_node);
	n->left = 0;
	n->right = 0;
	n->count = 1;
	memcpy(n->word, word, len);
	n->word[len] = '\0';
	/* No flush or fence of our own: pm_publish flushes the reserved
	 * node's first `size` bytes and its log's checksum covers them, so
	 * the log cannot be replayed unless the contents are durable too. */
	pm_set_value(pool, &act[1], slot, off);
	/* DURABLE after: the allocation and *slot = off, both or neither. */
	int rc = pm_publish(pool, act, 2);
	if (rc) {
		pm_cancel(pool, act, 2);
		return tree_err(rc, "pm_publish: %s", pm_errormsg());
	}
	return 1;
}

int tree_insert(pm_pool *pool, struct tree_root *root, const char *word)
{
	return tree_insert_n(pool, root, word, strlen(word));
}

uint64_t tree_lookup(pm_pool *pool, const struct tree_root *root,
                     const char *word)
{
	size_t len = strlen(word);
	pm_off off = root ? root->top : 0;
	while (off) {
		const struct tree_node *n = PM_D(pool, off, struct tree_node);
		int c = cmp_n(word, len, n->word);
		if (c == 0)
			return n->count;
		off = c < 0 ? n->left : n->right;
	}
	return 0;
}

/* ---- in-order walk ---------------------------------------------------- */

struct offstack {
	pm_off *v;
	size_t n, cap;
};

static int offstack_push(struct offstack *s, pm_off off)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		pm_off *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return tree_err(PM_ENOMEM, "tree walk: out of DRAM at depth %zu", s->n);
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = off;
	return 0;
}

int tree_walk(pm_pool *pool, const struct tree_root *root, tree_walk_fn fn,
              void *arg)
{
	struct offstack s = {0};
	pm_off off = root ? root->top : 0;
	int rc = 0;
	while (rc == 0 && (off || s.n)) {
		if (off) { /* descend left, remembering the way back */
			rc = offstack_push(&s, off);
			off = PM_D(pool, off, struct tree_node)->left;
			continue;
		}
		const struct tree_node *n = PM_D(pool, s.v[--s.n], struct tree_node);
		rc = fn(n->word, n->count, arg);
		off = n->right;
	}
	free(s.v);
	return rc;
}

/* ---- check ------------------------------------------------------------ */

struct check_item {
	pm_off off;
	const char *lo, *hi; /* exclusive bounds from the ancestors, NULL = none */
	uint64_t depth;
};

/* T1 and T3 for the node at off; returns it, or NULL with the message set. */
static const struct tree_node *check_node(pm_pool *pool, pm_off off)
{
	const struct tree_node *n =
		pm_direct_checked(pool, off, sizeof(struct tree_node) + 1);
	if (!n) {
		tree_err(PM_ECORRUPT, "node 0x%llx lies outside the pool", (unsigned long long)off);
		return NULL;
	}
	size_t usable = pm_usable_size(pool, off);
	if (usable < sizeof(struct tree_node) + 1) {
		tree_err(PM_ECORRUPT, "node 0x%llx is not an allocated object of at least %zu bytes (usable %zu)",
		         (unsigned long long)off, sizeof(struct tree_node) + 1, usable);
		return NULL;
	}
	if (!memchr(n->word, '\0', usable - sizeof(struct tree_node))) {
		tree_err(PM_ECORRUPT, "node 0x%llx: word not NUL-terminated within its %zu bytes",
		         (unsigned long long)off, usable);
		return NULL;
	}
	if (n->word[0] == '\0' || n->count == 0) {
		tree_err(PM_ECORRUPT, "node 0x%llx: empty word or zero count (\"%s\", %llu)",
		         (unsigned long long)off, n->word, (unsigned long long)n->count);
		return NULL;
	}
	return n;
}

struct check_stack {
	struct check_item *v;
	size_t n, cap;
};

static int check_push(struct check_stack *s, struct check_item it)
{
	if (it.off == 0)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct check_item *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return tree_err(PM_ENOMEM, "tree_check: out of DRAM");
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = it;
	return 0;
}

static int check_tree(pm_pool *pool, const struct tree_root *root,
                      struct tree_report *rep)
{
	struct check_stack s = {0};
	int rc = check_push(&s, (struct check_item){root->top, NULL, NULL, 1});
	while (rc == 0 && s.n) {
		struct check_item it = s.v[--s.n];
		const struct tree_node *n = check_node(pool, it.off);
		if (!n) {
			rc = PM_ECORRUPT;
			break;
		}
		/* T2: strictly inside (lo, hi).  A second path to a node, or
		 * a cycle, would need its word on both sides of an ancestor. */
		if ((it.lo && strcmp(n->word, it.lo) <= 0) ||
		    (it.hi && strcmp(n->word, it.hi) >= 0)) {
			rc = tree_err(PM_ECORRUPT, "node 0x%llx \"%s\" breaks BST order (bounds \"%s\" .. \"%s\")",
			              (unsigned long long)it.off, n->word,
			              it.lo ? it.lo : "-", it.hi ? it.hi : "-");
			break;
		}
		rep->nodes++;
		rep->sum_counts += n->count;
		if (it.depth > rep->max_depth)
			rep->max_depth = it.depth;
		rc = check_push(&s, (struct check_item){n->left, it.lo, n->word, it.depth + 1});
		if (rc == 0)
			rc = check_push(&s, (struct check_item){n->right, n->word, it.hi, it.depth + 1});
	}
	free(s.v);
	return rc;
}

static int check_common(pm_pool *pool, struct tree_report *rep)
{
	struct tree_root *root;
	memset(rep, 0, sizeof(*rep));
	int rc = tree_lookup_root(pool, &root);
	if (rc)
		return rc;
	if (!root)
		return 0;
	return check_tree(pool, root, rep);
}

int tree_check(pm_pool *pool, uint64_t *nnodes, uint64_t *sum_counts)
{
	struct tree_report rep;
	int rc = check_common(pool, &rep);
	if (nnodes)
		*nnodes = rep.nodes;
	if (sum_counts)
		*sum_counts = rep.sum_counts;
	return rc;
}

int tree_verify(pm_pool *pool, struct tree_report *rep)
{
	struct pm_check_report pr = {0};
	int rc = pm_check(pool, &pr);
	if (rc == 0 && pr.status != 0)
		rc = pr.status;
	if (rc)
		return tree_err(rc, "pm_check: %s", pr.message[0] ? pr.message : pm_errormsg());
	rc = check_common(pool, rep);
	if (rc)
		return rc;
	rep->objects = pr.objects;
	rep->bytes = pr.bytes_allocated;
	/* T4: the root object (if any) and the reachable nodes are all the
	 * pool holds; anything else was leaked. */
	uint64_t expect = rep->nodes + (pm_root_size(pool) ? 1 : 0);
	if (pr.objects != expect)
		return tree_err(PM_ECORRUPT, "leak: pool holds %llu objects, tree reaches %llu nodes + %d root",
		                (unsigned long long)pr.objects, (unsigned long long)rep->nodes,
		                pm_root_size(pool) ? 1 : 0);
	return 0;
}

/* ---- digest ----------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *b = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static int digest_fn(const char *word, uint64_t count, void *arg)
{
	uint64_t *h = arg;
	*h = fnv1a(*h, word, strlen(word) + 1); /* the NUL separates words */
	*h = fnv1a(*h, &count, sizeof(count));
	return 0;
}

int tree_digest(pm_pool *pool, uint64_t *digest)
{
	struct tree_root *root;
	*digest = 0xcbf29ce484222325ULL;
	int rc = tree_lookup_root(pool, &root);
	if (rc == 0 && root)
		rc = tree_walk(pool, root, digest_fn, digest);
	return rc;
}
