/*
 * pmstore.c -- the command-line tool: create, inspect and check pools.
 *
 *   pmstore create [--lanes N] [--mode OCTAL] POOL SIZE
 *   pmstore info   POOL
 *   pmstore check  POOL
 *   pmstore stats  POOL
 *   pmstore dump   POOL
 *
 * Everything but `create` is read-only: the pool is mapped privately and
 * recovery runs on the private copy (pm_check_path's way), so the tool can
 * look at a pool that needs recovery without changing it.  A pool another
 * process holds open is refused (its state is in flux).
 *
 * Exit status: 0 success (check: consistent), 1 the pool is inconsistent
 * (check) or the operation failed, 2 usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc/heap.h"
#include "pmstore.h"
#include "pool/pool.h"

static const char *prog = "pmstore";

static int usage(FILE *to, int rc)
{
	fprintf(to,
	        "usage: %s COMMAND [OPTIONS] POOL [ARGS]\n"
	        "\n"
	        "  create [--lanes N] [--mode OCTAL] POOL SIZE\n"
	        "                 create a pool file of SIZE bytes (suffixes K, M, G, T;\n"
	        "                 at least 8M); the file must not exist\n"
	        "  info POOL      header: layout, uuid, size, lanes, geometry, root\n"
	        "  check POOL     full consistency walk (read-only); exit 0 if consistent,\n"
	        "                 1 with the first problem otherwise\n"
	        "  stats POOL     objects and bytes per size class, free space\n"
	        "  dump POOL      every allocated object: offset and usable size\n"
	        "\n"
	        "Only `create` writes.  The others map the pool privately and run\n"
	        "recovery on that copy, so a pool that needs recovery is shown as it\n"
	        "will be after the next pm_open, and the file is left untouched.\n"
	        "Exit status: 0 ok, 1 failure or inconsistent pool, 2 usage.\n",
	        prog);
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
		else if (!strcmp(argv[i], "--help"))
			return usage(stdout, 0);
		else
			return usage(stderr, 2);
	}
	if (argc - i != 2)
		return usage(stderr, 2);
	uint64_t size = parse_size(argv[i + 1]);
	if (size == 0) {
		fprintf(stderr, "%s: create: bad size '%s' (e.g. 64M, 1G)\n", prog, argv[i + 1]);
		return 2;
	}
	pm_pool *p = pm_create_ex(argv[i], (size_t)size, mode, &o);
	if (!p)
		return fail("create");
	printf("%s: %llu bytes, %s path\n", argv[i], (unsigned long long)pm_size(p),
	       pm_is_pmem(p) ? "cache-flush (pmem)" : "msync");
	pm_close(p);
	return 0;
}

static pm_pool *open_ro(const char *path)
{
	pm_pool *p = pool_open_private(path);
	if (!p)
		fprintf(stderr, "%s: %s\n", prog, pm_errormsg());
	return p;
}

static int cmd_info(const char *path)
{
	pm_pool *p = open_ro(path);
	if (!p)
		return 1;
	const struct pool_hdr *h = p->hdr;
	char ts[64] = "?";
	time_t t = (time_t)h->create_time;
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("pool          %s\n", path);
	printf("layout        %.7s version %u\n", h->magic, h->layout_version);
	printf("uuid          ");
	for (int i = 0; i < 16; i++)
		printf("%02x%s", h->uuid[i], i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
	printf("\ncreated       %s\n", ts);
	printf("size          %llu bytes\n", (unsigned long long)h->pool_size);
	printf("lanes         %u x %u bytes at %llu\n", h->nlanes, h->lane_size,
	       (unsigned long long)h->lanes_off);
	printf("heap          %llu chunks x %llu bytes at %llu (table at %llu)\n",
	       (unsigned long long)h->nchunks, (unsigned long long)h->chunk_size,
	       (unsigned long long)h->chunks_off, (unsigned long long)h->chunk_table_off);
	printf("root          ");
	if (p->desc->root_off)
		printf("0x%llx, %llu bytes\n", (unsigned long long)p->desc->root_off,
		       (unsigned long long)p->desc->root_size);
	else
		printf("none\n");
	struct pm_check_report rep;
	pm_check(p, &rep);
	printf("objects       %llu (%llu bytes usable)\n", (unsigned long long)rep.objects,
	       (unsigned long long)rep.bytes_allocated);
	printf("chunks        %llu free, %llu small-object runs, %llu large objects\n",
	       (unsigned long long)rep.free_chunks, (unsigned long long)rep.run_chunks,
	       (unsigned long long)rep.large_chunks);
	pm_close(p);
	return 0;
}

static int cmd_check(const char *path)
{
	struct pm_check_report rep;
	int rc = pm_check_path(path, &rep);
	if (rc == PM_EBUSY || rc == PM_ENOENT || rc == PM_ESYS || rc == PM_EFOREIGN ||
	    rc == PM_EVERSION || rc == PM_ENOMEM || rc == PM_EINVAL) {
		/* not a verdict on the pool: it could not be looked at */
		fprintf(stderr, "%s: cannot check: %s\n", prog, pm_errormsg());
		return 1;
	}
	if (rc) {
		printf("%s: INCONSISTENT: %s\n", path, rep.message[0] ? rep.message : pm_errormsg());
		return 1;
	}
	printf("%s: consistent: %llu objects, %llu bytes allocated, %llu of %llu chunks free\n",
	       path, (unsigned long long)rep.objects, (unsigned long long)rep.bytes_allocated,
	       (unsigned long long)rep.free_chunks, (unsigned long long)rep.heap_chunks);
	return 0;
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
	unsigned c = usable <= MAX_SMALL_SIZE ? heap_class_for(usable) : NCLASSES;
	a->cls[c].objects++;
	a->cls[c].bytes += usable;
	return 0;
}

static int cmd_stats(const char *path)
{
	pm_pool *p = open_ro(path);
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
	printf("%-12s %12s %16s\n", "class", "objects", "bytes");
	for (unsigned c = 0; c <= NCLASSES; c++) {
		if (!a.cls[c].objects)
			continue;
		char name[32];
		if (c < NCLASSES)
			snprintf(name, sizeof(name), "%u B", heap_classes[c].size);
		else
			snprintf(name, sizeof(name), "large");
		printf("%-12s %12llu %16llu\n", name, (unsigned long long)a.cls[c].objects,
		       (unsigned long long)a.cls[c].bytes);
	}
	uint64_t heap = rep.heap_chunks * CHUNK_SIZE, free_b = rep.free_chunks * CHUNK_SIZE;
	printf("%-12s %12llu %16llu\n", "total", (unsigned long long)rep.objects,
	       (unsigned long long)rep.bytes_allocated);
	printf("heap %llu bytes: %llu in free chunks (%.1f%%), %llu chunks of small-object runs,"
	       " %llu chunks of large objects\n",
	       (unsigned long long)heap, (unsigned long long)free_b,
	       heap ? 100.0 * (double)free_b / (double)heap : 0.0,
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

static int cmd_dump(const char *path)
{
	pm_pool *p = open_ro(path);
	if (!p)
		return 1;
	printf("# offset usable-bytes\n");
	int rc = pm_walk(p, dump_fn, NULL);
	pm_close(p);
	return rc ? fail("dump") : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, 2);
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
		return usage(stdout, 0);
	if (!strcmp(cmd, "create"))
		return cmd_create(argc - 2, argv + 2);
	if (argc != 3 || argv[2][0] == '-') {
		if (argc == 3 && !strcmp(argv[2], "--help"))
			return usage(stdout, 0);
		return usage(stderr, 2);
	}
	if (!strcmp(cmd, "info"))
		return cmd_info(argv[2]);
	if (!strcmp(cmd, "check"))
		return cmd_check(argv[2]);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argv[2]);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(argv[2]);
	fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
	return usage(stderr, 2);
}
