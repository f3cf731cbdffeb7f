/*
 * Python's bidirectional Pipe: the main process and a worker exchange three messages
 * each way, strictly alternating, so the output order is fixed.
 */
#include <shmrt.h>

#include <sys/wait.h>
#include <unistd.h>

#include "pyfmt.h"

static void ping_pong(shmrt_pipe_t *conn, const char *name)
{
	char msg[64];
	size_t len;
	for (int i = 0; i < 3; i++) {
		(void)shmrt_pipe_recv(conn, msg, sizeof(msg), &len, -1);
		printf("%s received: %s\n", name, msg);
		fflush(stdout); /* printed before the reply is sent */
		snprintf(msg, sizeof(msg), "%s reply %d", name, i);
		(void)shmrt_pipe_send(conn, msg, strlen(msg) + 1, -1);
	}
	shmrt_pipe_close(conn);
}

int main(void)
{
	shmrt_region_t *r = anon_region("pingpong"); /* inherited by the child */
	shmrt_pipe_t conn1, conn2;
	if (shmrt_pipe_open(r, "conn", SHMRT_O_CREATE, 0, 8, 64, &conn1) ||
	    shmrt_pipe_open(r, "conn", 0, 1, 8, 64, &conn2))
		return 1;
	fflush(stdout); /* children must not inherit unflushed output */
	pid_t p = fork();
	if (p == 0) {
		ping_pong(&conn2, "Worker");
		_exit(0);
	}
	char msg[64];
	size_t len;
	for (int i = 0; i < 3; i++) {
		snprintf(msg, sizeof(msg), "Main message %d", i);
		(void)shmrt_pipe_send(&conn1, msg, strlen(msg) + 1, -1);
		(void)shmrt_pipe_recv(&conn1, msg, sizeof(msg), &len, -1);
		printf("Main received: %s\n", msg);
		fflush(stdout);
	}
	waitpid(p, NULL, 0);
	shmrt_region_close(r);
	return 0;
}
