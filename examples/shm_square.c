/*
 * SharedMemory + numpy: four workers attach to a named region and square their slice
 * of a one-million-element double array in place; the parent prints the first ten
 * elements as numpy does, and checks every element.
 *
 *     arr[start:end] = arr[start:end] ** 2
 *     print(f"First 10: {shared_arr[:10]}")
 */
#include <shmrt.h>

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

enum { SIZE = 1000000, WORKERS = 4 };

static int compute_in_place(const char *name, uint64_t start, uint64_t end)
{
	shmrt_region_t *r;
	shmrt_array_t a;
	double *p;
	/* Attach by name, as SharedMemory(name=shm_name) does. */
	if (shmrt_region_open(name, 0, NULL, &r) ||
	    shmrt_array_open(r, "arr", 0, shmrt_vtype_from_code('d'), SIZE, NULL, &a) ||
	    shmrt_array_begin_write(&a, start, end - start, (void **)&p))
		return 1;
	for (uint64_t i = 0; i < end - start; i++)
		p[i] = p[i] * p[i];
	(void)shmrt_array_end_write(&a, start, end - start);
	return shmrt_region_close(r);
}

int main(void)
{
	char name[64];
	snprintf(name, sizeof(name), "shmrt-example-square-%d", (int)getpid());
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.size = 16 << 20;
	shmrt_region_t *r;
	shmrt_array_t a;
	if (shmrt_region_open(name, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r) ||
	    shmrt_array_open(r, "arr", SHMRT_O_CREATE, shmrt_vtype_from_code('d'), SIZE, NULL, &a))
		return 1;
	double *arr = shmrt_array_data(&a); /* no worker runs yet: plain stores */
	for (int i = 0; i < SIZE; i++)
		arr[i] = i;

	pid_t p[WORKERS];
	uint64_t chunk = SIZE / WORKERS;
	for (int i = 0; i < WORKERS; i++) {
		uint64_t start = i * chunk, end = i < WORKERS - 1 ? start + chunk : SIZE;
		fflush(stdout); /* children must not inherit unflushed output */
		if ((p[i] = fork()) == 0)
			_exit(compute_in_place(name, start, end));
	}
	int failed = 0;
	for (int i = 0; i < WORKERS; i++) {
		int st;
		waitpid(p[i], &st, 0);
		failed |= !WIFEXITED(st) || WEXITSTATUS(st);
	}
	double first[10];
	if (failed || shmrt_array_snapshot(&a, 0, first, 10))
		return 2;
	printf("First 10: [");
	for (int i = 0; i < 10; i++)
		printf("%s%2.0f.", i ? " " : "", first[i]); /* numpy: right-aligned, "0." */
	printf("]\n");
	for (int i = 0; i < SIZE; i++)
		if (arr[i] != (double)i * i)
			return 3;
	shmrt_region_close(r);
	return shmrt_region_unlink(name) ? 4 : 0; /* shm.unlink() */
}
