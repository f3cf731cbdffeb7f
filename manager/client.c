/*
 * The manager's client: a blocking connection and proxies (shmrt/manager.h).
 *
 * A connection is a non-blocking socket (manager/transport.h) that has passed the
 * handshake (shmrt__auth_run), a frame reader and writer (manager/frame.h), and a
 * request counter. A call encodes [id, op, args], sends it (waiting with poll until
 * the deadline) and reads frames until the reply that carries its id: a reply with
 * another id is that of an earlier call that timed out, and is discarded, so a late
 * reply never lands on the wrong call. A timeout leaves the connection usable: the
 * writer keeps the unsent part of the frame and sends it first next time, the reader
 * keeps a partial reply, so the stream's framing survives. A closed or reset socket,
 * or a reply that does not decode, breaks the connection: that call returns the
 * error (-EPIPE, -ECONNRESET, -EPROTO...), later ones -ENOTCONN, until
 * shmrt_manager_reconnect.
 *
 * The common shapes take a short cut past the value trees: a method call's request
 * [id, "call", [ref, method, args]] is written as bytes up to its args, whose
 * encoding follows (call_head), and a reply's [id, rc, result] has its two ints read
 * from the bytes, only the result being decoded (reply_fast). Both give the bytes,
 * and the values, that the general path gives; anything out of the common shape (a
 * long or non-ASCII method name, an int in an unexpected form) takes the general
 * path, which also says what is wrong with a bad reply.
 *
 * Timeouts cancel. A call whose deadline passes sends "cancel [its id]" and waits up
 * to CANCEL_GRACE_NS more. The server runs a connection's requests in order and
 * answers in that order (but for parked calls, answered when they end), so exactly
 * one of two things comes first: the call's own reply (it ran, or was handed its
 * lock or item, before the cancel arrived: its result is returned) or the cancel's
 * (the server dropped the parked call unanswered: nothing happened, -ETIMEDOUT). A
 * batch cancels all its calls still without a reply in one request. A reply to a
 * call that was given up (a server silent through the grace too) is discarded by id.
 *
 * Generations. Each socket conn_open makes counts one generation (conn->gen); a
 * proxy keeps the generation it was made in. Its references live in the server's
 * session of that socket, which ended with it, so a proxy of an older generation
 * is stale whatever server the connection reaches now: its calls return -ESTALE
 * without a request, and its release only frees it (a release sent on the new
 * socket would drop a reference that belongs to another proxy). At connect the
 * client asks "hello" for the server run's id (shmrt_manager_instance).
 *
 * Replies are read with limits taken from the reply itself: the frame reader's cap
 * only guards against a broken length (the server's max_frame decides what comes),
 * the decoder allows as many values as the frame has bytes and trees as deep as
 * SHMRT_MV_DEPTH_MAX, so any reply the server can encode is read (requests stay
 * capped at 16 MiB, the server's default).
 *
 * TLS (shmrt_manager_connect_tls, manager/tls.c): the connection keeps a TLS
 * context, and each socket conn_open makes a stream of it, handshaken before the
 * authkey's handshake; the reader and writer then go through the stream's io
 * (frame.h), and nothing else here changes.
 *
 * A dead server: the kernel closes its sockets, so a waiting call sees the end of
 * the stream at once (-EPIPE, or -ECONNRESET if it had unread bytes); over TCP to a
 * host that vanished, the call's timeout bounds the wait.
 *
 * Concurrency: one thread per connection (and its proxies) at a time.
 */
#define _GNU_SOURCE
#include <shmrt/manager.h>

#include "base/clock.h"
#include "manager/auth.h"
#include "manager/client_int.h"
#include "manager/frame.h"
#include "manager/tls_int.h"
#include "manager/transport.h"

#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_NS (60ll * 1000000000ll)
/* How long a call whose timeout passed waits for its cancel's reply (or its own). */
#define CANCEL_GRACE_NS (5ll * 1000000000ll)

static void conn_drop(shmrt_manager_conn_t *c)
{
	shmrt__tls_free(c->tls);
	c->tls = NULL;
	shmrt__client_shm_close(c); /* shm channel (client_shm.c) */
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	shmrt__frame_reader_fini(&c->r);
	shmrt__frame_writer_fini(&c->w);
}

static int hello(shmrt_manager_conn_t *c, uint64_t deadline);
static int call(shmrt_manager_conn_t *c, const char *op, shmrt_mv_t *args, shmrt_ns_t timeout,
		shmrt_mv_t **res);

/* Opens and authenticates a socket into c. Returns 0 or the error (c broken). */
static int conn_open(shmrt_manager_conn_t *c, shmrt_ns_t timeout)
{
	conn_drop(c);
	uint64_t deadline = shmrt__deadline(timeout);
	int fd;
	int rc = shmrt__connect(&c->addr, timeout, &fd);
	if (rc)
		return rc;
	int64_t left = -1;
	if (deadline != SHMRT_NO_DEADLINE) {
		uint64_t now = mono_ns();
		left = deadline > now ? (int64_t)(deadline - now) : 1;
	}
	const shmrt__frame_io_t *io = NULL;
	if (c->tls_ctx) { /* TLS first; the authkey's handshake inside it */
		rc = shmrt__tls_new(c->tls_ctx, fd, &c->tls);
		if (rc == 0)
			rc = shmrt__tls_handshake_wait(c->tls, deadline);
		if (rc) {
			shmrt__tls_free(c->tls);
			c->tls = NULL;
			close(fd);
			return rc;
		}
		io = shmrt__tls_io(c->tls);
	}
	rc = shmrt__auth_run_io(fd, io, SHMRT__AUTH_CLIENT, c->key, c->keylen, left);
	if (rc) {
		shmrt__tls_free(c->tls);
		c->tls = NULL;
		close(fd);
		return rc;
	}
	c->fd = fd;
	c->gen++;
	c->instance = 0;
	shmrt__frame_reader_init(&c->r, REPLY_FRAME_MAX);
	shmrt__frame_writer_init(&c->w, 0);
	c->r.io = c->w.io = io;
	c->shm_after = !(c->flags & (SHMRT_MANAGER_CONNECT_SHM | SHMRT_MANAGER_CONNECT_SOCKET)) &&
				       c->addr.kind == SHMRT__ADDR_UNIX
			       ? SHMRT_MANAGER_SHM_AFTER_CALLS
			       : 0;
	rc = hello(c, deadline);
	if (rc == 0)
		rc = shmrt__client_shm_open(c, deadline); /* shm channel */
	if (rc)
		conn_drop(c); /* whatever failed (hello drops it too: twice is harmless) */
	return rc;
}

/* A connection to address, over TLS when tls is not NULL (its context made once
 * here, each socket then a stream of it), asking for what flags say
 * (SHMRT_MANAGER_CONNECT_*). Returns as shmrt_manager_connect_flags. */
static int connect_with(const char *address, const void *authkey, size_t keylen,
			const shmrt_manager_tls_t *tls, shmrt_ns_t timeout, unsigned flags,
			shmrt_manager_conn_t **out)
{
	const unsigned both = SHMRT_MANAGER_CONNECT_SHM | SHMRT_MANAGER_CONNECT_SOCKET;
	if (!address || !authkey || !keylen || keylen > INT_MAX || !out || (flags & ~both) ||
	    (flags & both) == both)
		return -EINVAL;
	shmrt_manager_conn_t *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	const char *why;
	if (shmrt__addr_parse(address, &c->addr, &why)) {
		free(c);
		return -EINVAL;
	}
	c->key = malloc(keylen);
	if (!c->key) {
		free(c);
		return -ENOMEM;
	}
	memcpy(c->key, authkey, keylen);
	c->keylen = keylen;
	c->timeout = DEFAULT_TIMEOUT_NS;
	c->next_id = 1;
	c->flags = flags;
	int rc = 0;
	if (tls) {
		const char *host = tls->host ? tls->host : c->addr.host;
		rc = c->addr.kind != SHMRT__ADDR_TCP
			     ? -EINVAL
			     : shmrt__tls_client_ctx(tls->ca_file, host, tls->cert_file,
						     tls->key_file, &c->tls_ctx, NULL);
	}
	if (rc == 0)
		rc = conn_open(c, timeout);
	if (rc) {
		shmrt_manager_close(c); /* its buffers too: hello's request, the channel's */
		return rc;
	}
	*out = c;
	return 0;
}

/*
 * Connects and authenticates (see shmrt/manager.h); SHMRT_MANAGER_SHM=1 in the
 * environment asks for the shared-memory channel at once, =0 never.
 * Returns: 0 and *out; -EINVAL; the errors of connect and of the handshake; -ENOMEM.
 * Concurrency: any thread.
 */
int shmrt_manager_connect(const char *address, const void *authkey, size_t keylen,
			  shmrt_ns_t timeout, shmrt_manager_conn_t **out)
{
	const char *e = getenv("SHMRT_MANAGER_SHM");
	unsigned flags = !e || !e[0] || e[1]  ? 0
			 : e[0] == '1'        ? SHMRT_MANAGER_CONNECT_SHM
			 : e[0] == '0'        ? SHMRT_MANAGER_CONNECT_SOCKET
					      : 0;
	return connect_with(address, authkey, keylen, NULL, timeout, flags, out);
}

/*
 * Connects with flags (see shmrt/manager.h). Returns as shmrt_manager_connect, and
 * -EINVAL for an unknown flag. Concurrency: any thread.
 */
int shmrt_manager_connect_flags(const char *address, const void *authkey, size_t keylen,
				shmrt_ns_t timeout, unsigned flags, shmrt_manager_conn_t **out)
{
	return connect_with(address, authkey, keylen, NULL, timeout, flags, out);
}

/* The same over TLS 1.3 (see shmrt/manager.h): a TCP address, so never the
 * shared-memory channel. Concurrency: any thread. */
int shmrt_manager_connect_tls(const char *address, const void *authkey, size_t keylen,
			      const shmrt_manager_tls_t *tls, shmrt_ns_t timeout,
			      shmrt_manager_conn_t **out)
{
	return tls ? connect_with(address, authkey, keylen, tls, timeout, 0, out) : -EINVAL;
}

/* Connects conn again. Returns as shmrt_manager_connect. Concurrency: conn's thread. */
int shmrt_manager_reconnect(shmrt_manager_conn_t *conn, shmrt_ns_t timeout)
{
	return conn ? conn_open(conn, timeout) : -EINVAL;
}

/*
 * Asks a fresh connection for the server's run id ("hello"). A server without the
 * op (-ENOSYS) leaves it 0. Returns 0 or the error (c broken).
 */
static int hello(shmrt_manager_conn_t *c, uint64_t deadline)
{
	shmrt_mv_t *res = NULL;
	int64_t v;
	shmrt_ns_t left = -1;
	if (deadline != SHMRT_NO_DEADLINE) {
		uint64_t now = mono_ns();
		left = deadline > now ? (shmrt_ns_t)(deadline - now) : 1;
	}
	int rc = call(c, "hello", NULL, left, &res);
	if (rc == 0 && shmrt_mv_as_int(shmrt_mv_map_get_str(res, "instance"), &v) == 0)
		c->instance = (uint64_t)v;
	shmrt_mv_free(res);
	if (rc == -ENOSYS)
		rc = 0;
	if (rc)
		conn_drop(c);
	return rc;
}

/* Which channel conn's calls take. Concurrency: conn's thread. */
int shmrt_manager_channel(const shmrt_manager_conn_t *conn)
{
	if (!conn)
		return -EINVAL;
	if (conn->fd < 0)
		return -ENOTCONN;
	return conn->shm ? SHMRT_MANAGER_CHANNEL_SHM : SHMRT_MANAGER_CHANNEL_SOCKET;
}

/* The server run's id. Concurrency: conn's thread. */
uint64_t shmrt_manager_instance(const shmrt_manager_conn_t *conn)
{
	return conn ? conn->instance : 0;
}

/* Closes and frees conn. Concurrency: conn's thread. */
void shmrt_manager_close(shmrt_manager_conn_t *conn)
{
	if (!conn)
		return;
	conn_drop(conn);
	shmrt__tls_ctx_free(conn->tls_ctx);
	shmrt_mv_buf_free(&conn->buf);
	if (conn->key)
		memset(conn->key, 0, conn->keylen);
	free(conn->key);
	free(conn);
}

/* Sets conn's default timeout. Concurrency: conn's thread. */
void shmrt_manager_set_timeout(shmrt_manager_conn_t *conn, shmrt_ns_t timeout)
{
	conn->timeout = timeout;
}

/* A transport error breaks the connection (a timeout does not). */
int shmrt__client_fail(shmrt_manager_conn_t *c, int rc)
{
	if (rc != -ETIMEDOUT && rc != -ENOMEM)
		conn_drop(c);
	return rc;
}

void shmrt__client_drop(shmrt_manager_conn_t *c)
{
	conn_drop(c);
}

/*
 * Encodes [id, op, args] (args consumed; NULL: []) into c->buf.
 * Returns: 0; -ENOMEM; -EMSGSIZE.
 */
static int encode_request(shmrt_manager_conn_t *c, int64_t id, const char *op, shmrt_mv_t *args)
{
	if (!args)
		args = shmrt_mv_list();
	shmrt_mv_t *req = shmrt_mv_list_cap(3);
	if (!req) {
		shmrt_mv_free(args);
		return -ENOMEM;
	}
	int rc = shmrt_mv_list_append(req, shmrt_mv_int(id));
	if (!rc)
		rc = shmrt_mv_list_append(req, shmrt_mv_str(op));
	if (!rc)
		rc = shmrt_mv_list_append(req, args);
	else
		shmrt_mv_free(args);
	c->buf.len = 0;
	if (!rc)
		rc = shmrt_mv_encode(req, &c->buf);
	shmrt_mv_free(req);
	if (rc)
		return rc;
	return c->buf.len > SHMRT__FRAME_MAX_DEFAULT ? -EMSGSIZE : 0;
}

/* ---- the short cuts ---------------------------------------------------------------- */

/* Appends int v in msgpack's smallest form (as the encoder writes it) to h. */
static size_t put_int(uint8_t *h, int64_t v)
{
	uint64_t u = (uint64_t)v;
	int w;
	uint8_t t;
	if (v >= 0 && v < 128) {
		h[0] = (uint8_t)v;
		return 1;
	}
	if (v >= -32 && v < 0) {
		h[0] = (uint8_t)v;
		return 1;
	}
	if (v >= 0) {
		t = v < 256 ? 0xcc : v < 65536 ? 0xcd : v <= UINT32_MAX ? 0xce : 0xcf;
		w = v < 256 ? 1 : v < 65536 ? 2 : v <= UINT32_MAX ? 4 : 8;
	} else {
		t = v >= INT8_MIN ? 0xd0 : v >= INT16_MIN ? 0xd1 : v >= INT32_MIN ? 0xd2 : 0xd3;
		w = v >= INT8_MIN ? 1 : v >= INT16_MIN ? 2 : v >= INT32_MIN ? 4 : 8;
	}
	h[0] = t;
	for (int i = w; i >= 1; i--, u >>= 8)
		h[i] = (uint8_t)u;
	return 1 + (size_t)w;
}

/* The bytes of [id, "call", [ref, method, args]] before args' encoding, into h; 0
 * when method is not 1 to 31 printable ASCII characters (the general path then). */
static size_t call_head(uint8_t h[CALL_HEAD_MAX], int64_t id, uint64_t ref, const char *method)
{
	size_t m = 0;
	while (m < 32 && method[m] >= 0x20 && method[m] < 0x7f)
		m++;
	if (m == 0 || m == 32 || method[m])
		return 0;
	size_t n = 0;
	h[n++] = 0x93;
	n += put_int(h + n, id);
	h[n++] = 0xa4; /* "call" */
	memcpy(h + n, "call", 4);
	n += 4;
	h[n++] = 0x93;
	h[n++] = 0xd7; /* fixext 8: the ref, big endian */
	h[n++] = SHMRT_MV_EXT_REF;
	for (int i = 7; i >= 0; i--)
		h[n++] = (uint8_t)(ref >> (8 * i));
	h[n++] = (uint8_t)(0xa0 | m);
	memcpy(h + n, method, m);
	return n + m;
}

/* Reads a msgpack int at p[*off, n): 0, or -1 for anything else (or cut short). */
static int get_int(const uint8_t *p, size_t n, size_t *off, int64_t *out)
{
	if (*off >= n)
		return -1;
	uint8_t t = p[(*off)++];
	if (t < 0x80 || t >= 0xe0) {
		*out = (int8_t)t;
		if (t < 0x80)
			*out = t;
		return 0;
	}
	int w = t >= 0xcc && t <= 0xcf ? 1 << (t - 0xcc) : t >= 0xd0 && t <= 0xd3 ? 1 << (t - 0xd0) : 0;
	if (!w || n - *off < (size_t)w)
		return -1;
	uint64_t u = 0;
	for (int i = 0; i < w; i++)
		u = u << 8 | p[(*off)++];
	if (t >= 0xd0) { /* signed: extend */
		int sh = 64 - 8 * w;
		*out = sh ? (int64_t)(u << sh) >> sh : (int64_t)u;
		return 0;
	}
	if (u > INT64_MAX)
		return -1;
	*out = (int64_t)u;
	return 0;
}

/* The decoder's limits for a reply of n bytes: whatever the server may send (its
 * max_frame bounds the bytes, every value takes at least one of them, its trees are
 * at most SHMRT_MV_DEPTH_MAX deep). */
static shmrt_mv_limits_t reply_limits(size_t n)
{
	shmrt_mv_limits_t lim = { .max_bytes = n ? n : 1, .max_elems = n ? n : 1,
				  .max_depth = SHMRT_MV_DEPTH_MAX };
	return lim;
}

/* The reply [id, rc, result] read from its bytes, only result decoded: 0 and the
 * outputs as read_reply's; -1: not of that shape (the general path then). */
static int reply_fast(const uint8_t *p, size_t n, int64_t *id, int *rrc, shmrt_mv_t **res)
{
	size_t off = 1;
	int64_t rid, v;
	if (n < 4 || p[0] != 0x93 || get_int(p, n, &off, &rid) || get_int(p, n, &off, &v) ||
	    v > 0 || v < -4095)
		return -1;
	shmrt_mv_t *r = NULL;
	shmrt_mv_limits_t lim = reply_limits(n - off);
	if (shmrt_mv_decode(p + off, n - off, &lim, &r))
		return -1;
	*id = rid;
	*rrc = (int)v;
	if (res && v == 0)
		*res = r;
	else
		shmrt_mv_free(r);
	return 0;
}

/*
 * Reads the next reply: *id its id, *rrc its rc, *res (may be NULL) its result when
 * *rrc is 0. Returns 0, or a transport error (the connection is then broken, except
 * for -ETIMEDOUT and -ENOMEM).
 */
int shmrt__client_read_reply(shmrt_manager_conn_t *c, uint64_t deadline, int64_t *id, int *rrc,
			     shmrt_mv_t **res)
{
	int rc = -EAGAIN;
	uint64_t spin = c->shm ? 0 : shmrt__spin_now(); /* shm: the Pipe spins itself */
	if (spin) {
		/* Poll for the reply a while before sleeping (see shmrt__spin_ns): a
		 * server that answers within it saves this process a wake-up. Not while
		 * strangers crowd the machine (shmrt__spin_now), where a poll only gives
		 * the core away. */
		uint64_t end = mono_ns() + spin;
		if (end > deadline)
			end = deadline;
		/* Nothing read ahead: the request has just gone out, and a read now
		 * would almost always spend a system call to learn -EAGAIN. Yield first,
		 * so that the server (or the client it is serving) runs. */
		if (!shmrt__frame_buffered(&c->r) && !shmrt__frame_partial(&c->r))
			shmrt__spin_yield();
		while ((rc = shmrt__frame_read(&c->r, c->fd)) == -EAGAIN && mono_ns() < end)
			shmrt__spin_yield();
	}
	if (c->shm) /* shm channel (client_shm.c) */
		rc = shmrt__client_shm_read(c, deadline);
	else if (rc == -EAGAIN)
		rc = shmrt__frame_recv_wait(&c->r, c->fd, deadline);
	if (rc != 1)
		return shmrt__client_fail(c, rc);
	size_t n;
	const uint8_t *p = shmrt__frame_data(&c->r, &n);
	if (res)
		*res = NULL;
	if (p && reply_fast(p, n, id, rrc, res) == 0) {
		shmrt__frame_next(&c->r);
		return 0;
	}
	shmrt_mv_t *reply = NULL;
	shmrt_mv_limits_t lim = reply_limits(n);
	rc = p ? shmrt_mv_decode(p, n, &lim, &reply) : -EBADMSG;
	shmrt__frame_next(&c->r);
	int64_t rid, v;
	if (rc || shmrt_mv_list_len(reply) != 3 ||
	    shmrt_mv_as_int(shmrt_mv_list_get(reply, 0), &rid) ||
	    shmrt_mv_as_int(shmrt_mv_list_get(reply, 1), &v) || v > 0 || v < -4095) {
		shmrt_mv_free(reply);
		return shmrt__client_fail(c, -EPROTO);
	}
	*id = rid;
	*rrc = (int)v;
	if (res) {
		*res = NULL;
		if (v == 0 && shmrt_mv_list_pop(reply, 2, res))
			*rrc = -ENOMEM;
	}
	shmrt_mv_free(reply);
	return 0;
}

/*
 * One round trip: sends [id, op, args] (args consumed; NULL: []) and waits for its
 * reply. *res (may be NULL) gets the result when rc is 0.
 * Returns: the reply's rc; -ENOTCONN; -ETIMEDOUT; -EPIPE, -ECONNRESET, -EPROTO
 * (broken); -ENOMEM; -EMSGSIZE.
 */
static int exchange(shmrt_manager_conn_t *c, int64_t id, const uint8_t *h, size_t hn,
		    uint64_t deadline, shmrt_mv_t **res);

static int call(shmrt_manager_conn_t *c, const char *op, shmrt_mv_t *args, shmrt_ns_t timeout,
		shmrt_mv_t **res)
{
	if (c->fd < 0) {
		shmrt_mv_free(args);
		return -ENOTCONN;
	}
	uint64_t deadline = shmrt__deadline(timeout);
	int64_t id = c->next_id++;
	int rc = encode_request(c, id, op, args);
	if (rc)
		return rc;
	return exchange(c, id, NULL, 0, deadline, res);
}

/* Queues the frame h[0, hn) + c->buf and writes what the socket takes until the
 * queue is empty or the deadline. Returns 0 or an error (not yet passed to fail). */
static int send_frame(shmrt_manager_conn_t *c, const uint8_t *h, size_t hn, uint64_t deadline)
{
	int rc;
	while ((rc = shmrt__frame_put2(&c->w, h, hn, c->buf.data, c->buf.len)) == -ENOBUFS) {
		if (c->shm) { /* shm channel (client_shm.c) */
			if ((rc = shmrt__client_shm_flush(c, deadline)) != 0)
				return rc;
			continue;
		}
		rc = shmrt__frame_flush(&c->w, c->fd);
		if (rc == -EAGAIN)
			rc = shmrt__wait_fd(c->fd, POLLOUT, deadline);
		if (rc)
			return rc;
	}
	if (c->shm) /* shm channel (client_shm.c) */
		return rc ? rc : shmrt__client_shm_flush(c, deadline);
	while (rc == 0 && (rc = shmrt__frame_flush(&c->w, c->fd)) == -EAGAIN)
		rc = shmrt__wait_fd(c->fd, POLLOUT, deadline);
	return rc;
}

/*
 * After a call's timeout passed: sends "cancel [ids]" (the n request ids still without
 * a reply) as request *cid, and moves *deadline to CANCEL_GRACE_NS from now, the
 * bound on waiting for the cancel's reply. The server runs requests in order, so
 * every reply to those calls that it gave before the cancel arrives comes before the
 * cancel's reply: a call whose reply comes first happened (its result stands), one
 * without a reply by then was dropped unanswered (nothing happened: -ETIMEDOUT).
 * Returns 0; a transport error (the connection broken, except for -ETIMEDOUT,
 * -ENOMEM, -EMSGSIZE).
 */
int shmrt__client_cancel_send(shmrt_manager_conn_t *c, const int64_t *ids, size_t n,
			      int64_t *cid, uint64_t *deadline)
{
	c->shm_after = 0; /* replies may come late, even if the cancel cannot go: the
			   * channel's request needs a quiet socket (client_shm.c) */
	shmrt_mv_t *args = shmrt_mv_list_cap(n);
	int rc = args ? 0 : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = shmrt_mv_list_append(args, shmrt_mv_int(ids[i]));
	if (rc) {
		shmrt_mv_free(args);
		return rc;
	}
	*cid = c->next_id++;
	*deadline = shmrt__deadline(CANCEL_GRACE_NS);
	rc = encode_request(c, *cid, "cancel", args);
	if (rc == 0)
		rc = send_frame(c, NULL, 0, *deadline);
	return rc == 0 || rc == -EMSGSIZE ? rc : shmrt__client_fail(c, rc);
}

/* Sends the request in h[0, hn) then c->buf (queued whole) and waits for the reply
 * that carries id; at the deadline, cancels it (cancel_send). Returns as call. */
static int exchange(shmrt_manager_conn_t *c, int64_t id, const uint8_t *h, size_t hn,
		    uint64_t deadline, shmrt_mv_t **res)
{
	int64_t cid = 0; /* the cancel's request id, once sent */
	int rc = send_frame(c, h, hn, deadline);
	if (rc && rc != -ETIMEDOUT)
		return shmrt__client_fail(c, rc);
	for (;;) {
		int64_t rid;
		int rrc;
		shmrt_mv_t *r = NULL;
		if (rc == 0)
			rc = shmrt__client_read_reply(c, deadline, &rid, &rrc, res ? &r : NULL);
		if (rc == -ETIMEDOUT && !cid) {
			/* The request, whole or in part, may be queued: it goes out first,
			 * and the server sees it before the cancel. */
			rc = shmrt__client_cancel_send(c, &id, 1, &cid, &deadline);
			continue;
		}
		if (rc)
			return rc;
		if (cid && rid == cid) { /* the call was cancelled (dropped unanswered) */
			shmrt_mv_free(r);
			return -ETIMEDOUT;
		}
		if (rid != id) { /* a reply to an earlier call that was given up */
			shmrt_mv_free(r);
			continue;
		}
		if (res)
			*res = r;
		return rrc;
	}
}

/* A one-item list holding v (consumed), or NULL. */
static shmrt_mv_t *list1(shmrt_mv_t *v)
{
	shmrt_mv_t *l = shmrt_mv_list_cap(1);
	if (!l || shmrt_mv_list_append(l, v)) {
		shmrt_mv_free(l);
		return NULL;
	}
	return l;
}

static int new_proxy(shmrt_manager_conn_t *c, uint64_t id, shmrt_proxy_t **out)
{
	shmrt_proxy_t *p = malloc(sizeof(*p));
	if (!p) {
		(void)call(c, "release", list1(shmrt_mv_ref(id)), c->timeout, NULL);
		return -ENOMEM;
	}
	p->conn = c;
	p->id = id;
	p->gen = c->gen;
	*out = p;
	return 0;
}

/*
 * Creates an object and its proxy. Returns: 0 and *out; the reply's error; the
 * errors of call. Concurrency: conn's thread.
 */
int shmrt_manager_create(shmrt_manager_conn_t *conn, const char *type_name, shmrt_mv_t *init,
			 shmrt_proxy_t **out)
{
	if (!conn || !type_name || !out) {
		shmrt_mv_free(init);
		return -EINVAL;
	}
	shmrt_mv_t *args = shmrt_mv_list_cap(2);
	if (!args || shmrt_mv_list_append(args, shmrt_mv_str(type_name)) ||
	    shmrt_mv_list_append(args, init ? init : shmrt_mv_nil())) {
		shmrt_mv_free(args);
		return -ENOMEM;
	}
	shmrt_mv_t *res = NULL;
	uint64_t id;
	int rc = call(conn, "create", args, conn->timeout, &res);
	if (rc == 0 && shmrt_mv_as_ref(res, &id))
		rc = -EPROTO;
	shmrt_mv_free(res);
	return rc ? rc : new_proxy(conn, id, out);
}

/* Internal hooks for the remote handles (manager/client_remote.c): a request of any
 * op, and a proxy of a reference the server gave this session. */
int shmrt__client_request(shmrt_manager_conn_t *conn, const char *op, shmrt_mv_t *args,
			  shmrt_mv_t **res)
{
	return call(conn, op, args, conn->timeout, res);
}

int shmrt__client_proxy_new(shmrt_manager_conn_t *conn, uint64_t id, shmrt_proxy_t **out)
{
	return new_proxy(conn, id, out);
}

/* A proxy of an existing object (incref). Concurrency: conn's thread. */
int shmrt_manager_proxy(shmrt_manager_conn_t *conn, uint64_t ref, shmrt_proxy_t **out)
{
	if (!conn || !out)
		return -EINVAL;
	int rc = call(conn, "incref", list1(shmrt_mv_ref(ref)), conn->timeout, NULL);
	return rc ? rc : new_proxy(conn, ref, out);
}

/* p's object's id. Concurrency: any thread. */
uint64_t shmrt_proxy_ref(const shmrt_proxy_t *p)
{
	return p->id;
}

/*
 * Calls method with args (consumed). Returns: 0; the method's error; the errors of
 * call. Concurrency: the connection's thread.
 */
/* The args of a "call" request, [ref, method, args] (args consumed), into *out.
 * Returns 0 or -ENOMEM. */
static int call_args(shmrt_proxy_t *p, const char *method, shmrt_mv_t *args, shmrt_mv_t **out)
{
	shmrt_mv_t *a = shmrt_mv_list_cap(3);
	if (!a || shmrt_mv_list_append(a, shmrt_mv_ref(p->id)) ||
	    shmrt_mv_list_append(a, shmrt_mv_str(method)) ||
	    shmrt_mv_list_append(a, args ? args : shmrt_mv_list())) {
		if (!a || shmrt_mv_list_len(a) < 2)
			shmrt_mv_free(args);
		shmrt_mv_free(a);
		return -ENOMEM;
	}
	*out = a;
	return 0;
}

/*
 * Encodes the call [id, "call", [p's ref, method, args]] (args consumed; NULL: []):
 * its first bytes into h and *hn (call_head; *hn 0 when the general path encoded the
 * whole request), the rest into c->buf. Returns 0, -ENOMEM, -EMSGSIZE, -ELOOP.
 */
int shmrt__client_encode_call(shmrt_manager_conn_t *c, int64_t id, shmrt_proxy_t *p,
			      const char *method, shmrt_mv_t *args, uint8_t h[CALL_HEAD_MAX],
			      size_t *hn)
{
	size_t n = call_head(h, id, p->id, method);
	*hn = 0;
	if (!n) {
		shmrt_mv_t *a;
		return call_args(p, method, args, &a) ? -ENOMEM : encode_request(c, id, "call", a);
	}
	c->buf.len = 0;
	if (args) {
		int rc = shmrt_mv_encode(args, &c->buf);
		shmrt_mv_free(args);
		if (rc)
			return rc;
	} else {
		h[n++] = 0x90; /* [] */
	}
	*hn = n;
	return n + c->buf.len > SHMRT__FRAME_MAX_DEFAULT ? -EMSGSIZE : 0;
}

int shmrt_proxy_call(shmrt_proxy_t *p, const char *method, shmrt_mv_t *args,
		     shmrt_ns_t timeout, shmrt_mv_t **result)
{
	if (!p || !method || (args && shmrt_mv_kind(args) != SHMRT_MV_LIST)) {
		shmrt_mv_free(args);
		return -EINVAL;
	}
	shmrt_manager_conn_t *c = p->conn;
	if (p->gen != c->gen || c->fd < 0) {
		shmrt_mv_free(args);
		return p->gen != c->gen ? -ESTALE : -ENOTCONN;
	}
	uint64_t deadline = shmrt__deadline(timeout);
	int rc = shmrt__client_shm_count(c, 1, deadline); /* a busy connection's channel */
	if (rc) {
		shmrt_mv_free(args);
		return rc;
	}
	int64_t id = c->next_id++;
	uint8_t h[CALL_HEAD_MAX];
	size_t hn;
	rc = shmrt__client_encode_call(c, id, p, method, args, h, &hn);
	if (rc)
		return rc;
	shmrt_mv_t *res = NULL;
	rc = exchange(c, id, h, hn, deadline, &res);
	if (rc == 0 && result)
		*result = res;
	else
		shmrt_mv_free(res);
	return rc;
}

/*
 * Calls method on the object ref over conn, without a proxy (see shmrt/manager.h).
 * Returns as shmrt_proxy_call. Concurrency: conn's thread.
 */
int shmrt_manager_call(shmrt_manager_conn_t *conn, uint64_t ref, const char *method,
		       shmrt_mv_t *args, shmrt_ns_t timeout, shmrt_mv_t **result)
{
	if (!conn) {
		shmrt_mv_free(args);
		return -EINVAL;
	}
	shmrt_proxy_t p = { .conn = conn, .id = ref, .gen = conn->gen };
	return shmrt_proxy_call(&p, method, args, timeout, result);
}

/* A list of n values (consumed), -ENOMEM if one is NULL. */
static int argsn(shmrt_mv_t **v, int n, shmrt_mv_t **out)
{
	shmrt_mv_t *l = shmrt_mv_list_cap((size_t)n);
	int rc = l ? 0 : -ENOMEM;
	for (int i = 0; i < n; i++) {
		if (rc == 0)
			rc = shmrt_mv_list_append(l, v[i]);
		else
			shmrt_mv_free(v[i]);
	}
	if (rc) {
		shmrt_mv_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

static int calln(shmrt_proxy_t *p, const char *method, shmrt_mv_t **v, int n,
		 shmrt_mv_t **result)
{
	shmrt_mv_t *args;
	int rc = argsn(v, n, &args);
	if (rc)
		return rc;
	if (!p) {
		shmrt_mv_free(args);
		return -EINVAL;
	}
	return shmrt_proxy_call(p, method, args, p->conn->timeout, result);
}

/* Calls with 0..3 arguments (consumed). Returns as shmrt_proxy_call. */
int shmrt_proxy_call0(shmrt_proxy_t *p, const char *method, shmrt_mv_t **result)
{
	return calln(p, method, NULL, 0, result);
}

int shmrt_proxy_call1(shmrt_proxy_t *p, const char *method, shmrt_mv_t *a, shmrt_mv_t **result)
{
	shmrt_mv_t *v[] = { a };
	return calln(p, method, v, 1, result);
}

int shmrt_proxy_call2(shmrt_proxy_t *p, const char *method, shmrt_mv_t *a, shmrt_mv_t *b,
		      shmrt_mv_t **result)
{
	shmrt_mv_t *v[] = { a, b };
	return calln(p, method, v, 2, result);
}

int shmrt_proxy_call3(shmrt_proxy_t *p, const char *method, shmrt_mv_t *a, shmrt_mv_t *b,
		      shmrt_mv_t *c, shmrt_mv_t **result)
{
	shmrt_mv_t *v[] = { a, b, c };
	return calln(p, method, v, 3, result);
}

/* Releases p's reference and frees p. Concurrency: the connection's thread. */
int shmrt_proxy_release(shmrt_proxy_t *p)
{
	if (!p)
		return 0;
	int rc = -ESTALE; /* a proxy of an earlier socket: its reference went with it */
	if (p->gen == p->conn->gen)
		rc = call(p->conn, "release", list1(shmrt_mv_ref(p->id)), p->conn->timeout, NULL);
	free(p);
	return rc;
}

/* Server figures. Concurrency: conn's thread. */
int shmrt_manager_stats(shmrt_manager_conn_t *conn, shmrt_mv_t **out)
{
	if (!conn || !out)
		return -EINVAL;
	return call(conn, "stats", NULL, conn->timeout, out);
}

/* A round trip. Concurrency: conn's thread. */
int shmrt_manager_objects(shmrt_manager_conn_t *conn, shmrt_mv_t **out)
{
	if (!conn || !out)
		return -EINVAL;
	return call(conn, "objects", NULL, conn->timeout, out);
}

int shmrt_manager_ping(shmrt_manager_conn_t *conn)
{
	return conn ? call(conn, "ping", NULL, conn->timeout, NULL) : -EINVAL;
}
