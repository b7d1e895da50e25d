/*
 * repair.h -- layer 6 (internal, for the pmstore tool): every problem a
 * check finds, a raw walk of a pool file's media without recovery, and
 * offline repair.
 *
 * Model: the pool file is input that may be damaged anywhere.  The raw walk
 * (pool_scan_media) reads the header, every lane's logs, the chunk table,
 * the run bitmaps and the root exactly as they are on media -- it runs no
 * recovery, so it can look at files pm_open refuses -- and lists every
 * problem with its offset and the structure it is in.  With `fix` it also
 * changes the mapping it was given so that the pool opens and passes
 * pm_check (pool_repair_path runs it on a MAP_SHARED mapping of a pool no
 * one has open, after saving a backup).
 *
 * What it can NOT do: tell a damaged header from the one it replaced (a
 * chunk whose header is unreadable is quarantined, not guessed), find
 * objects no metadata names, or be crash-atomic (a repair interrupted
 * half-way leaves a half-repaired file: the backup is the way back).
 */
#ifndef PM_POOL_REPAIR_H
#define PM_POOL_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "pool/pool.h"

/* One problem (or note, or repair action), named by where it is. */
struct pool_problem {
	int err;            /* PM_E* (0 for a note or an action) */
	char kind[24];      /* short tag: "chunk_header", "redo_forged", ... */
	uint64_t offset;    /* pool offset of the bytes concerned */
	char structure[64]; /* "header", "lane 3 redo", "chunk 7 (table offset 0x..)" */
	char message[224];
};

struct pool_problems {
	struct pool_problem *v;
	size_t n, cap;
	size_t dropped; /* not stored (out of DRAM, or more than PROBLEMS_MAX) */
};
#define PROBLEMS_MAX 100000

void pool_problems_add(struct pool_problems *l, int err, const char *kind, uint64_t offset,
                       const char *structure, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
void pool_problems_free(struct pool_problems *l);

/* pm_check, listing every problem it finds in *list (may be NULL); the
 * report's status and message are the first one's, as pm_check's. */
int pool_check_all(struct pm_pool *p, struct pm_check_report *rep, struct pool_problems *list);

/* ---- the raw walk, and repair ----------------------------------------- */

enum hdr_state {
	HDR_OK,
	HDR_REBUILDABLE, /* checksum bad; geometry agrees with size and lanes */
	HDR_FOREIGN,     /* magic is not pmstore's */
	HDR_VERSION,     /* another layout version */
	HDR_BAD,         /* unrecoverable: geometry does not agree */
};

struct media_scan {
	enum hdr_state hdr;
	char hdr_why[224];
	struct pool_problems problems; /* damage: the pool needs repair */
	struct pool_problems notes;    /* states recovery handles by itself */
	struct pool_problems actions;  /* fix: what was changed */
	/* lanes */
	unsigned nlanes;
	unsigned redo_empty, redo_pending, redo_void, redo_invalid, redo_forged;
	unsigned undo_idle, undo_active, undo_bad;
	/* heap, as far as it is walkable (objects in readable spans) */
	uint64_t heap_chunks, free_chunks, run_chunks, large_chunks;
	uint64_t objects, bytes_allocated;
	/* fix: what the repair gave up */
	uint64_t quarantined_chunks, freed_gap_chunks, bits_cleared;
	uint64_t quarantined_spans; /* fix: LARGE objects made of unreadable spans */
	int root_cleared;
	uint64_t root_off, root_size;
};

void media_scan_free(struct media_scan *s);

/*
 * Walk the image at base (size bytes, a whole pool file) without recovery.
 * fix = 0: base is only read.  fix = 1: base must be writable; every
 * problem found is also repaired in place (plain stores, no flush: the
 * caller msyncs) and listed in s->actions.  Returns 0 if the walk could be
 * done (s->problems may still be non-empty), or PM_EFOREIGN / PM_EVERSION /
 * PM_ECORRUPT when the header does not let anything else be read
 * (s->hdr_why says why).
 */
int pool_scan_media(char *base, size_t size, int fix, struct media_scan *s);

/* Map path read-only (a shared lock: refused if another process holds it)
 * and run pool_scan_media(fix = 0).  0, or the error with pm_errormsg(). */
int pool_scan_path(const char *path, struct media_scan *s);

struct repair_opts {
	int dry_run;        /* change nothing; say what would change */
	const char *backup; /* NULL: path + ".before-repair" */
};

struct repair_result {
	struct media_scan scan;      /* findings and actions */
	char backup[4096];           /* where the original went ("" if dry run) */
	int verified;                /* pm_check of the result ran */
	int verify_status;           /* its status (0 = consistent) */
	char verify_msg[512];
	int raw_verified;            /* dry run with a header to rebuild: the raw */
	size_t raw_after_problems;   /* walk of the repaired private image instead */
	uint64_t objects_after, bytes_after;
};

/*
 * Repair the pool file at path (see repair.c for what each kind of damage
 * becomes).  Refuses (nonzero, pm_errormsg) a file another process holds,
 * a foreign file, another layout version, an unrecoverable header, and an
 * existing backup file.  Returns 0 if the result passes pm_check.
 */
int pool_repair_path(const char *path, const struct repair_opts *o, struct repair_result *r);
void repair_result_free(struct repair_result *r);

#endif
