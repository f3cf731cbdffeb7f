/*
 * Wake-ups, not timeouts: with the sleepers' self-check slice stretched to 3 s
 * (SHMRT_TEST_SLICE_MS, set by CTest), a sleeping consumer must be woken by the put
 * it waits for, and a producer sleeping on a full queue by the get that makes room. A lost wake
 * would cost a whole slice: a round over 2 s fails the test. This is a correctness
 * check with a wide margin, not a latency measurement.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdlib.h>
#include <unistd.h>

static const char *NAME;

static int echo(void *arg)
{
	int rounds = (int)(intptr_t)arg;
	shmrt_region_t *r;
	shmrt_queue_t a, b;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_queue_open(r, "a", 0, 4, 8, &a) ||
	    shmrt_queue_open(r, "b", 0, 4, 8, &b))
		return 1;
	for (int i = 0; i < rounds; i++) {
		uint64_t v;
		size_t len;
		if (shmrt_queue_get(&a, &v, sizeof(v), &len, -1) || shmrt_queue_put(&b, &v, 8, -1))
			return 2;
	}
	return 0;
}

static void t_sleeping_consumer_is_woken(void **s)
{
	(void)s;
	NAME = tu_name("qwake");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_queue_t a, b;
	assert_int_equal(shmrt_queue_open(r, "a", SHMRT_O_CREATE, 4, 8, &a), 0);
	assert_int_equal(shmrt_queue_open(r, "b", SHMRT_O_CREATE, 4, 8, &b), 0);
	const int rounds = 20;
	pid_t pid = tu_fork(echo, (void *)(intptr_t)rounds);
	uint64_t worst = 0;
	for (int i = 0; i < rounds; i++) {
		usleep(20000); /* the echo process is asleep in its get by now */
		uint64_t t0 = tu_ms(), v = (uint64_t)i, w;
		size_t len;
		assert_int_equal(shmrt_queue_put(&a, &v, 8, 0), 0);
		/* We sleep too, until the echo's put wakes us. */
		assert_int_equal(shmrt_queue_get(&b, &w, sizeof(w), &len, 5000000000ll), 0);
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

static int put_into_full(void *arg)
{
	(void)arg;
	shmrt_region_t *r;
	shmrt_queue_t c, b;
	uint64_t v = 99;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_queue_open(r, "c", 0, 4, 8, &c) ||
	    shmrt_queue_open(r, "b", 0, 4, 8, &b))
		return 1;
	if (shmrt_queue_put(&c, &v, 8, -1)) /* the queue is full: this sleeps */
		return 2;
	return shmrt_queue_put(&b, &v, 8, -1) ? 3 : 0;
}

static void t_sleeping_producer_is_woken(void **s)
{
	(void)s;
	NAME = tu_name("qwakep");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_queue_t c, b;
	assert_int_equal(shmrt_queue_open(r, "c", SHMRT_O_CREATE, 4, 8, &c), 0);
	assert_int_equal(shmrt_queue_open(r, "b", SHMRT_O_CREATE, 4, 8, &b), 0);
	uint64_t v = 1, w;
	size_t len;
	while (shmrt_queue_put(&c, &v, 8, 0) == 0)
		;
	pid_t pid = tu_fork(put_into_full, NULL);
	usleep(50000); /* the producer is asleep in its put by now */
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_queue_get(&c, &w, sizeof(w), &len, 0), 0); /* makes room */
	assert_int_equal(shmrt_queue_get(&b, &w, sizeof(w), &len, 5000000000ll), 0);
	uint64_t dt = tu_ms() - t0;
	print_message("a producer blocked on a full queue went on %llu ms after a get "
		      "(a lost wake would take 30000)\n", (unsigned long long)dt);
	assert_true(dt < 2000);
	assert_int_equal(w, 99);
	assert_int_equal(tu_wait(pid, 10000), 0);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_sleeping_consumer_is_woken),
		cmocka_unit_test(t_sleeping_producer_is_woken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
