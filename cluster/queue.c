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
 * The single calls' fast paths. Each rank keeps hints of head and tail (the largest
 * values it has seen or made; lower bounds, as both only grow). A single push tries,
 * in one round trip, CAS tail t -> t+1 with t the hinted tail AND the claim of t's
 * slot (4L -> 4L+1), when the hints leave room (t - hinted head < cap: if the CAS
 * finds tail at t, the real head is at least the hint, so the queue was not full and
 * no full queue spends a ticket). If the ticket was someone else's and the claim went
 * through, the claim is given back at once (CAS 4L+1 -> 4L); the ticket's owner, whose
 * claim found 4L+1, waits and claims again, and a consumer never skips 4L+1. Then put
 * and mark full: 3 round trips against 5. A single pop tries, in one round trip, CAS
 * head h -> h+1 with h the hinted head, with h's slot state read along, when h < the
 * hinted tail (the queue was not empty at the CAS, and a producer holds ticket h);
 * then get and free: 3 round trips. The hints never decide correctness: a CAS that
 * fails costs the round trip and the general path (read head and tail, CAS) follows.
 * On Open MPI's osc/sm every atomic takes the target's lock, so there the cost is the
 * count of calls (a push makes 4, a pop 4) more than the round trips.
 *
 * What the fast push changes for a producer that dies: its ticket and its claim go in
 * one round trip, so the window in which a death leaves a skippable ticket (taken, not
 * claimed) is that of two atomics landing apart; a death after the claim leaves a
 * claimed slot, which was and is waited for (fail-stop across nodes: the job ends),
 * and so does a death between a claim for another rank's ticket and its return.
 *
 * Bursts. push_burst takes k tickets with one CAS of tail, claims the k slots with k
 * CAS in flight and one flush, puts the k messages with one flush, and marks them full
 * with one flush: the round trips of one message. When a consumer skipped one of the
 * k tickets (its claim fails), the producer gives up that ticket and every later one
 * of the round: those of the later slots it did claim get a hole (length SLOT_HOLE),
 * which consumers free and pass over, and their messages go again with new tickets,
 * so that a producer's messages stay in ticket order. pop_burst takes up to k tickets,
 * reads the k states at once, waits for those not yet full one by one, gets the k
 * slots at once and frees them at once. The single push and pop are bursts of one.
 *
 * The rule of cluster.h: head, tail and the states are touched by MPI atomics only (a
 * lone state is set by MPI_Fetch_and_op(MPI_REPLACE), runs of them by MPI_Accumulate);
 * the length and bytes by MPI_Put and MPI_Get, only by the one rank that holds the slot
 * (the claimer, then the consumer of that ticket), ordered by the states' flushes.
 */
#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOT_STATE 0
#define SLOT_LEN 1
#define SLOT_DATA 2
#define SMALL_WORDS 64  /* staging on the stack up to this many words */
#define SLOT_HOLE (-1)  /* a length that says: no message (a burst's ticket given up) */

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
	q.obj = (size_t)(ob - cl->objs);
	*out = q;  /* the window is zero: head = tail = 0, every slot free for lap 0 */
	return 0;
}

static bool bad_queue(const shmrt_cluster_queue_t *q)
{
	return q == NULL || q->cl == NULL || q->obj >= q->cl->nobjs || q->cap < 1 ||
	       q->slot_words < 3 ||
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

static struct object *obj_of(const shmrt_cluster_queue_t *q)
{
	return &q->cl->objs[q->obj];
}

/* Records a head and a tail seen (or known) at the home: the hints keep the largest. */
static void hint(const shmrt_cluster_queue_t *q, int64_t head, int64_t tail)
{
	struct object *ob = obj_of(q);
	if (head > ob->hint_head)
		ob->hint_head = head;
	if (tail > ob->hint_tail)
		ob->hint_tail = tail;
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

/* Takes up to `want` consecutive tickets of word `which` (0 head, 1 tail) when the
 * queue allows it: the first in *ticket and how many in *got; -EAGAIN (empty or full,
 * deadline 0) or -ETIMEDOUT. */
static int take_tickets(const shmrt_cluster_queue_t *q, int which, int64_t deadline,
			int64_t want, int64_t *ticket, int64_t *got)
{
	int64_t h, t, r;
	int rc;
	for (unsigned tries = 0;; tries++) {
		if ((rc = ends(q, &h, &t)) != 0)
			return rc;
		hint(q, h, t);
		int64_t room = which == 0 ? t - h : q->cap - (t - h);
		if (room > 0) {
			int64_t cur = which == 0 ? h : t, k = room < want ? room : want;
			if ((rc = cas(q, which, cur, cur + k, &r)) != 0)
				return rc;
			if (r == cur) {
				*ticket = cur;
				*got = k;
				if (which == 0)
					hint(q, cur + k, 0);
				else
					hint(q, 0, cur + k);
				return 0;
			}
			continue;  /* another rank took some: look again at once */
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

static int64_t slot_of(const shmrt_cluster_queue_t *q, int64_t ticket)
{
	return 2 + (ticket % q->cap) * q->slot_words;
}

/*
 * The push's fast path: one round trip in which the hinted ticket t = hint_tail is
 * taken (CAS tail t -> t+1), its slot claimed (CAS 4L -> 4L+1) and head read, all in
 * flight together. Tried only when the hints say there is room (t - hint_head < cap:
 * the hints are lower bounds, so a CAS that finds tail at t took a ticket of a queue
 * that was not full). Returns 1 with *ticket when the ticket was taken: *st is then
 * what the claim found (4L: claimed); 0 when the ticket was not (another rank took it:
 * a claim that went through is undone at once, CAS 4L+1 -> 4L; the ticket's owner
 * waits on 4L+1 meanwhile, and a consumer never skips it); -EAGAIN when the hints say
 * full; -EIO.
 */
static int fast_push_ticket(const shmrt_cluster_queue_t *q, int64_t *ticket, int64_t *st)
{
	struct object *ob = obj_of(q);
	MPI_Win win = q->cl->win;
	int64_t t = ob->hint_tail, h = ob->hint_head, next = t + 1, rt, hh, r;
	int64_t lap = t / q->cap, from = 4 * lap, to = 4 * lap + 1;
	int64_t at = q->disp + slot_of(q, t) + SLOT_STATE;

	if (t - h >= q->cap)
		return -EAGAIN;
	/* Head is read along only when the hints leave less than half the ring: that
	 * keeps them fresh where they matter, and the call is spared elsewhere. */
	hh = h;
	if ((t - h >= q->cap / 2 &&
	     MPI_Fetch_and_op(NULL, &hh, MPI_INT64_T, q->target, q->disp, MPI_NO_OP, win) !=
		     MPI_SUCCESS) ||
	    MPI_Compare_and_swap(&next, &t, &rt, MPI_INT64_T, q->target, q->disp + 1, win) !=
		    MPI_SUCCESS ||
	    MPI_Compare_and_swap(&to, &from, st, MPI_INT64_T, q->target, at, win) != MPI_SUCCESS ||
	    MPI_Win_flush(q->target, win) != MPI_SUCCESS)
		return -EIO;
	hint(q, hh, rt == t ? t + 1 : rt);
	if (rt == t) {
		*ticket = t;
		return 1;
	}
	if (*st == from) {
		/* Not our ticket's slot: give the claim back to its owner. */
		if (cas(q, at - q->disp, to, from, &r) != 0)
			return -EIO;
		if (r != to)
			return -EIO;  /* impossible: only we move a slot out of 4L+1 */
	}
	return 0;
}

/*
 * The pop's fast path: one round trip in which the hinted ticket h = hint_head is
 * taken (CAS head h -> h+1), tail read and h's slot state read, in flight together;
 * tried only when the hints say the queue is not empty (h < hint_tail, a lower bound).
 * Returns 1 with *ticket and the state read in *st when the ticket was taken, 0 when
 * another rank took it, -EAGAIN when the hints say empty, -EIO.
 */
static int fast_pop_ticket(const shmrt_cluster_queue_t *q, int64_t *ticket, int64_t *st)
{
	struct object *ob = obj_of(q);
	MPI_Win win = q->cl->win;
	int64_t h = ob->hint_head, next = h + 1, rh, tt;

	if (h >= ob->hint_tail)
		return -EAGAIN;
	/* Tail is not read: when the hints run out, the general path reads both ends. */
	tt = ob->hint_tail;
	if (MPI_Compare_and_swap(&next, &h, &rh, MPI_INT64_T, q->target, q->disp, win) !=
		    MPI_SUCCESS ||
	    MPI_Fetch_and_op(NULL, st, MPI_INT64_T, q->target,
			     q->disp + slot_of(q, h) + SLOT_STATE, MPI_NO_OP, win) != MPI_SUCCESS ||
	    MPI_Win_flush(q->target, win) != MPI_SUCCESS)
		return -EIO;
	hint(q, rh == h ? h + 1 : rh, tt);
	if (rh != h)
		return 0;
	*ticket = h;
	return 1;
}

/* How many of tickets [t+j, t+k) lie in consecutive slots (up to the ring's end). */
static int64_t run_len(const shmrt_cluster_queue_t *q, int64_t t, int64_t j, int64_t k)
{
	int64_t to_end = q->cap - (t + j) % q->cap;
	return k - j < to_end ? k - j : to_end;
}

/* The target datatype of cnt consecutive slots, blen words of each: a vector with the
 * slots' stride (one call for a run of slots), or blen plain words for one slot. */
static int slot_vec(const shmrt_cluster_queue_t *q, int64_t cnt, int64_t blen, MPI_Datatype *ty,
		    int *tcount)
{
	if (cnt == 1) {
		*ty = MPI_INT64_T;
		*tcount = (int)blen;
		return 0;
	}
	if (MPI_Type_vector((int)cnt, (int)blen, (int)q->slot_words, MPI_INT64_T, ty) !=
		    MPI_SUCCESS ||
	    MPI_Type_commit(ty) != MPI_SUCCESS)
		return -EIO;
	*tcount = 1;
	return 0;
}

static void slot_vec_free(MPI_Datatype *ty)
{
	if (*ty != MPI_INT64_T)
		MPI_Type_free(ty);  /* operations issued with it complete normally */
}

/* Whether every slot of [j, j+cnt) is this call's. */
static bool all_ours(const bool *ours, int64_t j, int64_t cnt)
{
	for (int64_t i = j; i < j + cnt; i++)
		if (!ours[i])
			return false;
	return true;
}

enum vop { VPUT, VGET, VREPLACE, VFETCH };

/* One operation over the slots of tickets [t, t+k) that are ours, at word `off` of
 * each slot, blen words each (origin: blen words per slot, consecutive): one call per
 * run of consecutive slots that are all ours, else one per slot. Not flushed. VREPLACE
 * of one word per slot with scratch (k words, alive until the flush) goes as
 * MPI_Fetch_and_op(MPI_REPLACE) on each slot alone. */
static int over_slots(const shmrt_cluster_queue_t *q, enum vop op, int64_t t, int64_t k,
		      const bool *ours, int64_t off, int64_t blen, int64_t *origin,
		      int64_t *scratch)
{
	MPI_Win win = q->cl->win;
	for (int64_t j = 0; j < k;) {
		int64_t cnt = run_len(q, t, j, k);
		if (!all_ours(ours, j, cnt))
			cnt = 1;
		if (ours[j]) {
			MPI_Datatype ty;
			int tc, rc;
			int64_t disp = q->disp + slot_of(q, t + j) + off, *o = origin + j * blen;
			int oc = (int)(cnt * blen);
			if (slot_vec(q, cnt, blen, &ty, &tc) != 0)
				return -EIO;
			switch (op) {
			case VPUT:
				rc = MPI_Put(o, oc, MPI_INT64_T, q->target, disp, tc, ty, win);
				break;
			case VGET:
				rc = MPI_Get(o, oc, MPI_INT64_T, q->target, disp, tc, ty, win);
				break;
			case VREPLACE:
				if (oc == 1 && scratch) {
					/* One word: the atomic's own call (osc/sm's is cheaper
					 * than its general accumulate); the old value goes to
					 * scratch[j], alive until the flush. */
					rc = MPI_Fetch_and_op(o, &scratch[j], MPI_INT64_T, q->target,
							      disp, MPI_REPLACE, win);
					break;
				}
				rc = MPI_Accumulate(o, oc, MPI_INT64_T, q->target, disp, tc, ty,
						    MPI_REPLACE, win);
				break;
			default:
				rc = MPI_Get_accumulate(NULL, 0, MPI_INT64_T, o, oc, MPI_INT64_T,
							q->target, disp, tc, ty, MPI_NO_OP, win);
				break;
			}
			slot_vec_free(&ty);
			if (rc != MPI_SUCCESS)
				return -EIO;
		}
		j += cnt;
	}
	return 0;
}

SHMRT_API int shmrt_cluster_queue_push_burst(const shmrt_cluster_queue_t *q,
					     const void *const *msgs, const size_t *lens,
					     size_t n, shmrt_ns_t timeout, size_t *pushed)
{
	MPI_Win win;
	int64_t deadline, t, k, nw, *stage, st[SHMRT_CLUSTER_BURST_MAX], full[SHMRT_CLUSTER_BURST_MAX];
	size_t done = 0;
	int rc = 0;

	if (bad_queue(q) || pushed == NULL || (n > 0 && (msgs == NULL || lens == NULL)))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (msgs[i] == NULL && lens[i] > 0)
			return -EINVAL;
		if (lens[i] > q->msg_max)
			return -EMSGSIZE;
	}
	/* The staging of whole slots (length word, bytes), before any ticket. */
	nw = 1 + (int64_t)((q->msg_max + 7) / 8);
	size_t sn = (size_t)nw * (n < SHMRT_CLUSTER_BURST_MAX ? (n ? n : 1) : SHMRT_CLUSTER_BURST_MAX);
	int64_t small[SMALL_WORDS];
	stage = sn <= SMALL_WORDS ? small : malloc(sizeof(int64_t) * sn);
	if (stage == NULL)
		return -ENOMEM;
	win = q->cl->win;
	deadline = deadline_of(timeout);
	while (done < n) {
		int64_t want = (int64_t)(n - done) < SHMRT_CLUSTER_BURST_MAX ?
				       (int64_t)(n - done) : SHMRT_CLUSTER_BURST_MAX;
		int fast = 0;
		if (want == 1) {
			/* One message: the fast path (a ticket, its claim and head in one
			 * round trip), tried twice when another rank took the ticket. */
			for (int i = 0; i < 2 && fast == 0; i++)
				fast = fast_push_ticket(q, &t, &st[0]);
			if (fast == -EIO) {
				rc = -EIO;
				goto out;
			}
			fast = fast == 1;
			k = 1;
		}
		if (!fast && (rc = take_tickets(q, 1, deadline, want, &t, &k)) != 0)
			break;
		/* Claim every slot at once: 4L -> 4L+1, all in flight, one flush (done by
		 * the fast path). */
		for (int64_t j = 0; j < k && !fast; j++) {
			int64_t lap = (t + j) / q->cap, from = 4 * lap, to = 4 * lap + 1;
			if (MPI_Compare_and_swap(&to, &from, &st[j], MPI_INT64_T, q->target,
						 q->disp + slot_of(q, t + j) + SLOT_STATE,
						 win) != MPI_SUCCESS) {
				rc = -EIO;
				goto out;
			}
		}
		if (!fast && MPI_Win_flush(q->target, win) != MPI_SUCCESS) {
			rc = -EIO;
			goto out;
		}
		/* In ticket order: a slot the previous lap's consumer still reads is claimed
		 * again until it is free, and so is one a fast push of another rank claimed
		 * for a ticket it did not get (4L+1: it gives it back at once); a slot a
		 * consumer skipped (its timeout ran out before we claimed it) loses its
		 * ticket. From the first lost one on, the claimed slots carry holes and their
		 * messages go again with new tickets, so that this producer's messages stay
		 * in order. */
		int64_t lost = -1;
		for (int64_t j = 0; j < k; j++) {
			int64_t lap = (t + j) / q->cap;
			for (unsigned tries = 0; st[j] < 4 * lap || st[j] == 4 * lap + 1; tries++) {
				shmrt__cl_backoff(tries);
				if ((rc = cas(q, slot_of(q, t + j) + SLOT_STATE, 4 * lap, 4 * lap + 1,
					      &st[j])) != 0)
					goto out;
			}
			if (st[j] != 4 * lap && lost < 0)
				lost = j;
		}
		/* The lengths and bytes (or holes) of the claimed slots, staged as whole
		 * slots and put in one call per run of consecutive slots, one flush. */
		bool ours[SHMRT_CLUSTER_BURST_MAX];
		for (int64_t j = 0; j < k; j++) {
			int64_t *w = stage + j * nw;
			ours[j] = st[j] == 4 * ((t + j) / q->cap);
			if (lost >= 0 && j > lost) {
				w[0] = SLOT_HOLE;
				continue;
			}
			w[0] = (int64_t)lens[done + (size_t)j];
			if (lens[done + (size_t)j])
				memcpy(&w[1], msgs[done + (size_t)j], lens[done + (size_t)j]);
		}
		if ((rc = over_slots(q, VPUT, t, k, ours, SLOT_LEN, nw, stage, NULL)) != 0)
			goto out;
		if (MPI_Win_flush(q->target, win) != MPI_SUCCESS) {
			rc = -EIO;
			goto out;
		}
		/* Q1: the bytes are complete at the target (flushed) before the slots say
		 * full: all released at once, one flush. */
		for (int64_t j = 0; j < k; j++)
			full[j] = 4 * ((t + j) / q->cap) + 2;
		if ((rc = over_slots(q, VREPLACE, t, k, ours, SLOT_STATE, 1, full,
				      k == 1 ? st : NULL)) != 0)
			goto out;
		if (MPI_Win_flush(q->target, win) != MPI_SUCCESS) {
			rc = -EIO;
			goto out;
		}
		done += (size_t)(lost >= 0 ? lost : k);
	}
	if (done > 0)
		rc = 0;
out:
	if (stage != small)
		free(stage);
	*pushed = done;
	return rc;
}

SHMRT_API int shmrt_cluster_queue_push(const shmrt_cluster_queue_t *q, const void *msg,
				       size_t len, shmrt_ns_t timeout)
{
	size_t pushed;
	return shmrt_cluster_queue_push_burst(q, &msg, &len, 1, timeout, &pushed);
}

SHMRT_API int shmrt_cluster_queue_pop_burst(const shmrt_cluster_queue_t *q, void *buf,
					    size_t stride, size_t *lens, size_t n,
					    shmrt_ns_t timeout, size_t *popped)
{
	MPI_Win win;
	int64_t deadline, h, k, nw, st[SHMRT_CLUSTER_BURST_MAX], nx[SHMRT_CLUSTER_BURST_MAX], r,
		*words;
	bool mine[SHMRT_CLUSTER_BURST_MAX];
	size_t got = 0;
	int rc = 0;

	if (bad_queue(q) || buf == NULL || lens == NULL || popped == NULL || n == 0)
		return -EINVAL;
	if (stride < q->msg_max)
		return -EMSGSIZE;
	if (n > SHMRT_CLUSTER_BURST_MAX)
		n = SHMRT_CLUSTER_BURST_MAX;
	/* The bounce for lengths and bytes, before any ticket: a pop that took tickets
	 * must complete. */
	nw = 1 + (int64_t)((q->msg_max + 7) / 8);
	int64_t small[SMALL_WORDS];
	words = (size_t)nw * n <= SMALL_WORDS ? small : malloc(sizeof(int64_t) * (size_t)nw * n);
	if (words == NULL)
		return -ENOMEM;
	win = q->cl->win;
	deadline = deadline_of(timeout);
	while (got == 0) {
		/* One message: the fast path (the ticket, tail and the slot's state in one
		 * round trip), tried twice when another rank took the ticket. */
		int fast = 0;
		for (int i = 0; n == 1 && i < 2 && fast == 0; i++)
			fast = fast_pop_ticket(q, &h, &st[0]);
		if (fast == -EIO) {
			rc = -EIO;
			goto out;
		}
		fast = fast == 1;
		if (fast)
			k = 1;
		else if ((rc = take_tickets(q, 0, deadline, (int64_t)n, &h, &k)) != 0)
			goto out;
		/* Wait for every slot to be full: their states at once (read by the fast
		 * path), then each one not yet full on its own. A slot whose producer has not
		 * claimed it when the deadline passes is skipped (CAS 4L -> 4(L+1)): its
		 * producer retries; a claimed one is waited for. */
		for (int64_t j = 0; j < k; j++)
			mine[j] = true;
		if (!fast && (rc = over_slots(q, VFETCH, h, k, mine, SLOT_STATE, 1, st, NULL)) != 0)
			goto out;
		if (!fast && MPI_Win_flush(q->target, win) != MPI_SUCCESS) {
			rc = -EIO;
			goto out;
		}
		for (int64_t j = 0; j < k; j++) {
			int64_t lap = (h + j) / q->cap, at = slot_of(q, h + j) + SLOT_STATE;
			for (unsigned tries = 0; st[j] != 4 * lap + 2; tries++) {
				if (st[j] == 4 * lap && deadline >= 0 && now_ns() >= deadline) {
					if ((rc = cas(q, at, 4 * lap, 4 * (lap + 1), &r)) != 0)
						goto out;
					if (r == 4 * lap) {
						mine[j] = false;  /* skipped: freed for the next lap */
						break;
					}
					st[j] = r;
					continue;
				}
				shmrt__cl_backoff(tries);
				if ((rc = fop(q, at, MPI_NO_OP, 0, &st[j])) != 0)
					goto out;
			}
		}
		/* Q2: the states read full (flushed) before the lengths and bytes are fetched,
		 * one call per run of consecutive slots, one flush. */
		if ((rc = over_slots(q, VGET, h, k, mine, SLOT_LEN, nw, words, NULL)) != 0)
			goto out;
		if (MPI_Win_flush(q->target, win) != MPI_SUCCESS) {
			rc = -EIO;
			goto out;
		}
		/* Q3: read (flushed) before the slots are freed for the next lap, at once. */
		for (int64_t j = 0; j < k; j++)
			nx[j] = 4 * ((h + j) / q->cap + 1);
		if ((rc = over_slots(q, VREPLACE, h, k, mine, SLOT_STATE, 1, nx,
				      k == 1 ? st : NULL)) != 0)
			goto out;
		if (MPI_Win_flush(q->target, win) != MPI_SUCCESS) {
			rc = -EIO;
			goto out;
		}
		for (int64_t j = 0; j < k; j++) {
			int64_t lenw = words[j * nw];
			if (!mine[j] || lenw == SLOT_HOLE)
				continue;
			if (lenw < 0 || (uint64_t)lenw > q->msg_max) {
				rc = -EIO;  /* impossible: only push writes it */
				goto out;
			}
			memcpy((char *)buf + got * stride, &words[j * nw + 1], (size_t)lenw);
			lens[got++] = (size_t)lenw;
		}
		/* Only holes and skipped slots: take more tickets (or time out). */
		if (got == 0 && deadline >= 0 && now_ns() >= deadline) {
			rc = deadline == 0 ? -EAGAIN : -ETIMEDOUT;
			goto out;
		}
	}
	rc = 0;
out:
	if (words != small)
		free(words);
	*popped = got;
	return rc;
}

SHMRT_API int shmrt_cluster_queue_pop(const shmrt_cluster_queue_t *q, void *buf, size_t cap,
				      size_t *len, shmrt_ns_t timeout)
{
	size_t popped;
	if (len == NULL)
		return -EINVAL;
	return shmrt_cluster_queue_pop_burst(q, buf, cap, len, 1, timeout, &popped);
}
