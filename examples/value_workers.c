/*
 * Four workers each add 1 to a Value under its own lock (Python's get_lock()).
 *
 *     def worker(counter):
 *         with counter.get_lock(): counter.value += 1
 *     counter = Value("i", 0)
 *     processes = [Process(target=worker, args=(counter,)) for _ in range(4)] ...
 *     print(counter.value)   # 4
 */
#include <shmrt.h>

#include <errno.h>

#include "pyfmt.h"

static shmrt_value_t counter; /* handles cross fork: the workers use it */

static int worker(void *arg)
{
	(void)arg;
	int rc = shmrt_value_lock(&counter, SHMRT_FOREVER);
	if (rc == -EOWNERDEAD) /* a holder died: between get and set, nothing is torn */
		rc = shmrt_value_consistent(&counter);
	if (rc)
		return 1;
	int32_t v = 0;
	shmrt_value_get_i32(&counter, &v);
	shmrt_value_set_i32(&counter, v + 1);
	shmrt_value_unlock(&counter);
	return 0;
}

int main(void)
{
	shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	check(shmrt_value_open(r, "counter", SHMRT_O_CREATE, shmrt_vtype_from_code('i'), NULL,
			       &counter), "Value");

	shmrt_worker_t processes[4];
	check(shmrt_workers_start(4, worker, NULL, processes), "start");
	check(shmrt_workers_join(4, processes, SHMRT_FOREVER), "join");

	int32_t v = 0;
	shmrt_value_get_i32(&counter, &v);
	printf("%d\n", v);
	shmrt_region_close(r);
	return workers_failed(4, processes);
}
