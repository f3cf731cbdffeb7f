/*
 * shmrt Queue: a named, bounded MPMC queue of variable-size byte messages (Python's
 * Queue and SimpleQueue), in a region.
 *
 * Capacity (messages) and the maximum message size are fixed at creation; each
 * message is copied into a slot of the queue (no allocation per message). put and
 * get take a timeout (0 = try once, negative = forever); waiting spins briefly,
 * yields, then sleeps on a futex, and a put or get makes no syscall when nobody
 * waits. Order: FIFO per producer (and globally by reservation order).
 *
 * Crashes: a producer killed between reserving a slot and committing it never stalls
 * the queue: the next producer or consumer that waits on it finds no live owner and
 * turns the slot into a hole that consumers skip. A consumer killed after taking a
 * message loses only that message (at-most-once, as in Python). Nothing leaks.
 *
 * End of file, as a pipe's: a process that puts becomes one of the queue's producers
 * (per process, by its registry slot, until it calls shmrt_queue_producer_done(), or
 * closes the region, or exits or dies). Once the queue has had a producer and every
 * producer is gone, a get that finds the queue drained returns -EPIPE instead of
 * waiting on (a waiting consumer notices within about 50 ms, even with no timeout).
 * A get that does not wait (timeout 0) returns -EAGAIN, not the end. The queue
 * remembers that it had producers: in a persistent region reused from run to run,
 * the next run's consumers see the end left by the last one's producers until a
 * producer of theirs puts (use a fresh region per run: SHMRT_O_FRESH or an
 * anonymous region; or create the queue with SHMRT_QUEUE_NO_EOF). Being a
 * producer is not inherited by fork: a child is one from its first put. So a process
 * that starts producers, and must not let a consumer see the end while one of them
 * has not put yet (or between one that finished and the next), declares itself a
 * producer first (shmrt_queue_producer()), starts them, and says it is done once
 * they have put or ended (e.g. after joining them); if it dies, its mark goes with
 * it. A producer that starts after the end was seen makes later gets wait again.
 *
 *  call              | concurrent with
 *  ------------------+---------------------------------------------------------
 *  put/reserve/commit| every call, any threads of any processes
 *  get               | every call
 *  close             | every call: later puts get -EPIPE; gets drain, then -EPIPE
 *  producer/_done    | every call (this process's producer mark)
 *  size/empty/full   | every call (a racy snapshot while others run)
 *
 * Ordering: a get that returns a message observes everything its producer did
 * before put (or commit) returned (release/acquire through the ring indices).
 */
#ifndef SHMRT_QUEUE_H
#define SHMRT_QUEUE_H

#include "common.h"
#include "region.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmrt_queue {
	void *shm;
	char *slots;
	uint32_t slot_size, max_msg;
	uint32_t mask;
	uint32_t mode;         /* SHMRT_QUEUE_SP | SHMRT_QUEUE_SC | SHMRT_QUEUE_NO_EOF */
	shmrt_region_t *region;
	shmrt_off_t off;       /* the queue's offset: its identity in thread records */
	uint64_t *producers;   /* a word per registry slot: its process is a producer */
	uint32_t nproducers;
	bool created;          /* the open that filled this handle created the Queue */
} shmrt_queue_t;

/*
 * Modes, fixed at creation and given in oflags (as DPDK's RING_F_SP_ENQ and
 * RING_F_SC_DEQ): SHMRT_QUEUE_SP promises that at most one thread puts (or reserves)
 * at a time, SHMRT_QUEUE_SC that at most one thread gets (or peeks) at a time, in all
 * processes together. The ring index that side moves is then stored, not CASed: one
 * atomic instruction less per message. Crash recovery is unchanged, and a new
 * producer or consumer may take over from a dead one. Breaking the promise corrupts
 * the queue. Every opener must pass the same modes (else -EPROTOTYPE).
 */
#define SHMRT_QUEUE_SP 0x100
#define SHMRT_QUEUE_SC 0x200
/* SHMRT_QUEUE_NO_EOF: gets never report the end of file (see the top): for queues
 * whose producers come and go with nothing to mark an end (a service), and for a
 * queue in a persistent region reused by runs that do not start from a fresh one. */
#define SHMRT_QUEUE_NO_EOF 0x800

/*
 * Creates or opens the queue `name` holding at least `capacity` messages of up to
 * `max_msg` bytes (both fixed at creation; an opener asking for more gets
 * -EPROTOTYPE). oflags: those of shmrt_object_open, and the modes above. Errors: those
 * of shmrt_object_open, -EINVAL (capacity 0 or over 2^24, max_msg over 16 MiB),
 * -EPROTOTYPE (other modes). Concurrency: as shmrt_object_open.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_queue_open(shmrt_region_t *r, const char *name, int oflags,
					      uint32_t capacity, uint32_t max_msg,
					      shmrt_queue_t *out);

/*
 * Appends a message of len bytes (0 allowed). Returns 0, or: -EMSGSIZE (len over the
 * maximum; nothing is written), -EAGAIN (full, timeout 0), -ETIMEDOUT (still full at
 * the timeout), -EPIPE (closed), -EUSERS (no thread record for the caller).
 */
SHMRT_API int shmrt_queue_put(const shmrt_queue_t *q, const void *msg, size_t len,
			      shmrt_ns_t timeout);

/*
 * Takes the oldest message into buf (cap bytes) and stores its length in *len.
 * Returns 0, or: -EAGAIN (empty, timeout 0), -ETIMEDOUT, -EPIPE (closed, or every
 * producer gone (see the top), and drained),
 * -EMSGSIZE (cap too small for this message: it stays queued, *len says how much is
 * needed).
 */
SHMRT_API int shmrt_queue_get(const shmrt_queue_t *q, void *buf, size_t cap, size_t *len,
			      shmrt_ns_t timeout);

/*
 * Burst forms: put n messages (msgs[i], lens[i]) or get up to n, waiting (up to the
 * timeout) only until the first can move. A put burst claims as many slots as are
 * free (up to n, stopping before a message over the maximum) with one atomic
 * operation and publishes them together; a get burst takes every message present (up
 * to n, stopping before one larger than cap) with one atomic operation. Return the
 * number moved (1..n), or a negative error when none moved (as put/get; -EMSGSIZE
 * when the first message is too large). A consumer killed inside get_burst after it
 * took its batch loses that batch (at-most-once, as a single get loses one message).
 */
SHMRT_API int shmrt_queue_put_burst(const shmrt_queue_t *q, const void *const *msgs,
				    const size_t *lens, unsigned n, shmrt_ns_t timeout);
SHMRT_API int shmrt_queue_get_burst(const shmrt_queue_t *q, void *const *bufs, size_t cap,
				    size_t *lens, unsigned n, shmrt_ns_t timeout);

/* Zero-copy producing: reserve a slot, write up to max_msg bytes at res->data, then
 * commit the length (or abort, which leaves a hole consumers skip). A reservation
 * must be committed or aborted by the thread that made it, once: commit and abort
 * return -EINVAL, and change nothing, for anything else (a zeroed or copied-and-altered
 * reservation, one already committed or aborted, another thread's or queue's). */
typedef struct shmrt_queue_res {
	void *data;
	uint32_t ticket;
} shmrt_queue_res_t;
SHMRT_API int shmrt_queue_reserve(const shmrt_queue_t *q, shmrt_queue_res_t *res,
				  shmrt_ns_t timeout);
SHMRT_API int shmrt_queue_commit(const shmrt_queue_t *q, const shmrt_queue_res_t *res,
				 size_t len);
SHMRT_API int shmrt_queue_abort(const shmrt_queue_t *q, const shmrt_queue_res_t *res);

/*
 * Zero-copy consuming: peek takes the oldest message (as get does: no other consumer
 * will see it) and leaves it in its slot; pk->data points to its pk->len bytes, valid
 * until release. The slot is not reused until then: producers that wrap around to it
 * wait, so release promptly. One held message per thread. peek: 0, -EAGAIN (empty,
 * timeout 0), -ETIMEDOUT, -EPIPE (closed and drained), -EBUSY (this thread already
 * holds one), -EUSERS. release: 0, or -EINVAL (not the message this thread holds).
 * A consumer killed while holding a message loses it (at-most-once, as with get); a
 * producer waiting on its slot finds it dead within a few milliseconds and goes on.
 * Concurrency: with every call. Ordering: as get.
 */
typedef struct shmrt_queue_peek {
	const void *data;
	size_t len;
	uint32_t ticket;
} shmrt_queue_peek_t;
SHMRT_API int shmrt_queue_peek(const shmrt_queue_t *q, shmrt_queue_peek_t *pk,
			       shmrt_ns_t timeout);
SHMRT_API int shmrt_queue_release(const shmrt_queue_t *q, const shmrt_queue_peek_t *pk);

/*
 * JoinableQueue: a queue that counts unfinished tasks. Every put counts one; a
 * consumer calls shmrt_queue_task_done() when it has processed a message; join waits
 * until the count is zero. A producer killed mid-put does not leave its task counted
 * (its slot becomes a hole, which retires it); a consumer killed before task_done
 * leaves its task unfinished, as in Python: join then ends by its timeout.
 * task_done: 0, -EOVERFLOW (called more times than tasks were put), -EINVAL (not a
 * joinable queue). join: 0, -EAGAIN (timeout 0, tasks pending), -ETIMEDOUT.
 * Opening a queue as the other kind gives -EPROTOTYPE.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_joinable_queue_open(shmrt_region_t *r, const char *name,
						       int oflags, uint32_t capacity,
						       uint32_t max_msg, shmrt_queue_t *out);
SHMRT_API int shmrt_queue_task_done(const shmrt_queue_t *q);
SHMRT_API int shmrt_queue_join(const shmrt_queue_t *q, shmrt_ns_t timeout);

/*
 * The calling process becomes a producer of q (as its first put would make it), or
 * stops being one: consumers see the end of the queue once no producer is left (see
 * the top). 0, -EINVAL (NULL or never-opened handle), -EPERM (the region was opened
 * for inspection only). Idempotent.
 */
SHMRT_API int shmrt_queue_producer(const shmrt_queue_t *q);
SHMRT_API int shmrt_queue_producer_done(const shmrt_queue_t *q);

/* Closes the queue and wakes every waiter (see the table above). Idempotent. */
SHMRT_API void shmrt_queue_close(const shmrt_queue_t *q);
SHMRT_API int shmrt_queue_closed(const shmrt_queue_t *q);

/* Committed, unconsumed messages (holes count until skipped); exact when no call
 * runs concurrently. */
SHMRT_API uint32_t shmrt_queue_size(const shmrt_queue_t *q);
SHMRT_API int shmrt_queue_empty(const shmrt_queue_t *q);
SHMRT_API int shmrt_queue_full(const shmrt_queue_t *q);
/* Messages the queue holds when full. */
SHMRT_API uint32_t shmrt_queue_capacity(const shmrt_queue_t *q);

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_QUEUE_H */
