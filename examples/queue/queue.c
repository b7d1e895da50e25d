/*
 * queue.c -- a persistent bounded FIFO queue shared by 3 threads (issue 12's
 * second program): 2 producers, 1 consumer, synchronised by a pm_mutex and
 * two pm_conds that live in the pool's root and are valid after every open
 * -- also after a kill -9 that left the mutex held -- without being reset.
 *
 *   queue POOL run [N]    producers 0 and 1 each enqueue items 0..N-1
 *                         (default 3000), the consumer dequeues all 2N;
 *                         resumes where a killed run stopped
 *   queue POOL check      the invariants below; prints the state; exit 1 if bad
 *
 * Each enqueue is one transaction (a producer takes the mutex with tx_lock,
 * so it is held until the transaction has committed): a new node, the tail
 * link, len, and the producer's next sequence number.  Each dequeue is one
 * transaction under the mutex (taken with pm_mutex_lock, for pm_cond_wait):
 * unlink, len, the consumer's per-producer next expected sequence number,
 * the running sum of payloads, the free.
 *
 * Invariants (check): the list from head has len nodes and ends at tail;
 * for each producer p its nodes carry exactly the sequence numbers
 * next_cons[p] .. next_prod[p]-1, in order, with payload f(p, seq);
 * consumed = next_cons[0] + next_cons[1]; sum = the payloads of everything
 * consumed; pm_check clean and no object but the root and the nodes.  A
 * crash at any instruction must leave them true (each step is one
 * transaction): test-queue.sh kills the program at random moments.
 *
 * For the kill test: $QUEUE_KILL_US=N SIGKILLs the process N microseconds
 * after start; $QUEUE_SPLIT_TX=1 makes the consumer dequeue in two
 * transactions (a bug the kill test must see).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pmstore.h"

#define CAP 64 /* the queue holds at most this many items */
#define FULL 1 /* tx_abort code of a producer that found the queue full */

struct qnode;
PM_TOID_DECLARE(struct qnode);
struct qnode {
	PM_TOID(struct qnode) next;
	uint64_t producer, seq, payload;
};

struct qroot {
	pm_mutex lock;
	pm_cond nonempty, nonfull;
	PM_TOID(struct qnode) head, tail;
	uint64_t len;
	uint64_t next_prod[2]; /* the next sequence number each producer makes */
	uint64_t next_cons[2]; /* the next one the consumer expects from each */
	uint64_t consumed, sum;
};
PM_TOID_DECLARE(struct qroot);

static pm_pool *pool;
static struct qroot *q;
static uint64_t nitems = 3000;
static int split_tx;

static uint64_t payload(uint64_t p, uint64_t seq)
{
	uint64_t x = (p + 1) * 0x9e3779b97f4a7c15ULL + seq;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 29);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "%s: %s (%s)\n", what, pm_strerror(rc), pm_errormsg());
	exit(1);
}

static void *producer(void *arg)
{
	uint64_t p = (uint64_t)(uintptr_t)arg;
	for (;;) {
		int rc, done = 0;
		PM_TX(pool, rc) {
			if (tx_lock(PM_LOCK_MUTEX, &q->lock))
				break; /* held until this transaction ends */
			uint64_t seq = q->next_prod[p];
			if (seq >= nitems) {
				done = 1;
				break;
			}
			if (q->len >= CAP) {
				tx_abort(FULL);
				break;
			}
			PM_TOID(struct qnode) n = PM_TX_ZNEW(struct qnode);
			if (PM_TOID_IS_NULL(n))
				break;
			struct qnode *nd = PM_D_RW(pool, n); /* new: no snapshot */
			nd->producer = p;
			nd->seq = seq;
			nd->payload = payload(p, seq);
			if (PM_TOID_IS_NULL(q->tail)) {
				if (PM_TX_SET(q->head, n))
					break;
			} else if (PM_TX_SET_FIELD(pool, q->tail, next, n)) {
				break;
			}
			if (PM_TX_SET(q->tail, n) || PM_TX_SET(q->len, q->len + 1) ||
			    PM_TX_SET(q->next_prod[p], seq + 1))
				break;
		}
		if (rc == FULL) { /* wait for room, then try again */
			pm_mutex_lock(pool, &q->lock);
			while (q->len >= CAP)
				pm_cond_wait(pool, &q->nonfull, &q->lock);
			pm_mutex_unlock(pool, &q->lock);
			continue;
		}
		if (rc)
			die("enqueue", rc);
		if (done)
			return NULL;
		pm_cond_signal(pool, &q->nonempty);
	}
}

/* One dequeue, the mutex held (by pm_mutex_lock): 0 or the error. */
static int dequeue_locked(void)
{
	int rc;
	PM_TX(pool, rc) {
		PM_TOID(struct qnode) n = q->head;
		const struct qnode *nd = PM_D_RO(pool, n);
		uint64_t p = nd->producer, seq = nd->seq;
		if (p > 1 || seq != q->next_cons[p] || nd->payload != payload(p, seq)) {
			fprintf(stderr, "dequeue: item (%llu, %llu) out of order\n",
			        (unsigned long long)p, (unsigned long long)seq);
			tx_abort(PM_ECORRUPT);
			break;
		}
		if (PM_TX_SET(q->head, nd->next) ||
		    (PM_TOID_IS_NULL(nd->next) && PM_TX_SET(q->tail, PM_TOID_NULL(struct qnode))) ||
		    PM_TX_SET(q->len, q->len - 1) || PM_TX_FREE(n))
			break;
		if (split_tx) { /* the self-test's bug: the rest in a second transaction */
			tx_commit();
			tx_end();
			tx_begin(pool);
		}
		if (PM_TX_SET(q->next_cons[p], seq + 1) || PM_TX_SET(q->consumed, q->consumed + 1) ||
		    PM_TX_SET(q->sum, q->sum + payload(p, seq)))
			break;
	}
	return rc;
}

static void *consumer(void *arg)
{
	(void)arg;
	for (;;) {
		pm_mutex_lock(pool, &q->lock);
		while (q->len == 0 && q->consumed < 2 * nitems)
			pm_cond_wait(pool, &q->nonempty, &q->lock);
		if (q->consumed >= 2 * nitems) {
			pm_mutex_unlock(pool, &q->lock);
			return NULL;
		}
		int rc = dequeue_locked();
		pm_mutex_unlock(pool, &q->lock);
		if (rc)
			die("dequeue", rc);
		pm_cond_broadcast(pool, &q->nonfull);
	}
}

static int count_objects(pm_off off, size_t usable, void *arg)
{
	(void)off;
	(void)usable;
	(*(uint64_t *)arg)++;
	return 0;
}

static int check(void)
{
	struct pm_check_report rep;
	if (pm_check(pool, &rep)) {
		printf("bad: pm_check: %s\n", rep.message);
		return 1;
	}
	uint64_t expect[2] = {q->next_cons[0], q->next_cons[1]}, n = 0;
	PM_TOID(struct qnode) last = PM_TOID_NULL(struct qnode);
	for (PM_TOID(struct qnode) c = q->head; !PM_TOID_IS_NULL(c); c = PM_D_RO(pool, c)->next) {
		const struct qnode *nd = PM_D_RO(pool, c);
		if (nd->producer > 1 || nd->seq != expect[nd->producer] ||
		    nd->payload != payload(nd->producer, nd->seq)) {
			printf("bad: node %llu is (%llu, %llu), expected seq %llu\n", (unsigned long long)n,
			       (unsigned long long)nd->producer, (unsigned long long)nd->seq,
			       nd->producer <= 1 ? (unsigned long long)expect[nd->producer] : 0ULL);
			return 1;
		}
		expect[nd->producer]++;
		last = c;
		if (++n > rep.objects) {
			printf("bad: a cycle\n");
			return 1;
		}
	}
	uint64_t sum = 0;
	for (uint64_t p = 0; p < 2; p++)
		for (uint64_t s = 0; s < q->next_cons[p]; s++)
			sum += payload(p, s);
	uint64_t objs = 0;
	pm_walk(pool, count_objects, &objs);
	if (n != q->len || !PM_TOID_EQUALS(last, q->tail) || expect[0] != q->next_prod[0] ||
	    expect[1] != q->next_prod[1] || q->consumed != q->next_cons[0] + q->next_cons[1] ||
	    q->sum != sum || objs != n + 1) {
		printf("bad: %llu nodes (len %llu), tail %s, produced %llu/%llu (list ends at %llu/%llu), "
		       "consumed %llu (%llu + %llu), sum %s, %llu objects\n",
		       (unsigned long long)n, (unsigned long long)q->len,
		       PM_TOID_EQUALS(last, q->tail) ? "ok" : "wrong", (unsigned long long)q->next_prod[0],
		       (unsigned long long)q->next_prod[1], (unsigned long long)expect[0],
		       (unsigned long long)expect[1], (unsigned long long)q->consumed,
		       (unsigned long long)q->next_cons[0], (unsigned long long)q->next_cons[1],
		       q->sum == sum ? "ok" : "wrong", (unsigned long long)objs);
		return 1;
	}
	printf("ok: produced %llu + %llu, consumed %llu, %llu queued\n",
	       (unsigned long long)q->next_prod[0], (unsigned long long)q->next_prod[1],
	       (unsigned long long)q->consumed, (unsigned long long)q->len);
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

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[2], "run") && strcmp(argv[2], "check"))) {
		fprintf(stderr, "usage: %s POOL run [N] | check\n", argv[0]);
		return 2;
	}
	int run = !strcmp(argv[2], "run");
	if (run && argc > 3)
		nitems = strtoull(argv[3], NULL, 0);
	const char *e = getenv("QUEUE_KILL_US");
	if (run && e && *e) {
		pthread_t t;
		pthread_create(&t, NULL, killer, (void *)(intptr_t)atol(e));
	}
	split_tx = getenv("QUEUE_SPLIT_TX") != NULL;
	pool = pm_open(argv[1]);
	if (!pool && pm_last_error() == PM_ENOENT && run)
		pool = pm_create(argv[1], (size_t)16 << 20, 0600);
	if (!pool) {
		fprintf(stderr, "%s: %s\n", argv[1], pm_errormsg());
		return 1;
	}
	PM_TOID(struct qroot) r = PM_ROOT(pool, struct qroot);
	if (PM_TOID_IS_NULL(r)) {
		fprintf(stderr, "root: %s\n", pm_errormsg());
		return 1;
	}
	q = PM_D_RW(pool, r);
	int rc = 0;
	if (run) {
		pthread_t t[3];
		pthread_create(&t[0], NULL, producer, (void *)0);
		pthread_create(&t[1], NULL, producer, (void *)1);
		pthread_create(&t[2], NULL, consumer, NULL);
		for (int i = 0; i < 3; i++)
			pthread_join(t[i], NULL);
		printf("done: consumed %llu\n", (unsigned long long)q->consumed);
	} else {
		rc = check();
	}
	pm_close(pool);
	return rc;
}
