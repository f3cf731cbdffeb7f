/*
 * Remote region objects (shmrt/remote.h): a Manager server attaches a region and
 * TCP clients (over loopback) reach its Value, Counter, Array, Queue and Dict while
 * local processes use the same shared memory directly.
 *
 *  - semantics: every call against the local call on the same object; geometry
 *  - errors: unknown region and object, wrong kind, bad arguments, ranges out of
 *    bounds and over the cap, oversize messages, a missing region at start; the
 *    server serves on after each; under a small frame cap a message too large for a
 *    reply stays queued
 *  - all at once: two local processes and two TCP clients on one Value (the exact
 *    count of fetch_adds), one Queue (multiset got == multiset put, FIFO per
 *    producer) and one Dict (every acknowledged set visible, locally and remotely)
 *  - a TCP client SIGKILLed mid-burst and mid-write: the server lives, the queue's
 *    messages stay whole and in order per producer, the array's writes whole
 *  - `shmrt manager serve --region`: a TCP client changes the Value the test sees
 */
#define MMU_OWN_FIXTURES
#include "testutil.h"
#include "manager_mp_util.h"

#include <shmrt/remote.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

static const char *rname;
static shmrt_region_t *reg;
static shmrt_value_t lv;
static shmrt_counter_t lc;
static shmrt_array_t la, lbig;
static shmrt_queue_t lq;
static shmrt_dict_t ld;

#define QCAP 256
#define QMSG 64
#define ALEN 1000

static int setup_r(void **state)
{
	(void)state;
	rname = tu_name("remote");
	reg = tu_create(rname, 64u << 20, 0);
	shmrt_scalar_t z = { .i64 = 0 };
	MMU_OK(shmrt_value_open(reg, "v", SHMRT_O_CREATE, SHMRT_VT_INT64, &z, &lv));
	MMU_OK(shmrt_counter_open(reg, "c", SHMRT_O_CREATE, &lc));
	MMU_OK(shmrt_array_open(reg, "a", SHMRT_O_CREATE, SHMRT_VT_INT32, ALEN, NULL, &la));
	/* one element past the range cap */
	MMU_OK(shmrt_array_open(reg, "big", SHMRT_O_CREATE, SHMRT_VT_UINT8,
				SHMRT_REMOTE_RANGE_MAX + 1ull, NULL, &lbig));
	MMU_OK(shmrt_queue_open(reg, "q", SHMRT_O_CREATE | SHMRT_QUEUE_NO_EOF, QCAP, QMSG, &lq));
	shmrt_dict_opts_t dopt = { .max_key = 32, .max_value = 128 };
	MMU_OK(shmrt_dict_open(reg, "d", SHMRT_O_CREATE, &dopt, &ld));
	shmrt_queue_t sp;
	MMU_OK(shmrt_queue_open(reg, "qsp", SHMRT_O_CREATE | SHMRT_QUEUE_SP, 8, 8, &sp));
	static const char *regions[2];
	regions[0] = rname;
	shmrt_manager_opts_t o = { .regions = regions };
	assert_int_equal(shmrt_manager_start("tcp:127.0.0.1:0", KEY, KEYLEN, &o, &srv), 0);
	conn = connect_srv();
	return 0;
}

static int teardown_r(void **state)
{
	(void)state;
	server_down();
	assert_int_equal(shmrt_region_close(reg), 0);
	(void)shmrt_region_unlink(rname);
	return 0;
}

/* ---- semantics ---------------------------------------------------------------------- */

static void semantics(void **state)
{
	(void)state;
	shmrt_remote_value_t v;
	shmrt_remote_counter_t c;
	shmrt_remote_array_t a;
	shmrt_remote_queue_t q;
	shmrt_remote_dict_t d;
	MMU_OK(shmrt_remote_value_open(conn, rname, "v", &v));
	MMU_OK(shmrt_remote_counter_open(conn, rname, "c", &c));
	MMU_OK(shmrt_remote_array_open(conn, rname, "a", &a));
	MMU_OK(shmrt_remote_queue_open(conn, rname, "q", &q));
	MMU_OK(shmrt_remote_dict_open(conn, rname, "d", &d));
	assert_int_equal(v.type, SHMRT_VT_INT64);
	assert_int_equal(a.type, SHMRT_VT_INT32);
	assert_int_equal(a.len, ALEN);
	assert_int_equal(q.max_msg, QMSG);
	assert_true(q.capacity >= QCAP);
	assert_int_equal(d.max_key, 32);
	assert_int_equal(d.max_value, 128);

	/* Value: each call against the local view */
	shmrt_scalar_t x = { .i64 = 41 }, old, cur;
	MMU_OK(shmrt_remote_value_store(&v, x));
	MMU_OK(shmrt_value_load(&lv, &cur));
	assert_int_equal(cur.i64, 41);
	x.i64 = 1;
	MMU_OK(shmrt_remote_value_fetch(&v, SHMRT_OP_ADD, x, &old));
	assert_int_equal(old.i64, 41);
	MMU_OK(shmrt_remote_value_load(&v, &cur));
	assert_int_equal(cur.i64, 42);
	shmrt_scalar_t exp = { .i64 = 7 }, des = { .i64 = 100 };
	assert_int_equal(shmrt_remote_value_cas(&v, &exp, des), -EAGAIN);
	assert_int_equal(exp.i64, 42); /* the current value, as the local cas */
	MMU_OK(shmrt_remote_value_cas(&v, &exp, des));
	MMU_OK(shmrt_value_load(&lv, &cur));
	assert_int_equal(cur.i64, 100);
	x.i64 = -5;
	MMU_OK(shmrt_remote_value_exchange(&v, x, &old));
	assert_int_equal(old.i64, 100);
	x.i64 = 3;
	MMU_OK(shmrt_remote_value_fetch(&v, SHMRT_OP_MAX, x, &old));
	MMU_OK(shmrt_value_load(&lv, &cur));
	assert_int_equal(cur.i64, 3);
	assert_int_equal(shmrt_remote_value_fetch(&v, (shmrt_vop_t)99, x, &old), -EINVAL);
	x.i64 = 0;
	MMU_OK(shmrt_remote_value_store(&v, x));

	/* Counter */
	int64_t sum;
	MMU_OK(shmrt_remote_counter_add(&c, 5));
	shmrt_counter_add(&lc, 7);
	MMU_OK(shmrt_remote_counter_sum(&c, &sum));
	assert_int_equal(sum, 12);
	assert_int_equal(shmrt_counter_read(&lc), 12);
	MMU_OK(shmrt_remote_counter_add(&c, -12));

	/* Array: remote write, local read; local write, remote read */
	int32_t buf[ALEN], got[ALEN];
	for (int i = 0; i < ALEN; i++)
		buf[i] = i * 3;
	MMU_OK(shmrt_remote_array_write(&a, 0, buf, ALEN));
	MMU_OK(shmrt_array_read(&la, 0, got, ALEN));
	assert_memory_equal(buf, got, sizeof(buf));
	int32_t w[3] = { -1, -2, -3 };
	MMU_OK(shmrt_array_write(&la, 10, w, 3));
	MMU_OK(shmrt_remote_array_read(&a, 9, got, 5));
	assert_int_equal(got[0], 27);
	assert_int_equal(got[1], -1);
	assert_int_equal(got[3], -3);
	assert_int_equal(got[4], 39);
	MMU_OK(shmrt_remote_array_read(&a, ALEN, got, 0)); /* empty at the end: as locally */
	shmrt_scalar_t one = { .i32 = 1 };
	MMU_OK(shmrt_remote_array_fetch(&a, 10, SHMRT_OP_ADD, one, &old));
	assert_int_equal(old.i32, -1);

	/* Queue: remote put, local get; local put, remote get; bursts */
	size_t len;
	char m[QMSG + 8];
	MMU_OK(shmrt_remote_queue_put(&q, "hello", 5, 0));
	MMU_OK(shmrt_queue_get(&lq, m, sizeof(m), &len, 0));
	assert_int_equal(len, 5);
	assert_memory_equal(m, "hello", 5);
	MMU_OK(shmrt_queue_put(&lq, "world!", 6, 0));
	assert_int_equal(shmrt_remote_queue_get(&q, m, 3, &len, 0), -EMSGSIZE);
	assert_int_equal(len, 6); /* the size needed; the message stays queued */
	MMU_OK(shmrt_remote_queue_get(&q, m, sizeof(m), &len, 0));
	assert_int_equal(len, 6);
	assert_memory_equal(m, "world!", 6);
	assert_int_equal(shmrt_remote_queue_get(&q, m, sizeof(m), &len, 0), -EAGAIN);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_remote_queue_get(&q, m, sizeof(m), &len, 30 * MS), -ETIMEDOUT);
	assert_true(tu_ms() - t0 >= 29);
	char big[QMSG + 1] = { 0 };
	assert_int_equal(shmrt_remote_queue_put(&q, big, sizeof(big), 0), -EMSGSIZE);
	const void *msgs[40];
	size_t lens[40];
	char bodies[40][8];
	for (int i = 0; i < 40; i++) {
		snprintf(bodies[i], sizeof(bodies[i]), "m%02d", i);
		msgs[i] = bodies[i];
		lens[i] = 3;
	}
	assert_int_equal(shmrt_remote_queue_put_burst(&q, msgs, lens, 32, 0), 32);
	char bb[40][QMSG];
	void *bufs[40];
	for (int i = 0; i < 40; i++)
		bufs[i] = bb[i];
	assert_int_equal(shmrt_remote_queue_get_burst(&q, bufs, QMSG, lens, 10, 0), 10);
	for (int i = 0; i < 10; i++)
		assert_memory_equal(bb[i], bodies[i], 3);
	for (int i = 10; i < 32; i++) {
		MMU_OK(shmrt_queue_get(&lq, m, sizeof(m), &len, 0));
		assert_memory_equal(m, bodies[i], 3);
	}
	assert_int_equal(shmrt_remote_queue_get_burst(&q, bufs, QMSG, lens, 10, 0), -EAGAIN);

	/* Dict */
	char val[200];
	size_t vlen;
	MMU_OK(shmrt_remote_dict_set(&d, "k", 1, "v1", 2));
	MMU_OK(shmrt_dict_get(&ld, "k", 1, val, sizeof(val), &vlen));
	assert_int_equal(vlen, 2);
	MMU_OK(shmrt_dict_set(&ld, "k2", 2, "local", 5));
	MMU_OK(shmrt_remote_dict_get(&d, "k2", 2, val, sizeof(val), &vlen));
	assert_int_equal(vlen, 5);
	assert_memory_equal(val, "local", 5);
	assert_int_equal(shmrt_remote_dict_get(&d, "k2", 2, val, 2, &vlen), -EMSGSIZE);
	assert_int_equal(vlen, 5);
	assert_int_equal(shmrt_remote_dict_get(&d, "zz", 2, val, sizeof(val), &vlen), -ENOENT);
	assert_int_equal(shmrt_remote_dict_cas(&d, "k", 1, "no", 2, "v2", 2), -EAGAIN);
	MMU_OK(shmrt_remote_dict_cas(&d, "k", 1, "v1", 2, "v2", 2));
	assert_int_equal(shmrt_remote_dict_cas(&d, "k", 1, NULL, 0, "v3", 2), -EAGAIN);
	MMU_OK(shmrt_remote_dict_cas(&d, "new", 3, NULL, 0, "n", 1));
	MMU_OK(shmrt_dict_get(&ld, "k", 1, val, sizeof(val), &vlen));
	assert_memory_equal(val, "v2", 2);
	MMU_OK(shmrt_remote_dict_delete(&d, "k", 1));
	assert_int_equal(shmrt_dict_get(&ld, "k", 1, val, sizeof(val), &vlen), -ENOENT);
	assert_int_equal(shmrt_remote_dict_delete(&d, "k", 1), -ENOENT);
	char bigv[129] = { 0 };
	assert_int_equal(shmrt_remote_dict_set(&d, "k", 1, bigv, sizeof(bigv)), -EMSGSIZE);
	MMU_OK(shmrt_dict_clear(&ld));

	MMU_OK(shmrt_remote_value_release(&v));
	MMU_OK(shmrt_remote_counter_release(&c));
	MMU_OK(shmrt_remote_array_release(&a));
	MMU_OK(shmrt_remote_queue_release(&q));
	MMU_OK(shmrt_remote_dict_release(&d));
	assert_int_equal(stat_of(conn, "objects"), 0); /* the handles went, not the objects */
}

/* ---- errors -------------------------------------------------------------------------- */

static void errors(void **state)
{
	(void)state;
	shmrt_remote_value_t v;
	shmrt_remote_array_t a, big;
	shmrt_remote_queue_t q;
	assert_int_equal(shmrt_remote_value_open(conn, "no-such-region", "v", &v), -ENXIO);
	assert_int_equal(shmrt_remote_value_open(conn, rname, "nothing", &v), -ENOENT);
	assert_int_equal(shmrt_remote_value_open(conn, rname, "q", &v), -EPROTOTYPE);
	assert_int_equal(shmrt_remote_queue_open(conn, rname, "v", &q), -EPROTOTYPE);
	assert_int_equal(shmrt_remote_value_open(conn, rname, "", &v), -EINVAL);
	assert_int_equal(shmrt_remote_value_open(conn, NULL, "v", &v), -EINVAL);
	char longname[300];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(shmrt_remote_value_open(conn, longname, "v", &v), -EINVAL);
	assert_int_equal(shmrt_remote_value_open(conn, rname, longname, &v), -EINVAL);
	assert_int_equal(shmrt_remote_value_open(conn, rname, "bad/name", &v), -EINVAL);

	/* ropen of the wrong shape, an unknown kind, through the raw op */
	MMU_OK(shmrt_manager_ping(conn));
	MMU_OK(shmrt_remote_array_open(conn, rname, "a", &a));
	MMU_OK(shmrt_remote_array_open(conn, rname, "big", &big));
	int32_t buf[4];
	assert_int_equal(shmrt_remote_array_read(&a, ALEN - 1, buf, 2), -EINVAL);
	assert_int_equal(shmrt_remote_array_read(&a, ALEN + 1, buf, 0), -EINVAL);
	assert_int_equal(shmrt_remote_array_write(&a, ALEN - 1, buf, 2), -EINVAL);
	assert_int_equal(shmrt_remote_array_write(&a, UINT64_MAX / 2, buf, 1), -EINVAL);
	uint8_t *huge = malloc(SHMRT_REMOTE_RANGE_MAX + 1ull);
	assert_non_null(huge);
	assert_int_equal(shmrt_remote_array_read(&big, 0, huge, SHMRT_REMOTE_RANGE_MAX + 1ull),
			 -EMSGSIZE);
	assert_int_equal(shmrt_remote_array_write(&big, 0, huge, SHMRT_REMOTE_RANGE_MAX + 1ull),
			 -EMSGSIZE);
	MMU_OK(shmrt_remote_array_read(&big, 1, huge, SHMRT_REMOTE_RANGE_MAX)); /* at the cap */
	free(huge);

	/* raw calls of the wrong shape: each -EINVAL (or -ENOENT for a method), and the
	 * server serves on */
	shmrt_proxy_t *p = a.proxy;
	expect(p, "read", L(1, I(0)), -EINVAL, NULL);
	expect(p, "read", L(2, S("x"), I(1)), -EINVAL, NULL);
	expect(p, "read", L(2, I(-1), I(1)), -EINVAL, NULL);
	expect(p, "read", L(2, I(0), I(-1)), -EINVAL, NULL);
	expect(p, "write", L(2, I(0), BY("abc")), -EINVAL, NULL); /* not whole elements */
	expect(p, "fetch", L(3, I(ALEN), I(0), I(1)), -EINVAL, NULL);
	expect(p, "fetch", L(3, I(0), I(7), I(1)), -EINVAL, NULL);
	expect(p, "nosuch", L(0), -ENOENT, NULL);
	expect(p, "__typeid__", L(0), 0, "'remote.array'");
	MMU_OK(shmrt_remote_queue_open(conn, rname, "q", &q));
	expect(q.proxy, "get_burst", L(2, I(0), I(8)), -EINVAL, NULL);
	expect(q.proxy, "get_burst", L(2, I(SHMRT_REMOTE_BURST_MAX + 1), I(8)), -EINVAL, NULL);
	expect(q.proxy, "put_burst", L(1, L(0)), -EINVAL, NULL);
	expect(q.proxy, "put_burst", L(1, L(2, BY("a"), I(3))), -EINVAL, NULL);
	expect(q.proxy, "put", L(1, S("str, not bytes")), -EINVAL, NULL);
	expect(q.proxy, "get", L(1, I(-1)), -EINVAL, NULL);
	assert_int_equal(shmrt_remote_queue_put_burst(&q, NULL, NULL, 1, 0), -EINVAL);
	/* a queue that promised one producer refuses the server as a second */
	shmrt_remote_queue_t sp;
	MMU_OK(shmrt_remote_queue_open(conn, rname, "qsp", &sp));
	assert_int_equal(shmrt_remote_queue_put(&sp, "x", 1, 0), -EPERM);
	MMU_OK(shmrt_remote_queue_release(&sp));
	/* a handle released is gone; another connection cannot use this one's */
	uint64_t ref = shmrt_proxy_ref(q.proxy);
	MMU_OK(shmrt_remote_queue_release(&q));
	assert_int_equal(shmrt_manager_call(conn, ref, "size", NULL, 5 * SEC, NULL), -ENOENT);
	MMU_OK(shmrt_remote_array_release(&a));
	MMU_OK(shmrt_remote_array_release(&big));
	MMU_OK(shmrt_manager_ping(conn));

	/* a server asked to attach a region that does not exist does not start */
	static const char *none[] = { "shmrt-remote-test-no-such-region", NULL };
	shmrt_manager_opts_t o = { .regions = none };
	shmrt_manager_server_t *s2;
	assert_int_equal(shmrt_manager_start("tcp:127.0.0.1:0", KEY, KEYLEN, &o, &s2), -ENOENT);
	static const char *twice[3];
	twice[0] = twice[1] = rname;
	o.regions = twice;
	assert_int_equal(shmrt_manager_start("tcp:127.0.0.1:0", KEY, KEYLEN, &o, &s2), -EINVAL);
}

/* A server with a small frame cap: what would not fit a reply stays where it is. */
static void small_frames(void **state)
{
	(void)state;
	shmrt_queue_t lqb;
	MMU_OK(shmrt_queue_open(reg, "qbig", SHMRT_O_CREATE | SHMRT_QUEUE_NO_EOF, 4, 60000, &lqb));
	static const char *regions[2];
	regions[0] = rname;
	shmrt_manager_opts_t o = { .regions = regions, .max_frame = 64u << 10 };
	shmrt_manager_server_t *s2;
	shmrt_manager_conn_t *c2;
	MMU_OK(shmrt_manager_start("tcp:127.0.0.1:0", KEY, KEYLEN, &o, &s2));
	MMU_OK(shmrt_manager_connect(shmrt_manager_address(s2), KEY, KEYLEN, 10 * SEC, &c2));
	shmrt_remote_queue_t q;
	shmrt_remote_array_t big;
	MMU_OK(shmrt_remote_queue_open(c2, rname, "qbig", &q));
	MMU_OK(shmrt_remote_array_open(c2, rname, "big", &big));
	static char m[60000];
	memset(m, 'x', sizeof(m));
	MMU_OK(shmrt_queue_put(&lqb, m, 59000, 0));
	size_t len = 0;
	assert_int_equal(shmrt_remote_queue_get(&q, m, sizeof(m), &len, 0), -EMSGSIZE);
	assert_int_equal(len, 59000); /* too large for a reply: it stays queued */
	void *bufs[1] = { m };
	assert_int_equal(shmrt_remote_queue_get_burst(&q, bufs, sizeof(m), &len, 1, 0), -EMSGSIZE);
	MMU_OK(shmrt_queue_get(&lqb, m, sizeof(m), &len, 0));
	assert_int_equal(len, 59000);
	MMU_OK(shmrt_remote_queue_put(&q, m, 1000, 0)); /* a small one goes through */
	MMU_OK(shmrt_remote_queue_get(&q, m, sizeof(m), &len, 0));
	assert_int_equal(len, 1000);
	assert_int_equal(shmrt_remote_array_read(&big, 0, m, 60000), -EMSGSIZE);
	MMU_OK(shmrt_remote_array_read(&big, 0, m, 50000));
	MMU_OK(shmrt_remote_queue_release(&q));
	MMU_OK(shmrt_remote_array_release(&big));
	shmrt_manager_close(c2);
	assert_int_equal(shmrt_manager_shutdown(s2), 0);
}

/* ---- all at once ------------------------------------------------------------------------ */

/* What each worker does (k: 0, 1 local; 2, 3 remote; even: producer, odd: consumer). */
#define NW 4
struct msg {
	uint32_t magic, producer;
	uint64_t seq;
};
#define MAGIC 0x6d736721u
static int NADD, NPUT, NSET;
static int out_fd[NW]; /* consumers' records of what they got */

typedef struct ops {
	shmrt_manager_conn_t *c;
	shmrt_remote_value_t v;
	shmrt_remote_queue_t q;
	shmrt_remote_dict_t d;
} ops_t;

static int w_fetch(ops_t *o)
{
	shmrt_scalar_t one = { .i64 = 1 };
	return o->c ? shmrt_remote_value_fetch(&o->v, SHMRT_OP_ADD, one, NULL)
		    : shmrt_value_fetch(&lv, SHMRT_OP_ADD, one, NULL);
}

static int w_put(ops_t *o, const struct msg *m, int n)
{
	const void *ms[16];
	size_t ls[16];
	for (int i = 0; i < n; i++)
		ms[i] = &m[i], ls[i] = sizeof(*m);
	if (o->c && n == 1) {
		int rc = shmrt_remote_queue_put(&o->q, m, sizeof(*m), 20 * SEC);
		return rc ? rc : 1;
	}
	if (o->c)
		return shmrt_remote_queue_put_burst(&o->q, ms, ls, (unsigned)n, 20 * SEC);
	return shmrt_queue_put_burst(&lq, ms, ls, (unsigned)n, 20 * SEC);
}

static int w_get(ops_t *o, struct msg *m, int n)
{
	void *bufs[16];
	size_t ls[16];
	for (int i = 0; i < n; i++)
		bufs[i] = &m[i];
	int rc = o->c ? shmrt_remote_queue_get_burst(&o->q, bufs, sizeof(*m), ls, (unsigned)n,
						     20 * SEC)
		      : shmrt_queue_get_burst(&lq, bufs, sizeof(*m), ls, (unsigned)n, 20 * SEC);
	for (int i = 0; i < rc; i++)
		if (ls[i] != sizeof(*m))
			return -EBADMSG;
	return rc;
}

static int w_set(ops_t *o, int k, int j)
{
	char key[32], val[32];
	int kn = snprintf(key, sizeof(key), "w%d-%d", k, j);
	int vn = snprintf(val, sizeof(val), "val%d", j * 7 + k);
	return o->c ? shmrt_remote_dict_set(&o->d, key, (size_t)kn, val, (size_t)vn)
		    : shmrt_dict_set(&ld, key, (size_t)kn, val, (size_t)vn);
}

static int worker(void *arg)
{
	int k = (int)(intptr_t)arg;
	ops_t o = { 0 };
	if (k >= 2) { /* a TCP client of its own */
		if (shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC, &o.c) ||
		    shmrt_remote_value_open(o.c, rname, "v", &o.v) ||
		    shmrt_remote_queue_open(o.c, rname, "q", &o.q) ||
		    shmrt_remote_dict_open(o.c, rname, "d", &o.d))
			return 10;
		shmrt_manager_set_timeout(o.c, 20 * SEC);
	}
	int producer = (k % 2) == 0, sent = 0, adds = 0, sets = 0;
	uint64_t last[NW] = { 0 };
	for (;;) {
		int busy = 0;
		if (adds < NADD) {
			if (w_fetch(&o))
				return 11;
			adds++, busy = 1;
		}
		if (sets < NSET) {
			if (w_set(&o, k, sets))
				return 12;
			sets++, busy = 1;
		}
		if (producer && sent < NPUT) {
			struct msg m[16];
			int n = 1 + (sent / 7) % 16;
			if (n > NPUT - sent)
				n = NPUT - sent;
			for (int i = 0; i < n; i++)
				m[i] = (struct msg){ MAGIC, (uint32_t)k, (uint64_t)sent + i + 1 };
			int rc = w_put(&o, m, n);
			if (rc < 1)
				return 13;
			sent += rc; /* a burst may move fewer: the rest go next round */
			busy = 1;
		} else if (!producer) {
			struct msg m[16];
			int rc = w_get(&o, m, 16);
			if (rc < 1)
				return 14;
			for (int i = 0; i < rc; i++) {
				if (m[i].magic != MAGIC || m[i].producer >= NW)
					return 15;
				if (m[i].seq == 0) { /* the poison: the end; another one taken
						      * with it goes back for the other consumer */
					for (int j = i + 1; j < rc; j++)
						if (m[j].seq == 0 && w_put(&o, &m[j], 1) != 1)
							return 21;
					goto done;
				}
				if (m[i].seq <= last[m[i].producer])
					return 16; /* FIFO per producer broken */
				last[m[i].producer] = m[i].seq;
				if (write(out_fd[k], &m[i], sizeof(m[i])) != (ssize_t)sizeof(m[i]))
					return 17;
			}
			busy = 1;
		}
		if (!busy)
			break;
	}
done:
	while (adds < NADD)
		if (w_fetch(&o) == 0)
			adds++;
		else
			return 18;
	while (sets < NSET)
		if (w_set(&o, k, sets++))
			return 19;
	if (o.c) {
		if (shmrt_remote_value_release(&o.v) || shmrt_remote_queue_release(&o.q) ||
		    shmrt_remote_dict_release(&o.d))
			return 20;
		shmrt_manager_close(o.c);
	}
	return 0;
}

static void all_at_once(void **state)
{
	(void)state;
	NADD = TU_SCALE(3000);
	NPUT = TU_SCALE(3000);
	NSET = TU_SCALE(1000);
	for (int k = 0; k < NW; k++) {
		FILE *f = tmpfile();
		assert_non_null(f);
		out_fd[k] = dup(fileno(f));
		fclose(f);
	}
	pid_t pids[NW];
	for (int k = 0; k < NW; k++)
		pids[k] = tu_fork(worker, (void *)(intptr_t)k);
	/* the producers end first; then one poison per consumer */
	assert_int_equal(tu_wait(pids[0], 120000), 0);
	assert_int_equal(tu_wait(pids[2], 120000), 0);
	struct msg poison = { MAGIC, 0, 0 };
	MMU_OK(shmrt_queue_put(&lq, &poison, sizeof(poison), 10 * SEC));
	MMU_OK(shmrt_queue_put(&lq, &poison, sizeof(poison), 10 * SEC));
	assert_int_equal(tu_wait(pids[1], 120000), 0);
	assert_int_equal(tu_wait(pids[3], 120000), 0);

	/* the Value: every fetch_add counted once */
	shmrt_scalar_t cur;
	MMU_OK(shmrt_value_load(&lv, &cur));
	assert_int_equal(cur.i64, (int64_t)NW * NADD);
	/* the Queue: what the consumers got is what the producers put, once each */
	uint8_t *seen[NW] = { 0 };
	seen[0] = calloc((size_t)NPUT + 1, 1);
	seen[2] = calloc((size_t)NPUT + 1, 1);
	size_t total = 0;
	for (int k = 1; k < NW; k += 2) {
		struct msg m;
		assert_int_equal(lseek(out_fd[k], 0, SEEK_SET), 0);
		while (read(out_fd[k], &m, sizeof(m)) == (ssize_t)sizeof(m)) {
			assert_true(m.producer == 0 || m.producer == 2);
			assert_true(m.seq >= 1 && m.seq <= (uint64_t)NPUT);
			assert_int_equal(seen[m.producer][m.seq], 0); /* no duplicate */
			seen[m.producer][m.seq] = 1;
			total++;
		}
	}
	assert_int_equal(total, 2u * (size_t)NPUT); /* no loss */
	assert_true(shmrt_queue_empty(&lq));
	free(seen[0]);
	free(seen[2]);
	/* the Dict: every acknowledged set visible, locally and through the server */
	shmrt_remote_dict_t d;
	MMU_OK(shmrt_remote_dict_open(conn, rname, "d", &d));
	for (int k = 0; k < NW; k++)
		for (int j = 0; j < NSET; j++) {
			char key[32], val[32], want[32];
			size_t vlen;
			int kn = snprintf(key, sizeof(key), "w%d-%d", k, j);
			int wn = snprintf(want, sizeof(want), "val%d", j * 7 + k);
			MMU_OK(shmrt_dict_get(&ld, key, (size_t)kn, val, sizeof(val), &vlen));
			assert_int_equal(vlen, (size_t)wn);
			assert_memory_equal(val, want, vlen);
			if (j % 10 == 0) {
				MMU_OK(shmrt_remote_dict_get(&d, key, (size_t)kn, val, sizeof(val),
							     &vlen));
				assert_memory_equal(val, want, vlen);
			}
		}
	assert_int_equal(shmrt_dict_len(&ld), (uint64_t)NW * NSET);
	MMU_OK(shmrt_remote_dict_release(&d));
	MMU_OK(shmrt_dict_clear(&ld));
	for (int k = 0; k < NW; k++)
		close(out_fd[k]);
	shmrt_scalar_t z = { .i64 = 0 };
	MMU_OK(shmrt_value_store(&lv, z));
}

/* ---- a client killed mid-burst ------------------------------------------------------------ */

static int burst_pipe[2]; /* the burster writes a byte after its first round */

static int burster(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c;
	shmrt_remote_queue_t q;
	shmrt_remote_array_t a;
	if (shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC, &c) ||
	    shmrt_remote_queue_open(c, rname, "q", &q) || shmrt_remote_array_open(c, rname, "a", &a))
		return 10;
	struct msg m[32];
	const void *ms[32];
	size_t ls[32];
	int32_t vals[ALEN];
	uint64_t seq = 0;
	for (uint32_t round = 1;; round++) {
		for (int i = 0; i < 32; i++) {
			m[i] = (struct msg){ MAGIC, 1, ++seq };
			ms[i] = &m[i];
			ls[i] = sizeof(m[i]);
		}
		int rc = shmrt_remote_queue_put_burst(&q, ms, ls, 32, 0);
		if (rc > 0)
			seq -= (uint64_t)(32 - rc); /* the rest were not put */
		else
			seq -= 32;
		for (int i = 0; i < ALEN; i++)
			vals[i] = (int32_t)round;
		if (shmrt_remote_array_write(&a, 0, vals, ALEN))
			return 11;
		if (round == 1 && write(burst_pipe[1], "", 1) != 1)
			return 12;
		if (rc == -EAGAIN || shmrt_queue_size(&lq) > QCAP / 2) {
			void *bufs[32];
			size_t gl[32];
			struct msg g[32];
			for (int i = 0; i < 32; i++)
				bufs[i] = &g[i];
			(void)shmrt_remote_queue_get_burst(&q, bufs, sizeof(g[0]), gl, 32, 0);
		}
	}
}

static void killed_mid_burst(void **state)
{
	(void)state;
	size_t drained = 0;
	int32_t rounds = 0;
	for (int trial = 0; trial < 5; trial++) {
		assert_int_equal(pipe(burst_pipe), 0);
		pid_t pid = tu_fork(burster, NULL);
		/* the delay starts after its first round: a kill lands mid-burst, not in
		 * its connect (a forked client takes 20-150 ms to get there under load) */
		close(burst_pipe[1]); /* a burster that dies early: EOF, not a 20 s wait */
		assert_int_equal(tu_read_byte(burst_pipe[0], NULL, 20000), 0);
		close(burst_pipe[0]);
		usleep(20000 + 15000 * (useconds_t)trial);
		kill(pid, SIGKILL);
		assert_int_equal(tu_wait(pid, 10000), 128 + SIGKILL);
		/* the server lives and serves a new client */
		shmrt_manager_conn_t *c2 = connect_srv();
		MMU_OK(shmrt_manager_ping(c2));
		shmrt_manager_close(c2);
		MMU_OK(shmrt_manager_ping(conn));
		/* the queue: whole messages, in order */
		struct msg g;
		size_t len;
		uint64_t last = 0;
		int rc;
		while ((rc = shmrt_queue_get(&lq, &g, sizeof(g), &len, 0)) == 0) {
			assert_int_equal(len, sizeof(g));
			assert_int_equal(g.magic, MAGIC);
			assert_true(g.seq > last);
			last = g.seq;
			drained++;
		}
		assert_int_equal(rc, -EAGAIN);
		/* the array: each write whole (one round's value everywhere) */
		int32_t snap[ALEN];
		MMU_OK(shmrt_array_snapshot(&la, 0, snap, ALEN));
		for (int i = 1; i < ALEN; i++)
			assert_int_equal(snap[i], snap[0]);
		rounds += snap[0];
	}
	assert_true(drained > 0); /* the clients did put and write before they died */
	assert_true(rounds > 0);
	assert_int_equal(stat_of(conn, "sessions"), 1); /* the dead clients' sessions went */
	assert_int_equal(stat_of(conn, "objects"), 0);  /* and their handles */
}

/* ---- `shmrt manager serve --region` ------------------------------------------------------ */

static int cli_pipe[2];
static char cli_key[600];

static int run_cli(void *arg)
{
	(void)arg;
	dup2(cli_pipe[1], 1);
	close(cli_pipe[0]);
	execl(getenv("SHMRT_TOOL"), "shmrt", "manager", "serve", "--address", "tcp:127.0.0.1:0",
	      "--authkey-file", cli_key, "--region", rname, (char *)NULL);
	return 127;
}

static void cli_serve_region(void **state)
{
	(void)state;
	if (!getenv("SHMRT_TOOL"))
		skip(); /* run outside ctest */
	const char *tmp = getenv("TMPDIR");
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/shmrt-remote-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(cli_key, sizeof(cli_key), "%s/key", dir);
	FILE *f = fopen(cli_key, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(KEY, 1, KEYLEN, f), KEYLEN);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(cli_key, 0600), 0);
	assert_int_equal(pipe(cli_pipe), 0);
	pid_t pid = tu_fork(run_cli, NULL);
	close(cli_pipe[1]);
	/* "listening on tcp:127.0.0.1:PORT\n", within 10 s */
	char line[256] = { 0 };
	size_t n = 0;
	while (n < sizeof(line) - 1 && !strchr(line, '\n')) {
		struct pollfd pf = { cli_pipe[0], POLLIN, 0 };
		assert_int_equal(poll(&pf, 1, 10000), 1);
		ssize_t k = read(cli_pipe[0], line + n, sizeof(line) - 1 - n);
		assert_true(k > 0);
		n += (size_t)k;
	}
	close(cli_pipe[0]);
	assert_int_equal(strncmp(line, "listening on ", 13), 0);
	*strchr(line, '\n') = 0;
	shmrt_manager_conn_t *c;
	MMU_OK(shmrt_manager_connect(line + 13, KEY, KEYLEN, 10 * SEC, &c));
	shmrt_remote_value_t v;
	MMU_OK(shmrt_remote_value_open(c, rname, "v", &v));
	shmrt_scalar_t x = { .i64 = 40 }, two = { .i64 = 2 }, cur;
	MMU_OK(shmrt_value_store(&lv, x));
	MMU_OK(shmrt_remote_value_fetch(&v, SHMRT_OP_ADD, two, NULL));
	MMU_OK(shmrt_value_load(&lv, &cur));
	assert_int_equal(cur.i64, 42);
	MMU_OK(shmrt_remote_value_release(&v));
	shmrt_manager_close(c);
	kill(pid, SIGTERM);
	assert_int_equal(tu_wait(pid, 10000), 0);
	unlink(cli_key);
	rmdir(dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(semantics, setup_r, teardown_r),
		cmocka_unit_test_setup_teardown(errors, setup_r, teardown_r),
		cmocka_unit_test_setup_teardown(small_frames, setup_r, teardown_r),
		cmocka_unit_test_setup_teardown(all_at_once, setup_r, teardown_r),
		cmocka_unit_test_setup_teardown(killed_mid_burst, setup_r, teardown_r),
		cmocka_unit_test_setup_teardown(cli_serve_region, setup_r, teardown_r),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
