/*
 * seeded_bugs.h -- layer 0: deliberate bugs for the crash harness self-test.
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
/* Bugs of the kinds the crash-consistency review found (issue 11); the
 * regression tests (tests/test_regress.c) and the crash checkers must
 * catch each (tests/selftest_bugs.cmake runs them). */
#define PM_BUG_NO_INFLIGHT_WAIT 9   /* A4: commit fences do not wait for in-flight lanes */
#define PM_BUG_REPLAY_LANE_ORDER 10 /* C1-C3: recovery replays in lane order, not seq order */
#define PM_BUG_COVER_PRE_APPLY 11   /* A2: covers hash the object before the apply */
#define PM_BUG_EXACT_FIT_NO_HEADER 12 /* A1: an exact-fit extent keeps its stale header */
#define PM_BUG_FIRST_GAP_ONLY 13    /* A3: undo start placed by the first gap only */
#define PM_BUG_ABORT_EARLY_DEACTIVATE 14 /* abort's active = 0 before the restore is durable */
#define PM_BUG_NO_WATERMARK 15      /* recovery voids replayed logs one by one, unordered */
#define PM_BUG_DOUBLE_FREE_OK 16    /* B2: a second free of one object is accepted */
/* Holes mutation testing found in every check (tools/mutation): */
#define PM_BUG_RUN_HEADER_EARLY 17  /* no fence between a new run's zeroed bitmap and its header */
#define PM_BUG_PERM_IMAGES_UNLOGGED 41 /* pm_perm_save overwrites saved images without undo */
#define PM_BUG_RANGES_FIRST_ONLY 40 /* tx_add_ranges: T8's batch from the first range only */
#define PM_BUG_KEEP_UNCOMMITTED_LOG 18 /* recovery leaves an uncommitted tx's commit log valid */
/* Big transactions (tx.c commit_big, issue 12): */
#define PM_BUG_BIG_RETIRE_EARLY 19  /* active = 0 applied before the actions are durable */
#define PM_BUG_BIG_COMMIT_EARLY 20  /* commit record in the data's fence window */
#define PM_BUG_BIG_UNLINK_EARLY 21  /* chain unlinked in active = 0's fence window */
#define PM_BUG_REPLAY_RETIRE_LOG 22 /* recovery applies an active lane's retire log */

/* Issue 12's calls (numbers from 31 so other work's bugs can take 19..30);
 * tests/test_crash_model.c's `api` case must catch each: */
#define PM_BUG_REALLOC_NO_COVER 31  /* pm_realloc: copy not flushed, not covered */
#define PM_BUG_REALLOC_TWO_PUBLISHES 32 /* pm_realloc: old object freed by a second publish */
#define PM_BUG_ROOT_GROW_NO_COVER 33 /* pm_root in place: tail zeroes not flushed/covered */
#define PM_BUG_LOCK_ONE_RUN 34      /* persistent locks: every open has the same run id */

/* Multi-chunk runs (issue 12, big classes): */
#define PM_BUG_RUN_BIT_IN_BLOCK_CHUNK 23 /* a block's bit addressed in its own chunk, not the run's first */

/* Growable pools (issue 19, pool.c grow_locked): */
#define PM_BUG_GROW_COUNT_FIRST 45  /* heap_chunks published before the new span's FREE header */
#define PM_BUG_GROW_NO_FSYNC 46     /* the extended file's length not synced before the count */
/* Damaged pools (issue 13; tests/test_damaged.c): */
#define PM_BUG_RETIRE_PAST_CAP 47   /* retiring a lane at the generation cap goes past it */
#define PM_BUG_NO_SEQ_RENUMBER 48   /* a watermark near 2^56 is kept: the session's seqs wrap */
#define PM_BUG_RENUMBER_SKIP_VOID 49 /* R5 flushes only the logs memory still holds: R4's replayed ones stay valid on media */

/* Group commit on the msync path (src/flush/flush.c); the trace checks of
 * tests/test_flush_group.c must catch each (tests/selftest_bugs.cmake): */
#define PM_BUG_GC_DONE_TOO_MANY 50  /* a leader also completes waiters that registered during its sync */
#define PM_BUG_GC_LEADER_OWN_RANGES 51 /* a leader msyncs only its own ranges, not its followers' */
#define PM_BUG_GC_ERROR_LEADER_ONLY 52 /* a failed batch's error reaches its leader only */

/* WAL mode (src/flush/wal.c); tests/test_wal.c must catch each: */
#define PM_BUG_WAL_RESYNC_ON_MAGIC 53 /* replay skips an unreadable frame, resumes at the next magic */
#define PM_BUG_WAL_NO_RELEASE_SYNC 54 /* an operation's end does not sync its frames */
#define PM_BUG_RESTORE_KEEPS_LOG 55   /* pm_restore leaves the replaced pool's log beside the restored one */

#define PM_BUG(n) (PM_SEEDED_BUG == (n))

#endif
