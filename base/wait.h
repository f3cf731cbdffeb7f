/*
 * Waiting on a 32-bit word in shared memory: adaptive spin, then yield, then sleep in
 * the kernel on a futex (other processes wake us).
 *
 * The spin is bounded (SHMRT_SPIN_ITERS pauses, then SHMRT_YIELD_ITERS yields): when
 * processes outnumber cores, a spinning waiter holds the core its waker needs, so
 * spin-only waiting never finishes. Wakers call into the kernel only when a waiter
 * has announced itself (the callers keep a waiter count or flag), so an uncontended
 * signal costs no syscall.
 *
 * The lost-wakeup argument is Dekker's: the waiter stores its announcement then
 * re-reads the word (W1, a full fence, or the heavy barrier with SHMRT_WAIT_ASYM);
 * the waker stores the word then reads the announcement (W2, a full fence, or the
 * light barrier of base/asym.h). At least one of them sees the other's store.
 *
 * Deadlines are absolute CLOCK_MONOTONIC nanoseconds (base/clock.h).
 */
#ifndef SHMRT_BASE_WAIT_H
#define SHMRT_BASE_WAIT_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>

#include "asym.h"
#include "atomic.h"
#include "clock.h"
#include "cpu.h"
#include "futex.h"

#define SHMRT_SPIN_ITERS 200
#define SHMRT_YIELD_ITERS 4

/*
 * The period of a sleeper's self-checks (peer liveness, stuck slots): dflt, or
 * SHMRT_TEST_SLICE_MS when set, so that tests can make a lost wake-up show as a
 * multi-second stall instead of a short delay. Called on sleeping paths only.
 */
uint64_t shmrt__slice_ns(uint64_t dflt);

/* Waker pairs with a heavy barrier (shmrt__light_barrier, base/asym.h), not a fence. */
#define SHMRT_WAIT_ASYM 1
/* `yields` rounds of (a yield, then `spin` more pauses) before sleeping, not bare
 * yields: a longer wait before the kernel, which a yield per round keeps fair to a
 * peer that shares our core. */
#define SHMRT_WAIT_SPIN_YIELD 2
/* Sleep slice when the heavy barrier is unavailable but a waker may skip its fence. */
#define SHMRT_ASYM_FALLBACK_SLICE_NS 1000000ull

/*
 * Waits until *addr != val, or the deadline. Spins, yields, then sleeps with
 * *waiters incremented (so that wakers know to call futex_wake). 0 or -ETIMEDOUT.
 * If slice_ns > 0 the sleep is cut in slices and check(ctx) runs between them; a
 * non-zero result of check ends the wait with that result. flags: SHMRT_WAIT_ASYM if
 * the wakers store, call shmrt__light_barrier() and read *waiters.
 */
static inline int shmrt__wait_ne_spin(uint32_t *addr, uint32_t val, uint32_t *waiters,
				       uint64_t deadline, uint64_t slice_ns,
				       int (*check)(void *ctx), void *ctx, int spin, int yields,
				       int flags)
{
	/* W0: acquire on every look at the word: what the waker published before its
	 * store (the message, the lock's data) is visible once we see it change. */
	for (int i = 0; i < spin; i++) {
		if (load_acquire(addr) != val)
			return 0;
		cpu_relax();
	}
	for (int i = 0; i < yields; i++) {
		if (load_acquire(addr) != val) /* W0 */
			return 0;
		sched_yield();
		for (int k = 0; (flags & SHMRT_WAIT_SPIN_YIELD) && k < spin; k++) {
			if (load_acquire(addr) != val) /* W0 */
				return 0;
			cpu_relax();
		}
	}
	/* Relaxed: the announcement is ordered before the re-read by W1 below. */
	fetch_add_relaxed(waiters, 1);
	/* Between announcing ourselves and re-reading the word, a barrier that pairs with
	 * the waker's (store, barrier, waiter check): no lost wakeup. An asymmetric waker
	 * has only a compiler barrier: the heavy barrier runs a full one on its CPU. One
	 * is enough for the whole wait, since the announcement stays. */
	if ((flags & SHMRT_WAIT_ASYM) && shmrt__heavy_barrier() != 0 &&
	    (!slice_ns || slice_ns > SHMRT_ASYM_FALLBACK_SLICE_NS))
		slice_ns = SHMRT_ASYM_FALLBACK_SLICE_NS; /* no membarrier: poll */
	int rc = 0;
	for (;;) {
		fence_seq_cst(); /* W1: pairs with W2 in shmrt__wake (or the heavy barrier
				  * above with the waker's light one) */
		if (load_acquire(addr) != val) /* W0 */
			break;
		uint64_t now = mono_ns();
		if (now >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		uint64_t d = deadline;
		if (slice_ns && now + slice_ns < d)
			d = now + slice_ns;
		(void)shmrt__futex_wait(addr, val, d);
		if (check && (rc = check(ctx)) != 0)
			break;
	}
	/* Relaxed: a stale count costs a waker one needless futex_wake, no more. */
	fetch_sub_relaxed(waiters, 1);
	return rc;
}

static inline int shmrt__wait_ne(uint32_t *addr, uint32_t val, uint32_t *waiters,
				  uint64_t deadline, uint64_t slice_ns,
				  int (*check)(void *ctx), void *ctx)
{
	return shmrt__wait_ne_spin(addr, val, waiters, deadline, slice_ns, check, ctx,
				   SHMRT_SPIN_ITERS, SHMRT_YIELD_ITERS, 0);
}

/*
 * Spin budget: waiting by spinning helps only while the waker runs on another core.
 * With more waiters than cores, spinners take the cores the wakers need (measured:
 * 4 producers + 4 consumers on 2 cores, 0.1 M messages/s). So a module counts its
 * spinners in a shared word, and a waiter spins only while fewer than (cores - 1)
 * others do; the rest sleep at once. shmrt__spin_enter() returns 1 if the caller may
 * spin (it must then call shmrt__spin_leave() after its spin phase). Relaxed
 * throughout: the count is a hint, and a wrong reading costs a spin or a sleep.
 */
static inline int shmrt__spin_enter(uint32_t *spinners)
{
	uint32_t max = (uint32_t)shmrt__ncpus() - 1;
	if (max == 0 || load_relaxed(spinners) >= max)
		return 0;
	if (fetch_add_relaxed(spinners, 1) < max)
		return 1;
	fetch_sub_relaxed(spinners, 1);
	return 0;
}

static inline void shmrt__spin_leave(uint32_t *spinners)
{
	fetch_sub_relaxed(spinners, 1);
}

/*
 * One sched_yield of a spinning wait, and whether it gave our core away: the sign
 * that the spin holds a core someone else needs (a peer that shares ours, or
 * strangers). A yield's time alone cannot tell: on a VM with page-table isolation a
 * system call costs over 1 us, and 1-2% of yields on an idle core took 2-100 us in a
 * noisy period (interrupts, the host), while a yield that ran a peer takes 9 us
 * (measured, EPYC guest with PTI). So a slow yield (over SHMRT_YIELD_QUICK_NS) counts
 * only if the kernel counted an involuntary context switch of this thread since the
 * wait's first yield (getrusage, read before that yield and again after the slow
 * one): 1 (switched) or 0. A wait starts with a zeroed probe. The check costs one
 * system call per wait that yields (made before its first yield, so a wake-up in
 * that moment is seen up to one system call later) and one per slow yield. Where the
 * count cannot be read, the slow yield decides, as before.
 * Concurrency: the waiting thread only (the probe is its own, on its stack; the
 * count read is the calling thread's). Ordering: none (a hint, no memory published).
 */
#define SHMRT_YIELD_QUICK_NS 2000ull
struct shmrt__yield_probe {
	long nivcsw; /* the thread's count before the wait's first yield */
	int armed;   /* nivcsw was read */
};
int shmrt__yield_switched(struct shmrt__yield_probe *p);

/* Wakes up to n waiters of addr if any announced themselves. Call after the store
 * that changes *addr. */
static inline void shmrt__wake(uint32_t *addr, uint32_t *waiters, int n)
{
	fence_seq_cst(); /* W2: pairs with W1 in shmrt__wait_ne_spin */
	/* Relaxed: ordered after our store by W2. */
	if (load_relaxed(waiters))
		shmrt__futex_wake(addr, n);
}

#endif /* SHMRT_BASE_WAIT_H */
