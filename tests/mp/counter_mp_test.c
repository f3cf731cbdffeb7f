/*
 * P processes (more than cores) x N increments on one region: atomic fetch_add,
 * add under the Value's lock, and the striped Counter all sum exactly; the unlocked
 * read-modify-write (load, then store) loses updates, as Python's docs warn.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <sched.h>

enum { P = 4, N = 200000 };

struct ctx {
	const char *name;
	int mode;
};

static int worker(void *arg)
{
	struct ctx *c = arg;
	shmrt_region_t *r;
	shmrt_value_t a, l, u;
	shmrt_counter_t k;
	if (shmrt_region_open(c->name, 0, NULL, &r) ||
	    shmrt_value_open(r, "atomic", 0, SHMRT_VT_INT64, NULL, &a) ||
	    shmrt_value_open(r, "locked", 0, SHMRT_VT_INT64, NULL, &l) ||
	    shmrt_value_open(r, "racy", 0, SHMRT_VT_INT64, NULL, &u) ||
	    shmrt_counter_open(r, "striped", 0, &k))
		return 1;
	for (int i = 0; i < N; i++) {
		int64_t x;
		switch (c->mode) {
		case 0:
			if (shmrt_value_fetch_add_i64(&a, 1, NULL))
				return 2;
			break;
		case 1:
			if (shmrt_value_lock(&l, -1))
				return 3;
			if (shmrt_value_get_i64(&l, &x) || shmrt_value_set_i64(&l, x + 1))
				return 4;
			shmrt_value_unlock(&l);
			break;
		case 2:
			shmrt_counter_add(&k, 1);
			break;
		case 3: /* what `v.value += 1` without the lock does */
			if (shmrt_value_get_i64(&u, &x))
				return 5;
			if ((i & 63) == 0)
				sched_yield(); /* let the others interleave, as a GIL switch would */
			if (shmrt_value_set_i64(&u, x + 1))
				return 6;
			break;
		}
	}
	shmrt_region_close(r);
	return 0;
}

static void t_sums(void **s)
{
	(void)s;
	const char *name = tu_name("sums");
	shmrt_region_t *r = tu_create(name, 8 << 20, 0);
	shmrt_value_t a, l, u;
	shmrt_counter_t k;
	assert_int_equal(shmrt_value_open(r, "atomic", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &a),
			 0);
	assert_int_equal(shmrt_value_open(r, "locked", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &l),
			 0);
	assert_int_equal(shmrt_value_open(r, "racy", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &u), 0);
	assert_int_equal(shmrt_counter_open(r, "striped", SHMRT_O_CREATE, &k), 0);
	for (int mode = 0; mode < 4; mode++) {
		struct ctx c = { name, mode };
		pid_t pids[P];
		for (int i = 0; i < P; i++)
			pids[i] = tu_fork(worker, &c);
		for (int i = 0; i < P; i++)
			assert_int_equal(tu_wait(pids[i], 60000), 0);
	}
	int64_t x;
	assert_int_equal(shmrt_value_get_i64(&a, &x), 0);
	assert_int_equal(x, (int64_t)P * N);
	assert_int_equal(shmrt_value_get_i64(&l, &x), 0);
	assert_int_equal(x, (int64_t)P * N);
	assert_int_equal(shmrt_counter_read(&k), (int64_t)P * N);
	assert_int_equal(shmrt_value_get_i64(&u, &x), 0);
	print_message("unlocked read-modify-write: %lld of %lld increments survived\n",
		      (long long)x, (long long)P * N);
	assert_true(x < (int64_t)P * N);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(t_sums) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
