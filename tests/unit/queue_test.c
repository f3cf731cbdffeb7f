/* The Queue in one process: sizes from 0 to the maximum, FIFO, errors that lose
 * nothing, timeouts, close, burst, reserve/commit/abort. */
#define _GNU_SOURCE
#include "testutil.h"

#include <string.h>
#include <unistd.h>

#define MS 1000000ll
static shmrt_region_t *R;

static int setup(void **s)
{
	(void)s;
	R = tu_create(tu_name("queue"), 32 << 20, 0);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	shmrt_region_close(R);
	return 0;
}

static void t_fifo_sizes_errors(void **s)
{
	(void)s;
	shmrt_queue_t q, q2;
	assert_int_equal(shmrt_queue_open(R, "q", SHMRT_O_CREATE, 7, 100, &q), 0);
	assert_true(shmrt_queue_capacity(&q) >= 7);
	assert_int_equal(shmrt_queue_open(R, "q", 0, 7, 200, &q2), -EPROTOTYPE);
	assert_int_equal(shmrt_queue_open(R, "q", 0, 4, 50, &q2), 0);
	assert_int_equal(shmrt_queue_open(R, "bad", SHMRT_O_CREATE, 0, 10, &q2), -EINVAL);
	/* Modes are fixed at creation: an opener must pass the same ones. */
	assert_int_equal(shmrt_queue_open(R, "q", SHMRT_QUEUE_SP, 7, 100, &q2), -EPROTOTYPE);
	shmrt_queue_t sp;
	assert_int_equal(shmrt_queue_open(R, "spsc", SHMRT_O_CREATE | SHMRT_QUEUE_SP | SHMRT_QUEUE_SC,
					  4, 16, &sp), 0);
	assert_int_equal(shmrt_queue_open(R, "spsc", 0, 4, 16, &q2), -EPROTOTYPE);
	assert_int_equal(shmrt_queue_open(R, "spsc", SHMRT_QUEUE_SC, 4, 16, &q2), -EPROTOTYPE);
	assert_int_equal(shmrt_queue_open(R, "spsc", SHMRT_QUEUE_SP | SHMRT_QUEUE_SC, 4, 16, &q2), 0);
	for (uint32_t lap = 0; lap < 3 * shmrt_queue_capacity(&sp); lap++) { /* wraps around */
		uint32_t v;
		size_t n;
		assert_int_equal(shmrt_queue_put(&sp, &lap, sizeof(lap), 0), 0);
		assert_int_equal(shmrt_queue_get(&q2, &v, sizeof(v), &n, 0), 0);
		assert_int_equal(v, lap);
	}
	uint32_t none;
	size_t nlen;
	assert_int_equal(shmrt_queue_get(&q2, &none, sizeof(none), &nlen, 0), -EAGAIN);
	char buf[200], big[101];
	size_t len;
	memset(big, 'x', sizeof(big));
	assert_true(shmrt_queue_empty(&q));
	/* Sizes 0..100, in order. */
	for (int n = 0; n <= 100; n += 10) {
		memset(buf, n, (size_t)n);
		assert_int_equal(shmrt_queue_put(&q, buf, (size_t)n, 0), 0);
		assert_int_equal(shmrt_queue_get(&q, buf, sizeof(buf), &len, 0), 0);
		assert_int_equal(len, n);
		for (int i = 0; i < n; i++)
			assert_int_equal((unsigned char)buf[i], n);
	}
	/* Too large: refused, nothing written. */
	assert_int_equal(shmrt_queue_put(&q, big, sizeof(big), 0), -EMSGSIZE);
	assert_true(shmrt_queue_empty(&q));
	/* Fill it: the next try says full, nothing lost. */
	uint32_t cap = shmrt_queue_capacity(&q);
	for (uint32_t i = 0; i < cap; i++)
		assert_int_equal(shmrt_queue_put(&q, &i, sizeof(i), 0), 0);
	assert_true(shmrt_queue_full(&q));
	assert_int_equal(shmrt_queue_size(&q), cap);
	uint32_t x = 99;
	assert_int_equal(shmrt_queue_put(&q, &x, sizeof(x), 0), -EAGAIN);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_queue_put(&q, &x, sizeof(x), 30 * MS), -ETIMEDOUT);
	assert_true(tu_ms() - t0 >= 29);
	/* A buffer too small: -EMSGSIZE, the message stays. */
	assert_int_equal(shmrt_queue_get(&q, buf, 2, &len, 0), -EMSGSIZE);
	assert_int_equal(len, 4);
	for (uint32_t i = 0; i < cap; i++) {
		assert_int_equal(shmrt_queue_get(&q, &x, sizeof(x), &len, 0), 0);
		assert_int_equal(x, i);
	}
	assert_int_equal(shmrt_queue_get(&q, &x, sizeof(x), &len, 0), -EAGAIN);
	t0 = tu_ms();
	assert_int_equal(shmrt_queue_get(&q, &x, sizeof(x), &len, 50 * MS), -ETIMEDOUT);
	assert_true(tu_ms() - t0 >= 49 && tu_ms() - t0 < 1000);
}

static void t_close(void **s)
{
	(void)s;
	shmrt_queue_t q;
	assert_int_equal(shmrt_queue_open(R, "c", SHMRT_O_CREATE, 8, 16, &q), 0);
	int v = 1;
	assert_int_equal(shmrt_queue_put(&q, &v, sizeof(v), 0), 0);
	v = 2;
	assert_int_equal(shmrt_queue_put(&q, &v, sizeof(v), 0), 0);
	shmrt_queue_close(&q);
	assert_true(shmrt_queue_closed(&q));
	assert_int_equal(shmrt_queue_put(&q, &v, sizeof(v), 0), -EPIPE);
	size_t len;
	/* Consumers drain, then get -EPIPE (no sentinel needed). */
	assert_int_equal(shmrt_queue_get(&q, &v, sizeof(v), &len, -1), 0);
	assert_int_equal(v, 1);
	assert_int_equal(shmrt_queue_get(&q, &v, sizeof(v), &len, -1), 0);
	assert_int_equal(v, 2);
	assert_int_equal(shmrt_queue_get(&q, &v, sizeof(v), &len, -1), -EPIPE);
}

static void t_burst_and_reserve(void **s)
{
	(void)s;
	shmrt_queue_t q;
	assert_int_equal(shmrt_queue_open(R, "b", SHMRT_O_CREATE, 16, 64, &q), 0);
	uint64_t vals[40];
	const void *msgs[40];
	size_t lens[40];
	for (int i = 0; i < 40; i++) {
		vals[i] = (uint64_t)i;
		msgs[i] = &vals[i];
		lens[i] = sizeof(uint64_t);
	}
	/* Only capacity fits: a burst moves what it can. */
	int n = shmrt_queue_put_burst(&q, msgs, lens, 40, 0);
	assert_int_equal(n, (int)shmrt_queue_capacity(&q));
	uint64_t out[40];
	void *bufs[40];
	for (int i = 0; i < 40; i++)
		bufs[i] = &out[i];
	int m = shmrt_queue_get_burst(&q, bufs, sizeof(uint64_t), lens, 40, 0);
	assert_int_equal(m, n);
	for (int i = 0; i < m; i++)
		assert_int_equal(out[i], (uint64_t)i);
	assert_int_equal(shmrt_queue_get_burst(&q, bufs, 8, lens, 4, 0), -EAGAIN);

	/* Zero-copy: reserve, write in place, commit; abort leaves a skipped hole. */
	shmrt_queue_res_t a, b, c;
	assert_int_equal(shmrt_queue_reserve(&q, &a, 0), 0);
	assert_int_equal(shmrt_queue_reserve(&q, &b, 0), -EBUSY); /* one at a time */
	strcpy(a.data, "in place");
	assert_int_equal(shmrt_queue_commit(&q, &a, 9), 0);
	assert_int_equal(shmrt_queue_reserve(&q, &b, 0), 0);
	assert_int_equal(shmrt_queue_commit(&q, &b, 65), -EMSGSIZE);
	assert_int_equal(shmrt_queue_abort(&q, &b), 0);
	assert_int_equal(shmrt_queue_reserve(&q, &c, 0), 0);
	strcpy(c.data, "after");
	assert_int_equal(shmrt_queue_commit(&q, &c, 6), 0);
	char buf[64];
	size_t len;
	assert_int_equal(shmrt_queue_get(&q, buf, sizeof(buf), &len, 0), 0);
	assert_string_equal(buf, "in place");
	assert_int_equal(shmrt_queue_get(&q, buf, sizeof(buf), &len, 0), 0);
	assert_string_equal(buf, "after");
	assert_true(shmrt_queue_empty(&q));
}

static int worker_done(void *p)
{
	shmrt_queue_t *q = p;
	uint32_t v;
	size_t len;
	for (int i = 0; i < 100; i++) {
		if (shmrt_queue_get(q, &v, sizeof(v), &len, 5000 * MS) || shmrt_queue_task_done(q))
			return 1;
	}
	return 0;
}

static void t_joinable(void **s)
{
	(void)s;
	shmrt_queue_t q, x;
	assert_int_equal(shmrt_joinable_queue_open(R, "j", SHMRT_O_CREATE, 16, 8, &q), 0);
	assert_int_equal(shmrt_queue_open(R, "j", 0, 16, 8, &x), -EPROTOTYPE);
	assert_int_equal(shmrt_queue_join(&q, 0), 0); /* nothing pending */
	assert_int_equal(shmrt_queue_task_done(&q), -EOVERFLOW);
	pid_t pid = tu_fork(worker_done, &q); /* the forked handle is valid in the child */
	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(shmrt_queue_put(&q, &i, sizeof(i), 5000 * MS), 0);
	assert_int_equal(shmrt_queue_join(&q, 5000 * MS), 0);
	assert_int_equal(tu_wait(pid, 5000), 0);
	/* An aborted reservation is not a pending task. */
	shmrt_queue_res_t res;
	assert_int_equal(shmrt_queue_reserve(&q, &res, 0), 0);
	assert_int_equal(shmrt_queue_join(&q, 0), -EAGAIN);
	assert_int_equal(shmrt_queue_abort(&q, &res), 0);
	assert_int_equal(shmrt_queue_join(&q, 0), 0);
	/* Plain queues do not count. */
	shmrt_queue_t p;
	assert_int_equal(shmrt_queue_open(R, "plain", SHMRT_O_CREATE, 4, 8, &p), 0);
	assert_int_equal(shmrt_queue_task_done(&p), -EINVAL);
	uint64_t t0 = tu_ms();
	uint32_t v = 1;
	assert_int_equal(shmrt_queue_put(&q, &v, sizeof(v), 0), 0);
	assert_int_equal(shmrt_queue_join(&q, 30 * MS), -ETIMEDOUT);
	assert_true(tu_ms() - t0 >= 29);
}

static void t_peek_release(void **s)
{
	(void)s;
	shmrt_queue_t q;
	assert_int_equal(shmrt_queue_open(R, "pk", SHMRT_O_CREATE, 3, 32, &q), 0);
	uint32_t cap = shmrt_queue_capacity(&q); /* 3 */
	shmrt_queue_peek_t pk, pk2;
	char buf[32];
	size_t len;
	assert_int_equal(shmrt_queue_peek(&q, &pk, 0), -EAGAIN);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_queue_peek(&q, &pk, 20 * MS), -ETIMEDOUT);
	assert_true(tu_ms() - t0 >= 19);
	assert_int_equal(shmrt_queue_put(&q, "first", 5, 0), 0);
	assert_int_equal(shmrt_queue_put(&q, "second", 6, 0), 0);
	assert_int_equal(shmrt_queue_peek(&q, &pk, 0), 0);
	assert_int_equal(pk.len, 5);
	assert_memory_equal(pk.data, "first", 5);
	assert_int_equal(shmrt_queue_peek(&q, &pk2, 0), -EBUSY); /* one per thread */
	/* The peeked message is taken: a get sees the next one. */
	assert_int_equal(shmrt_queue_get(&q, buf, sizeof(buf), &len, 0), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "second", 6);
	/* While held, the slot is not reused: the ring is full one message early. */
	for (uint32_t i = 0; i + 1 < cap; i++)
		assert_int_equal(shmrt_queue_put(&q, "x", 1, 0), 0);
	/* The next put would land on the held slot once it wraps around. */
	int rc = 0;
	uint32_t extra = 0;
	while ((rc = shmrt_queue_put(&q, "y", 1, 0)) == 0)
		extra++;
	assert_int_equal(rc, -EAGAIN);
	assert_int_equal(extra, 0);
	assert_memory_equal(pk.data, "first", 5); /* still intact */
	t0 = tu_ms();
	assert_int_equal(shmrt_queue_put(&q, "y", 1, 20 * MS), -ETIMEDOUT);
	assert_true(tu_ms() - t0 >= 19);
	assert_int_equal(shmrt_queue_release(&q, &pk), 0);
	assert_int_equal(shmrt_queue_release(&q, &pk), -EINVAL);
	assert_int_equal(shmrt_queue_put(&q, "y", 1, 0), 0); /* the slot is free again */
	/* Drain; close; a peek then says -EPIPE. */
	while (shmrt_queue_get(&q, buf, sizeof(buf), &len, 0) == 0)
		;
	assert_int_equal(shmrt_queue_put(&q, "z", 1, 0), 0);
	shmrt_queue_close(&q);
	assert_int_equal(shmrt_queue_peek(&q, &pk, 0), 0);
	assert_memory_equal(pk.data, "z", 1);
	assert_int_equal(shmrt_queue_release(&q, &pk), 0);
	assert_int_equal(shmrt_queue_peek(&q, &pk, -1), -EPIPE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_fifo_sizes_errors),
		cmocka_unit_test(t_close),
		cmocka_unit_test(t_burst_and_reserve),
		cmocka_unit_test(t_joinable),
		cmocka_unit_test(t_peek_release),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
