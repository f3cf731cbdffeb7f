/*
 * Ten processes each add 1 to every element of Array('i', [0, 0, 0, 0, 0]) under a
 * Lock; the result is always [10, 10, 10, 10, 10].
 *
 *     def increment_array(arr, lock, amount):
 *         with lock:
 *             for i in range(len(arr)): arr[i] += amount
 */
#include <shmrt.h>

#include "pyfmt.h"

static shmrt_array_t arr; /* handles cross fork: the workers use them */
static shmrt_lock_t lock;

static int increment_array(void *arg)
{
	int32_t amount = *(int32_t *)arg;
	int rc;
	SHMRT_WITH_LOCK(&lock, NULL, NULL, rc) {
		for (uint64_t i = 0; i < shmrt_array_len(&arr); i++) {
			int32_t v;
			if (shmrt_array_get_i32(&arr, i, &v) ||
			    shmrt_array_set_i32(&arr, i, v + amount))
				return 1; /* released on the way out */
		}
	}
	return rc != 0;
}

int main(void)
{
	shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	int zeros[5] = { 0 };
	shmrt_array_opts_t ao = { .init = zeros };
	check(shmrt_array_open(r, "arr", SHMRT_O_CREATE, shmrt_vtype_from_code('i'), 5, &ao, &arr),
	      "Array");
	/* No repair: a holder killed mid-loop leaves some elements one ahead. */
	check(shmrt_lock_open(r, "lock", SHMRT_O_CREATE | SHMRT_LOCK_NO_REPAIR, 0, &lock), "Lock");

	int32_t amount = 1;
	void *args[10];
	for (int k = 0; k < 10; k++)
		args[k] = &amount;
	shmrt_worker_t processes[10];
	check(shmrt_workers_start(10, increment_array, args, processes), "start");
	check(shmrt_workers_join(10, processes, SHMRT_FOREVER), "join");

	int out[5];
	check(shmrt_array_read(&arr, 0, out, 5), "read");
	py_print_ints(out, 5);
	shmrt_region_close(r);
	return workers_failed(10, processes);
}
