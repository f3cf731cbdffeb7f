/*
 * The MPMC Queue (shmrt/queue.h), on Concurrency Kit's ck_ring: shared layout, the
 * protocol, and what the queue's files share. The files:
 *   queue.c         open, close, state, JoinableQueue
 *   queue_put.c     reserving, filling and publishing slots (put, burst, reserve/commit)
 *   queue_get.c     taking messages (get, burst, peek/release) and sleeping consumers
 *   queue_repair.c  dead producers and dead zero-copy consumers
 *
 * Layout (SHMRT_TYPE_QUEUE): a header (magic, geometry, closed flag, wake flags on
 * lines of their own), a struct ck_ring (c_head | p_tail, p_head | size, mask: one
 * line each), then nslots slots of slot_size bytes. A slot is a 16-byte header (state
 * word, length, cwait) and the payload. Ring position t uses slot t & mask. A slot's
 * state is ticket | ST_*: it says which lap of the ring the slot is in and what it
 * holds, so a stale reader can always tell an old lap from the current one.
 *
 * Producing: ck_ring_enqueue_reserve_mpmc()'s CAS on p_head claims ticket t (with the
 * capacity check against c_head); the producer copies the message into slot t,
 * stores its state t|COMMITTED, waits until p_tail == t and stores p_tail = t + 1.
 * That is ck_ring's MPMC protocol, except the last step: ck_ring_enqueue_commit_mpmc()
 * spins on p_tail without bound, which never finishes when the producer it waits for
 * is dead, and burns the core a preempted one needs. Our commit waits adaptively
 * (spin, yield, futex) and checks every millisecond whether ticket p_tail still has a
 * live possible owner; a producer that publishes also publishes the committed slots
 * right after its own ("helping"), so a producer preempted between filling and
 * publishing holds nobody up.
 *
 * Dead producers: before reserving, a producer marks "enqueue in progress on this
 * queue" in its registry thread record (TW_QUEUE_PUT), and its ticket right after
 * (TW_QUEUE_TICKET). A waiter that finds p_tail stuck at T looks for a live record that
 * holds ticket T, or that is in progress without a ticket yet (it may hold T). If there
 * is none, the owner died: the waiter CASes slot T's state to T|HOLE (this fails,
 * harmlessly, if the owner committed it) and CASes p_tail from T to T + 1. Consumers
 * skip holes. A producer that died after committing but before publishing is completed
 * the same way, and its message is delivered. Every decision is made against a CAS, so
 * a stale one cannot move p_tail backwards or hole a committed message: the owner
 * clears its mark only after publishing.
 *
 * Consuming: read c_head, then slot c's state; if it says ticket c is committed, copy
 * the payload out and CAS c_head from c to c + 1. The state alone decides, not p_tail:
 * a committed slot is complete, and taking it before its publication keeps the ticket
 * order, since c_head only passes committed slots. This spares the consumer the
 * producers' p_tail line on every message; p_tail remains what sleeping consumers wait
 * on. A consumer killed before its CAS took nothing; after it, it lost that one
 * message (at-most-once, as Python). Consequence: c_head may run ahead of p_tail, so a
 * dead producer's slot T may already be consumed and reused when repair looks at it:
 * it holes T only if the slot still carries the previous lap's ticket.
 *
 * Bursts: one CAS on p_head reserves up to n tickets, one store of p_tail publishes
 * them, and the thread record holds the first ticket and the count, so a dead
 * producer's whole range is found. A burst get takes what is committed from c_head on
 * with one CAS on c_head. Zero-copy consumers (peek) claim a slot in place
 * (COMMITTED -> PEEKED) and release it later (RELEASED); producers that wrap around to
 * a held slot wait for its release, or release it themselves if its holder died.
 *
 * Blocking: consumers sleep on p_tail and producers waiting for room on c_head, each
 * side behind a flag (ck_ec's idea): a publish or a take calls the kernel only for the
 * first message after someone went to sleep. A producer waiting for its turn to
 * publish sleeps on its own slot's cwait word, which whoever publishes up to it wakes.
 * Spinning before sleeping is bounded by a spin budget (base/wait.h).
 *
 * Memory ordering. Labels are the queue's own, across its four files:
 *   R0/M1  p_head moved (SP store / MPMC CAS)  after R1: a scanner's A0 sees the mark
 *   R1     producer's mark (TW_QUEUE_PUT)       read by A1 in repair scans
 *   R2     producer's ticket (TW_QUEUE_TICKET)  read by A2 in repair scans
 *   R3     slot state COMMITTED / HOLE          read by A4 (consumers), A5 (helping),
 *                                               A6 (repair): the payload is complete
 *   R4     p_tail published                     read by A7 (a sleeper's snapshot), and
 *                                               by the acquire of repair's p_tail CAS
 *   R5     producer's mark cleared              after R4, read by A1
 *   R6/M2  c_head moved (SC store / MPMC CAS)   read by A3: copies out are done before
 *                                               producers reuse the slots
 *   R8     a held slot released                 read by A8 before the slot is refilled
 *   R9     closed                               read by every acquire load of closed
 *   R10/R11 zero-copy consumer's mark set/clear read by A10 in repair scans
 *   R12    zero-copy consumer's ticket          read by A11 in repair scans
 *   J1/J2  JoinableQueue count                  J3: join sees every task_done's work
 * Wake-ups pair a store of the word sleepers wait on with a read of their flag, each
 * side with a barrier between: publishers and consumers use the light barrier (LB)
 * against a sleeper's heavy one (HB, base/asym.h), or a full fence or seq_cst RMW
 * (M3, M4, M5) against it; M7/M8 are the fences of a slot's cwait word.
 */
#ifndef SHMRT_QUEUES_QUEUE_INT_H
#define SHMRT_QUEUES_QUEUE_INT_H

#include <ck_ring.h>
#include <errno.h>
#include <limits.h>

#include "base/atomic.h"
#include "base/wait.h"
#include "core/region_int.h"
#include "shmrt/queue.h"

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

/* TW_QUEUE_TICKET and TW_QUEUE_PTICKET (core/region_int.h): the ticket is valid. */
#define TICKET_VALID (1ull << 32)
#define TICKET_COUNT_SHIFT 40

struct qhdr {
	uint32_t magic;
	uint32_t nslots;
	uint32_t slot_size;
	uint32_t max_msg;
	uint32_t closed;
	uint32_t joinable;
	uint32_t mode;          /* SHMRT_QUEUE_SP | SC | NO_EOF, fixed at creation */
	uint32_t had_producers; /* 1 once a process became a producer (end of file) */
	uint32_t nproducers;    /* words of the producer table: the region's max_procs */
	uint32_t pad0a;
	uint64_t producers_rel; /* the table's offset from this header */
	uint8_t pad0[16];
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
				 * own, since waiters write it and the wake flags are read
				 * on every put and get */
	uint8_t pad5[60];
	uint32_t chead_cache;   /* a past value of c_head, kept by producers: they read the
				 * consumers' line only when this says the ring may be full */
	uint8_t pad6[60];
};

struct slot {
	uint64_t state; /* ticket | ST_* */
	uint32_t len;
	uint32_t cwait; /* 1: the producer of this slot sleeps until its turn to publish */
};

_Static_assert(offsetof(struct qhdr, producers_rel) == 40, "queue layout");
_Static_assert(offsetof(struct qhdr, ptail_waiters) == 64, "queue layout");
_Static_assert(offsetof(struct qhdr, ring) == 192, "queue layout");
_Static_assert(offsetof(struct qhdr, unfinished) == 384, "queue layout");
_Static_assert(offsetof(struct qhdr, spinners) == 448, "queue layout");
_Static_assert(offsetof(struct qhdr, chead_cache) == 512, "queue layout");
_Static_assert(sizeof(struct slot) == SLOT_HDR, "slot layout");
_Static_assert(sizeof(unsigned) == 4, "ck_ring's indices are 32-bit");

#define SLOTS_OFF ((sizeof(struct qhdr) + 63) & ~(size_t)63)

static inline struct qhdr *H(const shmrt_queue_t *q)
{
	return q->shm;
}

/*
 * Producers, for the end of file: the table has a word per registry slot, PROD_LIVE |
 * the slot's generation while the process in that slot is a producer. A waiting
 * consumer looks at it when it starts to wait and then every EOF_CHECK_NS: the table
 * first, then the ring's indices, so a look that finds every producer gone and the
 * queue drained is the end (a producer that marks itself after the look and puts
 * before the index read left the ring not drained; one that puts after it is a
 * producer that started after the end, which the header allows).
 */
#define PROD_LIVE (1ull << 32)
#define EOF_CHECK_NS 50000000ull

int shmrt__queue_producer_mark(const shmrt_queue_t *q);
int shmrt__queue_producers_gone(const shmrt_queue_t *q);

/* Every put: one load of our own word (relaxed: only this process writes it while
 * it holds the slot), the mark on the first put of this process. */
static SHMRT_ALWAYS_INLINE void producer_enter(const shmrt_queue_t *q)
{
	const struct shmrt_region *R = (const struct shmrt_region *)q->region;
	uint32_t s = R->slot;
	if (unlikely(s >= q->nproducers ||
		     load_relaxed(&q->producers[s]) != (PROD_LIVE | R->slot_gen)))
		(void)shmrt__queue_producer_mark(q);
}

static inline struct slot *slot_at(const shmrt_queue_t *q, unsigned t)
{
	return (struct slot *)(void *)(q->slots + (size_t)(t & q->mask) * q->slot_size);
}

static inline struct shmrt_region *region_of(const shmrt_queue_t *q)
{
	return (struct shmrt_region *)q->region;
}

/*
 * How long a sleeping consumer or committer sleeps before it looks again by itself
 * (for a dead producer). Wakes normally come first. SHMRT_TEST_SLICE_MS (tests only)
 * lengthens it, so that a missing wake shows as a delay a test can see.
 */
static inline uint64_t sleep_slice_ns(void)
{
	return shmrt__slice_ns(STUCK_CHECK_NS);
}

/* Whether slot t still holds ticket t - nslots, peeked and not yet released. */
static inline bool slot_held(const shmrt_queue_t *q, unsigned t)
{
	/* A8: acquire, pairs with R8 (shmrt_queue_release): a slot seen released is one
	 * its holder has finished reading. */
	return load_acquire(&slot_at(q, t)->state) == ((uint64_t)(t - (q->mask + 1)) | ST_PEEKED);
}

/* After a store that moved p_tail (or closed the queue): wake the sleeping consumers. */
static inline void consumers_wake(struct qhdr *h)
{
	fence_seq_cst(); /* M3: pairs with HB in consumer_sleep() */
	/* Relaxed: ordered after our store by M3. The exchange elects one waker; it
	 * orders nothing (the futex compares p_tail itself). */
	if (load_relaxed(&h->ptail_waiters) && exchange_acq_rel(&h->ptail_waiters, 0))
		shmrt__futex_wake(&h->ring.p_tail, INT_MAX);
}

/*
 * As consumers_wake/producers_wake, right after a seq_cst read-modify-write of the word
 * the sleepers re-check (c_head: M2): that RMW orders the store before the flag's
 * seq_cst load (C11: the sleeper's barrier either follows the RMW in the total order,
 * and its re-check sees the new value, or precedes the load, which then sees the
 * flag), so no separate fence is needed: one full barrier per message, not two.
 */
static inline void wake_after_rmw(uint32_t *word, uint32_t *flag)
{
	/* M4: seq_cst, after M2; pairs with HB in producer_sleep(). The exchange elects
	 * one waker, as in consumers_wake(). */
	if (load_seq_cst(flag) && exchange_acq_rel(flag, 0))
		shmrt__futex_wake(word, INT_MAX);
}

/* After c_head moved (or a held slot was released): wake the sleeping producers. */
static inline void producers_wake(struct qhdr *h)
{
	fence_seq_cst(); /* M5: pairs with HB in producer_sleep() */
	/* Relaxed: ordered by M5; the exchange elects one waker. */
	if (load_relaxed(&h->chead_waiters) && exchange_acq_rel(&h->chead_waiters, 0))
		shmrt__futex_wake(&h->ring.c_head, INT_MAX);
}

/* A task that will never be done (a hole, an abort) leaves the JoinableQueue's count. */
static inline void task_retire(struct qhdr *h)
{
	if (!h->joinable)
		return;
	/* Relaxed: a retired task carries no work for join to see (J3 pairs with the
	 * task_done of real tasks); the count is one RMW sequence, and shmrt__wake
	 * fences (W2) before it looks for sleepers. */
	if (fetch_sub_relaxed(&h->unfinished, 1) == 1)
		shmrt__wake(&h->unfinished, &h->join_waiters, INT_MAX);
}

/* ---- repair (queue_repair.c) ---------------------------------------------------- */

/* The context of the checks that sleepers run between slices. */
struct stuck_ctx {
	const shmrt_queue_t *q;
};

/* Whether a live thread holds (or may hold) the peek of ticket T. */
int shmrt__queue_peek_held(const shmrt_queue_t *q, unsigned T);

/* A sleeper's check between slices: fixes a stuck p_tail (a dead producer); -EPIPE if
 * the queue is closed, else 0. */
int shmrt__queue_stuck_check(void *ctx);

/* As stuck_check, but a close does not end the wait (join). */
int shmrt__queue_join_check(void *ctx);

/* -EPIPE if the queue is closed, else 0. */
int shmrt__queue_closed_check(void *ctx);

/* A producer that found its next slot held by a zero-copy consumer: 1 once it is
 * released, -EPIPE if closed, else 0. */
int shmrt__queue_held_check(void *ctx);

/*
 * Slot c at c_head reads c|PEEKED: a zero-copy consumer claimed it and is about to move
 * c_head (or, having lost the race, to put the state back). Waits a little; after
 * STUCK_CHECK_NS, if no live thread holds that peek, its holder died before taking
 * the message: puts it back (it is delivered to someone else, not lost). *since: the
 * caller's timer, 0 at first.
 */
void shmrt__queue_peek_in_flight(const shmrt_queue_t *q, unsigned c, uint64_t *since);

#endif /* SHMRT_QUEUES_QUEUE_INT_H */
