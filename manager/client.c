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
#include "manager/frame.h"
#include "manager/transport.h"

#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_NS (60ll * 1000000000ll)

struct shmrt_manager_conn {
	int fd;                 /* -1: broken */
	shmrt__addr_t addr;
	uint8_t *key;
	size_t keylen;
	shmrt_ns_t timeout;
	int64_t next_id;
	shmrt__frame_reader_t r;
	shmrt__frame_writer_t w;
	shmrt_mv_buf_t buf;
};

struct shmrt_proxy {
	shmrt_manager_conn_t *conn;
	uint64_t id;
};

static void conn_drop(shmrt_manager_conn_t *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	shmrt__frame_reader_fini(&c->r);
	shmrt__frame_writer_fini(&c->w);
}

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
	rc = shmrt__auth_run(fd, SHMRT__AUTH_CLIENT, c->key, c->keylen, left);
	if (rc) {
		close(fd);
		return rc;
	}
	c->fd = fd;
	shmrt__frame_reader_init(&c->r, 0);
	shmrt__frame_writer_init(&c->w, 0);
	return 0;
}

/*
 * Connects and authenticates (see shmrt/manager.h).
 * Returns: 0 and *out; -EINVAL; the errors of connect and of the handshake; -ENOMEM.
 * Concurrency: any thread.
 */
int shmrt_manager_connect(const char *address, const void *authkey, size_t keylen,
			  shmrt_ns_t timeout, shmrt_manager_conn_t **out)
{
	if (!address || !authkey || !keylen || keylen > INT_MAX || !out)
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
	int rc = conn_open(c, timeout);
	if (rc) {
		free(c->key);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Connects conn again. Returns as shmrt_manager_connect. Concurrency: conn's thread. */
int shmrt_manager_reconnect(shmrt_manager_conn_t *conn, shmrt_ns_t timeout)
{
	return conn ? conn_open(conn, timeout) : -EINVAL;
}

/* Closes and frees conn. Concurrency: conn's thread. */
void shmrt_manager_close(shmrt_manager_conn_t *conn)
{
	if (!conn)
		return;
	conn_drop(conn);
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
static int fail(shmrt_manager_conn_t *c, int rc)
{
	if (rc != -ETIMEDOUT && rc != -ENOMEM)
		conn_drop(c);
	return rc;
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

/*
 * Reads the next reply: *id its id, *rrc its rc, *res (may be NULL) its result when
 * *rrc is 0. Returns 0, or a transport error (the connection is then broken, except
 * for -ETIMEDOUT and -ENOMEM).
 */
static int read_reply(shmrt_manager_conn_t *c, uint64_t deadline, int64_t *id, int *rrc,
		      shmrt_mv_t **res)
{
	int rc = -EAGAIN;
	uint64_t spin = shmrt__spin_ns();
	if (spin) {
		/* Poll for the reply a while before sleeping (see shmrt__spin_ns): a
		 * server that answers within it saves this process a wake-up. */
		uint64_t end = mono_ns() + spin;
		if (end > deadline)
			end = deadline;
		while ((rc = shmrt__frame_read(&c->r, c->fd)) == -EAGAIN && mono_ns() < end)
			sched_yield();
	}
	if (rc == -EAGAIN)
		rc = shmrt__frame_recv_wait(&c->r, c->fd, deadline);
	if (rc != 1)
		return fail(c, rc);
	size_t n;
	const uint8_t *p = shmrt__frame_data(&c->r, &n);
	shmrt_mv_t *reply = NULL;
	rc = p ? shmrt_mv_decode(p, n, NULL, &reply) : -EBADMSG;
	shmrt__frame_next(&c->r);
	int64_t rid, v;
	if (rc || shmrt_mv_list_len(reply) != 3 ||
	    shmrt_mv_as_int(shmrt_mv_list_get(reply, 0), &rid) ||
	    shmrt_mv_as_int(shmrt_mv_list_get(reply, 1), &v) || v > 0 || v < -4095) {
		shmrt_mv_free(reply);
		return fail(c, -EPROTO);
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
	rc = shmrt__frame_send_wait(&c->w, c->fd, c->buf.data, c->buf.len, deadline);
	if (rc)
		return fail(c, rc);
	for (;;) {
		int64_t rid;
		int rrc;
		shmrt_mv_t *r = NULL;
		rc = read_reply(c, deadline, &rid, &rrc, res ? &r : NULL);
		if (rc)
			return rc;
		if (rid != id) { /* a reply to a call that timed out */
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

int shmrt_proxy_call(shmrt_proxy_t *p, const char *method, shmrt_mv_t *args,
		     shmrt_ns_t timeout, shmrt_mv_t **result)
{
	if (!p || !method || (args && shmrt_mv_kind(args) != SHMRT_MV_LIST)) {
		shmrt_mv_free(args);
		return -EINVAL;
	}
	shmrt_mv_t *a;
	if (call_args(p, method, args, &a))
		return -ENOMEM;
	shmrt_mv_t *res = NULL;
	int rc = call(p->conn, "call", a, timeout, &res);
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
	shmrt_proxy_t p = { .conn = conn, .id = ref };
	return shmrt_proxy_call(&p, method, args, timeout, result);
}

/* Sets the rc of reqs[i..n) still waiting (rc 1) to err. */
static void batch_fail(shmrt_proxy_req_t *reqs, size_t n, int err)
{
	for (size_t i = 0; i < n; i++)
		if (reqs[i].rc == 1)
			reqs[i].rc = err;
}

/* Queues the n requests of reqs (their args consumed) in c's writer, flushing (and
 * waiting for the socket) whenever the queue is full. Returns 0 or an error. */
static int batch_send(shmrt_manager_conn_t *c, shmrt_proxy_req_t *reqs, size_t n, int64_t id0,
		      uint64_t deadline)
{
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		shmrt_mv_t *a, *args = reqs[i].args;
		reqs[i].args = NULL;
		if (rc) {
			shmrt_mv_free(args);
			continue;
		}
		rc = call_args(reqs[i].proxy, reqs[i].method, args, &a);
		if (!rc)
			rc = encode_request(c, id0 + (int64_t)i, "call", a);
		while (!rc && (rc = shmrt__frame_put(&c->w, c->buf.data, c->buf.len)) == -ENOBUFS) {
			rc = shmrt__frame_flush(&c->w, c->fd);
			if (rc == -EAGAIN)
				rc = shmrt__wait_fd(c->fd, POLLOUT, deadline);
		}
	}
	while (rc == 0 && (rc = shmrt__frame_flush(&c->w, c->fd)) == -EAGAIN)
		rc = shmrt__wait_fd(c->fd, POLLOUT, deadline);
	return rc;
}

/*
 * Pipelined calls (see shmrt/manager.h). Returns: 0; -EINVAL; -ENOTCONN; the errors
 * of call. Concurrency: the connection's thread.
 */
int shmrt_proxy_call_batch(shmrt_manager_conn_t *conn, shmrt_proxy_req_t *reqs, size_t n,
			   shmrt_ns_t timeout)
{
	int bad = !conn || (n && !reqs);
	for (size_t i = 0; !bad && i < n; i++) {
		bad = !reqs[i].proxy || reqs[i].proxy->conn != conn || !reqs[i].method ||
		      (reqs[i].args && shmrt_mv_kind(reqs[i].args) != SHMRT_MV_LIST);
	}
	for (size_t i = 0; reqs && i < n; i++) {
		reqs[i].result = NULL;
		reqs[i].rc = 1; /* waiting */
		if (bad || conn->fd < 0) {
			shmrt_mv_free(reqs[i].args);
			reqs[i].args = NULL;
			reqs[i].rc = bad ? -EINVAL : -ENOTCONN;
		}
	}
	if (bad)
		return -EINVAL;
	if (conn->fd < 0)
		return -ENOTCONN;
	if (!n)
		return 0;
	uint64_t deadline = shmrt__deadline(timeout);
	int64_t id0 = conn->next_id;
	conn->next_id += (int64_t)n;
	int rc = batch_send(conn, reqs, n, id0, deadline);
	if (rc) {
		/* Some requests may have gone: their replies are late ones for the next
		 * call. A queue holding part of a frame is sent before the next request. */
		batch_fail(reqs, n, rc);
		return rc == -EMSGSIZE ? rc : fail(conn, rc);
	}
	for (size_t left = n; left;) {
		int64_t rid;
		int rrc;
		shmrt_mv_t *r = NULL;
		rc = read_reply(conn, deadline, &rid, &rrc, &r);
		if (rc) {
			batch_fail(reqs, n, rc);
			return rc;
		}
		uint64_t i = (uint64_t)(rid - id0);
		if (rid < id0 || i >= n || reqs[i].rc != 1) { /* an earlier call's, late */
			shmrt_mv_free(r);
			continue;
		}
		reqs[i].rc = rrc;
		reqs[i].result = r;
		left--;
	}
	return 0;
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
	int rc = call(p->conn, "release", list1(shmrt_mv_ref(p->id)), p->conn->timeout, NULL);
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
