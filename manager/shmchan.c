/*
 * The Manager's shared-memory channel, the server's side (manager/shmchan_int.h
 * describes the protocol and the shared control block).
 *
 * Opening. A client of a Unix listener asks, once authenticated and with nothing in
 * flight, [id, "shm", [its pid]]. The server checks that the socket is a Unix one and
 * that the pid the client gives is the one the kernel reports for its peer
 * (SO_PEERCRED): a client in another PID namespace sees other pids, and the Pipe's
 * liveness checks (a dead peer is a registry slot whose pid is gone) would be wrong
 * there, so it is refused (-EOPNOTSUPP) and stays on its socket. Then it makes an
 * anonymous memfd region for that client alone, the control block and the Pipe in
 * it, takes end 0, and sends the reply and the region's and the doorbell's
 * descriptors in one sendmsg. Nothing is named anywhere: another process can reach
 * the region only if one of the two hands it its descriptor.
 *
 * Serving, in the one thread. The channels are a list that the loop (server.c) walks
 * after its epoll events: each channel's replies left queued are written first, then
 * up to CHAN_MSGS messages are taken from its receive ring and fed to the
 * connection's frame reader (the stream's cuts fall anywhere: the reader rebuilds
 * the frames), each frame is run exactly as a socket's (server.c's conn_frame, same
 * parked calls, same limits), and the replies go into the client's ring. At most
 * CHAN_FRAMES frames run per channel and pass, as a socket's FRAMES_PER_WAKE (one
 * message may hold thousands of small calls): the rest of the message waits in the
 * channel's buffer for the next pass, and counts as a ring that holds a request. A
 * client's region is its to scribble on: the server trusts no byte of it (lengths
 * and indices checked by the Pipe), the memfd is sealed against shrinking (a SIGBUS
 * otherwise), no lock in it is ever waited for (chan_free), and each client has a
 * doorbell of its own (chan_doorbell). A wake-up
 * that served anything makes the loop spin (SHMRT_MANAGER_SPIN_US, with the robbed-
 * yield back-off of transport.c), looking at the rings without a system call and at
 * epoll between (a ring that holds a request is served before epoll is asked, at
 * most FIRST_RUN_MAX turns in a row); then it sleeps in epoll_wait, after the
 * announcement of D1 in every channel's control block. Each client's send rings the
 * doorbell only when the announcement is up (D2), so a busy server costs its clients
 * no system call; a reply wakes its client only when it sleeps (D4).
 *
 * A client that does not read. Replies go into its ring with timeout 0; what does not
 * fit stays in the connection's writer, whose limit (max_queued) is the socket
 * path's: past it the client is dropped. While some replies wait for room the
 * server's sleep is bounded (1 ms): a reader's progress frees the ring without
 * telling the server.
 *
 * Death. A client killed mid-call: its socket hangs up, the loop closes the
 * connection as any other (its session ends: locks handed on, parked calls dropped),
 * and this file closes its end of the Pipe and detaches from the region, which the
 * kernel frees once the last descriptor goes. A server killed: the client waiting in
 * its Pipe sees the end's owner dead (a check every 50 ms: shmrt/pipe.h) and its call
 * returns -EPIPE. A server that drops a client closes the Pipe's end: the same.
 *
 * Concurrency: the server's thread only.
 */
#define _GNU_SOURCE
#include "manager/shmchan_int.h"

#include "base/futex.h"
#include "base/atomic.h"
#include "base/clock.h"
#include "base/cpu.h"
#include "manager/server_int.h"
#include "core/region_int.h"
#include "queues/pipe_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHAN_MSGS 64    /* ring messages taken from one channel per pass */
#define CHAN_FRAMES 64  /* frames run for one channel per pass (a socket's per wake-up):
			 * a ring message may hold thousands of small calls */
#define SPIN_LOOKS 32   /* looks at the rings between two clock reads */
#define SPIN_SLICE_NS 4000ull
#define SWITCH_NS 5000ull      /* a yield or epoll look that took longer let another
				  task run on our core */ /* a spin's length before the loop looks at epoll and
				  yields (sockets are served, a peer on our core runs) */
#define FIRST_RUN_MAX 16 /* turns in a row that serve the rings without asking epoll */
#define KEEP_MAX (64u << 10) /* a writer's buffer above this is freed once empty */
#define CHAN_FDS 8 /* our descriptors per channel: the region, the doorbell, end 0's
			   three, and end 1's three until the client's first message */

typedef shmrt__mconn_t conn_t;
typedef shmrt__msrv_t server_t;

struct shmrt__shmchan {
	shmrt_region_t *r;
	int evfd;                    /* this client's doorbell (edge-triggered in epoll) */
	int ep;                      /* the server's epoll, to take the doorbell out */
	shmrt_pipe_t p;              /* end 0 */
	shmrt_pipe_t p1;             /* end 1, held until the client adopted it */
	int held1;                   /* p1 still held */
	struct shmrt__shm_ctl *ctl;
	conn_t *c;
	uint8_t *rx;                 /* the last ring message: rx[off, len) not yet fed */
	size_t off, len;
	struct shmrt__shmchan *prev, *next;
};

struct shmrt__shmsrv {
	struct shmrt__shmchan *chans;
	size_t n;
	int first_run;               /* turns in a row that skipped epoll */
	int shared;                  /* a client seems to share our core: no spin */
	uint64_t spun_at;            /* when the last fruitless spin ended; 0: none */
};

int shmrt__shmchan_is_request(const shmrt_mv_t *req)
{
	const char *op;
	size_t n;
	return shmrt_mv_list_len(req) == 3 &&
	       shmrt_mv_as_str(shmrt_mv_list_get(req, 1), &op, &n) == 0 && n == 3 &&
	       memcmp(op, "shm", 3) == 0;
}

/* The server's channel state, made at the first channel. */
static int srv_state(server_t *s)
{
	if (s->shm)
		return 0;
	struct shmrt__shmsrv *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	s->shm = h;
	return 0;
}

/* A reply [id, rc, res] (res consumed; NULL: nil) into *out. */
static int make_reply(int64_t id, int rc, shmrt_mv_t *res, shmrt_mv_t **out)
{
	shmrt_mv_t *l = shmrt_mv_list_cap(3);
	if (!l || shmrt_mv_list_append(l, shmrt_mv_int(id)) ||
	    shmrt_mv_list_append(l, shmrt_mv_int(rc)) ||
	    shmrt_mv_list_append(l, res ? res : shmrt_mv_nil())) {
		if (!l || shmrt_mv_list_len(l) < 2)
			shmrt_mv_free(res);
		shmrt_mv_free(l);
		return -ENOMEM;
	}
	*out = l;
	return 0;
}

/* Why c may not have a channel (a negative errno), or 0. */
static int refusal(server_t *s, conn_t *c, const shmrt_mv_t *req)
{
	const shmrt_mv_t *args = shmrt_mv_list_get(req, 2);
	int64_t pid, spid;
	if (shmrt_mv_list_len(args) != 2 || shmrt_mv_as_int(shmrt_mv_list_get(args, 0), &pid) ||
	    shmrt_mv_as_int(shmrt_mv_list_get(args, 1), &spid))
		return -EINVAL;
	if (c->shm)
		return -EALREADY;
	int dom = 0;
	socklen_t dl = sizeof(dom);
	if (getsockopt(c->fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) || dom != AF_UNIX)
		return -EOPNOTSUPP;
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) || cr.pid <= 0 ||
	    (int64_t)cr.pid != pid)
		return -EOPNOTSUPP; /* another PID namespace (or a lie) */
	if (spid != (int64_t)getpid())
		return -EOPNOTSUPP; /* the client sees us under another pid */
	/* Nothing in flight either way: the client waits for this reply, and what it
	 * sent or we queued before belongs to the socket. */
	if (shmrt__frame_queued(&c->w) || shmrt__frame_buffered(&c->r) || c->sess.nwaits)
		return -EBUSY;
	/* Descriptors: channels may hold half of our limit, so that sockets keep the
	 * rest; past it a client stays on its socket (an exhausted table would refuse
	 * every new connection). */
	struct rlimit rl;
	size_t chans = s->shm ? s->shm->n : 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (chans + 1) * CHAN_FDS > rl.rlim_cur / 2)
		return -EMFILE;
	return 0;
}

/*
 * The doorbell of a new channel: an eventfd of its own (one shared by every client
 * would let any of them drain it, with a read between another client's write and
 * the server's epoll_wait, and so leave that client's request unserved while the
 * server sleeps). Edge-triggered and never drained: each write of the client is an
 * edge that wakes the loop, and the counter (2^64 - 2 writes) never fills; a client
 * that reads or fills its own counter loses only its own wake-ups.
 */
static int chan_doorbell(server_t *s, struct shmrt__shmchan *ch)
{
	ch->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ch->evfd < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = SHMRT__SHM_TAG };
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, ch->evfd, &ev)) {
		int rc = -errno;
		close(ch->evfd);
		ch->evfd = -1;
		return rc;
	}
	ch->ep = s->ep;
	return 0;
}

/* The region, control block and Pipe of a new channel. */
static int chan_make(struct shmrt__shmchan *ch)
{
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.backing = SHMRT_BACKING_MEMFD;
	o.size = 8u << 20; /* two rings of 2 MiB and the region's own tables */
	o.max_objects = 8;
	o.max_threads = 16;
	int rc = shmrt_region_open(NULL, SHMRT_O_CREATE, &o, &ch->r);
	if (rc)
		return rc;
	/* The client gets the memfd read-write: sealed against shrinking, or its
	 * ftruncate would make our next touch of the control block or a ring a SIGBUS
	 * (the server's death, under every client). Growing it or writing garbage in it
	 * harms only that client's channel. */
	if (fcntl(shmrt_region_fd(ch->r), F_ADD_SEALS, F_SEAL_SHRINK)) {
		rc = -errno;
		(void)shmrt_region_close(ch->r);
		ch->r = NULL;
		return rc;
	}
	shmrt_object_info_t info;
	rc = shmrt_object_open(ch->r, SHMRT__SHM_CTL, SHMRT_O_CREATE | SHMRT_O_EXCL,
			       SHMRT_TYPE_BYTES, sizeof(struct shmrt__shm_ctl), NULL, &info);
	if (rc == 0) {
		ch->ctl = shmrt_ptr(ch->r, info.off);
		ch->ctl->capacity = SHMRT__SHM_CAPACITY;
		ch->ctl->max_msg = SHMRT__SHM_MAX_MSG;
		ch->ctl->version = SHMRT__SHM_VERSION;
		/* Relaxed: published to the client by the socket's sendmsg (a system call
		 * between the stores and its recvmsg). */
		store_relaxed(&ch->ctl->magic, SHMRT__SHM_MAGIC);
		rc = shmrt_pipe_pair(ch->r, SHMRT__SHM_PIPE, SHMRT__SHM_CAPACITY,
				     SHMRT__SHM_MAX_MSG, &ch->p, &ch->p1);
		ch->held1 = rc == 0;
	}
	if (rc) {
		(void)shmrt_region_close(ch->r);
		ch->r = NULL;
	}
	return rc;
}

/* Sends the frame of reply with the descriptors fds[0, SHMRT__SHM_NFDS) attached. The
 * socket is empty of our bytes (refusal checked it) and the reply is small: it goes
 * whole, or the connection goes. */
static int send_with_fds(int sock, const shmrt_mv_t *reply, const int *fds)
{
	shmrt_mv_buf_t b;
	shmrt_mv_buf_init(&b);
	int rc = shmrt_mv_encode(reply, &b);
	if (rc) {
		shmrt_mv_buf_free(&b);
		return rc;
	}
	uint8_t hdr[SHMRT__FRAME_HDR_MAX];
	struct iovec iov[2] = { { hdr, shmrt__frame_header(b.len, hdr) }, { b.data, b.len } };
	union {
		char buf[CMSG_SPACE(SHMRT__SHM_NFDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(SHMRT__SHM_NFDS * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, SHMRT__SHM_NFDS * sizeof(int));
	ssize_t k;
	do
		k = sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (k < 0 && errno == EINTR);
	size_t want = iov[0].iov_len + iov[1].iov_len;
	shmrt_mv_buf_free(&b);
	if (k < 0)
		return -errno;
	return (size_t)k == want ? 0 : -ENOBUFS;
}

/* Closes a channel's ends and region, and frees it. Nothing here waits for a lock
 * in the region: the client maps it read-write and may hold its robust locks (the
 * directory's, the life lock) for as long as it lives, so the Pipe is closed without
 * its removal from the directory and the region is abandoned, not detached (its
 * memory goes with the last descriptor; our registry slot in it with it). */
static void chan_free(struct shmrt__shmchan *ch)
{
	if (ch->held1)
		shmrt__pipe_close_keep(&ch->p1);
	shmrt__pipe_close_keep(&ch->p); /* the client's next look at its ring: -EPIPE */
	if (ch->ctl) { /* a client asleep waiting for a reply looks now */
		store_relaxed(&ch->ctl->cli_wait, 0);
		shmrt__futex_wake(&ch->ctl->cli_wait, 1);
	}
	if (ch->evfd >= 0) { /* out of epoll now: the client may keep its copy open */
		(void)epoll_ctl(ch->ep, EPOLL_CTL_DEL, ch->evfd, NULL);
		close(ch->evfd);
	}
	if (ch->r)
		(void)shmrt__region_abandon(ch->r);
	free(ch->rx);
	free(ch);
}

int shmrt__shmchan_open(server_t *s, conn_t *c, const shmrt_mv_t *req, shmrt_mv_t **reply)
{
	int64_t id;
	*reply = NULL;
	if (shmrt_mv_as_int(shmrt_mv_list_get(req, 0), &id))
		return make_reply(0, -EINVAL, NULL, reply);
	int why = refusal(s, c, req);
	if (why)
		return make_reply(id, why, NULL, reply);
	struct shmrt__shmchan *ch = calloc(1, sizeof(*ch));
	if (ch)
		ch->evfd = -1;
	int rc = ch ? srv_state(s) : -ENOMEM;
	if (rc == 0 && !(ch->rx = malloc(SHMRT__SHM_MAX_MSG)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = chan_make(ch);
	if (rc == 0 && (rc = chan_doorbell(s, ch)) != 0)
		chan_free(ch), ch = NULL;
	if (rc) {
		if (ch)
			free(ch->rx);
		free(ch);
		return make_reply(id, rc, NULL, reply);
	}
	shmrt_mv_t *res = shmrt_mv_map_cap(4), *ok = NULL;
	if (!res || shmrt_mv_map_set(res, shmrt_mv_str("pid"), shmrt_mv_int(getpid())) ||
	    shmrt_mv_map_set(res, shmrt_mv_str("version"), shmrt_mv_int(SHMRT__SHM_VERSION)) ||
	    shmrt_mv_map_set(res, shmrt_mv_str("capacity"), shmrt_mv_int(SHMRT__SHM_CAPACITY)) ||
	    shmrt_mv_map_set(res, shmrt_mv_str("max_msg"), shmrt_mv_int(SHMRT__SHM_MAX_MSG)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = make_reply(id, 0, res, &ok);
	else
		shmrt_mv_free(res);
	int fds[SHMRT__SHM_NFDS] = { shmrt_region_fd(ch->r), ch->evfd };
	if (rc == 0)
		rc = shmrt_pipe_fds(&ch->p1, fds + 2);
	if (rc == 0) {
		rc = send_with_fds(c->fd, ok, fds);
		shmrt_mv_free(ok);
		if (rc) { /* the socket took none or part of it: the connection goes */
			chan_free(ch);
			return rc;
		}
	} else {
		shmrt_mv_free(ok);
	}
	if (rc) {
		chan_free(ch);
		return make_reply(id, rc, NULL, reply);
	}
	ch->c = c;
	c->shm = ch;
	ch->next = s->shm->chans;
	if (ch->next)
		ch->next->prev = ch;
	s->shm->chans = ch;
	s->shm->n++;
	/* The frame reader's cap stays the server's; the frame timer keeps counting. */
	return 0;
}

/* D4: after a message went into the client's ring, wakes the client if it sleeps. */
static void wake_client(struct shmrt__shmchan *ch)
{
	fence_seq_cst(); /* D4: pairs with the client's D3 fence */
	if (load_relaxed(&ch->ctl->cli_wait)) { /* after the fence */
		store_relaxed(&ch->ctl->cli_wait, 0); /* a client about to sleep sees it */
		shmrt__futex_wake(&ch->ctl->cli_wait, 1);
	}
}

int shmrt__shmchan_flush(server_t *s, conn_t *c)
{
	(void)s;
	struct shmrt__shmchan *ch = c->shm;
	shmrt__frame_writer_t *w = &c->w;
	while (w->tail > w->head) {
		size_t n = w->tail - w->head;
		if (n > SHMRT__SHM_MAX_MSG)
			n = SHMRT__SHM_MAX_MSG;
		int rc = shmrt_pipe_send(&ch->p, w->buf + w->head, n, 0);
		if (rc == -EAGAIN)
			return 0; /* the ring is full: the rest stays queued (and counted) */
		if (rc)
			return rc;
		w->head += n;
		wake_client(ch);
	}
	w->head = w->tail = 0;
	if (w->cap > KEEP_MAX)
		shmrt__frame_writer_fini(w);
	return 0;
}

void shmrt__shmchan_sock_event(server_t *s, conn_t *c, uint32_t events)
{
	if (c->doomed)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		/* After the upgrade the client writes nothing on its socket: any byte, its
		 * end or an error ends the connection. */
		shmrt__msrv_conn_close(s, c);
	}
}

void shmrt__shmchan_close(server_t *s, conn_t *c)
{
	struct shmrt__shmchan *ch = c->shm;
	if (!ch)
		return;
	if (ch->prev)
		ch->prev->next = ch->next;
	else
		s->shm->chans = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
	s->shm->n--;
	c->shm = NULL;
	chan_free(ch);
}

/* Feeds the rest of c's last ring message to its frame reader and runs the frames it
 * completes, until *frames reaches CHAN_FRAMES (the rest waits for the next pass).
 * Returns 0, or an error that drops c. */
static int feed(server_t *s, conn_t *c, struct shmrt__shmchan *ch, int *frames, int *done)
{
	while (ch->off < ch->len && *frames < CHAN_FRAMES) {
		size_t used = 0;
		int rc = shmrt__frame_feed(&c->r, ch->rx + ch->off, ch->len - ch->off, &used);
		ch->off += used;
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		size_t fn;
		const uint8_t *f = shmrt__frame_data(&c->r, &fn);
		rc = shmrt__msrv_frame(s, c, f ? f : (const uint8_t *)"", fn);
		shmrt__frame_next(&c->r);
		*done = 1;
		++*frames;
		if (rc)
			return rc;
		if (c->doomed)
			return 0; /* closed after this pass; the rest is moot */
	}
	return 0;
}

/* Serves one channel. Returns 1 if it did anything. */
static int chan_serve(server_t *s, conn_t *c)
{
	struct shmrt__shmchan *ch = c->shm;
	size_t before = shmrt__frame_queued(&c->w);
	int rc = before ? shmrt__shmchan_flush(s, c) : 0;
	int busy = shmrt__frame_queued(&c->w) != before, done = 0, frames = 0;
	if (rc == 0 && ch->off < ch->len) { /* what the last pass left of its message */
		busy = 1;
		rc = feed(s, c, ch, &frames, &done);
	}
	for (int k = 0; rc == 0 && k < CHAN_MSGS && frames < CHAN_FRAMES && !c->doomed; k++) {
		size_t n;
		rc = shmrt_pipe_recv(&ch->p, ch->rx, SHMRT__SHM_MAX_MSG, &n, 0);
		if (rc == -EAGAIN) {
			rc = 0;
			break;
		}
		if (rc == 0) {
			busy = 1;
			if (ch->held1) { /* the client adopted end 1: its liveness is its own */
				shmrt__pipe_close_keep(&ch->p1);
				ch->held1 = 0;
			}
			ch->off = 0;
			ch->len = n;
			rc = feed(s, c, ch, &frames, &done);
		}
	}
	if (rc == 0 && !c->doomed)
		rc = shmrt__shmchan_flush(s, c);
	if (rc) {
		/* the client closed its end (-EPIPE), a frame was malformed or too big,
		 * its replies passed the limit: it goes, as a socket's would */
		shmrt__msrv_conn_close(s, c);
		return 1;
	}
	if (!c->doomed) {
		shmrt__msrv_account(s, c);
		shmrt__msrv_pf_update(s, c, done);
	}
	return busy;
}

int shmrt__shmsrv_poll(server_t *s)
{
	if (!s->shm)
		return 0;
	int busy = 0;
	for (struct shmrt__shmchan *ch = s->shm->chans, *nx; ch; ch = nx) {
		nx = ch->next; /* chan_serve may close ch's connection, never another */
		busy |= chan_serve(s, ch->c);
	}
	return busy;
}

/* Whether some channel has bytes to feed: the rest of a message cut by the frame
 * budget, or a message in its receive ring (or its end closed). */
static int any_ready(server_t *s)
{
	for (struct shmrt__shmchan *ch = s->shm->chans; ch; ch = ch->next)
		if (ch->off < ch->len || shmrt_pipe_poll(&ch->p, 0) == 0)
			return 1;
	return 0;
}

int shmrt__shmsrv_first(server_t *s)
{
	if (!s->shm || !s->shm->chans)
		return 0;
	if (s->shm->first_run < FIRST_RUN_MAX && shmrt__shmsrv_spin(s)) {
		s->shm->first_run++;
		return 1;
	}
	s->shm->first_run = 0;
	return 0;
}

/*
 * The spin pays while the clients run on other cores. When one shares ours (another
 * program holds the other core), the request comes only once we give the core away:
 * every spin then costs its whole slice, and a call two of them. The sign is a
 * request found at the first look of a spin that came after a switch (the loop's
 * yield or epoll took over SWITCH_NS: another task ran here); then the next spins
 * take one look only, until a request is found without a switch before it.
 */
int shmrt__shmsrv_spin(server_t *s)
{
	struct shmrt__shmsrv *h = s->shm;
	if (!h || !h->chans)
		return 0;
	uint64_t t0 = mono_ns(), end = t0 + SPIN_SLICE_NS;
	int switched = h->spun_at && t0 - h->spun_at > SWITCH_NS;
	for (int i = 1;; i++) {
		if (any_ready(s)) {
			h->shared = i == 1 && switched; /* found by spinning, or while we
							 * ran: the client has a core */
			h->spun_at = 0;
			return 1;
		}
		if (h->shared)
			break;
		cpu_relax();
		if (i % SPIN_LOOKS == 0 && mono_ns() >= end) /* the clock only now and then */
			break;
	}
	h->spun_at = mono_ns();
	return 0;
}

int shmrt__shmsrv_sleep(server_t *s, int *ms)
{
	if (!s->shm || !s->shm->chans)
		return 0;
	int waiting_room = 0;
	for (struct shmrt__shmchan *ch = s->shm->chans; ch; ch = ch->next) {
		/* D1: the announcement, ordered before the look below by the fence */
		store_relaxed(&ch->ctl->srv_sleeping, 1);
		waiting_room |= shmrt__frame_queued(&ch->c->w) != 0;
	}
	fence_seq_cst(); /* D1: pairs with the fence of a client's D2 */
	if (any_ready(s)) {
		shmrt__shmsrv_awake(s);
		return 1;
	}
	if (waiting_room && (*ms < 0 || *ms > 1))
		*ms = 1; /* replies wait for room: a reader does not tell us */
	return 0;
}

void shmrt__shmsrv_awake(server_t *s)
{
	if (!s->shm)
		return;
	for (struct shmrt__shmchan *ch = s->shm->chans; ch; ch = ch->next)
		store_relaxed(&ch->ctl->srv_sleeping, 0); /* relaxed: at worst one ring more */
}

void shmrt__shmsrv_doorbell(server_t *s)
{
	(void)s; /* edge-triggered, never drained (chan_doorbell): the wake-up was all */
}

void shmrt__shmsrv_fini(server_t *s)
{
	struct shmrt__shmsrv *h = s->shm;
	if (!h)
		return;
	while (h->chans)
		shmrt__shmchan_close(s, h->chans->c);
	free(h);
	s->shm = NULL;
}
