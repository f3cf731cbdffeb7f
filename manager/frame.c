/*
 * Frames (frame.h): the length prefix of Python's multiprocessing.connection, read
 * incrementally from untrusted peers and written through a bounded queue.
 *
 * Reader states: HEADER (hdr_got < hdr_need), PAYLOAD (got < len), COMPLETE (a frame
 * waits for shmrt__frame_next), FAILED (err is returned forever). Invariants:
 *  - hdr_need is 4, or 12 once the first four bytes were -1;
 *  - in PAYLOAD and COMPLETE, len <= max and got <= len, and got <= cap;
 *  - cap <= got + SHMRT__FRAME_STEP + the bytes of the feed or read being stored:
 *    growth is geometric (amortised copying) but never runs ahead of the peer by
 *    more than a step, so a declared length allocates nothing by itself.
 * The cap is applied when the header is decoded, so changing it between frames (256
 * bytes during the handshake, the server's cap afterwards) takes effect at the next
 * frame.
 *
 * Read-ahead (shmrt__frame_read). ahead[a_head, a_tail) holds bytes read from the
 * socket and not yet parsed; it is parsed before anything is read, and read into
 * only once empty, so a read never moves bytes that a handed-out frame points at.
 * Its size is min(SHMRT__FRAME_AHEAD, max + SHMRT__FRAME_HDR_MAX), fixed at the
 * read: a cap raised after the handshake grows it at the next read. A frame whose
 * header and payload lie whole in it is handed out in place (data points into
 * ahead; a_skip bytes are passed over by shmrt__frame_next); a frame split across
 * reads goes through shmrt__frame_feed's copy into buf, and once the payload still
 * missing is at least the read-ahead's size, reads go straight into buf. So the
 * reader holds at most a frame (<= its cap) and one read-ahead buffer. An exact
 * reader (shmrt__frame_reader_exact) asks read() for no more than the current frame
 * lacks, so ahead never holds a byte of the next frame.
 *
 * Writer: one contiguous buffer, queued bytes in [head, tail). Appending moves the
 * queued bytes to the front when the tail has no room, then doubles; a drained queue
 * whose buffer grew past 64 KiB gives it back. Writes go through sendmsg with
 * MSG_NOSIGNAL (a closed peer is -EPIPE, never SIGPIPE) and MSG_DONTWAIT.
 *
 * An io (frame.h: TLS) replaces read() and sendmsg(): a short read of it says
 * nothing about the socket (a TLS record is at most 16 KiB, and what it decoded or
 * read beyond the read waits in the io), so the io says when the socket was found
 * empty (drained), and its pending bytes count as read ahead; a frame sent through
 * it is queued whole, then flushed (the io takes one buffer at a time).
 *
 * A process that dies mid-frame leaves its peer a partial frame: the reader reports
 * -EPROTO at the end of the stream (shmrt__frame_partial tells the server's partial-
 * frame timer the same: server.c drops a peer mid-frame past its frame_timeout).
 */
#define _GNU_SOURCE
#include "frame.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/clock.h"
#include "transport.h"

enum { ST_HEADER, ST_PAYLOAD, ST_COMPLETE, ST_FAILED };

/* A buffer larger than this is freed between frames. */
#define KEEP_MAX (64u << 10)

/* ---- reader --------------------------------------------------------------------- */

void shmrt__frame_reader_init(shmrt__frame_reader_t *r, uint64_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max ? max : SHMRT__FRAME_MAX_DEFAULT;
	r->hdr_need = 4;
	r->state = ST_HEADER;
}

void shmrt__frame_reader_set_max(shmrt__frame_reader_t *r, uint64_t max)
{
	r->max = max ? max : SHMRT__FRAME_MAX_DEFAULT;
}

void shmrt__frame_reader_exact(shmrt__frame_reader_t *r)
{
	r->exact = 1;
}

void shmrt__frame_reader_fini(shmrt__frame_reader_t *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
	r->data = NULL;
	free(r->ahead);
	r->ahead = NULL;
	r->a_head = r->a_tail = r->a_cap = r->a_skip = 0;
}

static int fail(shmrt__frame_reader_t *r, int err)
{
	r->state = ST_FAILED;
	r->err = err;
	return err;
}

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The header is complete in hdr[0, hdr_got): decode it. */
static int decode_header(shmrt__frame_reader_t *r)
{
	if (r->hdr_need == 4) {
		int32_t v = (int32_t)(uint32_t)be(r->hdr, 4);
		if (v == -1) {
			r->hdr_need = 12; /* an 8-byte length follows */
			return 0;
		}
		if (v < 0)
			return fail(r, -EBADMSG);
		r->len = (uint64_t)v;
	} else {
		r->len = be(r->hdr + 4, 8);
	}
	if (r->len > r->max)
		return fail(r, -EMSGSIZE);
	r->got = 0;
	r->data = NULL;
	r->state = r->len ? ST_PAYLOAD : ST_COMPLETE;
	return r->len ? 0 : 1;
}

/* Makes room for want more payload bytes, which the caller holds or is about to read
 * (want <= len - got). */
static int reserve(shmrt__frame_reader_t *r, size_t want)
{
	uint64_t need = r->got + want;
	if (need <= r->cap)
		return 0;
	uint64_t c = r->cap * 2 < 256 ? 256 : (uint64_t)r->cap * 2;
	if (c > r->got + want + SHMRT__FRAME_STEP)
		c = r->got + want + SHMRT__FRAME_STEP;
	if (c < need)
		c = need;
	if (c > r->len)
		c = r->len;
	uint8_t *b = realloc(r->buf, (size_t)c);
	if (!b)
		return fail(r, -ENOMEM);
	r->buf = b;
	r->cap = (size_t)c;
	return 0;
}

int shmrt__frame_feed(shmrt__frame_reader_t *r, const void *p, size_t n, size_t *used)
{
	const uint8_t *s = p;
	size_t i = 0;
	int rc = 0;
	*used = 0;
	if (r->state == ST_FAILED)
		return r->err;
	if (r->state == ST_COMPLETE)
		return -EBUSY;
	while (i < n) {
		if (r->state == ST_HEADER) {
			size_t k = (size_t)(r->hdr_need - r->hdr_got);
			if (k > n - i)
				k = n - i;
			memcpy(r->hdr + r->hdr_got, s + i, k);
			r->hdr_got = (uint8_t)(r->hdr_got + k);
			i += k;
			if (r->hdr_got == r->hdr_need) {
				rc = decode_header(r);
				if (rc)
					break; /* complete (empty frame) or failed */
			}
		} else {
			uint64_t left = r->len - r->got;
			size_t k = n - i < left ? n - i : (size_t)left;
			rc = reserve(r, k);
			if (rc)
				break;
			memcpy(r->buf + r->got, s + i, k);
			r->got += k;
			i += k;
			if (r->got == r->len) {
				r->state = ST_COMPLETE;
				r->data = r->buf;
				rc = 1;
				break;
			}
		}
	}
	*used = i;
	return rc;
}

/* Parses what was read ahead: hands out a frame lying whole there in place, feeds
 * anything else to shmrt__frame_feed. Returns as shmrt__frame_feed. */
static int take_ahead(shmrt__frame_reader_t *r)
{
	while (r->a_head < r->a_tail) {
		const uint8_t *p = r->ahead + r->a_head;
		size_t n = r->a_tail - r->a_head;
		if (r->state == ST_PAYLOAD && r->got == 0 && n >= r->len) {
			/* The whole payload is here: hand it out in place. */
			r->got = r->len;
			r->data = p;
			r->a_skip = (size_t)r->len;
			r->state = ST_COMPLETE;
			return 1;
		}
		/* A header alone, so that its payload can be looked at above. */
		if (r->state == ST_HEADER && n > (size_t)(r->hdr_need - r->hdr_got))
			n = (size_t)(r->hdr_need - r->hdr_got);
		size_t used;
		int rc = shmrt__frame_feed(r, p, n, &used);
		r->a_head += used;
		if (rc)
			return rc;
	}
	r->a_head = r->a_tail = 0;
	return 0;
}

/* Makes ahead the size the cap asks for; it is empty. Returns 0 or -ENOMEM. */
static int ahead_size(shmrt__frame_reader_t *r)
{
	uint64_t want = r->max + SHMRT__FRAME_HDR_MAX;
	if (want > SHMRT__FRAME_AHEAD)
		want = SHMRT__FRAME_AHEAD;
	if (r->a_cap == want)
		return 0;
	free(r->ahead);
	r->ahead = malloc((size_t)want);
	r->a_cap = r->ahead ? (size_t)want : 0;
	return r->ahead ? 0 : fail(r, -ENOMEM);
}

int shmrt__frame_read(shmrt__frame_reader_t *r, int fd)
{
	if (r->state == ST_FAILED)
		return r->err;
	if (r->state == ST_COMPLETE)
		return 1;
	for (;;) {
		int rc = take_ahead(r);
		if (rc)
			return rc;
		/* ahead is empty: read into it, or straight into buf for a payload that
		 * still lacks at least ahead's size. */
		if (ahead_size(r))
			return r->err;
		uint8_t *dst = r->ahead;
		size_t want = r->a_cap;
		if (r->exact) { /* only what the current frame lacks */
			uint64_t left = r->state == ST_HEADER ? (uint64_t)(r->hdr_need - r->hdr_got)
							      : r->len - r->got;
			if (left < want)
				want = (size_t)left;
		}
		int direct = r->state == ST_PAYLOAD && r->len - r->got >= r->a_cap;
		if (direct) {
			uint64_t left = r->len - r->got;
			want = r->cap - r->got; /* fill what is allocated first */
			if (want < SHMRT__FRAME_READ)
				want = SHMRT__FRAME_READ;
			if (want > left)
				want = (size_t)left;
			rc = reserve(r, want);
			if (rc)
				return rc;
			dst = r->buf + r->got;
		}
		ssize_t k;
		if (r->io) {
			k = r->io->read(r->io->ctx, dst, want);
			if (k == -EAGAIN)
				r->drained = 1;
			if (k < 0)
				return (int)k;
		} else {
			k = read(fd, dst, want);
			if (k < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return -EAGAIN;
				return -errno;
			}
		}
		if (k == 0)
			return shmrt__frame_partial(r) ? -EPROTO : -EPIPE;
		/* A short read of an io is one record, not an empty socket: the io says. */
		r->drained = r->io ? r->io->drained(r->io->ctx) : (size_t)k < want;
		if (direct) {
			r->got += (uint64_t)k;
			if (r->got == r->len) {
				r->state = ST_COMPLETE;
				r->data = r->buf;
				return 1;
			}
		} else {
			r->a_tail = (size_t)k;
			rc = take_ahead(r);
			if (rc)
				return rc;
		}
		if (r->drained)
			return -EAGAIN; /* the socket was empty: no read to find that out */
	}
}

size_t shmrt__frame_buffered(const shmrt__frame_reader_t *r)
{
	size_t io = r->io ? r->io->pending(r->io->ctx) : 0;
	return r->a_tail - r->a_head - (r->state == ST_COMPLETE ? r->a_skip : 0) + io;
}

int shmrt__frame_drained(const shmrt__frame_reader_t *r)
{
	return r->drained && shmrt__frame_buffered(r) == 0;
}

const uint8_t *shmrt__frame_data(const shmrt__frame_reader_t *r, size_t *len)
{
	if (r->state != ST_COMPLETE || r->len == 0) {
		*len = 0;
		return NULL;
	}
	*len = (size_t)r->len;
	return r->data;
}

void shmrt__frame_next(shmrt__frame_reader_t *r)
{
	if (r->state != ST_COMPLETE)
		return;
	r->a_head += r->a_skip; /* a frame handed out in place */
	r->a_skip = 0;
	if (r->a_head == r->a_tail)
		r->a_head = r->a_tail = 0;
	r->data = NULL;
	if (r->cap > KEEP_MAX) {
		free(r->buf);
		r->buf = NULL;
		r->cap = 0;
	}
	r->state = ST_HEADER;
	r->hdr_got = 0;
	r->hdr_need = 4;
	r->len = 0;
	r->got = 0;
}

int shmrt__frame_partial(const shmrt__frame_reader_t *r)
{
	return r->state == ST_PAYLOAD ||
	       (r->state == ST_HEADER && (r->hdr_got > 0 || r->a_tail > r->a_head));
}

size_t shmrt__frame_header(uint64_t n, uint8_t hdr[SHMRT__FRAME_HDR_MAX])
{
	int w = 4;
	uint64_t v = n;
	if (n > 0x7fffffff) {
		memset(hdr, 0xff, 4); /* -1: an 8-byte length follows (Python 3.12) */
		hdr += 4;
		w = 8;
	}
	for (int i = w - 1; i >= 0; i--) {
		hdr[i] = (uint8_t)v;
		v >>= 8;
	}
	return n > 0x7fffffff ? 12 : 4;
}

/* ---- writer --------------------------------------------------------------------- */

void shmrt__frame_writer_init(shmrt__frame_writer_t *w, size_t limit)
{
	memset(w, 0, sizeof(*w));
	w->limit = limit ? limit : SHMRT__FRAME_MAX_DEFAULT + 4096;
}

void shmrt__frame_writer_fini(shmrt__frame_writer_t *w)
{
	free(w->buf);
	w->buf = NULL;
	w->head = w->tail = w->cap = 0;
}

size_t shmrt__frame_queued(const shmrt__frame_writer_t *w)
{
	return w->tail - w->head;
}

/* Appends n bytes to the queue (the caller checked the limit). */
static int append(shmrt__frame_writer_t *w, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (w->cap - w->tail < n) {
		size_t q = w->tail - w->head;
		if (w->head) {
			memmove(w->buf, w->buf + w->head, q);
			w->head = 0;
			w->tail = q;
		}
		if (w->cap - q < n) {
			if (n > SIZE_MAX / 2 - q)
				return -ENOMEM;
			size_t c = w->cap ? w->cap : 4096;
			while (c < q + n)
				c *= 2;
			uint8_t *b = realloc(w->buf, c);
			if (!b)
				return -ENOMEM;
			w->buf = b;
			w->cap = c;
		}
	}
	memcpy(w->buf + w->tail, p, n);
	w->tail += n;
	return 0;
}

/* Queues hdr + payload bytes [off, n) of a frame, whole or not at all. */
static int queue_part(shmrt__frame_writer_t *w, const uint8_t *hdr, size_t hn, const uint8_t *p,
		      size_t n)
{
	size_t q = shmrt__frame_queued(w);
	if (q && (hn + n > w->limit || q > w->limit - hn - n))
		return -ENOBUFS;
	int rc = append(w, hdr, hn);
	if (!rc)
		rc = append(w, p, n);
	if (rc) /* a move to the front kept the queued bytes at head */
		w->tail = w->head + q;
	return rc;
}

int shmrt__frame_put2(shmrt__frame_writer_t *w, const void *a, size_t an, const void *b,
		      size_t bn)
{
	uint8_t hdr[SHMRT__FRAME_HDR_MAX];
	size_t q = shmrt__frame_queued(w), n = an + bn;
	size_t hn = shmrt__frame_header(n, hdr);
	if (an > SIZE_MAX / 2 || bn > SIZE_MAX / 2)
		return -ENOMEM;
	if (q && (hn + n > w->limit || q > w->limit - hn - n))
		return -ENOBUFS;
	int rc = append(w, hdr, hn);
	if (!rc)
		rc = append(w, a, an);
	if (!rc)
		rc = append(w, b, bn);
	if (rc) /* a move to the front kept the queued bytes at head */
		w->tail = w->head + q;
	return rc;
}

int shmrt__frame_put(shmrt__frame_writer_t *w, const void *p, size_t n)
{
	uint8_t hdr[SHMRT__FRAME_HDR_MAX];
	size_t hn = shmrt__frame_header(n, hdr);
	return queue_part(w, hdr, hn, p, n);
}

/* sendmsg of up to two pieces; the count written, or a negative errno. */
static ssize_t send2(int fd, const void *a, size_t an, const void *b, size_t bn)
{
	struct iovec iov[2] = { { (void *)a, an }, { (void *)b, bn } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = bn ? 2 : 1 };
	for (;;) {
		ssize_t k = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k >= 0)
			return k;
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			return -EAGAIN;
		return -errno;
	}
}

int shmrt__frame_send(shmrt__frame_writer_t *w, int fd, const void *p, size_t n)
{
	uint8_t hdr[SHMRT__FRAME_HDR_MAX];
	size_t hn = shmrt__frame_header(n, hdr);
	if (w->io) { /* one buffer per write: queued whole, then written */
		int rc = queue_part(w, hdr, hn, p, n);
		if (rc == 0)
			rc = shmrt__frame_flush(w, fd);
		return rc == -EAGAIN ? 0 : rc;
	}
	if (shmrt__frame_queued(w))
		return queue_part(w, hdr, hn, p, n);
	ssize_t k = send2(fd, hdr, hn, p, n);
	if (k < 0 && k != -EAGAIN)
		return (int)k;
	size_t done = k < 0 ? 0 : (size_t)k;
	if (done >= hn + n)
		return 0;
	/* The rest goes into the (empty) queue: a lone frame may exceed the limit. */
	if (done < hn)
		return queue_part(w, hdr + done, hn - done, p, n);
	return queue_part(w, NULL, 0, (const uint8_t *)p + (done - hn), n - (done - hn));
}

int shmrt__frame_flush(shmrt__frame_writer_t *w, int fd)
{
	while (w->tail > w->head) {
		ssize_t k = w->io ? w->io->write(w->io->ctx, w->buf + w->head, w->tail - w->head)
				  : send2(fd, w->buf + w->head, w->tail - w->head, NULL, 0);
		if (k < 0)
			return (int)k;
		w->head += (size_t)k;
	}
	w->head = w->tail = 0;
	if (w->cap > KEEP_MAX)
		shmrt__frame_writer_fini(w);
	return 0;
}

int shmrt__frame_send_wait(shmrt__frame_writer_t *w, int fd, const void *p, size_t n,
			   uint64_t deadline)
{
	int rc = shmrt__frame_send(w, fd, p, n);
	while (rc == 0 || rc == -EAGAIN) {
		rc = shmrt__frame_flush(w, fd);
		if (rc != -EAGAIN)
			break;
		rc = shmrt__wait_fd(fd, w->io ? w->io->want(w->io->ctx) : POLLOUT, deadline);
	}
	return rc;
}

int shmrt__frame_recv_wait(shmrt__frame_reader_t *r, int fd, uint64_t deadline)
{
	for (;;) {
		int rc = shmrt__frame_read(r, fd);
		if (rc != -EAGAIN)
			return rc;
		rc = shmrt__wait_fd(fd, r->io ? r->io->want(r->io->ctx) : POLLIN, deadline);
		if (rc)
			return rc;
	}
}
