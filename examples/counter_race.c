/*
 * Two processes add 100000 each to a Value without a lock. Each read and each write
 * is atomic, but `value += 1` is a read then a write: increments get lost, and the
 * total may be less than 200000, as in Python.
 *
 *     def increment(shared_counter, n):
 *         for _ in range(n): shared_counter.value += 1
 *     print(f"Counter: {counter.value}")  # May be less than 200000 - race condition!
 *
 * (shmrt_value_fetch_add_i32 would add atomically: 200000 every time.)
 */
#include <shmrt.h>

#include "pyfmt.h"

static shmrt_value_t counter; /* handles cross fork: the workers use it */

static int increment(void *arg)
{
	int n = *(int *)arg;
	for (int i = 0; i < n; i++) {
		int32_t v = 0;
		shmrt_value_get_i32(&counter, &v);     /* another process may add here: */
		shmrt_value_set_i32(&counter, v + 1);  /* its increment is overwritten */
	}
	return 0;
}

int main(void)
{
	shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	check(shmrt_value_open(r, "counter", SHMRT_O_CREATE, shmrt_vtype_from_code('i'), NULL,
			       &counter), "Value");

	int n = 100000;
	shmrt_worker_t p[2];
	check(shmrt_worker_start(increment, &n, &p[0]), "p1.start");
	check(shmrt_worker_start(increment, &n, &p[1]), "p2.start");
	check(shmrt_workers_join(2, p, SHMRT_FOREVER), "join");

	int32_t v = 0;
	shmrt_value_get_i32(&counter, &v);
	printf("Counter: %d\n", v);
	shmrt_region_close(r);
	return workers_failed(2, p);
}
