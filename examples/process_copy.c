/*
 * Without shared memory nothing is shared: the worker appends to its own copy of the
 * list, and the parent's is untouched.
 *
 *     data = [1, 2, 3]
 *     def worker(data): data.append(4)   # the child's copy only
 *     p = Process(target=worker, args=(data,)); p.start(); p.join()
 *     print(data)   # [1, 2, 3]
 */
#include <shmrt.h>

#include "pyfmt.h"

struct list {
	int v[8];
	size_t n;
};

static int worker(void *arg)
{
	struct list *data = arg; /* the fork copied it: this is the child's copy */
	data->v[data->n++] = 4;
	return 0;
}

int main(void)
{
	struct list data = { { 1, 2, 3 }, 3 };
	shmrt_worker_t p;
	check(shmrt_worker_start(worker, &data, &p), "start");
	check(shmrt_worker_join(&p, SHMRT_FOREVER, NULL), "join");
	py_print_ints(data.v, data.n);
	return workers_failed(1, &p);
}
