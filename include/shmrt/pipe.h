/*
 * shmrt Pipe: a named connection between two endpoints (0 and 1), duplex: end 0
 * sends what end 1 receives and the other way round (Python's Pipe()). Use one
 * direction only for a one-way pipe. Each direction is a single-producer, single-
 * consumer ring of byte messages: at most one sender and one receiver per direction
 * at a time (as with a Python Connection, an endpoint belongs to one process).
 *
 * Waiting (timeout 0 = try once, negative = forever) spins briefly, yields, then
 * sleeps on a futex; a send or recv calls the kernel only when the other side sleeps.
 * The common case of send and recv (1..64 bytes, no wait) is inline in the caller
 * (shmrt/inline/pipe.h; SHMRT_NO_INLINE turns it off).
 * Closing an end: the peer receives what was sent, then -EPIPE; its sends get -EPIPE.
 * A peer process that dies counts as closed (checked every 50 ms while waiting), so
 * a survivor never waits forever on it.
 *
 *  call        | concurrent with
 *  ------------+----------------------------------------------------------------
 *  send (end e)| recv on end !e (the peer), and anything on the other direction
 *  recv (end e)| send on end !e, and anything on the other direction
 *  poll        | as recv
 *  close       | everything
 *
 * Ordering: a recv that returns a message observes everything the sender did before
 * send returned (release/acquire on the ring indices).
 */
#ifndef SHMRT_PIPE_H
#define SHMRT_PIPE_H

#include "common.h"
#include "region.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmrt_pipe {
	/* Read by the inline fast paths (shmrt/inline/pipe.h); set by shmrt_pipe_open. */
	char *out_slots, *in_slots; /* our sending and receiving directions' slots */
	uint32_t slot_size, mask;
	uint32_t tail;        /* our sending index (we are its only writer) */
	uint32_t cached_head; /* the receiver's index on our sending direction, last seen */
	uint32_t head;        /* our receiving index (we are its only writer) */
	uint32_t fast_max;    /* messages of 1..fast_max bytes take the inline paths */
	const uint64_t *closed;      /* both ends' closed flags, one word */
	const uint32_t *out_waiters; /* receivers asleep on our sending direction */
	uint32_t *in_head;           /* our receiving index, in shared memory, for the sender */
	const uint32_t *in_waiters;  /* senders asleep on our receiving direction */
	/* The library's. */
	void *shm;
	void *out, *in; /* the directions' headers */
	uint32_t max_msg, end;
	uint32_t rx_mark, rx_hint; /* the receiver's adaptive backoff (pipe.c) */
	shmrt_region_t *region;
	bool created;   /* the open that filled this handle created the Pipe */
	bool paired;    /* from shmrt_pipe_pair: liveness by kernel descriptors */
	uint32_t pair_ix, pair_gen; /* pair: this process's entry of them (pipe.c) */
} shmrt_pipe_t;

/*
 * Creates or opens the pipe `name` and takes endpoint `end` (0 or 1) for the calling
 * process. capacity messages of up to max_msg bytes per direction, fixed at creation
 * (an opener asking for more gets -EPROTOTYPE). Errors: those of shmrt_object_open,
 * -EINVAL (end not 0/1, capacity 0 or over 2^24, max_msg over 16 MiB), -EPERM (an
 * inspect-only handle). Concurrency: as shmrt_object_open.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_pipe_open(shmrt_region_t *r, const char *name, int oflags,
					     int end, uint32_t capacity, uint32_t max_msg,
					     shmrt_pipe_t *out);

/*
 * Python's Pipe(): creates a new pipe (name NULL: a fresh name in the region's
 * directory) and returns both endpoints to the calling process, meant to be split by
 * fork: each side keeps one endpoint and closes the other (shmrt_pipe_close on a
 * handle of a pair drops only this process's hold on it). An endpoint's liveness is
 * that of the processes holding it, kept by the kernel: each endpoint holds a
 * descriptor (close-on-exec) that fork copies and exit or death closes. When no
 * process holds an endpoint any more (all closed it, exited or were killed), its
 * peer's recv returns -EPIPE once drained and its send -EPIPE, within 50 ms of the
 * last holder's death. A process that keeps both endpoints (not closing the one it
 * does not use) keeps both alive, as with Python's and the kernel's pipes; so does a
 * worker forked while its parent held them (a worker inherits every endpoint its
 * parent holds: close, in the worker, the pairs it does not use). Once neither
 * endpoint has a holder, the last closer removes the pipe from the directory; a pair
 * whose last holder died after the other endpoint's close is removed by
 * shmrt_pipe_gc() (or by the next shmrt_pipe_pair of its name).
 * A handle may be copied; closing it through one copy makes the others closed too.
 * Errors: those of shmrt_pipe_open, -EEXIST (name exists), -EMFILE/-ENFILE; on error
 * both handles are zeroed.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_pipe_pair(shmrt_region_t *r, const char *name,
					     uint32_t capacity, uint32_t max_msg,
					     shmrt_pipe_t *end0, shmrt_pipe_t *end1);

/*
 * The kernel descriptors that make this process a holder of a pair's endpoint p
 * (shmrt_pipe_pair): fds[0] keeps the endpoint alive, fds[1] and fds[2] tell whether
 * the endpoint and its peer have holders left. For passing the endpoint to a process
 * that is not forked (Python's spawn and forkserver: SCM_RIGHTS, or inheritance
 * across exec) and there adopting it with shmrt_pipe_adopt. The descriptors stay
 * this process's (the receiver gets duplicates). Errors: -EINVAL (p is not an open
 * endpoint of a pair of this process). Concurrency: as shmrt_pipe_close with
 * respect to p. Ordering: none.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_pipe_fds(const shmrt_pipe_t *p, int fds[3]);

/*
 * Takes over endpoint `end` of the pair `name` in a process that received the
 * endpoint's descriptors (duplicates of shmrt_pipe_fds's, in that order): the
 * process becomes one of the endpoint's holders, as a forked child is, so the
 * endpoint lives while this process or another holder does, and the peer sees it
 * closed when the last holder closes it or dies. On success the three descriptors
 * belong to the handle (closed with it; made close-on-exec); on error they are left
 * to the caller. The sender's and receiver's positions are taken from the ring, as a
 * shmrt_pipe_open of a taken-over end does: the previous holder must not use the
 * endpoint any more (one sender and one receiver per direction). capacity and
 * max_msg as in shmrt_pipe_pair. Errors: those of shmrt_pipe_open, -EINVAL (a
 * descriptor that is negative, or not a pipe's end of the right direction), -EMFILE.
 * Concurrency: as shmrt_pipe_open. Ordering: as shmrt_pipe_open.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_pipe_adopt(shmrt_region_t *r, const char *name, int end,
					      uint32_t capacity, uint32_t max_msg,
					      const int fds[3], shmrt_pipe_t *out);

/* Sends len bytes. 0, -EMSGSIZE (nothing sent), -EAGAIN (full, timeout 0),
 * -ETIMEDOUT, -EPIPE (the peer closed, or died). */
SHMRT_API int shmrt_pipe_send(shmrt_pipe_t *p, const void *msg, size_t len, shmrt_ns_t timeout);

/* Receives the next message into buf (cap bytes); *len gets its length. 0, -EAGAIN,
 * -ETIMEDOUT, -EPIPE (the peer closed or died, and everything it sent was read),
 * -EMSGSIZE (cap too small: the message stays, *len says what is needed). */
SHMRT_API int shmrt_pipe_recv(shmrt_pipe_t *p, void *buf, size_t cap, size_t *len,
			      shmrt_ns_t timeout);

/* Waits until recv would not block: 0 (a message, or end of stream, is there),
 * -EAGAIN (timeout 0), -ETIMEDOUT. */
SHMRT_API int shmrt_pipe_poll(shmrt_pipe_t *p, shmrt_ns_t timeout);

/* Closes this endpoint (both directions, as seen from the peer). Idempotent. For an
 * endpoint of a pair: drops this process's hold, and closes it for the peer if no
 * other process holds it. */
SHMRT_API void shmrt_pipe_close(shmrt_pipe_t *p);

/*
 * Removes from r's directory the pairs (shmrt_pipe_pair) that no process holds any
 * more: those whose last holders died without closing, after the other endpoint's
 * last holder closed it (a close removes the pair only when the peer has no holder
 * left). Holders are found through /proc/PID/fd (the kernel pipes behind a pair's
 * liveness): processes of another user, or of another PID namespace, are not seen
 * and must not hold pairs of r. shmrt_pipe_pair with a name that exists runs it once
 * and retries. Pipes opened with shmrt_pipe_open, and pairs made
 * by an older version of the library, are left alone.
 *
 * r: an attached region. *removed (may be NULL): how many pairs were removed.
 * Returns 0, or -EINVAL (r NULL), -EPERM (an inspect-only handle), -ENOMEM, -EAGAIN
 * (new processes kept appearing while /proc was read: nothing was removed, call
 * again), -errno of reading /proc.
 *
 * Concurrency: any process and thread, with any use of the pairs (a pair is removed
 * once, by this call or by its last closer). Ordering: acquire on each pair's header.
 * Cost: one pass over the directory, and when a pair might be unheld, one over every
 * process's descriptors in /proc.
 */
SHMRT_API int shmrt_pipe_gc(shmrt_region_t *r, unsigned *removed);

#ifdef __cplusplus
}
#endif
#include "inline/pipe.h"
#endif /* SHMRT_PIPE_H */
