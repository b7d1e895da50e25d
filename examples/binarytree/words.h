/*
 * words.h -- the text side of binarytree, shared with bench/pmemobj_tree so
 * that both programs read the same words and print the same lines.
 *
 * A word is a maximal run of ASCII letters [A-Za-z], folded to lower case.
 * Every other byte (digits, punctuation, white space, bytes >= 0x80 of UTF-8
 * text) separates words.  This is exactly what
 *     LC_ALL=C tr -cs 'A-Za-z' '\n' | LC_ALL=C tr A-Z a-z
 * produces, minus its empty lines.
 */
#ifndef BT_WORDS_H
#define BT_WORDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Called once per word; word[len] is '\0'.  Nonzero stops the scan. */
typedef int (*words_fn)(const char *word, size_t len, void *arg);

/*
 * Read fp to its end and call fn for every word.  Returns 0, fn's nonzero
 * value, or -1 with errno set when reading or DRAM allocation failed.
 */
int words_scan(FILE *fp, words_fn fn, void *arg);

/* Ranking for --top: collect (word, count) pairs, then print the first n. */
struct words_rank {
	struct words_rank_item {
		char *word;
		uint64_t count;
	} *v;
	size_t n, cap;
};

/* Copy word into the ranking.  Returns 0 or -1 (ENOMEM). */
int words_rank_add(struct words_rank *r, const char *word, uint64_t count);
/*
 * Print the n most frequent as "count word" lines: count descending, then
 * word ascending (byte order), so the output is deterministic.
 */
void words_rank_print(struct words_rank *r, size_t n, FILE *out);
void words_rank_free(struct words_rank *r);

/* Seconds on the monotonic clock. */
double words_now(void);

#endif /* BT_WORDS_H */
