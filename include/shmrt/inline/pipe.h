/*
 * Inline fast paths of shmrt Pipes. Not for direct inclusion: include <shmrt.h> (or
 * shmrt/pipe.h).
 *
 * shmrt_pipe_send and shmrt_pipe_recv are macros over shmrt__pipe_send_inline and
 * shmrt__pipe_recv_inline: the common case (a message of 1..64 bytes, room or a
 * message there, nothing closed) is done in the caller, without a call, and every
 * other case (a wait, an error, an empty or larger message) calls the library's
 * function of the same name, which is complete on its own. The pipe's SPSC protocol
 * is in queues/pipe.c; what the inline code relies on is:
 *  - a slot is an 8-byte header, the sequence word (message t is in the slot once it
 *    reads t + 1) and the length, then the payload;
 *  - the library sets fast_max in the handle at open: the largest message the inline
 *    code may copy (0 in a handle never opened: the library then refuses it);
 *  - shmrt__asym_state > 0: this process is registered for the asymmetric barrier,
 *    so a compiler barrier orders a publication before the read of the peer's waiter
 *    count (base/asym.h in the sources); otherwise the library path fences.
 * So the slot format (SHMRT__PIPE_FORMAT, pinned by a static assertion in the library)
 * and the handle's fields are part of the ABI: changing either changes the library's
 * soname (libshmrt.so.0.MINOR before 1.0), and the region's layout version keeps
 * processes of two formats off one region. Define SHMRT_NO_INLINE before including shmrt.h to call the library every
 * time.
 */
#ifndef SHMRT_INLINE_PIPE_H
#define SHMRT_INLINE_PIPE_H

#ifndef SHMRT_PIPE_H
#error "include <shmrt.h>, not shmrt/inline/pipe.h"
#endif

#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRT__PIPE_FORMAT 1u /* the slot format above */
#define SHMRT__PIPE_FAST_MAX 64u /* messages the inline paths copy (1..64 bytes) */

/* Registered for the asymmetric barrier: 1; unknown 0; unavailable -1 (library). */
SHMRT_API extern int shmrt__asym_state;
/* Wakes one process asleep on a futex word of the pipe; returns 0. */
SHMRT_API int shmrt__pipe_wake(uint32_t *word);

/* Copies 1..64 bytes: two fixed-size moves that overlap in the middle, of the largest
 * power of two not above n (no call, and a constant n leaves one case). */
static inline void shmrt__pipe_copy(void *dst, const void *src, size_t n)
{
	char *d = (char *)dst;
	const char *s = (const char *)src;
	if (n > SHMRT__PIPE_FAST_MAX)
		__builtin_unreachable(); /* the callers' fast_max (and a bound for -Warray-bounds) */
	if (n >= 32) {
		__builtin_memcpy(d, s, 32);
		__builtin_memcpy(d + n - 32, s + n - 32, 32);
	} else if (n >= 16) {
		__builtin_memcpy(d, s, 16);
		__builtin_memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 8) {
		__builtin_memcpy(d, s, 8);
		__builtin_memcpy(d + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		__builtin_memcpy(d, s, 4);
		__builtin_memcpy(d + n - 4, s + n - 4, 4);
	} else if (n >= 2) {
		__builtin_memcpy(d, s, 2);
		__builtin_memcpy(d + n - 2, s + n - 2, 2);
	} else {
		*d = *s;
	}
}

/* What a try_ function did. */
enum { SHMRT__PIPE_DONE = 0, SHMRT__PIPE_SLOW = 1, SHMRT__PIPE_WAKE = 2 };

/*
 * The send fast path. DONE; WAKE: done, and the receiver sleeps, so call
 * shmrt__pipe_wake_receiver; or SLOW: nothing done, the library must do it. One
 * branch tests everything: the size (1..fast_max, which also says the handle is
 * usable), a buffer, room by the cached receiver index, neither end closed, the
 * barrier registered. The wake is the caller's, so that a caller can make it a tail
 * call (the library's send then needs no stack frame).
 */
static inline int shmrt__pipe_try_send(shmrt_pipe_t *p, const void *msg, size_t len)
{
	uint32_t tail = p->tail;
	/* Two branches: fast_max is 0 in a handle never opened, whose pointers are NULL.
	 * The tests are ORed as ints, without short circuits (one branch each). */
	int slow = (int)(len - 1 >= p->fast_max) | (int)!msg;
	if (__builtin_expect(slow, 0))
		return SHMRT__PIPE_SLOW;
	slow = (int)(tail - p->cached_head > p->mask);
	/* Relaxed: both ends' closed flags in one word; a close seen late only delays
	 * -EPIPE, which the library's path reads with acquire (A4). */
	slow |= (int)(__atomic_load_n(p->closed, __ATOMIC_RELAXED) != 0);
	/* Relaxed: it changes only in this process (registration, fork). */
	slow |= (int)(__atomic_load_n(&shmrt__asym_state, __ATOMIC_RELAXED) <= 0);
	if (__builtin_expect(slow, 0))
		return SHMRT__PIPE_SLOW;
	char *s = p->out_slots + (size_t)(tail & p->mask) * p->slot_size;
	shmrt__pipe_copy(s + 8, msg, len);
	/* Relaxed: published by R1. */
	__atomic_store_n((uint32_t *)(void *)(s + 4), (uint32_t)len, __ATOMIC_RELAXED);
	/* R1: release, pairs with A1 (the receiver's load of the sequence): the payload
	 * and length are written before the slot reads full. */
	__atomic_store_n((uint32_t *)(void *)s, tail + 1, __ATOMIC_RELEASE);
	p->tail = tail + 1;
	/* LB: the light barrier of a registered process, a compiler barrier: pairs with the
	 * heavy barrier of a receiver going to sleep, which orders R1 before its re-read. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	/* Relaxed: after LB. */
	if (__builtin_expect(__atomic_load_n(p->out_waiters, __ATOMIC_RELAXED) != 0, 0))
		return SHMRT__PIPE_WAKE;
	return SHMRT__PIPE_DONE;
}

/* Wakes the receiver after a send that said WAKE; returns 0. */
static inline int shmrt__pipe_wake_receiver(const shmrt_pipe_t *p)
{
	return shmrt__pipe_wake((uint32_t *)(void *)(p->out_slots + (size_t)((p->tail - 1) & p->mask) *
									  p->slot_size));
}

/* The recv fast path, as send's: SLOW when nothing is there yet, or the message is
 * empty, larger than fast_max or than cap; WAKE: call shmrt__pipe_wake_sender. */
static inline int shmrt__pipe_try_recv(shmrt_pipe_t *p, void *buf, size_t cap, size_t *len)
{
	if (__builtin_expect(!p->fast_max, 0))
		return SHMRT__PIPE_SLOW;
	uint32_t head = p->head;
	char *s = p->in_slots + (size_t)(head & p->mask) * p->slot_size;
	/* A1: acquire, pairs with R1 (the sender's release of the sequence word). */
	if (__builtin_expect(__atomic_load_n((uint32_t *)(void *)s, __ATOMIC_ACQUIRE) != head + 1, 0))
		return SHMRT__PIPE_SLOW;
	/* Relaxed: read after A1. */
	uint32_t n = __atomic_load_n((uint32_t *)(void *)(s + 4), __ATOMIC_RELAXED);
	int slow = (int)(n - 1u >= p->fast_max) | (int)!buf | (int)!len;
	/* Relaxed: it changes only in this process. */
	slow |= (int)(__atomic_load_n(&shmrt__asym_state, __ATOMIC_RELAXED) <= 0);
	if (__builtin_expect(slow, 0) || __builtin_expect(n > cap, 0))
		return SHMRT__PIPE_SLOW;
	shmrt__pipe_copy(buf, s + 8, n);
	/* R2: release, pairs with A2 (the sender's load of head): our copy is done before
	 * the sender may reuse the slot. */
	__atomic_store_n(p->in_head, head + 1, __ATOMIC_RELEASE);
	p->head = head + 1;
	*len = n;
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* LB, as in send: pairs with a sender's HB */
	/* Relaxed: after LB. */
	if (__builtin_expect(__atomic_load_n(p->in_waiters, __ATOMIC_RELAXED) != 0, 0))
		return SHMRT__PIPE_WAKE;
	return SHMRT__PIPE_DONE;
}

/* Wakes the sender after a recv that said WAKE; returns 0. */
static inline int shmrt__pipe_wake_sender(const shmrt_pipe_t *p)
{
	return shmrt__pipe_wake(p->in_head);
}

static inline int shmrt__pipe_send_inline(shmrt_pipe_t *p, const void *msg, size_t len,
					  shmrt_ns_t timeout)
{
	if (__builtin_expect(p != 0, 1)) {
		int r = shmrt__pipe_try_send(p, msg, len);
		if (__builtin_expect(r == SHMRT__PIPE_DONE, 1))
			return 0;
		if (r == SHMRT__PIPE_WAKE)
			return shmrt__pipe_wake_receiver(p);
	}
	return (shmrt_pipe_send)(p, msg, len, timeout);
}

static inline int shmrt__pipe_recv_inline(shmrt_pipe_t *p, void *buf, size_t cap, size_t *len,
					  shmrt_ns_t timeout)
{
	if (__builtin_expect(p != 0, 1)) {
		int r = shmrt__pipe_try_recv(p, buf, cap, len);
		if (__builtin_expect(r == SHMRT__PIPE_DONE, 1))
			return 0;
		if (r == SHMRT__PIPE_WAKE)
			return shmrt__pipe_wake_sender(p);
	}
	return (shmrt_pipe_recv)(p, buf, cap, len, timeout);
}

#if !defined(SHMRT_NO_INLINE) && !defined(SHMRT_BUILDING)
#define shmrt_pipe_send(p, msg, len, timeout) shmrt__pipe_send_inline((p), (msg), (len), (timeout))
#define shmrt_pipe_recv(p, buf, cap, len, timeout)                                     \
	shmrt__pipe_recv_inline((p), (buf), (cap), (len), (timeout))
#endif

#ifdef __cplusplus
}
#endif

#endif /* SHMRT_INLINE_PIPE_H */
