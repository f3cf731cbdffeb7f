/*
 * Pipe wake-ups, not timeouts: with the sleepers' self-check slice stretched to 3 s
 * (SHMRT_TEST_SLICE_MS, set by CTest), a receiver asleep on an empty pipe must be
 * woken by the send it waits for, and a sender asleep on a full pipe by the recv that
 * makes room. A lost wake would cost a whole slice: a round over 2 s fails the test
 * (2 s, not less: a loaded 2-core machine may stall a process for a while).
 * CTest runs it with membarrier (the senders' and receivers' light barrier against
 * the sleepers' heavy one) and with SHMRT_TEST_NO_MEMBARRIER=1 (fences on both sides).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <unistd.h>

static const char *NAME;

static int echo(void *arg)
{
	int rounds = (int)(intptr_t)arg;
	shmrt_region_t *r;
	shmrt_pipe_t p;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_pipe_open(r, "p", 0, 1, 4, 8, &p))
		return 1;
	for (int i = 0; i < rounds; i++) {
		uint64_t v;
		size_t len;
		if (shmrt_pipe_recv(&p, &v, sizeof(v), &len, -1) || shmrt_pipe_send(&p, &v, 8, -1))
			return 2;
	}
	return 0;
}

static void t_sleeping_receiver_is_woken(void **s)
{
	(void)s;
	NAME = tu_name("pwake");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_pipe_t p;
	assert_int_equal(shmrt_pipe_open(r, "p", SHMRT_O_CREATE, 0, 4, 8, &p), 0);
	const int rounds = 20;
	pid_t pid = tu_fork(echo, (void *)(intptr_t)rounds);
	uint64_t worst = 0;
	for (int i = 0; i < rounds; i++) {
		usleep(20000); /* the echo process is asleep in its recv by now */
		uint64_t t0 = tu_ms(), v = (uint64_t)i, w;
		size_t len;
		assert_int_equal(shmrt_pipe_send(&p, &v, 8, 0), 0);
		/* We sleep too, until the echo's send wakes us. */
		assert_int_equal(shmrt_pipe_recv(&p, &w, sizeof(w), &len, 5000000000ll), 0);
		assert_int_equal(w, v);
		uint64_t dt = tu_ms() - t0;
		if (dt > worst)
			worst = dt;
	}
	print_message("slowest round %llu ms (a lost wake would take 3000)\n",
		      (unsigned long long)worst);
	assert_true(worst < 2000);
	assert_int_equal(tu_wait(pid, 10000), 0);
	shmrt_region_close(r);
}

static int send_into_full(void *arg)
{
	int rounds = (int)(intptr_t)arg;
	shmrt_region_t *r;
	shmrt_pipe_t p, ack;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_pipe_open(r, "p", 0, 1, 4, 8, &p) ||
	    shmrt_pipe_open(r, "ack", 0, 1, 4, 8, &ack))
		return 1;
	for (uint64_t v = 0; v < (uint64_t)rounds + 4; v++) {
		if (shmrt_pipe_send(&p, &v, 8, -1)) /* from the 5th on, the pipe is full */
			return 2;
		if (v >= 4 && shmrt_pipe_send(&ack, &v, 8, -1)) /* that send went through */
			return 3;
	}
	return 0;
}

static void t_sleeping_sender_is_woken(void **s)
{
	(void)s;
	NAME = tu_name("pwakes");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_pipe_t p, ack;
	assert_int_equal(shmrt_pipe_open(r, "p", SHMRT_O_CREATE, 0, 4, 8, &p), 0);
	assert_int_equal(shmrt_pipe_open(r, "ack", SHMRT_O_CREATE, 0, 4, 8, &ack), 0);
	const int rounds = 10;
	pid_t pid = tu_fork(send_into_full, (void *)(intptr_t)rounds);
	uint64_t worst = 0, w;
	size_t len;
	for (int i = 0; i < rounds; i++) {
		usleep(50000); /* the sender is asleep on the full pipe by now (on a loaded
				* machine maybe not yet: then this round sleeps no one) */
		uint64_t t0 = tu_ms();
		assert_int_equal(shmrt_pipe_recv(&p, &w, sizeof(w), &len, 5000000000ll), 0); /* room */
		assert_int_equal(w, (uint64_t)i);
		assert_int_equal(shmrt_pipe_recv(&ack, &w, sizeof(w), &len, 5000000000ll), 0);
		assert_int_equal(w, (uint64_t)i + 4);
		uint64_t dt = tu_ms() - t0;
		if (dt > worst)
			worst = dt;
	}
	print_message("a sender blocked on a full pipe went on within %llu ms of the recv "
		      "(a lost wake would take 3000)\n", (unsigned long long)worst);
	assert_true(worst < 2000);
	for (int i = rounds; i < rounds + 4; i++) {
		assert_int_equal(shmrt_pipe_recv(&p, &w, sizeof(w), &len, 5000000000ll), 0);
		assert_int_equal(w, (uint64_t)i);
	}
	assert_int_equal(tu_wait(pid, 10000), 0);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_sleeping_receiver_is_woken),
		cmocka_unit_test(t_sleeping_sender_is_woken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
