/*
 * A worker sends its result back through a Queue.
 *
 *     def worker(q): q.put("result from child")
 *     q = Queue(); p = Process(target=worker, args=(q,)); p.start()
 *     print(q.get())   # 'result from child'
 *     p.join()
 */
#include <shmrt.h>

#include "pyfmt.h"

static shmrt_queue_t q; /* handles cross fork: the worker uses it */

static int worker(void *arg)
{
	(void)arg;
	const char msg[] = "result from child";
	return shmrt_queue_put(&q, msg, sizeof(msg), SHMRT_FOREVER) != 0;
}

int main(void)
{
	shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	check(shmrt_queue_open(r, "q", SHMRT_O_CREATE, 16, 64, &q), "Queue");

	shmrt_worker_t p;
	check(shmrt_worker_start(worker, NULL, &p), "start");
	char msg[64];
	size_t len;
	/* -EPIPE if the worker exited or died having put nothing after all */
	check(shmrt_queue_get(&q, msg, sizeof(msg), &len, SHMRT_FOREVER), "get");
	printf("%s\n", msg);
	check(shmrt_worker_join(&p, SHMRT_FOREVER, NULL), "join");
	shmrt_region_close(r);
	return workers_failed(1, &p);
}
