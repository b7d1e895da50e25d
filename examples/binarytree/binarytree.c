/*
 * binarytree.c -- count word frequencies in a persistent binary search tree
 * (the 2013 linux-examples classic, on pmstore).  The command line front
 * end: parses arguments, opens or creates the pool, feeds the words of the
 * input files to tree_insert() (tree.c) and prints the tree in word order
 * (--print), by frequency (--top N), or verifies it (--check).
 *
 *   binarytree [--size MIB] [--stats] POOL [FILE...]   count words
 *   binarytree POOL --print | --top N | --check         report
 *
 * Exit status: 0 on success, 1 on any error (message on stderr).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmstore.h"
#include "tree.h"
#include "words.h"

#define DEFAULT_POOL_MIB 64

struct opts {
	const char *pool;
	char **files;
	int nfiles;
	int print, check, stats;
	long top;       /* -1 = no --top */
	int files_owned; /* files was allocated by parse_args */
	size_t size_mib;
};

struct run {
	pm_pool *pool;
	struct tree_root *root;
	uint64_t words, new_words;
	int err; /* first tree_insert error */
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: binarytree [--size MIB] [--stats] POOL [FILE...]\n"
	        "       binarytree POOL --print | --top N | --check\n"
	        "Counts the words of FILEs (standard input when none, or '-') in a\n"
	        "persistent tree in POOL, creating POOL (default %d MiB) if needed.\n"
	        "A word is a maximal run of ASCII letters, folded to lower case.\n"
	        "  --print    print 'count word' lines in byte order of the word\n"
	        "  --top N    print the N most frequent words (ties in word order)\n"
	        "  --check    verify the tree and the pool, print a summary\n"
	        "  --stats    print words/s and pool statistics on stderr\n"
	        "  --size MIB size of a newly created pool\n",
	        DEFAULT_POOL_MIB);
}

static int die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "binarytree: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	return 1;
}

static int parse_count(const char *s, long max, long *out)
{
	char *end;
	errno = 0;
	long v = s ? strtol(s, &end, 10) : 0;
	if (!s || errno || *end || end == s || v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static char *dash[] = {"-"};
	int nopts = 1;
	memset(o, 0, sizeof(*o));
	o->top = -1;
	o->size_mib = DEFAULT_POOL_MIB;
	o->files = calloc((size_t)argc, sizeof(char *));
	if (!o->files)
		return die_usage("%s", strerror(errno));
	o->files_owned = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		long v;
		if (nopts && strcmp(a, "--") == 0) {
			nopts = 0;
		} else if (nopts && strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (nopts && strcmp(a, "--print") == 0) {
			o->print = 1;
		} else if (nopts && strcmp(a, "--check") == 0) {
			o->check = 1;
		} else if (nopts && strcmp(a, "--stats") == 0) {
			o->stats = 1;
		} else if (nopts && strcmp(a, "--top") == 0) {
			if (parse_count(argv[i + 1], LONG_MAX, &v))
				return die_usage("--top needs a positive number, not '%s'",
				                 i + 1 < argc ? argv[i + 1] : "");
			o->top = v;
			i++;
		} else if (nopts && strcmp(a, "--size") == 0) {
			if (parse_count(argv[i + 1], 1L << 20, &v) ||
			    (size_t)v << 20 < PM_MIN_POOL_SIZE)
				return die_usage("--size needs a number of MiB >= 8, not '%s'",
				                 i + 1 < argc ? argv[i + 1] : "");
			o->size_mib = (size_t)v;
			i++;
		} else if (nopts && a[0] == '-' && a[1] == '-') {
			return die_usage("unknown option '%s'", a);
		} else if (!o->pool) {
			o->pool = a;
		} else {
			o->files[o->nfiles++] = argv[i];
		}
	}
	if (!o->pool)
		return die_usage("%s", "missing POOL");
	if (o->nfiles == 0 && !o->print && !o->check && o->top < 0) {
		free(o->files);
		o->files_owned = 0;
		o->files = dash; /* no file and nothing to report: read stdin */
		o->nfiles = 1;
	}
	return 0;
}

/* Every input must be readable before the pool is touched. */
static int check_files(const struct opts *o)
{
	for (int i = 0; i < o->nfiles; i++) {
		struct stat st;
		const char *f = o->files[i];
		if (strcmp(f, "-") == 0)
			continue;
		if (stat(f, &st) || access(f, R_OK)) {
			fprintf(stderr, "binarytree: cannot read '%s': %s\n", f, strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			fprintf(stderr, "binarytree: '%s' is a directory\n", f);
			return 1;
		}
	}
	return 0;
}

static pm_pool *open_pool(const struct opts *o)
{
	pm_pool *p = pm_open(o->pool);
	if (!p && pm_last_error() == PM_ENOENT && o->nfiles > 0)
		p = pm_create(o->pool, o->size_mib << 20, 0);
	if (!p)
		fprintf(stderr, "binarytree: %s: %s\n", o->pool, pm_errormsg());
	return p;
}

static int insert_word(const char *word, size_t len, void *arg)
{
	struct run *r = arg;
	int rc = tree_insert_n(r->pool, r->root, word, len);
	if (rc < 0) {
		r->err = rc;
		return rc;
	}
	r->words++;
	r->new_words += (uint64_t)rc;
	return 0;
}

static int insert_files(const struct opts *o, struct run *r)
{
	for (int i = 0; i < o->nfiles; i++) {
		const char *f = o->files[i];
		int is_stdin = strcmp(f, "-") == 0;
		FILE *fp = is_stdin ? stdin : fopen(f, "r");
		if (!fp) {
			fprintf(stderr, "binarytree: cannot open '%s': %s\n", f, strerror(errno));
			return 1;
		}
		int rc = words_scan(fp, insert_word, r);
		int saved = errno;
		if (!is_stdin)
			fclose(fp);
		if (rc && r->err) {
			fprintf(stderr, "binarytree: inserting from '%s': %s\n", f, tree_errmsg());
			return 1;
		}
		if (rc) {
			fprintf(stderr, "binarytree: reading '%s': %s\n", f, strerror(saved));
			return 1;
		}
	}
	return 0;
}

static int print_line(const char *word, uint64_t count, void *arg)
{
	fprintf(arg, "%llu %s\n", (unsigned long long)count, word);
	return 0;
}

static int rank_line(const char *word, uint64_t count, void *arg)
{
	return words_rank_add(arg, word, count);
}

static int report(const struct opts *o, struct run *r)
{
	if (o->print)
		tree_walk(r->pool, r->root, print_line, stdout);
	if (o->top > 0) {
		struct words_rank rank = {0};
		if (tree_walk(r->pool, r->root, rank_line, &rank)) {
			fprintf(stderr, "binarytree: --top: out of memory\n");
			words_rank_free(&rank);
			return 1;
		}
		words_rank_print(&rank, (size_t)o->top, stdout);
		words_rank_free(&rank);
	}
	if (o->check) {
		struct tree_report rep;
		if (tree_verify(r->pool, &rep)) {
			fprintf(stderr, "binarytree: %s: check failed: %s\n", o->pool, tree_errmsg());
			return 1;
		}
		printf("%s: ok: %llu distinct words, %llu words, depth %llu, %llu objects, %llu bytes allocated\n",
		       o->pool, (unsigned long long)rep.nodes, (unsigned long long)rep.sum_counts,
		       (unsigned long long)rep.max_depth, (unsigned long long)rep.objects,
		       (unsigned long long)rep.bytes);
	}
	return 0;
}

static void print_stats(const struct opts *o, const struct run *r, double secs)
{
	struct pm_stats st;
	struct pm_check_report cr;
	pm_stats_get(r->pool, &st);
	double w = r->words ? (double)r->words : 1.0;
	fprintf(stderr, "binarytree: words=%llu new=%llu seconds=%.3f words/s=%.0f\n",
	        (unsigned long long)r->words, (unsigned long long)r->new_words, secs,
	        secs > 0 ? (double)r->words / secs : 0.0);
	fprintf(stderr, "binarytree: pool %s (%s path): fences=%llu (%.2f/word) flushes=%llu (%.2f/word) allocs=%llu publishes=%llu\n",
	        o->pool, pm_durability(r->pool),
	        (unsigned long long)st.fences, (double)st.fences / w,
	        (unsigned long long)st.flushes, (double)st.flushes / w,
	        (unsigned long long)st.allocs, (unsigned long long)st.publishes);
	if (pm_check(r->pool, &cr) == 0)
		fprintf(stderr, "binarytree: pool %s: size=%llu objects=%llu bytes_allocated=%llu free_chunks=%llu/%llu\n",
		        o->pool, (unsigned long long)cr.pool_size, (unsigned long long)cr.objects,
		        (unsigned long long)cr.bytes_allocated, (unsigned long long)cr.free_chunks,
		        (unsigned long long)cr.heap_chunks);
	else
		fprintf(stderr, "binarytree: pool %s: pm_check: %s\n", o->pool, cr.message);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct run r = {0};
	if (parse_args(argc, argv, &o) || check_files(&o))
		return 1;
	r.pool = open_pool(&o);
	if (!r.pool)
		return 1;
	int rc;
	if (o.nfiles > 0)
		rc = tree_init(r.pool, &r.root);
	else
		rc = tree_lookup_root(r.pool, &r.root);
	if (rc) {
		fprintf(stderr, "binarytree: %s: %s\n", o.pool, tree_errmsg());
		pm_close(r.pool);
		return 1;
	}
	pm_stats_reset(r.pool);
	double t0 = words_now();
	rc = insert_files(&o, &r);
	double secs = words_now() - t0;
	if (o.stats)
		print_stats(&o, &r, secs);
	if (rc == 0)
		rc = report(&o, &r);
	pm_close(r.pool);
	if (o.files_owned)
		free(o.files);
	return rc;
}
