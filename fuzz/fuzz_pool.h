/*
 * fuzz_pool.h -- the fuzz target's entry points (fuzz_pool.c), shared by
 * the libFuzzer build and the replay program (replay.c).  What the target
 * checks and what it cannot see: fuzz_pool.c's header comment.
 */
#ifndef PMFUZZ_POOL_H
#define PMFUZZ_POOL_H

#include <stddef.h>
#include <stdint.h>

enum {
	PMFUZZ_SEED_EMPTY,
	PMFUZZ_SEED_OBJECTS,
	PMFUZZ_SEED_OPENTX,
	PMFUZZ_SEED_LANES,    /* crash image: valid redo logs on several lanes */
	PMFUZZ_SEED_COMMIT,   /* crash image: active undo log + commit block */
	PMFUZZ_SEED_ROLLBACK, /* crash image: active undo log with overflow */
	PMFUZZ_SEED_LAZY,     /* durable state with lazy invalidations */
	PMFUZZ_SEED_BIG,      /* crash image: big commit record, actions not applied */
	PMFUZZ_NSEEDS
};

/* input byte 1 */
#define PMFUZZ_F_RESIZE 0x01   /* two bytes follow: the file size's delta */
#define PMFUZZ_F_HDR 0x02      /* re-seal the header checksum */
#define PMFUZZ_F_REDO 0x04     /* re-seal every nonzero redo checksum */
#define PMFUZZ_F_UNDO 0x08     /* re-seal active undo entries / commit block */
#define PMFUZZ_F_SIZE_HDR 0x10 /* header pool_size = the new file size */
#define PMFUZZ_F_BIGTX 0x20    /* the aborted tx also snapshots 20000 bytes */
#define PMFUZZ_F_GEOM_8M 0xc0  /* both bits: the 8 MiB seeds, else the 4 MiB ones */
#define PMFUZZ_F_GROWABLE 0x40 /* alone (without 0x80): the 4 MiB seed made growable */

/* Build the seeds (once; exits with status 2 if it cannot). */
void pmfuzz_init(void);
/* Run one input; abort()s on an oracle violation. */
int pmfuzz_one(const uint8_t *data, size_t len);
/* Seed pool i (for the corpus writer): 0..NSEEDS-1 the 4 MiB geometry,
 * NSEEDS..2*NSEEDS-1 the 8 MiB one; NULL past the last. */
const uint8_t *pmfuzz_seed(unsigned i, size_t *len);
/* The patched pool image an input describes (valid until the next call). */
const uint8_t *pmfuzz_image(const uint8_t *data, size_t len, size_t *size);
extern int pmfuzz_verbose;

#endif
