/*
 * Python's Pipe() pattern (shmrt_pipe_pair): both endpoints created in one process,
 * split by fork, each side closing the one it does not use. A side that dies, by exit
 * or SIGKILL, is seen by the other within a bounded time, in recv and in a send
 * waiting for room; the parent dying is seen by the child. An endpoint adopted from
 * passed descriptors (shmrt_pipe_adopt) is held as by fork. All in an anonymous region.
 * Every wait is bounded and every child killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static shmrt_region_t *R;
static shmrt_pipe_t E0, E1;

static void new_pair(void)
{
	assert_int_equal(shmrt_pipe_pair(R, NULL, 8, 64, &E0, &E1), 0);
	assert_true(E0.created);
}

/* The child's side: close the parent's endpoint, send hello, then wait forever. */
static int child_hello_wait(void *p)
{
	(void)p;
	shmrt_pipe_close(&E0);
	if (shmrt_pipe_send(&E1, "hello", 5, SHMRT_FOREVER))
		return 2;
	char b[64];
	size_t n;
	int rc = shmrt_pipe_recv(&E1, b, sizeof(b), &n, SHMRT_FOREVER);
	return rc == -EPIPE ? 0 : 3;
}

static int child_hello_exit(void *p)
{
	(void)p;
	shmrt_pipe_close(&E0);
	return shmrt_pipe_send(&E1, "hello", 5, SHMRT_FOREVER) ? 2 : 0;
}

static void recv_hello(void)
{
	char b[64];
	size_t n;
	assert_int_equal(shmrt_pipe_recv(&E0, b, sizeof(b), &n, 5000000000ll), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(b, "hello", 5);
}

/* recv with no timeout returns -EPIPE, and soon. */
static void expect_end(void)
{
	char b[64];
	size_t n;
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_pipe_recv(&E0, b, sizeof(b), &n, SHMRT_FOREVER), -EPIPE);
	assert_true(tu_ms() - t0 < 3000);
}

static void t_child_killed(void **s)
{
	(void)s;
	new_pair();
	pid_t c = tu_fork(child_hello_wait, NULL);
	shmrt_pipe_close(&E1);
	recv_hello();
	kill(c, SIGKILL);
	expect_end();
	assert_int_equal(tu_wait(c, 5000), 128 + SIGKILL);
	shmrt_pipe_close(&E0);
}

static void t_child_exits(void **s)
{
	(void)s;
	/* The child exits without closing: its message is still delivered, then the end. */
	new_pair();
	pid_t c = tu_fork(child_hello_exit, NULL);
	shmrt_pipe_close(&E1);
	assert_int_equal(tu_wait(c, 5000), 0);
	recv_hello();
	expect_end();
	shmrt_pipe_close(&E0);
}

/* The child's reports, through a kernel pipe the parent's death does not close. */
static int report_fd = -1;

/* Fills the pipe, says 'B' (the next send blocks), then sends with no timeout. */
static int child_fill(void *p)
{
	(void)p;
	shmrt_pipe_close(&E0);
	char b[64] = { 0 };
	int rc;
	while ((rc = shmrt_pipe_send(&E1, b, sizeof(b), 0)) == 0)
		;
	if (rc != -EAGAIN || write(report_fd, "B", 1) != 1)
		return 5;
	while ((rc = shmrt_pipe_send(&E1, b, sizeof(b), SHMRT_FOREVER)) == 0)
		;
	return rc == -EPIPE ? 0 : 3;
}

static int parent_side(void *p)
{
	(void)p;
	/* A parent that forks a sender, keeps its endpoint, and waits to be killed. */
	shmrt_pipe_t a, b;
	if (shmrt_pipe_pair(R, NULL, 4, 64, &a, &b))
		return 1;
	E0 = a;
	E1 = b;
	pid_t c = fork();
	if (c == 0) {
		alarm(10); /* not ours to reap: bounded by itself */
		int rc = child_fill(NULL);
		char r = (char)('0' + rc);
		_exit(write(report_fd, &r, 1) == 1 ? 0 : 4);
	}
	shmrt_pipe_close(&b);
	pause();
	return 0;
}

static void t_parent_killed(void **s)
{
	(void)s;
	/* The child fills the pipe and waits for room with no timeout; the parent
	 * holding the other endpoint is killed: the child's send returns -EPIPE. */
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	report_fd = fds[1];
	pid_t p = tu_fork(parent_side, NULL);
	close(fds[1]);
	char r = 0;
	assert_int_equal(tu_read_byte(fds[0], &r, 10000), 0);
	assert_int_equal(r, 'B'); /* the pipe is full: the child's next send waits */
	kill(p, SIGKILL);
	assert_int_equal(tu_wait(p, 5000), 128 + SIGKILL);
	assert_int_equal(tu_read_byte(fds[0], &r, 10000), 0);
	assert_int_equal(r, '0');
	close(fds[0]);
}

static void t_unused_end_kept(void **s)
{
	(void)s;
	/* A parent that keeps the child's endpoint open keeps it alive, as Python's and
	 * the kernel's pipes do: its recv runs to its timeout. */
	new_pair();
	pid_t c = tu_fork(child_hello_wait, NULL);
	recv_hello();
	kill(c, SIGKILL);
	assert_int_equal(tu_wait(c, 5000), 128 + SIGKILL);
	char b[64];
	size_t n;
	assert_int_equal(shmrt_pipe_recv(&E0, b, sizeof(b), &n, 300000000ll), -ETIMEDOUT);
	/* Closing it now is the last hold: the end comes at once. */
	shmrt_pipe_close(&E1);
	expect_end();
	shmrt_pipe_close(&E0);
	shmrt_pipe_close(&E0); /* idempotent */
	assert_int_equal(shmrt_pipe_pair(R, NULL, 8, 64, &E0, &E0), -EINVAL);
	assert_int_equal(shmrt_pipe_pair(R, NULL, 0, 64, &E0, &E1), -EINVAL);
}

static size_t nobjects(void)
{
	size_t n = 0;
	assert_int_equal(shmrt_object_list(R, NULL, 0, &n), 0);
	return n;
}

static int child_close_exit(void *p)
{
	(void)p;
	shmrt_pipe_close(&E0);
	return shmrt_pipe_send(&E1, "x", 1, SHMRT_FOREVER) ? 2 : 0;
}

static void t_cleanup_and_copies(void **s)
{
	(void)s;
	/* Python's Pipe()-per-task: thousands of pairs, each gone from the directory
	 * once nobody holds it (the default directory has 256 entries). */
	size_t n0 = nobjects();
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(shmrt_pipe_pair(R, NULL, 2, 16, &E0, &E1), 0);
		shmrt_pipe_close(&E0);
		shmrt_pipe_close(&E1);
	}
	assert_int_equal(nobjects(), n0);
	/* Split by fork: the child sends and exits without closing; the parent's last
	 * close removes the pipe. */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(shmrt_pipe_pair(R, NULL, 2, 16, &E0, &E1), 0);
		pid_t c = tu_fork(child_close_exit, NULL);
		shmrt_pipe_close(&E1);
		assert_int_equal(tu_wait(c, 5000), 0);
		char b[16];
		size_t len;
		assert_int_equal(shmrt_pipe_recv(&E0, b, sizeof(b), &len, 5000000000ll), 0);
		shmrt_pipe_close(&E0);
	}
	assert_int_equal(nobjects(), n0);
	/* A copied handle closed after its original closes nothing else: the numbers of
	 * its descriptors now belong to another file. */
	assert_int_equal(shmrt_pipe_pair(R, NULL, 2, 16, &E0, &E1), 0);
	shmrt_pipe_t copy = E0;
	shmrt_pipe_close(&E0);
	int fds[3];
	for (int i = 0; i < 3; i++)
		assert_true((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	shmrt_pipe_close(&copy);
	for (int i = 0; i < 3; i++) {
		assert_true(fcntl(fds[i], F_GETFD) >= 0);
		close(fds[i]);
	}
	shmrt_pipe_close(&E1);
	assert_int_equal(nobjects(), n0);
	/* A failed pair leaves zeroed handles (closing them does nothing). */
	assert_int_equal(shmrt_pipe_pair(R, NULL, 0, 16, &E0, &E1), -EINVAL);
	assert_null(E0.shm);
	assert_null(E1.shm);
	shmrt_pipe_close(&E0);
	assert_int_equal(nobjects(), n0);
}

/* Whether the region's directory names name. */
static bool named(const char *name)
{
	shmrt_object_info_t oi;
	int rc = shmrt_object_lookup(R, name, &oi);
	assert_true(rc == 0 || rc == -ENOENT);
	return rc == 0;
}

/* The child's side: close the parent's endpoint, send hello, hold the other until
 * killed. */
static int child_hello_hold(void *p)
{
	(void)p;
	shmrt_pipe_close(&E0);
	if (shmrt_pipe_send(&E1, "hello", 5, SHMRT_FOREVER))
		return 2;
	for (int i = 0; i < 3000; i++) /* bounded: 30 s */
		usleep(10000);
	return 3;
}

static void t_orphan_gc(void **s)
{
	(void)s;
	/* Our close comes first (the child still holds its end: the pair stays); then
	 * the child's last holder dies without closing: nobody is left to remove the
	 * pair, until shmrt_pipe_gc, or a shmrt_pipe_pair of the same name, asks the
	 * kernel whether anyone still holds it. */
	unsigned n = 99;
	/* What t_parent_killed left: a pair both of whose holders died (its last one,
	 * the grandchild that reported, may still be exiting: bounded retries). */
	uint64_t until = tu_ms() + 5000;
	do {
		assert_int_equal(shmrt_pipe_gc(R, &n), 0);
	} while (n == 0 && tu_ms() < until && usleep(1000) == 0);
	assert_int_equal(n, 1);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(shmrt_pipe_pair(R, "orphan", 8, 64, &E0, &E1), 0);
		pid_t c = tu_fork(child_hello_hold, NULL);
		shmrt_pipe_close(&E1);
		recv_hello();
		assert_int_equal(shmrt_pipe_gc(R, &n), 0);
		assert_int_equal(n, 0); /* held by both */
		shmrt_pipe_close(&E0);
		assert_true(named("orphan"));
		assert_int_equal(shmrt_pipe_gc(R, &n), 0);
		assert_int_equal(n, 0); /* the child holds its end */
		assert_true(named("orphan"));
		kill(c, SIGKILL);
		assert_int_equal(tu_wait(c, 5000), 128 + SIGKILL);
		assert_true(named("orphan")); /* left behind */
		if (round == 0) {
			assert_int_equal(shmrt_pipe_gc(R, &n), 0);
			assert_int_equal(n, 1);
			assert_false(named("orphan"));
			assert_int_equal(shmrt_pipe_gc(R, &n), 0);
			assert_int_equal(n, 0);
		}
	}
	/* The second round's leftover: taken out by the next pair of that name. */
	assert_int_equal(shmrt_pipe_pair(R, "orphan", 8, 64, &E0, &E1), 0);
	assert_true(E0.created);
	assert_int_equal(shmrt_pipe_send(&E0, "x", 1, 0), 0);
	char b[8];
	size_t len;
	assert_int_equal(shmrt_pipe_recv(&E1, b, sizeof(b), &len, 0), 0);
	shmrt_pipe_close(&E0);
	shmrt_pipe_close(&E1);
	assert_false(named("orphan")); /* both closed here: removed by the last close */
	/* A pipe opened by name, not a pair, is never taken. */
	shmrt_pipe_t a;
	assert_int_equal(shmrt_pipe_open(R, "plain", SHMRT_O_CREATE, 0, 8, 64, &a), 0);
	shmrt_pipe_close(&a);
	unsigned k = 99;
	assert_int_equal(shmrt_pipe_gc(R, &k), 0);
	assert_int_equal(k, 0);
	assert_true(named("plain"));
	assert_int_equal(shmrt_object_remove(R, "plain"), 0);
	assert_int_equal(shmrt_pipe_gc(NULL, &k), -EINVAL);
}

/* The adopting child: drops every endpoint it inherited (as a spawned process has
 * none), takes end 1 over from the passed descriptors, answers, then waits. */
static int adopt_fds[3];

static int child_adopt(void *p)
{
	(void)p;
	shmrt_pipe_close(&E0);
	shmrt_pipe_close(&E1);
	shmrt_pipe_t e;
	if (shmrt_pipe_adopt(R, "adopt.pipe", 1, 8, 64, adopt_fds, &e))
		return 2;
	char b[64];
	size_t n;
	if (shmrt_pipe_recv(&e, b, sizeof(b), &n, 5000000000ll) || n != 4 ||
	    shmrt_pipe_send(&e, "pong", 4, SHMRT_FOREVER))
		return 3;
	for (;;)
		pause();
}

static void t_adopt(void **s)
{
	(void)s;
	/* A process that is not forked with the endpoint (Python's spawn) holds it with
	 * duplicates of its descriptors: the parent closes its copy and the endpoint
	 * lives; the adopter's death is then seen. */
	assert_int_equal(shmrt_pipe_pair(R, "adopt.pipe", 8, 64, &E0, &E1), 0);
	int fds[3];
	assert_int_equal(shmrt_pipe_fds(&E1, fds), 0);
	assert_int_equal(shmrt_pipe_fds(&E0, NULL), -EINVAL);
	for (int i = 0; i < 3; i++)
		assert_true((adopt_fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0)) >= 0);
	int bad[3] = { fds[1], fds[0], fds[2] }; /* the wrong directions */
	shmrt_pipe_t x;
	assert_int_equal(shmrt_pipe_adopt(R, "adopt.pipe", 1, 8, 64, bad, &x), -EINVAL);
	pid_t c = tu_fork(child_adopt, NULL);
	for (int i = 0; i < 3; i++)
		close(adopt_fds[i]);
	shmrt_pipe_close(&E1); /* the child holds end 1 now */
	assert_int_equal(shmrt_pipe_send(&E0, "ping", 4, SHMRT_FOREVER), 0);
	char b[64];
	size_t n;
	assert_int_equal(shmrt_pipe_recv(&E0, b, sizeof(b), &n, 5000000000ll), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(b, "pong", 4);
	kill(c, SIGKILL);
	expect_end();
	assert_int_equal(tu_wait(c, 5000), 128 + SIGKILL);
	shmrt_pipe_close(&E0);
	shmrt_pipe_t y;
	assert_int_equal(shmrt_pipe_open(R, "adopt.pipe", 0, 0, 8, 64, &y), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_child_killed),
		cmocka_unit_test(t_child_exits),
		cmocka_unit_test(t_parent_killed),
		cmocka_unit_test(t_unused_end_kept),
		cmocka_unit_test(t_cleanup_and_copies),
		cmocka_unit_test(t_orphan_gc),
		cmocka_unit_test(t_adopt),
	};
	if (shmrt_region_open(NULL, SHMRT_O_CREATE, NULL, &R))
		return 1;
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	shmrt_region_close(R);
	tu_kill_all();
	return rc;
}
