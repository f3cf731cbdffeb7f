/*
 * Python's producer/consumer over a Queue. The consumer stops when the producer
 * closes the queue and it has drained it: no None sentinel is needed.
 *
 *     def producer(q, items): for item in items: q.put(item); print(f"Produced: {item}")
 *     def consumer(q): while True: item = q.get(); ...; print(f"Consumed: {item}")
 */
#include <shmrt.h>

#include <sys/wait.h>
#include <unistd.h>

#include "pyfmt.h"

static void producer(shmrt_queue_t *q, const int *items, int n)
{
	for (int i = 0; i < n; i++) {
		(void)shmrt_queue_put(q, &items[i], sizeof(int), -1);
		printf("Produced: %d\n", items[i]);
		fflush(stdout);
	}
	shmrt_queue_close(q); /* instead of q.put(None) */
}

static void consumer(shmrt_queue_t *q)
{
	int item;
	size_t len;
	while (shmrt_queue_get(q, &item, sizeof(item), &len, -1) == 0) {
		printf("Consumed: %d\n", item);
		fflush(stdout);
	}
	/* -EPIPE: closed and drained */
}

int main(void)
{
	shmrt_region_t *r = anon_region("queue"); /* inherited by children */
	shmrt_queue_t q;
	if (shmrt_queue_open(r, "q", SHMRT_O_CREATE, 64, sizeof(int), &q))
		return 1;
	int items[] = { 1, 2, 3, 4, 5 };
	fflush(stdout); /* children must not inherit unflushed output */
	pid_t p1 = fork();
	if (p1 == 0) {
		producer(&q, items, 5);
		_exit(0);
	}
	pid_t p2 = fork();
	if (p2 == 0) {
		consumer(&q);
		_exit(0);
	}
	waitpid(p1, NULL, 0);
	waitpid(p2, NULL, 0);
	shmrt_region_close(r);
	return 0;
}
