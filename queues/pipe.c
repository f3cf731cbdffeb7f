/*
 * Pipes (shmrt/pipe.h): two single-producer, single-consumer rings of byte messages.
 *
 * Layout (SHMRT_TYPE_PIPE): a header (magic, geometry, per-endpoint closed flag and
 * owner), then two directions: d[0] carries end 0 -> end 1, d[1] end 1 -> end 0.
 * A direction is a head (the receiver's index) and a tail (the sender's index), each
 * on a cache line of its own with its futex waiter count, then nslots slots (a
 * 16-byte header with the length, and the payload).
 *
 * SPSC ring (the protocol of ck_ring's spsc functions, with our slots): the sender
 * owns tail, the receiver owns head. The sender checks for room against a cached
 * copy of head and reloads it only when the ring looks full; the receiver does the
 * same with tail. So in steady state each side reads the other's line once per
 * batch, not once per message. Publication: the sender writes the slot, then
 * store-releases tail + 1 (R1); the receiver load-acquires tail (A1), reads the slot,
 * then store-releases head + 1 (R2) so the sender may reuse it (A2).
 *
 * A sender killed mid-send published nothing; a receiver killed mid-recv consumed
 * nothing. A dead peer is seen through the owner word of its endpoint (registry slot
 * and generation, as Barrier members): waiters check it every 50 ms.
 */
#define _GNU_SOURCE
#include "../core/region_int.h"
#include "../core/wait.h"
#include "shmrt/pipe.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define PIPE_MAGIC 0x45504950u /* "PIPE" */
#define SLOT_HDR 16u
#define PEER_CHECK_NS 50000000ull

struct dir {
	uint32_t head;          /* receiver's index */
	uint32_t head_waiters;  /* senders sleeping on head (full) */
	uint8_t pad0[56];
	uint32_t tail;          /* sender's index */
	uint32_t tail_waiters;  /* receivers sleeping on tail (empty) */
	uint8_t pad1[56];
};

struct pipe_hdr {
	uint32_t magic;
	uint32_t nslots;
	uint32_t slot_size;
	uint32_t max_msg;
	uint32_t closed[2];     /* endpoint e closed */
	uint64_t owner[2];      /* endpoint e's process: (slot + 1) << 32 | generation */
	uint8_t pad[24];
	struct dir d[2];
};

_Static_assert(sizeof(struct dir) == 128, "pipe direction layout");
_Static_assert(offsetof(struct pipe_hdr, d) == 64, "pipe layout");

static inline struct pipe_hdr *H(const shmrt_pipe_t *p)
{
	return p->shm;
}


struct pinit {
	uint32_t nslots, slot_size, max_msg;
};

static int pipe_init(void *mem, uint64_t size, void *ctx)
{
	(void)size;
	struct pinit *pi = ctx;
	struct pipe_hdr *h = mem;
	h->nslots = pi->nslots;
	h->slot_size = pi->slot_size;
	h->max_msg = pi->max_msg;
	h->magic = PIPE_MAGIC;
	return 0;
}

static uint64_t slots_off(void)
{
	return sizeof(struct pipe_hdr);
}

int shmrt_pipe_open(shmrt_region_t *r, const char *name, int oflags, int end, uint32_t capacity,
		    uint32_t max_msg, shmrt_pipe_t *out)
{
	struct shmrt_region *R = (struct shmrt_region *)r;
	if (!r || !out || (end != 0 && end != 1) || capacity == 0 || capacity > (1u << 24) ||
	    max_msg > (16u << 20))
		return -EINVAL;
	if (!R->attached || R->slot == REC_NONE)
		return -EPERM;
	uint32_t n = 2;
	while (n < capacity)
		n <<= 1;
	struct pinit pi = { n, (uint32_t)((SLOT_HDR + max_msg + 63) & ~63u), max_msg };
	uint64_t dir_bytes = (uint64_t)n * pi.slot_size;
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, SHMRT_TYPE_PIPE, slots_off() + 2 * dir_bytes, oflags,
				    NULL, pipe_init, &pi, &oi);
	if (rc == -EMSGSIZE)
		return -EPROTOTYPE;
	if (rc)
		return rc;
	struct pipe_hdr *h = shmrt_ptr(r, oi.off);
	if (h->magic != PIPE_MAGIC || h->nslots < 2 || (h->nslots & (h->nslots - 1)) ||
	    h->slot_size < SLOT_HDR + h->max_msg || h->slot_size % 64 ||
	    slots_off() + 2ull * h->nslots * h->slot_size > oi.size)
		return -EBADMSG;
	if (h->nslots < capacity || h->max_msg < max_msg)
		return -EPROTOTYPE;
	char *slots = (char *)h + slots_off();
	uint64_t db = (uint64_t)h->nslots * h->slot_size;
	/* Release: we own this end from now on (a reopen by a new process takes over). */
	store_release(&h->owner[end], ((uint64_t)(R->slot + 1) << 32) | R->slot_gen);
	store_release(&h->closed[end], 0);
	*out = (shmrt_pipe_t){ .shm = h,
			       .out_slots = slots + (uint64_t)end * db,
			       .in_slots = slots + (uint64_t)(1 - end) * db,
			       .out = &h->d[end],
			       .in = &h->d[1 - end],
			       .slot_size = h->slot_size,
			       .max_msg = h->max_msg,
			       .mask = h->nslots - 1,
			       .end = (uint32_t)end,
			       .cached_head = load_acquire(&h->d[end].head),
			       .cached_tail = load_acquire(&h->d[1 - end].tail),
			       .region = r };
	return 0;
}

/* The peer closed its end: one load, for the fast paths. */
static inline int peer_closed(const shmrt_pipe_t *p)
{
	return load_acquire(&H(p)->closed[1 - p->end]) != 0;
}

/* The peer closed its end, or its process is gone. Reads /proc: only between
 * sleeps (every PEER_CHECK_NS), never per message. */
static int peer_gone(const shmrt_pipe_t *p)
{
	struct pipe_hdr *h = H(p);
	uint32_t e = 1 - p->end;
	if (load_acquire(&h->closed[e]))
		return 1;
	uint64_t o = load_acquire(&h->owner[e]);
	if (!o)
		return 0; /* not opened yet: not gone */
	struct shmrt_region *R = (struct shmrt_region *)p->region;
	uint32_t slot = (uint32_t)(o >> 32) - 1, gen = (uint32_t)o;
	if (slot >= R->hdr->g.max_procs)
		return 1;
	uint64_t ctl = load_acquire(&R->procs[slot].ctl);
	return load_acquire(&R->procs[slot].gen) != gen || !shmrt__slot_alive(R, slot, ctl);
}

static int gone_check(void *ctx)
{
	return peer_gone(ctx) ? -EPIPE : 0;
}

int shmrt_pipe_send(shmrt_pipe_t *p, const void *msg, size_t len, shmrt_ns_t timeout)
{
	if (!p || !p->shm || (len && !msg))
		return -EINVAL;
	if (len > p->max_msg)
		return -EMSGSIZE;
	struct dir *d = p->out;
	uint32_t tail = load_relaxed(&d->tail); /* relaxed: we are its only writer */
	uint64_t deadline = 0; /* read the clock only if we must wait */
	if (load_acquire(&H(p)->closed[p->end]))
		return -EPIPE;
	while (tail - p->cached_head > p->mask) {
		/* A2: acquire, pairs with R2: the receiver is done with the slot. */
		p->cached_head = load_acquire(&d->head);
		if (tail - p->cached_head <= p->mask)
			break;
		if (peer_closed(p))
			return -EPIPE;
		if (timeout == 0)
			return -EAGAIN;
		if (!deadline)
			deadline = shmrt__mono_deadline(timeout);
		int rc = shmrt__wait_ne(&d->head, p->cached_head, &d->head_waiters, deadline,
					PEER_CHECK_NS, gone_check, p);
		if (rc)
			return rc; /* -ETIMEDOUT, or -EPIPE: the peer closed or died */
	}
	if (peer_closed(p))
		return -EPIPE;
	char *s = p->out_slots + (size_t)(tail & p->mask) * p->slot_size;
	if (len)
		shmrt__copy_racy(s + SLOT_HDR, msg, len);
	store_relaxed((uint32_t *)(void *)s, (uint32_t)len);
	/* R1: seq_cst exchange (release at least), pairs with A1 in recv: the slot is
	 * written before tail moves. It is also the full barrier between this store and
	 * the waiter check (pairs with the fence in shmrt__wait_ne): no second fence. */
	(void)__atomic_exchange_n(&d->tail, tail + 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&d->tail_waiters, __ATOMIC_SEQ_CST))
		shmrt__futex_wake(&d->tail, 1);
	return 0;
}

/* Waits until a message is there (0) or the stream ended (-EPIPE). */
static int wait_readable(shmrt_pipe_t *p, int64_t timeout, int try_once)
{
	uint64_t deadline = 0; /* read the clock only if we must wait */
	struct dir *d = p->in;
	uint32_t head = load_relaxed(&d->head);
	int gone = 0;
	for (;;) {
		if (head != p->cached_tail)
			return 0;
		/* A1: acquire, pairs with R1 in send. */
		p->cached_tail = load_acquire(&d->tail);
		if (head != p->cached_tail)
			return 0;
		if (gone || peer_closed(p)) {
			/* Everything sent before the close is visible now: re-check once. */
			p->cached_tail = load_acquire(&d->tail);
			return head != p->cached_tail ? 0 : -EPIPE;
		}
		if (try_once)
			return -EAGAIN;
		if (!deadline)
			deadline = shmrt__mono_deadline(timeout);
		int rc = shmrt__wait_ne(&d->tail, p->cached_tail, &d->tail_waiters, deadline,
					PEER_CHECK_NS, gone_check, p);
		if (rc == -ETIMEDOUT)
			return rc;
		gone = rc == -EPIPE; /* the peer closed or died while we slept */
	}
}

int shmrt_pipe_recv(shmrt_pipe_t *p, void *buf, size_t cap, size_t *len, shmrt_ns_t timeout)
{
	if (!p || !p->shm || !len || (cap && !buf))
		return -EINVAL;
	int rc = wait_readable(p, timeout, timeout == 0);
	if (rc)
		return rc;
	struct dir *d = p->in;
	uint32_t head = load_relaxed(&d->head);
	char *s = p->in_slots + (size_t)(head & p->mask) * p->slot_size;
	uint32_t n = load_relaxed((uint32_t *)(void *)s);
	if (n > p->max_msg)
		return -EBADMSG; /* a corrupted slot: refuse rather than overrun */
	if (n > cap) {
		*len = n;
		return -EMSGSIZE;
	}
	if (n)
		shmrt__copy_racy(buf, s + SLOT_HDR, n);
	/* R2: seq_cst exchange (release at least), pairs with A2 in send: we are done
	 * with the slot; and the full barrier before the waiter check (as R1). */
	(void)__atomic_exchange_n(&d->head, head + 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&d->head_waiters, __ATOMIC_SEQ_CST))
		shmrt__futex_wake(&d->head, 1);
	*len = n;
	return 0;
}

int shmrt_pipe_poll(shmrt_pipe_t *p, shmrt_ns_t timeout)
{
	if (!p || !p->shm)
		return -EINVAL;
	int rc = wait_readable(p, timeout, timeout == 0);
	return rc == -EPIPE ? 0 : rc; /* end of stream is readable: recv says -EPIPE */
}

void shmrt_pipe_close(shmrt_pipe_t *p)
{
	if (!p || !p->shm)
		return;
	struct pipe_hdr *h = H(p);
	store_release(&h->closed[p->end], 1);
	fence_seq_cst();
	/* Wake the peer wherever it sleeps: on our tail (receiving) or head (sending). */
	shmrt__futex_wake(&((struct dir *)p->out)->tail, INT_MAX);
	shmrt__futex_wake(&((struct dir *)p->in)->head, INT_MAX);
}
