/*
 * Manager values: the tree (shmrt/mvalue.h). Constructors, accessors, lists, maps,
 * copy, equality, free. The codec is in mvalue_codec.c, repr in mvalue_repr.c.
 *
 * Ownership is single (each value has one owner) and recorded in one flag bit,
 * MV_OWNED, set when a container takes a value and cleared when pop hands it back:
 * that is how a value already held somewhere is refused instead of being owned
 * twice. Layout of values and maps: mvalue_int.h.
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
 * empty in place. Lists grow by doubling.
 *
 * Recursion: copy and equality recurse, one level per nesting level, and stop at
 * SHMRT_MV_DEPTH_MAX; free walks any depth with a stack linked through the containers
 * themselves (a list's spare slot, a map's link field).
 *
 * Memory ordering: none; nothing here is shared between processes.
 */
#define _GNU_SOURCE
#include "mvalue_int.h"
#include "base/compiler.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
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
static bool scalar_eq(const shmrt_mv_t *a, const shmrt_mv_t *b)
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

/* ---- constructors ------------------------------------------------------------------- */

static shmrt_mv_t *mv_new(uint8_t kind, size_t extra)
{
	if (extra > SIZE_MAX - sizeof(shmrt_mv_t)) {
		errno = ENOMEM;
		return NULL;
	}
	shmrt_mv_t *v = malloc(sizeof(*v) + extra);
	if (unlikely(!v)) {
		errno = ENOMEM;
		return NULL;
	}
	v->kind = kind;
	v->flags = 0;
	v->u.i = 0;
	return v;
}

shmrt_mv_t *shmrt_mv_nil(void)
{
	return mv_new(SHMRT_MV_NIL, 0);
}

shmrt_mv_t *shmrt_mv_bool(bool b)
{
	shmrt_mv_t *v = mv_new(SHMRT_MV_BOOL, 0);
	if (v)
		v->u.b = b;
	return v;
}

shmrt_mv_t *shmrt_mv_int(int64_t i)
{
	shmrt_mv_t *v = mv_new(SHMRT_MV_INT, 0);
	if (v)
		v->u.i = i;
	return v;
}

shmrt_mv_t *shmrt_mv_float(double d)
{
	shmrt_mv_t *v = mv_new(SHMRT_MV_FLOAT, 0);
	if (v)
		v->u.f = d;
	return v;
}

shmrt_mv_t *shmrt_mv_ref(uint64_t id)
{
	shmrt_mv_t *v = mv_new(SHMRT_MV_REF, 0);
	if (v)
		v->u.ref = id;
	return v;
}

shmrt_mv_t *shmrt__mv_bytes_new(uint8_t kind, const void *p, size_t n)
{
	if (n == SIZE_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	shmrt_mv_t *v = mv_new(kind, n + 1);
	if (!v)
		return NULL;
	char *d = (char *)(v + 1);
	if (n)
		memcpy(d, p, n);
	d[n] = '\0';
	v->u.s.p = d;
	v->u.s.n = n;
	return v;
}

shmrt_mv_t *shmrt_mv_strn(const char *s, size_t n)
{
	if (!s && n) {
		errno = EINVAL;
		return NULL;
	}
	if (shmrt__utf8_check((const uint8_t *)s, n)) {
		errno = EILSEQ;
		return NULL;
	}
	return shmrt__mv_bytes_new(SHMRT_MV_STR, s, n);
}

shmrt_mv_t *shmrt_mv_str(const char *s)
{
	if (!s) {
		errno = EINVAL;
		return NULL;
	}
	return shmrt_mv_strn(s, strlen(s));
}

shmrt_mv_t *shmrt_mv_bytes(const void *p, size_t n)
{
	if (!p && n) {
		errno = EINVAL;
		return NULL;
	}
	return shmrt__mv_bytes_new(SHMRT_MV_BYTES, p, n);
}

shmrt_mv_t *shmrt__mv_list_new(size_t n)
{
	if (n > MV_LIST_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	shmrt_mv_t *v = mv_new(SHMRT_MV_LIST, 0);
	if (!v)
		return NULL;
	v->u.l.items = NULL;
	v->u.l.len = 0;
	v->u.l.cap = 0;
	if (n) {
		v->u.l.items = malloc((n + 1) * sizeof(shmrt_mv_t *));
		if (!v->u.l.items) {
			free(v);
			errno = ENOMEM;
			return NULL;
		}
		v->u.l.cap = (uint32_t)n;
	}
	return v;
}

shmrt_mv_t *shmrt_mv_list(void)
{
	return shmrt__mv_list_new(0);
}

shmrt_mv_t *shmrt_mv_list_cap(size_t n)
{
	return shmrt__mv_list_new(n);
}

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
	return 0;
}

shmrt_mv_t *shmrt__mv_map_new(size_t n)
{
	if (n > MV_MAP_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	shmrt_mv_t *v = mv_new(SHMRT_MV_MAP, sizeof(struct mv_map));
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

/* ---- free --------------------------------------------------------------------------- */

static inline shmrt_mv_t **link_of(shmrt_mv_t *c)
{
	return c->kind == SHMRT_MV_LIST ? &c->u.l.items[c->u.l.cap] : &c->u.m->link;
}

static void free_shallow(shmrt_mv_t *v)
{
	if (v->kind == SHMRT_MV_LIST)
		free(v->u.l.items);
	else if (v->kind == SHMRT_MV_MAP)
		free(v->u.m->e);
	free(v);
}

/* Frees x now if it holds nothing, else pushes it on the work stack. */
static inline void release(shmrt_mv_t *x, shmrt_mv_t **top)
{
	if ((x->kind == SHMRT_MV_LIST && x->u.l.len) || (x->kind == SHMRT_MV_MAP && x->u.m->n)) {
		*link_of(x) = *top;
		*top = x;
	} else {
		free_shallow(x);
	}
}

void shmrt_mv_free(shmrt_mv_t *v)
{
	if (!v)
		return;
	assert(!(v->flags & MV_OWNED));
	shmrt_mv_t *top = NULL;
	release(v, &top);
	while (top) {
		shmrt_mv_t *c = top, *x;
		if (c->kind == SHMRT_MV_LIST && c->u.l.len) {
			x = c->u.l.items[--c->u.l.len];
		} else if (c->kind == SHMRT_MV_MAP && c->u.m->n) {
			struct mv_entry *e = &c->u.m->e[--c->u.m->n];
			if (!e->key)
				continue;
			free_shallow(e->key); /* keys are scalars */
			x = e->val;
		} else {
			top = *link_of(c);
			free_shallow(c);
			continue;
		}
		release(x, &top);
	}
}

/* ---- accessors ---------------------------------------------------------------------- */

shmrt_mv_kind_t shmrt_mv_kind(const shmrt_mv_t *v)
{
	return v ? (shmrt_mv_kind_t)v->kind : SHMRT_MV_NIL;
}

const char *shmrt_mv_kind_name(shmrt_mv_kind_t k)
{
	static const char *names[] = { "nil", "bool", "int", "float", "str",
				       "bytes", "list", "map", "ref" };
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

#define ACCESS(v, out, k)                                                                \
	do {                                                                             \
		if (!(v) || !(out))                                                      \
			return -EINVAL;                                                  \
		if ((v)->kind != (k))                                                    \
			return -EPROTOTYPE;                                              \
	} while (0)

int shmrt_mv_as_bool(const shmrt_mv_t *v, bool *out)
{
	ACCESS(v, out, SHMRT_MV_BOOL);
	*out = v->u.b;
	return 0;
}

int shmrt_mv_as_int(const shmrt_mv_t *v, int64_t *out)
{
	ACCESS(v, out, SHMRT_MV_INT);
	*out = v->u.i;
	return 0;
}

int shmrt_mv_as_float(const shmrt_mv_t *v, double *out)
{
	ACCESS(v, out, SHMRT_MV_FLOAT);
	*out = v->u.f;
	return 0;
}

int shmrt_mv_as_ref(const shmrt_mv_t *v, uint64_t *out)
{
	ACCESS(v, out, SHMRT_MV_REF);
	*out = v->u.ref;
	return 0;
}

int shmrt_mv_as_str(const shmrt_mv_t *v, const char **out, size_t *len)
{
	ACCESS(v, out, SHMRT_MV_STR);
	*out = v->u.s.p;
	if (len)
		*len = v->u.s.n;
	return 0;
}

int shmrt_mv_as_bytes(const shmrt_mv_t *v, const void **out, size_t *len)
{
	ACCESS(v, out, SHMRT_MV_BYTES);
	*out = v->u.s.p;
	if (len)
		*len = v->u.s.n;
	return 0;
}

/* ---- lists -------------------------------------------------------------------------- */

/* Checks that container c may take item; frees item when c is the problem. */
static int take_check(shmrt_mv_t *c, uint8_t kind, shmrt_mv_t *item)
{
	if (!item)
		return -ENOMEM;
	if ((item->flags & MV_OWNED) || item == c)
		return -EINVAL; /* not ours to free */
	if (!c || c->kind != kind) {
		shmrt_mv_free(item);
		return -EINVAL;
	}
	return 0;
}

static int norm_index(int64_t i, uint32_t len, uint32_t *out)
{
	if (i < 0)
		i += len;
	if (i < 0 || i >= (int64_t)len)
		return -ERANGE;
	*out = (uint32_t)i;
	return 0;
}

static int list_grow(shmrt_mv_t *l)
{
	uint32_t cap = l->u.l.cap;
	if (cap == MV_LIST_MAX)
		return -E2BIG;
	uint64_t ncap = cap < 4 ? 4 : (uint64_t)cap * 2;
	if (ncap > MV_LIST_MAX)
		ncap = MV_LIST_MAX;
	shmrt_mv_t **p = realloc(l->u.l.items, (size_t)(ncap + 1) * sizeof(*p));
	if (unlikely(!p))
		return -ENOMEM;
	l->u.l.items = p;
	l->u.l.cap = (uint32_t)ncap;
	return 0;
}

void shmrt__mv_list_push(shmrt_mv_t *l, shmrt_mv_t *item)
{
	assert(l->u.l.len < l->u.l.cap);
	item->flags |= MV_OWNED;
	l->u.l.items[l->u.l.len++] = item;
}

size_t shmrt_mv_list_len(const shmrt_mv_t *l)
{
	return l && l->kind == SHMRT_MV_LIST ? l->u.l.len : 0;
}

shmrt_mv_t *shmrt_mv_list_get(const shmrt_mv_t *l, int64_t index)
{
	uint32_t i;
	if (!l || l->kind != SHMRT_MV_LIST || norm_index(index, l->u.l.len, &i))
		return NULL;
	return l->u.l.items[i];
}

int shmrt_mv_list_insert(shmrt_mv_t *l, int64_t index, shmrt_mv_t *item)
{
	int rc = take_check(l, SHMRT_MV_LIST, item);
	if (rc)
		return rc;
	uint32_t len = l->u.l.len;
	if (len == l->u.l.cap && (rc = list_grow(l))) {
		shmrt_mv_free(item);
		return rc;
	}
	if (index < 0)
		index += len;
	uint32_t i = index < 0 ? 0 : index > (int64_t)len ? len : (uint32_t)index;
	memmove(&l->u.l.items[i + 1], &l->u.l.items[i], (size_t)(len - i) * sizeof(item));
	l->u.l.items[i] = item;
	l->u.l.len = len + 1;
	item->flags |= MV_OWNED;
	return 0;
}

int shmrt_mv_list_append(shmrt_mv_t *l, shmrt_mv_t *item)
{
	int rc = take_check(l, SHMRT_MV_LIST, item);
	if (rc)
		return rc;
	if (l->u.l.len == l->u.l.cap && (rc = list_grow(l))) {
		shmrt_mv_free(item);
		return rc;
	}
	shmrt__mv_list_push(l, item);
	return 0;
}

int shmrt_mv_list_set(shmrt_mv_t *l, int64_t index, shmrt_mv_t *item)
{
	uint32_t i;
	int rc = take_check(l, SHMRT_MV_LIST, item);
	if (rc)
		return rc;
	if ((rc = norm_index(index, l->u.l.len, &i))) {
		shmrt_mv_free(item);
		return rc;
	}
	shmrt_mv_t *old = l->u.l.items[i];
	old->flags &= ~MV_OWNED;
	shmrt_mv_free(old);
	item->flags |= MV_OWNED;
	l->u.l.items[i] = item;
	return 0;
}

int shmrt_mv_list_pop(shmrt_mv_t *l, int64_t index, shmrt_mv_t **out)
{
	uint32_t i;
	if (!l || l->kind != SHMRT_MV_LIST || !out)
		return -EINVAL;
	int rc = norm_index(index, l->u.l.len, &i);
	if (rc)
		return rc;
	shmrt_mv_t *v = l->u.l.items[i];
	l->u.l.len--;
	memmove(&l->u.l.items[i], &l->u.l.items[i + 1], (size_t)(l->u.l.len - i) * sizeof(v));
	v->flags &= ~MV_OWNED;
	*out = v;
	return 0;
}

int shmrt_mv_list_delete(shmrt_mv_t *l, int64_t index)
{
	shmrt_mv_t *v;
	int rc = shmrt_mv_list_pop(l, index, &v);
	if (!rc)
		shmrt_mv_free(v);
	return rc;
}

/* ---- maps --------------------------------------------------------------------------- */

/*
 * Finds key k (hash h) in m: returns its entry's index, or -1 with *ins the slot where
 * it would go (the first dummy on the probe path, else the empty slot ending it).
 */
static int64_t map_find(const struct mv_map *m, const shmrt_mv_t *k, uint64_t h, uint32_t *ins)
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
		if (e->hash == h && (e->key == k || scalar_eq(e->key, k)))
			return ix - 1;
	}
}

/* Entry index of k in m, or -1 (m may be empty, with no arrays). */
static int64_t map_lookup(const struct mv_map *m, const shmrt_mv_t *k)
{
	uint32_t ins;
	if (!m->used)
		return -1;
	return map_find(m, k, key_hash(k), &ins);
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

/* Appends a new entry for a key known to be absent; *ins from map_find, or
 * UINT32_MAX to probe (after a resize the slot moved). */
static int map_insert_new(struct mv_map *m, uint64_t h, shmrt_mv_t *key, shmrt_mv_t *val,
			  uint32_t ins)
{
	if (m->n == m->ecap) {
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
	int64_t at = m->ecap ? map_find(m, key, h, &ins) : -1;
	if (at >= 0) {
		struct mv_entry *e = &m->e[at];
		e->val->flags &= ~MV_OWNED;
		shmrt_mv_free(e->val);
		val->flags |= MV_OWNED;
		e->val = val;
		shmrt_mv_free(key); /* Python keeps the first key */
		return 0;
	}
	int rc = map_insert_new(m, h, key, val, ins);
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
	int rc = take_check(m, SHMRT_MV_MAP, key);
	if (rc) {
		if (val && !(val->flags & MV_OWNED) && val != m)
			shmrt_mv_free(val);
		return rc;
	}
	if ((rc = take_check(m, SHMRT_MV_MAP, val)) || key == val) {
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
	int64_t at = map_find(m, key, h, &ins);
	if (at < 0)
		return -ENOENT;
	while (m->idx[s] != (uint32_t)at + 1) /* the slot that map_find stopped at */
		s = (s + 1) & m->mask;
	m->idx[s] = MV_DUMMY;
	struct mv_entry *e = &m->e[at];
	shmrt_mv_t *k = e->key, *v = e->val;
	e->key = e->val = NULL;
	if (--m->used == 0) {
		m->n = 0; /* empty: start over in place */
		memset(m->idx, 0, ((size_t)m->mask + 1) * sizeof(uint32_t));
	}
	k->flags &= ~MV_OWNED;
	v->flags &= ~MV_OWNED;
	shmrt_mv_free(k);
	*out = v;
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

/* ---- copy and equality -------------------------------------------------------------- */

static shmrt_mv_t *copy_rec(const shmrt_mv_t *v, unsigned depth)
{
	switch (v->kind) {
	case SHMRT_MV_STR:
	case SHMRT_MV_BYTES: return shmrt__mv_bytes_new(v->kind, v->u.s.p, v->u.s.n);
	case SHMRT_MV_LIST: {
		if (depth >= SHMRT_MV_DEPTH_MAX) {
			errno = ELOOP;
			return NULL;
		}
		shmrt_mv_t *l = shmrt__mv_list_new(v->u.l.len);
		if (!l)
			return NULL;
		for (uint32_t i = 0; i < v->u.l.len; i++) {
			shmrt_mv_t *c = copy_rec(v->u.l.items[i], depth + 1);
			if (!c) {
				int e = errno;
				shmrt_mv_free(l);
				errno = e;
				return NULL;
			}
			shmrt__mv_list_push(l, c);
		}
		return l;
	}
	case SHMRT_MV_MAP: {
		if (depth >= SHMRT_MV_DEPTH_MAX) {
			errno = ELOOP;
			return NULL;
		}
		const struct mv_map *m = v->u.m;
		shmrt_mv_t *c = shmrt__mv_map_new(m->used);
		if (!c)
			return NULL;
		for (uint32_t i = 0; i < m->n; i++) {
			const struct mv_entry *e = &m->e[i];
			if (!e->key)
				continue;
			shmrt_mv_t *k = copy_rec(e->key, depth + 1);
			shmrt_mv_t *x = k ? copy_rec(e->val, depth + 1) : NULL;
			if (!x || map_insert_new(c->u.m, e->hash, k, x, UINT32_MAX)) {
				int err = x ? ENOMEM : errno;
				shmrt_mv_free(k);
				shmrt_mv_free(x);
				shmrt_mv_free(c);
				errno = err;
				return NULL;
			}
		}
		return c;
	}
	default: {
		shmrt_mv_t *c = mv_new(v->kind, 0);
		if (c)
			c->u = v->u;
		return c;
	}
	}
}

shmrt_mv_t *shmrt_mv_copy(const shmrt_mv_t *v)
{
	if (!v) {
		errno = EINVAL;
		return NULL;
	}
	return copy_rec(v, 0);
}

static bool equal_rec(const shmrt_mv_t *a, const shmrt_mv_t *b, unsigned depth)
{
	if (a == b)
		return true; /* Python's identity shortcut ([x] == [x] with x = nan) */
	if (a->kind != SHMRT_MV_LIST && a->kind != SHMRT_MV_MAP)
		return scalar_eq(a, b);
	if (a->kind != b->kind || depth >= SHMRT_MV_DEPTH_MAX)
		return false;
	if (a->kind == SHMRT_MV_LIST) {
		if (a->u.l.len != b->u.l.len)
			return false;
		for (uint32_t i = 0; i < a->u.l.len; i++)
			if (!equal_rec(a->u.l.items[i], b->u.l.items[i], depth + 1))
				return false;
		return true;
	}
	const struct mv_map *ma = a->u.m, *mb = b->u.m;
	if (ma->used != mb->used)
		return false;
	for (uint32_t i = 0; i < ma->n; i++) {
		const struct mv_entry *e = &ma->e[i];
		uint32_t ins;
		if (!e->key)
			continue;
		int64_t at = map_find(mb, e->key, e->hash, &ins);
		if (at < 0 || !equal_rec(e->val, mb->e[at].val, depth + 1))
			return false;
	}
	return true;
}

bool shmrt_mv_equal(const shmrt_mv_t *a, const shmrt_mv_t *b)
{
	return a && b && equal_rec(a, b, 0);
}

static bool identical_rec(const shmrt_mv_t *a, const shmrt_mv_t *b, unsigned depth)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case SHMRT_MV_NIL: return true;
	case SHMRT_MV_BOOL: return a->u.b == b->u.b;
	case SHMRT_MV_INT: return a->u.i == b->u.i;
	case SHMRT_MV_REF: return a->u.ref == b->u.ref;
	case SHMRT_MV_FLOAT: return memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0;
	case SHMRT_MV_STR:
	case SHMRT_MV_BYTES: return scalar_eq(a, b);
	case SHMRT_MV_LIST:
		if (a->u.l.len != b->u.l.len || depth >= SHMRT_MV_DEPTH_MAX)
			return false;
		for (uint32_t i = 0; i < a->u.l.len; i++)
			if (!identical_rec(a->u.l.items[i], b->u.l.items[i], depth + 1))
				return false;
		return true;
	default: {
		if (a->u.m->used != b->u.m->used || depth >= SHMRT_MV_DEPTH_MAX)
			return false;
		size_t pa = 0, pb = 0;
		const shmrt_mv_t *ka, *kb;
		shmrt_mv_t *va, *vb;
		while (shmrt_mv_map_next(a, &pa, &ka, &va)) {
			if (!shmrt_mv_map_next(b, &pb, &kb, &vb) ||
			    !identical_rec(ka, kb, depth + 1) || !identical_rec(va, vb, depth + 1))
				return false;
		}
		return true;
	}
	}
}

bool shmrt_mv_identical(const shmrt_mv_t *a, const shmrt_mv_t *b)
{
	return a && b && identical_rec(a, b, 0);
}

/* ---- UTF-8 -------------------------------------------------------------------------- */

int shmrt__utf8_check(const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	while (p < end) {
		/* ASCII runs, eight bytes at a time. */
		while (end - p >= 8) {
			uint64_t w;
			memcpy(&w, p, 8);
			if (w & 0x8080808080808080ull)
				break;
			p += 8;
		}
		if (p == end)
			break;
		uint8_t c = *p;
		if (c < 0x80) {
			p++;
			continue;
		}
		size_t k;
		uint32_t cp, min;
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return -EILSEQ; /* continuation byte, C0/C1 overlong lead, F5..FF */
		}
		if ((size_t)(end - p) <= k)
			return -EILSEQ;
		for (size_t j = 1; j <= k; j++) {
			if ((p[j] & 0xc0) != 0x80)
				return -EILSEQ;
			cp = cp << 6 | (p[j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -EILSEQ;
		p += k + 1;
	}
	return 0;
}
