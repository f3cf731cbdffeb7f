/*
 * Remote region objects, the server's side: the Manager attaches shmrt regions
 * (shmrt_manager_opts_t.regions) and lets its authenticated clients reach the named
 * objects in them (a Value, Counter, Array, Queue, Dict) while local processes keep
 * using the same shared memory directly (docs/DESIGN.md 8b, "Remote region objects").
 *
 * Attaching. The server opens each region by name when it starts (never creating
 * it) and holds it until it stops: it is one more attached process of the region,
 * with a registry slot and thread records like any other, so the region's liveness
 * rules see it (an AUTO_UNLINK region is not unlinked while the server holds it; a
 * region that does not exist fails the start with -ENOENT, before anything listens).
 * Objects are only opened, never created or removed: remote clients use what the
 * local program made.
 *
 * Handles. "ropen [region, kind, name] -> [ref, a, b]" opens the object with the
 * local call and makes a store object of an internal type (remote.value, ...) whose
 * priv is the local handle: the handle takes a session reference as a create does,
 * so it is released, counted and dropped with its session as every other object,
 * and its methods are ordinary calls, read by the server's fast path for calls
 * (manager/objects_call.c): a remote fetch_add is one frame each way. The geometry an
 * opener must pass locally (element type, queue modes, maxima) is discovered: the
 * directory says the object's kind (a wrong kind is -EPROTOTYPE, as locally), then
 * the opener is tried with each element type or mode until the one it was made with
 * (a few directory look-ups, once per open). a and b tell the client what it needs:
 * value: its element type; array: element type and length; queue: max_msg and
 * capacity; dict: max_key and max_value; counter: nothing (0).
 *
 * Methods (every one runs the local call once with no wait, so the one-thread
 * loop never blocks; scalars travel as the 8 bytes of shmrt_scalar_t in an int, so
 * every element type, 'Q' above INT64_MAX and floats' bits included, round-trips
 * exactly and the local call checks the type as it does for a local caller):
 *   value:   load [] -> bits; store [bits]; exchange [bits] -> old;
 *            fetch [op, bits] -> old; cas [expected, desired] -> nil (swapped) or
 *            the current bits (not swapped: the client returns -EAGAIN)
 *   counter: add [x]; sum [] -> int
 *   array:   read [off, count] -> bytes (shmrt_array_snapshot: one instant's state);
 *            write [off, bytes] (whole elements); fetch [i, op, bits] -> old
 *   queue:   put [bytes]; get [cap] -> bytes, or an int (the needed size: the
 *            message is too large for cap and stays queued: -EMSGSIZE);
 *            put_burst [[bytes...]] -> n moved; get_burst [n, cap] -> [bytes...];
 *            size [] -> int
 *   dict:    get [key] -> bytes; set [key, val]; delete [key];
 *            cas [key, expect|nil, val]; len [] -> int
 * A queue that cannot move now answers -EAGAIN (the local call's at timeout 0) and
 * the client waits and asks again (manager/client_remote.c): a parked remote get
 * would need the server to watch the queue, which a local producer's put does not
 * tell it about (its futex wake goes to sleeping processes, not to an epoll loop).
 * A queue made SHMRT_QUEUE_SP (SC) promised one producer (consumer) thread among all
 * processes: the server would be one more, so remote puts (gets) on it are -EPERM.
 * A range read is capped at SHMRT_REMOTE_RANGE_MAX bytes (-EMSGSIZE before anything
 * is read), well under the server's frame cap; a get burst stops before its reply
 * would pass it, and a single get leaves a message above it queued (-EMSGSIZE), so
 * no reply the frame cap refuses carries a message taken out of a queue. (With a
 * max_frame below 8 MiB + REPLY_OVERHEAD the cap is the frame's less that overhead.)
 *
 * Crashes. A client that dies mid-call costs nothing here: each method is one local
 * call, run whole in the server's thread. What a get took before its reply was lost
 * is lost (at-most-once, as a local consumer killed after its get).
 *
 * Concurrency: the server's one thread.
 */
#define _GNU_SOURCE
#include "manager/server_int.h"
#include "manager/mvalue_int.h"

#include <shmrt/array.h>
#include <shmrt/dict.h>
#include <shmrt/queue.h>
#include <shmrt/region.h>
#include <shmrt/remote.h>
#include <shmrt/value.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct mreg {
	char *name;
	shmrt_region_t *r;
} mreg_t;

struct shmrt__mremote {
	mreg_t *regs;
	size_t n;
	size_t max_data; /* the most data bytes one reply carries (see the top) */
};

/* A reply's bytes beyond its data: [id, rc, [bin, ...]] with a burst's headers. */
#define REPLY_OVERHEAD (64u + 8u * SHMRT_REMOTE_BURST_MAX)

enum { K_VALUE, K_COUNTER, K_ARRAY, K_QUEUE, K_DICT, K_COUNT };

static const char *const kind_names[K_COUNT] = { "value", "counter", "array", "queue", "dict" };
static const uint32_t kind_types[K_COUNT] = { SHMRT_TYPE_VALUE, SHMRT_TYPE_COUNTER,
					      SHMRT_TYPE_ARRAY, SHMRT_TYPE_QUEUE,
					      SHMRT_TYPE_DICT };

/* A remote handle: the store object's priv. */
typedef struct rh {
	int kind;
	union {
		shmrt_value_t v;
		shmrt_counter_t c;
		shmrt_array_t a;
		shmrt_queue_t q;
		shmrt_dict_t d;
	} u;
	uint8_t *scratch; /* a get's buffer (max_msg, max_value bytes), made at open */
	size_t nscratch;
} rh_t;

/* ---- attaching ------------------------------------------------------------------- */

void shmrt__remote_detach(shmrt__mstore_t *st)
{
	struct shmrt__mremote *m = st->remote;
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		(void)shmrt_region_close(m->regs[i].r);
		free(m->regs[i].name);
	}
	free(m->regs);
	free(m);
	st->remote = NULL;
}

int shmrt__remote_attach(shmrt__mstore_t *st, const char *const *names, size_t max_frame)
{
	if (!names || !names[0])
		return 0;
	size_t n = 0;
	while (names[n])
		n++;
	if (n > SHMRT_REMOTE_REGIONS_MAX)
		return -E2BIG;
	struct shmrt__mremote *m = calloc(1, sizeof(*m));
	if (!m || !(m->regs = calloc(n, sizeof(*m->regs)))) {
		free(m);
		return -ENOMEM;
	}
	m->max_data = max_frame > REPLY_OVERHEAD ? max_frame - REPLY_OVERHEAD : 0;
	if (m->max_data > SHMRT_REMOTE_RANGE_MAX)
		m->max_data = SHMRT_REMOTE_RANGE_MAX;
	st->remote = m;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++)
			if (!strcmp(names[i], names[j])) {
				shmrt__remote_detach(st);
				return -EINVAL; /* a region named twice */
			}
		int rc = shmrt_region_open(names[i], 0, NULL, &m->regs[i].r);
		if (rc == 0 && !(m->regs[i].name = strdup(names[i]))) {
			(void)shmrt_region_close(m->regs[i].r);
			rc = -ENOMEM;
		}
		if (rc) {
			shmrt__remote_detach(st);
			return rc;
		}
		m->n++;
	}
	return 0;
}

/* ---- arguments --------------------------------------------------------------------- */

/* The i-th argument as an int: 0 and *out, or -EINVAL. */
static int arg_int(const shmrt__mcall_t *c, size_t i, int64_t *out)
{
	return shmrt_mv_as_int(SHMRT__MARG(c, i), out) ? -EINVAL : 0;
}

static int arg_bytes(const shmrt__mcall_t *c, size_t i, const void **p, size_t *n)
{
	return shmrt_mv_as_bytes(SHMRT__MARG(c, i), p, n) ? -EINVAL : 0;
}

static shmrt_scalar_t bits_scalar(int64_t b)
{
	shmrt_scalar_t s;
	_Static_assert(sizeof(s) == sizeof(b), "a scalar is 8 bytes");
	memcpy(&s, &b, sizeof(s));
	return s;
}

static int scalar_result(shmrt__mcall_t *c, const shmrt_scalar_t *s)
{
	int64_t b;
	memcpy(&b, s, sizeof(b));
	return shmrt__mcall_result(c, shmrt_mv_int(b));
}

static rh_t *H(const shmrt__mcall_t *c)
{
	return c->o->priv;
}

#define NARGS(c, n)                                   \
	do {                                          \
		if (SHMRT__MARGC(c) != (n))           \
			return -EINVAL;               \
	} while (0)

/* ---- value --------------------------------------------------------------------------- */

static int v_load(shmrt__mcall_t *c)
{
	NARGS(c, 0);
	shmrt_scalar_t s = { .u64 = 0 };
	int rc = shmrt_value_load(&H(c)->u.v, &s);
	return rc ? rc : scalar_result(c, &s);
}

static int v_store(shmrt__mcall_t *c)
{
	int64_t b;
	NARGS(c, 1);
	if (arg_int(c, 0, &b))
		return -EINVAL;
	return shmrt_value_store(&H(c)->u.v, bits_scalar(b));
}

static int v_exchange(shmrt__mcall_t *c)
{
	int64_t b;
	NARGS(c, 1);
	if (arg_int(c, 0, &b))
		return -EINVAL;
	shmrt_scalar_t old = { .u64 = 0 };
	int rc = shmrt_value_exchange(&H(c)->u.v, bits_scalar(b), &old);
	return rc ? rc : scalar_result(c, &old);
}

static int check_op(int64_t op)
{
	return op < SHMRT_OP_ADD || op > SHMRT_OP_MAX ? -EINVAL : 0;
}

static int v_fetch(shmrt__mcall_t *c)
{
	int64_t op, b;
	NARGS(c, 2);
	if (arg_int(c, 0, &op) || arg_int(c, 1, &b) || check_op(op))
		return -EINVAL;
	shmrt_scalar_t old = { .u64 = 0 };
	int rc = shmrt_value_fetch(&H(c)->u.v, (shmrt_vop_t)op, bits_scalar(b), &old);
	return rc ? rc : scalar_result(c, &old);
}

static int v_cas(shmrt__mcall_t *c)
{
	int64_t e, d;
	NARGS(c, 2);
	if (arg_int(c, 0, &e) || arg_int(c, 1, &d))
		return -EINVAL;
	shmrt_scalar_t exp = bits_scalar(e);
	int rc = shmrt_value_cas(&H(c)->u.v, &exp, bits_scalar(d));
	if (rc == -EAGAIN) { /* not swapped: the current value, as the local *expected */
		shmrt_scalar_t cur = { .u64 = 0 };
		memcpy(&cur, &exp, shmrt_vtype_size((int)H(c)->u.v.type));
		return scalar_result(c, &cur);
	}
	return rc;
}

static const shmrt__mmethod_t value_methods[] = {
	{ "fetch", v_fetch }, { "load", v_load }, { "store", v_store },
	{ "cas", v_cas },     { "exchange", v_exchange },
};

/* ---- counter ------------------------------------------------------------------------- */

static int c_add(shmrt__mcall_t *c)
{
	int64_t x;
	NARGS(c, 1);
	if (arg_int(c, 0, &x))
		return -EINVAL;
	shmrt_counter_add(&H(c)->u.c, x);
	return 0;
}

static int c_sum(shmrt__mcall_t *c)
{
	NARGS(c, 0);
	return shmrt__mcall_result(c, shmrt_mv_int(shmrt_counter_read(&H(c)->u.c)));
}

static const shmrt__mmethod_t counter_methods[] = { { "add", c_add }, { "sum", c_sum } };

/* ---- array --------------------------------------------------------------------------- */

/* Whether [off, off + count) lies in a (count 0 included): 0, or -EINVAL. */
static int a_range(const shmrt_array_t *a, int64_t off, int64_t count)
{
	if (off < 0 || count < 0 || (uint64_t)off > a->n || (uint64_t)count > a->n - (uint64_t)off)
		return -EINVAL;
	return 0;
}

static int a_read(shmrt__mcall_t *c)
{
	int64_t off, count;
	NARGS(c, 2);
	if (arg_int(c, 0, &off) || arg_int(c, 1, &count))
		return -EINVAL;
	const shmrt_array_t *a = &H(c)->u.a;
	int rc = a_range(a, off, count);
	if (rc)
		return rc;
	if ((uint64_t)count > c->st->remote->max_data / a->elem)
		return -EMSGSIZE;
	size_t n = (size_t)count * a->elem;
	void *buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	rc = count ? shmrt_array_snapshot(a, (uint64_t)off, buf, (uint64_t)count) : 0;
	if (rc == 0)
		rc = shmrt__mcall_result(c, shmrt_mv_bytes(buf, n));
	free(buf);
	return rc;
}

static int a_write(shmrt__mcall_t *c)
{
	int64_t off;
	const void *p;
	size_t n;
	NARGS(c, 2);
	if (arg_int(c, 0, &off) || arg_bytes(c, 1, &p, &n))
		return -EINVAL;
	const shmrt_array_t *a = &H(c)->u.a;
	if (n % a->elem)
		return -EINVAL; /* not whole elements */
	int rc = a_range(a, off, (int64_t)(n / a->elem));
	if (rc || n == 0)
		return rc;
	return shmrt_array_write(a, (uint64_t)off, p, n / a->elem);
}

static int a_fetch(shmrt__mcall_t *c)
{
	int64_t i, op, b;
	NARGS(c, 3);
	if (arg_int(c, 0, &i) || arg_int(c, 1, &op) || arg_int(c, 2, &b) || check_op(op) || i < 0)
		return -EINVAL;
	shmrt_scalar_t old = { .u64 = 0 };
	int rc = shmrt_array_fetch(&H(c)->u.a, (uint64_t)i, (shmrt_vop_t)op, bits_scalar(b), &old);
	return rc ? rc : scalar_result(c, &old);
}

static const shmrt__mmethod_t array_methods[] = {
	{ "read", a_read }, { "write", a_write }, { "fetch", a_fetch },
};

/* ---- queue --------------------------------------------------------------------------- */

static int q_put(shmrt__mcall_t *c)
{
	const void *p;
	size_t n;
	NARGS(c, 1);
	if (arg_bytes(c, 0, &p, &n))
		return -EINVAL;
	if (H(c)->u.q.mode & SHMRT_QUEUE_SP)
		return -EPERM; /* one producer promised: the server would be a second */
	return shmrt_queue_put(&H(c)->u.q, p, n, 0);
}

/* The cap argument i: 0 and *cap, or -EINVAL. The cap is at most the scratch's size
 * and the range cap: a message larger than that stays queued (-EMSGSIZE) rather than
 * be taken into a reply the frame cap would refuse, and so lost. */
static int q_cap(const shmrt__mcall_t *c, size_t i, size_t *cap)
{
	int64_t x;
	if (arg_int(c, i, &x) || x < 0)
		return -EINVAL;
	size_t lim = c->st->remote->max_data;
	size_t m = H(c)->nscratch < lim ? H(c)->nscratch : lim;
	*cap = (uint64_t)x < m ? (size_t)x : m;
	return 0;
}

static int q_get(shmrt__mcall_t *c)
{
	size_t cap, len = 0;
	NARGS(c, 1);
	if (q_cap(c, 0, &cap))
		return -EINVAL;
	rh_t *h = H(c);
	if (h->u.q.mode & SHMRT_QUEUE_SC)
		return -EPERM; /* one consumer promised */
	int rc = shmrt_queue_get(&h->u.q, h->scratch, cap, &len, 0);
	if (rc == -EMSGSIZE) /* it stays queued; the client learns the size it needs */
		return shmrt__mcall_result(c, shmrt_mv_int((int64_t)len));
	return rc ? rc : shmrt__mcall_result(c, shmrt_mv_bytes(h->scratch, len));
}

static int q_put_burst(shmrt__mcall_t *c)
{
	NARGS(c, 1);
	const shmrt_mv_t *l = SHMRT__MARG(c, 0);
	if (shmrt_mv_kind(l) != SHMRT_MV_LIST)
		return -EINVAL;
	size_t n = shmrt_mv_list_len(l);
	if (n == 0 || n > SHMRT_REMOTE_BURST_MAX)
		return -EINVAL;
	if (H(c)->u.q.mode & SHMRT_QUEUE_SP)
		return -EPERM;
	const void **msgs = malloc(n * sizeof(*msgs));
	size_t *lens = malloc(n * sizeof(*lens));
	int rc = msgs && lens ? 0 : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (shmrt_mv_as_bytes(shmrt_mv_list_get(l, (int64_t)i), &msgs[i], &lens[i]))
			rc = -EINVAL;
	if (rc == 0)
		rc = shmrt_queue_put_burst(&H(c)->u.q, (const void *const *)msgs, lens,
					   (unsigned)n, 0);
	free(msgs);
	free(lens);
	if (rc < 0)
		return rc;
	return shmrt__mcall_result(c, shmrt_mv_int(rc));
}

static int q_get_burst(shmrt__mcall_t *c)
{
	int64_t want;
	size_t cap;
	NARGS(c, 2);
	if (arg_int(c, 0, &want) || q_cap(c, 1, &cap) || want < 1 ||
	    want > SHMRT_REMOTE_BURST_MAX)
		return -EINVAL;
	rh_t *h = H(c);
	if (h->u.q.mode & SHMRT_QUEUE_SC)
		return -EPERM;
	shmrt_mv_t *l = shmrt_mv_list_cap((size_t)want);
	if (!l)
		return -ENOMEM;
	size_t total = 0;
	int rc = 0;
	/* One get at a time, each taking the oldest message: FIFO per producer as the
	 * local burst; stops at the first that cannot move now, or before the reply
	 * would pass the range cap. */
	while (shmrt_mv_list_len(l) < (size_t)want && total + cap <= c->st->remote->max_data) {
		size_t len = 0;
		rc = shmrt_queue_get(&h->u.q, h->scratch, cap, &len, 0);
		if (rc)
			break;
		shmrt_mv_t *m = shmrt_mv_bytes(h->scratch, len);
		if (!m || shmrt_mv_list_append(l, m)) {
			shmrt_mv_free(m); /* taken and lost: at-most-once, as a dead consumer */
			rc = -ENOMEM;
			break;
		}
		total += len;
	}
	if (shmrt_mv_list_len(l) == 0) {
		shmrt_mv_free(l);
		return rc ? rc : -EMSGSIZE; /* rc 0: cap over the range cap */
	}
	return shmrt__mcall_result(c, l);
}

static int q_size(shmrt__mcall_t *c)
{
	NARGS(c, 0);
	return shmrt__mcall_result(c, shmrt_mv_int(shmrt_queue_size(&H(c)->u.q)));
}

static const shmrt__mmethod_t queue_methods[] = {
	{ "put_burst", q_put_burst }, { "get_burst", q_get_burst }, { "put", q_put },
	{ "get", q_get },             { "size", q_size },
};

/* ---- dict ---------------------------------------------------------------------------- */

static int d_get(shmrt__mcall_t *c)
{
	const void *k;
	size_t kn, vn = 0;
	NARGS(c, 1);
	if (arg_bytes(c, 0, &k, &kn))
		return -EINVAL;
	rh_t *h = H(c);
	int rc = shmrt_dict_get(&h->u.d, k, kn, h->scratch, h->nscratch, &vn);
	return rc ? rc : shmrt__mcall_result(c, shmrt_mv_bytes(h->scratch, vn));
}

static int d_set(shmrt__mcall_t *c)
{
	const void *k, *v;
	size_t kn, vn;
	NARGS(c, 2);
	if (arg_bytes(c, 0, &k, &kn) || arg_bytes(c, 1, &v, &vn))
		return -EINVAL;
	return shmrt_dict_set(&H(c)->u.d, k, kn, v, vn);
}

static int d_delete(shmrt__mcall_t *c)
{
	const void *k;
	size_t kn;
	NARGS(c, 1);
	if (arg_bytes(c, 0, &k, &kn))
		return -EINVAL;
	return shmrt_dict_delete(&H(c)->u.d, k, kn);
}

static int d_cas(shmrt__mcall_t *c)
{
	const void *k, *e = NULL, *v;
	size_t kn, en = 0, vn;
	NARGS(c, 3);
	if (arg_bytes(c, 0, &k, &kn) || arg_bytes(c, 2, &v, &vn))
		return -EINVAL;
	if (shmrt_mv_kind(SHMRT__MARG(c, 1)) != SHMRT_MV_NIL && arg_bytes(c, 1, &e, &en))
		return -EINVAL;
	if (shmrt_mv_kind(SHMRT__MARG(c, 1)) != SHMRT_MV_NIL && !e)
		e = ""; /* an empty expected value, not "absent" */
	return shmrt_dict_cas(&H(c)->u.d, k, kn, e, en, v, vn);
}

static int d_len(shmrt__mcall_t *c)
{
	NARGS(c, 0);
	return shmrt__mcall_result(c, shmrt_mv_int((int64_t)shmrt_dict_len(&H(c)->u.d)));
}

static const shmrt__mmethod_t dict_methods[] = {
	{ "get", d_get }, { "set", d_set }, { "delete", d_delete },
	{ "cas", d_cas }, { "len", d_len },
};

/* ---- the types and ropen --------------------------------------------------------------- */

static void rh_fini(shmrt__mstore_t *st, shmrt__mobj_t *o)
{
	(void)st;
	rh_t *h = o->priv;
	if (h)
		free(h->scratch);
	free(h);
	o->priv = NULL;
}

#define RTYPE(nm, ms)                                                                      \
	{ .name = nm, .init = shmrt__mtype_nil_data, .methods = ms,                       \
	  .nmethods = sizeof(ms) / sizeof(ms[0]), .fini = rh_fini }

static const shmrt__mtype_t rtypes[K_COUNT] = {
	RTYPE("remote.value", value_methods), RTYPE("remote.counter", counter_methods),
	RTYPE("remote.array", array_methods), RTYPE("remote.queue", queue_methods),
	RTYPE("remote.dict", dict_methods),
};

/* Copies the str argument v into buf (max bytes at most, no NUL inside): 0, -EINVAL. */
static int str_arg(const shmrt_mv_t *v, char *buf, size_t max)
{
	const char *p;
	size_t n;
	if (shmrt_mv_as_str(v, &p, &n) || n == 0 || n > max || memchr(p, 0, n))
		return -EINVAL;
	memcpy(buf, p, n);
	buf[n] = 0;
	return 0;
}

/* Opens name (of kind k, found in r's directory) into h, discovering its geometry;
 * *a, *b: what the client is told. Returns 0 or the local open's error. */
static int open_local(shmrt_region_t *r, const char *name, int k, rh_t *h, int64_t *a,
		      int64_t *b)
{
	int rc = -EPROTOTYPE;
	switch (k) {
	case K_VALUE:
		for (int t = 1; t < SHMRT_VT_COUNT_ && rc == -EPROTOTYPE; t++)
			rc = shmrt_value_open(r, name, 0, t, NULL, &h->u.v);
		*a = rc ? 0 : (int64_t)h->u.v.type;
		break;
	case K_COUNTER:
		rc = shmrt_counter_open(r, name, 0, &h->u.c);
		break;
	case K_ARRAY:
		for (int t = 1; t < SHMRT_VT_COUNT_ && rc == -EPROTOTYPE; t++)
			rc = shmrt_array_open(r, name, 0, t, 0, NULL, &h->u.a);
		if (rc == 0)
			*a = (int64_t)h->u.a.type, *b = (int64_t)h->u.a.n;
		break;
	case K_QUEUE: {
		static const int modes[] = { 0, SHMRT_QUEUE_NO_EOF, SHMRT_QUEUE_SP, SHMRT_QUEUE_SC };
		for (int j = 0; j < 2 && rc == -EPROTOTYPE; j++)
			for (int m = 0; m < 8 && rc == -EPROTOTYPE; m++) {
				int f = (m & 1 ? modes[1] : 0) | (m & 2 ? modes[2] : 0) |
					(m & 4 ? modes[3] : 0);
				rc = j ? shmrt_joinable_queue_open(r, name, f, 1, 0, &h->u.q)
				       : shmrt_queue_open(r, name, f, 1, 0, &h->u.q);
			}
		if (rc == 0) {
			*a = h->u.q.max_msg, *b = shmrt_queue_capacity(&h->u.q);
			h->nscratch = h->u.q.max_msg;
		}
		break;
	}
	case K_DICT: {
		shmrt_dict_opts_t o = { .max_key = 1, .max_value = 1, .partitions = 1 };
		rc = shmrt_dict_open(r, name, 0, &o, &h->u.d);
		if (rc == 0) {
			*a = h->u.d.max_key, *b = h->u.d.max_value;
			h->nscratch = h->u.d.max_value;
		}
		break;
	}
	}
	if (rc == 0 && !(h->scratch = malloc(h->nscratch ? h->nscratch : 1)))
		rc = -ENOMEM;
	return rc;
}

int shmrt__remote_open(shmrt__mstore_t *st, shmrt__msess_t *sess, const shmrt_mv_t *args,
		       shmrt_mv_t **res)
{
	char region[SHMRT_NAME_MAX + 1], kind[16], name[SHMRT_OBJNAME_MAX + 1];
	if (shmrt_mv_list_len(args) != 3 ||
	    str_arg(shmrt_mv_list_get(args, 0), region, SHMRT_NAME_MAX) ||
	    str_arg(shmrt_mv_list_get(args, 1), kind, sizeof(kind) - 1) ||
	    str_arg(shmrt_mv_list_get(args, 2), name, SHMRT_OBJNAME_MAX))
		return -EINVAL;
	int k = 0;
	while (k < K_COUNT && strcmp(kind_names[k], kind))
		k++;
	if (k == K_COUNT)
		return -EINVAL;
	struct shmrt__mremote *m = st->remote;
	shmrt_region_t *r = NULL;
	for (size_t i = 0; m && i < m->n && !r; i++)
		if (!strcmp(m->regs[i].name, region))
			r = m->regs[i].r;
	if (!r)
		return -ENXIO; /* no region of that name is served */
	shmrt_object_info_t oi;
	int rc = shmrt_object_lookup(r, name, &oi);
	if (rc)
		return rc;
	if (oi.type != kind_types[k])
		return -EPROTOTYPE;
	rh_t *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->kind = k;
	int64_t a = 0, b = 0;
	rc = open_local(r, name, k, h, &a, &b);
	uint64_t id = 0;
	if (rc == 0)
		rc = shmrt__mstore_create(st, sess, &rtypes[k], NULL, &id);
	shmrt__mobj_t *o = NULL;
	if (rc == 0 && (rc = shmrt__mstore_lookup(st, id, &o)) == 0)
		o->priv = h, h = NULL;
	if (h) {
		free(h->scratch);
		free(h);
	}
	if (rc)
		return rc;
	shmrt_mv_t *l = shmrt_mv_list_cap(3);
	if (!l || shmrt_mv_list_append(l, shmrt_mv_ref(id)) ||
	    shmrt_mv_list_append(l, shmrt_mv_int(a)) || shmrt_mv_list_append(l, shmrt_mv_int(b))) {
		shmrt_mv_free(l);
		(void)shmrt__mstore_release(st, sess, id);
		return -ENOMEM;
	}
	*res = l;
	return 0;
}
