/*
 * undo.h -- layer 5 (tx-internal): reading a lane's undo log, shared by the
 * transaction code (abort) and recovery (undo.c).  Format: tx_format.h.
 */
#ifndef PM_TX_UNDO_H
#define PM_TX_UNDO_H

#include "alloc/heap.h"
#include "alloc/palloc.h"
#include "base/error.h"
#include "lane/lane.h"
#include "log/log.h"
#include "tx/tx.h"
#include "tx/tx_format.h"

/* Where undo entries are: the lane's inline area or an overflow block. */
struct undo_area {
	char *start;    /* first entry */
	uint64_t cap;   /* bytes for entries */
	uint64_t *link; /* the word that links the following block */
};

struct undo_area undo_area_inline(struct lane_layout *pl);
/* The block linked by *link, if it looks like the idx-th block of a chain
 * (F3, F6): 1 and *a, else 0. */
int undo_area_follow(struct pm_pool *p, const uint64_t *link, unsigned idx,
                     struct undo_area *a);

/* The action records a walk found (tx_format.h F7), in order. */
struct undo_acts {
	const struct undo_entry *rec[UNDO_MAX_ACT_RECORDS];
	unsigned nrec;
	uint64_t nacts;
};

enum walk_op {
	WALK_FIND,    /* only find the commit block */
	WALK_RESTORE, /* copy every entry's old contents back, flushed */
	WALK_FORWARD, /* copy the new contents (img, a commit block's data) */
};

/*
 * Walk the entries of generation `gen` from undo.start with the writer's
 * rule (F4); the first entry that does not count ends the log.  Returns the
 * commit block there if it is a valid one for gen, else NULL.  Flushes,
 * never fences.
 */
const struct undo_entry *undo_walk(struct pm_pool *p, struct lane *ln, uint64_t gen,
                                   enum walk_op op, uint8_t *img, uint64_t img_len);

#endif
