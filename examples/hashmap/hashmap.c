/*
 * hashmap.c -- a persistent string -> string hash map on pmstore (issue 12's
 * first program), written with the calls a PMDK user reaches for: typed
 * offsets (PM_TOID), the PM_TX block, PM_TX_SET / tx_memcpy, tx_prealloc
 * (a value that no longer fits moves its entry), tx_lock on a persistent
 * rwlock in the root (pm_rwlock_rdlock for readers), and a bulk insert of
 * many keys in ONE transaction.
 *
 *   hashmap POOL put KEY VALUE      insert or replace
 *   hashmap POOL get KEY            print the value (exit 1 if absent)
 *   hashmap POOL del KEY
 *   hashmap POOL bulk FILE [BATCH]  "key value" lines, BATCH keys per
 *                                   transaction (default 100); prints the
 *                                   number of batches committed
 *   hashmap POOL dump               "key value" lines, sorted by nothing
 *   hashmap POOL check              structure, counts, pm_check; exit 1 if bad
 *
 * The pool is created growable: 8 MiB at first, growing (at the same
 * address, crash-atomically) as entries fill it, up to 64 GiB.
 *
 * Layout: root { rwlock, table, count }; table { nbuckets, buckets[] } made
 * at create (1024 buckets, or $HASHMAP_BUCKETS); entry { next, hash,
 * klen, vlen, cap, key\0value\0 } -- one object per key, so a batch of N
 * keys is N tx_pmallocs.  Crash behaviour: every change is one
 * transaction, so after a crash (kill -9 or power loss) the map is as
 * after some prefix of the committed batches.  test-hashmap.sh kills the
 * program at arbitrary moments and checks exactly that.
 *
 * For the kill test only: $HASHMAP_KILL_US=N makes a thread SIGKILL the
 * process N microseconds after start; $HASHMAP_KILL_AT=K kills it at the
 * K-th key of a bulk insert (inside a transaction); $HASHMAP_SPLIT_TX=1
 * commits each batch in two halves (a bug: the kill test must see it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pmstore.h"

struct hm_entry;
struct hm_table;
PM_TOID_DECLARE(struct hm_entry);
PM_TOID_DECLARE(struct hm_table);

struct hm_entry {
	PM_TOID(struct hm_entry) next;
	uint64_t hash;
	uint32_t klen, vlen; /* without the NULs */
	uint32_t cap;        /* bytes for key\0value\0 */
	uint32_t pad;
	char kv[];
};

struct hm_table {
	uint64_t nbuckets;
	PM_TOID(struct hm_entry) buckets[];
};

struct hm_root {
	pm_rwlock lock; /* writers: tx_lock (held to the end); readers: rdlock */
	PM_TOID(struct hm_table) table;
	uint64_t count;
};
PM_TOID_DECLARE(struct hm_root);

static pm_pool *pool;
static struct hm_root *root;

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static struct hm_table *table(void)
{
	return PM_D_RW(pool, root->table);
}

static PM_TOID(struct hm_entry) *bucket_of(uint64_t h)
{
	struct hm_table *t = table();
	return &t->buckets[h % t->nbuckets];
}

/* The slot (bucket or a next field) that names the entry for key, or the
 * empty slot at the end of its chain. */
static PM_TOID(struct hm_entry) *find_slot(const char *key, uint64_t h)
{
	PM_TOID(struct hm_entry) *s = bucket_of(h);
	while (!PM_TOID_IS_NULL(*s)) {
		struct hm_entry *e = PM_D_RW(pool, *s);
		if (e->hash == h && strcmp(e->kv, key) == 0)
			return s;
		s = &e->next;
	}
	return s;
}

/* put inside the caller's transaction: 0 or the error (aborted). */
static int put_in_tx(const char *key, const char *val)
{
	int rc = tx_lock(PM_LOCK_RWLOCK_WR, &root->lock);
	if (rc)
		return rc;
	uint64_t h = hash_str(key);
	size_t kl = strlen(key), vl = strlen(val);
	PM_TOID(struct hm_entry) *s = find_slot(key, h);
	if (!PM_TOID_IS_NULL(*s)) { /* replace the value */
		struct hm_entry *e = PM_D_RW(pool, *s);
		size_t need = kl + vl + 2;
		if (need > e->cap) {
			/* may move the entry (the old one is freed at commit) */
			pm_off old = PM_TOID_OFF(*s);
			pm_off n = tx_prealloc(old, sizeof(*e) + need);
			if (!n)
				return pm_last_error();
			if (n != old) {
				if ((rc = PM_TX_SET(*s, PM_TOID_FROM_OFF(struct hm_entry, n))))
					return rc;
				e = PM_D_RW(pool, *s);
				e->cap = (uint32_t)need; /* a new object: no snapshot */
			} else if ((rc = PM_TX_SET(e->cap, (uint32_t)need))) {
				return rc; /* it had room */
			}
		}
		if ((rc = tx_memcpy(e->kv + kl + 1, val, vl + 1)) || (rc = PM_TX_SET(e->vlen, (uint32_t)vl)))
			return rc;
		return 0;
	}
	PM_TOID(struct hm_entry) n = PM_TOID_FROM_OFF(struct hm_entry, tx_pmalloc(sizeof(struct hm_entry) + kl + vl + 2));
	if (PM_TOID_IS_NULL(n))
		return pm_last_error();
	struct hm_entry *e = PM_D_RW(pool, n); /* new: written without tx_add */
	e->next = *bucket_of(h);
	e->hash = h;
	e->klen = (uint32_t)kl;
	e->vlen = (uint32_t)vl;
	e->cap = (uint32_t)(kl + vl + 2);
	memcpy(e->kv, key, kl + 1);
	memcpy(e->kv + kl + 1, val, vl + 1);
	if ((rc = PM_TX_SET(*bucket_of(h), n)) || (rc = PM_TX_SET(root->count, root->count + 1)))
		return rc;
	return 0;
}

static int hm_put(const char *key, const char *val)
{
	int rc;
	PM_TX(pool, rc) {
		if (put_in_tx(key, val))
			break; /* aborted: rc gets the error */
	}
	return rc;
}

static int hm_del(const char *key)
{
	int rc, found = 0;
	PM_TX(pool, rc) {
		if (tx_lock(PM_LOCK_RWLOCK_WR, &root->lock))
			break;
		PM_TOID(struct hm_entry) *s = find_slot(key, hash_str(key));
		if (PM_TOID_IS_NULL(*s))
			break;
		found = 1;
		PM_TOID(struct hm_entry) e = *s;
		if (PM_TX_SET(*s, PM_D_RO(pool, e)->next) || PM_TX_SET(root->count, root->count - 1) ||
		    PM_TX_FREE(e))
			break;
	}
	return rc ? rc : found ? 0 : 1;
}

static int hm_get(const char *key)
{
	if (pm_rwlock_rdlock(pool, &root->lock))
		return -1;
	PM_TOID(struct hm_entry) *s = find_slot(key, hash_str(key));
	int rc = 1;
	if (!PM_TOID_IS_NULL(*s)) {
		const struct hm_entry *e = PM_D_RO(pool, *s);
		printf("%s\n", e->kv + e->klen + 1);
		rc = 0;
	}
	pm_rwlock_unlock(pool, &root->lock);
	return rc;
}

static long kill_at = -1;
static int split_tx; /* $HASHMAP_SPLIT_TX: a seeded bug for the kill test's self-test */

static int hm_bulk(const char *file, long batch)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		perror(file);
		return -1;
	}
	char line[4096];
	long batches = 0, keys = 0;
	int more = 1, rc = 0;
	while (more && rc == 0) {
		long in_batch = 0;
		PM_TX(pool, rc) {
			while (in_batch < batch) {
				if (!fgets(line, sizeof(line), f)) {
					more = 0;
					break;
				}
				line[strcspn(line, "\n")] = 0;
				char *sp = strchr(line, ' ');
				if (!sp)
					continue;
				*sp = 0;
				if (put_in_tx(line, sp + 1))
					break;
				in_batch++;
				if (split_tx && in_batch == batch / 2 && tx_commit() == 0) {
					tx_end(); /* the self-test's bug: half a batch committed */
					tx_begin(pool);
				}
				if (++keys == kill_at)
					kill(getpid(), SIGKILL); /* inside the transaction */
			}
		}
		if (rc == 0 && in_batch)
			batches++;
	}
	fclose(f);
	if (rc)
		fprintf(stderr, "bulk: batch %ld failed: %s\n", batches + 1, pm_errormsg());
	printf("%ld batches, %ld keys\n", batches, keys);
	return rc;
}

static int hm_dump(void)
{
	struct hm_table *t = table();
	for (uint64_t b = 0; b < t->nbuckets; b++)
		for (PM_TOID(struct hm_entry) c = t->buckets[b]; !PM_TOID_IS_NULL(c);
		     c = PM_D_RO(pool, c)->next) {
			const struct hm_entry *e = PM_D_RO(pool, c);
			printf("%s %s\n", e->kv, e->kv + e->klen + 1);
		}
	return 0;
}

static int count_objects(pm_off off, size_t usable, void *arg)
{
	(void)off;
	(void)usable;
	(*(uint64_t *)arg)++;
	return 0;
}

static int hm_check(void)
{
	struct pm_check_report rep;
	if (pm_check(pool, &rep)) {
		printf("bad: pm_check: %s\n", rep.message);
		return 1;
	}
	struct hm_table *t = table();
	uint64_t n = 0;
	for (uint64_t b = 0; b < t->nbuckets; b++)
		for (PM_TOID(struct hm_entry) c = t->buckets[b]; !PM_TOID_IS_NULL(c);
		     c = PM_D_RO(pool, c)->next) {
			const struct hm_entry *e = PM_D_RO(pool, c);
			if (pm_usable_size(pool, PM_TOID_OFF(c)) < sizeof(*e) + e->cap ||
			    e->klen + e->vlen + 2 > e->cap || strlen(e->kv) != e->klen ||
			    strlen(e->kv + e->klen + 1) != e->vlen) {
				printf("bad: entry 0x%llx is torn\n", (unsigned long long)PM_TOID_OFF(c));
				return 1;
			}
			if (e->hash != hash_str(e->kv) || e->hash % t->nbuckets != b) {
				printf("bad: key %s in bucket %llu\n", e->kv, (unsigned long long)b);
				return 1;
			}
			for (PM_TOID(struct hm_entry) d = e->next; !PM_TOID_IS_NULL(d); d = PM_D_RO(pool, d)->next)
				if (strcmp(PM_D_RO(pool, d)->kv, e->kv) == 0) {
					printf("bad: key %s twice\n", e->kv);
					return 1;
				}
			if (++n > rep.objects) {
				printf("bad: a cycle in bucket %llu\n", (unsigned long long)b);
				return 1;
			}
		}
	uint64_t objs = 0;
	pm_walk(pool, count_objects, &objs);
	if (n != root->count || objs != n + 2) { /* + the root and the table */
		printf("bad: %llu keys reachable, count says %llu, %llu objects allocated\n",
		       (unsigned long long)n, (unsigned long long)root->count, (unsigned long long)objs);
		return 1;
	}
	printf("ok: %llu keys, %llu buckets\n", (unsigned long long)n, (unsigned long long)t->nbuckets);
	return 0;
}

static void *killer(void *arg)
{
	long us = (long)(intptr_t)arg;
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
	kill(getpid(), SIGKILL);
	return NULL;
}

static int usage(const char *me)
{
	fprintf(stderr, "usage: %s POOL put KEY VALUE | get KEY | del KEY | bulk FILE [BATCH] | dump | check\n", me);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage(argv[0]);
	const char *e = getenv("HASHMAP_KILL_US");
	if (e && *e) {
		pthread_t t;
		pthread_create(&t, NULL, killer, (void *)(intptr_t)atol(e));
	}
	e = getenv("HASHMAP_KILL_AT");
	kill_at = e && *e ? atol(e) : -1;
	split_tx = getenv("HASHMAP_SPLIT_TX") != NULL;
	const char *cmd = argv[2];
	int creating = !strcmp(cmd, "put") || !strcmp(cmd, "bulk");
	pool = pm_open(argv[1]);
	if (!pool && pm_last_error() == PM_ENOENT && creating) {
		/* growable (issue 19): starts at 8 MiB, grows as the map does */
		struct pm_create_opts co = { .max_size = (uint64_t)64 << 30 };
		pool = pm_create_ex(argv[1], (size_t)8 << 20, 0600, &co);
	}
	if (!pool) {
		fprintf(stderr, "%s: %s\n", argv[1], pm_errormsg());
		return 1;
	}
	PM_TOID(struct hm_root) r = PM_ROOT(pool, struct hm_root);
	if (PM_TOID_IS_NULL(r)) {
		fprintf(stderr, "root: %s\n", pm_errormsg());
		return 1;
	}
	root = PM_D_RW(pool, r);
	if (PM_TOID_IS_NULL(root->table)) { /* first use: the table, atomically */
		const char *nb = getenv("HASHMAP_BUCKETS");
		uint64_t n = nb && *nb ? strtoull(nb, NULL, 0) : 1024;
		int rc;
		PM_TX(pool, rc) {
			PM_TOID(struct hm_table) t = PM_TOID_FROM_OFF(struct hm_table,
			        tx_pzalloc(sizeof(struct hm_table) + n * sizeof(pm_off)));
			if (PM_TOID_IS_NULL(t))
				break;
			PM_D_RW(pool, t)->nbuckets = n; /* a new object: no snapshot */
			PM_TX_SET(root->table, t);
		}
		if (rc) {
			fprintf(stderr, "table: %s\n", pm_errormsg());
			return 1;
		}
	}
	int rc;
	if (!strcmp(cmd, "put") && argc == 5)
		rc = hm_put(argv[3], argv[4]);
	else if (!strcmp(cmd, "get") && argc == 4)
		rc = hm_get(argv[3]);
	else if (!strcmp(cmd, "del") && argc == 4)
		rc = hm_del(argv[3]);
	else if (!strcmp(cmd, "bulk") && (argc == 4 || argc == 5))
		rc = hm_bulk(argv[3], argc == 5 ? atol(argv[4]) : 100);
	else if (!strcmp(cmd, "dump") && argc == 3)
		rc = hm_dump();
	else if (!strcmp(cmd, "check") && argc == 3)
		rc = hm_check();
	else {
		pm_close(pool);
		return usage(argv[0]);
	}
	if (rc < 0)
		fprintf(stderr, "%s: %s\n", cmd, pm_errormsg());
	pm_close(pool);
	return rc ? 1 : 0;
}
