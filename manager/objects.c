/*
 * The manager's objects: the table of live objects, their reference counts, the
 * sessions' references, and the requests (docs/DESIGN.md 8b) run against them.
 *
 * Ids. An object's id is epoch << 48 | n: the epoch is drawn at random (1..65535)
 * when the store starts, n counts from 1 and is never reused, so a ref from an
 * earlier server (another epoch) is -ESTALE and one from this server that names a
 * destroyed object is -ENOENT: no ref ever reaches an object it was not made for
 * (but for the one chance in 65535 that a restarted server draws the same epoch).
 *
 * References. obj->refs = the sum of the sessions' counts for it + the number of ref
 * values inside other objects' data. A create or an incref adds one for the session
 * (its idmap id -> count), a release takes one back, a session's end takes back all
 * of its own. Methods that store a value count its refs once stored (after the
 * container took it, so a failed store needs no undo) and drop the refs of what they
 * remove (shmrt__mstore_drop) before freeing it. At zero the object goes on the dead
 * list; shmrt__mstore_reap, run after each request and each session's end, destroys
 * it and drops the refs its data held, which may kill more (the loop is iterative, so
 * a long chain of containers does not recurse). Cycles (a dict holding itself) are
 * never collected; Python's manager leaks them too.
 *
 * Results are copies of the stored values; refs in them are borrowed (the client
 * takes a reference with incref if it keeps one). A value a call takes out of its
 * object and returns (a pop, a Queue's get) is no copy: its refs become pending
 * references of the caller's session (shmrt__mstore_hand, manager/objects_hand.c),
 * claimed by the client's incref, so nothing it names dies on the way.
 *
 * Parked calls (manager/park.c). A method that returns SHMRT__MPARKED has no reply
 * now: shmrt__mstore_request returns a NULL reply and the answer goes out later.
 * A session's end drops its parked calls (telling their types: a Barrier breaks),
 * then lets each object the session holds hand it on (a Lock: -EOWNERDEAD to the
 * next holder), then drops its references. What a session holds is on its own list
 * (shmrt__mhold_t, embedded in the held object's state, so holding allocates
 * nothing), so a session's end costs what it holds and references, never a walk
 * over every object.
 * An object destroyed with waiters (their sessions held no reference to it) answers
 * them -ENOENT.
 *
 * Concurrency: the server's one thread.
 */
#define _GNU_SOURCE
#include "manager/server_int.h"
#include "manager/mvalue_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* ---- the store ------------------------------------------------------------------ */

/*
 * Initialises st; epoch_or_0 forces the epoch (tests).
 * Returns: 0; the errno of getrandom. Concurrency: st is the caller's.
 */
int shmrt__mstore_init(shmrt__mstore_t *st, uint16_t epoch_or_0)
{
	memset(st, 0, sizeof(*st));
	uint16_t e = epoch_or_0;
	while (!e)
		if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e))
			return errno ? -errno : -EIO;
	st->epoch = e;
	st->next = 1;
	return 0;
}

/* Destroys every object (refs between them included). Concurrency: server thread. */
void shmrt__mstore_fini(shmrt__mstore_t *st)
{
	for (size_t i = 0; i < st->objs.cap; i++) {
		if (!st->objs.keys[i])
			continue;
		shmrt__mobj_t *o = (shmrt__mobj_t *)st->objs.vals[i];
		assert(!o->wq[0][0] && !o->wq[1][0] && !o->wq[2][0]); /* sessions ended */
		if (o->type->fini)
			o->type->fini(st, o);
		shmrt_mv_free(o->data);
		free(o);
	}
	shmrt__idmap_fini(&st->objs);
	free(st->utypes); /* after the destructors, which it points to */
	st->utypes = NULL;
	st->nutypes = 0;
	shmrt__remote_detach(st); /* after the handles that point into its regions */
	free(st->heap);
	st->heap = NULL;
	st->nheap = st->capheap = 0;
	st->dead = NULL;
}

/*
 * The object id names.
 * Returns: 0 and *out; -ESTALE another epoch; -ENOENT. Concurrency: server thread.
 */
int shmrt__mstore_lookup(shmrt__mstore_t *st, uint64_t id, shmrt__mobj_t **out)
{
	if ((id >> SHMRT__MID_EPOCH_SHIFT) != st->epoch)
		return -ESTALE;
	uintptr_t *p = shmrt__idmap_find(&st->objs, id);
	if (!p)
		return -ENOENT;
	*out = (shmrt__mobj_t *)*p;
	return 0;
}

static int refs_check(shmrt__mstore_t *st, const shmrt_mv_t *v, unsigned depth)
{
	shmrt__mobj_t *o;
	if (depth > SHMRT_MV_DEPTH_MAX)
		return -ELOOP;
	switch (v->kind) {
	case SHMRT_MV_REF:
		return shmrt__mstore_lookup(st, v->u.ref, &o);
	case SHMRT_MV_LIST:
		for (uint32_t i = 0; i < v->u.l.len; i++) {
			int rc = refs_check(st, v->u.l.items[i], depth + 1);
			if (rc)
				return rc;
		}
		return 0;
	case SHMRT_MV_MAP: {
		size_t pos = 0;
		shmrt_mv_t *val;
		while (shmrt_mv_map_next(v, &pos, NULL, &val)) {
			int rc = refs_check(st, val, depth + 1);
			if (rc)
				return rc;
		}
		return 0;
	}
	default:
		return 0;
	}
}

/* Every ref in v is live. Returns: 0, -ESTALE, -ENOENT, -ELOOP. Concurrency: server. */
int shmrt__mstore_refs_check(shmrt__mstore_t *st, const shmrt_mv_t *v)
{
	return v ? refs_check(st, v, 0) : 0;
}

static void obj_decref(shmrt__mstore_t *st, shmrt__mobj_t *o, uint64_t n)
{
	assert(o->refs >= n);
	o->refs -= n;
	if (o->refs == 0 && !o->on_dead) {
		o->on_dead = 1;
		o->next_dead = st->dead;
		st->dead = o;
	}
}

/* Trees stored in objects passed refs_check, so they are no deeper than its cap. */
static void refs_adjust(shmrt__mstore_t *st, const shmrt_mv_t *v, int delta)
{
	shmrt__mobj_t *o;
	switch (v->kind) {
	case SHMRT_MV_REF:
		if (shmrt__mstore_lookup(st, v->u.ref, &o) != 0) {
			assert(!"a stored ref names no live object");
			return;
		}
		if (delta > 0)
			o->refs++;
		else
			obj_decref(st, o, 1);
		return;
	case SHMRT_MV_LIST:
		for (uint32_t i = 0; i < v->u.l.len; i++)
			refs_adjust(st, v->u.l.items[i], delta);
		return;
	case SHMRT_MV_MAP: {
		size_t pos = 0;
		shmrt_mv_t *val;
		while (shmrt_mv_map_next(v, &pos, NULL, &val))
			refs_adjust(st, val, delta);
		return;
	}
	default:
		return;
	}
}

/* Adds delta to the count of every object v refers to. Concurrency: server thread. */
void shmrt__mstore_refs_adjust(shmrt__mstore_t *st, const shmrt_mv_t *v, int delta)
{
	if (v)
		refs_adjust(st, v, delta);
}

/* Drops v's refs and frees it. Concurrency: server thread. */
void shmrt__mstore_drop(shmrt__mstore_t *st, shmrt_mv_t *v)
{
	if (!v)
		return;
	refs_adjust(st, v, -1);
	shmrt_mv_free(v);
}

/* Destroys the dead objects, and those that die with them. Concurrency: server. */
void shmrt__mstore_reap(shmrt__mstore_t *st)
{
	while (st->dead) {
		shmrt__mobj_t *o = st->dead;
		st->dead = o->next_dead;
		o->on_dead = 0;
		if (o->refs)
			continue; /* a ref to it was stored again after its count touched 0 */
		(void)shmrt__idmap_del(&st->objs, o->id);
		shmrt__mwait_drop_object(st, o);
		if (o->type->fini)
			o->type->fini(st, o);
		shmrt__mstore_drop(st, o->data);
		free(o);
	}
}

/* Links h for o on sess's list of holds. Concurrency: server thread. */
void shmrt__mhold_link(shmrt__mhold_t *h, shmrt__msess_t *sess, shmrt__mobj_t *o)
{
	assert(!h->sess && o->type->sess_end);
	h->sess = sess;
	h->o = o;
	h->prev = NULL;
	h->next = sess->held;
	if (h->next)
		h->next->prev = h;
	sess->held = h;
}

/* Unlinks h if linked. Concurrency: server thread. */
void shmrt__mhold_unlink(shmrt__mhold_t *h)
{
	if (!h->sess)
		return;
	if (h->prev)
		h->prev->next = h->next;
	else
		h->sess->held = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->sess = NULL;
	h->prev = h->next = NULL;
}

/* Starts a session. Concurrency: server thread. */
void shmrt__mstore_session_start(shmrt__mstore_t *st, shmrt__msess_t *sess, void *user)
{
	memset(sess, 0, sizeof(*sess));
	sess->id = ++st->next_sess;
	sess->user = user;
}

/*
 * Ends a session: its parked calls are dropped, the sync objects hand on what it
 * held, its references are dropped and its map freed. Concurrency: server thread.
 */
void shmrt__mstore_session_end(shmrt__mstore_t *st, shmrt__msess_t *sess)
{
	shmrt__mwait_drop_session(st, sess);
	while (sess->held) {
		shmrt__mhold_t *h = sess->held;
		h->o->type->sess_end(st, h->o, sess);
		assert(sess->held != h); /* the hook unlinked it */
		if (sess->held == h)
			shmrt__mhold_unlink(h);
	}
	for (size_t i = 0; i < sess->refs.cap; i++) {
		shmrt__mobj_t *o;
		if (sess->refs.keys[i] && shmrt__mstore_lookup(st, sess->refs.keys[i], &o) == 0)
			obj_decref(st, o, sess->refs.vals[i]);
	}
	shmrt__idmap_fini(&sess->refs);
	shmrt__idmap_fini(&sess->pending);
	shmrt__mstore_reap(st);
}

/* ---- requests ------------------------------------------------------------------- */

static const shmrt__mtype_t *const types[] = {
	&shmrt__mtype_dict,      &shmrt__mtype_list,       &shmrt__mtype_namespace,
	&shmrt__mtype_lock,      &shmrt__mtype_rlock,      &shmrt__mtype_semaphore,
	&shmrt__mtype_bsemaphore, &shmrt__mtype_event,     &shmrt__mtype_queue,
	&shmrt__mtype_jqueue,
	&shmrt__mtype_condition,
	&shmrt__mtype_barrier,
	&shmrt__mtype_value,     &shmrt__mtype_array,
};

/* The names Python's SyncManager registers that are not built-in types yet: kept
 * from user types, so that adding one never changes what a program's name means. */
static const char *const reserved[] = {
	"Condition", "Barrier", "Value", "Array", "Pool", "AsyncResult", "Iterator",
};

/* Whether name is a built-in type's or reserved. Concurrency: any thread. */
int shmrt__mtype_reserved(const char *name)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(types[i]->name, name))
			return 1;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcmp(reserved[i], name))
			return 1;
	return 0;
}

/* The built-in or registered type named name (n bytes; a name with a NUL in it
 * names none), or NULL. Concurrency: server thread. */
const shmrt__mtype_t *shmrt__mstore_type(const shmrt__mstore_t *st, const char *name, size_t n)
{
	if (strlen(name) != n)
		return NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(types[i]->name, name))
			return types[i];
	return shmrt__mutype_find(st, name);
}

/* Takes args[i] out, or NULL. */
static shmrt_mv_t *take(shmrt_mv_t *args, int64_t i)
{
	shmrt_mv_t *v = NULL;
	return shmrt_mv_list_pop(args, i, &v) ? NULL : v;
}

static int sess_add(shmrt__idmap_t *sess, uint64_t id)
{
	uintptr_t *p = shmrt__idmap_find(sess, id);
	if (p) {
		(*p)++;
		return 0;
	}
	return shmrt__idmap_put(sess, id, 1);
}

/*
 * Creates an object of type t with one reference for sess.
 * Returns: 0 and *id; -EINVAL, -ESTALE, -ENOENT, -ENOSPC, -ENOMEM, a user
 * constructor's error. Concurrency: server thread.
 */
int shmrt__mstore_create(shmrt__mstore_t *st, shmrt__msess_t *sess, const shmrt__mtype_t *t,
			 shmrt_mv_t *init, uint64_t *out)
{
	if (init && init->kind == SHMRT_MV_NIL) {
		shmrt_mv_free(init);
		init = NULL;
	}
	int rc = shmrt__mstore_refs_check(st, init);
	if (rc == 0 && t->check_init)
		rc = t->check_init(st, init);
	if (rc) {
		shmrt_mv_free(init);
		return rc;
	}
	if ((st->next >> SHMRT__MID_EPOCH_SHIFT) != 0) {
		shmrt_mv_free(init);
		return -ENOSPC; /* 2^48 objects made: the ids are never reused */
	}
	shmrt__mobj_t *o = calloc(1, sizeof(*o));
	uint64_t id = st->epoch << SHMRT__MID_EPOCH_SHIFT | st->next;
	if (!o) {
		shmrt_mv_free(init);
		return -ENOMEM;
	}
	if (shmrt__mutype_of(t))
		rc = shmrt__mutype_construct(t, init, &o->priv);
	else
		rc = t->init_priv ? t->init_priv(init, &o->priv) : 0;
	if (rc) {
		free(o);
		shmrt_mv_free(init);
		return rc;
	}
	rc = t->init(init, &o->data); /* consumes init */
	if (rc == 0) {
		rc = shmrt__idmap_put(&st->objs, id, (uintptr_t)o);
		if (rc == 0 && (rc = sess_add(&sess->refs, id)) != 0)
			(void)shmrt__idmap_del(&st->objs, id);
	}
	if (rc) {
		o->type = t;
		if (t->fini)
			t->fini(st, o);
		shmrt_mv_free(o->data);
		free(o);
		return rc;
	}
	st->next++;
	o->id = id;
	o->type = t;
	o->refs = 1;
	shmrt__mstore_refs_adjust(st, o->data, +1);
	*out = id;
	return 0;
}

static int op_create(shmrt__mstore_t *st, shmrt__msess_t *sess, shmrt_mv_t *args,
		     shmrt_mv_t **res)
{
	const char *tname;
	size_t n = shmrt_mv_list_len(args), tlen;
	if (n < 1 || n > 2 || shmrt_mv_as_str(shmrt_mv_list_get(args, 0), &tname, &tlen))
		return -EINVAL;
	const shmrt__mtype_t *t = shmrt__mstore_type(st, tname, tlen);
	if (!t)
		return -ENOENT;
	shmrt_mv_t *ref = shmrt_mv_ref(0); /* made first: nothing to undo if it fails */
	if (!ref)
		return -ENOMEM;
	uint64_t id;
	int rc = shmrt__mstore_create(st, sess, t, n == 2 ? take(args, 1) : NULL, &id);
	if (rc) {
		shmrt_mv_free(ref);
		return rc;
	}
	ref->u.ref = id;
	*res = ref;
	return 0;
}

static int call_obj(shmrt__mstore_t *st, shmrt__msess_t *sess, int64_t req_id, uint64_t id,
		    const char *name, shmrt_mv_t *args, shmrt_mv_t **res);

static int op_call(shmrt__mstore_t *st, shmrt__msess_t *sess, int64_t req_id,
		   shmrt_mv_t *args, shmrt_mv_t **res)
{
	uint64_t id;
	const char *name;
	if (shmrt_mv_list_len(args) != 3 || shmrt_mv_as_ref(shmrt_mv_list_get(args, 0), &id) ||
	    shmrt_mv_as_str(shmrt_mv_list_get(args, 1), &name, NULL) ||
	    shmrt_mv_kind(shmrt_mv_list_get(args, 2)) != SHMRT_MV_LIST)
		return -EINVAL;
	return call_obj(st, sess, req_id, id, name, shmrt_mv_list_get(args, 2), res);
}

int shmrt__mstore_call(shmrt__mstore_t *st, shmrt__msess_t *sess, int64_t req_id, uint64_t id,
		       const char *name, shmrt_mv_t *args, int *rrc, shmrt_mv_t **res)
{
	shmrt_mv_t *r = NULL;
	args->flags |= MV_OWNED; /* an item of the request, as in shmrt__mstore_request */
	int rc = call_obj(st, sess, req_id, id, name, args, &r);
	args->flags &= (uint8_t)~MV_OWNED;
	shmrt_mv_free(args);
	shmrt__mstore_reap(st);
	if (rc == SHMRT__MPARKED)
		return rc;
	if (rc) {
		shmrt_mv_free(r);
		r = NULL;
	}
	*rrc = rc;
	*res = r;
	return 0;
}

/* "call [ref, name, args]" once its parts are read: id names the object, args (a
 * list, borrowed) the method's arguments. Returns op_call's. */
static int call_obj(shmrt__mstore_t *st, shmrt__msess_t *sess, int64_t req_id, uint64_t id,
		    const char *name, shmrt_mv_t *args, shmrt_mv_t **res)
{
	shmrt__mobj_t *o;
	int rc = shmrt__mstore_lookup(st, id, &o);
	if (rc)
		return rc;
	if (!strcmp(name, "__typeid__")) { /* any object: its type's name (a client that
					    * got a ref picks its proxy class by it) */
		*res = shmrt_mv_str(o->type->name);
		return *res ? 0 : -ENOMEM;
	}
	const shmrt__mmethod_t *m = NULL;
	for (size_t i = 0; i < o->type->nmethods; i++)
		if (!strcmp(o->type->methods[i].name, name))
			m = &o->type->methods[i];
	if (!m && !shmrt__mutype_of(o->type))
		return -ENOENT;
	shmrt__mcall_t c = { .st = st, .o = o, .args = args, .res = NULL,
			     .sess = sess, .req_id = req_id };
	rc = shmrt__mstore_refs_check(st, c.args);
	if (rc)
		return rc;
	if (!m) /* a user type's: its own table (manager/mtype_user.c) */
		return shmrt__mutype_call(st, sess, o, name, c.args, res);
	rc = m->fn(&c);
	if (rc) { /* an error, or SHMRT__MPARKED */
		shmrt_mv_free(c.res);
		return rc;
	}
	*res = c.res;
	return 0;
}

/*
 * Drops one of ss's references to id (the unclaimed ones a user method gave are a
 * part of them: never more than the session holds). Returns: 0; -ENOENT; -ESTALE. Concurrency: server thread.
 */
int shmrt__mstore_release(shmrt__mstore_t *st, shmrt__msess_t *ss, uint64_t id)
{
	shmrt__mobj_t *o;
	int rc = shmrt__mstore_lookup(st, id, &o);
	if (rc)
		return rc;
	uintptr_t *p = shmrt__idmap_find(&ss->refs, id);
	if (!p)
		return -ENOENT; /* this session holds no reference to it */
	uintptr_t left = --*p;
	if (left == 0)
		(void)shmrt__idmap_del(&ss->refs, id);
	uintptr_t *q = shmrt__idmap_find(&ss->pending, id);
	if (q && *q > left) { /* unclaimed ones are a part of the session's */
		if (left == 0)
			(void)shmrt__idmap_del(&ss->pending, id);
		else
			*q = left;
	}
	obj_decref(st, o, 1);
	return 0;
}

static int op_ref(shmrt__mstore_t *st, shmrt__msess_t *ss, shmrt_mv_t *args, int release)
{
	uint64_t id;
	shmrt__mobj_t *o;
	if (shmrt_mv_list_len(args) != 1 || shmrt_mv_as_ref(shmrt_mv_list_get(args, 0), &id))
		return -EINVAL;
	if (release)
		return shmrt__mstore_release(st, ss, id);
	int rc = shmrt__mstore_lookup(st, id, &o);
	if (rc)
		return rc;
	uintptr_t *q = shmrt__idmap_find(&ss->pending, id);
	if (q) { /* the proxy of an object a user method made for us: claim its ref */
		if (--*q == 0)
			(void)shmrt__idmap_del(&ss->pending, id);
		return 0;
	}
	rc = sess_add(&ss->refs, id);
	if (rc == 0)
		o->refs++;
	return rc;
}

static int op_stats(shmrt__mstore_t *st, shmrt_mv_t **res)
{
	shmrt_mv_t *m = shmrt_mv_map();
	if (!m)
		return -ENOMEM;
	int rc = shmrt_mv_map_set(m, shmrt_mv_str("objects"), shmrt_mv_int((int64_t)st->objs.n));
	if (rc == 0)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("sessions"),
				      shmrt_mv_int((int64_t)st->nsessions));
	if (rc == 0)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("epoch"), shmrt_mv_int((int64_t)st->epoch));
	if (rc == 0)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("parked"), shmrt_mv_int((int64_t)st->nwaits));
	if (rc == 0)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("buffered"),
				      shmrt_mv_int((int64_t)st->nbuffered));
	if (rc == 0)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("handshakes"),
				      shmrt_mv_int((int64_t)st->nhandshakes));
	if (rc) {
		shmrt_mv_free(m);
		return rc;
	}
	*res = m;
	return 0;
}

/* "cancel [id, ...]": drops this session's parked calls with those request ids
 * unanswered (manager/park.c); the result is how many were parked. */
static int op_cancel(shmrt__mstore_t *st, shmrt__msess_t *sess, shmrt_mv_t *args,
		     shmrt_mv_t **res)
{
	size_t n = shmrt_mv_list_len(args);
	int64_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (shmrt_mv_as_int(shmrt_mv_list_get(args, (int64_t)i), &ids[i])) {
			free(ids);
			return -EINVAL;
		}
	}
	size_t found = shmrt__mwait_cancel(st, sess, ids, n);
	free(ids);
	*res = shmrt_mv_int((int64_t)found);
	return *res ? 0 : -ENOMEM;
}

/* "hello []": {"instance": this server run's 63-bit id, "epoch": the ids' epoch}, for
 * a client at connect. The instance is drawn at the first hello (getrandom). */
static int op_hello(shmrt__mstore_t *st, const shmrt_mv_t *args, shmrt_mv_t **res)
{
	if (shmrt_mv_list_len(args) != 0)
		return -EINVAL;
	while (!st->instance) { /* 63 bits: an int of msgpack's signed range */
		uint64_t v;
		if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
			return errno ? -errno : -EIO;
		st->instance = v & INT64_MAX;
	}
	shmrt_mv_t *m = shmrt_mv_map();
	if (!m)
		return -ENOMEM;
	int rc = shmrt_mv_map_set(m, shmrt_mv_str("instance"), shmrt_mv_int((int64_t)st->instance));
	if (rc == 0)
		rc = shmrt_mv_map_set(m, shmrt_mv_str("epoch"), shmrt_mv_int((int64_t)st->epoch));
	if (rc) {
		shmrt_mv_free(m);
		return rc;
	}
	*res = m;
	return 0;
}

/*
 * Runs one request and builds its reply. Returns: 0 and *reply (NULL: the call
 * parked, its answer comes later); -ENOMEM. Concurrency: server thread.
 */
int shmrt__mstore_request(shmrt__mstore_t *st, shmrt__msess_t *sess, shmrt_mv_t *req,
			  shmrt_mv_t **reply)
{
	int64_t id = 0;
	const char *op;
	shmrt_mv_t *res = NULL;
	int rc = -EINVAL;
	if (shmrt_mv_list_len(req) == 3 && shmrt_mv_as_int(shmrt_mv_list_get(req, 0), &id) == 0 &&
	    shmrt_mv_as_str(shmrt_mv_list_get(req, 1), &op, NULL) == 0 &&
	    shmrt_mv_kind(shmrt_mv_list_get(req, 2)) == SHMRT_MV_LIST) {
		shmrt_mv_t *args = shmrt_mv_list_get(req, 2);
		if (!strcmp(op, "call"))
			rc = op_call(st, sess, id, args, &res);
		else if (!strcmp(op, "create"))
			rc = op_create(st, sess, args, &res);
		else if (!strcmp(op, "release"))
			rc = op_ref(st, sess, args, 1);
		else if (!strcmp(op, "incref"))
			rc = op_ref(st, sess, args, 0);
		else if (!strcmp(op, "ping"))
			rc = 0;
		else if (!strcmp(op, "stats"))
			rc = op_stats(st, &res);
		else if (!strcmp(op, "objects"))
			rc = shmrt__mstore_objects(st, args, &res);
		else if (!strcmp(op, "cancel"))
			rc = op_cancel(st, sess, args, &res);
		else if (!strcmp(op, "hello"))
			rc = op_hello(st, args, &res);
		else if (!strcmp(op, "ropen")) /* manager/remote.c */
			rc = shmrt__remote_open(st, sess, args, &res);
		else
			rc = -ENOSYS;
	}
	shmrt_mv_free(req);
	shmrt__mstore_reap(st);
	if (rc == SHMRT__MPARKED) {
		*reply = NULL;
		return 0;
	}
	if (rc) {
		shmrt_mv_free(res);
		res = NULL;
	}
	shmrt_mv_t *r = shmrt_mv_list_cap(3);
	if (!r) {
		shmrt_mv_free(res);
		return -ENOMEM;
	}
	int e = shmrt_mv_list_append(r, shmrt_mv_int(id));
	if (!e)
		e = shmrt_mv_list_append(r, shmrt_mv_int(rc));
	if (!e)
		e = shmrt_mv_list_append(r, res ? res : shmrt_mv_nil());
	else
		shmrt_mv_free(res);
	if (e) {
		shmrt_mv_free(r);
		return -ENOMEM;
	}
	*reply = r;
	return 0;
}

/* ---- helpers for the types ------------------------------------------------------ */

static int is_num(const shmrt_mv_t *v)
{
	return v->kind == SHMRT_MV_BOOL || v->kind == SHMRT_MV_INT || v->kind == SHMRT_MV_FLOAT;
}

static int64_t int_of(const shmrt_mv_t *v)
{
	return v->kind == SHMRT_MV_BOOL ? (int64_t)v->u.b : v->u.i;
}

/* Sets c's result (consumed): 0, or -ENOMEM for a NULL v. Concurrency: server. */
int shmrt__mcall_result(shmrt__mcall_t *c, shmrt_mv_t *v)
{
	c->res = v;
	return v ? 0 : -ENOMEM;
}

/* A truth value argument (bool or int; NULL: dflt): 0 and *out; -EINVAL. */
int shmrt__mv_truth(const shmrt_mv_t *v, int dflt, int *out)
{
	if (!v) {
		*out = dflt;
		return 0;
	}
	if (v->kind == SHMRT_MV_BOOL) {
		*out = v->u.b;
		return 0;
	}
	if (v->kind == SHMRT_MV_INT) {
		*out = v->u.i != 0;
		return 0;
	}
	return -EINVAL;
}

/* init for the types whose data is nil (their state is C): consumes init. */
int shmrt__mtype_nil_data(shmrt_mv_t *init, shmrt_mv_t **data)
{
	shmrt_mv_free(init);
	*data = shmrt_mv_nil();
	return *data ? 0 : -ENOMEM;
}

/* fini that frees o->priv. */
void shmrt__mtype_free_priv(shmrt__mstore_t *st, shmrt__mobj_t *o)
{
	(void)st;
	free(o->priv);
	o->priv = NULL;
}

/*
 * Python's a < b. Ints against floats compare exactly (through long double, whose
 * 64-bit mantissa holds any int64 on x86-64 and any on the 128-bit formats).
 * Returns: 0 and *lt; -EINVAL unorderable. Concurrency: a reader of a and b.
 */
int shmrt__mv_less(const shmrt_mv_t *a, const shmrt_mv_t *b, int *lt)
{
	if (is_num(a) && is_num(b)) {
		if (a->kind != SHMRT_MV_FLOAT && b->kind != SHMRT_MV_FLOAT)
			*lt = int_of(a) < int_of(b);
		else {
			long double x = a->kind == SHMRT_MV_FLOAT ? a->u.f : (long double)int_of(a);
			long double y = b->kind == SHMRT_MV_FLOAT ? b->u.f : (long double)int_of(b);
			*lt = x < y;
		}
		return 0;
	}
	if (a->kind == b->kind && (a->kind == SHMRT_MV_STR || a->kind == SHMRT_MV_BYTES)) {
		/* UTF-8's byte order is the code points' order, Python's str order */
		size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
		int c = memcmp(a->u.s.p, b->u.s.p, n);
		*lt = c < 0 || (c == 0 && a->u.s.n < b->u.s.n);
		return 0;
	}
	return -EINVAL;
}
