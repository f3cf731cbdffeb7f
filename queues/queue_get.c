/*
 * Queue consumers: take the oldest committed message, in ticket order (the protocol and
 * the labels are in queue_int.h).
 *
 * A get reads c_head, then the state of slot c_head (A4); if it says committed, it
 * copies the payload out and moves c_head past it (a CAS, M2, or a store for a single
 * consumer, R6). Holes are skipped; a slot claimed by a zero-copy consumer that has not
 * yet moved c_head is waited out. When nothing is there, a consumer spins on the state
 * of the slot the next message will fill (the line it comes in anyway), within the
 * spin budget, then sleeps on p_tail behind ptail_waiters, and between slices checks
 * for a dead producer holding the queue up. peek/release take a message in place.
 */
#define _GNU_SOURCE
#include "queue_int.h"

/*
 * Takes up to n messages with one CAS on c_head (holes among them are skipped). Returns
 * the number taken (>= 1), -EAGAIN (none now), or -EMSGSIZE (the first one does not
 * fit: *lens says its size; a later one that does not fit ends the batch before it).
 */
static int take_many(const shmrt_queue_t *q, void *const *bufs, size_t cap, size_t *lens,
		     unsigned n)
{
	struct qhdr *h = H(q);
	uint64_t since = 0;
	for (;;) {
		/* Relaxed: a guess that the CAS below checks. */
		unsigned c = load_relaxed(&h->ring.c_head), k = 0, used = 0;
		int stale = 0;
		/* The committed (or holed) slots from c_head on, up to n messages and at most
		 * a ring's worth of slots. */
		for (; used <= q->mask && k < n; used++) {
			struct slot *s = slot_at(q, c + used);
			/* A4: acquire, pairs with R3: a committed slot's payload is complete. */
			uint64_t st = load_acquire(&s->state);
			uint32_t len = load_relaxed(&s->len); /* after A4 */
			if (st == ((uint64_t)(c + used) | ST_HOLE))
				continue;
			if (st == ((uint64_t)(c + used) | ST_PEEKED)) {
				if (used == 0)
					shmrt__queue_peek_in_flight(q, c, &since);
				stale = used == 0; /* later: end the batch before it */
				break;
			}
			if (st != ((uint64_t)(c + used) | ST_COMMITTED) || len > q->max_msg) {
				/* Not committed yet (the batch ends here), or overtaken. */
				stale = load_relaxed(&h->ring.c_head) != c; /* a hint */
				break;
			}
			if (len > cap) {
				if (k == 0 && used == 0) {
					lens[0] = len;
					return -EMSGSIZE;
				}
				break;
			}
			if (len)
				shmrt__copy_racy(bufs[k], (char *)s + SLOT_HDR, len);
			lens[k++] = len;
		}
		if (stale)
			continue;
		if (used == 0)
			return -EAGAIN;
		/* M2 (a burst): acq_rel CAS; its release half pairs with A3: our copies are
		 * done before producers may reuse the slots. The caller fences (M5) before
		 * it looks for sleeping producers. */
		if (cas_acq_rel(&h->ring.c_head, &c, c + used)) {
			if (k)
				return (int)k;
			continue; /* only holes: look again */
		}
	}
}

/*
 * The oldest message: ticket *c at c_head, committed, in slot *s (state *st, length
 * *n). Skips holes (moving c_head past them) and waits out a peek in flight. 0, or
 * -EAGAIN (none committed). The caller's claim (a CAS) may still fail: then it calls
 * again. Inlined: it is the first half of every get.
 */
static SHMRT_ALWAYS_INLINE int head(const shmrt_queue_t *q, unsigned *cp, struct slot **sp, uint64_t *stp,
		uint32_t *np, uint64_t *since)
{
	struct qhdr *h = H(q);
	for (;;) {
		/* Relaxed: a guess; the state says whether slot c serves ticket c, and the
		 * caller's claim checks c_head. */
		unsigned c = load_relaxed(&h->ring.c_head);
		struct slot *s = slot_at(q, c);
		/* A4: acquire, pairs with R3: the contents are complete once the state says
		 * committed, published (R4) or not yet. */
		uint64_t st = load_acquire(&s->state);
		uint32_t n = load_relaxed(&s->len); /* after A4 */
		if (st == ((uint64_t)c | ST_COMMITTED) && n <= q->max_msg) {
			*cp = c;
			*sp = s;
			*stp = st;
			*np = n;
			return 0;
		}
		if (st == ((uint64_t)c | ST_HOLE)) {
			/* Acq_rel, as every move of c_head (A3 reads them); a hole has no
			 * payload to release. */
			cas_acq_rel(&h->ring.c_head, &c, c + 1);
			continue;
		}
		if (st == ((uint64_t)c | ST_PEEKED)) {
			shmrt__queue_peek_in_flight(q, c, since);
			continue;
		}
		/* Ticket c is not committed: nothing to take, unless c_head moved meanwhile
		 * (the slot we read was reused by a later lap). Relaxed: a hint. */
		if (load_relaxed(&h->ring.c_head) != c)
			continue;
		return -EAGAIN;
	}
}

/* Takes one message if there is one: 0, -EAGAIN (none now), -EMSGSIZE. */
static int take(const shmrt_queue_t *q, void *buf, size_t cap, size_t *len)
{
	struct qhdr *h = H(q);
	uint64_t since = 0;
	for (;;) {
		unsigned c;
		struct slot *s;
		uint64_t st;
		uint32_t n;
		if (head(q, &c, &s, &st, &n, &since))
			return -EAGAIN;
		if (n > cap) {
			*len = n;
			return -EMSGSIZE;
		}
		if (n)
			shmrt__copy_racy(buf, (char *)s + SLOT_HDR, n);
		if (q->mode & SHMRT_QUEUE_SC) {
			/* R6: the only consumer, a store. Release, pairs with A3: our copy is
			 * done before producers may reuse the slot. */
			store_release(&h->ring.c_head, c + 1);
			*len = n;
			return 0;
		}
		/* M2: seq_cst CAS. Its release half pairs with A3, as R6; and it stands for
		 * the fence of the producers' wake-up check (M4 in wake_after_rmw, called by
		 * shmrt_queue_get). */
		if (cas_seq_cst(&h->ring.c_head, &c, c + 1)) {
			*len = n;
			return 0;
		}
	}
}

/*
 * Consumers sleep on p_tail behind a flag (ck_ec's idea): a consumer about to sleep
 * sets ptail_waiters; a publisher that finds it set clears it and wakes every sleeper.
 * A publish then calls the kernel only for the first message after someone went to
 * sleep. With a waiter count instead, every publish called futex_wake while any
 * consumer was between its announcement and its wake-up: 40% of 4p4c's profile.
 * Returns when p_tail may have moved, at a slice's end (after the stuck check), or at
 * the deadline; the caller re-evaluates.
 */
static void consumer_sleep(const shmrt_queue_t *q, unsigned p, uint64_t deadline,
			   struct stuck_ctx *x, int yields)
{
	struct qhdr *h = H(q);
	for (int i = 0; i < yields; i++) {
		/* Relaxed: a hint; the caller looks again with A7 and A4. */
		if (load_relaxed(&h->ring.p_tail) != p)
			return;
		sched_yield();
	}
	/* Relaxed: ordered before the re-read by HB. */
	store_relaxed(&h->ptail_waiters, 1);
	/* HB: pairs with the publisher's LB between its p_tail store (R4) and its flag
	 * check, and with M3 (consumers_wake): either we see p_tail moved below, or the
	 * publisher sees our flag. */
	uint64_t slice = sleep_slice_ns();
	if (shmrt__heavy_barrier() && slice > SHMRT_ASYM_FALLBACK_SLICE_NS)
		slice = SHMRT_ASYM_FALLBACK_SLICE_NS; /* without membarrier: poll */
	if (load_relaxed(&h->ring.p_tail) != p) /* after HB */
		return;
	uint64_t now = mono_ns();
	if (now >= deadline)
		return;
	uint64_t d = now + slice < deadline ? now + slice : deadline;
	if (shmrt__futex_wait(&h->ring.p_tail, p, d) == -ETIMEDOUT)
		(void)shmrt__queue_stuck_check(x);
}

/* Spins (at most iters pauses) until the slot at c_head changes state or c_head moves:
 * 1 if it did, 0 if the spin ran out. Relaxed loads: a change only sends the caller
 * to take(), which reads the state with A4. */
static int spin_on_head(const shmrt_queue_t *q, int iters)
{
	struct qhdr *h = H(q);
	unsigned c = load_relaxed(&h->ring.c_head);
	uint64_t *st = &slot_at(q, c)->state, v = load_relaxed(st);
	if ((unsigned)v == c)
		return 1; /* ticket c's state is there already */
	for (int i = 0; i < iters; i++) {
		if (load_relaxed(st) != v || load_relaxed(&h->ring.c_head) != c)
			return 1;
		cpu_relax();
	}
	return 0;
}

/*
 * The end of file (queue_int.h): when the wait starts and then every EOF_CHECK_NS, a
 * look at the producers, then at the indices: every producer gone and the queue
 * drained is the end. A message put before its producer died is seen as pending, and
 * taken.
 */
struct eof_watch {
	uint64_t next;
};

static int eof_seen(const shmrt_queue_t *q, struct eof_watch *w)
{
	uint64_t now = mono_ns();
	if (now < w->next)
		return 0;
	w->next = now + EOF_CHECK_NS;
	struct qhdr *h = H(q);
	if (!shmrt__queue_producers_gone(q))
		return 0;
	/* Acquire: after the table's loads; pairs with the reservation's seq_cst CAS. */
	return load_acquire(&h->ring.p_head) == load_acquire(&h->ring.c_head);
}

/* The consumers' wait for a message; the publisher's side is R4 + LB. */
static int get_wait(const shmrt_queue_t *q, void *buf, size_t cap, size_t *len,
		    int64_t timeout, int try_once)
{
	struct qhdr *h = H(q);
	struct stuck_ctx x = { q };
	struct eof_watch eof = { 0 };
	int first = take(q, buf, cap, len); /* the common case: a message is there */
	if (first != -EAGAIN)
		return first;
	uint64_t deadline = shmrt__deadline(timeout); /* only now that we may wait */
	int spin = 0, free_spin = !try_once;
	for (;;) {
		/* Spin on the state of the slot at c_head: the line the message comes in
		 * anyway (spinning on p_tail pulled the producers' line over, so each put
		 * had to take it back and a message crossed the cores four times, not
		 * twice). First a short spin that claims nothing, which covers a reply in
		 * a ping-pong without two atomics on the spinner count; then a longer one
		 * only if few others spin (base/wait.h). */
		if (free_spin || (!try_once && (spin = shmrt__spin_enter(&h->spinners)) != 0)) {
			if (free_spin)
				spin_on_head(q, FREE_SPIN_ITERS);
			else /* rounds with a yield between them, as the Pipe's */
				for (int k = 0; k < QUEUE_SPIN_ROUNDS && !spin_on_head(q, SHMRT_SPIN_ITERS);
				     k++)
					sched_yield();
			if (!free_spin)
				shmrt__spin_leave(&h->spinners);
			free_spin = 0;
			/* The message may be here: take it without touching p_tail's line. */
			int rc = take(q, buf, cap, len);
			if (rc != -EAGAIN)
				return rc;
			if (!spin)
				continue; /* the free spin: now the budgeted one */
		}
		/* A7: acquire, pairs with R4. Snapshot p_tail BEFORE looking for a message
		 * (the acquire orders it before take()'s loads): a message published after
		 * take() saw the queue empty changes p_tail from this value, and the sleep
		 * below returns at once instead of sleeping past it. */
		unsigned p = load_acquire(&h->ring.p_tail);
		int rc = take(q, buf, cap, len);
		if (rc != -EAGAIN)
			return rc;
		SHMRT_YIELD_POINT(); /* the window a lost wakeup would need */
		/* Acquire, pairs with R9. Relaxed indices: once closed, puts fail, so p_head
		 * stands still and c_head only reaches it. */
		if (load_acquire(&h->closed) &&
		    load_relaxed(&h->ring.p_head) == load_relaxed(&h->ring.c_head))
			return -EPIPE; /* closed and drained */
		if (try_once)
			return -EAGAIN;
		if (eof_seen(q, &eof))
			return -EPIPE; /* every producer gone, and drained */
		if (deadline != SHMRT_NO_DEADLINE && mono_ns() >= deadline)
			return -ETIMEDOUT;
		/* Sleep until p_tail moves; between slices, unstick a dead producer. */
		consumer_sleep(q, p, deadline, &x, spin ? SHMRT_YIELD_ITERS : 0);
	}
}

int shmrt_queue_get(const shmrt_queue_t *q, void *buf, size_t cap, size_t *len,
		    shmrt_ns_t timeout)
{
	if (!q || !q->shm || !len || (cap && !buf))
		return -EINVAL;
	int rc = get_wait(q, buf, cap, len, timeout, timeout == 0);
	if (rc == 0) {
		/* take()'s seq_cst CAS of c_head (M2) was our last shared store; a single
		 * consumer's is a release store (R6), then LB, which pairs with
		 * producer_sleep()'s HB. */
		if (q->mode & SHMRT_QUEUE_SC)
			shmrt__light_barrier();
		wake_after_rmw(&H(q)->ring.c_head, &H(q)->chead_waiters); /* M4 */
	}
	return rc;
}

int shmrt_queue_get_burst(const shmrt_queue_t *q, void *const *bufs, size_t cap, size_t *lens,
			  unsigned n, shmrt_ns_t timeout)
{
	if (!q || !q->shm || !bufs || !lens || n == 0)
		return -EINVAL;
	/* Take what is there with one CAS; if nothing is, wait (up to the timeout) for
	 * the first message, then take what followed it. */
	int rc = take_many(q, bufs, cap, lens, n);
	unsigned got;
	if (rc > 0) {
		got = (unsigned)rc;
	} else if (rc != -EAGAIN) {
		return rc;
	} else {
		rc = get_wait(q, bufs[0], cap, &lens[0], timeout, timeout == 0);
		if (rc)
			return rc;
		int more = n > 1 ? take_many(q, bufs + 1, cap, lens + 1, n - 1) : 0;
		got = 1 + (more > 0 ? (unsigned)more : 0);
	}
	producers_wake(H(q)); /* M5 */
	return (int)got;
}

/* ---- zero-copy consuming ------------------------------------------------------------ */

/*
 * Claims the oldest message in place: the slot's state goes c|COMMITTED -> c|PEEKED
 * (CAS), then c_head c -> c + 1 (CAS). Whoever wins the c_head CAS owns the message:
 * a get that copied the slot before our claim may win it, and then we put the state
 * back. While PEEKED, producers that wrap around to the slot wait (wait_released).
 * The thread record says "peek in progress on this queue" before the claim (R10), and
 * the ticket right after (R12), so a dead holder is recognised (peek_held).
 */
static int try_peek(const shmrt_queue_t *q, struct shmrt_thread_rec *tr, shmrt_queue_peek_t *pk)
{
	struct qhdr *h = H(q);
	uint64_t since = 0;
	for (;;) {
		unsigned c;
		struct slot *s;
		uint64_t st;
		uint32_t n;
		if (head(q, &c, &s, &st, &n, &since))
			return -EAGAIN;
		/* Acq_rel, as every change of a state: the RMW continues R3's release
		 * sequence, and a full barrier on x86 orders R10 before it. */
		if (!cas_acq_rel(&s->state, &st, (uint64_t)c | ST_PEEKED))
			continue;
		/* R12: release, pairs with A11: the ticket we claim. */
		store_release(&tr->module[TW_QUEUE_PTICKET], (uint64_t)c | TICKET_VALID);
		SHMRT_YIELD_POINT();
		unsigned expect = c;
		/* The claim: acq_rel CAS of c_head, as take_many's (M2). */
		if (cas_acq_rel(&h->ring.c_head, &expect, c + 1)) {
			pk->data = (const char *)s + SLOT_HDR;
			pk->len = n;
			pk->ticket = c;
			return 0;
		}
		/* A get took it first: put the state back (a producer may wait on it). */
		st = (uint64_t)c | ST_PEEKED;
		(void)cas_acq_rel(&s->state, &st, (uint64_t)c | ST_COMMITTED); /* as above */
		store_relaxed(&tr->module[TW_QUEUE_PTICKET], 0); /* our own; R11 or R12 next */
		fence_seq_cst(); /* M8: pairs with M7 in wait_released */
		if (load_relaxed(&s->cwait)) /* after M8 */
			shmrt__futex_wake((uint32_t *)(void *)&s->state + 1, INT_MAX);
		producers_wake(h); /* M5: producers that found it held */
	}
}

int shmrt_queue_peek(const shmrt_queue_t *q, shmrt_queue_peek_t *pk, shmrt_ns_t timeout)
{
	if (!q || !q->shm || !pk)
		return -EINVAL;
	struct qhdr *h = H(q);
	struct shmrt_region *R = region_of(q);
	uint32_t rec = shmrt__thread_rec(R);
	if (rec == REC_NONE)
		return R->attached ? -EUSERS : -EPERM;
	struct shmrt_thread_rec *tr = &R->threads[rec];
	if (load_relaxed(&tr->module[TW_QUEUE_PEEK])) /* our own record's word */
		return -EBUSY; /* one message held per thread */
	store_relaxed(&tr->module[TW_QUEUE_PTICKET], 0); /* published by R10 */
	/* R10: release, before the claiming CAS: a scanner that sees the slot PEEKED
	 * (A8) and then our record (A10) sees this mark. */
	store_release(&tr->module[TW_QUEUE_PEEK], q->off | 1);
	uint64_t deadline = shmrt__deadline(timeout);
	struct stuck_ctx x = { q };
	struct eof_watch eof = { 0 };
	int rc;
	for (;;) {
		unsigned p = load_acquire(&h->ring.p_tail); /* A7, as in get_wait */
		rc = try_peek(q, tr, pk);
		if (rc != -EAGAIN)
			break;
		if (load_acquire(&h->closed) && /* pairs with R9; indices as in get_wait */
		    load_relaxed(&h->ring.p_head) == load_relaxed(&h->ring.c_head)) {
			rc = -EPIPE;
			break;
		}
		if (timeout == 0)
			break;
		if (eof_seen(q, &eof)) {
			rc = -EPIPE;
			break;
		}
		if (deadline != SHMRT_NO_DEADLINE && mono_ns() >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		consumer_sleep(q, p, deadline, &x, SHMRT_YIELD_ITERS);
	}
	if (rc) {
		store_release(&tr->module[TW_QUEUE_PEEK], 0); /* R11: nothing held */
		return rc;
	}
	producers_wake(h); /* M5 */
	return 0;
}

int shmrt_queue_release(const shmrt_queue_t *q, const shmrt_queue_peek_t *pk)
{
	if (!q || !q->shm || !pk)
		return -EINVAL;
	struct shmrt_region *R = region_of(q);
	uint32_t rec = shmrt__thread_rec(R);
	if (rec == REC_NONE)
		return -EINVAL;
	struct shmrt_thread_rec *tr = &R->threads[rec];
	/* Relaxed: our own record's words. */
	if (load_relaxed(&tr->module[TW_QUEUE_PEEK]) != (q->off | 1) ||
	    load_relaxed(&tr->module[TW_QUEUE_PTICKET]) != ((uint64_t)pk->ticket | TICKET_VALID))
		return -EINVAL; /* not the message this thread holds */
	struct slot *s = slot_at(q, pk->ticket);
	uint64_t st = (uint64_t)pk->ticket | ST_PEEKED;
	/* R8: release (acq_rel CAS), pairs with A8: our reads of the message are done
	 * before a producer reuses the slot. */
	(void)cas_acq_rel(&s->state, &st, (uint64_t)pk->ticket | ST_RELEASED);
	store_relaxed(&tr->module[TW_QUEUE_PTICKET], 0); /* ignored once R11 clears the mark */
	store_release(&tr->module[TW_QUEUE_PEEK], 0); /* R11: pairs with A10 */
	fence_seq_cst(); /* M8: pairs with M7 in wait_released */
	if (load_relaxed(&s->cwait)) /* after M8 */
		shmrt__futex_wake((uint32_t *)(void *)&s->state + 1, INT_MAX);
	/* Producers that found this slot held sleep on c_head: let them look again. */
	producers_wake(H(q)); /* M5 */
	return 0;
}
