/*
 * Pipelined Manager calls (shmrt_proxy_call_batch): a batch of gets on a 1000-key dict
 * answers each call with its own value; a mixed batch runs in order (appends then a
 * len counts them; a set then a get sees it) and keeps each call's error apart (a
 * missing key is -ENOENT while its neighbours succeed); a batch of 5000 calls (more
 * than one socket buffer of requests and of replies) loses nothing; replies of calls
 * that timed out before it are not taken for its own; bad arguments send nothing and
 * consume every args; two processes batching appends on one list get the exact count.
 * Every wait is bounded; children are killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "manager_mp_util.h"

static shmrt_mv_t *list1(shmrt_mv_t *v)
{
	shmrt_mv_t *l = shmrt_mv_list();
	assert_int_equal(shmrt_mv_list_append(l, v), 0);
	return l;
}

static shmrt_mv_t *list2(shmrt_mv_t *a, shmrt_mv_t *b)
{
	shmrt_mv_t *l = list1(a);
	assert_int_equal(shmrt_mv_list_append(l, b), 0);
	return l;
}

#define REQ(p, m, a) ((shmrt_proxy_req_t){ .proxy = (p), .method = (m), .args = (a) })

static int64_t as_int(const shmrt_mv_t *v)
{
	int64_t x = -1;
	assert_int_equal(shmrt_mv_as_int(v, &x), 0);
	return x;
}

/* A dict {"k<i>": i * 7 for i in range(1000)} on c. */
static shmrt_proxy_t *make_dict(shmrt_manager_conn_t *c)
{
	shmrt_mv_t *init = shmrt_mv_map();
	char k[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(shmrt_mv_map_set(init, shmrt_mv_str(k), shmrt_mv_int(i * 7)), 0);
	}
	shmrt_proxy_t *d;
	assert_int_equal(shmrt_manager_create(c, "dict", init, &d), 0);
	return d;
}

static void free_results(shmrt_proxy_req_t *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		shmrt_mv_free(r[i].result);
		r[i].result = NULL;
	}
}

static void gets(void **state)
{
	(void)state;
	shmrt_proxy_t *d = make_dict(conn);
	shmrt_proxy_req_t r[32];
	char k[32];
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 32; i++) {
			snprintf(k, sizeof(k), "k%d", (round * 37 + i * 11) % 1000);
			r[i] = REQ(d, "__getitem__", list1(shmrt_mv_str(k)));
		}
		assert_int_equal(shmrt_proxy_call_batch(conn, r, 32, 20 * SEC), 0);
		for (int i = 0; i < 32; i++) {
			assert_null(r[i].args);
			assert_int_equal(r[i].rc, 0);
			assert_int_equal(as_int(r[i].result), ((round * 37 + i * 11) % 1000) * 7);
		}
		free_results(r, 32);
	}
	assert_int_equal(shmrt_proxy_call_batch(conn, r, 0, 20 * SEC), 0);
	assert_int_equal(shmrt_proxy_release(d), 0);
}

static void mixed_in_order(void **state)
{
	(void)state;
	shmrt_proxy_t *d = make_dict(conn), *l;
	assert_int_equal(shmrt_manager_create(conn, "list", NULL, &l), 0);
	shmrt_proxy_req_t r[16];
	size_t n = 0;
	for (int i = 0; i < 10; i++)
		r[n++] = REQ(l, "append", list1(shmrt_mv_int(i)));
	r[n++] = REQ(l, "__len__", NULL);
	r[n++] = REQ(d, "__getitem__", list1(shmrt_mv_str("missing")));
	r[n++] = REQ(d, "__setitem__",
				      list2(shmrt_mv_str("k5"), shmrt_mv_str("new")));
	r[n++] = REQ(d, "__getitem__", list1(shmrt_mv_str("k5")));
	r[n++] = REQ(d, "no_such_method", NULL);
	r[n++] = REQ(d, "__len__", NULL);
	assert_int_equal(shmrt_proxy_call_batch(conn, r, n, 20 * SEC), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(r[i].rc, 0);
	assert_int_equal(as_int(r[10].result), 10);
	assert_int_equal(r[11].rc, -ENOENT);
	assert_null(r[11].result);
	assert_int_equal(r[12].rc, 0);
	char buf[32];
	assert_int_equal(r[13].rc, 0);
	assert_true(shmrt_mv_repr(r[13].result, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "'new'");
	assert_true(r[14].rc < 0);
	assert_int_equal(as_int(r[15].result), 1000);
	free_results(r, n);
	assert_int_equal(shmrt_proxy_release(l), 0);
	assert_int_equal(shmrt_proxy_release(d), 0);
}

/* 5000 calls in one batch: the requests and the replies each fill the socket's
 * buffers many times over. */
static void large(void **state)
{
	(void)state;
	enum { N = 5000 };
	shmrt_proxy_t *d = make_dict(conn);
	static shmrt_proxy_req_t r[N];
	char k[32];
	for (int i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "k%d", i % 1000);
		r[i] = REQ(d, "get", list2(shmrt_mv_str(k),
							    shmrt_mv_bytes(k, 0)));
	}
	assert_int_equal(shmrt_proxy_call_batch(conn, r, N, 20 * SEC), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].rc, 0);
		assert_int_equal(as_int(r[i].result), (i % 1000) * 7);
	}
	free_results(r, N);
	assert_int_equal(shmrt_proxy_release(d), 0);
}

/* Calls that time out leave replies in the stream; a batch after them skips them. */
static void late_replies(void **state)
{
	(void)state;
	shmrt_proxy_t *d = make_dict(conn);
	for (int i = 0; i < 20; i++) {
		int rc = shmrt_proxy_call(d, "__len__", NULL, 0, NULL);
		assert_true(rc == 0 || rc == -ETIMEDOUT);
	}
	shmrt_proxy_req_t r[4];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 4; i++)
			r[i] = REQ(d, "__getitem__",
						    list1(shmrt_mv_str(i & 1 ? "k3" : "k2")));
		assert_int_equal(shmrt_proxy_call_batch(conn, r, 4, 20 * SEC), 0);
		for (int i = 0; i < 4; i++)
			assert_int_equal(as_int(r[i].result), i & 1 ? 21 : 14);
		free_results(r, 4);
	}
	shmrt_mv_t *len = NULL;
	assert_int_equal(shmrt_proxy_call0(d, "__len__", &len), 0);
	assert_int_equal(as_int(len), 1000);
	shmrt_mv_free(len);
	assert_int_equal(shmrt_proxy_release(d), 0);
}

/* A foreign proxy, a NULL method or args not a list: -EINVAL, nothing sent, every
 * args consumed (the sanitizer builds see a leak otherwise). */
static void bad_arguments(void **state)
{
	(void)state;
	shmrt_manager_conn_t *other;
	assert_int_equal(shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC,
					       &other), 0);
	shmrt_proxy_t *d = make_dict(conn), *o = make_dict(other);
	shmrt_proxy_req_t r[3] = {
		REQ(d, "__len__", list1(shmrt_mv_int(1))),
		REQ(o, "__len__", list1(shmrt_mv_int(2))),
		REQ(d, "__len__", NULL),
	};
	assert_int_equal(shmrt_proxy_call_batch(conn, r, 3, 20 * SEC), -EINVAL);
	for (int i = 0; i < 3; i++) {
		assert_null(r[i].args);
		assert_int_equal(r[i].rc, -EINVAL);
	}
	r[0] = REQ(d, NULL, list1(shmrt_mv_int(1)));
	assert_int_equal(shmrt_proxy_call_batch(conn, r, 1, 20 * SEC), -EINVAL);
	r[0] = REQ(d, "__len__", shmrt_mv_int(1));
	assert_int_equal(shmrt_proxy_call_batch(conn, r, 1, 20 * SEC), -EINVAL);
	assert_null(r[0].args);
	assert_int_equal(shmrt_proxy_call_batch(NULL, r, 0, 20 * SEC), -EINVAL);
	/* The connection still answers in order. */
	r[0] = REQ(d, "__len__", NULL);
	assert_int_equal(shmrt_proxy_call_batch(conn, r, 1, 20 * SEC), 0);
	assert_int_equal(as_int(r[0].result), 1000);
	free_results(r, 1);
	assert_int_equal(shmrt_proxy_release(o), 0);
	assert_int_equal(shmrt_proxy_release(d), 0);
	shmrt_manager_close(other);
}

/* Two processes, each on its own connection, batch 32 appends at a time. */
enum { ROUNDS = 200, DEPTH = 32 };
static uint64_t shared_list;

static void append_batches(shmrt_manager_conn_t *c, shmrt_proxy_t *l, int who)
{
	shmrt_proxy_req_t r[DEPTH];
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < DEPTH; i++)
			r[i] = REQ(l, "append",
						    list1(shmrt_mv_int(who * 1000000 + round * DEPTH + i)));
		assert_int_equal(shmrt_proxy_call_batch(c, r, DEPTH, 20 * SEC), 0);
		for (int i = 0; i < DEPTH; i++)
			assert_int_equal(r[i].rc, 0);
		free_results(r, DEPTH);
	}
}

static int child(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *l;
	if (child_connect(&c) ||
	    shmrt_manager_proxy(c, shared_list, &l))
		return 1;
	append_batches(c, l, 1);
	(void)shmrt_proxy_release(l);
	shmrt_manager_close(c);
	return 0;
}

static void two_processes(void **state)
{
	(void)state;
	shmrt_proxy_t *l;
	assert_int_equal(shmrt_manager_create(conn, "list", NULL, &l), 0);
	shared_list = shmrt_proxy_ref(l);
	pid_t pid = tu_fork(child, NULL);
	append_batches(conn, l, 0);
	assert_int_equal(tu_wait(pid, 60000), 0);
	shmrt_mv_t *len = NULL;
	assert_int_equal(shmrt_proxy_call0(l, "__len__", &len), 0);
	assert_int_equal(as_int(len), 2 * ROUNDS * DEPTH);
	shmrt_mv_free(len);
	/* Each process's appends are in its own order. */
	shmrt_mv_t *all = NULL;
	assert_int_equal(shmrt_proxy_call(l, "copy", NULL, 20 * SEC, &all), 0);
	int64_t next[2] = { 0, 1000000 };
	for (size_t i = 0; i < shmrt_mv_list_len(all); i++) {
		int64_t v = as_int(shmrt_mv_list_get(all, i));
		int who = v >= 1000000;
		assert_int_equal(v, next[who]);
		next[who]++;
	}
	shmrt_mv_free(all);
	assert_int_equal(shmrt_proxy_release(l), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(gets, setup, teardown),
		cmocka_unit_test_setup_teardown(mixed_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(large, setup, teardown),
		cmocka_unit_test_setup_teardown(late_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(two_processes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
