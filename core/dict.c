/*
 * The shared Dict (shmrt/dict.h): a hash map of byte strings read under
 * cross-process RCU (core/rcu.c) and written under per-partition robust locks.
 *
 * Shared layout (SHMRT_TYPE_DICT), one directory object:
 *   0       struct dict_hdr (64 B): magic, limits, seed, offsets below
 *   64      tables[nparts]: offset of each partition's current table (read-mostly:
 *           the only dict words a reader loads besides buckets and nodes)
 *   parts   struct dict_part[nparts], 192 B each: robust lock, journal, counters
 * Tables and nodes come from the region's arena:
 *   table   { rnext, repoch, magic, mask, buckets[mask + 1] }  (buckets: node offsets)
 *   node    { rnext, repoch, next, hash, klen, vlen, key, pad to 8, value }
 * rnext/repoch link a retired table or node into its partition's limbo list (the
 * epoch tag << 1, | 1 for a table), so retiring never touches `next`, which readers
 * may still follow.
 *
 * Hashing: a seeded 64-bit hash; bits 40.. pick the partition, the low bits the
 * bucket (tables have at most 2^28 buckets, so the two never overlap).
 *
 * Reads: RCU read section; table = tables[p] (acquire); walk the bucket's chain
 * (acquire loads of offsets); copy out; leave. No lock, no shared write.
 *
 * Writes, under the partition lock, each committed by ONE release store:
 *   insert   new node N (next = bucket head); bucket head = N
 *   replace  N (next = O.next); predecessor link = N; O retired
 *   delete   predecessor link = O.next; O retired
 *   resize   new table with copies of every node, built privately; tables[p] = T';
 *            old table retired whole (it owns its nodes: they are freed with it)
 *   clear    tables[p] = an empty table; old table retired whole
 * Retired objects go to the partition's limbo list tagged with the RCU epoch; every
 * 64 retirements the writer advances the epoch, scans the reader records, and frees
 * the tail of the list that no reader can still see (tags below the oldest active
 * reader's epoch). The list is ordered by tag, newest first.
 *
 * Crash recovery: before its commit store, a writer records what it does in the
 * partition's journal (op, new object, old object, node in flight). The next locker
 * gets EOWNERDEAD and runs recover(): an op whose commit store happened is completed
 * (the old object retired unless already in limbo), one that did not is undone (its
 * new node or table freed); a free loop is resumed. Then the partition's counters are
 * recomputed from the table and limbo list. Windows that leak (never corrupt): a
 * block allocated but not yet journaled, and the block being freed between the
 * journal step and the arena call: at most one node (or table) per death.
 */
#define _GNU_SOURCE
#include "shmrt/dict.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "rcu_int.h"
#include "region_int.h"

#define DICT_MAGIC 0x3154434944544d53ull  /* "SMTDICT1" */
#define TABLE_MAGIC 0x4c42415444544d53ull /* "SMTDTABL" */
#define PART_BIT 40
#define MAX_BUCKETS_LOG 28
#define POLL_EVERY 64      /* retirements between reclamation polls */
#define LIVE_CHECK_AT 4096 /* limbo length from which polls probe reader liveness */
#define MAX_CHAIN (1u << 26)

struct dict_hdr {
	uint64_t magic;        /* 0 */
	uint32_t nparts;       /* 8 */
	uint32_t min_buckets;  /* 12: per partition, power of two */
	uint32_t max_key;      /* 16 */
	uint32_t max_value;    /* 20 */
	uint64_t seed;         /* 24 */
	uint64_t tables_rel;   /* 32 */
	uint64_t parts_rel;    /* 40 */
	uint64_t pad[2];       /* 48 */
};

enum { J_NONE = 0, J_SET = 1, J_DEL = 2, J_TABLE = 3, J_FREE = 4 };

struct dict_part {
	pthread_mutex_t lock;  /* 0 */
	uint8_t pad0[64 - sizeof(pthread_mutex_t)];
	uint32_t j_op;         /* 64: J_* */
	uint32_t pad1;
	uint64_t j_a;          /* 72: new node / new table / list being freed */
	uint64_t j_b;          /* 80: old node / old table */
	uint64_t j_c;          /* 88: node being copied into j_a (J_TABLE) */
	uint64_t limbo;        /* 96: newest retired object */
	uint64_t since_poll;   /* 104 */
	uint64_t pad2[2];      /* 112 */
	/* counters read racily by stats (relaxed atomics) */
	uint64_t count;        /* 128 */
	uint64_t bytes;        /* 136 */
	uint64_t limbo_n;      /* 144 */
	uint64_t limbo_bytes;  /* 152 */
	uint64_t resizes;      /* 160 */
	uint64_t reclaimed;    /* 168 */
	uint64_t recoveries;   /* 176 */
	uint64_t pad3;         /* 184 */
};

struct limbo {
	uint64_t rnext;
	uint64_t repoch; /* tag << 1 | is_table */
};

struct dict_table {
	uint64_t rnext, repoch;
	uint64_t magic;
	uint64_t mask;
	uint64_t buckets[];
};

struct dict_node {
	uint64_t rnext, repoch;
	uint64_t next;
	uint64_t hash;
	uint32_t klen, vlen;
	char kv[];
};

_Static_assert(sizeof(struct dict_hdr) == 64, "dict header layout");
_Static_assert(sizeof(struct dict_part) == 192, "dict partition layout");
_Static_assert(offsetof(struct dict_part, j_op) == 64, "dict partition layout");
_Static_assert(offsetof(struct dict_part, count) == 128, "dict partition layout");
_Static_assert(sizeof(struct dict_table) == 32, "dict table layout");
_Static_assert(sizeof(struct dict_node) == 40, "dict node layout");
_Static_assert(offsetof(struct dict_node, rnext) == 0 && offsetof(struct dict_table, repoch) == 8,
	       "limbo prefix");

#define RG(d) ((struct shmrt_region *)(d)->region)
#define PARTS(d) ((struct dict_part *)(d)->parts)

static inline void *at(struct shmrt_region *r, uint64_t off)
{
	return r->pub.base + off;
}

static inline uint64_t round8(uint64_t n)
{
	return (n + 7) & ~7ull;
}

static inline uint64_t node_bytes(const struct dict_node *n)
{
	return sizeof(*n) + round8(n->klen) + n->vlen;
}

static inline uint64_t table_bytes(uint64_t nbuckets)
{
	return sizeof(struct dict_table) + 8 * nbuckets;
}

static inline const char *node_val(const struct dict_node *n)
{
	return n->kv + round8(n->klen);
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	return x ^ (x >> 32);
}

static uint64_t hash_key(const void *key, size_t n, uint64_t seed)
{
	const unsigned char *p = key;
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull);
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	if (n) {
		uint64_t w = 0;
		memcpy(&w, p, n);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return mix64(h);
}

static inline uint32_t part_of(const shmrt_dict_t *d, uint64_t hash)
{
	return (uint32_t)(hash >> PART_BIT) & (d->nparts - 1);
}

/* ---- lookup (readers and writers) ------------------------------------------------- */

/*
 * Finds key in table t. Returns the node and sets *link to the word that points to
 * it (a bucket or the predecessor's next), or NULL (absent; *link = the bucket).
 * *err = -EBADMSG on a corrupted chain (an offset out of the region, or a cycle).
 */
static struct dict_node *find(struct shmrt_region *r, struct dict_table *t, uint64_t hash,
			      const void *key, size_t klen, uint64_t **link, int *err)
{
	uint64_t *l = &t->buckets[hash & t->mask];
	*link = l;
	/* A1: acquire; pairs with R1/R2 (a node's contents are visible before the
	 * offset that publishes it). */
	uint64_t off = load_acquire(l);
	for (uint32_t steps = 0; off; steps++) {
		if (unlikely(off > r->pub.size - sizeof(struct dict_node) || steps > MAX_CHAIN)) {
			*err = -EBADMSG;
			return NULL;
		}
		struct dict_node *n = at(r, off);
		if (n->hash == hash && n->klen == klen && !memcmp(n->kv, key, klen)) {
			*link = l;
			return n;
		}
		l = &n->next;
		off = load_acquire(l); /* A1 */
	}
	*link = &t->buckets[hash & t->mask];
	return NULL;
}

static inline struct dict_table *table_of(const shmrt_dict_t *d, uint32_t p)
{
	/* A2: acquire; pairs with R3 (a table and every node in it are complete before
	 * the table is published). */
	return at(RG(d), load_acquire(&d->tables[p]));
}

/*
 * Repair and reclamation walk what a dead writer (or a corrupted region) left: every
 * offset is checked before it is followed, and a bad one ends the walk (what lies
 * beyond leaks; nothing is read out of bounds).
 */
static inline bool node_ok(struct shmrt_region *r, uint64_t off)
{
	return off >= r->hdr->g.arena_off && off <= r->pub.size - sizeof(struct dict_node) &&
	       !(off & 7);
}

static inline bool table_ok(struct shmrt_region *r, uint64_t off)
{
	if (off < r->hdr->g.arena_off || off > r->pub.size - sizeof(struct dict_table) || (off & 7))
		return false;
	struct dict_table *t = at(r, off);
	return t->magic == TABLE_MAGIC && t->mask < (1ull << MAX_BUCKETS_LOG) &&
	       !(t->mask & (t->mask + 1)) && off + table_bytes(t->mask + 1) <= r->pub.size;
}

/* ---- writers: locking, journal, retirement, reclamation ----------------------------- */

struct wctx {
	const shmrt_dict_t *d;
	struct shmrt_region *r;
	struct dict_part *pt;
	uint32_t p, rec;
};

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

static int wlock(const shmrt_dict_t *d, uint32_t p, struct wctx *w)
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
	struct limbo *head = at(w->r, pt->limbo);
	uint64_t want = (head->repoch >> 1) + 1;
	(void)shmrt__rcu_advance(w->r);
	unsigned dead = 0;
	uint64_t min = shmrt__rcu_scan(w->r, want, check_live, &dead);
	if (dead)
		(void)shmrt__gc(w->r);
	uint64_t *link = &pt->limbo;
	while (*link) {
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
		for (uint64_t o = old->buckets[b]; o; o = ((struct dict_node *)at(w->r, o))->next) {
			struct dict_node *src = at(w->r, o);
			uint64_t sz = node_bytes(src), c;
			rc = alloc_block(w, sz, &c);
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
	struct dict_table *t = at(w->r, w->d->tables[w->p]);
	struct dict_hdr *h = w->d->shm;
	uint64_t nb = t->mask + 1, n = w->pt->count;
	if (n > nb && nb < (1ull << MAX_BUCKETS_LOG))
		(void)swap_table(w, nb * 2, 1); /* on -ENOSPC: longer chains, still correct */
	else if (nb > h->min_buckets && n < nb / 8)
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

static int in_limbo(struct wctx *w, uint64_t off)
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
		    !in_limbo(w, pt->j_b))
			retire(w, pt->j_b, 0, node_bytes(at(w->r, pt->j_b)));
		break;
	case J_TABLE:
		if (pt->j_a && w->d->tables[w->p] == pt->j_a) {
			if (table_ok(w->r, pt->j_b) && !in_limbo(w, pt->j_b))
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
	    (o.partitions & (o.partitions - 1)) || o.capacity > (1ull << 40))
		return -EINVAL;
	struct dict_init di = { o.partitions, pow2_at_least(o.capacity / o.partitions), o.max_key,
				o.max_value, r };
	if (di.min_buckets < 8)
		di.min_buckets = 8;
	uint64_t size = parts_rel(o.partitions) + sizeof(struct dict_part) * o.partitions;
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, SHMRT_TYPE_DICT, size, oflags, NULL, dict_init, &di,
				    &oi);
	if (rc == -EMSGSIZE) /* it exists, made with fewer partitions: the maxima decide */
		rc = shmrt__object_open(r, name, SHMRT_TYPE_DICT, sizeof(struct dict_hdr),
					oflags & ~(SHMRT_O_CREATE | SHMRT_O_EXCL), NULL, NULL, NULL,
					&oi);
	if (rc)
		return rc;
	struct dict_hdr *h = shmrt_ptr(region, oi.off);
	if (h->magic != DICT_MAGIC || !h->nparts || (h->nparts & (h->nparts - 1)) ||
	    h->nparts > 4096 || h->tables_rel != sizeof(*h) ||
	    h->parts_rel != parts_rel(h->nparts) ||
	    h->parts_rel + sizeof(struct dict_part) * h->nparts > oi.size)
		return -EBADMSG;
	uint64_t *tables = (uint64_t *)(void *)((char *)h + h->tables_rel);
	for (uint32_t p = 0; p < h->nparts; p++) {
		uint64_t t = load_acquire(&tables[p]);
		if (t < r->hdr->g.arena_off || t > r->pub.size - sizeof(struct dict_table) ||
		    ((struct dict_table *)at(r, t))->magic != TABLE_MAGIC)
			return -EBADMSG;
	}
	if ((opts && opts->max_key && opts->max_key > h->max_key) ||
	    (opts && opts->max_value && opts->max_value > h->max_value))
		return -EPROTOTYPE;
	*out = (shmrt_dict_t){ .shm = h, .region = region, .tables = tables,
			       .parts = (char *)h + h->parts_rel, .seed = h->seed,
			       .max_key = h->max_key, .max_value = h->max_value,
			       .nparts = h->nparts };
	return 0;
}

/* ---- reads ----------------------------------------------------------------------------- */

static inline struct shmrt_thread_rec *reader(const shmrt_dict_t *d)
{
	uint32_t rec = shmrt__thread_rec(RG(d));
	return rec == REC_NONE ? NULL : &RG(d)->threads[rec];
}

int shmrt_dict_get(const shmrt_dict_t *d, const void *key, size_t klen, void *buf, size_t cap,
		   size_t *vlen)
{
	if (unlikely(klen > d->max_key))
		return -EMSGSIZE;
	struct shmrt_thread_rec *t = reader(d);
	if (unlikely(!t))
		return -EUSERS;
	uint64_t hash = hash_key(key, klen, d->seed);
	int rc = -ENOENT;
	uint64_t *link;
	shmrt__rcu_lock(RG(d), t);
	struct dict_node *n = find(RG(d), table_of(d, part_of(d, hash)), hash, key, klen, &link,
				   &rc);
	if (n) {
		if (n->vlen > cap) {
			rc = -EMSGSIZE;
		} else {
			if (n->vlen)
				memcpy(buf, node_val(n), n->vlen);
			rc = 0;
		}
		*vlen = n->vlen;
	}
	shmrt__rcu_unlock(t);
	return rc;
}

int shmrt_dict_contains(const shmrt_dict_t *d, const void *key, size_t klen)
{
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
	struct shmrt_thread_rec *t = reader(d);
	if (!t)
		return -EUSERS;
	shmrt__rcu_lock(RG(d), t);
	return 0;
}

void shmrt_dict_read_unlock(const shmrt_dict_t *d)
{
	struct shmrt_thread_rec *t = reader(d);
	if (t && shmrt__rcu_nested(t))
		shmrt__rcu_unlock(t);
}

int shmrt_dict_get_ref(const shmrt_dict_t *d, const void *key, size_t klen, const void **val,
		       size_t *vlen)
{
	if (klen > d->max_key)
		return -EMSGSIZE;
	struct shmrt_thread_rec *t = reader(d);
	if (!t || !shmrt__rcu_nested(t))
		return -EPERM;
	uint64_t hash = hash_key(key, klen, d->seed);
	int rc = -ENOENT;
	uint64_t *link;
	struct dict_node *n = find(RG(d), table_of(d, part_of(d, hash)), hash, key, klen, &link,
				   &rc);
	if (!n)
		return rc;
	*val = node_val(n);
	*vlen = n->vlen;
	return 0;
}

/* ---- writes ---------------------------------------------------------------------------- */

/* Locks key's partition and finds key in its table (the writer's view is stable). */
static int wbegin(const shmrt_dict_t *d, const void *key, size_t klen, struct wctx *w,
		  uint64_t *hash, uint64_t **link, struct dict_node **n)
{
	if (klen > d->max_key)
		return -EMSGSIZE;
	*hash = hash_key(key, klen, d->seed);
	int rc = wlock(d, part_of(d, *hash), w);
	if (rc)
		return rc;
	rc = -ENOENT;
	*n = find(w->r, at(w->r, d->tables[w->p]), *hash, key, klen, link, &rc);
	if (!*n && rc == -EBADMSG) {
		shmrt__pmutex_unlock(&w->pt->lock);
		return rc;
	}
	return 0;
}

int shmrt_dict_set(const shmrt_dict_t *d, const void *key, size_t klen, const void *val,
		   size_t vlen)
{
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
	struct dict_hdr *h = d->shm;
	for (uint32_t p = 0; p < d->nparts; p++) {
		struct wctx w;
		int rc = wlock(d, p, &w);
		if (rc)
			return rc;
		if (w.pt->count)
			rc = swap_table(&w, h->min_buckets, 0);
		wunlock(&w);
		if (rc)
			return rc;
	}
	return 0;
}

uint64_t shmrt_dict_len(const shmrt_dict_t *d)
{
	uint64_t n = 0;
	for (uint32_t p = 0; p < d->nparts; p++)
		n += load_relaxed(&PARTS(d)[p].count);
	return n;
}

int shmrt_dict_iterate(const shmrt_dict_t *d, shmrt_dict_iter_fn fn, void *ctx)
{
	struct shmrt_thread_rec *t = reader(d);
	if (!t)
		return -EUSERS;
	struct shmrt_region *r = RG(d);
	for (uint32_t p = 0; p < d->nparts; p++) {
		shmrt__rcu_lock(r, t);
		struct dict_table *tab = table_of(d, p);
		for (uint64_t b = 0; b <= tab->mask; b++) {
			/* A1 */
			for (uint64_t o = load_acquire(&tab->buckets[b]); o;) {
				if (o > r->pub.size - sizeof(struct dict_node)) {
					shmrt__rcu_unlock(t);
					return -EBADMSG;
				}
				struct dict_node *n = at(r, o);
				int rc = fn(n->kv, n->klen, node_val(n), n->vlen, ctx);
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

/* Whether partition p still holds a retired object tagged below epoch e. */
static int pending_before(struct wctx *w, uint64_t e)
{
	uint64_t last = 0;
	for (uint64_t o = w->pt->limbo; o; o = ((struct limbo *)at(w->r, o))->rnext)
		last = o;
	return last && (((struct limbo *)at(w->r, last))->repoch >> 1) < e;
}

int shmrt_dict_reclaim(const shmrt_dict_t *d, shmrt_ns_t timeout)
{
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
			int rc = wlock(d, p, &w);
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

int shmrt_dict_stats(const shmrt_dict_t *d, shmrt_dict_stats_t *st)
{
	memset(st, 0, sizeof(*st));
	struct shmrt_region *r = RG(d);
	/* A read section keeps the tables we look at from being freed meanwhile; an
	 * inspect-only handle (no record) reads them racily: a number may be off. */
	struct shmrt_thread_rec *t = r->attached ? reader(d) : NULL;
	if (t)
		shmrt__rcu_lock(r, t);
	for (uint32_t p = 0; p < d->nparts; p++) {
		struct dict_part *pt = &PARTS(d)[p];
		st->entries += load_relaxed(&pt->count);
		st->bytes += load_relaxed(&pt->bytes);
		st->pending += load_relaxed(&pt->limbo_n);
		st->pending_bytes += load_relaxed(&pt->limbo_bytes);
		st->resizes += load_relaxed(&pt->resizes);
		st->reclaimed += load_relaxed(&pt->reclaimed);
		st->recoveries += load_relaxed(&pt->recoveries);
		uint64_t toff = load_acquire(&d->tables[p]);
		if (toff <= r->pub.size - sizeof(struct dict_table))
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

/* ---- consistency check (tests) ------------------------------------------------------- */

#include "dict_int.h"

static int check_part(struct wctx *w, const char **why)
{
	struct shmrt_region *r = w->r;
	struct dict_part *pt = w->pt;
	uint64_t lo = r->hdr->g.arena_off, hi = r->pub.size - sizeof(struct dict_node);
	struct dict_table *t = at(r, w->d->tables[w->p]);
	if (t->magic != TABLE_MAGIC || (t->mask & (t->mask + 1))) {
		*why = "table header";
		return -EBADMSG;
	}
	if (pt->j_op != J_NONE) {
		*why = "journal left open";
		return -EBADMSG;
	}
	uint64_t count = 0, bytes = table_bytes(t->mask + 1);
	for (uint64_t b = 0; b <= t->mask; b++) {
		for (uint64_t o = t->buckets[b]; o; o = ((struct dict_node *)at(r, o))->next) {
			if (o < lo || o > hi || count > pt->count + 1) {
				*why = "chain offset out of bounds, or a cycle";
				return -EBADMSG;
			}
			struct dict_node *n = at(r, o);
			if ((n->hash & t->mask) != b || part_of(w->d, n->hash) != w->p ||
			    n->hash != hash_key(n->kv, n->klen, w->d->seed) ||
			    n->klen > w->d->max_key || n->vlen > w->d->max_value) {
				*why = "node in the wrong bucket or with a wrong hash";
				return -EBADMSG;
			}
			uint32_t steps = 0;
			for (uint64_t q = n->next; q && node_ok(r, q) && steps++ < MAX_CHAIN;
			     q = ((struct dict_node *)at(r, q))->next) {
				struct dict_node *m = at(r, q);
				if (m->hash == n->hash && m->klen == n->klen &&
				    !memcmp(m->kv, n->kv, n->klen)) {
					*why = "a key twice";
					return -EBADMSG;
				}
			}
			if (in_limbo(w, o)) {
				*why = "a reachable node is retired";
				return -EBADMSG;
			}
			count++;
			bytes += node_bytes(n);
		}
	}
	if (count != pt->count || bytes != pt->bytes) {
		*why = "count or bytes differ from the table";
		return -EBADMSG;
	}
	uint64_t ln = 0, prev = UINT64_MAX;
	for (uint64_t o = pt->limbo; o; o = ((struct limbo *)at(r, o))->rnext) {
		struct limbo *e = at(r, o);
		if (o < lo || o > hi || ln > pt->limbo_n || (e->repoch >> 1) > prev) {
			*why = "limbo list malformed or out of order";
			return -EBADMSG;
		}
		if (o == w->d->tables[w->p]) {
			*why = "the current table is retired";
			return -EBADMSG;
		}
		prev = e->repoch >> 1;
		ln++;
	}
	if (ln != pt->limbo_n) {
		*why = "limbo count differs";
		return -EBADMSG;
	}
	return 0;
}

int shmrt__dict_check(const shmrt_dict_t *d, const char **why)
{
	for (uint32_t p = 0; p < d->nparts; p++) {
		struct wctx w;
		int rc = wlock(d, p, &w);
		if (rc) {
			*why = "partition lock";
			return rc;
		}
		rc = check_part(&w, why);
		shmrt__pmutex_unlock(&w.pt->lock);
		if (rc)
			return rc;
	}
	return 0;
}
