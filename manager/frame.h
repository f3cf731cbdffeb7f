/*
 * The manager's frames (internal): Python's multiprocessing.connection length prefix,
 * read incrementally and written through a bounded output queue.
 *
 * A frame is a length, then that many payload bytes. The length is a 4-byte
 * big-endian signed integer; Python 3.12 writes a payload longer than 0x7fffffff as
 * -1 then an 8-byte big-endian unsigned length, and the reader accepts that form for
 * any length. Other negative lengths are malformed (-EBADMSG), a length above the
 * reader's cap (16 MiB by default, 256 bytes before authentication) is -EMSGSIZE:
 * neither allocates anything, and both are sticky (the stream has lost its framing:
 * the caller closes the connection).
 *
 * Reader: bytes are fed as they come (any split, one byte at a time), or read from a
 * non-blocking descriptor by shmrt__frame_read, which reads ahead: one read() takes
 * whatever the socket holds, up to a read-ahead buffer of SHMRT__FRAME_AHEAD bytes
 * (the cap plus a header, if smaller: 268 bytes before authentication), and the
 * frames in it are handed out one by one without another system call; a frame that
 * lies whole in that buffer is handed out in place, uncopied. A pipelining peer's
 * 32 requests thus cost one read, not 64 (a header then a payload each). The
 * payload buffer grows with the bytes received: it never holds more than the bytes
 * received plus SHMRT__FRAME_STEP plus one read (SHMRT__FRAME_READ), whatever length a
 * header declares, so a peer that announces 16 MiB and sends 5 bytes costs 64 KiB;
 * with the read-ahead buffer, a reader holds at most a frame's cap plus one read.
 * Bytes read ahead are the reader's: an event loop must come back for them
 * (shmrt__frame_buffered) since the socket no longer shows them to epoll.
 *
 * Writer: frames are queued whole (header and payload) in one buffer and written as
 * the socket takes them. The queue is bounded: a frame that would take it past its
 * limit is refused (-ENOBUFS) unless the queue is empty, and shmrt__frame_queued()
 * tells the server how much a peer has left unread, so one that never reads is
 * dropped rather than grown without end.
 *
 * Concurrency: a reader or writer belongs to one connection and is used by one
 * thread at a time; distinct ones are independent.
 */
#ifndef SHMRT_MANAGER_FRAME_H
#define SHMRT_MANAGER_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <shmrt/common.h>

/*
 * A byte stream layered on the descriptor (TLS, manager/tls_int.h), for a reader or
 * writer whose io is set: its bytes go through these instead of read() and sendmsg().
 * read and write return a count (> 0), 0 at the end of the stream (read), or a
 * negative errno: -EAGAIN when the stream must wait for the poll events want()
 * gives (a TLS read may need the socket writable, a write readable). pending is
 * not 0 when it holds bytes that a read may give without the descriptor being
 * readable (none after a read's -EAGAIN: what it holds then needs more from the
 * socket). drained: the socket was found empty by the stream's last read of it, and
 * the stream holds nothing (as a short read() says of a plain socket).
 */
typedef struct shmrt__frame_io {
	ssize_t (*read)(void *ctx, void *buf, size_t n);
	ssize_t (*write)(void *ctx, const void *buf, size_t n);
	size_t (*pending)(void *ctx);
	int (*drained)(void *ctx);
	short (*want)(void *ctx);
	void *ctx;
} shmrt__frame_io_t;

/* The default cap of a frame's payload. */
#define SHMRT__FRAME_MAX_DEFAULT (16u << 20)
/* The most the reader allocates beyond the bytes it has (geometric growth, bounded). */
#define SHMRT__FRAME_STEP (1u << 20)
/* The most shmrt__frame_read asks of read() at once. */
#define SHMRT__FRAME_READ (64u << 10)
/* The longest header: -1 and an 8-byte length. */
#define SHMRT__FRAME_HDR_MAX 12
/* The read-ahead buffer of shmrt__frame_read (at most the cap plus a header). */
#define SHMRT__FRAME_AHEAD (16u << 10)

typedef struct shmrt__frame_reader {
	uint64_t max;      /* cap of the next frame's payload (headers decoded after a set) */
	uint64_t len;      /* the current frame's declared payload length, once known */
	uint64_t got;      /* payload bytes received */
	uint8_t *buf;      /* payload, cap bytes allocated */
	size_t cap;
	const uint8_t *data; /* the complete frame's payload: in buf, or in place in ahead */
	uint8_t *ahead;    /* read ahead and not yet parsed: ahead[a_head, a_tail) */
	size_t a_head, a_tail, a_cap;
	size_t a_skip;     /* bytes of ahead a frame handed out in place still holds */
	uint8_t hdr[SHMRT__FRAME_HDR_MAX];
	uint8_t hdr_got;   /* header bytes received */
	uint8_t hdr_need;  /* 4, or 12 after a -1 */
	uint8_t state;     /* internal: header, payload, complete, failed */
	uint8_t exact;     /* no read-ahead (shmrt__frame_reader_exact) */
	uint8_t drained;   /* the last read() was short: the socket was empty then */
	int err;           /* the sticky error once failed */
	const shmrt__frame_io_t *io; /* NULL: read() on the descriptor */
} shmrt__frame_reader_t;

/* Initialises r with a payload cap (0: SHMRT__FRAME_MAX_DEFAULT). Allocates nothing.
 * Concurrency: r is the caller's. */
void shmrt__frame_reader_init(shmrt__frame_reader_t *r, uint64_t max);

/* Changes the cap for the frames whose header is not yet decoded (the handshake's 256
 * bytes, then the server's cap). Concurrency: the reader's thread. */
void shmrt__frame_reader_set_max(shmrt__frame_reader_t *r, uint64_t max);

/* Makes r read no byte past the current frame (no read-ahead), so that what follows
 * a frame stays in the socket for another reader (the client's handshake). Slower:
 * two reads per frame. Concurrency: the reader's thread. */
void shmrt__frame_reader_exact(shmrt__frame_reader_t *r);

/* Frees r's buffer; r may be initialised again. Concurrency: the reader's thread. */
void shmrt__frame_reader_fini(shmrt__frame_reader_t *r);

/*
 * Feeds n bytes of the stream; *used says how many were taken (all of them, unless a
 * frame completed: the rest belongs to the next frame, fed after shmrt__frame_next).
 * Returns: 1 a frame is complete (shmrt__frame_data); 0 more bytes are needed;
 * -EBADMSG a negative length other than -1; -EMSGSIZE a length above the cap;
 * -ENOMEM; -EBUSY a complete frame was not released by shmrt__frame_next. An error
 * is sticky: every later call returns it.
 * Concurrency: the reader's thread.
 */
SHMRT_MUST_USE int shmrt__frame_feed(shmrt__frame_reader_t *r, const void *p, size_t n,
				     size_t *used);

/*
 * Completes the current frame from the bytes read ahead, then from the non-blocking
 * descriptor fd: each read() takes what fd holds, up to the read-ahead buffer (a
 * large payload is read straight into the payload buffer), so the bytes of later
 * frames may be read too; they are kept for the next calls. Returns -EAGAIN after a
 * read that did not fill the buffer without trying another (the socket was empty
 * then: level-triggered epoll or poll says when more comes).
 * Returns: 1 a frame is complete; -EAGAIN fd has no more bytes now (wait for POLLIN);
 * -EPIPE the peer closed the stream between two frames; -EPROTO it closed it inside a
 * frame; the errors of shmrt__frame_feed; the errno of read (-ECONNRESET ...).
 * Concurrency: the reader's thread.
 */
SHMRT_MUST_USE int shmrt__frame_read(shmrt__frame_reader_t *r, int fd);

/* Bytes read ahead and not yet handed out (beyond the complete frame, if any), and
 * those the io holds decoded: when not 0, shmrt__frame_read has more to give without
 * the socket being readable.
 * Concurrency: the reader's thread. */
size_t shmrt__frame_buffered(const shmrt__frame_reader_t *r);

/* Whether the socket was found empty by the last read() and nothing is read ahead
 * (beyond the complete frame, if any): another shmrt__frame_read now would most
 * likely spend a read() to learn -EAGAIN. A caller woken by level-triggered epoll
 * may stop here; bytes that arrived since the read wake it again.
 * Concurrency: the reader's thread. */
int shmrt__frame_drained(const shmrt__frame_reader_t *r);

/* The complete frame's payload (valid until shmrt__frame_next), its length in *len;
 * NULL with *len 0 for an empty frame, or when no frame is complete (then *len is 0
 * too: ask shmrt__frame_feed/read first). Concurrency: the reader's thread. */
const uint8_t *shmrt__frame_data(const shmrt__frame_reader_t *r, size_t *len);

/* Releases the complete frame so that the next one can be read; a buffer grown past
 * 64 KiB is freed. No-op unless a frame is complete. Concurrency: the reader's thread. */
void shmrt__frame_next(shmrt__frame_reader_t *r);

/* Whether part of a frame has been received, read ahead included (a peer that stops
 * here is mid-frame). */
int shmrt__frame_partial(const shmrt__frame_reader_t *r);

/* Writes the header of an n-byte payload into hdr; returns its length (4 or 12). */
size_t shmrt__frame_header(uint64_t n, uint8_t hdr[SHMRT__FRAME_HDR_MAX]);

typedef struct shmrt__frame_writer {
	uint8_t *buf;   /* queued bytes are buf[head, tail) */
	size_t head;
	size_t tail;
	size_t cap;
	size_t limit;   /* most queued bytes (a lone frame may exceed it) */
	const shmrt__frame_io_t *io; /* NULL: sendmsg() on the descriptor */
} shmrt__frame_writer_t;

/* Initialises w with a queue limit in bytes (0: SHMRT__FRAME_MAX_DEFAULT + 4 KiB).
 * Allocates nothing. Concurrency: w is the caller's. */
void shmrt__frame_writer_init(shmrt__frame_writer_t *w, size_t limit);

/* Frees w's queue (unsent bytes are dropped). Concurrency: the writer's thread. */
void shmrt__frame_writer_fini(shmrt__frame_writer_t *w);

/* Bytes queued and not yet written: what the peer has left unread beyond the
 * socket's own buffers. Concurrency: the writer's thread. */
size_t shmrt__frame_queued(const shmrt__frame_writer_t *w);

/*
 * Queues one frame of n payload bytes (copied), without writing.
 * Returns: 0; -ENOBUFS the queue holds bytes and the frame would take it past its
 * limit (nothing queued: the caller drops the peer or waits for it to read); -ENOMEM.
 * Concurrency: the writer's thread.
 */
SHMRT_MUST_USE int shmrt__frame_put(shmrt__frame_writer_t *w, const void *p, size_t n);

/* shmrt__frame_put of one frame whose payload is a's an bytes then b's bn (a request's
 * header encoded apart from its arguments). Returns as shmrt__frame_put. */
SHMRT_MUST_USE int shmrt__frame_put2(shmrt__frame_writer_t *w, const void *a, size_t an,
				     const void *b, size_t bn);

/*
 * Sends one frame on the non-blocking fd: written at once when nothing is queued, and
 * what the socket does not take (or the whole frame, behind queued bytes) is queued.
 * Returns: 0 (written or queued: shmrt__frame_queued says which); -ENOBUFS, -ENOMEM
 * as shmrt__frame_put; -EPIPE the peer is gone; the errno of sendmsg.
 * Concurrency: the writer's thread.
 */
SHMRT_MUST_USE int shmrt__frame_send(shmrt__frame_writer_t *w, int fd, const void *p, size_t n);

/*
 * Writes queued bytes to the non-blocking fd until the queue is empty or fd is full.
 * Returns: 0 the queue is empty; -EAGAIN bytes remain (wait for POLLOUT); -EPIPE the
 * peer is gone; the errno of sendmsg. Never raises SIGPIPE.
 * Concurrency: the writer's thread.
 */
SHMRT_MUST_USE int shmrt__frame_flush(shmrt__frame_writer_t *w, int fd);

/*
 * Blocking forms for clients, on a non-blocking fd, until the absolute monotonic
 * deadline (base/clock.h). send_wait: shmrt__frame_send then flush until the queue is
 * empty. recv_wait: shmrt__frame_read until a frame is complete. With an io, each
 * wait is for the events its want() gives.
 * Returns: 0 (send_wait) or 1 (recv_wait); -ETIMEDOUT; the errors of the calls above.
 * Concurrency: the reader's or writer's thread.
 */
SHMRT_MUST_USE int shmrt__frame_send_wait(shmrt__frame_writer_t *w, int fd, const void *p,
					  size_t n, uint64_t deadline);
SHMRT_MUST_USE int shmrt__frame_recv_wait(shmrt__frame_reader_t *r, int fd, uint64_t deadline);

#endif /* SHMRT_MANAGER_FRAME_H */
