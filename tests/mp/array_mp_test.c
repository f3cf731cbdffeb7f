/*
 * Seqlock consistency across processes. Writers repeatedly set a range to one
 * version number; readers check what they got:
 *  - snapshot of the whole array (writers publish the whole range at once through
 *    begin/end_write): never two versions in one snapshot;
 *  - read (writers use shmrt_array_write, atomic per stripe): never two versions
 *    within one stripe.
 * Two writers and two readers: more processes than cores.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>

enum { N = 65536, STRIPE = 512 /* int64s per 4 KiB stripe */, ITERS = 300 };
static const char *NAME;

static int writer(void *p)
{
	int mode = (int)(intptr_t)p >> 8, id = (int)(intptr_t)p & 0xff;
	shmrt_region_t *r;
	shmrt_array_t a;
	if (shmrt_region_open(NAME, 0, NULL, &r) ||
	    shmrt_array_open(r, "A", 0, SHMRT_VT_INT64, N, NULL, &a))
		return 1;
	static int64_t buf[N];
	for (int64_t v = 1; v <= ITERS; v++) {
		int64_t ver = v * 2 + id;
		if (mode == 0) {
			int64_t *p64;
			if (shmrt_array_begin_write(&a, 0, N, (void **)&p64))
				return 2;
			for (int i = 0; i < N; i++)
				p64[i] = ver;
			shmrt_array_end_write(&a, 0, N);
		} else {
			for (int i = 0; i < N; i++)
				buf[i] = ver;
			if (shmrt_array_write(&a, 0, buf, N))
				return 3;
		}
	}
	return 0;
}

static int reader(void *p)
{
	int mode = (int)(intptr_t)p;
	shmrt_region_t *r;
	shmrt_array_t a;
	if (shmrt_region_open(NAME, 0, NULL, &r) ||
	    shmrt_array_open(r, "A", 0, SHMRT_VT_INT64, N, NULL, &a))
		return 1;
	static int64_t buf[N];
	for (int it = 0; it < 200; it++) {
		int rc = mode == 0 ? shmrt_array_snapshot(&a, 0, buf, N) : shmrt_array_read(&a, 0, buf, N);
		if (rc)
			return 2;
		for (int i = 0; i < N; i++) {
			int64_t ref = mode == 0 ? buf[0] : buf[i / STRIPE * STRIPE];
			if (buf[i] != ref)
				return 3; /* two versions where there must be one */
		}
	}
	return 0;
}

static void run(int mode)
{
	pid_t pids[4];
	pids[0] = tu_fork(writer, (void *)(intptr_t)((mode << 8) | 0));
	pids[1] = tu_fork(writer, (void *)(intptr_t)((mode << 8) | 1));
	pids[2] = tu_fork(reader, (void *)(intptr_t)mode);
	pids[3] = tu_fork(reader, (void *)(intptr_t)mode);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tu_wait(pids[i], 60000), 0);
}

static void t_snapshot_consistency(void **s)
{
	(void)s;
	NAME = tu_name("seq");
	shmrt_region_t *r = tu_create(NAME, 16 << 20, 0);
	shmrt_array_t a;
	assert_int_equal(shmrt_array_open(r, "A", SHMRT_O_CREATE, SHMRT_VT_INT64, N, NULL, &a), 0);
	assert_int_equal(a.stripe_elems, STRIPE);
	run(0);
	run(1);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(t_snapshot_consistency) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
