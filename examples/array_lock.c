/*
 * Ten processes each add 1 to every element of Array('i', [0, 0, 0, 0, 0]) under a
 * Lock; the result is always [10, 10, 10, 10, 10].
 */
#include <shmrt.h>

#include <sys/wait.h>
#include <unistd.h>

#include "pyfmt.h"

int main(void)
{
	shmrt_region_t *r = anon_region("array_lock"); /* inherited by children */
	shmrt_array_t arr;
	shmrt_lock_t lock;
	int zeros[5] = { 0 };
	shmrt_array_opts_t ao = { .init = zeros };
	if (shmrt_array_open(r, "arr", SHMRT_O_CREATE, shmrt_vtype_from_code('i'), 5, &ao, &arr) ||
	    shmrt_lock_open(r, "lock", SHMRT_O_CREATE, 0, &lock))
		return 1;
	pid_t p[10];
	for (int k = 0; k < 10; k++) {
		fflush(stdout); /* children must not inherit unflushed output */
		if ((p[k] = fork()) == 0) {
			(void)shmrt_lock_acquire(&lock, -1);
			for (uint64_t i = 0; i < arr.n; i++) {
				shmrt_scalar_t x;
				(void)shmrt_array_get(&arr, i, &x);
				x.i32 += 1;
				(void)shmrt_array_set(&arr, i, x);
			}
			(void)shmrt_lock_release(&lock);
			_exit(0);
		}
	}
	for (int k = 0; k < 10; k++)
		waitpid(p[k], NULL, 0);
	int out[5];
	(void)shmrt_array_read(&arr, 0, out, 5);
	py_print_ints(out, 5);
	shmrt_region_close(r);
	return 0;
}
