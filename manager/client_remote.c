/*
 * Remote region objects, the client's side (shmrt/remote.h): handles over a
 * Manager connection whose calls are the server's remote.* methods (manager/remote.c
 * lists them and their wire forms).
 *
 * A handle is a proxy of the store object that "ropen" made, plus the geometry the
 * server told (element type, length, maxima), so that a call needs no look-up: a
 * Value's fetch is one request [id, "call", [ref, "fetch", [op, bits]]] and one
 * reply, read by the server's fast path for calls. Scalars travel as the 8 bytes of
 * shmrt_scalar_t in an int: the type checks are the local calls', in the server.
 *
 * Errors. The server's answer is the local call's rc. The transport's failures are
 * told apart, because a local code (a Queue's -EPIPE, -ETIMEDOUT) must never be
 * mistaken for one: a broken connection is -ENOTCONN; a server that did not answer
 * within the connection's timeout (and its cancel's grace) is -ECOMM: the call may
 * or may not have run. The server's methods never wait, so a -ETIMEDOUT reply can
 * only be the transport's.
 *
 * Waiting. A Queue call that cannot move now is answered -EAGAIN at once (the server
 * keeps its one thread free: a parked get would need it to watch the ring, and a
 * local producer's put wakes futex sleepers, not an epoll loop). The client asks
 * again until its timeout: first after a yield, then after sleeps doubling from
 * 10 us to 1 ms, so an idle wait costs at most about a thousand small round trips a
 * second and a busy one finds the next message within a few microseconds.
 *
 * Concurrency: one thread per connection (and its handles) at a time.
 */
#define _GNU_SOURCE
#include <shmrt/remote.h>

#include "base/clock.h"
#include "manager/client_int.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The transport's failure told apart from the local call's rc (see the top). */
static int xrc(const shmrt_proxy_t *p, int rc)
{
	if (rc == -ETIMEDOUT)
		return -ECOMM;
	if (rc < 0 && p->conn->fd < 0)
		return -ENOTCONN;
	return rc;
}

static int64_t sbits(shmrt_scalar_t s)
{
	int64_t b;
	memcpy(&b, &s, sizeof(b));
	return b;
}

static shmrt_scalar_t bits_s(int64_t b)
{
	shmrt_scalar_t s;
	memcpy(&s, &b, sizeof(s));
	return s;
}

/* Runs p's method with args (a list, consumed; NULL: a constructor failed, -ENOMEM).
 * Returns 0 and *res (may be NULL), or the error (xrc'd). */
static int rcall(const shmrt_proxy_t *p, const char *method, shmrt_mv_t *args, shmrt_mv_t **res)
{
	if (!p || !args) {
		shmrt_mv_free(args);
		return !p ? -EINVAL : -ENOMEM;
	}
	shmrt_proxy_t *pp = (shmrt_proxy_t *)p; /* a call does not change the proxy */
	return xrc(p, shmrt_proxy_call(pp, method, args, p->conn->timeout, res));
}

/* A list of n values (each consumed; a NULL one makes the list NULL). */
static shmrt_mv_t *args_of(size_t n, shmrt_mv_t *a, shmrt_mv_t *b, shmrt_mv_t *c)
{
	shmrt_mv_t *in[3] = { a, b, c }, *l = shmrt_mv_list_cap(n);
	int bad = !l;
	for (size_t i = 0; i < n; i++) {
		if (!bad && in[i] && shmrt_mv_list_append(l, in[i]) == 0)
			continue;
		bad = 1;
		shmrt_mv_free(in[i]);
	}
	if (bad) {
		shmrt_mv_free(l);
		return NULL;
	}
	return l;
}

/* A call whose result is an int (bits, a count): 0 and *out, or the error. */
static int rcall_int(const shmrt_proxy_t *p, const char *method, shmrt_mv_t *args, int64_t *out)
{
	shmrt_mv_t *res = NULL;
	int rc = rcall(p, method, args, &res);
	if (rc == 0 && shmrt_mv_as_int(res, out))
		rc = -EPROTO;
	shmrt_mv_free(res);
	return rc;
}

/* ---- opening ------------------------------------------------------------------------ */

static int ropen(shmrt_manager_conn_t *conn, const char *region, const char *kind,
		 const char *name, shmrt_proxy_t **p, int64_t *a, int64_t *b)
{
	if (!conn || !region || !name)
		return -EINVAL;
	shmrt_mv_t *args = args_of(3, shmrt_mv_str(region), shmrt_mv_str(kind), shmrt_mv_str(name));
	if (!args)
		return -ENOMEM;
	shmrt_mv_t *res = NULL;
	int rc = shmrt__client_request(conn, "ropen", args, &res);
	uint64_t id = 0;
	if (rc == 0 && (shmrt_mv_list_len(res) != 3 || shmrt_mv_as_ref(shmrt_mv_list_get(res, 0), &id) ||
			shmrt_mv_as_int(shmrt_mv_list_get(res, 1), a) ||
			shmrt_mv_as_int(shmrt_mv_list_get(res, 2), b)))
		rc = -EPROTO;
	shmrt_mv_free(res);
	if (rc == -ETIMEDOUT)
		rc = -ECOMM;
	else if (rc < 0 && conn->fd < 0)
		rc = -ENOTCONN;
	return rc ? rc : shmrt__client_proxy_new(conn, id, p);
}

int shmrt_remote_value_open(shmrt_manager_conn_t *conn, const char *region, const char *name,
			    shmrt_remote_value_t *out)
{
	int64_t a = 0, b = 0;
	shmrt_proxy_t *p;
	if (!out)
		return -EINVAL;
	int rc = ropen(conn, region, "value", name, &p, &a, &b);
	if (rc == 0)
		*out = (shmrt_remote_value_t){ .proxy = p, .type = (int)a };
	return rc;
}

int shmrt_remote_counter_open(shmrt_manager_conn_t *conn, const char *region, const char *name,
			      shmrt_remote_counter_t *out)
{
	int64_t a = 0, b = 0;
	shmrt_proxy_t *p;
	if (!out)
		return -EINVAL;
	int rc = ropen(conn, region, "counter", name, &p, &a, &b);
	if (rc == 0)
		*out = (shmrt_remote_counter_t){ .proxy = p };
	return rc;
}

int shmrt_remote_array_open(shmrt_manager_conn_t *conn, const char *region, const char *name,
			    shmrt_remote_array_t *out)
{
	int64_t a = 0, b = 0;
	shmrt_proxy_t *p;
	if (!out)
		return -EINVAL;
	int rc = ropen(conn, region, "array", name, &p, &a, &b);
	if (rc == 0)
		*out = (shmrt_remote_array_t){ .proxy = p, .type = (int)a, .len = (uint64_t)b };
	return rc;
}

int shmrt_remote_queue_open(shmrt_manager_conn_t *conn, const char *region, const char *name,
			    shmrt_remote_queue_t *out)
{
	int64_t a = 0, b = 0;
	shmrt_proxy_t *p;
	if (!out)
		return -EINVAL;
	int rc = ropen(conn, region, "queue", name, &p, &a, &b);
	if (rc == 0)
		*out = (shmrt_remote_queue_t){ .proxy = p, .max_msg = (uint32_t)a,
					       .capacity = (uint32_t)b };
	return rc;
}

int shmrt_remote_dict_open(shmrt_manager_conn_t *conn, const char *region, const char *name,
			   shmrt_remote_dict_t *out)
{
	int64_t a = 0, b = 0;
	shmrt_proxy_t *p;
	if (!out)
		return -EINVAL;
	int rc = ropen(conn, region, "dict", name, &p, &a, &b);
	if (rc == 0)
		*out = (shmrt_remote_dict_t){ .proxy = p, .max_key = (uint32_t)a,
					      .max_value = (uint32_t)b };
	return rc;
}

static int release(shmrt_proxy_t **p)
{
	if (!p || !*p)
		return 0;
	int rc = shmrt_proxy_release(*p);
	*p = NULL;
	return rc;
}

int shmrt_remote_value_release(shmrt_remote_value_t *v)
{
	return v ? release(&v->proxy) : 0;
}

int shmrt_remote_counter_release(shmrt_remote_counter_t *c)
{
	return c ? release(&c->proxy) : 0;
}

int shmrt_remote_array_release(shmrt_remote_array_t *a)
{
	return a ? release(&a->proxy) : 0;
}

int shmrt_remote_queue_release(shmrt_remote_queue_t *q)
{
	return q ? release(&q->proxy) : 0;
}

int shmrt_remote_dict_release(shmrt_remote_dict_t *d)
{
	return d ? release(&d->proxy) : 0;
}

/* ---- value, counter, array ------------------------------------------------------------- */

int shmrt_remote_value_load(const shmrt_remote_value_t *v, shmrt_scalar_t *out)
{
	int64_t b;
	if (!v || !out)
		return -EINVAL;
	int rc = rcall_int(v->proxy, "load", shmrt_mv_list(), &b);
	if (rc == 0)
		*out = bits_s(b);
	return rc;
}

int shmrt_remote_value_store(const shmrt_remote_value_t *v, shmrt_scalar_t x)
{
	if (!v)
		return -EINVAL;
	return rcall(v->proxy, "store", args_of(1, shmrt_mv_int(sbits(x)), NULL, NULL), NULL);
}

int shmrt_remote_value_exchange(const shmrt_remote_value_t *v, shmrt_scalar_t x,
				shmrt_scalar_t *old)
{
	int64_t b;
	if (!v)
		return -EINVAL;
	int rc = rcall_int(v->proxy, "exchange", args_of(1, shmrt_mv_int(sbits(x)), NULL, NULL), &b);
	if (rc == 0 && old)
		*old = bits_s(b);
	return rc;
}

int shmrt_remote_value_fetch(const shmrt_remote_value_t *v, shmrt_vop_t op, shmrt_scalar_t arg,
			     shmrt_scalar_t *old)
{
	int64_t b;
	if (!v)
		return -EINVAL;
	int rc = rcall_int(v->proxy, "fetch",
			   args_of(2, shmrt_mv_int((int64_t)op), shmrt_mv_int(sbits(arg)), NULL), &b);
	if (rc == 0 && old)
		*old = bits_s(b);
	return rc;
}

int shmrt_remote_value_cas(const shmrt_remote_value_t *v, shmrt_scalar_t *expected,
			   shmrt_scalar_t desired)
{
	if (!v || !expected)
		return -EINVAL;
	shmrt_mv_t *res = NULL;
	int64_t cur;
	int rc = rcall(v->proxy, "cas",
		       args_of(2, shmrt_mv_int(sbits(*expected)), shmrt_mv_int(sbits(desired)), NULL),
		       &res);
	if (rc == 0 && shmrt_mv_kind(res) != SHMRT_MV_NIL) {
		if (shmrt_mv_as_int(res, &cur)) {
			rc = -EPROTO;
		} else {
			*expected = bits_s(cur); /* not swapped: the current value */
			rc = -EAGAIN;
		}
	}
	shmrt_mv_free(res);
	return rc;
}

int shmrt_remote_counter_add(const shmrt_remote_counter_t *c, int64_t x)
{
	if (!c)
		return -EINVAL;
	return rcall(c->proxy, "add", args_of(1, shmrt_mv_int(x), NULL, NULL), NULL);
}

int shmrt_remote_counter_sum(const shmrt_remote_counter_t *c, int64_t *sum)
{
	if (!c || !sum)
		return -EINVAL;
	return rcall_int(c->proxy, "sum", shmrt_mv_list(), sum);
}

int shmrt_remote_array_read(const shmrt_remote_array_t *a, uint64_t off, void *dst,
			    uint64_t count)
{
	if (!a || (!dst && count) || off > INT64_MAX || count > INT64_MAX)
		return -EINVAL;
	shmrt_mv_t *res = NULL;
	int rc = rcall(a->proxy, "read",
		       args_of(2, shmrt_mv_int((int64_t)off), shmrt_mv_int((int64_t)count), NULL),
		       &res);
	const void *p;
	size_t n;
	if (rc == 0 && (shmrt_mv_as_bytes(res, &p, &n) || n != count * shmrt_vtype_size(a->type)))
		rc = -EPROTO;
	if (rc == 0 && n)
		memcpy(dst, p, n);
	shmrt_mv_free(res);
	return rc;
}

int shmrt_remote_array_write(const shmrt_remote_array_t *a, uint64_t off, const void *src,
			     uint64_t count)
{
	size_t es = a ? shmrt_vtype_size(a->type) : 0;
	if (!a || !es || (!src && count) || off > INT64_MAX)
		return -EINVAL;
	if (count > a->len)
		return -EINVAL; /* as the local range check, before any size is computed */
	if (count > SHMRT_REMOTE_RANGE_MAX / es)
		return -EMSGSIZE;
	shmrt_mv_t *bytes = count ? shmrt_mv_bytes(src, count * es) : shmrt_mv_bytes("", 0);
	return rcall(a->proxy, "write", args_of(2, shmrt_mv_int((int64_t)off), bytes, NULL), NULL);
}

int shmrt_remote_array_fetch(const shmrt_remote_array_t *a, uint64_t i, shmrt_vop_t op,
			     shmrt_scalar_t arg, shmrt_scalar_t *old)
{
	int64_t b;
	if (!a || i > INT64_MAX)
		return -EINVAL;
	int rc = rcall_int(a->proxy, "fetch",
			   args_of(3, shmrt_mv_int((int64_t)i), shmrt_mv_int((int64_t)op),
				   shmrt_mv_int(sbits(arg))),
			   &b);
	if (rc == 0 && old)
		*old = bits_s(b);
	return rc;
}

/* ---- queue ------------------------------------------------------------------------------ */

/* One more wait of a queue call that found nothing to move (see the top): 0, or
 * -ETIMEDOUT once the deadline has passed (a timeout of 0: the caller's -EAGAIN). */
static int q_wait(uint64_t deadline, unsigned *round)
{
	uint64_t now = mono_ns();
	if (deadline != SHMRT_NO_DEADLINE && now >= deadline)
		return -ETIMEDOUT;
	if ((*round)++ == 0) {
		sched_yield();
		return 0;
	}
	unsigned sh = *round - 2 < 7 ? *round - 2 : 7;
	uint64_t ns = 10000ull << sh; /* 10 us doubling ... */
	if (ns > 1000000)
		ns = 1000000;         /* ... to 1 ms */
	if (deadline != SHMRT_NO_DEADLINE && deadline - now < ns)
		ns = deadline - now;
	struct timespec ts = { 0, (long)ns };
	nanosleep(&ts, NULL);
	return 0;
}

int shmrt_remote_queue_put(const shmrt_remote_queue_t *q, const void *msg, size_t len,
			   shmrt_ns_t timeout)
{
	if (!q || (!msg && len))
		return -EINVAL;
	if (len > q->max_msg)
		return -EMSGSIZE; /* nothing written, as locally */
	uint64_t deadline = shmrt__deadline(timeout);
	unsigned round = 0;
	for (;;) {
		shmrt_mv_t *m = len ? shmrt_mv_bytes(msg, len) : shmrt_mv_bytes("", 0);
		int rc = rcall(q->proxy, "put", args_of(1, m, NULL, NULL), NULL);
		if (rc != -EAGAIN || timeout == 0)
			return rc;
		if (q_wait(deadline, &round))
			return -ETIMEDOUT;
	}
}

int shmrt_remote_queue_get(const shmrt_remote_queue_t *q, void *buf, size_t cap, size_t *len,
			   shmrt_ns_t timeout)
{
	if (!q || (!buf && cap) || !len)
		return -EINVAL;
	uint64_t deadline = shmrt__deadline(timeout);
	unsigned round = 0;
	size_t c = cap > q->max_msg ? q->max_msg : cap;
	for (;;) {
		shmrt_mv_t *res = NULL;
		int rc = rcall(q->proxy, "get", args_of(1, shmrt_mv_int((int64_t)c), NULL, NULL), &res);
		if (rc == 0) {
			const void *p;
			size_t n;
			int64_t need;
			if (shmrt_mv_as_int(res, &need) == 0) { /* too large: it stays queued */
				*len = (size_t)need;
				rc = -EMSGSIZE;
			} else if (shmrt_mv_as_bytes(res, &p, &n) || n > c) {
				rc = -EPROTO;
			} else {
				if (n)
					memcpy(buf, p, n);
				*len = n;
			}
			shmrt_mv_free(res);
			return rc;
		}
		if (rc != -EAGAIN || timeout == 0)
			return rc;
		if (q_wait(deadline, &round))
			return -ETIMEDOUT;
	}
}

int shmrt_remote_queue_put_burst(const shmrt_remote_queue_t *q, const void *const *msgs,
				 const size_t *lens, unsigned n, shmrt_ns_t timeout)
{
	if (!q || !msgs || !lens || n == 0 || n > SHMRT_REMOTE_BURST_MAX)
		return -EINVAL;
	if (lens[0] > q->max_msg)
		return -EMSGSIZE;
	unsigned k = 1; /* the messages up to the first too large (as the local burst) */
	size_t total = lens[0];
	while (k < n && lens[k] <= q->max_msg && total + lens[k] <= SHMRT_REMOTE_RANGE_MAX)
		total += lens[k++];
	uint64_t deadline = shmrt__deadline(timeout);
	unsigned round = 0;
	for (;;) {
		shmrt_mv_t *l = shmrt_mv_list_cap(k);
		for (unsigned i = 0; l && i < k; i++) {
			shmrt_mv_t *m = lens[i] ? shmrt_mv_bytes(msgs[i], lens[i]) : shmrt_mv_bytes("", 0);
			if (!m || shmrt_mv_list_append(l, m)) {
				shmrt_mv_free(m);
				shmrt_mv_free(l);
				l = NULL;
			}
		}
		if (!l)
			return -ENOMEM;
		int64_t moved;
		int rc = rcall_int(q->proxy, "put_burst", args_of(1, l, NULL, NULL), &moved);
		if (rc == 0)
			return moved >= 1 && moved <= (int64_t)k ? (int)moved : -EPROTO;
		if (rc != -EAGAIN || timeout == 0)
			return rc;
		if (q_wait(deadline, &round))
			return -ETIMEDOUT;
	}
}

int shmrt_remote_queue_get_burst(const shmrt_remote_queue_t *q, void *const *bufs, size_t cap,
				 size_t *lens, unsigned n, shmrt_ns_t timeout)
{
	if (!q || !bufs || !lens || n == 0 || n > SHMRT_REMOTE_BURST_MAX)
		return -EINVAL;
	uint64_t deadline = shmrt__deadline(timeout);
	unsigned round = 0;
	size_t c = cap > q->max_msg ? q->max_msg : cap;
	for (;;) {
		shmrt_mv_t *res = NULL;
		int rc = rcall(q->proxy, "get_burst",
			       args_of(2, shmrt_mv_int(n), shmrt_mv_int((int64_t)c), NULL), &res);
		if (rc == 0) {
			size_t got = shmrt_mv_list_len(res);
			if (shmrt_mv_kind(res) != SHMRT_MV_LIST || got == 0 || got > n)
				rc = -EPROTO;
			for (size_t i = 0; rc == 0 && i < got; i++) {
				const void *p;
				size_t m;
				if (shmrt_mv_as_bytes(shmrt_mv_list_get(res, (int64_t)i), &p, &m) ||
				    m > c) {
					rc = -EPROTO;
					break;
				}
				if (m)
					memcpy(bufs[i], p, m);
				lens[i] = m;
			}
			shmrt_mv_free(res);
			return rc ? rc : (int)got;
		}
		if (rc != -EAGAIN || timeout == 0)
			return rc;
		if (q_wait(deadline, &round))
			return -ETIMEDOUT;
	}
}

/* ---- dict -------------------------------------------------------------------------------- */

int shmrt_remote_dict_get(const shmrt_remote_dict_t *d, const void *key, size_t klen, void *buf,
			  size_t cap, size_t *vlen)
{
	if (!d || (!key && klen) || (!buf && cap) || !vlen)
		return -EINVAL;
	if (klen > d->max_key)
		return -EMSGSIZE;
	shmrt_mv_t *res = NULL;
	int rc = rcall(d->proxy, "get",
		       args_of(1, klen ? shmrt_mv_bytes(key, klen) : shmrt_mv_bytes("", 0), NULL,
			       NULL),
		       &res);
	const void *p;
	size_t n;
	if (rc == 0 && shmrt_mv_as_bytes(res, &p, &n))
		rc = -EPROTO;
	if (rc == 0) {
		*vlen = n;
		if (n > cap)
			rc = -EMSGSIZE; /* buf untouched, *vlen the size needed */
		else if (n)
			memcpy(buf, p, n);
	}
	shmrt_mv_free(res);
	return rc;
}

static shmrt_mv_t *bytes_or_empty(const void *p, size_t n)
{
	return n ? shmrt_mv_bytes(p, n) : shmrt_mv_bytes("", 0);
}

int shmrt_remote_dict_set(const shmrt_remote_dict_t *d, const void *key, size_t klen,
			  const void *val, size_t vlen)
{
	if (!d || (!key && klen) || (!val && vlen))
		return -EINVAL;
	if (klen > d->max_key || vlen > d->max_value)
		return -EMSGSIZE;
	return rcall(d->proxy, "set",
		     args_of(2, bytes_or_empty(key, klen), bytes_or_empty(val, vlen), NULL), NULL);
}

int shmrt_remote_dict_delete(const shmrt_remote_dict_t *d, const void *key, size_t klen)
{
	if (!d || (!key && klen))
		return -EINVAL;
	if (klen > d->max_key)
		return -EMSGSIZE;
	return rcall(d->proxy, "delete", args_of(1, bytes_or_empty(key, klen), NULL, NULL), NULL);
}

int shmrt_remote_dict_cas(const shmrt_remote_dict_t *d, const void *key, size_t klen,
			  const void *expect, size_t elen, const void *val, size_t vlen)
{
	if (!d || (!key && klen) || (!val && vlen))
		return -EINVAL;
	if (klen > d->max_key || vlen > d->max_value)
		return -EMSGSIZE;
	shmrt_mv_t *e = expect ? bytes_or_empty(expect, elen) : shmrt_mv_nil();
	return rcall(d->proxy, "cas",
		     args_of(3, bytes_or_empty(key, klen), e, bytes_or_empty(val, vlen)), NULL);
}
