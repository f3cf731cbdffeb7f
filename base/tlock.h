/*
 * TID locks: a futex word owned by a thread id, robust by liveness checks.
 *
 * A lighter robust lock for user-facing compound updates (the Value's get_lock()),
 * where glibc's robust mutex costs twice as much under contention (measured: 22 M vs
 * 50 M locked adds/s between two processes). One 32-bit word: 0 = free, else the
 * owner's TID | SHMRT_TLOCK_WAITERS (someone sleeps) | SHMRT_TLOCK_DIED (taken over from
 * a dead owner, not yet made consistent). An owner field of all ones marks it unusable.
 * No kernel robust list: a waiter checks the owner after 1 ms, then at doubling
 * intervals up to 100 ms (base/proc.h: the thread must exist and its process map the
 * lock's file); a dead owner's lock is taken over with -EOWNERDEAD. Lock and unlock
 * are one atomic each when uncontended.
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

/*
 * Acquires the lock word *w (in the shared file fd) by an absolute CLOCK_MONOTONIC
 * deadline (SHMRT_NO_DEADLINE: none; 0: try once). Returns 0; -EOWNERDEAD (acquired
 * from a dead owner: repair, then shmrt__tlock_consistent); -EAGAIN (try once, busy);
 * -ETIMEDOUT; -EDEADLK (the caller holds it); -ENOTRECOVERABLE (unusable, or an owner
 * that /proc cannot judge held it for a second).
 */
int shmrt__tlock_acquire(uint32_t *w, int fd, uint64_t deadline);

/* 0, or -EPERM (the caller does not hold it). Unlocking a lock taken over from a dead
 * owner without shmrt__tlock_consistent() makes it unusable (-ENOTRECOVERABLE). */
int shmrt__tlock_release(uint32_t *w);

/* Marks a lock taken over with -EOWNERDEAD consistent. 0, or -EINVAL. */
int shmrt__tlock_consistent(uint32_t *w);

#endif /* SHMRT_BASE_TLOCK_H */
