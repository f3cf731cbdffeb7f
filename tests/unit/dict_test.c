/* The Dict in one process: every call and its errors, random operations against a
 * reference map (with grows and shrinks), typed keys, zero-copy reads, and memory
 * that returns to its baseline after a million updates (reclamation works). */
#define _GNU_SOURCE
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static shmrt_region_t *R;

static int setup(void **s)
{
	(void)s;
	R = tu_create(tu_name("dict"), 128 << 20, 0);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	shmrt_region_close(R);
	return 0;
}

static void t_calls_and_errors(void **s)
{
	(void)s;
	shmrt_dict_t d, d2;
	shmrt_dict_opts_t o = { .max_key = 32, .max_value = 100, .partitions = 4, .capacity = 16 };
	shmrt_dict_opts_t bad = { .partitions = 3 };
	assert_int_equal(shmrt_dict_open(R, "bad", SHMRT_O_CREATE, &bad, &d2), -EINVAL);
	assert_int_equal(shmrt_dict_open(R, "d", 0, &o, &d), -ENOENT);
	assert_int_equal(shmrt_dict_open(R, "d", SHMRT_O_CREATE, &o, &d), 0);
	shmrt_dict_opts_t more = { .max_value = 200 };
	assert_int_equal(shmrt_dict_open(R, "d", 0, &more, &d2), -EPROTOTYPE);
	assert_int_equal(shmrt_dict_open(R, "d", 0, NULL, &d2), 0);
	shmrt_value_t v;
	assert_int_equal(shmrt_value_open(R, "d", 0, SHMRT_VT_INT64, NULL, &v), -EPROTOTYPE);

	char buf[128], big[200];
	size_t n = 77;
	memset(big, 'b', sizeof(big));
	assert_int_equal(shmrt_dict_get(&d, "k", 1, buf, sizeof(buf), &n), -ENOENT);
	assert_int_equal(n, 77); /* untouched */
	assert_int_equal(shmrt_dict_contains(&d, "k", 1), 0);
	assert_int_equal(shmrt_dict_set(&d, "k", 1, "v1", 2), 0);
	assert_int_equal(shmrt_dict_contains(&d2, "k", 1), 1);
	assert_int_equal(shmrt_dict_get(&d2, "k", 1, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "v1", 2);
	/* Too large a value or key: refused, the old value stays. */
	assert_int_equal(shmrt_dict_set(&d, "k", 1, big, 101), -EMSGSIZE);
	assert_int_equal(shmrt_dict_set(&d, big, 33, "x", 1), -EMSGSIZE);
	assert_int_equal(shmrt_dict_get(&d, big, 33, buf, sizeof(buf), &n), -EMSGSIZE);
	assert_int_equal(shmrt_dict_set(&d, "k", 1, big, 100), 0);
	/* A buffer too small: -EMSGSIZE, the size needed, the buffer untouched. */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(shmrt_dict_get(&d, "k", 1, buf, 99, &n), -EMSGSIZE);
	assert_int_equal(n, 100);
	assert_int_equal(buf[0], 0);
	/* Empty key and empty value. */
	assert_int_equal(shmrt_dict_set(&d, "", 0, "", 0), 0);
	assert_int_equal(shmrt_dict_get(&d, "", 0, buf, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(shmrt_dict_len(&d), 2);
	/* setdefault */
	assert_int_equal(shmrt_dict_setdefault(&d, "s", 1, "first", 5, buf, sizeof(buf), &n), 1);
	assert_int_equal(shmrt_dict_setdefault(&d, "s", 1, "second", 6, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "first", 5);
	assert_int_equal(shmrt_dict_setdefault(&d, "s", 1, "third", 5, NULL, 0, NULL), 0);
	/* cas */
	assert_int_equal(shmrt_dict_cas(&d, "s", 1, "wrong", 5, "x", 1), -EAGAIN);
	assert_int_equal(shmrt_dict_cas(&d, "s", 1, "first", 5, "x", 1), 0);
	assert_int_equal(shmrt_dict_cas(&d, "s", 1, NULL, 0, "y", 1), -EAGAIN);
	assert_int_equal(shmrt_dict_cas(&d, "t", 1, "x", 1, "y", 1), -ENOENT);
	assert_int_equal(shmrt_dict_cas(&d, "t", 1, NULL, 0, "y", 1), 0);
	assert_int_equal(shmrt_dict_get(&d, "s", 1, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(buf[0], 'x');
	/* delete */
	assert_int_equal(shmrt_dict_delete(&d, "s", 1), 0);
	assert_int_equal(shmrt_dict_delete(&d, "s", 1), -ENOENT);
	assert_int_equal(shmrt_dict_len(&d), 3);
	shmrt_dict_stats_t st;
	assert_int_equal(shmrt_dict_stats(&d, &st), 0);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.partitions, 4);
	assert_true(st.buckets >= 4 * 8);
	assert_true(st.bytes > 0);
}

static int incr(const void *old, size_t oldlen, void *nb, size_t cap, size_t *nl, void *ctx)
{
	(void)cap;
	int64_t x = 0;
	if (*(int *)ctx == 1)
		return SHMRT_DICT_DELETE;
	if (*(int *)ctx == 2)
		return -EDOM;
	if (old) {
		assert_int_equal(oldlen, 8);
		memcpy(&x, old, 8);
	}
	x++;
	memcpy(nb, &x, 8);
	*nl = 8;
	return SHMRT_DICT_STORE;
}

static void t_update_typed(void **s)
{
	(void)s;
	shmrt_dict_t d;
	assert_int_equal(shmrt_dict_open(R, "typed", SHMRT_O_CREATE, NULL, &d), 0);
	int mode = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(shmrt_dict_update(&d, "c", 1, incr, &mode), SHMRT_DICT_STORE);
	int64_t x = 0;
	assert_int_equal(shmrt_dict_get_i64(&d, 'c', &x), -ENOENT); /* "c" is not the 8-byte 'c' */
	size_t n;
	assert_int_equal(shmrt_dict_get(&d, "c", 1, &x, 8, &n), 0);
	assert_int_equal(x, 5);
	mode = 2;
	assert_int_equal(shmrt_dict_update(&d, "c", 1, incr, &mode), -EDOM);
	mode = 1;
	assert_int_equal(shmrt_dict_update(&d, "c", 1, incr, &mode), SHMRT_DICT_DELETE);
	assert_int_equal(shmrt_dict_contains(&d, "c", 1), 0);

	assert_int_equal(shmrt_dict_set_i64(&d, -5, 42), 0);
	assert_int_equal(shmrt_dict_get_i64(&d, -5, &x), 0);
	assert_int_equal(x, 42);
	double f;
	assert_int_equal(shmrt_dict_set_f64(&d, 7, 2.5), 0);
	assert_int_equal(shmrt_dict_get_f64(&d, 7, &f), 0);
	assert_true(f == 2.5);
	/* A double key with an integral value is the integer key, as in Python. */
	int64_t v = 99;
	assert_int_equal(shmrt_dict_set_f64key(&d, 7.0, &v, 8), 0);
	assert_int_equal(shmrt_dict_get_i64(&d, 7, &x), 0);
	assert_int_equal(x, 99);
	assert_int_equal(shmrt_dict_set_f64key(&d, -0.0, &v, 8), 0);
	assert_int_equal(shmrt_dict_get_i64(&d, 0, &x), 0);
	assert_int_equal(shmrt_dict_set_f64key(&d, 1.5, "a", 1), 0);
	char c;
	assert_int_equal(shmrt_dict_get_f64key(&d, 1.5, &c, 1, &n), 0);
	assert_int_equal(c, 'a');
	assert_int_equal(shmrt_dict_get_f64key(&d, 1.25, &c, 1, &n), -ENOENT);
	assert_int_equal(shmrt_dict_set_f64key(&d, NAN, "a", 1), -EINVAL);
	/* A value that is not 8 bytes, read as an integer. */
	assert_int_equal(shmrt_dict_set(&d, &v, 8, "abc", 3), 0);
	assert_int_equal(shmrt_dict_get_i64(&d, 99, &x), -EPROTO);
}

/* ---- random operations against a reference ---------------------------------------- */

#define NKEYS 3000
struct ref {
	int present;
	size_t len;
	unsigned char val[48];
};
static struct ref ref[NKEYS];

static size_t key_of(int i, char *k)
{
	/* lengths 1..40, distinct per i */
	int len = snprintf(k, 48, "key-%d-", i);
	int pad = i % 33;
	memset(k + len, 'a' + i % 26, (size_t)pad);
	return (size_t)(len + pad);
}

struct walk {
	int seen[NKEYS];
	int n, bad, stop_at;
};

static int walk_fn(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct walk *w = ctx;
	char buf[64];
	int i = atoi((const char *)k + 4);
	if (i < 0 || i >= NKEYS || key_of(i, buf) != kl || memcmp(buf, k, kl) ||
	    !ref[i].present || ref[i].len != vl || memcmp(ref[i].val, v, vl))
		w->bad++;
	else
		w->seen[i]++;
	w->n++;
	return w->stop_at && w->n == w->stop_at ? 7 : 0;
}

static void check_all(const shmrt_dict_t *d)
{
	uint64_t n = 0;
	for (int i = 0; i < NKEYS; i++) {
		char k[64], v[64];
		size_t kl = key_of(i, k), vl;
		int rc = shmrt_dict_get(d, k, kl, v, sizeof(v), &vl);
		if (ref[i].present) {
			assert_int_equal(rc, 0);
			assert_int_equal(vl, ref[i].len);
			assert_memory_equal(v, ref[i].val, vl);
			n++;
		} else {
			assert_int_equal(rc, -ENOENT);
		}
	}
	assert_int_equal(shmrt_dict_len(d), n);
	static struct walk w;
	memset(&w, 0, sizeof(w));
	assert_int_equal(shmrt_dict_iterate(d, walk_fn, &w), 0);
	assert_int_equal(w.bad, 0);
	assert_int_equal(w.n, n);
	for (int i = 0; i < NKEYS; i++)
		assert_int_equal(w.seen[i], ref[i].present);
}

static void t_random_vs_reference(void **s)
{
	(void)s;
	shmrt_dict_t d;
	shmrt_dict_opts_t o = { .max_key = 48, .max_value = 48, .partitions = 4, .capacity = 8 };
	assert_int_equal(shmrt_dict_open(R, "rand", SHMRT_O_CREATE, &o, &d), 0);
	memset(ref, 0, sizeof(ref));
	uint64_t rng = 12345;
	shmrt_dict_stats_t st;
	for (int round = 0; round < 3; round++) {
		/* Phase A favours inserts (grows), phase B deletes (shrinks). */
		for (int phase = 0; phase < 2; phase++) {
			for (int it = 0; it < 40000; it++) {
				uint64_t x = tu_rand(&rng);
				int i = (int)(x % NKEYS), op = (int)((x >> 20) % 100);
				char k[64];
				unsigned char v[48];
				size_t kl = key_of(i, k), vl = (x >> 32) % 49;
				for (size_t j = 0; j < vl; j++)
					v[j] = (unsigned char)(x >> (j % 8));
				int ins = phase == 0 ? 60 : 20;
				if (op < ins) {
					assert_int_equal(shmrt_dict_set(&d, k, kl, v, vl), 0);
					ref[i].present = 1;
					ref[i].len = vl;
					memcpy(ref[i].val, v, vl);
				} else if (op < 90) {
					int rc = shmrt_dict_delete(&d, k, kl);
					assert_int_equal(rc, ref[i].present ? 0 : -ENOENT);
					ref[i].present = 0;
				} else if (op < 95) {
					int rc = shmrt_dict_setdefault(&d, k, kl, v, vl, NULL, 0, NULL);
					assert_int_equal(rc, ref[i].present ? 0 : 1);
					if (!ref[i].present) {
						ref[i].present = 1;
						ref[i].len = vl;
						memcpy(ref[i].val, v, vl);
					}
				} else {
					int rc = shmrt_dict_cas(&d, k, kl, ref[i].present ? ref[i].val : NULL,
								ref[i].len, v, vl);
					assert_int_equal(rc, 0);
					ref[i].present = 1;
					ref[i].len = vl;
					memcpy(ref[i].val, v, vl);
				}
			}
			check_all(&d);
		}
	}
	assert_int_equal(shmrt_dict_stats(&d, &st), 0);
	assert_true(st.resizes >= 6); /* grew from 8 buckets per partition, and shrank */
	/* An iteration that stops early returns the callback's value. */
	static struct walk w;
	memset(&w, 0, sizeof(w));
	w.stop_at = 3;
	if (shmrt_dict_len(&d) >= 3)
		assert_int_equal(shmrt_dict_iterate(&d, walk_fn, &w), 7);
	/* clear */
	assert_int_equal(shmrt_dict_clear(&d), 0);
	memset(ref, 0, sizeof(ref));
	check_all(&d);
	assert_int_equal(shmrt_dict_set(&d, "key-1-a", 7, "z", 1), 0);
	assert_int_equal(shmrt_dict_len(&d), 1);
	assert_int_equal(shmrt_dict_reclaim(&d, 1000000000), 0);
	assert_int_equal(shmrt_dict_stats(&d, &st), 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.pending_bytes, 0);
}

/* ---- zero-copy reads ------------------------------------------------------------------- */

static void t_zero_copy(void **s)
{
	(void)s;
	shmrt_dict_t d;
	assert_int_equal(shmrt_dict_open(R, "zc", SHMRT_O_CREATE, NULL, &d), 0);
	assert_int_equal(shmrt_dict_set(&d, "k", 1, "old-value", 9), 0);
	const void *p;
	size_t n;
	assert_int_equal(shmrt_dict_get_ref(&d, "k", 1, &p, &n), -EPERM);
	assert_int_equal(shmrt_dict_read_lock(&d), 0);
	assert_int_equal(shmrt_dict_read_lock(&d), 0); /* nested */
	assert_int_equal(shmrt_dict_get_ref(&d, "k", 1, &p, &n), 0);
	assert_int_equal(n, 9);
	assert_int_equal((uintptr_t)p % 8, 0);
	/* A replacement and many more retirements meanwhile: the node read stays intact. */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(shmrt_dict_set(&d, "k", 1, "new-value", 9), 0);
	assert_memory_equal(p, "old-value", 9);
	assert_int_equal(shmrt_dict_reclaim(&d, 0), -EDEADLK);
	shmrt_dict_stats_t st;
	assert_int_equal(shmrt_dict_stats(&d, &st), 0);
	assert_true(st.pending >= 1000); /* our own section holds them */
	shmrt_dict_read_unlock(&d);
	assert_int_equal(shmrt_dict_get_ref(&d, "k", 1, &p, &n), 0); /* still inside */
	assert_memory_equal(p, "new-value", 9);
	shmrt_dict_read_unlock(&d);
	assert_int_equal(shmrt_dict_get_ref(&d, "k", 1, &p, &n), -EPERM);
	assert_int_equal(shmrt_dict_reclaim(&d, 1000000000), 0);
	assert_int_equal(shmrt_dict_stats(&d, &st), 0);
	assert_int_equal(st.pending, 0);
	assert_true(st.reclaimed >= 1000);
}

/* ---- memory returns to its baseline ------------------------------------------------------ */

static void t_memory_bounded(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("dictmem"), 64 << 20, 0);
	shmrt_dict_t d;
	shmrt_dict_opts_t o = { .max_key = 16, .max_value = 64, .capacity = 1024 };
	assert_int_equal(shmrt_dict_open(r, "m", SHMRT_O_CREATE, &o, &d), 0);
	char val[64] = { 0 };
	for (int64_t k = 0; k < 1000; k++)
		assert_int_equal(shmrt_dict_set(&d, &k, 8, val, 64), 0);
	assert_int_equal(shmrt_dict_reclaim(&d, 1000000000), 0);
	shmrt_region_stats_t rs;
	assert_int_equal(shmrt_region_stats(r, &rs), 0);
	int64_t base = (int64_t)rs.small_bytes_in_use;
	shmrt_dict_stats_t st;
	uint64_t max_pending = 0, rng = 7;
	const int updates = 1000000;
	for (int i = 0; i < updates; i++) {
		int64_t k = (int64_t)(tu_rand(&rng) % 1000);
		memcpy(val, &i, sizeof(i));
		assert_int_equal(shmrt_dict_set(&d, &k, 8, val, 64), 0);
		if (i % 4096 == 0) {
			assert_int_equal(shmrt_dict_stats(&d, &st), 0);
			if (st.pending > max_pending)
				max_pending = st.pending;
		}
	}
	/* Without any call to reclaim, the writers' polls kept the backlog bounded:
	 * at most POLL_EVERY (64) per partition (64 partitions). */
	assert_true(max_pending <= 64 * 64);
	assert_int_equal(shmrt_dict_reclaim(&d, 1000000000), 0);
	assert_int_equal(shmrt_dict_stats(&d, &st), 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.entries, 1000);
	assert_int_equal(shmrt_region_stats(r, &rs), 0);
	/* Slack: what the thread's allocation cache may hold beyond the baseline. */
	print_message("baseline %lld B, after %d updates %lld B, max pending %llu\n",
		      (long long)base, updates, (long long)rs.small_bytes_in_use,
		      (unsigned long long)max_pending);
	assert_true((int64_t)rs.small_bytes_in_use <= base + 64 * 1024);
	shmrt_region_close(r);
}

/* ---- large values, a full region, threads ------------------------------------------- */

static void t_large_values_and_enospc(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("dictfull"), 4 << 20, 0);
	shmrt_dict_t d;
	shmrt_dict_opts_t o = { .max_key = 8, .max_value = 100000, .partitions = 2 };
	assert_int_equal(shmrt_dict_open(r, "big", SHMRT_O_CREATE, &o, &d), 0);
	static char v[100000], out[100000];
	size_t n;
	int64_t k;
	/* Values over 16 KiB live in page extents. */
	for (k = 0;; k++) {
		memset(v, (int)k, sizeof(v));
		int rc = shmrt_dict_set(&d, &k, 8, v, 50000);
		if (rc == -ENOMEM || rc == -ENOSPC) /* arena full / tmpfs full */
			break;
		assert_int_equal(rc, 0);
		assert_true(k < 1000);
	}
	print_message("region of 4 MiB: no room after %lld values of 50 kB\n", (long long)k);
	assert_true(k >= 10);
	/* Nothing was lost or half-written by the refused set. */
	assert_int_equal(shmrt_dict_len(&d), (uint64_t)k);
	assert_int_equal(shmrt_dict_contains(&d, &k, 8), 0);
	for (int64_t i = 0; i < k; i++) {
		assert_int_equal(shmrt_dict_get(&d, &i, 8, out, sizeof(out), &n), 0);
		assert_int_equal(n, 50000);
		assert_int_equal(out[0], (char)i);
		assert_int_equal(out[49999], (char)i);
	}
	/* A replacement needs room for the new node before the old one is freed. */
	int64_t z = 0;
	int rc = shmrt_dict_set(&d, &z, 8, v, 50000);
	assert_true(rc == -ENOMEM || rc == -ENOSPC);
	assert_int_equal(shmrt_dict_get(&d, &z, 8, out, sizeof(out), &n), 0);
	assert_int_equal(out[0], 0);
	/* Deleting and reclaiming gives the room back. */
	for (int64_t i = 0; i < 4; i++)
		assert_int_equal(shmrt_dict_delete(&d, &i, 8), 0);
	assert_int_equal(shmrt_dict_reclaim(&d, 1000000000), 0);
	assert_int_equal(shmrt_dict_set(&d, &z, 8, v, 100000), 0);
	assert_int_equal(shmrt_dict_get(&d, &z, 8, out, sizeof(out), &n), 0);
	assert_int_equal(n, 100000);
	/* update with a maximum over 4 KiB builds the value in a heap buffer */
	int mode = 0;
	int64_t nk = 777, x = 0;
	assert_int_equal(shmrt_dict_update(&d, &nk, 8, incr, &mode), SHMRT_DICT_STORE);
	assert_int_equal(shmrt_dict_update(&d, &nk, 8, incr, &mode), SHMRT_DICT_STORE);
	assert_int_equal(shmrt_dict_get_i64(&d, nk, &x), 0);
	assert_int_equal(x, 2);
	shmrt_region_close(r);
}

#include "core/dict_int.h"

/* A corrupted chain (an offset out of the region) is an error, never a wild read. */
static void t_corrupted_chain(void **s)
{
	(void)s;
	shmrt_dict_t d;
	shmrt_dict_opts_t o = { .max_key = 8, .max_value = 8, .partitions = 1, .capacity = 8 };
	assert_int_equal(shmrt_dict_open(R, "corrupt", SHMRT_O_CREATE, &o, &d), 0);
	for (int64_t k = 0; k < 4; k++)
		assert_int_equal(shmrt_dict_set_i64(&d, k, k), 0);
	const char *why = NULL;
	assert_int_equal(shmrt__dict_check(&d, &why), 0);
	/* Point every bucket's first node's `next` (node offset 16) past the region. */
	uint64_t *buckets = (uint64_t *)((char *)shmrt_ptr(R, d.tables[0]) + 32);
	for (int b = 0; b < 8; b++)
		if (buckets[b]) {
			uint64_t *next = (uint64_t *)((char *)shmrt_ptr(R, buckets[b]) + 16);
			*next = (uint64_t)1 << 62;
		}
	int bad = 0;
	for (int64_t k = 0; k < 16; k++) {
		int64_t v;
		int rc = shmrt_dict_get_i64(&d, k, &v);
		assert_true(rc == 0 || rc == -ENOENT || rc == -EBADMSG);
		bad += rc == -EBADMSG;
	}
	assert_true(bad > 0); /* absent keys walk into the bad link */
	assert_int_equal(shmrt__dict_check(&d, &why), -EBADMSG);
	print_message("check: %s\n", why);
}

#include <pthread.h>

static shmrt_dict_t TD;
static int t_stop;

static void *th_writer(void *arg)
{
	uint64_t me = (uint64_t)(uintptr_t)arg;
	for (uint64_t seq = 1; seq <= 30000; seq++) {
		uint64_t key[2] = { me, seq % 50 }, val[2] = { seq, seq ^ 0xabcdef };
		assert_int_equal(shmrt_dict_set(&TD, key, sizeof(key), val, sizeof(val)), 0);
		if (seq % 7 == 0)
			(void)shmrt_dict_delete(&TD, key, sizeof(key));
	}
	return NULL;
}

static void *th_reader(void *arg)
{
	(void)arg;
	uint64_t rng = 77, seen[2][50] = { { 0 } };
	while (!__atomic_load_n(&t_stop, __ATOMIC_ACQUIRE)) {
		uint64_t x = tu_rand(&rng), w = x % 2, k = (x >> 8) % 50, key[2] = { w, k }, val[2];
		size_t n;
		int rc = shmrt_dict_get(&TD, key, sizeof(key), val, sizeof(val), &n);
		if (rc == -ENOENT)
			continue;
		assert_int_equal(rc, 0);
		assert_int_equal(val[1], val[0] ^ 0xabcdef);
		assert_true(val[0] % 50 == k);
		assert_true(val[0] >= seen[w][k]); /* never backwards */
		seen[w][k] = val[0];
	}
	return NULL;
}

/* Threads of one process: each has its own reader record; run under TSan too. */
static void t_threads(void **s)
{
	(void)s;
	shmrt_dict_opts_t o = { .max_key = 16, .max_value = 16, .partitions = 2, .capacity = 8 };
	assert_int_equal(shmrt_dict_open(R, "threads", SHMRT_O_CREATE, &o, &TD), 0);
	pthread_t w[2], rd[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&rd[i], NULL, th_reader, NULL);
	for (int i = 0; i < 2; i++)
		pthread_create(&w[i], NULL, th_writer, (void *)(uintptr_t)i);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	__atomic_store_n(&t_stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(rd[i], NULL);
	assert_int_equal(shmrt_dict_reclaim(&TD, 1000000000), 0);
	shmrt_dict_stats_t st;
	assert_int_equal(shmrt_dict_stats(&TD, &st), 0);
	assert_int_equal(st.pending, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_calls_and_errors),
		cmocka_unit_test(t_update_typed),
		cmocka_unit_test(t_random_vs_reference),
		cmocka_unit_test(t_zero_copy),
		cmocka_unit_test(t_memory_bounded),
		cmocka_unit_test(t_large_values_and_enospc),
		cmocka_unit_test(t_threads),
		cmocka_unit_test(t_corrupted_chain),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
