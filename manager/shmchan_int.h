/*
 * The Manager's shared-memory channel (internal): what its server side
 * (manager/shmchan.c) and its client side (manager/client_shm.c) share.
 *
 * A client on the server's machine, once authenticated over a Unix socket, may ask
 * for the channel with the request [id, "shm", [pid]]. The server answers with
 * [id, 0, {"pid", "version", "capacity", "max_msg"}] and, on the same sendmsg, five
 * descriptors (SCM_RIGHTS): a memfd region of its own making, private to that
 * client (never a name another process could open), that client's doorbell (an
 * eventfd of its own: one shared by all would let a client drain the others'
 * wake-ups), and the three that make the client a holder of end 1 of the Pipe pair
 * in it (shmrt_pipe_fds, shmrt_pipe_adopt). From then on the client's requests and the server's replies are the same
 * frames, written as a byte stream into a shmrt Pipe of that region ("mgr.pipe": end
 * 0 the server's, end 1 the client's) cut into messages of at most max_msg bytes;
 * the socket stays open for liveness only.
 *
 * Waking. The region also holds the control block below ("mgr.ctl", a bytes object)
 * with two words, one per side, that replace the Pipe's own waiting (the rings are
 * only ever read with timeout 0):
 *  - srv_sleeping: the server cannot sleep on every client's futex at once, so it
 *    sleeps in epoll_wait; before it does, it sets the word in every channel, runs a
 *    full fence and looks at each receive ring once more (D1). A client, after its
 *    send, runs a full fence and reads the word (D2): if set, it writes the doorbell.
 *  - cli_wait: a client that found no reply sets it, fences and looks at its ring
 *    once more (D3), then sleeps on it (a futex, in slices: between them it polls its
 *    socket, whose hang-up is the server's end). The server, after putting replies in
 *    that ring, fences and reads it (D4): if set, it clears it and wakes the client.
 * Each is Dekker's pattern with a full fence on both sides: either the last look
 * sees the message, or the sender sees the word. The Pipe's asymmetric barrier
 * would spare the sender its fence but charge every sleep a membarrier, which on
 * this VM costs more than the call (IPIs to every CPU); a fence costs nanoseconds
 * against a call's microseconds.
 *
 * Layout of the control block (192 bytes, three cache lines):
 *   0  magic "MSHM"   4 version   8 capacity   12 max_msg   (written once, by the
 *                                                             server, before it answers)
 *  64  srv_sleeping (written by the server, read by the client)
 * 128  cli_wait     (set by the client, cleared by either: a futex word)
 */
#ifndef SHMRT_MANAGER_SHMCHAN_INT_H
#define SHMRT_MANAGER_SHMCHAN_INT_H

#include <stddef.h>
#include <stdint.h>

#include <shmrt/mvalue.h>
#include <shmrt/pipe.h>
#include <shmrt/region.h>

#define SHMRT__SHM_MAGIC 0x4d48534du /* "MSHM" */
#define SHMRT__SHM_VERSION 1u
#define SHMRT__SHM_PIPE "mgr.pipe"
#define SHMRT__SHM_CTL "mgr.ctl"
/* The Pipe's geometry: 64 slots of 32 KiB (less the slot header) each way. A
 * message of the stream is at most that long; a longer frame is cut into several. */
#define SHMRT__SHM_CAPACITY 64u
#define SHMRT__SHM_MAX_MSG (32768u - 8u)
/* The descriptors of the reply: the region, the doorbell, then end 1's three
 * (shmrt_pipe_fds: the client adopts the endpoint, and the Pipe's liveness is then
 * the kernel's, as for a forked pair). */
#define SHMRT__SHM_NFDS 5
/* The epoll tag of the channels' doorbells (below the connections' tags). */
#define SHMRT__SHM_TAG 4095u

struct shmrt__shm_ctl {
	uint32_t magic;
	uint32_t version;
	uint32_t capacity;
	uint32_t max_msg;
	uint8_t pad0[48];
	uint32_t srv_sleeping; /* 1: the server may sleep in epoll_wait (D1/D2) */
	uint8_t pad1[60];
	uint32_t cli_wait;     /* 1: the client may sleep on this word (D3/D4) */
	uint8_t pad2[60];
};

_Static_assert(sizeof(struct shmrt__shm_ctl) == 192, "shm channel control block");
_Static_assert(offsetof(struct shmrt__shm_ctl, srv_sleeping) == 64, "its own line");
_Static_assert(offsetof(struct shmrt__shm_ctl, cli_wait) == 128, "its own line");

/* ---- the server's side (manager/shmchan.c); all on the server's thread ---------- */

struct shmrt__msrv;
struct shmrt__mconn;

/* Whether req (a decoded request) is the channel's request ("shm"). */
int shmrt__shmchan_is_request(const shmrt_mv_t *req);

/*
 * Answers the channel request req of c. On success the reply went out with its
 * descriptors and c is a channel connection: *reply is NULL. A refusal is an
 * ordinary reply (*reply: [id, -EOPNOTSUPP (not a local Unix client, or another
 * PID namespace), -EALREADY, -EBUSY (replies queued), -EMFILE (the channels hold
 * half the server's descriptor limit), -EINVAL, -ENOMEM ...]) that
 * the caller sends. Returns 0, or an error that drops c.
 */
int shmrt__shmchan_open(struct shmrt__msrv *s, struct shmrt__mconn *c, const shmrt_mv_t *req,
			shmrt_mv_t **reply);

/* Writes c's queued replies into its pipe as far as the ring takes them. Returns 0,
 * or an error that drops c (-EPIPE: the client closed its end). */
int shmrt__shmchan_flush(struct shmrt__msrv *s, struct shmrt__mconn *c);

/* c's socket reported events (a channel's socket carries nothing after the
 * upgrade: anything but silence ends c). */
void shmrt__shmchan_sock_event(struct shmrt__msrv *s, struct shmrt__mconn *c, uint32_t events);

/* Unlinks and frees c's channel (c is being closed). */
void shmrt__shmchan_close(struct shmrt__msrv *s, struct shmrt__mconn *c);

/* Serves every channel once: replies flushed, up to a batch of requests read and run.
 * Returns 1 if any channel was busy (the loop then spins before it sleeps). */
int shmrt__shmsrv_poll(struct shmrt__msrv *s);

/* Whether a receive ring holds a request, now or within a spin slice (about 4 us: a
 * client's next call), so that the loop serves it without asking epoll first
 * (FIRST_RUN_MAX turns in a row at most, so sockets are served). */
int shmrt__shmsrv_first(struct shmrt__msrv *s);

/* Spins a short while (no system call) looking at the receive rings: 1 as soon as
 * one holds a message. */
int shmrt__shmsrv_spin(struct shmrt__msrv *s);

/* Before epoll_wait with timeout *ms (not 0): announces the sleep to every client
 * and looks at the rings again (D1). Returns 1 if a message came (do not sleep);
 * otherwise 0 and *ms bounded to 1 ms while replies wait for room in a ring. */
int shmrt__shmsrv_sleep(struct shmrt__msrv *s, int *ms);

/* After epoll_wait: withdraws the announcement. */
void shmrt__shmsrv_awake(struct shmrt__msrv *s);

/* A doorbell's event (edge-triggered: nothing to drain). */
void shmrt__shmsrv_doorbell(struct shmrt__msrv *s);

/* Frees the server's channel state (its connections are closed first). */
void shmrt__shmsrv_fini(struct shmrt__msrv *s);

#endif /* SHMRT_MANAGER_SHMCHAN_INT_H */
