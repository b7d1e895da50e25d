/*
 * damage-pool.c -- test helper for tools/test-repair.sh: builds a pool with
 * known contents, damages it the way tests/test_damaged.c does (forged logs
 * get valid checksums from the library's own functions), and verifies the
 * contents after a repair.
 *
 *   damage-pool make POOL          16 MiB pool; root {slot[8], w[8]}:
 *                                  slot 0: 64 B, slot 1: 250000 B (LARGE),
 *                                  slot 2: 300 B, slot 3: 2 chunks (LARGE),
 *                                  each filled with a pattern of its slot;
 *                                  w[i] = 1000 + i
 *   damage-pool damage POOL KIND   one damage (list in main); prints the
 *                                  offset it damaged
 *   damage-pool verify POOL [SLOT...]
 *                                  pm_open works, pm_check is clean, the
 *                                  root's words are intact and every named
 *                                  slot (default: all four) is an allocated
 *                                  object of its size with its pattern
 *   damage-pool noroot POOL        pm_open works, pm_check clean, no root
 *   damage-pool crash POOL tx|publish
 *                                  not damage: a process killed in the
 *                                  middle (_exit, no pm_close) of a
 *                                  transaction that wrote root.w[0] (tx), or
 *                                  right after a pmalloc into root.slot[5]
 *                                  (publish: its redo log stays valid until
 *                                  invalidated lazily), so recovery has work
 *                                  (for `pmstore info`'s recovery line)
 *
 * Model: the pool is closed (no process has it open) while it is damaged.
 * It can NOT build damage the library itself could never leave (it writes
 * bytes directly), which is the point: repair is for such files.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmstore.h"
#include "pool/pool.h"
#include "tx/tx_format.h"

#define POOL_SZ ((size_t)16 << 20)
#define NSLOTS 4

struct root {
	pm_off slot[8];
	uint64_t w[8];
};

static const size_t slot_size[NSLOTS] = { 64, 250000, 300, 2 * CHUNK_SIZE }; /* 250000: LARGE, one chunk */

static int die(const char *what)
{
	fprintf(stderr, "damage-pool: %s: %s\n", what, pm_errormsg());
	return 1;
}

static int make(const char *path)
{
	pm_pool *p = pm_create(path, POOL_SZ, 0600);
	if (!p)
		return die("create");
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	for (int i = 0; i < NSLOTS; i++) {
		if (pmalloc(p, &rt->slot[i], slot_size[i]))
			return die("pmalloc");
		memset(pm_direct(p, rt->slot[i]), 'A' + i, slot_size[i]);
		pm_persist(p, pm_direct(p, rt->slot[i]), slot_size[i]);
	}
	for (int i = 0; i < 8; i++)
		rt->w[i] = 1000 + (uint64_t)i;
	pm_persist(p, rt->w, sizeof(rt->w));
	pm_close(p);
	return 0;
}

static char *map_file(const char *path, size_t *size)
{
	int fd = open(path, O_RDWR);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		return NULL;
	char *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	*size = (size_t)st.st_size;
	return m == MAP_FAILED ? NULL : m;
}

static struct lane_layout *L(char *m, unsigned i)
{
	return (struct lane_layout *)(m + POOL_LANES_OFF + (uint64_t)i * LANE_SIZE);
}

static void forge_log(char *m, size_t size, unsigned i, const struct redo_entry *e, unsigned n,
                      uint64_t seq)
{
	struct redo_log *log = &L(m, i)->redo;
	memcpy(log->entries, e, n * sizeof(*e));
	log->nseq = n | seq << REDO_SEQ_SHIFT;
	log->checksum = redo_checksum(m, size, log->nseq, e, n);
}

/* the chunk index of a slot's object */
static uint32_t slot_chunk(char *m, unsigned s)
{
	const struct pool_hdr *h = (const struct pool_hdr *)m;
	const struct pool_desc *d = (const struct pool_desc *)(m + POOL_DESC_OFF);
	const struct root *rt = (const struct root *)(m + d->root_off);
	return (uint32_t)((rt->slot[s] - h->chunks_off) / CHUNK_SIZE);
}

/* the first chunk of the last FREE span on the walk */
static uint32_t last_free(char *m)
{
	const struct pool_hdr *h = (const struct pool_hdr *)m;
	uint64_t *t = (uint64_t *)(m + h->chunk_table_off);
	uint32_t k = 0, f = 0;
	while (k < h->nchunks) {
		if (chunk_type_of(t[k]) == CHUNK_FREE)
			f = k;
		k += (uint32_t)chunk_count_of(t[k]); /* every span, runs too (version 3) */
	}
	return f;
}

static int damage(const char *path, const char *kind)
{
	size_t size;
	char *m = map_file(path, &size);
	if (!m) {
		perror(path);
		return 1;
	}
	struct pool_hdr *h = (struct pool_hdr *)m;
	uint64_t *t = (uint64_t *)(m + h->chunk_table_off);
	uint64_t off = 0;
	if (!strcmp(kind, "chunk-header-free")) {
		/* the header of the (all-zero) free tail: bad type */
		uint32_t k = last_free(m);
		t[k] = 0x77;
		off = h->chunk_table_off + 8ull * k;
	} else if (!strcmp(kind, "chunk-header-data")) {
		/* slot 3's LARGE(2) header: a span past the heap */
		uint32_t k = slot_chunk(m, 3);
		t[k] = chunk_hdr(CHUNK_LARGE, 0, (uint64_t)h->nchunks + 5);
		off = h->chunk_table_off + 8ull * k;
	} else if (!strcmp(kind, "chunk-header-run")) {
		/* slot 2's run: a class that does not exist */
		uint32_t k = slot_chunk(m, 2);
		t[k] = chunk_hdr(CHUNK_RUN, 200, 1);
		off = h->chunk_table_off + 8ull * k;
	} else if (!strcmp(kind, "bitmap-tail")) {
		/* slot 0's run (64 B: 4095 blocks): bit 63 of the last word */
		uint32_t k = slot_chunk(m, 0);
		uint64_t *bm = (uint64_t *)(m + h->chunks_off + (uint64_t)k * CHUNK_SIZE);
		bm[4095 / 64] |= UINT64_C(1) << 63;
		off = h->chunks_off + (uint64_t)k * CHUNK_SIZE + 8 * (4095 / 64);
	} else if (!strcmp(kind, "forged-redo")) {
		/* lane 3: a store into the header (a shape never written) */
		struct redo_entry e[] = { { offsetof(struct pool_hdr, chunk_table_off), 64 } };
		forge_log(m, size, 3, e, 1, 7);
		off = POOL_LANES_OFF + 3 * LANE_SIZE;
	} else if (!strcmp(kind, "replay-redo")) {
		/* lane 4: a valid log whose replay breaks the table walk */
		uint32_t k = last_free(m);
		struct redo_entry e[] = { { h->chunk_table_off + 8ull * k, chunk_hdr(CHUNK_LARGE, 0, 1u << 20) } };
		forge_log(m, size, 4, e, 1, 11);
		off = POOL_LANES_OFF + 4 * LANE_SIZE;
	} else if (!strcmp(kind, "undo-header")) {
		/* lane 5: a stray active word (header checksum mismatch) */
		struct undo_log *u = &L(m, 5)->undo;
		u->active = u->gen;
		off = (uint64_t)((char *)u - m);
	} else if (!strcmp(kind, "undo-gen")) {
		struct undo_log *u = &L(m, 2)->undo;
		u->gen = UINT64_MAX;
		off = (uint64_t)((char *)u - m);
	} else if (!strcmp(kind, "stray-large")) {
		/* a LARGE header inside the free tail, and the root moved there */
		uint32_t k = last_free(m) + 1;
		t[k] = chunk_hdr(CHUNK_LARGE, 0, 3);
		((struct pool_desc *)(m + POOL_DESC_OFF))->root_off = h->chunks_off + (uint64_t)k * CHUNK_SIZE;
		off = h->chunk_table_off + 8ull * k;
	} else if (!strcmp(kind, "header-csum")) {
		h->uuid[3] ^= 0x5a; /* checksummed, geometry intact */
		off = offsetof(struct pool_hdr, uuid) + 3;
	} else if (!strcmp(kind, "pending-pmalloc")) {
		/* not damage: a power failure right after a large pmalloc's
		 * commit fence (the split's tail header durable, its log valid
		 * and not applied: it sets chunk k's header and root slot 5);
		 * recovery replays it */
		uint32_t k = last_free(m);
		uint64_t rest = chunk_count_of(t[k]) - 1;
		const struct pool_desc *d = (const struct pool_desc *)(m + POOL_DESC_OFF);
		t[k + 1] = chunk_hdr(CHUNK_FREE, 0, rest);
		struct redo_entry e[] = {
			{ h->chunk_table_off + 8ull * k, chunk_hdr(CHUNK_LARGE, 0, 1) },
			{ d->root_off + offsetof(struct root, slot[5]), h->chunks_off + (uint64_t)k * CHUNK_SIZE },
		};
		forge_log(m, size, 6, e, 2, d->recovered_seq + 1000);
		off = POOL_LANES_OFF + 6 * LANE_SIZE;
	} else if (!strcmp(kind, "pending-large")) {
		/* a large pmalloc cut by a crash after its commit fence (the
		 * split's tail header durable, its log valid: it sets chunk k's
		 * header and root slot 5), and then chunk k's header damaged:
		 * the gap is all zero but the log stores there */
		uint32_t k = last_free(m);
		uint64_t rest = chunk_count_of(t[k]) - 1;
		const struct pool_desc *d = (const struct pool_desc *)(m + POOL_DESC_OFF);
		t[k + 1] = chunk_hdr(CHUNK_FREE, 0, rest);
		struct redo_entry e[] = {
			{ h->chunk_table_off + 8ull * k, chunk_hdr(CHUNK_LARGE, 0, 1) },
			{ d->root_off + offsetof(struct root, slot[5]), h->chunks_off + (uint64_t)k * CHUNK_SIZE },
		};
		forge_log(m, size, 6, e, 2, d->recovered_seq + 1000);
		t[k] = 0x77;
		off = h->chunk_table_off + 8ull * k;
	} else if (!strcmp(kind, "header-version")) {
		h->layout_version = 1;
		off = offsetof(struct pool_hdr, layout_version);
	} else if (!strcmp(kind, "header-geometry")) {
		h->nchunks += 1;
		off = offsetof(struct pool_hdr, nchunks);
	} else {
		fprintf(stderr, "damage-pool: unknown damage '%s'\n", kind);
		munmap(m, size);
		return 2;
	}
	msync(m, size, MS_SYNC);
	munmap(m, size);
	printf("0x%llx\n", (unsigned long long)off);
	return 0;
}

static int open_checked(const char *path, pm_pool **pp)
{
	pm_pool *p = pm_open(path);
	if (!p)
		return die("pm_open");
	struct pm_check_report rep;
	if (pm_check(p, &rep)) {
		fprintf(stderr, "damage-pool: pm_check: %s\n", rep.message);
		pm_close(p);
		return 1;
	}
	*pp = p;
	return 0;
}

static int verify(const char *path, int argc, char **argv)
{
	pm_pool *p;
	if (open_checked(path, &p))
		return 1;
	int bad = 0;
	if (pm_root_size(p) < sizeof(struct root)) {
		fprintf(stderr, "damage-pool: no root\n");
		pm_close(p);
		return 1;
	}
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	for (int i = 0; i < 8; i++)
		if (rt->w[i] != 1000 + (uint64_t)i) {
			fprintf(stderr, "damage-pool: root word %d is %llu\n", i, (unsigned long long)rt->w[i]);
			bad = 1;
		}
	for (int s = 0; s < NSLOTS; s++) {
		int want = argc == 0;
		for (int a = 0; a < argc; a++)
			want |= atoi(argv[a]) == s;
		if (!want)
			continue;
		pm_off o = rt->slot[s];
		if (pm_usable_size(p, o) < slot_size[s]) {
			fprintf(stderr, "damage-pool: slot %d (0x%llx) is not an allocated object of %zu bytes\n",
			        s, (unsigned long long)o, slot_size[s]);
			bad = 1;
			continue;
		}
		const unsigned char *b = pm_direct(p, o);
		for (size_t k = 0; k < slot_size[s]; k++)
			if (b[k] != 'A' + s) {
				fprintf(stderr, "damage-pool: slot %d byte %zu is 0x%02x\n", s, k, b[k]);
				bad = 1;
				break;
			}
	}
	/* "5": slot 5 is a LARGE object of one chunk (pending-large's) */
	for (int a = 0; a < argc; a++)
		if (atoi(argv[a]) == 5 && pm_usable_size(p, rt->slot[5]) != CHUNK_SIZE) {
			fprintf(stderr, "damage-pool: slot 5 (0x%llx) is not a one-chunk object\n",
			        (unsigned long long)rt->slot[5]);
			bad = 1;
		}
	/* the repaired pool still allocates */
	if (pmalloc(p, &rt->slot[7], 4096) || pfree(p, &rt->slot[7])) {
		fprintf(stderr, "damage-pool: allocation after repair: %s\n", pm_errormsg());
		bad = 1;
	}
	pm_close(p);
	if (!bad)
		printf("verified\n");
	return bad;
}

/* A crash as a process sees one: the stores so far are in the file (the
 * msync path's page cache), the fences to come never happen. */
static int crash(const char *path, const char *how)
{
	pm_pool *p = pm_open(path);
	if (!p)
		return die("open");
	struct root *rt = pm_direct(p, pm_root(p, sizeof(struct root)));
	if (!strcmp(how, "tx")) {
		if (tx_begin(p) || tx_add(&rt->w[0], sizeof(rt->w[0])))
			return die("tx");
		rt->w[0] = 4242;
	} else if (!strcmp(how, "publish")) {
		if (pmalloc(p, &rt->slot[5], 64))
			return die("pmalloc");
	} else {
		fprintf(stderr, "damage-pool: crash: tx or publish\n");
		return 2;
	}
	fflush(stdout);
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "crash"))
		return crash(argv[2], argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "make"))
		return make(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "damage"))
		return damage(argv[2], argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "verify"))
		return verify(argv[2], argc - 3, argv + 3);
	if (argc == 3 && !strcmp(argv[1], "noroot")) {
		pm_pool *p;
		if (open_checked(argv[2], &p))
			return 1;
		int rc = pm_root_size(p) != 0;
		pm_close(p);
		if (rc)
			fprintf(stderr, "damage-pool: the pool still has a root\n");
		else
			printf("verified: no root\n");
		return rc;
	}
	fprintf(stderr, "usage: damage-pool make|damage|verify|noroot|crash POOL [KIND|SLOT...|tx|publish]\n"
	                "  kinds: chunk-header-free chunk-header-data chunk-header-run bitmap-tail\n"
	                "         forged-redo replay-redo undo-header undo-gen stray-large\n"
	                "         pending-large pending-pmalloc (not damage: a crash state)\n"
	                "         header-csum header-version header-geometry\n");
	return 2;
}
