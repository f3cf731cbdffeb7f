/*
 * Python's first shared-memory example: a child sets a Value and negates an Array.
 *
 *     num = Value('d', 0.0); arr = Array('i', range(10))
 *     p = Process(target=f, args=(num, arr)); p.start(); p.join()
 *     print(num.value); print(arr[:])
 */
#include <shmrt.h>

#include "pyfmt.h"

static shmrt_value_t num; /* handles cross fork: the worker uses them */
static shmrt_array_t arr;

static int f(void *arg)
{
	(void)arg;
	shmrt_value_set_f64(&num, 3.1415927);
	for (uint64_t i = 0; i < shmrt_array_len(&arr); i++) {
		int32_t v;
		if (shmrt_array_get_i32(&arr, i, &v) || shmrt_array_set_i32(&arr, i, -v))
			return 1;
	}
	return 0;
}

int main(void)
{
	shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	shmrt_scalar_t zero = { .f64 = 0.0 };
	int range10[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	shmrt_array_opts_t ao = { .init = range10 };
	check(shmrt_value_open(r, "num", SHMRT_O_CREATE, shmrt_vtype_from_code('d'), &zero, &num),
	      "Value");
	check(shmrt_array_open(r, "arr", SHMRT_O_CREATE, shmrt_vtype_from_code('i'), 10, &ao, &arr),
	      "Array");

	shmrt_worker_t p;
	check(shmrt_worker_start(f, NULL, &p), "start");
	check(shmrt_worker_join(&p, SHMRT_FOREVER, NULL), "join");

	double d = 0;
	int out[10];
	char b[48];
	shmrt_value_get_f64(&num, &d);
	printf("%s\n", py_float(d, b));
	check(shmrt_array_read(&arr, 0, out, 10), "read");
	py_print_ints(out, 10);
	shmrt_region_close(r);
	return workers_failed(1, &p);
}
