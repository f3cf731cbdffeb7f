/*
 * The server's TLS (server_int.h): its context, the listen policy, and the TLS
 * handshake of each connection inside the one-thread epoll loop (manager/server.c).
 *
 * Policy. With opts.tls_cert_file and tls_key_file, every TCP listener speaks TLS
 * 1.3 (manager/tls.c); Unix listeners never do (the peer is a process of the same
 * user, checked by SO_PEERCRED). A TCP listener whose bound address is not loopback
 * (only SHMRT_MANAGER_ANY_HOST gets one) is refused with -EPERM unless TLS is on or
 * the caller said SHMRT_MANAGER_INSECURE_NO_TLS: an authkey alone protects the
 * handshake's MAC, not the calls after it, which anyone on the path could read and
 * forge.
 *
 * A connection's life. Accepted on a TLS listener, a connection gets a stream and
 * starts in the TLS handshake (c->tls_hs): it is on the handshake list from accept,
 * so the TLS handshake counts against auth_timeout and max_handshakes exactly as
 * the authkey's does (a client silent in either is dropped at the same deadline,
 * and an oldest handshake is dropped to admit a newcomer at the cap). The authkey's
 * challenge, made at accept, is queued (not sent) until the TLS handshake ends; then
 * it goes out through the stream and everything above (frames, the authkey's
 * handshake, requests) runs as over a plain socket, the frame reader and writer
 * going through the stream's io (frame.h).
 *
 * Events. While the TLS handshake runs, epoll watches what it waits for (EPOLLIN, or
 * EPOLLOUT while a flight does not fit the socket). After it, a read may wait for
 * the socket to be writable (a record it must send first) and a write for it to be
 * readable: shmrt__msrv_tls_want_out and shmrt__msrv_tls_event map those onto the
 * epoll interest and the events served, so neither direction stalls behind the
 * other. Bytes decrypted and not yet read sit in the stream, invisible to epoll:
 * the frame reader counts them as read ahead (shmrt__frame_buffered), and the loop's
 * pending mark serves them as it serves its own read-ahead.
 *
 * A failed handshake (another CA's certificate, TLS 1.2, a peer that is not TLS)
 * closes that connection only; the server goes on.
 */
#define _GNU_SOURCE
#include "manager/server_int.h"
#include "manager/tls_int.h"

#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>

int shmrt__msrv_tls_init(shmrt__msrv_t *s)
{
	const shmrt_manager_opts_t *o = s->o;
	if (!o->tls_cert_file && !o->tls_key_file)
		return o->tls_ca_file ? -EINVAL : 0;
	return shmrt__tls_server_ctx(o->tls_cert_file, o->tls_key_file, o->tls_ca_file, &s->tls,
				     NULL);
}

void shmrt__msrv_tls_fini(shmrt__msrv_t *s)
{
	shmrt__tls_ctx_free(s->tls);
	s->tls = NULL;
}

int shmrt__msrv_tls_listen_check(shmrt__msrv_t *s, const shmrt__listener_t *l)
{
	if (l->addr.kind != SHMRT__ADDR_TCP || s->tls ||
	    (s->o->flags & SHMRT_MANAGER_INSECURE_NO_TLS))
		return 0;
	int lo = shmrt__tls_fd_loopback(l->fd);
	return lo == 1 ? 0 : lo < 0 ? lo : -EPERM;
}

int shmrt__msrv_tls_accept(shmrt__msrv_t *s, shmrt__mconn_t *c, const shmrt__listener_t *l)
{
	if (!s->tls || l->addr.kind != SHMRT__ADDR_TCP)
		return 0;
	int rc = shmrt__tls_new(s->tls, c->fd, &c->tls);
	if (rc)
		return rc;
	c->r.io = c->w.io = shmrt__tls_io(c->tls);
	c->tls_hs = 1;
	return 0;
}

int shmrt__msrv_tls_want_out(const shmrt__mconn_t *c, int queued)
{
	if (c->tls_hs)
		return shmrt__tls_want(c->tls) == POLLOUT;
	return (queued && !shmrt__tls_write_wants_in(c->tls)) || shmrt__tls_read_wants_out(c->tls);
}

/* Sets c's epoll interest to EPOLLIN, and EPOLLOUT if out. Returns 0 or -errno. */
static int interest(shmrt__msrv_t *s, shmrt__mconn_t *c, int out)
{
	if (out == c->want_out)
		return 0;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0),
				  .data.ptr = c };
	if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev))
		return -errno;
	c->want_out = out;
	return 0;
}

int shmrt__msrv_tls_event(shmrt__msrv_t *s, shmrt__mconn_t *c, uint32_t *events)
{
	if (c->tls_hs) {
		int rc = shmrt__tls_handshake(c->tls);
		if (rc == -EAGAIN) {
			rc = interest(s, c, shmrt__tls_want(c->tls) == POLLOUT);
			return rc ? rc : 1;
		}
		if (rc)
			return rc;
		c->tls_hs = 0;
		/* Send the queued challenge; read what came with the client's Finished. */
		*events |= EPOLLIN | EPOLLOUT;
		return 0;
	}
	if ((*events & EPOLLOUT) && shmrt__tls_read_wants_out(c->tls))
		*events |= EPOLLIN;
	if ((*events & EPOLLIN) && shmrt__tls_write_wants_in(c->tls) &&
	    shmrt__frame_queued(&c->w))
		*events |= EPOLLOUT;
	return 0;
}
