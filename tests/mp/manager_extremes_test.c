/*
 * Well-formed requests with extreme arguments, from a normal client: list indices,
 * index bounds and inserts at the ends of int64, a Namespace increment that
 * overflows (-ERANGE), nan and -0.0 as values and dict keys, an unhashable key,
 * Semaphores at the ends of their count, timeouts of INT64_MAX (answered at once
 * when nothing is to be waited for), negative, infinite, and Queue sizes at the ends
 * of int64. Each gets its documented answer, and the connection lives on (a ping
 * after every call): a server that overflowed would abort under UBSan
 * (-fno-sanitize-recover), one that dropped a correct client would end the
 * connection. Every wait is bounded.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>

#define MMU_OWN_FIXTURES
#include "manager_mp_util.h"

#define L0() shmrt_mv_list()

/* Calls p.method(*args): the answer may be anything but the connection's end (a
 * server that crashed, or dropped a client that sent nothing wrong). */
static shmrt_manager_conn_t *poked;

static int poke(shmrt_proxy_t *p, const char *method, shmrt_mv_t *args)
{
	int rc = shmrt_proxy_call(p, method, args, 10 * SEC, NULL);
	if (rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN || shmrt_manager_ping(poked))
		fail_msg("%s: %d: the connection ended", method, rc);
	return rc;
}

static void extreme_arguments(void **state)
{
	(void)state;
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *p;
	assert_int_equal(shmrt_manager_start("unix:", KEY, KEYLEN, NULL, &srv), 0);
	assert_int_equal(shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC,
					       &c), 0);
	poked = c;
	/* list indices at the ends of int64 */
	assert_int_equal(shmrt_manager_create(c, "list", L(2, I(1), I(2)), &p), 0);
	static const int64_t ends[] = { INT64_MIN, INT64_MIN + 1, -3, 2, INT64_MAX };
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		int64_t x = ends[i];
		assert_int_equal(poke(p, "__getitem__", L(1, I(x))), -ERANGE);
		assert_int_equal(poke(p, "__setitem__", L(2, I(x), I(0))), -ERANGE);
		assert_int_equal(poke(p, "__delitem__", L(1, I(x))), -ERANGE);
		assert_int_equal(poke(p, "pop", L(1, I(x))), -ERANGE);
		for (size_t j = 0; j < sizeof(ends) / sizeof(ends[0]); j++)
			assert_int_equal(poke(p, "index", L(3, I(1), I(x), I(ends[j]))),
					 x <= -2 && (ends[j] > 0 || ends[j] == -1) ? 0 : -ENOENT);
	}
	assert_int_equal(poke(p, "insert", L(2, I(INT64_MIN), I(0))), 0);
	assert_int_equal(poke(p, "insert", L(2, I(INT64_MAX), I(3))), 0);
	assert_int_equal(poke(p, "append", L(1, F(0.0 / 0.0))), 0);
	assert_int_equal(poke(p, "count", L(1, F(0.0 / 0.0))), 0);
	poke(p, "sort", NULL); /* nan among ints: Python sorts without complaint */
	assert_int_equal(poke(p, "__len__", NULL), 0);
	assert_int_equal(shmrt_proxy_release(p), 0);
	/* Namespace increments that overflow */
	assert_int_equal(shmrt_manager_create(c, "Namespace", NULL, &p), 0);
	assert_int_equal(poke(p, "__setattr__", L(2, S("x"), I(INT64_MAX))), 0);
	assert_int_equal(poke(p, "incr", L(2, S("x"), I(1))), -ERANGE);
	assert_int_equal(poke(p, "__setattr__", L(2, S("x"), I(INT64_MIN))), 0);
	assert_int_equal(poke(p, "incr", L(2, S("x"), I(-1))), -ERANGE);
	poke(p, "incr", L(2, S("x"), F(1.0 / 0.0)));
	assert_int_equal(shmrt_proxy_release(p), 0);
	/* dict keys Python finds odd: nan, -0.0 against 0, True against 1 */
	assert_int_equal(shmrt_manager_create(c, "dict", NULL, &p), 0);
	assert_int_equal(poke(p, "__setitem__", L(2, F(0.0 / 0.0), I(1))), 0);
	assert_int_equal(poke(p, "__setitem__", L(2, F(-0.0), I(2))), 0);
	assert_int_equal(poke(p, "__getitem__", L(1, I(0))), 0);
	assert_int_equal(poke(p, "__setitem__", L(2, L0(), I(3))), -EINVAL); /* unhashable */
	assert_int_equal(shmrt_proxy_release(p), 0);
	/* semaphores at the ends of their count */
	assert_int_equal(shmrt_manager_create(c, "Semaphore", I(INT64_MAX), &p), 0);
	assert_int_equal(poke(p, "release", NULL), -EINVAL);
	assert_int_equal(poke(p, "release", L(1, I(INT64_MAX))), -EINVAL);
	assert_int_equal(poke(p, "release", L(1, I(-1))), -EINVAL);
	assert_int_equal(poke(p, "release", L(1, I(0))), -EINVAL);
	assert_int_equal(poke(p, "acquire", L(2, shmrt_mv_bool(true), I(INT64_MAX))), 0);
	assert_int_equal(poke(p, "release", L(1, I(1))), 0);
	assert_int_equal(poke(p, "get_value", NULL), 0);
	assert_int_equal(shmrt_proxy_release(p), 0);
	assert_int_equal(shmrt_manager_create(c, "Semaphore", I(-1), &p), -EINVAL);
	assert_int_equal(shmrt_manager_create(c, "BoundedSemaphore", I(INT64_MIN), &p), -EINVAL);
	/* timeouts: the largest (answered at once: nothing to wait for), negative */
	assert_int_equal(shmrt_manager_create(c, "Lock", NULL, &p), 0);
	assert_int_equal(poke(p, "acquire", L(2, shmrt_mv_bool(true), I(INT64_MAX))), 0);
	assert_int_equal(poke(p, "release", NULL), 0);
	assert_int_equal(poke(p, "acquire", L(2, shmrt_mv_bool(true), I(-1))), -EINVAL);
	assert_int_equal(poke(p, "acquire", L(2, shmrt_mv_bool(true), I(INT64_MIN))), -EINVAL);
	assert_int_equal(poke(p, "acquire", L(2, shmrt_mv_bool(true), F(1.0 / 0.0))), -EINVAL);
	assert_int_equal(shmrt_proxy_release(p), 0);
	assert_int_equal(shmrt_manager_create(c, "Queue", I(INT64_MAX), &p), 0);
	assert_int_equal(poke(p, "put", L(3, I(1), shmrt_mv_bool(true), I(INT64_MAX))), 0);
	assert_int_equal(poke(p, "get", L(2, shmrt_mv_bool(true), I(INT64_MAX))), 0);
	assert_int_equal(poke(p, "get", L(2, shmrt_mv_bool(true), I(INT64_MIN))), -EINVAL);
	assert_int_equal(poke(p, "get", L(2, shmrt_mv_bool(true), I(0))), -ETIMEDOUT);
	assert_int_equal(poke(p, "qsize", NULL), 0);
	assert_int_equal(shmrt_proxy_release(p), 0);
	assert_int_equal(shmrt_manager_create(c, "Queue", I(INT64_MIN), &p), 0); /* unbounded */
	assert_int_equal(poke(p, "full", NULL), 0);
	assert_int_equal(shmrt_proxy_release(p), 0);
	assert_int_equal(shmrt_manager_create(c, "Event", NULL, &p), 0);
	assert_int_equal(poke(p, "set", NULL), 0);
	assert_int_equal(poke(p, "wait", L(1, I(INT64_MAX))), 0);
	assert_int_equal(poke(p, "wait", L(1, I(-5))), -EINVAL);
	assert_int_equal(shmrt_proxy_release(p), 0);
	assert_int_equal(stat_of(c, "objects"), 0);
	shmrt_manager_close(c);
	assert_int_equal(shmrt_manager_shutdown(srv), 0); /* alive until asked to stop */
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(extreme_arguments),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_kill_all();
	return rc;
}
