/*
 * Python's producer/consumer over a Queue. The producer closes the queue instead of
 * putting a None sentinel: the consumer's get returns -EPIPE once it is drained.
 *
 *     def producer(q, items): for item in items: q.put(item); print(f"Produced: {item}")
 *     def consumer(q): while True: item = q.get(); ...; print(f"Consumed: {item}")
 */
#include <shmrt.h>

#include "pyfmt.h"

static shmrt_queue_t q; /* handles cross fork: the workers use it */

static int producer(void *arg)
{
	const int *items = arg;
	for (int i = 0; i < 5; i++) {
		if (shmrt_queue_put(&q, &items[i], sizeof(int), SHMRT_FOREVER))
			return 1;
		printf("Produced: %d\n", items[i]);
		fflush(stdout);
	}
	shmrt_queue_close(&q); /* q.put(None) */
	return 0;
}

static int consumer(void *arg)
{
	(void)arg;
	int item;
	size_t len;
	while (shmrt_queue_get(&q, &item, sizeof(item), &len, SHMRT_FOREVER) == 0) {
		printf("Consumed: %d\n", item);
		fflush(stdout);
	}
	return 0; /* -EPIPE: closed and drained */
}

int main(void)
{
	shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	check(shmrt_queue_open(r, "q", SHMRT_O_CREATE, 64, sizeof(int), &q), "Queue");

	int items[] = { 1, 2, 3, 4, 5 };
	shmrt_worker_t p[2];
	check(shmrt_worker_start(producer, items, &p[0]), "p1.start");
	check(shmrt_worker_start(consumer, NULL, &p[1]), "p2.start");
	check(shmrt_workers_join(2, p, SHMRT_FOREVER), "join");
	shmrt_region_close(r);
	return workers_failed(2, p);
}
