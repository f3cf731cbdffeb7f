/*
 * Futex wait and wake on 32-bit words in shared memory: the one wrapper every waiting
 * path of shmrt goes through. The words are shared between processes, so the calls
 * are never FUTEX_PRIVATE_FLAG.
 */
#ifndef SHMRT_BASE_FUTEX_H
#define SHMRT_BASE_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"

/*
 * Sleeps while *addr == val, until woken or the absolute CLOCK_MONOTONIC deadline
 * (SHMRT_NO_DEADLINE: none). Returns -ETIMEDOUT at the deadline, else 0: woken, the
 * word had changed already (EAGAIN) or a signal came (EINTR); the caller re-checks.
 */
static inline int shmrt__futex_wait(uint32_t *addr, uint32_t val, uint64_t deadline)
{
	struct timespec ts, *tp = NULL;
	if (deadline != SHMRT_NO_DEADLINE) {
		ts = shmrt__timespec(deadline);
		tp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time (FUTEX_WAIT a
	 * relative one). */
	long rc = syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, val, tp, NULL,
			  FUTEX_BITSET_MATCH_ANY);
	if (rc == -1 && errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0;
}

/* Wakes up to n sleepers of addr. */
static inline void shmrt__futex_wake(uint32_t *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

#endif /* SHMRT_BASE_FUTEX_H */
