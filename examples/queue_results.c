/*
 * Collecting results from five workers through a Queue:
 *
 *     def worker(task_id, q): q.put((task_id, task_id ** 2))
 *     ... print(results)  # {0: 0, 1: 1, 2: 4, 3: 9, 4: 16}
 *
 * Python's dict keeps the order the results arrived in (usually the start order);
 * this one is printed by task id, the same every run.
 */
#include <shmrt.h>

#include "pyfmt.h"

static shmrt_queue_t result_queue; /* handles cross fork: the workers use it */

struct result {
	int task_id, result;
};

static int worker(void *arg)
{
	int task_id = *(int *)arg;
	struct result res = { task_id, task_id * task_id };
	return shmrt_queue_put(&result_queue, &res, sizeof(res), SHMRT_FOREVER) != 0;
}

int main(void)
{
	shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	check(shmrt_queue_open(r, "results", SHMRT_O_CREATE, 16, sizeof(struct result),
			       &result_queue), "Queue");

	int ids[5] = { 0, 1, 2, 3, 4 };
	void *args[5] = { &ids[0], &ids[1], &ids[2], &ids[3], &ids[4] };
	shmrt_worker_t processes[5];
	check(shmrt_workers_start(5, worker, args, processes), "start");
	check(shmrt_workers_join(5, processes, SHMRT_FOREVER), "join");

	int results[5], have[5] = { 0 };
	struct result res;
	size_t len;
	while (!shmrt_queue_empty(&result_queue) &&
	       shmrt_queue_get(&result_queue, &res, sizeof(res), &len, 0) == 0) {
		results[res.task_id] = res.result;
		have[res.task_id] = 1;
	}
	printf("{");
	for (int i = 0, first = 1; i < 5; i++)
		if (have[i]) {
			printf("%s%d: %d", first ? "" : ", ", i, results[i]);
			first = 0;
		}
	printf("}\n");
	shmrt_region_close(r);
	return workers_failed(5, processes);
}
