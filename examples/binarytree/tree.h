/*
 * tree.h -- a persistent binary search tree of word counts on pmstore.
 *
 * Layout in the pool:
 *
 *   root object (pm_root)          node (one allocation each)
 *   +-------------------+          +-----------------------------+
 *   | magic   uint64_t  |          | left   pm_off               |
 *   | top     pm_off ---+--------> | right  pm_off               |
 *   +-------------------+          | count  uint64_t             |
 *                                  | word[] NUL-terminated bytes |
 *                                  +-----------------------------+
 *
 * Every pointer is a pm_off (offset from the pool base, 0 = null), so the
 * pool may be mapped at any address.  Words are compared as unsigned bytes
 * (strcmp / LC_ALL=C order), left < node < right, no duplicates.
 *
 * Invariants, verified by tree_check():
 *   T1  every reachable node lies inside the pool and is an allocated object
 *       large enough for its header and its NUL-terminated word;
 *   T2  strict BST order: each node's word lies strictly between the bounds
 *       inherited from its ancestors (this also rules out cycles and shared
 *       subtrees, so the structure is a tree);
 *   T3  every count is >= 1;
 *   T4  (tree_verify) reachable nodes + the root object = the pool's
 *       allocated objects: no node is leaked.
 *
 * Crash safety (the argument is in README.md): a new word becomes reachable
 * in one pm_publish that carries both the allocation and the store into the
 * parent's child slot; a known word's count is one aligned 8-byte store made
 * durable with pm_persist.
 *
 * Single-threaded: callers serialise inserts on one pool.
 */
#ifndef BT_TREE_H
#define BT_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "pmstore.h"

#define TREE_MAGIC 0x3145455254594e42ULL /* "BNYTREE1" little-endian */

struct tree_root {
	uint64_t magic; /* TREE_MAGIC once initialised */
	pm_off top;     /* the tree's first node, 0 when empty */
};

struct tree_node {
	pm_off left;
	pm_off right;
	uint64_t count;
	char word[]; /* NUL-terminated */
};

/*
 * Find or create the pool's root object and check that it holds a tree.
 * Returns 0 and *rootp, or a negative PM_E* code (message: tree_errmsg()).
 */
int tree_init(pm_pool *pool, struct tree_root **rootp);

/*
 * The pool's tree root without creating anything: 0 and *rootp (NULL when
 * the pool has no root object yet), or PM_EFOREIGN when the root object is
 * not a tree.
 */
int tree_lookup_root(pm_pool *pool, struct tree_root **rootp);

/*
 * Count one occurrence of word[0..len) (len > 0, no NUL inside).
 * Returns 1 if a node was created, 0 if an existing count was incremented,
 * or a negative PM_E* code (the tree is unchanged).
 */
int tree_insert_n(pm_pool *pool, struct tree_root *root, const char *word,
                  size_t len);
int tree_insert(pm_pool *pool, struct tree_root *root, const char *word);

/* Count of word, 0 when absent. */
uint64_t tree_lookup(pm_pool *pool, const struct tree_root *root,
                     const char *word);

/* In-order walk (ascending byte order); stops and returns fn's nonzero. */
typedef int (*tree_walk_fn)(const char *word, uint64_t count, void *arg);
int tree_walk(pm_pool *pool, const struct tree_root *root, tree_walk_fn fn,
              void *arg);

/*
 * Verify T1-T3 on the pool's tree (an absent root object is an empty tree).
 * Returns 0 when valid, with the number of nodes and the sum of their
 * counts; else a negative PM_E* code and a message in tree_errmsg().
 * Reads only: safe on a pool just recovered from a crash image.
 */
int tree_check(pm_pool *pool, uint64_t *nnodes, uint64_t *sum_counts);

struct tree_report {
	uint64_t nodes;       /* reachable nodes */
	uint64_t sum_counts;  /* total words counted */
	uint64_t objects;     /* pm_check: allocated objects in the pool */
	uint64_t bytes;       /* pm_check: usable bytes allocated */
	uint64_t max_depth;   /* longest root-to-leaf path, in nodes */
};

/*
 * tree_check + pm_check + T4.  Returns 0 when everything holds; else a
 * negative code and a message naming the first problem in tree_errmsg().
 */
int tree_verify(pm_pool *pool, struct tree_report *rep);

/*
 * A 64-bit digest (FNV-1a) of the in-order (word, count) sequence: two
 * trees have equal digests iff (with overwhelming probability) they count
 * the same words the same number of times.  For crash scenarios: the image
 * after a crash must digest to the state before or after the operation.
 * The pool must be valid (run tree_check first).  Returns 0 or PM_ENOMEM.
 */
int tree_digest(pm_pool *pool, uint64_t *digest);

/* The last tree_* error message of this thread (never NULL). */
const char *tree_errmsg(void);

#endif /* BT_TREE_H */
