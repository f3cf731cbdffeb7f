/*
 * The manager's wire across two processes: a server in this process (listener,
 * accept, the handshake's state machine driven by a poll loop as the epoll server
 * will drive it) and a forked client, on a Unix socket and on loopback TCP (IPv4,
 * IPv6, a name). The handshake succeeds both ways with the right key and fails with a
 * wrong one (#FAILURE#, in either direction); the server refuses an MD5 answer, a
 * 257-byte frame before authentication, an answer replayed from an earlier challenge,
 * and a peer that says nothing past the deadline; a Unix peer of another user is
 * refused at accept. Every wait is bounded; children are killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/clock.h"
#include "manager/auth.h"
#include "manager/frame.h"
#include "manager/transport.h"

static const char KEY[] = "wire-mp-authkey";
#define KEYLEN (sizeof(KEY) - 1)
#define SEC 1000000000ll

static char tmpdir[64];
static shmrt__listener_t L;

/* ---- the server side (this process) --------------------------------------------- */

static void listen_on(const char *s)
{
	shmrt__addr_t a;
	const char *why = NULL;
	if (shmrt__addr_parse(s, &a, &why))
		fail_msg("%s: %s", s, why);
	assert_int_equal(shmrt__listen(&a, 0, 0, &L), 0);
}

static int accept_one(void)
{
	uint64_t deadline = mono_ns() + 5 * SEC;
	for (;;) {
		int fd;
		int rc = shmrt__accept(&L, &fd);
		if (rc == 0)
			return fd;
		if (rc != -EAGAIN)
			return rc;
		rc = shmrt__wait_fd(L.fd, POLLIN, deadline);
		if (rc)
			return rc;
	}
}

/*
 * The server's handshake on a non-blocking fd, as an event loop runs it: output
 * queued and flushed as the socket allows, frames read as they arrive, the deadline
 * checked on every wake-up. Returns 0 or the handshake's error.
 */
static int serve_handshake(int fd, int64_t timeout_ns)
{
	shmrt__auth_t a;
	shmrt__frame_reader_t r;
	shmrt__frame_writer_t w;
	assert_int_equal(shmrt__auth_init(&a, SHMRT__AUTH_SERVER, KEY, KEYLEN, timeout_ns, NULL), 0);
	shmrt__frame_reader_init(&r, SHMRT__AUTH_FRAME_MAX);
	/* The frames after the handshake go to another reader (the caller's): read no
	 * byte past it (a reader that reads ahead would keep the client's first request). */
	shmrt__frame_reader_exact(&r);
	shmrt__frame_writer_init(&w, 4096);
	int rc = 0;
	for (;;) {
		const uint8_t *p;
		size_t n;
		if (shmrt__auth_output(&a, &p, &n)) {
			int s = shmrt__frame_send(&w, fd, p, n);
			if (s && rc >= 0)
				rc = s;
		}
		if (rc)
			break;
		int f = shmrt__frame_flush(&w, fd);
		if (f && f != -EAGAIN) {
			rc = f;
			break;
		}
		int k = shmrt__frame_read(&r, fd);
		if (k == -EAGAIN) {
			int wr = shmrt__wait_fd(fd, (short)(POLLIN | (f ? POLLOUT : 0)), a.deadline);
			rc = shmrt__auth_check_time(&a, mono_ns());
			if (!rc && wr && wr != -ETIMEDOUT)
				rc = wr;
			continue;
		}
		if (k < 0) {
			rc = k;
			break;
		}
		const uint8_t *d = shmrt__frame_data(&r, &n);
		rc = shmrt__auth_feed(&a, d, n);
		shmrt__frame_next(&r);
	}
	/* What is left to send (a #FAILURE#), within a second. */
	uint64_t end = mono_ns() + SEC;
	while (shmrt__frame_flush(&w, fd) == -EAGAIN && shmrt__wait_fd(fd, POLLOUT, end) == 0)
		;
	shmrt__auth_fini(&a);
	shmrt__frame_reader_fini(&r);
	shmrt__frame_writer_fini(&w);
	return rc > 0 ? 0 : rc;
}

static int recv_frame(int fd, shmrt__frame_reader_t *r, uint8_t *buf, size_t cap, size_t *n)
{
	int rc = shmrt__frame_recv_wait(r, fd, mono_ns() + 5 * SEC);
	if (rc < 0)
		return rc;
	const uint8_t *p = shmrt__frame_data(r, n);
	if (*n > cap)
		return -EMSGSIZE;
	if (*n)
		memcpy(buf, p, *n);
	shmrt__frame_next(r);
	return 0;
}

static int send_frame(int fd, const void *p, size_t n)
{
	shmrt__frame_writer_t w;
	shmrt__frame_writer_init(&w, 0);
	int rc = shmrt__frame_send_wait(&w, fd, p, n, mono_ns() + 5 * SEC);
	shmrt__frame_writer_fini(&w);
	return rc;
}

/* ---- the client side (a child) -------------------------------------------------- */

static int client_connect(void)
{
	int fd;
	return shmrt__connect(&L.addr, 5 * SEC, &fd) ? -1 : fd;
}

/* A well-behaved client: handshake, then "ping" -> "pong". Exit 0 if all went well. */
static int child_good(void *key)
{
	int fd = client_connect();
	if (fd < 0)
		return 2;
	int rc = shmrt__auth_run(fd, SHMRT__AUTH_CLIENT, key, strlen(key), 5 * SEC);
	if (strcmp(key, KEY) != 0) /* a wrong key must be refused with #FAILURE# */
		return rc == -EACCES ? 0 : 3;
	if (rc)
		return 4;
	if (send_frame(fd, "ping", 4))
		return 5;
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 0);
	uint8_t b[16];
	size_t n;
	if (recv_frame(fd, &r, b, sizeof(b), &n) || n != 4 || memcmp(b, "pong", 4))
		return 6;
	shmrt__frame_reader_fini(&r);
	close(fd);
	return 0;
}

/* Receives the server's challenge message (after "#CHALLENGE#") into m. */
static int raw_challenge(int fd, shmrt__frame_reader_t *r, uint8_t *m, size_t *mn)
{
	uint8_t f[300];
	size_t n;
	if (recv_frame(fd, r, f, sizeof(f), &n) || n < 11 || memcmp(f, "#CHALLENGE#", 11))
		return -1;
	memcpy(m, f + 11, n - 11);
	*mn = n - 11;
	return 0;
}

/* Expects one frame equal to s[0, n). */
static int expect(int fd, shmrt__frame_reader_t *r, const char *s)
{
	uint8_t f[300];
	size_t n;
	return recv_frame(fd, r, f, sizeof(f), &n) == 0 && n == strlen(s) && !memcmp(f, s, n) ? 0 : -1;
}

/* Answers the challenge with a legacy HMAC-MD5 (16 bytes, no prefix). */
static int child_md5(void *arg)
{
	(void)arg;
	int fd = client_connect();
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 256);
	uint8_t m[300], d[EVP_MAX_MD_SIZE];
	size_t mn;
	unsigned dl;
	if (fd < 0 || raw_challenge(fd, &r, m, &mn))
		return 2;
	if (!HMAC(EVP_md5(), KEY, (int)KEYLEN, m, mn, d, &dl) || dl != 16)
		return 3;
	if (send_frame(fd, d, 16))
		return 4;
	return expect(fd, &r, "#FAILURE#") ? 5 : 0;
}

/* Sends a 257-byte frame instead of an answer; the server then closes. */
static int child_257(void *arg)
{
	(void)arg;
	int fd = client_connect();
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 256);
	uint8_t m[300];
	size_t mn;
	if (fd < 0 || raw_challenge(fd, &r, m, &mn))
		return 2;
	memset(m, 'x', 257);
	if (send_frame(fd, m, 257))
		return 3;
	uint8_t f[16];
	size_t n;
	int rc = recv_frame(fd, &r, f, sizeof(f), &n);
	return rc == -EPIPE || rc == -ECONNRESET ? 0 : 4;
}

/* Answers one challenge rightly, then replays that answer to the next. */
static int child_replay(void *arg)
{
	(void)arg;
	uint8_t m[300], ans[128];
	size_t mn, an;
	shmrt__frame_reader_t r;
	int fd = client_connect();
	shmrt__frame_reader_init(&r, 256);
	if (fd < 0 || raw_challenge(fd, &r, m, &mn))
		return 2;
	if (shmrt__auth_response(KEY, KEYLEN, m, mn, ans, &an) || send_frame(fd, ans, an))
		return 3;
	if (expect(fd, &r, "#WELCOME#"))
		return 4;
	close(fd);
	shmrt__frame_reader_fini(&r);
	fd = client_connect();
	shmrt__frame_reader_init(&r, 256);
	if (fd < 0 || raw_challenge(fd, &r, m, &mn))
		return 5;
	if (send_frame(fd, ans, an))
		return 6;
	return expect(fd, &r, "#FAILURE#") ? 7 : 0;
}

/* Connects and says nothing. */
static int child_silent(void *arg)
{
	(void)arg;
	int fd = client_connect();
	if (fd < 0)
		return 2;
	pause();
	return 0;
}

/* ---- tests ---------------------------------------------------------------------- */

static void make_dir(void)
{
	strcpy(tmpdir, "/tmp/shmrt-wiremp-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
}

static void rm_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
}

static void listen_unix(void)
{
	make_dir();
	char s[128];
	snprintf(s, sizeof(s), "unix:%s/m/wire.sock", tmpdir);
	listen_on(s);
}

static void close_all(void)
{
	tu_kill_all();
	shmrt__listener_close(&L);
	if (tmpdir[0]) {
		rm_dir();
		tmpdir[0] = 0;
	}
}

/* A good client against the server, then a client with a wrong key. */
static void roundtrip(void)
{
	pid_t pid = tu_fork(child_good, (void *)KEY);
	int fd = accept_one();
	assert_true(fd >= 0);
	assert_int_equal(serve_handshake(fd, 5 * SEC), 0);
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 0);
	uint8_t b[16];
	size_t n;
	assert_int_equal(recv_frame(fd, &r, b, sizeof(b), &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(b, "ping", 4);
	assert_int_equal(send_frame(fd, "pong", 4), 0);
	assert_int_equal(tu_wait(pid, 10000), 0);
	shmrt__frame_reader_fini(&r);
	close(fd);

	pid = tu_fork(child_good, "not-the-key");
	fd = accept_one();
	assert_true(fd >= 0);
	assert_int_equal(serve_handshake(fd, 5 * SEC), -EACCES);
	close(fd);
	assert_int_equal(tu_wait(pid, 10000), 0);
}

static void wire_unix(void **state)
{
	(void)state;
	listen_unix();
	roundtrip();
	close_all();
}

static void wire_tcp(void **state)
{
	(void)state;
	static const char *addrs[] = { "tcp:127.0.0.1:0", "tcp:localhost:0", "tcp:[::1]:0" };
	for (size_t i = 0; i < 3; i++) {
		shmrt__addr_t a;
		assert_int_equal(shmrt__addr_parse(addrs[i], &a, NULL), 0);
		int rc = shmrt__listen(&a, 0, 0, &L);
		if (i == 2 && (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT)) {
			print_message("no IPv6 loopback here: %s skipped\n", addrs[i]);
			continue;
		}
		assert_int_equal(rc, 0);
		roundtrip();
		close_all();
	}
}

/* The client checks the server too: a server that welcomes anything and answers the
 * client's challenge wrongly gets #FAILURE#. */
static int child_expect_refusal(void *arg)
{
	(void)arg;
	int fd = client_connect();
	if (fd < 0)
		return 2;
	return shmrt__auth_run(fd, SHMRT__AUTH_CLIENT, KEY, KEYLEN, 5 * SEC) == -EACCES ? 0 : 3;
}

static void client_checks_server(void **state)
{
	(void)state;
	listen_unix();
	pid_t pid = tu_fork(child_expect_refusal, NULL);
	int fd = accept_one();
	assert_true(fd >= 0);
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 256);
	uint8_t ch[59] = "#CHALLENGE#{sha256}", f[300];
	for (int i = 19; i < 59; i++)
		ch[i] = (uint8_t)i;
	size_t n;
	assert_int_equal(send_frame(fd, ch, sizeof(ch)), 0);
	assert_int_equal(recv_frame(fd, &r, f, sizeof(f), &n), 0); /* its answer */
	assert_int_equal(send_frame(fd, "#WELCOME#", 9), 0);
	assert_int_equal(recv_frame(fd, &r, f, sizeof(f), &n), 0); /* its challenge */
	assert_memory_equal(f, "#CHALLENGE#{sha256}", 19);
	uint8_t bad[40] = "{sha256}";
	assert_int_equal(send_frame(fd, bad, sizeof(bad)), 0);
	assert_int_equal(recv_frame(fd, &r, f, sizeof(f), &n), 0);
	assert_int_equal(n, 9);
	assert_memory_equal(f, "#FAILURE#", 9);
	assert_int_equal(tu_wait(pid, 10000), 0);
	shmrt__frame_reader_fini(&r);
	close(fd);
	close_all();
}

static void refusals(void **state)
{
	(void)state;
	listen_unix();
	/* MD5. */
	pid_t pid = tu_fork(child_md5, NULL);
	int fd = accept_one();
	assert_true(fd >= 0);
	assert_int_equal(serve_handshake(fd, 5 * SEC), -EPROTONOSUPPORT);
	assert_int_equal(tu_wait(pid, 10000), 0);
	close(fd);
	/* 257 bytes before authentication. */
	pid = tu_fork(child_257, NULL);
	fd = accept_one();
	assert_true(fd >= 0);
	assert_int_equal(serve_handshake(fd, 5 * SEC), -EMSGSIZE);
	close(fd);
	assert_int_equal(tu_wait(pid, 10000), 0);
	/* A replayed answer: the first connection goes as far as #WELCOME#. */
	pid = tu_fork(child_replay, NULL);
	fd = accept_one();
	assert_true(fd >= 0);
	int rc = serve_handshake(fd, 5 * SEC);
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	close(fd);
	fd = accept_one();
	assert_true(fd >= 0);
	assert_int_equal(serve_handshake(fd, 5 * SEC), -EACCES);
	close(fd);
	assert_int_equal(tu_wait(pid, 10000), 0);
	/* A silent peer, past a 300 ms deadline. */
	pid = tu_fork(child_silent, NULL);
	fd = accept_one();
	assert_true(fd >= 0);
	uint64_t t0 = tu_ms();
	assert_int_equal(serve_handshake(fd, 300000000), -ETIMEDOUT);
	uint64_t ms = tu_ms() - t0;
	assert_true(ms >= 290 && ms < 3000);
	close(fd);
	kill(pid, SIGKILL);
	assert_int_equal(tu_wait(pid, 10000), 128 + SIGKILL);
	close_all();
}

/* Another user's process reaching the socket (the directory opened on purpose) is
 * refused at accept by its credentials. Root only (it must become another user). */
static int child_nobody(void *arg)
{
	(void)arg;
	if (setgid(65534) || setuid(65534))
		return 2;
	int fd;
	/* It checks the server too: root's server is acceptable to anyone. */
	if (shmrt__connect(&L.addr, 5 * SEC, &fd))
		return 3;
	char c;
	uint64_t end = mono_ns() + 5 * SEC;
	while (mono_ns() < end) { /* the server closes it: end of stream */
		if (shmrt__wait_fd(fd, POLLIN, end))
			return 4;
		ssize_t k = read(fd, &c, 1);
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return 0;
	}
	return 5;
}

static void peer_credentials(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("not root: cannot become another user, skipped\n");
		skip();
	}
	listen_unix();
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/m", tmpdir);
	assert_int_equal(chmod(tmpdir, 0711), 0);
	assert_int_equal(chmod(dir, 0711), 0);
	assert_int_equal(chmod(L.addr.path, 0777), 0);
	pid_t pid = tu_fork(child_nobody, NULL);
	assert_int_equal(accept_one(), -EPERM);
	assert_int_equal(tu_wait(pid, 10000), 0);
	close_all();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wire_unix),
		cmocka_unit_test(wire_tcp),
		cmocka_unit_test(client_checks_server),
		cmocka_unit_test(refusals),
		cmocka_unit_test(peer_credentials),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
