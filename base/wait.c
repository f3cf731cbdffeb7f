/* The sleepers' self-check period (wait.h). */
#include "wait.h"

#include <stdlib.h>

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
