/*
 * Two processes add 100000 each to a shared counter under a Lock: always 200000.
 *
 *     def increment(shared_counter, lock, n):
 *         for _ in range(n):
 *             with lock: shared_counter.value += 1
 */
#include <shmrt.h>

#include "pyfmt.h"

static shmrt_value_t counter; /* handles cross fork: the workers use them */
static shmrt_lock_t lock;

static int increment(void *arg)
{
	int n = *(int *)arg, rc = 0;
	for (int i = 0; i < n && rc == 0; i++)
		SHMRT_WITH_LOCK(&lock, NULL, NULL, rc) {
			int32_t v = 0;
			shmrt_value_get_i32(&counter, &v);
			shmrt_value_set_i32(&counter, v + 1);
		}
	return rc != 0;
}

int main(void)
{
	shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	check(shmrt_value_open(r, "counter", SHMRT_O_CREATE, shmrt_vtype_from_code('i'), NULL,
			       &counter), "Value");
	/* No invariant for a holder's death to break: no repair. */
	check(shmrt_lock_open(r, "lock", SHMRT_O_CREATE | SHMRT_LOCK_NO_REPAIR, 0, &lock), "Lock");

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
