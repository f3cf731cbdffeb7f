/*
 * The shared Dict: creation and the readers (the layout, the protocol and the labels
 * are in dict_int.h; writers in dict_write.c).
 *
 * A read is a cross-process RCU read section (core/rcu_int.h): load the partition's
 * table (A2), walk the bucket's chain (A1 on each link), copy the value out, leave.
 * No lock, no shared write but the reader's own record.
 */
#define _GNU_SOURCE
#include "dict_int.h"

#include <errno.h>
#include <sys/random.h>
#include <unistd.h>

/* ---- creation ------------------------------------------------------------------------ */

struct dict_init {
	uint32_t nparts, min_buckets, max_key, max_value;
	struct shmrt_region *r;
};

static uint64_t parts_rel(uint32_t nparts)
{
	return (sizeof(struct dict_hdr) + 8ull * nparts + 63) & ~63ull;
}

static int dict_init(void *mem, uint64_t size, void *ctx)
{
	(void)size;
	struct dict_init *di = ctx;
	struct dict_hdr *h = mem;
	h->nparts = di->nparts;
	h->min_buckets = di->min_buckets;
	h->max_key = di->max_key;
	h->max_value = di->max_value;
	h->tables_rel = sizeof(*h);
	h->parts_rel = parts_rel(di->nparts);
	if (getrandom(&h->seed, sizeof(h->seed), GRND_NONBLOCK) != sizeof(h->seed))
		h->seed = mix64(real_ns() ^ (uint64_t)getpid());
	uint64_t *tables = (uint64_t *)(void *)((char *)mem + h->tables_rel);
	struct dict_part *parts = (struct dict_part *)(void *)((char *)mem + h->parts_rel);
	uint32_t rec = shmrt__thread_rec(di->r);
	if (rec == REC_NONE)
		return -EUSERS;
	for (uint32_t p = 0; p < di->nparts; p++) {
		int rc = shmrt__pmutex_init(&parts[p].lock);
		uint64_t off;
		if (!rc)
			rc = shmrt__arena_alloc(&di->r->arena, rec, table_bytes(di->min_buckets),
						NULL, &off);
		if (rc) {
			/* Give back the tables made so far: the object is not created. */
			while (p--)
				(void)shmrt__arena_free(&di->r->arena, rec, tables[p]);
			return rc;
		}
		struct dict_table *t = at(di->r, off);
		t->rnext = t->repoch = 0;
		t->magic = TABLE_MAGIC;
		t->mask = di->min_buckets - 1;
		memset(t->buckets, 0, 8ull * di->min_buckets);
		tables[p] = off;
		parts[p].bytes = table_bytes(di->min_buckets);
	}
	h->magic = DICT_MAGIC;
	return 0;
}

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t b = 1;
	while (b < n && b < (1u << MAX_BUCKETS_LOG))
		b <<= 1;
	return b;
}

int shmrt_dict_open(shmrt_region_t *region, const char *name, int oflags,
		    const shmrt_dict_opts_t *opts, shmrt_dict_t *out)
{
	struct shmrt_region *r = (struct shmrt_region *)region;
	if (!r || !out)
		return -EINVAL;
	shmrt_dict_opts_t o = opts ? *opts : (shmrt_dict_opts_t){ 0 };
	if (!o.max_key)
		o.max_key = 64;
	if (!o.max_value)
		o.max_value = 1024;
	if (!o.partitions)
		o.partitions = 64;
	if (!o.capacity)
		o.capacity = 1024;
	if (o.max_key > (1u << 20) || o.max_value > (1u << 26) || o.partitions > 4096 ||
	    o.max_key + sizeof(struct dict_node) + 64 > r->pub.size ||
	    (o.partitions & (o.partitions - 1)) || o.capacity > (1ull << 40))
		return -EINVAL;
	struct dict_init di = { o.partitions, pow2_at_least(o.capacity / o.partitions), o.max_key,
				o.max_value, r };
	if (di.min_buckets < 8)
		di.min_buckets = 8;
	uint64_t size = parts_rel(o.partitions) + sizeof(struct dict_part) * o.partitions;
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, oflags, SHMRT_TYPE_DICT, size, NULL, dict_init, &di,
				    &oi);
	if (rc == -EMSGSIZE) /* it exists, made with fewer partitions: the maxima decide */
		rc = shmrt__object_open(r, name, oflags & ~(SHMRT_O_CREATE | SHMRT_O_EXCL),
					SHMRT_TYPE_DICT,
					sizeof(struct dict_hdr), NULL, NULL, NULL,
					&oi);
	if (rc)
		return rc;
	struct dict_hdr *h = shmrt_ptr(region, oi.off);
	if (h->magic != DICT_MAGIC || !h->nparts || (h->nparts & (h->nparts - 1)) ||
	    h->nparts > 4096 || h->tables_rel != sizeof(*h) ||
	    h->parts_rel != parts_rel(h->nparts) ||
	    h->parts_rel + sizeof(struct dict_part) * h->nparts > oi.size ||
	    h->max_key > (1u << 20) || h->max_value > (1u << 26) ||
	    h->max_key + sizeof(struct dict_node) + 64 > r->pub.size)
		return -EBADMSG; /* the maxima are the handle's bounds from now on: checked */
	uint64_t *tables = (uint64_t *)(void *)((char *)h + h->tables_rel);
	for (uint32_t p = 0; p < h->nparts; p++) {
		uint64_t t = load_acquire(&tables[p]); /* A2: pairs with R3 */
		if (!table_ok(r, t))
			return -EBADMSG;
	}
	if ((opts && opts->max_key && opts->max_key > h->max_key) ||
	    (opts && opts->max_value && opts->max_value > h->max_value))
		return -EPROTOTYPE;
	*out = (shmrt_dict_t){ .shm = h, .region = region, .tables = tables,
			       .parts = (char *)h + h->parts_rel, .seed = h->seed,
			       .max_key = h->max_key, .max_value = h->max_value,
			       .nparts = h->nparts, .created = oi.created };
	return 0;
}

/* ---- reads ----------------------------------------------------------------------------- */

int shmrt_dict_get(const shmrt_dict_t *d, const void *key, size_t klen, void *buf, size_t cap,
		   size_t *vlen)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	if (unlikely(klen > d->max_key))
		return -EMSGSIZE;
	struct shmrt_thread_rec *t = reader(d);
	if (unlikely(!t))
		return -EUSERS;
	uint64_t hash = hash_key(key, klen, d->seed);
	int rc = -ENOENT;
	uint64_t *link;
	int64_t room;
	shmrt__rcu_lock(RG(d), t);
	struct dict_node *n = find(RG(d), table_of(d, part_of(d, hash)), hash, key, klen, &link,
				   &rc, &room);
	if (n) {
		/* One read of the length, checked against the room after the key and used:
		 * a node is immutable, but a damaged region is not. */
		uint32_t vl = n->vlen;
		if (unlikely(vl > cap || (int64_t)vl > room)) {
			rc = (int64_t)vl > room ? -EBADMSG : -EMSGSIZE;
			if (rc == -EMSGSIZE)
				*vlen = vl;
		} else {
			if (vl)
				memcpy(buf, n->kv + round8(klen), vl);
			rc = 0;
			*vlen = vl;
		}
	}
	shmrt__rcu_unlock(t);
	return rc;
}

int shmrt_dict_contains(const shmrt_dict_t *d, const void *key, size_t klen)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	if (klen > d->max_key)
		return -EMSGSIZE;
	size_t n;
	int rc = shmrt_dict_get(d, key, klen, NULL, 0, &n);
	if (rc == 0 || rc == -EMSGSIZE)
		return 1;
	return rc == -ENOENT ? 0 : rc;
}

int shmrt_dict_read_lock(const shmrt_dict_t *d)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	struct shmrt_thread_rec *t = reader(d);
	if (!t)
		return -EUSERS;
	shmrt__rcu_lock(RG(d), t);
	return 0;
}

void shmrt_dict_read_unlock(const shmrt_dict_t *d)
{
	if (unlikely(!d || !d->shm))
		return;
	struct shmrt_thread_rec *t = reader(d);
	if (t && shmrt__rcu_nested(t))
		shmrt__rcu_unlock(t);
}

int shmrt_dict_get_ref(const shmrt_dict_t *d, const void *key, size_t klen, const void **val,
		       size_t *vlen)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	if (klen > d->max_key)
		return -EMSGSIZE;
	struct shmrt_thread_rec *t = reader(d);
	if (!t || !shmrt__rcu_nested(t))
		return -EPERM;
	uint64_t hash = hash_key(key, klen, d->seed);
	int rc = -ENOENT;
	uint64_t *link;
	int64_t room;
	struct dict_node *n = find(RG(d), table_of(d, part_of(d, hash)), hash, key, klen, &link,
				   &rc, &room);
	if (!n)
		return rc;
	uint32_t vl = n->vlen; /* one read, checked and returned (as in get) */
	if ((int64_t)vl > room)
		return -EBADMSG;
	*val = n->kv + round8(klen);
	*vlen = vl;
	return 0;
}

uint64_t shmrt_dict_len(const shmrt_dict_t *d)
{
	if (unlikely(!d || !d->shm))
		return 0;
	uint64_t n = 0;
	for (uint32_t p = 0; p < d->nparts; p++)
		n += load_relaxed(&PARTS(d)[p].count); /* a racy sum by contract (dict.h) */
	return n;
}

int shmrt_dict_iterate(const shmrt_dict_t *d, shmrt_dict_iter_fn fn, void *ctx)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	struct shmrt_thread_rec *t = reader(d);
	if (!t)
		return -EUSERS;
	struct shmrt_region *r = RG(d);
	for (uint32_t p = 0; p < d->nparts; p++) {
		shmrt__rcu_lock(r, t);
		struct dict_table *tab = table_of(d, p);
		if (!tab) {
			shmrt__rcu_unlock(t);
			return -EBADMSG;
		}
		for (uint64_t b = 0; b <= tab->mask; b++) {
			uint32_t steps = 0;
			/* A1 */
			for (uint64_t o = load_acquire(&tab->buckets[b]); o;) {
				struct dict_node *n = at(r, o);
				uint32_t kl, vl;
				if (!node_ok(r, o) || steps++ > MAX_CHAIN || (kl = n->klen) > d->max_key ||
				    (vl = n->vlen) > d->max_value ||
				    o + sizeof(*n) + round8(kl) + vl > r->pub.size) {
					shmrt__rcu_unlock(t);
					return -EBADMSG;
				}
				int rc = fn(n->kv, kl, n->kv + round8(kl), vl, ctx);
				if (rc) {
					shmrt__rcu_unlock(t);
					return rc;
				}
				o = load_acquire(&n->next); /* A1 */
			}
		}
		shmrt__rcu_unlock(t);
	}
	return 0;
}


int shmrt_dict_stats(const shmrt_dict_t *d, shmrt_dict_stats_t *st)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	struct shmrt_region *r = RG(d);
	/* A read section keeps the tables we look at from being freed meanwhile; an
	 * inspect-only handle (no record) reads them racily: a number may be off. */
	struct shmrt_thread_rec *t = r->attached ? reader(d) : NULL;
	if (t)
		shmrt__rcu_lock(r, t);
	for (uint32_t p = 0; p < d->nparts; p++) {
		struct dict_part *pt = &PARTS(d)[p];
		/* Relaxed: counters written under the partition lock, read racily. */
		st->entries += load_relaxed(&pt->count);
		st->bytes += load_relaxed(&pt->bytes);
		st->pending += load_relaxed(&pt->limbo_n);
		st->pending_bytes += load_relaxed(&pt->limbo_bytes);
		st->resizes += load_relaxed(&pt->resizes);
		st->reclaimed += load_relaxed(&pt->reclaimed);
		st->recoveries += load_relaxed(&pt->recoveries);
		uint64_t toff = load_acquire(&d->tables[p]); /* A2: pairs with R3 */
		if (table_ok(r, toff))
			st->buckets += ((struct dict_table *)at(r, toff))->mask + 1;
	}
	if (t)
		shmrt__rcu_unlock(t);
	st->load_factor = st->buckets ? (double)st->entries / (double)st->buckets : 0;
	st->partitions = d->nparts;
	st->max_key = d->max_key;
	st->max_value = d->max_value;
	return 0;
}
