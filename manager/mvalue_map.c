/*
 * Manager values: maps (shmrt/mvalue.h), and the hash and key equality they rest on.
 * The layout (CPython's compact dict: entries in insertion order, an index of 2^k
 * uint32 slots, linear probing) is drawn in mvalue_int.h.
 *
 * Maps follow Python's dict. Key equality is Python's: numbers compare by value
 * across bool, int and float (a float equals an int when it is integral, in int64's
 * range, and converts to it exactly); str and bytes compare as bytes and never equal
 * each other. The hash agrees with it: bool and int hash their integer, a float its
 * integer when it equals one, else its bits. Hashes are keyed by a random 128-bit
 * secret drawn when the library loads: str and bytes go through SipHash-1-3 (what
 * CPython uses), numbers through a bijective 64-bit mixer of (value ^ secret). A
 * client of the server therefore cannot choose keys that collide in the index and
 * turn its lookups quadratic.
 *
 * Growth: a full entry array is rebuilt at twice the live count (at least 4), which
 * both grows it and drops deleted entries; a map whose last key is deleted resets to
 * empty in place. popitem (shmrt__mv_map_popitem) takes the last live entry and trims
 * the deleted ones behind it off the entry count, as CPython's does (their index
 * slots stay dummies, counted in `spent`, so "full" still means every slot the array
 * may use is taken): draining a map by popitem is O(1) amortised, not a scan from
 * entry 0 each time. The entry array never holds more than 2/3 of the slot count,
 * dummies included, so every probe ends on an empty slot.
 *
 * Ownership: a map owns its keys and values (MV_OWNED, mvalue.c); a set with a key
 * equal to one present keeps the first key, as Python does, and frees the new one.
 *
 * Memory ordering: none; nothing here is shared between processes.
 */
#define _GNU_SOURCE
#include "mvalue_int.h"
#include "mvalue_tree_int.h"
#include "base/compiler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- hashing ------------------------------------------------------------------------ */

static uint64_t hash_k0, hash_k1;

__attribute__((constructor)) static void hash_seed(void)
{
	uint64_t k[2];
	if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
		/* No entropy this early (a very young system): vary it at least. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
		k[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4full ^ (uintptr_t)&ts;
	}
	hash_k0 = k[0];
	hash_k1 = k[1];
}

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                         \
	do {                                                                             \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);              \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                   \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                   \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);              \
	} while (0)

/* SipHash-1-3 of n bytes (one compression round, three finalisation rounds). */
static uint64_t siphash13(const uint8_t *p, size_t n)
{
	uint64_t v0 = 0x736f6d6570736575ull ^ hash_k0, v1 = 0x646f72616e646f6dull ^ hash_k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ hash_k0, v3 = 0x7465646279746573ull ^ hash_k1;
	uint64_t b = (uint64_t)n << 56, m;
	const uint8_t *end = p + (n & ~(size_t)7);
	for (; p != end; p += 8) {
		memcpy(&m, p, 8); /* little endian: what SipHash specifies on x86-64 */
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	switch (n & 7) {
	case 7: b |= (uint64_t)p[6] << 48; /* fall through */
	case 6: b |= (uint64_t)p[5] << 40; /* fall through */
	case 5: b |= (uint64_t)p[4] << 32; /* fall through */
	case 4: b |= (uint64_t)p[3] << 24; /* fall through */
	case 3: b |= (uint64_t)p[2] << 16; /* fall through */
	case 2: b |= (uint64_t)p[1] << 8;  /* fall through */
	case 1: b |= (uint64_t)p[0];       /* fall through */
	case 0: break;
	}
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* A bijective mixer (murmur3's finaliser) of x keyed by the secret. */
static inline uint64_t mix64(uint64_t x)
{
	x ^= hash_k0;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Whether float f equals int64 i, as Python compares them. */
static inline bool float_is_int(double f, int64_t *i)
{
	if (!(f >= -0x1p63 && f < 0x1p63)) /* also NaN */
		return false;
	int64_t t = (int64_t)f;
	if ((double)t != f)
		return false;
	*i = t;
	return true;
}

static inline int64_t int_of(const shmrt_mv_t *v)
{
	return v->kind == SHMRT_MV_BOOL ? (int64_t)v->u.b : v->u.i;
}

static uint64_t key_hash(const shmrt_mv_t *k)
{
	int64_t i;
	switch (k->kind) {
	case SHMRT_MV_NIL: return mix64(0x4e6f6e65ull) ^ hash_k1;
	case SHMRT_MV_BOOL:
	case SHMRT_MV_INT: return mix64((uint64_t)int_of(k));
	case SHMRT_MV_FLOAT:
		if (float_is_int(k->u.f, &i))
			return mix64((uint64_t)i);
		uint64_t bits;
		memcpy(&bits, &k->u.f, 8);
		return mix64(bits ^ hash_k1);
	default: return siphash13((const uint8_t *)k->u.s.p, k->u.s.n);
	}
}

static inline bool is_num(uint8_t kind)
{
	return kind == SHMRT_MV_BOOL || kind == SHMRT_MV_INT || kind == SHMRT_MV_FLOAT;
}

static bool num_eq(const shmrt_mv_t *a, const shmrt_mv_t *b)
{
	int64_t i;
	if (a->kind != SHMRT_MV_FLOAT && b->kind != SHMRT_MV_FLOAT)
		return int_of(a) == int_of(b);
	if (a->kind == SHMRT_MV_FLOAT && b->kind == SHMRT_MV_FLOAT)
		return a->u.f == b->u.f;
	if (a->kind != SHMRT_MV_FLOAT) {
		const shmrt_mv_t *t = a;
		a = b;
		b = t;
	}
	return float_is_int(a->u.f, &i) && i == int_of(b);
}

/* Python's == on two scalars (keys or not). */
bool shmrt__mv_scalar_eq(const shmrt_mv_t *a, const shmrt_mv_t *b)
{
	if (is_num(a->kind) && is_num(b->kind))
		return num_eq(a, b);
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case SHMRT_MV_NIL: return true;
	case SHMRT_MV_REF: return a->u.ref == b->u.ref;
	case SHMRT_MV_STR:
	case SHMRT_MV_BYTES:
		return a->u.s.n == b->u.s.n && memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
	default: return false;
	}
}

/* ---- construction ------------------------------------------------------------------- */

/* Allocates entries and index for ecap entries (ecap > 0) into m, empty. */
static int map_alloc(struct mv_map *m, uint32_t ecap)
{
	uint32_t slots = 8;
	while (slots < (uint64_t)ecap * 3 / 2)
		slots <<= 1;
	size_t esz = (size_t)ecap * sizeof(struct mv_entry);
	struct mv_entry *e = malloc(esz + (size_t)slots * sizeof(uint32_t));
	if (unlikely(!e))
		return -ENOMEM;
	m->e = e;
	m->idx = (uint32_t *)((char *)e + esz);
	memset(m->idx, 0, (size_t)slots * sizeof(uint32_t));
	m->ecap = ecap;
	m->mask = slots - 1;
	m->n = 0;
	m->spent = 0;
	return 0;
}

shmrt_mv_t *shmrt__mv_map_new(size_t n)
{
	if (n > MV_MAP_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	shmrt_mv_t *v = shmrt__mv_new(SHMRT_MV_MAP, sizeof(struct mv_map));
	if (!v)
		return NULL;
	struct mv_map *m = (struct mv_map *)(v + 1);
	memset(m, 0, sizeof(*m));
	v->u.m = m;
	if (n && map_alloc(m, (uint32_t)n)) {
		free(v);
		errno = ENOMEM;
		return NULL;
	}
	return v;
}

shmrt_mv_t *shmrt_mv_map(void)
{
	return shmrt__mv_map_new(0);
}

shmrt_mv_t *shmrt_mv_map_cap(size_t n)
{
	return shmrt__mv_map_new(n);
}

/* ---- maps --------------------------------------------------------------------------- */

/*
 * Finds key k (hash h) in m: returns its entry's index, or -1 with *ins the slot where
 * it would go (the first dummy on the probe path, else the empty slot ending it).
 */
int64_t shmrt__mv_map_find(const struct mv_map *m, const shmrt_mv_t *k, uint64_t h,
			   uint32_t *ins)
{
	uint32_t s = (uint32_t)h & m->mask, dummy = UINT32_MAX;
	for (;; s = (s + 1) & m->mask) {
		uint32_t ix = m->idx[s];
		if (ix == 0) {
			*ins = dummy != UINT32_MAX ? dummy : s;
			return -1;
		}
		if (ix == MV_DUMMY) {
			if (dummy == UINT32_MAX)
				dummy = s;
			continue;
		}
		const struct mv_entry *e = &m->e[ix - 1];
		if (e->hash == h && (e->key == k || shmrt__mv_scalar_eq(e->key, k)))
			return ix - 1;
	}
}

/* Entry index of k in m, or -1 (m may be empty, with no arrays). */
static int64_t map_lookup(const struct mv_map *m, const shmrt_mv_t *k)
{
	uint32_t ins;
	if (!m->used)
		return -1;
	return shmrt__mv_map_find(m, k, key_hash(k), &ins);
}

/* Rebuilds m's arrays for ecap entries, keeping the live ones in order. */
static int map_resize(struct mv_map *m, uint32_t ecap)
{
	struct mv_map nm = *m;
	if (map_alloc(&nm, ecap))
		return -ENOMEM;
	for (uint32_t i = 0; i < m->n; i++) {
		if (!m->e[i].key)
			continue;
		uint32_t s = (uint32_t)m->e[i].hash & nm.mask;
		while (nm.idx[s])
			s = (s + 1) & nm.mask;
		nm.idx[s] = nm.n + 1;
		nm.e[nm.n++] = m->e[i];
	}
	free(m->e);
	*m = nm;
	return 0;
}

/* Appends a new entry for a key known to be absent; *ins from shmrt__mv_map_find, or
 * UINT32_MAX to probe (after a resize the slot moved). */
int shmrt__mv_map_insert_new(struct mv_map *m, uint64_t h, shmrt_mv_t *key, shmrt_mv_t *val,
			     uint32_t ins)
{
	if (m->n + m->spent == m->ecap) {
		if (m->used >= MV_MAP_MAX)
			return -E2BIG;
		uint64_t want = m->used < 2 ? 4 : (uint64_t)m->used * 2;
		if (want > MV_MAP_MAX)
			want = MV_MAP_MAX;
		if (map_resize(m, (uint32_t)want))
			return -ENOMEM;
		ins = UINT32_MAX;
	}
	if (ins == UINT32_MAX) {
		ins = (uint32_t)h & m->mask;
		while (m->idx[ins] != 0 && m->idx[ins] != MV_DUMMY)
			ins = (ins + 1) & m->mask;
	}
	m->idx[ins] = m->n + 1;
	m->e[m->n++] = (struct mv_entry){ h, key, val };
	m->used++;
	key->flags |= MV_OWNED;
	val->flags |= MV_OWNED;
	return 0;
}

int shmrt__mv_map_put(shmrt_mv_t *mv, shmrt_mv_t *key, shmrt_mv_t *val)
{
	struct mv_map *m = mv->u.m;
	uint64_t h = key_hash(key);
	uint32_t ins = UINT32_MAX;
	int64_t at = m->ecap ? shmrt__mv_map_find(m, key, h, &ins) : -1;
	if (at >= 0) {
		struct mv_entry *e = &m->e[at];
		e->val->flags &= ~MV_OWNED;
		shmrt_mv_free(e->val);
		val->flags |= MV_OWNED;
		e->val = val;
		shmrt_mv_free(key); /* Python keeps the first key */
		return 0;
	}
	int rc = shmrt__mv_map_insert_new(m, h, key, val, ins);
	if (rc) {
		shmrt_mv_free(key);
		shmrt_mv_free(val);
	}
	return rc;
}

size_t shmrt_mv_map_len(const shmrt_mv_t *m)
{
	return m && m->kind == SHMRT_MV_MAP ? m->u.m->used : 0;
}

int shmrt_mv_map_set(shmrt_mv_t *m, shmrt_mv_t *key, shmrt_mv_t *val)
{
	int rc = shmrt__mv_take_check(m, SHMRT_MV_MAP, key);
	if (rc) {
		if (val && !(val->flags & MV_OWNED) && val != m)
			shmrt_mv_free(val);
		return rc;
	}
	if ((rc = shmrt__mv_take_check(m, SHMRT_MV_MAP, val)) || key == val) {
		shmrt_mv_free(key);
		return rc ? rc : -EINVAL;
	}
	if (!shmrt__mv_hashable(key)) {
		shmrt_mv_free(key);
		shmrt_mv_free(val);
		return -EINVAL;
	}
	return shmrt__mv_map_put(m, key, val);
}

shmrt_mv_t *shmrt_mv_map_get(const shmrt_mv_t *m, const shmrt_mv_t *key)
{
	if (!m || m->kind != SHMRT_MV_MAP || !key || !shmrt__mv_hashable(key))
		return NULL;
	int64_t at = map_lookup(m->u.m, key);
	return at < 0 ? NULL : m->u.m->e[at].val;
}

shmrt_mv_t *shmrt_mv_map_get_str(const shmrt_mv_t *m, const char *s)
{
	if (!s)
		return NULL;
	shmrt_mv_t k = { .kind = SHMRT_MV_STR, .u.s = { s, strlen(s) } };
	return shmrt_mv_map_get(m, &k);
}

int shmrt_mv_map_pop(shmrt_mv_t *mv, const shmrt_mv_t *key, shmrt_mv_t **out)
{
	if (!mv || mv->kind != SHMRT_MV_MAP || !key || !out || !shmrt__mv_hashable(key))
		return -EINVAL;
	struct mv_map *m = mv->u.m;
	uint64_t h = key_hash(key);
	uint32_t ins;
	if (!m->used)
		return -ENOENT;
	uint32_t s = (uint32_t)h & m->mask;
	int64_t at = shmrt__mv_map_find(m, key, h, &ins);
	if (at < 0)
		return -ENOENT;
	while (m->idx[s] != (uint32_t)at + 1) /* the slot that shmrt__mv_map_find stopped at */
		s = (s + 1) & m->mask;
	m->idx[s] = MV_DUMMY;
	struct mv_entry *e = &m->e[at];
	shmrt_mv_t *k = e->key, *v = e->val;
	e->key = e->val = NULL;
	if (--m->used == 0) {
		m->n = m->spent = 0; /* empty: start over in place */
		memset(m->idx, 0, ((size_t)m->mask + 1) * sizeof(uint32_t));
	}
	k->flags &= ~MV_OWNED;
	v->flags &= ~MV_OWNED;
	shmrt_mv_free(k);
	*out = v;
	return 0;
}

shmrt_mv_t *shmrt__mv_map_last(const shmrt_mv_t *mv)
{
	if (!mv || mv->kind != SHMRT_MV_MAP || !mv->u.m->used)
		return NULL;
	const struct mv_map *m = mv->u.m;
	uint32_t i = m->n - 1;
	while (!m->e[i].key) /* deleted entries at the end; a live one precedes them */
		i--;
	return m->e[i].val;
}

int shmrt__mv_map_popitem(shmrt_mv_t *mv, shmrt_mv_t **key, shmrt_mv_t **val)
{
	if (!mv || mv->kind != SHMRT_MV_MAP || !key || !val)
		return -EINVAL;
	struct mv_map *m = mv->u.m;
	if (!m->used)
		return -ENOENT;
	uint32_t i = m->n - 1;
	while (!m->e[i].key) /* deleted entries at the end; a live one precedes them */
		i--;
	struct mv_entry *e = &m->e[i];
	uint32_t s = (uint32_t)e->hash & m->mask;
	while (m->idx[s] != i + 1) /* its slot is on its probe path */
		s = (s + 1) & m->mask;
	m->idx[s] = MV_DUMMY;
	shmrt_mv_t *k = e->key, *v = e->val;
	e->key = e->val = NULL;
	/* entries i..n-1 are deleted now, each slot a dummy: trim them off the count, as
	 * CPython's popitem does, keeping their slots counted until the next rebuild */
	m->spent += m->n - i;
	m->n = i;
	if (--m->used == 0) {
		m->n = m->spent = 0; /* empty: start over in place */
		memset(m->idx, 0, ((size_t)m->mask + 1) * sizeof(uint32_t));
	}
	k->flags &= ~MV_OWNED;
	v->flags &= ~MV_OWNED;
	*key = k;
	*val = v;
	return 0;
}

int shmrt_mv_map_delete(shmrt_mv_t *m, const shmrt_mv_t *key)
{
	shmrt_mv_t *v;
	int rc = shmrt_mv_map_pop(m, key, &v);
	if (!rc)
		shmrt_mv_free(v);
	return rc;
}

bool shmrt_mv_map_next(const shmrt_mv_t *mv, size_t *pos, const shmrt_mv_t **key,
		       shmrt_mv_t **val)
{
	if (!mv || mv->kind != SHMRT_MV_MAP || !pos)
		return false;
	const struct mv_map *m = mv->u.m;
	for (size_t i = *pos; i < m->n; i++) {
		if (!m->e[i].key)
			continue;
		if (key)
			*key = m->e[i].key;
		if (val)
			*val = m->e[i].val;
		*pos = i + 1;
		return true;
	}
	*pos = m->n;
	return false;
}
