/*
 * The MPMC Queue (shmrt/queue.h), on Concurrency Kit's ck_ring.
 *
 * Layout (SHMRT_TYPE_QUEUE): a header (magic, geometry, closed flag, waiter counts on
 * their own lines), a struct ck_ring (c_head | p_tail, p_head | size, mask: one
 * line each), then nslots slots of slot_size bytes. A slot is a 16-byte header
 * (state word, length) and the payload. Ring position t uses slot t & mask.
 *
 * Producing: ck_ring_enqueue_reserve_mpmc() claims ticket t (a CAS on p_head, with
 * the capacity check against c_head); the producer copies the message into slot t,
 * stores its state word t|COMMITTED (release), waits until p_tail == t, and stores
 * p_tail = t + 1 (release). That is ck_ring's MPMC protocol, except the last step:
 * ck_ring_enqueue_commit_mpmc() spins on p_tail without bound, which never finishes
 * when the producer it waits for is dead, and burns the core a preempted one needs.
 * Our commit waits adaptively (spin, yield, futex) and checks every millisecond
 * whether ticket p_tail still has a live possible owner.
 *
 * Dead producers (DESIGN.md section 5): before reserving, a producer marks "enqueue in
 * progress on this queue" in its registry thread record, and its ticket right after.
 * A waiter that finds p_tail stuck at T looks for a live record that holds ticket T,
 * or that is in progress without a ticket yet (it may hold T). If there is none, the
 * owner died: the waiter CASes slot T's state from what it read to T|HOLE (this fails,
 * harmlessly, if the owner had committed it) and CASes p_tail from T to T + 1. Consumers
 * skip holes. A producer that died after committing its state but before advancing
 * p_tail is completed the same way, and its message is delivered.
 * Every check is made against a CAS, so a stale decision cannot move p_tail backwards
 * or hole a committed message: the owner clears its mark only after advancing p_tail.
 *
 * Consuming: read c_head, then slot c's state (acquire); if it says ticket c is
 * committed, copy the payload out and CAS c_head from c to c + 1 (as ck_ring's
 * dequeue, but copying the message's length, not the slot's). The state alone decides,
 * not p_tail: a committed slot is complete (fill's release store), and taking it before
 * its publication keeps the ticket order, since c_head only passes committed slots.
 * This spares the consumer the producers' p_tail line on every message; p_tail
 * remains what sleeping consumers wait on. A consumer killed before its CAS took
 * nothing; after it, it lost that one message (at-most-once). Consequences: c_head may
 * run ahead of p_tail, so a dead producer's slot T may already be consumed and reused
 * when fix_stuck looks at it: it holes T only if the slot still carries the previous
 * lap's ticket (slots start that way, see queue_init).
 *
 * Bursts: put_burst reserves up to n tickets with one CAS on p_head (as ck_ring's
 * reserve, for n), fills them, and publishes them with one store of p_tail; the
 * thread record holds the first ticket and the count, so a dead producer's whole
 * range is found and holed. get_burst copies out what lies between c_head and p_tail
 * (up to n, skipping holes) and takes it with one CAS on c_head. 1p1c with bursts of
 * 32: 76 M messages/s, against 9 M one at a time.
 *
 * Blocking (each step measured; see the README for the figures):
 *  - consumers sleep on p_tail, producers waiting for room on c_head, each side behind
 *    a flag (consumer_sleep/producer_sleep, ck_ec's idea): a put or get calls the
 *    kernel only for the first message after someone slept;
 *  - a producer waiting for its turn to publish sleeps on its own slot's cwait word;
 *    whoever publishes up to it wakes exactly that word, and a publisher also
 *    publishes the committed slots after its own (helping);
 *  - spinning before sleeping is bounded by a spin budget (base/wait.h): with more
 *    waiters than cores, spinners only take the CPU from the process they wait for.
 */
#define _GNU_SOURCE
#include "base/wait.h"
#include "core/region_int.h"
#include "shmrt/queue.h"

#include <ck_ring.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MAGIC 0x55455551u /* "QQEU" */
#define ST_COMMITTED (1ull << 32)
#define ST_HOLE (2ull << 32)
#define ST_PEEKED (3ull << 32)   /* claimed by a zero-copy consumer, being read */
#define ST_RELEASED (4ull << 32) /* a peeked message, released */
#define SLOT_HDR 16u
#define STUCK_CHECK_NS 1000000ull /* how long p_tail may sit still before a check */
#define FREE_SPIN_ITERS 32 /* a consumer's spin outside the spin budget (get_wait) */
/* A consumer within the spin budget spins this many rounds of SHMRT_SPIN_ITERS, with a
 * yield between rounds, before it sleeps: a futex wake-up costs more than a short
 * spin here, and a ping-pong whose sides take turns sleeping stays that way. */
#define QUEUE_SPIN_ROUNDS 12

/*
 * How long a sleeping consumer or committer sleeps before it looks again by itself
 * (for a dead producer). Wakes normally come first. SHMRT_TEST_SLICE_MS (tests only)
 * lengthens it, so that a missing wake shows as a delay a test can see.
 */
static uint64_t sleep_slice_ns(void)
{
	return shmrt__slice_ns(STUCK_CHECK_NS);
}

/* Thread-record words used by producers (core/region_int.h reserves 8 per thread). */
#define W_QUEUE 0  /* queue offset | 1 while an enqueue is in progress, else 0 */
#define W_TICKET 1 /* first ticket | VALID | (count - 1) << 40, once known */
#define TICKET_VALID (1ull << 32)
#define TICKET_COUNT_SHIFT 40
/* Thread-record words used by zero-copy consumers (2 and 3 are the RCU's). */
#define W_PEEK 4    /* queue offset | 1 while a peek is in progress or held, else 0 */
#define W_PTICKET 5 /* ticket | VALID once known */


struct qhdr {
	uint32_t magic;
	uint32_t nslots;
	uint32_t slot_size;
	uint32_t max_msg;
	uint32_t closed;
	uint32_t joinable;
	uint32_t mode;          /* SHMRT_QUEUE_SP | SHMRT_QUEUE_SC, fixed at creation */
	uint8_t pad0[36];
	uint32_t ptail_waiters; /* 1: a consumer went to sleep on p_tail (consumer_sleep) */
	uint8_t pad1[60];
	uint32_t chead_waiters; /* 1: a producer went to sleep on c_head (full or held) */
	uint8_t pad2[60];
	struct ck_ring ring;
	uint8_t pad3[56];
	uint32_t unfinished;    /* JoinableQueue: tasks put and not yet done */
	uint32_t join_waiters;
	uint8_t pad4[56];
	uint32_t spinners;      /* waiters in their spin phase (base/wait.h): a line of its
				 * own, since waiters write it and the waiter counts are read
				 * on every put and get */
	uint8_t pad5[60];
	uint32_t chead_cache;   /* a past value of c_head, kept by producers: they read the
				 * consumers' line only when this says the ring may be full */
	uint8_t pad6[60];
};

struct slot {
	uint64_t state; /* ticket | ST_COMMITTED or ST_HOLE */
	uint32_t len;
	uint32_t cwait; /* 1: the producer of this slot sleeps until its turn to publish */
};

_Static_assert(offsetof(struct qhdr, ptail_waiters) == 64, "queue layout");
_Static_assert(offsetof(struct qhdr, ring) == 192, "queue layout");
_Static_assert(offsetof(struct qhdr, unfinished) == 384, "queue layout");
_Static_assert(offsetof(struct qhdr, spinners) == 448, "queue layout");
_Static_assert(offsetof(struct qhdr, chead_cache) == 512, "queue layout");
_Static_assert(sizeof(struct slot) == SLOT_HDR, "slot layout");

#define SLOTS_OFF ((sizeof(struct qhdr) + 63) & ~(size_t)63)

static inline struct qhdr *H(const shmrt_queue_t *q)
{
	return q->shm;
}

static inline struct slot *slot_at(const shmrt_queue_t *q, unsigned t)
{
	return (struct slot *)(void *)(q->slots + (size_t)(t & q->mask) * q->slot_size);
}


/* After a store that moved p_tail (or closed the queue): wake the sleeping consumers. */
static inline void consumers_wake(struct qhdr *h)
{
	fence_seq_cst(); /* pairs with the fence in consumer_sleep() */
	if (load_relaxed(&h->ptail_waiters) && exchange_acq_rel(&h->ptail_waiters, 0))
		shmrt__futex_wake(&h->ring.p_tail, INT_MAX);
}

/*
 * As consumers_wake/producers_wake, right after a seq_cst read-modify-write of the
 * word the sleepers re-check (p_tail or c_head): that RMW orders the store before the
 * flag's seq_cst load (C11: the sleeper's fence either follows the RMW in the total
 * order, and its re-check sees the new value, or precedes the load, which then sees
 * the flag), so no separate fence is needed: one full barrier per message, not two.
 */
static inline void wake_after_rmw(uint32_t *word, uint32_t *flag)
{
	if (__atomic_load_n(flag, __ATOMIC_SEQ_CST) && exchange_acq_rel(flag, 0))
		shmrt__futex_wake(word, INT_MAX);
}

/* After c_head moved (or a held slot was released): wake the sleeping producers. Same
 * flag protocol as the consumers' (producer_sleep). */
static inline void producers_wake(struct qhdr *h)
{
	fence_seq_cst(); /* pairs with the fence in producer_sleep() */
	if (load_relaxed(&h->chead_waiters) && exchange_acq_rel(&h->chead_waiters, 0))
		shmrt__futex_wake(&h->ring.c_head, INT_MAX);
}

/* ---- creation -------------------------------------------------------------------- */

struct qinit {
	uint32_t nslots, slot_size, max_msg, joinable, mode;
};

static int queue_init(void *mem, uint64_t size, void *ctx)
{
	(void)size;
	struct qinit *qi = ctx;
	struct qhdr *h = mem;
	h->nslots = qi->nslots;
	h->slot_size = qi->slot_size;
	h->max_msg = qi->max_msg;
	h->joinable = qi->joinable;
	h->mode = qi->mode;
	ck_ring_init(&h->ring, qi->nslots);
	/* Slot i first serves ticket i: it starts as if ticket i - nslots had been there
	 * and was released, so "not committed yet" reads the same in every lap. */
	for (uint32_t i = 0; i < qi->nslots; i++) {
		struct slot *sl = (struct slot *)(void *)((char *)mem + SLOTS_OFF +
							  (size_t)i * qi->slot_size);
		sl->state = (uint64_t)(uint32_t)(i - qi->nslots) | ST_RELEASED;
		sl->len = 0;
		sl->cwait = 0;
	}
	h->magic = QUEUE_MAGIC;
	return 0;
}

static int queue_open(shmrt_region_t *r, const char *name, int oflags, uint32_t capacity,
		      uint32_t max_msg, uint32_t joinable, shmrt_queue_t *out)
{
	uint32_t mode = (uint32_t)oflags & (SHMRT_QUEUE_SP | SHMRT_QUEUE_SC);
	oflags &= ~(SHMRT_QUEUE_SP | SHMRT_QUEUE_SC);
	if (!r || !out || capacity == 0 || capacity > (1u << 24) || max_msg > (16u << 20))
		return -EINVAL;
	uint32_t n = 2;
	while (n < capacity + 1) /* ck_ring keeps one slot empty */
		n <<= 1;
	struct qinit qi = { n, (uint32_t)((SLOT_HDR + max_msg + 63) & ~63u), max_msg, joinable,
			    mode };
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, SHMRT_TYPE_QUEUE, SLOTS_OFF + (uint64_t)n * qi.slot_size,
				    oflags, NULL, queue_init, &qi, &oi);
	if (rc == -EMSGSIZE)
		return -EPROTOTYPE;
	if (rc)
		return rc;
	struct qhdr *h = shmrt_ptr(r, oi.off);
	if (h->magic != QUEUE_MAGIC || h->nslots < 2 || (h->nslots & (h->nslots - 1)) ||
	    h->ring.size != h->nslots || h->ring.mask != h->nslots - 1 ||
	    h->slot_size < SLOT_HDR + h->max_msg || h->slot_size % 64 ||
	    SLOTS_OFF + (uint64_t)h->nslots * h->slot_size > oi.size)
		return -EBADMSG;
	if (h->nslots - 1 < capacity || h->max_msg < max_msg || h->joinable != joinable ||
	    h->mode != mode)
		return -EPROTOTYPE;
	(void)shmrt__asym_register(); /* before our first publish (base/asym.h) */
	*out = (shmrt_queue_t){ .shm = h, .slots = (char *)h + SLOTS_OFF, .slot_size = h->slot_size,
				.max_msg = h->max_msg, .mask = h->nslots - 1, .mode = mode,
				.region = r, .off = oi.off };
	return 0;
}

int shmrt_queue_open(shmrt_region_t *r, const char *name, int oflags, uint32_t capacity,
		     uint32_t max_msg, shmrt_queue_t *out)
{
	return queue_open(r, name, oflags, capacity, max_msg, 0, out);
}

int shmrt_joinable_queue_open(shmrt_region_t *r, const char *name, int oflags, uint32_t capacity,
			      uint32_t max_msg, shmrt_queue_t *out)
{
	return queue_open(r, name, oflags, capacity, max_msg, 1, out);
}

/* A task that will never be done (a hole, an abort) leaves the count. */
static void task_retire(struct qhdr *h)
{
	if (!h->joinable)
		return;
	if (fetch_sub_relaxed(&h->unfinished, 1) == 1)
		shmrt__wake(&h->unfinished, &h->join_waiters, INT_MAX);
}

/* ---- dead producers ------------------------------------------------------------- */

/* Whether a live thread holds (or may hold) the peek of ticket T. */
static int peek_held(const shmrt_queue_t *q, unsigned T)
{
	struct shmrt_region *R = (struct shmrt_region *)q->region;
	for (uint32_t i = 0; i < R->hdr->g.max_threads; i++) {
		if (load_acquire(&R->threads[i].module[W_PEEK]) != (q->off | 1))
			continue;
		uint64_t m = load_acquire(&R->threads[i].module[W_PTICKET]);
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
	struct shmrt_region *R = (struct shmrt_region *)q->region;
	/* Acquire on p_head: if ticket T is reserved, its owner's in-progress mark
	 * (stored before its reserving CAS) is visible to the scan below. */
	unsigned ph = ck_pr_load_uint(&h->ring.p_head);
	ck_pr_fence_load();
	if (ck_pr_load_uint(&h->ring.p_tail) != T)
		return 1;
	if (ph == T)
		return 0; /* nothing reserved: not stuck, just empty */
	struct slot *s = slot_at(q, T);
	uint64_t st = load_acquire(&s->state);
	for (uint32_t i = 0; i < R->hdr->g.max_threads; i++) {
		uint64_t m0 = load_acquire(&R->threads[i].module[W_QUEUE]);
		if (m0 != (q->off | 1))
			continue;
		uint64_t m1 = load_acquire(&R->threads[i].module[W_TICKET]);
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
		if (!cas_acq_rel(&s->state, &st, (uint64_t)T | ST_HOLE))
			return 0; /* it changed under us: look again next time */
		holed = 1;
	}
	unsigned expect = T;
	/* Release: the hole (or the dead owner's message) is published with p_tail. */
	if (__atomic_compare_exchange_n(&h->ring.p_tail, &expect, T + 1, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_RELAXED) && holed)
		task_retire(h); /* the dead producer had counted its task */
	consumers_wake(h);
	struct slot *next = slot_at(q, T + 1); /* its producer may sleep for its turn */
	if (load_relaxed(&next->cwait))
		shmrt__futex_wake(&next->cwait, INT_MAX);
	return 1;
}

struct stuck_ctx {
	const shmrt_queue_t *q;
};

/* Between sleeps: a close ends the wait (the caller re-evaluates); a stuck ticket
 * is fixed. */
static int stuck_check(void *ctx)
{
	const shmrt_queue_t *q = ((struct stuck_ctx *)ctx)->q;
	struct qhdr *h = H(q);
	/* Fix first: a closed queue still has to drain past a dead producer's slot. */
	unsigned pt = ck_pr_load_uint(&h->ring.p_tail);
	if (ck_pr_load_uint(&h->ring.p_head) != pt)
		(void)fix_stuck(q, pt);
	return load_acquire(&h->closed) ? -EPIPE : 0;
}

static int join_check(void *ctx)
{
	(void)stuck_check(ctx); /* a close does not end a join */
	return 0;
}

static int closed_check(void *ctx)
{
	return load_acquire(&H(((struct stuck_ctx *)ctx)->q)->closed) ? -EPIPE : 0;
}

static inline bool slot_held(const shmrt_queue_t *q, unsigned t);

/* A producer that found the next slot held by a zero-copy consumer: the wait ends
 * (1) when it is released, since c_head need not move meanwhile. */
static int held_check(void *ctx)
{
	const shmrt_queue_t *q = ((struct stuck_ctx *)ctx)->q;
	if (load_acquire(&H(q)->closed))
		return -EPIPE;
	return slot_held(q, ck_pr_load_uint(&H(q)->ring.p_head)) ? 0 : 1;
}

/* ---- producing ----------------------------------------------------------------- */

/*
 * ck_ring's MPMC reserve (_ck_ring_enqueue_reserve_mp) for up to want tickets at once:
 * one CAS on p_head claims [*ticket, *ticket + *got). *got >= 1 on success.
 */
/* Whether slot t still holds ticket t - nslots, peeked and not yet released. */
static inline bool slot_held(const shmrt_queue_t *q, unsigned t)
{
	return load_acquire(&slot_at(q, t)->state) == ((uint64_t)(t - (q->mask + 1)) | ST_PEEKED);
}

/* As ck_ring's reserve; also false with *held set when the next slot is still held by
 * a zero-copy consumer (the ring is full in effect; a burst stops before such a slot). */
static bool reserve_many(const shmrt_queue_t *q, unsigned want, unsigned *ticket,
			 unsigned *got, bool *held)
{
	struct ck_ring *ring = &H(q)->ring;
	const unsigned mask = ring->mask;
	unsigned producer = ck_pr_load_uint(&ring->p_head);
	/* c_head only grows, so a past value understates the room: safe. Relaxed: any
	 * value it ever held will do. */
	unsigned consumer = load_relaxed(&H(q)->chead_cache);
	*held = false;
	for (;;) {
		if (producer - consumer >= mask || mask - (producer - consumer) < want) {
			ck_pr_fence_load();
			consumer = ck_pr_load_uint(&ring->c_head);
			store_relaxed(&H(q)->chead_cache, consumer);
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
				/* The only producer: a store. Release: our thread record's
				 * mark is visible to whoever sees p_head moved. */
				store_release(&ring->p_head, producer + n);
				*ticket = producer;
				*got = n;
				return true;
			}
			/* The CAS is a full barrier (ck_pr), as in ck_ring. */
			if (ck_pr_cas_uint_value(&ring->p_head, producer, producer + n, &producer)) {
				*ticket = producer;
				*got = n;
				return true;
			}
		} else {
			ck_pr_fence_load();
			unsigned now = ck_pr_load_uint(&ring->p_head);
			if (now == producer)
				return false;
			producer = now;
		}
	}
}

static int reserve_n(const shmrt_queue_t *q, unsigned want, unsigned *ticket, unsigned *got,
		     int64_t timeout, int try_once);

static int reserve(const shmrt_queue_t *q, unsigned *ticket, int64_t timeout, int try_once)
{
	unsigned got;
	return reserve_n(q, 1, ticket, &got, timeout, try_once);
}

static uint64_t sleep_slice_ns(void);

/*
 * A producer sleeps on c_head while the ring is full (or its next slot held): it
 * raises chead_waiters, and the consumer that moves c_head (or releases the slot)
 * clears it and wakes every sleeping producer. 0, or -ETIMEDOUT at the deadline; the
 * caller re-evaluates in any case.
 */
static int producer_sleep(const shmrt_queue_t *q, unsigned c, uint64_t deadline,
			  struct stuck_ctx *x, bool held, int yields)
{
	struct qhdr *h = H(q);
	for (int i = 0; i < yields; i++) {
		if (ck_pr_load_uint(&h->ring.c_head) != c)
			return 0;
		sched_yield();
	}
	store_relaxed(&h->chead_waiters, 1);
	/* Between raising the flag and re-reading c_head: the heavy barrier, which pairs
	 * with producers_wake()'s fence, the consumers' seq_cst CAS of c_head, and a
	 * single consumer's light barrier after its store (base/asym.h). */
	bool polled = shmrt__heavy_barrier() != 0;
	if (ck_pr_load_uint(&h->ring.c_head) != c || (held && held_check(x)) || closed_check(x))
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

/* timeout is relative (shmrt_ns_t); the deadline is computed only if we must wait:
 * a clock read per call cost a quarter of 1p1c's time. */
static int reserve_n(const shmrt_queue_t *q, unsigned want, unsigned *ticket, unsigned *got,
		     int64_t timeout, int try_once)
{
	uint64_t deadline = 0;
	struct qhdr *h = H(q);
	struct shmrt_region *R = (struct shmrt_region *)q->region;
	uint32_t rec = shmrt__thread_rec(R);
	if (rec == REC_NONE)
		return R->attached ? -EUSERS : -EPERM;
	struct shmrt_thread_rec *t = &R->threads[rec];
	if (load_relaxed(&t->module[W_QUEUE]))
		return -EBUSY; /* one outstanding reservation per thread */
	for (;;) {
		if (load_acquire(&h->closed))
			return -EPIPE;
		store_relaxed(&t->module[W_TICKET], 0);
		/* Release, before the reserving CAS (which is a full barrier): a waiter
		 * that sees our ticket reserved sees this mark. */
		store_release(&t->module[W_QUEUE], q->off | 1);
		bool held;
		if (reserve_many(q, want, ticket, got, &held)) {
			store_release(&t->module[W_TICKET],
				      *ticket | TICKET_VALID |
					      ((uint64_t)(*got - 1) << TICKET_COUNT_SHIFT));
			/* Counted before the message is visible, as Python does, so a
			 * task_done can never run ahead of its put. */
			if (h->joinable)
				fetch_add_acq_rel(&h->unfinished, *got);
			return 0;
		}
		store_release(&t->module[W_QUEUE], 0);
		if (try_once)
			return -EAGAIN;
		if (!deadline)
			deadline = shmrt__deadline(timeout);
		/* Full: sleep until a consumer moves c_head (or the deadline). */
		unsigned c = ck_pr_load_uint(&h->ring.c_head);
		if (!held && ck_pr_load_uint(&h->ring.p_head) - c < q->mask)
			continue;
		if (held) {
			if (mono_ns() >= deadline)
				return -ETIMEDOUT;
			/* Held by a dead consumer? Then its message is lost with it. */
			unsigned ph = ck_pr_load_uint(&h->ring.p_head), prev = ph - (q->mask + 1);
			uint64_t st = (uint64_t)prev | ST_PEEKED;
			if (slot_held(q, ph) && !peek_held(q, prev) &&
			    cas_acq_rel(&slot_at(q, ph)->state, &st, (uint64_t)prev | ST_RELEASED))
				continue;
		}
		struct stuck_ctx x = { q };
		int spin = shmrt__spin_enter(&h->spinners);
		if (spin) {
			for (int i = 0; i < SHMRT_SPIN_ITERS && ck_pr_load_uint(&h->ring.c_head) == c;
			     i++)
				cpu_relax();
			shmrt__spin_leave(&h->spinners);
		}
		if (producer_sleep(q, c, deadline, &x, held, spin ? SHMRT_YIELD_ITERS : 0))
			return -ETIMEDOUT;
	}
}

/* Publishes tickets [t, t + n) (states already stored), in ticket order. */
/* Where p_tail stands for a producer of [t, t + n): 0 our turn (inside the range),
 * 1 past it (someone published us), -1 not yet. Unsigned distances, as in CK. */
static inline int turn(unsigned pt, unsigned t, unsigned n)
{
	unsigned d = pt - t;
	return d < n ? 0 : d < 0x80000000u ? 1 : -1;
}

static void publish_n(const shmrt_queue_t *q, unsigned t, unsigned n)
{
	struct qhdr *h = H(q);
	struct stuck_ctx x = { q };
	/* Wait until p_tail reaches our range, or passes it: a producer that publishes
	 * also publishes the committed slots right after its own ("helping"), so that
	 * a producer preempted between filling its slot and publishing it holds nobody
	 * up, and waiting producers are done without waking up in turn. We spin briefly
	 * (within the spin budget), then sleep on our first slot's cwait word, which a
	 * publisher that reaches or passes us wakes. Every STUCK_CHECK_NS we check that
	 * the producer at p_tail lives. */
	struct slot *mine = slot_at(q, t);
	uint64_t check_at = 0;
	if (turn(ck_pr_load_uint(&h->ring.p_tail), t, n) < 0 && shmrt__spin_enter(&h->spinners)) {
		for (unsigned i = 0;
		     i < SHMRT_SPIN_ITERS && turn(ck_pr_load_uint(&h->ring.p_tail), t, n) < 0; i++)
			cpu_relax();
		shmrt__spin_leave(&h->spinners);
	}
	unsigned pt;
	int where;
	for (;;) {
		pt = ck_pr_load_uint(&h->ring.p_tail);
		if ((where = turn(pt, t, n)) >= 0)
			break;
		uint64_t now = mono_ns();
		if (!check_at) {
			check_at = now + sleep_slice_ns();
		} else if (now >= check_at) {
			(void)stuck_check(&x);
			check_at = now + sleep_slice_ns();
		}
		store_relaxed(&mine->cwait, 1);
		/* Between announcing and re-reading p_tail: the heavy barrier that pairs
		 * with the publisher's light one between its p_tail store and its cwait
		 * checks (base/asym.h). Without membarrier: poll. */
		uint64_t until = check_at;
		if (shmrt__heavy_barrier() && until > now + SHMRT_ASYM_FALLBACK_SLICE_NS)
			until = now + SHMRT_ASYM_FALLBACK_SLICE_NS;
		if (ck_pr_load_uint(&h->ring.p_tail) == pt)
			(void)shmrt__futex_wait(&mine->cwait, 1, until);
		store_relaxed(&mine->cwait, 0);
	}
	unsigned end = pt;
	if (where == 0) {
		/* Our turn: publish our slots and the committed (or holed) slots after
		 * them, up to a bound. Acquire on each state: its contents are complete. */
		unsigned ph = ck_pr_load_uint(&h->ring.p_head);
		end = t + n;
		for (unsigned k = 0; end != ph && k < 64; k++, end++) {
			/* Committed, holed, or already taken by a zero-copy consumer: in every
			 * case its producer is done with it. */
			uint64_t st = load_acquire(&slot_at(q, end)->state);
			if ((unsigned)st != end || (st >> 32) == 0)
				break;
		}
		/* Release: the slots' contents and states are visible to consumers that
		 * see p_tail move. Only the producer whose turn it is stores p_tail (or
		 * fix_stuck, by CAS, for a dead one), so it never moves backwards. The
		 * wake-up checks below pair with the sleepers' heavy barrier (asymmetric,
		 * base/asym.h): a seq_cst exchange here waited for the slot's stores to
		 * drain, on the path of every message. */
		store_release(&h->ring.p_tail, end);
		shmrt__light_barrier();
	}
	struct shmrt_region *R = (struct shmrt_region *)q->region;
	struct shmrt_thread_rec *tr = &R->threads[shmrt__thread_rec(R)];
	/* Only now may the mark go: a waiter that no longer sees it sees p_tail moved. */
	store_release(&tr->module[W_QUEUE], 0);
	store_relaxed(&tr->module[W_TICKET], 0);
	if (where != 0)
		return; /* published by another producer, who woke whoever needs it */
	/* Wake one sleeping consumer per message (only consumers sleep on p_tail; a
	 * close wakes them all); the producers we published for, if they sleep; and the
	 * producer of the next slot, whose turn it is. */
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
 * Before a producer writes slot t: the slot's previous message (ticket t - nslots)
 * may still be held by a zero-copy consumer (c_head has passed it, so the ring had
 * room). Wait for its release; if its holder is dead, release it ourselves (the
 * message is lost with its consumer, as with a get).
 */
static void wait_released(const shmrt_queue_t *q, unsigned t)
{
	struct slot *s = slot_at(q, t);
	uint64_t held = (uint64_t)(t - (q->mask + 1)) | ST_PEEKED;
	/* Acquire: pairs with the release store of shmrt_queue_release(). */
	if (likely(load_acquire(&s->state) != held))
		return;
	uint32_t *hi = (uint32_t *)(void *)&s->state + 1; /* the flags half (little endian) */
	uint64_t check_at = mono_ns() + STUCK_CHECK_NS;
	for (unsigned i = 0; load_acquire(&s->state) == held; i++) {
		if (i < SHMRT_SPIN_ITERS) {
			cpu_relax();
			continue;
		}
		uint64_t now = mono_ns();
		if (now >= check_at) {
			uint64_t st = held;
			if (!peek_held(q, t - (q->mask + 1)))
				(void)cas_acq_rel(&s->state, &st,
						  (uint64_t)(t - (q->mask + 1)) | ST_RELEASED);
			check_at = now + STUCK_CHECK_NS;
			continue;
		}
		store_relaxed(&s->cwait, 1);
		fence_seq_cst(); /* pairs with the releaser's fence before its cwait check */
		if (load_acquire(&s->state) == held)
			(void)shmrt__futex_wait(hi, (uint32_t)(ST_PEEKED >> 32), check_at);
		store_relaxed(&s->cwait, 0);
	}
}

static void fill(const shmrt_queue_t *q, unsigned t, const void *msg, size_t len, uint64_t flag)
{
	struct slot *s = slot_at(q, t);
	if (len)
		shmrt__copy_racy((char *)s + SLOT_HDR, msg, len);
	store_relaxed(&s->len, (uint32_t)len);
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
	unsigned t;
	int rc = reserve(q, &t, timeout, timeout == 0);
	if (rc)
		return rc;
	wait_released(q, t);
	res->ticket = t;
	res->data = (char *)slot_at(q, t) + SLOT_HDR;
	return 0;
}

int shmrt_queue_commit(const shmrt_queue_t *q, const shmrt_queue_res_t *res, size_t len)
{
	if (!q || !q->shm || !res)
		return -EINVAL;
	if (len > q->max_msg)
		return -EMSGSIZE; /* the reservation stays: commit a fitting length or abort */
	struct slot *s = slot_at(q, res->ticket);
	store_relaxed(&s->len, (uint32_t)len);
	store_release(&s->state, (uint64_t)res->ticket | ST_COMMITTED);
	publish(q, res->ticket);
	return 0;
}

int shmrt_queue_abort(const shmrt_queue_t *q, const shmrt_queue_res_t *res)
{
	if (!q || !q->shm || !res)
		return -EINVAL;
	store_release(&slot_at(q, res->ticket)->state, (uint64_t)res->ticket | ST_HOLE);
	publish(q, res->ticket);
	task_retire(H(q));
	return 0;
}

/* ---- consuming --------------------------------------------------------------- */

/*
 * Slot c at c_head reads c|PEEKED: a zero-copy consumer claimed it and is about to move
 * c_head (or, having lost the race, to put the state back). Wait a little; after
 * STUCK_CHECK_NS, if no live thread holds that peek, its holder died before taking the
 * message: put it back (it is delivered to someone else, not lost).
 */
static void peek_in_flight(const shmrt_queue_t *q, unsigned c, uint64_t *since)
{
	uint64_t now = mono_ns();
	if (!*since) {
		*since = now;
	} else if (now - *since >= STUCK_CHECK_NS) {
		*since = now;
		if (ck_pr_load_uint(&H(q)->ring.c_head) == c && !peek_held(q, c)) {
			uint64_t st = (uint64_t)c | ST_PEEKED;
			(void)cas_acq_rel(&slot_at(q, c)->state, &st, (uint64_t)c | ST_COMMITTED);
		}
		return;
	}
	sched_yield();
}

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
		unsigned c = ck_pr_load_uint(&h->ring.c_head), k = 0, used = 0;
		int stale = 0;
		/* The committed (or holed) slots from c_head on, up to n messages and at most
		 * a ring's worth of slots. A3 (acquire) on each state. */
		for (; used <= q->mask && k < n; used++) {
			struct slot *s = slot_at(q, c + used);
			uint64_t st = load_acquire(&s->state);
			uint32_t len = load_relaxed(&s->len);
			if (st == ((uint64_t)(c + used) | ST_HOLE))
				continue;
			if (st == ((uint64_t)(c + used) | ST_PEEKED)) {
				if (used == 0)
					peek_in_flight(q, c, &since);
				stale = used == 0; /* later: end the batch before it */
				break;
			}
			if (st != ((uint64_t)(c + used) | ST_COMMITTED) || len > q->max_msg) {
				/* Not committed yet (the batch ends here), or overtaken. */
				stale = ck_pr_load_uint(&h->ring.c_head) != c;
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
		/* Acq_rel: our copies are done before producers may reuse the slots. */
		if (__atomic_compare_exchange_n(&h->ring.c_head, &c, c + used, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			if (k)
				return (int)k;
			continue; /* only holes: look again */
		}
	}
}

/*
 * The oldest message: ticket *c at c_head, committed, in slot *s (state *st, length
 * *n), read after p_tail (acquire). Skips holes (moving c_head past them) and waits out
 * a peek in flight. 0, or -EAGAIN (none published). The caller's claim (a CAS) may still
 * fail: then it calls again.
 */
static int head(const shmrt_queue_t *q, unsigned *cp, struct slot **sp, uint64_t *stp,
		uint32_t *np, uint64_t *since)
{
	struct qhdr *h = H(q);
	for (;;) {
		unsigned c = ck_pr_load_uint(&h->ring.c_head);
		struct slot *s = slot_at(q, c);
		/* A3: acquire, pairs with fill()'s release store of the state: the contents
		 * are complete once the state says committed, published or not yet (see
		 * "Consuming" in the file comment). */
		uint64_t st = load_acquire(&s->state);
		uint32_t n = load_relaxed(&s->len);
		if (st == ((uint64_t)c | ST_COMMITTED) && n <= q->max_msg) {
			*cp = c;
			*sp = s;
			*stp = st;
			*np = n;
			return 0;
		}
		if (st == ((uint64_t)c | ST_HOLE)) {
			__atomic_compare_exchange_n(&h->ring.c_head, &c, c + 1, 0, __ATOMIC_ACQ_REL,
						    __ATOMIC_RELAXED);
			continue;
		}
		if (st == ((uint64_t)c | ST_PEEKED)) {
			peek_in_flight(q, c, since);
			continue;
		}
		/* Ticket c is not committed: nothing to take, unless c_head moved meanwhile
		 * (the slot we read was reused by a later lap). */
		if (ck_pr_load_uint(&h->ring.c_head) != c)
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
			/* The only consumer: a store. Release: our copy is done before
			 * producers may reuse the slot. */
			store_release(&h->ring.c_head, c + 1);
			*len = n;
			return 0;
		}
		/* Seq_cst (release at least): our copy is done before producers may reuse
		 * the slot; and it stands for the fence of the producers' wake-up check
		 * (wake_after_rmw in shmrt_queue_get). */
		if (__atomic_compare_exchange_n(&h->ring.c_head, &c, c + 1, 0, __ATOMIC_SEQ_CST,
						__ATOMIC_RELAXED)) {
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
		if (ck_pr_load_uint(&h->ring.p_tail) != p)
			return;
		sched_yield();
	}
	store_relaxed(&h->ptail_waiters, 1);
	/* Between raising the flag and re-reading p_tail: the heavy barrier, which pairs
	 * with the publisher's light barrier between its p_tail store and its flag
	 * check (base/asym.h), and with consumers_wake()'s fence. */
	uint64_t slice = sleep_slice_ns();
	if (shmrt__heavy_barrier() && slice > SHMRT_ASYM_FALLBACK_SLICE_NS)
		slice = SHMRT_ASYM_FALLBACK_SLICE_NS; /* without membarrier: poll */
	if (ck_pr_load_uint(&h->ring.p_tail) != p)
		return;
	uint64_t now = mono_ns();
	if (now >= deadline)
		return;
	uint64_t d = now + slice < deadline ? now + slice : deadline;
	if (shmrt__futex_wait(&h->ring.p_tail, p, d) == -ETIMEDOUT)
		(void)stuck_check(x);
}

/* Spins (at most iters pauses) until the slot at c_head changes state or c_head moves:
 * 1 if it did, 0 if the spin ran out. */
static int spin_on_head(const shmrt_queue_t *q, int iters)
{
	struct qhdr *h = H(q);
	unsigned c = ck_pr_load_uint(&h->ring.c_head);
	uint64_t *st = &slot_at(q, c)->state, v = load_relaxed(st);
	if ((unsigned)v == c)
		return 1; /* ticket c's state is there already */
	for (int i = 0; i < iters; i++) {
		if (load_relaxed(st) != v || ck_pr_load_uint(&h->ring.c_head) != c)
			return 1;
		cpu_relax();
	}
	return 0;
}

static int get_wait(const shmrt_queue_t *q, void *buf, size_t cap, size_t *len,
		    int64_t timeout, int try_once)
{
	struct qhdr *h = H(q);
	struct stuck_ctx x = { q };
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
			else /* rounds with a yield between them, as the Pipe (pipe.c) */
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
		/* Snapshot p_tail BEFORE looking for a message: a message published after
		 * take() saw the queue empty then changes p_tail from this value, and the
		 * sleep below returns at once instead of sleeping past it. */
		unsigned p = ck_pr_load_uint(&h->ring.p_tail);
		ck_pr_fence_load();
		int rc = take(q, buf, cap, len);
		if (rc != -EAGAIN)
			return rc;
		SHMRT_YIELD_POINT(); /* the window a lost wakeup would need */
		if (load_acquire(&h->closed) &&
		    ck_pr_load_uint(&h->ring.p_head) == ck_pr_load_uint(&h->ring.c_head))
			return -EPIPE; /* closed and drained */
		if (try_once)
			return -EAGAIN;
		if (deadline != UINT64_MAX && mono_ns() >= deadline)
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
		/* take()'s seq_cst CAS on c_head was our last shared store; a single
		 * consumer's is a release store, then a light barrier, which pairs with
		 * producer_sleep()'s heavy one. */
		if (q->mode & SHMRT_QUEUE_SC)
			shmrt__light_barrier();
		wake_after_rmw(&H(q)->ring.c_head, &H(q)->chead_waiters);
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
	producers_wake(H(q));
	return (int)got;
}

/* ---- zero-copy consuming ------------------------------------------------------------ */

/*
 * Claims the oldest message in place: the slot's state goes c|COMMITTED -> c|PEEKED
 * (CAS), then c_head c -> c + 1 (CAS). Whoever wins the c_head CAS owns the message:
 * a get that copied the slot before our claim may win it, and then we put the state
 * back. While PEEKED, producers that wrap around to the slot wait (wait_released).
 * The thread record says "peek in progress on this queue" before the claim, and the
 * ticket right after, so a dead holder is recognised (peek_held).
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
		if (!cas_acq_rel(&s->state, &st, (uint64_t)c | ST_PEEKED))
			continue;
		store_release(&tr->module[W_PTICKET], (uint64_t)c | TICKET_VALID);
		SHMRT_YIELD_POINT();
		unsigned expect = c;
		if (__atomic_compare_exchange_n(&h->ring.c_head, &expect, c + 1, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			pk->data = (const char *)s + SLOT_HDR;
			pk->len = n;
			pk->ticket = c;
			return 0;
		}
		/* A get took it first: put the state back (a producer may wait on it). */
		st = (uint64_t)c | ST_PEEKED;
		(void)cas_acq_rel(&s->state, &st, (uint64_t)c | ST_COMMITTED);
		store_relaxed(&tr->module[W_PTICKET], 0);
		fence_seq_cst();
		if (load_relaxed(&s->cwait))
			shmrt__futex_wake((uint32_t *)(void *)&s->state + 1, INT_MAX);
		producers_wake(h); /* producers that found it held */
	}
}

int shmrt_queue_peek(const shmrt_queue_t *q, shmrt_queue_peek_t *pk, shmrt_ns_t timeout)
{
	if (!q || !q->shm || !pk)
		return -EINVAL;
	struct qhdr *h = H(q);
	struct shmrt_region *R = (struct shmrt_region *)q->region;
	uint32_t rec = shmrt__thread_rec(R);
	if (rec == REC_NONE)
		return R->attached ? -EUSERS : -EPERM;
	struct shmrt_thread_rec *tr = &R->threads[rec];
	if (load_relaxed(&tr->module[W_PEEK]))
		return -EBUSY; /* one message held per thread */
	store_relaxed(&tr->module[W_PTICKET], 0);
	/* Release, before the claiming CAS (a full barrier): whoever sees the slot
	 * PEEKED sees this mark. */
	store_release(&tr->module[W_PEEK], q->off | 1);
	uint64_t deadline = shmrt__deadline(timeout);
	struct stuck_ctx x = { q };
	int rc;
	for (;;) {
		unsigned p = ck_pr_load_uint(&h->ring.p_tail);
		ck_pr_fence_load();
		rc = try_peek(q, tr, pk);
		if (rc != -EAGAIN)
			break;
		if (load_acquire(&h->closed) &&
		    ck_pr_load_uint(&h->ring.p_head) == ck_pr_load_uint(&h->ring.c_head)) {
			rc = -EPIPE;
			break;
		}
		if (timeout == 0)
			break;
		if (deadline != UINT64_MAX && mono_ns() >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		consumer_sleep(q, p, deadline, &x, SHMRT_YIELD_ITERS);
	}
	if (rc) {
		store_release(&tr->module[W_PEEK], 0);
		return rc;
	}
	producers_wake(h);
	return 0;
}

int shmrt_queue_release(const shmrt_queue_t *q, const shmrt_queue_peek_t *pk)
{
	if (!q || !q->shm || !pk)
		return -EINVAL;
	struct shmrt_region *R = (struct shmrt_region *)q->region;
	uint32_t rec = shmrt__thread_rec(R);
	if (rec == REC_NONE)
		return -EINVAL;
	struct shmrt_thread_rec *tr = &R->threads[rec];
	if (load_relaxed(&tr->module[W_PEEK]) != (q->off | 1) ||
	    load_relaxed(&tr->module[W_PTICKET]) != ((uint64_t)pk->ticket | TICKET_VALID))
		return -EINVAL; /* not the message this thread holds */
	struct slot *s = slot_at(q, pk->ticket);
	uint64_t st = (uint64_t)pk->ticket | ST_PEEKED;
	/* Release: our reads of the message are done before a producer reuses the slot
	 * (pairs with the acquire in wait_released()). */
	(void)cas_acq_rel(&s->state, &st, (uint64_t)pk->ticket | ST_RELEASED);
	store_relaxed(&tr->module[W_PTICKET], 0);
	store_release(&tr->module[W_PEEK], 0);
	fence_seq_cst(); /* pairs with the waiter's fence after it sets cwait */
	if (load_relaxed(&s->cwait))
		shmrt__futex_wake((uint32_t *)(void *)&s->state + 1, INT_MAX);
	/* Producers that found this slot held sleep on c_head: let them look again. */
	producers_wake(H(q));
	return 0;
}

/* ---- JoinableQueue ------------------------------------------------------------ */

int shmrt_queue_task_done(const shmrt_queue_t *q)
{
	if (!q || !q->shm || !H(q)->joinable)
		return -EINVAL;
	struct qhdr *h = H(q);
	uint32_t v = load_relaxed(&h->unfinished);
	do {
		if (v == 0)
			return -EOVERFLOW; /* task_done() called too many times */
	} while (!cas_acq_rel(&h->unfinished, &v, v - 1));
	if (v == 1)
		shmrt__wake(&h->unfinished, &h->join_waiters, INT_MAX);
	return 0;
}

int shmrt_queue_join(const shmrt_queue_t *q, shmrt_ns_t timeout)
{
	if (!q || !q->shm || !H(q)->joinable)
		return -EINVAL;
	struct qhdr *h = H(q);
	uint64_t deadline = shmrt__deadline(timeout);
	for (;;) {
		uint32_t v = load_acquire(&h->unfinished);
		if (v == 0)
			return 0;
		if (timeout == 0)
			return -EAGAIN;
		/* Between sleeps, unstick a dead producer: its hole retires its task. */
		struct stuck_ctx x = { q };
		if (shmrt__wait_ne(&h->unfinished, v, &h->join_waiters, deadline, STUCK_CHECK_NS,
				   join_check, &x))
			return -ETIMEDOUT;
	}
}

/* ---- state ----------------------------------------------------------------------- */

void shmrt_queue_close(const shmrt_queue_t *q)
{
	struct qhdr *h = H(q);
	store_release(&h->closed, 1);
	fence_seq_cst();
	shmrt__futex_wake(&h->ring.p_tail, INT_MAX);
	shmrt__futex_wake(&h->ring.c_head, INT_MAX);
}

int shmrt_queue_closed(const shmrt_queue_t *q)
{
	return load_acquire(&H(q)->closed) != 0;
}

uint32_t shmrt_queue_size(const shmrt_queue_t *q)
{
	struct qhdr *h = H(q);
	unsigned c = ck_pr_load_uint(&h->ring.c_head);
	unsigned d = ck_pr_load_uint(&h->ring.p_tail) - c;
	/* Consumers may run ahead of p_tail (they take committed slots before their
	 * publication): then nothing published is left. */
	return d > q->mask ? 0 : d;
}

int shmrt_queue_empty(const shmrt_queue_t *q)
{
	return shmrt_queue_size(q) == 0;
}

int shmrt_queue_full(const shmrt_queue_t *q)
{
	struct qhdr *h = H(q);
	unsigned c = ck_pr_load_uint(&h->ring.c_head);
	return ck_pr_load_uint(&h->ring.p_head) - c >= q->mask;
}

uint32_t shmrt_queue_capacity(const shmrt_queue_t *q)
{
	return q->mask;
}
