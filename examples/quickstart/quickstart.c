/*
 * quickstart.c -- the README's example: a persistent linked list of
 * strings.  Each run appends its arguments (one transaction per run) and
 * prints the whole list.
 *
 *   quickstart POOL [WORD...]
 */
#include <stdio.h>
#include <string.h>

#include "pmstore.h"

struct item {
	pm_off next;
	char text[56];
};

struct root {
	pm_off head;  /* newest first */
	uint64_t count;
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s POOL [WORD...]\n", argv[0]);
		return 2;
	}
	pm_pool *pool = pm_open(argv[1]);
	if (!pool && pm_last_error() == PM_ENOENT)
		pool = pm_create(argv[1], PM_MIN_POOL_SIZE, 0600);
	if (!pool) {
		fprintf(stderr, "%s\n", pm_errormsg());
		return 1;
	}
	struct root *rt = PM_D(pool, pm_root(pool, sizeof(struct root)), struct root);

	/* All words of this run, or none of them, even if the power fails. */
	if (tx_begin(pool) == 0) {
		tx_add(rt, sizeof(*rt));
		for (int i = 2; i < argc; i++) {
			pm_off o = tx_pzalloc(sizeof(struct item));
			if (!o)
				break; /* the transaction is aborted; tx_end says why */
			struct item *it = PM_D(pool, o, struct item);
			snprintf(it->text, sizeof(it->text), "%s", argv[i]);
			it->next = rt->head;
			rt->head = o;
			rt->count++;
		}
	}
	if (tx_end() != 0)
		fprintf(stderr, "not added: %s\n", pm_errormsg());

	printf("%llu items:", (unsigned long long)rt->count);
	for (pm_off o = rt->head; o; o = PM_D(pool, o, struct item)->next)
		printf(" %s", PM_D(pool, o, struct item)->text);
	printf("\n");
	pm_close(pool);
	return 0;
}
