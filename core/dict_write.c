/*
 * Dict writers: the five commits, resizing, reclamation of retired nodes and tables,
 * and the recovery of a partition whose writer died (the protocol and the labels are
 * in dict_int.h).
 *
 * Every write runs under its partition's robust lock and is committed by one release
 * store (R1 insert or replace, R2 delete, R3 table swap), preceded by a journal entry
 * (op, new object, old object) that the next locker's recover() reads if the writer
 * died: a commit that happened is completed, one that did not is undone.
 */
#define _GNU_SOURCE
#include "dict_int.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

/* ---- writers: locking, journal, retirement, reclamation ----------------------------- */


static void recover(void *ctx);

static int alloc_block(struct wctx *w, uint64_t size, uint64_t *off)
{
	return shmrt__arena_alloc(&w->r->arena, w->rec, size, NULL, off);
}

static void free_block(struct wctx *w, uint64_t off)
{
	(void)shmrt__arena_free(&w->r->arena, w->rec, off);
}

static inline void counter_add(uint64_t *c, int64_t v)
{
	/* Relaxed: written under the partition lock, read racily by stats. */
	store_relaxed(c, *c + (uint64_t)v);
}

int shmrt__dict_wlock(const shmrt_dict_t *d, uint32_t p, struct wctx *w)
{
	w->d = d;
	w->r = RG(d);
	w->p = p;
	w->pt = &PARTS(d)[p];
	w->rec = shmrt__thread_rec(w->r);
	if (w->rec == REC_NONE)
		return -EUSERS;
	return shmrt__pmutex_lock(&w->pt->lock, w->r->fd, recover, w);
}

static void retire(struct wctx *w, uint64_t off, int is_table, uint64_t bytes)
{
	struct limbo *e = at(w->r, off);
	/* The unlink of off came before; the tag is read after M2 (in rcu_tag). */
	uint64_t tag = shmrt__rcu_tag(w->r);
	e->repoch = (tag << 1) | (uint64_t)is_table;
	e->rnext = w->pt->limbo;
	SHMRT_YIELD_POINT();
	w->pt->limbo = off;
	counter_add(&w->pt->limbo_n, 1);
	counter_add(&w->pt->limbo_bytes, (int64_t)bytes);
	w->pt->since_poll++;
}

/* Frees the nodes of an unreachable table, bucket by bucket, restartably. */
static uint64_t free_table_nodes(struct wctx *w, struct dict_table *t)
{
	uint64_t bytes = 0;
	for (uint64_t b = 0; b <= t->mask; b++) {
		uint64_t off;
		while ((off = t->buckets[b])) {
			if (!node_ok(w->r, off)) {
				t->buckets[b] = 0; /* a bad offset: the rest of the chain leaks */
				break;
			}
			struct dict_node *n = at(w->r, off);
			bytes += node_bytes(n);
			t->buckets[b] = n->next;
			free_block(w, off);
		}
	}
	return bytes;
}

/* Frees the detached list at j_a (J_FREE), restartably. */
static void free_list(struct wctx *w)
{
	struct dict_part *pt = w->pt;
	uint64_t off;
	while ((off = pt->j_a)) {
		struct limbo *e = at(w->r, off);
		uint64_t bytes;
		if (!node_ok(w->r, off) || ((e->repoch & 1) && !table_ok(w->r, off))) {
			pt->j_a = 0; /* a bad entry: the rest of the list leaks */
			break;
		}
		if (e->repoch & 1) {
			struct dict_table *t = (struct dict_table *)e;
			bytes = table_bytes(t->mask + 1) + free_table_nodes(w, t);
		} else {
			bytes = node_bytes((struct dict_node *)e);
		}
		pt->j_a = e->rnext;
		SHMRT_YIELD_POINT();
		free_block(w, off);
		counter_add(&pt->limbo_n, -1);
		counter_add(&pt->limbo_bytes, -(int64_t)bytes);
		counter_add(&pt->reclaimed, 1);
	}
}

/*
 * Frees what no reader can still see: advances the epoch, scans the reader records,
 * cuts the limbo list where tags fall below the oldest active reader's epoch.
 */
static void poll_reclaim(struct wctx *w, int check_live)
{
	struct dict_part *pt = w->pt;
	pt->since_poll = 0;
	if (!pt->limbo)
		return;
	if (!node_ok(w->r, pt->limbo)) {
		pt->limbo = 0; /* damaged: what it held leaks */
		return;
	}
	struct limbo *head = at(w->r, pt->limbo);
	uint64_t want = (head->repoch >> 1) + 1;
	(void)shmrt__rcu_advance(w->r);
	unsigned dead = 0;
	uint64_t min = shmrt__rcu_scan(w->r, want, check_live, &dead);
	if (dead)
		(void)shmrt__gc(w->r);
	uint64_t *link = &pt->limbo;
	uint32_t steps = 0;
	while (*link) {
		if (!node_ok(w->r, *link) || steps++ > MAX_CHAIN) {
			*link = 0; /* damaged: the rest of the list leaks, nothing is followed */
			return;
		}
		struct limbo *e = at(w->r, *link);
		if ((e->repoch >> 1) < min)
			break;
		link = &e->rnext;
	}
	if (!*link)
		return;
	pt->j_a = *link;
	pt->j_op = J_FREE;
	SHMRT_YIELD_POINT();
	*link = 0;
	free_list(w);
	pt->j_op = J_NONE;
}

static void maybe_resize(struct wctx *w);

static void wunlock(struct wctx *w)
{
	maybe_resize(w);
	struct dict_part *pt = w->pt;
	if (pt->since_poll >= POLL_EVERY)
		poll_reclaim(w, pt->limbo_n >= LIVE_CHECK_AT);
	shmrt__pmutex_unlock(&pt->lock);
}

/* ---- commits ------------------------------------------------------------------------ */

/* Inserts (old == NULL, link = bucket) or replaces old (link points to it). */
static int wstore(struct wctx *w, uint64_t hash, uint64_t *link, struct dict_node *old,
		  const void *key, size_t klen, const void *val, size_t vlen)
{
	struct dict_part *pt = w->pt;
	uint64_t size = sizeof(struct dict_node) + round8(klen) + vlen, off;
	pt->j_b = old ? shmrt_offset(w->r, old) : 0;
	pt->j_a = 0;
	pt->j_op = J_SET;
	int rc = alloc_block(w, size, &off);
	if (rc) {
		pt->j_op = J_NONE;
		return rc;
	}
	pt->j_a = off;
	struct dict_node *n = at(w->r, off);
	n->rnext = n->repoch = 0;
	n->next = old ? old->next : *link;
	n->hash = hash;
	n->klen = (uint32_t)klen;
	n->vlen = (uint32_t)vlen;
	memcpy(n->kv, key, klen);
	if (vlen)
		memcpy(n->kv + round8(klen), val, vlen);
	SHMRT_YIELD_POINT();
	/* R1: release; pairs with A1. Commit: the node is complete before it is
	 * reachable. */
	store_release(link, off);
	SHMRT_YIELD_POINT();
	if (old) {
		uint64_t ob = node_bytes(old);
		retire(w, shmrt_offset(w->r, old), 0, ob);
		counter_add(&pt->bytes, (int64_t)size - (int64_t)ob);
	} else {
		counter_add(&pt->count, 1);
		counter_add(&pt->bytes, (int64_t)size);
	}
	pt->j_op = J_NONE;
	return 0;
}

static void wdelete(struct wctx *w, uint64_t *link, struct dict_node *old)
{
	struct dict_part *pt = w->pt;
	pt->j_a = 0;
	pt->j_b = shmrt_offset(w->r, old);
	pt->j_op = J_DEL;
	SHMRT_YIELD_POINT();
	/* R2: release; pairs with A1. Commit: unlinks old (readers already on it go on
	 * to its successor, which is unchanged). */
	store_release(link, old->next);
	SHMRT_YIELD_POINT();
	uint64_t ob = node_bytes(old);
	retire(w, pt->j_b, 0, ob);
	counter_add(&pt->count, -1);
	counter_add(&pt->bytes, -(int64_t)ob);
	pt->j_op = J_NONE;
}

/*
 * Replaces the partition's table by one of nbuckets buckets, holding copies of every
 * node (copy = 1) or none (clear). Returns 0 or -ENOSPC/-ENOMEM (the old table stays).
 */
static int swap_table(struct wctx *w, uint64_t nbuckets, int copy)
{
	struct dict_part *pt = w->pt;
	uint64_t old_off = w->d->tables[w->p], off;
	if (!table_ok(w->r, old_off))
		return -EBADMSG;
	struct dict_table *old = at(w->r, old_off);
	pt->j_b = old_off;
	pt->j_a = pt->j_c = 0;
	pt->j_op = J_TABLE;
	int rc = alloc_block(w, table_bytes(nbuckets), &off);
	if (rc) {
		pt->j_op = J_NONE;
		return rc;
	}
	struct dict_table *t = at(w->r, off);
	t->rnext = t->repoch = 0;
	t->magic = TABLE_MAGIC;
	t->mask = nbuckets - 1;
	memset(t->buckets, 0, 8 * nbuckets);
	pt->j_a = off; /* the table is private: plain stores until R3 */
	uint64_t nodes = 0, count = 0;
	for (uint64_t b = 0; copy && b <= old->mask; b++) {
		uint32_t steps = 0;
		for (uint64_t o = old->buckets[b]; o; o = ((struct dict_node *)at(w->r, o))->next) {
			struct dict_node *src = at(w->r, o);
			uint64_t sz = 0, c;
			if (!node_ok(w->r, o) || steps++ > MAX_CHAIN || !node_fits(w->r, o, src) ||
			    src->klen > w->d->max_key || src->vlen > w->d->max_value)
				rc = -EBADMSG; /* a damaged chain: keep the old table */
			else
				rc = alloc_block(w, sz = node_bytes(src), &c);
			if (rc) {
				free_table_nodes(w, t);
				pt->j_a = 0;
				free_block(w, off);
				pt->j_op = J_NONE;
				return rc;
			}
			pt->j_c = c;
			struct dict_node *dst = at(w->r, c);
			memcpy(dst, src, sz);
			uint64_t *bk = &t->buckets[src->hash & t->mask];
			dst->next = *bk;
			*bk = c;
			pt->j_c = 0;
			nodes += sz;
			count++;
		}
	}
	SHMRT_YIELD_POINT();
	/* R3: release; pairs with A2. Commit: the new table and all its nodes are
	 * complete before readers can load it. */
	store_release(&w->d->tables[w->p], off);
	SHMRT_YIELD_POINT();
	uint64_t old_bytes = load_relaxed(&pt->bytes);
	retire(w, old_off, 1, old_bytes);
	store_relaxed(&pt->bytes, table_bytes(nbuckets) + nodes);
	store_relaxed(&pt->count, count);
	counter_add(&pt->resizes, 1);
	pt->j_op = J_NONE;
	return 0;
}

static void maybe_resize(struct wctx *w)
{
	if (!table_ok(w->r, w->d->tables[w->p]))
		return;
	struct dict_table *t = at(w->r, w->d->tables[w->p]);
	struct dict_hdr *h = w->d->shm;
	uint64_t nb = t->mask + 1, n = w->pt->count;
	if (n > nb && nb < (1ull << MAX_BUCKETS_LOG))
		(void)swap_table(w, nb * 2, 1); /* on -ENOSPC: longer chains, still correct */
	else if (nb > h->min_buckets && n < nb / 8 && h->min_buckets &&
		 !(h->min_buckets & (h->min_buckets - 1)))
		(void)swap_table(w, nb / 2, 1);
}

/* ---- recovery ------------------------------------------------------------------------ */

static int in_table(struct wctx *w, struct dict_table *t, uint64_t off)
{
	for (uint64_t b = 0; b <= t->mask; b++) {
		uint32_t steps = 0;
		for (uint64_t o = t->buckets[b]; o && node_ok(w->r, o) && steps++ < MAX_CHAIN;
		     o = ((struct dict_node *)at(w->r, o))->next)
			if (o == off)
				return 1;
	}
	return 0;
}

int shmrt__dict_in_limbo(struct wctx *w, uint64_t off)
{
	uint32_t steps = 0;
	for (uint64_t o = w->pt->limbo; o && node_ok(w->r, o) && steps++ < MAX_CHAIN;
	     o = ((struct limbo *)at(w->r, o))->rnext)
		if (o == off)
			return 1;
	return 0;
}

/* Runs with the partition lock, after its previous holder died. */
static void recover(void *ctx)
{
	struct wctx *w = ctx;
	struct dict_part *pt = w->pt;
	if (!table_ok(w->r, w->d->tables[w->p])) {
		pt->j_op = J_NONE; /* corrupted beyond repair: leave it (checks report it) */
		return;
	}
	struct dict_table *cur = at(w->r, w->d->tables[w->p]);
	switch (pt->j_op) {
	case J_SET:
	case J_DEL:
		if (pt->j_a && node_ok(w->r, pt->j_a) && !in_table(w, cur, pt->j_a))
			free_block(w, pt->j_a); /* never published */
		if (pt->j_b && node_ok(w->r, pt->j_b) && !in_table(w, cur, pt->j_b) &&
		    !shmrt__dict_in_limbo(w, pt->j_b))
			retire(w, pt->j_b, 0, node_bytes(at(w->r, pt->j_b)));
		break;
	case J_TABLE:
		if (pt->j_a && w->d->tables[w->p] == pt->j_a) {
			if (table_ok(w->r, pt->j_b) && !shmrt__dict_in_limbo(w, pt->j_b))
				retire(w, pt->j_b, 1, 0);
		} else if (pt->j_a && table_ok(w->r, pt->j_a)) {
			struct dict_table *t = at(w->r, pt->j_a);
			if (pt->j_c && !in_table(w, t, pt->j_c))
				free_block(w, pt->j_c);
			free_table_nodes(w, t);
			free_block(w, pt->j_a);
		}
		break;
	case J_FREE: {
		/* The dead writer may have journaled the cut but not made it yet. */
		uint64_t *l = &pt->limbo;
		uint32_t steps = 0;
		while (*l && *l != pt->j_a && node_ok(w->r, *l) && steps++ < MAX_CHAIN)
			l = &((struct limbo *)at(w->r, *l))->rnext;
		*l = 0; /* cut at j_a (or at a bad link: what lies beyond leaks) */
		free_list(w);
		break;
	}
	default:
		break;
	}
	pt->j_op = J_NONE;
	pt->j_a = pt->j_b = pt->j_c = 0;
	/* Recount from the structure: the dead writer may have stopped between a commit
	 * and its counter updates. */
	uint64_t count = 0, bytes = table_bytes(cur->mask + 1), ln = 0, lb = 0;
	for (uint64_t b = 0; b <= cur->mask; b++) {
		uint32_t steps = 0;
		for (uint64_t o = cur->buckets[b]; o && node_ok(w->r, o) && steps++ < MAX_CHAIN;
		     o = ((struct dict_node *)at(w->r, o))->next) {
			count++;
			bytes += node_bytes(at(w->r, o));
		}
	}
	uint32_t lsteps = 0;
	for (uint64_t o = pt->limbo; o && node_ok(w->r, o) && lsteps++ < MAX_CHAIN;
	     o = ((struct limbo *)at(w->r, o))->rnext) {
		struct limbo *e = at(w->r, o);
		ln++;
		if ((e->repoch & 1) && table_ok(w->r, o)) {
			struct dict_table *t = (struct dict_table *)e;
			lb += table_bytes(t->mask + 1);
			for (uint64_t b = 0; b <= t->mask; b++) {
				uint32_t steps = 0;
				for (uint64_t q = t->buckets[b];
				     q && node_ok(w->r, q) && steps++ < MAX_CHAIN;
				     q = ((struct dict_node *)at(w->r, q))->next)
					lb += node_bytes(at(w->r, q));
			}
		} else if (!(e->repoch & 1)) {
			lb += node_bytes((struct dict_node *)e);
		}
	}
	store_relaxed(&pt->count, count);
	store_relaxed(&pt->bytes, bytes);
	store_relaxed(&pt->limbo_n, ln);
	store_relaxed(&pt->limbo_bytes, lb);
	counter_add(&pt->recoveries, 1);
}

/* ---- writes ---------------------------------------------------------------------------- */

/* Locks key's partition and finds key in its table (the writer's view is stable). */
static int wbegin(const shmrt_dict_t *d, const void *key, size_t klen, struct wctx *w,
		  uint64_t *hash, uint64_t **link, struct dict_node **n)
{
	if (klen > d->max_key)
		return -EMSGSIZE;
	*hash = hash_key(key, klen, d->seed);
	int rc = shmrt__dict_wlock(d, part_of(d, *hash), w);
	if (rc)
		return rc;
	rc = -ENOENT;
	uint64_t toff = d->tables[w->p]; /* under the partition lock: stable */
	int64_t room;
	*n = find(w->r, table_ok(w->r, toff) ? at(w->r, toff) : NULL, *hash, key, klen, link, &rc,
		  &room);
	if (*n && !node_fits(w->r, shmrt_offset(w->r, *n), *n)) { /* its value: past the region */
		*n = NULL;
		rc = -EBADMSG;
	}
	if (!*n && rc == -EBADMSG) {
		shmrt__pmutex_unlock(&w->pt->lock);
		return rc;
	}
	return 0;
}

int shmrt_dict_set(const shmrt_dict_t *d, const void *key, size_t klen, const void *val,
		   size_t vlen)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	if (vlen > d->max_value)
		return -EMSGSIZE;
	struct wctx w;
	uint64_t hash, *link;
	struct dict_node *n;
	int rc = wbegin(d, key, klen, &w, &hash, &link, &n);
	if (rc)
		return rc;
	rc = wstore(&w, hash, link, n, key, klen, val, vlen);
	wunlock(&w);
	return rc;
}

int shmrt_dict_setdefault(const shmrt_dict_t *d, const void *key, size_t klen, const void *val,
			  size_t vlen, void *out, size_t cap, size_t *outlen)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	if (vlen > d->max_value)
		return -EMSGSIZE;
	struct wctx w;
	uint64_t hash, *link;
	struct dict_node *n;
	int rc = wbegin(d, key, klen, &w, &hash, &link, &n);
	if (rc)
		return rc;
	const void *now = n ? node_val(n) : val;
	size_t nowlen = n ? n->vlen : vlen;
	rc = n ? 0 : wstore(&w, hash, link, NULL, key, klen, val, vlen);
	int inserted = !n && rc == 0;
	if (rc == 0 && out) {
		if (nowlen > cap) {
			rc = -EMSGSIZE;
		} else if (nowlen) {
			memcpy(out, now, nowlen);
		}
		*outlen = nowlen;
	}
	wunlock(&w);
	return rc ? rc : inserted;
}

int shmrt_dict_delete(const shmrt_dict_t *d, const void *key, size_t klen)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	struct wctx w;
	uint64_t hash, *link;
	struct dict_node *n;
	int rc = wbegin(d, key, klen, &w, &hash, &link, &n);
	if (rc)
		return rc;
	if (n)
		wdelete(&w, link, n);
	wunlock(&w);
	return n ? 0 : -ENOENT;
}

int shmrt_dict_cas(const shmrt_dict_t *d, const void *key, size_t klen, const void *expect,
		   size_t elen, const void *val, size_t vlen)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	if (vlen > d->max_value)
		return -EMSGSIZE;
	struct wctx w;
	uint64_t hash, *link;
	struct dict_node *n;
	int rc = wbegin(d, key, klen, &w, &hash, &link, &n);
	if (rc)
		return rc;
	if (!expect)
		rc = n ? -EAGAIN : 0;
	else if (!n)
		rc = -ENOENT;
	else if (n->vlen != elen || memcmp(node_val(n), expect, elen))
		rc = -EAGAIN;
	if (rc == 0)
		rc = wstore(&w, hash, link, n, key, klen, val, vlen);
	wunlock(&w);
	return rc;
}

int shmrt_dict_update(const shmrt_dict_t *d, const void *key, size_t klen,
		      shmrt_dict_update_fn fn, void *ctx)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	/* The new value is built in a buffer of max_value bytes: on the stack when small,
	 * else from the heap for this call (allocated before the lock is taken). */
	char small[4096];
	void *buf = d->max_value <= sizeof(small) ? small : malloc(d->max_value);
	if (!buf)
		return -ENOMEM;
	struct wctx w;
	uint64_t hash, *link;
	struct dict_node *n;
	int rc = wbegin(d, key, klen, &w, &hash, &link, &n);
	if (rc) {
		if (buf != small)
			free(buf);
		return rc;
	}
	size_t newlen = 0;
	int what = fn(n ? node_val(n) : NULL, n ? n->vlen : 0, buf, d->max_value, &newlen, ctx);
	rc = what;
	if (what == SHMRT_DICT_STORE) {
		int e = newlen > d->max_value ? -EMSGSIZE
					      : wstore(&w, hash, link, n, key, klen, buf, newlen);
		if (e)
			rc = e;
	} else if (what == SHMRT_DICT_DELETE && n) {
		wdelete(&w, link, n);
	}
	wunlock(&w);
	if (buf != small)
		free(buf);
	return rc;
}

int shmrt_dict_clear(const shmrt_dict_t *d)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	struct dict_hdr *h = d->shm;
	for (uint32_t p = 0; p < d->nparts; p++) {
		struct wctx w;
		int rc = shmrt__dict_wlock(d, p, &w);
		if (rc)
			return rc;
		uint32_t mb = h->min_buckets; /* shared: checked, as every word read here */
		if (!mb || (mb & (mb - 1)) || mb > (1u << MAX_BUCKETS_LOG))
			rc = -EBADMSG;
		else if (w.pt->count)
			rc = swap_table(&w, mb, 0);
		wunlock(&w);
		if (rc)
			return rc;
	}
	return 0;
}

static int pending_before(struct wctx *w, uint64_t e)
{
	uint64_t last = 0;
	uint32_t steps = 0;
	for (uint64_t o = w->pt->limbo; o && node_ok(w->r, o) && steps++ < MAX_CHAIN;
	     o = ((struct limbo *)at(w->r, o))->rnext)
		last = o;
	return last && (((struct limbo *)at(w->r, last))->repoch >> 1) < e;
}

int shmrt_dict_reclaim(const shmrt_dict_t *d, shmrt_ns_t timeout)
{
	if (unlikely(!d || !d->shm))
		return -EINVAL;
	struct shmrt_thread_rec *t = reader(d);
	if (!t)
		return -EUSERS;
	if (shmrt__rcu_nested(t))
		return -EDEADLK;
	uint64_t deadline = shmrt__deadline(timeout);
	uint64_t e0 = shmrt__rcu_advance(RG(d));
	for (unsigned round = 0;; round++) {
		int pending = 0;
		for (uint32_t p = 0; p < d->nparts; p++) {
			struct wctx w;
			int rc = shmrt__dict_wlock(d, p, &w);
			if (rc)
				return rc;
			if (w.pt->limbo)
				poll_reclaim(&w, 1);
			pending |= pending_before(&w, e0);
			shmrt__pmutex_unlock(&w.pt->lock);
		}
		if (!pending)
			return 0;
		if (mono_ns() >= deadline)
			return -ETIMEDOUT;
		if (round < 8) {
			sched_yield();
		} else {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
}
