/*
 * The manager's server: one thread, one epoll set, non-blocking sockets
 * (shmrt_manager_serve, shmrt_manager_stop; shmrt/manager.h).
 *
 * The loop. epoll (level-triggered) watches the listeners, a stop pipe and every
 * connection. A connection starts in the handshake (manager/auth.h): its reader is
 * capped at 256 bytes, the auth state machine's frames are sent as it makes them, and
 * its deadline is checked whenever the loop wakes (epoll_wait's timeout is the
 * nearest deadline), so a peer that says nothing is dropped on time. Once
 * authenticated the reader's cap becomes the server's (16 MiB by default), and each
 * frame is one request: decoded by the bounded decoder (a frame that does not decode
 * drops that client only), run against the object store (manager/objects.c), and
 * answered. Replies go out at once when the socket takes them and are queued behind
 * (frame.h's bounded writer) when not; EPOLLOUT is watched while a queue is not
 * empty. A client whose unread replies would pass max_queued is dropped, so one that
 * never reads costs at most that much. At most 64 frames of one connection are run
 * per wake-up, so one busy client does not starve the others (and while the server
 * reads a lone busy client directly, hot_look below, every fourth look is epoll's).
 *
 * Reading and writing in bulk. A connection's reader reads ahead (frame.h): one
 * read() per wake-up takes every request the socket holds, and the frames are run
 * from that buffer; the replies of one wake-up are queued and written with one
 * send. A pipelining client's 32 calls thus cost the server two system calls, not
 * 65. Frames left read ahead after the 64 of a wake-up are invisible to epoll: the
 * connection is marked pending and served again at the next turn of the loop, which
 * then does not sleep.
 *
 * A session ends however its connection ends (close, reset, a read error, EPOLLHUP
 * of a killed client, a malformed frame, a full queue): its parked calls are dropped,
 * a Lock it held is handed on, its references are dropped
 * (shmrt__mstore_session_end) and the objects nobody refers to any more destroyed.
 *
 * Parked calls (manager/park.c). A blocking method (a Lock acquire, a Queue get)
 * parks in the store and its reply is sent later, by whatever request or deadline
 * answers it (the deliver callback below), so a parked call never holds up the loop
 * or another client. epoll_wait sleeps until the nearest deadline, a handshake's or
 * a parked call's. A late reply that the connection cannot take marks it doomed
 * (deliver runs inside another session's request, which must not free it); doomed
 * connections are closed after each batch of events. Before a waiter is handed
 * something, its socket is polled for a hang-up (alive), so a client killed while
 * parked gets nothing even if its EPOLLHUP has not been read yet.
 *
 * Limits (manager/server_limits.c): frame_timeout, max_handshakes, max_conns,
 * max_buffered, max_parked, and the spare descriptor kept for EMFILE. Their lists and
 * counts live in the loop's state (server_int.h); the loop calls them at accept,
 * after a read, after a batch of events, and when it computes its timeout.
 *
 * TLS (manager/server_tls.c): a connection accepted on a TLS listener first does its
 * TLS handshake (on the handshake list, under the same deadline); conn_event hands
 * it to server_tls.c before anything else, and its frames then go through its
 * stream's io. The loop itself is unchanged.
 *
 * Stopping. shmrt_manager_stop writes a byte to the stop pipe of every running
 * server (a slot table of 8 pipes, made once and never closed, so a stop racing with
 * a server's end never writes into a recycled descriptor); it is async-signal-safe.
 *
 * Concurrency: each server is its own thread's; servers share only the stop slots.
 */
#define _GNU_SOURCE
#include <shmrt/manager.h>

#include "base/atomic.h"
#include "base/clock.h"
#include "manager/mvalue_int.h"
#include "manager/server_int.h"
#include "manager/tls_int.h"
#include "manager/shmchan_int.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTENERS SHMRT__MSRV_LISTENERS
#define FRAMES_PER_WAKE 64
#define REPLY_BATCH (64u << 10) /* queued reply bytes written before the wake-up ends */
#define MAX_QUEUED_DEFAULT (64u << 20)
#define STOP_SLOTS 8
/* epoll tags below this are listeners (index + 1) or the stop pipe (0). */
#define TAG_CONN_MIN 4096
_Static_assert(SHMRT__SHM_TAG > MAX_LISTENERS && SHMRT__SHM_TAG < TAG_CONN_MIN,
	       "the shm doorbell's tag is neither a listener's nor a connection's");

typedef shmrt__mconn_t conn_t;
typedef shmrt__msrv_t server_t;

/* ---- stop slots ------------------------------------------------------------------ */

static int stop_rd[STOP_SLOTS] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static int stop_wr[STOP_SLOTS] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static int stop_active[STOP_SLOTS];

/* Stops every running server of this process. Async-signal-safe. */
void shmrt_manager_stop(void)
{
	for (int i = 0; i < STOP_SLOTS; i++) {
		/* A1: acquire, pairs with R1 in claim_slot: the pipe is made before the
		 * slot says active. */
		if (load_acquire(&stop_active[i]) == 1) {
			int fd = load_relaxed(&stop_wr[i]); /* published by A1 */
			if (fd >= 0) {
				ssize_t w = write(fd, "x", 1);
				(void)w; /* a full pipe already holds a stop */
			}
		}
	}
}

/* Claims a stop slot and drains its pipe. Returns the slot, -EBUSY, or -errno. */
static int claim_slot(void)
{
	for (int i = 0; i < STOP_SLOTS; i++) {
		int exp = 0;
		if (!cas_acq_rel(&stop_active[i], &exp, 2)) /* 2: being set up */
			continue;
		if (stop_rd[i] < 0) {
			int p[2];
			if (pipe2(p, O_CLOEXEC | O_NONBLOCK)) {
				int e = -errno;
				store_release(&stop_active[i], 0);
				return e;
			}
			stop_rd[i] = p[0];
			store_relaxed(&stop_wr[i], p[1]); /* published by R1 */
		}
		char b[64];
		while (read(stop_rd[i], b, sizeof(b)) > 0)
			;
		/* R1: release, pairs with A1 in shmrt_manager_stop. */
		store_release(&stop_active[i], 1);
		return i;
	}
	return -EBUSY;
}

/* ---- connections ---------------------------------------------------------------- */

void shmrt__msrv_conn_close(server_t *s, conn_t *c)
{
	shmrt__shmchan_close(s, c); /* shm channel (shmchan.c): its Pipe end and region */
	(void)epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	shmrt__tls_free(c->tls);
	close(c->fd);
	if (c->doomed)
		s->ndoomed--;
	if (c->pending)
		s->npending--;
	if (s->hot == c)
		s->hot = NULL;
	c->doomed = 1; /* late replies to it are dropped from here on */
	if (c->authed) {
		shmrt__msrv_pf_leave(s, c);
		s->st.nsessions--;
		shmrt__mstore_session_end(&s->st, &c->sess);
	} else {
		shmrt__msrv_hs_leave(s, c);
	}
	s->nconns--;
	s->buffered -= c->acct;
	s->st.nbuffered = s->buffered;
	shmrt__auth_fini(&c->auth);
	shmrt__frame_reader_fini(&c->r);
	shmrt__frame_writer_fini(&c->w);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* Watches EPOLLOUT while c's queue holds bytes. Returns 0 or -errno. */
static int conn_watch(server_t *s, conn_t *c)
{
	int want = !c->shm && shmrt__frame_queued(&c->w) > 0; /* shm: no socket output */
	if (c->tls)
		want = shmrt__msrv_tls_want_out(c, want);
	if (want == c->want_out)
		return 0;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0),
				  .data.ptr = c };
	if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev))
		return -errno;
	c->want_out = want;
	return 0;
}

/* Sends one frame on c. Returns 0, or an error that drops c (-ENOBUFS: its unread
 * replies passed the limit). */
static int conn_send(server_t *s, conn_t *c, const void *p, size_t n)
{
	if (c->tls_hs) /* sent once the TLS handshake is done */
		return shmrt__frame_put(&c->w, p, n);
	if (c->shm) { /* shm channel (shmchan.c): queued, then into the client's ring */
		int src = shmrt__frame_put(&c->w, p, n);
		return src ? src : shmrt__shmchan_flush(s, c);
	}
	int rc = shmrt__frame_send(&c->w, c->fd, p, n);
	return rc ? rc : conn_watch(s, c);
}

/* Writes c's queued replies as far as the socket takes them. Returns 0, or an error
 * that drops c. */
static int conn_flush(server_t *s, conn_t *c)
{
	if (c->shm) /* shm channel (shmchan.c) */
		return shmrt__shmchan_flush(s, c);
	int rc = shmrt__frame_flush(&c->w, c->fd);
	if (rc && rc != -EAGAIN)
		return rc;
	return conn_watch(s, c);
}

/* Sends what the handshake has to say. */
static int auth_flush(server_t *s, conn_t *c)
{
	const uint8_t *p;
	size_t n;
	while (shmrt__auth_output(&c->auth, &p, &n)) {
		int rc = conn_send(s, c, p, n);
		if (rc)
			return rc;
	}
	return 0;
}

static void accept_all(server_t *s, shmrt__listener_t *l)
{
	for (int k = 0; k < 64; k++) {
		int fd;
		int rc = shmrt__accept(l, &fd);
		if (rc == -EPERM || rc == -ECONNABORTED)
			continue;
		if ((rc == -EMFILE || rc == -ENFILE) && shmrt__msrv_refuse_one(s, l))
			continue;
		if (rc)
			return; /* -EAGAIN; -ENOBUFS, -ENOMEM: the next wake-up tries again */
		if (!shmrt__msrv_admit(s)) {
			close(fd);
			continue;
		}
		conn_t *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		shmrt__frame_reader_init(&c->r, SHMRT__AUTH_FRAME_MAX);
		shmrt__frame_writer_init(&c->w, s->max_queued);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
		if (shmrt__auth_init(&c->auth, SHMRT__AUTH_SERVER, s->o->authkey, s->o->keylen,
				     s->auth_timeout, NULL) ||
		    shmrt__msrv_tls_accept(s, c, l) || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev)) {
			shmrt__frame_reader_fini(&c->r);
			shmrt__tls_free(c->tls);
			close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
		shmrt__msrv_hs_join(s, c);
		if (auth_flush(s, c))
			shmrt__msrv_conn_close(s, c);
		else
			shmrt__msrv_account(s, c);
	}
}

/* Encodes reply into s->buf; a reply above the frame cap becomes -EMSGSIZE. */
static int encode_reply(server_t *s, shmrt_mv_t *reply)
{
	s->buf.len = 0;
	int rc = shmrt_mv_encode(reply, &s->buf);
	if (rc == 0 && s->buf.len <= s->max_frame)
		return 0;
	if (rc == -ENOMEM)
		return rc;
	shmrt_mv_t *res;
	if (shmrt_mv_list_pop(reply, 2, &res) == 0)
		shmrt_mv_free(res);
	if (shmrt_mv_list_set(reply, 1, shmrt_mv_int(rc ? rc : -EMSGSIZE)) ||
	    shmrt_mv_list_append(reply, shmrt_mv_nil()))
		return -ENOMEM;
	s->buf.len = 0;
	return shmrt_mv_encode(reply, &s->buf);
}

/* Queues the reply [id, rc, res] (res consumed; NULL: nil) on c, as conn_frame does
 * with a built one. Returns 0, or an error that drops c. */
static int put_reply(server_t *s, conn_t *c, int64_t id, int rc, shmrt_mv_t *res)
{
	static const uint8_t head = 0x93; /* the array of three */
	static const shmrt_mv_t nil = { .kind = SHMRT_MV_NIL };
	shmrt_mv_t vid = { .kind = SHMRT_MV_INT, .u.i = id }, vrc = { .kind = SHMRT_MV_INT, .u.i = rc };
	s->buf.len = 0;
	int erc = shmrt_mv_encode(&vid, &s->buf);
	if (erc == 0)
		erc = shmrt_mv_encode(&vrc, &s->buf);
	if (erc == 0)
		erc = shmrt_mv_encode(res ? res : &nil, &s->buf);
	shmrt_mv_free(res);
	if (erc == -ENOMEM)
		return erc;
	if (erc || 1 + s->buf.len > s->max_frame) { /* as encode_reply: [id, error, nil] */
		vrc.u.i = erc ? erc : -EMSGSIZE;
		s->buf.len = 0;
		if (shmrt_mv_encode(&vid, &s->buf) || shmrt_mv_encode(&vrc, &s->buf) ||
		    shmrt_mv_encode(&nil, &s->buf))
			return -ENOMEM;
	}
	erc = shmrt__frame_put2(&c->w, &head, 1, s->buf.data, s->buf.len);
	if (erc == 0 && shmrt__frame_queued(&c->w) > REPLY_BATCH)
		erc = conn_flush(s, c);
	return erc;
}

/* A call request of the usual shape (shmrt__mcall_read), run and answered without
 * building its head or its reply as trees. Returns 0 or conn_frame's error; 1: not of
 * that shape (the general path then decides, exactly as before). */
static int call_fast(server_t *s, conn_t *c, const uint8_t *p, size_t n)
{
	shmrt__mcall_head_t h;
	shmrt_mv_t *args, *res;
	int rc;
	if (shmrt__mcall_read(p, n, s->max_frame, &h, &args))
		return 1;
	if (shmrt__mstore_call(&s->st, &c->sess, h.id, h.obj, h.name, args, &rc, &res))
		return 0; /* parked: answered later */
	return put_reply(s, c, h.id, rc, res);
}

/* One complete frame of c. Returns 0, or an error that drops c. */
static int conn_frame(server_t *s, conn_t *c, const uint8_t *p, size_t n)
{
	if (!c->authed) {
		int rc = shmrt__auth_feed(&c->auth, p, n);
		int frc = auth_flush(s, c);
		if (rc < 0) {
			if (shmrt__frame_flush(&c->w, c->fd)) {
				/* #FAILURE# is sent if the socket takes it, not waited for */
			}
			return rc;
		}
		if (frc)
			return frc;
		if (rc == 1) {
			shmrt__msrv_hs_leave(s, c);
			c->authed = 1;
			s->st.nsessions++;
			shmrt__auth_fini(&c->auth);
			shmrt__frame_reader_set_max(&c->r, s->max_frame);
			shmrt__mstore_session_start(&s->st, &c->sess, c);
		}
		return 0;
	}
	int rc = call_fast(s, c, p, n);
	if (rc != 1)
		return rc;
	shmrt_mv_limits_t lim = { .max_bytes = s->max_frame };
	shmrt_mv_t *req, *reply;
	int64_t id;
	rc = shmrt_mv_decode(p, n, &lim, &req);
	if (rc == -ERANGE && shmrt__mv_request_id(p, n, &id) == 0) {
		/* Well-formed but holding an integer above INT64_MAX (msgpack uint 64),
		 * which no value holds: answered [id, -ERANGE, None]; the client stays. */
		if (!(reply = shmrt_mv_list_cap(3)) ||
		    shmrt_mv_list_append(reply, shmrt_mv_int(id)) ||
		    shmrt_mv_list_append(reply, shmrt_mv_int(-ERANGE)) ||
		    shmrt_mv_list_append(reply, shmrt_mv_nil())) {
			shmrt_mv_free(reply);
			return -ENOMEM;
		}
	} else if (rc) {
		return rc; /* malformed: the client goes, the server stays */
	} else if (shmrt__shmchan_is_request(req)) {
		/* shm channel (shmchan.c): answered with its descriptors, or refused */
		rc = shmrt__shmchan_open(s, c, req, &reply);
		shmrt_mv_free(req);
		if (rc || !reply)
			return rc;
	} else {
		rc = shmrt__mstore_request(&s->st, &c->sess, req, &reply);
		if (rc)
			return rc;
		if (!reply)
			return 0; /* parked: answered later */
	}
	rc = encode_reply(s, reply);
	shmrt_mv_free(reply);
	if (rc)
		return rc;
	/* Queued, and written once for the frames of this wake-up (conn_event), so
	 * that a pipelining client's replies take one send, not one each; a queue past
	 * REPLY_BATCH bytes is written at once, so that it never grows far past what
	 * the socket takes. */
	rc = shmrt__frame_put(&c->w, s->buf.data, s->buf.len);
	if (rc == 0 && shmrt__frame_queued(&c->w) > REPLY_BATCH)
		rc = conn_flush(s, c);
	return rc;
}

int shmrt__msrv_frame(server_t *s, conn_t *c, const uint8_t *p, size_t n)
{
	return conn_frame(s, c, p, n);
}

/* Marks c to be closed after this batch of events (it may not be freed now). */
void shmrt__msrv_doom(server_t *s, conn_t *c)
{
	if (!c->doomed) {
		c->doomed = 1;
		s->ndoomed++;
	}
}

/* The store's deliver callback: sends a parked call's late reply (consumed). */
static void deliver(void *arg, shmrt__msess_t *sess, shmrt_mv_t *reply)
{
	server_t *s = arg;
	conn_t *c = sess->user;
	if (!c->doomed) {
		shmrt_mv_buf_t keep = s->buf; /* encode_reply works on s->buf */
		s->buf = s->dbuf;
		int rc = encode_reply(s, reply);
		if (rc == 0)
			rc = conn_send(s, c, s->buf.data, s->buf.len);
		s->dbuf = s->buf;
		s->buf = keep;
		if (rc)
			shmrt__msrv_doom(s, c);
		else
			shmrt__msrv_account(s, c);
	}
	shmrt_mv_free(reply);
}

/* The store's alive callback: a peer that hung up (a killed client) is not alive. A
 * parked client sends nothing, so any hang-up on its socket is final. */
static int alive(void *arg, shmrt__msess_t *sess)
{
	(void)arg;
	conn_t *c = sess->user;
	if (c->doomed)
		return 0;
	struct pollfd p = { .fd = c->fd, .events = POLLRDHUP };
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		return 0;
	return 1;
}

/* Closes the doomed connections. */
static void close_doomed(server_t *s)
{
	for (conn_t *c = s->conns, *nx; c && s->ndoomed; c = nx) {
		nx = c->next;
		if (c->doomed)
			shmrt__msrv_conn_close(s, c); /* may doom others: they are later in the list
					     or caught by the next call */
	}
}

static void conn_event(server_t *s, conn_t *c, uint32_t events)
{
	if (c->pending) {
		c->pending = 0;
		s->npending--;
		events |= EPOLLIN;
	}
	if (c->doomed)
		return;
	if (c->shm) { /* shm channel (shmchan.c): its socket only tells liveness */
		shmrt__shmchan_sock_event(s, c, events);
		return;
	}
	if (c->tls) { /* its TLS handshake; what its stream waits for */
		int rc = shmrt__msrv_tls_event(s, c, &events);
		if (rc) {
			if (rc < 0)
				shmrt__msrv_conn_close(s, c);
			return;
		}
	}
	if (events & EPOLLOUT) {
		int rc = shmrt__frame_flush(&c->w, c->fd);
		if ((rc && rc != -EAGAIN) || conn_watch(s, c)) {
			shmrt__msrv_conn_close(s, c);
			return;
		}
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		shmrt__msrv_account(s, c);
		return;
	}
	int done = 0; /* a frame completed */
	for (int k = 0; k < FRAMES_PER_WAKE; k++) {
		int rc = shmrt__frame_read(&c->r, c->fd);
		if (rc == -EAGAIN)
			break;
		if (rc == 1) {
			done = 1;
			s->frames++;
			size_t n;
			const uint8_t *p = shmrt__frame_data(&c->r, &n);
			rc = conn_frame(s, c, p ? p : (const uint8_t *)"", n);
			int drained = shmrt__frame_drained(&c->r);
			shmrt__frame_next(&c->r);
			if (rc == 0 && c->doomed)
				return; /* closed after this batch */
			if (rc == 0 && drained)
				break; /* the socket was empty at the last read: epoll
					* (level-triggered) says when more comes */
			if (rc == 0)
				continue;
		}
		/* closed, reset, malformed, too big, queue full: the replies queued
		 * before go if the socket takes them, as a reply would have */
		if (shmrt__frame_flush(&c->w, c->fd)) {
			/* not waited for: the connection goes either way */
		}
		shmrt__msrv_conn_close(s, c);
		return;
	}
	if (shmrt__frame_buffered(&c->r)) {
		c->pending = 1; /* FRAMES_PER_WAKE ran out: the rest next turn */
		s->npending++;
	}
	if (conn_flush(s, c)) {
		shmrt__msrv_conn_close(s, c);
		return;
	}
	shmrt__msrv_account(s, c);
	if (c->authed)
		shmrt__msrv_pf_update(s, c, done);
}

/* Runs the frames that the pending connections have read ahead. */
static void serve_pending(server_t *s)
{
	for (conn_t *c = s->conns, *nx; c && s->npending; c = nx) {
		nx = c->next; /* conn_event may close c, never another */
		if (c->pending)
			conn_event(s, c, EPOLLIN);
	}
}

/* Answers the parked calls that are due, closes what that doomed, and returns the
 * epoll timeout (ms) until the nearest deadline (a handshake's or a parked call's). */
static int next_timeout(server_t *s)
{
	uint64_t now = mono_ns();
	shmrt__msrv_listeners_resume(s, now);
	uint64_t next = shmrt__mstore_expire(&s->st, now);
	if (s->paused_until && s->paused_until < next)
		next = s->paused_until;
	while (s->ndoomed)
		close_doomed(s);
	int ms = shmrt__msrv_check_deadlines(s);
	if (next != UINT64_MAX) {
		uint64_t pms = next > now ? (next - now + 999999) / 1000000 : 0;
		if (pms > 1000)
			pms = 1000;
		if (ms < 0 || (int)pms < ms)
			ms = (int)pms;
	}
	return ms;
}

/* ---- listening ------------------------------------------------------------------ */

static int listen_one(server_t *s, const char *addr)
{
	shmrt__addr_t a;
	const char *why;
	if (s->nl == MAX_LISTENERS)
		return -EINVAL;
	if (!strcmp(addr, "unix:")) {
		if (s->tmpdir[0])
			return -EINVAL; /* one private directory per server */
		const char *t = getenv("TMPDIR");
		int w = snprintf(s->tmpdir, sizeof(s->tmpdir), "%s/shmrt-mgr-XXXXXX",
				 t && t[0] == '/' ? t : "/tmp");
		if (w < 0 || (size_t)w + 8 > sizeof(s->tmpdir)) {
			s->tmpdir[0] = 0;
			return -ENAMETOOLONG;
		}
		if (!mkdtemp(s->tmpdir)) {
			int e = -errno;
			s->tmpdir[0] = 0;
			return e;
		}
		memset(&a, 0, sizeof(a));
		a.kind = SHMRT__ADDR_UNIX;
		size_t dl = strlen(s->tmpdir);
		memcpy(a.path, s->tmpdir, dl);
		memcpy(a.path + dl, "/socket", sizeof("/socket"));
	} else if (shmrt__addr_parse(addr, &a, &why)) {
		return -EINVAL;
	}
	unsigned fl = s->o->flags & SHMRT_MANAGER_ANY_HOST ? SHMRT__LISTEN_ANY_HOST : 0;
	int rc = shmrt__listen(&a, fl, 0, &s->l[s->nl]);
	if (rc)
		return rc;
	if ((rc = shmrt__msrv_tls_listen_check(s, &s->l[s->nl])) != 0) {
		shmrt__listener_close(&s->l[s->nl]);
		return rc;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = s->nl + 1 };
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->l[s->nl].fd, &ev)) {
		rc = -errno;
		shmrt__listener_close(&s->l[s->nl]);
		return rc;
	}
	s->nl++;
	return 0;
}

static int report_ready(server_t *s)
{
	if (!s->o->on_ready)
		return 0;
	char strs[MAX_LISTENERS][SHMRT__ADDR_STR_MAX + 8];
	const char *ptrs[MAX_LISTENERS];
	for (size_t i = 0; i < s->nl; i++) {
		int rc = shmrt__addr_format(&s->l[i].addr, strs[i], sizeof(strs[i]));
		if (rc)
			return rc;
		ptrs[i] = strs[i];
	}
	s->o->on_ready(ptrs, s->nl, s->o->ready_arg);
	return 0;
}

static void server_fini(server_t *s)
{
	while (s->conns)
		shmrt__msrv_conn_close(s, s->conns);
	shmrt__shmsrv_fini(s); /* shm channels (shmchan.c) */
	for (size_t i = 0; i < s->nl; i++)
		shmrt__listener_close(&s->l[i]);
	if (s->tmpdir[0])
		(void)rmdir(s->tmpdir);
	if (s->ep >= 0)
		close(s->ep);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	shmrt__msrv_tls_fini(s);
	shmrt__mstore_fini(&s->st);
	shmrt_mv_buf_free(&s->buf);
	shmrt_mv_buf_free(&s->dbuf);
	if (s->slot >= 0)
		store_release(&stop_active[s->slot], 0); /* pairs with claim_slot's CAS */
}

/*
 * Polling with one hot connection. While the server polls after a busy wake-up, a
 * look is an epoll_wait(0) and, if nothing came, a yield: when a single client keeps
 * the server busy, its request is then found by epoll_wait and read by a second
 * system call, on the round trip's critical path. When HOT_TURNS wake-ups in a row
 * served one plain connection alone (not TLS, not a shared-memory channel: s->hot),
 * three looks in four read that connection directly instead (one system call that
 * both finds and takes the request), and every fourth look asks epoll for everything
 * else (other connections, the listeners, the stop pipe, the shared-memory doorbell).
 * The looks are counted across wake-ups (s->looks), so a client that always has its
 * next request in flight cannot keep epoll waiting for more than three looks. A
 * wake-up that serves anything else (another connection, a shared-memory ring, a
 * connection left pending, the hot one included: a client past 64 frames a wake-up
 * is no lone ping-pong) ends the streak, so a hot connection that went quiet while
 * others keep the server busy costs no more reads. Measured (bench/manager_bench.c's
 * echo peers and get/1client): a lone client's round trip gains about a sixth;
 * several busy clients lose as much when the server reads one of them directly,
 * hence the streak (they take turns, so none is served alone for long).
 * Returns whether a frame was run.
 */
#define HOT_TURNS 8
static int hot_look(server_t *s)
{
	uint64_t before = s->frames;
	conn_event(s, s->hot, EPOLLIN); /* may close it: s->hot is then NULL */
	return s->frames != before;
}

/* After a wake-up: was_hot the hot connection before it, nconn the connections epoll
 * reported (s->hot the last of them, NULL if closed), hot_served whether a hot look
 * read a frame, other whether a ring, the doorbell or a pending connection (any,
 * the hot one too) was served. */
static void hot_update(server_t *s, conn_t *was_hot, int nconn, int hot_served, int other)
{
	conn_t *h = s->hot;
	if (nconn > 1 || other || (h && (h->tls || h->shm || !h->authed)))
		h = s->hot = NULL;
	if (!h)
		s->hot_turns = 0;
	else if (hot_served || (nconn == 1 && h == was_hot))
		s->hot_turns++;
	else if (nconn == 1)
		s->hot_turns = 1;
}

/*
 * Runs a server until shmrt_manager_stop (see shmrt/manager.h).
 * Returns: 0 after a stop; -EINVAL, -EBUSY, the errors of listening, -ENOMEM, the
 * errno of epoll. Concurrency: any thread.
 */
int shmrt_manager_serve(const shmrt_manager_opts_t *o)
{
	if (!o || !o->addresses || !o->naddresses || o->naddresses > MAX_LISTENERS ||
	    !o->authkey || !o->keylen || o->keylen > INT_MAX)
		return -EINVAL;
	server_t *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = o;
	s->ep = -1;
	s->slot = -1;
	s->spare_fd = -1;
	s->max_frame = o->max_frame ? o->max_frame : SHMRT__FRAME_MAX_DEFAULT;
	s->max_queued = o->max_queued ? o->max_queued : MAX_QUEUED_DEFAULT;
	s->auth_timeout = o->auth_timeout > 0 ? o->auth_timeout : SHMRT__AUTH_TIMEOUT_DEFAULT;
	int rc = shmrt__mstore_init(&s->st, 0);
	if (rc == 0 && (rc = shmrt__mstore_set_types(&s->st, o->types, o->ntypes)) == 0)
		rc = shmrt__remote_attach(&s->st, o->regions, s->max_frame); /* remote.c */
	if (rc)
		shmrt__mstore_fini(&s->st);
	if (rc) {
		free(s);
		return rc;
	}
	shmrt__msrv_limits_init(s, o);
	s->st.deliver = deliver;
	s->st.alive = alive;
	s->st.cb_arg = s;
	rc = shmrt__msrv_tls_init(s);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (rc == 0 && s->ep < 0)
		rc = -errno;
	for (size_t i = 0; rc == 0 && i < o->naddresses; i++)
		rc = o->addresses[i] ? listen_one(s, o->addresses[i]) : -EINVAL;
	if (rc == 0 && (rc = claim_slot()) >= 0) {
		s->slot = rc;
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
		rc = epoll_ctl(s->ep, EPOLL_CTL_ADD, stop_rd[s->slot], &ev) ? -errno : 0;
	}
	if (rc == 0) /* last: what the server needs comes first; -1 is tolerated (then
		      * an accept at EMFILE pauses the listeners) */
		s->spare_fd = shmrt__msrv_spare_open();
	if (rc == 0)
		rc = report_ready(s);
	uint64_t busy_until = 0;
	while (rc == 0) {
		struct epoll_event evs[64];
		int ms = next_timeout(s), n = 0;
		if (s->npending)
			ms = 0, busy_until = 0; /* work in hand: no sleep, no spin */
		/* After a wake-up that served a request, poll a while before sleeping (see
		 * shmrt__spin_ns): a client that calls again within it finds the server
		 * awake. Bounded by spin after the last request, however many connections;
		 * none while strangers crowd the machine (shmrt__spin_now). */
		/* shm channels (shmchan.c): a ring holding a request (or given one
		 * within a short spin) is served before epoll is asked, a few turns in
		 * a row at most */
		int shm_first = busy_until && shmrt__shmsrv_first(s);
		int hot_served = 0; /* see hot_look */
		while (!shm_first && busy_until) {
			if (s->hot && s->hot_turns >= HOT_TURNS && (++s->looks & 3) != 0) {
				if ((hot_served = hot_look(s)) != 0)
					break;
			} else if ((n = epoll_wait(s->ep, evs, 64, 0)) != 0) {
				break;
			}
			if (shmrt__shmsrv_spin(s) || mono_ns() >= busy_until) /* shm rings */
				break;
			shmrt__spin_yield();
		}
		if (n == 0 && !shm_first && !hot_served &&
		    !(busy_until && s->shm && mono_ns() < busy_until)) {
			/* shm channels (shmchan.c): announce the sleep, look once more */
			if (ms != 0 && shmrt__shmsrv_sleep(s, &ms))
				ms = 0;
			n = epoll_wait(s->ep, evs, 64, ms);
			shmrt__shmsrv_awake(s);
		}
		if (n < 0) {
			if (errno != EINTR)
				rc = -errno;
			continue;
		}
		int stop = 0, served = hot_served, nconn = 0, other = 0;
		conn_t *was_hot = s->hot;
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == 0) {
				stop = 1;
			} else if (tag == SHMRT__SHM_TAG) { /* shm channels' doorbell */
				shmrt__shmsrv_doorbell(s);
				other = 1;
			} else if (tag < TAG_CONN_MIN) {
				accept_all(s, &s->l[tag - 1]);
			} else {
				s->hot = evs[i].data.ptr; /* closing it resets s->hot */
				nconn++;
				conn_event(s, evs[i].data.ptr, evs[i].events);
				served = 1;
			}
		}
		if (s->npending && !stop) {
			serve_pending(s);
			served = other = 1;
		}
		if (!stop && shmrt__shmsrv_poll(s)) /* shm channels (shmchan.c) */
			served = other = 1;
		hot_update(s, was_hot, nconn, hot_served, other);
		while (s->ndoomed)
			close_doomed(s);
		shmrt__msrv_check_budget(s);
		if (stop)
			break;
		uint64_t spin = served ? shmrt__spin_now() : 0;
		busy_until = spin ? mono_ns() + spin : 0;
	}
	server_fini(s);
	free(s);
	return rc;
}
