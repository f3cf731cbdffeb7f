/*
 * Queue repair: what the survivors do about dead producers and dead zero-copy
 * consumers (the protocol is in queue_int.h).
 *
 * Nothing here runs on the path of a message: only a sleeper between its slices
 * (every STUCK_CHECK_NS), a producer facing a held slot, or a consumer facing a peek in
 * flight comes here. Each scans the thread records of the region for a live thread
 * that owns (or may own) the ticket in question, by the marks producers and zero-copy
 * consumers keep in their records (TW_QUEUE_*), and acts only if there is none; every
 * action is a CAS from the state it judged, so a stale judgement changes nothing.
 */
#define _GNU_SOURCE
#include "queue_int.h"

int shmrt__queue_peek_held(const shmrt_queue_t *q, unsigned T)
{
	struct shmrt_region *R = region_of(q);
	for (uint32_t i = 0; i < R->geo.max_threads; i++) {
		/* A10: acquire, pairs with R10/R11 (the holder's mark, set before its
		 * claiming CAS, cleared after its release). */
		if (load_acquire(&R->threads[i].module[TW_QUEUE_PEEK]) != (q->off | 1))
			continue;
		/* A11: acquire, pairs with R12 (the holder's ticket). */
		uint64_t m = load_acquire(&R->threads[i].module[TW_QUEUE_PTICKET]);
		if ((m & TICKET_VALID) && (unsigned)m != T)
			continue;
		if (shmrt__rec_alive(R, i))
			return 1;
	}
	return 0;
}

/*
 * p_tail has sat at T: complete or hole slot T if no live thread can own ticket T.
 * Returns 1 if p_tail moved (by us or anyone), 0 if a live owner may still commit.
 */
static int fix_stuck(const shmrt_queue_t *q, unsigned T)
{
	struct qhdr *h = H(q);
	struct shmrt_region *R = region_of(q);
	/* A0: acquire, pairs with M1/R0: if ticket T is reserved, its owner's mark (R1,
	 * stored before its reserving CAS) is visible to the scan below. */
	unsigned ph = load_acquire(&h->ring.p_head);
	/* Relaxed: re-checked by the CAS at the end. */
	if (load_relaxed(&h->ring.p_tail) != T)
		return 1;
	if (ph == T)
		return 0; /* nothing reserved: not stuck, just empty */
	struct slot *s = slot_at(q, T);
	/* A6: acquire, pairs with R3: a committed state means a complete message, which
	 * the p_tail CAS below then publishes. */
	uint64_t st = load_acquire(&s->state);
	for (uint32_t i = 0; i < R->geo.max_threads; i++) {
		/* A1: acquire, pairs with R1 and R5 (a mark cleared after its owner's
		 * publication R4: the CAS below then fails). */
		uint64_t m0 = load_acquire(&R->threads[i].module[TW_QUEUE_PUT]);
		if (m0 != (q->off | 1))
			continue;
		/* A2: acquire, pairs with R2. */
		uint64_t m1 = load_acquire(&R->threads[i].module[TW_QUEUE_TICKET]);
		unsigned count = (unsigned)(m1 >> TICKET_COUNT_SHIFT) + 1;
		if ((m1 & TICKET_VALID) && T - (unsigned)m1 >= count)
			continue; /* its tickets [m1, m1 + count) do not include T */
		if (shmrt__rec_alive(R, i))
			return 0; /* a live thread holds (or may hold) T */
	}
	/* The owner is dead. A slot that still carries the previous lap's ticket was
	 * never committed: make it a hole (the CAS fails, harmlessly, if it changes
	 * under us). Any other state means ticket T was committed, and maybe consumed
	 * already and the slot reused by a later lap (consumers take committed slots
	 * before p_tail reaches them): leave it alone and only move p_tail. */
	int holed = 0;
	if ((unsigned)st == T - (q->mask + 1)) {
		/* Acq_rel, as every change of a state: consumers read it with A4; a hole
		 * carries no payload, so nothing else depends on this order. */
		if (!cas_acq_rel(&s->state, &st, (uint64_t)T | ST_HOLE))
			return 0; /* it changed under us: look again next time */
		holed = 1;
	}
	unsigned expect = T;
	/* R4 (for a dead owner): release, the hole (or the dead owner's message) is
	 * published with p_tail; the CAS fails if p_tail moved since we read it. */
	if (cas_acq_rel(&h->ring.p_tail, &expect, T + 1) && holed)
		task_retire(h); /* the dead producer had counted its task */
	consumers_wake(h);
	struct slot *next = slot_at(q, T + 1); /* its producer may sleep for its turn */
	/* Relaxed: after M3 (in consumers_wake), which pairs with that producer's HB
	 * between its cwait store and its p_tail re-read (publish_n). */
	if (load_relaxed(&next->cwait))
		shmrt__futex_wake(&next->cwait, INT_MAX);
	return 1;
}

int shmrt__queue_stuck_check(void *ctx)
{
	const shmrt_queue_t *q = ((struct stuck_ctx *)ctx)->q;
	struct qhdr *h = H(q);
	/* Fix first: a closed queue still has to drain past a dead producer's slot.
	 * Relaxed: a hint; fix_stuck reads again, with A0. */
	unsigned pt = load_relaxed(&h->ring.p_tail);
	if (load_relaxed(&h->ring.p_head) != pt)
		(void)fix_stuck(q, pt);
	return load_acquire(&h->closed) ? -EPIPE : 0; /* pairs with R9 */
}

int shmrt__queue_join_check(void *ctx)
{
	(void)shmrt__queue_stuck_check(ctx); /* a close does not end a join */
	return 0;
}

int shmrt__queue_closed_check(void *ctx)
{
	/* Acquire, pairs with R9. */
	return load_acquire(&H(((struct stuck_ctx *)ctx)->q)->closed) ? -EPIPE : 0;
}

int shmrt__queue_held_check(void *ctx)
{
	const shmrt_queue_t *q = ((struct stuck_ctx *)ctx)->q;
	if (load_acquire(&H(q)->closed)) /* pairs with R9 */
		return -EPIPE;
	/* Relaxed: which slot to look at; slot_held() reads its state with A8. */
	return slot_held(q, load_relaxed(&H(q)->ring.p_head)) ? 0 : 1;
}

void shmrt__queue_peek_in_flight(const shmrt_queue_t *q, unsigned c, uint64_t *since)
{
	uint64_t now = mono_ns();
	if (!*since) {
		*since = now;
	} else if (now - *since >= STUCK_CHECK_NS) {
		*since = now;
		/* Relaxed: a hint; the CAS below decides. */
		if (load_relaxed(&H(q)->ring.c_head) == c && !shmrt__queue_peek_held(q, c)) {
			uint64_t st = (uint64_t)c | ST_PEEKED;
			/* Acq_rel, as every change of a state: the message goes back to
			 * COMMITTED, and a consumer's A4 that reads it still synchronises
			 * with its producer's R3 (the RMWs continue R3's release sequence). */
			(void)cas_acq_rel(&slot_at(q, c)->state, &st, (uint64_t)c | ST_COMMITTED);
		}
		return;
	}
	sched_yield();
}
