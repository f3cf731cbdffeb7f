/*
 * The Dict across processes (more processes than cores):
 *  - mixed readers/writers: each key is written by one writer with increasing
 *    sequence numbers; no reader ever sees a key's sequence go backwards, a torn
 *    value, or a value of the wrong writer; final values are exactly the last writes;
 *  - lookups of a fixed key set stay correct while other processes' inserts and
 *    deletes make every partition grow and shrink many times.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NPROC 6
#define KEYS_PER 200
#define OPS 200000

struct val {
	uint32_t writer, magic;
	uint64_t seq;
	uint64_t fill[3];
	uint64_t sum;
};

static const char *REG;

static void make_val(struct val *v, uint32_t w, uint64_t seq)
{
	v->writer = w;
	v->magic = 0xd1c7;
	v->seq = seq;
	for (int i = 0; i < 3; i++)
		v->fill[i] = seq * 0x9e3779b97f4a7c15ull + (uint64_t)i + w;
	v->sum = v->writer ^ v->seq ^ v->fill[0] ^ v->fill[1] ^ v->fill[2];
}

static int val_ok(const struct val *v, uint32_t w)
{
	return v->writer == w && v->magic == 0xd1c7 &&
	       v->sum == (v->writer ^ v->seq ^ v->fill[0] ^ v->fill[1] ^ v->fill[2]);
}

static int open_dict(shmrt_region_t **r, shmrt_dict_t *d)
{
	if (shmrt_region_open(REG, 0, NULL, r))
		return 1;
	return shmrt_dict_open(*r, "d", 0, NULL, d) ? 1 : 0;
}

/* Process w: 80% reads of random keys of any writer, 20% writes of its own keys. */
static int mixed(void *arg)
{
	uint32_t me = (uint32_t)(uintptr_t)arg;
	shmrt_region_t *r;
	shmrt_dict_t d;
	if (open_dict(&r, &d))
		return 10;
	static uint64_t seen[NPROC][KEYS_PER];
	uint64_t rng = 1000 + me, next = 1;
	for (int i = 0; i < OPS; i++) {
		uint64_t x = tu_rand(&rng);
		if (x % 100 < 20) {
			uint64_t seq = next++;
			uint32_t key[2] = { me, (uint32_t)(seq % KEYS_PER) };
			struct val v;
			make_val(&v, me, seq);
			if (shmrt_dict_set(&d, key, sizeof(key), &v, sizeof(v)))
				return 11;
		} else {
			uint32_t w = (uint32_t)((x >> 8) % NPROC), k = (uint32_t)((x >> 20) % KEYS_PER);
			uint32_t key[2] = { w, k };
			struct val v;
			size_t n;
			int rc = shmrt_dict_get(&d, key, sizeof(key), &v, sizeof(v), &n);
			if (rc == -ENOENT) {
				if (seen[w][k])
					return 12; /* it existed, and keys are never deleted */
				continue;
			}
			if (rc || n != sizeof(v) || !val_ok(&v, w) || v.seq % KEYS_PER != k)
				return 13; /* torn or foreign */
			if (v.seq < seen[w][k])
				return 14; /* went backwards */
			seen[w][k] = v.seq;
		}
	}
	/* Tell the parent how far we wrote. */
	uint32_t key[2] = { 1000 + me, 0 };
	uint64_t last = next - 1;
	if (shmrt_dict_set(&d, key, sizeof(key), &last, sizeof(last)))
		return 15;
	shmrt_region_close(r);
	return 0;
}

static void t_mixed_monotonic(void **s)
{
	(void)s;
	REG = tu_name("dictmp");
	shmrt_region_t *r = tu_create(REG, 128 << 20, 0);
	shmrt_dict_t d;
	/* Small tables, so that the writers' inserts grow them while readers read. */
	shmrt_dict_opts_t o = { .max_key = 16, .max_value = 64, .partitions = 8, .capacity = 64 };
	assert_int_equal(shmrt_dict_open(r, "d", SHMRT_O_CREATE, &o, &d), 0);
	pid_t pids[NPROC];
	for (int i = 0; i < NPROC; i++)
		pids[i] = tu_fork(mixed, (void *)(uintptr_t)i);
	for (int i = 0; i < NPROC; i++)
		assert_int_equal(tu_wait(pids[i], 60000), 0);
	/* Final values are each writer's last write to that key. */
	for (uint32_t w = 0; w < NPROC; w++) {
		uint32_t key[2] = { 1000 + w, 0 };
		uint64_t last;
		size_t n;
		assert_int_equal(shmrt_dict_get(&d, key, sizeof(key), &last, sizeof(last), &n), 0);
		assert_true(last >= KEYS_PER);
		for (uint32_t k = 0; k < KEYS_PER; k++) {
			uint64_t want = last - ((last - k) % KEYS_PER);
			uint32_t kk[2] = { w, k };
			struct val v;
			assert_int_equal(shmrt_dict_get(&d, kk, sizeof(kk), &v, sizeof(v), &n), 0);
			assert_true(val_ok(&v, w));
			assert_int_equal(v.seq, want);
		}
	}
	assert_int_equal(shmrt_dict_len(&d), NPROC * KEYS_PER + NPROC);
	shmrt_dict_stats_t st;
	assert_int_equal(shmrt_dict_stats(&d, &st), 0);
	assert_true(st.resizes > 0);
	assert_int_equal(shmrt_dict_reclaim(&d, 5000000000ll), 0);
	assert_int_equal(shmrt_dict_stats(&d, &st), 0);
	assert_int_equal(st.pending, 0);
	shmrt_region_close(r);
}

/* ---- lookups during resizes ------------------------------------------------------------ */

#define FIXED 2000
#define CHURN 50000

static int churner(void *arg)
{
	uint32_t me = (uint32_t)(uintptr_t)arg;
	shmrt_region_t *r;
	shmrt_dict_t d;
	if (open_dict(&r, &d))
		return 10;
	for (int round = 0; round < 2; round++) {
		for (uint64_t i = 0; i < CHURN; i++) {
			uint64_t key[2] = { 1 + me, i };
			if (shmrt_dict_set(&d, key, sizeof(key), &i, sizeof(i)))
				return 11;
		}
		for (uint64_t i = 0; i < CHURN; i++) {
			uint64_t key[2] = { 1 + me, i };
			if (shmrt_dict_delete(&d, key, sizeof(key)))
				return 12;
		}
	}
	shmrt_region_close(r);
	return 0;
}

static int looker(void *arg)
{
	volatile uint64_t *stop = arg;
	shmrt_region_t *r;
	shmrt_dict_t d;
	if (open_dict(&r, &d))
		return 10;
	uint64_t rng = (uint64_t)getpid(), n = 0;
	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE) || n < 1000) {
		uint64_t k = tu_rand(&rng) % FIXED, key[2] = { 0, k }, v;
		size_t len;
		if (shmrt_dict_get(&d, key, sizeof(key), &v, sizeof(v), &len) || len != 8 ||
		    v != k * 3)
			return 13;
		n++;
	}
	shmrt_region_close(r);
	return 0;
}

static void t_lookups_during_resize(void **s)
{
	(void)s;
	REG = tu_name("dictrs");
	shmrt_region_t *r = tu_create(REG, 256 << 20, 0);
	shmrt_dict_t d;
	shmrt_dict_opts_t o = { .max_key = 16, .max_value = 16, .partitions = 4, .capacity = 32 };
	assert_int_equal(shmrt_dict_open(r, "d", SHMRT_O_CREATE, &o, &d), 0);
	for (uint64_t k = 0; k < FIXED; k++) {
		uint64_t key[2] = { 0, k }, v = k * 3;
		assert_int_equal(shmrt_dict_set(&d, key, sizeof(key), &v, sizeof(v)), 0);
	}
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "stop", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 64, NULL,
					   &oi), 0);
	uint64_t *stop = shmrt_ptr(r, oi.off);
	shmrt_dict_stats_t st0, st;
	assert_int_equal(shmrt_dict_stats(&d, &st0), 0);
	pid_t look[3], churn[2];
	for (int i = 0; i < 3; i++)
		look[i] = tu_fork(looker, stop);
	for (int i = 0; i < 2; i++)
		churn[i] = tu_fork(churner, (void *)(uintptr_t)i);
	for (int i = 0; i < 2; i++)
		assert_int_equal(tu_wait(churn[i], 60000), 0);
	__atomic_store_n(stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tu_wait(look[i], 30000), 0);
	assert_int_equal(shmrt_dict_stats(&d, &st), 0);
	print_message("resizes during the run: %llu\n",
		      (unsigned long long)(st.resizes - st0.resizes));
	assert_true(st.resizes - st0.resizes >= 8); /* grew and shrank, every partition */
	assert_int_equal(shmrt_dict_len(&d), FIXED);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_mixed_monotonic),
		cmocka_unit_test(t_lookups_during_resize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
