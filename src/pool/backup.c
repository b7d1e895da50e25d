/*
 * backup.c -- layer 6: pm_backup, pm_restore, pm_backup_verify (issue 18,
 * PERM's backup file made crash-safe).
 *
 * Snapshot.  pm_backup takes every lane of the pool, in index order (each
 * operation holds a lane for its whole length, a transaction from
 * tx_begin to tx_end), so once it holds them all no operation is half done
 * and new ones wait for a lane.  The pool's memory is then the state after
 * the last completed operation -- applied, logs voided, lazy stores made
 * (only their flushes are pending, which a copy of memory does not need).
 * It copies the metadata (header, descriptor, lanes, chunk table) and every
 * chunk a span of the chunk table says is in use into a DRAM copy (when
 * one of that size can be had, at most half the machine's memory; else
 * straight into the backup file's page cache, hashing as it goes),
 * releases the lanes, and only then hashes, writes and makes the file
 * durable: writers wait for a memcpy of the used bytes, not for the disk.
 * Free chunks are left out, so a large, mostly empty pool costs what it
 * holds.
 *
 * File.  [header 4 KiB][segment table][segment data], where a segment is
 * up to one chunk (256 KiB) of the pool at pool_off, stored at file_off,
 * with its own checksum; the table has a checksum and the header one over
 * all its fields.  Written to PATH.tmp.XXXXXX, fsync'ed, then linked under
 * PATH (never over an existing file) and the directory fsync'ed: a crash
 * at any point leaves no file under PATH, or a complete one.
 *
 * Restore.  pm_restore checks the header and table (every field bounded
 * before it is used: offsets inside the pool, aligned, increasing, the
 * file as long as the table says), then writes the segments into a new
 * file PATH.tmp.XXXXXX of the pool's size, checking each segment's checksum
 * as it goes (a bad one names the chunk and the temporary file is removed:
 * nothing is restored from a damaged backup), fsyncs it, checks it with
 * pm_check_path, and links it under PATH -- or, with PM_RESTORE_REPLACE,
 * renames it over PATH while holding PATH's pool lock (a file another
 * process has open as a pool is refused with PM_EBUSY).  Just before, a
 * WAL-mode log beside PATH is dealt with (restore_drop_old_log), so that
 * its frames are never applied over the restored pool.
 *
 * Cannot: copy while writers run (they wait for the copy: about the time
 * of a memcpy of the pool's used bytes); back up a pool
 * from inside a transaction of the calling thread (it holds a lane:
 * PM_ETX).  Incremental backups are not done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#include "base/seeded_bugs.h"
#include "flush/flush.h"
#include "lane/lane.h"
#include "log/log.h"
#include "pool/pool.h"
#include "pool/pool_internal.h"

#define BK_MAGIC "PMSTBKP1"
#define BK_VERSION 1u
#define BK_HDR_SIZE 4096u
#define BK_SEG_MAX CHUNK_SIZE
#define BK_SEED UINT64_C(0x424b5550504d5354) /* "TSMPPUKB" */

struct bk_hdr {
	char magic[8];
	uint32_t version, hdr_size;
	uint64_t pool_size, chunk_size, chunks_off, nchunks;
	uint8_t uuid[16];
	uint64_t created; /* seconds since the epoch */
	uint64_t nseg, table_off, data_off, data_len;
	uint64_t used_chunks;
	uint64_t table_csum;
	uint64_t hdr_csum; /* over everything above */
};

struct bk_seg {
	uint64_t pool_off, len, file_off, csum;
};

static uint64_t hdr_csum_of(const struct bk_hdr *h)
{
	return log_hash(BK_SEED, h, offsetof(struct bk_hdr, hdr_csum));
}

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *b = buf;
	while (len) {
		ssize_t w = pwrite(fd, b, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len, uint64_t off)
{
	char *b = buf;
	while (len) {
		ssize_t r = pread(fd, b, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Take every lane (see the opening comment); 0 or PM_ETX. */
static int lanes_take_all(struct pm_pool *p)
{
	/* new operations wait in lane_acquire (they would otherwise move to
	 * the lanes not yet taken, and each lane keeps its own runs) */
	atomic_store(&p->quiesce, 1);
	for (unsigned i = 0; i < p->nlanes; i++)
		while (atomic_flag_test_and_set_explicit(&p->lanes[i].busy, memory_order_acquire))
			sched_yield();
	return 0;
}

static void lanes_give_back(struct pm_pool *p)
{
	for (unsigned i = 0; i < p->nlanes; i++)
		atomic_flag_clear_explicit(&p->lanes[i].busy, memory_order_release);
	atomic_store(&p->quiesce, 0);
}

/* The segments of the pool as it is now: metadata in chunk-sized pieces,
 * then every chunk of every span the table says is in use.  Returns the
 * count (table in *out, malloc'ed) or a negative error. */
static long plan_segments(struct pm_pool *p, struct bk_seg **out, uint64_t *used)
{
	const struct pool_hdr *h = p->hdr;
	/* a growable pool's table is sized for its maximum: only the pages
	 * of the chunks in use hold anything a walk reads (P5); the rest
	 * restores as zeroes */
	uint64_t meta_end = h->chunks_off;
	if (p->growable) {
		uint64_t t = (h->chunk_table_off + h->nchunks * 8 + 4095) & ~UINT64_C(4095);
		meta_end = t < meta_end ? t : meta_end;
	}
	uint64_t nmeta = (meta_end + BK_SEG_MAX - 1) / BK_SEG_MAX;
	size_t cap = (size_t)(nmeta + h->nchunks);
	struct bk_seg *s = calloc(cap ? cap : 1, sizeof(*s));
	if (!s)
		return PM_ERR(PM_ENOMEM, "pm_backup: out of DRAM");
	long n = 0;
	for (uint64_t o = 0; o < meta_end; o += BK_SEG_MAX)
		s[n++] = (struct bk_seg){ o, meta_end - o < BK_SEG_MAX ? meta_end - o : BK_SEG_MAX, 0, 0 };
	const uint64_t *table = (const uint64_t *)(p->base + h->chunk_table_off);
	*used = 0;
	for (uint64_t k = 0; k < h->nchunks;) {
		uint64_t c = table[k], cnt = chunk_count_of(c);
		if (cnt == 0 || cnt > h->nchunks - k) {
			free(s);
			return PM_ERR(PM_ECORRUPT, "pm_backup: chunk %llu: span of %llu chunks out of range",
			              (unsigned long long)k, (unsigned long long)cnt);
		}
		if (chunk_type_of(c) != CHUNK_FREE)
			for (uint64_t j = k; j < k + cnt; j++) {
				s[n++] = (struct bk_seg){ h->chunks_off + j * CHUNK_SIZE, CHUNK_SIZE, 0, 0 };
				(*used)++;
			}
		k += cnt;
	}
	*out = s;
	return n;
}

static int tmp_beside(const char *path, char *tmp, size_t len, int *fd)
{
	if (snprintf(tmp, len, "%s.tmp.XXXXXX", path) >= (int)len)
		return PM_ERR(PM_EINVAL, "%s: path too long", path);
	*fd = mkostemp(tmp, O_CLOEXEC);
	if (*fd < 0)
		return PM_ERR(PM_ESYS, "%s: cannot create a file there", path);
	return 0;
}

PM_API int pm_backup(pm_pool *pool, const char *path, const struct pm_backup_opts *opts)
{
	struct pm_pool *p = pool;
	if (!p || !path)
		return PM_ERR(PM_EINVAL, "pm_backup: NULL %s", p ? "path" : "pool");
	if (tx_stage() != PM_TX_STAGE_NONE && tx_pool() == pool)
		return PM_ERR(PM_ETX, "pm_backup: called inside a transaction on this pool");
	if (access(path, F_OK) == 0)
		return PM_ERR(PM_EEXIST, "%s: file exists (pm_backup never overwrites)", path);
	char tmp[PATH_MAX];
	int fd, rc = tmp_beside(path, tmp, sizeof(tmp), &fd);
	if (rc)
		return rc;
	const struct pool_hdr *h = p->hdr;
	struct bk_seg *seg = NULL;
	uint64_t t0 = now_ns(), held = 0, used = 0;
	/* a DRAM copy of the used bytes (at most half the machine's memory),
	 * its pages faulted in before any writer waits: sized from a look at
	 * the table now, with room for growth; if the pool grew past it by the
	 * time the lanes are held, the copy goes straight to the file */
	uint64_t stage_len = 0, pre_used = 0;
	char *stage = MAP_FAILED;
	{
		struct bk_seg *pre = NULL;
		long pn = plan_segments(p, &pre, &pre_used);
		uint64_t phys = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
		if (pn > 0) {
			stage_len = h->chunks_off + (pre_used + pre_used / 8 + 4) * CHUNK_SIZE;
			if (stage_len <= phys / 2)
				stage = mmap(NULL, stage_len, PROT_READ | PROT_WRITE,
				             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		}
		free(pre);
	}
	lanes_take_all(p);
	uint64_t t1 = now_ns();
	long n = plan_segments(p, &seg, &used);
	uint64_t table_off = BK_HDR_SIZE, data_off = 0, total = 0;
	if (n < 0) {
		rc = (int)n;
	} else {
		data_off = (table_off + (uint64_t)n * sizeof(*seg) + 4095) & ~UINT64_C(4095);
		for (long i = 0; i < n; i++)
			total += seg[i].len;
		/* with the DRAM copy, writers wait for a memcpy; the hashing and
		 * writing happen after they run again */
		if (stage != MAP_FAILED && total > stage_len) {
			munmap(stage, stage_len);
			stage = MAP_FAILED;
		}
		uint64_t pos = 0;
		for (long i = 0; i < n && rc == 0; i++) {
			seg[i].file_off = data_off + pos;
			if (stage != MAP_FAILED) {
				memcpy(stage + pos, p->base + seg[i].pool_off, seg[i].len);
			} else {
				seg[i].csum = log_hash(BK_SEED ^ seg[i].pool_off, p->base + seg[i].pool_off,
				                       seg[i].len);
				if (write_all(fd, p->base + seg[i].pool_off, seg[i].len, data_off + pos))
					rc = PM_ERR(errno == ENOSPC ? PM_ENOSPC : PM_ESYS, "%s: write failed", tmp);
				if (opts && opts->progress && (i % 64 == 63 || i == n - 1))
					opts->progress(pos + seg[i].len, total, opts->arg);
			}
			pos += seg[i].len;
		}
	}
	lanes_give_back(p);
	held = now_ns() - t1;
	if (stage != MAP_FAILED) {
		uint64_t pos = 0;
		for (long i = 0; i < n && rc == 0; i++) {
			seg[i].csum = log_hash(BK_SEED ^ seg[i].pool_off, stage + pos, seg[i].len);
			if (write_all(fd, stage + pos, seg[i].len, data_off + pos))
				rc = PM_ERR(errno == ENOSPC ? PM_ENOSPC : PM_ESYS, "%s: write failed", tmp);
			pos += seg[i].len;
			if (opts && opts->progress && (i % 64 == 63 || i == n - 1))
				opts->progress(pos, total, opts->arg);
		}
	}
	if (stage != MAP_FAILED)
		munmap(stage, stage_len);
	/* writers run again; what follows touches only the backup file */
	struct bk_hdr bh;
	memset(&bh, 0, sizeof(bh));
	if (rc == 0) {
		memcpy(bh.magic, BK_MAGIC, 8);
		bh.version = BK_VERSION;
		bh.hdr_size = BK_HDR_SIZE;
		bh.pool_size = p->size;
		bh.chunk_size = CHUNK_SIZE;
		bh.chunks_off = h->chunks_off;
		bh.nchunks = h->nchunks;
		memcpy(bh.uuid, h->uuid, sizeof(bh.uuid));
		bh.created = (uint64_t)time(NULL);
		bh.nseg = (uint64_t)n;
		bh.table_off = table_off;
		bh.data_off = data_off;
		bh.data_len = total;
		bh.used_chunks = used;
		bh.table_csum = log_hash(BK_SEED, seg, (size_t)n * sizeof(*seg));
		bh.hdr_csum = hdr_csum_of(&bh);
		char page[BK_HDR_SIZE];
		memset(page, 0, sizeof(page));
		memcpy(page, &bh, sizeof(bh));
		if (write_all(fd, seg, (size_t)n * sizeof(*seg), table_off) ||
		    write_all(fd, page, sizeof(page), 0))
			rc = PM_ERR(errno == ENOSPC ? PM_ENOSPC : PM_ESYS, "%s: write failed", tmp);
		/* DURABLE (file data): the whole backup, before its name exists */
		else if (fsync(fd))
			rc = PM_ERR(PM_ESYS, "%s: fsync failed", tmp);
		else if (link(tmp, path))
			rc = errno == EEXIST ? PM_ERR(PM_EEXIST, "%s: file exists", path)
			                     : PM_ERR(PM_ESYS, "%s: cannot link the backup into place", path);
	}
	unlink(tmp);
	close(fd);
	free(seg);
	if (rc == 0)
		pool_fsync_dir_of(path); /* DURABLE: the name */
	if (opts && opts->stats) {
		opts->stats->bytes = rc ? 0 : data_off + total;
		opts->stats->used_chunks = used;
		opts->stats->segments = n > 0 ? (uint64_t)n : 0;
		opts->stats->writers_held_ns = held;
		opts->stats->wait_ns = t1 - t0;
	}
	return rc;
}

/* ---- reading a backup ----------------------------------------------------- */

struct bk_file {
	int fd;
	struct bk_hdr h;
	struct bk_seg *seg;
};

static void bk_close(struct bk_file *b)
{
	free(b->seg);
	if (b->fd >= 0)
		close(b->fd);
}

/* Header and table, every field bounded before use. */
static int bk_open(const char *path, struct bk_file *b)
{
	b->seg = NULL;
	b->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (b->fd < 0)
		return errno == ENOENT ? PM_ERR(PM_ENOENT, "%s: no such file", path)
		                       : PM_ERR(PM_ESYS, "%s: cannot open", path);
	struct stat st;
	if (fstat(b->fd, &st) || !S_ISREG(st.st_mode))
		return PM_ERR(PM_EINVAL, "%s: not a regular file", path);
	uint64_t fsize = (uint64_t)st.st_size;
	if (fsize < BK_HDR_SIZE || read_all(b->fd, &b->h, sizeof(b->h), 0))
		return PM_ERR(PM_ECORRUPT, "%s: too short for a backup header (%llu bytes)", path,
		              (unsigned long long)fsize);
	const struct bk_hdr *h = &b->h;
	if (memcmp(h->magic, BK_MAGIC, 8))
		return PM_ERR(PM_EFOREIGN, "%s: not a pmstore backup (bad magic)", path);
	if (h->version != BK_VERSION || h->hdr_size != BK_HDR_SIZE)
		return PM_ERR(PM_EVERSION, "%s: backup format version %u, this library reads %u", path,
		              h->version, BK_VERSION);
	if (h->hdr_csum != hdr_csum_of(h))
		return PM_ERR(PM_ECORRUPT, "%s: backup header checksum mismatch", path);
	if (h->chunk_size != CHUNK_SIZE || h->pool_size < h->chunks_off ||
	    h->chunks_off % 4096 || h->nchunks > (h->pool_size - h->chunks_off) / CHUNK_SIZE ||
	    h->nseg > (h->chunks_off + BK_SEG_MAX - 1) / BK_SEG_MAX + h->nchunks ||
	    h->table_off != BK_HDR_SIZE || h->data_off < h->table_off + h->nseg * sizeof(struct bk_seg) ||
	    h->data_len > h->nseg * BK_SEG_MAX || h->data_off > (h->nseg + 2) * BK_SEG_MAX)
		return PM_ERR(PM_ECORRUPT, "%s: backup header geometry is inconsistent", path);
	if (h->data_off + h->data_len != fsize)
		return PM_ERR(PM_ECORRUPT, "%s: backup is %llu bytes, its header says %llu (truncated?)",
		              path, (unsigned long long)fsize,
		              (unsigned long long)(h->data_off + h->data_len));
	b->seg = malloc(h->nseg ? h->nseg * sizeof(struct bk_seg) : 1);
	if (!b->seg)
		return PM_ERR(PM_ENOMEM, "%s: out of DRAM", path);
	if (read_all(b->fd, b->seg, h->nseg * sizeof(struct bk_seg), h->table_off))
		return PM_ERR(PM_ECORRUPT, "%s: cannot read the segment table", path);
	if (log_hash(BK_SEED, b->seg, h->nseg * sizeof(struct bk_seg)) != h->table_csum)
		return PM_ERR(PM_ECORRUPT, "%s: backup segment table checksum mismatch", path);
	uint64_t next_pool = 0, next_file = h->data_off;
	for (uint64_t i = 0; i < h->nseg; i++) {
		const struct bk_seg *s = &b->seg[i];
		if (s->len == 0 || s->len > BK_SEG_MAX || s->pool_off < next_pool ||
		    s->pool_off > h->pool_size || s->len > h->pool_size - s->pool_off ||
		    s->file_off != next_file)
			return PM_ERR(PM_ECORRUPT, "%s: segment %llu (pool offset 0x%llx) is out of order or range",
			              path, (unsigned long long)i, (unsigned long long)s->pool_off);
		next_pool = s->pool_off + s->len;
		next_file += s->len;
	}
	if (next_file != h->data_off + h->data_len || (h->nseg && b->seg[0].pool_off != 0) ||
	    next_pool < h->chunks_off)
		return PM_ERR(PM_ECORRUPT, "%s: the segments do not cover the pool's metadata", path);
	return 0;
}

static void seg_name(const struct bk_hdr *h, const struct bk_seg *s, char *buf, size_t len)
{
	if (s->pool_off >= h->chunks_off)
		snprintf(buf, len, "chunk %llu (pool offset 0x%llx)",
		         (unsigned long long)((s->pool_off - h->chunks_off) / CHUNK_SIZE),
		         (unsigned long long)s->pool_off);
	else
		snprintf(buf, len, "metadata at pool offset 0x%llx", (unsigned long long)s->pool_off);
}

/* Each segment's checksum; if fd_out >= 0 also written there at its pool
 * offset.  0 or PM_ECORRUPT naming the segment. */
static int bk_walk(const char *path, struct bk_file *b, int fd_out, const struct pm_backup_opts *o)
{
	char *buf = malloc(BK_SEG_MAX);
	if (!buf)
		return PM_ERR(PM_ENOMEM, "%s: out of DRAM", path);
	int rc = 0;
	uint64_t done = 0;
	for (uint64_t i = 0; i < b->h.nseg && rc == 0; i++) {
		const struct bk_seg *s = &b->seg[i];
		char name[96];
		seg_name(&b->h, s, name, sizeof(name));
		if (read_all(b->fd, buf, s->len, s->file_off))
			rc = PM_ERR(PM_ECORRUPT, "%s: %s: cannot read", path, name);
		else if (log_hash(BK_SEED ^ s->pool_off, buf, s->len) != s->csum)
			rc = PM_ERR(PM_ECORRUPT, "%s: %s: checksum mismatch", path, name);
		else if (fd_out >= 0 && write_all(fd_out, buf, s->len, s->pool_off))
			rc = PM_ERR(errno == ENOSPC ? PM_ENOSPC : PM_ESYS, "%s: write of %s failed", path, name);
		done += s->len;
		if (o && o->progress && (i % 64 == 63 || i + 1 == b->h.nseg))
			o->progress(done, b->h.data_len, o->arg);
	}
	free(buf);
	return rc;
}

PM_API int pm_backup_verify(const char *backup, struct pm_backup_info *info)
{
	if (!backup)
		return PM_ERR(PM_EINVAL, "pm_backup_verify: NULL path");
	struct bk_file b;
	int rc = bk_open(backup, &b);
	if (rc == 0)
		rc = bk_walk(backup, &b, -1, NULL);
	if (rc == 0 && info) {
		info->pool_size = b.h.pool_size;
		info->used_chunks = b.h.used_chunks;
		info->nchunks = b.h.nchunks;
		info->bytes = b.h.data_off + b.h.data_len;
		info->created = b.h.created;
		memcpy(info->uuid, b.h.uuid, sizeof(info->uuid));
	}
	bk_close(&b);
	return rc;
}

/*
 * WAL mode (flush/wal.c): frames a crashed WAL-mode opener left in
 * <path>.wal belong to the file now at path, and carry its uuid -- the
 * restored pool's too, when the backup is of that pool.  So, before the
 * new file takes the name: with a file at path (PM_RESTORE_REPLACE, its
 * lock held), its log is applied to it as its next pm_open would, marked
 * applied (a new epoch, synced) and removed -- a crash before the rename
 * leaves that pool whole, and no frame is left to apply over the restored
 * one after it; with no file at path, a log there is a removed pool's:
 * removed, and the directory synced, before the new file appears.
 */
static int restore_drop_old_log(const char *path, int replacing)
{
	if (PM_BUG(PM_BUG_RESTORE_KEEPS_LOG))
		return 0;
	if (replacing) {
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return PM_ERR(PM_ESYS, "%s: cannot open the pool being replaced", path);
		unsigned long applied;
		int e = flush_wal_replay(path, fd, 0, &applied);
		close(fd);
		if (e)
			return PM_ERR(PM_ESYS, "%s.wal: cannot apply the replaced pool's log: %s", path,
			              strerror(e));
		return 0;
	}
	char *wp = flush_wal_path(path);
	if (!wp)
		return PM_ERR(PM_ENOMEM, "out of DRAM");
	int gone = unlink(wp) == 0, e = errno;
	free(wp);
	if (!gone && e != ENOENT)
		return PM_ERR(PM_ESYS, "%s.wal: cannot remove the log of a removed pool: %s", path, strerror(e));
	if (gone)
		pool_fsync_dir_of(path);
	return 0;
}

PM_API int pm_restore(const char *backup, const char *path, const struct pm_backup_opts *opts)
{
	if (!backup || !path)
		return PM_ERR(PM_EINVAL, "pm_restore: NULL path");
	int replace = opts && (opts->flags & PM_RESTORE_REPLACE);
	int lockfd = -1;
	if (access(path, F_OK) == 0) {
		if (!replace)
			return PM_ERR(PM_EEXIST, "%s: file exists (pm_restore replaces only with PM_RESTORE_REPLACE)",
			              path);
		/* the lock every opener of a pool takes: held until the rename */
		lockfd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (lockfd < 0)
			return PM_ERR(PM_ESYS, "%s: cannot open the file to replace", path);
		if (flock(lockfd, LOCK_EX | LOCK_NB)) {
			close(lockfd);
			return PM_ERR(PM_EBUSY, "%s: another process has the pool open", path);
		}
	}
	struct bk_file b;
	int rc = bk_open(backup, &b);
	char tmp[PATH_MAX];
	int fd = -1;
	if (rc == 0)
		rc = tmp_beside(path, tmp, sizeof(tmp), &fd);
	if (rc == 0 && ftruncate(fd, (off_t)b.h.pool_size))
		rc = PM_ERR(errno == ENOSPC || errno == EFBIG ? PM_ENOSPC : PM_ESYS,
		            "%s: cannot size the new pool to %llu bytes", tmp,
		            (unsigned long long)b.h.pool_size);
	if (rc == 0)
		rc = bk_walk(backup, &b, fd, opts);
	if (rc == 0 && fsync(fd)) /* DURABLE: the pool's bytes, before its name */
		rc = PM_ERR(PM_ESYS, "%s: fsync failed", tmp);
	if (rc == 0) {
		struct pm_check_report rep;
		int c = pm_check_path(tmp, &rep);
		if (c)
			rc = PM_ERR(PM_ECORRUPT, "%s: the restored pool does not check: %s", backup,
			            rep.message);
	}
	if (rc == 0)
		rc = restore_drop_old_log(path, replace && lockfd >= 0);
	if (rc == 0) {
		if (replace && lockfd >= 0 ? rename(tmp, path) : link(tmp, path))
			rc = errno == EEXIST ? PM_ERR(PM_EEXIST, "%s: file exists", path)
			                     : PM_ERR(PM_ESYS, "%s: cannot put the pool into place", path);
		else
			pool_fsync_dir_of(path); /* DURABLE: the name */
	}
	if (fd >= 0) {
		unlink(tmp); /* after a rename: gone already (ENOENT) */
		close(fd);
	}
	if (lockfd >= 0)
		close(lockfd);
	bk_close(&b);
	return rc;
}
