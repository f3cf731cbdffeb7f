/*
 * The manager's dict and Namespace types: their data is a map (shmrt/mvalue.h),
 * which keeps Python's insertion order and key equality, and each method does what
 * Python's dict method of the same name does, with Python's exceptions as errnos:
 * KeyError and AttributeError are -ENOENT, TypeError (an unhashable key, a wrong
 * argument) is -EINVAL.
 *
 * Arguments arrive as the request's list (checked for live refs by the store); a
 * method takes the values it stores out of it, so nothing is copied twice. Stored
 * refs are counted once stored (map_store), removed values are dropped
 * (shmrt__mstore_drop), results are copies, but for the values pop and popitem take
 * out and return: their refs are handed to the caller's session
 * (shmrt__mstore_hand), as pending references its proxies claim.
 *
 * Namespace is a map whose keys are str (attribute names), with __getattr__,
 * __setattr__, __delattr__ and an atomic incr [name, delta]: Python's `ns.x += 1`
 * through a proxy is a get then a set, which two processes can interleave; incr is
 * one request, and the server runs one at a time.
 *
 * Concurrency: the server's one thread.
 */
#include "manager/server_int.h"
#include "manager/mvalue_int.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define ARGC(c) shmrt_mv_list_len((c)->args)
#define ARG(c, i) shmrt_mv_list_get((c)->args, (i))

/* Takes the first argument out of the list (the next one becomes the first). */
static shmrt_mv_t *take0(shmrt__mcall_t *c)
{
	shmrt_mv_t *v = NULL;
	return shmrt_mv_list_pop(c->args, 0, &v) ? NULL : v;
}

/* Sets the result to v (consumed); -ENOMEM if v is NULL (a failed constructor). */
static int result(shmrt__mcall_t *c, shmrt_mv_t *v)
{
	c->res = v;
	return v ? 0 : -ENOMEM;
}

/*
 * m[key] = val with the store's counts: the old value's refs dropped, the new one's
 * counted once the map took it. Consumes key and val.
 * Returns: 0; -EINVAL unhashable key; -ENOMEM.
 */
static int map_store(shmrt__mstore_t *st, shmrt_mv_t *m, shmrt_mv_t *key, shmrt_mv_t *val)
{
	if (!key || !val || !shmrt__mv_hashable(key)) {
		int rc = key && val ? -EINVAL : -ENOMEM;
		shmrt_mv_free(key);
		shmrt_mv_free(val);
		return rc;
	}
	int rc = shmrt_mv_map_set(m, key, val); /* consumes both, even on failure */
	if (rc)
		return rc;
	shmrt__mstore_refs_adjust(st, val, +1); /* val now lives in m */
	return 0;
}

/* As map_store, where key may be there already: the old value's refs are dropped
 * before the set frees it (replacing an entry never allocates, so it cannot fail
 * after that; an object whose count touched 0 here and is stored again in val
 * survives: the reap checks its count). */
static int store(shmrt__mstore_t *st, shmrt_mv_t *m, shmrt_mv_t *key, shmrt_mv_t *val)
{
	if (key && shmrt__mv_hashable(key)) {
		shmrt_mv_t *old = shmrt_mv_map_get(m, key);
		if (old)
			shmrt__mstore_refs_adjust(st, old, -1);
	}
	return map_store(st, m, key, val);
}

static int d_get(shmrt__mcall_t *c)
{
	size_t n = ARGC(c);
	if (n < 1 || n > 2 || !shmrt__mv_hashable(ARG(c, 0)))
		return -EINVAL;
	shmrt_mv_t *v = shmrt_mv_map_get(c->o->data, ARG(c, 0));
	if (v)
		return result(c, shmrt_mv_copy(v));
	if (n == 2) {
		shmrt_mv_t *d = NULL;
		if (shmrt_mv_list_pop(c->args, 1, &d))
			return -ENOMEM;
		return result(c, d);
	}
	return result(c, shmrt_mv_nil());
}

static int d_getitem(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1 || !shmrt__mv_hashable(ARG(c, 0)))
		return -EINVAL;
	shmrt_mv_t *v = shmrt_mv_map_get(c->o->data, ARG(c, 0));
	return v ? result(c, shmrt_mv_copy(v)) : -ENOENT;
}

static int d_setitem(shmrt__mcall_t *c)
{
	if (ARGC(c) != 2)
		return -EINVAL;
	shmrt_mv_t *k = take0(c);
	return store(c->st, c->o->data, k, take0(c));
}

static int d_delitem(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1 || !shmrt__mv_hashable(ARG(c, 0)))
		return -EINVAL;
	shmrt_mv_t *v;
	int rc = shmrt_mv_map_pop(c->o->data, ARG(c, 0), &v);
	if (rc)
		return rc;
	shmrt__mstore_drop(c->st, v);
	return 0;
}

static int d_contains(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1 || !shmrt__mv_hashable(ARG(c, 0)))
		return -EINVAL;
	return result(c, shmrt_mv_bool(shmrt_mv_map_get(c->o->data, ARG(c, 0)) != NULL));
}

/* keys (0), values (1) or items (2) as a list. */
static int d_view(shmrt__mcall_t *c, int what)
{
	if (ARGC(c) != 0)
		return -EINVAL;
	shmrt_mv_t *l = shmrt_mv_list_cap(shmrt_mv_map_len(c->o->data));
	size_t pos = 0;
	const shmrt_mv_t *k;
	shmrt_mv_t *v;
	int rc = l ? 0 : -ENOMEM;
	while (rc == 0 && shmrt_mv_map_next(c->o->data, &pos, &k, &v)) {
		shmrt_mv_t *item;
		if (what == 0)
			item = shmrt_mv_copy(k);
		else if (what == 1)
			item = shmrt_mv_copy(v);
		else if ((item = shmrt_mv_list_cap(2)) != NULL &&
			 (shmrt_mv_list_append(item, shmrt_mv_copy(k)) ||
			  shmrt_mv_list_append(item, shmrt_mv_copy(v)))) {
			shmrt_mv_free(item);
			item = NULL;
		}
		rc = shmrt_mv_list_append(l, item);
	}
	if (rc) {
		shmrt_mv_free(l);
		return rc;
	}
	return result(c, l);
}

static int d_keys(shmrt__mcall_t *c) { return d_view(c, 0); }
static int d_values(shmrt__mcall_t *c) { return d_view(c, 1); }
static int d_items(shmrt__mcall_t *c) { return d_view(c, 2); }

/* update(map) or update(list of [key, value] pairs), as dict.update. */
static int d_update(shmrt__mcall_t *c)
{
	if (ARGC(c) != 1)
		return -EINVAL;
	shmrt_mv_t *src = ARG(c, 0);
	if (shmrt_mv_kind(src) == SHMRT_MV_MAP) {
		size_t pos = 0;
		const shmrt_mv_t *k;
		shmrt_mv_t *v;
		while (shmrt_mv_map_next(src, &pos, &k, &v)) {
			int rc = store(c->st, c->o->data, shmrt_mv_copy(k), shmrt_mv_copy(v));
			if (rc)
				return rc;
		}
		return 0;
	}
	if (shmrt_mv_kind(src) != SHMRT_MV_LIST)
		return -EINVAL;
	for (size_t i = 0; i < shmrt_mv_list_len(src); i++) /* check all before storing */
		if (shmrt_mv_list_len(shmrt_mv_list_get(src, (int64_t)i)) != 2 ||
		    shmrt_mv_kind(shmrt_mv_list_get(src, (int64_t)i)) != SHMRT_MV_LIST ||
		    !shmrt__mv_hashable(shmrt_mv_list_get(shmrt_mv_list_get(src, (int64_t)i), 0)))
			return -EINVAL;
	for (size_t i = 0; i < shmrt_mv_list_len(src); i++) {
		shmrt_mv_t *p = shmrt_mv_list_get(src, (int64_t)i);
		int rc = store(c->st, c->o->data, shmrt_mv_copy(shmrt_mv_list_get(p, 0)),
			       shmrt_mv_copy(shmrt_mv_list_get(p, 1)));
		if (rc)
			return rc;
	}
	return 0;
}

/* pop [key, default?]: the value leaves the dict; its refs become the caller's
 * pending references (shmrt__mstore_hand), so what it names outlives the call. */
static int d_pop(shmrt__mcall_t *c)
{
	size_t n = ARGC(c);
	if (n < 1 || n > 2 || !shmrt__mv_hashable(ARG(c, 0)))
		return -EINVAL;
	shmrt_mv_t *v = shmrt_mv_map_get(c->o->data, ARG(c, 0));
	if (!v && n == 2) { /* the default: the caller's own value, refs borrowed */
		if (shmrt_mv_list_pop(c->args, 1, &v))
			return -ENOMEM;
		return result(c, v);
	}
	if (!v)
		return -ENOENT;
	int rc = shmrt__mstore_hand(c->st, c->sess, v, true);
	if (rc)
		return rc; /* the dict unchanged */
	rc = shmrt_mv_map_pop(c->o->data, ARG(c, 0), &v);
	assert(rc == 0); /* present */
	(void)rc;
	return result(c, v);
}

/* popitem: the last inserted entry as [key, value] (-ENOENT when empty), its value's
 * refs handed to the caller as pop's are. O(1) amortised (shmrt__mv_map_popitem). */
static int d_popitem(shmrt__mcall_t *c)
{
	if (ARGC(c) != 0)
		return -EINVAL;
	if (shmrt_mv_map_len(c->o->data) == 0)
		return -ENOENT;
	shmrt_mv_t *pair = shmrt_mv_list_cap(2);
	if (!pair)
		return -ENOMEM;
	int rc = shmrt__mstore_hand(c->st, c->sess, shmrt__mv_map_last(c->o->data), true);
	if (rc) {
		shmrt_mv_free(pair);
		return rc; /* the dict unchanged */
	}
	shmrt_mv_t *k, *v;
	rc = shmrt__mv_map_popitem(c->o->data, &k, &v); /* that entry */
	assert(rc == 0);
	(void)rc;
	shmrt__mv_list_push(pair, k);
	shmrt__mv_list_push(pair, v);
	return result(c, pair);
}

static int d_setdefault(shmrt__mcall_t *c)
{
	size_t n = ARGC(c);
	if (n < 1 || n > 2 || !shmrt__mv_hashable(ARG(c, 0)))
		return -EINVAL;
	shmrt_mv_t *v = shmrt_mv_map_get(c->o->data, ARG(c, 0));
	if (v)
		return result(c, shmrt_mv_copy(v));
	shmrt_mv_t *k = take0(c);
	shmrt_mv_t *d = n == 2 ? take0(c) : shmrt_mv_nil();
	shmrt_mv_t *res = d ? shmrt_mv_copy(d) : NULL;
	if (!res) {
		shmrt_mv_free(k);
		shmrt_mv_free(d);
		return -ENOMEM;
	}
	int rc = map_store(c->st, c->o->data, k, d);
	if (rc) {
		shmrt_mv_free(res);
		return rc;
	}
	return result(c, res);
}

static int d_clear(shmrt__mcall_t *c)
{
	if (ARGC(c) != 0)
		return -EINVAL;
	shmrt_mv_t *m = shmrt_mv_map();
	if (!m)
		return -ENOMEM;
	shmrt__mstore_drop(c->st, c->o->data);
	c->o->data = m;
	return 0;
}

static int d_len(shmrt__mcall_t *c)
{
	if (ARGC(c) != 0)
		return -EINVAL;
	return result(c, shmrt_mv_int((int64_t)shmrt_mv_map_len(c->o->data)));
}

/* copy: a snapshot of the whole value (a plain map for dict and Namespace, a list for
 * list), as Python's proxy._getvalue(). */
static int any_copy(shmrt__mcall_t *c)
{
	if (ARGC(c) != 0)
		return -EINVAL;
	return result(c, shmrt_mv_copy(c->o->data));
}

static int map_init(shmrt_mv_t *init, shmrt_mv_t **data)
{
	if (!init) {
		*data = shmrt_mv_map();
		return *data ? 0 : -ENOMEM;
	}
	if (shmrt_mv_kind(init) != SHMRT_MV_MAP) {
		shmrt_mv_free(init);
		return -EINVAL;
	}
	*data = init;
	return 0;
}

static const shmrt__mmethod_t dict_methods[] = {
	{ "get", d_get },
	{ "__getitem__", d_getitem },
	{ "__setitem__", d_setitem },
	{ "__delitem__", d_delitem },
	{ "__contains__", d_contains },
	{ "keys", d_keys },
	{ "values", d_values },
	{ "items", d_items },
	{ "update", d_update },
	{ "pop", d_pop },
	{ "popitem", d_popitem },
	{ "setdefault", d_setdefault },
	{ "clear", d_clear },
	{ "__len__", d_len },
	{ "copy", any_copy },
	{ "__iter__", d_keys },
};

const shmrt__mtype_t shmrt__mtype_dict = {
	.name = "dict",
	.init = map_init,
	.methods = dict_methods,
	.nmethods = sizeof(dict_methods) / sizeof(dict_methods[0]),
};

/* ---- Namespace ------------------------------------------------------------------ */

static int name_arg(shmrt__mcall_t *c, size_t argc)
{
	return ARGC(c) == argc && shmrt_mv_kind(ARG(c, 0)) == SHMRT_MV_STR ? 0 : -EINVAL;
}

static int ns_getattr(shmrt__mcall_t *c)
{
	int rc = name_arg(c, 1);
	return rc ? rc : d_getitem(c);
}

static int ns_setattr(shmrt__mcall_t *c)
{
	int rc = name_arg(c, 2);
	return rc ? rc : d_setitem(c);
}

static int ns_delattr(shmrt__mcall_t *c)
{
	int rc = name_arg(c, 1);
	return rc ? rc : d_delitem(c);
}

/* incr [name, delta]: ns.name += delta in one step; the new value is the result.
 * -ENOENT no such attribute, -EINVAL not a number, -ERANGE an int overflow. */
static int ns_incr(shmrt__mcall_t *c)
{
	int rc = name_arg(c, 2);
	if (rc)
		return rc;
	shmrt_mv_t *v = shmrt_mv_map_get(c->o->data, ARG(c, 0));
	shmrt_mv_t *d = ARG(c, 1);
	if (!v)
		return -ENOENT;
	if (v->kind == SHMRT_MV_INT && d->kind == SHMRT_MV_INT) {
		if (__builtin_add_overflow(v->u.i, d->u.i, &v->u.i))
			return -ERANGE;
		return result(c, shmrt_mv_int(v->u.i));
	}
	double x, y;
	if (v->kind == SHMRT_MV_FLOAT || v->kind == SHMRT_MV_INT)
		x = v->kind == SHMRT_MV_FLOAT ? v->u.f : (double)v->u.i;
	else
		return -EINVAL;
	if (d->kind == SHMRT_MV_FLOAT || d->kind == SHMRT_MV_INT)
		y = d->kind == SHMRT_MV_FLOAT ? d->u.f : (double)d->u.i;
	else
		return -EINVAL;
	shmrt_mv_t *k = take0(c);
	shmrt_mv_t *nv = shmrt_mv_float(x + y);
	shmrt_mv_t *res = shmrt_mv_float(x + y);
	if (!res) {
		shmrt_mv_free(k);
		shmrt_mv_free(nv);
		return -ENOMEM;
	}
	rc = store(c->st, c->o->data, k, nv);
	if (rc) {
		shmrt_mv_free(res);
		return rc;
	}
	return result(c, res);
}

static int ns_init(shmrt_mv_t *init, shmrt_mv_t **data)
{
	if (init && shmrt_mv_kind(init) == SHMRT_MV_MAP) {
		size_t pos = 0;
		const shmrt_mv_t *k;
		while (shmrt_mv_map_next(init, &pos, &k, NULL))
			if (shmrt_mv_kind(k) != SHMRT_MV_STR) {
				shmrt_mv_free(init);
				return -EINVAL;
			}
	}
	return map_init(init, data);
}

static const shmrt__mmethod_t ns_methods[] = {
	{ "__getattr__", ns_getattr },
	{ "__setattr__", ns_setattr },
	{ "__delattr__", ns_delattr },
	{ "incr", ns_incr },
	{ "copy", any_copy },
};

const shmrt__mtype_t shmrt__mtype_namespace = {
	.name = "Namespace",
	.init = ns_init,
	.methods = ns_methods,
	.nmethods = sizeof(ns_methods) / sizeof(ns_methods[0]),
};
