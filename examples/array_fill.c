/*
 * A child fills an Array('d', 5) with start_value + i; the parent prints it.
 *
 *     arr = Array('d', 5); Process(target=fill_array, args=(arr, 10)) ...
 *     print(list(arr))  # [10.0, 11.0, 12.0, 13.0, 14.0]
 */
#include <shmrt.h>

#include "pyfmt.h"

static shmrt_array_t arr; /* handles cross fork: the worker uses it */

static int fill_array(void *arg)
{
	double start_value = *(double *)arg;
	for (uint64_t i = 0; i < shmrt_array_len(&arr); i++)
		if (shmrt_array_set_f64(&arr, i, start_value + (double)i))
			return 1;
	return 0;
}

int main(void)
{
	shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	check(shmrt_array_open(r, "arr", SHMRT_O_CREATE, shmrt_vtype_from_code('d'), 5, NULL, &arr),
	      "Array");

	shmrt_worker_t p;
	double start_value = 10;
	check(shmrt_worker_start(fill_array, &start_value, &p), "start");
	check(shmrt_worker_join(&p, SHMRT_FOREVER, NULL), "join");

	double out[5];
	check(shmrt_array_read(&arr, 0, out, 5), "read");
	py_print_doubles(out, 5);
	shmrt_region_close(r);
	return workers_failed(1, &p);
}
