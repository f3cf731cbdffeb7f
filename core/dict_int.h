/*
 * The shared Dict (shmrt/dict.h): a hash map of byte strings read under
 * cross-process RCU (core/rcu.c) and written under per-partition robust locks.
 * Layout, protocol and what the Dict's files share:
 *   dict.c        creation and every read (get, get_ref, iterate, len, stats)
 *   dict_write.c  writers, resize, reclamation and crash recovery
 *   dict_check.c  the consistency check of tests and tools
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
 *
 * Memory ordering (labels of the Dict):
 *   R1  insert/replace: the new node is complete before the link that publishes it
 *   R2  delete: the predecessor's link skips the old node
 *   R3  resize/clear: the new table and all its nodes are complete before tables[p]
 *   A1  a reader's load of a link (bucket or next): pairs with R1/R2
 *   A2  a reader's load of tables[p]: pairs with R3
 * Reclamation is ordered by the RCU's own labels (core/rcu_int.h: M1/M2, E1/E2,
 * U1/S1): a retired object is freed only after every reader that could reach it has
 * left. Everything else a writer touches (journal, limbo list, counters) is under the
 * partition lock, whose acquire and release order it; counters are read racily by
 * stats, hence relaxed atomics.
 */
#ifndef SHMRT_CORE_DICT_INT_H
#define SHMRT_CORE_DICT_INT_H

#include <stdbool.h>
#include <string.h>

#include "rcu_int.h"
#include "region_int.h"
#include "shmrt/dict.h"

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
	shmrt_pmutex_t lock;   /* 0 */
	uint8_t pad0[64 - sizeof(shmrt_pmutex_t)];
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

static inline uint64_t hash_key(const void *key, size_t n, uint64_t seed)
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

/*
 * Everything a reader or writer follows is checked before it is dereferenced (a
 * damaged region may hold anything: docs/DESIGN.md, "Damage"): a table's offset and
 * header before its buckets, a node's offset before its words, a node's key and value
 * before they are compared or copied. A bad one is -EBADMSG; repair and reclamation
 * end their walk there (what lies beyond leaks; nothing is read out of bounds).
 */
static inline bool node_ok(struct shmrt_region *r, uint64_t off)
{
	return off >= r->geo.arena_off && off <= r->pub.size - sizeof(struct dict_node) &&
	       !(off & 7);
}

/* Whether the node at off (node_ok) holds its key and value inside the region. */
static inline bool node_fits(struct shmrt_region *r, uint64_t off, const struct dict_node *n)
{
	return off + sizeof(struct dict_node) + round8(n->klen) + (uint64_t)n->vlen <= r->pub.size;
}

static inline bool table_ok(struct shmrt_region *r, uint64_t off)
{
	if (off < r->geo.arena_off || off > r->pub.size - sizeof(struct dict_table) || (off & 7))
		return false;
	struct dict_table *t = at(r, off);
	return t->magic == TABLE_MAGIC && t->mask < (1ull << MAX_BUCKETS_LOG) &&
	       !(t->mask & (t->mask + 1)) && off + table_bytes(t->mask + 1) <= r->pub.size;
}

/* The readers' check of a table (table_of): what memory safety needs and no more, the
 * header and every bucket inside the region (writers and repair use table_ok, which
 * also checks the magic and that the mask is a power of two less one). */
static inline bool table_fits(struct shmrt_region *r, uint64_t off)
{
	uint64_t lim = r->pub.size - sizeof(struct dict_table), lo = r->geo.arena_off;
	if (off - lo > lim - lo || (off & 7)) /* one compare for both bounds */
		return false;
	uint64_t mask = ((struct dict_table *)at(r, off))->mask;
	return mask < (1ull << MAX_BUCKETS_LOG) && 8 * mask + 8 <= lim - off;
}

/* ---- lookup (readers and writers) ------------------------------------------------- */

/*
 * Whether the n bytes at a and b are equal. Keys of 4 to 16 bytes (most keys: ints,
 * short strings) are compared as two overlapping words each, without a call: a call
 * to memcmp makes the lookup loop save and restore its registers around it.
 */
static SHMRT_ALWAYS_INLINE bool key_eq(const void *a, const void *b, size_t n)
{
	const char *x = a, *y = b;
	if (likely(n - 8 <= 8)) { /* 8..16 */
		uint64_t x0, x1, y0, y1;
		memcpy(&x0, x, 8), memcpy(&x1, x + n - 8, 8);
		memcpy(&y0, y, 8), memcpy(&y1, y + n - 8, 8);
		return !((x0 ^ y0) | (x1 ^ y1));
	}
	if (n - 4 <= 3) { /* 4..7 */
		uint32_t x0, x1, y0, y1;
		memcpy(&x0, x, 4), memcpy(&x1, x + n - 4, 4);
		memcpy(&y0, y, 4), memcpy(&y1, y + n - 4, 4);
		return !((x0 ^ y0) | (x1 ^ y1));
	}
	return !memcmp(a, b, n);
}

/*
 * Finds key in table t. Returns the node and sets *link to the word that points to
 * it (a bucket or the predecessor's next), or NULL (absent; *link = the bucket).
 * *err = -EBADMSG on a corrupted chain (an offset out of the region, or a cycle).
 * *room: the bytes of the region after the found node's key, the most its value may
 * hold (the caller checks the length it reads against it, once); it is at least -7
 * (a key that ends in the region's last bytes), so signed, and computed without a
 * branch: the common path stays straight.
 */
static inline struct dict_node *find(struct shmrt_region *r, struct dict_table *t, uint64_t hash,
			      const void *key, size_t klen, uint64_t **link, int *err,
			      int64_t *room)
{
	if (unlikely(!t)) { /* a damaged table (table_of) */
		*err = -EBADMSG;
		return NULL;
	}
	uint64_t *l = &t->buckets[hash & t->mask];
	*link = l;
	/* The last offset at which a node and our key fit in the region: one compare per
	 * node. (The value is the caller's to check: its length is read once, there.) No
	 * underflow: a region is larger than a node with the largest key (dict_open). */
	uint64_t lim = r->pub.size - sizeof(struct dict_node) - klen;
	/* A1: acquire; pairs with R1/R2 (a node's contents are visible before the
	 * offset that publishes it). */
	uint64_t off = load_acquire(l);
	for (uint32_t steps = 0; off; steps++) {
		if (unlikely(off > lim || steps > MAX_CHAIN)) {
			*err = -EBADMSG;
			return NULL;
		}
		struct dict_node *n = at(r, off);
		if (n->hash == hash && n->klen == klen && key_eq(n->kv, key, klen)) {
			*room = (int64_t)(r->pub.size - off - sizeof(struct dict_node) - round8(klen));
			*link = l;
			return n;
		}
		l = &n->next;
		off = load_acquire(l); /* A1 */
	}
	*link = &t->buckets[hash & t->mask];
	return NULL;
}

/* Partition p's current table, or NULL if its offset or header is damaged. */
static inline struct dict_table *table_of(const shmrt_dict_t *d, uint32_t p)
{
	/* A2: acquire; pairs with R3 (a table and every node in it are complete before
	 * the table is published). */
	uint64_t off = load_acquire(&d->tables[p]);
	return likely(table_fits(RG(d), off)) ? at(RG(d), off) : NULL;
}

/* The calling thread's record, for a read section (NULL: none free). */
static inline struct shmrt_thread_rec *reader(const shmrt_dict_t *d)
{
	uint32_t rec = shmrt__thread_rec(RG(d));
	return rec == REC_NONE ? NULL : &RG(d)->threads[rec];
}

/* ---- writers (dict_write.c) --------------------------------------------------------- */

/* A writer's context: the partition it holds locked, and its thread record. */
struct wctx {
	const shmrt_dict_t *d;
	struct shmrt_region *r;
	struct dict_part *pt;
	uint32_t p, rec;
};

/* Locks partition p (running its crash recovery if the previous holder died) and
 * fills *w. 0, -EUSERS (no thread record), -ENOTRECOVERABLE. */
int shmrt__dict_wlock(const shmrt_dict_t *d, uint32_t p, struct wctx *w);

/* Whether off is on the locked partition's limbo list. */
int shmrt__dict_in_limbo(struct wctx *w, uint64_t off);

/* ---- checks (dict_check.c) ------------------------------------------------------------ */

/*
 * Full consistency check, partition by partition under its lock (which also runs the
 * recovery of a partition whose writer died): every chain offset in bounds and every
 * node in the partition and bucket of its hash, no key twice, counts and byte totals
 * equal to what the structure holds, the limbo list ordered by tag, well formed, and
 * disjoint from the tables. Returns 0, or -EBADMSG with *why set.
 */
int shmrt__dict_check(const shmrt_dict_t *d, const char **why);

#endif /* SHMRT_CORE_DICT_INT_H */
