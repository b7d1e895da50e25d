/*
 * consumer.c -- an outside program using an installed libpmstore the way a
 * user would (built by cmake/test-install.sh through pkg-config, through
 * find_package and through add_subdirectory, shared and static).
 *
 * Checks: the header and the library agree on the version; a pool can be
 * created, an object allocated atomically and changed in a transaction,
 * and after close/reopen it is there and pm_check finds the pool
 * consistent.  Cannot catch: anything a single-threaded, crash-free run
 * does not exercise (the crash checkers of tests/ and icount/ do that).
 *
 *   consumer DIR     (DIR: an existing directory for the pool file)
 */
#include <stdio.h>
#include <string.h>

#include <pmstore.h>

#define STR_(x) #x
#define STR(x) STR_(x)

struct root {
	pm_off obj;
	uint64_t n;
};

static int die(const char *what)
{
	fprintf(stderr, "consumer: %s: %s\n", what, pm_errormsg());
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: consumer DIR\n");
		return 2;
	}
	const char *want = STR(PMSTORE_VERSION_MAJOR) "." STR(PMSTORE_VERSION_MINOR) "." STR(
		PMSTORE_VERSION_PATCH);
	if (strcmp(pmstore_version(), want) != 0) {
		fprintf(stderr, "consumer: library %s, header %s\n", pmstore_version(), want);
		return 1;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/consumer.pool", argv[1]);
	pm_pool *p = pm_create(path, PM_MIN_POOL_SIZE, 0600);
	if (!p)
		return die("pm_create");
	struct root *rt = PM_D(p, pm_root(p, sizeof(struct root)), struct root);
	if (!rt || pzalloc(p, &rt->obj, 100) != 0)
		return die("allocate");
	if (tx_begin(p) == 0) {
		tx_add(rt, sizeof(*rt));
		rt->n = 42;
		char *o = PM_D(p, rt->obj, char);
		tx_add(o, 6);
		memcpy(o, "hello", 6);
	}
	if (tx_end() != 0)
		return die("transaction");
	pm_close(p);
	p = pm_open(path);
	if (!p)
		return die("pm_open");
	rt = PM_D(p, pm_root(p, sizeof(struct root)), struct root);
	struct pm_check_report rep;
	if (pm_check(p, &rep) != 0 || rep.objects != 2)
		return die("pm_check");
	if (rt->n != 42 || strcmp(PM_D(p, rt->obj, char), "hello") != 0) {
		fprintf(stderr, "consumer: the transaction's stores are not there\n");
		return 1;
	}
	pm_close(p);
	printf("consumer: pmstore %s ok\n", pmstore_version());
	return 0;
}
