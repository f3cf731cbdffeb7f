/*
 * The Manager over TLS 1.3 (opts.tls_*, shmrt_manager_connect_tls), against forked
 * servers (shmrt_manager_start) on loopback TCP.
 *
 * The certificates are made at setup (tests/util/tlscert.h, libcrypto) in a fresh
 * temporary directory, removed at the end: a CA and a server certificate it signs (for
 * "localhost" and 127.0.0.1), a client certificate it signs, another CA with a
 * client certificate of its own, and a key that belongs to no certificate.
 *
 * Checked: calls over TLS (values of every size up to 8 MiB, spanning many TLS
 * records and overflowing the sockets' buffers; a pipelined batch; a call parked in the server and answered by another
 * process's put; a reconnect); a TLS client killed while parked takes nothing; a client trusting another CA, or expecting another
 * host, is refused (-EKEYREJECTED) and the server goes on; a server whose key is not
 * its certificate's does not start (-EKEYREJECTED), nor one with a missing file
 * (-ENOENT) or half a pair (-EINVAL); a plain client to a TLS server gets nothing
 * (bytes that are not TLS close its connection, a silent one is dropped at the
 * handshake deadline, or for a newcomer at max_handshakes) and the server goes on; a TLS client to a plain server is
 * -EPROTO; a TLS 1.2-only client is refused; client certificates required by
 * tls_ca_file: none or another CA's refused, the right one served; a listener on
 * 0.0.0.0 without TLS is -EPERM, allowed with SHMRT_MANAGER_INSECURE_NO_TLS or TLS.
 *
 * Every wait is bounded (connect and call timeouts, poll with a limit, tu_wait);
 * servers are shut down and children killed at the end of each test.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tlscert.h"

#define MMU_OWN_FIXTURES
#include "manager_mp_util.h"

static char dir[256];
static char ca_pem[300], srv_pem[300], srv_key[300], wrong_key[300];
static char other_ca_pem[300], cli_pem[300], cli_key[300], other_cli_pem[300],
	other_cli_key[300];

static void path(char *out, const char *name)
{
	snprintf(out, 300, "%s/%s", dir, name);
}

static int group_setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/shmrt-tls-test-XXXXXX", t && t[0] == '/' ? t : "/tmp");
	assert_non_null(mkdtemp(dir));
	path(ca_pem, "ca.pem");
	path(srv_pem, "server.pem");
	path(srv_key, "server.key");
	path(wrong_key, "wrong.key");
	path(other_ca_pem, "other-ca.pem");
	path(cli_pem, "client.pem");
	path(cli_key, "client.key");
	path(other_cli_pem, "other-client.pem");
	path(other_cli_key, "other-client.key");

	assert_int_equal(tlscert_make(dir), 0);
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int group_teardown(void **state)
{
	(void)state;
	if (dir[0])
		(void)nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- servers and clients ------------------------------------------------------------ */

static shmrt_manager_opts_t tls_opts(void)
{
	shmrt_manager_opts_t o;
	memset(&o, 0, sizeof(o));
	o.tls_cert_file = srv_pem;
	o.tls_key_file = srv_key;
	return o;
}

static int start(const char *addr, const shmrt_manager_opts_t *o)
{
	return shmrt_manager_start(addr, KEY, KEYLEN, o, &srv);
}

static int conn_tls(const char *ca, const char *host, const char *cert, const char *key,
		    shmrt_manager_conn_t **out)
{
	shmrt_manager_tls_t t = { .ca_file = ca, .host = host, .cert_file = cert, .key_file = key };
	return shmrt_manager_connect_tls(shmrt_manager_address(srv), KEY, KEYLEN, &t, 10 * SEC,
					 out);
}

/* A TLS connection trusting our CA: it must work. */
static shmrt_manager_conn_t *good_conn(void)
{
	shmrt_manager_conn_t *c;
	assert_int_equal(conn_tls(ca_pem, NULL, NULL, NULL, &c), 0);
	shmrt_manager_set_timeout(c, 20 * SEC);
	return c;
}

/* The server still serves: a TLS client sets and reads a value. */
static void still_serves(void)
{
	shmrt_manager_conn_t *c = good_conn();
	shmrt_proxy_t *d;
	assert_int_equal(shmrt_manager_create(c, "dict", NULL, &d), 0);
	assert_int_equal(shmrt_proxy_call2(d, "__setitem__", S("k"), I(7), NULL), 0);
	expect(d, "__getitem__", L(1, S("k")), 0, "7");
	assert_int_equal(shmrt_proxy_release(d), 0);
	shmrt_manager_close(c);
}

static void stop(void)
{
	assert_int_equal(shmrt_manager_shutdown(srv), 0);
	srv = NULL;
	tu_kill_all();
}

/* The port of a "tcp:HOST:PORT" address. */
static int port_of(const char *addr)
{
	const char *c = strrchr(addr, ':');
	assert_non_null(c);
	return atoi(c + 1);
}

/* A raw TCP socket connected to 127.0.0.1:port (blocking). */
static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Whether the server closes fd within ms (reading and discarding what it sends). */
static int closed_within(int fd, int ms)
{
	uint64_t end = tu_ms() + (uint64_t)ms;
	char b[512];
	while (tu_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)(end - tu_ms()) + 1) <= 0)
			continue;
		ssize_t k = read(fd, b, sizeof(b));
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return 1;
	}
	return 0;
}

/* ---- the tests ------------------------------------------------------------------- */

static int queue_putter(void *arg)
{
	const char *addr = arg;
	shmrt_manager_tls_t t = { .ca_file = ca_pem };
	shmrt_manager_conn_t *c;
	if (shmrt_manager_connect_tls(addr, KEY, KEYLEN, &t, 10 * SEC, &c))
		return 1;
	/* The queue's ref is in the "q" attribute of the Namespace the parent names in
	 * the environment. */
	shmrt_mv_t *res = NULL;
	uint64_t qref;
	shmrt_proxy_t *ns, *q;
	if (shmrt_manager_proxy(c, (uint64_t)strtoull(getenv("SHMRT_TLS_TEST_NS"), NULL, 10),
				&ns))
		return 2;
	if (shmrt_proxy_call(ns, "__getattr__", L(1, S("q")), 10 * SEC, &res) ||
	    shmrt_mv_as_ref(res, &qref))
		return 3;
	int rc = shmrt_manager_proxy(c, qref, &q);
	shmrt_mv_free(res);
	if (rc)
		return 4;
	usleep(200 * 1000); /* the parent's get is parked by now (most likely) */
	if (shmrt_proxy_call(q, "put", L(1, S("item over tls")), 10 * SEC, NULL))
		return 5;
	shmrt_manager_close(c);
	return 0;
}

static void calls_over_tls(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = tls_opts();
	assert_int_equal(start("tcp:127.0.0.1:0", &o), 0);
	shmrt_manager_conn_t *c = good_conn();
	shmrt_proxy_t *d, *q, *ns;
	assert_int_equal(shmrt_manager_create(c, "dict", NULL, &d), 0);
	/* values of every size: a frame spans many TLS records past 16 KiB, and 8 MiB
	 * overflow the sockets' buffers (writes wait for the peer, on both sides) */
	static const size_t sizes[] = { 0, 1, 100, 16383, 16384, 16385, 70000, 1 << 20, 8 << 20 };
	uint8_t *big = malloc(8 << 20);
	assert_non_null(big);
	for (size_t i = 0; i < (8u << 20); i++)
		big[i] = (uint8_t)(i * 131 + 7);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		assert_int_equal(shmrt_proxy_call2(d, "__setitem__", I((int64_t)k),
						   shmrt_mv_bytes(big, sizes[k]), NULL), 0);
		shmrt_mv_t *res = NULL;
		assert_int_equal(shmrt_proxy_call(d, "__getitem__", L(1, I((int64_t)k)), 20 * SEC,
						  &res), 0);
		size_t n = 0;
		const void *p = NULL;
		assert_int_equal(shmrt_mv_as_bytes(res, &p, &n), 0);
		assert_int_equal(n, sizes[k]);
		assert_true(n == 0 || memcmp(p, big, n) == 0);
		shmrt_mv_free(res);
	}
	free(big);
	/* a pipelined batch: many frames in one read, more than one wake-up's worth */
	enum { NB = 200 };
	shmrt_proxy_req_t r[NB];
	for (int i = 0; i < NB; i++)
		r[i] = (shmrt_proxy_req_t){ .proxy = d, .method = "__setitem__",
					    .args = L(2, I(1000 + i), I(i)) };
	assert_int_equal(shmrt_proxy_call_batch(c, r, NB, 20 * SEC), 0);
	for (int i = 0; i < NB; i++) {
		assert_int_equal(r[i].rc, 0);
		shmrt_mv_free(r[i].result);
	}
	for (int i = 0; i < NB; i++)
		r[i] = (shmrt_proxy_req_t){ .proxy = d, .method = "__getitem__",
					    .args = L(1, I(1000 + i)) };
	assert_int_equal(shmrt_proxy_call_batch(c, r, NB, 20 * SEC), 0);
	for (int i = 0; i < NB; i++) {
		int64_t v = -1;
		assert_int_equal(r[i].rc, 0);
		assert_int_equal(shmrt_mv_as_int(r[i].result, &v), 0);
		assert_int_equal(v, i);
		shmrt_mv_free(r[i].result);
	}
	/* a parked call: a get on an empty queue, answered by another process's put */
	assert_int_equal(shmrt_manager_create(c, "Queue", NULL, &q), 0);
	assert_int_equal(shmrt_manager_create(c, "Namespace", NULL, &ns), 0);
	assert_int_equal(shmrt_proxy_call2(ns, "__setattr__", S("q"),
					   shmrt_mv_ref(shmrt_proxy_ref(q)), NULL), 0);
	char env[32];
	snprintf(env, sizeof(env), "%llu", (unsigned long long)shmrt_proxy_ref(ns));
	setenv("SHMRT_TLS_TEST_NS", env, 1);
	static char addr[128];
	snprintf(addr, sizeof(addr), "%s", shmrt_manager_address(srv));
	pid_t child = tu_fork(queue_putter, addr);
	expect(q, "get", L(2, B(true), I(15 * SEC)), 0, "'item over tls'");
	assert_int_equal(tu_wait(child, 20000), 0);
	/* a reconnect speaks TLS again */
	assert_int_equal(shmrt_manager_reconnect(c, 10 * SEC), 0);
	shmrt_proxy_t *d2;
	assert_int_equal(shmrt_manager_create(c, "dict", NULL, &d2), 0);
	expect(d2, "__len__", NULL, 0, "0");
	assert_int_equal(shmrt_proxy_release(d2), 0);
	(void)shmrt_proxy_release(d);
	(void)shmrt_proxy_release(q);
	(void)shmrt_proxy_release(ns);
	shmrt_manager_close(c);
	still_serves();
	stop();
}

/* A TLS client parked in a Queue get, then killed (SIGKILL by the parent). */
static int parked_getter(void *arg)
{
	const char *addr = arg;
	shmrt_manager_tls_t t = { .ca_file = ca_pem };
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *q;
	if (shmrt_manager_connect_tls(addr, KEY, KEYLEN, &t, 10 * SEC, &c) ||
	    shmrt_manager_proxy(c, (uint64_t)strtoull(getenv("SHMRT_TLS_TEST_Q"), NULL, 10), &q))
		return 1;
	int rc = shmrt_proxy_call(q, "get", L(2, B(true), I(60 * SEC)), 60 * SEC, NULL);
	return rc ? 3 : 2; /* not reached: killed while parked */
}

static void killed_client(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = tls_opts();
	assert_int_equal(start("tcp:127.0.0.1:0", &o), 0);
	shmrt_manager_conn_t *c = good_conn();
	shmrt_proxy_t *q;
	assert_int_equal(shmrt_manager_create(c, "Queue", NULL, &q), 0);
	char env[32];
	snprintf(env, sizeof(env), "%llu", (unsigned long long)shmrt_proxy_ref(q));
	setenv("SHMRT_TLS_TEST_Q", env, 1);
	static char addr[128];
	snprintf(addr, sizeof(addr), "%s", shmrt_manager_address(srv));
	pid_t child = tu_fork(parked_getter, addr);
	/* wait (bounded) until the child's get is parked in the server */
	uint64_t end = tu_ms() + 20000;
	shmrt_mv_t *st = NULL;
	int64_t parked = 0;
	while (tu_ms() < end) {
		assert_int_equal(shmrt_manager_stats(c, &st), 0);
		(void)shmrt_mv_as_int(shmrt_mv_map_get_str(st, "parked"), &parked);
		shmrt_mv_free(st);
		if (parked == 1)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(parked, 1);
	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(tu_wait(child, 20000), 128 + SIGKILL);
	/* the dead getter takes nothing: the item put now is ours */
	assert_int_equal(shmrt_proxy_call(q, "put", L(1, I(42)), 20 * SEC, NULL), 0);
	expect(q, "get", L(2, B(true), I(10 * SEC)), 0, "42");
	assert_int_equal(shmrt_proxy_release(q), 0);
	shmrt_manager_close(c);
	still_serves();
	stop();
}

static void wrong_ca_or_host_refused(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = tls_opts();
	assert_int_equal(start("tcp:127.0.0.1:0", &o), 0);
	shmrt_manager_conn_t *c = NULL;
	assert_int_equal(conn_tls(other_ca_pem, NULL, NULL, NULL, &c), -EKEYREJECTED);
	assert_null(c);
	assert_int_equal(conn_tls(ca_pem, "not-this-host.example", NULL, NULL, &c), -EKEYREJECTED);
	assert_int_equal(conn_tls(ca_pem, "10.1.2.3", NULL, NULL, &c), -EKEYREJECTED);
	/* the names the certificate does carry */
	assert_int_equal(conn_tls(ca_pem, "localhost", NULL, NULL, &c), 0);
	shmrt_manager_close(c);
	/* the client's own files */
	assert_int_equal(conn_tls("/nonexistent/ca.pem", NULL, NULL, NULL, &c), -ENOENT);
	assert_int_equal(conn_tls(srv_key, NULL, NULL, NULL, &c), -EBADMSG);
	assert_int_equal(conn_tls(ca_pem, NULL, cli_pem, NULL, &c), -EINVAL);
	assert_int_equal(conn_tls(ca_pem, NULL, cli_pem, wrong_key, &c), -EKEYREJECTED);
	shmrt_manager_tls_t t = { .ca_file = ca_pem };
	assert_int_equal(shmrt_manager_connect_tls("unix:/tmp/x/socket", KEY, KEYLEN, &t, SEC, &c),
			 -EINVAL);
	assert_int_equal(shmrt_manager_connect_tls(shmrt_manager_address(srv), KEY, KEYLEN, NULL,
						   SEC, &c), -EINVAL);
	/* a wrong authkey inside TLS is refused as over a plain socket */
	assert_int_equal(shmrt_manager_connect_tls(shmrt_manager_address(srv), "nope", 4, &t,
						   10 * SEC, &c), -EACCES);
	still_serves();
	stop();
}

static void bad_server_files(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = tls_opts();
	o.tls_key_file = wrong_key;
	assert_int_equal(start("tcp:127.0.0.1:0", &o), -EKEYREJECTED);
	o = tls_opts();
	o.tls_cert_file = "/nonexistent/server.pem";
	assert_int_equal(start("tcp:127.0.0.1:0", &o), -ENOENT);
	o = tls_opts();
	o.tls_key_file = NULL;
	assert_int_equal(start("tcp:127.0.0.1:0", &o), -EINVAL);
	o = tls_opts();
	o.tls_cert_file = srv_key; /* a key where the certificate should be */
	assert_int_equal(start("tcp:127.0.0.1:0", &o), -EBADMSG);
	memset(&o, 0, sizeof(o));
	o.tls_ca_file = ca_pem; /* client certificates asked, but no certificate of ours */
	assert_int_equal(start("tcp:127.0.0.1:0", &o), -EINVAL);
	tu_kill_all();
}

static void plain_client_refused(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = tls_opts();
	o.auth_timeout = 500 * MS;
	assert_int_equal(start("tcp:127.0.0.1:0", &o), 0);
	const char *addr = shmrt_manager_address(srv);
	/* a plain client waits for a challenge that never comes: dropped at the deadline */
	shmrt_manager_conn_t *c = NULL;
	int rc = shmrt_manager_connect(addr, KEY, KEYLEN, 5 * SEC, &c);
	assert_true(rc == -EPIPE || rc == -ECONNRESET || rc == -EPROTO);
	assert_null(c);
	/* bytes that are not TLS (a plain client's answer, a frame): closed at once */
	int fd = raw_connect(port_of(addr));
	static const uint8_t frame[] = { 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o' };
	assert_int_equal(write(fd, frame, sizeof(frame)), (ssize_t)sizeof(frame));
	assert_true(closed_within(fd, 5000));
	close(fd);
	/* a silent TCP client, and one that stops inside its ClientHello: dropped at the
	 * handshake deadline */
	fd = raw_connect(port_of(addr));
	assert_true(closed_within(fd, 5000));
	close(fd);
	fd = raw_connect(port_of(addr));
	static const uint8_t hello_start[] = { 0x16, 0x03, 0x01, 0x01, 0x00, 0x01 };
	assert_int_equal(write(fd, hello_start, sizeof(hello_start)), (ssize_t)sizeof(hello_start));
	assert_true(closed_within(fd, 5000));
	close(fd);
	still_serves();
	stop();
	/* and a TLS client to a plain server */
	assert_int_equal(start("tcp:127.0.0.1:0", NULL), 0);
	assert_int_equal(conn_tls(ca_pem, NULL, NULL, NULL, &c), -EPROTO);
	stop();
}

/* Silent TLS handshakes count against max_handshakes: past it the oldest goes, long
 * before its deadline. */
static void handshake_cap(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = tls_opts();
	o.max_handshakes = 2;
	o.auth_timeout = 60 * SEC;
	assert_int_equal(start("tcp:127.0.0.1:0", &o), 0);
	int port = port_of(shmrt_manager_address(srv));
	int a = raw_connect(port), b = raw_connect(port);
	usleep(100 * 1000); /* the server accepts in arrival order: a is the oldest */
	int c = raw_connect(port);
	assert_true(closed_within(a, 10000)); /* the oldest made room for c */
	still_serves(); /* and the next made room for this client */
	close(a);
	close(b);
	close(c);
	stop();
}

static void tls12_client_refused(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = tls_opts();
	assert_int_equal(start("tcp:127.0.0.1:0", &o), 0);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION), 1);
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca_pem, NULL), 1);
	int fd = raw_connect(port_of(shmrt_manager_address(srv)));
	struct timeval tv = { .tv_sec = 10 }; /* bounds the blocking handshake */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	SSL *ssl = SSL_new(ctx);
	assert_non_null(ssl);
	assert_int_equal(SSL_set_fd(ssl, fd), 1);
	assert_true(SSL_connect(ssl) != 1); /* the server speaks TLS 1.3 only */
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	still_serves();
	stop();
}

static void client_certificates(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = tls_opts();
	o.tls_ca_file = ca_pem;
	assert_int_equal(start("tcp:127.0.0.1:0", &o), 0);
	shmrt_manager_conn_t *c = NULL;
	assert_int_equal(conn_tls(ca_pem, NULL, NULL, NULL, &c), -EKEYREJECTED);
	assert_int_equal(conn_tls(ca_pem, NULL, other_cli_pem, other_cli_key, &c), -EKEYREJECTED);
	assert_null(c);
	assert_int_equal(conn_tls(ca_pem, NULL, cli_pem, cli_key, &c), 0);
	shmrt_proxy_t *d;
	assert_int_equal(shmrt_manager_create(c, "dict", NULL, &d), 0);
	expect(d, "__len__", NULL, 0, "0");
	assert_int_equal(shmrt_proxy_release(d), 0);
	shmrt_manager_close(c);
	stop();
}

static void non_loopback_needs_tls(void **state)
{
	(void)state;
	shmrt_manager_opts_t o;
	memset(&o, 0, sizeof(o));
	o.flags = SHMRT_MANAGER_ANY_HOST;
	assert_int_equal(start("tcp:0.0.0.0:0", &o), -EPERM);
	/* loopback stays free of TLS, with or without the flag */
	assert_int_equal(start("tcp:127.0.0.1:0", &o), 0);
	stop();
	o.flags = SHMRT_MANAGER_ANY_HOST | SHMRT_MANAGER_INSECURE_NO_TLS;
	assert_int_equal(start("tcp:0.0.0.0:0", &o), 0);
	char addr[64];
	snprintf(addr, sizeof(addr), "tcp:127.0.0.1:%d", port_of(shmrt_manager_address(srv)));
	shmrt_manager_conn_t *c;
	assert_int_equal(shmrt_manager_connect(addr, KEY, KEYLEN, 10 * SEC, &c), 0);
	shmrt_manager_close(c);
	stop();
	o = tls_opts();
	o.flags = SHMRT_MANAGER_ANY_HOST;
	assert_int_equal(start("tcp:0.0.0.0:0", &o), 0);
	snprintf(addr, sizeof(addr), "tcp:127.0.0.1:%d", port_of(shmrt_manager_address(srv)));
	shmrt_manager_tls_t t = { .ca_file = ca_pem };
	assert_int_equal(shmrt_manager_connect_tls(addr, KEY, KEYLEN, &t, 10 * SEC, &c), 0);
	shmrt_manager_close(c);
	assert_int_equal(shmrt_manager_connect(addr, KEY, KEYLEN, 300 * MS, &c), -ETIMEDOUT);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(calls_over_tls),
		cmocka_unit_test(killed_client),
		cmocka_unit_test(wrong_ca_or_host_refused),
		cmocka_unit_test(bad_server_files),
		cmocka_unit_test(plain_client_refused),
		cmocka_unit_test(handshake_cap),
		cmocka_unit_test(tls12_client_refused),
		cmocka_unit_test(client_certificates),
		cmocka_unit_test(non_loopback_needs_tls),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
