/*
 * Robust process-shared mutexes: glibc's PTHREAD_MUTEX_ROBUST | PTHREAD_PROCESS_SHARED,
 * plus the holder's identity, with bounded waits on lock words no live holder backs.
 *
 * A mutex whose holder dies is released by the kernel (robust futex list) with
 * FUTEX_OWNER_DIED, and the next locker gets EOWNERDEAD. shmrt__pmutex_lock() then runs
 * the caller's recovery function, which repairs the protected state from its journal,
 * and marks the mutex consistent: internal callers never see a dead holder. If the
 * recovering process dies too, the next locker recovers again: every recovery function
 * is idempotent. User-facing locks (shmrt/sync.h, the Array's locks) use
 * shmrt__pmutex_acquire() and hand -EOWNERDEAD to the user.
 *
 * The kernel only knows the holders it saw die. A lock word that names a thread that
 * does not hold the lock (a corrupted or hostile region: the word names a dead TID, a
 * thread of another process, or a live thread of a process that never took it) would
 * make lockers wait forever. So every holder records its identity (TID and start time,
 * base/proc.h) in `owner` right after it acquires, and clears it right before it
 * releases, and a waiter judges the word every LOCK_SLICE_NS (pmutex.c): when the word
 * cannot be backed by a live holder, the waiter does what the kernel does for a dead
 * one (FUTEX_OWNER_DIED, then a wake), and the lock is taken over with EOWNERDEAD.
 *
 * Ordering: acquisition is an acquire and release a release (pthread's contract); the
 * lock's users label their critical sections by it, not atomic by atomic. `owner` is
 * written only by the holder, under the lock, and read racily by waiters (relaxed):
 * a waiter acts on it only when it reads the same pair of (lock word, owner) twice, a
 * slice apart.
 */
#ifndef SHMRT_BASE_PMUTEX_H
#define SHMRT_BASE_PMUTEX_H

#include <pthread.h>
#include <stdint.h>

typedef struct shmrt_pmutex {
	pthread_mutex_t m; /* 0: glibc's robust process-shared mutex */
	uint64_t owner;    /* 40: the holder's identity while held, else 0 (base/proc.h) */
} shmrt_pmutex_t;

_Static_assert(sizeof(pthread_mutex_t) == 40, "pthread_mutex_t size is ABI");
_Static_assert(sizeof(shmrt_pmutex_t) == 48, "shmrt_pmutex_t layout");

/* Initialises a robust process-shared mutex of the given pthread type
 * (PTHREAD_MUTEX_NORMAL, _ERRORCHECK, _RECURSIVE). 0 or -errno. */
int shmrt__pmutex_init_type(shmrt_pmutex_t *m, int type);

/* As shmrt__pmutex_init_type(m, PTHREAD_MUTEX_NORMAL). */
int shmrt__pmutex_init(shmrt_pmutex_t *m);

/*
 * Acquires m, which lives in the shared file fd (-1 if unknown: the owner checks are
 * then weaker), by an absolute CLOCK_MONOTONIC deadline (SHMRT_NO_DEADLINE: none; 0: try
 * once). Returns 0; -EOWNERDEAD: acquired, the previous owner died (or the lock word
 * named a thread that could not hold it), the caller must repair and call
 * shmrt__pmutex_consistent() (or release, making m unrecoverable); -EAGAIN (try once,
 * busy); -ETIMEDOUT; -ENOTRECOVERABLE: a previous recovery was abandoned, the mutex's
 * kind was damaged (glibc would run it by another protocol), or the word names an owner
 * /proc cannot judge (another pid namespace) for a second; -EDEADLK (error-checking
 * kinds).
 */
int shmrt__pmutex_acquire(shmrt_pmutex_t *m, int fd, uint64_t deadline);

/*
 * Locks m without a deadline. If the previous holder died, recover(ctx) runs with the
 * lock held (it must repair what m protects), the mutex is made consistent, and 0 is
 * returned. Returns 0 or -ENOTRECOVERABLE.
 */
int shmrt__pmutex_lock(shmrt_pmutex_t *m, int fd, void (*recover)(void *ctx), void *ctx);

/* Releases m: 0, or -EPERM (the caller does not hold it: nothing changes). */
int shmrt__pmutex_release(shmrt_pmutex_t *m);

/* Whether the calling thread holds m (its TID is in the lock word: only the holder
 * puts it there, so a relaxed read answers for the caller exactly). */
int shmrt__pmutex_held(const shmrt_pmutex_t *m);

/* As shmrt__pmutex_release, for internal callers that hold m. */
void shmrt__pmutex_unlock(shmrt_pmutex_t *m);

/* Marks m, taken with EOWNERDEAD, consistent: 0 or -EINVAL. */
int shmrt__pmutex_consistent(shmrt_pmutex_t *m);

#endif /* SHMRT_BASE_PMUTEX_H */
