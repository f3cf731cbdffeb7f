/* The sleepers' self-check period and the yield that tells whether it switched (wait.h). */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "wait.h"

#include <stdlib.h>
#include <sys/resource.h>

uint64_t shmrt__slice_ns(uint64_t dflt)
{
	static int64_t test_ns = -1; /* SHMRT_TEST_SLICE_MS in ns, 0 if unset */
	/* Relaxed: every thread computes the same value from the environment. */
	int64_t v = load_relaxed(&test_ns);
	if (v < 0) {
		const char *e = getenv("SHMRT_TEST_SLICE_MS");
		v = e && atoi(e) > 0 ? (int64_t)atoi(e) * 1000000 : 0;
		store_relaxed(&test_ns, v);
	}
	return v ? (uint64_t)v : dflt;
}

static long nivcsw_now(void)
{
	struct rusage u;
	return getrusage(RUSAGE_THREAD, &u) == 0 ? u.ru_nivcsw : -1;
}

int shmrt__yield_switched(struct shmrt__yield_probe *p)
{
	if (!p->armed) {
		p->nivcsw = nivcsw_now();
		p->armed = 1;
	}
	uint64_t t0 = mono_ns();
	sched_yield();
	if (mono_ns() - t0 <= SHMRT_YIELD_QUICK_NS)
		return 0;
	long n = nivcsw_now();
	/* Unreadable counts (never seen on Linux): the slow yield decides. */
	return n < 0 || p->nivcsw < 0 || n != p->nivcsw;
}
