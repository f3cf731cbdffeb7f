/*
 * A global variable is not shared: each process increments its own copy, and the
 * parent's stays 0.
 *
 *     counter = 0
 *     def increment(): global counter; for _ in range(100000): counter += 1
 *     p1 = Process(target=increment); p2 = Process(target=increment) ...
 *     print(f"Counter: {counter}")  # Still 0!
 */
#include <shmrt.h>

#include "pyfmt.h"

static int counter = 0; /* each process has its own copy */

static int increment(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100000; i++)
		counter += 1;
	return 0;
}

int main(void)
{
	shmrt_worker_t p[2];
	check(shmrt_worker_start(increment, NULL, &p[0]), "p1.start");
	check(shmrt_worker_start(increment, NULL, &p[1]), "p2.start");
	check(shmrt_workers_join(2, p, SHMRT_FOREVER), "join");
	printf("Counter: %d\n", counter);
	return workers_failed(2, p);
}
