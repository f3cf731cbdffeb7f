/*
 * Arrays made from a list of values, or from a size (zeros).
 *
 *     arr1 = Array('i', [1, 2, 3, 4, 5]); print(list(arr1))  # [1, 2, 3, 4, 5]
 *     arr2 = Array('d', 10); print(list(arr2))               # [0.0, 0.0, ..., 0.0]
 */
#include <shmrt.h>

#include "pyfmt.h"

int main(void)
{
	shmrt_region_t *r; /* anonymous: never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");

	int values[5] = { 1, 2, 3, 4, 5 };
	shmrt_array_opts_t ao = { .init = values };
	shmrt_array_t arr1, arr2;
	check(shmrt_array_open(r, "arr1", SHMRT_O_CREATE, shmrt_vtype_from_code('i'), 5, &ao,
			       &arr1), "Array");
	check(shmrt_array_open(r, "arr2", SHMRT_O_CREATE, shmrt_vtype_from_code('d'), 10, NULL,
			       &arr2), "Array");

	int out1[5];
	double out2[10];
	check(shmrt_array_read(&arr1, 0, out1, shmrt_array_len(&arr1)), "read");
	py_print_ints(out1, 5);
	check(shmrt_array_read(&arr2, 0, out2, shmrt_array_len(&arr2)), "read");
	py_print_doubles(out2, 10);
	shmrt_region_close(r);
	return 0;
}
