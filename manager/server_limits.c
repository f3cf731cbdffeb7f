/*
 * The manager server's limits (shmrt_manager_opts_t): what bounds the time and the
 * memory one client, or a crowd of them, can take from the event loop
 * (manager/server.c). Each limit is checked where it is cheap: at accept, after a
 * read, after a batch of events, never by a walk over every connection on each
 * wake-up.
 *
 * Time. A frame begun after the handshake must be whole within frame_timeout (30 s),
 * or its connection is dropped: the authenticated connections mid-frame are on a list
 * in deadline order (the partial-frame timer starts when a frame is begun and
 * restarts whenever one completes). Handshaking connections are on their own list,
 * oldest first, each with the handshake's deadline (manager/auth.h). Every deadline on
 * a list is its start plus one fixed limit, so each list stays in deadline order by
 * appending, and the loop checks only the lists' heads; epoll_wait sleeps until the
 * nearest.
 *
 * Connections. Past max_handshakes (128) handshaking connections the oldest is
 * dropped, so a flood of silent connections cannot starve a client whose handshake
 * takes milliseconds. Past max_conns (4096) a newcomer is closed at once, unless a
 * handshaking connection can make room.
 *
 * Memory. Every connection's buffered bytes (its reader's buffers and its unread
 * replies) are summed; past max_buffered (1 GiB) the connection holding the most is
 * dropped, after the batch of events, until the sum fits: dropping, not pausing
 * reads, since a paused hog mid-frame would hold its bytes until its timer while
 * every other client waited. A session's parked calls are capped at max_parked
 * (65536, manager/park.c): one more is answered -EDQUOT.
 *
 * Out of descriptors. A server that is a process of its own (shmrt_manager_start's
 * child, `shmrt manager serve`) raises its soft descriptor limit to the hard one when
 * it starts (shmrt__msrv_fd_limit_raise, as Redis does for its clients): a
 * connection holds one descriptor, a shared-memory channel up to eight more, and a
 * soft limit of 1024 would end it long before max_conns (the channels may take half
 * of the limit: shmchan.c). shmrt_manager_serve in a program's own process leaves
 * that process's limit alone (select() users, children that inherit it). When accept fails with EMFILE or ENFILE the connection stays
 * in the backlog and the listener stays readable, so a level-triggered loop would
 * wake at once, forever, at 100% CPU. The server keeps a spare descriptor (/dev/null,
 * opened at start, after everything it needs) for that moment, as libuv and libev
 * do: it closes the spare, accepts the connection, closes it at once (the peer sees
 * its connection end: refused, not left hanging) and opens the spare again. Without
 * a spare (none could be opened at start, or another thread of the process took its
 * slot, or the system is out of files) the listeners are paused (no EPOLLIN) for
 * LISTEN_PAUSE_MS, and tried again then.
 *
 * Concurrency: everything here runs on the server's one thread.
 */
#define _GNU_SOURCE
#include "base/clock.h"
#include "manager/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define FRAME_TIMEOUT_DEFAULT (30 * (int64_t)1000000000)
#define MAX_BUFFERED_DEFAULT ((size_t)1 << 30)
#define MAX_PARKED_DEFAULT 65536
#define MAX_CONNS_DEFAULT 4096
#define MAX_HANDSHAKES_DEFAULT 128
#define LISTEN_PAUSE_MS 100 /* listeners paused when no descriptor is left at all */

typedef shmrt__mconn_t conn_t;
typedef shmrt__mconn_list_t tlist_t;
typedef shmrt__msrv_t server_t;

void shmrt__msrv_limits_init(server_t *s, const shmrt_manager_opts_t *o)
{
	s->frame_timeout = o->frame_timeout > 0 ? o->frame_timeout : FRAME_TIMEOUT_DEFAULT;
	s->max_buffered = o->max_buffered ? o->max_buffered : MAX_BUFFERED_DEFAULT;
	s->max_conns = o->max_conns ? o->max_conns : MAX_CONNS_DEFAULT;
	s->max_handshakes = o->max_handshakes ? o->max_handshakes : MAX_HANDSHAKES_DEFAULT;
	s->st.max_parked = o->max_parked ? o->max_parked : MAX_PARKED_DEFAULT;
}

/* ---- timer lists ------------------------------------------------------------------ */

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

void shmrt__msrv_hs_join(server_t *s, conn_t *c)
{
	s->nauth++;
	s->st.nhandshakes = s->nauth;
	tl_push(&s->hs, c);
}

void shmrt__msrv_hs_leave(server_t *s, conn_t *c)
{
	if (c->authed || !c->on_timer)
		return;
	tl_del(&s->hs, c);
	s->nauth--;
	s->st.nhandshakes = s->nauth;
}

void shmrt__msrv_pf_leave(server_t *s, conn_t *c)
{
	tl_del(&s->pf, c);
}

/* The partial-frame timer: started when a frame is begun, restarted whenever one
 * completes (a peer streaming whole frames is making progress). */
void shmrt__msrv_pf_update(server_t *s, conn_t *c, int done)
{
	if (done || !shmrt__frame_partial(&c->r))
		tl_del(&s->pf, c);
	if (!c->on_timer && shmrt__frame_partial(&c->r)) {
		c->deadline = mono_ns() + (uint64_t)s->frame_timeout;
		tl_push(&s->pf, c);
	}
}

/* Drops the connections whose handshake or partial frame passed its deadline;
 * returns the epoll timeout (ms) until the nearest remaining one, or -1. Each list is
 * in deadline order: only the expired connections and one head each are looked at. */
int shmrt__msrv_check_deadlines(server_t *s)
{
	if (!s->hs.head && !s->pf.head)
		return -1;
	uint64_t now = mono_ns(), next = UINT64_MAX;
	while (s->hs.head && shmrt__auth_check_time(&s->hs.head->auth, now))
		shmrt__msrv_conn_close(s, s->hs.head);
	if (s->hs.head)
		next = s->hs.head->auth.deadline;
	while (s->pf.head && s->pf.head->deadline <= now)
		shmrt__msrv_conn_close(s, s->pf.head);
	if (s->pf.head && s->pf.head->deadline < next)
		next = s->pf.head->deadline;
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	uint64_t ms = (next - now) / 1000000 + 1;
	return ms > 1000 ? 1000 : (int)ms;
}

/* ---- connections and memory ------------------------------------------------------- */

/* At a cap, the oldest handshake makes room (doomed: it may have an event in this
 * batch; closed after it); with none, the newcomer is refused. */
int shmrt__msrv_admit(server_t *s)
{
	if (s->nauth >= s->max_handshakes ||
	    (s->nconns - s->ndoomed >= s->max_conns && s->nauth)) {
		conn_t *old = s->hs.head;
		shmrt__msrv_hs_leave(s, old);
		shmrt__msrv_doom(s, old);
	}
	return s->nconns - s->ndoomed < s->max_conns;
}

/* Drops the connections holding the most buffered bytes until the server holds at
 * most max_buffered (outside a batch of events: it closes at once). */
void shmrt__msrv_check_budget(server_t *s)
{
	while (s->buffered > s->max_buffered) {
		conn_t *big = NULL;
		for (conn_t *c = s->conns; c; c = c->next)
			if (!big || c->acct > big->acct)
				big = c;
		if (!big)
			return;
		shmrt__msrv_conn_close(s, big);
	}
}

/* ---- out of descriptors ----------------------------------------------------------- */

int shmrt__msrv_spare_open(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void shmrt__msrv_fd_limit_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl); /* best effort: the old limit stands */
	}
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
int shmrt__msrv_refuse_one(server_t *s, shmrt__listener_t *l)
{
	if (s->spare_fd >= 0) {
		close(s->spare_fd);
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		int e = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
		s->spare_fd = shmrt__msrv_spare_open();
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
void shmrt__msrv_listeners_resume(server_t *s, uint64_t now)
{
	if (!s->paused_until || now < s->paused_until)
		return;
	s->paused_until = 0;
	if (s->spare_fd < 0)
		s->spare_fd = shmrt__msrv_spare_open();
	listeners_watch(s, 1);
}
