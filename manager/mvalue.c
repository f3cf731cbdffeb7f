/*
 * Manager values: the tree (shmrt/mvalue.h). Constructors, accessors, lists, free,
 * and the UTF-8 check of str values. Maps, with the hash and the key equality they
 * rest on, are in mvalue_map.c; copy and equality in mvalue_copy.c; the codec in
 * mvalue_codec.c, repr in mvalue_repr.c. Layout of values and maps: mvalue_int.h.
 *
 * Ownership is single (each value has one owner) and recorded in one flag bit,
 * MV_OWNED, set when a container takes a value and cleared when pop hands it back:
 * that is how a value already held somewhere is refused instead of being owned
 * twice (shmrt__mv_take_check, mvalue_tree_int.h, for lists and maps alike).
 *
 * Growth: lists grow by doubling (at least 4 slots), up to MV_LIST_MAX items.
 *
 * Recursion: free walks any depth with a stack linked through the containers
 * themselves (a list's spare slot, a map's link field): it needs no memory and no
 * recursion, so a value nested deeper than SHMRT_MV_DEPTH_MAX (which the decoder
 * refuses, but a program may build) is still freed.
 *
 * Memory ordering: none; nothing here is shared between processes.
 */
#define _GNU_SOURCE
#include "mvalue_int.h"
#include "mvalue_tree_int.h"
#include "base/compiler.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- constructors ------------------------------------------------------------------- */

shmrt_mv_t *shmrt_mv_nil(void)
{
	return shmrt__mv_new(SHMRT_MV_NIL, 0);
}

shmrt_mv_t *shmrt_mv_bool(bool b)
{
	shmrt_mv_t *v = shmrt__mv_new(SHMRT_MV_BOOL, 0);
	if (v)
		v->u.b = b;
	return v;
}

shmrt_mv_t *shmrt_mv_int(int64_t i)
{
	shmrt_mv_t *v = shmrt__mv_new(SHMRT_MV_INT, 0);
	if (v)
		v->u.i = i;
	return v;
}

shmrt_mv_t *shmrt_mv_float(double d)
{
	shmrt_mv_t *v = shmrt__mv_new(SHMRT_MV_FLOAT, 0);
	if (v)
		v->u.f = d;
	return v;
}

shmrt_mv_t *shmrt_mv_ref(uint64_t id)
{
	shmrt_mv_t *v = shmrt__mv_new(SHMRT_MV_REF, 0);
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
	shmrt_mv_t *v = shmrt__mv_new(kind, n + 1);
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
	shmrt_mv_t *v = shmrt__mv_new(SHMRT_MV_LIST, 0);
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
	int rc = shmrt__mv_take_check(l, SHMRT_MV_LIST, item);
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
	int rc = shmrt__mv_take_check(l, SHMRT_MV_LIST, item);
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
	int rc = shmrt__mv_take_check(l, SHMRT_MV_LIST, item);
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
