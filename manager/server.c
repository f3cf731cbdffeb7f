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
 * per wake-up, so one busy client does not starve the others.
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
 * Out of descriptors. When accept fails with EMFILE or ENFILE the connection stays
 * in the backlog and the listener stays readable, so a level-triggered loop would
 * wake at once, forever, at 100% CPU. The server keeps a spare descriptor (/dev/null,
 * opened at start, after everything it needs) for that moment, as libuv and libev
 * do: it closes the spare, accepts the connection, closes it at once (the peer sees
 * its connection end: refused, not left hanging) and opens the spare again. Without
 * a spare (none could be opened at start, or another thread of the process took its
 * slot, or the system is out of files) the listeners are paused (no EPOLLIN) for
 * LISTEN_PAUSE_MS, and tried again then.
 *
 * Limits (shmrt_manager_opts_t). A frame begun after the handshake must be whole
 * within frame_timeout (30 s), or its connection is dropped: the authenticated
 * connections mid-frame are on a list in deadline order (the partial-frame timer
 * starts when a frame is begun and restarts whenever one completes). Handshaking
 * connections are on their own list, oldest first; past max_handshakes (128) the
 * oldest is dropped, so a flood of silent connections cannot starve a client whose
 * handshake takes milliseconds, and the loop checks only the lists' heads, never
 * every connection. Past max_conns (4096) a newcomer is closed at once, unless a
 * handshaking connection can make room. Every connection's buffered bytes (its
 * reader's buffers and its unread replies) are summed; past max_buffered (1 GiB)
 * the connection holding the most is dropped, after the batch of events, until the
 * sum fits: dropping, not pausing reads, since a paused hog mid-frame would hold its
 * bytes until its timer while every other client waited. A session's parked calls
 * are capped at max_parked (65536, manager/park.c): one more is answered -EDQUOT.
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
#include "manager/auth.h"
#include "manager/frame.h"
#include "manager/server_int.h"
#include "manager/transport.h"

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

#define MAX_LISTENERS 16
#define FRAMES_PER_WAKE 64
#define REPLY_BATCH (64u << 10) /* queued reply bytes written before the wake-up ends */
#define MAX_QUEUED_DEFAULT (64u << 20)
#define FRAME_TIMEOUT_DEFAULT (30 * (int64_t)1000000000)
#define MAX_BUFFERED_DEFAULT ((size_t)1 << 30)
#define MAX_PARKED_DEFAULT 65536
#define MAX_CONNS_DEFAULT 4096
#define MAX_HANDSHAKES_DEFAULT 128
#define STOP_SLOTS 8
#define LISTEN_PAUSE_MS 100 /* listeners paused when no descriptor is left at all */
/* epoll tags below this are listeners (index + 1) or the stop pipe (0). */
#define TAG_CONN_MIN 4096

typedef struct conn {
	int fd;
	int authed;
	int want_out;                 /* EPOLLOUT is watched */
	shmrt__auth_t auth;
	shmrt__frame_reader_t r;
	shmrt__frame_writer_t w;
	int doomed;                   /* to close after this batch of events */
	int pending;                  /* frames read ahead wait to be run */
	shmrt__msess_t sess;          /* its references and parked calls */
	struct conn *prev, *next;
	/* The timer list it is on (on_timer): the handshake list while !authed, the
	 * partial-frame list while authed and mid-frame. Each list is in deadline order
	 * (every deadline is its start plus one fixed limit), so only heads are checked. */
	struct conn *tprev, *tnext;
	int on_timer;
	uint64_t deadline;            /* the partial frame's (the handshake's is in auth) */
	size_t acct;                  /* its bytes counted in server.buffered */
} conn_t;

typedef struct tlist {
	conn_t *head, *tail;
} tlist_t;

typedef struct server {
	int ep;
	int stop_fd;
	int slot;
	shmrt__listener_t l[MAX_LISTENERS];
	size_t nl;
	char tmpdir[SHMRT__UNIX_PATH_MAX + 1]; /* "unix:" alone: our private directory */
	conn_t *conns;
	size_t nauth;                 /* connections in the handshake (on hs) */
	size_t nconns;                /* connections, doomed ones included */
	tlist_t hs;                   /* handshaking connections, oldest first */
	tlist_t pf;                   /* authenticated connections mid-frame, oldest first */
	size_t buffered;              /* sum of the connections' acct */
	shmrt__mstore_t st;
	shmrt_mv_buf_t buf;
	shmrt_mv_buf_t dbuf;          /* late replies */
	size_t ndoomed;
	size_t npending;              /* connections marked pending */
	const shmrt_manager_opts_t *o;
	size_t max_frame, max_queued;
	int64_t auth_timeout;
	int spare_fd;                 /* given up to refuse a connection at EMFILE; -1 */
	uint64_t paused_until;        /* listeners paused until then (mono ns); 0 */
	int64_t frame_timeout;
	size_t max_buffered, max_conns, max_handshakes;
} server_t;

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

/* ---- timer lists and accounting ------------------------------------------------ */

static void tl_push(tlist_t *l, conn_t *c)
{
	c->tnext = NULL;
	c->tprev = l->tail;
	if (l->tail)
		l->tail->tnext = c;
	else
		l->head = c;
	l->tail = c;
	c->on_timer = 1;
}

static void tl_del(tlist_t *l, conn_t *c)
{
	if (!c->on_timer)
		return;
	if (c->tprev)
		c->tprev->tnext = c->tnext;
	else
		l->head = c->tnext;
	if (c->tnext)
		c->tnext->tprev = c->tprev;
	else
		l->tail = c->tprev;
	c->tprev = c->tnext = NULL;
	c->on_timer = 0;
}

/* Takes c out of the handshake count (authenticated, doomed or closed). */
static void hs_leave(server_t *s, conn_t *c)
{
	if (c->authed || !c->on_timer)
		return;
	tl_del(&s->hs, c);
	s->nauth--;
	s->st.nhandshakes = s->nauth;
}

/* Re-counts c's buffered bytes: its reader's buffers and its unread replies. */
static void account(server_t *s, conn_t *c)
{
	size_t now = c->r.cap + c->r.a_cap + shmrt__frame_queued(&c->w);
	s->buffered = s->buffered - c->acct + now;
	c->acct = now;
	s->st.nbuffered = s->buffered;
}

/* ---- connections ---------------------------------------------------------------- */

static void doom(server_t *s, conn_t *c);

static void conn_close(server_t *s, conn_t *c)
{
	(void)epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->doomed)
		s->ndoomed--;
	if (c->pending)
		s->npending--;
	c->doomed = 1; /* late replies to it are dropped from here on */
	if (c->authed) {
		tl_del(&s->pf, c);
		s->st.nsessions--;
		shmrt__mstore_session_end(&s->st, &c->sess);
	} else {
		hs_leave(s, c);
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
	int want = shmrt__frame_queued(&c->w) > 0;
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
	int rc = shmrt__frame_send(&c->w, c->fd, p, n);
	return rc ? rc : conn_watch(s, c);
}

/* Writes c's queued replies as far as the socket takes them. Returns 0, or an error
 * that drops c. */
static int conn_flush(server_t *s, conn_t *c)
{
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

static int open_spare(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Sets the listeners' epoll interest: EPOLLIN, or nothing while paused. */
static void listeners_watch(server_t *s, int on)
{
	for (size_t i = 0; i < s->nl; i++) {
		struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.u64 = i + 1 };
		(void)epoll_ctl(s->ep, EPOLL_CTL_MOD, s->l[i].fd, &ev); /* set up at listen */
	}
}

/* accept failed for want of a descriptor (EMFILE, ENFILE): refuses the oldest
 * waiting connection through the spare descriptor, or pauses the listeners when no
 * spare is to be had. Returns 1 if a connection was refused (try the next one). */
static int refuse_one(server_t *s, shmrt__listener_t *l)
{
	if (s->spare_fd >= 0) {
		close(s->spare_fd);
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		int e = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
		s->spare_fd = open_spare();
		if (s->spare_fd >= 0 && (fd >= 0 || e == EINTR || e == ECONNABORTED))
			return 1;
		if (s->spare_fd >= 0 && (e == EAGAIN || e == EWOULDBLOCK))
			return 0; /* the backlog emptied meanwhile */
	}
	if (!s->paused_until) {
		listeners_watch(s, 0);
		s->paused_until = mono_ns() + LISTEN_PAUSE_MS * 1000000ull;
	}
	return 0;
}

/* Resumes paused listeners once their pause is over (and takes a spare again). */
static void listeners_resume(server_t *s, uint64_t now)
{
	if (!s->paused_until || now < s->paused_until)
		return;
	s->paused_until = 0;
	if (s->spare_fd < 0)
		s->spare_fd = open_spare();
	listeners_watch(s, 1);
}

static void accept_all(server_t *s, shmrt__listener_t *l)
{
	for (int k = 0; k < 64; k++) {
		int fd;
		int rc = shmrt__accept(l, &fd);
		if (rc == -EPERM || rc == -ECONNABORTED)
			continue;
		if ((rc == -EMFILE || rc == -ENFILE) && refuse_one(s, l))
			continue;
		if (rc)
			return; /* -EAGAIN; -ENOBUFS, -ENOMEM: the next wake-up tries again */
		/* At a cap, the oldest handshake makes room (doomed: it may have an event
		 * in this batch; closed after it); with none, the newcomer is refused. */
		if (s->nauth >= s->max_handshakes ||
		    (s->nconns - s->ndoomed >= s->max_conns && s->nauth)) {
			conn_t *old = s->hs.head;
			hs_leave(s, old);
			doom(s, old);
		}
		if (s->nconns - s->ndoomed >= s->max_conns) {
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
		    epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev)) {
			shmrt__frame_reader_fini(&c->r);
			close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
		s->nauth++;
		s->st.nhandshakes = s->nauth;
		tl_push(&s->hs, c);
		if (auth_flush(s, c))
			conn_close(s, c);
		else
			account(s, c);
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
			hs_leave(s, c);
			c->authed = 1;
			s->st.nsessions++;
			shmrt__auth_fini(&c->auth);
			shmrt__frame_reader_set_max(&c->r, s->max_frame);
			shmrt__mstore_session_start(&s->st, &c->sess, c);
		}
		return 0;
	}
	shmrt_mv_limits_t lim = { .max_bytes = s->max_frame };
	shmrt_mv_t *req, *reply;
	int rc = shmrt_mv_decode(p, n, &lim, &req);
	if (rc)
		return rc; /* malformed: the client goes, the server stays */
	rc = shmrt__mstore_request(&s->st, &c->sess, req, &reply);
	if (rc)
		return rc;
	if (!reply)
		return 0; /* parked: answered later */
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

/* Marks c to be closed after this batch of events (it may not be freed now). */
static void doom(server_t *s, conn_t *c)
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
			doom(s, c);
		else
			account(s, c);
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
			conn_close(s, c); /* may doom others: they are later in the list
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
	if (events & EPOLLOUT) {
		int rc = shmrt__frame_flush(&c->w, c->fd);
		if ((rc && rc != -EAGAIN) || conn_watch(s, c)) {
			conn_close(s, c);
			return;
		}
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		account(s, c);
		return;
	}
	int done = 0; /* a frame completed */
	for (int k = 0; k < FRAMES_PER_WAKE; k++) {
		int rc = shmrt__frame_read(&c->r, c->fd);
		if (rc == -EAGAIN)
			break;
		if (rc == 1) {
			done = 1;
			size_t n;
			const uint8_t *p = shmrt__frame_data(&c->r, &n);
			rc = conn_frame(s, c, p ? p : (const uint8_t *)"", n);
			shmrt__frame_next(&c->r);
			if (rc == 0 && c->doomed)
				return; /* closed after this batch */
			if (rc == 0)
				continue;
		}
		/* closed, reset, malformed, too big, queue full: the replies queued
		 * before go if the socket takes them, as a reply would have */
		if (shmrt__frame_flush(&c->w, c->fd)) {
			/* not waited for: the connection goes either way */
		}
		conn_close(s, c);
		return;
	}
	if (shmrt__frame_buffered(&c->r)) {
		c->pending = 1; /* FRAMES_PER_WAKE ran out: the rest next turn */
		s->npending++;
	}
	if (conn_flush(s, c)) {
		conn_close(s, c);
		return;
	}
	account(s, c);
	/* The partial-frame timer: started when a frame is begun, restarted whenever
	 * one completes (a peer streaming whole frames is making progress). */
	if (c->authed) {
		if (done || !shmrt__frame_partial(&c->r))
			tl_del(&s->pf, c);
		if (!c->on_timer && shmrt__frame_partial(&c->r)) {
			c->deadline = mono_ns() + (uint64_t)s->frame_timeout;
			tl_push(&s->pf, c);
		}
	}
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

/* Drops the connections whose handshake or partial frame passed its deadline;
 * returns the epoll timeout (ms) until the nearest remaining one, or -1. Each list is
 * in deadline order: only the expired connections and one head each are looked at. */
static int check_deadlines(server_t *s)
{
	if (!s->hs.head && !s->pf.head)
		return -1;
	uint64_t now = mono_ns(), next = UINT64_MAX;
	while (s->hs.head && shmrt__auth_check_time(&s->hs.head->auth, now))
		conn_close(s, s->hs.head);
	if (s->hs.head)
		next = s->hs.head->auth.deadline;
	while (s->pf.head && s->pf.head->deadline <= now)
		conn_close(s, s->pf.head);
	if (s->pf.head && s->pf.head->deadline < next)
		next = s->pf.head->deadline;
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	uint64_t ms = (next - now) / 1000000 + 1;
	return ms > 1000 ? 1000 : (int)ms;
}

/* Drops the connections holding the most buffered bytes until the server holds at
 * most max_buffered (outside a batch of events: it closes at once). */
static void check_budget(server_t *s)
{
	while (s->buffered > s->max_buffered) {
		conn_t *big = NULL;
		for (conn_t *c = s->conns; c; c = c->next)
			if (!big || c->acct > big->acct)
				big = c;
		if (!big)
			return;
		conn_close(s, big);
	}
}

/* Answers the parked calls that are due, closes what that doomed, and returns the
 * epoll timeout (ms) until the nearest deadline (a handshake's or a parked call's). */
static int next_timeout(server_t *s)
{
	uint64_t now = mono_ns();
	listeners_resume(s, now);
	uint64_t next = shmrt__mstore_expire(&s->st, now);
	if (s->paused_until && s->paused_until < next)
		next = s->paused_until;
	while (s->ndoomed)
		close_doomed(s);
	int ms = check_deadlines(s);
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
		conn_close(s, s->conns);
	for (size_t i = 0; i < s->nl; i++)
		shmrt__listener_close(&s->l[i]);
	if (s->tmpdir[0])
		(void)rmdir(s->tmpdir);
	if (s->ep >= 0)
		close(s->ep);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	shmrt__mstore_fini(&s->st);
	shmrt_mv_buf_free(&s->buf);
	shmrt_mv_buf_free(&s->dbuf);
	if (s->slot >= 0)
		store_release(&stop_active[s->slot], 0); /* pairs with claim_slot's CAS */
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
	s->frame_timeout = o->frame_timeout > 0 ? o->frame_timeout : FRAME_TIMEOUT_DEFAULT;
	s->max_buffered = o->max_buffered ? o->max_buffered : MAX_BUFFERED_DEFAULT;
	s->max_conns = o->max_conns ? o->max_conns : MAX_CONNS_DEFAULT;
	s->max_handshakes = o->max_handshakes ? o->max_handshakes : MAX_HANDSHAKES_DEFAULT;
	int rc = shmrt__mstore_init(&s->st, 0);
	if (rc == 0 && (rc = shmrt__mstore_set_types(&s->st, o->types, o->ntypes)) != 0)
		shmrt__mstore_fini(&s->st);
	if (rc) {
		free(s);
		return rc;
	}
	s->st.max_parked = o->max_parked ? o->max_parked : MAX_PARKED_DEFAULT;
	s->st.deliver = deliver;
	s->st.alive = alive;
	s->st.cb_arg = s;
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep < 0)
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
		s->spare_fd = open_spare();
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
		while (busy_until && (n = epoll_wait(s->ep, evs, 64, 0)) == 0 &&
		       mono_ns() < busy_until)
			shmrt__spin_yield();
		if (n == 0)
			n = epoll_wait(s->ep, evs, 64, ms);
		if (n < 0) {
			if (errno != EINTR)
				rc = -errno;
			continue;
		}
		int stop = 0, served = 0;
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == 0) {
				stop = 1;
			} else if (tag < TAG_CONN_MIN) {
				accept_all(s, &s->l[tag - 1]);
			} else {
				conn_event(s, evs[i].data.ptr, evs[i].events);
				served = 1;
			}
		}
		if (s->npending && !stop) {
			serve_pending(s);
			served = 1;
		}
		while (s->ndoomed)
			close_doomed(s);
		check_budget(s);
		if (stop)
			break;
		uint64_t spin = served ? shmrt__spin_now() : 0;
		busy_until = spin ? mono_ns() + spin : 0;
	}
	server_fini(s);
	free(s);
	return rc;
}
