/*
 * libFuzzer target: the manager client's reply path (shmrt__client_read_reply, as
 * every call and batch reads its replies), fed arbitrary bytes as a server's side of
 * a real socket: a connection handle is made around one end of a socketpair, the
 * input is written into the other end, which is then shut, and replies are read
 * until the connection breaks.
 *
 * Input: the byte stream a server would send after the handshake (frames: a 4-byte
 * big-endian length, or -1 and an 8-byte one, then the payload).
 *
 * Oracles, per frame that the input holds whole: the client's answer is what the
 * general path (a whole decode with the client's limits, checked for the shape [int
 * id, int rc in -4095..0, result]) says it must be: the same id, rc and result (by
 * their encodings) when the shape holds, a broken connection (-EPROTO) when not; the
 * short cut past the value tree (reply_fast) must never disagree with it. A result
 * re-encodes. Every error other than -ETIMEDOUT and -ENOMEM breaks the connection
 * (its socket closed, later reads -ENOTCONN-like: the loop stops); the end of the
 * stream, a cut frame or a bad length is an error, never a reply. Nothing leaks
 * (LeakSanitizer), nothing is read out of bounds (AddressSanitizer).
 * Built with clang -fsanitize=fuzzer,address,undefined.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "manager/client_int.h"
#include "manager/frame.h"

#define CHECK(c)                                                                       \
	do {                                                                           \
		if (!(c))                                                              \
			abort();                                                       \
	} while (0)

/* The next whole frame of the input at *off: 1 and its payload [*p, *p + *n); 0 when
 * none is whole (cut, a bad length, or the end). */
static int next_frame(const uint8_t *d, size_t size, size_t *off, const uint8_t **p,
		      size_t *n)
{
	if (size - *off < 4)
		return 0;
	const uint8_t *h = d + *off;
	int32_t l = (int32_t)((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 |
			      h[3]);
	size_t hl = 4;
	uint64_t len;
	if (l == -1) {
		if (size - *off < 12)
			return 0;
		len = 0;
		for (int i = 4; i < 12; i++)
			len = len << 8 | h[i];
		hl = 12;
	} else if (l < 0) {
		return 0;
	} else {
		len = (uint64_t)l;
	}
	if (len > size - *off - hl)
		return 0;
	*p = h + hl;
	*n = (size_t)len;
	*off += hl + (size_t)len;
	return 1;
}

/* What the general path makes of one frame: 0 and id, rc, *res (the result, the
 * caller's), or -1 (not a reply: the client must break). */
static int expected(const uint8_t *p, size_t n, int64_t *id, int64_t *rc, shmrt_mv_t **res)
{
	shmrt_mv_limits_t lim = { .max_bytes = n ? n : 1, .max_elems = n ? n : 1,
				  .max_depth = SHMRT_MV_DEPTH_MAX };
	shmrt_mv_t *v = NULL;
	*res = NULL;
	if (shmrt_mv_decode(n ? p : (const uint8_t *)"", n, &lim, &v))
		return -1;
	if (shmrt_mv_list_len(v) != 3 || shmrt_mv_as_int(shmrt_mv_list_get(v, 0), id) ||
	    shmrt_mv_as_int(shmrt_mv_list_get(v, 1), rc) || *rc > 0 || *rc < -4095) {
		shmrt_mv_free(v);
		return -1;
	}
	CHECK(shmrt_mv_list_pop(v, 2, res) == 0);
	shmrt_mv_free(v);
	return 0;
}

/* Whether a and b encode to the same bytes. */
static int same(const shmrt_mv_t *a, const shmrt_mv_t *b)
{
	shmrt_mv_buf_t x, y;
	shmrt_mv_buf_init(&x);
	shmrt_mv_buf_init(&y);
	int ra = shmrt_mv_encode(a, &x), rb = shmrt_mv_encode(b, &y);
	int eq = ra == 0 && rb == 0 && x.len == y.len && !memcmp(x.data, y.data, x.len);
	shmrt_mv_buf_free(&x);
	shmrt_mv_buf_free(&y);
	return eq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 0;
	/* The whole input fits the socket's buffer (libFuzzer's max_len is small): it
	 * is written at once, and the end of the stream follows it. */
	int sz = 1 << 20;
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	size_t w = 0;
	while (w < size) {
		ssize_t k = write(sv[1], data + w, size - w);
		if (k <= 0)
			break;
		w += (size_t)k;
	}
	close(sv[1]);
	if (w < size || fcntl(sv[0], F_SETFL, O_NONBLOCK)) {
		close(sv[0]);
		return 0;
	}

	shmrt_manager_conn_t *c = calloc(1, sizeof(*c));
	CHECK(c);
	c->fd = sv[0];
	c->timeout = 1000000000ll;
	c->next_id = 1;
	shmrt__frame_reader_init(&c->r, REPLY_FRAME_MAX);
	shmrt__frame_writer_init(&c->w, 0);

	size_t off = 0;
	for (;;) {
		const uint8_t *p = NULL;
		size_t n = 0;
		int whole = next_frame(data, size, &off, &p, &n);
		int64_t id = 0, want_id = 0, want_rc = 0;
		int rrc = 1;
		shmrt_mv_t *res = NULL, *want = NULL;
		int rc = shmrt__client_read_reply(c, mono_ns() + 10 * 1000000000ull, &id, &rrc,
						  &res);
		if (!whole) {
			/* Nothing whole is left: the end of the stream or a broken frame. */
			CHECK(rc < 0 && res == NULL);
			break;
		}
		int ok = expected(p, n, &want_id, &want_rc, &want);
		if (rc == -ENOMEM) { /* allowed: the connection stays, the frame is used */
			shmrt_mv_free(want);
			continue;
		}
		if (ok) {
			CHECK(rc == -EPROTO && res == NULL);
			break;
		}
		CHECK(rc == 0 && id == want_id && rrc == want_rc);
		if (rrc == 0) {
			CHECK(res && same(res, want));
		} else {
			CHECK(res == NULL);
		}
		shmrt_mv_free(res);
		shmrt_mv_free(want);
	}
	/* Every error but those two broke the connection: its socket is closed. */
	shmrt_manager_close(c);
	return 0;
}
