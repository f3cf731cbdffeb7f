/*
 * The Manager across processes: a server started by shmrt_manager_start, clients in
 * this process and in forked children. Every dict, list and Namespace method against
 * what Python 3.11 answers (reprs written down from python3); 2 and 8 client processes
 * appending to one list and incrementing one Namespace attribute (exact counts); refs
 * inside containers keep objects alive, releases and a client's exit free them; a
 * proxy from before a server restart gets -ESTALE; bad requests get error replies; a
 * client killed mid-frame, one that sends garbage after or before the handshake, and
 * a wrong authkey leave the server serving a well-behaved client; a dead server fails
 * a call at once. Every wait is bounded; children are killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "manager/auth.h"
#include "manager/frame.h"
#include "manager/transport.h"

#include "manager_mp_util.h"

static void dict_methods(void **state)
{
	(void)state;
	shmrt_proxy_t *d;
	assert_int_equal(shmrt_manager_create(conn, "dict", NULL, &d), 0);
	expect(d, "__setitem__", L(2, I(1), S("1")), 0, "None");
	expect(d, "__setitem__", L(2, S("2"), I(2)), 0, NULL);
	expect(d, "__setitem__", L(2, F(0.25), NIL), 0, NULL);
	expect(d, "copy", NULL, 0, "{1: '1', '2': 2, 0.25: None}");
	expect(d, "__setitem__", L(2, shmrt_mv_bool(true), S("t")), 0, NULL); /* d[True] */
	expect(d, "copy", NULL, 0, "{1: 't', '2': 2, 0.25: None}");
	expect(d, "get", L(1, S("2")), 0, "2");
	expect(d, "get", L(1, S("x")), 0, "None");
	expect(d, "get", L(2, S("x"), I(7)), 0, "7");
	expect(d, "__getitem__", L(1, F(1.0)), 0, "'t'");
	expect(d, "__getitem__", L(1, S("x")), -ENOENT, NULL);           /* KeyError */
	expect(d, "__getitem__", L(1, L(0)), -EINVAL, NULL);             /* TypeError */
	expect(d, "__contains__", L(1, S("2")), 0, "True");
	expect(d, "__contains__", L(1, I(3)), 0, "False");
	expect(d, "keys", NULL, 0, "[1, '2', 0.25]");
	expect(d, "values", NULL, 0, "['t', 2, None]");
	expect(d, "items", NULL, 0, "[[1, 't'], ['2', 2], [0.25, None]]");
	expect(d, "__len__", NULL, 0, "3");
	expect(d, "__delitem__", L(1, S("2")), 0, "None");
	expect(d, "__delitem__", L(1, S("2")), -ENOENT, NULL);
	expect(d, "update", L(1, L(2, L(2, S("a"), I(1)), L(2, I(1), S("one")))), 0, NULL);
	expect(d, "copy", NULL, 0, "{1: 'one', 0.25: None, 'a': 1}");
	shmrt_mv_t *m = shmrt_mv_map();
	assert_int_equal(shmrt_mv_map_set(m, S("b"), L(2, I(1), I(2))), 0);
	expect(d, "update", L(1, m), 0, NULL);
	expect(d, "pop", L(1, S("a")), 0, "1");
	expect(d, "pop", L(1, S("a")), -ENOENT, NULL);
	expect(d, "pop", L(2, S("a"), S("dflt")), 0, "'dflt'");
	expect(d, "setdefault", L(2, S("c"), I(3)), 0, "3");
	expect(d, "setdefault", L(2, S("c"), I(4)), 0, "3");
	expect(d, "setdefault", L(1, S("n")), 0, "None");
	expect(d, "copy", NULL, 0, "{1: 'one', 0.25: None, 'b': [1, 2], 'c': 3, 'n': None}");
	expect(d, "popitem", NULL, 0, "['n', None]");
	expect(d, "popitem", NULL, 0, "['c', 3]");
	expect(d, "__iter__", NULL, 0, "[1, 0.25, 'b']");
	expect(d, "clear", NULL, 0, "None");
	expect(d, "copy", NULL, 0, "{}");
	expect(d, "popitem", NULL, -ENOENT, NULL);
	expect(d, "__len__", NULL, 0, "0");
	/* bad requests */
	expect(d, "__setitem__", L(1, I(1)), -EINVAL, NULL);               /* arity */
	expect(d, "no_such_method", NULL, -ENOENT, NULL);
	/* Method names the client's short cut leaves to the general encoder (32 bytes
	 * and more, non-ASCII), and the longest it takes: the same answers. */
	expect(d, "no_such_method_whose_name_is_long_", NULL, -ENOENT, NULL);
	expect(d, "m\xc3\xa9thode", NULL, -ENOENT, NULL);
	expect(d, "no_such_method_of_31_bytes_long", L(1, I(-70000)), -ENOENT, NULL);
	expect(d, "__len__", L(0), 0, "0");
	/* Replies whose ints take the wider forms: a large result, an rc under -32. */
	expect(d, "__setitem__", L(2, I(1), I(INT64_MIN)), 0, NULL);
	expect(d, "__getitem__", L(1, I(1)), 0, "-9223372036854775808");
	expect(d, "__getitem__", L(1, S("x")), -ENOENT, NULL);
	expect(d, "clear", NULL, 0, "None");
	shmrt_proxy_t *q;
	assert_int_equal(shmrt_manager_create(conn, "Queue", NULL, &q), 0);
	expect(q, "get", L(2, shmrt_mv_bool(true), I(0)), -ETIMEDOUT, NULL); /* int 8 rc */
	assert_int_equal(shmrt_proxy_release(q), 0);
	assert_int_equal(shmrt_proxy_release(d), 0);
	shmrt_proxy_t *x;
	assert_int_equal(shmrt_manager_create(conn, "nosuchtype", NULL, &x), -ENOENT);
	assert_int_equal(shmrt_manager_create(conn, "dict", L(0), &x), -EINVAL);
}

static void list_methods(void **state)
{
	(void)state;
	shmrt_proxy_t *l;
	assert_int_equal(shmrt_manager_create(conn, "list", L(3, I(3), I(1), I(2)), &l), 0);
	expect(l, "append", L(1, I(1)), 0, "None");
	expect(l, "extend", L(1, L(2, F(0.5), shmrt_mv_bool(true))), 0, NULL);
	expect(l, "copy", NULL, 0, "[3, 1, 2, 1, 0.5, True]");
	expect(l, "insert", L(2, I(-100), S("a")), 0, NULL);
	expect(l, "insert", L(2, I(100), S("z")), 0, NULL);
	expect(l, "insert", L(2, I(-1), S("y")), 0, NULL);
	expect(l, "copy", NULL, 0, "['a', 3, 1, 2, 1, 0.5, True, 'y', 'z']");
	expect(l, "count", L(1, I(1)), 0, "3"); /* 1, 1, True */
	expect(l, "index", L(1, I(1)), 0, "2");
	expect(l, "index", L(2, I(1), I(3)), 0, "4");
	expect(l, "index", L(3, I(1), I(-3), I(-1)), 0, "6");
	expect(l, "index", L(1, S("q")), -ENOENT, NULL); /* ValueError */
	expect(l, "remove", L(1, S("a")), 0, NULL);
	expect(l, "remove", L(1, S("a")), -ENOENT, NULL);
	expect(l, "pop", NULL, 0, "'z'");
	expect(l, "pop", L(1, I(0)), 0, "3");
	expect(l, "pop", L(1, I(50)), -ERANGE, NULL); /* IndexError */
	expect(l, "copy", NULL, 0, "[1, 2, 1, 0.5, True, 'y']");
	expect(l, "sort", NULL, -EINVAL, NULL); /* 'y' < 1: TypeError */
	expect(l, "copy", NULL, 0, "[1, 2, 1, 0.5, True, 'y']");
	expect(l, "pop", NULL, 0, "'y'");
	expect(l, "sort", NULL, 0, NULL);
	expect(l, "copy", NULL, 0, "[0.5, 1, 1, True, 2]"); /* stable */
	expect(l, "sort", L(1, shmrt_mv_bool(true)), 0, NULL);
	expect(l, "copy", NULL, 0, "[2, 1, 1, True, 0.5]"); /* stable, reversed */
	expect(l, "reverse", NULL, 0, NULL);
	expect(l, "copy", NULL, 0, "[0.5, True, 1, 1, 2]");
	expect(l, "__len__", NULL, 0, "5");
	expect(l, "__getitem__", L(1, I(-1)), 0, "2");
	expect(l, "__getitem__", L(1, I(5)), -ERANGE, NULL);
	expect(l, "__getitem__", L(1, S("0")), -EINVAL, NULL);
	expect(l, "__setitem__", L(2, I(-2), S("x")), 0, NULL);
	expect(l, "__setitem__", L(2, I(-9), S("x")), -ERANGE, NULL);
	expect(l, "__delitem__", L(1, I(0)), 0, NULL);
	expect(l, "__delitem__", L(1, I(9)), -ERANGE, NULL);
	expect(l, "__contains__", L(1, S("x")), 0, "True");
	expect(l, "__iter__", NULL, 0, "[True, 1, 'x', 2]");
	assert_int_equal(shmrt_proxy_release(l), 0);

	shmrt_proxy_t *s;
	assert_int_equal(shmrt_manager_create(conn, "list",
					      L(4, S("b"), S("\xc3\xa9"), S("a"), S("ab")), &s), 0);
	expect(s, "sort", NULL, 0, NULL);
	expect(s, "copy", NULL, 0, "['a', 'ab', 'b', '\xc3\xa9']");
	assert_int_equal(shmrt_proxy_release(s), 0);
}

static void namespace_methods(void **state)
{
	(void)state;
	shmrt_proxy_t *ns;
	assert_int_equal(shmrt_manager_create(conn, "Namespace", NULL, &ns), 0);
	expect(ns, "__getattr__", L(1, S("x")), -ENOENT, NULL); /* AttributeError */
	expect(ns, "__setattr__", L(2, S("x"), I(1)), 0, NULL);
	expect(ns, "__setattr__", L(2, S("y"), S("why")), 0, NULL);
	expect(ns, "__getattr__", L(1, S("x")), 0, "1");
	expect(ns, "incr", L(2, S("x"), I(4)), 0, "5");
	expect(ns, "incr", L(2, S("x"), F(0.5)), 0, "5.5");
	expect(ns, "incr", L(2, S("y"), I(1)), -EINVAL, NULL);
	expect(ns, "incr", L(2, S("q"), I(1)), -ENOENT, NULL);
	expect(ns, "__setattr__", L(2, I(1), I(1)), -EINVAL, NULL); /* names are str */
	expect(ns, "__delattr__", L(1, S("y")), 0, NULL);
	expect(ns, "__delattr__", L(1, S("y")), -ENOENT, NULL);
	expect(ns, "copy", NULL, 0, "{'x': 5.5}");
	assert_int_equal(shmrt_proxy_release(ns), 0);
}

/* ---- several client processes ----------------------------------------------------- */

#define PER_CLIENT 300
static uint64_t shared_l, shared_ns;

static int client_main(void *arg)
{
	int64_t me = (int64_t)(intptr_t)arg;
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *l, *ns;
	if (child_connect(&c) ||
	    shmrt_manager_proxy(c, shared_l, &l) || shmrt_manager_proxy(c, shared_ns, &ns))
		return 2;
	for (int64_t k = 0; k < PER_CLIENT; k++) {
		if (shmrt_proxy_call1(l, "append", shmrt_mv_int(me * 100000 + k), NULL))
			return 3;
		if (shmrt_proxy_call2(ns, "incr", shmrt_mv_str("x"), shmrt_mv_int(1), NULL))
			return 4;
	}
	shmrt_manager_close(c);
	return 0;
}

static void clients(int n)
{
	shmrt_proxy_t *l, *ns;
	shmrt_mv_t *m = shmrt_mv_map();
	assert_int_equal(shmrt_mv_map_set(m, S("x"), I(0)), 0);
	assert_int_equal(shmrt_manager_create(conn, "list", NULL, &l), 0);
	assert_int_equal(shmrt_manager_create(conn, "Namespace", m, &ns), 0);
	shared_l = shmrt_proxy_ref(l);
	shared_ns = shmrt_proxy_ref(ns);
	pid_t pids[16];
	for (int i = 0; i < n; i++)
		pids[i] = tu_fork(client_main, (void *)(intptr_t)i);
	for (int i = 0; i < n; i++)
		assert_int_equal(tu_wait(pids[i], 60000), 0);
	char want[32];
	snprintf(want, sizeof(want), "%d", n * PER_CLIENT);
	expect(ns, "__getattr__", L(1, S("x")), 0, want);
	expect(l, "__len__", NULL, 0, want);
	/* every value exactly once, each client's in its order */
	shmrt_mv_t *v;
	assert_int_equal(shmrt_proxy_call0(l, "copy", &v), 0);
	int64_t next[16] = { 0 };
	for (size_t i = 0; i < shmrt_mv_list_len(v); i++) {
		int64_t x;
		assert_int_equal(shmrt_mv_as_int(shmrt_mv_list_get(v, (int64_t)i), &x), 0);
		assert_int_equal(x % 100000, next[x / 100000]++);
	}
	shmrt_mv_free(v);
	assert_int_equal(stat_of(conn, "sessions"), 1);
	assert_int_equal(shmrt_proxy_release(l), 0);
	assert_int_equal(shmrt_proxy_release(ns), 0);
	assert_int_equal(stat_of(conn, "objects"), 0);
}

static void two_clients(void **state)
{
	(void)state;
	clients(2);
}

static void eight_clients(void **state)
{
	(void)state;
	clients(8);
}

/* ---- references --------------------------------------------------------------------- */

static int leaver_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *p;
	if (child_connect(&c) ||
	    shmrt_manager_create(c, "dict", NULL, &p) || shmrt_manager_create(c, "list", NULL, &p))
		return 2;
	_exit(0); /* neither released nor closed: the kernel closes the socket */
}

static void references(void **state)
{
	(void)state;
	shmrt_proxy_t *d, *l, *l2;
	assert_int_equal(shmrt_manager_create(conn, "dict", NULL, &d), 0);
	assert_int_equal(shmrt_manager_create(conn, "list", L(1, I(7)), &l), 0);
	uint64_t lid = shmrt_proxy_ref(l);
	expect(d, "__setitem__", L(2, S("l"), shmrt_mv_ref(lid)), 0, NULL);
	assert_int_equal(shmrt_proxy_release(l), 0);
	assert_int_equal(stat_of(conn, "objects"), 2); /* d['l'] keeps the list */
	shmrt_mv_t *r;
	assert_int_equal(shmrt_proxy_call1(d, "__getitem__", S("l"), &r), 0);
	uint64_t got;
	assert_int_equal(shmrt_mv_as_ref(r, &got), 0);
	shmrt_mv_free(r);
	assert_int_equal(got, lid);
	assert_int_equal(shmrt_manager_proxy(conn, got, &l2), 0);
	expect(l2, "copy", NULL, 0, "[7]");
	/* the list inside another container inside the dict */
	expect(d, "__setitem__", L(2, S("m"), L(1, shmrt_mv_ref(lid))), 0, NULL);
	assert_int_equal(shmrt_proxy_release(l2), 0);
	expect(d, "__delitem__", L(1, S("l")), 0, NULL);
	assert_int_equal(stat_of(conn, "objects"), 2);
	expect(d, "__setitem__", L(2, S("m"), I(0)), 0, NULL); /* replaced: the last ref */
	assert_int_equal(stat_of(conn, "objects"), 1);
	expect(d, "__setitem__", L(2, S("x"), shmrt_mv_ref(lid)), -ENOENT, NULL); /* freed */
	expect(d, "__setitem__", L(2, S("x"), shmrt_mv_ref(lid ^ (1ull << 48))), -ESTALE, NULL);
	assert_int_equal(shmrt_manager_proxy(conn, lid, &l2), -ENOENT);
	/* a chain: dict -> list -> dict, freed from the top */
	shmrt_proxy_t *a, *b;
	assert_int_equal(shmrt_manager_create(conn, "dict", NULL, &a), 0);
	assert_int_equal(shmrt_manager_create(conn, "list", L(1, shmrt_mv_ref(shmrt_proxy_ref(a))),
					      &b), 0);
	expect(d, "__setitem__", L(2, S("b"), shmrt_mv_ref(shmrt_proxy_ref(b))), 0, NULL);
	assert_int_equal(shmrt_proxy_release(a), 0);
	assert_int_equal(shmrt_proxy_release(b), 0);
	assert_int_equal(stat_of(conn, "objects"), 3);
	assert_int_equal(shmrt_proxy_release(d), 0);
	assert_int_equal(stat_of(conn, "objects"), 0);
	/* a client that exits holding references: its session's end drops them */
	assert_int_equal(tu_wait(tu_fork(leaver_main, NULL), 20000), 0);
	uint64_t until = tu_ms() + 5000;
	while (stat_of(conn, "objects") != 0 && tu_ms() < until)
		usleep(2000);
	assert_int_equal(stat_of(conn, "objects"), 0);
	assert_int_equal(stat_of(conn, "sessions"), 1);
}

/* ---- restart, dead server --------------------------------------------------------- */

static void stale_after_restart(void **state)
{
	(void)state;
	char dir[] = "/tmp/shmrt-mtest-XXXXXX", addr[64];
	assert_non_null(mkdtemp(dir));
	snprintf(addr, sizeof(addr), "unix:%s/s", dir);
	shmrt_manager_server_t *s1, *s2;
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *d;
	assert_int_equal(shmrt_manager_start(addr, KEY, KEYLEN, NULL, &s1), 0);
	assert_int_equal(shmrt_manager_connect(addr, KEY, KEYLEN, 10 * SEC, &c), 0);
	shmrt_manager_set_timeout(c, 10 * SEC);
	assert_int_equal(shmrt_manager_create(c, "dict", NULL, &d), 0);
	shmrt_mv_t *st;
	int64_t e1, e2;
	assert_int_equal(shmrt_manager_stats(c, &st), 0);
	assert_int_equal(shmrt_mv_as_int(shmrt_mv_map_get_str(st, "epoch"), &e1), 0);
	shmrt_mv_free(st);
	/* the server dies (SIGKILL): a call fails at once, then the connection is broken */
	kill(shmrt_manager_pid(s1), SIGKILL);
	uint64_t t0 = tu_ms();
	int rc = shmrt_proxy_call0(d, "copy", NULL);
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	assert_true(tu_ms() - t0 < 2000);
	assert_int_equal(shmrt_proxy_call0(d, "copy", NULL), -ENOTCONN);
	assert_int_equal(shmrt_manager_shutdown(s1), -SIGKILL);
	do { /* a new server, drawing another epoch (one chance in 65535 to draw it again) */
		assert_int_equal(shmrt_manager_start(addr, KEY, KEYLEN, NULL, &s2), 0);
		assert_int_equal(shmrt_manager_reconnect(c, 10 * SEC), 0);
		assert_int_equal(shmrt_manager_stats(c, &st), 0);
		assert_int_equal(shmrt_mv_as_int(shmrt_mv_map_get_str(st, "epoch"), &e2), 0);
		shmrt_mv_free(st);
		if (e2 == e1)
			assert_int_equal(shmrt_manager_shutdown(s2), 0);
	} while (e2 == e1);
	assert_int_equal(shmrt_proxy_call1(d, "__getitem__", S("x"), NULL), -ESTALE);
	assert_int_equal(shmrt_proxy_release(d), -ESTALE);
	assert_int_equal(shmrt_manager_ping(c), 0);
	shmrt_manager_close(c);
	assert_int_equal(shmrt_manager_shutdown(s2), 0);
	rmdir(dir);
}

/* ---- hostile and dead clients ----------------------------------------------------- */

/* Connects and authenticates a raw socket (internal calls). */
static int raw_client(void)
{
	shmrt__addr_t a;
	const char *why;
	int fd;
	assert_int_equal(shmrt__addr_parse(shmrt_manager_address(srv), &a, &why), 0);
	assert_int_equal(shmrt__connect(&a, 5 * SEC, &fd), 0);
	assert_int_equal(shmrt__auth_run(fd, SHMRT__AUTH_CLIENT, KEY, KEYLEN, 5 * SEC), 0);
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		assert_int_equal(shmrt__wait_fd(fd, POLLOUT, mono_ns() + 5 * SEC), 0);
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN)
			continue;
		if (w < 0)
			return; /* the server may have dropped us already */
		b += w;
		n -= (size_t)w;
	}
}

/* Whether the server closed fd within 5 s. */
static int closed_by_server(int fd)
{
	uint64_t deadline = mono_ns() + 5 * SEC;
	for (;;) {
		char b[256];
		if (shmrt__wait_fd(fd, POLLIN, deadline))
			return 0;
		ssize_t n = recv(fd, b, sizeof(b), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return 1;
	}
}

static int midframe_main(void *arg)
{
	(void)arg;
	int fd = raw_client();
	/* a header announcing 1000 bytes, then 10 of them, then nothing: killed here */
	send_all(fd, "\x00\x00\x03\xe8" "0123456789", 14);
	pause();
	return 0;
}

static void hostile_clients(void **state)
{
	(void)state;
	shmrt_proxy_t *l;
	assert_int_equal(shmrt_manager_create(conn, "list", NULL, &l), 0);
	/* a client SIGKILLed mid-frame */
	pid_t p = tu_fork(midframe_main, NULL);
	usleep(100000);
	kill(p, SIGKILL);
	assert_int_equal(tu_wait(p, 5000), 128 + SIGKILL);
	expect(l, "append", L(1, I(1)), 0, NULL);
	/* garbage after the handshake: a frame that is not msgpack (0xc1 is reserved) */
	int fd = raw_client();
	send_all(fd, "\x00\x00\x00\x03\xc1\xc1\xc1", 7);
	assert_true(closed_by_server(fd));
	close(fd);
	/* a well-formed value that is no request: an error reply, not a disconnect */
	fd = raw_client();
	send_all(fd, "\x00\x00\x00\x01\x05", 5); /* the int 5 */
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 0);
	assert_int_equal(shmrt__frame_recv_wait(&r, fd, mono_ns() + 5 * SEC), 1);
	size_t n;
	const uint8_t *pl = shmrt__frame_data(&r, &n);
	shmrt_mv_t *rep;
	assert_int_equal(shmrt_mv_decode(pl, n, NULL, &rep), 0);
	char buf[64];
	shmrt_mv_repr(rep, buf, sizeof(buf));
	char want[64];
	snprintf(want, sizeof(want), "[0, %d, None]", -EINVAL);
	assert_string_equal(buf, want);
	shmrt_mv_free(rep);
	shmrt__frame_reader_fini(&r);
	/* a length of -2, and a frame above the cap */
	send_all(fd, "\xff\xff\xff\xfe", 4);
	assert_true(closed_by_server(fd));
	close(fd);
	fd = raw_client();
	send_all(fd, "\x7f\xff\xff\xff", 4);
	assert_true(closed_by_server(fd));
	close(fd);
	/* garbage before the handshake: a 257-byte frame */
	shmrt__addr_t a;
	const char *why;
	assert_int_equal(shmrt__addr_parse(shmrt_manager_address(srv), &a, &why), 0);
	assert_int_equal(shmrt__connect(&a, 5 * SEC, &fd), 0);
	uint8_t big[4 + 257] = { 0, 0, 1, 1 };
	send_all(fd, big, sizeof(big));
	assert_true(closed_by_server(fd));
	close(fd);
	/* a wrong key */
	shmrt_manager_conn_t *c;
	assert_int_equal(shmrt_manager_connect(shmrt_manager_address(srv), "wrong", 5, 5 * SEC, &c),
			 -EACCES);
	/* the well-behaved client is still served, the rest are gone */
	expect(l, "append", L(1, I(2)), 0, NULL);
	expect(l, "copy", NULL, 0, "[1, 2]");
	uint64_t until = tu_ms() + 5000;
	while (stat_of(conn, "sessions") != 1 && tu_ms() < until)
		usleep(2000);
	assert_int_equal(stat_of(conn, "sessions"), 1);
	assert_int_equal(shmrt_proxy_release(l), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(dict_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(list_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(namespace_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(two_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(eight_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(references, setup, teardown),
		cmocka_unit_test(stale_after_restart),
		cmocka_unit_test_setup_teardown(hostile_clients, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
