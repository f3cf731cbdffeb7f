/*
 * User-registered types (shmrt/mtype.h): C tables of a name, a constructor, a
 * destructor and methods, given to the server in its options and served as the
 * built-in types are.
 *
 * Registration. shmrt__mstore_set_types checks the tables (shmrt__mutypes_check:
 * names, limits, no built-in or reserved name, nothing twice) and wraps each in a
 * shmrt__mutype_t: an internal type (shmrt__mtype_t, first, so that o->type points
 * at it) whose init and fini are this file's, and the user's table. An object's
 * o->priv is the user's state and its o->data stays NULL: it holds no value and no
 * refs (the state is opaque and must hold none), so the store's reference counting
 * and reaping never look into it. fini calls the destructor; the store calls fini
 * once for every object whose construction succeeded, when it is reaped or when the
 * store ends, which makes the destructor's "exactly once".
 *
 * Calls. The store runs a call on a user object through shmrt__mutype_call: the
 * method is found by name in the user's table and called with a context, the state
 * and the argument list. Its result is checked as untrusted: a value that belongs to
 * a container is refused (not freed: its owner frees it), and its refs must name
 * live objects.
 *
 * Objects made by a method (Python's method_to_typeid). shmrt_mtype_create makes the
 * object through the store's own create, with one reference for the calling session,
 * and records its id in the context. When the method returns, each object it made
 * and returned in its result is marked in the session's pending map: the session's
 * next incref of it (the client's shmrt_manager_proxy) claims that reference rather
 * than adding one, so the client holds exactly one reference per proxy, as after a
 * create, and the proxy's release destroys the object; unclaimed, the reference goes
 * with the session. Objects it made but did not return, and every one it made when
 * the call fails, are released at once (the reaping after the request destroys
 * them), so a failed or careless method leaks nothing.
 *
 * Concurrency: the server's one thread (registration before it serves).
 */
#include "manager/server_int.h"
#include "manager/mvalue_int.h"

#include <shmrt/mtype.h>

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct shmrt__mutype {
	shmrt__mtype_t t; /* first: o->type points here */
	const shmrt_mtype_t *u;
} shmrt__mutype_t;

struct shmrt_mtype_ctx {
	shmrt__mstore_t *st;
	shmrt__msess_t *sess;
	shmrt__mobj_t *o;
	uint64_t *made; /* ids of the objects this call created */
	size_t nmade, capmade;
};

/* ---- the internal type's hooks ---------------------------------------------------- */

/* A user object holds no value: init is dropped (the constructor has read it). */
static int ut_init(shmrt_mv_t *init, shmrt_mv_t **data)
{
	shmrt_mv_free(init);
	*data = NULL;
	return 0;
}

static void ut_fini(shmrt__mstore_t *st, shmrt__mobj_t *o)
{
	(void)st;
	const shmrt_mtype_t *u = ((const shmrt__mutype_t *)o->type)->u;
	if (u->fini)
		u->fini(o->priv);
	o->priv = NULL;
}

/* The user table of t, or NULL for a built-in type. Concurrency: any thread. */
const shmrt_mtype_t *shmrt__mutype_of(const shmrt__mtype_t *t)
{
	return t->init == ut_init ? ((const shmrt__mutype_t *)t)->u : NULL;
}

/*
 * The user constructor of t for init (NULL: none).
 * Returns: 0; -EINVAL (an init for a type without constructor); the constructor's
 * error (one that is no errno, positive or below -4095, is a bug: -EINVAL).
 * Concurrency: server thread.
 */
int shmrt__mutype_construct(const shmrt__mtype_t *t, const shmrt_mv_t *init, void **priv)
{
	const shmrt_mtype_t *u = shmrt__mutype_of(t);
	assert(u);
	*priv = NULL;
	if (!u->init)
		return init ? -EINVAL : 0;
	void *state = NULL;
	int rc = u->init(init, &state);
	if (rc > 0 || rc < -4095)
		rc = -EINVAL; /* not an errno: a bug in the constructor */
	if (rc == 0)
		*priv = state;
	return rc;
}

/* ---- registration ----------------------------------------------------------------- */

/* 1..SHMRT_MTYPE_NAME_MAX bytes of UTF-8 without ASCII control characters (they
 * would garble `shmrt manager ls`). */
static int name_ok(const char *name)
{
	if (!name)
		return 0;
	size_t n = strlen(name);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	return n >= 1 && n <= SHMRT_MTYPE_NAME_MAX &&
	       shmrt__utf8_check((const uint8_t *)name, n) == 0;
}

static int type_ok(const shmrt_mtype_t *u)
{
	if (!u || !name_ok(u->name) || shmrt__mtype_reserved(u->name))
		return 0;
	if (u->nmethods > SHMRT_MTYPE_METHODS_MAX || (u->nmethods && !u->methods))
		return 0;
	for (size_t i = 0; i < u->nmethods; i++) {
		if (!name_ok(u->methods[i].name) || !u->methods[i].fn)
			return 0;
		for (size_t j = 0; j < i; j++) /* at most 256^2/2 compares, once */
			if (!strcmp(u->methods[i].name, u->methods[j].name))
				return 0;
	}
	return 1;
}

/* Checks a table of user types. Returns: 0; -EINVAL. Concurrency: any thread. */
int shmrt__mutypes_check(const shmrt_mtype_t *const *types, size_t n)
{
	if (n == 0)
		return 0;
	if (!types || n > SHMRT_MTYPE_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!type_ok(types[i]))
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(types[i]->name, types[j]->name))
				return -EINVAL;
	}
	return 0;
}

/*
 * Registers the user types in st. Returns: 0; -EINVAL; -ENOMEM.
 * Concurrency: before the server serves.
 */
int shmrt__mstore_set_types(shmrt__mstore_t *st, const shmrt_mtype_t *const *types, size_t n)
{
	int rc = shmrt__mutypes_check(types, n);
	if (rc || n == 0)
		return rc;
	shmrt__mutype_t *v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i].t.name = types[i]->name;
		v[i].t.init = ut_init;
		v[i].t.fini = ut_fini;
		v[i].u = types[i];
	}
	free(st->utypes);
	st->utypes = v;
	st->nutypes = n;
	return 0;
}

/* The registered type named name, or NULL. Concurrency: server thread. */
const shmrt__mtype_t *shmrt__mutype_find(const shmrt__mstore_t *st, const char *name)
{
	for (size_t i = 0; i < st->nutypes; i++)
		if (!strcmp(st->utypes[i].t.name, name))
			return &st->utypes[i].t;
	return NULL;
}

/* ---- calls -------------------------------------------------------------------------- */

/* Whether the tree v holds a ref to id (trees passed refs_check: bounded depth). */
static int holds_ref(const shmrt_mv_t *v, uint64_t id)
{
	switch (shmrt_mv_kind(v)) {
	case SHMRT_MV_REF:
		return v->u.ref == id;
	case SHMRT_MV_LIST:
		for (uint32_t i = 0; i < v->u.l.len; i++)
			if (holds_ref(v->u.l.items[i], id))
				return 1;
		return 0;
	case SHMRT_MV_MAP: {
		size_t pos = 0;
		shmrt_mv_t *val;
		while (shmrt_mv_map_next(v, &pos, NULL, &val))
			if (holds_ref(val, id))
				return 1;
		return 0;
	}
	default:
		return 0;
	}
}

/* After the method: marks the made objects res returns as the session's unclaimed
 * references and releases the others; with ok false (or on -ENOMEM) releases all.
 * Returns 0 or -ENOMEM. */
static int settle(shmrt_mtype_ctx_t *ctx, const shmrt_mv_t *res, int ok)
{
	size_t marked = 0;
	int rc = 0;
	for (size_t i = 0; ok && i < ctx->nmade; i++) {
		if (!res || !holds_ref(res, ctx->made[i]))
			continue;
		/* a new id: the session holds no other pending reference to it */
		rc = shmrt__idmap_put(&ctx->sess->pending, ctx->made[i], 1);
		if (rc)
			break;
		marked = i + 1;
	}
	if (rc) /* undo: nothing returned survives a failed call */
		for (size_t i = 0; i < marked; i++)
			(void)shmrt__idmap_del(&ctx->sess->pending, ctx->made[i]);
	for (size_t i = 0; i < ctx->nmade; i++)
		if (!ok || rc || !shmrt__idmap_find(&ctx->sess->pending, ctx->made[i]))
			(void)shmrt__mstore_release(ctx->st, ctx->sess, ctx->made[i]);
	return rc;
}

/*
 * Calls method name of the user object o.
 * Returns: 0 and *res; -ENOENT (no such method); the method's error; -EINVAL,
 * -ENOENT, -ESTALE, -ELOOP (its result); -ENOMEM. Concurrency: server thread.
 */
int shmrt__mutype_call(shmrt__mstore_t *st, shmrt__msess_t *sess, shmrt__mobj_t *o,
		       const char *name, shmrt_mv_t *args, shmrt_mv_t **res)
{
	const shmrt_mtype_t *u = shmrt__mutype_of(o->type);
	assert(u);
	const shmrt_mtype_method_t *m = NULL;
	for (size_t i = 0; i < u->nmethods && !m; i++)
		if (!strcmp(u->methods[i].name, name))
			m = &u->methods[i];
	if (!m)
		return -ENOENT;
	shmrt_mtype_ctx_t ctx = { .st = st, .sess = sess, .o = o };
	shmrt_mv_t *r = NULL;
	int rc = m->fn(&ctx, o->priv, args, &r);
	if (rc > 0 || rc < -4095)
		rc = -EINVAL; /* not an errno: a bug in the method */
	if (r && (r->flags & MV_OWNED)) {
		r = NULL; /* a borrowed value (an item of args): its container frees it */
		if (rc == 0)
			rc = -EINVAL;
	}
	if (rc == 0)
		rc = shmrt__mstore_refs_check(st, r);
	int e = settle(&ctx, r, rc == 0);
	if (rc == 0)
		rc = e;
	free(ctx.made);
	if (rc) {
		shmrt_mv_free(r);
		return rc;
	}
	*res = r;
	return 0;
}

/*
 * Creates an object for the calling session from inside a method (shmrt/mtype.h).
 * Returns: 0 and *ref; -EINVAL; -ENOENT; -ENOSPC; -ENOMEM; a constructor's error;
 * -ESTALE. Concurrency: inside a method.
 */
int shmrt_mtype_create(shmrt_mtype_ctx_t *ctx, const char *type_name, shmrt_mv_t *init,
		       shmrt_mv_t **ref)
{
	if (!ctx || !type_name || !ref) {
		shmrt_mv_free(init);
		return -EINVAL;
	}
	const shmrt__mtype_t *t = shmrt__mstore_type(ctx->st, type_name, strlen(type_name));
	if (!t) {
		shmrt_mv_free(init);
		return -ENOENT;
	}
	if (ctx->nmade == ctx->capmade) {
		size_t cap = ctx->capmade ? ctx->capmade * 2 : 4;
		uint64_t *v = realloc(ctx->made, cap * sizeof(*v));
		if (!v) {
			shmrt_mv_free(init);
			return -ENOMEM;
		}
		ctx->made = v;
		ctx->capmade = cap;
	}
	shmrt_mv_t *r = shmrt_mv_ref(0); /* made first: nothing to undo if it fails */
	if (!r) {
		shmrt_mv_free(init);
		return -ENOMEM;
	}
	uint64_t id;
	int rc = shmrt__mstore_create(ctx->st, ctx->sess, t, init, &id);
	if (rc) {
		shmrt_mv_free(r);
		return rc;
	}
	r->u.ref = id;
	ctx->made[ctx->nmade++] = id;
	*ref = r;
	return 0;
}

/* The id of the method's object. Concurrency: inside a method. */
uint64_t shmrt_mtype_self(const shmrt_mtype_ctx_t *ctx)
{
	return ctx ? ctx->o->id : 0;
}
