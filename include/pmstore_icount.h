/*
 * pmstore_icount.h -- crash a snippet at every instruction boundary, under
 * a power-loss model, and check every recovered image automatically.
 * Installed with libpmstore-icount (`pkg-config --cflags --libs
 * pmstore-icount`): the same harness that checks pmstore itself, for
 * programs' own persistent code.  Tutorial: docs/ICOUNT.md.
 *
 * A program defines its scenarios and calls icount_main:
 *
 *	static const struct icount_scenario push = { .name = "push", .setup = s,
 *		.snippet = push_one, .digest = list_state };
 *	static const struct icount_scenario *const all[] = { &push };
 *	int main(int argc, char **argv) { return icount_main(argc, argv, all, 1); }
 *
 * `./mytest` runs every scenario under every tier and exits non-zero if any
 * crash image recovers to a state not allowed; each failure names the
 * instruction (function and source line: link with -no-pie, as the .pc
 * file does), the tier, the words that differ as pool offsets, a saved
 * image and a replay command.  Stability: the fields and calls below are
 * the interface; new optional fields may be added at the end.
 *
 * A scenario is a setup (not traced), a snippet (traced: every instruction
 * boundary is a crash point) and a way to read the logical state of a pool.
 * The harness checks every distinct crash image: it must open (recovery),
 * pass pm_check, satisfy the scenario's invariant, and be in a state the
 * scenario allows AT THAT CRASH POINT: a crash before the k-th
 * icount_checkpoint() of the snippet must recover to the state of
 * checkpoint k-1 or k (checkpoint 0 = before the snippet, the last one =
 * after it).  Recovery is then crashed itself (at each of its fences, and
 * re-opened right after open: the same state is required) and a short
 * follow-on sequence runs on the recovered pool (close, power loss,
 * reopen: still consistent).  See icount/README.md for the model and the
 * tiers.
 */
#ifndef PMSTORE_ICOUNT_H
#define PMSTORE_ICOUNT_H

#include <stddef.h>
#include <stdint.h>

#include <pmstore.h>

struct icount_scenario {
	const char *name;
	const char *what; /* one line for the table */
	size_t pool_size; /* 0 = PM_MIN_POOL_SIZE */
	unsigned nlanes;  /* 0 = 4 (opens are cheaper than with the default 64) */
	/* Build the starting state on a fresh pool (not traced); the pool is
	 * closed after it. */
	void (*setup)(pm_pool *pool);
	/* Optional: run on the pool the traced child opened, before the
	 * snippet, WITHOUT closing it: the snippet starts from the lazy state
	 * it leaves (a fast commit's lazy active = 0, a pending invalidation).
	 * Its instructions are single-stepped too (its stores and flushes are
	 * part of the model) but are not crash points. */
	void (*prelude)(pm_pool *pool);
	/*
	 * Optional: after setup, run this with a flush table that kills the
	 * process inside its crash_fence-th fence counted from the op's call
	 * of icount_arm_kill() (every store executed so far stays in the file,
	 * none after).  The file then has work for recovery,
	 * and the snippet is usually NULL: the traced code is pm_open itself.
	 */
	void (*crash_op)(pm_pool *pool);
	int crash_fence;
	/* crash_op's crash is a power loss: only what was flushed and then
	 * fenced (by earlier fences than the killing one) stays in the file;
	 * 0 = a process kill (every executed store stays). */
	int crash_power;
	/* The code under test, called between the harness's start and stop
	 * markers on the pool opened by the harness.  NULL: the snippet is
	 * pm_open() of the pool (recovery), traced. */
	void (*snippet)(pm_pool *pool);
	/* The logical state of a recovered pool: equal states, equal digests. */
	uint64_t (*digest)(pm_pool *pool);
	/* Extra invariant of a recovered pool: 0, or nonzero with why[]. */
	int (*check)(pm_pool *pool, char *why, size_t len);
	/* Only the state after the snippet is acceptable (recovery scenarios:
	 * the work left behind was committed). */
	int after_only;
	/* Nonzero: the pool is growable up to this many bytes (pool_size is
	 * its initial size).  The harness makes the file max_size long before
	 * the trace (a growable file may be longer than its heap), so images
	 * are all of one length: growth's file extension is not modelled
	 * (tests/test_regress.c models it), its header and count are. */
	size_t max_size;
};

/* Run the scenarios named on the command line (all by default); see
 * icount_main's --help.  Returns the process exit status. */
int icount_main(int argc, char **argv, const struct icount_scenario *const *list,
                size_t n);

/* Inside a snippet, between two operations: the operation before it has
 * completed.  A crash after this call must recover to this state or a
 * later one (the next checkpoint's, or the end's); a crash before it, to
 * this state or the previous checkpoint's. */
void icount_checkpoint(pm_pool *pool);

/* Objects the harness's follow-on sequence allocated in the pool being
 * checked (0 before it): a check that counts objects subtracts them. */
extern uint64_t icount_harness_objects;

/* In a crash_op: start counting fences towards crash_fence now. */
void icount_arm_kill(void);

/* Helpers for digests. */
static inline uint64_t icount_mix(uint64_t h, uint64_t v)
{
	h ^= v + UINT64_C(0x9E3779B97F4A7C15) + (h << 6) + (h >> 2);
	return h * UINT64_C(0xff51afd7ed558ccd);
}

#endif
