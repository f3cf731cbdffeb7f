/*
 * Bad calls do not corrupt what other processes share (each case failed before its
 * fix): a free of a block never allocated, or freed already; a commit or abort of a
 * reservation that is not live or not the caller's (zeroed, committed twice, after the
 * ring wrapped, never reserved); an end_write without its begin_write; NULL and zeroed
 * handles (never opened); unknown flags. Each gets an error, nothing changes, and the
 * object still works afterwards.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <string.h>

static void roundtrip(const shmrt_queue_t *q, int n)
{
	for (int i = 0; i < n; i++) {
		int v = 1000 + i, w = 0;
		size_t len = 0;
		assert_int_equal(shmrt_queue_put(q, &v, sizeof(v), 0), 0);
		assert_int_equal(shmrt_queue_get(q, &w, sizeof(w), &len, 0), 0);
		assert_int_equal(len, sizeof(v));
		assert_int_equal(w, v);
	}
	assert_int_equal(shmrt_queue_size(q), 0);
}

static void t_queue_reservations(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("res"), 8 << 20, 0);
	shmrt_queue_t q;
	assert_int_equal(shmrt_queue_open(r, "q", SHMRT_O_CREATE, 4, 16, &q), 0);
	shmrt_queue_res_t zero, res, old;
	memset(&zero, 0, sizeof(zero));
	size_t len;
	int v = 7, w;
	/* A committed message is there; every bad commit or abort below leaves it. */
	assert_int_equal(shmrt_queue_put(&q, &v, sizeof(v), 0), 0);
	assert_int_equal(shmrt_queue_commit(&q, &zero, 4), -EINVAL);
	assert_int_equal(shmrt_queue_abort(&q, &zero), -EINVAL);
	/* A ticket never reserved: an error, not a hang. */
	shmrt_queue_res_t never = { .data = NULL, .ticket = 3 };
	assert_int_equal(shmrt_queue_commit(&q, &never, 4), -EINVAL);
	assert_int_equal(shmrt_queue_get(&q, &w, sizeof(w), &len, 0), 0);
	assert_int_equal(w, 7);
	/* A real reservation: commit once; a second commit or an abort after it fail. */
	assert_int_equal(shmrt_queue_reserve(&q, &res, 0), 0);
	memcpy(res.data, &v, sizeof(v));
	assert_int_equal(shmrt_queue_commit(&q, &res, sizeof(v)), 0);
	old = res;
	assert_int_equal(shmrt_queue_commit(&q, &res, sizeof(v)), -EINVAL);
	assert_int_equal(shmrt_queue_abort(&q, &res), -EINVAL);
	assert_int_equal(shmrt_queue_get(&q, &w, sizeof(w), &len, 0), 0);
	assert_int_equal(w, 7);
	/* After the ring wrapped past the old ticket: still refused. */
	roundtrip(&q, 9);
	assert_int_equal(shmrt_queue_commit(&q, &old, sizeof(v)), -EINVAL);
	/* A live reservation whose ticket was altered: refused; the real one commits. */
	assert_int_equal(shmrt_queue_reserve(&q, &res, 0), 0);
	shmrt_queue_res_t bent = res;
	bent.ticket++;
	assert_int_equal(shmrt_queue_commit(&q, &bent, 4), -EINVAL);
	assert_int_equal(shmrt_queue_abort(&q, &bent), -EINVAL);
	assert_int_equal(shmrt_queue_abort(&q, &res), 0);
	assert_int_equal(shmrt_queue_abort(&q, &res), -EINVAL);
	roundtrip(&q, 9);
	shmrt_region_close(r);
}

struct end_arg {
	const shmrt_array_t *a;
	int rc;
};

static void *other_thread_end(void *p)
{
	struct end_arg *x = p;
	x->rc = shmrt_array_end_write(x->a, 0, 8);
	return NULL;
}

static void t_array_unmatched_end(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("endw"), 8 << 20, 0);
	shmrt_array_t a;
	assert_int_equal(shmrt_array_open(r, "a", SHMRT_O_CREATE, SHMRT_VT_INT64, 1024, NULL, &a),
			 0);
	int64_t buf[8];
	/* No bracket open: refused, and readers do not spin afterwards. */
	assert_int_equal(shmrt_array_end_write(&a, 0, 8), -EINVAL);
	assert_int_equal(shmrt_array_read(&a, 0, buf, 8), 0);
	/* A bracket open in this thread: another thread cannot close it. */
	void *p;
	assert_int_equal(shmrt_array_begin_write(&a, 0, 8, &p), 0);
	((int64_t *)p)[0] = 42;
	struct end_arg x = { &a, 0 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, other_thread_end, &x), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(x.rc, -EINVAL);
	assert_int_equal(shmrt_array_end_write(&a, 0, 8), 0);
	assert_int_equal(shmrt_array_end_write(&a, 0, 8), -EINVAL); /* closed already */
	assert_int_equal(shmrt_array_read(&a, 0, buf, 8), 0);
	assert_int_equal(buf[0], 42);
	shmrt_region_close(r);
}

/* Every int-returning call refuses a NULL handle and a zeroed one (never opened) with
 * -EINVAL; calls that return a count or a flag return 0; void calls do nothing. */
static void t_null_and_zeroed_handles(void **s)
{
	(void)s;
	shmrt_queue_t zq;
	shmrt_pipe_t zp;
	shmrt_dict_t zd;
	shmrt_array_t za;
	shmrt_value_t zv;
	shmrt_counter_t zc;
	shmrt_lock_t zl;
	shmrt_sem_t zs;
	shmrt_event_t ze;
	shmrt_cond_t zk;
	shmrt_barrier_t zb;
	memset(&zq, 0, sizeof(zq));
	memset(&zp, 0, sizeof(zp));
	memset(&zd, 0, sizeof(zd));
	memset(&za, 0, sizeof(za));
	memset(&zv, 0, sizeof(zv));
	memset(&zc, 0, sizeof(zc));
	memset(&zl, 0, sizeof(zl));
	memset(&zs, 0, sizeof(zs));
	memset(&ze, 0, sizeof(ze));
	memset(&zk, 0, sizeof(zk));
	memset(&zb, 0, sizeof(zb));
	char buf[64];
	size_t len;
	shmrt_scalar_t x = { .i64 = 1 };
	int64_t i64;
	double f64;
	const void *cv;
	shmrt_queue_res_t res = { 0 };
	shmrt_queue_peek_t pk = { 0 };
	shmrt_off_t off;
	void *ptr;

	const shmrt_queue_t *qs[] = { NULL, &zq };
	for (int i = 0; i < 2; i++) {
		const shmrt_queue_t *q = qs[i];
		assert_int_equal(shmrt_queue_put(q, buf, 1, 0), -EINVAL);
		assert_int_equal(shmrt_queue_get(q, buf, sizeof(buf), &len, 0), -EINVAL);
		const void *msgs[1] = { buf };
		size_t lens[1] = { 1 };
		void *bufs[1] = { buf };
		assert_int_equal(shmrt_queue_put_burst(q, msgs, lens, 1, 0), -EINVAL);
		assert_int_equal(shmrt_queue_get_burst(q, bufs, sizeof(buf), lens, 1, 0), -EINVAL);
		assert_int_equal(shmrt_queue_reserve(q, &res, 0), -EINVAL);
		assert_int_equal(shmrt_queue_commit(q, &res, 1), -EINVAL);
		assert_int_equal(shmrt_queue_abort(q, &res), -EINVAL);
		assert_int_equal(shmrt_queue_peek(q, &pk, 0), -EINVAL);
		assert_int_equal(shmrt_queue_release(q, &pk), -EINVAL);
		assert_int_equal(shmrt_queue_task_done(q), -EINVAL);
		assert_int_equal(shmrt_queue_join(q, 0), -EINVAL);
		assert_int_equal(shmrt_queue_closed(q), -EINVAL);
		assert_int_equal(shmrt_queue_empty(q), -EINVAL);
		assert_int_equal(shmrt_queue_full(q), -EINVAL);
		assert_int_equal(shmrt_queue_size(q), 0);
		assert_int_equal(shmrt_queue_capacity(q), 0);
		shmrt_queue_close(q);
	}
	shmrt_pipe_t *ps[] = { NULL, &zp };
	for (int i = 0; i < 2; i++) {
		assert_int_equal(shmrt_pipe_send(ps[i], buf, 1, 0), -EINVAL);
		assert_int_equal(shmrt_pipe_recv(ps[i], buf, sizeof(buf), &len, 0), -EINVAL);
		assert_int_equal(shmrt_pipe_poll(ps[i], 0), -EINVAL);
		shmrt_pipe_close(ps[i]);
	}
	const shmrt_dict_t *ds[] = { NULL, &zd };
	for (int i = 0; i < 2; i++) {
		const shmrt_dict_t *d = ds[i];
		assert_int_equal(shmrt_dict_get(d, "k", 1, buf, sizeof(buf), &len), -EINVAL);
		assert_int_equal(shmrt_dict_contains(d, "k", 1), -EINVAL);
		assert_int_equal(shmrt_dict_read_lock(d), -EINVAL);
		shmrt_dict_read_unlock(d);
		assert_int_equal(shmrt_dict_get_ref(d, "k", 1, &cv, &len), -EINVAL);
		assert_int_equal(shmrt_dict_set(d, "k", 1, "v", 1), -EINVAL);
		assert_int_equal(shmrt_dict_setdefault(d, "k", 1, "v", 1, buf, sizeof(buf), &len),
				 -EINVAL);
		assert_int_equal(shmrt_dict_delete(d, "k", 1), -EINVAL);
		assert_int_equal(shmrt_dict_cas(d, "k", 1, NULL, 0, "v", 1), -EINVAL);
		assert_int_equal(shmrt_dict_clear(d), -EINVAL);
		assert_int_equal(shmrt_dict_reclaim(d, 0), -EINVAL);
		shmrt_dict_stats_t st;
		assert_int_equal(shmrt_dict_stats(d, &st), -EINVAL);
		assert_int_equal(shmrt_dict_len(d), 0);
		assert_int_equal(shmrt_dict_get_i64(d, 1, &i64), -EINVAL);
		assert_int_equal(shmrt_dict_set_i64(d, 1, 1), -EINVAL);
	}
	const shmrt_array_t *as[] = { NULL, &za };
	for (int i = 0; i < 2; i++) {
		const shmrt_array_t *a = as[i];
		assert_int_equal(shmrt_array_write(a, 0, buf, 1), -EINVAL);
		assert_int_equal(shmrt_array_read(a, 0, buf, 1), -EINVAL);
		assert_int_equal(shmrt_array_snapshot(a, 0, buf, 1), -EINVAL);
		assert_int_equal(shmrt_array_get(a, 0, &x), -EINVAL);
		assert_int_equal(shmrt_array_set(a, 0, x), -EINVAL);
		assert_int_equal(shmrt_array_fetch(a, 0, SHMRT_OP_ADD, x, NULL), -EINVAL);
		assert_int_equal(shmrt_array_begin_write(a, 0, 1, &ptr), -EINVAL);
		assert_int_equal(shmrt_array_end_write(a, 0, 1), -EINVAL);
		assert_int_equal(shmrt_array_repair(a, 0, 1), -EINVAL);
		assert_int_equal(shmrt_array_lock(a, 0), -EINVAL);
		assert_int_equal(shmrt_array_unlock(a), -EINVAL);
		assert_int_equal(shmrt_array_consistent(a), -EINVAL);
	}
	const shmrt_value_t *vs[] = { NULL, &zv };
	for (int i = 0; i < 2; i++) {
		const shmrt_value_t *v = vs[i];
		assert_int_equal(shmrt_value_load(v, &x), -EINVAL);
		assert_int_equal(shmrt_value_store(v, x), -EINVAL);
		assert_int_equal(shmrt_value_exchange(v, x, NULL), -EINVAL);
		assert_int_equal(shmrt_value_cas(v, &x, x), -EINVAL);
		assert_int_equal(shmrt_value_fetch(v, SHMRT_OP_ADD, x, NULL), -EINVAL);
		assert_int_equal(shmrt_value_lock(v, 0), -EINVAL);
		assert_int_equal(shmrt_value_unlock(v), -EINVAL);
		assert_int_equal(shmrt_value_consistent(v), -EINVAL);
		assert_int_equal(shmrt_value_get_i64(v, &i64), -EINVAL);
		assert_int_equal(shmrt_value_set_i64(v, 1), -EINVAL);
		assert_int_equal(shmrt_value_fetch_add_i64(v, 1, NULL), -EINVAL);
		assert_int_equal(shmrt_value_get_f64(v, &f64), -EINVAL);
		assert_int_equal(shmrt_value_fetch_add_f64(v, 1.0, NULL), -EINVAL);
	}
	const shmrt_counter_t *cs[] = { NULL, &zc };
	for (int i = 0; i < 2; i++) {
		shmrt_counter_add(cs[i], 1);
		assert_int_equal(shmrt_counter_read(cs[i]), 0);
	}
	const shmrt_lock_t *ls[] = { NULL, &zl };
	const shmrt_sem_t *ss[] = { NULL, &zs };
	const shmrt_event_t *es[] = { NULL, &ze };
	const shmrt_cond_t *ks[] = { NULL, &zk };
	shmrt_barrier_t *bs[] = { NULL, &zb };
	for (int i = 0; i < 2; i++) {
		assert_int_equal(shmrt_lock_acquire(ls[i], 0), -EINVAL);
		assert_int_equal(shmrt_lock_release(ls[i]), -EINVAL);
		assert_int_equal(shmrt_lock_consistent(ls[i]), -EINVAL);
		assert_int_equal(shmrt_sem_acquire(ss[i], 0), -EINVAL);
		assert_int_equal(shmrt_sem_release(ss[i], 1), -EINVAL);
		assert_int_equal(shmrt_sem_value(ss[i]), 0);
		shmrt_event_set(es[i]);
		shmrt_event_clear(es[i]);
		assert_int_equal(shmrt_event_is_set(es[i]), -EINVAL);
		assert_int_equal(shmrt_event_wait(es[i], 0), -EINVAL);
		assert_int_equal(shmrt_cond_wait(ks[i], ls[i], 0), -EINVAL);
		shmrt_cond_notify(ks[i], 1);
		shmrt_cond_notify_all(ks[i]);
		assert_int_equal(shmrt_barrier_wait(bs[i], 0, NULL), -EINVAL);
		shmrt_barrier_abort(bs[i]);
		shmrt_barrier_reset(bs[i]);
		assert_int_equal(shmrt_barrier_broken(bs[i]), -EINVAL);
		assert_int_equal(shmrt_barrier_n_waiting(bs[i]), 0);
		shmrt_barrier_close(bs[i]);
	}
	/* Region-level calls. */
	assert_int_equal(shmrt_alloc(NULL, 64, &off), -EINVAL);
	assert_int_equal(shmrt_free(NULL, 64), -EINVAL);
	assert_int_equal(shmrt_usable_size(NULL, 64), 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(NULL, "x", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 8, NULL,
					   &oi),
			 -EINVAL);
	assert_int_equal(shmrt_object_lookup(NULL, "x", &oi), -EINVAL);
	assert_int_equal(shmrt_object_remove(NULL, "x"), -EINVAL);
	assert_int_equal(shmrt_region_gc(NULL, NULL), -EINVAL);
	assert_int_equal(shmrt_region_fd(NULL), -EINVAL);
}

static void t_unknown_flags(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("flags"), 8 << 20, 0);
	const int bad = 0x4000;
	shmrt_queue_t q;
	shmrt_pipe_t p;
	shmrt_dict_t d;
	shmrt_array_t a;
	shmrt_value_t v;
	shmrt_counter_t c;
	shmrt_lock_t l;
	assert_int_equal(shmrt_queue_open(r, "q", SHMRT_O_CREATE | bad, 4, 8, &q), -EINVAL);
	assert_int_equal(shmrt_joinable_queue_open(r, "jq", SHMRT_O_CREATE | bad, 4, 8, &q), -EINVAL);
	assert_int_equal(shmrt_pipe_open(r, "p", SHMRT_O_CREATE | bad, 0, 4, 8, &p), -EINVAL);
	assert_int_equal(shmrt_dict_open(r, "d", SHMRT_O_CREATE | bad, NULL, &d), -EINVAL);
	assert_int_equal(shmrt_array_open(r, "a", SHMRT_O_CREATE | bad, SHMRT_VT_INT32, 8, NULL,
					  &a),
			 -EINVAL);
	assert_int_equal(shmrt_value_open(r, "v", SHMRT_O_CREATE | bad, SHMRT_VT_INT32, NULL, &v),
			 -EINVAL);
	assert_int_equal(shmrt_counter_open(r, "c", SHMRT_O_CREATE | bad, &c), -EINVAL);
	assert_int_equal(shmrt_lock_open(r, "l", SHMRT_O_CREATE | bad, 0, &l), -EINVAL);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "o", SHMRT_O_CREATE | bad, SHMRT_TYPE_BYTES, 8, NULL,
					   &oi),
			 -EINVAL);
	/* Nothing was created by any of them. */
	size_t n;
	assert_int_equal(shmrt_object_list(r, NULL, 0, &n), 0);
	assert_int_equal(n, 0);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_queue_reservations),
		cmocka_unit_test(t_array_unmatched_end),
		cmocka_unit_test(t_null_and_zeroed_handles),
		cmocka_unit_test(t_unknown_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
