/*
 * The Manager's references to objects handed out by the calls that take them out of
 * their containers (docs/DESIGN.md 8b), and the complexity of the Queue's get and the
 * dict's popitem.
 *
 * Handed values. list.pop, dict.pop, dict.popitem, Queue.get / get_nowait, and a put
 * given straight to a parked get, return a value that has left its container: its
 * refs become pending references of the receiving connection, which that
 * connection's next proxy of each claims. Each case checks, from an observer
 * connection (whose incref of an id it does not hold adds a reference of its own,
 * released at once), that the object lives while the receiver's proxy lives and
 * is destroyed when that proxy is released; that an object nobody takes a proxy of
 * dies with the receiving connection; that a value holding the same ref twice needs
 * both proxies released; that a list of lists keeps its inner list through the
 * outer one; that a getter parked before the put gets a live object although the
 * putter released its proxy at once; and that the server's object count returns to
 * where it was.
 *
 * Complexity, with no timing assertion: a Queue of 1,000,000 items filled then
 * drained, and a dict of 300,000 keys drained by popitem, each in batches, well
 * within the test's CTest timeout (a second or two here). The old Queue get shifted
 * a flat list (draining 400,000 items took 28 s, quadratic: a million takes
 * minutes) and the old popitem scanned from entry 0 (80,000 took 8 s, 300,000 about
 * two minutes): either would overrun the timeout. FIFO order (interleaved puts and
 * gets across the Queue's two internal lists) and Python's popitem order (LIFO, with
 * pops by key and inserts in between) are checked item by item.
 *
 * Also list.sort of lists (Python's lexicographic sequence order), list.extend of
 * a map, a str and bytes, and the map's popitem against a model of Python's dict
 * (random sets, pops by key and popitems, in this process). Every wait is bounded; children are killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmrt/manager.h>

#include "manager/mvalue_int.h"
#define MMU_BLOCKING
#include "manager_mp_util.h"

static shmrt_manager_conn_t *obs; /* the observer */

static int rsetup(void **state)
{
	setup(state);
	obs = connect_srv();
	return 0;
}

static int rteardown(void **state)
{
	shmrt_manager_close(obs);
	obs = NULL;
	return teardown(state);
}

/* Whether the object id names lives (asked from the observer). */
static bool alive(uint64_t id)
{
	shmrt_proxy_t *p;
	int rc = shmrt_manager_proxy(obs, id, &p);
	if (rc == 0) {
		assert_int_equal(shmrt_proxy_release(p), 0);
		return true;
	}
	assert_int_equal(rc, -ENOENT);
	return false;
}

/* A new list object of conn c holding items (consumed), its proxy. */
static shmrt_proxy_t *new_list(shmrt_manager_conn_t *c, shmrt_mv_t *items)
{
	shmrt_proxy_t *p;
	assert_int_equal(shmrt_manager_create(c, "list", items, &p), 0);
	return p;
}

static uint64_t ref_of(const shmrt_mv_t *v)
{
	uint64_t id = 0;
	assert_int_equal(shmrt_mv_as_ref(v, &id), 0);
	return id;
}

static int64_t len_of(shmrt_proxy_t *p)
{
	shmrt_mv_t *r = NULL;
	assert_int_equal(shmrt_proxy_call0(p, "__len__", &r), 0);
	int64_t n = ival(r);
	shmrt_mv_free(r);
	return n;
}

/* The proxy of id on conn c (it must live). */
static shmrt_proxy_t *take(shmrt_manager_conn_t *c, uint64_t id)
{
	shmrt_proxy_t *p;
	assert_int_equal(shmrt_manager_proxy(c, id, &p), 0);
	return p;
}

/* d['l'] = manager.list([1,2,3]); x = d.pop('l'): the list lives through x's proxy. */
static void test_dict_pop(void **state)
{
	(void)state;
	int64_t base = stat_of(conn, "objects");
	shmrt_proxy_t *d = create("dict", NULL);
	shmrt_proxy_t *l = new_list(conn, L(3, I(1), I(2), I(3)));
	uint64_t id = shmrt_proxy_ref(l);
	assert_int_equal(shmrt_proxy_call2(d, "__setitem__", S("l"), shmrt_mv_ref(id), NULL), 0);
	assert_int_equal(shmrt_proxy_release(l), 0); /* only d holds it now */
	shmrt_mv_t *v = NULL;
	assert_int_equal(shmrt_proxy_call1(d, "pop", S("l"), &v), 0);
	assert_int_equal(ref_of(v), id);
	shmrt_mv_free(v);
	assert_true(alive(id)); /* the pending reference holds it */
	shmrt_proxy_t *x = take(conn, id); /* claims it */
	assert_int_equal(len_of(x), 3);
	assert_int_equal(shmrt_proxy_release(x), 0);
	assert_false(alive(id)); /* the proxy held the only reference */
	/* popitem: the same through [key, value] */
	l = new_list(conn, NULL);
	id = shmrt_proxy_ref(l);
	assert_int_equal(shmrt_proxy_call2(d, "__setitem__", I(7), shmrt_mv_ref(id), NULL), 0);
	assert_int_equal(shmrt_proxy_release(l), 0);
	assert_int_equal(shmrt_proxy_call0(d, "popitem", &v), 0);
	assert_int_equal(ival(shmrt_mv_list_get(v, 0)), 7);
	assert_int_equal(ref_of(shmrt_mv_list_get(v, 1)), id);
	shmrt_mv_free(v);
	x = take(conn, id);
	assert_true(alive(id));
	assert_int_equal(shmrt_proxy_release(x), 0);
	assert_false(alive(id));
	/* a pop that misses: its default is the caller's own value, nothing handed */
	assert_int_equal(shmrt_proxy_call2(d, "pop", S("none"), I(5), &v), 0);
	assert_int_equal(ival(v), 5);
	shmrt_mv_free(v);
	assert_int_equal(shmrt_proxy_call1(d, "pop", S("none"), NULL), -ENOENT);
	assert_int_equal(shmrt_proxy_call0(d, "popitem", NULL), -ENOENT);
	assert_int_equal(stat_of(conn, "objects"), base + 1); /* d */
}

/* A value holding the same ref twice, and a list of lists popped from a list. */
static void test_list_pop_twice_and_nested(void **state)
{
	(void)state;
	int64_t base = stat_of(conn, "objects");
	shmrt_proxy_t *outer = create("list", NULL);
	shmrt_proxy_t *l = new_list(conn, NULL);
	uint64_t id = shmrt_proxy_ref(l);
	assert_int_equal(shmrt_proxy_call1(outer, "append",
					   L(2, shmrt_mv_ref(id), shmrt_mv_ref(id)), NULL), 0);
	assert_int_equal(shmrt_proxy_release(l), 0);
	shmrt_mv_t *v = NULL;
	assert_int_equal(shmrt_proxy_call0(outer, "pop", &v), 0);
	assert_int_equal(ref_of(shmrt_mv_list_get(v, 0)), id);
	assert_int_equal(ref_of(shmrt_mv_list_get(v, 1)), id);
	shmrt_mv_free(v);
	shmrt_proxy_t *p1 = take(conn, id), *p2 = take(conn, id); /* both claimed */
	assert_int_equal(shmrt_proxy_release(p1), 0);
	assert_true(alive(id)); /* p2 still holds it */
	assert_int_equal(shmrt_proxy_release(p2), 0);
	assert_false(alive(id));

	/* outer holds b, b holds c: pop b, release the makers' proxies, take b's */
	shmrt_proxy_t *c = new_list(conn, L(1, I(42)));
	uint64_t cid = shmrt_proxy_ref(c);
	shmrt_proxy_t *b = new_list(conn, L(1, shmrt_mv_ref(cid)));
	uint64_t bid = shmrt_proxy_ref(b);
	assert_int_equal(shmrt_proxy_call1(outer, "append", shmrt_mv_ref(bid), NULL), 0);
	assert_int_equal(shmrt_proxy_release(b), 0);
	assert_int_equal(shmrt_proxy_release(c), 0);
	assert_int_equal(shmrt_proxy_call1(outer, "pop", I(0), &v), 0);
	assert_int_equal(ref_of(v), bid);
	shmrt_mv_free(v);
	shmrt_proxy_t *bp = take(conn, bid);
	assert_true(alive(cid)); /* through b's data */
	assert_int_equal(shmrt_proxy_call1(bp, "__getitem__", I(0), &v), 0);
	shmrt_proxy_t *cp = take(conn, ref_of(v)); /* a borrowed ref: a reference of its own */
	shmrt_mv_free(v);
	assert_int_equal(len_of(cp), 1);
	assert_int_equal(shmrt_proxy_release(cp), 0);
	assert_int_equal(shmrt_proxy_release(bp), 0);
	assert_false(alive(bid));
	assert_false(alive(cid)); /* died with b */
	assert_int_equal(stat_of(conn, "objects"), base + 1); /* outer */
}

/* A receiver that never takes a proxy: the object lives until its connection ends;
 * one proxy of a value holding the ref twice leaves one pending reference, also
 * dropped with the connection. */
static void test_unclaimed_dies_with_session(void **state)
{
	(void)state;
	int64_t base = stat_of(conn, "objects");
	shmrt_proxy_t *d = create("dict", NULL);
	shmrt_proxy_t *l = new_list(conn, NULL), *m = new_list(conn, NULL);
	uint64_t id = shmrt_proxy_ref(l), mid = shmrt_proxy_ref(m);
	assert_int_equal(shmrt_proxy_call2(d, "__setitem__", S("l"), shmrt_mv_ref(id), NULL), 0);
	assert_int_equal(shmrt_proxy_call2(d, "__setitem__", S("m"),
					   L(2, shmrt_mv_ref(mid), shmrt_mv_ref(mid)), NULL), 0);
	assert_int_equal(shmrt_proxy_release(l), 0);
	assert_int_equal(shmrt_proxy_release(m), 0);
	shmrt_manager_conn_t *c2;
	assert_int_equal(shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC,
					       &c2), 0);
	shmrt_proxy_t *d2 = take(c2, shmrt_proxy_ref(d));
	shmrt_mv_t *v = NULL;
	assert_int_equal(shmrt_proxy_call1(d2, "pop", S("l"), &v), 0); /* no proxy taken */
	shmrt_mv_free(v);
	assert_int_equal(shmrt_proxy_call1(d2, "pop", S("m"), &v), 0);
	shmrt_mv_free(v);
	shmrt_proxy_t *mp = take(c2, mid); /* one of its two pending references */
	assert_int_equal(shmrt_proxy_release(mp), 0);
	assert_true(alive(id));
	assert_true(alive(mid)); /* the other is still pending */
	assert_int_equal(shmrt_proxy_release(d2), 0);
	shmrt_manager_close(c2); /* the server drops its references */
	uint64_t until = tu_ms() + 10000;
	while (alive(id) || alive(mid))
		if (tu_ms() > until)
			fail_msg("the unclaimed references outlived their connection");
		else
			usleep(1000);
	wait_stat("objects", base + 1); /* d */
}

/* Queue: a producer's object taken by a consumer on another connection, and by a
 * getter parked before the put (a child process). */
static int parked_getter(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *q = child_proxy(c, g_a);
	shmrt_mv_t *v = NULL;
	if (shmrt_proxy_call0(q, "get", &v)) /* parks until the parent's put */
		return 10;
	uint64_t id;
	if (shmrt_mv_as_ref(v, &id))
		return 11;
	shmrt_mv_free(v);
	shmrt_proxy_t *l;
	if (shmrt_manager_proxy(c, id, &l))
		return 12; /* the object died on the way */
	if (shmrt_proxy_call0(l, "__len__", &v) || ival(v) != 2)
		return 13;
	shmrt_mv_free(v);
	if (write(pfd[1], "g", 1) != 1)
		return 14;
	char go;
	if (read((int)g_b, &go, 1) != 1) /* the parent has checked: go on */
		return 15;
	if (shmrt_proxy_release(l) || shmrt_proxy_release(q))
		return 16;
	shmrt_manager_close(c);
	return 0;
}

static void test_queue_get(void **state)
{
	(void)state;
	int64_t base = stat_of(conn, "objects");
	shmrt_proxy_t *q = create("Queue", NULL);
	shmrt_proxy_t *l = new_list(conn, L(1, I(1)));
	uint64_t id = shmrt_proxy_ref(l);
	assert_int_equal(shmrt_proxy_call1(q, "put", shmrt_mv_ref(id), NULL), 0);
	assert_int_equal(shmrt_proxy_release(l), 0);
	shmrt_proxy_t *qc = take(obs, shmrt_proxy_ref(q));
	shmrt_mv_t *v = NULL;
	assert_int_equal(shmrt_proxy_call0(qc, "get_nowait", &v), 0);
	assert_int_equal(ref_of(v), id);
	shmrt_mv_free(v);
	shmrt_proxy_t *x = take(obs, id);
	assert_int_equal(len_of(x), 1);
	assert_int_equal(shmrt_proxy_release(x), 0);
	assert_int_equal(shmrt_proxy_release(qc), 0);
	wait_stat("objects", base + 1);

	/* a getter parked first; the putter releases its proxy right after the put */
	int go[2];
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(pipe(go), 0);
	g_a = shmrt_proxy_ref(q);
	g_b = (uint64_t)go[0];
	pid_t pid = tu_fork(parked_getter, NULL);
	wait_stat("parked", 1);
	l = new_list(conn, L(2, I(1), I(2)));
	id = shmrt_proxy_ref(l);
	assert_int_equal(shmrt_proxy_call1(q, "put", shmrt_mv_ref(id), NULL), 0);
	assert_int_equal(shmrt_proxy_release(l), 0);
	char note = 0;
	assert_int_equal(tu_read_byte(pfd[0], &note, 20000), 0); /* a dead child never writes */
	assert_int_equal(note, 'g');
	assert_true(alive(id)); /* the child's proxy holds it */
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(tu_wait(pid, 20000), 0);
	wait_stat("objects", base + 1);
	close(pfd[0]);
	close(pfd[1]);
	close(go[0]);
	close(go[1]);
}

/* Runs n calls of method on p in batches of 256; args(i) gives the i-th call's
 * arguments (NULL: none), check(i, result) checks its result. */
static void batch(shmrt_proxy_t *p, const char *method, int64_t n,
		  shmrt_mv_t *(*args)(int64_t), void (*check)(int64_t, const shmrt_mv_t *))
{
	enum { B = 256 };
	shmrt_proxy_req_t r[B];
	for (int64_t i = 0; i < n; i += B) {
		int k = n - i < B ? (int)(n - i) : B;
		for (int j = 0; j < k; j++)
			r[j] = (shmrt_proxy_req_t){ p, method, args ? args(i + j) : NULL, NULL, 0 };
		assert_int_equal(shmrt_proxy_call_batch(conn, r, (size_t)k, 60 * SEC), 0);
		for (int j = 0; j < k; j++) {
			if (r[j].rc)
				fail_msg("%s #%lld: rc %d", method, (long long)(i + j), r[j].rc);
			if (check)
				check(i + j, r[j].result);
			shmrt_mv_free(r[j].result);
		}
	}
}

static shmrt_mv_t *int_arg(int64_t i) { return L(1, I(i)); }
static shmrt_mv_t *int_pair(int64_t i) { return L(2, I(i), NIL); }

static void check_fifo(int64_t i, const shmrt_mv_t *v)
{
	if (ival(v) != i)
		fail_msg("get #%lld: %lld", (long long)i, (long long)ival(v));
}

enum { QN = TU_SCALE(1000000), DN = TU_SCALE(300000) };

static void check_popitem(int64_t i, const shmrt_mv_t *v)
{
	if (ival(shmrt_mv_list_get(v, 0)) != DN - 1 - i) /* LIFO */
		fail_msg("popitem #%lld: key %lld", (long long)i,
			 (long long)ival(shmrt_mv_list_get(v, 0)));
}

static void test_queue_drain_linear(void **state)
{
	(void)state;
	shmrt_proxy_t *q = create("Queue", NULL);
	/* interleaved: put 3, get 2, ... : the gets cross the moment the internal out
	 * list runs dry and takes the in list's items */
	int64_t put = 0, got = 0;
	for (int round = 0; round < 50; round++) {
		for (int k = 0; k < 3; k++)
			assert_int_equal(shmrt_proxy_call1(q, "put", I(put++), NULL), 0);
		for (int k = 0; k < 2; k++) {
			shmrt_mv_t *v = NULL;
			assert_int_equal(shmrt_proxy_call0(q, "get_nowait", &v), 0);
			assert_int_equal(ival(v), got++);
			shmrt_mv_free(v);
		}
	}
	shmrt_mv_t *v = NULL;
	assert_int_equal(shmrt_proxy_call0(q, "qsize", &v), 0);
	assert_int_equal(ival(v), put - got);
	shmrt_mv_free(v);
	while (got < put) {
		assert_int_equal(shmrt_proxy_call0(q, "get_nowait", &v), 0);
		assert_int_equal(ival(v), got++);
		shmrt_mv_free(v);
	}
	assert_int_equal(shmrt_proxy_call0(q, "get_nowait", NULL), -EAGAIN);
	/* a million items in, then out: linear (see the file's comment) */
	batch(q, "put", QN, int_arg, NULL);
	assert_int_equal(shmrt_proxy_call0(q, "qsize", &v), 0);
	assert_int_equal(ival(v), QN);
	shmrt_mv_free(v);
	batch(q, "get_nowait", QN, NULL, check_fifo);
	assert_int_equal(shmrt_proxy_call0(q, "empty", &v), 0);
	bool e = false;
	assert_int_equal(shmrt_mv_as_bool(v, &e), 0);
	assert_true(e);
	shmrt_mv_free(v);
}

/* Python's popitem order with pops by key and inserts in between, then a long
 * drain. */
static void test_popitem_order_and_linear(void **state)
{
	(void)state;
	shmrt_proxy_t *d = create("dict", NULL);
	for (int i = 0; i < 10; i++)
		assert_int_equal(shmrt_proxy_call2(d, "__setitem__", I(i), I(i * 10), NULL), 0);
	assert_int_equal(shmrt_proxy_call1(d, "pop", I(9), NULL), 0);
	assert_int_equal(shmrt_proxy_call1(d, "pop", I(8), NULL), 0);
	assert_int_equal(shmrt_proxy_call1(d, "pop", I(5), NULL), 0);
	/* as Python: d = {i: i*10 for i in range(10)}; del 9, 8, 5; popitem() -> (7, 70);
	 * d[10] = 100; popitem() -> (10, 100); d[3] = 33 (kept in place); popitem() ->
	 * (6, 60), (4, 40), (3, 33), ... */
	static const int64_t want[][2] = { { 7, 70 }, { 10, 100 }, { 6, 60 }, { 4, 40 },
					   { 3, 33 }, { 2, 20 }, { 1, 10 }, { 0, 0 } };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (i == 1)
			assert_int_equal(shmrt_proxy_call2(d, "__setitem__", I(10), I(100), NULL), 0);
		if (i == 2)
			assert_int_equal(shmrt_proxy_call2(d, "__setitem__", I(3), I(33), NULL), 0);
		shmrt_mv_t *v = NULL;
		assert_int_equal(shmrt_proxy_call0(d, "popitem", &v), 0);
		assert_int_equal(ival(shmrt_mv_list_get(v, 0)), want[i][0]);
		assert_int_equal(ival(shmrt_mv_list_get(v, 1)), want[i][1]);
		shmrt_mv_free(v);
	}
	assert_int_equal(shmrt_proxy_call0(d, "popitem", NULL), -ENOENT);
	/* refill after the trims (the entry array rebuilt on the way), drain: LIFO */
	batch(d, "__setitem__", DN, int_pair, NULL);
	shmrt_mv_t *v = NULL;
	assert_int_equal(shmrt_proxy_call0(d, "__len__", &v), 0);
	assert_int_equal(ival(v), DN);
	shmrt_mv_free(v);
	batch(d, "popitem", DN, NULL, check_popitem);
	assert_int_equal(shmrt_proxy_call0(d, "__len__", &v), 0);
	assert_int_equal(ival(v), 0);
	shmrt_mv_free(v);
}

/* list.sort of lists (Python: [[2,'b'],[1,'z'],[1,'a'],[1]] -> [[1],[1,'a'],[1,'z'],
 * [2,'b']]), its errors, and extend's iterables. */
static void test_sort_lists_and_extend(void **state)
{
	(void)state;
	shmrt_proxy_t *l = create("list", L(4, L(2, I(2), S("b")), L(2, I(1), S("z")),
					    L(2, I(1), S("a")), L(1, I(1))));
	assert_int_equal(shmrt_proxy_call0(l, "sort", NULL), 0);
	shmrt_mv_t *want = L(4, L(1, I(1)), L(2, I(1), S("a")), L(2, I(1), S("z")),
			     L(2, I(2), S("b")));
	shmrt_mv_t *v = NULL;
	assert_int_equal(shmrt_proxy_call0(l, "copy", &v), 0);
	assert_true(shmrt_mv_equal(v, want));
	shmrt_mv_free(v);
	assert_int_equal(shmrt_proxy_call1(l, "sort", B(true), NULL), 0);
	assert_int_equal(shmrt_proxy_call0(l, "copy", &v), 0);
	assert_true(shmrt_mv_equal(shmrt_mv_list_get(v, 0), shmrt_mv_list_get(want, 3)));
	assert_true(shmrt_mv_equal(shmrt_mv_list_get(v, 3), shmrt_mv_list_get(want, 0)));
	shmrt_mv_free(v);
	/* nested: [[1, [2, 'x']], [1, [2, 'a']]] sorts by the inner lists */
	shmrt_proxy_t *n = create("list", L(2, L(2, I(1), L(2, I(2), S("x"))),
					    L(2, I(1), L(2, I(2), S("a")))));
	assert_int_equal(shmrt_proxy_call0(n, "sort", NULL), 0);
	assert_int_equal(shmrt_proxy_call1(n, "__getitem__", I(0), &v), 0);
	shmrt_mv_t *w = L(2, I(1), L(2, I(2), S("a")));
	assert_true(shmrt_mv_equal(v, w));
	shmrt_mv_free(w);
	shmrt_mv_free(v);
	/* TypeError: [1] vs ['a'] at index 0; a list against an int; the list unchanged */
	shmrt_proxy_t *bad = create("list", L(3, L(1, I(3)), L(1, I(1)), L(1, S("a"))));
	assert_int_equal(shmrt_proxy_call0(bad, "sort", NULL), -EINVAL);
	assert_int_equal(shmrt_proxy_call0(bad, "copy", &v), 0);
	assert_int_equal(ival(shmrt_mv_list_get(shmrt_mv_list_get(v, 0), 0)), 3);
	assert_int_equal(ival(shmrt_mv_list_get(shmrt_mv_list_get(v, 1), 0)), 1);
	shmrt_mv_free(v);
	assert_int_equal(shmrt_proxy_call1(bad, "append", I(0), NULL), 0);
	assert_int_equal(shmrt_proxy_call0(bad, "sort", NULL), -EINVAL);
	shmrt_mv_free(want);

	/* extend: a map's keys, a str's characters, bytes' values; others -EINVAL */
	shmrt_proxy_t *e = create("list", NULL);
	shmrt_mv_t *m = shmrt_mv_map();
	assert_int_equal(shmrt_mv_map_set(m, S("k1"), I(1)), 0);
	assert_int_equal(shmrt_mv_map_set(m, I(2), I(2)), 0);
	assert_int_equal(shmrt_proxy_call1(e, "extend", m, NULL), 0);
	assert_int_equal(shmrt_proxy_call1(e, "extend", S("h\xc3\xa9\xe2\x82\xac"), NULL), 0);
	assert_int_equal(shmrt_proxy_call1(e, "extend", shmrt_mv_bytes("\x00\xff", 2), NULL), 0);
	assert_int_equal(shmrt_proxy_call1(e, "extend", L(1, NIL), NULL), 0);
	assert_int_equal(shmrt_proxy_call1(e, "extend", I(3), NULL), -EINVAL);
	assert_int_equal(shmrt_proxy_call1(e, "extend", shmrt_mv_ref(shmrt_proxy_ref(l)), NULL),
			 -EINVAL);
	want = L(8, S("k1"), I(2), S("h"), S("\xc3\xa9"), S("\xe2\x82\xac"), I(0), I(255), NIL);
	assert_int_equal(shmrt_proxy_call0(e, "copy", &v), 0);
	assert_true(shmrt_mv_equal(v, want));
	shmrt_mv_free(v);
	shmrt_mv_free(want);
}

/* The map itself (in this process): random sets, pops by key and popitems against a
 * model of Python's dict (its keys in insertion order), so that the trimming of
 * deleted entries and the rebuilds it defers keep order, lengths and lookups right. */
static void test_map_popitem_model(void **state)
{
	(void)state;
	enum { K = 300, OPS = 60000 };
	int64_t order[K]; /* the model: live keys in insertion order */
	int nlive = 0;
	uint64_t rng = 12345;
	shmrt_mv_t *m = shmrt_mv_map();
	assert_non_null(m);
	for (int op = 0; op < OPS; op++) {
		uint64_t r = tu_rand(&rng) % 100;
		int64_t key = (int64_t)(tu_rand(&rng) % K);
		int at = -1;
		for (int i = 0; i < nlive; i++)
			if (order[i] == key)
				at = i;
		if (r < 50) { /* set: a new key goes last, an old one keeps its place */
			assert_int_equal(shmrt_mv_map_set(m, I(key), I(op)), 0);
			if (at < 0)
				order[nlive++] = key;
		} else if (r < 70) { /* pop by key */
			shmrt_mv_t *k = I(key), *v = NULL;
			assert_int_equal(shmrt_mv_map_pop(m, k, &v), at < 0 ? -ENOENT : 0);
			shmrt_mv_free(k);
			shmrt_mv_free(v);
			if (at >= 0) {
				memmove(&order[at], &order[at + 1], (size_t)(nlive - at - 1) * 8);
				nlive--;
			}
		} else { /* popitem: the last */
			shmrt_mv_t *k = NULL, *v = NULL;
			int rc = shmrt__mv_map_popitem(m, &k, &v);
			if (nlive == 0) {
				assert_int_equal(rc, -ENOENT);
				continue;
			}
			assert_int_equal(rc, 0);
			assert_int_equal(ival(k), order[--nlive]);
			shmrt_mv_free(k);
			shmrt_mv_free(v);
		}
		assert_int_equal(shmrt_mv_map_len(m), nlive);
		if (op % 97 == 0) { /* the whole order, and every lookup */
			size_t pos = 0;
			const shmrt_mv_t *k;
			int i = 0;
			while (shmrt_mv_map_next(m, &pos, &k, NULL))
				assert_int_equal(ival(k), order[i++]);
			assert_int_equal(i, nlive);
			for (int j = 0; j < nlive; j++) {
				shmrt_mv_t *kk = I(order[j]);
				assert_non_null(shmrt_mv_map_get(m, kk));
				shmrt_mv_free(kk);
			}
		}
	}
	shmrt_mv_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dict_pop, rsetup, rteardown),
		cmocka_unit_test_setup_teardown(test_list_pop_twice_and_nested, rsetup, rteardown),
		cmocka_unit_test_setup_teardown(test_unclaimed_dies_with_session, rsetup, rteardown),
		cmocka_unit_test_setup_teardown(test_queue_get, rsetup, rteardown),
		cmocka_unit_test_setup_teardown(test_queue_drain_linear, rsetup, rteardown),
		cmocka_unit_test_setup_teardown(test_popitem_order_and_linear, rsetup, rteardown),
		cmocka_unit_test_setup_teardown(test_sort_lists_and_extend, rsetup, rteardown),
		cmocka_unit_test(test_map_popitem_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
