/*
 * The Queue's end of file (shmrt/queue.h): a consumer waiting with no timeout returns
 * -EPIPE once every producer is gone and the queue is drained, whether the producers
 * exited, said they were done, or were killed with SIGKILL; never before a message
 * they put is taken, never while a producer (or a child it forked) lives. Also with
 * more consumers than cores. Every child is bounded by tu_wait and killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static shmrt_region_t *R;
static shmrt_queue_t Q;
static shmrt_counter_t GOT; /* messages taken by consumers */

/* Takes messages with no timeout until the end: exit 0 with -EPIPE, 1 otherwise. */
static int consumer(void *p)
{
	(void)p;
	char buf[64];
	size_t len;
	int rc;
	while ((rc = shmrt_queue_get(&Q, buf, sizeof(buf), &len, SHMRT_FOREVER)) == 0)
		shmrt_counter_add(&GOT, 1);
	return rc == -EPIPE ? 0 : 1;
}

struct prod {
	int n;         /* messages to put */
	int delay_ms;  /* before the first put */
	int then;      /* 0: exit, 1: wait to be killed, 2: producer_done then wait */
};

static int producer(void *p)
{
	struct prod *a = p;
	usleep((useconds_t)a->delay_ms * 1000);
	for (int i = 0; i < a->n; i++)
		if (shmrt_queue_put(&Q, &i, sizeof(i), 5000000000ll))
			return 2;
	if (a->then == 2 && shmrt_queue_producer_done(&Q))
		return 3;
	if (a->then)
		pause();
	return 0;
}

static void fresh_queue(const char *name)
{
	assert_int_equal(shmrt_queue_open(R, name, SHMRT_O_CREATE, 64, 16, &Q), 0);
	char cname[64];
	snprintf(cname, sizeof(cname), "got-%s", name);
	assert_int_equal(shmrt_counter_open(R, cname, SHMRT_O_CREATE, &GOT), 0);
}

static int64_t got(void)
{
	return shmrt_counter_read(&GOT);
}

/* Waits (bounded) until consumers took at least n messages. */
static void wait_got(int64_t n)
{
	uint64_t end = tu_ms() + 10000;
	while (got() < n && tu_ms() < end)
		usleep(1000);
	assert_true(got() >= n);
}

static void t_killed_producer(void **s)
{
	(void)s;
	/* The case: the only producer is SIGKILLed while the consumer waits
	 * forever; the consumer returns, after taking everything put. */
	fresh_queue("killed");
	pid_t c = tu_fork(consumer, NULL);
	struct prod a = { 10, 0, 1 };
	pid_t p = tu_fork(producer, &a);
	wait_got(10);
	usleep(150 * 1000); /* the consumer sleeps on: its producer lives */
	int st;
	assert_int_equal(waitpid(c, &st, WNOHANG), 0);
	kill(p, SIGKILL);
	assert_int_equal(tu_wait(p, 5000), 128 + SIGKILL);
	assert_int_equal(tu_wait(c, 5000), 0);
	assert_int_equal(got(), 10);
}

static void t_exit_and_done(void **s)
{
	(void)s;
	/* Producers that exit normally, and one that says it is done but lives on. The
	 * parent starts them under its own mark (the header's rule: otherwise the first
	 * may be gone before the second has put, and that is an end), and leaves once
	 * both have put. */
	fresh_queue("exit");
	pid_t c[2] = { tu_fork(consumer, NULL), tu_fork(consumer, NULL) };
	assert_int_equal(shmrt_queue_producer(&Q), 0);
	struct prod a = { 20, 0, 0 }, b = { 20, 0, 2 };
	pid_t p1 = tu_fork(producer, &a), p2 = tu_fork(producer, &b);
	assert_int_equal(tu_wait(p1, 5000), 0);
	wait_got(40);
	assert_int_equal(shmrt_queue_producer_done(&Q), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(tu_wait(c[i], 5000), 0);
	assert_int_equal(got(), 40);
	kill(p2, SIGKILL);
	tu_wait(p2, 5000);
}

static int no_end_consumer(void *p)
{
	(void)p;
	char buf[64];
	size_t len;
	return shmrt_queue_get(&Q, buf, sizeof(buf), &len, 400000000ll) == -ETIMEDOUT ? 0 : 1;
}

static void t_no_end_while_live(void **s)
{
	(void)s;
	/* No producer yet: no end (a consumer started first waits for them). */
	fresh_queue("none");
	assert_int_equal(tu_wait(tu_fork(no_end_consumer, NULL), 5000), 0);
	/* A declared producer that has not put yet: no end either. */
	assert_int_equal(shmrt_queue_producer(&Q), 0);
	assert_int_equal(tu_wait(tu_fork(no_end_consumer, NULL), 5000), 0);
	/* A producer that has put and then waits: no end while it lives. */
	pid_t c = tu_fork(consumer, NULL);
	struct prod a = { 5, 0, 1 };
	pid_t p = tu_fork(producer, &a);
	wait_got(5); /* the child has put: the declaring parent may leave (the header) */
	assert_int_equal(shmrt_queue_producer_done(&Q), 0);
	usleep(200 * 1000);
	int st;
	assert_int_equal(waitpid(c, &st, WNOHANG), 0);
	kill(p, SIGKILL);
	assert_int_equal(tu_wait(p, 5000), 128 + SIGKILL);
	assert_int_equal(tu_wait(c, 5000), 0);
	assert_int_equal(got(), 5);
	/* Sequential producers under a declaring parent (the consumer is forked first:
	 * being a producer is not inherited, but a consumer that is one never ends):
	 * none of the gaps is the end. */
	fresh_queue("seq");
	c = tu_fork(consumer, NULL);
	assert_int_equal(shmrt_queue_producer(&Q), 0);
	for (int i = 0; i < 3; i++) {
		struct prod b = { 4, 0, 0 };
		assert_int_equal(tu_wait(tu_fork(producer, &b), 5000), 0);
		usleep(200 * 1000); /* longer than a look's period at the producers */
	}
	assert_int_equal(shmrt_queue_producer_done(&Q), 0);
	assert_int_equal(tu_wait(c, 5000), 0);
	assert_int_equal(got(), 12);
	assert_int_equal(shmrt_queue_producer(NULL), -EINVAL);
	assert_int_equal(shmrt_queue_producer_done(NULL), -EINVAL);
}

static int short_waits(void *p)
{
	(void)p;
	char buf[64];
	size_t len;
	for (int i = 0; i < 50; i++) {
		int rc = shmrt_queue_get(&Q, buf, sizeof(buf), &len, 20000000ll);
		if (rc == -EPIPE)
			return 0;
		if (rc != -ETIMEDOUT)
			return 1;
	}
	return 2;
}

static void t_short_waits_and_no_eof(void **s)
{
	(void)s;
	/* Waits shorter than a look's period see the end too. */
	fresh_queue("short");
	struct prod a = { 3, 0, 0 };
	assert_int_equal(tu_wait(tu_fork(producer, &a), 5000), 0);
	char buf[64];
	size_t len;
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmrt_queue_get(&Q, buf, sizeof(buf), &len, 0), 0);
	assert_int_equal(tu_wait(tu_fork(short_waits, NULL), 5000), 0);
	/* A queue created without an end never reports one. */
	assert_int_equal(shmrt_queue_open(R, "noeof", SHMRT_O_CREATE | SHMRT_QUEUE_NO_EOF, 64, 16,
					  &Q), 0);
	shmrt_queue_t other;
	assert_int_equal(shmrt_queue_open(R, "noeof", 0, 64, 16, &other), -EPROTOTYPE);
	assert_int_equal(tu_wait(tu_fork(producer, &a), 5000), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmrt_queue_get(&Q, buf, sizeof(buf), &len, 0), 0);
	assert_int_equal(tu_wait(tu_fork(no_end_consumer, NULL), 5000), 0);
}

static void t_oversubscribed(void **s)
{
	(void)s;
	/* Eight consumers and four producers on two cores; the producers are killed
	 * mid-stream: every consumer ends, and nothing put is left behind. */
	fresh_queue("many");
	pid_t c[8], p[4];
	for (int i = 0; i < 8; i++)
		c[i] = tu_fork(consumer, NULL);
	struct prod a = { 1000000, 0, 0 };
	for (int i = 0; i < 4; i++)
		p[i] = tu_fork(producer, &a);
	wait_got(2000);
	for (int i = 0; i < 4; i++)
		kill(p[i], SIGKILL);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tu_wait(p[i], 5000), 128 + SIGKILL);
	for (int i = 0; i < 8; i++)
		assert_int_equal(tu_wait(c[i], 10000), 0);
	assert_int_equal(shmrt_queue_size(&Q), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_killed_producer),
		cmocka_unit_test(t_exit_and_done),
		cmocka_unit_test(t_no_end_while_live),
		cmocka_unit_test(t_short_waits_and_no_eof),
		cmocka_unit_test(t_oversubscribed),
	};
	R = tu_create(tu_name("qeof"), 64 << 20, 0);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	shmrt_region_close(R);
	tu_kill_all();
	return rc;
}
