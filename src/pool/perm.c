/*
 * perm.c -- layer 6: persistent globals (issue 18, PERM's perm() and
 * mflush() made atomic): pm_perm registers a block of DRAM under a name,
 * pm_perm_save writes every registered block into the pool in one
 * transaction.
 *
 * On media: pool_desc.perm_off names a directory object (0: none yet),
 *   struct perm_dir { magic, cap, n, pad, perm_ent e[cap] },
 *   struct perm_ent { char name[48]; size; data },
 * where data is a pool object of at least size bytes holding the saved
 * image.  perm_off changes only through a publish (P3, like the root); the
 * directory's contents and the images only inside pm_perm_save's
 * transaction.  Everything read from media is checked before use: the
 * magic, n <= cap, cap inside the object, names NUL-terminated, every
 * image an allocated object large enough (else PM_ECORRUPT); pm_check and
 * open check perm_off like the root.
 *
 * Protocol of pm_perm_save (under the pool's root lock):
 *   1. If the directory is missing or too small for the registered names:
 *      a new one (reserved, the old entries copied in, flushed), perm_off
 *      set to it and the old one freed, in one publish (2 F).  A crash
 *      leaves the old directory or the new one with the same entries.
 *   2. One transaction: tx_add_ranges over every existing image, the
 *      directory's n and the slots of the new entries (1 F); new images
 *      tx_pmalloc'ed; every block copied in; commit (1-2 F).  A crash
 *      recovers every block as of the previous save, or all as of this one
 *      (the transaction's atomicity).
 * DRAM registry: per pool, under root_lock, freed at pm_close.
 *
 * Cannot: copy a block another thread is writing at the same time (the
 * caller saves when its blocks are quiescent); grow a saved block (a size
 * that differs from the saved one is PM_EINVAL at registration, never a
 * silent truncation).
 */
#include <stdlib.h>
#include <string.h>

#include "alloc/heap.h"
#include "base/seeded_bugs.h"
#include "pool/pool.h"
#include "pool/pool_internal.h"

#define PERM_MAGIC UINT64_C(0x4d5245505453504d) /* "MPSTPERM" */
#define PERM_NAME 48

struct perm_ent {
	char name[PERM_NAME];
	uint64_t size;
	pm_off data;
};
struct perm_dir {
	uint64_t magic, cap, n, pad;
	struct perm_ent e[];
};
_Static_assert(sizeof(struct perm_ent) == 64, "perm_ent size");

struct perm_reg {
	char name[PERM_NAME];
	void *ptr;
	size_t size;
};
struct perm_table {
	size_t n, cap;
	struct perm_reg r[];
};

/* The directory, checked; NULL with *rc = 0 if there is none, NULL with
 * *rc = PM_ECORRUPT if it is damaged. */
static struct perm_dir *dir_get(struct pm_pool *p, int *rc)
{
	*rc = 0;
	pm_off off = p->desc->perm_off;
	if (!off)
		return NULL;
	struct heap_resv r;
	if (heap_lookup(&p->heap, off, &r)) {
		*rc = PM_ERR(PM_ECORRUPT, "persistent globals: directory 0x%llx is not an allocated object",
		             (unsigned long long)off);
		return NULL;
	}
	size_t us = heap_resv_size(&r);
	struct perm_dir *d = (struct perm_dir *)(p->base + off);
	if (us < sizeof(*d) || d->magic != PERM_MAGIC || d->cap > (us - sizeof(*d)) / sizeof(d->e[0]) ||
	    d->n > d->cap) {
		*rc = PM_ERR(PM_ECORRUPT, "persistent globals: directory 0x%llx is damaged",
		             (unsigned long long)off);
		return NULL;
	}
	for (uint64_t i = 0; i < d->n; i++) {
		const struct perm_ent *e = &d->e[i];
		struct heap_resv er;
		if (memchr(e->name, 0, PERM_NAME) == NULL || !e->name[0] || !e->data ||
		    heap_lookup(&p->heap, e->data, &er) || heap_resv_size(&er) < e->size) {
			*rc = PM_ERR(PM_ECORRUPT, "persistent globals: directory entry %llu is damaged",
			             (unsigned long long)i);
			return NULL;
		}
	}
	return d;
}

static struct perm_ent *dir_find(struct perm_dir *d, const char *name)
{
	for (uint64_t i = 0; d && i < d->n; i++)
		if (!strcmp(d->e[i].name, name))
			return &d->e[i];
	return NULL;
}

size_t perm_objects(struct pm_pool *p, uint64_t *out, size_t max)
{
	int rc;
	struct perm_dir *d = dir_get(p, &rc);
	size_t n = 0;
	if (!d)
		return 0;
	if (n < max)
		out[n++] = p->desc->perm_off;
	for (uint64_t i = 0; i < d->n && n < max; i++)
		out[n++] = d->e[i].data;
	return n;
}

void perm_free(struct pm_pool *p)
{
	free(p->perm);
	p->perm = NULL;
}

PM_API int pm_perm(pm_pool *pool, const char *name, void *ptr, size_t size)
{
	struct pm_pool *p = pool;
	if (!p || !name || !ptr || size == 0)
		return PM_ERR(PM_EINVAL, "pm_perm: NULL argument or size 0");
	size_t nl = strlen(name);
	if (nl == 0 || nl >= PERM_NAME)
		return PM_ERR(PM_EINVAL, "pm_perm: a name of 1 to %d bytes, not %zu", PERM_NAME - 1, nl);
	pthread_mutex_lock(&p->root_lock);
	int rc = 0;
	struct perm_table *t = p->perm;
	for (size_t i = 0; t && i < t->n; i++)
		if (!strcmp(t->r[i].name, name)) {
			rc = PM_ERR(PM_EEXIST, "pm_perm: '%s' is registered already", name);
			goto out;
		}
	struct perm_dir *d = dir_get(p, &rc);
	if (rc)
		goto out;
	struct perm_ent *e = dir_find(d, name);
	if (e && e->size != size) {
		rc = PM_ERR(PM_EINVAL, "pm_perm: '%s' was saved with %llu bytes, registered with %zu", name,
		            (unsigned long long)e->size, size);
		goto out;
	}
	if (!t || t->n == t->cap) {
		size_t cap = t ? t->cap * 2 : 8;
		struct perm_table *nt = realloc(t, sizeof(*nt) + cap * sizeof(nt->r[0]));
		if (!nt) {
			rc = PM_ERR(PM_ENOMEM, "pm_perm: out of DRAM");
			goto out;
		}
		if (!t)
			nt->n = 0;
		nt->cap = cap;
		p->perm = t = nt;
	}
	struct perm_reg *r = &t->r[t->n++];
	memcpy(r->name, name, nl + 1);
	r->ptr = ptr;
	r->size = size;
	if (e) { /* PERM's restore on start */
		memcpy(ptr, p->base + e->data, size);
		rc = 1;
	}
out:
	pthread_mutex_unlock(&p->root_lock);
	return rc;
}

PM_API int pm_perm_load(pm_pool *pool, const char *name, void *buf, size_t size)
{
	struct pm_pool *p = pool;
	if (!p || !name || !buf || size == 0)
		return PM_ERR(PM_EINVAL, "pm_perm_load: NULL argument or size 0");
	pthread_mutex_lock(&p->root_lock);
	int rc;
	struct perm_dir *d = dir_get(p, &rc);
	struct perm_ent *e = rc ? NULL : dir_find(d, name);
	if (e && e->size != size)
		rc = PM_ERR(PM_EINVAL, "pm_perm_load: '%s' was saved with %llu bytes, asked for %zu", name,
		            (unsigned long long)e->size, size);
	else if (e) {
		memcpy(buf, p->base + e->data, size);
		rc = 1;
	}
	pthread_mutex_unlock(&p->root_lock);
	return rc;
}

/* Step 1: a directory with room for `need` entries. */
static int dir_ensure(struct pm_pool *p, struct perm_dir **dp, uint64_t need)
{
	int rc;
	struct perm_dir *old = dir_get(p, &rc);
	if (rc)
		return rc;
	if (old && old->cap >= need) {
		*dp = old;
		return 0;
	}
	uint64_t cap = need < 16 ? 16 : need * 2;
	size_t size = sizeof(struct perm_dir) + cap * sizeof(struct perm_ent);
	struct pm_action a[3];
	pm_off off = pm_reserve(p, &a[0], size);
	if (!off)
		return pm_last_error();
	struct perm_dir *d = (struct perm_dir *)(p->base + off);
	memset(d, 0, size);
	d->magic = PERM_MAGIC;
	d->cap = cap;
	if (old) {
		d->n = old->n;
		memcpy(d->e, old->e, old->n * sizeof(old->e[0]));
	}
	pm_flush(p, d, size); /* durable at the publish's first fence */
	pm_set_value(p, &a[1], &p->desc->perm_off, off);
	unsigned na = 2;
	if (old)
		pm_defer_free(p, &a[na++], pm_offset(p, old));
	rc = pm_publish(p, a, na);
	if (rc) {
		pm_cancel(p, a, 1);
		return rc;
	}
	*dp = d;
	return 0;
}

PM_API int pm_perm_save(pm_pool *pool)
{
	struct pm_pool *p = pool;
	if (!p)
		return PM_ERR(PM_EINVAL, "pm_perm_save: NULL pool");
	if (tx_stage() != PM_TX_STAGE_NONE)
		return PM_ERR(PM_ETX, "pm_perm_save: called inside a transaction");
	pthread_mutex_lock(&p->root_lock);
	struct perm_table *t = p->perm;
	int rc = 0;
	if (!t || t->n == 0)
		goto out;
	struct perm_dir *d = NULL;
	if ((rc = dir_ensure(p, &d, t->n)) != 0)
		goto out;
	/* the entries each registered block will use; new ones after d->n */
	struct perm_ent **slot = calloc(t->n, sizeof(*slot));
	struct pm_range *rg = calloc(t->n + 2, sizeof(*rg));
	if (!slot || !rg) {
		free(slot);
		free(rg);
		rc = PM_ERR(PM_ENOMEM, "pm_perm_save: out of DRAM");
		goto out;
	}
	size_t nr = 0, nnew = 0;
	for (size_t i = 0; i < t->n; i++) {
		slot[i] = dir_find(d, t->r[i].name);
		if (slot[i]) {
#if !PM_BUG(PM_BUG_PERM_IMAGES_UNLOGGED)
			rg[nr++] = (struct pm_range){ p->base + slot[i]->data, t->r[i].size };
#endif
		} else
			nnew++;
	}
	rg[nr++] = (struct pm_range){ &d->n, sizeof(d->n) };
	if (nnew)
		rg[nr++] = (struct pm_range){ &d->e[d->n], nnew * sizeof(d->e[0]) };
	if ((rc = tx_begin(p)) == 0 && (rc = tx_add_ranges(rg, nr)) == 0) {
		for (size_t i = 0; i < t->n && rc == 0; i++) {
			if (!slot[i]) {
				pm_off o = tx_pmalloc(t->r[i].size);
				if (!o) {
					rc = pm_last_error();
					break;
				}
				struct perm_ent *e = &d->e[d->n++];
				memset(e, 0, sizeof(*e));
				memcpy(e->name, t->r[i].name, strlen(t->r[i].name) + 1);
				e->size = t->r[i].size;
				e->data = o;
				slot[i] = e;
			}
			memcpy(p->base + slot[i]->data, t->r[i].ptr, t->r[i].size);
		}
		if (rc)
			tx_abort(rc);
	}
	int end = tx_end();
	if (!rc)
		rc = end;
	free(slot);
	free(rg);
out:
	pthread_mutex_unlock(&p->root_lock);
	return rc;
}
