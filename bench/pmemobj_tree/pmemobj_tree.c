/*
 * pmemobj_tree.c -- the binarytree word counter of examples/binarytree,
 * written against PMDK's libpmemobj instead of pmstore, as the baseline in
 * the benchmark suite.  Same input (words.c), same command line, same
 * output lines; the tree is written the way the pmstore version is:
 *
 *   new word:   pmemobj_alloc() with the parent's child PMEMoid (in the
 *               pool) as destination: allocation and link in one atomic
 *               libpmemobj operation, the node filled and persisted by the
 *               constructor (libpmemobj's documented contract);
 *   known word: count++ and pmemobj_persist() of the 8-byte count.
 *
 *   pmemobj_tree [--size MIB] [--stats] POOL [FILE...]
 *   pmemobj_tree POOL --print | --top N | --check
 */
#include <errno.h>
#include <libpmemobj.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "words.h"

#define LAYOUT "binarytree"
#define TREE_MAGIC 0x3145455254594e42ULL
#define NODE_TYPE 1
#define DEFAULT_POOL_MIB 64

struct pt_root {
	uint64_t magic;
	PMEMoid top;
};

struct pt_node {
	PMEMoid left;
	PMEMoid right;
	uint64_t count;
	char word[];
};

struct run {
	PMEMobjpool *pop;
	struct pt_root *root;
	uint64_t words, new_words;
};

struct ctor_arg {
	const char *word;
	size_t len;
};

/* Runs before the allocation is published: fill and persist the node. */
static int node_ctor(PMEMobjpool *pop, void *ptr, void *arg)
{
	const struct ctor_arg *a = arg;
	struct pt_node *n = ptr;
	n->left = OID_NULL;
	n->right = OID_NULL;
	n->count = 1;
	memcpy(n->word, a->word, a->len);
	n->word[a->len] = '\0';
	pmemobj_persist(pop, n, sizeof(*n) + a->len + 1);
	return 0;
}

static int cmp_n(const char *word, size_t len, const char *s)
{
	int c = strncmp(word, s, len);
	if (c)
		return c;
	return s[len] ? -1 : 0;
}

static int insert_word(const char *word, size_t len, void *arg)
{
	struct run *r = arg;
	PMEMoid *slot = &r->root->top;
	while (!OID_IS_NULL(*slot)) {
		struct pt_node *n = pmemobj_direct(*slot);
		int c = cmp_n(word, len, n->word);
		if (c == 0) {
			n->count++;
			pmemobj_persist(r->pop, &n->count, sizeof(n->count));
			r->words++;
			return 0;
		}
		slot = c < 0 ? &n->left : &n->right;
	}
	struct ctor_arg a = {word, len};
	if (pmemobj_alloc(r->pop, slot, sizeof(struct pt_node) + len + 1, NODE_TYPE,
	                  node_ctor, &a)) {
		fprintf(stderr, "pmemobj_tree: pmemobj_alloc: %s\n", pmemobj_errormsg());
		return -2;
	}
	r->words++;
	r->new_words++;
	return 0;
}

/* ---- walking and checking -------------------------------------------- */

typedef int (*visit_fn)(const struct pt_node *n, void *arg);

/* In order, with an explicit stack: sorted input makes the tree a list. */
static int walk(const struct pt_root *root, visit_fn fn, void *arg)
{
	size_t cap = 64, sp = 0;
	PMEMoid *st = malloc(cap * sizeof(*st));
	PMEMoid cur = root ? root->top : OID_NULL;
	int rc = st ? 0 : -1;
	while (rc == 0 && (!OID_IS_NULL(cur) || sp)) {
		if (!OID_IS_NULL(cur)) {
			if (sp == cap) {
				PMEMoid *nst = realloc(st, 2 * cap * sizeof(*st));
				if (!nst) {
					rc = -1;
					break;
				}
				st = nst;
				cap *= 2;
			}
			st[sp++] = cur;
			cur = ((const struct pt_node *)pmemobj_direct(cur))->left;
			continue;
		}
		const struct pt_node *n = pmemobj_direct(st[--sp]);
		rc = fn(n, arg);
		cur = n->right;
	}
	free(st);
	return rc;
}

static int print_node(const struct pt_node *n, void *arg)
{
	fprintf(arg, "%llu %s\n", (unsigned long long)n->count, n->word);
	return 0;
}

static int rank_node(const struct pt_node *n, void *arg)
{
	return words_rank_add(arg, n->word, n->count);
}

struct check_state {
	const char *prev;
	uint64_t nodes, sum;
};

/* In-order words strictly ascending <=> a valid BST without duplicates. */
static int check_node(const struct pt_node *n, void *arg)
{
	struct check_state *c = arg;
	if (n->count == 0 || (c->prev && strcmp(c->prev, n->word) >= 0)) {
		fprintf(stderr, "pmemobj_tree: check: \"%s\" out of order or zero count\n", n->word);
		return 1;
	}
	c->prev = n->word;
	c->nodes++;
	c->sum += n->count;
	return 0;
}

static int check_tree(const char *path, struct run *r)
{
	struct check_state c = {NULL, 0, 0};
	if (walk(r->root, check_node, &c))
		return 1;
	uint64_t objects = 0;
	PMEMoid o;
	POBJ_FOREACH(r->pop, o)
		objects++;
	if (objects != c.nodes) {
		fprintf(stderr, "pmemobj_tree: check: %llu objects, %llu reachable nodes\n",
		        (unsigned long long)objects, (unsigned long long)c.nodes);
		return 1;
	}
	printf("%s: ok: %llu distinct words, %llu words, %llu objects\n", path,
	       (unsigned long long)c.nodes, (unsigned long long)c.sum,
	       (unsigned long long)objects);
	return 0;
}

/* ---- command line ----------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out, "usage: pmemobj_tree [--size MIB] [--stats] POOL [FILE...]\n"
	             "       pmemobj_tree POOL --print | --top N | --check\n"
	             "The libpmemobj twin of examples/binarytree (see its README).\n");
}

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "pmemobj_tree: %s '%s'\n", what, arg ? arg : "");
	usage(stderr);
	return 1;
}

struct opts {
	const char *pool;
	char **files;
	int nfiles, print, check, stats;
	long top, size_mib;
};

static int parse_num(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = s ? strtol(s, &end, 10) : 0;
	if (!s || errno || end == s || *end || v < 1)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->top = -1;
	o->size_mib = DEFAULT_POOL_MIB;
	o->files = calloc((size_t)argc + 1, sizeof(char *));
	for (int i = 1; o->files && i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--print") == 0)
			o->print = 1;
		else if (strcmp(a, "--check") == 0)
			o->check = 1;
		else if (strcmp(a, "--stats") == 0)
			o->stats = 1;
		else if (strcmp(a, "--top") == 0) {
			if (parse_num(argv[i + 1], &o->top))
				return bad("--top needs a positive number, not", argv[i + 1]);
			i++;
		} else if (strcmp(a, "--size") == 0) {
			if (parse_num(argv[i + 1], &o->size_mib) || o->size_mib < 8)
				return bad("--size needs a number of MiB >= 8, not", argv[i + 1]);
			i++;
		} else if (a[0] == '-' && a[1] == '-')
			return bad("unknown option", a);
		else if (!o->pool)
			o->pool = a;
		else
			o->files[o->nfiles++] = argv[i];
	}
	if (!o->files || !o->pool)
		return bad("missing", "POOL");
	if (o->nfiles == 0 && !o->print && !o->check && o->top < 0)
		o->files[o->nfiles++] = "-";
	for (int i = 0; i < o->nfiles; i++)
		if (strcmp(o->files[i], "-") && access(o->files[i], R_OK)) {
			fprintf(stderr, "pmemobj_tree: cannot read '%s': %s\n", o->files[i], strerror(errno));
			return 1;
		}
	return 0;
}

static PMEMobjpool *open_pool(const struct opts *o)
{
	PMEMobjpool *pop = pmemobj_open(o->pool, LAYOUT);
	if (!pop && errno == ENOENT && o->nfiles > 0)
		pop = pmemobj_create(o->pool, LAYOUT, (size_t)o->size_mib << 20, 0600);
	if (!pop)
		fprintf(stderr, "pmemobj_tree: %s: %s\n", o->pool, pmemobj_errormsg());
	return pop;
}

static int insert_files(const struct opts *o, struct run *r)
{
	for (int i = 0; i < o->nfiles; i++) {
		int is_stdin = strcmp(o->files[i], "-") == 0;
		FILE *fp = is_stdin ? stdin : fopen(o->files[i], "r");
		if (!fp) {
			fprintf(stderr, "pmemobj_tree: cannot open '%s': %s\n", o->files[i], strerror(errno));
			return 1;
		}
		int rc = words_scan(fp, insert_word, r);
		if (rc == -1)
			fprintf(stderr, "pmemobj_tree: reading '%s': %s\n", o->files[i], strerror(errno));
		if (!is_stdin)
			fclose(fp);
		if (rc)
			return 1;
	}
	return 0;
}

static int report(const struct opts *o, struct run *r)
{
	int rc = 0;
	if (o->print)
		walk(r->root, print_node, stdout);
	if (o->top > 0) {
		struct words_rank rank = {0};
		rc = walk(r->root, rank_node, &rank) ? 1 : 0;
		if (rc == 0)
			words_rank_print(&rank, (size_t)o->top, stdout);
		words_rank_free(&rank);
	}
	if (rc == 0 && o->check)
		rc = check_tree(o->pool, r);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct run r = {0};
	if (parse_args(argc, argv, &o))
		return 1;
	r.pop = open_pool(&o);
	if (!r.pop)
		return 1;
	PMEMoid root = pmemobj_root(r.pop, sizeof(struct pt_root));
	r.root = pmemobj_direct(root);
	if (!r.root) {
		fprintf(stderr, "pmemobj_tree: pmemobj_root: %s\n", pmemobj_errormsg());
		pmemobj_close(r.pop);
		return 1;
	}
	if (r.root->magic != TREE_MAGIC) {
		r.root->magic = TREE_MAGIC;
		pmemobj_persist(r.pop, &r.root->magic, sizeof(r.root->magic));
	}
	double t0 = words_now();
	int rc = insert_files(&o, &r);
	double secs = words_now() - t0;
	if (o.stats)
		fprintf(stderr, "pmemobj_tree: words=%llu new=%llu seconds=%.3f words/s=%.0f\n",
		        (unsigned long long)r.words, (unsigned long long)r.new_words, secs,
		        secs > 0 ? (double)r.words / secs : 0.0);
	if (rc == 0)
		rc = report(&o, &r);
	pmemobj_close(r.pop);
	free(o.files);
	return rc;
}
