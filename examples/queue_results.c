/*
 * Collecting results from five workers through a Queue:
 *
 *     def worker(task_id, q): q.put((task_id, task_id ** 2))
 *     ... print(results)  # {0: 0, 1: 1, 2: 4, 3: 9, 4: 16}
 */
#include <shmrt.h>

#include <sys/wait.h>
#include <unistd.h>

#include "pyfmt.h"

struct result {
	int task_id, result;
};

int main(void)
{
	shmrt_region_t *r = anon_region("results"); /* inherited by children */
	shmrt_queue_t q;
	if (shmrt_queue_open(r, "results", SHMRT_O_CREATE, 16, sizeof(struct result), &q))
		return 1;
	pid_t p[5];
	fflush(stdout); /* children must not inherit unflushed output */
	for (int i = 0; i < 5; i++) {
		if ((p[i] = fork()) == 0) {
			struct result res = { i, i * i };
			_exit(shmrt_queue_put(&q, &res, sizeof(res), -1) ? 1 : 0);
		}
	}
	for (int i = 0; i < 5; i++)
		waitpid(p[i], NULL, 0);

	int results[5], have[5] = { 0 };
	struct result res;
	size_t len;
	while (!shmrt_queue_empty(&q) && shmrt_queue_get(&q, &res, sizeof(res), &len, 0) == 0) {
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
	return 0;
}
