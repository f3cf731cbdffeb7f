/*
 * What the Manager's multi-process tests of its blocking types share
 * (manager_sync_test.c, manager_cond_test.c): one server per test case (setup,
 * teardown), the parent's connection and proxies, and children's connections.
 * Every wait is bounded. Include once, after testutil.h.
 */
#ifndef SHMRT_TESTS_MANAGER_MP_UTIL_H
#define SHMRT_TESTS_MANAGER_MP_UTIL_H

#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/clock.h"

static const char KEY[] = "manager-mp-test-authkey";
#define KEYLEN (sizeof(KEY) - 1)
#define SEC 1000000000ll
#define MS 1000000ll
/* The client's own limit on a call parked "forever" (the server's side has none). */
#define LONG_WAIT (30 * SEC)

static shmrt_manager_server_t *srv;
static shmrt_manager_conn_t *conn;
static shmrt_proxy_t *made[16]; /* the parent's proxies, released at teardown */
static int nmade;
static uint64_t g_a, g_b; /* refs handed to forked children */
static int pfd[2];          /* child -> parent notes */

static inline int setup(void **state)
{
	(void)state;
	assert_int_equal(shmrt_manager_start("unix:", KEY, KEYLEN, NULL, &srv), 0);
	assert_int_equal(shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC,
					       &conn), 0);
	shmrt_manager_set_timeout(conn, 20 * SEC);
	return 0;
}

static inline int teardown(void **state)
{
	(void)state;
	tu_kill_all();
	while (nmade)
		assert_int_equal(shmrt_proxy_release(made[--nmade]), 0);
	shmrt_manager_close(conn);
	conn = NULL;
	assert_int_equal(shmrt_manager_shutdown(srv), 0);
	srv = NULL;
	return 0;
}

#define I(x) shmrt_mv_int(x)
#define S(x) shmrt_mv_str(x)
#define B(x) shmrt_mv_bool(x)
#define NIL shmrt_mv_nil()

/* A list of n values. */
static inline shmrt_mv_t *L(int n, ...)
{
	va_list ap;
	shmrt_mv_t *l = shmrt_mv_list();
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		if (shmrt_mv_list_append(l, va_arg(ap, shmrt_mv_t *)))
			abort();
	va_end(ap);
	return l;
}

/* v's int, or INT64_MIN if it holds none. */
static inline int64_t ival(const shmrt_mv_t *v)
{
	int64_t x;
	return shmrt_mv_as_int(v, &x) ? INT64_MIN : x;
}

/* p.method(*args) with the client's limit: the rc; *b gets a bool result (if any). */
static inline int callb(shmrt_proxy_t *p, const char *method, shmrt_mv_t *args, bool *b)
{
	shmrt_mv_t *res = NULL;
	int rc = shmrt_proxy_call(p, method, args, LONG_WAIT, &res);
	if (rc == 0 && b && shmrt_mv_as_bool(res, b))
		rc = -EPROTO;
	shmrt_mv_free(res);
	return rc;
}

/* Expects a bool answer. */
static inline void expect_b(shmrt_proxy_t *p, const char *method, shmrt_mv_t *args, bool want)
{
	bool b = !want;
	int rc = callb(p, method, args, &b);
	if (rc)
		fail_msg("%s: rc %d", method, rc);
	assert_int_equal(b, want);
}

static inline int64_t stat_of(shmrt_manager_conn_t *c, const char *name)
{
	shmrt_mv_t *m;
	int64_t v = -1;
	if (shmrt_manager_stats(c, &m))
		return -1;
	if (shmrt_mv_as_int(shmrt_mv_map_get_str(m, name), &v))
		v = -1;
	shmrt_mv_free(m);
	return v;
}

/* Waits (at most 10 s) until the server's figure name is want. */
static inline void wait_stat(const char *name, int64_t want)
{
	uint64_t until = tu_ms() + 10000;
	while (stat_of(conn, name) != want) {
		if (tu_ms() > until)
			fail_msg("stats %s never reached %lld", name, (long long)want);
		usleep(1000);
	}
}

static inline shmrt_manager_conn_t *child_conn(void)
{
	shmrt_manager_conn_t *c;
	if (shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC, &c))
		_exit(90);
	shmrt_manager_set_timeout(c, 20 * SEC);
	return c;
}

static inline shmrt_proxy_t *child_proxy(shmrt_manager_conn_t *c, uint64_t ref)
{
	shmrt_proxy_t *p;
	if (shmrt_manager_proxy(c, ref, &p))
		_exit(91);
	return p;
}

static inline shmrt_proxy_t *create(const char *type, shmrt_mv_t *init)
{
	shmrt_proxy_t *p;
	assert_int_equal(shmrt_manager_create(conn, type, init, &p), 0);
	assert_true(nmade < 16);
	made[nmade++] = p;
	return p;
}

/* Expects method to park for about ms milliseconds and answer rc (and False when
 * rc is 0). */
static inline void expect_timeout(shmrt_proxy_t *p, const char *method, shmrt_mv_t *args,
				  int want_rc, int ms)
{
	uint64_t t0 = mono_ns();
	bool b = true;
	int rc = callb(p, method, args, &b);
	uint64_t took = (mono_ns() - t0) / MS;
	if (rc != want_rc)
		fail_msg("%s: rc %d, expected %d", method, rc, want_rc);
	if (rc == 0)
		assert_false(b);
	if (took + 1 < (uint64_t)ms || took > (uint64_t)ms + 3000)
		fail_msg("%s: answered after %llu ms, expected about %d", method,
			 (unsigned long long)took, ms);
}

#endif /* SHMRT_TESTS_MANAGER_MP_UTIL_H */
