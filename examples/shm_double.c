/*
 * SharedMemory + numpy: a worker attaches to a shared buffer by name and doubles the
 * float64 array in it; the parent prints it before and after, as numpy does.
 *
 *     shm = SharedMemory(create=True, size=arr.nbytes); shared_arr[:] = [1, 2, 3, 4, 5]
 *     print(f"Before: {shared_arr}")
 *     worker(shm_name, shape, dtype): array[:] = array * 2
 *     print(f"After: {shared_arr}")
 */
#include <shmrt.h>

#include "pyfmt.h"

static shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */

static int worker(void *arg)
{
	const char *shm_name = arg;
	shmrt_object_info_t shm; /* SharedMemory(name=shm_name) */
	if (shmrt_object_lookup(r, shm_name, &shm))
		return 1;
	double *array = shmrt_ptr(r, shm.off);
	for (size_t i = 0; i < shm.size / sizeof(double); i++)
		array[i] = array[i] * 2;
	return 0;
}

int main(void)
{
	const double arr[5] = { 1, 2, 3, 4, 5 };
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	shmrt_object_info_t shm; /* raw zeroed bytes, named in the region */
	check(shmrt_object_open(r, "shm", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, sizeof(arr), NULL,
				&shm), "SharedMemory");
	double *shared_arr = shmrt_ptr(r, shm.off);
	memcpy(shared_arr, arr, sizeof(arr));
	printf("Before: ");
	np_print_f64(shared_arr, 5);

	shmrt_worker_t p;
	check(shmrt_worker_start(worker, shm.name, &p), "start");
	check(shmrt_worker_join(&p, SHMRT_FOREVER, NULL), "join");

	printf("After: "); /* the join ordered the worker's writes before these reads */
	np_print_f64(shared_arr, 5);
	shmrt_region_close(r); /* shm.close(); no unlink: the region goes with its last process */
	return workers_failed(1, &p);
}
