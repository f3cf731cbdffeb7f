/*
 * The cluster Queue: an MPMC queue of byte messages, homed on one node (hash of the
 * name), in the window of that node's leader, driven by MPI atomics from every rank.
 *
 * Layout (words, at the Queue's displacement): head, tail, the cap slots' states (one
 * word each), then the cap slots' records of 1 + ceil(msg_max / 8) words each: the
 * message's length, its bytes. Consecutive slots have consecutive states and
 * consecutive records, so a burst's run of slots is one contiguous range of each:
 * one call of plain MPI_INT64_T words per run, no derived datatype.
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
 * Bursts. push_burst takes k tickets with one CAS of tail (the states of the k slots
 * from its hinted tail read along with head and tail), claims the k slots in flight
 * and one flush, puts the k messages with one flush, and marks them full with one
 * flush: the round trips of one message. The claim of a run of slots is one
 * MPI_Get_accumulate(MPI_MAX, 4L+1) when the states read along show every slot at 4L
 * or above (a state never goes back below 4L; from 4L the MAX claims, above it changes
 * nothing, and the value it returns says which); else one CAS per slot (a MAX would
 * jump over a previous lap's message). When a consumer skipped one of the
 * k tickets (its claim fails), the producer gives up that ticket and every later one
 * of the round: those of the later slots it did claim get a hole (length SLOT_HOLE),
 * which consumers free and pass over, and their messages go again with new tickets,
 * so that a producer's messages stay in ticket order. pop_burst takes up to k tickets,
 * reads the k states at once, waits for those not yet full one by one, gets the k
 * slots at once and frees them at once. The single push and pop are bursts of one.
 *
 * The rule of cluster.h: head, tail and the states are touched by MPI atomics only (a
 * lone state is set by MPI_Fetch_and_op(MPI_REPLACE), runs of them by MPI_Accumulate,
 * claimed by CAS or MPI_Get_accumulate(MPI_MAX));
 * the length and bytes by MPI_Put and MPI_Get, only by the one rank that holds the slot
 * (the claimer, then the consumer of that ticket), ordered by the states' flushes.
 */
#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The states of the slots of tickets [t, t+n), read before a push took them. */
struct pre {
	int64_t t, n, st[SHMRT_CLUSTER_BURST_MAX];
};

enum vop { VPUT, VGET, VREPLACE, VFETCH, VMAX };
static const bool all_true[SHMRT_CLUSTER_BURST_MAX] = {
	[0 ... SHMRT_CLUSTER_BURST_MAX - 1] = true};
static int over_slots(const shmrt_cluster_queue_t *q, enum vop op, int64_t t, int64_t k,
		      const bool *ours, bool data, int64_t *origin, int64_t *scratch);

/* head and tail, each an atomic read, and with pre the states of the `want` slots
 * from the hinted tail on (a push's next tickets, if its hint is right): all in
 * flight, one flush. */
static int ends(const shmrt_cluster_queue_t *q, int64_t *head, int64_t *tail, int64_t want,
		struct pre *pre)
{
	if (MPI_Fetch_and_op(NULL, head, MPI_INT64_T, q->target, q->disp, MPI_NO_OP,
			     q->cl->win) != MPI_SUCCESS ||
	    MPI_Fetch_and_op(NULL, tail, MPI_INT64_T, q->target, q->disp + 1, MPI_NO_OP,
			     q->cl->win) != MPI_SUCCESS)
		return -EIO;
	if (pre != NULL) {
		pre->t = obj_of(q)->hint_tail;
		pre->n = want < q->cap ? want : q->cap;
		if (over_slots(q, VFETCH, pre->t, pre->n, all_true, false, pre->st, NULL) != 0)
			return -EIO;
	}
	if (MPI_Win_flush(q->target, q->cl->win) != MPI_SUCCESS)
		return -EIO;
	return 0;
}

/* Takes up to `want` consecutive tickets of word `which` (0 head, 1 tail) when the
 * queue allows it: the first in *ticket and how many in *got; -EAGAIN (empty or full,
 * deadline 0) or -ETIMEDOUT. With pre (push), the states of the slots from the hinted
 * tail on are read along with head and tail (see ends()). */
static int take_tickets(const shmrt_cluster_queue_t *q, int which, int64_t deadline,
			int64_t want, int64_t *ticket, int64_t *got, struct pre *pre)
{
	int64_t h, t, r;
	int rc;
	for (unsigned tries = 0;; tries++) {
		if ((rc = ends(q, &h, &t, want, pre)) != 0)
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

/* Where ticket's slot state lies (a word of the state array), and where its length
 * and bytes do (a record of the data array): both relative to the queue's
 * displacement. Consecutive slots are consecutive words, and consecutive records. */
static int64_t state_of(const shmrt_cluster_queue_t *q, int64_t ticket)
{
	return 2 + ticket % q->cap;
}

static int64_t data_of(const shmrt_cluster_queue_t *q, int64_t ticket)
{
	return 2 + q->cap + (ticket % q->cap) * (q->slot_words - 1);
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
	int64_t at = q->disp + state_of(q, t);

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
			     q->disp + state_of(q, h), MPI_NO_OP, win) != MPI_SUCCESS ||
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

/* The free state of each ticket of [t, t+k), 4L with L its lap, into f[0..k): one
 * division for the burst (a 64-bit division costs tens of cycles; per message, in
 * every step of a burst, they were a good part of its cost). */
static void free_states(const shmrt_cluster_queue_t *q, int64_t t, int64_t k, int64_t *f)
{
	int64_t lap = t / q->cap, idx = t - lap * q->cap;
	for (int64_t j = 0; j < k; j++) {
		f[j] = 4 * lap;
		if (++idx == q->cap) {
			idx = 0;
			lap++;
		}
	}
}

/* Whether every slot of [j, j+cnt) is this call's. */
static bool all_ours(const bool *ours, int64_t j, int64_t cnt)
{
	for (int64_t i = j; i < j + cnt; i++)
		if (!ours[i])
			return false;
	return true;
}

/* One operation over the slots of tickets [t, t+k) that are ours: on their states
 * (data false: one word each) or on their records (data true: length and bytes, nw
 * words each); origin holds as many words per slot, consecutive. Consecutive slots
 * are consecutive words of the window, so a run of consecutive slots that are all
 * ours is one call of one contiguous count of MPI_INT64_T (no derived datatype); a
 * slot not ours breaks the run. Not flushed. VREPLACE of a lone state with scratch
 * (k words, alive until the flush) goes as MPI_Fetch_and_op(MPI_REPLACE), osc/sm's
 * cheaper call for one word; a run's states go as one MPI_Accumulate(MPI_REPLACE).
 * VMAX (states only): MAX of each state with origin's, the old values into scratch. */
static int over_slots(const shmrt_cluster_queue_t *q, enum vop op, int64_t t, int64_t k,
		      const bool *ours, bool data, int64_t *origin, int64_t *scratch)
{
	MPI_Win win = q->cl->win;
	int64_t blen = data ? q->slot_words - 1 : 1;
	for (int64_t j = 0; j < k;) {
		int64_t cnt = run_len(q, t, j, k);
		if (!all_ours(ours, j, cnt))
			cnt = 1;
		if (ours[j]) {
			int rc;
			int64_t disp = q->disp + (data ? data_of(q, t + j) : state_of(q, t + j));
			int64_t *o = origin + j * blen;
			int c = (int)(cnt * blen);
			switch (op) {
			case VPUT:
				rc = MPI_Put(o, c, MPI_INT64_T, q->target, disp, c, MPI_INT64_T, win);
				break;
			case VGET:
				rc = MPI_Get(o, c, MPI_INT64_T, q->target, disp, c, MPI_INT64_T, win);
				break;
			case VREPLACE:
				if (c == 1 && scratch) {
					rc = MPI_Fetch_and_op(o, &scratch[j], MPI_INT64_T, q->target,
							      disp, MPI_REPLACE, win);
					break;
				}
				rc = MPI_Accumulate(o, c, MPI_INT64_T, q->target, disp, c, MPI_INT64_T,
						    MPI_REPLACE, win);
				break;
			case VMAX:
				rc = MPI_Get_accumulate(o, c, MPI_INT64_T, scratch + j, c,
							MPI_INT64_T, q->target, disp, c,
							MPI_INT64_T, MPI_MAX, win);
				break;
			default:
				rc = MPI_Get_accumulate(NULL, 0, MPI_INT64_T, o, c, MPI_INT64_T,
							q->target, disp, c, MPI_INT64_T, MPI_NO_OP, win);
				break;
			}
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
	int64_t deadline, t, k, nw, *stage, st[SHMRT_CLUSTER_BURST_MAX], full[SHMRT_CLUSTER_BURST_MAX],
		f4[SHMRT_CLUSTER_BURST_MAX];
	struct pre pre;
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
		if (!fast && (rc = take_tickets(q, 1, deadline, want, &t, &k, &pre)) != 0)
			break;
		/* Claim every slot at once: 4L -> 4L+1, all in flight, one flush (done by
		 * the fast path). When the states read along with the tickets (pre) show
		 * every slot at 4L or above (the previous lap done: a state never goes back
		 * below 4L), the claim is MAX(state, 4L+1) over each run of slots, one call
		 * per run: from 4L it claims; above, it changes nothing (4L+1: another
		 * rank's fast claim, given back at once, so we claim again below; 4(L+1): a
		 * consumer skipped the ticket). Else one CAS 4L -> 4L+1 per slot, as a MAX
		 * would jump over a previous lap's slot. The origin words (full[], f4[])
		 * live to the flush. */
		free_states(q, t, k, f4);
		bool by_max = !fast;
		for (int64_t j = 0; j < k && by_max; j++) {
			full[j] = f4[j] + 1;
			int64_t x = t + j - pre.t;
			by_max = x >= 0 && x < pre.n && pre.st[x] >= f4[j];
		}
		if (by_max && (rc = over_slots(q, VMAX, t, k, all_true, false, full, st)) != 0)
			goto out;
		for (int64_t j = 0, at = q->disp + state_of(q, t); j < k && !fast && !by_max; j++) {
			full[j] = f4[j] + 1;
			if (MPI_Compare_and_swap(&full[j], &f4[j], &st[j], MPI_INT64_T, q->target,
						 at, win) != MPI_SUCCESS) {
				rc = -EIO;
				goto out;
			}
			at = at + 1 == q->disp + 2 + q->cap ? q->disp + 2 : at + 1;
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
			for (unsigned tries = 0; st[j] < f4[j] || st[j] == f4[j] + 1; tries++) {
				shmrt__cl_backoff(tries);
				if ((rc = cas(q, state_of(q, t + j), f4[j], f4[j] + 1, &st[j])) != 0)
					goto out;
			}
			if (st[j] != f4[j] && lost < 0)
				lost = j;
		}
		/* The lengths and bytes (or holes) of the claimed slots, staged as whole
		 * slots and put in one call per run of consecutive slots, one flush. */
		bool ours[SHMRT_CLUSTER_BURST_MAX];
		for (int64_t j = 0; j < k; j++) {
			int64_t *w = stage + j * nw;
			ours[j] = st[j] == f4[j];
			if (lost >= 0 && j > lost) {
				w[0] = SLOT_HOLE;
				continue;
			}
			w[0] = (int64_t)lens[done + (size_t)j];
			if (lens[done + (size_t)j])
				memcpy(&w[1], msgs[done + (size_t)j], lens[done + (size_t)j]);
		}
		if ((rc = over_slots(q, VPUT, t, k, ours, true, stage, NULL)) != 0)
			goto out;
		if (MPI_Win_flush(q->target, win) != MPI_SUCCESS) {
			rc = -EIO;
			goto out;
		}
		/* Q1: the bytes are complete at the target (flushed) before the slots say
		 * full: all released at once, one flush. */
		for (int64_t j = 0; j < k; j++)
			full[j] = f4[j] + 2;
		if ((rc = over_slots(q, VREPLACE, t, k, ours, false, full,
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
		f4[SHMRT_CLUSTER_BURST_MAX], *words;
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
		else if ((rc = take_tickets(q, 0, deadline, (int64_t)n, &h, &k, NULL)) != 0)
			goto out;
		/* Wait for every slot to be full: their states at once (read by the fast
		 * path), then each one not yet full on its own. A slot whose producer has not
		 * claimed it when the deadline passes is skipped (CAS 4L -> 4(L+1)): its
		 * producer retries; a claimed one is waited for. */
		for (int64_t j = 0; j < k; j++)
			mine[j] = true;
		if (!fast && (rc = over_slots(q, VFETCH, h, k, mine, false, st, NULL)) != 0)
			goto out;
		if (!fast && MPI_Win_flush(q->target, win) != MPI_SUCCESS) {
			rc = -EIO;
			goto out;
		}
		free_states(q, h, k, f4);
		for (int64_t j = 0; j < k; j++) {
			for (unsigned tries = 0; st[j] != f4[j] + 2; tries++) {
				int64_t at = state_of(q, h + j);
				if (st[j] == f4[j] && deadline >= 0 && now_ns() >= deadline) {
					if ((rc = cas(q, at, f4[j], f4[j] + 4, &r)) != 0)
						goto out;
					if (r == f4[j]) {
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
		if ((rc = over_slots(q, VGET, h, k, mine, true, words, NULL)) != 0)
			goto out;
		if (MPI_Win_flush(q->target, win) != MPI_SUCCESS) {
			rc = -EIO;
			goto out;
		}
		/* Q3: read (flushed) before the slots are freed for the next lap, at once. */
		for (int64_t j = 0; j < k; j++)
			nx[j] = f4[j] + 4;
		if ((rc = over_slots(q, VREPLACE, h, k, mine, false, nx,
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
