/*
 * The manager's Queue and JoinableQueue: Python's queue.Queue as its Manager serves
 * it, with get on an empty queue, put on a full one and join parked in the server
 * (manager/park.c).
 *
 * State. The items are the object's data, so refs inside items are counted like
 * any container's (an item that holds a managed object keeps it alive): a list of
 * two lists [out, in], a queue made of two stacks. in holds the newer items in put
 * order, out the older ones with the oldest last. A put appends to in; a get takes
 * out's last item, and when out is empty in's items are first reversed in place and
 * become out's (the two lists swap their arrays: no allocation). Each item is moved
 * once, so put and get are O(1) amortised (a get that pops item 0 of one flat list
 * shifted the rest: draining n items was O(n^2)). maxsize and the unfinished-task
 * count are C (o->priv). FIFOs: 0 getters, 1 putters (each carrying its item, whose
 * refs stay counted while it waits), 2 joiners.
 *
 * Items handed out. A get's item leaves the queue: its refs become pending references
 * of the getter's session (shmrt__mstore_hand), which the client's proxy of each ref
 * claims, so an object that only the queue held lives on in the getter's hands (the
 * queue's reference dropped before the reply destroyed it). A put handed straight to
 * a parked getter counts its item's refs for the getter's session the same way (the
 * putter's proxy may be released before the getter takes its own).
 *
 * Invariants: getters wait only while the queue is empty, putters only while it is
 * full; so a put first hands its item to the oldest live getter (no copy into the
 * list), and a get that makes room moves the oldest putter's item in and answers it.
 * Items leave in put order (FIFO), each to exactly one getter. A getter whose client
 * died is dropped before anything is handed to it (its socket is checked), and with
 * its session, so a killed getter takes no item: none is lost or duplicated. (An item
 * answered to a client that dies after the answer left is that client's, as in
 * Python.)
 *
 * Python's exceptions: Empty and Full are -EAGAIN for a call that may not block
 * (block False, get_nowait, put_nowait) and -ETIMEDOUT for one whose timeout passed;
 * task_done called too often is -EINVAL (ValueError).
 *
 * Concurrency: the server's one thread.
 */
#include "manager/server_int.h"
#include "manager/mvalue_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define ARGC(c) SHMRT__MARGC(c)
#define ARG(c, i) SHMRT__MARG(c, i)
#define result shmrt__mcall_result

enum { Q_GET = 0, Q_PUT = 1, Q_JOIN = 2 };

typedef struct queue {
	int64_t maxsize;    /* <= 0: unbounded */
	int64_t unfinished; /* items put and not yet task_done (JoinableQueue) */
} queue_t;

/* init: nil (unbounded) or an int maxsize (<= 0: unbounded). */
static int q_priv(const shmrt_mv_t *init, void **priv)
{
	int64_t m = 0;
	if (init && shmrt_mv_kind(init) != SHMRT_MV_NIL &&
	    (shmrt_mv_kind(init) != SHMRT_MV_INT || shmrt_mv_as_int(init, &m)))
		return -EINVAL;
	queue_t *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->maxsize = m;
	*priv = q;
	return 0;
}

/* data: [out, in], two empty lists. */
static int q_init(shmrt_mv_t *init, shmrt_mv_t **data)
{
	shmrt_mv_free(init);
	shmrt_mv_t *d = shmrt_mv_list_cap(2);
	for (int i = 0; d && i < 2; i++) {
		shmrt_mv_t *l = shmrt_mv_list();
		if (!l || shmrt_mv_list_append(d, l)) {
			shmrt_mv_free(d);
			d = NULL;
		}
	}
	*data = d;
	return d ? 0 : -ENOMEM;
}

static shmrt_mv_t *q_out(const shmrt__mobj_t *o) { return o->data->u.l.items[0]; }
static shmrt_mv_t *q_in(const shmrt__mobj_t *o) { return o->data->u.l.items[1]; }

/* The number of items queued. */
static size_t q_len(const shmrt__mobj_t *o)
{
	return (size_t)q_out(o)->u.l.len + q_in(o)->u.l.len;
}

static bool is_full(const shmrt__mobj_t *o)
{
	const queue_t *q = o->priv;
	return q->maxsize > 0 && (int64_t)q_len(o) >= q->maxsize;
}

/* The oldest item of a queue that is not empty, left in place (out's last). When out
 * is empty, in's items are reversed in place and the two lists swap their arrays. */
static shmrt_mv_t *q_oldest(shmrt__mobj_t *o)
{
	shmrt_mv_t *out = q_out(o), *in = q_in(o);
	if (out->u.l.len == 0) {
		shmrt_mv_t **a = in->u.l.items;
		for (uint32_t i = 0, n = in->u.l.len; i < n / 2; i++) {
			shmrt_mv_t *t = a[i];
			a[i] = a[n - 1 - i];
			a[n - 1 - i] = t;
		}
		shmrt_mv_t **items = out->u.l.items; /* the items keep MV_OWNED */
		uint32_t cap = out->u.l.cap;
		out->u.l.items = a;
		out->u.l.len = in->u.l.len;
		out->u.l.cap = in->u.l.cap;
		in->u.l.items = items;
		in->u.l.len = 0;
		in->u.l.cap = cap;
	}
	return out->u.l.items[out->u.l.len - 1];
}

/* Appends item (consumed) whose refs are counted to in; on failure the refs are
 * dropped with it (an object they kept alive goes on the dead list). 0; -ENOMEM,
 * -E2BIG. */
static int q_append_counted(shmrt__mstore_t *st, shmrt__mobj_t *o, shmrt_mv_t *item)
{
	/* uncounted while the append may free it; counted again once stored (an object
	 * whose count touches 0 meanwhile survives: the reap checks its count) */
	shmrt__mstore_refs_adjust(st, item, -1);
	int rc = shmrt_mv_list_append(q_in(o), item); /* consumes item, even on failure */
	if (rc == 0)
		shmrt__mstore_refs_adjust(st, item, +1);
	return rc;
}

/*
 * Puts item (consumed; its refs not yet counted) into a queue that is not full: to
 * the oldest live getter (its refs counted as pending references of the getter's
 * session), or at the tail. A getter whose session's maps cannot grow is answered
 * -ENOMEM and the item goes to the next one, or to the tail. Returns 0, -ENOMEM,
 * -E2BIG.
 */
static int enqueue(shmrt__mstore_t *st, shmrt__mobj_t *o, shmrt_mv_t *item)
{
	queue_t *q = o->priv;
	shmrt__mwait_t *w;
	while ((w = shmrt__mwait_pop(st, o, Q_GET)) != NULL) {
		if (shmrt__mstore_hand(st, w->sess, item, false) == 0) {
			q->unfinished++;
			shmrt__mwait_answer(st, w, 0, item);
			return 0;
		}
		shmrt__mwait_answer(st, w, -ENOMEM, NULL);
	}
	int rc = shmrt_mv_list_append(q_in(o), item); /* consumes item, even on failure */
	if (rc)
		return rc;
	shmrt__mstore_refs_adjust(st, item, +1);
	q->unfinished++;
	return 0;
}

/* put [item, block=True, timeout=nil] -> None; -EAGAIN (full, not blocking);
 * -ETIMEDOUT (still full at the timeout). */
static int q_put_common(shmrt__mcall_t *c, bool nowait)
{
	size_t n = ARGC(c);
	int block;
	int64_t ns;
	if (n < 1 || n > (nowait ? 1u : 3u) ||
	    shmrt__mv_truth(n > 1 ? ARG(c, 1) : NULL, !nowait, &block) ||
	    shmrt__mwait_timeout(n > 2 ? ARG(c, 2) : NULL, &ns))
		return -EINVAL;
	if (!is_full(c->o)) {
		shmrt_mv_t *item = NULL;
		if (shmrt_mv_list_pop(c->args, 0, &item))
			return -ENOMEM;
		return enqueue(c->st, c->o, item);
	}
	if (!block)
		return -EAGAIN;
	shmrt_mv_t *item = NULL;
	if (shmrt_mv_list_pop(c->args, 0, &item))
		return -ENOMEM;
	shmrt__mstore_refs_adjust(c->st, item, +1); /* it waits with the call */
	/* the timeout was item 2, now item 1 */
	return shmrt__mwait_park(c, Q_PUT, n > 2 ? ARG(c, 1) : NULL, SHMRT__TMO_ETIMEDOUT,
				 item);
}

static int q_put(shmrt__mcall_t *c) { return q_put_common(c, false); }
static int q_put_nowait(shmrt__mcall_t *c) { return q_put_common(c, true); }

/* get [block=True, timeout=nil] -> the oldest item; -EAGAIN (empty, not blocking);
 * -ETIMEDOUT (still empty at the timeout). */
static int q_get_common(shmrt__mcall_t *c, bool nowait)
{
	size_t n = ARGC(c);
	int block;
	int64_t ns;
	if (n > (nowait ? 0u : 2u) || shmrt__mv_truth(n > 0 ? ARG(c, 0) : NULL, !nowait, &block) ||
	    shmrt__mwait_timeout(n > 1 ? ARG(c, 1) : NULL, &ns))
		return -EINVAL;
	if (q_len(c->o) > 0) {
		shmrt_mv_t *v = q_oldest(c->o);
		int rc = shmrt__mstore_hand(c->st, c->sess, v, true); /* the caller's now */
		if (rc)
			return rc; /* nothing taken */
		if (shmrt_mv_list_pop(q_out(c->o), -1, &v))
			return -ENOMEM; /* cannot happen: out is not empty */
		shmrt__mwait_t *w = shmrt__mwait_pop(c->st, c->o, Q_PUT);
		if (w) { /* room for the oldest parked put: its refs are counted already */
			shmrt_mv_t *item = w->arg;
			w->arg = NULL;
			rc = q_append_counted(c->st, c->o, item);
			if (rc == 0)
				((queue_t *)c->o->priv)->unfinished++;
			shmrt__mwait_answer(c->st, w, rc, NULL);
		}
		return result(c, v);
	}
	if (!block)
		return -EAGAIN;
	return shmrt__mwait_park(c, Q_GET, n > 1 ? ARG(c, 1) : NULL, SHMRT__TMO_ETIMEDOUT, NULL);
}

static int q_get(shmrt__mcall_t *c) { return q_get_common(c, false); }
static int q_get_nowait(shmrt__mcall_t *c) { return q_get_common(c, true); }

static int q_qsize(shmrt__mcall_t *c)
{
	return ARGC(c) ? -EINVAL : result(c, shmrt_mv_int((int64_t)q_len(c->o)));
}

static int q_empty(shmrt__mcall_t *c)
{
	return ARGC(c) ? -EINVAL : result(c, shmrt_mv_bool(q_len(c->o) == 0));
}

static int q_full(shmrt__mcall_t *c)
{
	return ARGC(c) ? -EINVAL : result(c, shmrt_mv_bool(is_full(c->o)));
}

/* task_done [] -> None; -EINVAL (called more times than items were put). At zero
 * unfinished tasks every join answers. */
static int q_task_done(shmrt__mcall_t *c)
{
	queue_t *q = c->o->priv;
	if (ARGC(c) || q->unfinished <= 0)
		return -EINVAL;
	if (--q->unfinished == 0) {
		shmrt__mwait_t *w;
		while ((w = shmrt__mwait_pop(c->st, c->o, Q_JOIN)) != NULL)
			shmrt__mwait_answer(c->st, w, 0, NULL);
	}
	return 0;
}

/* join [timeout=nil] -> None once every item put was task_done; -ETIMEDOUT. (Python's
 * join takes no timeout; this one may.) */
static int q_join(shmrt__mcall_t *c)
{
	queue_t *q = c->o->priv;
	int64_t ns;
	if (ARGC(c) > 1 || shmrt__mwait_timeout(ARGC(c) ? ARG(c, 0) : NULL, &ns))
		return -EINVAL;
	if (q->unfinished == 0)
		return 0;
	return shmrt__mwait_park(c, Q_JOIN, ARGC(c) ? ARG(c, 0) : NULL, SHMRT__TMO_ETIMEDOUT,
				 NULL);
}

static const shmrt__mmethod_t queue_methods[] = {
	{ "put", q_put },
	{ "put_nowait", q_put_nowait },
	{ "get", q_get },
	{ "get_nowait", q_get_nowait },
	{ "qsize", q_qsize },
	{ "empty", q_empty },
	{ "full", q_full },
	{ "task_done", q_task_done },
	{ "join", q_join },
};

const shmrt__mtype_t shmrt__mtype_queue = {
	.name = "Queue",
	.init = q_init,
	.methods = queue_methods,
	.nmethods = 7, /* not task_done, join */
	.init_priv = q_priv,
	.fini = shmrt__mtype_free_priv,
	.len = q_len,
};

const shmrt__mtype_t shmrt__mtype_jqueue = {
	.name = "JoinableQueue",
	.init = q_init,
	.methods = queue_methods,
	.nmethods = sizeof(queue_methods) / sizeof(queue_methods[0]),
	.init_priv = q_priv,
	.fini = shmrt__mtype_free_priv,
	.len = q_len,
};
