/*
 * The Manager's shared-memory channel, the client's side (manager/shmchan_int.h
 * describes the protocol; manager/shmchan.c the server's side).
 *
 * Opening, right after the handshake and hello of a Unix socket whose connection
 * asked for it (SHMRT_MANAGER_CONNECT_SHM, or SHMRT_MANAGER_SHM=1 in the
 * environment): the client sends [id, "shm", [its pid, the server's pid as the
 * kernel reports it for the socket]] and reads the reply with recvmsg, which brings
 * the region's and the doorbell's descriptors. The server compares both pids with
 * its own view, so the two processes see each other's pids alike (one PID namespace:
 * the Pipe's liveness checks depend on it); a server that refuses (or knows no
 * "shm": an older one, -ENOSYS) leaves the connection on its socket, unchanged.
 *
 * Then a call is the same as on the socket (client.c): its frame is queued in the
 * connection's writer and written, as a stream, into the Pipe in messages of at most
 * max_msg bytes (a request larger than that is cut into several, and the server's
 * frame reader joins them: no size limit of its own, order kept); after each message
 * a fence and a look at the server's sleeping word (D2) decide whether to ring the
 * doorbell. The reply is read from the Pipe; the messages' bytes are fed to the connection's frame reader, which cuts the frames
 * as from a socket. Timeouts and cancels are client.c's: a send that times out keeps
 * the rest of its frame queued, to go first next time.
 *
 * Waiting for a reply: the ring is polled (SPIN_RECV_NS, no system call), then the
 * client sleeps on its control block's futex word (D3 in shmchan_int.h), in slices
 * of GONE_CHECK_NS between which it polls its socket: the server's death closes the
 * socket, so a waiting call sees it within about 50 ms (-EPIPE). The client adopts
 * end 1 of the Pipe pair (shmrt_pipe_adopt): a send that waits for room in a full
 * ring sees a dead server through the Pipe's own liveness (the kernel's, as between
 * forked processes). A server that drops the
 * connection closes its end: -EPIPE at once. The socket stays open: the server sees
 * this client's death as its hang-up.
 *
 * Concurrency: one thread per connection, as client.c.
 */
#define _GNU_SOURCE
#include "manager/client_int.h"
#include "manager/shmchan_int.h"

#include "base/futex.h"
#include "base/atomic.h"
#include "base/clock.h"
#include "base/cpu.h"
#include "manager/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SPIN_RECV_NS 50000ull
#define SPIN_POLLS 64         /* looks at the ring between two clock reads (about 2 us) */
#define SPIN_SLICE_NS 20000ull /* polling between two yields (see spin_recv) */
#define ROBBED_NS 200000ull   /* a yield that took longer gave our core away */
#define SWITCH_NS 5000ull     /* a yield that took longer let another task run here */
/* A sleeping client's look at its socket for the server's end (a killed server's
 * socket hangs up when the kernel closes it). */
#define GONE_CHECK_NS 50000000ull

struct shmrt__cshm {
	shmrt_region_t *r;
	shmrt_pipe_t p;              /* end 1 */
	struct shmrt__shm_ctl *ctl;
	int evfd;                    /* our doorbell (the server wakes on its writes) */
	uint32_t max_msg;
	int shared;                  /* the server seems to share our core (spin_recv) */
	uint8_t *rx;                 /* the last ring message: rx[off, len) not yet fed */
	size_t off, len;
};

/* What is left of the deadline as a Pipe timeout (negative: none). */
static shmrt_ns_t left_of(uint64_t deadline)
{
	if (deadline == SHMRT_NO_DEADLINE)
		return -1;
	uint64_t now = mono_ns();
	return deadline > now ? (shmrt_ns_t)(deadline - now) : 0;
}

/* The request [id, "shm", [pid, server_pid]] into b. */
static int encode_open(shmrt_mv_buf_t *b, int64_t id, pid_t server_pid)
{
	shmrt_mv_t *req = shmrt_mv_list_cap(3), *args = shmrt_mv_list_cap(2);
	int rc = req && args ? 0 : -ENOMEM;
	if (rc == 0 && (shmrt_mv_list_append(args, shmrt_mv_int(getpid())) ||
			shmrt_mv_list_append(args, shmrt_mv_int(server_pid))))
		rc = -ENOMEM;
	if (rc == 0 && (shmrt_mv_list_append(req, shmrt_mv_int(id)) ||
			shmrt_mv_list_append(req, shmrt_mv_str("shm"))))
		rc = -ENOMEM;
	if (rc == 0) {
		rc = shmrt_mv_list_append(req, args) ? -ENOMEM : 0;
		args = NULL;
	}
	b->len = 0;
	if (rc == 0)
		rc = shmrt_mv_encode(req, b);
	shmrt_mv_free(args);
	shmrt_mv_free(req);
	return rc;
}

/* Reads one reply frame from the socket with recvmsg, into r, keeping the
 * descriptors that come with it (at most SHMRT__SHM_NFDS; *nfds). Returns 1 or an
 * error. */
static int recv_reply(int fd, shmrt__frame_reader_t *r, int *fds, int *nfds, uint64_t deadline)
{
	uint8_t buf[512];
	for (;;) {
		union {
			char b[CMSG_SPACE((SHMRT__SHM_NFDS + 2) * sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
				    .msg_controllen = sizeof(u.b) };
		ssize_t k = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = shmrt__wait_fd(fd, POLLIN, deadline);
			if (rc)
				return rc;
			continue;
		}
		if (k < 0)
			return -errno;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < n; i++) {
				int f;
				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (*nfds < SHMRT__SHM_NFDS)
					fds[(*nfds)++] = f;
				else
					close(f);
			}
		}
		if ((m.msg_flags & MSG_CTRUNC) && *nfds < SHMRT__SHM_NFDS)
			return -EMFILE; /* the kernel could not install them all: our table is
					 * full (those it did are closed by the caller) */
		if (k == 0)
			return -EPIPE;
		size_t used = 0;
		int rc = shmrt__frame_feed(r, buf, (size_t)k, &used);
		if (rc < 0)
			return rc;
		if (rc == 1)
			return used == (size_t)k ? 1 : -EPROTO; /* nothing may follow it */
	}
}

/* The channel from the reply's result and descriptors. */
static int attach(shmrt_manager_conn_t *c, const shmrt_mv_t *res, int *fds)
{
	int64_t cap = 0, max_msg = 0, ver = 0;
	if (shmrt_mv_as_int(shmrt_mv_map_get_str(res, "capacity"), &cap) ||
	    shmrt_mv_as_int(shmrt_mv_map_get_str(res, "max_msg"), &max_msg) ||
	    shmrt_mv_as_int(shmrt_mv_map_get_str(res, "version"), &ver) ||
	    ver != SHMRT__SHM_VERSION || cap < 1 || cap > (1 << 24) || max_msg < 64 ||
	    max_msg > (16 << 20))
		return -EPROTO;
	struct shmrt__cshm *sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	sh->evfd = -1;
	sh->max_msg = (uint32_t)max_msg;
	sh->rx = malloc((size_t)max_msg);
	int rc = sh->rx ? shmrt_region_open_fd(fds[0], &sh->r) : -ENOMEM;
	shmrt_object_info_t info;
	if (rc == 0 && (rc = shmrt_object_lookup(sh->r, SHMRT__SHM_CTL, &info)) == 0) {
		sh->ctl = shmrt_ptr(sh->r, info.off);
		if (info.type != SHMRT_TYPE_BYTES || info.size < sizeof(*sh->ctl) ||
		    load_relaxed(&sh->ctl->magic) != SHMRT__SHM_MAGIC) /* relaxed: see shmchan.c */
			rc = -EPROTO;
	}
	if (rc == 0) { /* on success the three descriptors are the handle's */
		rc = shmrt_pipe_adopt(sh->r, SHMRT__SHM_PIPE, 1, (uint32_t)cap, (uint32_t)max_msg,
				      fds + 2, &sh->p);
		if (rc == 0)
			fds[2] = fds[3] = fds[4] = -1;
	}
	if (rc) {
		if (sh->r)
			(void)shmrt_region_close(sh->r);
		free(sh->rx);
		free(sh);
		return rc;
	}
	close(fds[0]); /* the region keeps its own */
	fds[0] = -1;
	sh->evfd = fds[1];
	fds[1] = -1;
	c->shm = sh;
	return 0;
}

/* Asks c's server for the channel (c's socket quiet: nothing outstanding either
 * way). Returns 0 (on the channel, or refused: on the socket, as it was), or a
 * transport error (the caller drops c). */
static int ask(shmrt_manager_conn_t *c, uint64_t deadline)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) || cr.pid <= 0)
		return 0; /* the server's pid is not visible here: another namespace */
	int64_t id = c->next_id++;
	int rc = encode_open(&c->buf, id, cr.pid);
	if (rc == 0)
		rc = shmrt__frame_send_wait(&c->w, c->fd, c->buf.data, c->buf.len, deadline);
	if (rc)
		return rc;
	int fds[SHMRT__SHM_NFDS] = { -1, -1, -1, -1, -1 }, nfds = 0;
	shmrt__frame_reader_t r;
	shmrt__frame_reader_init(&r, 4096);
	rc = recv_reply(c->fd, &r, fds, &nfds, deadline);
	shmrt_mv_t *reply = NULL;
	size_t n = 0;
	const uint8_t *p = rc == 1 ? shmrt__frame_data(&r, &n) : NULL;
	if (rc == 1) {
		shmrt_mv_limits_t lim = { .max_bytes = n ? n : 1 };
		rc = p ? shmrt_mv_decode(p, n, &lim, &reply) : -EPROTO;
	}
	shmrt__frame_reader_fini(&r);
	int64_t rid, rrc;
	if (rc == 0 && (shmrt_mv_list_len(reply) != 3 ||
			shmrt_mv_as_int(shmrt_mv_list_get(reply, 0), &rid) || rid != id ||
			shmrt_mv_as_int(shmrt_mv_list_get(reply, 1), &rrc)))
		rc = -EPROTO;
	if (rc == 0 && rrc == 0)
		rc = nfds == SHMRT__SHM_NFDS ? attach(c, shmrt_mv_list_get(reply, 2), fds) : -EPROTO;
	/* rrc < 0: refused (another namespace, an older server's -ENOSYS ...): the
	 * connection stays on its socket, as it was */
	shmrt_mv_free(reply);
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

int shmrt__client_shm_open(shmrt_manager_conn_t *c, uint64_t deadline)
{
	if (!(c->flags & SHMRT_MANAGER_CONNECT_SHM) || c->addr.kind != SHMRT__ADDR_UNIX)
		return 0;
	return ask(c, deadline);
}

/* Whether the process has n descriptors free (the channel's reply brings five, and
 * attaching duplicates the region's while they are open: six. A table without room
 * for them would break the connection, since the server has moved to the channel
 * when the kernel drops them). Another thread may take them before the reply comes:
 * then the call that asked fails with -EMFILE. */
static int fds_free(int fd, int n)
{
	int got[SHMRT__SHM_NFDS + 1], k = 0;
	while (k < n && (got[k] = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0)
		k++;
	for (int i = 0; i < k; i++)
		close(got[i]);
	return k == n;
}

/* The least time a call must have left for its connection to ask for the channel
 * first: the ask takes about 3.5 ms, and a call with less waits for a later one. */
#define ASK_MIN_NS 1000000000ull

/*
 * The default's channel (shmrt_manager_connect_flags): after SHMRT_MANAGER_SHM_AFTER_CALLS
 * calls, asked once, at the start of a call, within that call's deadline, so that
 * its failure is that call's. The request needs a quiet socket, since its reply is
 * read raw with its descriptors: a connection with bytes read ahead or queued, or a
 * call with less than ASK_MIN_NS left, waits for another call; one whose calls were
 * given up (late replies may come: client.c) never asks (shm_after 0).
 */
int shmrt__client_shm_due(shmrt_manager_conn_t *c, size_t n, uint64_t deadline)
{
	if (n < c->shm_after) {
		c->shm_after -= (uint32_t)n;
		return 0;
	}
	if (c->fd < 0 || c->shm || shmrt__frame_buffered(&c->r) || shmrt__frame_partial(&c->r) ||
	    shmrt__frame_queued(&c->w) ||
	    (deadline != SHMRT_NO_DEADLINE && deadline < mono_ns() + ASK_MIN_NS)) {
		c->shm_after = 1; /* not now: the next call */
		return 0;
	}
	c->shm_after = 0; /* once */
	if (!fds_free(c->fd, SHMRT__SHM_NFDS + 1))
		return 0;
	int rc = ask(c, deadline);
	if (rc) /* even a timeout: the reply may yet come, with the server on the channel */
		shmrt__client_drop(c);
	return rc;
}

void shmrt__client_shm_close(shmrt_manager_conn_t *c)
{
	struct shmrt__cshm *sh = c->shm;
	if (!sh)
		return;
	shmrt_pipe_close(&sh->p);
	(void)shmrt_region_close(sh->r);
	if (sh->evfd >= 0)
		close(sh->evfd);
	free(sh->rx);
	free(sh);
	c->shm = NULL;
}

/* D2: after a message went into the ring, wakes the server if it sleeps. */
static void ring_doorbell(struct shmrt__cshm *sh)
{
	fence_seq_cst(); /* D2: pairs with the fence after the server's announcement (D1) */
	if (load_relaxed(&sh->ctl->srv_sleeping)) { /* after the fence */
		uint64_t one = 1;
		if (write(sh->evfd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is full, so the server has a wake-up pending */
		}
	}
}

int shmrt__client_shm_flush(shmrt_manager_conn_t *c, uint64_t deadline)
{
	struct shmrt__cshm *sh = c->shm;
	shmrt__frame_writer_t *w = &c->w;
	while (w->tail > w->head) {
		size_t n = w->tail - w->head;
		if (n > sh->max_msg)
			n = sh->max_msg;
		int rc = shmrt_pipe_send(&sh->p, w->buf + w->head, n, 0);
		if (rc == -EAGAIN) { /* the ring is full: the server is behind */
			shmrt_ns_t left = left_of(deadline);
			rc = left == 0 ? -ETIMEDOUT : shmrt_pipe_send(&sh->p, w->buf + w->head, n, left);
		}
		if (rc == -EAGAIN)
			rc = -ETIMEDOUT;
		if (rc)
			return rc;
		w->head += n;
		ring_doorbell(sh);
	}
	w->head = w->tail = 0;
	return 0;
}

/*
 * Before sleeping: a reply takes the server a few microseconds, far less than a
 * futex sleep and wake-up (tens of microseconds on a VM). So poll the ring without a
 * system call, in slices of SPIN_SLICE_NS with a timed yield between them (a server
 * on our core runs), for up to SPIN_RECV_NS. The slice is long because a yield is
 * dear when the clients outnumber the cores: it hands the core to another client,
 * a switch (about 4 us on a VM) per call, where a client that keeps polling finds
 * its reply from a server on the other core within a few microseconds and sends its
 * next call at once (mixed90/4clients/shm, two cores: 2 us slices 153-171k calls/s,
 * 20 us 328-365k, alternated). A server found sharing our core (its reply came at
 * the first look after a yield that switched) gets the core at once next time,
 * until a reply is found without a switch before it; not at all while strangers
 * crowd the machine (shmrt__spin_now: a recent yield of ours was robbed), and no
 * further once a yield of this wait was robbed (ROBBED_NS), where a poll only holds
 * a core that the server may need. Returns as shmrt_pipe_recv with timeout 0.
 */
static int spin_recv(struct shmrt__cshm *sh, size_t *n, uint64_t deadline)
{
	uint64_t spin = shmrt__spin_now();
	if (!spin)
		return -EAGAIN;
	uint64_t end = mono_ns() + (spin < SPIN_RECV_NS ? spin : SPIN_RECV_NS);
	if (end > deadline)
		end = deadline;
	int switched = 0; /* the last yield let another task run here */
	for (int r = 0;; r++) {
		/* The server shares our core (its reply came only after we gave the core
		 * away, last time): give it at once rather than poll first. */
		int at_once = r == 0 && sh->shared;
		uint64_t slice_end = mono_ns() + SPIN_SLICE_NS;
		if (slice_end > end)
			slice_end = end;
		for (unsigned i = 0;; i++) {
			int rc = shmrt_pipe_recv(&sh->p, sh->rx, sh->max_msg, n, 0);
			if (rc != -EAGAIN) {
				sh->shared = i == 0 && switched;
				return rc;
			}
			cpu_relax();
			if (at_once || ((i + 1) % SPIN_POLLS == 0 && mono_ns() >= slice_end))
				break;
		}
		uint64_t t0 = mono_ns();
		if (t0 >= end)
			return -EAGAIN;
		shmrt__spin_yield();
		uint64_t dt = mono_ns() - t0;
		if (dt > ROBBED_NS)
			return -EAGAIN;
		switched = dt > SWITCH_NS;
	}
}

/* Whether the server's end of the socket hung up (it closed it, or died). */
static int server_gone(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLRDHUP };
	return poll(&pf, 1, 0) == 1 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Sleeps until a reply message comes (D3), the deadline, or the server's end: as
 * shmrt_pipe_recv, with -ETIMEDOUT and -EPIPE. */
static int sleep_recv(shmrt_manager_conn_t *c, struct shmrt__cshm *sh, size_t *n,
		      uint64_t deadline)
{
	uint32_t *w = &sh->ctl->cli_wait;
	for (;;) {
		store_relaxed(w, 1); /* D3: the announcement, ordered by the fence */
		fence_seq_cst();     /* D3: pairs with the server's D4 fence */
		int rc = shmrt_pipe_recv(&sh->p, sh->rx, sh->max_msg, n, 0);
		if (rc != -EAGAIN) {
			store_relaxed(w, 0);
			return rc;
		}
		uint64_t now = mono_ns();
		if (now >= deadline) {
			store_relaxed(w, 0);
			return -ETIMEDOUT;
		}
		uint64_t d = deadline - now > GONE_CHECK_NS ? now + GONE_CHECK_NS : deadline;
		(void)shmrt__futex_wait(w, 1, d);
		/* Woken by a reply (D4: it was in the ring before the wake), most often: no
		 * look at the socket then. */
		rc = shmrt_pipe_recv(&sh->p, sh->rx, sh->max_msg, n, 0);
		if (rc != -EAGAIN) {
			store_relaxed(w, 0);
			return rc;
		}
		if (server_gone(c->fd)) {
			store_relaxed(w, 0);
			rc = shmrt_pipe_recv(&sh->p, sh->rx, sh->max_msg, n, 0);
			return rc == -EAGAIN ? -EPIPE : rc; /* what it sent before, then -EPIPE */
		}
	}
}

int shmrt__client_shm_read(shmrt_manager_conn_t *c, uint64_t deadline)
{
	struct shmrt__cshm *sh = c->shm;
	for (;;) {
		if (sh->off < sh->len) {
			size_t used = 0;
			int rc = shmrt__frame_feed(&c->r, sh->rx + sh->off, sh->len - sh->off, &used);
			sh->off += used;
			if (rc)
				return rc; /* 1: a frame; or the reader's error */
			continue;
		}
		size_t n = 0;
		int rc = shmrt_pipe_recv(&sh->p, sh->rx, sh->max_msg, &n, 0);
		if (rc == -EAGAIN)
			rc = spin_recv(sh, &n, deadline);
		if (rc == -EAGAIN)
			rc = sleep_recv(c, sh, &n, deadline);
		if (rc == -EMSGSIZE || rc == -EBADMSG)
			rc = -EPROTO; /* longer than the server said: broken */
		if (rc)
			return rc;
		sh->off = 0;
		sh->len = n;
	}
}
