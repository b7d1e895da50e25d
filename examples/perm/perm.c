/*
 * perm.c -- PERM's example program (../shared/seeds/000: persistent
 * globals, a persistent heap, a backup file on other media, -r to restore
 * from it) written on pmstore.
 *
 *   perm POOL BACKUP STEPS        run STEPS steps; after each, the globals
 *                                 are saved (pm_perm_save, atomic) and every
 *                                 4th step a backup is taken
 *   perm -r POOL BACKUP STEPS     first restore POOL from BACKUP (replacing
 *                                 it), then go on from the restored state
 *
 * A "home" global points to a list of records in the pool; a global
 * counter says how many steps were done; both live in the PM_PERM section
 * and are registered with one call.  Prints the state it starts from and
 * the state it ends in.  Differences from PERM: saves are atomic (a crash
 * leaves all globals as of one save), backups are consistent snapshots
 * that appear whole or not at all, and restore verifies before it writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pmstore.h"

#define POOL_SIZE ((size_t)64 << 20)

struct record {
	pm_off next;
	uint64_t step;
	char text[48];
};

PM_PERM static pm_off home;      /* the list's head, in the pool */
PM_PERM static uint64_t steps;    /* steps done */
PM_PERM static uint64_t checksum; /* sum of the steps in the list */

static int fail(const char *what)
{
	fprintf(stderr, "perm: %s: %s\n", what, pm_errormsg());
	return 1;
}

/* The list as the globals say it is. */
static void show(pm_pool *p, const char *when)
{
	uint64_t n = 0, sum = 0;
	for (pm_off o = home; o; o = ((struct record *)pm_direct(p, o))->next) {
		n++;
		sum += ((struct record *)pm_direct(p, o))->step;
	}
	printf("%s: steps=%llu records=%llu sum=%llu checksum=%llu %s\n", when,
	       (unsigned long long)steps, (unsigned long long)n, (unsigned long long)sum,
	       (unsigned long long)checksum, sum == checksum && n == steps ? "consistent" : "INCONSISTENT");
}

int main(int argc, char **argv)
{
	int restore = argc > 1 && !strcmp(argv[1], "-r");
	if (argc != 4 + restore) {
		fprintf(stderr, "usage: perm [-r] POOL BACKUP STEPS\n");
		return 2;
	}
	const char *pool_path = argv[1 + restore], *backup = argv[2 + restore];
	long nsteps = atol(argv[3 + restore]);
	if (restore) {
		struct pm_backup_opts o = { .flags = PM_RESTORE_REPLACE };
		if (pm_restore(backup, pool_path, &o))
			return fail("pm_restore");
		printf("restored %s from %s\n", pool_path, backup);
	}
	pm_pool *p = access(pool_path, F_OK) == 0 ? pm_open(pool_path)
	                                          : pm_create(pool_path, POOL_SIZE, 0600);
	if (!p)
		return fail(pool_path);
	/* PERM's perm(PERM_START, PERM_SIZE): the saved globals come back */
	int r = pm_perm(p, "globals", PM_PERM_START, PM_PERM_SIZE);
	if (r < 0)
		return fail("pm_perm");
	show(p, r ? "start (globals restored)" : "start (new)");
	for (long i = 0; i < nsteps; i++) {
		/* a step: a new record at the head (the heap), then the globals */
		struct pm_action a[2];
		pm_off o = pm_reserve(p, &a[0], sizeof(struct record));
		if (!o)
			return fail("pm_reserve");
		struct record *rec = pm_direct(p, o);
		rec->next = home;
		rec->step = steps + 1;
		snprintf(rec->text, sizeof(rec->text), "step %llu", (unsigned long long)rec->step);
		if (pm_publish(p, a, 1))
			return fail("pm_publish");
		home = o;
		steps++;
		checksum += steps;
		/* PERM's mflush(): all globals, atomically.  A crash between the
		 * publish and here leaves the record unreferenced (a leak the
		 * next save does not see), never a global naming a lost object. */
		if (pm_perm_save(p))
			return fail("pm_perm_save");
		if (steps % 4 == 0) { /* PERM's backup(): a new file, then renamed */
			char tmp[4200];
			snprintf(tmp, sizeof(tmp), "%s.new", backup);
			unlink(tmp);
			if (pm_backup(p, tmp, NULL) || rename(tmp, backup))
				return fail("pm_backup");
			printf("backup at step %llu\n", (unsigned long long)steps);
		}
	}
	show(p, "end");
	pm_close(p);
	return 0;
}
