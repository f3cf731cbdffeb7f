/*
 * The Manager server's resource limits (shmrt_manager_opts_t), each with a small
 * value and a real server process: a frame begun after the handshake and left
 * unfinished past frame_timeout drops its connection while a good client is served; a
 * session past max_parked gets -EDQUOT for the call past it and keeps working; the
 * server-wide max_buffered drops the connection holding the most (a 6 MiB partial
 * frame) and keeps the others; a flood of silent connections (more than
 * max_handshakes) does not keep a good client from connecting and being served; at
 * max_conns a newcomer is refused, unless a connection still in its handshake can
 * make room. The server's own figures (the stats op: "buffered", "handshakes",
 * "parked") are checked, not its memory. Every wait is bounded; the servers are
 * stopped at the end of each test.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "manager/auth.h"
#include "manager/transport.h"

#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MMU_OWN_FIXTURES
#include "manager_mp_util.h"

static void start(const shmrt_manager_opts_t *o)
{
	assert_int_equal(shmrt_manager_start("unix:", KEY, KEYLEN, o, &srv), 0);
}

static int teardown(void **state)
{
	(void)state;
	if (srv)
		assert_int_equal(shmrt_manager_shutdown(srv), 0);
	srv = NULL;
	tu_kill_all();
	return 0;
}

static shmrt_manager_conn_t *good(void)
{
	return connect_srv();
}

/* A raw connection to the server; authenticated when auth is set. */
static int raw(int auth)
{
	shmrt__addr_t a;
	const char *why;
	int fd = -1;
	assert_int_equal(shmrt__addr_parse(shmrt_manager_address(srv), &a, &why), 0);
	assert_int_equal(shmrt__connect(&a, 10 * SEC, &fd), 0);
	if (auth)
		assert_int_equal(shmrt__auth_run(fd, SHMRT__AUTH_CLIENT, KEY, KEYLEN, 10 * SEC), 0);
	return fd;
}

/* Sends n bytes on the non-blocking fd, waiting at most 10 s; returns 0 or -errno
 * (the server dropped the connection). */
static int send_all(int fd, const void *p, size_t n)
{
	uint64_t end = tu_ms() + 10000;
	const char *b = p;
	while (n) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		if (k > 0) {
			b += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (tu_ms() > end)
			return -ETIMEDOUT;
		struct pollfd pf = { .fd = fd, .events = POLLOUT };
		(void)poll(&pf, 1, 100);
	}
	return 0;
}

/* Sends the 4-byte header of an n-byte frame. */
static int send_header(int fd, uint32_t n)
{
	uint8_t h[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
	return send_all(fd, h, 4);
}

/* Whether the server closed fd, waiting at most ms (whatever it sent is skipped). */
static int closed_within(int fd, int ms)
{
	uint64_t end = tu_ms() + (uint64_t)ms;
	char b[4096];
	for (;;) {
		int left = (int)(end - tu_ms());
		if (tu_ms() >= end)
			return 0;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, left) <= 0)
			continue;
		ssize_t k = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
}


/* A dict with one item on c, and a call on it that must answer 42. */
static void served(shmrt_manager_conn_t *c)
{
	shmrt_proxy_t *d;
	assert_int_equal(shmrt_manager_create(c, "dict", NULL, &d), 0);
	assert_int_equal(shmrt_proxy_call2(d, "__setitem__", shmrt_mv_str("k"), shmrt_mv_int(42),
					   NULL), 0);
	shmrt_mv_t *r = NULL;
	assert_int_equal(shmrt_proxy_call1(d, "__getitem__", shmrt_mv_str("k"), &r), 0);
	int64_t x = 0;
	assert_int_equal(shmrt_mv_as_int(r, &x), 0);
	assert_int_equal(x, 42);
	shmrt_mv_free(r);
	assert_int_equal(shmrt_proxy_release(d), 0);
}

static void partial_frame_dropped(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = { .frame_timeout = 300 * MS };
	start(&o);
	shmrt_manager_conn_t *c = good();
	int fd = raw(1);
	char part[1000];
	memset(part, 0x90, sizeof(part));
	assert_int_equal(send_header(fd, 1u << 20), 0);
	assert_int_equal(send_all(fd, part, sizeof(part)), 0);
	served(c); /* while the partial frame waits */
	assert_true(closed_within(fd, 10000));
	served(c);
	close(fd);
	shmrt_manager_close(c);
}

/* A client process that pipelines 9 Event waits on ref (a batch with a long timeout):
 * exits 0 if the first 8 parked and were answered True by the set, and the 9th was
 * refused -EDQUOT at once. (A batch that timed out would cancel its parked calls, so
 * the calls are kept parked by a process that waits for them.) */
static int parker_main(void *arg)
{
	uint64_t ref = *(const uint64_t *)arg;
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *ev;
	if (child_connect(&c) ||
	    shmrt_manager_proxy(c, ref, &ev))
		return 10;
	shmrt_proxy_req_t r[9];
	for (int i = 0; i < 9; i++)
		r[i] = (shmrt_proxy_req_t){ .proxy = ev, .method = "wait", .args = NULL };
	if (shmrt_proxy_call_batch(c, r, 9, 30 * SEC))
		return 11;
	for (int i = 0; i < 8; i++) {
		bool t = false;
		if (r[i].rc || shmrt_mv_as_bool(r[i].result, &t) || !t)
			return 12;
		shmrt_mv_free(r[i].result);
	}
	return r[8].rc == -EDQUOT ? 0 : 13;
}

/* Polls the server's parked-call count until it is want (at most 10 s). */
static int64_t parked_until(shmrt_manager_conn_t *c, int64_t want)
{
	int64_t n = -1;
	for (int i = 0; i < 1000 && (n = stat_of(c, "parked")) != want; i++)
		usleep(10000);
	return n;
}

static void parked_cap(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = { .max_parked = 8 };
	start(&o);
	shmrt_manager_conn_t *c = good(), *c2 = good();
	shmrt_proxy_t *ev, *ev2;
	assert_int_equal(shmrt_manager_create(c, "Event", NULL, &ev), 0);
	assert_int_equal(shmrt_manager_proxy(c2, shmrt_proxy_ref(ev), &ev2), 0);
	/* another process parks 8 waits; its 9th is refused at once */
	uint64_t ref = shmrt_proxy_ref(ev);
	pid_t p = tu_fork(parker_main, &ref);
	assert_int_equal(parked_until(c, 8), 8);
	/* the other sessions are not capped by that one's calls: c2 parks one (until
	 * its batch times out and cancels it) */
	shmrt_proxy_req_t r2 = { .proxy = ev2, .method = "wait", .args = NULL };
	assert_int_equal(shmrt_proxy_call_batch(c2, &r2, 1, 100 * MS), -ETIMEDOUT);
	assert_int_equal(r2.rc, -ETIMEDOUT);
	assert_int_equal(stat_of(c2, "parked"), 8);
	assert_int_equal(shmrt_proxy_call0(ev2, "set", NULL), 0);
	assert_int_equal(tu_wait(p, 10000), 0);
	assert_int_equal(stat_of(c, "parked"), 0);
	served(c);
	assert_int_equal(shmrt_proxy_release(ev2), 0);
	assert_int_equal(shmrt_proxy_release(ev), 0);
	shmrt_manager_close(c2);
	shmrt_manager_close(c);
}

static void byte_budget(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = { .max_buffered = 4u << 20 };
	start(&o);
	shmrt_manager_conn_t *c = good();
	int small = raw(1), hog = raw(1);
	static char chunk[64 << 10];
	memset(chunk, 0x90, sizeof(chunk));
	assert_int_equal(send_header(small, 200000), 0);
	assert_int_equal(send_all(small, chunk, sizeof(chunk)), 0);
	assert_int_equal(send_header(hog, 12u << 20), 0);
	int rc = 0;
	for (int i = 0; i < 96 && rc == 0; i++) /* 6 MiB */
		rc = send_all(hog, chunk, sizeof(chunk));
	assert_true(closed_within(hog, 10000));
	assert_false(closed_within(small, 200));
	assert_true(stat_of(c, "buffered") <= (int64_t)(4u << 20));
	assert_int_equal(stat_of(c, "sessions"), 2);
	served(c);
	close(hog);
	close(small);
	shmrt_manager_close(c);
}

static void preauth_flood(void **state)
{
	(void)state;
	enum { N = 100 };
	shmrt_manager_opts_t o = { .max_handshakes = 16 };
	start(&o);
	int fds[N];
	for (int i = 0; i < N; i++)
		fds[i] = raw(0);
	shmrt_manager_conn_t *c = good();
	served(c);
	assert_true(stat_of(c, "handshakes") <= 16);
	/* the oldest silent ones were dropped: the first is closed by now */
	assert_true(closed_within(fds[0], 10000));
	for (int i = 0; i < N; i++)
		close(fds[i]);
	shmrt_manager_close(c);
}

static void conn_cap(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = { .max_conns = 4 };
	start(&o);
	shmrt_manager_conn_t *c[4];
	for (int i = 0; i < 4; i++)
		c[i] = good();
	shmrt_manager_conn_t *x = NULL;
	assert_int_not_equal(shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 5 * SEC,
						   &x), 0);
	assert_null(x);
	served(c[3]);
	/* one leaves: a newcomer is let in (the server sees the close soon) */
	shmrt_manager_close(c[0]);
	uint64_t end = tu_ms() + 10000;
	int rc;
	while ((rc = shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 5 * SEC,
					   &c[0])) != 0 &&
	       tu_ms() < end)
		usleep(10000);
	assert_int_equal(rc, 0);
	served(c[0]);
	/* a connection still in its handshake makes room for a newcomer */
	shmrt_manager_close(c[1]);
	end = tu_ms() + 10000;
	int silent = -1;
	while (tu_ms() < end) {
		silent = raw(0);
		if (stat_of(c[3], "handshakes") == 1)
			break;
		close(silent);
		silent = -1;
		usleep(10000);
	}
	assert_true(silent >= 0);
	assert_int_equal(shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 5 * SEC,
					       &c[1]), 0);
	assert_true(closed_within(silent, 10000));
	served(c[1]);
	close(silent);
	for (int i = 0; i < 4; i++)
		shmrt_manager_close(c[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(partial_frame_dropped, teardown),
		cmocka_unit_test_teardown(parked_cap, teardown),
		cmocka_unit_test_teardown(byte_budget, teardown),
		cmocka_unit_test_teardown(preauth_flood, teardown),
		cmocka_unit_test_teardown(conn_cap, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
