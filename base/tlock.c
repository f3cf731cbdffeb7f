/* TID locks (tlock.h). */
#define _GNU_SOURCE
#include "tlock.h"

#include <errno.h>
#include <limits.h>

#include "atomic.h"
#include "clock.h"
#include "futex.h"
#include "proc.h"

#define TLOCK_FIRST_CHECK_NS 1000000ull
#define TLOCK_MAX_CHECK_NS 100000000ull
#define UNKNOWN_OWNER_NS 1000000000ull /* bound when /proc cannot tell */
#define FLAGS ((uint64_t)(SHMRT_TLOCK_WAITERS | SHMRT_TLOCK_DIED))

/* The futex half of the word: the TID and the flags. */
static inline uint32_t *futex_half(uint64_t *w)
{
	return (uint32_t *)(void *)w;
}

/* Whether word c is held by the identity me (flags aside). */
static inline int held_by(uint64_t c, uint64_t me)
{
	return (c & ~FLAGS) == me;
}

int shmrt__tlock_acquire(uint64_t *w, uint64_t deadline)
{
	uint64_t me = shmrt__self_ident(), c = 0;
	/* T1: acquire, pairs with T2 in shmrt__tlock_release(): the previous owner's
	 * critical section is visible to ours. */
	if (likely(cas_acquire(w, &c, me)))
		return 0;
	uint64_t step = TLOCK_FIRST_CHECK_NS, next = mono_ns() + step, unknown_since = 0;
	uint64_t unknown_id = 0;
	for (;;) {
		/* Relaxed: a look at the owner; whatever we act on is confirmed by a CAS. */
		c = load_relaxed(w);
		if (c == 0) {
			/* We have waited: others may wait too, so keep WAITERS set. T1. */
			if (cas_acquire(w, &c, me | SHMRT_TLOCK_WAITERS))
				return 0;
			continue;
		}
		uint32_t owner = (uint32_t)c & SHMRT_TLOCK_TID;
		if (owner == SHMRT_TLOCK_UNUSABLE)
			return -ENOTRECOVERABLE;
		if (held_by(c, me))
			return -EDEADLK;
		uint64_t now = mono_ns();
		if (now >= deadline)
			return -(deadline == 0 ? EAGAIN : ETIMEDOUT);
		if (now >= next) {
			int is = shmrt__thread_is(owner, SHMRT_IDENT_START(c));
			if (is == 0) {
				/* The holder is gone (or its TID is another thread's now): take
				 * over, keeping WAITERS (others may sleep). T1: what the dead
				 * owner wrote is visible to the repair. */
				if (cas_acquire(w, &c, me | SHMRT_TLOCK_WAITERS | SHMRT_TLOCK_DIED))
					return -EOWNERDEAD;
				continue;
			}
			if (is < 0) {
				uint64_t id = c & ~FLAGS;
				if (id != unknown_id) {
					unknown_id = id;
					unknown_since = now;
				} else if (now - unknown_since >= UNKNOWN_OWNER_NS) {
					return -ENOTRECOVERABLE;
				}
			}
			step = step * 2 < TLOCK_MAX_CHECK_NS ? step * 2 : TLOCK_MAX_CHECK_NS;
			next = now + step;
		}
		if (!(c & SHMRT_TLOCK_WAITERS)) {
			/* Relaxed: the flag orders nothing; the futex compares the word. */
			if (!cas_relaxed(w, &c, c | SHMRT_TLOCK_WAITERS))
				continue;
			c |= SHMRT_TLOCK_WAITERS;
		}
		uint64_t until = next < deadline ? next : deadline;
		(void)shmrt__futex_wait(futex_half(w), (uint32_t)c, until);
	}
}

int shmrt__tlock_release(uint64_t *w)
{
	/* Relaxed: only the owner passes this check, and its own identity does not
	 * change. */
	uint64_t c = load_relaxed(w);
	if (!held_by(c, shmrt__self_ident()))
		return -EPERM;
	if (c & SHMRT_TLOCK_DIED) {
		/* Taken over and never made consistent: unusable from now on (as glibc's
		 * robust mutexes). T2: whatever was written is published. */
		store_release(w, (uint64_t)(SHMRT_TLOCK_UNUSABLE | SHMRT_TLOCK_WAITERS));
		shmrt__futex_wake(futex_half(w), INT_MAX);
		return 0;
	}
	/* T2: release, pairs with T1: the critical section's writes are visible to the
	 * next owner. */
	uint64_t old = exchange_release(w, 0);
	if (old & SHMRT_TLOCK_WAITERS)
		shmrt__futex_wake(futex_half(w), 1);
	return 0;
}

int shmrt__tlock_consistent(uint64_t *w)
{
	/* Relaxed: the owner's own word; waiters only add WAITERS, which the CAS keeps. */
	uint64_t c = load_relaxed(w);
	if (!held_by(c, shmrt__self_ident()) || !(c & SHMRT_TLOCK_DIED))
		return -EINVAL;
	while (!cas_relaxed(w, &c, c & ~(uint64_t)SHMRT_TLOCK_DIED))
		;
	return 0;
}
