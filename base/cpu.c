/* The CPU count (cpu.h). */
#include "cpu.h"

#include <unistd.h>

#include "atomic.h"

int shmrt__ncpus(void)
{
	static int n;
	/* Relaxed: every thread computes the same value; a race only repeats sysconf. */
	int v = load_relaxed(&n);
	if (!v) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		v = c > 0 ? (int)c : 1;
		store_relaxed(&n, v);
	}
	return v;
}
