/*
 * test_tree.c -- cmocka unit tests of the binarytree tree library (tree.c):
 * insert and count, in-order walk, tree_check/tree_verify after inserting
 * and after reopening, a degenerate (sorted-input) tree deeper than any
 * recursion would survive, and corruption that tree_check must report.
 * Pools live in /dev/shm when writable (tmpfs: msync is cheap), else in
 * $TMPDIR (default /tmp), and are removed by each test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tree.h"

#define POOL_SIZE ((size_t)16 << 20)

static void pool_path(char *buf, size_t len, const char *name)
{
	const char *dir = getenv("TMPDIR");
	if (access("/dev/shm", W_OK) == 0)
		dir = "/dev/shm";
	else if (!dir || !*dir)
		dir = "/tmp";
	snprintf(buf, len, "%s/bt-%s-%ld.pool", dir, name, (long)getpid());
	unlink(buf);
}

static pm_pool *fresh_pool(char *path, size_t len, const char *name,
                           struct tree_root **root)
{
	pool_path(path, len, name);
	pm_pool *p = pm_create(path, POOL_SIZE, 0);
	assert_non_null(p);
	assert_int_equal(tree_init(p, root), 0);
	assert_non_null(*root);
	return p;
}

struct collect {
	char buf[4096];
	size_t len;
	uint64_t sum;
};

static int collect_fn(const char *word, uint64_t count, void *arg)
{
	struct collect *c = arg;
	c->len += (size_t)snprintf(c->buf + c->len, sizeof(c->buf) - c->len,
	                           "%llu %s\n", (unsigned long long)count, word);
	c->sum += count;
	return 0;
}

static void test_tree_insert_counts(void **state)
{
	(void)state;
	char path[256];
	struct tree_root *root;
	pm_pool *p = fresh_pool(path, sizeof(path), "insert", &root);
	const char *words[] = {"pear", "apple", "zebra", "apple", "mango", "apple", "pear", "ap"};
	int fresh[] = {1, 1, 1, 0, 1, 0, 0, 1};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		assert_int_equal(tree_insert(p, root, words[i]), fresh[i]);
	assert_int_equal(tree_lookup(p, root, "apple"), 3);
	assert_int_equal(tree_lookup(p, root, "pear"), 2);
	assert_int_equal(tree_lookup(p, root, "app"), 0);
	assert_int_equal(tree_insert_n(p, root, "", 0), PM_EINVAL);

	struct collect c = {.len = 0};
	assert_int_equal(tree_walk(p, root, collect_fn, &c), 0);
	assert_string_equal(c.buf, "1 ap\n3 apple\n1 mango\n2 pear\n1 zebra\n");

	struct tree_report rep;
	assert_int_equal(tree_verify(p, &rep), 0);
	assert_int_equal(rep.nodes, 5);
	assert_int_equal(rep.sum_counts, 8);
	assert_int_equal(rep.objects, 6); /* 5 nodes + the root object */
	pm_close(p);
	unlink(path);
}

static void test_tree_reopen(void **state)
{
	(void)state;
	char path[256];
	struct tree_root *root;
	pm_pool *p = fresh_pool(path, sizeof(path), "reopen", &root);
	char w[16];
	for (int i = 0; i < 1000; i++) {
		snprintf(w, sizeof(w), "w%d", (i * 7919) % 500);
		assert_true(tree_insert(p, root, w) >= 0);
	}
	pm_close(p);

	p = pm_open(path);
	assert_non_null(p);
	uint64_t n = 0, sum = 0;
	assert_int_equal(tree_check(p, &n, &sum), 0);
	assert_int_equal(n, 500);
	assert_int_equal(sum, 1000);
	assert_int_equal(tree_init(p, &root), 0);
	assert_int_equal(tree_lookup(p, root, "w42"), 2);
	assert_int_equal(tree_insert(p, root, "w42"), 0);
	assert_int_equal(tree_lookup(p, root, "w42"), 3);
	struct tree_report rep;
	assert_int_equal(tree_verify(p, &rep), 0);
	assert_int_equal(rep.objects, 501);

	uint64_t d1, d2, d3;
	assert_int_equal(tree_digest(p, &d1), 0);
	assert_int_equal(tree_insert(p, root, "w42"), 0);
	assert_int_equal(tree_digest(p, &d2), 0);
	assert_int_equal(tree_insert(p, root, "w4"), 0);
	assert_int_equal(tree_insert(p, root, "zz"), 1);
	assert_int_equal(tree_digest(p, &d3), 0);
	assert_true(d1 != d2 && d2 != d3 && d1 != d3);
	pm_close(p);
	unlink(path);
}

/* Sorted input: the tree is a 20000-node list; nothing may recurse. */
static void test_tree_degenerate_depth(void **state)
{
	(void)state;
	char path[256];
	struct tree_root *root;
	pm_pool *p = fresh_pool(path, sizeof(path), "deep", &root);
	char w[16];
	for (int i = 0; i < 20000; i++) {
		snprintf(w, sizeof(w), "w%06d", i);
		assert_int_equal(tree_insert(p, root, w), 1);
	}
	struct tree_report rep;
	assert_int_equal(tree_verify(p, &rep), 0);
	assert_int_equal(rep.nodes, 20000);
	assert_int_equal(rep.max_depth, 20000);
	pm_close(p);
	unlink(path);
}

static void test_tree_empty_pool(void **state)
{
	(void)state;
	char path[256];
	pool_path(path, sizeof(path), "empty");
	pm_pool *p = pm_create(path, POOL_SIZE, 0);
	assert_non_null(p);
	uint64_t n = 1, sum = 1;
	assert_int_equal(tree_check(p, &n, &sum), 0); /* no root object yet */
	assert_int_equal(n, 0);
	assert_int_equal(sum, 0);
	assert_int_equal(pm_root_size(p), 0);
	pm_close(p);
	unlink(path);
}

static void test_tree_check_finds_corruption(void **state)
{
	(void)state;
	char path[256];
	struct tree_root *root;
	pm_pool *p = fresh_pool(path, sizeof(path), "corrupt", &root);
	assert_int_equal(tree_insert(p, root, "m"), 1);
	assert_int_equal(tree_insert(p, root, "c"), 1);
	assert_int_equal(tree_insert(p, root, "x"), 1);
	struct tree_node *top = PM_D(p, root->top, struct tree_node);
	struct tree_node *left = PM_D(p, top->left, struct tree_node);

	left->word[0] = 'z'; /* order broken */
	assert_int_equal(tree_check(p, NULL, NULL), PM_ECORRUPT);
	assert_non_null(strstr(tree_errmsg(), "order"));
	left->word[0] = 'c';
	assert_int_equal(tree_check(p, NULL, NULL), 0);

	pm_off saved = top->left;
	top->left = root->top; /* a cycle */
	assert_int_equal(tree_check(p, NULL, NULL), PM_ECORRUPT);
	top->left = pm_size(p) + 64; /* outside the pool */
	assert_int_equal(tree_check(p, NULL, NULL), PM_ECORRUPT);
	top->left = saved;

	left->count = 0;
	assert_int_equal(tree_check(p, NULL, NULL), PM_ECORRUPT);
	left->count = 1;

	/* A leak: an object no node reaches. */
	struct pm_action act;
	pm_off off = pm_reserve(p, &act, 32);
	assert_true(off != 0);
	assert_int_equal(pm_publish(p, &act, 1), 0);
	struct tree_report rep;
	assert_int_equal(tree_verify(p, &rep), PM_ECORRUPT);
	assert_non_null(strstr(tree_errmsg(), "leak"));

	root->magic = 42;
	assert_int_equal(tree_check(p, NULL, NULL), PM_EFOREIGN);
	pm_close(p);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_insert_counts),
		cmocka_unit_test(test_tree_reopen),
		cmocka_unit_test(test_tree_degenerate_depth),
		cmocka_unit_test(test_tree_empty_pool),
		cmocka_unit_test(test_tree_check_finds_corruption),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
