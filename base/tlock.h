/*
 * TID locks: a futex word owned by a thread identity, robust by liveness checks.
 *
 * A lighter robust lock for user-facing compound updates (the Value's get_lock()),
 * where glibc's robust mutex costs twice as much under contention (measured: 22 M vs
 * 50 M locked adds/s between two processes). One 64-bit word: 0 = free, else the
 * owner's identity (base/proc.h: TID in the low half, the low 32 bits of the thread's
 * start time in the high half) with two flags in the TID's top bits:
 * SHMRT_TLOCK_WAITERS (someone sleeps) and SHMRT_TLOCK_DIED (taken over from a dead
 * owner, not yet made consistent). A TID field of all ones marks it unusable. Waiters
 * sleep on the low half (a futex is 32 bits; little endian). The identity is taken with
 * the lock by one CAS, so a waiter always knows exactly which thread holds it: a TID
 * that the kernel gave to another thread after the holder died is not the holder.
 *
 * No kernel robust list: a waiter checks the owner after 1 ms, then at doubling
 * intervals up to 100 ms (shmrt__thread_is); a dead owner's lock is taken over with
 * -EOWNERDEAD. Lock and unlock are one atomic each when uncontended.
 *
 * Ordering: acquiring is an acquire (T1), releasing a release (T2) that pairs with it.
 */
#ifndef SHMRT_BASE_TLOCK_H
#define SHMRT_BASE_TLOCK_H

#include <stdint.h>

#define SHMRT_TLOCK_WAITERS 0x80000000u
#define SHMRT_TLOCK_DIED 0x40000000u
#define SHMRT_TLOCK_TID 0x3fffffffu
#define SHMRT_TLOCK_UNUSABLE SHMRT_TLOCK_TID

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the TID lock sleeps on the low half of its word: little endian only"
#endif

/*
 * Acquires the lock word *w by an absolute CLOCK_MONOTONIC deadline (SHMRT_NO_DEADLINE:
 * none; 0: try once). Returns 0; -EOWNERDEAD (acquired from a dead owner: repair, then
 * shmrt__tlock_consistent); -EAGAIN (try once, busy); -ETIMEDOUT; -EDEADLK (the caller
 * holds it); -ENOTRECOVERABLE (unusable, or an owner that /proc cannot judge held it
 * for a second).
 */
int shmrt__tlock_acquire(uint64_t *w, uint64_t deadline);

/* 0, or -EPERM (the caller does not hold it). Unlocking a lock taken over from a dead
 * owner without shmrt__tlock_consistent() makes it unusable (-ENOTRECOVERABLE). */
int shmrt__tlock_release(uint64_t *w);

/* Marks a lock taken over with -EOWNERDEAD consistent. 0, or -EINVAL. */
int shmrt__tlock_consistent(uint64_t *w);

#endif /* SHMRT_BASE_TLOCK_H */
