/*
 * The cluster Queue: an MPMC queue of byte messages, homed on one node (hash of the
 * name), in the window of that node's leader, driven by MPI atomics from every rank.
 *
 * Layout (words, at the Queue's displacement): head, tail, then cap slots of
 * 2 + ceil(msg_max / 8) words each: the slot's state, the message's length, its bytes.
 *
 * Tickets and slot states (Vyukov's bounded queue, with the per-slot sequence kept as
 * a state word of laps): ticket t uses slot t % cap in lap L = t / cap. The slot's
 * state is
 *     4L      free for lap L          (zero at creation: free for lap 0)
 *     4L + 1  claimed by the producer of ticket t, being written
 *     4L + 2  full: ticket t's message
 *     4(L+1)  read (or skipped): free for lap L + 1
 * A producer takes a ticket only when the queue is not full (CAS of tail after reading
 * head and tail: a full queue costs no ticket), then claims the slot with a CAS
 * 4L -> 4L+1 (waiting while the previous lap's consumer has not released it), puts the
 * length and bytes, and releases the slot as full (4L+2). A consumer takes a ticket
 * only when the queue is not empty (CAS of head), waits for 4L+2, gets the message and
 * frees the slot for the next lap.
 *
 * A ticket whose producer does not come: a consumer that reaches its timeout on a slot
 * still free for its lap (4L: the producer took the ticket but has not claimed the
 * slot) skips it with a CAS 4L -> 4(L+1); the producer's claim then fails and it
 * retries with a new ticket, so nothing is lost and nothing waits forever. A slot
 * already claimed (4L+1) is never skipped: its producer is writing, and across nodes
 * the model is fail-stop (a producer that dies ends the job), so the consumer waits
 * for it, beyond its timeout if need be. No slot is ever left unusable.
 *
 * The rule of cluster.h: head, tail and the states are touched by MPI atomics only; the
 * length and bytes by MPI_Put and MPI_Get, only by the one rank that holds the slot
 * (the claimer, then the consumer of that ticket), ordered by the states' flushes.
 */
#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOT_STATE 0
#define SLOT_LEN 1
#define SLOT_DATA 2

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

SHMRT_API int shmrt_cluster_queue_open(shmrt_cluster_t *cl, const char *name, size_t capacity,
				       size_t msg_max, shmrt_cluster_queue_t *out)
{
	struct object *ob;
	shmrt_cluster_queue_t q;
	int64_t sw, words;
	int rc;

	if (cl == NULL || out == NULL)
		return -EINVAL;
	rc = shmrt__cl_agree(cl->comm, (capacity < 1 || capacity > (1u << 24) || msg_max < 1 ||
					msg_max > (1u << 20)) ? -EINVAL : 0);
	if (rc != 0)
		return rc;
	sw = 2 + (int64_t)((msg_max + 7) / 8);
	words = 2 + (int64_t)capacity * sw;
	rc = shmrt__cl_place(cl, name, KIND_QUEUE,
			     ((uint64_t)capacity << 32) ^ (uint64_t)msg_max ^ 0x5155455545ull,
			     shmrt_cluster_home(cl, name), words, &ob);
	if (rc < 0)
		return rc;
	if (rc == 0)
		ob->len = (int64_t)capacity << 32 | (int64_t)msg_max;
	else if (ob->len != ((int64_t)capacity << 32 | (int64_t)msg_max))
		return -EINVAL;  /* the same on every rank */
	q.cl = cl;
	q.home = ob->home;
	q.target = cl->leader[ob->home];
	q.disp = ob->disp;
	q.cap = (int64_t)capacity;
	q.slot_words = sw;
	q.msg_max = msg_max;
	*out = q;  /* the window is zero: head = tail = 0, every slot free for lap 0 */
	return 0;
}

static bool bad_queue(const shmrt_cluster_queue_t *q)
{
	return q == NULL || q->cl == NULL || q->cap < 1 || q->slot_words < 3 ||
	       q->disp < 0 || q->disp + 2 + q->cap * q->slot_words > q->cl->words;
}

/* One atomic op on word d of the queue's home, flushed: 1 round trip. */
static int fop(const shmrt_cluster_queue_t *q, int64_t d, MPI_Op op, int64_t arg, int64_t *res)
{
	if (MPI_Fetch_and_op(&arg, res, MPI_INT64_T, q->target, q->disp + d, op, q->cl->win) !=
		    MPI_SUCCESS ||
	    MPI_Win_flush(q->target, q->cl->win) != MPI_SUCCESS)
		return -EIO;
	return 0;
}

static int cas(const shmrt_cluster_queue_t *q, int64_t d, int64_t expect, int64_t desired,
	       int64_t *res)
{
	if (MPI_Compare_and_swap(&desired, &expect, res, MPI_INT64_T, q->target, q->disp + d,
				 q->cl->win) != MPI_SUCCESS ||
	    MPI_Win_flush(q->target, q->cl->win) != MPI_SUCCESS)
		return -EIO;
	return 0;
}

/* head and tail, each an atomic read (both in flight, one flush). */
static int ends(const shmrt_cluster_queue_t *q, int64_t *head, int64_t *tail)
{
	if (MPI_Fetch_and_op(NULL, head, MPI_INT64_T, q->target, q->disp, MPI_NO_OP,
			     q->cl->win) != MPI_SUCCESS ||
	    MPI_Fetch_and_op(NULL, tail, MPI_INT64_T, q->target, q->disp + 1, MPI_NO_OP,
			     q->cl->win) != MPI_SUCCESS ||
	    MPI_Win_flush(q->target, q->cl->win) != MPI_SUCCESS)
		return -EIO;
	return 0;
}

/* Takes a ticket of word `which` (0 head, 1 tail) when the queue allows it: the
 * ticket, -EAGAIN (empty or full; timeout 0) or -ETIMEDOUT. */
static int take_ticket(const shmrt_cluster_queue_t *q, int which, int64_t deadline,
		       int64_t *ticket)
{
	int64_t h, t, r;
	int rc;
	for (unsigned tries = 0;; tries++) {
		if ((rc = ends(q, &h, &t)) != 0)
			return rc;
		bool can = which == 0 ? t - h > 0 : t - h < q->cap;
		if (can) {
			int64_t cur = which == 0 ? h : t;
			if ((rc = cas(q, which, cur, cur + 1, &r)) != 0)
				return rc;
			if (r == cur) {
				*ticket = cur;
				return 0;
			}
			continue;  /* another rank took it: look again at once */
		}
		if (deadline == 0)
			return -EAGAIN;
		if (deadline > 0 && now_ns() >= deadline)
			return -ETIMEDOUT;
		shmrt__cl_backoff(tries);
	}
}

static int64_t deadline_of(shmrt_ns_t timeout)
{
	if (timeout < 0)
		return -1;
	if (timeout == 0)
		return 0;
	return now_ns() + timeout;
}

SHMRT_API int shmrt_cluster_queue_push(const shmrt_cluster_queue_t *q, const void *msg,
				       size_t len, shmrt_ns_t timeout)
{
	int64_t deadline, t, st, lap, slot, r, lenw;
	int rc;

	if (bad_queue(q) || (msg == NULL && len > 0))
		return -EINVAL;
	if (len > q->msg_max)
		return -EMSGSIZE;
	deadline = deadline_of(timeout);
	for (;;) {
		if ((rc = take_ticket(q, 1, deadline, &t)) != 0)
			return rc;
		lap = t / q->cap;
		slot = 2 + (t % q->cap) * q->slot_words;
		/* Claim: 4L -> 4L+1, waiting for the previous lap's consumer to free it. */
		for (unsigned tries = 0;; tries++) {
			if ((rc = cas(q, slot + SLOT_STATE, 4 * lap, 4 * lap + 1, &st)) != 0)
				return rc;
			if (st >= 4 * lap)
				break;
			shmrt__cl_backoff(tries);  /* the consumer of ticket t - cap reads */
		}
		if (st == 4 * lap)
			break;
		/* Skipped by a consumer that timed out: this ticket is gone, take another. */
	}
	lenw = (int64_t)len;
	if (MPI_Put(&lenw, 1, MPI_INT64_T, q->target, q->disp + slot + SLOT_LEN, 1, MPI_INT64_T,
		    q->cl->win) != MPI_SUCCESS ||
	    (len > 0 && MPI_Put(msg, (int)len, MPI_BYTE, q->target,
				(q->disp + slot + SLOT_DATA), (int)len, MPI_BYTE,
				q->cl->win) != MPI_SUCCESS) ||
	    MPI_Win_flush(q->target, q->cl->win) != MPI_SUCCESS)
		return -EIO;
	/* Q1: the bytes are complete at the target (flushed) before the slot says full. */
	return fop(q, slot + SLOT_STATE, MPI_REPLACE, 4 * lap + 2, &r);
}

SHMRT_API int shmrt_cluster_queue_pop(const shmrt_cluster_queue_t *q, void *buf, size_t cap,
				      size_t *len, shmrt_ns_t timeout)
{
	int64_t deadline, h, st, lap, slot, r, lenw, nw, small[1 + 8], *words;
	int rc;

	if (bad_queue(q) || buf == NULL || len == NULL)
		return -EINVAL;
	if (cap < q->msg_max)
		return -EMSGSIZE;
	/* The bounce for the length and bytes, before the ticket: a pop that took one
	 * must complete. */
	nw = 1 + (int64_t)((q->msg_max + 7) / 8);
	words = nw <= 9 ? small : malloc(sizeof(int64_t) * (size_t)nw);
	if (words == NULL)
		return -ENOMEM;
	deadline = deadline_of(timeout);
	if ((rc = take_ticket(q, 0, deadline, &h)) != 0)
		goto out;
	lap = h / q->cap;
	slot = 2 + (h % q->cap) * q->slot_words;
	for (unsigned tries = 0;; tries++) {
		if ((rc = fop(q, slot + SLOT_STATE, MPI_NO_OP, 0, &st)) != 0)
			goto out;
		if (st == 4 * lap + 2)
			break;
		if (st == 4 * lap && deadline >= 0 && now_ns() >= deadline) {
			/* The producer of ticket h has not claimed the slot: skip it. */
			if ((rc = cas(q, slot + SLOT_STATE, 4 * lap, 4 * (lap + 1), &r)) != 0)
				goto out;
			if (r == 4 * lap) {
				rc = -ETIMEDOUT;
				goto out;
			}
			continue;  /* it claimed meanwhile: wait for it */
		}
		shmrt__cl_backoff(tries);
	}
	/* Q2: the state read full (flushed) before the length and bytes are fetched, in
	 * one MPI_Get of whole words. */
	if (MPI_Get(words, (int)nw, MPI_INT64_T, q->target, q->disp + slot + SLOT_LEN, (int)nw,
		    MPI_INT64_T, q->cl->win) != MPI_SUCCESS ||
	    MPI_Win_flush(q->target, q->cl->win) != MPI_SUCCESS) {
		rc = -EIO;
		goto out;
	}
	lenw = words[0];
	if (lenw < 0 || (uint64_t)lenw > q->msg_max) {
		rc = -EIO;  /* impossible: only push writes it */
		goto out;
	}
	memcpy(buf, &words[1], (size_t)lenw);
	/* Q3: the bytes are read (flushed) before the slot is freed for the next lap. */
	if ((rc = fop(q, slot + SLOT_STATE, MPI_REPLACE, 4 * (lap + 1), &r)) != 0)
		goto out;
	*len = (size_t)lenw;
out:
	if (words != small)
		free(words);
	return rc;
}
