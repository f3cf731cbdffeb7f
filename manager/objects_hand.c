/*
 * Values handed to a session (docs/DESIGN.md 8b): the refs of a value that a call
 * takes out of an object and returns (list.pop, dict.pop and popitem, a Queue's get),
 * or of a put's item given straight to a parked getter, become references of the
 * session that receives the value, marked pending in its map of unclaimed ones
 * (msess_t.pending, the mechanism of a user method's shmrt_mtype_create): its next
 * incref of such an id (the proxy its client takes of the ref it got) claims one
 * rather than adding one, and its end drops what it never claimed.
 *
 * Without this the container's reference was dropped before the reply left, and an
 * object that only the container held was destroyed by the very call that handed it
 * out (`x = d.pop('l')` left x a dead ref). With it the object's count never touches
 * zero on the way: a taken-out value's refs move from the container to the session
 * (its counts unchanged: "counted"), a handed put's are counted for the getter's
 * session as they go.
 *
 * A ref is handed once each time it occurs in the value ([l, l] hands two, as a
 * client makes a proxy of each), at any depth of the value's tree (a list of refs,
 * a map of them). The objects those refs name keep their own data: a handed list
 * of lists keeps its inner lists through the outer one's data, whose refs are not
 * the value's. A client that takes no proxy keeps the references until its session
 * ends (its connection closes), as it would a proxy it never released.
 *
 * Failure: the session's maps may need to grow. A method hands the value before
 * taking it out of its container; on -ENOMEM what was handed is taken back and the
 * call fails with the container unchanged.
 *
 * Concurrency: the server's one thread.
 */
#include "manager/server_int.h"
#include "manager/mvalue_int.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>

/* Adds one to id's count in m. 0; -ENOMEM. */
static int sess_add(shmrt__idmap_t *m, uint64_t id)
{
	uintptr_t *p = shmrt__idmap_find(m, id);
	if (p) {
		(*p)++;
		return 0;
	}
	return shmrt__idmap_put(m, id, 1);
}

/* Takes one back from id's count in m (deleting it at 0). */
static void sess_sub(shmrt__idmap_t *m, uint64_t id)
{
	uintptr_t *p = shmrt__idmap_find(m, id);
	assert(p && *p > 0);
	if (p && --*p == 0)
		(void)shmrt__idmap_del(m, id);
}

typedef struct hand {
	shmrt__mstore_t *st;
	shmrt__msess_t *sess;
	bool counted; /* the refs are counted already (taken out of an object's data) */
	bool undo;    /* take back the first `done` refs handed */
	size_t done;
} hand_t;

/* Hands (or, undoing, takes back) one ref of id. 0; -ENOMEM; 1 (undo finished). */
static int hand_ref(hand_t *h, uint64_t id)
{
	shmrt__mobj_t *o;
	if (shmrt__mstore_lookup(h->st, id, &o) != 0) {
		assert(!"a handed ref names no live object");
		return 0;
	}
	if (h->undo) {
		if (h->done == 0)
			return 1;
		h->done--;
		sess_sub(&h->sess->pending, id);
		sess_sub(&h->sess->refs, id);
		if (!h->counted)
			o->refs--; /* back to what it was (>= 1): it stays off the dead list */
		return 0;
	}
	int rc = sess_add(&h->sess->refs, id);
	if (rc)
		return rc;
	if ((rc = sess_add(&h->sess->pending, id)) != 0) {
		sess_sub(&h->sess->refs, id);
		return rc;
	}
	if (!h->counted)
		o->refs++;
	h->done++;
	return 0;
}

/* Runs hand_ref on every ref of v, in order, until one returns non-zero (that). The
 * trees handed passed refs_check: their depth is bounded. */
static int hand_walk(hand_t *h, const shmrt_mv_t *v)
{
	int rc = 0;
	switch (v->kind) {
	case SHMRT_MV_REF:
		return hand_ref(h, v->u.ref);
	case SHMRT_MV_LIST:
		for (uint32_t i = 0; rc == 0 && i < v->u.l.len; i++)
			rc = hand_walk(h, v->u.l.items[i]);
		return rc;
	case SHMRT_MV_MAP: {
		size_t pos = 0;
		shmrt_mv_t *val;
		while (rc == 0 && shmrt_mv_map_next(v, &pos, NULL, &val))
			rc = hand_walk(h, val);
		return rc;
	}
	default:
		return 0;
	}
}

/*
 * Hands the refs of v to sess as its pending references: one each time a ref occurs.
 * Returns: 0; -ENOMEM (nothing changed). Concurrency: server thread.
 */
int shmrt__mstore_hand(shmrt__mstore_t *st, shmrt__msess_t *sess, const shmrt_mv_t *v,
		       bool counted)
{
	hand_t h = { .st = st, .sess = sess, .counted = counted };
	if (!v)
		return 0;
	int rc = hand_walk(&h, v);
	if (rc) {
		h.undo = true;
		(void)hand_walk(&h, v);
		assert(h.done == 0);
	}
	return rc;
}

