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

static void t_basic(void **s)
{
	(void)s;
	int32_t init[10];
	for (int i = 0; i < 10; i++)
		init[i] = i;
	shmrt_array_opts_t o = { .init = init };
	shmrt_array_t a, b;
	assert_int_equal(shmrt_array_open(R, "arr", shmrt_vtype_from_code('i'), 10, SHMRT_O_CREATE,
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
	assert_int_equal(shmrt_array_open(R, "arr", SHMRT_VT_DOUBLE, 10, 0, NULL, &b), -EPROTOTYPE);
	assert_int_equal(shmrt_array_open(R, "arr", SHMRT_VT_INT32, 11, 0, NULL, &b), -EPROTOTYPE);
	assert_int_equal(shmrt_array_open(R, "arr", SHMRT_VT_INT32, 9, 0, NULL, &b), -EPROTOTYPE);
	assert_int_equal(shmrt_array_open(R, "arr", SHMRT_VT_INT32, 10, 0, NULL, &b), 0);
	assert_ptr_equal(b.data, a.data);
	assert_int_equal(shmrt_array_open(R, "zero", SHMRT_VT_INT32, 0, SHMRT_O_CREATE, NULL, &b),
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
	assert_int_equal(shmrt_array_open(R, "big", SHMRT_VT_DOUBLE, N, SHMRT_O_CREATE, &o, &a), 0);
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
	assert_int_equal(shmrt_array_open(R, "placed", SHMRT_VT_INT64, 1 << 20, SHMRT_O_CREATE, &o,
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
		assert_int_equal(shmrt_array_open(R, name, shmrt_vtype_from_code(*c), 3, SHMRT_O_CREATE,
						  NULL, &a), 0);
		assert_int_equal(a.elem, shmrt_vtype_size(shmrt_vtype_from_code(*c)));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_basic),
		cmocka_unit_test(t_stripes_and_kernels),
		cmocka_unit_test(t_placement),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
