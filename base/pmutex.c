/*
 * Robust process-shared mutexes (pmutex.h).
 *
 * The kernel hands a robust mutex over when its owner dies. A lock word naming a
 * thread that cannot be the owner (a corrupted region, or an owner in another pid
 * namespace) would make lockers wait forever. So a waiter, every LOCK_SLICE_NS, checks
 * the owner TID that glibc keeps in the lock word of robust mutexes (base/proc.h). If
 * that thread cannot own it, the lock is reported -ENOTRECOVERABLE. When /proc cannot
 * tell (another user's or namespace's process), the wait is still bounded: if the same
 * owner holds it for UNKNOWN_OWNER_NS, it is reported too. shmrt holds its internal
 * locks for microseconds, so only corruption gets there.
 */
#define _GNU_SOURCE
#include "pmutex.h"

#include <errno.h>

#include "atomic.h"
#include "clock.h"
#include "proc.h"

#define LOCK_SLICE_NS 100000000ull     /* how often a waiter re-checks the owner */
#define UNKNOWN_OWNER_NS 1000000000ull /* bound when /proc cannot tell */

int shmrt__pmutex_init_type(pthread_mutex_t *m, int type)
{
	pthread_mutexattr_t a;
	int rc = pthread_mutexattr_init(&a);
	if (rc)
		return -rc;
	rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!rc)
		rc = pthread_mutexattr_settype(&a, type);
	if (!rc)
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!rc)
		rc = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return -rc;
}

int shmrt__pmutex_init(pthread_mutex_t *m)
{
	return shmrt__pmutex_init_type(m, PTHREAD_MUTEX_NORMAL);
}

int shmrt__pmutex_acquire(pthread_mutex_t *m, int fd, uint64_t deadline)
{
	int rc = pthread_mutex_trylock(m), seen_tid = 0;
	uint64_t seen_since = 0;
	const uint32_t *word = (const uint32_t *)(const void *)&m->__data.__lock;
	while (rc == EBUSY || rc == ETIMEDOUT) {
		uint64_t now = mono_ns();
		if (now >= deadline)
			return -(deadline == 0 ? EAGAIN : ETIMEDOUT);
		/* The owner TID glibc keeps in the lock word of robust mutexes, without
		 * FUTEX_WAITERS / FUTEX_OWNER_DIED. Relaxed: a hint for the check below,
		 * which re-reads the word. */
		uint32_t tid = load_relaxed(word) & 0x3fffffffu;
		if (rc == ETIMEDOUT && tid) {
			int imp = shmrt__tid_cannot_own(word, fd, tid);
			if (imp == 1)
				return -ENOTRECOVERABLE;
			if ((int)tid != seen_tid) {
				seen_tid = (int)tid;
				seen_since = now;
			} else if (imp < 0 && now - seen_since >= UNKNOWN_OWNER_NS) {
				return -ENOTRECOVERABLE;
			}
		}
		/* timedlock (CLOCK_REALTIME) rather than clocklock: sanitizers intercept it.
		 * Its absolute time is one slice from now, cut to the monotonic deadline:
		 * a step of the wall clock changes one slice, not the deadline. */
		uint64_t slice = deadline - now < LOCK_SLICE_NS ? deadline - now : LOCK_SLICE_NS;
		struct timespec ts = shmrt__timespec(real_ns() + slice);
		rc = pthread_mutex_timedlock(m, &ts);
	}
	return -rc;
}

int shmrt__pmutex_lock(pthread_mutex_t *m, int fd, void (*recover)(void *), void *ctx)
{
	int rc = shmrt__pmutex_acquire(m, fd, SHMRT_NO_DEADLINE);
	if (rc == -EOWNERDEAD) {
		if (recover)
			recover(ctx);
		pthread_mutex_consistent(m);
		rc = 0;
	}
	return rc;
}

void shmrt__pmutex_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
}
