/*
 * pool.h -- layer 6 (internal): what the pool layer (pool.c, check.c,
 * repair.c) and the tool see of everything below it.
 *
 * The lane layer (lane/lane.h) has the lanes and the argument for their
 * lazy invalidation; this header adds the pool-level declarations.
 */
#ifndef PM_POOL_H
#define PM_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "alloc/heap.h"
#include "flush/flush.h"
#include "log/log.h"
#include "pmstore.h"
#include "base/pool_format.h"



#include "alloc/palloc.h"
#include "base/error.h"
#include "lane/lane.h"
#include "tx/tx.h"

#include "pool/pool_internal.h"

#endif
