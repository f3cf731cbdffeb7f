/*
 * A child fills an Array('d', 5) with start_value + i; the parent prints it.
 *
 *     arr = Array('d', 5); Process(target=fill_array, args=(arr, 10)) ...
 *     print(list(arr))  # [10.0, 11.0, 12.0, 13.0, 14.0]
 */
#include <shmrt.h>

#include <sys/wait.h>
#include <unistd.h>

#include "pyfmt.h"

int main(void)
{
	shmrt_region_t *r = anon_region("array_fill"); /* inherited by children */
	shmrt_array_t arr;
	if (shmrt_array_open(r, "arr", SHMRT_O_CREATE, shmrt_vtype_from_code('d'), 5, NULL, &arr))
		return 1;
	fflush(stdout); /* children must not inherit unflushed output */
	pid_t p = fork();
	if (p == 0) {
		for (uint64_t i = 0; i < arr.n; i++) {
			shmrt_scalar_t x = { .f64 = 10 + (double)i };
			(void)shmrt_array_set(&arr, i, x);
		}
		_exit(0);
	}
	waitpid(p, NULL, 0);
	double out[5];
	(void)shmrt_array_read(&arr, 0, out, 5);
	py_print_doubles(out, 5);
	shmrt_region_close(r);
	return 0;
}
