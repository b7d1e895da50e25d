/*
 * pool.c -- layer 6: pool create / open / close, header validation, lanes,
 * recovery on open, the root object (created, or grown in place or moved,
 * by one publish each: root_grow) and the user persistence primitives.
 *
 * Create (P2): the image is built in a temporary file next to the target,
 * made durable, and only then linked under the target name; a crash leaves
 * at most a stray "<path>.tmp.XXXXXX", never a half-made pool.
 *
 * Growable pools (P5, docs/DESIGN.md §3a): open reserves the address range
 * of the maximum and maps the file over its start; growth (grow_locked,
 * G1-G5) extends and syncs the file, maps the new range right after the
 * old, makes the new span's FREE header durable, then the one-word chunk
 * count in the descriptor: a crash leaves the old size or the new one.
 * The count is read once at open, validated against the file (longer: the
 * recorded size is used; shorter: refused) and never written by recovery.
 *
 * Recovery (pool_recover; crash-safe and idempotent, see docs/DESIGN.md §5):
 *   R1 every lane is classified: a valid redo log whose seq is above the
 *      pool's watermark (recovered_seq) is to be replayed; an active undo
 *      log is a transaction that committed (commit block, tx/undo.c) --
 *      rolled forward (a big commit: its action records applied) -- or
 *      did not -- rolled back, its own commit log dropped.  An active
 *      lane's retire log (one that stores to its own undo_log.active: a
 *      big commit's or an abort's, which unlinks the chain holding the
 *      evidence) is never applied: it is zeroed in R3, after the
 *      rollback or roll-forward is durable; open then frees the chain of
 *      the idle lane (tx_after_boot).
 *   R2 rollbacks first, then replays and roll-forwards of ALL lanes in
 *      seq order (a newer operation's log may be durable while an older
 *      one's lazy invalidation is not); fence.
 *   R3 every lane's undo generation is retired; fence.
 *   R4 the watermark moves past every seq seen: one word voids every log
 *      replayed at once; fence.  A crash anywhere repeats from R1 with the
 *      same evidence, or with less that is already durable.
 *   R5 only when the watermark is at or above SEQ_RENUMBER (a damaged
 *      descriptor; real use needs 2^55 operations): every lane's log is
 *      zeroed and flushed (all are void after R4; the ones R4 tidied are
 *      zero in memory only), fence; the watermark is set to 0,
 *      fence; seqs restart at 1.  A crash before the first fence leaves
 *      R4's state, before the second no log at all: either way nothing is
 *      replayed and R5 runs again.  Without it a session's seqs would wrap
 *      their 56 bits to below the watermark, and a log a crash left to
 *      replay would be read as replayed already.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pool/pool.h"
#include "base/seeded_bugs.h"

#define POOL_GUARD ((size_t)4096)

static _Atomic uint64_t pool_gen_counter;

static void on_fork_child(void)
{
	atomic_fetch_add(&pm_fork_gen, 1);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void fork_init(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

/* ---- header ----------------------------------------------------------- */

uint64_t pool_hdr_checksum(const struct pool_hdr *h)
{
	uint64_t s = log_hash(UINT64_C(0x504d53544f524521), h, offsetof(struct pool_hdr, checksum));
	return s ? s : 1;
}

int pool_layout_for(uint64_t size, unsigned nlanes, struct pool_layout *l)
{
	l->nlanes = nlanes;
	l->table_off = (POOL_LANES_OFF + (uint64_t)nlanes * LANE_SIZE + 4095) & ~UINT64_C(4095);
	if (size < l->table_off + CHUNK_SIZE)
		return -1;
	uint64_t n = (size - l->table_off) / CHUNK_SIZE;
	while (n > 0 && ((l->table_off + n * 8 + 4095) & ~UINT64_C(4095)) + n * CHUNK_SIZE > size)
		n--;
	if (n == 0 || n > UINT32_MAX)
		return -1;
	l->nchunks = (uint32_t)n;
	l->chunks_off = (l->table_off + n * 8 + 4095) & ~UINT64_C(4095);
	return 0;
}

static int hdr_validate(const struct pool_hdr *h, uint64_t file_size, const char *path)
{
	if (memcmp(h->magic, POOL_MAGIC, 8) != 0)
		return PM_ERR(PM_EFOREIGN, "%s: not a pmstore pool (bad magic)", path);
	if (h->layout_version != POOL_LAYOUT_VERSION)
		return PM_ERR(PM_EVERSION, "%s: pool layout version %u, this library reads %u",
		              path, h->layout_version, POOL_LAYOUT_VERSION);
	if (h->checksum != pool_hdr_checksum(h))
		return PM_ERR(PM_ECORRUPT, "%s: pool header checksum mismatch", path);
	if (h->flags & ~POOL_FLAGS_KNOWN)
		return PM_ERR(PM_EVERSION, "%s: pool header flags 0x%x unknown to this library", path,
		              h->flags);
	int growable = (h->flags & POOL_FLAG_GROWABLE) != 0;
	if (!growable && h->pool_size != file_size)
		return PM_ERR(PM_ECORRUPT, "%s: header says %llu bytes, file has %llu (truncated?)",
		              path, (unsigned long long)h->pool_size, (unsigned long long)file_size);
	struct pool_layout l;
	if (h->nlanes == 0 || h->nlanes > POOL_MAX_LANES || h->lane_size != LANE_SIZE ||
	    h->chunk_size != CHUNK_SIZE || h->lanes_off != POOL_LANES_OFF ||
	    h->pool_size > POOL_MAX_SIZE ||
	    pool_layout_for(h->pool_size, h->nlanes, &l) || l.table_off != h->chunk_table_off ||
	    l.chunks_off != h->chunks_off || l.nchunks != h->nchunks)
		return PM_ERR(PM_ECORRUPT, "%s: pool header geometry is inconsistent", path);
	/* P5: a growable pool's file holds at least its first chunk and at
	 * most the maximum (desc.heap_chunks is checked against it at attach) */
	if (growable && (file_size < h->chunks_off + CHUNK_SIZE || file_size > h->pool_size))
		return PM_ERR(PM_ECORRUPT, "%s: growable pool of at most %llu bytes, file has %llu (truncated?)",
		              path, (unsigned long long)h->pool_size, (unsigned long long)file_size);
	return 0;
}

/* ---- open / create ---------------------------------------------------- */

static void pool_free(struct pm_pool *p)
{
	if (!p)
		return;
	if (p->heap.runs)
		heap_fini(&p->heap);
	if (p->wal) /* checkpoint: every frame into the file, synced */
		flush_wal_detach(p->wal, NULL);
	if (p->base)
		munmap(p->base - POOL_GUARD, p->reserve + 2 * POOL_GUARD);
	if (p->fd >= 0)
		close(p->fd);
	free(p->lanes);
	perm_free(p);
	free(p);
}

/* ---- recovery ---------------------------------------------------------- */

enum { RI_REPLAY, RI_FORWARD, RI_FORWARD_LOG };
struct rec_item {
	uint64_t seq;
	struct lane *ln;
	int kind;
	long n;                      /* redo entries (replay / commit log) */
	const struct undo_entry *cb; /* commit block (forward) */
};

static int item_cmp(const void *a, const void *b)
{
	const struct rec_item *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->ln->idx < y->ln->idx ? -1 : x->ln->idx > y->ln->idx;
}

/*
 * F1/F11: a log is considered only if its shape is one the library writes:
 * at most REDO_MAX entries; stores to aligned words of the heap, the chunk
 * table, the root descriptor or this lane's own undo header; covers of
 * heap ranges, all lanes' covers together no larger than the heap (so the
 * hashing is bounded by one pass over it, whatever a damaged file says).
 * Anything else is a torn, stale or forged log: never hashed, never
 * applied.
 */
long pool_redo_shape_bad(const struct pool_hdr *h, uint64_t undo_off, const struct redo_log *log,
                         uint64_t *budget)
{
	uint64_t n = log->nseq & REDO_N_MASK;
	if (n > REDO_MAX)
		return (long)n;
	uint64_t heap_lo = h->chunks_off, heap_hi = h->chunks_off + h->nchunks * CHUNK_SIZE;
	uint64_t tab_lo = h->chunk_table_off, tab_hi = tab_lo + h->nchunks * 8;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t = log->entries[i].off_op & REDO_OFF_MASK, v = log->entries[i].value;
		if ((log->entries[i].off_op >> REDO_OP_SHIFT) == REDO_MARK) {
			if (t == 0)
				continue; /* a transaction's mark */
			if (t < heap_lo || t >= heap_hi || v > heap_hi - t || v > *budget)
				return (long)i;
			*budget -= v;
			continue;
		}
		int ok = t % 8 == 0 &&
		         ((t >= heap_lo && t + 8 <= heap_hi) || (t >= tab_lo && t + 8 <= tab_hi) ||
		          t == POOL_DESC_OFF + offsetof(struct pool_desc, root_off) ||
		          t == POOL_DESC_OFF + offsetof(struct pool_desc, root_size) ||
		          t == POOL_DESC_OFF + offsetof(struct pool_desc, perm_off) ||
		          t == undo_off + offsetof(struct undo_log, next) ||
		          t == undo_off + offsetof(struct undo_log, active) ||
		          t == undo_off + offsetof(struct undo_log, hcsum));
		if (!ok)
			return (long)i;
	}
	return -1;
}

static int redo_shape_ok(const struct pm_pool *p, const struct lane *ln, uint64_t *budget)
{
	const struct redo_log *log = &ln->pl->redo;
	uint64_t undo_off = (uint64_t)((const char *)&ln->pl->undo - p->base);
	return log->checksum != 0 && pool_redo_shape_bad(p->hdr, undo_off, log, budget) < 0;
}

/* Does the lane's valid log (n entries) store to its own undo_log.active?
 * Only a retire log does (tx.c commit_big, tx_do_abort). */
static int log_retires_lane(const struct pm_pool *p, const struct lane *ln, long n)
{
	uint64_t t = (uint64_t)((const char *)&ln->pl->undo.active - p->base);
	const struct redo_entry *e = ln->pl->redo.entries;
	for (long i = 0; i < n; i++)
		if ((e[i].off_op & REDO_OFF_MASK) == t && (e[i].off_op >> REDO_OP_SHIFT) == REDO_SET)
			return 1;
	return 0;
}

static int pool_recover(struct pm_pool *p)
{
	uint64_t mark = p->desc->recovered_seq, maxseq = mark;
	struct rec_item *it = calloc(2 * (size_t)p->nlanes + 1, sizeof(*it));
	struct lane **back = calloc((size_t)p->nlanes + 1, sizeof(*back));
	uint8_t *live = calloc((size_t)p->nlanes + 1, 1); /* lanes whose log counts */
	if (!it || !back || !live) {
		free(it);
		free(back);
		free(live);
		return PM_ERR(PM_ENOMEM, "out of DRAM for recovery");
	}
	unsigned ni = 0, nb = 0, ndrop = 0;
	uint64_t budget = p->hdr->nchunks * CHUNK_SIZE;
	/* R1: classify every lane from its evidence, before anything is
	 * changed (an apply could change bytes another log's cover hashes) */
	for (unsigned i = 0; i < p->nlanes; i++) {
		struct lane *ln = &p->lanes[i];
		struct redo_log *log = &ln->pl->redo;
		uint64_t lseq = 0;
		long n = redo_shape_ok(p, ln, &budget) ? redo_valid(p->base, p->size, log, REDO_MAX, &lseq) : -1;
		if (n >= 0 && lseq <= mark && !PM_BUG(PM_BUG_NO_WATERMARK))
			n = -1; /* replayed by an earlier recovery: void (P4) */
		if (n >= 0 && lseq > maxseq)
			maxseq = lseq;
		live[i] = n >= 0;
		uint64_t g = tx_lane_active(ln);
		if (!g) {
			if (n >= 0)
				it[ni++] = (struct rec_item){ lseq, ln, RI_REPLAY, n, NULL };
			continue;
		}
		const struct undo_entry *cb = NULL;
		uint64_t cseq = 0;
		int log_is_commit = 0;
		if (n >= 0 && log_retires_lane(p, ln, n) && !PM_BUG(PM_BUG_REPLAY_RETIRE_LOG)) {
			/* the transaction's own retire log (a big commit's, or an
			 * abort's): it unlinks the chain that holds the evidence,
			 * so it is never applied while active = G -- the rollback
			 * or roll-forward is made durable first (R2), R3 retires
			 * the lane and zeroes the log, and open frees the chain
			 * (tx_after_boot) */
			live[i] = 0;
			n = -1;
		}
		if (tx_lane_committed(p, ln, g, n, &cb, &cseq, &log_is_commit)) {
			if (cseq > maxseq)
				maxseq = cseq;
			if (log_is_commit) {
				it[ni++] = (struct rec_item){ cseq, ln, RI_FORWARD_LOG, n, cb };
			} else {
				it[ni++] = (struct rec_item){ cseq, ln, RI_FORWARD, -1, cb };
				/* a later publish on this lane (C1): after the forward */
				if (n >= 0)
					it[ni++] = (struct rec_item){ lseq, ln, RI_REPLAY, n, NULL };
			}
		} else {
			back[nb++] = ln;
			if (n >= 0 && log_is_commit) {
				/* the commit log of a transaction that did not commit:
				 * never replayed; invalid on media before the lane is
				 * retired (else it would look like an idle lane's) */
				if (!PM_BUG(PM_BUG_KEEP_UNCOMMITTED_LOG)) {
					redo_invalidate(log);
					flush_range(p->ops, &ln->cnt, &log->checksum, 8);
				}
				ndrop++;
			} else if (n >= 0) {
				/* an overflow block's allocation, a publish nested in
				 * the transaction, or an older publish whose lazy
				 * invalidation was not durable */
				it[ni++] = (struct rec_item){ lseq, ln, RI_REPLAY, n, NULL };
			}
		}
	}
	/* R2: rollbacks (their ranges are the transaction's alone; anything
	 * older that touched them is in the snapshot), then everything else
	 * oldest first */
	for (unsigned i = 0; i < nb; i++)
		tx_lane_rollback(p, back[i], tx_lane_active(back[i]));
	if (!PM_BUG(PM_BUG_REPLAY_LANE_ORDER))
		qsort(it, ni, sizeof(*it), item_cmp);
	for (unsigned i = 0; i < ni; i++) {
		struct lane *ln = it[i].ln;
		if (it[i].kind != RI_FORWARD)
			redo_apply(p->ops, &ln->cnt, p->base, ln->pl->redo.entries, (uint64_t)it[i].n);
		if (it[i].kind != RI_REPLAY)
			tx_lane_forward(p, ln, tx_lane_active(ln), it[i].cb);
	}
	int rc = 0;
	if (ni || nb || ndrop)
		/* DURABLE: every replayed, rolled-forward and rolled-back word,
		 * and the dropped commit logs.  CRASH BEFORE: the evidence is
		 * unchanged (logs valid, active set): the same steps again. */
		rc |= flush_fence(p->ops, &p->lanes[0].cnt);
	/* R3 (and tidy: a log that is invalid but not zeroed -- torn, stale,
	 * damaged -- is zeroed, so no later open hashes it again, F11) */
	for (unsigned i = 0; i < p->nlanes; i++) {
		struct lane *ln = &p->lanes[i];
		tx_retire_lane(p, ln);
		if (ln->pl->redo.checksum && !live[i]) {
			redo_invalidate(&ln->pl->redo);
			flush_range(p->ops, &ln->cnt, &ln->pl->redo.checksum, 8);
		}
	}
	/* DURABLE: every lane's transaction finished, its generation retired
	 * (one fence for all lanes).  CRASH BEFORE: the lanes still active
	 * are decided again; the others' work is durable already. */
	rc |= flush_fence(p->ops, &p->lanes[0].cnt);
	/* R4 */
	if (maxseq > mark) {
		p->desc->recovered_seq = maxseq;
		flush_range(p->ops, &p->lanes[0].cnt, &p->desc->recovered_seq, 8);
		/* DURABLE: every log at or below maxseq is void, all at once.
		 * CRASH BEFORE: the replays run again, in the same order, over
		 * their own durable results. */
		rc |= flush_fence(p->ops, &p->lanes[0].cnt);
		/* tidy: the logs are void already; no fence needed */
		for (unsigned i = 0; i < ni; i++)
			redo_invalidate(&it[i].ln->pl->redo);
	}
#if !PM_BUG(PM_BUG_NO_SEQ_RENUMBER)
	if (maxseq >= SEQ_RENUMBER) { /* R5 */
		/* every lane, whatever memory says: R4's tidy zeroed the
		 * replayed logs' checksums without flushing them */
		for (unsigned i = 0; i < p->nlanes; i++) {
			struct redo_log *log = &p->lanes[i].pl->redo;
			if (PM_BUG(PM_BUG_RENUMBER_SKIP_VOID) && !log->checksum)
				continue;
			redo_invalidate(log);
			flush_range(p->ops, &p->lanes[i].cnt, &log->checksum, 8);
		}
		/* DURABLE: no lane holds a log.  CRASH BEFORE: R4's watermark
		 * voids them all (they were replayed, dropped or invalid). */
		rc |= flush_fence(p->ops, &p->lanes[0].cnt);
		p->desc->recovered_seq = 0;
		flush_range(p->ops, &p->lanes[0].cnt, &p->desc->recovered_seq, 8);
		/* DURABLE: the watermark is 0.  CRASH BEFORE: it is still
		 * maxseq, and there is no log to replay either way. */
		rc |= flush_fence(p->ops, &p->lanes[0].cnt);
		maxseq = 0;
	}
#endif
	atomic_store(&p->seq, maxseq + 1);
	free(it);
	free(back);
	free(live);
	if (rc) {
		lane_pool_failed(p);
		return PM_ERR(PM_EIO, "recovery: a fence failed (msync error)");
	}
	return 0;
}

/* Map, validate nothing (done by the caller), recover, boot the heap. */
static _Thread_local struct {
	void (*fn)(char *base, size_t size, void *arg);
	void *arg;
} tls_patch;

static int pool_attach(struct pm_pool *p, int private_map, const char *path);

/* PM_WAL, or PMSTORE_WAL=1 without PM_NO_WAL (pmstore.h) -- and not
 * under the crash harness's override, PMSTORE_NO_FLUSH or a forced pmem
 * path. */
static int pool_wal_wanted(unsigned flags)
{
	const char *w = getenv("PMSTORE_WAL"), *nf = getenv("PMSTORE_NO_FLUSH"),
	           *force = getenv("PMEM_IS_PMEM_FORCE");
	int asked = (flags & PM_WAL) || (!(flags & PM_NO_WAL) && w && w[0] == '1');
	return asked && !flush_has_override() && !(nf && nf[0] == '1') && !(force && force[0] == '1');
}

/* The open flags a caller may give: one of PM_WAL, PM_NO_WAL, or none. */
static int open_flags_ok(const char *fn, unsigned flags)
{
	if ((flags & ~(PM_WAL | PM_NO_WAL)) || flags == (PM_WAL | PM_NO_WAL)) {
		PM_ERR(PM_EINVAL, "%s: flags 0x%x: only one of PM_WAL (0x1) and PM_NO_WAL (0x2) is known", fn,
		       flags);
		return 0;
	}
	return 1;
}
static int pool_grow_cb(void *ctx, struct lane *ln, uint32_t seen, uint32_t need);
static void pool_free(struct pm_pool *p);
static struct pm_pool *pool_new(int fd, size_t size);

/* Recovery and the checks on a private copy of the file (F12). */
static int dry_run(struct pm_pool *p, const char *path)
{
	struct pm_pool *q = pool_new(p->fd, p->file_len);
	if (!q)
		return PM_ENOMEM;
	q->mapped_private = 1;
	int rc = pool_attach(q, 1, path);
	if (rc == 0) {
		struct pm_check_report rep;
		if (pm_check(q, &rep))
			rc = PM_ERR(rep.status, "%s: %s (after recovery on a private copy; the file is unchanged)",
			            path, rep.message);
	}
	q->fd = -1; /* p's */
	pool_free(q);
	return rc;
}

static int pool_attach(struct pm_pool *p, int private_map, const char *path)
{
	int prot = PROT_READ | PROT_WRITE;
	p->file_len = p->size;
	/* A growable pool reserves the address range of its maximum, so that
	 * growth maps the new space right after the old (P5): every pointer
	 * stays valid.  The header read here only sizes the reservation; the
	 * one validated is the mapping's (below). */
	struct pool_hdr hp;
	p->reserve = p->file_len;
	if (pread(p->fd, &hp, sizeof(hp), 0) == (ssize_t)sizeof(hp) && (hp.flags & POOL_FLAG_GROWABLE) &&
	    hp.pool_size > p->file_len && hp.pool_size <= POOL_MAX_SIZE)
		p->reserve = (size_t)hp.pool_size;
	/* The pool between two inaccessible guard pages: a stray store just
	 * outside it (a bug, or a damaged file that slipped past validation)
	 * faults instead of corrupting whatever is mapped next to it.  A
	 * growable pool's reservation past the heap in use is inaccessible
	 * too, until growth maps it. */
	char *g = mmap(NULL, p->reserve + 2 * POOL_GUARD, PROT_NONE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (g == MAP_FAILED)
		return PM_ERR(PM_ESYS, "%s: cannot reserve %zu bytes of address space", path, p->reserve);
	/* WAL mode: private, so that nothing the program stores reaches the
	 * file except through the log (flush/wal.c) */
	int wal = !private_map && pool_wal_wanted(p->open_flags);
	void *m = mmap(g + POOL_GUARD, p->file_len, prot,
	               (private_map || wal ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED, p->fd, 0);
	if (m == MAP_FAILED) {
		munmap(g, p->reserve + 2 * POOL_GUARD);
		return PM_ERR(PM_ESYS, "%s: mmap of %zu bytes failed", path, p->file_len);
	}
	p->base = m;
	p->mapped_len = p->file_len;
	if (private_map && path) { /* pm_check_path: what pm_open would see */
		unsigned long applied;
		int e = flush_wal_apply_private(path, p->base, p->file_len, &applied);
		if (e)
			return PM_ERR(PM_ESYS, "%s.wal: cannot read the pool's log: %s", path, strerror(e));
	}
	/* the crash harness's image (no log beside it), or a dry-run repair's
	 * patches, computed on the log-applied image (repair.c scan_fd) */
	if (private_map && tls_patch.fn)
		tls_patch.fn(p->base, p->file_len, tls_patch.arg);
	/* F2: the header as validated, kept in DRAM: nothing below reads the
	 * one on media again (recovery cannot change the geometry in use) */
	memcpy(&p->hdr_copy, p->base, sizeof(p->hdr_copy));
	int rc = hdr_validate(&p->hdr_copy, p->file_len, path);
	if (rc)
		return rc;
	p->desc = (struct pool_desc *)(p->base + POOL_DESC_OFF);
	p->max_size = (size_t)p->hdr_copy.pool_size;
	p->max_chunks = (uint32_t)p->hdr_copy.nchunks;
	p->growable = (p->hdr_copy.flags & POOL_FLAG_GROWABLE) != 0;
	if (p->growable) {
		/* P5: the heap in use, read once (recovery never writes it) */
		uint64_t hc = p->desc->heap_chunks;
		if (p->hdr_copy.pool_size > p->reserve || hc == 0 || hc > p->hdr_copy.nchunks ||
		    p->hdr_copy.chunks_off + hc * CHUNK_SIZE > p->file_len)
			return PM_ERR(PM_ECORRUPT,
			              "%s: descriptor (offset 0x%llx): heap of %llu chunks does not fit a file of %zu "
			              "bytes (at most %llu chunks)",
			              path, (unsigned long long)(POOL_DESC_OFF + offsetof(struct pool_desc, heap_chunks)),
			              (unsigned long long)hc, p->file_len, (unsigned long long)p->hdr_copy.nchunks);
		p->hdr_copy.nchunks = hc;
		p->size = (size_t)(p->hdr_copy.chunks_off + hc * CHUNK_SIZE);
	} else if (p->desc->heap_chunks != 0 && p->desc->heap_chunks != p->hdr_copy.nchunks) {
		return PM_ERR(PM_ECORRUPT, "%s: descriptor (offset 0x%llx): heap of %llu chunks in a fixed pool of %llu",
		              path, (unsigned long long)(POOL_DESC_OFF + offsetof(struct pool_desc, heap_chunks)),
		              (unsigned long long)p->desc->heap_chunks, (unsigned long long)p->hdr_copy.nchunks);
	}
	p->hdr = &p->hdr_copy;
	p->ops = private_map ? &flush_ops_none : flush_choose(p->base, p->size);
	p->is_pmem = p->ops != &flush_ops_msync;
	if (wal) {
		int e;
		p->wal = flush_wal_attach(path, p->fd, p->base, p->size, p->reserve, &e);
		if (!p->wal)
			return PM_ERR(PM_ESYS, "%s.wal: cannot start the pool's log: %s", path, strerror(e));
		p->ops = &flush_ops_wal;
		p->is_pmem = 0;
	}
	p->nlanes = p->hdr->nlanes;
	p->gen = atomic_fetch_add(&pool_gen_counter, 1) + 1;
	pthread_mutex_init(&p->root_lock, NULL);
	pthread_mutex_init(&p->user_lock, NULL);
	pthread_mutex_init(&p->grow_lock, NULL);
	if (posix_memalign((void **)&p->lanes, 64, p->nlanes * sizeof(struct lane)))
		return PM_ERR(PM_ENOMEM, "out of DRAM for %u lanes", p->nlanes);
	memset(p->lanes, 0, p->nlanes * sizeof(struct lane));
	for (unsigned i = 0; i < p->nlanes; i++) {
		struct lane *ln = &p->lanes[i];
		atomic_flag_clear(&ln->busy);
		ln->idx = i;
		ln->pool = p;
		ln->pl = (struct lane_layout *)(p->base + POOL_LANES_OFF + (uint64_t)i * LANE_SIZE);
		ln->free_pending = tx_free_pending_lane;
	}
	pthread_once(&fork_once, fork_init);
	p->fork_gen = atomic_load(&pm_fork_gen);
	/* the heap's geometry, for recovery's bounds checks before the boot */
	p->heap.base = p->base;
	p->heap.table_off = p->hdr->chunk_table_off;
	p->heap.chunks_off = p->hdr->chunks_off;
	p->heap.nchunks = (uint32_t)p->hdr->nchunks;
	p->heap.table = (uint64_t *)(p->base + p->hdr->chunk_table_off);
	/* F12: validate before writing.  Every lane's undo header, and the
	 * chunk table as it is; a pool that needs recovery is first recovered
	 * on a private copy and checked there -- refused, the file is
	 * unchanged. */
	if (p->desc->recovered_seq > SEQ_MASK)
		return PM_ERR(PM_ECORRUPT,
		              "%s: descriptor (offset 0x%llx): recovery watermark 0x%llx is above every "
		              "sequence number a log can carry (2^56 - 1)",
		              path, (unsigned long long)(POOL_DESC_OFF + offsetof(struct pool_desc, recovered_seq)),
		              (unsigned long long)p->desc->recovered_seq);
	int work = 0;
	for (unsigned i = 0; i < p->nlanes; i++) {
		const struct undo_log *u = &p->lanes[i].pl->undo;
		if (u->gen >= UNDO_GEN_MAX || u->active >= UNDO_GEN_MAX)
			return PM_ERR(PM_ECORRUPT, "%s: lane %u (offset 0x%llx): undo generation %llu out of range",
			              path, i, (unsigned long long)((const char *)u - p->base),
			              (unsigned long long)(u->gen > u->active ? u->gen : u->active));
		work |= p->lanes[i].pl->redo.checksum != 0 || u->active != 0;
	}
	char why[200];
	rc = heap_check_media(p->base, p->hdr->chunk_table_off, p->hdr->chunks_off,
	                      (uint32_t)p->hdr->nchunks, work ? 0 : p->desc->root_off,
	                      p->desc->root_size, why, sizeof(why));
	if (rc)
		return PM_ERR(rc, "%s: %s", path, why);
	if (!work && p->desc->perm_off) {
		/* the globals' directory, like the root, before anything is
		 * written (with work pending the dry run's pm_check sees it) */
		rc = heap_check_media(p->base, p->hdr->chunk_table_off, p->hdr->chunks_off,
		                      (uint32_t)p->hdr->nchunks, p->desc->perm_off, 32, why, sizeof(why));
		if (rc)
			return PM_ERR(rc, "%s: persistent globals' directory: %s", path, why);
	}
	if (work && !private_map && (rc = dry_run(p, path)) != 0)
		return rc;
	rc = pool_recover(p);
	if (rc)
		return rc;
	rc = heap_boot(&p->heap, p->base, p->ops, p->hdr->chunk_table_off,
	               p->hdr->chunks_off, (uint32_t)p->hdr->nchunks, p->max_chunks);
	if (rc)
		return PM_ERR(rc, "%s: %s", path, pm_errormsg());
	if (p->growable) {
		p->heap.grow = pool_grow_cb;
		p->heap.grow_ctx = p;
	}
	if ((rc = tx_after_boot(p)) != 0)
		return rc;
	if (p->desc->root_off) {
		struct heap_resv r;
		if (heap_lookup(&p->heap, p->desc->root_off, &r) ||
		    heap_resv_size(&r) < p->desc->root_size)
			return PM_ERR(PM_ECORRUPT, "%s: root object 0x%llx is not allocated", path,
			              (unsigned long long)p->desc->root_off);
	}
	if (p->desc->perm_off) {
		struct heap_resv r;
		if (heap_lookup(&p->heap, p->desc->perm_off, &r))
			return PM_ERR(PM_ECORRUPT, "%s: persistent globals' directory 0x%llx is not allocated",
			              path, (unsigned long long)p->desc->perm_off);
	}
	return 0;
}

static struct pm_pool *pool_new(int fd, size_t size)
{
	struct pm_pool *p = calloc(1, sizeof(*p));
	if (!p) {
		PM_ERR(PM_ENOMEM, "out of DRAM");
		return NULL;
	}
	p->fd = fd;
	p->size = size;
	return p;
}

int pool_open_locked(const char *path, int flags, int lock_op, struct stat *st)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (F14); it is
	 * refused by the regular-file check right after */
	int fd = open(path, flags | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? PM_ERR(PM_ENOENT, "%s: no such file", path)
		                       : PM_ERR(PM_ESYS, "%s: open failed", path);
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return PM_ERR(PM_EFOREIGN, "%s: not a regular file", path);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (flock(fd, lock_op | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? PM_ERR(PM_EBUSY, "%s: pool is already open (locked by another opener)", path)
		                        : PM_ERR(PM_ESYS, "%s: flock failed", path);
	}
	if ((uint64_t)st->st_size < POOL_HDR_SIZE) {
		close(fd);
		return PM_ERR(st->st_size == 0 ? PM_EFOREIGN : PM_ECORRUPT,
		              "%s: %lld bytes is too short for a pmstore pool", path,
		              (long long)st->st_size);
	}
	return fd;
}

static int open_fd(const char *path, int flags, struct stat *st, int lock_op)
{
	int fd = pool_open_locked(path, flags, lock_op, st);
	if (fd < 0)
		return fd;
	struct pool_hdr h;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		close(fd);
		return PM_ERR(PM_ESYS, "%s: cannot read the header", path);
	}
	int rc = hdr_validate(&h, (uint64_t)st->st_size, path);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

static pm_pool *open_common(const char *path, int private_map, unsigned flags)
{
	if (!path) {
		PM_ERR(PM_EINVAL, "pm_open: NULL path");
		return NULL;
	}
	if (!open_flags_ok("pm_open_ex", flags))
		return NULL;
	struct stat st;
	int fd = open_fd(path, private_map ? O_RDONLY : O_RDWR, &st,
	                 private_map ? LOCK_SH : LOCK_EX);
	if (fd < 0)
		return NULL;
	if (!private_map) {
		/* a WAL-mode pool's log first (flush/wal.c): the file is the
		 * last checkpoint until its frames are applied */
		unsigned long applied;
		int e = flush_wal_replay(path, fd, pool_wal_wanted(flags), &applied);
		if (e) {
			close(fd);
			PM_ERR(PM_ESYS, "%s.wal: cannot apply the pool's log: %s", path, strerror(e));
			return NULL;
		}
	}
	struct pm_pool *p = pool_new(fd, (size_t)st.st_size);
	if (!p) {
		close(fd);
		return NULL;
	}
	p->mapped_private = private_map;
	p->open_flags = flags;
	if (pool_attach(p, private_map, path)) {
		int e = pm_last_error();
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", pm_errormsg());
		pool_free(p);
		PM_ERR(e, "%s", msg);
		return NULL;
	}
	return p;
}

PM_API pm_pool *pm_open(const char *path)
{
	return open_common(path, 0, 0);
}

PM_API pm_pool *pm_open_ex(const char *path, unsigned flags)
{
	return open_common(path, 0, flags);
}

pm_pool *pool_open_private(const char *path)
{
	return open_common(path, 1, 0);
}

pm_pool *pool_open_private_patched(const char *path,
                                   void (*patch)(char *base, size_t size, void *arg),
                                   void *arg)
{
	tls_patch.fn = patch;
	tls_patch.arg = arg;
	pm_pool *p = open_common(path, 1, 0);
	tls_patch.fn = NULL;
	return p;
}

int pool_fsync_dir_of(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	int dfd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	int rc = fsync(dfd);
	close(dfd);
	return rc;
}

/* Write the whole initial image into the mapped temp file and persist it. */
/* pool_size: the pool's size, or a growable pool's maximum */
static void image_format(char *base, uint64_t pool_size, const struct pool_layout *l, uint32_t init_chunks)
{
	/* a growable pool's table past its first init_chunks is a hole: the
	 * walk never reads it, growth writes each span's header (P5) */
	heap_format(base, l->table_off, init_chunks);
	struct pool_hdr *h = (struct pool_hdr *)base;
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, POOL_MAGIC, 8);
	h->layout_version = POOL_LAYOUT_VERSION;
	int ufd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (ufd < 0 || read(ufd, h->uuid, sizeof(h->uuid)) != (ssize_t)sizeof(h->uuid)) {
		uint64_t t = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
		memcpy(h->uuid, &t, sizeof(t));
	}
	if (ufd >= 0)
		close(ufd);
	h->pool_size = pool_size;
	h->lanes_off = POOL_LANES_OFF;
	h->nlanes = l->nlanes;
	h->lane_size = LANE_SIZE;
	h->chunk_table_off = l->table_off;
	h->chunks_off = l->chunks_off;
	h->nchunks = l->nchunks;
	h->chunk_size = CHUNK_SIZE;
	h->create_time = (uint64_t)time(NULL);
	if (init_chunks != l->nchunks) {
		h->flags |= POOL_FLAG_GROWABLE;
		((struct pool_desc *)(base + POOL_DESC_OFF))->heap_chunks = init_chunks;
	}
	h->checksum = pool_hdr_checksum(h);
}

/* The new file's blocks: all of it for a fixed pool; for a growable one
 * the header, lanes and the table's first pages, then the initial chunks
 * (the rest of the table stays a hole until growth needs it).  0 or an
 * errno value. */
static int create_allocate(int fd, uint64_t size, const struct pool_layout *l, uint32_t init_chunks)
{
	if (init_chunks == l->nchunks)
		return posix_fallocate(fd, 0, (off_t)size);
	uint64_t meta = (l->table_off + (uint64_t)init_chunks * 8 + 4095) & ~UINT64_C(4095);
	int e = posix_fallocate(fd, 0, (off_t)meta);
	return e ? e : posix_fallocate(fd, (off_t)l->chunks_off, (off_t)(size - l->chunks_off));
}

PM_API pm_pool *pm_create_ex(const char *path, size_t size, mode_t mode,
                             const struct pm_create_opts *opts)
{
	unsigned nlanes = opts && opts->nlanes ? opts->nlanes : POOL_DEFAULT_LANES;
	struct pool_layout l;
	if (!path) {
		PM_ERR(PM_EINVAL, "pm_create: NULL path");
		return NULL;
	}
	if (nlanes > POOL_MAX_LANES) {
		PM_ERR(PM_EINVAL, "pm_create: %u lanes, at most %u", nlanes, POOL_MAX_LANES);
		return NULL;
	}
	unsigned flags = opts ? opts->flags : 0;
	if (!open_flags_ok("pm_create_ex", flags))
		return NULL;
	/* pm_create and the default lanes: PM_MIN_POOL_SIZE; pm_create_ex with
	 * a lane count: whatever holds the lanes, the table and one chunk */
	uint64_t lanes_end = (POOL_LANES_OFF + (uint64_t)nlanes * LANE_SIZE + 4095) & ~UINT64_C(4095);
	size_t min = opts && opts->nlanes ? (size_t)(lanes_end + 4096 + CHUNK_SIZE) : PM_MIN_POOL_SIZE;
	uint64_t max = opts && opts->max_size > size ? opts->max_size : size;
	uint32_t init_chunks;
	if (max > POOL_MAX_SIZE) {
		PM_ERR(PM_EINVAL, "pm_create: a maximum of %llu bytes is past the limit of %llu",
		       (unsigned long long)max, (unsigned long long)POOL_MAX_SIZE);
		return NULL;
	}
	if (max == size) {
		if (size < min || pool_layout_for(size, nlanes, &l)) {
			PM_ERR(PM_ETOOSMALL, "pm_create: %zu bytes is below the minimum pool size %zu (%u lanes)",
			       size, min, nlanes);
			return NULL;
		}
		init_chunks = l.nchunks;
	} else {
		/* growable (P5): the geometry of the maximum, the heap of the
		 * initial size; the table is sized for the maximum, so the
		 * initial file must at least hold it and one chunk */
		if (pool_layout_for(max, nlanes, &l) || size < l.chunks_off + CHUNK_SIZE) {
			PM_ERR(PM_ETOOSMALL,
			       "pm_create: an initial size of %zu bytes is below %llu, the least a pool that "
			       "grows to %llu bytes starts with (%u lanes; its chunk table is sized for the maximum)",
			       size, (unsigned long long)(l.chunks_off + CHUNK_SIZE), (unsigned long long)max, nlanes);
			return NULL;
		}
		init_chunks = (uint32_t)((size - l.chunks_off) / CHUNK_SIZE);
	}
	if (access(path, F_OK) == 0) {
		PM_ERR(PM_EEXIST, "%s: file exists (pm_create never overwrites)", path);
		return NULL;
	}
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		PM_ERR(PM_EINVAL, "pm_create: path too long");
		return NULL;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		PM_ERR(PM_ESYS, "%s: cannot create a file there", path);
		return NULL;
	}
	int rc = 0;
	char *m = MAP_FAILED;
	if (fchmod(fd, mode ? mode : 0600) || flock(fd, LOCK_EX | LOCK_NB)) {
		rc = PM_ERR(PM_ESYS, "%s: chmod/lock failed", tmp);
	} else if ((errno = create_allocate(fd, size, &l, init_chunks)) != 0) {
		rc = PM_ERR(errno == ENOSPC ? PM_ENOSPC : PM_ESYS, "%s: cannot allocate %zu bytes", path, size);
	} else if ((m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		rc = PM_ERR(PM_ESYS, "%s: mmap failed", path);
	} else {
		image_format(m, max, &l, init_chunks);
		if (pmem_msync_all_(m, size) || fsync(fd))
			rc = PM_ERR(PM_ESYS, "%s: cannot make the new pool durable", path);
		munmap(m, size);
	}
	if (rc == 0 && link(tmp, path) != 0)
		rc = errno == EEXIST ? PM_ERR(PM_EEXIST, "%s: file exists", path)
		                     : PM_ERR(PM_ESYS, "%s: cannot link the new pool into place", path);
	unlink(tmp);
	if (rc == 0)
		pool_fsync_dir_of(path);
	if (rc) {
		close(fd);
		return NULL;
	}
	struct pm_pool *p = pool_new(fd, size);
	if (!p) {
		close(fd);
		return NULL;
	}
	p->open_flags = flags;
	if (pool_attach(p, 0, path)) {
		pool_free(p);
		return NULL;
	}
	return p;
}

PM_API pm_pool *pm_create(const char *path, size_t size, mode_t mode)
{
	return pm_create_ex(path, size, mode, NULL);
}

PM_API void pm_close(pm_pool *p)
{
	if (!p)
		return;
	if (lane_pool_forked(p)) {
		/* a child's inherited handle: the pool (and the parent's
		 * transactions in it) are the parent's; only let go of ours */
		tx_pool_closing(p);
		p->wal = NULL; /* the parent's log: never checkpointed here */
		pool_free(p);
		return;
	}
	tx_pool_closing(p);
	if (!p->mapped_private) {
		/* Every lane's invalidation, whoever flushed it, made durable here. */
		lane_flush_pending(p, &p->user_cnt, NULL, NULL);
		/* DURABLE: all pending invalidations; the pool is quiescent. */
		flush_fence(p->ops, &p->user_cnt);
	}
	pool_free(p);
}

/* ---- growth (P5 in pool_format.h, docs/DESIGN.md §3a) ----------------- */

/* Grow to `want` chunks (<= max_chunks), grow_lock held.  The steps, each
 * finished before the next:
 *   G1 the file: the table's pages for the new chunks and the chunks
 *      themselves allocated (fallocate: a full file system is an error
 *      here, never a SIGBUS on a later store), then fsync'ed, so that the
 *      length is durable before anything counts on it;
 *   G2 the new range mapped right after the old, inside the reservation;
 *   G3 table[old] = FREE(want - old), durable (heap_extend_prepare);
 *   G4 desc.heap_chunks = want, durable: the one store that makes the
 *      space part of the pool;
 *   G5 the span made free space in DRAM, the sizes in use raised.
 * A crash before G4 leaves the old heap (and perhaps a longer file, which
 * opens at the recorded size; the next growth reuses the tail); after G4
 * the new span is free space.  On an error before G4 the pool is unchanged
 * and usable. */
static int grow_locked(struct pm_pool *p, struct lane *ln, uint64_t want)
{
	uint64_t old = p->hdr_copy.nchunks;
	uint64_t old_end = p->hdr_copy.chunks_off + old * CHUNK_SIZE;
	uint64_t new_end = p->hdr_copy.chunks_off + want * CHUNK_SIZE;
	uint64_t t_lo = (p->hdr_copy.chunk_table_off + old * 8) & ~UINT64_C(4095);
	uint64_t t_hi = (p->hdr_copy.chunk_table_off + want * 8 + 4095) & ~UINT64_C(4095);
	char why[160];
	int e = 0;
	if (p->mapped_private && new_end > p->file_len)
		e = EROFS; /* a private copy (pm_check_path, a dry run) grows only
		            * into what the file already has */
	/* G1: fallocate(2), not posix_fallocate: glibc's fallback writes
	 * zeroes, and the table page holding table[old] is in use.  Without
	 * it (a file system that cannot), the table pages stay sparse. */
	if (!e && !p->mapped_private && fallocate(p->fd, 0, (off_t)t_lo, (off_t)(t_hi - t_lo)) != 0 &&
	    errno != EOPNOTSUPP)
		e = errno;
	if (!e && !p->mapped_private && fallocate(p->fd, 0, (off_t)old_end, (off_t)(new_end - old_end)) != 0)
		e = errno == EOPNOTSUPP ? posix_fallocate(p->fd, (off_t)old_end, (off_t)(new_end - old_end))
		                        : errno;
	/* DURABLE (fsync): the file's new length and blocks.  CRASH BEFORE:
	 * the file may be as long as before or longer; the recorded count is
	 * the old one either way (a longer file opens at the recorded size). */
	if (!e && !p->mapped_private && !PM_BUG(PM_BUG_GROW_NO_FSYNC) && fsync(p->fd) != 0)
		e = errno;
	if (e) {
		snprintf(why, sizeof(why), "growing the file to %llu bytes failed: %s",
		         (unsigned long long)new_end, strerror(e));
		heap_grow_failed(why);
		return PM_ERR(e == ENOSPC || e == EFBIG || e == EDQUOT ? PM_ENOSPC : PM_ESYS, "%s", why);
	}
	if (new_end > p->file_len)
		p->file_len = (size_t)new_end;
	/* G2 (what open mapped of a longer file stays as it is) */
	uint64_t map_from = old_end > p->mapped_len ? old_end : p->mapped_len;
	if (new_end > map_from &&
	    mmap(p->base + map_from, (size_t)(new_end - map_from), PROT_READ | PROT_WRITE,
	         (p->mapped_private || p->wal ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED, p->fd, (off_t)map_from) ==
	            MAP_FAILED) {
		snprintf(why, sizeof(why), "mapping %llu more bytes failed: %s",
		         (unsigned long long)(new_end - map_from), strerror(errno));
		heap_grow_failed(why);
		return PM_ERR(PM_ESYS, "%s", why);
	}
	if (new_end > p->mapped_len)
		p->mapped_len = (size_t)new_end;
	/* G3 (a seeded bug publishes the count first: for a crash between the
	 * two, the walk reads whatever table[old] held) */
	if (!PM_BUG(PM_BUG_GROW_COUNT_FIRST) && heap_extend_prepare(&p->heap, ln, (uint32_t)want))
		return PM_ERR(PM_EINVAL, "grow: %llu chunks is no growth from %llu", (unsigned long long)want,
		              (unsigned long long)old);
	/* G4 */
	p->desc->heap_chunks = want;
	flush_range(p->ops, &ln->cnt, &p->desc->heap_chunks, 8);
	/* DURABLE: the heap has `want` chunks; the new span, FREE on media
	 * since G3, is free space for every later open.  CRASH BEFORE: the
	 * old count; the new header is past the walk's end, the file's tail
	 * past the recorded size is unused. */
	lane_fence(ln);
	if (PM_BUG(PM_BUG_GROW_COUNT_FIRST))
		heap_extend_prepare(&p->heap, ln, (uint32_t)want);
	if (atomic_load(&p->failed)) {
		heap_grow_failed("a fence failed while growing");
		return PM_ERR(PM_EIO, "grow: a fence failed (msync error)");
	}
	/* G5 */
	__atomic_store_n(&p->hdr_copy.nchunks, want, __ATOMIC_RELEASE);
	__atomic_store_n(&p->size, (size_t)new_end, __ATOMIC_RELEASE);
	heap_extend_commit(&p->heap, (uint32_t)want);
	return 0;
}

/* The default step: a quarter of the heap, at least 8 MiB and at most
 * 256 MiB at a time (so the file is never more than a quarter or 256 MiB
 * larger than what filled it: on tmpfs allocating the file's pages is most
 * of a growth's cost), at least `need`, and never past the maximum (the
 * last step may be shorter: a run fits a shorter span). */
static uint64_t grow_target(const struct pm_pool *p, uint64_t cur, uint64_t need)
{
	uint64_t step = cur / 4;
	if (step < (UINT64_C(8) << 20) / CHUNK_SIZE)
		step = (UINT64_C(8) << 20) / CHUNK_SIZE;
	if (step > (UINT64_C(256) << 20) / CHUNK_SIZE)
		step = (UINT64_C(256) << 20) / CHUNK_SIZE;
	if (step < need)
		step = need;
	return cur + step > p->max_chunks ? p->max_chunks : cur + step;
}

static int pool_grow_cb(void *ctx, struct lane *ln, uint32_t seen, uint32_t need)
{
	struct pm_pool *p = ctx;
	pthread_mutex_lock(&p->grow_lock);
	uint64_t cur = p->hdr_copy.nchunks;
	int rc = 0;
	if (cur > seen) {
		rc = 0; /* another thread grew it meanwhile: try that first */
	} else if (cur + need > p->max_chunks) {
		char why[160];
		snprintf(why, sizeof(why), "the pool is at its maximum size (%zu bytes)", p->max_size);
		heap_grow_failed(why);
		rc = PM_ERR(PM_ENOSPC, "%s", why);
	} else {
		rc = grow_locked(p, ln, grow_target(p, cur, need));
	}
	pthread_mutex_unlock(&p->grow_lock);
	return rc;
}

PM_API int pm_grow(pm_pool *p, size_t size)
{
	if (!p)
		return PM_ERR(PM_EINVAL, "pm_grow: NULL pool");
	if (!p->growable)
		return PM_ERR(PM_EINVAL, "pm_grow: the pool was created with a fixed size");
	if (size > p->max_size)
		return PM_ERR(PM_EINVAL, "pm_grow: %zu bytes is past the pool's maximum (%zu)", size,
		              p->max_size);
	if (lane_pool_writable(p, "pm_grow"))
		return pm_last_error();
	uint64_t co = p->hdr_copy.chunks_off;
	uint64_t want = size <= co ? 0 : (size - co + CHUNK_SIZE - 1) / CHUNK_SIZE;
	if (want > p->max_chunks)
		want = p->max_chunks;
	struct lane *ln = lane_acquire(p);
	pthread_mutex_lock(&p->grow_lock);
	int rc = want > p->hdr_copy.nchunks ? grow_locked(p, ln, want) : 0;
	pthread_mutex_unlock(&p->grow_lock);
	lane_release(ln);
	return rc;
}

PM_API size_t pm_max_size(const pm_pool *p)
{
	return p->growable ? p->max_size : pool_size_now(p);
}

/* ---- accessors -------------------------------------------------------- */

PM_API void *pm_base(const pm_pool *p) { return p->base; }
PM_API size_t pm_size(const pm_pool *p) { return pool_size_now(p); }
PM_API int pm_is_pmem(const pm_pool *p) { return p->is_pmem; }
PM_API const char *pm_durability(const pm_pool *p) { return p ? p->ops->name : ""; }

PM_API void *pm_direct_checked(const pm_pool *p, pm_off off, size_t len)
{
	size_t sz = p ? pool_size_now(p) : 0;
	if (!p || off == 0 || off >= sz || len > sz - off) {
		PM_ERR(PM_ERANGE, "offset 0x%llx (+%zu) is outside the pool", (unsigned long long)off, len);
		return NULL;
	}
	return p->base + off;
}

PM_API pm_off pm_offset_checked(const pm_pool *p, const void *ptr)
{
	const char *c = ptr;
	if (!p || !c || c < p->base || c >= p->base + pool_size_now(p)) {
		PM_ERR(PM_ERANGE, "pointer %p is outside the pool", ptr);
		return 0;
	}
	return (pm_off)(c - p->base);
}

/* ---- root ------------------------------------------------------------- */

/*
 * A later pm_root with a larger size grows the root (under root_lock), in
 * one publish, 2 fences either way:
 *  - in place, when the object's usable size holds it: the new tail is
 *    zeroed and flushed, then one log {cover of the tail, root_size = size}.
 *    A crash leaves the old size (the tail, outside the root, may or may
 *    not be zero) or the new size with a zero tail (the cover: a log that
 *    reached media before the zeroes did is invalid).
 *  - moved: a reservation filled with the old contents and zeroes, then
 *    one publish {allocate it (covered), free the old root, root_off,
 *    root_size}: either the old root, or the new one with the old bytes.
 * Moving is refused inside this thread's transaction on the pool (its
 * undo entries may name the old root's bytes, which the move frees).
 */
static pm_off root_grow(struct pm_pool *p, size_t size)
{
	pm_off old = p->desc->root_off;
	size_t osz = p->desc->root_size;
	if (size > PM_MAX_ALLOC_SIZE) {
		PM_ERR(PM_EINVAL, "pm_root: bad size %zu", size);
		return 0;
	}
	if (lane_pool_writable(p, "pm_root"))
		return 0;
	size_t usable = pm_usable_size(p, old);
	if (usable >= size) {
		struct lane *ln = lane_acquire(p);
		lane_take_seq(ln); /* before the flushes (pool.h) */
		redo_buf_init(&ln->redo);
#if PM_BUG(PM_BUG_ROOT_GROW_NO_COVER)
		memset(p->base + old + osz, 0, size - osz); /* BUG: not flushed, not covered */
#else
		p->ops->memset_nodrain(p->base + old + osz, 0, size - osz);
		ln->cnt.flushes++;
		redo_buf_add(&ln->redo, old + osz, REDO_MARK, size - osz); /* cover */
#endif
		redo_buf_add(&ln->redo, (uint64_t)((char *)&p->desc->root_size - p->base),
		             REDO_SET, size);
		int rc = palloc_publish_redo(ln);
		rc |= lane_release(ln);
		return rc ? 0 : old;
	}
	if (tx_pool() == p) {
		PM_ERR(PM_ETX, "pm_root: growing the root from %zu to %zu bytes moves it, "
		       "which is refused inside a transaction", osz, size);
		return 0;
	}
	struct pm_action act[4];
	pm_off off = pm_reserve(p, &act[0], size);
	if (!off)
		return 0;
	/* no flush here: the publish flushes and covers the reserved object */
	memcpy(p->base + off, p->base + old, osz);
	memset(p->base + off + osz, 0, size - osz);
	int rc = pm_defer_free(p, &act[1], old);
	if (!rc) {
		pm_set_value(p, &act[2], &p->desc->root_off, off);
		pm_set_value(p, &act[3], &p->desc->root_size, size);
		rc = pm_publish(p, act, 4);
	}
	if (rc) {
		pm_cancel(p, act, 1);
		return 0;
	}
	return off;
}

PM_API pm_off pm_root(pm_pool *p, size_t size)
{
	if (!p || size == 0) {
		PM_ERR(PM_EINVAL, "pm_root: size 0");
		return 0;
	}
	pthread_mutex_lock(&p->root_lock);
	pm_off off = p->desc->root_off;
	if (off && size > p->desc->root_size) {
		off = root_grow(p, size);
	} else if (!off) {
		struct pm_action act[3];
		off = pm_reserve(p, &act[0], size);
		if (off) {
			pm_memset_persist_nodrain_(p, p->base + off, 0, size);
			pm_set_value(p, &act[1], &p->desc->root_off, off);
			pm_set_value(p, &act[2], &p->desc->root_size, size);
			if (pm_publish(p, act, 3)) {
				pm_cancel(p, act, 1);
				off = 0;
			}
		}
	}
	pthread_mutex_unlock(&p->root_lock);
	return off;
}

PM_API size_t pm_root_size(pm_pool *p)
{
	return p ? p->desc->root_size : 0;
}

/* ---- persistence primitives ------------------------------------------- */

/*
 * Statistics only.  Deliberately not a locked read-modify-write: on x86 a
 * lock-prefixed instruction waits for earlier clwb/clflushopt, which would
 * turn every pm_flush into a fence.  Concurrent pm_flush calls from several
 * threads may therefore lose a count.
 */
static void user_count(struct pm_pool *p, uint64_t flushes, uint64_t fences)
{
	uint64_t *f = &p->user_cnt.flushes, *d = &p->user_cnt.fences;
	__atomic_store_n(f, __atomic_load_n(f, __ATOMIC_RELAXED) + flushes, __ATOMIC_RELAXED);
	__atomic_store_n(d, __atomic_load_n(d, __ATOMIC_RELAXED) + fences, __ATOMIC_RELAXED);
}

void pm_memset_persist_nodrain_(struct pm_pool *p, void *dst, int c, size_t len)
{
	p->ops->memset_nodrain(dst, c, len);
	user_count(p, 1, 0);
}

PM_API void pm_flush(pm_pool *p, const void *addr, size_t len)
{
	p->ops->flush(addr, len);
	user_count(p, 1, 0);
}

PM_API int pm_drain(pm_pool *p)
{
	struct flush_counters c = {0, 0};
	if (lane_pool_forked(p))
		return PM_ERR(PM_EFORKED, "pm_drain: pool handle inherited across fork()");
	/* Another thread's lazily invalidated log must not stay replayable
	 * once data that depends on its operation is durable. */
	lane_flush_pending(p, &c, NULL, NULL);
	/* DURABLE: everything this thread flushed (its own lane's pending
	 * invalidation included), and other lanes' pending invalidations. */
	p->ops->drain();
	/* WAL mode inside an operation (a transaction) defers syncs: not
	 * this one, which promises durability when it returns */
	if (p->wal && flush_wal_sync_mine())
		flush_tls_error = EIO;
	user_count(p, c.flushes, 1);
	if (flush_tls_error) {
		flush_tls_error = 0;
		lane_pool_failed(p);
	}
	if (atomic_load_explicit(&p->failed, memory_order_relaxed))
		return PM_ERR(PM_EIO, "pm_drain: a fence failed (msync error): durability is lost; "
		              "the handle refuses writes until the pool is reopened");
	return 0;
}

PM_API int pm_persist(pm_pool *p, const void *addr, size_t len)
{
	pm_flush(p, addr, len);
	return pm_drain(p);
}

PM_API void *pm_memcpy_persist(pm_pool *p, void *dst, const void *src, size_t len)
{
	p->ops->memcpy_nodrain(dst, src, len);
	user_count(p, 1, 0);
	pm_drain(p);
	return dst;
}

PM_API void *pm_memset_persist(pm_pool *p, void *dst, int c, size_t len)
{
	pm_memset_persist_nodrain_(p, dst, c, len);
	pm_drain(p);
	return dst;
}

/* ---- statistics ------------------------------------------------------- */

PM_API void pm_stats_get(pm_pool *p, struct pm_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->flushes = __atomic_load_n(&p->user_cnt.flushes, __ATOMIC_RELAXED);
	st->fences = __atomic_load_n(&p->user_cnt.fences, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < p->nlanes; i++) {
		const struct lane *ln = &p->lanes[i];
		st->flushes += ln->cnt.flushes;
		st->fences += ln->cnt.fences;
		st->allocs += ln->allocs;
		st->frees += ln->frees;
		st->publishes += ln->publishes;
		st->tx_commits += ln->tx_commits;
		st->tx_aborts += ln->tx_aborts;
	}
}

PM_API void pm_stats_reset(pm_pool *p)
{
	__atomic_store_n(&p->user_cnt.flushes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&p->user_cnt.fences, 0, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < p->nlanes; i++) {
		struct lane *ln = &p->lanes[i];
		memset(&ln->cnt, 0, sizeof(ln->cnt));
		ln->allocs = ln->frees = ln->publishes = ln->tx_commits = ln->tx_aborts = 0;
	}
}

int pmem_msync_all_(void *addr, size_t len)
{
	return msync(addr, len, MS_SYNC);
}
