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

int shmrt__tlock_acquire(uint32_t *w, int fd, uint64_t deadline)
{
	uint32_t me = shmrt__tid(), c = 0;
	/* T1: acquire, pairs with T2 in shmrt__tlock_release(): the previous owner's
	 * critical section is visible to ours. */
	if (likely(cas_acquire(w, &c, me)))
		return 0;
	uint64_t step = TLOCK_FIRST_CHECK_NS, next = mono_ns() + step, unknown_since = 0;
	uint32_t unknown_tid = 0;
	for (;;) {
		/* Relaxed: a look at the owner; whatever we act on is confirmed by a CAS. */
		c = load_relaxed(w);
		if (c == 0) {
			/* We have waited: others may wait too, so keep WAITERS set. T1. */
			if (cas_acquire(w, &c, me | SHMRT_TLOCK_WAITERS))
				return 0;
			continue;
		}
		uint32_t owner = c & SHMRT_TLOCK_TID;
		if (owner == SHMRT_TLOCK_UNUSABLE)
			return -ENOTRECOVERABLE;
		if (owner == me)
			return -EDEADLK;
		uint64_t now = mono_ns();
		if (now >= deadline)
			return -(deadline == 0 ? EAGAIN : ETIMEDOUT);
		if (now >= next) {
			int imp = shmrt__tid_cannot_own(w, fd, owner);
			if (imp == 1) {
				/* Dead owner: take over, keeping WAITERS (others may sleep). T1:
				 * what the dead owner wrote is visible to the repair. */
				uint32_t mine = me | SHMRT_TLOCK_WAITERS | SHMRT_TLOCK_DIED;
				if (cas_acquire(w, &c, mine))
					return -EOWNERDEAD;
				continue;
			}
			if (imp < 0) {
				if (owner != unknown_tid) {
					unknown_tid = owner;
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
		(void)shmrt__futex_wait(w, c, until);
	}
}

int shmrt__tlock_release(uint32_t *w)
{
	/* Relaxed: only the owner passes this check, and its own TID does not change. */
	uint32_t c = load_relaxed(w);
	if ((c & SHMRT_TLOCK_TID) != shmrt__tid())
		return -EPERM;
	if (c & SHMRT_TLOCK_DIED) {
		/* Taken over and never made consistent: unusable from now on (as glibc's
		 * robust mutexes). T2: whatever was written is published. */
		store_release(w, SHMRT_TLOCK_UNUSABLE | SHMRT_TLOCK_WAITERS);
		shmrt__futex_wake(w, INT_MAX);
		return 0;
	}
	/* T2: release, pairs with T1: the critical section's writes are visible to the
	 * next owner. */
	uint32_t old = exchange_release(w, 0);
	if (old & SHMRT_TLOCK_WAITERS)
		shmrt__futex_wake(w, 1);
	return 0;
}

int shmrt__tlock_consistent(uint32_t *w)
{
	/* Relaxed: the owner's own word; waiters only add WAITERS, which the CAS keeps. */
	uint32_t c = load_relaxed(w);
	if ((c & SHMRT_TLOCK_TID) != shmrt__tid() || !(c & SHMRT_TLOCK_DIED))
		return -EINVAL;
	while (!cas_relaxed(w, &c, c & ~SHMRT_TLOCK_DIED))
		;
	return 0;
}
