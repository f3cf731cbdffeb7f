/*
 * A writer killed in the middle of a write: readers get -EUCLEAN (torn) within a
 * bound, never the half-written data as good and never an endless spin; a full
 * rewrite (or shmrt_array_repair) makes the stripe readable again. Then random kills
 * of writers while a reader reads: every successful read is consistent per stripe.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

enum { N = 4096, STRIPE = 512 };
static const char *NAME;

static int die_mid_write(void *p)
{
	(void)p;
	shmrt_region_t *r;
	shmrt_array_t a;
	if (shmrt_region_open(NAME, 0, NULL, &r) ||
	    shmrt_array_open(r, "A", 0, SHMRT_VT_INT64, N, NULL, &a))
		return 1;
	int64_t *p64;
	if (shmrt_array_begin_write(&a, 0, STRIPE, (void **)&p64))
		return 2;
	for (int i = 0; i < STRIPE / 2; i++)
		p64[i] = 99; /* half the stripe */
	raise(SIGKILL);
	return 0;
}

static void t_torn_detected(void **s)
{
	(void)s;
	NAME = tu_name("torn");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_array_t a;
	assert_int_equal(shmrt_array_open(r, "A", SHMRT_O_CREATE, SHMRT_VT_INT64, N, NULL, &a), 0);
	assert_int_equal(tu_wait(tu_fork(die_mid_write, NULL), 5000), 128 + SIGKILL);
	static int64_t buf[N];
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_array_read(&a, 0, buf, 10), -EUCLEAN);
	print_message("torn stripe reported after %llu ms\n", (unsigned long long)(tu_ms() - t0));
	assert_true(tu_ms() - t0 < 2000);
	assert_int_equal(shmrt_array_snapshot(&a, 0, buf, N), -EUCLEAN);
	/* Other stripes are fine. */
	assert_int_equal(shmrt_array_read(&a, STRIPE, buf, N - STRIPE), 0);
	/* A partial write does not repair it; a whole-stripe write does. */
	assert_int_equal(shmrt_array_write(&a, 0, buf, 10), 0);
	assert_int_equal(shmrt_array_read(&a, 0, buf, 10), -EUCLEAN);
	for (int i = 0; i < STRIPE; i++)
		buf[i] = 7;
	assert_int_equal(shmrt_array_write(&a, 0, buf, STRIPE), 0);
	assert_int_equal(shmrt_array_read(&a, 0, buf, N), 0);
	assert_int_equal(buf[0], 7);
	/* And the explicit repair path. */
	assert_int_equal(tu_wait(tu_fork(die_mid_write, NULL), 5000), 128 + SIGKILL);
	assert_int_equal(shmrt_array_write(&a, 100, buf, 1), 0); /* the writer's path sees it */
	assert_int_equal(shmrt_array_read(&a, 0, buf, 1), -EUCLEAN);
	assert_int_equal(shmrt_array_repair(&a, 0, 1), 0);
	assert_int_equal(shmrt_array_read(&a, 0, buf, 1), 0);
	shmrt_region_close(r);
}

static int writer_loop(void *p)
{
	(void)p;
	shmrt_region_t *r;
	shmrt_array_t a;
	if (shmrt_region_open(NAME, 0, NULL, &r) ||
	    shmrt_array_open(r, "A", 0, SHMRT_VT_INT64, N, NULL, &a))
		return 1;
	static int64_t buf[N];
	for (int64_t v = getpid() * 1000000ll;; v++) {
		for (int i = 0; i < N; i++)
			buf[i] = v;
		if (shmrt_array_write(&a, 0, buf, N))
			return 2;
	}
}

static void t_random_writer_kills(void **s)
{
	(void)s;
	NAME = tu_name("wkill");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_array_t a;
	assert_int_equal(shmrt_array_open(r, "A", SHMRT_O_CREATE, SHMRT_VT_INT64, N, NULL, &a), 0);
	static int64_t buf[N];
	uint64_t seed = 17;
	int torn = 0, good = 0;
	for (int k = 0; k < 20; k++) {
		pid_t w = tu_fork(writer_loop, NULL);
		uint64_t end = tu_ms() + 3 + tu_rand(&seed) % 10;
		while (tu_ms() < end) {
			int rc = shmrt_array_read(&a, 0, buf, N);
			assert_true(rc == 0 || rc == -EUCLEAN);
			if (rc == 0) {
				good++;
				for (int i = 0; i < N; i++)
					assert_int_equal(buf[i], buf[i / STRIPE * STRIPE]);
			}
		}
		kill(w, SIGKILL);
		assert_int_equal(tu_wait(w, 5000), 128 + SIGKILL);
		int rc = shmrt_array_read(&a, 0, buf, N);
		if (rc == -EUCLEAN) { /* the kill landed mid-write: rewrite everything */
			torn++;
			for (int i = 0; i < N; i++)
				buf[i] = 0;
			assert_int_equal(shmrt_array_write(&a, 0, buf, N), 0);
		} else {
			assert_int_equal(rc, 0);
		}
	}
	print_message("%d consistent reads, %d kills left a torn stripe\n", good, torn);
	assert_true(good > 0);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_torn_detected),
		cmocka_unit_test(t_random_writer_kills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
