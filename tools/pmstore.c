/*
 * pmstore.c -- the command-line tool: create, inspect and check pools.
 *
 *   pmstore create [--lanes N] [--mode OCTAL] [--max SIZE] POOL SIZE
 *   pmstore grow   POOL SIZE
 *   pmstore info   [--json] POOL
 *   pmstore check  [--json] [--raw] POOL
 *   pmstore repair [--dry-run] [--backup FILE] POOL
 *   pmstore stats  [--json] POOL
 *   pmstore dump   [--hex OFF] POOL
 *   pmstore backup [--quiet] POOL FILE
 *   pmstore restore [--replace] [--quiet] FILE POOL
 *   pmstore verify FILE
 *   pmstore --version | --help | COMMAND --help
 *
 * `backup` opens the pool (recovery runs, as in any pm_open) and writes a
 * consistent snapshot with pm_backup; `restore` materializes a pool from a
 * backup with pm_restore (verified first; --replace to replace a pool no
 * process holds); `verify` checks a backup file.
 * `grow` grows a growable pool (pm_grow) to at least SIZE.
 * Everything but `create`, `grow`, `repair`, `backup` (the pool is opened) and
 * `restore` is read-only: the pool is mapped
 * privately and recovery runs on the private copy (pm_check_path's way),
 * so the tool can look at a pool that needs recovery without changing it.
 * `check` lists every problem; when recovery refuses the pool it falls
 * back to a raw walk of the media (pool/repair.h), which needs no recovery.
 * A pool another process holds open is refused (its state is in flux).
 * `info` also says whether the pool needs recovery: it reads the lanes as
 * they are on media, before the private recovery, with the raw walk
 * (pool_scan_path: pending redo logs, transactions left active); nothing is
 * written either way.
 *
 * Exit status: 0 success (check: consistent; repair: the result is
 * consistent), 1 the pool is inconsistent (check), the repair was refused
 * or did not make it consistent, or the operation failed, 2 usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "alloc/heap.h"
#include "pmstore.h"
#include "pool/pool.h"
#include "pool/repair.h"

static const char *prog = "pmstore";

static const char *help_create =
	"  create [--lanes N] [--mode OCTAL] [--max SIZE] POOL SIZE\n"
	"                 create a pool file of SIZE bytes (suffixes K, M, G, T;\n"
	"                 at least 8M); the file must not exist; --lanes: how many\n"
	"                 operations can run at once (default 64); mode 0600;\n"
	"                 --max: the pool grows as its heap fills, up to SIZE (at\n"
	"                 most 64T; the chunk table is sized for it, 8 bytes per\n"
	"                 256K, so SIZE must hold that table and a chunk)\n";
static const char *help_grow =
	"  grow POOL SIZE\n"
	"                 grow a growable pool to at least SIZE bytes now\n"
	"                 (crash-atomic; allocations also grow it on their own)\n";
static const char *help_info =
	"  info [--json] POOL\n"
	"                 header (layout, uuid, size, lanes, geometry), root, objects,\n"
	"                 and whether the pool needs recovery: redo logs pending\n"
	"                 replay, transactions left active (read from the media as\n"
	"                 it is; nothing is written).  --json: one JSON object\n";
static const char *help_check =
	"  check [--json] [--raw] POOL\n"
	"                 full consistency walk (read-only), listing EVERY problem\n"
	"                 with its offset and the structure it is in.  The pool is\n"
	"                 recovered on a private copy first; if recovery refuses it,\n"
	"                 the media is walked raw (no recovery: header, every lane's\n"
	"                 logs, chunk table spans, run bitmaps, root) and the output\n"
	"                 says so.  --raw: walk the media raw even if it opens.\n"
	"                 --json: one JSON object {pool, status, walk, open_error,\n"
	"                 counts, problems: [{kind, offset, structure, message}],\n"
	"                 notes}.  Exit 0 consistent, 1 inconsistent or not checkable\n";
static const char *help_repair =
	"  repair [--dry-run] [--backup FILE] POOL\n"
	"                 repair a damaged pool no process has open: drop forged and\n"
	"                 invalid logs and damaged undo headers, rebuild the chunk\n"
	"                 table's walkable spans (an unreadable span becomes FREE if\n"
	"                 it is all zero, else it is quarantined as one LARGE object,\n"
	"                 never handed out), clear bitmap bits past the last block,\n"
	"                 clear a root that names no object, recompute the header\n"
	"                 checksum if the geometry agrees with the file size and lane\n"
	"                 count.  First saves the file to POOL.before-repair (or\n"
	"                 --backup FILE; refused if that exists), fsynced.  Then\n"
	"                 plain writes and fsync: NOT crash-atomic -- if it is\n"
	"                 interrupted, restore the backup.  Reports what it changed\n"
	"                 and what was lost; the result is checked by pm_check.\n"
	"                 --dry-run: say what would change, change nothing.\n"
	"                 Refuses a pool another process holds, a foreign file,\n"
	"                 another layout version, and an unrecoverable header.\n"
	"                 Exit 0 consistent after repair (or nothing to repair), 1\n"
	"                 refused or still inconsistent\n";
static const char *help_stats =
	"  stats [--json] POOL\n"
	"                 objects and bytes per size class, free space.  --json: one\n"
	"                 JSON object {pool, classes: [{class, size, objects, bytes}],\n"
	"                 objects, bytes_allocated, heap_bytes, free_bytes, ...}\n";
static const char *help_dump =
	"  dump [--hex OFF] POOL\n"
	"                 every allocated object: offset and usable size, in offset\n"
	"                 order.  --hex OFF: the bytes of the object at offset OFF\n"
	"                 (as dump lists it, 0x... or decimal), 16 a line\n";

static const char *help_backup =
	"  backup [--quiet] POOL FILE\n"
	"                 write a consistent snapshot of POOL (one no other process\n"
	"                 holds; opening it runs recovery) to the new file FILE, on\n"
	"                 any file system: metadata and used chunks only, a checksum\n"
	"                 per chunk; FILE appears whole or not at all.  Progress on\n"
	"                 stderr unless --quiet\n";
static const char *help_restore =
	"  restore [--replace] [--quiet] FILE POOL\n"
	"                 verify the backup FILE, then create POOL from it (checked\n"
	"                 before it appears).  An existing POOL is refused unless\n"
	"                 --replace (then replaced atomically, never while a process\n"
	"                 has it open)\n";
static const char *help_verify =
	"  verify FILE\n"
	"                 check a backup file: header, segment table, every chunk's\n"
	"                 checksum; names the first damaged chunk.  Exit 0 intact\n";
static int usage(FILE *to, int rc)
{
	fprintf(to, "usage: %s COMMAND [OPTIONS] POOL [ARGS]\n\n%s%s%s%s%s%s%s%s%s%s", prog, help_create, help_grow,
	        help_info, help_check, help_repair, help_stats, help_dump, help_backup, help_restore,
	        help_verify);
	fprintf(to,
	        "\n"
	        "Only `create`, `grow`, `repair`, `backup` and `restore` write.  The others\n"
	        "map the pool privately and run recovery on that copy, so a pool that needs\n"
	        "recovery is shown as it will be after the next pm_open, and the file is\n"
	        "left untouched.\n"
	        "`%s COMMAND --help` describes one command; `%s --version` the version.\n"
	        "Sizes print in binary units (KiB = 1024 bytes); --json gives exact bytes.\n"
	        "Exit status: 0 ok, 1 failure or inconsistent pool, 2 usage.\n",
	        prog, prog);
	return rc;
}

static int cmd_help(const char *cmd, FILE *to, int rc)
{
	const char *t = !strcmp(cmd, "create") ? help_create : !strcmp(cmd, "grow") ? help_grow
	              : !strcmp(cmd, "info") ? help_info
	              : !strcmp(cmd, "check") ? help_check : !strcmp(cmd, "repair") ? help_repair
	              : !strcmp(cmd, "stats") ? help_stats : !strcmp(cmd, "dump") ? help_dump
	              : !strcmp(cmd, "backup") ? help_backup : !strcmp(cmd, "restore") ? help_restore
	              : !strcmp(cmd, "verify") ? help_verify : NULL;
	if (!t)
		return usage(to, rc);
	fprintf(to, "usage: %s %s", prog, t + 2);
	return rc;
}

static int fail(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, pm_errormsg());
	return 1;
}

/* "64M" -> bytes; 0 on a malformed size. */
static uint64_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return 0;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end == 'i' && shift)
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)v << shift;
}

/* 67108864 -> "64 MiB", 1536 -> "1.5 KiB", 100 -> "100 B" */
static const char *human(uint64_t v, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned u = 0;
	uint64_t div = 1;
	while (u < 6 && v / div >= 1024) {
		div <<= 10;
		u++;
	}
	if (v % div == 0)
		snprintf(buf, len, "%llu %s", (unsigned long long)(v / div), unit[u]);
	else
		snprintf(buf, len, "%.1f %s", (double)v / (double)div, unit[u]);
	return buf;
}
#define HUMAN(v) human((v), (char[32]){ 0 }, 32)

/* One option loop for the read-only commands: --json, --hex OFF, --help. */
struct ro_opts {
	int json;
	int hex;
	uint64_t hex_off;
	const char *path;
};

static int ro_parse(const char *cmd, int argc, char **argv, int allow_json, int allow_hex,
                    struct ro_opts *o, int *rc)
{
	memset(o, 0, sizeof(*o));
	int i = 0;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--help")) {
			*rc = cmd_help(cmd, stdout, 0);
			return -1;
		} else if (allow_json && !strcmp(argv[i], "--json")) {
			o->json = 1;
		} else if (allow_hex && !strcmp(argv[i], "--hex") && i + 1 < argc) {
			char *end;
			errno = 0;
			o->hex_off = strtoull(argv[++i], &end, 0);
			if (errno || *end || argv[i][0] == '-' || !o->hex_off) {
				fprintf(stderr, "%s: %s: bad offset '%s'\n", prog, cmd, argv[i]);
				*rc = 2;
				return -1;
			}
			o->hex = 1;
		} else {
			*rc = cmd_help(cmd, stderr, 2);
			return -1;
		}
	}
	if (argc - i != 1) {
		*rc = cmd_help(cmd, stderr, 2);
		return -1;
	}
	o->path = argv[i];
	return 0;
}

static int cmd_create(int argc, char **argv)
{
	struct pm_create_opts o = { 0 };
	unsigned mode = 0600;
	int i = 0;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--lanes") && i + 1 < argc)
			o.nlanes = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = (unsigned)strtoul(argv[++i], NULL, 8);
		else if (!strcmp(argv[i], "--max") && i + 1 < argc) {
			if ((o.max_size = parse_size(argv[++i])) == 0) {
				fprintf(stderr, "%s: create: bad maximum '%s' (e.g. 1G, 1T)\n", prog, argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--help"))
			return cmd_help("create", stdout, 0);
		else
			return cmd_help("create", stderr, 2);
	}
	if (argc - i != 2)
		return cmd_help("create", stderr, 2);
	uint64_t size = parse_size(argv[i + 1]);
	if (size == 0) {
		fprintf(stderr, "%s: create: bad size '%s' (e.g. 64M, 1G)\n", prog, argv[i + 1]);
		return 2;
	}
	pm_pool *p = pm_create_ex(argv[i], (size_t)size, mode, &o);
	if (!p)
		return fail("create");
	if (pm_max_size(p) > pm_size(p)) {
		/* growable: the file as asked, its heap's end, the maximum */
		struct stat st;
		uint64_t flen = stat(argv[i], &st) == 0 ? (uint64_t)st.st_size : pm_size(p);
		printf("%s: %s file (%llu bytes; the heap ends at %s), grows to %s", argv[i], HUMAN(flen),
		       (unsigned long long)flen, HUMAN(pm_size(p)), HUMAN(pm_max_size(p)));
	} else {
		printf("%s: %s (%llu bytes)", argv[i], HUMAN(pm_size(p)), (unsigned long long)pm_size(p));
	}
	const char *d = pm_durability(p);
	if (strcmp(d, "wal") == 0)
		printf(", WAL mode (log %s.wal)\n", argv[i]);
	else if (strcmp(d, "none") == 0)
		printf(", no flushes (PMSTORE_NO_FLUSH=1)\n");
	else
		printf(", %s path\n", strcmp(d, "pmem") == 0 ? "cache-flush (pmem)" : d);
	pm_close(p);
	return 0;
}

static int cmd_grow(int argc, char **argv)
{
	if (argc == 1 && !strcmp(argv[0], "--help"))
		return cmd_help("grow", stdout, 0);
	if (argc != 2 || argv[0][0] == '-')
		return cmd_help("grow", stderr, 2);
	uint64_t size = parse_size(argv[1]);
	if (size == 0) {
		fprintf(stderr, "%s: grow: bad size '%s' (e.g. 64M, 1G)\n", prog, argv[1]);
		return 2;
	}
	pm_pool *p = pm_open(argv[0]);
	if (!p)
		return fail(argv[0]);
	size_t before = pm_size(p);
	int rc = pm_grow(p, (size_t)size);
	if (rc) {
		pm_close(p);
		return fail("grow");
	}
	printf("%s: %s (%llu bytes), was %s, grows to %s\n", argv[0], HUMAN(pm_size(p)),
	       (unsigned long long)pm_size(p), HUMAN(before), HUMAN(pm_max_size(p)));
	pm_close(p);
	return 0;
}

static void json_str(const char *t)
{
	putchar('"');
	for (const unsigned char *c = (const unsigned char *)t; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if (*c < 0x20)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

static pm_pool *open_ro(const char *path)
{
	pm_pool *p = pool_open_private(path);
	if (!p)
		fprintf(stderr, "%s: %s\n", prog, pm_errormsg());
	return p;
}

/*
 * What recovery will do when the pool is next opened, read from the media
 * as it is (the raw walk: no recovery, nothing written).  0 if the walk
 * could be done (*sc filled; free it), else the error.
 */
static int recovery_state(const char *path, struct media_scan *sc)
{
	return pool_scan_path(path, sc);
}

static int is_recovery_note(const struct pool_problem *q)
{
	return !strcmp(q->kind, "redo_pending") || !strcmp(q->kind, "undo_active") ||
	       !strcmp(q->kind, "redo_invalid") || !strcmp(q->kind, "undo_checksum");
}

static int cmd_info(int argc, char **argv)
{
	struct ro_opts o;
	int rc;
	if (ro_parse("info", argc, argv, 1, 0, &o, &rc))
		return rc;
	const char *path = o.path;
	/* media first: once open_ro has run recovery on its copy, the
	 * pending work is gone from the copy */
	struct media_scan sc;
	char scan_err[512] = "";
	int src = recovery_state(path, &sc);
	if (src)
		snprintf(scan_err, sizeof(scan_err), "%s", pm_errormsg());
	pm_pool *p = open_ro(path);
	if (!p) {
		media_scan_free(&sc);
		return 1;
	}
	const struct pool_hdr *h = p->hdr;
	char ts[64] = "?", uuid[40];
	time_t t = (time_t)h->create_time;
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S UTC", &tm);
	char *u = uuid;
	for (int i = 0; i < 16; i++)
		u += sprintf(u, "%02x%s", h->uuid[i], i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
	struct pm_check_report rep;
	pm_check(p, &rep);
	unsigned torn = src ? 0 : sc.redo_invalid + sc.undo_bad;
	int needs = !src && (sc.redo_pending || sc.undo_active);
	uint64_t heap = h->nchunks * h->chunk_size;
	if (o.json) {
		printf("{\"pool\":");
		json_str(path);
		printf(",\"layout\":\"%.7s\",\"layout_version\":%u,\"uuid\":\"%s\",\"created\":%llu,"
		       "\"created_utc\":\"%s\",\"size\":%llu,\"max_size\":%llu,\"growable\":%s,"
		       "\"lanes\":%u,\"lane_size\":%u,"
		       "\"lanes_offset\":%llu,\"heap\":{\"chunks\":%llu,\"chunk_size\":%llu,"
		       "\"offset\":%llu,\"table_offset\":%llu,\"bytes\":%llu},\"root\":",
		       h->magic, h->layout_version, uuid, (unsigned long long)h->create_time, ts,
		       (unsigned long long)pm_size(p), (unsigned long long)pm_max_size(p),
		       p->growable ? "true" : "false", h->nlanes, h->lane_size,
		       (unsigned long long)h->lanes_off, (unsigned long long)h->nchunks,
		       (unsigned long long)h->chunk_size, (unsigned long long)h->chunks_off,
		       (unsigned long long)h->chunk_table_off, (unsigned long long)heap);
		if (p->desc->root_off)
			printf("{\"offset\":%llu,\"size\":%llu}", (unsigned long long)p->desc->root_off,
			       (unsigned long long)p->desc->root_size);
		else
			printf("null");
		printf(",\"objects\":%llu,\"bytes_allocated\":%llu,\"chunks\":{\"free\":%llu,\"runs\":%llu,"
		       "\"large\":%llu},\"recovery\":",
		       (unsigned long long)rep.objects, (unsigned long long)rep.bytes_allocated,
		       (unsigned long long)rep.free_chunks, (unsigned long long)rep.run_chunks,
		       (unsigned long long)rep.large_chunks);
		if (src)
			printf("null");
		else
			printf("{\"needed\":%s,\"redo_pending\":%u,\"tx_active\":%u,\"torn\":%u}",
			       needs ? "true" : "false", sc.redo_pending, sc.undo_active, torn);
		printf("}\n");
	} else {
		printf("pool          %s\n", path);
		printf("layout        %.7s version %u\n", h->magic, h->layout_version);
		printf("uuid          %s\n", uuid);
		printf("created       %s\n", ts);
		printf("size          %s (%llu bytes)", HUMAN(pm_size(p)), (unsigned long long)pm_size(p));
		if (p->growable)
			printf(", grows to %s (%llu bytes)%s", HUMAN(pm_max_size(p)),
			       (unsigned long long)pm_max_size(p),
			       p->file_len >= pm_size(p) + h->chunk_size
			               ? "; the file is longer (a growth a crash cut short?): the next growth reuses it"
			               : "");
		printf("\n");
		printf("lanes         %u x %s at offset %llu\n", h->nlanes, HUMAN(h->lane_size),
		       (unsigned long long)h->lanes_off);
		printf("heap          %s: %llu chunks x %s at offset %llu (table at %llu)\n", HUMAN(heap),
		       (unsigned long long)h->nchunks, HUMAN(h->chunk_size),
		       (unsigned long long)h->chunks_off, (unsigned long long)h->chunk_table_off);
		printf("root          ");
		if (p->desc->root_off)
			printf("0x%llx, %s\n", (unsigned long long)p->desc->root_off,
			       HUMAN(p->desc->root_size));
		else
			printf("none\n");
		printf("objects       %llu (%s usable)\n", (unsigned long long)rep.objects,
		       HUMAN(rep.bytes_allocated));
		printf("chunks        %llu free (%s), %llu in runs, %llu large objects\n",
		       (unsigned long long)rep.free_chunks, HUMAN(rep.free_chunks * h->chunk_size),
		       (unsigned long long)rep.run_chunks, (unsigned long long)rep.large_chunks);
		if (src)
			printf("recovery      unknown: %s\n", scan_err);
		else if (!needs)
			printf("recovery      not needed: no redo log pending, no transaction active%s\n",
			       torn ? " (torn logs or undo headers, which recovery ignores: see below)" : "");
		else
			printf("recovery      NEEDED: %u redo log(s) pending replay, %u transaction(s) "
			       "left active; the next pm_open runs it (the figures above are after it)\n",
			       sc.redo_pending, sc.undo_active);
		if (!src)
			for (size_t k = 0; k < sc.notes.n; k++)
				if (is_recovery_note(&sc.notes.v[k]))
					printf("  0x%012llx  %s  %s\n", (unsigned long long)sc.notes.v[k].offset,
					       sc.notes.v[k].structure, sc.notes.v[k].message);
	}
	media_scan_free(&sc);
	pm_close(p);
	return 0;
}

/* ---- check ------------------------------------------------------------ */

static void json_list(const char *name, const struct pool_problems *l)
{
	printf(",\"%s\":[", name);
	for (size_t i = 0; i < l->n; i++) {
		const struct pool_problem *q = &l->v[i];
		printf("%s{\"kind\":", i ? "," : "");
		json_str(q->kind);
		printf(",\"offset\":%llu,\"structure\":", (unsigned long long)q->offset);
		json_str(q->structure);
		printf(",\"message\":");
		json_str(q->message);
		putchar('}');
	}
	putchar(']');
}

static void text_list(const char *prefix, const struct pool_problems *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct pool_problem *q = &l->v[i];
		printf("  %s0x%012llx  %s  [%s] %s\n", prefix, (unsigned long long)q->offset,
		       q->structure, q->kind, q->message);
	}
	if (l->dropped)
		printf("  %s... and %zu more not listed\n", prefix, l->dropped);
}

/* not a verdict on the pool: it could not be looked at */
static int cannot_check(int json, const char *path, const char *msg)
{
	if (json) {
		printf("{\"pool\":");
		json_str(path);
		printf(",\"status\":\"error\",\"message\":");
		json_str(msg);
		printf("}\n");
	} else {
		fprintf(stderr, "%s: cannot check: %s\n", prog, msg);
	}
	return 1;
}

static int is_unlookable(int rc)
{
	return rc == PM_EBUSY || rc == PM_ENOENT || rc == PM_ESYS || rc == PM_EFOREIGN ||
	       rc == PM_EVERSION || rc == PM_ENOMEM || rc == PM_EINVAL;
}

static void json_counts_raw(const struct media_scan *sc)
{
	printf(",\"raw\":{\"header\":\"%s\",\"objects\":%llu,\"bytes_allocated\":%llu,"
	       "\"heap_chunks\":%llu,\"free_chunks\":%llu,\"run_chunks\":%llu,\"large_chunks\":%llu,"
	       "\"unreadable_chunks\":%llu,\"lanes\":%u,"
	       "\"redo\":{\"empty\":%u,\"pending\":%u,\"void\":%u,\"invalid\":%u,\"forged\":%u},"
	       "\"undo\":{\"idle\":%u,\"active\":%u,\"damaged\":%u}}",
	       sc->hdr == HDR_OK ? "ok" : sc->hdr == HDR_REBUILDABLE ? "rebuildable" : "unrecoverable",
	       (unsigned long long)sc->objects, (unsigned long long)sc->bytes_allocated,
	       (unsigned long long)sc->heap_chunks, (unsigned long long)sc->free_chunks,
	       (unsigned long long)sc->run_chunks, (unsigned long long)sc->large_chunks,
	       (unsigned long long)sc->quarantined_chunks, sc->nlanes, sc->redo_empty,
	       sc->redo_pending, sc->redo_void, sc->redo_invalid, sc->redo_forged, sc->undo_idle,
	       sc->undo_active, sc->undo_bad);
}

/*
 * check: the library's own walk of a recovered private copy (if pm_open's
 * path accepts the file) AND a raw walk of the media (pool/repair.h): the
 * raw walk sees what recovery hides or refuses (forged logs it ignores,
 * damage it stops at).  Every problem of both is listed.
 */
static int cmd_check(int argc, char **argv)
{
	int json = 0, raw_only = 0, i = 0;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--raw"))
			raw_only = 1;
		else if (!strcmp(argv[i], "--help"))
			return cmd_help("check", stdout, 0);
		else
			return cmd_help("check", stderr, 2);
	}
	if (argc - i != 1)
		return cmd_help("check", stderr, 2);
	const char *path = argv[i];
	struct pm_check_report rep;
	memset(&rep, 0, sizeof(rep));
	struct pool_problems list = { 0 };
	char open_err[512] = "";
	int opened = 0, rrc = 0;
	if (!raw_only) {
		pm_pool *p = pool_open_private(path);
		if (p) {
			opened = 1;
			rrc = pool_check_all(p, &rep, &list);
			pm_close(p);
		} else {
			int e = pm_last_error();
			snprintf(open_err, sizeof(open_err), "%s", pm_errormsg());
			if (is_unlookable(e))
				return cannot_check(json, path, open_err);
		}
	}
	struct media_scan sc;
	int rc = pool_scan_path(path, &sc);
	if (rc && is_unlookable(rc)) {
		media_scan_free(&sc);
		pool_problems_free(&list);
		return cannot_check(json, path, pm_errormsg());
	}
	/* one list: the recovered walk's problems, then the raw walk's */
	for (size_t k = 0; k < sc.problems.n; k++) {
		const struct pool_problem *q = &sc.problems.v[k];
		pool_problems_add(&list, q->err, q->kind, q->offset, q->structure, "%s", q->message);
	}
	if (!opened && !raw_only && list.n == 0)
		pool_problems_add(&list, PM_ECORRUPT, "open_refused", 0, "recovery",
		                  "the raw walk finds no damage, but pm_open refuses the pool: %s", open_err);
	size_t nprob = list.n + list.dropped;
	int bad = nprob > 0 || rrc;
	const char *walk = opened ? "recovered" : "raw";
	if (json) {
		printf("{\"pool\":");
		json_str(path);
		printf(",\"status\":\"%s\",\"walk\":\"%s\",\"open_error\":", bad ? "inconsistent" : "consistent",
		       walk);
		if (open_err[0])
			json_str(open_err);
		else
			printf("null");
		printf(",\"counts\":{\"problems\":%zu,\"notes\":%zu", nprob, sc.notes.n + sc.notes.dropped);
		if (opened)
			printf(",\"objects\":%llu,\"bytes_allocated\":%llu,\"heap_chunks\":%llu,"
			       "\"free_chunks\":%llu,\"run_chunks\":%llu,\"large_chunks\":%llu,"
			       "\"logs_pending\":%llu,\"lanes\":%u",
			       (unsigned long long)rep.objects, (unsigned long long)rep.bytes_allocated,
			       (unsigned long long)rep.heap_chunks, (unsigned long long)rep.free_chunks,
			       (unsigned long long)rep.run_chunks, (unsigned long long)rep.large_chunks,
			       (unsigned long long)rep.logs_pending, rep.nlanes);
		if (!rc || sc.hdr == HDR_REBUILDABLE)
			json_counts_raw(&sc);
		printf("}");
		json_list("problems", &list);
		json_list("notes", &sc.notes);
		printf("}\n");
	} else {
		if (!bad)
			printf("%s: consistent: %llu objects, %llu bytes allocated, %llu of %llu chunks free\n",
			       path, (unsigned long long)(opened ? rep.objects : sc.objects),
			       (unsigned long long)(opened ? rep.bytes_allocated : sc.bytes_allocated),
			       (unsigned long long)(opened ? rep.free_chunks : sc.free_chunks),
			       (unsigned long long)(opened ? rep.heap_chunks : sc.heap_chunks));
		else if (opened)
			printf("%s: INCONSISTENT: %zu problem(s) (pm_open accepts the pool; the walk of its "
			       "recovered copy and the raw walk of the media found these)\n", path, nprob);
		else if (raw_only)
			printf("%s: INCONSISTENT: %zu problem(s) (raw walk of the media, no recovery)\n",
			       path, nprob);
		else
			printf("%s: INCONSISTENT: %zu problem(s) (raw walk of the media, no recovery: "
			       "pm_open refuses the pool: %s)\n", path, nprob, open_err);
		text_list("", &list);
		text_list("note ", &sc.notes);
		if ((bad || raw_only) && (!rc || sc.hdr == HDR_REBUILDABLE)) {
			printf("  lanes: %u; redo logs: %u empty, %u pending replay, %u void (watermark), "
			       "%u invalid, %u forged; undo: %u idle, %u active, %u damaged or torn\n",
			       sc.nlanes, sc.redo_empty, sc.redo_pending, sc.redo_void, sc.redo_invalid,
			       sc.redo_forged, sc.undo_idle, sc.undo_active, sc.undo_bad);
			printf("  media: %llu chunks: %llu free, %llu in runs, %llu in large objects, %llu "
			       "unreadable; %llu objects, %llu bytes in the readable spans\n",
			       (unsigned long long)sc.heap_chunks, (unsigned long long)sc.free_chunks,
			       (unsigned long long)sc.run_chunks, (unsigned long long)sc.large_chunks,
			       (unsigned long long)sc.quarantined_chunks, (unsigned long long)sc.objects,
			       (unsigned long long)sc.bytes_allocated);
		}
	}
	media_scan_free(&sc);
	pool_problems_free(&list);
	return bad ? 1 : 0;
}

/* ---- repair ------------------------------------------------------------- */

static int cmd_repair(int argc, char **argv)
{
	struct repair_opts o = { 0 };
	int i = 0;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--dry-run"))
			o.dry_run = 1;
		else if (!strcmp(argv[i], "--backup") && i + 1 < argc)
			o.backup = argv[++i];
		else if (!strcmp(argv[i], "--help"))
			return cmd_help("repair", stdout, 0);
		else
			return cmd_help("repair", stderr, 2);
	}
	if (argc - i != 1)
		return cmd_help("repair", stderr, 2);
	const char *path = argv[i];
	struct repair_result r;
	int rc = pool_repair_path(path, &o, &r);
	struct media_scan *s = &r.scan;
	if (rc && !r.verified && !r.raw_verified && s->actions.n == 0) {
		/* refused before anything was (or would be) changed */
		const char *why = s->hdr == HDR_FOREIGN ? " (not a pmstore pool)"
		                : s->hdr == HDR_BAD ? " (the header is unrecoverable)"
		                : s->hdr == HDR_VERSION ? " (another layout version)" : "";
		fprintf(stderr, "%s: repair refused%s: %s\n", prog, why, pm_errormsg());
		repair_result_free(&r);
		return 1;
	}
	if (s->problems.n == 0 && s->redo_invalid == 0 && s->undo_bad == 0) {
		printf("%s: nothing to repair: %s\n", path,
		       r.verify_status ? r.verify_msg : "consistent");
		repair_result_free(&r);
		return r.verify_status ? 1 : 0;
	}
	const char *would = o.dry_run ? "would " : "";
	printf("%s: %s%zu problem(s) and %zu note(s) found%s\n", path,
	       o.dry_run ? "dry run, nothing changed: " : "", s->problems.n, s->notes.n,
	       o.dry_run ? "" : ", repaired");
	text_list("", &s->problems);
	text_list("note ", &s->notes);
	printf("%s:\n", o.dry_run ? "changes it would make" : "changes made");
	text_list("", &s->actions);
	if (s->hdr == HDR_REBUILDABLE)
		printf("header: %s rebuilt: the checksum recomputed over the fields as they are (the "
		       "geometry agrees with the file size and lane count)\n", o.dry_run ? "would be" : "was");
	printf("kept: %llu objects (%llu bytes) whose metadata was intact\n",
	       (unsigned long long)s->objects, (unsigned long long)s->bytes_allocated);
	printf("lost: %llu chunks (%llu bytes) quarantined%s%s",
	       (unsigned long long)s->quarantined_chunks,
	       (unsigned long long)(s->quarantined_chunks * CHUNK_SIZE),
	       s->quarantined_chunks ? " (whatever objects their damaged headers described: no longer "
	                               "individually allocated, never handed out)" : "",
	       s->root_cleared ? "; the root (cleared)" : "");
	unsigned dropped = 0;
	for (size_t k = 0; k < s->actions.n; k++)
		dropped += !strcmp(s->actions.v[k].kind, "redo_dropped") ||
		           !strcmp(s->actions.v[k].kind, "undo_retired");
	printf("; %u log(s) dropped (not replayed, not rolled back)\n", dropped);
	printf("reclaimed: %llu all-zero chunks made free; %llu bitmap bit(s) past the last block cleared\n",
	       (unsigned long long)s->freed_gap_chunks, (unsigned long long)s->bits_cleared);
	printf("objects lost: those only the damaged metadata described (their number is not "
	       "knowable); of the %llu with intact metadata, none\n", (unsigned long long)s->objects);
	if (r.verified && !r.verify_status)
		printf("after: %llu objects (%llu bytes)%s, %llu of them quarantined span(s)\n",
		       (unsigned long long)r.objects_after, (unsigned long long)r.bytes_after,
		       o.dry_run ? " after recovery" : "", (unsigned long long)s->quarantined_spans);
	if (r.verified)
		printf("result%s: %s%s (pm_check%s)\n", o.dry_run ? " (on a private copy)" : "",
		       r.verify_status ? "INCONSISTENT: " : "consistent",
		       r.verify_status ? r.verify_msg : "", o.dry_run ? " after recovery" : "");
	else if (r.raw_verified)
		printf("result (raw walk of the repaired private copy; the library cannot open it before "
		       "the header is rewritten): %zu problem(s) left\n", r.raw_after_problems);
	if (r.backup[0])
		printf("backup: %s\n", r.backup);
	(void)would;
	repair_result_free(&r);
	return rc ? 1 : 0;
}

struct class_count {
	uint64_t objects, bytes;
};

struct stats_arg {
	struct class_count cls[NCLASSES + 1]; /* last: large */
};

static int stats_fn(pm_off off, size_t usable, void *arg)
{
	struct stats_arg *a = arg;
	(void)off;
	unsigned c = usable <= MAX_RUN_SIZE ? heap_class_for(usable) : NCLASSES;
	if (c < NCLASSES && heap_classes[c].size != usable) /* LARGE: whole chunks */
		c = NCLASSES;
	a->cls[c].objects++;
	a->cls[c].bytes += usable;
	return 0;
}

static int cmd_stats(int argc, char **argv)
{
	struct ro_opts o;
	int rc;
	if (ro_parse("stats", argc, argv, 1, 0, &o, &rc))
		return rc;
	pm_pool *p = open_ro(o.path);
	if (!p)
		return 1;
	struct stats_arg a;
	memset(&a, 0, sizeof(a));
	if (pm_walk(p, stats_fn, &a)) {
		pm_close(p);
		return fail("stats");
	}
	struct pm_check_report rep;
	pm_check(p, &rep);
	uint64_t heap = rep.heap_chunks * CHUNK_SIZE, free_b = rep.free_chunks * CHUNK_SIZE;
	if (o.json) {
		printf("{\"pool\":");
		json_str(o.path);
		printf(",\"classes\":[");
		int first = 1;
		for (unsigned c = 0; c <= NCLASSES; c++) {
			if (!a.cls[c].objects)
				continue;
			printf("%s{\"class\":", first ? "" : ",");
			if (c < NCLASSES)
				printf("\"%u\",\"size\":%u", heap_classes[c].size, heap_classes[c].size);
			else
				printf("\"large\",\"size\":null");
			printf(",\"objects\":%llu,\"bytes\":%llu}", (unsigned long long)a.cls[c].objects,
			       (unsigned long long)a.cls[c].bytes);
			first = 0;
		}
		printf("],\"objects\":%llu,\"bytes_allocated\":%llu,\"heap_bytes\":%llu,"
		       "\"free_bytes\":%llu,\"free_chunks\":%llu,\"run_chunks\":%llu,\"large_chunks\":%llu}\n",
		       (unsigned long long)rep.objects, (unsigned long long)rep.bytes_allocated,
		       (unsigned long long)heap, (unsigned long long)free_b,
		       (unsigned long long)rep.free_chunks, (unsigned long long)rep.run_chunks,
		       (unsigned long long)rep.large_chunks);
		pm_close(p);
		return 0;
	}
	printf("%-12s %12s %12s\n", "class", "objects", "bytes");
	for (unsigned c = 0; c <= NCLASSES; c++) {
		if (!a.cls[c].objects)
			continue;
		char name[32];
		if (c < NCLASSES)
			snprintf(name, sizeof(name), "%s", HUMAN(heap_classes[c].size));
		else
			snprintf(name, sizeof(name), "large");
		printf("%-12s %12llu %12s\n", name, (unsigned long long)a.cls[c].objects,
		       HUMAN(a.cls[c].bytes));
	}
	printf("%-12s %12llu %12s\n", "total", (unsigned long long)rep.objects,
	       HUMAN(rep.bytes_allocated));
	printf("heap %s: %s in free chunks (%.1f%%), %llu chunks of runs,"
	       " %llu chunks of large objects\n",
	       HUMAN(heap), HUMAN(free_b), heap ? 100.0 * (double)free_b / (double)heap : 0.0,
	       (unsigned long long)rep.run_chunks, (unsigned long long)rep.large_chunks);
	pm_close(p);
	return 0;
}

static int dump_fn(pm_off off, size_t usable, void *arg)
{
	(void)arg;
	printf("0x%012llx %zu\n", (unsigned long long)off, usable);
	return 0;
}

struct find_arg {
	pm_off want;
	size_t usable; /* 0: not an allocated object */
};

static int find_fn(pm_off off, size_t usable, void *arg)
{
	struct find_arg *f = arg;
	if (off == f->want) {
		f->usable = usable;
		return 1;
	}
	return off > f->want; /* offset order: past it, it is not there */
}

/* xxd-like: pool offset, 16 bytes in hex, the printable ones as text */
static void hexdump(const unsigned char *b, pm_off off, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		printf("0x%012llx ", (unsigned long long)(off + i));
		for (size_t k = 0; k < 16; k++) {
			if (k == 8)
				putchar(' ');
			if (i + k < n)
				printf(" %02x", b[i + k]);
			else
				printf("   ");
		}
		printf("  |");
		for (size_t k = 0; k < 16 && i + k < n; k++)
			putchar(b[i + k] >= 0x20 && b[i + k] < 0x7f ? b[i + k] : '.');
		printf("|\n");
	}
}

static int cmd_dump(int argc, char **argv)
{
	struct ro_opts o;
	int rc;
	if (ro_parse("dump", argc, argv, 0, 1, &o, &rc))
		return rc;
	pm_pool *p = open_ro(o.path);
	if (!p)
		return 1;
	if (o.hex) {
		struct find_arg f = { .want = o.hex_off };
		pm_walk(p, find_fn, &f);
		const unsigned char *b = f.usable ? pm_direct_checked(p, f.want, f.usable) : NULL;
		if (!b) {
			fprintf(stderr, "%s: dump: no allocated object at offset 0x%llx (`%s dump %s` "
			        "lists them)\n", prog, (unsigned long long)o.hex_off, prog, o.path);
			pm_close(p);
			return 1;
		}
		printf("# object 0x%llx, %zu usable bytes (%s)\n", (unsigned long long)f.want, f.usable,
		       HUMAN(f.usable));
		hexdump(b, f.want, f.usable);
		pm_close(p);
		return 0;
	}
	printf("# offset usable-bytes\n");
	rc = pm_walk(p, dump_fn, NULL);
	pm_close(p);
	return rc ? fail("dump") : 0;
}

/* ---- backup / restore / verify ---------------------------------------- */

static void progress(uint64_t done, uint64_t total, void *arg)
{
	const char *what = arg;
	char a[32], b[32];
	fprintf(stderr, "\r%s: %s of %s (%3.0f%%)", what, human(done, a, sizeof(a)),
	        human(total, b, sizeof(b)), total ? 100.0 * (double)done / (double)total : 100.0);
	if (done >= total)
		fputc('\n', stderr);
}

/* Flags first, then exactly `npos` operands. */
static int bk_parse(const char *cmd, int argc, char **argv, int npos, int *quiet, int *replace,
                    char **pos, int *rc)
{
	int n = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			*rc = cmd_help(cmd, stdout, 0);
			return 1;
		} else if (quiet && !strcmp(argv[i], "--quiet")) {
			*quiet = 1;
		} else if (replace && !strcmp(argv[i], "--replace")) {
			*replace = 1;
		} else if (argv[i][0] == '-' || n == npos) {
			*rc = cmd_help(cmd, stderr, 2);
			return 1;
		} else {
			pos[n++] = argv[i];
		}
	}
	if (n != npos) {
		*rc = cmd_help(cmd, stderr, 2);
		return 1;
	}
	return 0;
}

static int cmd_backup(int argc, char **argv)
{
	int quiet = 0, rc;
	char *pos[2];
	if (bk_parse("backup", argc, argv, 2, &quiet, NULL, pos, &rc))
		return rc;
	pm_pool *p = pm_open(pos[0]);
	if (!p)
		return fail(pos[0]);
	struct pm_backup_stats st;
	struct pm_backup_opts o = { .progress = quiet ? NULL : progress, .arg = "backup",
	                            .stats = &st };
	rc = pm_backup(p, pos[1], &o);
	pm_close(p);
	if (rc)
		return fail("backup");
	char a[32];
	printf("%s: %s (%llu used chunks of the pool), writers held %.1f ms\n", pos[1],
	       human(st.bytes, a, sizeof(a)), (unsigned long long)st.used_chunks,
	       (double)st.writers_held_ns / 1e6);
	return 0;
}

static int cmd_restore(int argc, char **argv)
{
	int quiet = 0, replace = 0, rc;
	char *pos[2];
	if (bk_parse("restore", argc, argv, 2, &quiet, &replace, pos, &rc))
		return rc;
	struct pm_backup_opts o = { .flags = replace ? PM_RESTORE_REPLACE : 0,
	                            .progress = quiet ? NULL : progress, .arg = "restore" };
	if (pm_restore(pos[0], pos[1], &o))
		return fail("restore");
	printf("%s: restored from %s, checked\n", pos[1], pos[0]);
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	int rc;
	char *pos[1];
	if (bk_parse("verify", argc, argv, 1, NULL, NULL, pos, &rc))
		return rc;
	struct pm_backup_info in;
	if (pm_backup_verify(pos[0], &in))
		return fail("verify");
	char a[32], b[32];
	time_t t = (time_t)in.created;
	char when[64];
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
	printf("%s: intact: a backup of a %s pool, %llu of %llu chunks used, %s, taken %s\n", pos[0],
	       human(in.pool_size, a, sizeof(a)), (unsigned long long)in.used_chunks,
	       (unsigned long long)in.nchunks, human(in.bytes, b, sizeof(b)), when);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, 2);
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
		return argc > 2 ? cmd_help(argv[2], stdout, 0) : usage(stdout, 0);
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("%s %s (pool layout version %u)\n", prog, pmstore_version(),
		       (unsigned)POOL_LAYOUT_VERSION);
		return 0;
	}
	argc -= 2;
	argv += 2;
	if (!strcmp(cmd, "create"))
		return cmd_create(argc, argv);
	if (!strcmp(cmd, "grow"))
		return cmd_grow(argc, argv);
	if (!strcmp(cmd, "info"))
		return cmd_info(argc, argv);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc, argv);
	if (!strcmp(cmd, "repair"))
		return cmd_repair(argc, argv);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc, argv);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(argc, argv);
	if (!strcmp(cmd, "backup"))
		return cmd_backup(argc, argv);
	if (!strcmp(cmd, "restore"))
		return cmd_restore(argc, argv);
	if (!strcmp(cmd, "verify"))
		return cmd_verify(argc, argv);
	fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
	return usage(stderr, 2);
}
