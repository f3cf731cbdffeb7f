/*
 * Two processes add 100000 each to a shared counter under the Value's own lock
 * (Python's get_lock()): always 200000.
 *
 *     def increment(shared_counter, n):
 *         for _ in range(n):
 *             with shared_counter.get_lock(): shared_counter.value += 1
 */
#include <shmrt.h>

#include <errno.h>

#include "pyfmt.h"

static shmrt_value_t counter; /* handles cross fork: the workers use it */

static int increment(void *arg)
{
	int n = *(int *)arg;
	for (int i = 0; i < n; i++) {
		int rc = shmrt_value_lock(&counter, SHMRT_FOREVER);
		if (rc == -EOWNERDEAD) /* a holder died: between get and set, nothing is torn */
			rc = shmrt_value_consistent(&counter);
		if (rc)
			return 1;
		int32_t v = 0;
		shmrt_value_get_i32(&counter, &v);
		shmrt_value_set_i32(&counter, v + 1);
		shmrt_value_unlock(&counter);
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
