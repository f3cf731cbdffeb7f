/*
 * What the Manager's multi-process tests share: the server and the parent's
 * connection (srv, conn), starting and stopping them, new connections, the short
 * value constructors (I, S, F, B, BY, NIL, L), a call checked against Python's repr
 * (expect), the server's figures (stat_of) and an object's reference count
 * (refs_of). Every wait is bounded. Include once, after testutil.h.
 *
 * Set before the include:
 *  - MMU_BLOCKING: the blocking types' tests (manager_sync_test.c, manager_cond_test.c,
 *    manager_refs_test.c): forked children call these functions too, so a failed step
 *    aborts instead of asserting, stat_of answers -1 rather than asserting (it is
 *    polled), and the fixtures release the parent's proxies (create) and kill the
 *    children first; plus the children's connections and the parked calls' checks.
 *  - MMU_OWN_FIXTURES: the test has its own setup and teardown (built with
 *    server_up and server_down, or not); otherwise setup starts a server with the
 *    default options and connects conn, teardown closes both and kills children.
 */
#ifndef SHMRT_TESTS_MANAGER_MP_UTIL_H
#define SHMRT_TESTS_MANAGER_MP_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"

static const char KEY[] = "manager-mp-test-authkey";
#define KEYLEN (sizeof(KEY) - 1)
#define SEC 1000000000ll
#define MS 1000000ll

static shmrt_manager_server_t *srv;
static shmrt_manager_conn_t *conn;

/* A step that must return 0: asserted, or (MMU_BLOCKING, where children run it too)
 * abort()ed on. */
#ifdef MMU_BLOCKING
#define MMU_OK(x)                                                                      \
	do {                                                                           \
		if ((x) != 0)                                                          \
			abort();                                                       \
	} while (0)
#else
#define MMU_OK(x) assert_int_equal((x), 0)
#endif

#define I(x) shmrt_mv_int(x)
#define S(x) shmrt_mv_str(x)
#define F(x) shmrt_mv_float(x)
#define B(x) shmrt_mv_bool(x)
#define BY(x) shmrt_mv_bytes(x, sizeof(x) - 1)
#define NIL shmrt_mv_nil()

/* A list of n values (consumed). */
static inline shmrt_mv_t *L(int n, ...)
{
	va_list ap;
	shmrt_mv_t *l = shmrt_mv_list();
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		MMU_OK(shmrt_mv_list_append(l, va_arg(ap, shmrt_mv_t *)));
	va_end(ap);
	return l;
}

/* A new connection to srv, with the client's limit at 20 s. */
static inline shmrt_manager_conn_t *connect_srv(void)
{
	shmrt_manager_conn_t *c;
	assert_int_equal(shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC,
					       &c), 0);
	shmrt_manager_set_timeout(c, 20 * SEC);
	/* SHMRT_MANAGER_SHM=1 (the *_shm variants of the tests): a local Unix server's
	 * connection must have its shared-memory channel, or the variant would test the
	 * socket again; otherwise the socket (for good with =0, the first runs of those
	 * tests; until the 1024th call unset). A TCP server's is always on its socket. */
	const char *e = getenv("SHMRT_MANAGER_SHM");
	int sock = !(e && !strcmp(e, "1")) || strncmp(shmrt_manager_address(srv), "unix:", 5);
	assert_int_equal(shmrt_manager_channel(c),
			 sock ? SHMRT_MANAGER_CHANNEL_SOCKET : SHMRT_MANAGER_CHANNEL_SHM);
	return c;
}

/* In a forked child: a new connection to srv. No assertion (a child reports through
 * its exit status). Returns shmrt_manager_connect's result. */
static inline int child_connect(shmrt_manager_conn_t **c)
{
	return shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC, c);
}

/* Starts srv (o: its options, NULL: the defaults) and connects conn to it. */
static inline void server_up(const shmrt_manager_opts_t *o)
{
	assert_int_equal(shmrt_manager_start("unix:", KEY, KEYLEN, o, &srv), 0);
	conn = connect_srv();
}

/* Closes conn and stops srv. */
static inline void server_down(void)
{
	shmrt_manager_close(conn);
	conn = NULL;
	assert_int_equal(shmrt_manager_shutdown(srv), 0);
	srv = NULL;
}

/* Calls p.method(*args) and checks the error code and, when 0, the result's repr;
 * line: the caller's, for the message. */
static inline void expect_at(int line, shmrt_proxy_t *p, const char *method, shmrt_mv_t *args,
			     int rc, const char *repr)
{
	shmrt_mv_t *res = NULL;
	int got = shmrt_proxy_call(p, method, args, 20 * SEC, &res);
	if (got != rc)
		fail_msg("line %d: %s: rc %d, expected %d", line, method, got, rc);
	if (rc == 0 && repr) {
		char buf[512];
		assert_true(shmrt_mv_repr(res, buf, sizeof(buf)) < (ssize_t)sizeof(buf));
		if (strcmp(buf, repr))
			fail_msg("line %d: %s: %s, expected %s", line, method, buf, repr);
	}
	shmrt_mv_free(res);
}
#define expect(...) expect_at(__LINE__, __VA_ARGS__)

#ifndef MMU_OWN_FIXTURES
/* Starts a server with the default options and connects conn. */
static inline int setup(void **state)
{
	(void)state;
	server_up(NULL);
	return 0;
}
#endif

#ifndef MMU_BLOCKING

/* The server's figure name, asked on c. */
static inline int64_t stat_of(shmrt_manager_conn_t *c, const char *name)
{
	shmrt_mv_t *m = NULL;
	int64_t v = -1;
	assert_int_equal(shmrt_manager_stats(c, &m), 0);
	const shmrt_mv_t *x = shmrt_mv_map_get_str(m, name);
	assert_non_null(x);
	assert_int_equal(shmrt_mv_as_int(x, &v), 0);
	shmrt_mv_free(m);
	return v;
}

/* The reference count the server shows for object id (its "refs" in `ls`,
 * shmrt_manager_objects). */
static inline int64_t refs_of(uint64_t id)
{
	shmrt_mv_t *m;
	int64_t refs = -1;
	assert_int_equal(shmrt_manager_objects(conn, &m), 0);
	shmrt_mv_t *objs = shmrt_mv_map_get_str(m, "objects");
	for (size_t i = 0; i < shmrt_mv_list_len(objs); i++) {
		shmrt_mv_t *o = shmrt_mv_list_get(objs, (int64_t)i);
		uint64_t got;
		assert_int_equal(shmrt_mv_as_ref(shmrt_mv_map_get_str(o, "id"), &got), 0);
		if (got == id)
			assert_int_equal(shmrt_mv_as_int(shmrt_mv_map_get_str(o, "refs"), &refs), 0);
	}
	shmrt_mv_free(m);
	return refs;
}


#ifndef MMU_OWN_FIXTURES
/* Closes conn, stops the server, kills the children left. */
static inline int teardown(void **state)
{
	(void)state;
	server_down();
	tu_kill_all();
	return 0;
}
#endif

#else /* MMU_BLOCKING */

/* The client's own limit on a call parked "forever" (the server's side has none). */
#define LONG_WAIT (30 * SEC)

static shmrt_proxy_t *made[16]; /* the parent's proxies, released at teardown */
static int nmade;
static uint64_t g_a, g_b; /* refs handed to forked children */
static int pfd[2];          /* child -> parent notes */

static inline int teardown(void **state)
{
	(void)state;
	tu_kill_all();
	while (nmade)
		assert_int_equal(shmrt_proxy_release(made[--nmade]), 0);
	server_down();
	return 0;
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
	if (child_connect(&c))
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

#endif /* MMU_BLOCKING */

#endif /* SHMRT_TESTS_MANAGER_MP_UTIL_H */
