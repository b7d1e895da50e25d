/*
 * seeded_bugs.h -- deliberate bugs for the crash harness self-test.
 *
 * A normal build has PM_SEEDED_BUG == 0 and none of these exist.  icount's
 * `make allcounts-selftest` builds the library once per bug with
 * -DPM_SEEDED_BUG=<n> and requires the crash scenarios to catch each one.
 */
#ifndef PM_SEEDED_BUGS_H
#define PM_SEEDED_BUGS_H

#ifndef PM_SEEDED_BUG
#define PM_SEEDED_BUG 0
#endif

#define PM_BUG_NO_LOG_FLUSH 1        /* redo entries not flushed before commit fence */
#define PM_BUG_NO_COMMIT_FENCE 2     /* apply starts without waiting for the log */
#define PM_BUG_APPLY_BEFORE_COMMIT 3 /* apply stores issued before the log is written */
#define PM_BUG_EARLY_INVALIDATE 4    /* log invalidated in the same fence window as the apply */
#define PM_BUG_CSUM_SKIPS_FIELD 5    /* redo checksum does not cover the entries' values */
#define PM_BUG_NO_APPLY_FLUSH 6      /* applied words never flushed */
#define PM_BUG_TX_NO_UNDO_FENCE 7    /* tx_add returns before the snapshot is durable */
#define PM_BUG_COUNT 7
/* Multi-threaded only (the single-threaded harness cannot see it; the
 * power-loss kill test in tests/test_kill.c must): lane_fence does not
 * re-flush other threads' pending log invalidations. */
#define PM_BUG_NO_CROSS_LANE_FLUSH 8

#define PM_BUG(n) (PM_SEEDED_BUG == (n))

#endif
