/*
 * palloc.h -- layer 4: atomic allocation's entry points for the layers
 * above (tx, pool): the publish of a redo log built in a lane, and
 * pmalloc / pfree with a lane the caller holds.  Protocol: palloc.c.
 */
#ifndef PM_PALLOC_H
#define PM_PALLOC_H

#include "base/types.h"

/* ---- publish (alloc/palloc.c) ------------------------------------------ */

/* Publish the redo log in ln->redo: write, fence, apply, fence, invalidate.
 * 0, or PM_EIO if a fence failed.  Its seq is ln->op_seq if the caller
 * took one before flushing object contents (lane_take_seq), else new. */
int palloc_publish_redo(struct lane *ln);
/* pmalloc / pfree with a lane the caller already holds (tx uses these). */
int palloc_alloc_in_lane(struct lane *ln, uint64_t *dest, size_t size, int zero);
int palloc_free_in_lane(struct lane *ln, uint64_t *dest);
/* dest is an aligned word in the heap or root descriptor (not header/lanes). */
int palloc_dest_ok(struct pm_pool *p, const void *dest);

#endif
