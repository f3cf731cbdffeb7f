/*
 * Python's first shared-memory example: a child sets a Value and negates an Array.
 *
 *     num = Value('d', 0.0); arr = Array('i', range(10))
 *     p = Process(target=f, args=(num, arr)); p.start(); p.join()
 *     print(num.value); print(arr[:])
 */
#include <shmrt.h>

#include <sys/wait.h>
#include <unistd.h>

#include "pyfmt.h"

static void f(shmrt_value_t *n, shmrt_array_t *a)
{
	(void)shmrt_value_set_f64(n, 3.1415927);
	for (uint64_t i = 0; i < a->n; i++) {
		shmrt_scalar_t x;
		(void)shmrt_array_get(a, i, &x);
		x.i32 = -x.i32;
		(void)shmrt_array_set(a, i, x);
	}
}

int main(void)
{
	shmrt_region_t *r = anon_region("value_array"); /* inherited by children */

	shmrt_scalar_t zero = { .f64 = 0.0 };
	int range10[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	shmrt_array_opts_t ao = { .init = range10 };
	shmrt_value_t num;
	shmrt_array_t arr;
	if (shmrt_value_open(r, "num", SHMRT_O_CREATE, shmrt_vtype_from_code('d'), &zero, &num) ||
	    shmrt_array_open(r, "arr", SHMRT_O_CREATE, shmrt_vtype_from_code('i'), 10, &ao, &arr))
		return 2;

	fflush(stdout); /* children must not inherit unflushed output */
	pid_t p = fork();
	if (p == 0) {
		f(&num, &arr);
		_exit(0);
	}
	waitpid(p, NULL, 0);

	double d;
	int out[10];
	char b[48];
	(void)shmrt_value_get_f64(&num, &d);
	printf("%s\n", py_float(d, b));
	(void)shmrt_array_read(&arr, 0, out, 10);
	py_print_ints(out, 10);
	shmrt_region_close(r);
	return 0;
}
