/*
 * Queue producers: reserve tickets, fill their slots, publish them in ticket order
 * (the protocol and the labels are in queue_int.h).
 *
 * A put is: mark the thread record (R1), reserve a ticket with one CAS on p_head (M1,
 * ck_ring's MPMC reserve), record the ticket (R2), wait until the slot's previous
 * message is no longer held by a zero-copy consumer (A8, almost always at once), copy
 * the message in and commit the slot's state (R3), then publish: wait for p_tail to
 * reach our ticket, store p_tail past our slot and the committed slots after it (R4),
 * clear the mark (R5) and wake whoever sleeps. A burst does the same for n slots with
 * one reservation and one publication; reserve/commit lets the caller fill the slot.
 *
 * Waiting for room (a full ring) sleeps on c_head behind chead_waiters; waiting for a
 * turn to publish sleeps on the slot's cwait word. Both spin first within the spin
 * budget (base/wait.h), and both check between slices for a dead producer ahead.
 */
#define _GNU_SOURCE
#include "queue_int.h"

/*
 * ck_ring's MPMC reserve (_ck_ring_enqueue_reserve_mp) for up to want tickets at once:
 * one CAS on p_head claims [*ticket, *ticket + *got). *got >= 1 on success. Also false
 * with *held set when the next slot is still held by a zero-copy consumer (the ring is
 * full in effect; a burst stops before such a slot).
 */
static bool reserve_many(const shmrt_queue_t *q, unsigned want, unsigned *ticket,
			 unsigned *got, bool *held)
{
	struct ck_ring *ring = &H(q)->ring;
	const unsigned mask = q->mask; /* the handle's, checked at open: not the ring's copy */
	/* Relaxed: a guess that the CAS (M1) checks. */
	unsigned producer = load_relaxed(&ring->p_head);
	/* c_head only grows, so a past value understates the room: safe. Relaxed: any
	 * value it ever held will do. */
	unsigned consumer = load_relaxed(&H(q)->chead_cache);
	*held = false;
	for (;;) {
		if (producer - consumer >= mask || mask - (producer - consumer) < want) {
			/* Acquire fence (ck_ring's fence_load): p_head, read before, is not
			 * read after c_head, so producer - consumer never wraps below 0. */
			fence_acquire();
			/* A3: acquire, pairs with R6/M2: the consumers' copies out of the
			 * slots below c_head are done before we refill them. */
			consumer = load_acquire(&ring->c_head);
			store_relaxed(&H(q)->chead_cache, consumer); /* a hint, as above */
		}
		unsigned room = mask - (producer - consumer), n = want < room ? want : room;
		if ((producer - consumer) < mask) {
			unsigned k = 0;
			while (k < n && !slot_held(q, producer + k))
				k++;
			if (k == 0) {
				*held = true;
				return false;
			}
			n = k;
			if (q->mode & SHMRT_QUEUE_SP) {
				/* R0: the only producer, a store. Release, pairs with A0 in
				 * repair: our mark (R1) is visible to whoever sees p_head moved. */
				store_release(&ring->p_head, producer + n);
				*ticket = producer;
				*got = n;
				return true;
			}
			/* M1: seq_cst CAS (a full barrier, as ck_ring's), pairs with A0 in
			 * repair as R0 does. */
			if (cas_seq_cst(&ring->p_head, &producer, producer + n)) {
				*ticket = producer;
				*got = n;
				return true;
			}
		} else {
			/* Acquire fence: c_head (read above) is read before p_head again. */
			fence_acquire();
			/* Relaxed: is another producer moving p_head? (M1 checks.) */
			unsigned now = load_relaxed(&ring->p_head);
			if (now == producer)
				return false;
			producer = now;
		}
	}
}

/*
 * A producer sleeps on c_head while the ring is full (or its next slot held): it raises
 * chead_waiters, and the consumer that moves c_head (or releases the slot) clears it
 * and wakes every sleeping producer. 0, or -ETIMEDOUT at the deadline; the caller
 * re-evaluates in any case.
 */
static int producer_sleep(const shmrt_queue_t *q, unsigned c, uint64_t deadline,
			  struct stuck_ctx *x, bool held, int yields)
{
	struct qhdr *h = H(q);
	for (int i = 0; i < yields; i++) {
		/* Relaxed: a hint; the caller re-evaluates with A3. */
		if (load_relaxed(&h->ring.c_head) != c)
			return 0;
		sched_yield();
	}
	/* Relaxed: ordered before the re-read below by HB. */
	store_relaxed(&h->chead_waiters, 1);
	/* HB: pairs with M5 (producers_wake), M4 after the consumers' seq_cst CAS of
	 * c_head (M2), and a single consumer's LB after its store (R6): either we see
	 * c_head moved below, or the consumer sees our flag. */
	bool polled = shmrt__heavy_barrier() != 0;
	/* Relaxed: after HB (above). */
	if (load_relaxed(&h->ring.c_head) != c || (held && shmrt__queue_held_check(x)) ||
	    shmrt__queue_closed_check(x))
		return 0;
	uint64_t now = mono_ns();
	if (now >= deadline)
		return -ETIMEDOUT;
	uint64_t slice = held ? sleep_slice_ns() : sleep_slice_ns() * 10;
	if (polled && slice > SHMRT_ASYM_FALLBACK_SLICE_NS)
		slice = SHMRT_ASYM_FALLBACK_SLICE_NS; /* without membarrier: poll */
	(void)shmrt__futex_wait(&h->ring.c_head, c, now + slice < deadline ? now + slice : deadline);
	return 0;
}

/* Reserves up to want tickets: 0, -EPIPE, -EAGAIN (try_once), -ETIMEDOUT, -EBUSY (the
 * thread holds a reservation already), -EUSERS/-EPERM (no thread record). timeout is
 * relative (shmrt_ns_t); the deadline is computed only if we must wait: a clock read
 * per call cost a quarter of 1p1c's time. */
static int reserve_n(const shmrt_queue_t *q, unsigned want, unsigned *ticket, unsigned *got,
		     int64_t timeout, int try_once)
{
	uint64_t deadline = 0;
	struct qhdr *h = H(q);
	struct shmrt_region *R = region_of(q);
	uint32_t rec = shmrt__thread_rec(R);
	if (rec == REC_NONE)
		return R->attached ? -EUSERS : -EPERM;
	struct shmrt_thread_rec *t = &R->threads[rec];
	/* Relaxed: our own record's word. */
	if (load_relaxed(&t->module[TW_QUEUE_PUT]))
		return -EBUSY; /* one outstanding reservation per thread */
	for (;;) {
		if (load_acquire(&h->closed)) /* pairs with R9 */
			return -EPIPE;
		/* Every round that waits checks the deadline first: whatever the ring's words
		 * say (a damaged region too), a timed put ends. */
		if (deadline && mono_ns() >= deadline)
			return -ETIMEDOUT;
		/* Relaxed: published by R1 below. */
		store_relaxed(&t->module[TW_QUEUE_TICKET], 0);
		/* R1: release, before the reserving CAS (M1, a full barrier): a scanner that
		 * sees our ticket reserved (A0) sees this mark (A1). */
		store_release(&t->module[TW_QUEUE_PUT], q->off | 1);
		bool held;
		if (reserve_many(q, want, ticket, got, &held)) {
			/* R2: release, pairs with A2: our tickets, for repair scans. */
			store_release(&t->module[TW_QUEUE_TICKET],
				      *ticket | TICKET_VALID |
					      ((uint64_t)(*got - 1) << TICKET_COUNT_SHIFT));
			/* J1: counted before the message is visible, as Python does, so a
			 * task_done can never run ahead of its put. Acq_rel: every change of
			 * the count is one release sequence that join's J3 reads. */
			if (h->joinable)
				fetch_add_acq_rel(&h->unfinished, *got);
			return 0;
		}
		/* R5 (nothing reserved): release, pairs with A1. */
		store_release(&t->module[TW_QUEUE_PUT], 0);
		if (try_once)
			return -EAGAIN;
		if (!deadline)
			deadline = shmrt__deadline(timeout);
		/* Full: sleep until a consumer moves c_head (or the deadline). Relaxed: the
		 * decision is re-made, with A3, by the next reservation. */
		unsigned c = load_relaxed(&h->ring.c_head);
		if (!held && load_relaxed(&h->ring.p_head) - c < q->mask)
			continue;
		if (held) {
			if (mono_ns() >= deadline)
				return -ETIMEDOUT;
			/* Held by a dead consumer? Then its message is lost with it. Relaxed:
			 * which slot; slot_held() reads it with A8 and the CAS decides. */
			unsigned ph = load_relaxed(&h->ring.p_head), prev = ph - (q->mask + 1);
			uint64_t st = (uint64_t)prev | ST_PEEKED;
			/* Acq_rel, as every change of a state (A8 reads it). */
			if (slot_held(q, ph) && !shmrt__queue_peek_held(q, prev) &&
			    cas_acq_rel(&slot_at(q, ph)->state, &st, (uint64_t)prev | ST_RELEASED))
				continue;
		}
		struct stuck_ctx x = { q };
		int spin = shmrt__spin_enter(&h->spinners);
		if (spin) {
			/* Relaxed: a spin on a hint. */
			for (int i = 0; i < SHMRT_SPIN_ITERS && load_relaxed(&h->ring.c_head) == c;
			     i++)
				cpu_relax();
			shmrt__spin_leave(&h->spinners);
		}
		if (producer_sleep(q, c, deadline, &x, held, spin ? SHMRT_YIELD_ITERS : 0))
			return -ETIMEDOUT;
	}
}

static int reserve(const shmrt_queue_t *q, unsigned *ticket, int64_t timeout, int try_once)
{
	unsigned got;
	return reserve_n(q, 1, ticket, &got, timeout, try_once);
}

/* Where p_tail stands for a producer of [t, t + n): 0 our turn (inside the range),
 * 1 past it (someone published us), -1 not yet. Unsigned distances, as in CK. */
static inline int turn(unsigned pt, unsigned t, unsigned n)
{
	unsigned d = pt - t;
	return d < n ? 0 : d < 0x80000000u ? 1 : -1;
}

/* Publishes tickets [t, t + n) (states already stored, R3), in ticket order. */
static void publish_n(const shmrt_queue_t *q, unsigned t, unsigned n)
{
	struct qhdr *h = H(q);
	struct stuck_ctx x = { q };
	/* Wait until p_tail reaches our range, or passes it: a producer that publishes
	 * also publishes the committed slots right after its own ("helping"), so that a
	 * producer preempted between filling its slot and publishing it holds nobody up,
	 * and waiting producers are done without waking up in turn. We spin briefly
	 * (within the spin budget), then sleep on our first slot's cwait word, which a
	 * publisher that reaches or passes us wakes. Every STUCK_CHECK_NS we check that
	 * the producer at p_tail lives. Relaxed loads of p_tail throughout: where it
	 * stands is all we need (our own slots are ours; the ones we help publish are
	 * read with A5). */
	struct slot *mine = slot_at(q, t);
	uint64_t check_at = 0;
	if (turn(load_relaxed(&h->ring.p_tail), t, n) < 0 && shmrt__spin_enter(&h->spinners)) {
		for (unsigned i = 0;
		     i < SHMRT_SPIN_ITERS && turn(load_relaxed(&h->ring.p_tail), t, n) < 0; i++)
			cpu_relax();
		shmrt__spin_leave(&h->spinners);
	}
	unsigned pt;
	int where;
	for (;;) {
		pt = load_relaxed(&h->ring.p_tail);
		if ((where = turn(pt, t, n)) >= 0)
			break;
		/* p_tail never lags our ticket by more than a ring (it was within a ring of
		 * p_head when we reserved): more is damage. Our slots stay committed for a
		 * repair to publish; we stop waiting, and clear our mark below. */
		if (t - pt > q->mask + 1) {
			where = 1;
			break;
		}
		uint64_t now = mono_ns();
		if (!check_at) {
			check_at = now + sleep_slice_ns();
		} else if (now >= check_at) {
			(void)shmrt__queue_stuck_check(&x);
			check_at = now + sleep_slice_ns();
		}
		/* Relaxed: ordered before the re-read by HB. */
		store_relaxed(&mine->cwait, 1);
		/* HB: pairs with the publisher's LB between its p_tail store (R4) and its
		 * cwait checks, and with M3 in repair. Without membarrier: poll. */
		uint64_t until = check_at;
		if (shmrt__heavy_barrier() && until > now + SHMRT_ASYM_FALLBACK_SLICE_NS)
			until = now + SHMRT_ASYM_FALLBACK_SLICE_NS;
		if (load_relaxed(&h->ring.p_tail) == pt)
			(void)shmrt__futex_wait(&mine->cwait, 1, until);
		store_relaxed(&mine->cwait, 0); /* our own word: a stale 1 costs one wake */
	}
	unsigned end = pt;
	if (where == 0) {
		/* Our turn: publish our slots and the committed (or holed) slots after
		 * them, up to a bound. Relaxed p_head: a bound for the scan; the states
		 * decide. */
		unsigned ph = load_relaxed(&h->ring.p_head);
		end = t + n;
		for (unsigned k = 0; end != ph && k < 64; k++, end++) {
			/* Committed, holed, or already taken by a zero-copy consumer: in every
			 * case its producer is done with it. A5: acquire, pairs with R3: the
			 * slot is complete before R4 publishes it. */
			uint64_t st = load_acquire(&slot_at(q, end)->state);
			if ((unsigned)st != end || (st >> 32) == 0)
				break;
		}
		/* R4: release, pairs with A7 and repair's CAS: the slots below p_tail are
		 * complete for whoever sees it move. Only the producer whose turn it is
		 * stores p_tail (or repair, by CAS, for a dead one), so it never moves
		 * backwards. The wake-up checks below pair with the sleepers' heavy barrier
		 * (LB): a seq_cst exchange here waited for the slot's stores to drain, on
		 * the path of every message. */
		store_release(&h->ring.p_tail, end);
		shmrt__light_barrier(); /* LB: pairs with HB in consumer_sleep, publish_n */
	}
	struct shmrt_region *R = region_of(q);
	struct shmrt_thread_rec *tr = &R->threads[shmrt__thread_rec(R)];
	/* R5: release, pairs with A1: only now may the mark go, so a scanner that no
	 * longer sees it sees p_tail moved (its CAS fails). */
	store_release(&tr->module[TW_QUEUE_PUT], 0);
	store_relaxed(&tr->module[TW_QUEUE_TICKET], 0); /* ignored once the mark is clear */
	if (where != 0)
		return; /* published by another producer, who woke whoever needs it */
	/* Wake the sleeping consumers (only consumers sleep on p_tail; a close wakes them
	 * all); the producers we published for, if they sleep; and the producer of the
	 * next slot, whose turn it is. Relaxed loads of the flags: after LB. */
	if (load_relaxed(&h->ptail_waiters) && exchange_acq_rel(&h->ptail_waiters, 0))
		shmrt__futex_wake(&h->ring.p_tail, INT_MAX);
	for (unsigned k = t + n; k != end + 1; k++) {
		struct slot *o = slot_at(q, k);
		/* INT_MAX: with consumers ahead of p_tail, two producers a lap apart may
		 * sleep on one slot's word. */
		if (load_relaxed(&o->cwait))
			shmrt__futex_wake(&o->cwait, INT_MAX);
	}
}

static void publish(const shmrt_queue_t *q, unsigned t)
{
	publish_n(q, t, 1);
}

/*
 * Before a producer writes slot t: the slot's previous message (ticket t - nslots) may
 * still be held by a zero-copy consumer (c_head has passed it, so the ring had room).
 * Wait for its release; if its holder is dead, release it ourselves (the message is
 * lost with its consumer, as with a get).
 */
static void wait_released(const shmrt_queue_t *q, unsigned t)
{
	struct slot *s = slot_at(q, t);
	uint64_t held = (uint64_t)(t - (q->mask + 1)) | ST_PEEKED;
	/* A8: acquire, pairs with R8 in shmrt_queue_release(). */
	if (likely(load_acquire(&s->state) != held))
		return;
	uint32_t *hi = (uint32_t *)(void *)&s->state + 1; /* the flags half (little endian) */
	uint64_t check_at = mono_ns() + STUCK_CHECK_NS;
	for (unsigned i = 0; load_acquire(&s->state) == held; i++) { /* A8 */
		if (i < SHMRT_SPIN_ITERS) {
			cpu_relax();
			continue;
		}
		uint64_t now = mono_ns();
		if (now >= check_at) {
			uint64_t st = held;
			/* Acq_rel, as every change of a state. */
			if (!shmrt__queue_peek_held(q, t - (q->mask + 1)))
				(void)cas_acq_rel(&s->state, &st,
						  (uint64_t)(t - (q->mask + 1)) | ST_RELEASED);
			check_at = now + STUCK_CHECK_NS;
			continue;
		}
		/* Relaxed: ordered before the re-read by M7. */
		store_relaxed(&s->cwait, 1);
		fence_seq_cst(); /* M7: pairs with M8 (the releaser's fence before its
				  * cwait check) */
		if (load_acquire(&s->state) == held) /* A8 */
			(void)shmrt__futex_wait(hi, (uint32_t)(ST_PEEKED >> 32), check_at);
		store_relaxed(&s->cwait, 0); /* our own slot's word */
	}
}

/* Inlined: one call less per put (a file split once made GCC call it). */
static SHMRT_ALWAYS_INLINE void fill(const shmrt_queue_t *q, unsigned t, const void *msg, size_t len, uint64_t flag)
{
	struct slot *s = slot_at(q, t);
	if (len)
		shmrt__copy_racy((char *)s + SLOT_HDR, msg, len);
	store_relaxed(&s->len, (uint32_t)len); /* published by R3 */
	/* R3: release, pairs with A4/A5/A6: the payload and length are complete before
	 * the state says committed. */
	store_release(&s->state, (uint64_t)t | flag);
}

static int put_one(const shmrt_queue_t *q, const void *msg, size_t len, int64_t timeout,
		   int try_once)
{
	if (len > q->max_msg)
		return -EMSGSIZE;
	unsigned t;
	int rc = reserve(q, &t, timeout, try_once);
	if (rc)
		return rc;
	SHMRT_YIELD_POINT();
	wait_released(q, t);
	fill(q, t, msg, len, ST_COMMITTED);
	SHMRT_YIELD_POINT();
	publish(q, t);
	return 0;
}

int shmrt_queue_put(const shmrt_queue_t *q, const void *msg, size_t len, shmrt_ns_t timeout)
{
	if (!q || !q->shm || (len && !msg))
		return -EINVAL;
	producer_enter(q);
	return put_one(q, msg, len, timeout, timeout == 0);
}

int shmrt_queue_put_burst(const shmrt_queue_t *q, const void *const *msgs, const size_t *lens,
			  unsigned n, shmrt_ns_t timeout)
{
	if (!q || !q->shm || !msgs || !lens || n == 0)
		return -EINVAL;
	/* The messages that fit, up to the first that does not. */
	unsigned ok = 0;
	while (ok < n && lens[ok] <= q->max_msg && (lens[ok] == 0 || msgs[ok]))
		ok++;
	if (ok == 0)
		return lens[0] > q->max_msg ? -EMSGSIZE : -EINVAL;
	producer_enter(q);
	/* One reservation and one publication for the whole batch (at most the free
	 * room: a burst waits only until some room exists). */
	unsigned t, got;
	int rc = reserve_n(q, ok, &t, &got, timeout, timeout == 0);
	if (rc)
		return rc;
	SHMRT_YIELD_POINT();
	for (unsigned i = 0; i < got; i++) {
		wait_released(q, t + i);
		fill(q, t + i, msgs[i], lens[i], ST_COMMITTED);
	}
	SHMRT_YIELD_POINT();
	publish_n(q, t, got);
	return (int)got;
}

int shmrt_queue_reserve(const shmrt_queue_t *q, shmrt_queue_res_t *res, shmrt_ns_t timeout)
{
	if (!q || !q->shm || !res)
		return -EINVAL;
	producer_enter(q);
	unsigned t;
	int rc = reserve(q, &t, timeout, timeout == 0);
	if (rc)
		return rc;
	wait_released(q, t);
	res->ticket = t;
	res->data = (char *)slot_at(q, t) + SLOT_HDR;
	return 0;
}

/*
 * Whether res is the reservation the calling thread holds on q: its thread record says
 * "enqueue in progress on q" with exactly this one ticket, and the data pointer is that
 * ticket's slot. A zeroed reservation, one committed or aborted already, one of another
 * thread or queue, or a ticket never reserved fails it, before anything changes.
 * Relaxed: our own record's words.
 */
static int res_live(const shmrt_queue_t *q, const shmrt_queue_res_t *res)
{
	struct shmrt_region *R = region_of(q);
	uint32_t rec = shmrt__thread_rec(R);
	if (rec == REC_NONE)
		return 0;
	struct shmrt_thread_rec *t = &R->threads[rec];
	return load_relaxed(&t->module[TW_QUEUE_PUT]) == (q->off | 1) &&
	       load_relaxed(&t->module[TW_QUEUE_TICKET]) == ((uint64_t)res->ticket | TICKET_VALID) &&
	       res->data == (char *)slot_at(q, res->ticket) + SLOT_HDR;
}

int shmrt_queue_commit(const shmrt_queue_t *q, const shmrt_queue_res_t *res, size_t len)
{
	if (!q || !q->shm || !res || !res_live(q, res))
		return -EINVAL;
	if (len > q->max_msg)
		return -EMSGSIZE; /* the reservation stays: commit a fitting length or abort */
	struct slot *s = slot_at(q, res->ticket);
	store_relaxed(&s->len, (uint32_t)len); /* published by R3 */
	/* R3: release, as in fill(): the caller's payload is complete. */
	store_release(&s->state, (uint64_t)res->ticket | ST_COMMITTED);
	publish(q, res->ticket);
	return 0;
}

int shmrt_queue_abort(const shmrt_queue_t *q, const shmrt_queue_res_t *res)
{
	if (!q || !q->shm || !res || !res_live(q, res))
		return -EINVAL;
	/* R3 (a hole): release, as every change of a state; a hole carries no payload. */
	store_release(&slot_at(q, res->ticket)->state, (uint64_t)res->ticket | ST_HOLE);
	publish(q, res->ticket);
	task_retire(H(q));
	return 0;
}
