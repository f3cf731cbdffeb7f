/*
 * Python's bidirectional Pipe: the main process and a worker exchange three messages
 * each way, strictly alternating, so the output order is fixed.
 *
 *     conn1, conn2 = Pipe()
 *     p = Process(target=ping_pong, args=(conn2, "Worker")); p.start()
 *     for i in range(3): conn1.send(f"Main message {i}"); print(f"Main received: {conn1.recv()}")
 */
#include <shmrt.h>

#include "pyfmt.h"

static shmrt_pipe_t conn1, conn2; /* Pipe(): both ends, inherited by the worker */

static int ping_pong(void *arg)
{
	const char *name = arg;
	shmrt_pipe_close(&conn1); /* the main process's end */
	char msg[64];
	size_t len;
	for (int i = 0; i < 3; i++) {
		if (shmrt_pipe_recv(&conn2, msg, sizeof(msg), &len, SHMRT_FOREVER))
			return 1;
		printf("%s received: %s\n", name, msg);
		fflush(stdout); /* printed before the reply is sent */
		snprintf(msg, sizeof(msg), "%s reply %d", name, i);
		if (shmrt_pipe_send(&conn2, msg, strlen(msg) + 1, SHMRT_FOREVER))
			return 1;
	}
	shmrt_pipe_close(&conn2);
	return 0;
}

int main(void)
{
	shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	check(shmrt_pipe_pair(r, NULL, 8, 64, &conn1, &conn2), "Pipe");

	shmrt_worker_t p;
	check(shmrt_worker_start(ping_pong, "Worker", &p), "start");
	shmrt_pipe_close(&conn2); /* the worker's end */

	char msg[64];
	size_t len;
	for (int i = 0; i < 3; i++) {
		snprintf(msg, sizeof(msg), "Main message %d", i);
		check(shmrt_pipe_send(&conn1, msg, strlen(msg) + 1, SHMRT_FOREVER), "send");
		check(shmrt_pipe_recv(&conn1, msg, sizeof(msg), &len, SHMRT_FOREVER), "recv");
		printf("Main received: %s\n", msg);
		fflush(stdout);
	}
	check(shmrt_worker_join(&p, SHMRT_FOREVER, NULL), "join");
	shmrt_region_close(r);
	return workers_failed(1, &p);
}
