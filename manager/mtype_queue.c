/*
 * The manager's Queue and JoinableQueue: Python's queue.Queue as its Manager serves
 * it, with get on an empty queue, put on a full one and join parked in the server
 * (manager/park.c).
 *
 * State. The items are the object's data (a list, so refs inside items are counted
 * like any container's: an item that holds a managed object keeps it alive);
 * maxsize and the unfinished-task count are C (o->priv). FIFOs: 0 getters, 1
 * putters (each carrying its item, whose refs stay counted while it waits), 2
 * joiners.
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

static int q_init(shmrt_mv_t *init, shmrt_mv_t **data)
{
	shmrt_mv_free(init);
	*data = shmrt_mv_list();
	return *data ? 0 : -ENOMEM;
}

static bool is_full(const shmrt__mobj_t *o)
{
	const queue_t *q = o->priv;
	return q->maxsize > 0 && (int64_t)shmrt_mv_list_len(o->data) >= q->maxsize;
}

/*
 * Puts item (consumed; its refs not yet counted) into a queue that is not full: to
 * the oldest live getter (its answer's refs are borrowed, so they are never
 * counted), or at the tail. Returns 0 or -ENOMEM.
 */
static int enqueue(shmrt__mstore_t *st, shmrt__mobj_t *o, shmrt_mv_t *item)
{
	queue_t *q = o->priv;
	shmrt__mwait_t *w = shmrt__mwait_pop(st, o, Q_GET);
	if (w) {
		q->unfinished++;
		shmrt__mwait_answer(st, w, 0, item);
		return 0;
	}
	int rc = shmrt_mv_list_append(o->data, item); /* consumes item, even on failure */
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
	if (shmrt_mv_list_len(c->o->data) > 0) {
		shmrt_mv_t *v = NULL;
		if (shmrt_mv_list_pop(c->o->data, 0, &v))
			return -ENOMEM;
		shmrt__mstore_refs_adjust(c->st, v, -1); /* the reply's refs are borrowed */
		shmrt__mwait_t *w = shmrt__mwait_pop(c->st, c->o, Q_PUT);
		if (w) { /* room for the oldest parked put: its refs are counted already */
			shmrt_mv_t *item = w->arg;
			w->arg = NULL;
			if (shmrt_mv_list_append(c->o->data, item) == 0) {
				((queue_t *)c->o->priv)->unfinished++;
				shmrt__mwait_answer(c->st, w, 0, NULL);
			} else {
				shmrt__mwait_answer(c->st, w, -ENOMEM, NULL);
			}
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
	return ARGC(c) ? -EINVAL : result(c, shmrt_mv_int((int64_t)shmrt_mv_list_len(c->o->data)));
}

static int q_empty(shmrt__mcall_t *c)
{
	return ARGC(c) ? -EINVAL : result(c, shmrt_mv_bool(shmrt_mv_list_len(c->o->data) == 0));
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
};

const shmrt__mtype_t shmrt__mtype_jqueue = {
	.name = "JoinableQueue",
	.init = q_init,
	.methods = queue_methods,
	.nmethods = sizeof(queue_methods) / sizeof(queue_methods[0]),
	.init_priv = q_priv,
	.fini = shmrt__mtype_free_priv,
};
