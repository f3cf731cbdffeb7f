/*
 * SharedMemory + numpy: four workers attach to a shared buffer by name and square
 * their slice of a one-million-element float64 array in place; the parent prints the
 * first ten elements as numpy does.
 *
 *     shm = SharedMemory(create=True, size=arr.nbytes)
 *     compute_in_place(shm_name, shape, dtype, start, end):
 *         arr[start:end] = arr[start:end] ** 2
 *     print(f"First 10: {shared_arr[:10]}")
 */
#include <shmrt.h>

#include "pyfmt.h"

enum { SIZE = 1000000, NUM_WORKERS = 4 };

static shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */

struct task {
	const char *shm_name;
	size_t start, end;
};

static int compute_in_place(void *arg)
{
	const struct task *t = arg;
	shmrt_object_info_t shm; /* SharedMemory(name=shm_name) */
	if (shmrt_object_lookup(r, t->shm_name, &shm))
		return 1;
	double *arr = shmrt_ptr(r, shm.off); /* its slice is this worker's alone */
	for (size_t i = t->start; i < t->end; i++)
		arr[i] = arr[i] * arr[i];
	return 0;
}

int main(void)
{
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	shmrt_object_info_t shm; /* raw zeroed bytes, named in the region */
	check(shmrt_object_open(r, "shm", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, SIZE * sizeof(double),
				NULL, &shm), "SharedMemory");
	double *shared_arr = shmrt_ptr(r, shm.off);
	for (size_t i = 0; i < SIZE; i++) /* np.arange(size, dtype=np.float64) */
		shared_arr[i] = (double)i;

	struct task tasks[NUM_WORKERS];
	void *args[NUM_WORKERS];
	size_t chunk_size = SIZE / NUM_WORKERS;
	for (int i = 0; i < NUM_WORKERS; i++) {
		size_t start = i * chunk_size;
		size_t end = i < NUM_WORKERS - 1 ? start + chunk_size : SIZE;
		tasks[i] = (struct task){ shm.name, start, end };
		args[i] = &tasks[i];
	}
	shmrt_worker_t processes[NUM_WORKERS];
	check(shmrt_workers_start(NUM_WORKERS, compute_in_place, args, processes), "start");
	check(shmrt_workers_join(NUM_WORKERS, processes, SHMRT_FOREVER), "join");

	printf("First 10: "); /* the joins ordered the workers' writes before these reads */
	np_print_f64(shared_arr, 10);
	shmrt_region_close(r); /* shm.close(); no unlink: the region goes with its last process */
	return workers_failed(NUM_WORKERS, processes);
}
