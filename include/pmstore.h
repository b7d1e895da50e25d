/*
 * pmstore.h -- the one public header of libpmstore.
 *
 * pmstore keeps objects in a memory-mapped pool file crash-consistent: on
 * persistent memory (DAX, cache-flush path) and on any ordinary file (msync
 * path).  Objects are named by pm_off, an 8-byte offset from the pool base
 * (0 = null), so a pool can be mapped anywhere.
 *
 * Errors: functions returning int return 0 or a negative PM_E* code;
 * functions returning a pointer or an offset return NULL / 0 and set errno.
 * In both cases pm_errormsg() holds a thread-local message naming what went
 * wrong and where, and pm_last_error() the PM_E* code.
 */
#ifndef PMSTORE_H
#define PMSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PM_API __attribute__((visibility("default")))
#else
#define PM_API
#endif

#define PMSTORE_VERSION_MAJOR 0
#define PMSTORE_VERSION_MINOR 1
#define PMSTORE_VERSION_PATCH 0
/*
 * The library's version as "MAJOR.MINOR.PATCH" -- of the libpmstore that is
 * running, which may be newer than the header a program was compiled with.
 */
PM_API const char *pmstore_version(void);

/* ---- errors ------------------------------------------------------------ */

enum pm_error {
	PM_OK = 0,
	PM_EINVAL = -1,   /* bad argument (size 0, pointer outside the pool, ...) */
	PM_ENOSPC = -2,   /* the pool has no room for the request */
	PM_ENOMEM = -3,   /* DRAM allocation failed */
	PM_ESYS = -4,     /* a system call failed; errno has the cause */
	PM_EEXIST = -5,   /* pm_create: the file already exists */
	PM_ENOENT = -6,   /* pm_open: no such file */
	PM_EFOREIGN = -7, /* not a pmstore pool (wrong magic) */
	PM_EVERSION = -8, /* a pmstore pool of an unsupported layout version */
	PM_ECORRUPT = -9, /* header checksum, size or metadata inconsistent */
	PM_EBUSY = -10,   /* another process has the pool open */
	PM_ETOOSMALL = -11, /* requested pool size below PM_MIN_POOL_SIZE */
	PM_ETX = -12,     /* transaction call in the wrong stage / outside tx */
	PM_ECANCELED = -13, /* the transaction was aborted */
	PM_ERANGE = -14,  /* address range not inside the pool */
	PM_ENOLOG = -15,  /* more actions than one publish can carry */
	PM_EFORKED = -16, /* the handle was inherited across fork(): read only */
	PM_EIO = -17,     /* a fence failed (msync error): the pool is failed */
};

PM_API const char *pm_strerror(int err);
/* Thread-local description of the last error (never NULL). */
PM_API const char *pm_errormsg(void);
/* The PM_E* code of the last error in this thread. */
PM_API int pm_last_error(void);

/* ---- pools ------------------------------------------------------------- */

typedef uint64_t pm_off;
typedef struct pm_pool pm_pool;

/* The smallest pool pm_create makes (and pm_create_ex with the default
 * lanes).  pm_create_ex with opts->nlanes set makes pools down to what its
 * lanes, the chunk table and one 256 KiB chunk need (e.g. 4 lanes: 332 KiB). */
#define PM_MIN_POOL_SIZE ((size_t)8 << 20) /* 8 MiB */
#define PM_MAX_ALLOC_SIZE ((size_t)1 << 40)

struct pm_create_opts {
	unsigned nlanes; /* concurrent operations; 0 = default (64) */
	unsigned flags;  /* PM_WAL or PM_NO_WAL (below), or 0 */
	/* Growable pools (docs/DESIGN.md §3a): a maximum above `size` makes
	 * the pool start at `size` bytes and grow, when the heap runs out or
	 * by pm_grow, up to max_size (at most 64 TiB), at the same address.
	 * 0 or `size`: a fixed-size pool. */
	uint64_t max_size;
};

/*
 * Create a new pool file of `size` bytes (mode 0600 when mode is 0).  The
 * file must not exist.  The file appears under `path` only once it is
 * complete: a crash during create leaves no pool that opens as valid.
 */
PM_API pm_pool *pm_create(const char *path, size_t size, mode_t mode);
PM_API pm_pool *pm_create_ex(const char *path, size_t size, mode_t mode,
                             const struct pm_create_opts *opts);
/* Open an existing pool (exclusive lock) and run recovery. */
PM_API pm_pool *pm_open(const char *path);
/*
 * How a pool on an ordinary file is kept durable (docs/PERFORMANCE.md,
 * "Durability modes on files"), for pm_open_ex and pm_create_opts.flags.
 * Neither flag: the environment decides (PMSTORE_WAL=1 asks for WAL mode).
 * Both promise the same: every operation durable when it returns.
 *   PM_WAL     WAL mode: the pool is mapped privately and each operation's
 *              changes go to <pool>.wal, one fdatasync per operation
 *              whatever its fences.  Off where cache flushes are forced
 *              (PMEM_IS_PMEM_FORCE=1) or disabled (PMSTORE_NO_FLUSH=1).
 *   PM_NO_WAL  the msync path on files (a sync per fence), cache flushes
 *              on persistent memory, whatever PMSTORE_WAL says.
 * A pool opened either way first applies a <pool>.wal it finds (a WAL-mode
 * opener that crashed), so the modes can alternate between opens.
 */
#define PM_WAL 0x1u
#define PM_NO_WAL 0x2u
PM_API pm_pool *pm_open_ex(const char *path, unsigned flags);
/* Fence everything outstanding, unmap, unlock.  NULL is ignored. */
PM_API void pm_close(pm_pool *pool);

/* Base address of the mapping and the pool's size in bytes (of a growable
 * pool: its size now; the base never changes). */
PM_API void *pm_base(const pm_pool *pool);
PM_API size_t pm_size(const pm_pool *pool);
/* The most a pool may grow to (pm_size for a fixed-size pool). */
PM_API size_t pm_max_size(const pm_pool *pool);
/*
 * Grow a growable pool to at least `size` bytes now (allocations grow it on
 * their own when the heap runs out, in steps of a quarter of the heap, 8 to
 * 256 MiB).  Crash-atomic: a crash leaves the old size or the new one.  0;
 * PM_EINVAL for a fixed-size pool or a size past the maximum; PM_ENOSPC
 * when the file system is full (the pool is unchanged and usable).
 */
PM_API int pm_grow(pm_pool *pool, size_t size);
/* Nonzero when the pool is on the cache-flush path (pmem or forced). */
PM_API int pm_is_pmem(const pm_pool *pool);
/* How this open keeps the pool durable: "pmem" (cache flushes), "msync",
 * "wal" (WAL mode, pm_open_ex) or "none" (PMSTORE_NO_FLUSH=1). */
PM_API const char *pm_durability(const pm_pool *pool);

/* ---- relative pointers ------------------------------------------------- */

/* Offset -> address; 0 -> NULL.  No bounds check on the fast path. */
static inline void *pm_direct(const pm_pool *pool, pm_off off);
/* Address -> offset; NULL -> 0.  ptr must lie inside the pool. */
static inline pm_off pm_offset(const pm_pool *pool, const void *ptr);
/* Checked variants: 0 / NULL (and PM_ERANGE) when out of the pool. */
PM_API void *pm_direct_checked(const pm_pool *pool, pm_off off, size_t len);
PM_API pm_off pm_offset_checked(const pm_pool *pool, const void *ptr);

/* Typed access: PM_D(pool, off, struct node) -> (struct node *) */
#define PM_D(pool, off, type) ((type *)pm_direct((pool), (off)))

/*
 * Typed offsets (cf. PMDK's TOID / D_RW): an 8-byte pm_off that carries its
 * type, so using one type's offset as another's is a compile-time error.
 *
 *   PM_TOID_DECLARE(struct node);          once, before use
 *   struct node { PM_TOID(struct node) next; int v; };
 *   PM_TOID(struct node) n = PM_TOID_NULL(struct node);
 *   PM_ZNEW(pool, n);                      pzalloc(sizeof(struct node)) into n
 *   PM_D_RW(pool, n)->v = 1;               (struct node *)
 *   PM_D_RO(pool, n)->v;                   (const struct node *)
 *   PM_FREE(pool, n);
 *
 * Errors the compiler reports: assigning or passing a PM_TOID(struct a) as
 * a PM_TOID(struct b) or as a pm_off; a member of the wrong type through
 * PM_D_RW; PM_TOID_EQUALS of two types; a raw integer as initializer; a
 * PM_D_RW result stored in another type's pointer (a warning, an error
 * with -Werror or from GCC 14 on).  The explicit ways in and out are
 * PM_TOID_FROM_OFF(type, off) and PM_TOID_OFF(o).  The layout is one
 * pm_off (8 bytes, the same on media as a plain pm_off), so a field may
 * change from pm_off to PM_TOID without changing the pool.  Needs GNU C
 * (gcc, clang: __typeof__); C only.  The union tag for PM_TOID(struct x)
 * is `union x_pmtoid` (for a typedef name t: `union pm_toid_t_pmtoid`),
 * never PMDK's.
 */
#if defined(__GNUC__) && !defined(__cplusplus)
#define pm_toid_struct
#define pm_toid_union
#define PM_TOID(t) union pm_toid_##t##_pmtoid
#define PM_TOID_DECLARE(t) \
	PM_TOID(t) { t *type_; pm_off off; }
#define PM_TOID_FROM_OFF(t, o) ((PM_TOID(t)){.off = (o)})
#define PM_TOID_NULL(t) PM_TOID_FROM_OFF(t, 0)
#define PM_TOID_OFF(o) ((o).off)
#define PM_TOID_IS_NULL(o) ((o).off == 0)
#define PM_TOID_TYPE_CHECK_(a, b) \
	(0 * sizeof(struct { int pm_x_; _Static_assert(__builtin_types_compatible_p( \
	        __typeof__((a).type_), __typeof__((b).type_)), "pmstore: PM_TOID of different types"); }))
#define PM_TOID_EQUALS(a, b) ((a).off == (b).off + PM_TOID_TYPE_CHECK_(a, b))
#define PM_D_RW(pool, o) ((__typeof__((o).type_))pm_direct((pool), (o).off))
#define PM_D_RO(pool, o) ((const __typeof__(*(o).type_) *)pm_direct((pool), (o).off))
/* Typed root, allocations (sized by the declared type) and frees. */
#define PM_ROOT(pool, t) PM_TOID_FROM_OFF(t, pm_root((pool), sizeof(t)))
#define PM_NEW(pool, o) pmalloc((pool), &(o).off, sizeof(*(o).type_))
#define PM_ZNEW(pool, o) pzalloc((pool), &(o).off, sizeof(*(o).type_))
#define PM_FREE(pool, o) pfree((pool), &(o).off)
#define PM_TX_NEW(t) PM_TOID_FROM_OFF(t, tx_pmalloc(sizeof(t)))
#define PM_TX_ZNEW(t) PM_TOID_FROM_OFF(t, tx_pzalloc(sizeof(t)))
#define PM_TX_FREE(o) tx_pfree((o).off)
/* tx_add of the whole object / one field of it. */
#define PM_TX_ADD(pool, o) tx_add(PM_D_RW(pool, o), sizeof(*(o).type_))
#define PM_TX_ADD_FIELD(pool, o, field) \
	tx_add(&PM_D_RW(pool, o)->field, sizeof(PM_D_RO(pool, o)->field))
#define PM_TX_SET_FIELD(pool, o, field, value) PM_TX_SET(PM_D_RW(pool, o)->field, value)
#endif

/*
 * The root object: the pool's persistent globals, allocated zeroed on the
 * first call.  A later call with a larger size grows it, atomically: the
 * old contents are kept and the new bytes are zero; after a crash the root
 * has the old size or the new one, nothing between.  Growing may MOVE the
 * root (the offset returned changes; the old one is freed): no other
 * thread may use the root meanwhile, and a move is refused (PM_ETX) inside
 * the calling thread's transaction.  2 fences when it grows, 0 otherwise.
 * Returns its offset, or 0 (errno, pm_last_error) on failure.
 */
PM_API pm_off pm_root(pm_pool *pool, size_t size);
PM_API size_t pm_root_size(pm_pool *pool);

/* ---- atomic allocation ------------------------------------------------- */

/*
 * pmalloc: allocate `size` bytes and store the offset in *dest, atomically:
 * after a crash at any instruction, either the object is allocated and
 * *dest holds its offset, or neither happened.  `dest` must lie inside the
 * pool (it may be the field of another object or of the root).  Contents of
 * the new object are undefined for pmalloc, zero for pzalloc.
 */
PM_API int pmalloc(pm_pool *pool, pm_off *dest, size_t size);
PM_API int pzalloc(pm_pool *pool, pm_off *dest, size_t size);
/* Free the object *dest names and set *dest = 0, atomically. 0 is a no-op. */
PM_API int pfree(pm_pool *pool, pm_off *dest);
/* Usable size of an allocated object (>= the size asked for). */
PM_API size_t pm_usable_size(pm_pool *pool, pm_off off);
/*
 * pm_realloc: resize the object *dest names, atomically like pmalloc: after
 * a crash at any instruction, either *dest still names the old object
 * (unchanged, still allocated) or it names a new one holding the old
 * object's first min(old usable size, size) bytes and the old one is freed
 * -- never both, never neither.  Bytes past the old size are undefined.
 * When size fits the object's usable size and is more than half of it,
 * nothing moves and nothing is written.  *dest == 0: pmalloc; size == 0:
 * pfree.  dest must not lie inside the object.  2 fences (as pmalloc).
 */
PM_API int pm_realloc(pm_pool *pool, pm_off *dest, size_t size);
/* Copy the NUL-terminated s into a new object and store its offset in
 * *dest, atomically (the object and its bytes exist iff *dest names it). */
PM_API int pm_strdup(pm_pool *pool, pm_off *dest, const char *s);

/*
 * Actions: reserve -> publish.  Reserve objects in DRAM only, queue 8-byte
 * stores and frees, then publish them all in one atomic redo-log commit, or
 * cancel (reservations return to the free pool; nothing reaches media).
 */
struct pm_action {
	uint64_t opaque_[4];
};
#define PM_MAX_ACTIONS 64 /* per publish */

PM_API pm_off pm_reserve(pm_pool *pool, struct pm_action *act, size_t size);
PM_API void pm_set_value(pm_pool *pool, struct pm_action *act,
                         uint64_t *dest, uint64_t value);
PM_API int pm_defer_free(pm_pool *pool, struct pm_action *act, pm_off off);
/*
 * pm_publish makes the contents of the reserved objects durable together
 * with the pointers to them: fill a reserved object (its first `size`
 * bytes), then publish; no pm_persist needed.  (The publish flushes them
 * and its log's checksum covers them.)  pzalloc's zeroes likewise.
 */
PM_API int pm_publish(pm_pool *pool, struct pm_action *acts, size_t n);
PM_API void pm_cancel(pm_pool *pool, struct pm_action *acts, size_t n);

/* ---- persistence primitives for user data ----------------------------- */

/* Make [addr, addr+len) durable: flush + fence. */
/* 0, or PM_EIO if the fence failed (the handle is failed from then on). */
PM_API int pm_persist(pm_pool *pool, const void *addr, size_t len);
/* Start write-back without waiting; pm_drain() waits for this thread's. */
PM_API void pm_flush(pm_pool *pool, const void *addr, size_t len);
PM_API int pm_drain(pm_pool *pool);
PM_API void *pm_memcpy_persist(pm_pool *pool, void *dst, const void *src,
                               size_t len);
PM_API void *pm_memset_persist(pm_pool *pool, void *dst, int c, size_t len);

/* ---- transactions (per thread, flat nesting) --------------------------- */

enum pm_tx_stage {
	PM_TX_STAGE_NONE = 0, /* no transaction in this thread */
	PM_TX_STAGE_WORK,     /* inside tx_begin .. tx_commit/tx_abort */
	PM_TX_STAGE_ONCOMMIT, /* committed, tx_end not yet called */
	PM_TX_STAGE_ONABORT,  /* aborted, tx_end not yet called */
};

PM_API int tx_begin(pm_pool *pool);
/* Snapshot [ptr, ptr+len) before modifying it (no-op if already covered). */
PM_API int tx_add(void *ptr, size_t len);
/* Snapshot several ranges at once, under one fence whatever their number
 * (tx_add of each costs a fence apiece).  Same rules as tx_add for each
 * range; ranges may overlap each other or earlier ones.  On an error the
 * transaction is aborted, as with tx_add. */
struct pm_range {
	void *ptr;
	size_t len;
};
PM_API int tx_add_ranges(const struct pm_range *r, size_t n);
/* Allocate inside the transaction; the object exists only if it commits. */
PM_API pm_off tx_pmalloc(size_t size);
PM_API pm_off tx_pzalloc(size_t size);
/* Free at commit; nothing happens if the transaction aborts. */
PM_API int tx_pfree(pm_off off);
/*
 * tx_prealloc: the transactional pm_realloc.  Returns the offset of an
 * object of at least `size` bytes holding the first min(old usable, size)
 * bytes of `off`; if it moved, the new object exists and the old one is
 * freed only if the transaction commits (store the result yourself, after
 * tx_add of the word that holds it).  off == 0: tx_pmalloc; size == 0:
 * tx_pfree, returns 0.  0 on failure (the transaction is aborted).
 */
PM_API pm_off tx_prealloc(pm_off off, size_t size);
/* tx_pmalloc + copy of the NUL-terminated s; 0 on failure (aborted). */
PM_API pm_off tx_strdup(const char *s);
/*
 * Snapshot and write in one call: tx_add(dst, len), then the copy / fill.
 * 0, or tx_add's error (the transaction is aborted, dst untouched).  The
 * same fences as tx_add: one for a range not yet covered, none for one
 * already added or inside an object this transaction allocated (which
 * never needs a snapshot: tx_pmalloc'ed bytes are published by the commit
 * as a whole).  src may overlap dst.
 */
PM_API int tx_memcpy(void *dst, const void *src, size_t len);
PM_API int tx_memset(void *dst, int c, size_t len);
/*
 * PM_TX_SET(lvalue, value): tx_add(&lvalue, sizeof lvalue), then
 * lvalue = value; 0 or the error (aborted).  lvalue is evaluated twice.
 * With typed offsets: PM_TX_SET_FIELD(pool, o, field, value).
 */
#define PM_TX_SET(lvalue, value) \
	(tx_add(&(lvalue), sizeof(lvalue)) ? pm_last_error() : ((lvalue) = (value), 0))
/* Outermost commit makes everything durable; inner commits just return. */
PM_API int tx_commit(void);
/* Roll back everything (all nesting levels); err is what tx_end returns. */
PM_API void tx_abort(int err);
/* Leave one nesting level; returns 0 or the abort's error. */
PM_API int tx_end(void);
PM_API enum pm_tx_stage tx_stage(void);
PM_API pm_pool *tx_pool(void);
/*
 * Run fn(pool, arg) as one transaction (joining an enclosing one): commit
 * if fn returns 0, abort with fn's return value otherwise.  Returns 0 or
 * the error the transaction ended with.  The safe shape for the usual case:
 * begin and end always pair, whatever fn does.
 */
PM_API int tx_run(pm_pool *pool, int (*fn)(pm_pool *pool, void *arg), void *arg);

/*
 * PM_TX(pool, rc) { body }: a transaction as a block whose end cannot be
 * skipped.  tx_begin(pool); the body runs if it succeeded; tx_end() runs
 * however the block is left -- the end of the body, `continue`, `break`,
 * `return`, `goto` out of it -- and stores its result in the int lvalue
 * rc (0 = committed).  A body left early commits what it did, as tx_end
 * does (call tx_abort(err) before leaving to roll back); after a `return`
 * the result is gone with the frame, so return only after checking, or
 * use tx_run.  Built on GCC/Clang's cleanup attribute (a scope guard), so
 * it is only defined for GNU C/C++.  NOT covered: longjmp out of the body
 * (skips the cleanup, as it skips C++ destructors) and a thread killed
 * inside it.  Nests (flat, like tx_begin).
 *
 *   int rc;
 *   PM_TX(pool, rc) {
 *           if (PM_TX_SET(rt->count, rt->count + 1))
 *                   break;                  (aborted already: rc says why)
 *           if (!(n = tx_pzalloc(64)))
 *                   break;
 *   }
 *   if (rc) ...
 */
#if defined(__GNUC__)
struct pm_tx_guard_ {
	int *rc;
	int once, ok;
};
static inline struct pm_tx_guard_ pm_tx_guard_begin_(pm_pool *pool, int *rc)
{
	struct pm_tx_guard_ g = {rc, 1, tx_begin(pool) == 0};
	return g;
}
static inline void pm_tx_guard_end_(struct pm_tx_guard_ *g)
{
	int r = tx_end();
	if (g->rc)
		*g->rc = r;
}
#define PM_TX_CAT2_(a, b) a##b
#define PM_TX_CAT_(a, b) PM_TX_CAT2_(a, b)
#define PM_TX_G_ PM_TX_CAT_(pm_tx_guard_, __LINE__)
#define PM_TX(pool, rc)                                                              \
	for (struct pm_tx_guard_ PM_TX_G_ __attribute__((cleanup(pm_tx_guard_end_))) = \
	             pm_tx_guard_begin_((pool), &(rc));                                 \
	     PM_TX_G_.once && PM_TX_G_.ok; PM_TX_G_.once = 0)
#endif

/* ---- persistent locks ------------------------------------------------- */

/*
 * Locks that live inside pool objects (cf. PMEMmutex / PMEMrwlock /
 * PMEMcond) and are valid after every open without being reset: each open
 * has a run id, and a lock last initialised in another run (or never: all
 * zero) is re-initialised on its first use in this one -- whatever state a
 * killed process left it in.  Never flushed (their bytes mean nothing
 * across runs).  64 bytes each, 8-byte aligned, inside the pool.  Do not
 * tx_add them (an abort would restore their bytes under a holder), free or
 * move them while held; in an object from pmalloc (undefined bytes) zero
 * them first (pzalloc does).  Return 0 or a PM_E* code (PM_EBUSY for a
 * failed try, PM_EFORKED in a child after fork).
 */
struct timespec; /* <time.h>; declared here too for strict C99 */
typedef struct pm_mutex { uint64_t opaque_[8]; } pm_mutex;
typedef struct pm_rwlock { uint64_t opaque_[8]; } pm_rwlock;
typedef struct pm_cond { uint64_t opaque_[8]; } pm_cond;

PM_API int pm_mutex_lock(pm_pool *pool, pm_mutex *m);
PM_API int pm_mutex_trylock(pm_pool *pool, pm_mutex *m);
PM_API int pm_mutex_timedlock(pm_pool *pool, pm_mutex *m, const struct timespec *abs_timeout);
PM_API int pm_mutex_unlock(pm_pool *pool, pm_mutex *m);
PM_API int pm_rwlock_rdlock(pm_pool *pool, pm_rwlock *l);
PM_API int pm_rwlock_wrlock(pm_pool *pool, pm_rwlock *l);
PM_API int pm_rwlock_tryrdlock(pm_pool *pool, pm_rwlock *l);
PM_API int pm_rwlock_trywrlock(pm_pool *pool, pm_rwlock *l);
PM_API int pm_rwlock_unlock(pm_pool *pool, pm_rwlock *l);
PM_API int pm_cond_wait(pm_pool *pool, pm_cond *c, pm_mutex *m);
PM_API int pm_cond_timedwait(pm_pool *pool, pm_cond *c, pm_mutex *m,
                             const struct timespec *abs_timeout);
PM_API int pm_cond_signal(pm_pool *pool, pm_cond *c);
PM_API int pm_cond_broadcast(pm_pool *pool, pm_cond *c);

enum pm_lock_kind {
	PM_LOCK_MUTEX = 1,  /* a pm_mutex */
	PM_LOCK_RWLOCK_WR,  /* a pm_rwlock, for writing */
	PM_LOCK_RWLOCK_RD,  /* a pm_rwlock, for reading */
};
/*
 * tx_lock: take the lock now and hold it until the outermost tx_end of the
 * calling thread's transaction (after its commit or abort is complete; cf.
 * pmemobj_tx_lock).  A lock the transaction holds already is not taken
 * again.  On failure the transaction is aborted.  At most 64 per
 * transaction.
 */
PM_API int tx_lock(enum pm_lock_kind kind, void *lock);

/* ---- checking and statistics ------------------------------------------ */

struct pm_check_report {
	int status;               /* 0 = consistent, else the first PM_E* found */
	uint64_t pool_size;
	uint64_t heap_chunks;      /* chunks in the heap */
	uint64_t free_chunks;
	uint64_t run_chunks;       /* chunks holding small-object runs */
	uint64_t large_chunks;     /* chunks held by large objects */
	uint64_t objects;          /* allocated objects (small + large) */
	uint64_t bytes_allocated;  /* usable bytes of allocated objects */
	uint64_t logs_pending;     /* lane logs still valid (0 after recovery) */
	unsigned nlanes;
	char message[256];         /* first problem, naming what and where */
	uint64_t max_size;         /* a growable pool's maximum, else pool_size */
};

/* Walk the whole pool: header, logs, chunk table, runs. */
PM_API int pm_check(pm_pool *pool, struct pm_check_report *rep);
/*
 * Check a pool file without modifying it: maps it privately, runs recovery
 * on the private copy, and walks it.
 */
PM_API int pm_check_path(const char *path, struct pm_check_report *rep);

/* Callback for every allocated object, in offset order. Stops on nonzero. */
typedef int (*pm_walk_fn)(pm_off off, size_t usable, void *arg);
PM_API int pm_walk(pm_pool *pool, pm_walk_fn fn, void *arg);

struct pm_stats {
	uint64_t flushes;   /* flush calls issued by the library for this pool */
	uint64_t fences;    /* fences (drains) issued for this pool */
	uint64_t allocs, frees, publishes, tx_commits, tx_aborts;
};
PM_API void pm_stats_get(pm_pool *pool, struct pm_stats *st);
PM_API void pm_stats_reset(pm_pool *pool);

/* ---- backup and restore (docs/BACKUP.md) ------------------------------- */

struct pm_backup_stats {
	uint64_t bytes;           /* size of the backup file */
	uint64_t used_chunks;     /* chunks copied (free ones are left out) */
	uint64_t segments;        /* checksummed pieces (<= 256 KiB each) */
	uint64_t wait_ns;         /* waiting for running operations to end */
	uint64_t writers_held_ns; /* operations held back by the copy */
};
struct pm_backup_opts {
	unsigned flags; /* pm_restore: PM_RESTORE_REPLACE */
	/* called now and then with bytes done / to do (may be NULL) */
	void (*progress)(uint64_t done, uint64_t total, void *arg);
	void *arg;
	struct pm_backup_stats *stats; /* pm_backup fills it (may be NULL) */
};
#define PM_RESTORE_REPLACE 1u
struct pm_backup_info {
	uint64_t pool_size, nchunks, used_chunks, bytes, created;
	uint8_t uuid[16];
};
/*
 * Write a consistent snapshot of an open pool (the state between two
 * operations; other threads' operations wait for the copy into the page
 * cache, not for the disk) to a new file `path`, on any file system.  Only
 * metadata and used chunks are copied.  A crash leaves no file under `path`
 * or a complete one.  PM_EEXIST if `path` exists; PM_ETX inside a
 * transaction of this thread on this pool.  opts may be NULL.
 */
PM_API int pm_backup(pm_pool *pool, const char *path, const struct pm_backup_opts *opts);
/* Check a backup file (header, table, every segment's checksum); info may
 * be NULL.  PM_ECORRUPT names the damaged chunk. */
PM_API int pm_backup_verify(const char *backup, struct pm_backup_info *info);
/*
 * Verify `backup` and materialize the pool it holds as the file `path`
 * (checked with pm_check_path before it appears).  An existing `path` is
 * refused (PM_EEXIST) unless opts->flags has PM_RESTORE_REPLACE: then it is
 * replaced atomically, unless another process has it open (PM_EBUSY).
 */
PM_API int pm_restore(const char *backup, const char *path, const struct pm_backup_opts *opts);

/* ---- persistent globals (PERM's perm / mflush; docs/BACKUP.md) ---------- */

/*
 * Register `size` bytes at `ptr` (usually a global) under `name` (1-47
 * bytes).  If the pool holds a saved image under that name it is copied in
 * now (returns 1); if not, the block is left as it is (returns 0).  A saved
 * image of another size is PM_EINVAL, a name registered twice PM_EEXIST.
 */
PM_API int pm_perm(pm_pool *pool, const char *name, void *ptr, size_t size);
/* Copy the image saved under `name` into buf without registering anything:
 * 1 if there is one, 0 if not, PM_EINVAL if it was saved with another size. */
PM_API int pm_perm_load(pm_pool *pool, const char *name, void *buf, size_t size);
/* Write every registered block into the pool atomically: after a crash at
 * any point each block holds the contents of the same save.  Not inside a
 * transaction (PM_ETX); blocks must not change while it copies. */
PM_API int pm_perm_save(pm_pool *pool);
/* Globals marked PM_PERM are gathered by the linker into one section
 * (pmstore_perm_data: not named like a function, GNU as would confuse
 * the two);
 * pm_perm(pool, "globals", PM_PERM_START, PM_PERM_SIZE) registers them all
 * (the size changes when the program's PM_PERM globals do: PM_EINVAL). */
#define PM_PERM __attribute__((section("pmstore_perm_data"), used))
extern char __start_pmstore_perm_data[] __attribute__((weak, visibility("hidden")));
extern char __stop_pmstore_perm_data[] __attribute__((weak, visibility("hidden")));
#define PM_PERM_START ((void *)__start_pmstore_perm_data)
#define PM_PERM_SIZE ((size_t)(__stop_pmstore_perm_data - __start_pmstore_perm_data))

/* ---- inline definitions ------------------------------------------------ */

struct pm_pool_public_ {
	char *base; /* first member of struct pm_pool: mapping base */
};

static inline void *pm_direct(const pm_pool *pool, pm_off off)
{
	return off ? ((const struct pm_pool_public_ *)(const void *)pool)->base + off
	           : NULL;
}

static inline pm_off pm_offset(const pm_pool *pool, const void *ptr)
{
	return ptr ? (pm_off)((const char *)ptr -
	                      ((const struct pm_pool_public_ *)(const void *)pool)->base)
	           : 0;
}

#ifdef __cplusplus
}
#endif
#endif /* PMSTORE_H */
