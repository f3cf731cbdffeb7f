/*
 * Manager values: deep copy and the two comparisons (shmrt/mvalue.h).
 *
 * shmrt_mv_equal is Python's ==: scalars as map keys compare (1 == 1.0 == True, str
 * never equal to bytes, nan unequal to itself), lists item by item, maps as sets of
 * keys with equal values, insertion order ignored; a value is equal to itself (the
 * identity shortcut that makes [x] == [x] true with x = nan, as in CPython).
 * shmrt_mv_identical is stricter, for tests and round trips: same kinds, floats by
 * their bits, maps in the same order.
 *
 * A copy keeps a map's entry order and its keys' hashes (the entries are appended
 * as they are, without a lookup: the keys are known distinct).
 *
 * Recursion: copy and the comparisons recurse, one level per nesting level, and stop
 * at SHMRT_MV_DEPTH_MAX (a copy fails with ELOOP, a comparison answers false), so the
 * C stack they take is bounded.
 *
 * Memory ordering: none; nothing here is shared between processes.
 */
#include "mvalue_int.h"
#include "mvalue_tree_int.h"

#include <errno.h>
#include <string.h>

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
			if (!x || shmrt__mv_map_insert_new(c->u.m, e->hash, k, x, UINT32_MAX)) {
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
		shmrt_mv_t *c = shmrt__mv_new(v->kind, 0);
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
		return shmrt__mv_scalar_eq(a, b);
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
		int64_t at = shmrt__mv_map_find(mb, e->key, e->hash, &ins);
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
	case SHMRT_MV_BYTES: return shmrt__mv_scalar_eq(a, b);
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
