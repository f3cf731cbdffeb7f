/*
 * Python's Pipe example: a sender sends a string and a list, then closes; a receiver
 * prints both. Each worker closes the end it does not use, and so does the parent,
 * which uses neither.
 *
 *     parent_conn, child_conn = Pipe()
 *     sender(child_conn): conn.send("Hello from sender!"); conn.send([1, 2, 3]); conn.close()
 *     receiver(parent_conn): print(f"Received: {msg1}"); print(f"Received: {msg2}")
 */
#include <shmrt.h>

#include "pyfmt.h"

static shmrt_pipe_t parent_conn, child_conn; /* Pipe(): both ends, inherited by the workers */

static int sender(void *arg)
{
	(void)arg;
	shmrt_pipe_close(&parent_conn); /* not this side's */
	const char *hello = "Hello from sender!";
	int list[3] = { 1, 2, 3 };
	if (shmrt_pipe_send(&child_conn, hello, strlen(hello) + 1, SHMRT_FOREVER) ||
	    shmrt_pipe_send(&child_conn, list, sizeof(list), SHMRT_FOREVER))
		return 1;
	shmrt_pipe_close(&child_conn);
	return 0;
}

static int receiver(void *arg)
{
	(void)arg;
	shmrt_pipe_close(&child_conn); /* not this side's */
	char msg1[64];
	int msg2[3];
	size_t len;
	if (shmrt_pipe_recv(&parent_conn, msg1, sizeof(msg1), &len, SHMRT_FOREVER) ||
	    shmrt_pipe_recv(&parent_conn, msg2, sizeof(msg2), &len, SHMRT_FOREVER))
		return 1; /* -EPIPE: the sender closed, or died, before sending both */
	printf("Received: %s\n", msg1);
	printf("Received: ");
	py_print_ints(msg2, 3);
	return 0;
}

int main(void)
{
	shmrt_region_t *r; /* anonymous: inherited by workers, never shared with another run */
	check(shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &r), "region");
	check(shmrt_pipe_pair(r, NULL, 8, 64, &parent_conn, &child_conn), "Pipe");

	shmrt_worker_t p[2];
	check(shmrt_worker_start(sender, NULL, &p[0]), "p1.start");
	check(shmrt_worker_start(receiver, NULL, &p[1]), "p2.start");
	shmrt_pipe_close(&parent_conn); /* the workers hold the ends now */
	shmrt_pipe_close(&child_conn);
	check(shmrt_workers_join(2, p, SHMRT_FOREVER), "join");
	shmrt_region_close(r);
	return workers_failed(2, p);
}
