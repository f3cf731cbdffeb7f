/* Debug yield points (yield.h). */
#include "yield.h"

#ifdef SHMRT_DEBUG_YIELD
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "atomic.h"
#include "clock.h"

static __thread uint64_t yield_rng;

void shmrt__yield_point(void)
{
	static int yield_n = -1;
	/* Relaxed: every thread computes the same value from the environment. */
	int n = load_relaxed(&yield_n);
	if (n < 0) {
		const char *e = getenv("SHMRT_YIELD");
		n = e ? atoi(e) : 0;
		store_relaxed(&yield_n, n);
	}
	if (n <= 0)
		return;
	if (!yield_rng)
		yield_rng = (uint64_t)(uintptr_t)&yield_rng ^ mono_ns();
	yield_rng ^= yield_rng << 13;
	yield_rng ^= yield_rng >> 7;
	yield_rng ^= yield_rng << 17;
	if (yield_rng % (uint64_t)n == 0)
		sched_yield();
}
#else
/* ISO C forbids an empty translation unit. */
typedef int shmrt__yield_unused;
#endif
