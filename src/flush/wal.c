/*
 * wal.c -- layer 1: the write-ahead-log table for pools on ordinary files
 * (PMSTORE_WAL=1; docs/PERFORMANCE.md "WAL mode", flush.h).
 *
 * THE IDEA.  On a file, the msync path needs an msync at every fence
 * because the kernel may write a MAP_SHARED page back at any moment, in
 * any order: the only way to order write-back is to wait for it.  In WAL
 * mode the pool is mapped MAP_PRIVATE, so the kernel never writes the
 * program's stores to the pool file at all, and a fence needs no sync:
 *   flush(a, n)  records [a, a+n) (8-byte rounded) in a per-thread list;
 *   drain()      appends ONE FRAME to the pool's log, under w->mu: the
 *                recorded ranges' pool offsets and their bytes as they
 *                are now, a frame number and a checksum over all of it;
 *                it syncs only when the thread is not inside an operation
 *                (flush_defer_begin/end, taken by lane.c around every
 *                operation): an operation's last step, lane_release, syncs.
 * The log is a sidecar file, <pool>.wal (written once with zeroes, in 4 MiB
 * steps as it first fills), written with pwrite from an in-memory copy and
 * made durable with fdatasync.  pm_check_path applies it to its private
 * copy (flush_wal_apply_private), so it checks what pm_open would see.  Recovery
 * (flush_wal_replay, at every pm_open before anything reads the pool)
 * applies the frames of the current epoch in order and stops at the
 * first that is torn, stale or out of place.
 *
 * WHY THE POWER-LOSS MODEL STILL HOLDS.  After a crash the pool file is
 * the last checkpoint plus frames 1..k for some k, whatever k the device
 * kept (frames are numbered and checksummed, so a later frame without an
 * earlier one is never applied).  That is the state in which fences 1..k
 * completed and nothing after them reached media: one of the states the
 * model allows (flush.h).  Every fence a thread issued before its sync
 * returned is in 1..k.  So every protocol above, written for "durable
 * after flush and fence", is unchanged; what changes is only that an
 * operation's ordering fences cost a memcpy, and its durability costs one
 * fdatasync at its end.  Stores never flushed never reach the file at all
 * (the model allows that too: "may or may not").
 *
 * GROUP COMMIT: a sync writes and syncs every frame appended so far,
 * whoever appended it; a thread whose frames are covered by a sync in
 * flight that STARTED after they were appended waits for it (w->syncing:
 * the leader's sync covers [synced, end) as of its start).  That alone
 * shares little between two threads: each arrives while the other's sync
 * is in flight, so syncs alternate, one operation each.  So threads
 * GATHER first: while fewer are waiting than the last sync served or saw
 * arrive (w->expect), and no sync is in flight, they wait for the rest,
 * up to a deadline half the last sync's time (1 ms at most) after the
 * first came; the thread that completes the group, or the first to reach
 * the deadline, syncs for all.  One thread alone never waits
 * (expect is 1); a thread that stopped costs one such wait.
 * PMSTORE_WAL_GATHER=0 turns it off.  Gathering only delays when a sync
 * starts: what a sync covers, and so every durability claim, is
 * unchanged.
 *
 * CHECKPOINT, when the log is full (PMSTORE_WAL_SIZE bytes, default 64 MiB)
 * and at pm_close: under w->mu and with no sync in flight, (1) every frame
 * written and synced; (2) every frame applied to the pool file in order
 * (pwrite), fdatasync of the pool file; (3) the log header rewritten with
 * epoch + 1, fdatasync.  A crash before (3) finds the old epoch's frames
 * and applies them again over their own results (absolute bytes:
 * idempotent); after (3) no frame of the old epoch is applied, and the
 * pool file holds them all.  A torn header (checksum wrong) is only ever
 * written after (2), or at creation: it means "nothing to replay".
 *
 * The header binds the log to its pool (the pool header's uuid), so a
 * stale <pool>.wal next to a new pool of the same name is ignored.  A pool
 * opened without WAL mode replays a sidecar it finds, then removes it.
 * Memory: the log's in-memory copy (PMSTORE_WAL_SIZE) and the private
 * mapping's touched pages (anonymous memory: at most the pool's size).
 */
#define _GNU_SOURCE
#include "flush.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/seeded_bugs.h"

#define WAL_MAGIC UINT64_C(0x314c4157534d5000)   /* "\0PMSWAL1" */
#define FRAME_MAGIC UINT64_C(0x454d415246534d50) /* "PMSFRAME" */
#define WAL_HDR 4096
#define WAL_DEFAULT_SIZE ((size_t)64 << 20)
#define WAL_RANGES 64
#define WAL_STEP ((size_t)4 << 20) /* the log file grows by this */
#define WAL_MAX_POOLS 16

struct wal_hdr {
	uint64_t magic;
	uint64_t epoch;
	uint8_t uuid[16];
	uint64_t checksum; /* over the words before it */
};

/* frame: magic, epoch, frame number, nranges | nwords << 32,
 * then nranges x {off, len}, the data (len bytes each, 8-aligned), and a
 * checksum over every word before it */
#define FRAME_HEAD 4

struct flush_wal {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd, pool_fd;
	char *base;
	size_t size;     /* the pool's bytes in use (frames must lie inside) */
	size_t cap;      /* bytes of the log file, header included */
	size_t filled;   /* the file's bytes written once (zeroes or frames) */
	uint8_t *buf;    /* the log's in-memory copy, cap bytes */
	size_t end;      /* appended up to here (file offset) */
	size_t written;  /* synced up to here */
	uint64_t end_lsn, synced_lsn; /* bytes appended / synced, ever */
	uint64_t epoch, frame;
	int syncing;      /* a sync is in flight */
	unsigned queued;  /* threads waiting whose frames no sync has begun on */
	uint64_t sync_gen; /* syncs begun */
	unsigned covering; /* the threads the sync in flight covers */
	unsigned expect;  /* the last sync's covered + those who came during it */
	uint64_t gather_until; /* the gathering's deadline, 0: none */
	int gather;       /* PMSTORE_WAL_GATHER (default 1) */
	uint64_t sync_ns; /* the last sync's time */
	int err; /* sticky: a failed write or sync */
	uint8_t uuid[16];
	unsigned long syncs, frames, checkpoints;
};

static struct {
	char *lo, *hi;
	/* set last (release) at registration, cleared first at detach: a
	 * thread that sees it also sees lo and hi (wal_of reads without
	 * the lock, while another pool may be opening or closing) */
	struct flush_wal *_Atomic w;
} wal_pools[WAL_MAX_POOLS];
static pthread_mutex_t wal_reg_mu = PTHREAD_MUTEX_INITIALIZER;

static _Thread_local struct {
	unsigned n;
	uintptr_t lo[WAL_RANGES], hi[WAL_RANGES];
	unsigned defer;
	struct flush_wal *last; /* the log of this thread's last frame */
	uint64_t last_lsn;      /* its end */
} tls;

static uint64_t wal_hash(const uint64_t *w, size_t n, uint64_t seed)
{
	uint64_t h = seed ^ UINT64_C(0x9e3779b97f4a7c15);
	for (size_t i = 0; i < n; i++) {
		h ^= w[i];
		h *= UINT64_C(0xff51afd7ed558ccd);
		h ^= h >> 32;
	}
	h ^= h >> 29;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 32;
	return h ? h : 1;
}

static int pwrite_all(int fd, const void *b, size_t n, off_t at)
{
	const char *c = b;
	while (n) {
		ssize_t k = pwrite(fd, c, n, at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? errno : EIO;
		c += k, n -= (size_t)k, at += k;
	}
	return 0;
}

static int write_hdr(int fd, uint64_t epoch, const uint8_t uuid[16])
{
	struct wal_hdr h = { WAL_MAGIC, epoch, {0}, 0 };
	memcpy(h.uuid, uuid, 16);
	h.checksum = wal_hash((const uint64_t *)&h, offsetof(struct wal_hdr, checksum) / 8, 0);
	int e = pwrite_all(fd, &h, sizeof(h), 0);
	/* DURABLE (fdatasync): the new epoch; every older frame is void */
	if (!e && fdatasync(fd) != 0)
		e = errno;
	return e;
}

char *flush_wal_path(const char *pool_path)
{
	size_t n = strlen(pool_path);
	char *s = malloc(n + 5);
	if (s) {
		memcpy(s, pool_path, n);
		memcpy(s + n, ".wal", 5);
	}
	return s;
}

/*
 * Walk the frames of epoch `epoch` in b[WAL_HDR, len); apply each to
 * pool_fd (if >= 0; or to the mapping mem, if not NULL) when it lies
 * inside [0, pool_len).  Returns the end of
 * the last valid frame and its count in *nframes.
 */
static size_t walk_frames(const uint8_t *b, size_t len, uint64_t epoch, int pool_fd, char *mem,
                          uint64_t pool_len, unsigned long *nframes, int *err)
{
	size_t at = WAL_HDR;
	uint64_t want = 1;
	*nframes = 0;
	while (at + (FRAME_HEAD + 1) * 8 <= len) {
		const uint64_t *f = (const uint64_t *)(b + at);
#if PM_BUG(PM_BUG_WAL_RESYNC_ON_MAGIC)
		if (f[0] != FRAME_MAGIC || f[1] != epoch) {
			at += 8;
			continue;
		}
		want = f[2];
#endif
		if (f[0] != FRAME_MAGIC || f[1] != epoch || f[2] != want)
			break;
		uint64_t nr = f[3] & 0xffffffffu, nw = f[3] >> 32;
		if (nw < FRAME_HEAD + 2 * nr + 1 || at + nw * 8 > len)
			break;
		if (f[nw - 1] != wal_hash(f, nw - 1, epoch))
			break;
		/* every range inside the pool and the frame, or none applied */
		uint64_t data = FRAME_HEAD + 2 * nr, ok = 1;
		for (uint64_t i = 0; i < nr && ok; i++) {
			uint64_t off = f[FRAME_HEAD + 2 * i], l = f[FRAME_HEAD + 2 * i + 1];
			ok = l % 8 == 0 && off <= pool_len && l <= pool_len - off && data + l / 8 <= nw - 1;
			data += l / 8;
		}
		if (!ok || data != nw - 1)
			break;
		if (pool_fd >= 0) {
			data = FRAME_HEAD + 2 * nr;
			for (uint64_t i = 0; i < nr; i++) {
				uint64_t off = f[FRAME_HEAD + 2 * i], l = f[FRAME_HEAD + 2 * i + 1];
				int e = 0;
				if (mem)
					memcpy(mem + off, f + data, l);
				else
					e = pwrite_all(pool_fd, f + data, l, (off_t)off);
				if (e) {
					*err = e;
					return at;
				}
				data += l / 8;
			}
		}
		at += nw * 8;
		want++;
		(*nframes)++;
	}
	return at;
}

int flush_wal_replay(const char *pool_path, int pool_fd, int keep, unsigned long *applied)
{
	*applied = 0;
	char *wp = flush_wal_path(pool_path);
	if (!wp)
		return ENOMEM;
	int fd = open(wp, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno == ENOENT ? 0 : errno;
		free(wp);
		return e;
	}
	struct stat st, pst;
	uint8_t uuid[16];
	int e = 0;
	if (fstat(fd, &st) || fstat(pool_fd, &pst) || pread(pool_fd, uuid, 16, 16) != 16) {
		e = errno ? errno : EIO;
		goto out;
	}
	struct wal_hdr h;
	if (pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && h.magic == WAL_MAGIC &&
	    h.checksum == wal_hash((const uint64_t *)&h, offsetof(struct wal_hdr, checksum) / 8, 0) &&
	    !memcmp(h.uuid, uuid, 16) && st.st_size > WAL_HDR) {
		size_t len = (size_t)st.st_size;
		uint8_t *b = malloc(len);
		if (!b) {
			e = ENOMEM;
			goto out;
		}
		ssize_t got = pread(fd, b, len, 0);
		if (got < 0) {
			e = errno;
			free(b);
			goto out;
		}
		walk_frames(b, (size_t)got, h.epoch, pool_fd, NULL, (uint64_t)pst.st_size, applied, &e);
		free(b);
		/* DURABLE (fdatasync of the pool): every valid frame's bytes.
		 * CRASH BEFORE: the log is unchanged; the next open applies
		 * the same frames again over their own results. */
		if (!e && *applied && fdatasync(pool_fd) != 0)
			e = errno;
		if (!e && *applied)
			e = write_hdr(fd, h.epoch + 1, uuid);
	}
	if (!e && !keep && unlink(wp) != 0)
		e = errno;
out:
	close(fd);
	free(wp);
	return e;
}

/* pm_check_path's private copy: the log's frames applied to the mapping
 * at base (len bytes of file), not to the file. */
int flush_wal_apply_private(const char *pool_path, char *base, size_t len, unsigned long *applied)
{
	*applied = 0;
	if (len < 32)
		return 0;
	char *wp = flush_wal_path(pool_path);
	if (!wp)
		return ENOMEM;
	int fd = open(wp, O_RDONLY | O_CLOEXEC);
	free(wp);
	if (fd < 0)
		return errno == ENOENT ? 0 : errno;
	struct stat st;
	struct wal_hdr h;
	int e = 0;
	if (fstat(fd, &st) == 0 && pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
	    h.magic == WAL_MAGIC &&
	    h.checksum == wal_hash((const uint64_t *)&h, offsetof(struct wal_hdr, checksum) / 8, 0) &&
	    !memcmp(h.uuid, base + 16, 16) && st.st_size > WAL_HDR) {
		uint8_t *b = malloc((size_t)st.st_size);
		ssize_t got = b ? pread(fd, b, (size_t)st.st_size, 0) : -1;
		if (got > 0) {
			walk_frames(b, (size_t)got, h.epoch, 0, base, len, applied, &e);
		} else {
			e = b ? errno : ENOMEM;
		}
		free(b);
	}
	close(fd);
	return e;
}

static size_t wal_cap(void)
{
	const char *s = getenv("PMSTORE_WAL_SIZE");
	size_t c = s ? (size_t)strtoull(s, NULL, 0) : WAL_DEFAULT_SIZE;
	if (c < ((size_t)1 << 20))
		c = (size_t)1 << 20;
	return (c + 4095) & ~(size_t)4095;
}

struct flush_wal *flush_wal_attach(const char *pool_path, int pool_fd, char *base, size_t size,
                                   size_t reserve, int *err)
{
	*err = 0;
	struct flush_wal *w = calloc(1, sizeof(*w));
	char *wp = flush_wal_path(pool_path);
	if (!w || !wp) {
		*err = ENOMEM;
		goto fail;
	}
	w->fd = -1;
	w->cap = wal_cap();
	w->buf = malloc(w->cap);
	if (!w->buf || pread(pool_fd, w->uuid, 16, 16) != 16) {
		*err = w->buf ? EIO : ENOMEM;
		goto fail;
	}
	/* flush_wal_replay ran first: whatever the file holds is void */
	w->fd = open(wp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	struct stat st;
	if (w->fd < 0 || fstat(w->fd, &st) != 0) {
		*err = errno;
		goto fail;
	}
	struct wal_hdr h;
	if (pread(w->fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && h.magic == WAL_MAGIC &&
	    h.checksum == wal_hash((const uint64_t *)&h, offsetof(struct wal_hdr, checksum) / 8, 0)) {
		w->epoch = h.epoch + 1;
	} else {
		/* new, foreign or torn: an epoch no stale frame in it can have
		 * (with overwhelming odds), as nothing tells which they had */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		w->epoch = wal_hash((const uint64_t[]){ (uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec,
		                                         (uint64_t)getpid() }, 3, 0) >> 1;
	}
	/* written once, so that a sync later writes data into blocks the
	 * file system has allocated and initialised already: the first
	 * WAL_STEP now, the rest as the log reaches it (extend_locked) */
	w->filled = (size_t)st.st_size < w->cap ? (size_t)st.st_size : w->cap;
	if (w->filled < WAL_STEP && w->filled < w->cap) {
		size_t to = w->cap < WAL_STEP ? w->cap : WAL_STEP;
		memset(w->buf, 0, to);
		if ((*err = pwrite_all(w->fd, w->buf, to, 0)) != 0)
			goto fail;
		w->filled = to;
	}
	if ((*err = write_hdr(w->fd, w->epoch, w->uuid)) != 0)
		goto fail;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	const char *g = getenv("PMSTORE_WAL_GATHER");
	w->gather = !(g && g[0] == '0');
	w->pool_fd = pool_fd;
	w->base = base;
	w->size = size;
	w->end = w->written = WAL_HDR;
	pthread_mutex_lock(&wal_reg_mu);
	unsigned i;
	for (i = 0; i < WAL_MAX_POOLS && wal_pools[i].w; i++)
		;
	if (i == WAL_MAX_POOLS) {
		pthread_mutex_unlock(&wal_reg_mu);
		*err = EMFILE;
		goto fail;
	}
	wal_pools[i].lo = base;
	wal_pools[i].hi = base + reserve;
	atomic_store_explicit(&wal_pools[i].w, w, memory_order_release);
	pthread_mutex_unlock(&wal_reg_mu);
	free(wp);
	return w;
fail:
	if (w && w->fd >= 0)
		close(w->fd);
	if (w)
		free(w->buf);
	free(w);
	free(wp);
	return NULL;
}

void flush_wal_set_size(struct flush_wal *w, size_t size)
{
	pthread_mutex_lock(&w->mu);
	w->size = size;
	pthread_mutex_unlock(&w->mu);
}

/* Write and sync [written, end) as of now; w->mu held, no sync in flight.
 * Drops the lock while writing. */
static void sync_locked(struct flush_wal *w)
{
	w->syncing = 1;
	w->gather_until = 0;
	size_t from = w->written, to = w->end;
	uint64_t lsn = w->end_lsn;
	w->covering = w->queued; /* all of them: their frames are in [from, to) */
	w->queued = 0;
	w->sync_gen++;
	uint64_t t0 = flush_now_ns();
	pthread_mutex_unlock(&w->mu);
	int e = pwrite_all(w->fd, w->buf + from, to - from, (off_t)from);
	/* DURABLE (fdatasync): every frame appended before this sync began.
	 * CRASH BEFORE: the log ends at some earlier frame (a prefix of the
	 * fences: a state the model allows); no operation whose frames these
	 * are has returned yet. */
	if (!e && fdatasync(w->fd) != 0)
		e = errno;
	pthread_mutex_lock(&w->mu);
	w->sync_ns = flush_now_ns() - t0;
	w->expect = w->covering + w->queued;
	w->syncs++;
	if (e && !w->err)
		w->err = e;
	if (!e) {
		w->written = to;
		w->synced_lsn = lsn;
	}
	w->syncing = 0;
	pthread_cond_broadcast(&w->cv);
}

/* Sync until `lsn` is durable; w->mu held.  Returns the sticky error. */
static int sync_to_locked(struct flush_wal *w, uint64_t lsn)
{
	if (w->err || w->synced_lsn >= lsn)
		return w->err;
	w->queued++;
	uint64_t gen = w->sync_gen;
	while (!w->err && w->synced_lsn < lsn) {
		if (w->syncing) { /* in flight: it started before our frames */
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		/* Gather (the opening comment): fewer of us waiting than the
		 * last sync served or saw arrive -- wait for the rest, until a
		 * deadline the first of us set.  The thread that completes the
		 * group syncs at once, so nobody has to be woken to start it;
		 * the sync's end wakes everyone it covered. */
		if (w->gather && w->queued < w->expect && w->sync_ns) {
			uint64_t now = flush_now_ns();
			if (!w->gather_until)
				w->gather_until = now + (w->sync_ns / 2 < 1000000 ? w->sync_ns / 2 : 1000000);
			if (now < w->gather_until) {
				struct timespec ts = { (time_t)(w->gather_until / 1000000000u),
				                       (long)(w->gather_until % 1000000000u) };
				pthread_cond_timedwait(&w->cv, &w->mu, &ts);
				continue;
			}
		}
		sync_locked(w);
	}
	/* still counted when no sync began since we were (the one in flight
	 * when we came covered our frames after all, or an error ended it):
	 * a phantom there would make the next group wait for nobody */
	if (w->sync_gen == gen)
		w->queued--;
	return w->err;
}

/* Checkpoint (the opening comment); w->mu held. */
static int checkpoint_locked(struct flush_wal *w)
{
	while (w->syncing)
		pthread_cond_wait(&w->cv, &w->mu);
	int e = sync_to_locked(w, w->end_lsn);
	if (e)
		return e;
	if (w->end == WAL_HDR)
		return 0;
	unsigned long n;
	if (walk_frames(w->buf, w->end, w->epoch, w->pool_fd, NULL, UINT64_MAX, &n, &e) != w->end && !e)
		e = EIO; /* a frame of our own that does not read back: never durable-claimed */
	/* DURABLE (fdatasync of the pool): every frame of this epoch.
	 * CRASH BEFORE: the log still holds them; replay applies them again. */
	if (!e && fdatasync(w->pool_fd) != 0)
		e = errno;
	if (!e)
		e = write_hdr(w->fd, w->epoch + 1, w->uuid);
	if (e) {
		w->err = e;
		return e;
	}
	w->epoch++;
	w->frame = 0;
	w->end = w->written = WAL_HDR;
	w->checkpoints++;
	return 0;
}

/* The log file's next WAL_STEP bytes written (zeroes), so that it reaches
 * `need`; w->mu held.  A file system that refuses (full, a file-size
 * limit) makes the log full at the size it has: the caller checkpoints. */
static void extend_locked(struct flush_wal *w, size_t need)
{
	size_t to = (need + WAL_STEP - 1) / WAL_STEP * WAL_STEP;
	if (to > w->cap)
		to = w->cap;
	memset(w->buf + w->filled, 0, to - w->filled);
	if (pwrite_all(w->fd, w->buf + w->filled, to - w->filled, (off_t)w->filled) == 0)
		w->filled = to;
	else
		w->cap = w->filled;
}

static struct flush_wal *wal_of(uintptr_t a)
{
	for (unsigned i = 0; i < WAL_MAX_POOLS; i++) {
		struct flush_wal *w = atomic_load_explicit(&wal_pools[i].w, memory_order_acquire);
		if (w && a >= (uintptr_t)wal_pools[i].lo && a < (uintptr_t)wal_pools[i].hi)
			return w;
	}
	return NULL;
}

/* Append one frame of this thread's ranges that lie in w (own[i]: the
 * log of range i, looked up once per fence by wal_append_pending). */
static void append_frame(struct flush_wal *w, struct flush_wal *const *own)
{
	uint64_t nr = 0, data = 0;
	for (unsigned i = 0; i < tls.n; i++)
		if (own[i] == w) {
			nr++;
			data += (tls.hi[i] - tls.lo[i]) / 8;
		}
	uint64_t nw = FRAME_HEAD + 2 * nr + data + 1;
	if (tls.last && tls.last != w && flush_wal_sync_mine()) /* another pool's */
		flush_tls_error = EIO;
	pthread_mutex_lock(&w->mu);
	if (w->end + nw * 8 > w->filled && w->filled < w->cap)
		extend_locked(w, w->end + nw * 8);
	if (w->end + nw * 8 > w->cap && !w->err)
		checkpoint_locked(w);
	if (w->err || w->end + nw * 8 > w->cap) {
		if (!w->err)
			w->err = E2BIG; /* one fence's ranges larger than the log */
		pthread_mutex_unlock(&w->mu);
		return;
	}
	uint64_t *f = (uint64_t *)(w->buf + w->end);
	f[0] = FRAME_MAGIC;
	f[1] = w->epoch;
	f[2] = ++w->frame;
	f[3] = nr | nw << 32;
	uint64_t *r = f + FRAME_HEAD, *d = f + FRAME_HEAD + 2 * nr;
	for (unsigned i = 0; i < tls.n; i++) {
		if (own[i] != w)
			continue;
		size_t len = tls.hi[i] - tls.lo[i];
		*r++ = (uint64_t)(tls.lo[i] - (uintptr_t)w->base);
		*r++ = len;
		memcpy(d, (const void *)tls.lo[i], len);
		d += len / 8;
	}
	f[nw - 1] = wal_hash(f, nw - 1, w->epoch);
	w->end += nw * 8;
	w->end_lsn += nw * 8;
	w->frames++;
	tls.last = w;
	tls.last_lsn = w->end_lsn;
	pthread_mutex_unlock(&w->mu);
}

static void wal_append_pending(void)
{
	/* the owner of each range, looked up once: a range of no WAL pool
	 * (pm_flush of other memory, a pool closed since) is not recorded */
	struct flush_wal *own[WAL_RANGES];
	unsigned k = 0;
	for (unsigned i = 0; i < tls.n; i++) {
		struct flush_wal *w = wal_of(tls.lo[i]);
		if (!w)
			continue;
		own[k] = w;
		tls.lo[k] = tls.lo[i];
		tls.hi[k++] = tls.hi[i];
	}
	tls.n = k;
	while (tls.n) {
		struct flush_wal *w = own[0];
		append_frame(w, own);
		/* drop the ranges of w */
		k = 0;
		for (unsigned i = 0; i < tls.n; i++)
			if (own[i] != w) {
				own[k] = own[i];
				tls.lo[k] = tls.lo[i];
				tls.hi[k++] = tls.hi[i];
			}
		tls.n = k;
	}
}

int flush_wal_sync_mine(void)
{
	struct flush_wal *w = tls.last;
	if (!w)
		return 0;
	pthread_mutex_lock(&w->mu);
	int e = sync_to_locked(w, tls.last_lsn);
	pthread_mutex_unlock(&w->mu);
	tls.last = NULL; /* synced, or its error reported (sticky in w) */
	return e;
}

static void wal_drain(void)
{
	wal_append_pending();
	if (!tls.defer && tls.last) {
		int e = flush_wal_sync_mine();
		if (e)
			flush_tls_error = e;
	} else if (tls.last) {
		pthread_mutex_lock(&tls.last->mu);
		int e = tls.last->err;
		pthread_mutex_unlock(&tls.last->mu);
		if (e)
			flush_tls_error = e;
	}
}

static void wal_flush(const void *addr, size_t len)
{
	if (len == 0)
		return;
	uintptr_t lo = (uintptr_t)addr & ~(uintptr_t)7;
	uintptr_t hi = ((uintptr_t)addr + len + 7) & ~(uintptr_t)7;
	if (flush_ranges_merge(tls.lo, tls.hi, tls.n, lo, hi))
		return;
	if (tls.n == WAL_RANGES) /* an early frame: write-back may come early */
		wal_append_pending();
	tls.lo[tls.n] = lo;
	tls.hi[tls.n] = hi;
	tls.n++;
}

static void *wal_memcpy(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	wal_flush(d, n);
	return d;
}

static void *wal_memset(void *d, int c, size_t n)
{
	memset(d, c, n);
	wal_flush(d, n);
	return d;
}

const struct flush_ops flush_ops_wal = {
	.name = "wal",
	.flush = wal_flush,
	.drain = wal_drain,
	.memcpy_nodrain = wal_memcpy,
	.memset_nodrain = wal_memset,
};

void flush_defer_begin(void)
{
	tls.defer++;
}

int flush_defer_end(void)
{
	if (--tls.defer || !tls.last || PM_BUG(PM_BUG_WAL_NO_RELEASE_SYNC))
		return 0;
	return flush_wal_sync_mine();
}

/*
 * At close, after the checkpoint: every page the program changed (a
 * private mapping's copied page: present and not file-backed in
 * /proc/self/pagemap) written to the pool file and synced, so that a
 * clean close keeps the stores that were never flushed, as a MAP_SHARED
 * pool does.  A crash while this runs leaves some of those pages: stores
 * not fenced, which may or may not reach media (flush.h); the library's
 * own state in them is durable already, with the same values.
 */
static int writeback_changed(struct flush_wal *w, size_t len)
{
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return errno;
	size_t npages = len / 4096, batch = 4096;
	uint64_t *ent = malloc(batch * 8);
	int e = ent ? 0 : ENOMEM, wrote = 0;
	for (size_t pg = 0; !e && pg < npages; pg += batch) {
		size_t n = npages - pg < batch ? npages - pg : batch;
		off_t at = (off_t)(((uintptr_t)w->base / 4096 + pg) * 8);
		if (pread(pm, ent, n * 8, at) != (ssize_t)(n * 8)) {
			e = errno ? errno : EIO;
			break;
		}
		for (size_t i = 0; i < n && !e; i++) {
			int present = (ent[i] >> 63) & 1, file = (ent[i] >> 61) & 1;
			if (present && !file) {
				e = pwrite_all(w->pool_fd, w->base + (pg + i) * 4096, 4096,
				               (off_t)((pg + i) * 4096));
				wrote = 1;
			}
		}
	}
	free(ent);
	close(pm);
	/* DURABLE (fdatasync of the pool): the changed pages.  CRASH BEFORE:
	 * the checkpointed state plus some of them (see above). */
	if (!e && wrote && fdatasync(w->pool_fd) != 0)
		e = errno;
	return e;
}

int flush_wal_detach(struct flush_wal *w, struct flush_wal_stats *st)
{
	if (!w)
		return 0;
	pthread_mutex_lock(&wal_reg_mu);
	pthread_mutex_lock(&w->mu);
	int e = w->err ? w->err : checkpoint_locked(w);
	struct stat fst;
	if (!e && fstat(w->pool_fd, &fst) == 0)
		e = writeback_changed(w, (size_t)fst.st_size);
	if (st)
		*st = (struct flush_wal_stats){ w->syncs, w->frames, w->checkpoints, w->end, w->written };
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < WAL_MAX_POOLS; i++)
		if (atomic_load_explicit(&wal_pools[i].w, memory_order_relaxed) == w)
			atomic_store_explicit(&wal_pools[i].w, NULL, memory_order_release);
	pthread_mutex_unlock(&wal_reg_mu);
	if (tls.last == w)
		tls.last = NULL;
	close(w->fd);
	free(w->buf);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
	return e;
}

void flush_wal_stats(struct flush_wal *w, struct flush_wal_stats *st)
{
	pthread_mutex_lock(&w->mu);
	*st = (struct flush_wal_stats){ w->syncs, w->frames, w->checkpoints, w->end, w->written };
	pthread_mutex_unlock(&w->mu);
}
