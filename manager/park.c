/*
 * Parked calls: the server side of every blocking method (a Lock acquire, a Queue get
 * or put, an Event wait), which waits inside the server without blocking anyone.
 *
 * A parked call is a waiter (server_int.h): the request's id, its session, its
 * deadline and what it carries. It sits on three structures at once:
 *  - its object's FIFO (o->wq[q]), so that the call that can satisfy it (a release, a
 *    put, a set) answers the oldest waiter first;
 *  - its session's list, so that a session's end drops its waiters unanswered (a get
 *    parked by a killed client takes no item, so no item is lost or duplicated);
 *  - the store's timer heap, when it has a deadline: a binary min-heap on the
 *    deadline, each waiter knowing its index so that one answered early leaves the
 *    heap in O(log n). The server's epoll_wait sleeps until the heap's top, and
 *    shmrt__mstore_expire answers what is due (False or -ETIMEDOUT, as the method
 *    said).
 * A late reply is [id, rc, result] like any other: the client matches replies by
 * id, so an answer that comes after other clients' calls lands on the right call.
 *
 * Types' hooks. A call parked with SHMRT__TMO_HOOK is handed, at its deadline, to
 * its object's type->expire instead of a fixed answer (a timeout of 0 then parks
 * until the next expiry pass, not answered at once): a Condition's waiter moves to
 * its lock's FIFO (shmrt__mwait_relink, no deadline) and answers once it holds the
 * lock again; a Barrier breaks. A session's end tells type->sess_drop of each of its
 * waiters it drops (a Barrier breaks: a party died).
 *
 * Cancelled calls. A client whose own timeout passes first sends "cancel [ids]": the
 * session's waiters with those ids are dropped unanswered (shmrt__mwait_cancel), so
 * nothing happens for them (no lock handed over, no item taken, a parked put's item
 * dropped with its refs). One answered before the cancel arrived has its reply
 * ahead of the cancel's on the connection, and the client takes it as the result.
 *
 * Dead peers. Before a waiter is handed something (a lock, an item) its session is
 * asked whether its peer still lives (the server checks its socket for a hang-up): a
 * client killed while parked is dropped there and then, even if its hang-up has not
 * been read yet, so the item or the lock goes to the next live waiter.
 *
 * Concurrency: the server's one thread.
 */
#define _GNU_SOURCE
#include "manager/server_int.h"

#include "base/clock.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

/* ---- the timer heap ------------------------------------------------------------- */

static void heap_set(shmrt__mstore_t *st, size_t i, shmrt__mwait_t *w)
{
	st->heap[i] = w;
	w->heap_at = i;
}

static void heap_up(shmrt__mstore_t *st, size_t i)
{
	shmrt__mwait_t *w = st->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (st->heap[p]->deadline <= w->deadline)
			break;
		heap_set(st, i, st->heap[p]);
		i = p;
	}
	heap_set(st, i, w);
}

static void heap_down(shmrt__mstore_t *st, size_t i)
{
	shmrt__mwait_t *w = st->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		uint64_t best = w->deadline;
		if (l < st->nheap && st->heap[l]->deadline < best)
			m = l, best = st->heap[l]->deadline;
		if (l + 1 < st->nheap && st->heap[l + 1]->deadline < best)
			m = l + 1;
		if (m == i)
			break;
		heap_set(st, i, st->heap[m]);
		i = m;
	}
	heap_set(st, i, w);
}

static int heap_push(shmrt__mstore_t *st, shmrt__mwait_t *w)
{
	if (st->nheap == st->capheap) {
		size_t cap = st->capheap ? st->capheap * 2 : 16;
		shmrt__mwait_t **h = realloc(st->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		st->heap = h;
		st->capheap = cap;
	}
	st->heap[st->nheap] = w;
	w->heap_at = st->nheap++;
	heap_up(st, w->heap_at);
	return 0;
}

static void heap_remove(shmrt__mstore_t *st, shmrt__mwait_t *w)
{
	size_t i = w->heap_at;
	assert(i < st->nheap && st->heap[i] == w);
	w->heap_at = SIZE_MAX;
	shmrt__mwait_t *last = st->heap[--st->nheap];
	if (i == st->nheap)
		return;
	heap_set(st, i, last);
	heap_up(st, i);
	heap_down(st, last->heap_at);
}

/* ---- waiters -------------------------------------------------------------------- */

static void wait_link(shmrt__mstore_t *st, shmrt__mwait_t *w, shmrt__mobj_t *o, int q);

/*
 * A timeout argument: nil (none) or a non-negative int of nanoseconds.
 * Returns: 0 and *ns (-1: none); -EINVAL. Concurrency: any.
 */
int shmrt__mwait_timeout(const shmrt_mv_t *timeout, int64_t *ns)
{
	if (!timeout || shmrt_mv_kind(timeout) == SHMRT_MV_NIL) {
		*ns = -1;
		return 0;
	}
	int64_t v;
	if (shmrt_mv_kind(timeout) != SHMRT_MV_INT || shmrt_mv_as_int(timeout, &v) || v < 0)
		return -EINVAL;
	*ns = v;
	return 0;
}

/* The answer a call gets at its deadline. */
static int tmo_answer(shmrt__mwait_tmo_t tmo, shmrt_mv_t **res)
{
	if (tmo == SHMRT__TMO_ETIMEDOUT)
		return -ETIMEDOUT;
	*res = shmrt_mv_bool(false);
	return *res ? 0 : -ENOMEM;
}

/*
 * Parks c (see server_int.h).
 * Returns: SHMRT__MPARKED; the deadline's answer at a timeout of 0; -EINVAL; -ENOMEM;
 * -EDQUOT (the session already has st->max_parked parked calls: nothing parked).
 * Concurrency: the server's thread.
 */
int shmrt__mwait_park(shmrt__mcall_t *c, int q, const shmrt_mv_t *timeout,
		      shmrt__mwait_tmo_t tmo, shmrt_mv_t *arg)
{
	int64_t ns;
	int rc = shmrt__mwait_timeout(timeout, &ns);
	if (rc == 0 && ns == 0 && tmo != SHMRT__TMO_HOOK)
		rc = tmo_answer(tmo, &c->res);
	else if (rc == 0 && c->st->max_parked && c->sess->nwaits >= c->st->max_parked)
		rc = -EDQUOT; /* not -EAGAIN: that is a Queue's Empty or Full */
	else if (rc == 0)
		rc = SHMRT__MPARKED;
	shmrt__mwait_t *w = rc == SHMRT__MPARKED ? calloc(1, sizeof(*w)) : NULL;
	if (rc == SHMRT__MPARKED && !w)
		rc = -ENOMEM;
	if (rc != SHMRT__MPARKED) {
		shmrt__mstore_drop(c->st, arg);
		return rc;
	}
	w->sess = c->sess;
	w->req_id = c->req_id;
	w->deadline = ns < 0 ? UINT64_MAX : shmrt__deadline(ns);
	w->heap_at = SIZE_MAX;
	w->o = c->o;
	w->q = q;
	w->tmo = tmo;
	w->arg = arg;
	w->aux[0] = c->aux[0];
	w->aux[1] = c->aux[1];
	if (w->deadline != UINT64_MAX && heap_push(c->st, w)) {
		shmrt__mstore_drop(c->st, arg);
		free(w);
		return -ENOMEM;
	}
	wait_link(c->st, w, c->o, q);
	return SHMRT__MPARKED;
}

/* Links w at the tail of o's FIFO q and at the head of its session's list. */
static void wait_link(shmrt__mstore_t *st, shmrt__mwait_t *w, shmrt__mobj_t *o, int q)
{
	shmrt__mwait_t **fifo = o->wq[q];
	w->o = o;
	w->q = q;
	w->prev = fifo[1];
	w->next = NULL;
	if (fifo[1])
		fifo[1]->next = w;
	else
		fifo[0] = w;
	fifo[1] = w;
	w->sprev = NULL;
	w->snext = w->sess->waits;
	if (w->snext)
		w->snext->sprev = w;
	w->sess->waits = w;
	w->sess->nwaits++;
	st->nwaits++;
}

/* Links an unlinked w on o's FIFO q with no deadline. Concurrency: server thread. */
void shmrt__mwait_relink(shmrt__mstore_t *st, shmrt__mwait_t *w, shmrt__mobj_t *o, int q)
{
	assert(w->heap_at == SIZE_MAX);
	w->deadline = UINT64_MAX;
	wait_link(st, w, o, q);
}

/* Unlinks w from everything. Concurrency: the server's thread. */
void shmrt__mwait_unlink(shmrt__mstore_t *st, shmrt__mwait_t *w)
{
	shmrt__mwait_t **fifo = w->o->wq[w->q];
	if (w->prev)
		w->prev->next = w->next;
	else
		fifo[0] = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		fifo[1] = w->prev;
	if (w->sprev)
		w->sprev->snext = w->snext;
	else
		w->sess->waits = w->snext;
	if (w->snext)
		w->snext->sprev = w->sprev;
	if (w->heap_at != SIZE_MAX)
		heap_remove(st, w);
	w->prev = w->next = w->sprev = w->snext = NULL;
	w->sess->nwaits--;
	st->nwaits--;
}

/* Frees an unlinked w without answering it. */
static void wait_free(shmrt__mstore_t *st, shmrt__mwait_t *w)
{
	shmrt__mstore_drop(st, w->arg);
	free(w);
}

/*
 * Answers an unlinked w with [id, rc, res] (res consumed) and frees it. A reply that
 * cannot be built (no memory) is not sent: the client's timeout ends its wait.
 * Concurrency: the server's thread.
 */
void shmrt__mwait_answer(shmrt__mstore_t *st, shmrt__mwait_t *w, int rc, shmrt_mv_t *res)
{
	shmrt_mv_t *r = shmrt_mv_list_cap(3);
	if (rc) {
		shmrt_mv_free(res);
		res = NULL;
	}
	if (r && shmrt_mv_list_append(r, shmrt_mv_int(w->req_id)) == 0 &&
	    shmrt_mv_list_append(r, shmrt_mv_int(rc)) == 0 &&
	    shmrt_mv_list_append(r, res ? res : shmrt_mv_nil()) == 0) {
		if (st->deliver)
			st->deliver(st->cb_arg, w->sess, r);
		else
			shmrt_mv_free(r);
	} else {
		if (r && shmrt_mv_list_len(r) < 2)
			shmrt_mv_free(res);
		shmrt_mv_free(r);
	}
	wait_free(st, w);
}

/*
 * The first waiter of o's FIFO q whose peer lives, unlinked; dead ones are dropped.
 * Returns: the waiter or NULL. Concurrency: the server's thread.
 */
shmrt__mwait_t *shmrt__mwait_pop(shmrt__mstore_t *st, shmrt__mobj_t *o, int q)
{
	shmrt__mwait_t *w;
	while ((w = o->wq[q][0]) != NULL) {
		shmrt__mwait_unlink(st, w);
		if (!st->alive || st->alive(st->cb_arg, w->sess))
			return w;
		wait_free(st, w); /* its session ends when the server reads the hang-up */
	}
	return NULL;
}

/*
 * Answers the calls whose deadline is at or before now.
 * Returns: the nearest deadline left, UINT64_MAX if none. Concurrency: server thread.
 */
uint64_t shmrt__mstore_expire(shmrt__mstore_t *st, uint64_t now)
{
	while (st->nheap && st->heap[0]->deadline <= now) {
		shmrt__mwait_t *w = st->heap[0];
		shmrt__mwait_unlink(st, w);
		if (w->tmo == SHMRT__TMO_HOOK) {
			w->o->type->expire(st, w);
			continue;
		}
		shmrt_mv_t *res = NULL;
		int rc = tmo_answer(w->tmo, &res);
		shmrt__mwait_answer(st, w, rc, res);
	}
	shmrt__mstore_reap(st); /* a put that timed out dropped its item's refs */
	return st->nheap ? st->heap[0]->deadline : UINT64_MAX;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/*
 * Cancels sess's parked calls whose request ids are among ids[0, n) (a client's
 * "cancel" after its timeout passed). The ids are sorted (in place) and the
 * session's list walked once, each waiter looked up by binary search: O((n + m)
 * log n) for m parked calls, however many of either a client sends.
 * Returns: how many were found and dropped. Concurrency: the server's thread.
 */
size_t shmrt__mwait_cancel(shmrt__mstore_t *st, shmrt__msess_t *sess, int64_t *ids, size_t n)
{
	size_t found = 0;
	if (!n)
		return 0;
	qsort(ids, n, sizeof(*ids), cmp_i64);
	for (shmrt__mwait_t *w = sess->waits, *next; w; w = next) {
		next = w->snext;
		if (bsearch(&w->req_id, ids, n, sizeof(*ids), cmp_i64)) {
			shmrt__mwait_unlink(st, w);
			wait_free(st, w);
			found++;
		}
	}
	return found;
}

/* Drops every parked call of sess unanswered. */
void shmrt__mwait_drop_session(shmrt__mstore_t *st, shmrt__msess_t *sess)
{
	shmrt__mwait_t *w;
	while ((w = sess->waits) != NULL) {
		shmrt__mwait_unlink(st, w);
		if (w->o->type->sess_drop)
			w->o->type->sess_drop(st, w); /* may answer other waiters */
		wait_free(st, w);
	}
}

/* Answers every waiter of o -ENOENT (o is being destroyed). */
void shmrt__mwait_drop_object(shmrt__mstore_t *st, shmrt__mobj_t *o)
{
	for (int q = 0; q < SHMRT__MWAITQ; q++) {
		shmrt__mwait_t *w;
		while ((w = o->wq[q][0]) != NULL) {
			shmrt__mwait_unlink(st, w);
			shmrt__mwait_answer(st, w, -ENOENT, NULL);
		}
	}
}
