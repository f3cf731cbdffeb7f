/* Values and Counters in one process: every typecode, every operation, every error. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

static shmrt_region_t *R;

static int setup(void **s)
{
	(void)s;
	R = tu_create(tu_name("value"), 8 << 20, 0);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	shmrt_region_close(R);
	return 0;
}

static void t_typecodes(void **s)
{
	(void)s;
	const char *codes = "bBhHiIlLqQfdc?";
	for (const char *c = codes; *c; c++) {
		int t = shmrt_vtype_from_code(*c);
		assert_true(t > 0);
		assert_int_equal(shmrt_vtype_code(t), *c);
		char name[16];
		snprintf(name, sizeof(name), "v_%02x", (unsigned char)*c);
		shmrt_scalar_t init, got, x;
		memset(&init, 0, sizeof(init));
		memset(&x, 0, sizeof(x));
		switch (*c) {
		case 'b': init.i8 = -5; x.i8 = 100; break;
		case 'B': init.u8 = 200; x.u8 = 7; break;
		case 'h': init.i16 = -30000; x.i16 = 1234; break;
		case 'H': init.u16 = 60000; x.u16 = 3; break;
		case 'i': init.i32 = -2000000000; x.i32 = 42; break;
		case 'I': init.u32 = 4000000000u; x.u32 = 9; break;
		case 'l': case 'q': init.i64 = -(1ll << 62); x.i64 = 77; break;
		case 'L': case 'Q': init.u64 = ~0ull; x.u64 = 5; break;
		case 'f': init.f32 = 2.5f; x.f32 = -1.25f; break;
		case 'd': init.f64 = 3.1415927; x.f64 = 1e300; break;
		case 'c': init.c = 'x'; x.c = 'y'; break;
		case '?': init.b = true; x.b = false; break;
		}
		shmrt_value_t v;
		assert_int_equal(shmrt_value_open(R, name, SHMRT_O_CREATE, t, &init, &v), 0);
		assert_int_equal(shmrt_value_load(&v, &got), 0);
		assert_memory_equal(&got, &init, shmrt_vtype_size(t));
		assert_int_equal(shmrt_value_store(&v, x), 0);
		assert_int_equal(shmrt_value_load(&v, &got), 0);
		assert_memory_equal(&got, &x, shmrt_vtype_size(t));
		shmrt_scalar_t old;
		assert_int_equal(shmrt_value_exchange(&v, init, &old), 0);
		assert_memory_equal(&old, &x, shmrt_vtype_size(t));
		/* Another element type under the same name is refused. */
		shmrt_value_t w;
		int other = t == SHMRT_VT_DOUBLE ? SHMRT_VT_INT32 : SHMRT_VT_DOUBLE;
		assert_int_equal(shmrt_value_open(R, name, 0, other, NULL, &w), -EPROTOTYPE);
		assert_int_equal(shmrt_value_open(R, name, 0, t, NULL, &w), 0);
		assert_ptr_equal(w.cell, v.cell);
	}
	assert_int_equal(shmrt_vtype_from_code('z'), -EINVAL);
	shmrt_value_t v;
	assert_int_equal(shmrt_value_open(R, "bad", SHMRT_O_CREATE, 99, NULL, &v), -EINVAL);
	/* A Value name taken by another kind of object. */
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(R, "raw", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 8, NULL,
					   &oi), 0);
	assert_int_equal(shmrt_value_open(R, "raw", 0, SHMRT_VT_INT32, NULL, &v), -EPROTOTYPE);
}

static void t_fetch_ops(void **s)
{
	(void)s;
	shmrt_value_t v, d, b;
	shmrt_scalar_t a, o, x;
	assert_int_equal(shmrt_value_open(R, "ops", SHMRT_O_CREATE, SHMRT_VT_INT32, NULL, &v), 0);
	a.i32 = 10;
	assert_int_equal(shmrt_value_fetch(&v, SHMRT_OP_ADD, a, &o), 0);
	assert_int_equal(o.i32, 0);
	a.i32 = 3;
	assert_int_equal(shmrt_value_fetch(&v, SHMRT_OP_SUB, a, &o), 0);
	a.i32 = 6;
	assert_int_equal(shmrt_value_fetch(&v, SHMRT_OP_AND, a, &o), 0); /* 7 & 6 */
	assert_int_equal(o.i32, 7);
	a.i32 = 9;
	assert_int_equal(shmrt_value_fetch(&v, SHMRT_OP_OR, a, NULL), 0); /* 6 | 9 = 15 */
	a.i32 = 5;
	assert_int_equal(shmrt_value_fetch(&v, SHMRT_OP_XOR, a, NULL), 0); /* 10 */
	a.i32 = -4;
	assert_int_equal(shmrt_value_fetch(&v, SHMRT_OP_MIN, a, &o), 0);
	assert_int_equal(o.i32, 10);
	a.i32 = 100;
	assert_int_equal(shmrt_value_fetch(&v, SHMRT_OP_MAX, a, &o), 0);
	assert_int_equal(o.i32, -4);
	assert_int_equal(shmrt_value_load(&v, &x), 0);
	assert_int_equal(x.i32, 100);
	/* The typed fast paths, and their type check. */
	int32_t i32;
	assert_int_equal(shmrt_value_fetch_add_i32(&v, 5, &i32), 0);
	assert_int_equal(i32, 100);
	assert_int_equal(shmrt_value_get_i32(&v, &i32), 0);
	assert_int_equal(i32, 105);
	int32_t expect = 1;
	assert_int_equal(shmrt_value_cas_i32(&v, &expect, 2), -EAGAIN);
	assert_int_equal(expect, 105);
	assert_int_equal(shmrt_value_cas_i32(&v, &expect, 2), 0);
	int64_t i64;
	assert_int_equal(shmrt_value_get_i64(&v, &i64), -EPROTOTYPE);
	assert_int_equal(shmrt_value_fetch_add_i64(&v, 1, NULL), -EPROTOTYPE);
	double f;
	assert_int_equal(shmrt_value_fetch_add_f64(&v, 1.0, &f), -EPROTOTYPE);
	/* Generic CAS. */
	a.i32 = 2;
	x.i32 = 7;
	assert_int_equal(shmrt_value_cas(&v, &a, x), 0);
	a.i32 = 2;
	assert_int_equal(shmrt_value_cas(&v, &a, x), -EAGAIN);
	assert_int_equal(a.i32, 7);

	/* Doubles: add/sub/min/max by CAS loop; bit operations refused. */
	assert_int_equal(shmrt_value_open(R, "dbl", SHMRT_O_CREATE, SHMRT_VT_DOUBLE, NULL, &d), 0);
	assert_int_equal(shmrt_value_set_f64(&d, 1.5), 0);
	assert_int_equal(shmrt_value_fetch_add_f64(&d, 2.25, &f), 0);
	assert_true(f == 1.5);
	a.f64 = 0.75;
	assert_int_equal(shmrt_value_fetch(&d, SHMRT_OP_SUB, a, NULL), 0);
	a.f64 = -8;
	assert_int_equal(shmrt_value_fetch(&d, SHMRT_OP_MIN, a, &o), 0);
	assert_true(o.f64 == 3.0);
	assert_int_equal(shmrt_value_get_f64(&d, &f), 0);
	assert_true(f == -8);
	assert_int_equal(shmrt_value_fetch(&d, SHMRT_OP_XOR, a, NULL), -EINVAL);
	/* Bools: logic ops only. */
	assert_int_equal(shmrt_value_open(R, "flag", SHMRT_O_CREATE, SHMRT_VT_BOOL, NULL, &b), 0);
	a.b = true;
	assert_int_equal(shmrt_value_fetch(&b, SHMRT_OP_OR, a, &o), 0);
	assert_false(o.b);
	assert_int_equal(shmrt_value_load(&b, &x), 0);
	assert_true(x.b);
	assert_int_equal(shmrt_value_fetch(&b, SHMRT_OP_ADD, a, NULL), -EINVAL);
	/* Unsigned wrap. */
	shmrt_value_t u;
	assert_int_equal(shmrt_value_open(R, "u8", SHMRT_O_CREATE, SHMRT_VT_UINT8, NULL, &u), 0);
	a.u8 = 255;
	assert_int_equal(shmrt_value_fetch(&u, SHMRT_OP_ADD, a, NULL), 0);
	a.u8 = 2;
	assert_int_equal(shmrt_value_fetch(&u, SHMRT_OP_ADD, a, NULL), 0);
	assert_int_equal(shmrt_value_load(&u, &x), 0);
	assert_int_equal(x.u8, 1);
}

static void *other_thread(void *arg)
{
	const shmrt_value_t *v = arg;
	assert_int_equal(shmrt_value_lock(v, 0), -EAGAIN);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_value_lock(v, 30000000), -ETIMEDOUT);
	assert_true(tu_ms() - t0 >= 29);
	assert_int_equal(shmrt_value_unlock(v), -EPERM);
	return NULL;
}

static void *exit_holding(void *arg)
{
	assert_int_equal(shmrt_value_lock(arg, -1), 0);
	return NULL; /* the thread ends with the lock held */
}

static void t_lock(void **s)
{
	(void)s;
	shmrt_value_t v;
	assert_int_equal(shmrt_value_open(R, "locked", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &v),
			 0);
	assert_int_equal(shmrt_value_lock(&v, -1), 0);
	int64_t x = -1;
	assert_int_equal(shmrt_value_get_i64(&v, &x), 0);
	assert_int_equal(x, 0); /* a new Value is zero */
	assert_int_equal(shmrt_value_set_i64(&v, x + 1), 0);
	assert_int_equal(shmrt_value_unlock(&v), 0);
	assert_int_equal(shmrt_value_lock(&v, 0), 0);
	assert_int_equal(shmrt_value_lock(&v, 0), -EDEADLK); /* not recursive */
	assert_int_equal(shmrt_value_consistent(&v), -EINVAL); /* nobody died */
	/* Another thread: busy, timed out, not the owner. */
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, other_thread, &v), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(shmrt_value_unlock(&v), 0);
	assert_int_equal(shmrt_value_unlock(&v), -EPERM);
	/* A thread that exits holding the lock hands it over with -EOWNERDEAD. */
	assert_int_equal(pthread_create(&t, NULL, exit_holding, &v), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_value_lock(&v, 2000000000ll), -EOWNERDEAD);
	assert_true(tu_ms() - t0 < 1000);
	assert_int_equal(shmrt_value_consistent(&v), 0);
	assert_int_equal(shmrt_value_unlock(&v), 0);
	assert_int_equal(shmrt_value_lock(&v, 0), 0);
	assert_int_equal(shmrt_value_unlock(&v), 0);
}

static void t_counter(void **s)
{
	(void)s;
	shmrt_counter_t c, c2;
	assert_int_equal(shmrt_counter_open(R, "hits", SHMRT_O_CREATE, &c), 0);
	for (int i = 0; i < 1000; i++)
		shmrt_counter_add(&c, 3);
	shmrt_counter_add(&c, -1000);
	assert_int_equal(shmrt_counter_read(&c), 2000);
	assert_int_equal(shmrt_counter_open(R, "hits", 0, &c2), 0);
	assert_int_equal(shmrt_counter_read(&c2), 2000);
	assert_int_equal(c.nrec, 256); /* one line per thread record (default 256) */
	shmrt_value_t v;
	assert_int_equal(shmrt_value_open(R, "hits", 0, SHMRT_VT_INT64, NULL, &v), -EPROTOTYPE);
	assert_true(shmrt_current_cpu() < 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_typecodes),
		cmocka_unit_test(t_fetch_ops),
		cmocka_unit_test(t_lock),
		cmocka_unit_test(t_counter),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
