/*
 * tx.c -- layer 3: transactions (undo log).  Placeholder until issue 4
 * lands: the entry points exist and refuse with PM_ETX; recovery of an
 * undo log is a no-op because nothing writes one yet.
 */
#include "pool/pool.h"

int tx_recover_lane(struct pm_pool *p, struct lane *ln) { return 0; }
void tx_discard_lane(struct pm_pool *p, struct lane *ln) {}
void tx_pool_closing(struct pm_pool *p) {}
int tx_after_boot(struct pm_pool *p) { return 0; }
PM_API int tx_begin(pm_pool *pool) { return PM_ERR(PM_ETX, "transactions not implemented yet"); }
PM_API int tx_add(void *ptr, size_t len) { return PM_ERR(PM_ETX, "no transaction"); }
PM_API pm_off tx_pmalloc(size_t size) { PM_ERR(PM_ETX, "no transaction"); return 0; }
PM_API pm_off tx_pzalloc(size_t size) { PM_ERR(PM_ETX, "no transaction"); return 0; }
PM_API int tx_pfree(pm_off off) { return PM_ERR(PM_ETX, "no transaction"); }
PM_API int tx_commit(void) { return PM_ERR(PM_ETX, "no transaction"); }
PM_API void tx_abort(int err) {}
PM_API int tx_end(void) { return PM_ERR(PM_ETX, "no transaction"); }
PM_API enum tx_stage tx_stage(void) { return TX_STAGE_NONE; }
PM_API pm_pool *tx_pool(void) { return NULL; }
