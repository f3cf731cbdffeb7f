/* Arrays in one process: types, init, ranges, stripes, atomics, alignment, placement. */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <string.h>

static shmrt_region_t *R;

static int setup(void **s)
{
	(void)s;
	R = tu_create(tu_name("array"), 32 << 20, 0);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	shmrt_region_close(R);
	return 0;
}

/* The traps of a C interface over Python's typecodes: swapped arguments, the wrong
 * member of a scalar, no length. */
static void t_typed(void **s)
{
	(void)s;
	shmrt_array_t a, b;
	/* type and oflags swapped: refused, nothing created */
	assert_int_equal(shmrt_array_open(R, "typed", SHMRT_VT_DOUBLE, SHMRT_O_CREATE, 4, NULL, &a),
			 -EINVAL);
	assert_int_equal(shmrt_array_open(R, "typed", 0, SHMRT_VT_DOUBLE, 0, NULL, &a), -ENOENT);
	assert_int_equal(shmrt_array_open(R, "typed", SHMRT_O_CREATE, SHMRT_VT_DOUBLE, 4, NULL, &a),
			 0);
	assert_true(a.created);
	assert_int_equal(shmrt_array_len(&a), 4);
	assert_int_equal(shmrt_array_type(&a), SHMRT_VT_DOUBLE);
	/* the wrong C type is refused and changes nothing */
	assert_int_equal(shmrt_array_set_f64(&a, 1, 2.5), 0);
	assert_int_equal(shmrt_array_set_i32(&a, 1, 7), -EPROTOTYPE);
	assert_int_equal(shmrt_array_set_i64(&a, 1, 7), -EPROTOTYPE);
	assert_int_equal(shmrt_array_set_f32(&a, 1, 7), -EPROTOTYPE);
	double d = 0;
	int32_t i32 = 0;
	assert_int_equal(shmrt_array_get_i32(&a, 1, &i32), -EPROTOTYPE);
	assert_int_equal(shmrt_array_get_f64(&a, 1, &d), 0);
	assert_true(d == 2.5);
	assert_int_equal(shmrt_array_get_f64(&a, 4, &d), -EINVAL);
	assert_int_equal(shmrt_array_set_f64(NULL, 0, 1), -EINVAL);
	/* opened again: not created; without CREATE the length may be left to the Array */
	assert_int_equal(shmrt_array_open(R, "typed", SHMRT_O_CREATE, SHMRT_VT_DOUBLE, 4, NULL, &b),
			 0);
	assert_false(b.created);
	assert_int_equal(shmrt_array_open(R, "typed", 0, SHMRT_VT_DOUBLE, 0, NULL, &b), 0);
	assert_int_equal(shmrt_array_len(&b), 4);
	assert_ptr_equal(b.data, a.data);
	assert_int_equal(shmrt_array_open(R, "typed", 0, SHMRT_VT_INT64, 0, NULL, &b), -EPROTOTYPE);
	assert_int_equal(shmrt_array_open(R, "typed", SHMRT_O_CREATE, SHMRT_VT_DOUBLE, 0, NULL, &b),
			 -EINVAL);
	assert_int_equal(shmrt_array_open(R, "typed", SHMRT_O_CREATE | SHMRT_O_EXCL,
					  SHMRT_VT_DOUBLE, 4, NULL, &b), -EEXIST);
	/* 'l' takes i64, 'c' takes i8 */
	assert_int_equal(shmrt_array_open(R, "longs", SHMRT_O_CREATE, shmrt_vtype_from_code('l'), 2,
					  NULL, &a), 0);
	assert_int_equal(shmrt_array_set_i64(&a, 0, -5), 0);
	int64_t l = 0;
	assert_int_equal(shmrt_array_get_i64(&a, 0, &l), 0);
	assert_int_equal(l, -5);
	assert_int_equal(shmrt_array_set_u64(&a, 0, 5), -EPROTOTYPE);
	/* the same for a Value and a raw object */
	shmrt_value_t v;
	assert_int_equal(shmrt_value_open(R, "tv", SHMRT_VT_INT64, SHMRT_O_CREATE, NULL, &v),
			 -EINVAL);
	assert_int_equal(shmrt_value_open(R, "tv", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &v), 0);
	assert_true(v.created);
	assert_int_equal(shmrt_value_open(R, "tv", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &v), 0);
	assert_false(v.created);
	assert_int_equal(shmrt_value_set_f64(&v, 1.0), -EPROTOTYPE);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(R, "tb", SHMRT_TYPE_BYTES, 64, SHMRT_O_CREATE, NULL,
					   &oi),
			 -EINVAL);
	assert_int_equal(shmrt_object_open(R, "tb", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 64, NULL,
					   &oi),
			 0);
	assert_true(oi.created);
	assert_int_equal(shmrt_object_open(R, "tb", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 64, NULL,
					   &oi),
			 0);
	assert_false(oi.created);
	shmrt_counter_t c;
	assert_int_equal(shmrt_counter_open(R, "tc", SHMRT_O_CREATE, &c), 0);
	assert_true(c.created);
	assert_int_equal(shmrt_counter_open(R, "tc", SHMRT_O_CREATE, &c), 0);
	assert_false(c.created);
}

static void t_basic(void **s)
{
	(void)s;
	int32_t init[10];
	for (int i = 0; i < 10; i++)
		init[i] = i;
	shmrt_array_opts_t o = { .init = init };
	shmrt_array_t a, b;
	assert_int_equal(shmrt_array_open(R, "arr", SHMRT_O_CREATE, shmrt_vtype_from_code('i'), 10,
					  &o, &a), 0);
	assert_int_equal((uintptr_t)shmrt_array_data(&a) % 64, 0);
	int32_t out[10];
	assert_int_equal(shmrt_array_read(&a, 0, out, 10), 0);
	assert_memory_equal(out, init, sizeof(out));
	shmrt_scalar_t x;
	x.i32 = -7;
	assert_int_equal(shmrt_array_set(&a, 3, x), 0);
	assert_int_equal(shmrt_array_get(&a, 3, &x), 0);
	assert_int_equal(x.i32, -7);
	x.i32 = 5;
	shmrt_scalar_t old;
	assert_int_equal(shmrt_array_fetch(&a, 9, SHMRT_OP_ADD, x, &old), 0);
	assert_int_equal(old.i32, 9);
	assert_int_equal(shmrt_array_snapshot(&a, 2, out, 3), 0);
	assert_int_equal(out[0], 2);
	assert_int_equal(out[1], -7);
	/* Errors: ranges, types, lengths. */
	assert_int_equal(shmrt_array_read(&a, 8, out, 3), -EINVAL);
	assert_int_equal(shmrt_array_read(&a, 10, out, 1), -EINVAL);
	assert_int_equal(shmrt_array_write(&a, 0, out, 0), -EINVAL);
	assert_int_equal(shmrt_array_get(&a, 10, &x), -EINVAL);
	assert_int_equal(shmrt_array_open(R, "arr", 0, SHMRT_VT_DOUBLE, 10, NULL, &b), -EPROTOTYPE);
	assert_int_equal(shmrt_array_open(R, "arr", 0, SHMRT_VT_INT32, 11, NULL, &b), -EPROTOTYPE);
	assert_int_equal(shmrt_array_open(R, "arr", 0, SHMRT_VT_INT32, 9, NULL, &b), -EPROTOTYPE);
	assert_int_equal(shmrt_array_open(R, "arr", 0, SHMRT_VT_INT32, 10, NULL, &b), 0);
	assert_ptr_equal(b.data, a.data);
	assert_int_equal(shmrt_array_open(R, "zero", SHMRT_O_CREATE, SHMRT_VT_INT32, 0, NULL, &b),
			 -EINVAL);
	/* The whole-array lock. */
	assert_int_equal(shmrt_array_lock(&a, -1), 0);
	assert_int_equal(shmrt_array_unlock(&a), 0);
}

static void t_stripes_and_kernels(void **s)
{
	(void)s;
	/* 100k doubles, 1 KiB stripes (128 elements): writes and reads cross stripes. */
	enum { N = 100000 };
	shmrt_array_opts_t o = { .stripe_bytes = 1024 };
	shmrt_array_t a;
	assert_int_equal(shmrt_array_open(R, "big", SHMRT_O_CREATE, SHMRT_VT_DOUBLE, N, &o, &a), 0);
	assert_int_equal(a.stripe_elems, 128);
	assert_int_equal((uintptr_t)shmrt_array_data(&a) % 4096, 0);
	static double buf[N], out[N];
	for (int i = 0; i < N; i++)
		buf[i] = i * 0.5;
	assert_int_equal(shmrt_array_write(&a, 0, buf, N), 0);
	assert_int_equal(shmrt_array_read(&a, 100, out, 1000), 0);
	assert_memory_equal(out, buf + 100, 1000 * sizeof(double));
	assert_int_equal(shmrt_array_snapshot(&a, 0, out, N), 0);
	assert_memory_equal(out, buf, sizeof(buf));
	/* In place: square elements 1000..2999. */
	double *p;
	assert_int_equal(shmrt_array_begin_write(&a, 1000, 2000, (void **)&p), 0);
	for (int i = 0; i < 2000; i++)
		p[i] *= p[i];
	assert_int_equal(shmrt_array_end_write(&a, 1000, 2000), 0);
	shmrt_scalar_t x;
	assert_int_equal(shmrt_array_get(&a, 1500, &x), 0);
	assert_true(x.f64 == 750.0 * 750.0);
	/* Element atomics on doubles (CAS loop). */
	x.f64 = 1.5;
	for (int i = 0; i < 10; i++)
		assert_int_equal(shmrt_array_fetch(&a, N - 1, SHMRT_OP_ADD, x, NULL), 0);
	assert_int_equal(shmrt_array_get(&a, N - 1, &x), 0);
	assert_true(x.f64 == (N - 1) * 0.5 + 15.0);
	assert_int_equal(shmrt_array_repair(&a, 0, N), 0);
}

static void t_placement(void **s)
{
	(void)s;
	shmrt_placement_t pl = { .policy = SHMRT_PLACE_BIND, .node = 0 };
	shmrt_array_opts_t o = { .placement = &pl };
	shmrt_array_t a;
	assert_int_equal(shmrt_array_open(R, "placed", SHMRT_O_CREATE, SHMRT_VT_INT64, 1 << 20, &o,
					  &a), 0);
	memset(shmrt_array_data(&a), 1, 8 << 20);
	uint64_t mask = 0;
	assert_int_equal(shmrt_numa_memlocation(shmrt_array_data(&a), 8 << 20, &mask), 0);
	assert_int_equal(mask, 1);
	/* Every typecode makes an array of its size. */
	const char *codes = "bBhHiIlLqQfdc?";
	for (const char *c = codes; *c; c++) {
		char name[16];
		snprintf(name, sizeof(name), "t%02x", (unsigned char)*c);
		assert_int_equal(shmrt_array_open(R, name, SHMRT_O_CREATE,
						  shmrt_vtype_from_code(*c), 3,
						  NULL, &a), 0);
		assert_int_equal(a.elem, shmrt_vtype_size(shmrt_vtype_from_code(*c)));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_basic),
		cmocka_unit_test(t_typed),
		cmocka_unit_test(t_stripes_and_kernels),
		cmocka_unit_test(t_placement),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
