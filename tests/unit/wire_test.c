/*
 * The manager's wire in one process: address strings, the Unix socket directory's
 * checks and stale sockets, the TCP loopback rule, the frame reader (one-byte feeds,
 * the 8-byte form, lengths that must allocate nothing), the writer's bounded queue,
 * and the handshake: reference vectors of Python 3.12's algorithm and the two state
 * machines talking to each other frame by frame.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/clock.h"
#include "manager/auth.h"
#include "manager/frame.h"
#include "manager/mvalue_int.h"
#include "manager/transport.h"

/* ---- addresses ------------------------------------------------------------------ */

static void addr_parse_good(void **state)
{
	(void)state;
	shmrt__addr_t a;
	char s[SHMRT__ADDR_STR_MAX];
	assert_int_equal(shmrt__addr_parse("unix:/run/shmrt/m.sock", &a, NULL), 0);
	assert_int_equal(a.kind, SHMRT__ADDR_UNIX);
	assert_string_equal(a.path, "/run/shmrt/m.sock");
	assert_int_equal(shmrt__addr_parse("tcp:127.0.0.1:5000", &a, NULL), 0);
	assert_int_equal(a.kind, SHMRT__ADDR_TCP);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 5000);
	assert_int_equal(shmrt__addr_parse("tcp:[::1]:65535", &a, NULL), 0);
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 65535);
	assert_int_equal(shmrt__addr_format(&a, s, sizeof(s)), 0);
	assert_string_equal(s, "tcp:[::1]:65535");
	assert_int_equal(shmrt__addr_parse("tcp:localhost:0", &a, NULL), 0);
	assert_int_equal(a.port, 0);
	assert_int_equal(shmrt__addr_parse("tcp:node-7.cluster.example:80", &a, NULL), 0);
	assert_int_equal(shmrt__addr_format(&a, s, sizeof(s)), 0);
	assert_string_equal(s, "tcp:node-7.cluster.example:80");
	assert_int_equal(shmrt__addr_format(&a, s, 10), -ENAMETOOLONG);
	/* A path of exactly 107 bytes fits sun_path with its NUL. */
	char p[200] = "unix:/";
	memset(p + 6, 'x', 106);
	p[112] = 0;
	assert_int_equal(shmrt__addr_parse(p, &a, NULL), 0);
	assert_int_equal(strlen(a.path), 107);
}

static void addr_parse_bad(void **state)
{
	(void)state;
	static const char *bad[] = {
		"", "unix:", "unix:rel/sock", "unix:@abstract", "unix:/dir/", "unix:/a//b",
		"unix:/a/../b", "unix:/a/./b", "unix:/a/\x01", "/tmp/x.sock", "tcp:",
		"tcp:127.0.0.1", "tcp:127.0.0.1:", "tcp:127.0.0.1:65536", "tcp:127.0.0.1:-1",
		"tcp:127.0.0.1:+80", "tcp:127.0.0.1:123456", "tcp:127.0.0.1:8o", "tcp::80",
		"tcp:::1:80", "tcp:[::1:80", "tcp:[::1]80", "tcp:[]:80", "tcp:[1.2.3.4]:80",
		"tcp:[::1%eth0]:80", "tcp:a..b:80", "tcp:host.:80", "tcp:ho_st:80",
		"tcp:ho st:80", "udp:1.2.3.4:5", "UNIX:/x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		shmrt__addr_t a;
		memset(&a, 0x5a, sizeof(a));
		const char *why = NULL;
		int rc = shmrt__addr_parse(bad[i], &a, &why);
		if (rc != -EINVAL || !why || !*why)
			fail_msg("\"%s\": %d (%s)", bad[i], rc, why ? why : "no reason");
		assert_int_equal(a.kind, 0x5a5a5a5a); /* untouched on failure */
	}
	char p[200] = "unix:/";
	memset(p + 6, 'x', 107);
	p[113] = 0;
	const char *why = NULL;
	shmrt__addr_t a;
	assert_int_equal(shmrt__addr_parse(p, &a, &why), -EINVAL);
	assert_non_null(strstr(why, "107"));
	char h[300] = "tcp:";
	memset(h + 4, 'a', 254);
	strcpy(h + 258, ":80");
	assert_int_equal(shmrt__addr_parse(h, &a, &why), -EINVAL);
}

/* ---- Unix socket directories ---------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/shmrt-wire-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
}

static int listen_at(const char *path, shmrt__listener_t *l)
{
	char s[256];
	snprintf(s, sizeof(s), "unix:%s", path);
	shmrt__addr_t a;
	assert_int_equal(shmrt__addr_parse(s, &a, NULL), 0);
	return shmrt__listen(&a, 0, 0, l);
}

static void unix_dir_rules(void **state)
{
	(void)state;
	make_tmpdir();
	char dir[128], path[160];
	shmrt__listener_t l;
	/* A missing directory is created 0700. */
	snprintf(dir, sizeof(dir), "%s/d", tmpdir);
	snprintf(path, sizeof(path), "%s/m.sock", dir);
	assert_int_equal(listen_at(path, &l), 0);
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* A live listener holds the path. */
	shmrt__listener_t l2;
	assert_int_equal(listen_at(path, &l2), -EADDRINUSE);
	shmrt__listener_close(&l);
	assert_int_equal(lstat(path, &st), -1); /* close removed its file */
	/* Group or world access to the directory: refused, nothing bound. */
	assert_int_equal(chmod(dir, 0750), 0);
	assert_int_equal(listen_at(path, &l), -EACCES);
	assert_int_equal(chmod(dir, 0701), 0);
	assert_int_equal(listen_at(path, &l), -EACCES);
	assert_int_equal(chmod(dir, 0707), 0);
	assert_int_equal(listen_at(path, &l), -EACCES);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(chmod(dir, 0700), 0);
	/* Another user's directory (needs root to make one). */
	if (geteuid() == 0) {
		assert_int_equal(chown(dir, 65534, 65534), 0);
		assert_int_equal(listen_at(path, &l), -EPERM);
		assert_int_equal(chown(dir, 0, 0), 0);
	}
	/* A stale socket (a dead server's) is replaced; a file that is not one is not. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	strcpy(sun.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(listen_at(path, &l), -EADDRINUSE); /* live: listening */
	close(fd);
	assert_int_equal(listen_at(path, &l), 0);           /* stale: replaced */
	shmrt__listener_close(&l);
	int f = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(f >= 0);
	close(f);
	assert_int_equal(listen_at(path, &l), -EEXIST);
	assert_int_equal(lstat(path, &st), 0); /* still there */
	/* A directory's parent must exist. */
	snprintf(path, sizeof(path), "%s/no/such/m.sock", tmpdir);
	assert_int_equal(listen_at(path, &l), -ENOENT);
	/* The shared /tmp itself is open to all. */
	assert_int_equal(listen_at("/tmp/shmrt-wire-never.sock", &l), -EACCES);
	rm_tmpdir();
}

static void tcp_loopback_rule(void **state)
{
	(void)state;
	shmrt__addr_t a;
	shmrt__listener_t l;
	assert_int_equal(shmrt__addr_parse("tcp:0.0.0.0:0", &a, NULL), 0);
	assert_int_equal(shmrt__listen(&a, 0, 0, &l), -EACCES);
	assert_int_equal(shmrt__listen(&a, SHMRT__LISTEN_ANY_HOST, 0, &l), 0);
	assert_true(l.addr.port != 0);
	shmrt__listener_close(&l);
	assert_int_equal(shmrt__addr_parse("tcp:127.0.0.1:0", &a, NULL), 0);
	assert_int_equal(shmrt__listen(&a, 0, 0, &l), 0);
	assert_true(l.addr.port != 0);
	assert_true(fcntl(l.fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(l.fd, F_GETFL) & O_NONBLOCK);
	int fd;
	assert_int_equal(shmrt__accept(&l, &fd), -EAGAIN);
	shmrt__listener_close(&l);
	assert_int_equal(shmrt__addr_parse("tcp:127.0.0.1:0", &a, NULL), 0);
	assert_int_equal(shmrt__connect(&a, 1000000000, &fd), -EINVAL); /* port 0 */
}

/* ---- frame reader --------------------------------------------------------------- */

/* Feeds s[0, n) one byte at a time; returns the frames' lengths in lens. */
static int feed_bytewise(shmrt__frame_reader_t *r, const uint8_t *s, size_t n, size_t *lens,
			 uint8_t (*data)[64])
{
	int frames = 0;
	for (size_t i = 0; i < n; i++) {
		size_t used;
		int rc = shmrt__frame_feed(r, s + i, 1, &used);
		if (rc < 0)
			return rc;
		assert_int_equal(used, 1);
		if (rc == 1) {
			size_t len;
			const uint8_t *p = shmrt__frame_data(r, &len);
			lens[frames] = len;
			if (len)
				memcpy(data[frames], p, len < 64 ? len : 64);
			frames++;
			shmrt__frame_next(r);
		}
	}
	return frames;
}

static void reader_one_byte_feeds(void **state)
{
	(void)state;
	uint8_t s[256];
	size_t n = 0;
	/* "hello" (4-byte form), an empty frame, "wxyz" in the 8-byte form. */
	n += shmrt__frame_header(5, s + n);
	memcpy(s + n, "hello", 5);
	n += 5;
	n += shmrt__frame_header(0, s + n);
	static const uint8_t long4[12] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 4 };
	memcpy(s + n, long4, 12);
	n += 12;
	memcpy(s + n, "wxyz", 4);
	n += 4;
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 0);
	size_t lens[8] = { 0 };
	uint8_t data[8][64];
	assert_int_equal(feed_bytewise(&r, s, n, lens, data), 3);
	assert_int_equal(lens[0], 5);
	assert_memory_equal(data[0], "hello", 5);
	assert_int_equal(lens[1], 0);
	assert_int_equal(lens[2], 4);
	assert_memory_equal(data[2], "wxyz", 4);
	assert_false(shmrt__frame_partial(&r));
	/* The same stream in one feed: frames come one at a time, *used says where. */
	size_t off = 0, used;
	int frames = 0;
	while (off < n) {
		int rc = shmrt__frame_feed(&r, s + off, n - off, &used);
		assert_true(rc >= 0);
		off += used;
		if (rc == 1) {
			frames++;
			/* A complete frame not released: the next feed is refused. */
			assert_int_equal(shmrt__frame_feed(&r, s + off, n - off, &used), -EBUSY);
			shmrt__frame_next(&r);
		}
	}
	assert_int_equal(frames, 3);
	shmrt__frame_reader_fini(&r);
}

static int feed_all(shmrt__frame_reader_t *r, const uint8_t *s, size_t n)
{
	size_t used;
	return shmrt__frame_feed(r, s, n, &used);
}

static void reader_bad_lengths(void **state)
{
	(void)state;
	shmrt__frame_reader_t r;
	/* -1 then 2^64-1: oversize, nothing allocated, sticky. */
	static const uint8_t huge[12] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					  0xff, 0xff, 0xff, 0xff };
	shmrt__frame_reader_init(&r, 0);
	assert_int_equal(feed_all(&r, huge, 12), -EMSGSIZE);
	assert_null(r.buf);
	assert_int_equal(feed_all(&r, (const uint8_t *)"abcd", 4), -EMSGSIZE);
	shmrt__frame_reader_fini(&r);
	/* Negative lengths other than -1. */
	static const uint8_t neg[][4] = { { 0xff, 0xff, 0xff, 0xfe }, { 0x80, 0, 0, 0 } };
	for (int i = 0; i < 2; i++) {
		shmrt__frame_reader_init(&r, 0);
		assert_int_equal(feed_all(&r, neg[i], 4), -EBADMSG);
		assert_null(r.buf);
		shmrt__frame_reader_fini(&r);
	}
	/* Over the cap in both forms: 16 MiB + 1, and 0x7fffffff. */
	uint8_t h[12];
	shmrt__frame_reader_init(&r, 0);
	assert_int_equal(feed_all(&r, h, shmrt__frame_header(SHMRT__FRAME_MAX_DEFAULT + 1ull, h)),
			 -EMSGSIZE);
	shmrt__frame_reader_fini(&r);
	shmrt__frame_reader_init(&r, 0);
	static const uint8_t big8[12] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 0 };
	assert_int_equal(feed_all(&r, big8, 12), -EMSGSIZE);
	shmrt__frame_reader_fini(&r);
	/* The handshake's cap: 256 is fine, 257 is not. */
	uint8_t f[300] = { 0 };
	shmrt__frame_reader_init(&r, SHMRT__AUTH_FRAME_MAX);
	size_t hn = shmrt__frame_header(256, f);
	assert_int_equal(feed_all(&r, f, hn + 256), 1);
	shmrt__frame_next(&r);
	hn = shmrt__frame_header(257, f);
	assert_int_equal(feed_all(&r, f, hn), -EMSGSIZE);
	shmrt__frame_reader_fini(&r);
	/* A declared 16 MiB costs what arrives plus a step, not 16 MiB. */
	shmrt__frame_reader_init(&r, 0);
	hn = shmrt__frame_header(SHMRT__FRAME_MAX_DEFAULT, f);
	assert_int_equal(feed_all(&r, f, hn + 5), 0);
	assert_true(r.cap <= 5 + SHMRT__FRAME_STEP);
	assert_true(shmrt__frame_partial(&r));
	shmrt__frame_reader_fini(&r);
}

static void reader_from_fd(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 0);
	assert_int_equal(shmrt__frame_read(&r, sv[0]), -EAGAIN);
	/* A 1 MiB frame followed by a small one: the first read stops at its end. */
	size_t big = 1u << 20;
	uint8_t *buf = malloc(big + 64);
	for (size_t i = 0; i < big; i++)
		buf[i] = (uint8_t)(i * 7);
	shmrt__frame_writer_t w;
	shmrt__frame_writer_init(&w, 0);
	assert_int_equal(shmrt__frame_send(&w, sv[1], buf, big), 0);
	assert_int_equal(shmrt__frame_send(&w, sv[1], "tail", 4), 0);
	int rc;
	while ((rc = shmrt__frame_read(&r, sv[0])) == -EAGAIN)
		assert_true(shmrt__frame_flush(&w, sv[1]) != -EPIPE);
	assert_int_equal(rc, 1);
	size_t len;
	const uint8_t *p = shmrt__frame_data(&r, &len);
	assert_int_equal(len, big);
	assert_memory_equal(p, buf, big);
	shmrt__frame_next(&r);
	while ((rc = shmrt__frame_read(&r, sv[0])) == -EAGAIN)
		assert_true(shmrt__frame_flush(&w, sv[1]) != -EPIPE);
	assert_int_equal(rc, 1);
	p = shmrt__frame_data(&r, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(p, "tail", 4);
	shmrt__frame_next(&r);
	assert_int_equal(shmrt__frame_queued(&w), 0);
	/* Closed between frames: -EPIPE; inside one: -EPROTO. */
	assert_int_equal(write(sv[1], "\0\0", 2), 2);
	assert_int_equal(shmrt__frame_read(&r, sv[0]), -EAGAIN);
	close(sv[1]);
	assert_int_equal(shmrt__frame_read(&r, sv[0]), -EPROTO);
	shmrt__frame_reader_fini(&r);
	shmrt__frame_reader_init(&r, 0);
	assert_int_equal(shmrt__frame_read(&r, sv[0]), -EPIPE);
	shmrt__frame_reader_fini(&r);
	shmrt__frame_writer_fini(&w);
	close(sv[0]);
	free(buf);
}

/* Read-ahead: frames written at once come out of one read, the small ones in place;
 * a frame split across reads, a large one, the 256-byte cap and an exact reader. */
static void reader_read_ahead(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	uint8_t s[4096];
	size_t n = 0;
	for (int i = 0; i < 40; i++) { /* 40 frames of i bytes, each byte = i */
		n += shmrt__frame_header((uint64_t)i, s + n);
		memset(s + n, i, (size_t)i);
		n += (size_t)i;
	}
	assert_int_equal(write(sv[1], s, n), (ssize_t)n);
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 0);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(shmrt__frame_read(&r, sv[0]), 1);
		size_t len;
		const uint8_t *p = shmrt__frame_data(&r, &len);
		assert_int_equal(len, (size_t)i);
		for (size_t k = 0; k < len; k++)
			assert_int_equal(p[k], i);
		if (i) /* in place: inside the read-ahead buffer */
			assert_true(p >= r.ahead && p + len <= r.ahead + r.a_cap);
		/* everything came with the first read: the rest is buffered, and the
		 * read was short, so drained only once the buffer is spent */
		assert_true(i == 39 ? shmrt__frame_buffered(&r) == 0
				    : shmrt__frame_buffered(&r) > 0);
		assert_int_equal(shmrt__frame_drained(&r), i == 39);
		shmrt__frame_next(&r);
	}
	assert_int_equal(shmrt__frame_read(&r, sv[0]), -EAGAIN);
	assert_true(shmrt__frame_drained(&r));
	assert_true(r.a_cap <= SHMRT__FRAME_AHEAD);

	/* A frame split across two writes, then a large one read straight into buf. */
	size_t big = 3 * SHMRT__FRAME_AHEAD + 5;
	uint8_t *b = malloc(big + 16);
	size_t h = shmrt__frame_header(big, b);
	for (size_t i = 0; i < big; i++)
		b[h + i] = (uint8_t)(i * 13);
	assert_int_equal(write(sv[1], b, 7), 7);
	assert_int_equal(shmrt__frame_read(&r, sv[0]), -EAGAIN);
	assert_true(shmrt__frame_partial(&r));
	size_t off = 7;
	int rc;
	while ((rc = shmrt__frame_read(&r, sv[0])) == -EAGAIN) {
		ssize_t w = write(sv[1], b + off, h + big - off);
		assert_true(w > 0);
		off += (size_t)w;
	}
	assert_int_equal(rc, 1);
	size_t len;
	const uint8_t *p = shmrt__frame_data(&r, &len);
	assert_int_equal(len, big);
	assert_memory_equal(p, b + h, big);
	shmrt__frame_next(&r);
	shmrt__frame_reader_fini(&r);

	/* Before authentication the read-ahead is the cap plus a header: a 257-byte
	 * frame is refused, and no more than 268 bytes were taken from the socket. */
	shmrt__frame_reader_init(&r, SHMRT__AUTH_FRAME_MAX);
	memset(b, 'x', 2048);
	h = shmrt__frame_header(257, b);
	assert_int_equal(write(sv[1], b, 2048), 2048);
	assert_int_equal(shmrt__frame_read(&r, sv[0]), -EMSGSIZE);
	assert_true(r.a_cap <= SHMRT__AUTH_FRAME_MAX + SHMRT__FRAME_HDR_MAX);
	char junk[4096];
	assert_int_equal(read(sv[0], junk, sizeof(junk)),
			 (ssize_t)(2048 - SHMRT__AUTH_FRAME_MAX - SHMRT__FRAME_HDR_MAX));
	shmrt__frame_reader_fini(&r);

	/* An exact reader leaves the next frame in the socket. */
	shmrt__frame_reader_init(&r, 0);
	shmrt__frame_reader_exact(&r);
	n = shmrt__frame_header(3, s);
	memcpy(s + n, "abc", 3);
	n += 3;
	n += shmrt__frame_header(2, s + n);
	memcpy(s + n, "de", 2);
	n += 2;
	assert_int_equal(write(sv[1], s, n), (ssize_t)n);
	assert_int_equal(shmrt__frame_read(&r, sv[0]), 1);
	p = shmrt__frame_data(&r, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "abc", 3);
	assert_int_equal(shmrt__frame_buffered(&r), 0);
	assert_int_equal(read(sv[0], junk, sizeof(junk)), 6);
	shmrt__frame_reader_fini(&r);
	free(b);
	close(sv[0]);
	close(sv[1]);
}

/* ---- writer --------------------------------------------------------------------- */

static void writer_queue_bound(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	int small = 4096;
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	const size_t limit = 64 << 10;
	shmrt__frame_writer_t w;
	shmrt__frame_writer_init(&w, limit);
	uint8_t msg[1000];
	/* A peer that never reads: the socket fills, then the queue, then -ENOBUFS. */
	int sent = 0, rc;
	for (;;) {
		memset(msg, (uint8_t)sent, sizeof(msg));
		rc = shmrt__frame_send(&w, sv[1], msg, sizeof(msg));
		if (rc)
			break;
		sent++;
		assert_true(sent < 100000);
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_true(shmrt__frame_queued(&w) <= limit);
	assert_true(shmrt__frame_queued(&w) > limit - sizeof(msg) - 4);
	assert_int_equal(shmrt__frame_put(&w, msg, sizeof(msg)), -ENOBUFS);
	assert_int_equal(shmrt__frame_flush(&w, sv[1]), -EAGAIN);
	/* The peer reads: every frame arrives whole and in order. */
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 0);
	for (int i = 0; i < sent; i++) {
		while ((rc = shmrt__frame_read(&r, sv[0])) == -EAGAIN)
			assert_true(shmrt__frame_flush(&w, sv[1]) <= 0);
		assert_int_equal(rc, 1);
		size_t len;
		const uint8_t *p = shmrt__frame_data(&r, &len);
		assert_int_equal(len, sizeof(msg));
		assert_int_equal(p[0], (uint8_t)i);
		assert_int_equal(p[len - 1], (uint8_t)i);
		shmrt__frame_next(&r);
	}
	assert_int_equal(shmrt__frame_queued(&w), 0);
	/* An empty queue takes one frame larger than the limit. */
	uint8_t *big = calloc(1, limit * 2);
	assert_int_equal(shmrt__frame_put(&w, big, limit * 2), 0);
	assert_int_equal(shmrt__frame_put(&w, msg, 1), -ENOBUFS);
	free(big);
	/* A peer that is gone: -EPIPE, no SIGPIPE. */
	close(sv[0]);
	assert_int_equal(shmrt__frame_flush(&w, sv[1]), -EPIPE);
	shmrt__frame_reader_fini(&r);
	shmrt__frame_writer_fini(&w);
	close(sv[1]);
}

/* ---- handshake: reference vectors ----------------------------------------------- */

static const uint8_t KEY[] = "shmrt-test-authkey";
#define KEYLEN (sizeof(KEY) - 1)

static void hex(const char *h, uint8_t *out)
{
	for (size_t i = 0; h[2 * i]; i++) {
		unsigned v;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* The message of a challenge: "{name}" and 40 bytes first..first+39. */
static size_t message(uint8_t *m, const char *name, int first)
{
	size_t n = (size_t)sprintf((char *)m, "{%s}", name);
	for (int i = 0; i < SHMRT__AUTH_NONCE; i++)
		m[n + (size_t)i] = (uint8_t)(first + i);
	return n + SHMRT__AUTH_NONCE;
}

/*
 * Expected MACs, from Python's hmac module (Debian's python3, 3.11), over the message
 * as Python 3.12's deliver_challenge builds it; _create_response answers
 * b'{sha256}' + this. E.g. the first:
 *   /usr/bin/python3 -c "import hmac; m=b'{sha256}'+bytes(range(40));
 *     print(hmac.new(b'shmrt-test-authkey', m, 'sha256').hexdigest())"
 */
static const char V_SHA256_0[] = /* m = b'{sha256}'+bytes(range(40)), 'sha256' */
	"11aaf7e68c1ec7fce72edca21c9b94af5b2f050142829606e5c88ce25356aaaa";
static const char V_SHA256_100[] = /* m = b'{sha256}'+bytes(range(100,140)), 'sha256' */
	"553420e4068c50d2142bf8c7345588168ec652e5742d5f5616f7130e6601df2e";
static const char V_SHA384_0[] = /* m = b'{sha384}'+bytes(range(40)), 'sha384' */
	"f5f5a49d8e539cb48d61a40eadf04bc14c277654d93b218a0ea8edb26ed051e0"
	"2d4545a8d9a80b277a055916d6540bc5";
static const char V_SHA3_256_0[] = /* m = b'{sha256}'+bytes(range(40)), 'sha3_256' */
	"4796d6b6a0b85c16d978d29e759c135437f94842959d1c4555f2ab413091e5de";

static void auth_vectors(void **state)
{
	(void)state;
	uint8_t m[64], r[128], want[80];
	size_t mn, rn;
	/* _create_response on a {sha256} challenge. */
	mn = message(m, "sha256", 0);
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, m, mn, r, &rn), 0);
	memcpy(want, "{sha256}", 8);
	hex(V_SHA256_0, want + 8);
	assert_int_equal(rn, 40);
	assert_memory_equal(r, want, 40);
	assert_int_equal(shmrt__auth_verify(KEY, KEYLEN, m, mn, r, rn), 0);
	mn = message(m, "sha256", 100);
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, m, mn, r, &rn), 0);
	hex(V_SHA256_100, want + 8);
	assert_memory_equal(r, want, 40);
	/* A challenge naming sha384 is answered in sha384. */
	mn = message(m, "sha384", 0);
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, m, mn, r, &rn), 0);
	memcpy(want, "{sha384}", 8);
	hex(V_SHA384_0, want + 8);
	assert_int_equal(rn, 56);
	assert_memory_equal(r, want, 56);
	/* An answer may name another allowed digest (Python checks it with that one). */
	mn = message(m, "sha256", 0);
	memcpy(want, "{sha3_256}", 10);
	hex(V_SHA3_256_0, want + 10);
	assert_int_equal(shmrt__auth_verify(KEY, KEYLEN, m, mn, want, 42), 0);
	/* One bit off, one byte short, another key: wrong. */
	want[20] ^= 1;
	assert_int_equal(shmrt__auth_verify(KEY, KEYLEN, m, mn, want, 42), -EACCES);
	want[20] ^= 1;
	assert_int_equal(shmrt__auth_verify(KEY, KEYLEN, m, mn, want, 41), -EACCES);
	assert_int_equal(shmrt__auth_verify("other", 5, m, mn, want, 42), -EACCES);
	/* MD5: the legacy unprefixed 16-byte answer, "{md5}", and legacy challenges. */
	uint8_t md5[EVP_MAX_MD_SIZE];
	unsigned ml;
	assert_non_null(HMAC(EVP_md5(), KEY, (int)KEYLEN, m, mn, md5, &ml));
	assert_int_equal(ml, 16);
	assert_int_equal(shmrt__auth_verify(KEY, KEYLEN, m, mn, md5, 16), -EPROTONOSUPPORT);
	uint8_t pm[32] = "{md5}";
	memcpy(pm + 5, md5, 16);
	assert_int_equal(shmrt__auth_verify(KEY, KEYLEN, m, mn, pm, 21), -EPROTONOSUPPORT);
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, m + 8, 20, r, &rn), -EPROTONOSUPPORT);
	mn = message(m, "md5", 0);
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, m, mn, r, &rn), -EPROTONOSUPPORT);
	mn = message(m, "sha1", 0);
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, m, mn, r, &rn), -EPROTONOSUPPORT);
	/* No prefix; a prefix whose '}' is too far; a nonce under 20 bytes. */
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, m + 8, 30, r, &rn), -EPROTO);
	memcpy(m, "{sha256xyz}", 11);
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, m, 40, r, &rn), -EPROTO);
	memcpy(m, "{sha256}", 8);
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, m, 8 + 19, r, &rn), -EPROTO);
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, m, 8 + 21, r, &rn), 0);
}

/* ---- handshake: the state machines ---------------------------------------------- */

static void take(shmrt__auth_t *a, uint8_t *buf, size_t *n)
{
	const uint8_t *p;
	assert_int_equal(shmrt__auth_output(a, &p, n), 1);
	memcpy(buf, p, *n);
	assert_int_equal(shmrt__auth_output(a, &p, n), 0);
}

static void auth_machines(void **state)
{
	(void)state;
	uint8_t ns[40], nc[40], f[300], want[80];
	size_t n;
	for (int i = 0; i < 40; i++) {
		ns[i] = (uint8_t)i;
		nc[i] = (uint8_t)(100 + i);
	}
	shmrt__auth_t s, c;
	assert_int_equal(shmrt__auth_init(&s, SHMRT__AUTH_SERVER, KEY, KEYLEN, -1, ns), 0);
	assert_int_equal(shmrt__auth_init(&c, SHMRT__AUTH_CLIENT, KEY, KEYLEN, -1, nc), 0);
	assert_int_equal(shmrt__auth_output(&c, &(const uint8_t *){ NULL }, &n), 0);
	/* S -> C: #CHALLENGE#{sha256} N_s */
	take(&s, f, &n);
	assert_int_equal(n, 11 + 8 + 40);
	assert_memory_equal(f, "#CHALLENGE#{sha256}", 19);
	assert_memory_equal(f + 19, ns, 40);
	assert_int_equal(shmrt__auth_feed(&c, f, n), 0);
	/* C -> S: {sha256} HMAC(key, {sha256} N_s), the reference vector. */
	take(&c, f, &n);
	memcpy(want, "{sha256}", 8);
	hex(V_SHA256_0, want + 8);
	assert_int_equal(n, 40);
	assert_memory_equal(f, want, 40);
	assert_int_equal(shmrt__auth_feed(&s, f, n), 0);
	/* S -> C: #WELCOME# */
	take(&s, f, &n);
	assert_int_equal(n, 9);
	assert_memory_equal(f, "#WELCOME#", 9);
	assert_int_equal(shmrt__auth_feed(&c, f, n), 0);
	/* C -> S: #CHALLENGE#{sha256} N_c */
	take(&c, f, &n);
	assert_memory_equal(f, "#CHALLENGE#{sha256}", 19);
	assert_memory_equal(f + 19, nc, 40);
	assert_int_equal(shmrt__auth_feed(&s, f, n), 0);
	/* S -> C: {sha256} HMAC(key, {sha256} N_c) */
	take(&s, f, &n);
	hex(V_SHA256_100, want + 8);
	assert_memory_equal(f, want, 40);
	assert_int_equal(shmrt__auth_feed(&c, f, n), 1);
	/* C -> S: #WELCOME#: both done. */
	take(&c, f, &n);
	assert_memory_equal(f, "#WELCOME#", 9);
	assert_int_equal(shmrt__auth_feed(&s, f, n), 1);
	assert_int_equal(shmrt__auth_feed(&s, f, n), -EALREADY);
	shmrt__auth_fini(&s);
	shmrt__auth_fini(&c);

	/* Another key: the server sends #FAILURE#, the client takes it as a refusal. */
	assert_int_equal(shmrt__auth_init(&s, SHMRT__AUTH_SERVER, KEY, KEYLEN, -1, NULL), 0);
	assert_int_equal(shmrt__auth_init(&c, SHMRT__AUTH_CLIENT, "wrong", 5, -1, NULL), 0);
	take(&s, f, &n);
	assert_int_equal(shmrt__auth_feed(&c, f, n), 0);
	take(&c, f, &n);
	assert_int_equal(shmrt__auth_feed(&s, f, n), -EACCES);
	take(&s, f, &n);
	assert_memory_equal(f, "#FAILURE#", 9);
	assert_int_equal(shmrt__auth_feed(&c, f, n), -EACCES);

	/* The client checks the server: a wrong answer to its challenge gets #FAILURE#. */
	assert_int_equal(shmrt__auth_init(&c, SHMRT__AUTH_CLIENT, KEY, KEYLEN, -1, nc), 0);
	n = (size_t)sprintf((char *)f, "#CHALLENGE#") + message(f + 11, "sha256", 0);
	assert_int_equal(shmrt__auth_feed(&c, f, n), 0);
	take(&c, f, &n);
	assert_int_equal(shmrt__auth_feed(&c, "#WELCOME#", 9), 0);
	take(&c, f, &n); /* its challenge */
	memcpy(want, "{sha256}", 8);
	hex(V_SHA256_0, want + 8); /* the answer to another challenge: a replay */
	assert_int_equal(shmrt__auth_feed(&c, want, 40), -EACCES);
	take(&c, f, &n);
	assert_memory_equal(f, "#FAILURE#", 9);

	/* A reflected challenge: the server's own, sent back as the client's. */
	assert_int_equal(shmrt__auth_init(&s, SHMRT__AUTH_SERVER, KEY, KEYLEN, -1, ns), 0);
	uint8_t ch[64];
	size_t chn;
	take(&s, ch, &chn);
	uint8_t m[64];
	size_t mn = message(m, "sha256", 0), rn;
	uint8_t r[80];
	assert_int_equal(shmrt__auth_response(KEY, KEYLEN, m, mn, r, &rn), 0);
	assert_int_equal(shmrt__auth_feed(&s, r, rn), 0);
	take(&s, f, &n);
	assert_int_equal(shmrt__auth_feed(&s, ch, chn), -EPROTO);
	assert_int_equal(shmrt__auth_output(&s, &(const uint8_t *){ NULL }, &n), 0);

	/* Before authentication, 256 bytes at most; a deadline. */
	assert_int_equal(shmrt__auth_init(&s, SHMRT__AUTH_SERVER, KEY, KEYLEN, -1, NULL), 0);
	memset(f, 'x', 257);
	assert_int_equal(shmrt__auth_feed(&s, f, 257), -EMSGSIZE);
	assert_int_equal(shmrt__auth_init(&s, SHMRT__AUTH_SERVER, KEY, KEYLEN, 1000000, NULL), 0);
	assert_int_equal(shmrt__auth_check_time(&s, mono_ns()), 0);
	assert_int_equal(shmrt__auth_check_time(&s, mono_ns() + 2000000), -ETIMEDOUT);
	assert_int_equal(shmrt__auth_feed(&s, f, 40), -EALREADY);
	/* Keys: empty is refused. */
	assert_int_equal(shmrt__auth_init(&s, SHMRT__AUTH_SERVER, KEY, 0, -1, NULL), -EINVAL);
	assert_int_equal(shmrt__auth_init(&s, 0, KEY, KEYLEN, -1, NULL), -EINVAL);
}

/* ---- a request refused for its integers: its id ---------------------------------- */

/* shmrt__mv_request_id on the bytes of hex h (no spaces): the rc; *id set on 0. */
static int req_id(const char *h, int64_t *id)
{
	uint8_t b[128];
	size_t n = strlen(h) / 2;
	assert_true(n <= sizeof(b));
	hex(h, b);
	return shmrt__mv_request_id(b, n, id);
}

static void request_id_of_refused(void **state)
{
	(void)state;
	int64_t id = 0;
	/* [7, "call", [ref, "append", [2**64 - 1]]]: the whole is -ERANGE, its id is 7. */
	const char *req = "9307a463616c6c93d7010000000000000001a6617070656e6491cfffffffffffffffff";
	uint8_t b[128];
	size_t n = strlen(req) / 2;
	hex(req, b);
	shmrt_mv_t *v;
	assert_int_equal(shmrt_mv_decode(b, n, NULL, &v), -ERANGE);
	assert_int_equal(req_id(req, &id), 0);
	assert_int_equal(id, 7);
	assert_int_equal(req_id("dc0001cd1234", &id), 0); /* array 16, uint 16 */
	assert_int_equal(id, 0x1234);
	assert_int_equal(req_id("dd00000002d3ffffffffffffffffc0", &id), 0); /* int 64 -1 */
	assert_int_equal(id, -1);
	assert_int_equal(req_id("91cf7fffffffffffffff", &id), 0);
	assert_int_equal(id, INT64_MAX);
	/* Nothing to answer: not an array, empty, a first item that is not an int or is
	 * cut; an id that is itself out of range. */
	id = 5;
	assert_int_equal(req_id("", &id), -EBADMSG);
	assert_int_equal(req_id("07", &id), -EBADMSG);
	assert_int_equal(req_id("90", &id), -EBADMSG);
	assert_int_equal(req_id("dc00", &id), -EBADMSG);
	assert_int_equal(req_id("dc0000", &id), -EBADMSG);
	assert_int_equal(req_id("92a178c0", &id), -EBADMSG);
	assert_int_equal(req_id("9291c0c0", &id), -EBADMSG);     /* a list first */
	assert_int_equal(req_id("92dcffffc0", &id), -EBADMSG);   /* a list first, count cut */
	assert_int_equal(req_id("92cd12", &id), -EBADMSG);       /* cut */
	assert_int_equal(req_id("92cf8000000000000000c0", &id), -ERANGE);
	assert_int_equal(id, 5);
	assert_int_equal(shmrt__mv_request_id(NULL, 3, &id), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(addr_parse_good),
		cmocka_unit_test(addr_parse_bad),
		cmocka_unit_test(unix_dir_rules),
		cmocka_unit_test(tcp_loopback_rule),
		cmocka_unit_test(reader_one_byte_feeds),
		cmocka_unit_test(reader_bad_lengths),
		cmocka_unit_test(reader_from_fd),
		cmocka_unit_test(reader_read_ahead),
		cmocka_unit_test(writer_queue_bound),
		cmocka_unit_test(auth_vectors),
		cmocka_unit_test(auth_machines),
		cmocka_unit_test(request_id_of_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
