/*
 * libFuzzer target: the manager's wire on arbitrary bytes. Each input is used three
 * ways:
 *  - as a stream for the frame reader, fed in chunks of 1 to 13 bytes, with a cap of
 *    16 << (data[0] & 15) bytes: frames must never exceed the cap, the buffer must
 *    never run ahead of the bytes received by more than a step, an error must stick;
 *  - as a stream written in chunks of 1 to 300 bytes to a socket and read back by
 *    shmrt__frame_read (read-ahead, or exact when the input's length is odd): the
 *    frames and the error must be those of the first way, the read-ahead buffer
 *    never larger than the cap plus a header, nor the payload buffer than the cap;
 *  - as the frames (data[1..], read with the handshake's 256-byte cap) that a client
 *    sends to the server's handshake state machine;
 *  - as the frames that a server sends to the client's state machine.
 * The nonces are fixed, so a seed holding the right answers drives the machines to
 * their last states and mutations explore from there. The oracle: a machine that
 * reports success must have been given the right MAC (its bytes occur in the input).
 * Built with clang -fsanitize=fuzzer,address,undefined.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "manager/auth.h"
#include "manager/frame.h"

static const char KEY[] = "fuzz-authkey";
#define KEYLEN (sizeof(KEY) - 1)

static volatile uint8_t sink;

static void fuzz_reader(const uint8_t *data, size_t size)
{
	shmrt__frame_reader_t r;
	uint64_t max = size ? 16ull << (data[0] & 15) : 256;
	shmrt__frame_reader_init(&r, max);
	size_t off = 0, step = 1;
	int err = 0;
	while (off < size) {
		size_t n = step < size - off ? step : size - off;
		step = step % 13 + 1;
		while (n) {
			size_t used;
			uint64_t got = r.got;
			int rc = shmrt__frame_feed(&r, data + off, n, &used);
			if (used > n || r.cap > got + n + SHMRT__FRAME_STEP)
				abort();
			off += used;
			n -= used;
			if (rc < 0) {
				if (rc != -EBADMSG && rc != -EMSGSIZE && rc != -ENOMEM)
					abort();
				/* Errors stick: nothing is taken after one. */
				if (shmrt__frame_feed(&r, data, size, &used) != rc || used)
					abort();
				err = rc;
				break;
			}
			if (rc == 1) {
				size_t len;
				const uint8_t *p = shmrt__frame_data(&r, &len);
				if (len > max || (len && !p))
					abort();
				for (size_t i = 0; i < len; i++) /* every byte readable (ASan) */
					sink ^= p[i];
				shmrt__frame_next(&r);
			}
		}
		if (err < 0)
			break;
	}
	shmrt__frame_reader_fini(&r);
}

/* The frames of a stream: count, and a hash of their lengths and bytes in order. */
struct frames {
	size_t n;
	uint64_t h;
};

static void frames_add(struct frames *f, const uint8_t *p, size_t len)
{
	f->n++;
	f->h = (f->h ^ len) * 0x100000001b3ull;
	for (size_t i = 0; i < len; i++)
		f->h = (f->h ^ p[i]) * 0x100000001b3ull;
}

/* The stream fed whole: its frames, and its error (0: none; 1: it ends mid-frame). */
static int feed_frames(const uint8_t *data, size_t size, uint64_t max, struct frames *f)
{
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, max);
	size_t off = 0;
	int rc = 0;
	while (off < size) {
		size_t used, len;
		rc = shmrt__frame_feed(&r, data + off, size - off, &used);
		off += used;
		if (rc < 0)
			break;
		if (rc == 1) {
			const uint8_t *p = shmrt__frame_data(&r, &len);
			frames_add(f, p, len);
			shmrt__frame_next(&r);
			rc = 0;
		}
	}
	if (rc == 0 && shmrt__frame_partial(&r))
		rc = 1;
	shmrt__frame_reader_fini(&r);
	return rc;
}

/* Reads every complete frame r has (or can read now); returns the error, 0 at EAGAIN. */
static int drain(shmrt__frame_reader_t *r, int fd, uint64_t max, struct frames *f)
{
	uint64_t ahead = max + SHMRT__FRAME_HDR_MAX < SHMRT__FRAME_AHEAD
				 ? max + SHMRT__FRAME_HDR_MAX
				 : SHMRT__FRAME_AHEAD;
	for (;;) {
		int rc = shmrt__frame_read(r, fd);
		if (r->a_cap > ahead || r->cap > max)
			abort();
		if (rc == -EAGAIN)
			return 0;
		if (rc != 1)
			return rc;
		size_t len;
		const uint8_t *p = shmrt__frame_data(r, &len);
		if (len > max || (len && !p))
			abort();
		frames_add(f, p, len);
		shmrt__frame_next(r);
	}
}

static void fuzz_read_fd(const uint8_t *data, size_t size)
{
	uint64_t max = size ? 16ull << (data[0] & 15) : 256;
	struct frames want = { 0, 0 }, got = { 0, 0 };
	int werr = feed_frames(data, size, max, &want);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, max);
	if (size & 1)
		shmrt__frame_reader_exact(&r);
	size_t off = 0, step = 1;
	int err = 0;
	while (off < size && !err) {
		size_t n = step < size - off ? step : size - off;
		step = step % 300 + 1;
		ssize_t w = write(sv[1], data + off, n);
		if (w <= 0)
			abort(); /* the reader drains after every write: room is left */
		off += (size_t)w;
		err = drain(&r, sv[0], max, &got);
	}
	if (!err) {
		shutdown(sv[1], SHUT_WR);
		err = drain(&r, sv[0], max, &got);
		if (err == 0 || err == -EAGAIN)
			abort(); /* the end of the stream must be seen */
		err = err == -EPIPE ? 0 : err == -EPROTO ? 1 : err;
	}
	if (err != werr || got.n != want.n || got.h != want.h)
		abort();
	shmrt__frame_reader_fini(&r);
	close(sv[0]);
	close(sv[1]);
}

/* The right answer to our challenge (what a success must have seen). */
static size_t right_answer(const shmrt__auth_t *a, uint8_t *out)
{
	size_t n;
	if (shmrt__auth_response(KEY, KEYLEN, a->challenge, sizeof(a->challenge), out, &n))
		abort();
	return n;
}

static void fuzz_machine(int role, const uint8_t *data, size_t size)
{
	uint8_t nonce[SHMRT__AUTH_NONCE];
	for (int i = 0; i < SHMRT__AUTH_NONCE; i++)
		nonce[i] = (uint8_t)(role == SHMRT__AUTH_SERVER ? i : 0x80 + i);
	shmrt__auth_t a;
	if (shmrt__auth_init(&a, role, KEY, KEYLEN, -1, nonce))
		abort();
	uint8_t want[80];
	size_t wn = right_answer(&a, want);
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, SHMRT__AUTH_FRAME_MAX);
	const uint8_t *p;
	size_t n, off = 0;
	int rc = 0;
	while (off < size && rc == 0) {
		while (shmrt__auth_output(&a, &p, &n))
			if (n > sizeof(a.out))
				abort();
		size_t used;
		int k = shmrt__frame_feed(&r, data + off, size - off, &used);
		off += used;
		if (k < 0)
			break;
		if (k == 0)
			continue;
		const uint8_t *f = shmrt__frame_data(&r, &n);
		rc = shmrt__auth_feed(&a, f, n);
		shmrt__frame_next(&r);
	}
	if (rc == 1 && !memmem(data, size, want, wn))
		abort(); /* authenticated without the right MAC */
	if (rc == 1 && shmrt__auth_feed(&a, "", 0) != -EALREADY)
		abort();
	shmrt__auth_fini(&a);
	shmrt__frame_reader_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_reader(data, size);
	fuzz_read_fd(data, size);
	if (size) {
		fuzz_machine(SHMRT__AUTH_SERVER, data + 1, size - 1);
		fuzz_machine(SHMRT__AUTH_CLIENT, data + 1, size - 1);
	}
	return 0;
}
