/*
 * words.c -- word scanning and top-N ranking for examples/binarytree and
 * bench/pmemobj_tree (see words.h for the definition of a word).  Nothing
 * here touches persistent memory; it is compiled into both programs so the
 * two trees see identical input and print identical output.
 */
#include "words.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCAN_BUF (64 * 1024)

/* Append c to the growing word buffer; -1 when out of DRAM. */
static int word_putc(char **w, size_t *len, size_t *cap, char c)
{
	if (*len + 1 >= *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		char *nw = realloc(*w, ncap);
		if (!nw)
			return -1;
		*w = nw;
		*cap = ncap;
	}
	(*w)[(*len)++] = c;
	return 0;
}

int words_scan(FILE *fp, words_fn fn, void *arg)
{
	static const char lower[] = "abcdefghijklmnopqrstuvwxyz";
	unsigned char *buf = malloc(SCAN_BUF);
	char *w = NULL;
	size_t len = 0, cap = 0, got;
	int rc = buf ? 0 : -1;
	while (rc == 0 && (got = fread(buf, 1, SCAN_BUF, fp)) > 0) {
		for (size_t i = 0; i < got && rc == 0; i++) {
			unsigned c = buf[i];
			if (c >= 'a' && c <= 'z') {
				rc = word_putc(&w, &len, &cap, (char)c);
			} else if (c >= 'A' && c <= 'Z') {
				rc = word_putc(&w, &len, &cap, lower[c - 'A']);
			} else if (len) { /* a separator ends the word */
				w[len] = '\0';
				rc = fn(w, len, arg);
				len = 0;
			}
		}
	}
	if (rc == 0 && ferror(fp))
		rc = -1; /* errno from the failed read */
	if (rc == 0 && len) {
		w[len] = '\0';
		rc = fn(w, len, arg);
	}
	int saved = errno;
	free(w);
	free(buf);
	errno = saved;
	return rc;
}

int words_rank_add(struct words_rank *r, const char *word, uint64_t count)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 256;
		struct words_rank_item *v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	char *copy = strdup(word);
	if (!copy)
		return -1;
	r->v[r->n].word = copy;
	r->v[r->n].count = count;
	r->n++;
	return 0;
}

static int rank_cmp(const void *a, const void *b)
{
	const struct words_rank_item *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->word, y->word);
}

void words_rank_print(struct words_rank *r, size_t n, FILE *out)
{
	qsort(r->v, r->n, sizeof(r->v[0]), rank_cmp);
	for (size_t i = 0; i < r->n && i < n; i++)
		fprintf(out, "%llu %s\n", (unsigned long long)r->v[i].count, r->v[i].word);
}

void words_rank_free(struct words_rank *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].word);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

double words_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
