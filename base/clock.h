/*
 * Clocks and deadlines.
 *
 * One deadline clock: every deadline in shmrt is an absolute CLOCK_MONOTONIC time in
 * nanoseconds, so that a step of the wall clock (NTP, an administrator) neither
 * cuts a wait short nor stretches it. The one API that wants CLOCK_REALTIME,
 * pthread_mutex_timedlock (the sanitizers intercept it, not pthread_mutex_clocklock),
 * is given short slices computed from the monotonic deadline (pmutex.c). The wall
 * clock (real_ns) is only recorded, for people: creation and attach times.
 */
#ifndef SHMRT_BASE_CLOCK_H
#define SHMRT_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t shmrt__now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#define mono_ns() shmrt__now_ns(CLOCK_MONOTONIC)
#define real_ns() shmrt__now_ns(CLOCK_REALTIME)

/* No deadline: wait forever. */
#define SHMRT_NO_DEADLINE UINT64_MAX

/*
 * The deadline of a shmrt timeout (nanoseconds, shmrt/common.h): negative is
 * SHMRT_NO_DEADLINE; 0 is 0, a deadline already past (try once: callers tell -EAGAIN
 * from -ETIMEDOUT by it); otherwise now + timeout on CLOCK_MONOTONIC.
 */
static inline uint64_t shmrt__deadline(int64_t timeout_ns)
{
	if (timeout_ns < 0)
		return SHMRT_NO_DEADLINE;
	if (timeout_ns == 0)
		return 0;
	return mono_ns() + (uint64_t)timeout_ns;
}

static inline struct timespec shmrt__timespec(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
	return ts;
}

#endif /* SHMRT_BASE_CLOCK_H */
