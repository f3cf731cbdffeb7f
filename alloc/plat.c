/*
 * Robust process-shared mutexes and the debug yield points (see plat.h).
 *
 * A robust mutex whose owner thread dies is released by the kernel (robust futex
 * list) with FUTEX_OWNER_DIED; the next pthread_mutex_lock returns EOWNERDEAD and
 * owns it. We then run the caller's recovery and call pthread_mutex_consistent().
 * If the process recovering dies too, the next locker gets EOWNERDEAD again and
 * recovery runs again: every recovery function is idempotent.
 */
#define _GNU_SOURCE
#include "plat.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

int shmrt__pmutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int rc = pthread_mutexattr_init(&a);
	if (rc)
		return -rc;
	rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!rc)
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!rc)
		rc = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return -rc;
}

static int after_lock(pthread_mutex_t *m, int rc, void (*recover)(void *), void *ctx)
{
	if (likely(rc == 0))
		return 0;
	if (rc == EOWNERDEAD) {
		if (recover)
			recover(ctx);
		pthread_mutex_consistent(m);
		return 0;
	}
	return -rc;
}

int shmrt__pmutex_lock(pthread_mutex_t *m, void (*recover)(void *), void *ctx)
{
	return after_lock(m, pthread_mutex_lock(m), recover, ctx);
}

int shmrt__pmutex_lock_until(pthread_mutex_t *m, uint64_t deadline, void (*recover)(void *),
			     void *ctx)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline / 1000000000ull),
			       .tv_nsec = (long)(deadline % 1000000000ull) };
	return after_lock(m, pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts), recover, ctx);
}

void shmrt__pmutex_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
}

#ifdef SHMRT_DEBUG_YIELD
static __thread uint64_t yield_rng;
static int yield_n = -1;

void shmrt__yield_point(void)
{
	if (yield_n < 0) {
		const char *e = getenv("SHMRT_YIELD");
		yield_n = e ? atoi(e) : 0;
	}
	if (yield_n <= 0)
		return;
	if (!yield_rng)
		yield_rng = (uint64_t)(uintptr_t)&yield_rng ^ mono_ns();
	yield_rng ^= yield_rng << 13;
	yield_rng ^= yield_rng >> 7;
	yield_rng ^= yield_rng << 17;
	if (yield_rng % (uint64_t)yield_n == 0)
		sched_yield();
}
#endif
