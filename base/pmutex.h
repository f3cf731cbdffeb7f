/*
 * Robust process-shared mutexes: glibc's PTHREAD_MUTEX_ROBUST | PTHREAD_PROCESS_SHARED,
 * with bounded waits on lock words no live thread can own.
 *
 * A mutex whose holder dies is released by the kernel (robust futex list) with
 * FUTEX_OWNER_DIED, and the next locker gets EOWNERDEAD. shmrt__pmutex_lock() then runs
 * the caller's recovery function, which repairs the protected state from its journal,
 * and marks the mutex consistent: internal callers never see a dead holder. If the
 * recovering process dies too, the next locker recovers again: every recovery
 * function is idempotent. User-facing locks (shmrt/sync.h, the Array's lock) use
 * shmrt__pmutex_acquire() and hand -EOWNERDEAD to the user.
 *
 * Ordering: acquisition is an acquire and release a release (pthread's contract); the
 * lock's users label their critical sections by it, not atomic by atomic.
 */
#ifndef SHMRT_BASE_PMUTEX_H
#define SHMRT_BASE_PMUTEX_H

#include <pthread.h>
#include <stdint.h>

/* Initialises a robust process-shared mutex of the given pthread type
 * (PTHREAD_MUTEX_NORMAL, _ERRORCHECK, _RECURSIVE). 0 or -errno. */
int shmrt__pmutex_init_type(pthread_mutex_t *m, int type);

/* As shmrt__pmutex_init_type(m, PTHREAD_MUTEX_NORMAL). */
int shmrt__pmutex_init(pthread_mutex_t *m);

/*
 * Acquires m, which lives in the shared file fd (-1 if unknown: the owner check below
 * is then weaker), by an absolute CLOCK_MONOTONIC deadline (SHMRT_NO_DEADLINE: none;
 * 0: try once). Returns 0; -EOWNERDEAD: acquired, the previous owner died, the caller
 * must repair and call pthread_mutex_consistent() (or unlock, making m unrecoverable);
 * -EAGAIN (try once, busy); -ETIMEDOUT; -ENOTRECOVERABLE: a previous recovery was
 * abandoned, or the lock word names a thread that cannot hold it (corruption: no such
 * thread, or its process does not map fd), so it never waits forever on it; -EDEADLK
 * (error-checking kinds).
 */
int shmrt__pmutex_acquire(pthread_mutex_t *m, int fd, uint64_t deadline);

/*
 * Locks m without a deadline. If the previous holder died, recover(ctx) runs with the
 * lock held (it must repair what m protects), the mutex is made consistent, and 0 is
 * returned. Returns 0 or -ENOTRECOVERABLE.
 */
int shmrt__pmutex_lock(pthread_mutex_t *m, int fd, void (*recover)(void *ctx), void *ctx);

void shmrt__pmutex_unlock(pthread_mutex_t *m);

#endif /* SHMRT_BASE_PMUTEX_H */
