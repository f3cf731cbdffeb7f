/*
 * Python's Pipe example: a sender sends a string and a list, then closes; a receiver
 * prints both.
 *
 *     conn.send("Hello from sender!"); conn.send([1, 2, 3]); conn.close()
 *     print(f"Received: {msg1}"); print(f"Received: {msg2}")
 */
#include <shmrt.h>

#include <sys/wait.h>
#include <unistd.h>

#include "pyfmt.h"

int main(void)
{
	shmrt_region_t *r = anon_region("pipe"); /* inherited by children */
	shmrt_pipe_t parent_conn, child_conn;
	if (shmrt_pipe_open(r, "conn", SHMRT_O_CREATE, 0, 8, 64, &parent_conn) ||
	    shmrt_pipe_open(r, "conn", 0, 1, 8, 64, &child_conn))
		return 1;
	fflush(stdout); /* children must not inherit unflushed output */
	pid_t p1 = fork();
	if (p1 == 0) { /* sender(child_conn) */
		const char *hello = "Hello from sender!";
		int list[3] = { 1, 2, 3 };
		(void)shmrt_pipe_send(&child_conn, hello, strlen(hello) + 1, -1);
		(void)shmrt_pipe_send(&child_conn, list, sizeof(list), -1);
		shmrt_pipe_close(&child_conn);
		_exit(0);
	}
	pid_t p2 = fork();
	if (p2 == 0) { /* receiver(parent_conn) */
		char msg1[64];
		int msg2[3];
		size_t len;
		(void)shmrt_pipe_recv(&parent_conn, msg1, sizeof(msg1), &len, -1);
		(void)shmrt_pipe_recv(&parent_conn, msg2, sizeof(msg2), &len, -1);
		printf("Received: %s\n", msg1);
		printf("Received: ");
		py_print_ints(msg2, 3);
		fflush(stdout); /* _exit does not flush */
		_exit(0);
	}
	waitpid(p1, NULL, 0);
	waitpid(p2, NULL, 0);
	shmrt_region_close(r);
	return 0;
}
