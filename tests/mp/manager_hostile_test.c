/*
 * A running Manager server against hostile clients. One server (shmrt_manager_start,
 * a small max_queued) and one well-behaved client holding a list proxy; each hostile
 * input is sent on a raw socket (authenticated, or not where that is the point), the
 * server's answer is checked (an error reply with its errno, or the connection
 * closed), and then the well-behaved client must still be served, its list intact,
 * and the server's session count back to one (healthy()).
 *
 * The inputs: lengths of -1 followed by 2^64-1, by a huge 8-byte length and by a
 * small one (legal: served); five-byte array32 and map32 bombs inside a request;
 * 10^5 nested arrays; invalid UTF-8 in a method name and in an argument; unknown ext
 * types; refs to a freed object, to another epoch's object, forged ids; "release" of
 * a ref the session does not hold, and twice after one incref (the counts unchanged);
 * wrong arity of the ops and of a method; a request before authentication, a wrong
 * and a replayed HMAC answer; 1000 connections at once; a client that never reads
 * its replies (dropped at max_queued while another is served); a request written one
 * byte per send; a request followed by a shut write side (answered, then closed). (A server out of descriptors and a restarted one:
 * manager_lifecycle_test.c; well-formed requests with extreme arguments:
 * manager_extremes_test.c.) Every wait is bounded; the server is killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "manager/auth.h"
#include "manager/frame.h"
#include "manager/transport.h"

#define MMU_OWN_FIXTURES
#include "manager_mp_util.h"

#define MAX_QUEUED (256u << 10)
#define NCONNS 1000

static shmrt_proxy_t *good;   /* the well-behaved client's list */
static uint64_t good_id;
static int64_t good_len;      /* what its length must be */

/* ---- the well-behaved client -------------------------------------------------- */

/* Waits (at most 5 s) for the server's session count to be n. */
static void sessions_become(shmrt_manager_conn_t *c, int64_t n)
{
	uint64_t until = tu_ms() + 5000;
	while (stat_of(c, "sessions") != n && tu_ms() < until)
		usleep(2000);
	assert_int_equal(stat_of(c, "sessions"), n);
}

/* The well-behaved client is served, its list intact, and it is the only session. */
static void healthy(void)
{
	shmrt_mv_t *v;
	int64_t x;
	assert_int_equal(shmrt_manager_ping(conn), 0);
	assert_int_equal(shmrt_proxy_call1(good, "append", shmrt_mv_int(good_len), NULL), 0);
	good_len++;
	assert_int_equal(shmrt_proxy_call0(good, "copy", &v), 0);
	assert_int_equal(shmrt_mv_list_len(v), good_len);
	for (int64_t i = 0; i < good_len; i++) {
		assert_int_equal(shmrt_mv_as_int(shmrt_mv_list_get(v, i), &x), 0);
		assert_int_equal(x, i);
	}
	shmrt_mv_free(v);
	sessions_become(conn, 1);
}

static int group_setup(void **state)
{
	(void)state;
	/* 1000 connections at once handshake together: above the default cap of pending
	 * handshakes (128, whose oldest would be dropped), which manager_limits_test tests */
	shmrt_manager_opts_t o = { .max_queued = MAX_QUEUED, .auth_timeout = 60 * SEC,
				   .max_handshakes = 4096 };
	assert_int_equal(shmrt_manager_start("unix:", KEY, KEYLEN, &o, &srv), 0);
	assert_int_equal(shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC,
					       &conn), 0);
	shmrt_manager_set_timeout(conn, 20 * SEC);
	assert_int_equal(shmrt_manager_create(conn, "list", NULL, &good), 0);
	good_id = shmrt_proxy_ref(good);
	good_len = 0;
	healthy();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	assert_int_equal(shmrt_proxy_release(good), 0);
	shmrt_manager_close(conn);
	assert_int_equal(shmrt_manager_shutdown(srv), 0);
	tu_kill_all();
	return 0;
}

/* ---- raw sockets ----------------------------------------------------------------- */

static int raw_connect_to(const char *addr)
{
	shmrt__addr_t a;
	const char *why;
	int fd;
	assert_int_equal(shmrt__addr_parse(addr, &a, &why), 0);
	assert_int_equal(shmrt__connect(&a, 5 * SEC, &fd), 0);
	return fd;
}

/* A connection before the handshake. */
static int raw_preauth(void)
{
	return raw_connect_to(shmrt_manager_address(srv));
}

/* An authenticated connection. */
static int raw_authed(void)
{
	int fd = raw_preauth();
	assert_int_equal(shmrt__auth_run(fd, SHMRT__AUTH_CLIENT, KEY, KEYLEN, 20 * SEC), 0);
	return fd;
}

/* Sends p[0, n) in sends of at most step bytes (0: all at once); stops quietly if
 * the server dropped the connection. */
static void send_bytes(int fd, const void *p, size_t n, size_t step)
{
	const uint8_t *b = p;
	while (n) {
		if (shmrt__wait_fd(fd, POLLOUT, mono_ns() + 5 * SEC))
			fail_msg("send: the server takes nothing for 5 s");
		ssize_t w = send(fd, b, step && step < n ? step : n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w < 0)
			return; /* dropped already */
		b += w;
		n -= (size_t)w;
		if (step)
			usleep(200); /* let the server read the piece alone */
	}
}

/* Sends payload p[0, n) as one frame (the short header). */
static void send_frame(int fd, const void *p, size_t n)
{
	uint8_t hdr[SHMRT__FRAME_HDR_MAX];
	size_t hn = shmrt__frame_header(n, hdr);
	send_bytes(fd, hdr, hn, 0);
	send_bytes(fd, p, n, 0);
}

/* Whether the server closed fd within 5 s (what it sent before is read and
 * dropped). */
static int closed_by_server(int fd)
{
	uint64_t deadline = mono_ns() + 5 * SEC;
	for (;;) {
		char b[4096];
		if (shmrt__wait_fd(fd, POLLIN, deadline))
			return 0;
		ssize_t n = recv(fd, b, sizeof(b), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
}

/* Reads one reply [id, rc, result] on fd; checks its id and rc. */
static void expect_reply_r(int fd, shmrt__frame_reader_t *r, int64_t id, int rc)
{
	assert_int_equal(shmrt__frame_recv_wait(r, fd, mono_ns() + 10 * SEC), 1);
	size_t n;
	const uint8_t *p = shmrt__frame_data(r, &n);
	shmrt_mv_t *rep;
	int64_t got_id, got_rc;
	assert_int_equal(shmrt_mv_decode(p ? p : (const uint8_t *)"", n, NULL, &rep), 0);
	assert_int_equal(shmrt_mv_list_len(rep), 3);
	assert_int_equal(shmrt_mv_as_int(shmrt_mv_list_get(rep, 0), &got_id), 0);
	assert_int_equal(shmrt_mv_as_int(shmrt_mv_list_get(rep, 1), &got_rc), 0);
	shmrt_mv_free(rep);
	shmrt__frame_next(r);
	if (got_id != id || got_rc != rc)
		fail_msg("reply [%lld, %lld], expected [%lld, %d]", (long long)got_id,
			 (long long)got_rc, (long long)id, rc);
}

static void expect_reply(int fd, int64_t id, int rc)
{
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 0);
	expect_reply_r(fd, &r, id, rc);
	shmrt__frame_reader_fini(&r);
}

/* ---- a small msgpack writer, for the bytes the encoder would never write ------- */

typedef struct {
	uint8_t *p;
	size_t n, cap;
} mp_t;

static void mp_raw(mp_t *m, const void *p, size_t n)
{
	if (m->n + n > m->cap) {
		m->cap = (m->n + n) * 2;
		m->p = realloc(m->p, m->cap);
		assert_non_null(m->p);
	}
	memcpy(m->p + m->n, p, n);
	m->n += n;
}

static void mp_byte(mp_t *m, uint8_t b)
{
	mp_raw(m, &b, 1);
}

static void mp_be(mp_t *m, uint64_t v, int w)
{
	for (int i = w - 1; i >= 0; i--)
		mp_byte(m, (uint8_t)(v >> (8 * i)));
}

static void mp_arr(mp_t *m, uint32_t n)
{
	if (n < 16) {
		mp_byte(m, (uint8_t)(0x90 | n));
	} else {
		mp_byte(m, 0xdd);
		mp_be(m, n, 4);
	}
}

/* A str of n bytes, valid UTF-8 or not. */
static void mp_strn(mp_t *m, const char *s, size_t n)
{
	assert_true(n < 256);
	mp_byte(m, 0xd9);
	mp_byte(m, (uint8_t)n);
	mp_raw(m, s, n);
}

static void mp_str(mp_t *m, const char *s)
{
	mp_strn(m, s, strlen(s));
}

static void mp_int(mp_t *m, int64_t v)
{
	mp_byte(m, 0xd3);
	mp_be(m, (uint64_t)v, 8);
}

/* An ext 8-byte value of the given type (SHMRT_MV_EXT_REF: a ref). */
static void mp_ext8(mp_t *m, int8_t type, uint64_t v)
{
	mp_byte(m, 0xd7);
	mp_byte(m, (uint8_t)type);
	mp_be(m, v, 8);
}

/* Starts [id, "call", [ref, method, <nargs args follow>]]. */
static void mp_call(mp_t *m, int64_t id, uint64_t ref, const char *method, uint32_t nargs)
{
	mp_arr(m, 3);
	mp_int(m, id);
	mp_str(m, "call");
	mp_arr(m, 3);
	mp_ext8(m, SHMRT_MV_EXT_REF, ref);
	mp_str(m, method);
	mp_arr(m, nargs);
}

/* Starts [id, op, <nargs args follow>]. */
static void mp_op(mp_t *m, int64_t id, const char *op, uint32_t nargs)
{
	mp_arr(m, 3);
	mp_int(m, id);
	mp_str(m, op);
	mp_arr(m, nargs);
}

static void mp_reset(mp_t *m)
{
	m->n = 0;
}

static void mp_free(mp_t *m)
{
	free(m->p);
	*m = (mp_t){ 0 };
}

/* ---- the cases ------------------------------------------------------------------- */

/* raw bytes on a fresh authenticated connection: the server must close it. */
static void closes_on(const void *p, size_t n)
{
	int fd = raw_authed();
	send_bytes(fd, p, n, 0);
	assert_true(closed_by_server(fd));
	close(fd);
	healthy();
}

/* one frame holding m on a fresh authenticated connection: closed. */
static void closes_on_frame(const mp_t *m)
{
	int fd = raw_authed();
	send_frame(fd, m->p, m->n);
	assert_true(closed_by_server(fd));
	close(fd);
	healthy();
}

static void lengths(void **state)
{
	(void)state;
	/* -1, then 2^64-1 */
	closes_on("\xff\xff\xff\xff" "\xff\xff\xff\xff\xff\xff\xff\xff", 12);
	/* -1, then 2^63 and 2^40: above the cap */
	closes_on("\xff\xff\xff\xff" "\x80\x00\x00\x00\x00\x00\x00\x00", 12);
	closes_on("\xff\xff\xff\xff" "\x00\x00\x01\x00\x00\x00\x00\x00", 12);
	/* -1 and 2^63-1 sent a byte at a time */
	int fd = raw_authed();
	send_bytes(fd, "\xff\xff\xff\xff" "\x7f\xff\xff\xff\xff\xff\xff\xff", 12, 1);
	assert_true(closed_by_server(fd));
	close(fd);
	/* INT32_MIN, and the cap plus one */
	closes_on("\x80\x00\x00\x00", 4);
	closes_on("\x01\x00\x00\x01", 4);
	/* -1 and a small 8-byte length is legal (Python uses it above 2 GiB): served */
	mp_t m = { 0 };
	mp_op(&m, 5, "ping", 0);
	fd = raw_authed();
	send_bytes(fd, "\xff\xff\xff\xff", 4, 0);
	uint8_t l8[8];
	for (int i = 0; i < 8; i++)
		l8[i] = (uint8_t)((uint64_t)m.n >> (56 - 8 * i));
	send_bytes(fd, l8, 8, 0);
	send_bytes(fd, m.p, m.n, 0);
	expect_reply(fd, 5, 0);
	/* a frame of 0 bytes is no msgpack: closed */
	send_bytes(fd, "\x00\x00\x00\x00", 4, 0);
	assert_true(closed_by_server(fd));
	close(fd);
	mp_free(&m);
	healthy();
}

static void bombs(void **state)
{
	(void)state;
	mp_t m = { 0 };
	/* good.append(array32 of 2^32-1 items), the five bytes alone */
	mp_call(&m, 1, good_id, "append", 1);
	mp_raw(&m, "\xdd\xff\xff\xff\xff", 5);
	closes_on_frame(&m);
	/* good.append(map32 of 2^32-1 pairs) */
	mp_reset(&m);
	mp_call(&m, 2, good_id, "append", 1);
	mp_raw(&m, "\xdf\xff\xff\xff\xff", 5);
	closes_on_frame(&m);
	/* the bombs as the whole frame, and as the args list itself */
	closes_on("\x00\x00\x00\x05" "\xdd\xff\xff\xff\xff", 9);
	closes_on("\x00\x00\x00\x05" "\xdf\xff\xff\xff\xff", 9);
	mp_reset(&m);
	mp_arr(&m, 3);
	mp_int(&m, 3);
	mp_str(&m, "create");
	mp_raw(&m, "\xdd\xff\xff\xff\xff", 5);
	closes_on_frame(&m);
	/* a str32 and a bin32 of 4 GiB announced in a few bytes */
	mp_reset(&m);
	mp_call(&m, 4, good_id, "append", 1);
	mp_raw(&m, "\xdb\xff\xff\xff\xff" "abc", 8);
	closes_on_frame(&m);
	mp_reset(&m);
	mp_call(&m, 5, good_id, "append", 1);
	mp_raw(&m, "\xc6\xff\xff\xff\xff" "abc", 8);
	closes_on_frame(&m);
	/* 10^5 nested arrays (0x91 repeated), alone and as an argument */
	mp_reset(&m);
	for (int i = 0; i < 100000; i++)
		mp_byte(&m, 0x91);
	mp_byte(&m, 0xc0);
	closes_on_frame(&m);
	mp_reset(&m);
	mp_call(&m, 6, good_id, "append", 1);
	for (int i = 0; i < 100000; i++)
		mp_byte(&m, 0x91);
	mp_byte(&m, 0xc0);
	closes_on_frame(&m);
	mp_free(&m);
}

static void bad_values(void **state)
{
	(void)state;
	mp_t m = { 0 };
	/* invalid UTF-8 in the method name: a lone continuation byte, an overlong
	 * encoding, a surrogate */
	static const char *const bad[] = { "app\x80nd", "\xc0\xaf", "\xed\xa0\x80", "\xff" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mp_reset(&m);
		mp_call(&m, 1, good_id, bad[i], 1);
		mp_int(&m, 1);
		closes_on_frame(&m);
		/* and in an argument */
		mp_reset(&m);
		mp_call(&m, 2, good_id, "append", 1);
		mp_str(&m, bad[i]);
		closes_on_frame(&m);
	}
	/* and in the op's name */
	mp_reset(&m);
	mp_op(&m, 3, "pi\xf0\x28ng", 0);
	closes_on_frame(&m);
	/* unknown ext types: 2, and -1 (msgpack's timestamp), in an argument */
	static const int8_t ext[] = { 2, -1, 127 };
	for (size_t i = 0; i < sizeof(ext); i++) {
		mp_reset(&m);
		mp_call(&m, 4, good_id, "append", 1);
		mp_ext8(&m, ext[i], 12345);
		closes_on_frame(&m);
	}
	/* a ref whose ext is not 8 bytes long (fixext 4 of the ref type) */
	mp_reset(&m);
	mp_call(&m, 5, good_id, "append", 1);
	mp_raw(&m, "\xd6\x01\x00\x00\x00\x01", 6);
	closes_on_frame(&m);
	/* a reserved type byte, trailing bytes after the request */
	mp_reset(&m);
	mp_call(&m, 6, good_id, "append", 1);
	mp_byte(&m, 0xc1);
	closes_on_frame(&m);
	mp_reset(&m);
	mp_op(&m, 7, "ping", 0);
	mp_byte(&m, 0xc0);
	closes_on_frame(&m);
	mp_free(&m);
}

/* Sends one request built in m on fd and expects [id, rc, ...]. */
static void ask(int fd, mp_t *m, int64_t id, int rc)
{
	send_frame(fd, m->p, m->n);
	expect_reply(fd, id, rc);
	mp_reset(m);
}

static void uint64_args(void **state)
{
	(void)state;
	mp_t m = { 0 };
	int fd = raw_authed();
	/* 2**64 - 1 (msgpack's uint 64, what Python's client sends for a big int) as an
	 * argument, as a dict key, deep in a list: answered -ERANGE, the connection kept,
	 * nothing stored. */
	mp_call(&m, 11, good_id, "append", 1);
	mp_byte(&m, 0xcf);
	mp_be(&m, UINT64_MAX, 8);
	ask(fd, &m, 11, -ERANGE);
	mp_call(&m, 12, good_id, "append", 1);
	mp_raw(&m, "\x81\xcf\x80\x00\x00\x00\x00\x00\x00\x00\xc0", 11);
	ask(fd, &m, 12, -ERANGE);
	mp_call(&m, 13, good_id, "append", 1);
	mp_raw(&m, "\x91\x91\x92\x01\xcf\x80\x00\x00\x00\x00\x00\x00\x01", 13);
	ask(fd, &m, 13, -ERANGE);
	/* INT64_MAX in the same form is an int: stored. */
	mp_call(&m, 14, good_id, "__len__", 0);
	ask(fd, &m, 14, 0);
	mp_call(&m, 15, good_id, "append", 1);
	mp_byte(&m, 0xcf);
	mp_be(&m, INT64_MAX, 8);
	ask(fd, &m, 15, 0);
	mp_call(&m, 16, good_id, "pop", 0);
	ask(fd, &m, 16, 0);
	/* The same connection goes on being served. */
	mp_op(&m, 17, "ping", 0);
	ask(fd, &m, 17, 0);
	close(fd);
	/* No id to answer (the request id itself out of range, or not an array): the
	 * client goes, as for any frame that does not decode. */
	mp_raw(&m, "\x93\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xa4ping\x90", 16);
	closes_on_frame(&m);
	mp_reset(&m);
	mp_byte(&m, 0xcf);
	mp_be(&m, UINT64_MAX, 8);
	closes_on_frame(&m);
	mp_free(&m);
	healthy();
}

static void bad_refs(void **state)
{
	(void)state;
	mp_t m = { 0 };
	int fd = raw_authed();
	/* a dict of this session, released: its id names a freed object */
	shmrt_proxy_t *d;
	assert_int_equal(shmrt_manager_create(conn, "dict", NULL, &d), 0);
	uint64_t freed = shmrt_proxy_ref(d);
	assert_int_equal(shmrt_proxy_release(d), 0);
	mp_call(&m, 1, freed, "__len__", 0);
	ask(fd, &m, 1, -ENOENT);
	mp_call(&m, 2, good_id, "append", 1); /* a ref to it inside an argument */
	mp_ext8(&m, SHMRT_MV_EXT_REF, freed);
	ask(fd, &m, 2, -ENOENT);
	mp_op(&m, 3, "incref", 1);
	mp_ext8(&m, SHMRT_MV_EXT_REF, freed);
	ask(fd, &m, 3, -ENOENT);
	mp_op(&m, 4, "create", 2); /* in a new object's init */
	mp_str(&m, "list");
	mp_arr(&m, 1);
	mp_ext8(&m, SHMRT_MV_EXT_REF, freed);
	ask(fd, &m, 4, -ENOENT);
	/* another epoch's id (the good list's number under another epoch), id 0 */
	uint64_t other = good_id ^ (1ull << 48);
	mp_call(&m, 5, other, "append", 1);
	mp_int(&m, 1);
	ask(fd, &m, 5, -ESTALE);
	mp_call(&m, 6, good_id, "append", 1);
	mp_ext8(&m, SHMRT_MV_EXT_REF, other);
	ask(fd, &m, 6, -ESTALE);
	mp_op(&m, 7, "release", 1);
	mp_ext8(&m, SHMRT_MV_EXT_REF, other);
	ask(fd, &m, 7, -ESTALE);
	mp_call(&m, 8, 0, "append", 1);
	mp_int(&m, 1);
	ask(fd, &m, 8, -ESTALE);
	/* forged ids of this epoch: never made */
	uint64_t epoch = good_id >> 48;
	static const uint64_t forged[] = { 0, 0xffffffffffffull, 1ull << 40 };
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		mp_call(&m, 9, epoch << 48 | forged[i], "append", 1);
		mp_int(&m, 1);
		ask(fd, &m, 9, -ENOENT);
	}
	/* an int where a ref belongs */
	mp_arr(&m, 3);
	mp_int(&m, 10);
	mp_str(&m, "call");
	mp_arr(&m, 3);
	mp_int(&m, (int64_t)good_id);
	mp_str(&m, "append");
	mp_arr(&m, 0);
	ask(fd, &m, 10, -EINVAL);
	/* releases of a ref this session does not hold (the good client's list): an
	 * error that changes no count */
	assert_int_equal(refs_of(good_id), 1);
	for (int i = 0; i < 3; i++) {
		mp_op(&m, 11, "release", 1);
		mp_ext8(&m, SHMRT_MV_EXT_REF, good_id);
		ask(fd, &m, 11, -ENOENT);
	}
	assert_int_equal(refs_of(good_id), 1);
	/* one incref, two releases: the second is an error, nothing changed */
	mp_op(&m, 12, "incref", 1);
	mp_ext8(&m, SHMRT_MV_EXT_REF, good_id);
	ask(fd, &m, 12, 0);
	assert_int_equal(refs_of(good_id), 2);
	mp_op(&m, 13, "release", 1);
	mp_ext8(&m, SHMRT_MV_EXT_REF, good_id);
	ask(fd, &m, 13, 0);
	assert_int_equal(refs_of(good_id), 1);
	mp_op(&m, 14, "release", 1);
	mp_ext8(&m, SHMRT_MV_EXT_REF, good_id);
	ask(fd, &m, 14, -ENOENT);
	assert_int_equal(refs_of(good_id), 1);
	/* another session's object: this one creates a dict, a second raw session
	 * cannot release it, the first still uses it */
	mp_op(&m, 15, "create", 1);
	mp_str(&m, "dict");
	send_frame(fd, m.p, m.n);
	mp_reset(&m);
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 0);
	assert_int_equal(shmrt__frame_recv_wait(&r, fd, mono_ns() + 10 * SEC), 1);
	size_t n;
	const uint8_t *p = shmrt__frame_data(&r, &n);
	shmrt_mv_t *rep;
	uint64_t theirs;
	assert_int_equal(shmrt_mv_decode(p, n, NULL, &rep), 0);
	assert_int_equal(shmrt_mv_as_ref(shmrt_mv_list_get(rep, 2), &theirs), 0);
	shmrt_mv_free(rep);
	shmrt__frame_reader_fini(&r);
	int fd2 = raw_authed();
	mp_op(&m, 16, "release", 1);
	mp_ext8(&m, SHMRT_MV_EXT_REF, theirs);
	ask(fd2, &m, 16, -ENOENT);
	close(fd2);
	assert_int_equal(refs_of(theirs), 1);
	mp_call(&m, 17, theirs, "__setitem__", 2);
	mp_str(&m, "k");
	mp_int(&m, 1);
	ask(fd, &m, 17, 0);
	/* the session ends: its dict goes, the good list stays */
	close(fd);
	uint64_t until = tu_ms() + 5000;
	while (refs_of(theirs) != -1 && tu_ms() < until)
		usleep(2000);
	assert_int_equal(refs_of(theirs), -1);
	assert_int_equal(refs_of(good_id), 1);
	mp_free(&m);
	healthy();
}

static void arity(void **state)
{
	(void)state;
	mp_t m = { 0 };
	int fd = raw_authed();
	/* the request itself: [id, op] and [id, op, args, extra], args not a list */
	mp_arr(&m, 2);
	mp_int(&m, 1);
	mp_str(&m, "ping");
	ask(fd, &m, 0, -EINVAL); /* no args: the id is not trusted either */
	mp_arr(&m, 4);
	mp_int(&m, 2);
	mp_str(&m, "ping");
	mp_arr(&m, 0);
	mp_int(&m, 0);
	ask(fd, &m, 0, -EINVAL);
	mp_arr(&m, 3);
	mp_int(&m, 3);
	mp_str(&m, "ping");
	mp_int(&m, 0);
	ask(fd, &m, 3, -EINVAL);
	mp_op(&m, 4, "no_such_op", 0);
	ask(fd, &m, 4, -ENOSYS);
	/* create: no type, a type that is no str, one argument too many */
	mp_op(&m, 5, "create", 0);
	ask(fd, &m, 5, -EINVAL);
	mp_op(&m, 6, "create", 1);
	mp_int(&m, 1);
	ask(fd, &m, 6, -EINVAL);
	mp_op(&m, 7, "create", 3);
	mp_str(&m, "list");
	mp_byte(&m, 0xc0);
	mp_int(&m, 1);
	ask(fd, &m, 7, -EINVAL);
	/* call: 0, 2 and 4 items; args not a list; a method's own arity */
	mp_op(&m, 8, "call", 0);
	ask(fd, &m, 8, -EINVAL);
	mp_op(&m, 9, "call", 2);
	mp_ext8(&m, SHMRT_MV_EXT_REF, good_id);
	mp_str(&m, "append");
	ask(fd, &m, 9, -EINVAL);
	mp_op(&m, 10, "call", 4);
	mp_ext8(&m, SHMRT_MV_EXT_REF, good_id);
	mp_str(&m, "append");
	mp_arr(&m, 1);
	mp_int(&m, 1);
	mp_int(&m, 1);
	ask(fd, &m, 10, -EINVAL);
	mp_op(&m, 11, "call", 3);
	mp_ext8(&m, SHMRT_MV_EXT_REF, good_id);
	mp_str(&m, "append");
	mp_int(&m, 1);
	ask(fd, &m, 11, -EINVAL);
	mp_call(&m, 12, good_id, "append", 0);
	ask(fd, &m, 12, -EINVAL);
	mp_call(&m, 13, good_id, "append", 2);
	mp_int(&m, 1);
	mp_int(&m, 2);
	ask(fd, &m, 13, -EINVAL);
	mp_call(&m, 14, good_id, "__getitem__", 3);
	mp_int(&m, 0);
	mp_int(&m, 0);
	mp_int(&m, 0);
	ask(fd, &m, 14, -EINVAL);
	/* incref and release: 0 and 2 items */
	static const char *const ops[] = { "incref", "release" };
	for (int i = 0; i < 2; i++) {
		mp_op(&m, 15, ops[i], 0);
		ask(fd, &m, 15, -EINVAL);
		mp_op(&m, 16, ops[i], 2);
		mp_ext8(&m, SHMRT_MV_EXT_REF, good_id);
		mp_ext8(&m, SHMRT_MV_EXT_REF, good_id);
		ask(fd, &m, 16, -EINVAL);
	}
	assert_int_equal(refs_of(good_id), 1);
	/* the connection survived all of it */
	mp_op(&m, 17, "ping", 0);
	ask(fd, &m, 17, 0);
	close(fd);
	mp_free(&m);
	healthy();
}

/* Reads the server's challenge on a fresh connection; returns the message after
 * "#CHALLENGE#" in m[0, *mn). */
static void read_challenge(int fd, shmrt__frame_reader_t *r, uint8_t *m, size_t *mn)
{
	assert_int_equal(shmrt__frame_recv_wait(r, fd, mono_ns() + 10 * SEC), 1);
	size_t n;
	const uint8_t *p = shmrt__frame_data(r, &n);
	assert_true(n > 11 && n < 300 && !memcmp(p, "#CHALLENGE#", 11));
	memcpy(m, p + 11, n - 11);
	*mn = n - 11;
	shmrt__frame_next(r);
}

/* Expects the frame s next on fd. */
static void expect_frame(int fd, shmrt__frame_reader_t *r, const char *s)
{
	assert_int_equal(shmrt__frame_recv_wait(r, fd, mono_ns() + 10 * SEC), 1);
	size_t n;
	const uint8_t *p = shmrt__frame_data(r, &n);
	assert_int_equal(n, strlen(s));
	assert_memory_equal(p, s, n);
	shmrt__frame_next(r);
}

static void preauth(void **state)
{
	(void)state;
	mp_t m = { 0 };
	uint8_t ch[300], ans[128];
	size_t chn, an;
	shmrt__frame_reader_t r;
	/* a request instead of the challenge's answer: #FAILURE#, closed */
	int fd = raw_preauth();
	shmrt__frame_reader_init(&r, 0);
	read_challenge(fd, &r, ch, &chn);
	mp_call(&m, 1, good_id, "append", 1);
	mp_int(&m, 99);
	send_frame(fd, m.p, m.n);
	expect_frame(fd, &r, "#FAILURE#");
	assert_true(closed_by_server(fd));
	close(fd);
	shmrt__frame_reader_fini(&r);
	/* a request as the first bytes, before the challenge is read */
	fd = raw_preauth();
	send_frame(fd, m.p, m.n);
	assert_true(closed_by_server(fd));
	close(fd);
	healthy(); /* 99 was not appended */
	/* a wrong answer (the MAC of another key) */
	fd = raw_preauth();
	shmrt__frame_reader_init(&r, 0);
	read_challenge(fd, &r, ch, &chn);
	assert_int_equal(shmrt__auth_response("other", 5, ch, chn, ans, &an), 0);
	send_frame(fd, ans, an);
	expect_frame(fd, &r, "#FAILURE#");
	assert_true(closed_by_server(fd));
	close(fd);
	shmrt__frame_reader_fini(&r);
	/* a right answer, then replayed to the next connection's challenge */
	fd = raw_preauth();
	shmrt__frame_reader_init(&r, 0);
	read_challenge(fd, &r, ch, &chn);
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, ch, chn, ans, &an), 0);
	send_frame(fd, ans, an);
	expect_frame(fd, &r, "#WELCOME#");
	close(fd);
	shmrt__frame_reader_fini(&r);
	fd = raw_preauth();
	shmrt__frame_reader_init(&r, 0);
	read_challenge(fd, &r, ch, &chn);
	send_frame(fd, ans, an);
	expect_frame(fd, &r, "#FAILURE#");
	assert_true(closed_by_server(fd));
	close(fd);
	shmrt__frame_reader_fini(&r);
	/* a 257-byte frame, a length of -1 and 2^64-1 before the handshake */
	fd = raw_preauth();
	uint8_t big[4 + 257] = { 0, 0, 1, 1 };
	send_bytes(fd, big, sizeof(big), 0);
	assert_true(closed_by_server(fd));
	close(fd);
	fd = raw_preauth();
	send_bytes(fd, "\xff\xff\xff\xff" "\xff\xff\xff\xff\xff\xff\xff\xff", 12, 0);
	assert_true(closed_by_server(fd));
	close(fd);
	mp_free(&m);
	healthy();
}

static void many_connections(void **state)
{
	(void)state;
	static int fds[NCONNS];
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	int n = NCONNS; /* fewer if main() could not raise the limit (a low hard limit) */
	if (rl.rlim_cur < (rlim_t)NCONNS + 64)
		n = (int)rl.rlim_cur - 64;
	if (n < 100)
		skip();
	/* all connected first (the server sees 1000 handshakes at once), then each
	 * authenticated while the others wait */
	for (int i = 0; i < n; i++)
		fds[i] = raw_preauth();
	for (int i = 0; i < n; i++)
		assert_int_equal(shmrt__auth_run(fds[i], SHMRT__AUTH_CLIENT, KEY, KEYLEN, 20 * SEC),
				 0);
	sessions_become(conn, n + 1);
	/* every one pings at once, then reads its reply */
	mp_t m = { 0 };
	for (int i = 0; i < n; i++) {
		mp_op(&m, i, "ping", 0);
		send_frame(fds[i], m.p, m.n);
		mp_reset(&m);
	}
	assert_int_equal(shmrt_manager_ping(conn), 0); /* served meanwhile */
	for (int i = 0; i < n; i++)
		expect_reply(fds[i], i, 0);
	/* half close idle, half with a request in flight (its reply finds them gone) */
	for (int i = 0; i < n; i++) {
		if (i & 1) {
			mp_op(&m, i, "stats", 0);
			send_frame(fds[i], m.p, m.n);
			mp_reset(&m);
		}
		close(fds[i]);
	}
	mp_free(&m);
	healthy();
}

static void never_reads(void **state)
{
	(void)state;
	/* a list whose copy is about 3 KB: MAX_QUEUED holds under a hundred replies */
	shmrt_proxy_t *big;
	shmrt_mv_t *init = shmrt_mv_list();
	for (int i = 0; i < 1000; i++)
		assert_int_equal(shmrt_mv_list_append(init, shmrt_mv_int(1000 + i)), 0);
	assert_int_equal(shmrt_manager_create(conn, "list", init, &big), 0);
	int fd = raw_authed();
	mp_t m = { 0 };
	int sent = 0, dropped = 0;
	uint64_t until = tu_ms() + 20000;
	while (!dropped && sent < 100000 && tu_ms() < until) {
		mp_call(&m, sent, shmrt_proxy_ref(big), "copy", 0);
		uint8_t hdr[SHMRT__FRAME_HDR_MAX];
		size_t hn = shmrt__frame_header(m.n, hdr);
		struct iovec iov[2] = { { hdr, hn }, { m.p, m.n } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
		mp_reset(&m);
		/* whole frames only, so the stream stays well-formed */
		if (shmrt__wait_fd(fd, POLLOUT, mono_ns() + 50000000ll) == 0) {
			ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
			if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
				dropped = 1;
			else if (w > 0 && (size_t)w < hn + iov[1].iov_len)
				send_bytes(fd, (uint8_t *)iov[1].iov_base - hn + (size_t)w,
					   hn + iov[1].iov_len - (size_t)w, 0);
			if (w > 0)
				sent++;
		} else {
			/* the server stopped reading us: it has dropped us, or will */
			struct pollfd p = { .fd = fd, .events = POLLRDHUP };
			if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
				dropped = 1;
		}
		if (sent % 50 == 0) /* another client is served meanwhile */
			assert_int_equal(shmrt_manager_ping(conn), 0);
	}
	print_message("never_reads: dropped after %d requests\n", sent);
	assert_true(sent > 100);
	assert_true(closed_by_server(fd));
	close(fd);
	mp_free(&m);
	assert_int_equal(shmrt_proxy_release(big), 0);
	healthy();
}

static void one_byte_writes(void **state)
{
	(void)state;
	mp_t m = { 0 };
	int fd = raw_authed();
	/* good.append(good_len), a byte per send, short header */
	mp_call(&m, 41, good_id, "append", 1);
	mp_int(&m, good_len);
	uint8_t hdr[SHMRT__FRAME_HDR_MAX];
	size_t hn = shmrt__frame_header(m.n, hdr);
	send_bytes(fd, hdr, hn, 1);
	send_bytes(fd, m.p, m.n, 1);
	expect_reply(fd, 41, 0);
	good_len++;
	/* and again with the long header (-1, then 8 bytes) */
	mp_reset(&m);
	mp_call(&m, 42, good_id, "append", 1);
	mp_int(&m, good_len);
	uint8_t l12[12] = { 0xff, 0xff, 0xff, 0xff };
	for (int i = 0; i < 8; i++)
		l12[4 + i] = (uint8_t)((uint64_t)m.n >> (56 - 8 * i));
	send_bytes(fd, l12, 12, 1);
	send_bytes(fd, m.p, m.n, 1);
	expect_reply(fd, 42, 0);
	good_len++;
	/* two requests in one send, the second cut after its first byte */
	mp_reset(&m);
	mp_op(&m, 43, "ping", 0);
	hn = shmrt__frame_header(m.n, hdr);
	mp_t two = { 0 };
	mp_raw(&two, hdr, hn);
	mp_raw(&two, m.p, m.n);
	mp_raw(&two, hdr, hn);
	mp_raw(&two, m.p, m.n);
	send_bytes(fd, two.p, hn + m.n + 1, 0);
	expect_reply(fd, 43, 0);
	send_bytes(fd, two.p + hn + m.n + 1, two.n - (hn + m.n + 1), 1);
	expect_reply(fd, 43, 0);
	close(fd);
	mp_free(&two);
	mp_free(&m);
	healthy();
}

/* A request, then the write side shut: the reply still comes, then the end. */
static void half_close(void **state)
{
	(void)state;
	mp_t m = { 0 };
	int fd = raw_authed();
	mp_call(&m, 51, good_id, "append", 1);
	mp_int(&m, good_len);
	send_frame(fd, m.p, m.n);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	expect_reply(fd, 51, 0);
	good_len++;
	assert_true(closed_by_server(fd));
	close(fd);
	mp_free(&m);
	healthy();
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* 1000 connections here and 1000 in the server (forked from this process) */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	const struct CMUnitTest hostile[] = {
		cmocka_unit_test(lengths),
		cmocka_unit_test(bombs),
		cmocka_unit_test(bad_values),
		cmocka_unit_test(uint64_args),
		cmocka_unit_test(bad_refs),
		cmocka_unit_test(arity),
		cmocka_unit_test(preauth),
		cmocka_unit_test(many_connections),
		cmocka_unit_test(never_reads),
		cmocka_unit_test(one_byte_writes),
		cmocka_unit_test(half_close),
	};
	return cmocka_run_group_tests_name("hostile", hostile, group_setup, group_teardown);
}
