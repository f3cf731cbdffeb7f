/*
 * The Manager's shared-memory channel (manager/shmchan.c, manager/client_shm.c):
 * what only it can get wrong. The rest of its behaviour is the socket's, checked by
 * running the Manager's tests again with SHMRT_MANAGER_SHM=1 (the *_shm CTest
 * variants), where every connection must have the channel.
 *  - which connections get it: a Unix one asking for it does, a TCP one stays on
 *    its socket, one not asking stays too; a reconnect asks again (older proxies
 *    stale); an unknown flag is -EINVAL;
 *  - frames larger than the Pipe's messages (1 MiB, 15 MiB values both ways, cut
 *    and joined), a request above 16 MiB refused before sending with the connection
 *    intact, and a pipelined batch mixing large and small calls kept in order;
 *  - a client SIGKILLed holding a Lock and parked in a Queue get: its lock goes to
 *    the parked waiter with -EOWNERDEAD, its get takes no item;
 *  - the server SIGKILLed under three shm clients parked in the server: each call
 *    returns -EPIPE or -ECONNRESET (the time is printed: the bound is about 50 ms);
 *  - a client that sends and never reads its ring: dropped once its unread replies
 *    pass max_queued, while another client is served throughout;
 *  - a hostile client that reads the eventfd it was handed in a loop: the others'
 *    calls still wake the sleeping server (each client has a doorbell of its own);
 *  - a hostile client that truncates its region's memfd: the server, which maps it
 *    too, is not killed by a SIGBUS (the memfd is sealed against shrinking);
 *  - a hostile client that holds its region's robust locks, closes its Pipe end and
 *    hangs up: the server drops it without waiting for them;
 *  - a client whose ring holds a flood of small pipelined calls: another client's
 *    call is served after a bounded share of them, not after all (fairness);
 *  - four shm clients and the server on one CPU (oversubscribed): exact counts;
 *  - descriptors: a started server raises its soft limit to the hard one; with a
 *    limit of 64 its channels (idle ones: eight descriptors) take at most half,
 *    later local clients stay on their sockets, and all are served; a client without
 *    room for the channel's descriptors gets -EMFILE.
 * Every wait is bounded; children are killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/pmutex.h"
#include "core/region_int.h"
#include "manager/client_int.h"

#define MMU_BLOCKING
#define MMU_OWN_FIXTURES
#include "manager_mp_util.h"

static int setup(void **state)
{
	(void)state;
	server_up(NULL);
	assert_int_equal(shmrt_manager_channel(conn), SHMRT_MANAGER_CHANNEL_SHM);
	return 0;
}

/* ---- which connections get the channel ----------------------------------------- */

static void channel_kinds(void **state)
{
	(void)state;
	const char *addr = shmrt_manager_address(srv);
	shmrt_manager_conn_t *c;
	assert_int_equal(shmrt_manager_connect_flags(addr, KEY, KEYLEN, 10 * SEC, 0, &c), 0);
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SOCKET);
	assert_int_equal(shmrt_manager_ping(c), 0);
	shmrt_manager_close(c);
	assert_int_equal(shmrt_manager_connect_flags(addr, KEY, KEYLEN, 10 * SEC, 0x80, &c),
			 -EINVAL);
	assert_int_equal(shmrt_manager_channel(NULL), -EINVAL);

	/* A TCP server: the flag is ignored, the socket serves. */
	shmrt_manager_server_t *t;
	assert_int_equal(shmrt_manager_start("tcp:127.0.0.1:0", KEY, KEYLEN, NULL, &t), 0);
	assert_int_equal(shmrt_manager_connect_flags(shmrt_manager_address(t), KEY, KEYLEN,
						     10 * SEC, SHMRT_MANAGER_CONNECT_SHM, &c), 0);
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SOCKET);
	shmrt_proxy_t *d;
	assert_int_equal(shmrt_manager_create(c, "dict", NULL, &d), 0);
	expect(d, "__setitem__", L(2, S("a"), I(1)), 0, "None");
	expect(d, "get", L(1, S("a")), 0, "1");
	assert_int_equal(shmrt_proxy_release(d), 0);
	shmrt_manager_close(c);
	assert_int_equal(shmrt_manager_shutdown(t), 0);

	/* A reconnect asks again; the proxies of the old channel are stale. */
	shmrt_proxy_t *l = create("list", NULL);
	expect(l, "append", L(1, I(7)), 0, "None");
	assert_int_equal(shmrt_manager_reconnect(conn, 10 * SEC), 0);
	assert_int_equal(shmrt_manager_channel(conn), SHMRT_MANAGER_CHANNEL_SHM);
	assert_int_equal(shmrt_proxy_call0(l, "__len__", NULL), -ESTALE);
	nmade--;
	assert_int_equal(shmrt_proxy_release(l), -ESTALE);
	assert_int_equal(shmrt_manager_ping(conn), 0);
}

/* ---- the default: the channel once a connection proves busy ---------------------- */

/* n calls l.append(i) from i = from, each checked. */
static void appends(shmrt_proxy_t *l, int from, int n)
{
	for (int i = from; i < from + n; i++)
		assert_int_equal(shmrt_proxy_call(l, "append", L(1, I(i)), 10 * SEC, NULL), 0);
}

static shmrt_manager_conn_t *connect_with_flags(unsigned flags)
{
	shmrt_manager_conn_t *c;
	assert_int_equal(shmrt_manager_connect_flags(shmrt_manager_address(srv), KEY, KEYLEN,
						     10 * SEC, flags, &c),
			 0);
	assert_int_equal(shmrt_manager_channel(c), flags & SHMRT_MANAGER_CONNECT_SHM
							 ? SHMRT_MANAGER_CHANNEL_SHM
							 : SHMRT_MANAGER_CHANNEL_SOCKET);
	return c;
}

static void channel_when_busy(void **state)
{
	(void)state;
	const int after = (int)SHMRT_MANAGER_SHM_AFTER_CALLS;
	char want[32];
	snprintf(want, sizeof(want), "%d", after - 1);

	/* Flags 0: the socket up to the after-th call, which asks first; the proxies
	 * made on the socket name the same objects on the channel. */
	shmrt_manager_conn_t *c = connect_with_flags(0);
	shmrt_proxy_t *l, *d;
	assert_int_equal(shmrt_manager_create(c, "list", NULL, &l), 0);
	assert_int_equal(shmrt_manager_create(c, "dict", NULL, &d), 0);
	expect(d, "__setitem__", L(2, S("k"), S("on the socket")), 0, "None");
	appends(l, 0, after - 2); /* the __setitem__ counted */
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SOCKET);
	appends(l, after - 2, 1);
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SHM);
	expect(l, "__len__", NULL, 0, want);
	expect(l, "__getitem__", L(1, I(after - 2)), 0, NULL);
	expect(d, "get", L(1, S("k")), 0, "'on the socket'");
	assert_int_equal(shmrt_proxy_release(l), 0);
	assert_int_equal(shmrt_proxy_release(d), 0);
	/* A reconnect starts on the socket and counts again. */
	assert_int_equal(shmrt_manager_reconnect(c, 10 * SEC), 0);
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SOCKET);
	assert_int_equal(shmrt_manager_create(c, "list", NULL, &l), 0);
	appends(l, 0, after - 1);
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SOCKET);

	/* A batch's calls count one each: the batch that reaches the count asks first. */
	shmrt_proxy_req_t reqs[2];
	for (int i = 0; i < 2; i++)
		reqs[i] = (shmrt_proxy_req_t){ .proxy = l, .method = "append", .args = L(1, I(i)) };
	assert_int_equal(shmrt_proxy_call_batch(c, reqs, 2, 10 * SEC), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(reqs[i].rc, 0);
		shmrt_mv_free(reqs[i].result);
	}
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SHM);
	snprintf(want, sizeof(want), "%d", after + 1);
	expect(l, "__len__", NULL, 0, want);
	assert_int_equal(shmrt_proxy_release(l), 0);
	shmrt_manager_close(c);

	/* A call with less than a second left does not ask (the ask takes milliseconds
	 * and its failure breaks the connection): the next call with time does. */
	c = connect_with_flags(0);
	assert_int_equal(shmrt_manager_create(c, "list", NULL, &l), 0);
	appends(l, 0, after - 1);
	assert_int_equal(shmrt_proxy_call(l, "append", L(1, I(0)), 10 * 1000000ll, NULL), 0);
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SOCKET);
	appends(l, 0, 1);
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SHM);
	assert_int_equal(shmrt_proxy_release(l), 0);
	shmrt_manager_close(c);

	/* Without room for the reply's five descriptors and the region's duplicate
	 * (exactly five free here), a connection stays on its socket and serves. */
	c = connect_with_flags(0);
	assert_int_equal(shmrt_manager_create(c, "list", NULL, &l), 0);
	appends(l, 0, after - 1);
	struct rlimit mine;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &mine), 0);
	int nfree = 0, fd = 0;
	for (; nfree < 5; fd++)
		nfree += fcntl(fd, F_GETFD) < 0;
	struct rlimit tight = { (rlim_t)fd, mine.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	int rc_tight = shmrt_proxy_call(l, "append", L(1, I(0)), 10 * SEC, NULL);
	int ch_tight = shmrt_manager_channel(c);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &mine), 0);
	assert_int_equal(rc_tight, 0);
	assert_int_equal(ch_tight, SHMRT_MANAGER_CHANNEL_SOCKET);
	appends(l, 0, 2);
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SOCKET);
	assert_int_equal(shmrt_proxy_release(l), 0);
	shmrt_manager_close(c);

	/* SHMRT_MANAGER_CONNECT_SOCKET never asks, nor SHMRT_MANAGER_SHM=0; both flags
	 * are refused. */
	c = connect_with_flags(SHMRT_MANAGER_CONNECT_SOCKET);
	assert_int_equal(shmrt_manager_create(c, "list", NULL, &l), 0);
	appends(l, 0, 2 * after);
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SOCKET);
	assert_int_equal(shmrt_proxy_release(l), 0);
	shmrt_manager_close(c);
	setenv("SHMRT_MANAGER_SHM", "0", 1);
	int rc = shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC, &c);
	setenv("SHMRT_MANAGER_SHM", "1", 1);
	assert_int_equal(rc, 0);
	assert_int_equal(shmrt_manager_create(c, "list", NULL, &l), 0);
	appends(l, 0, after + 1);
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SOCKET);
	assert_int_equal(shmrt_proxy_release(l), 0);
	shmrt_manager_close(c);
	assert_int_equal(shmrt_manager_connect_flags(shmrt_manager_address(srv), KEY, KEYLEN,
						     10 * SEC,
						     SHMRT_MANAGER_CONNECT_SHM |
							     SHMRT_MANAGER_CONNECT_SOCKET,
						     &c),
			 -EINVAL);

	/* A call given up at its deadline may have a reply still to come, and the
	 * channel's reply is read raw from the socket: that connection keeps its
	 * socket, and serves. */
	c = connect_with_flags(0);
	shmrt_proxy_t *q;
	assert_int_equal(shmrt_manager_create(c, "Queue", NULL, &q), 0);
	assert_int_equal(shmrt_proxy_call(q, "get", NULL, 20 * 1000000ll, NULL), -ETIMEDOUT);
	assert_int_equal(shmrt_manager_create(c, "list", NULL, &l), 0);
	appends(l, 0, after + 1);
	assert_int_equal(shmrt_manager_channel(c), SHMRT_MANAGER_CHANNEL_SOCKET);
	snprintf(want, sizeof(want), "%d", after + 1);
	expect(l, "__len__", NULL, 0, want);
	assert_int_equal(shmrt_proxy_release(l), 0);
	assert_int_equal(shmrt_proxy_release(q), 0);
	shmrt_manager_close(c);
	assert_int_equal(shmrt_manager_ping(conn), 0);
}

/* ---- frames larger than the Pipe's messages --------------------------------------- */

static shmrt_mv_t *big_bytes(size_t n, unsigned seed)
{
	uint8_t *b = malloc(n);
	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 131 + seed + (i >> 12));
	shmrt_mv_t *v = shmrt_mv_bytes(b, n);
	free(b);
	return v;
}

static void expect_big(shmrt_proxy_t *p, const char *method, shmrt_mv_t *args, size_t n,
		       unsigned seed)
{
	shmrt_mv_t *res = NULL, *want = big_bytes(n, seed);
	assert_int_equal(shmrt_proxy_call(p, method, args, 60 * SEC, &res), 0);
	assert_true(shmrt_mv_equal(res, want));
	shmrt_mv_free(res);
	shmrt_mv_free(want);
}

static void large_values(void **state)
{
	(void)state;
	shmrt_proxy_t *d = create("dict", NULL);
	size_t sizes[] = { 40000, 1u << 20, 15u << 20 };
	for (unsigned k = 0; k < 3; k++) {
		expect(d, "__setitem__", L(2, I(k), big_bytes(sizes[k], k)), 0, "None");
		expect_big(d, "__getitem__", L(1, I(k)), sizes[k], k);
	}
	/* Above the 16 MiB request cap: refused before sending, the channel intact. */
	assert_int_equal(shmrt_proxy_call(d, "__setitem__", L(2, I(9), big_bytes(17u << 20, 9)),
					  20 * SEC, NULL),
			 -EMSGSIZE);
	expect(d, "__len__", NULL, 0, "3");

	/* A pipelined batch of large and small calls: run and answered in order. */
	shmrt_proxy_t *l = create("list", NULL);
	shmrt_proxy_req_t r[16];
	for (int i = 0; i < 16; i++) {
		r[i].proxy = l;
		r[i].method = i % 4 == 3 ? "__len__" : "append";
		r[i].args = i % 4 == 3 ? NULL
				       : L(1, i % 2 ? I(i) : big_bytes(100000 + 1000 * i, i));
	}
	assert_int_equal(shmrt_proxy_call_batch(conn, r, 16, 60 * SEC), 0);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(r[i].rc, 0);
		if (i % 4 == 3) { /* three appends before each __len__ */
			int64_t n;
			assert_int_equal(shmrt_mv_as_int(r[i].result, &n), 0);
			assert_int_equal(n, 3 * (i / 4 + 1));
		}
		shmrt_mv_free(r[i].result);
	}
	for (int i = 0, at = 0; i < 16; i++) {
		if (i % 4 == 3)
			continue;
		if (i % 2)
			expect(l, "__getitem__", L(1, I(at)), 0, NULL);
		else
			expect_big(l, "__getitem__", L(1, I(at)), 100000 + 1000 * (size_t)i,
				   (unsigned)i);
		at++;
	}
}

/* ---- a client killed mid-call ----------------------------------------------------- */

/* Takes the lock (g_a), tells the parent, then parks in a get on the queue (g_b). */
static int holder_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	if (shmrt_manager_channel(c) != SHMRT_MANAGER_CHANNEL_SHM)
		return 5;
	shmrt_proxy_t *lk = child_proxy(c, g_a), *q = child_proxy(c, g_b);
	bool b;
	if (callb(lk, "acquire", NULL, &b) || !b)
		return 2;
	char x = 'h';
	if (write(pfd[1], &x, 1) != 1)
		return 3;
	(void)callb(q, "get", NULL, NULL); /* parked until killed */
	return 4;
}

/* Parks in an acquire of the lock (g_a); exits 0 if it is handed over with
 * -EOWNERDEAD. */
static int waiter_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *lk = child_proxy(c, g_a);
	int rc = callb(lk, "acquire", NULL, NULL);
	return rc == -EOWNERDEAD ? 0 : 10;
}

static void client_killed(void **state)
{
	(void)state;
	assert_int_equal(pipe(pfd), 0);
	shmrt_proxy_t *lk = create("Lock", NULL), *q = create("Queue", NULL);
	g_a = shmrt_proxy_ref(lk);
	g_b = shmrt_proxy_ref(q);
	int64_t sessions = stat_of(conn, "sessions");
	pid_t h = tu_fork(holder_main, NULL);
	char x;
	assert_int_equal(tu_read_byte(pfd[0], &x, 10000), 0);
	wait_stat("parked", 1); /* the holder's get */
	pid_t w = tu_fork(waiter_main, NULL);
	wait_stat("parked", 2); /* the waiter's acquire */
	assert_int_equal(kill(h, SIGKILL), 0);
	assert_int_equal(tu_wait(h, 10000), 128 + SIGKILL);
	assert_int_equal(tu_wait(w, 10000), 0);
	wait_stat("sessions", sessions);
	assert_int_equal(stat_of(conn, "parked"), 0);
	/* The dead client's get took nothing: the item is the parent's. */
	expect(q, "put", L(1, S("item")), 0, "None");
	expect(q, "get_nowait", NULL, 0, "'item'");
	/* The waiter exited holding it: the next acquire takes it with -EOWNERDEAD. */
	assert_int_equal(callb(lk, "acquire", L(2, B(false), NIL), NULL), -EOWNERDEAD);
	expect(lk, "release", NULL, 0, "None");
	close(pfd[0]);
	close(pfd[1]);
}

/* ---- the server killed under waiting shm clients -------------------------------------- */

static const char *const park_calls[] = { "get", "wait", "acquire" };
static uint64_t park_refs[3];

/* Parks in call i on park_refs[i]; exits 0 if the server's death gave -EPIPE or
 * -ECONNRESET. */
static int parked_main(void *arg)
{
	int i = (int)(intptr_t)arg;
	shmrt_manager_conn_t *c = child_conn();
	if (shmrt_manager_channel(c) != SHMRT_MANAGER_CHANNEL_SHM)
		return 5;
	shmrt_proxy_t *p = child_proxy(c, park_refs[i]);
	int rc = callb(p, park_calls[i], NULL, NULL);
	return rc == -EPIPE || rc == -ECONNRESET ? 0 : 4;
}

static void server_killed(void **state)
{
	(void)state;
	shmrt_proxy_t *objs[3] = { create("Queue", NULL), create("Event", NULL),
				   create("Lock", NULL) };
	expect_b(objs[2], "acquire", NULL, true);
	pid_t p[3];
	for (int i = 0; i < 3; i++) {
		park_refs[i] = shmrt_proxy_ref(objs[i]);
		p[i] = tu_fork(parked_main, (void *)(intptr_t)i);
		wait_stat("parked", i + 1);
	}
	uint64_t t0 = tu_ms();
	assert_int_equal(kill(shmrt_manager_pid(srv), SIGKILL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tu_wait(p[i], 10000), 0);
	printf("3 shm clients parked in the server returned -EPIPE within %llu ms of its "
	       "SIGKILL\n",
	       (unsigned long long)(tu_ms() - t0));
	assert_int_equal(shmrt_manager_ping(conn) < 0, 1);
	while (nmade)
		(void)shmrt_proxy_release(made[--nmade]);
}

static int teardown_dead(void **state)
{
	(void)state;
	tu_kill_all();
	shmrt_manager_close(conn);
	conn = NULL;
	assert_int_equal(shmrt_manager_shutdown(srv), -SIGKILL);
	srv = NULL;
	return 0;
}

/* ---- a client that never reads ----------------------------------------------------- */

static int setup_small_queue(void **state)
{
	(void)state;
	shmrt_manager_opts_t o = { .max_queued = 1u << 20 };
	server_up(&o);
	return 0;
}

/* Sends 200 gets of a 64 KiB value (12.8 MiB of replies) into its ring, never
 * reading, until the server drops it (its sends then fail: -EPIPE), then tells the
 * parent and sleeps. */
static int nonreader_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *d = child_proxy(c, g_a);
	if (!c->shm)
		return 5;
	int rc = 0;
	for (int i = 0; i < 200 && rc == 0; i++) {
		uint8_t h[CALL_HEAD_MAX];
		size_t hn;
		rc = shmrt__client_encode_call(c, c->next_id++, d, "__getitem__", L(1, S("v")), h,
					       &hn);
		if (rc == 0)
			rc = shmrt__frame_put2(&c->w, h, hn, c->buf.data, c->buf.len);
		if (rc == 0)
			rc = shmrt__client_shm_flush(c, shmrt__deadline(10 * SEC));
	}
	if (rc && rc != -EPIPE)
		return 6;
	char x = 'n';
	if (write(pfd[1], &x, 1) != 1)
		return 7;
	pause();
	return 0;
}

static void nonreader_dropped(void **state)
{
	(void)state;
	assert_int_equal(pipe(pfd), 0);
	shmrt_proxy_t *d = create("dict", NULL);
	expect(d, "__setitem__", L(2, S("v"), big_bytes(64 << 10, 1)), 0, "None");
	g_a = shmrt_proxy_ref(d);
	int64_t sessions = stat_of(conn, "sessions");
	pid_t n = tu_fork(nonreader_main, NULL);
	char x;
	assert_int_equal(tu_read_byte(pfd[0], &x, 10000), 0);
	/* Its replies filled its ring (2 MiB) and then passed max_queued (1 MiB): the
	 * server dropped it; this connection was served throughout. */
	wait_stat("sessions", sessions);
	expect_big(d, "__getitem__", L(1, S("v")), 64 << 10, 1);
	assert_true(stat_of(conn, "buffered") < (1 << 20)); /* its queue went with it */
	assert_int_equal(kill(n, SIGKILL), 0);
	assert_int_equal(tu_wait(n, 10000), 128 + SIGKILL);
	close(pfd[0]);
	close(pfd[1]);
}

/* ---- a client that drains doorbells ------------------------------------------------ */

#define THIEF_MS 20000 /* the thief's bound: killed long before */
#define VICTIM_CALLS 60

/* A hostile client of the same user: it reads every eventfd it was handed (the
 * doorbell it got with its channel) in a tight loop. With one doorbell shared by
 * every client, its reads took the wake-ups of the others: a request rung while the
 * server slept was left in its ring until the caller's timeout. */
static int eventfds(int *fds, int max)
{
	int n = 0;
	for (int fd = 3; fd < 256 && n < max; fd++) {
		char path[64], link[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t k = readlink(path, link, sizeof(link) - 1);
		if (k > 0 && (link[k] = 0, strstr(link, "eventfd")))
			fds[n++] = fd;
	}
	return n;
}

static int thief_main(void *arg)
{
	(void)arg;
	/* Not the parent's doorbell, inherited by the fork: only what a stranger gets. */
	int fds[8], n = eventfds(fds, 8);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	shmrt_manager_conn_t *c = child_conn();
	if (shmrt_manager_channel(c) != SHMRT_MANAGER_CHANNEL_SHM)
		return 5;
	n = eventfds(fds, 8);
	if (n == 0)
		return 6;
	char x = 't';
	if (write(pfd[1], &x, 1) != 1)
		return 7;
	uint64_t end = tu_ms() + THIEF_MS;
	while (tu_ms() < end)
		for (int i = 0; i < n; i++) {
			uint64_t v;
			if (read(fds[i], &v, sizeof(v)) < 0) {
				/* EAGAIN: nothing to take this time */
			}
		}
	return 0;
}

static void doorbell_thief(void **state)
{
	(void)state;
	assert_int_equal(pipe(pfd), 0);
	shmrt_proxy_t *v = create("Value", L(2, S("q"), I(0)));
	pid_t t = tu_fork(thief_main, NULL);
	char x;
	assert_int_equal(tu_read_byte(pfd[0], &x, 10000), 0);
	/* Each call after a pause in which the server went to sleep in epoll_wait: the
	 * request must wake it through this connection's doorbell, whatever the thief
	 * reads. A lost wake-up is a call that times out (the connection's 2 s). */
	shmrt_manager_set_timeout(conn, 2 * SEC);
	int failed = 0;
	for (int i = 0; i < VICTIM_CALLS && !failed; i++) {
		struct timespec ts = { 0, 3 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		uint64_t t0 = tu_ms();
		int rc = shmrt_proxy_call1(v, "add", I(1), NULL);
		if (rc)
			printf("call %d: %d after %llu ms\n", i, rc, (unsigned long long)(tu_ms() - t0));
		failed = rc != 0;
	}
	assert_int_equal(kill(t, SIGKILL), 0);
	assert_int_equal(tu_wait(t, 10000), 128 + SIGKILL);
	close(pfd[0]);
	close(pfd[1]);
	assert_false(failed);
	expect(v, "get", NULL, 0, "60");
}

/* ---- a client that truncates its region ---------------------------------------------- */

/* A hostile client of the same user: it truncates the memfd of its channel's region
 * to 0 bytes. The server maps that region too: its next touch of the control block
 * (announcing a sleep) or the rings would be a SIGBUS, killing it under every
 * client, unless the memfd is sealed against shrinking. */
static void close_memfds(void)
{
	for (int fd = 3; fd < 256; fd++) {
		char path[64], link[128];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t k = readlink(path, link, sizeof(link) - 1);
		if (k > 0 && (link[k] = 0, strstr(link, "memfd:")))
			close(fd);
	}
}

static int truncator_main(void *arg)
{
	(void)arg;
	close_memfds(); /* not the parent's region, inherited by the fork */
	shmrt_manager_conn_t *c = child_conn();
	if (shmrt_manager_channel(c) != SHMRT_MANAGER_CHANNEL_SHM)
		return 5;
	int found = 0;
	for (int fd = 3; fd < 256; fd++) {
		char path[64], link[128];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t k = readlink(path, link, sizeof(link) - 1);
		if (k > 0 && (link[k] = 0, strstr(link, "memfd:"))) {
			found = 1;
			if (ftruncate(fd, 0)) {
				/* sealed (EPERM): what the server must do */
			}
		}
	}
	char x = found ? 'm' : '?';
	if (write(pfd[1], &x, 1) != 1)
		return 7;
	pause(); /* touches nothing of its region again */
	return 0;
}

static void region_truncated(void **state)
{
	(void)state;
	assert_int_equal(pipe(pfd), 0);
	shmrt_proxy_t *v = create("Value", L(2, S("q"), I(0)));
	pid_t t = tu_fork(truncator_main, NULL);
	char x;
	assert_int_equal(tu_read_byte(pfd[0], &x, 10000), 0);
	assert_int_equal(x, 'm');
	/* Calls after pauses: the server serves, then sleeps (announcing it in every
	 * channel's control block, the truncator's too), and is woken again. */
	int rc = 0;
	for (int i = 0; i < 10 && rc == 0; i++) {
		struct timespec ts = { 0, 3 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		rc = shmrt_proxy_call1(v, "add", I(1), NULL);
	}
	assert_int_equal(rc, 0);
	expect(v, "get", NULL, 0, "10");
	assert_int_equal(kill(t, SIGKILL), 0);
	assert_int_equal(tu_wait(t, 10000), 128 + SIGKILL);
	close(pfd[0]);
	close(pfd[1]);
}

/* ---- a client that holds its region's locks ------------------------------------------ */

/* A hostile client of the same user: it attaches to its channel's region, takes the
 * region's life and directory locks (robust mutexes in that shared memory) and keeps
 * them, closes its end of the Pipe and hangs up. The server, dropping it, must not
 * wait for those locks (closing the Pipe removed it from the directory, detaching
 * released a registry slot under the life lock): its one thread would hang for as
 * long as the client lives. */
static int locker_main(void *arg)
{
	(void)arg;
	close_memfds(); /* not the parent's region, inherited by the fork */
	shmrt_manager_conn_t *c = child_conn();
	if (shmrt_manager_channel(c) != SHMRT_MANAGER_CHANNEL_SHM)
		return 5;
	shmrt_region_t *r = NULL;
	for (int fd = 3; fd < 256 && !r; fd++) {
		char path[64], link[128];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t k = readlink(path, link, sizeof(link) - 1);
		if (k > 0 && (link[k] = 0, strstr(link, "memfd:")) && shmrt_region_open_fd(fd, &r))
			return 6;
	}
	if (!r)
		return 7;
	struct shmrt_region *R = (struct shmrt_region *)r;
	if (shmrt__pmutex_lock(&R->hdr->life_lock, R->fd, NULL, NULL) ||
	    shmrt__pmutex_lock(&R->hdr->dir_lock, R->fd, NULL, NULL))
		return 8;
	for (int fd = 3; fd < 256; fd++) { /* our Pipe end's descriptors: the end closes */
		char path[64], link[128];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t k = readlink(path, link, sizeof(link) - 1);
		if (fd != pfd[0] && fd != pfd[1] && k > 0 && (link[k] = 0, !strncmp(link, "pipe:", 5)))
			close(fd);
	}
	if (shutdown(c->fd, SHUT_RDWR))
		return 9;
	char x = 'l';
	if (write(pfd[1], &x, 1) != 1)
		return 10;
	pause(); /* holding both locks */
	return 0;
}

static void region_locked(void **state)
{
	(void)state;
	assert_int_equal(pipe(pfd), 0);
	shmrt_proxy_t *v = create("Value", L(2, S("q"), I(0)));
	int64_t sessions = stat_of(conn, "sessions");
	pid_t t = tu_fork(locker_main, NULL);
	char x;
	assert_int_equal(tu_read_byte(pfd[0], &x, 10000), 0);
	assert_int_equal(x, 'l');
	/* A server stuck in a lock answers nothing: each call has 2 s. */
	shmrt_manager_set_timeout(conn, 2 * SEC);
	int rc = 0;
	for (int i = 0; i < 5 && rc == 0; i++)
		rc = shmrt_proxy_call1(v, "add", I(1), NULL);
	/* The server sees the hang-up in its own time: calls go on answering while it
	 * drops the locker (bounded: 10 s). */
	int64_t now = -1;
	uint64_t until = tu_ms() + 10000;
	while (rc == 0 && (now = stat_of(conn, "sessions")) != sessions && tu_ms() < until) {
		usleep(2000);
		rc = shmrt_proxy_call1(v, "add", I(1), NULL);
	}
	assert_int_equal(kill(t, SIGKILL), 0); /* a stuck server recovers the locks now */
	assert_int_equal(tu_wait(t, 10000), 128 + SIGKILL);
	close(pfd[0]);
	close(pfd[1]);
	assert_int_equal(rc, 0);
	assert_int_equal(now, sessions); /* the locker was dropped */
}

/* ---- a client that floods its ring ------------------------------------------------ */

#define FLOOD_ADDS 20000 /* about 600 KiB of frames: they fit the ring (2 MiB) */
static int go[2];

/* Fills its ring with FLOOD_ADDS pipelined adds while the server is stopped (told by
 * the parent), then tells the parent and sleeps (its replies fit its ring). */
static int flooder_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	if (shmrt_manager_channel(c) != SHMRT_MANAGER_CHANNEL_SHM)
		return 5;
	shmrt_proxy_t *v = child_proxy(c, g_a);
	char x = 'r';
	if (write(pfd[1], &x, 1) != 1 || read(go[0], &x, 1) != 1)
		return 6;
	for (int i = 0; i < FLOOD_ADDS; i++) {
		uint8_t h[CALL_HEAD_MAX];
		size_t hn;
		if (shmrt__client_encode_call(c, c->next_id++, v, "add", L(1, I(1)), h, &hn) ||
		    shmrt__frame_put2(&c->w, h, hn, c->buf.data, c->buf.len))
			return 7;
	}
	if (shmrt__client_shm_flush(c, shmrt__deadline(10 * SEC)))
		return 8;
	x = 'f';
	if (write(pfd[1], &x, 1) != 1)
		return 9;
	pause();
	return 0;
}

static void flood_fair(void **state)
{
	(void)state;
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(pipe(go), 0);
	shmrt_proxy_t *v = create("Value", L(2, S("q"), I(0)));
	g_a = shmrt_proxy_ref(v);
	pid_t f = tu_fork(flooder_main, NULL); /* a newer channel: served first in a pass */
	char x;
	assert_int_equal(tu_read_byte(pfd[0], &x, 10000), 0);
	/* The server stopped: the flood, then this connection's get, wait in their rings,
	 * and the server finds both at its next pass. */
	pid_t sp = shmrt_manager_pid(srv);
	assert_int_equal(kill(sp, SIGSTOP), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(tu_read_byte(pfd[0], &x, 10000), 0);
	assert_int_equal(x, 'f');
	uint8_t h[CALL_HEAD_MAX];
	size_t hn;
	int64_t id = conn->next_id++, rid = 0;
	assert_int_equal(shmrt__client_encode_call(conn, id, v, "get", NULL, h, &hn), 0);
	assert_int_equal(shmrt__frame_put2(&conn->w, h, hn, conn->buf.data, conn->buf.len), 0);
	assert_int_equal(shmrt__client_shm_flush(conn, shmrt__deadline(10 * SEC)), 0);
	assert_int_equal(kill(sp, SIGCONT), 0);
	int rrc = -1;
	shmrt_mv_t *res = NULL;
	assert_int_equal(shmrt__client_read_reply(conn, shmrt__deadline(30 * SEC), &rid, &rrc, &res),
			 0);
	assert_int_equal(rid, id);
	assert_int_equal(rrc, 0);
	int64_t seen = ival(res);
	shmrt_mv_free(res);
	printf("a get behind a flood of %d adds in another ring saw %lld of them\n", FLOOD_ADDS,
	       (long long)seen);
	assert_int_equal(kill(f, SIGKILL), 0);
	assert_int_equal(tu_wait(f, 10000), 128 + SIGKILL);
	for (int i = 0; i < 2; i++) {
		close(pfd[i]);
		close(go[i]);
	}
	/* Served in turn, as on sockets (a bounded number of frames per channel and
	 * pass), not after every frame the flooder's ring held. */
	assert_true(seen < FLOOD_ADDS);
}

/* ---- oversubscribed: four clients and the server on one CPU ------------------------- */

#define OVER_CLIENTS 4
#define OVER_CALLS 3000

static void pin_cpu0(pid_t pid)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	(void)sched_setaffinity(pid, sizeof(set), &set); /* best effort: a test of progress */
}

/* OVER_CALLS adds of 1 on the Value (g_a), with a get every tenth. */
static int adder_main(void *arg)
{
	(void)arg;
	pin_cpu0(0);
	shmrt_manager_conn_t *c = child_conn();
	if (shmrt_manager_channel(c) != SHMRT_MANAGER_CHANNEL_SHM)
		return 5;
	shmrt_proxy_t *v = child_proxy(c, g_a);
	for (int i = 0; i < OVER_CALLS; i++) {
		if (shmrt_proxy_call1(v, "add", I(1), NULL))
			return 6;
		if (i % 10 == 0 && shmrt_proxy_call0(v, "get", NULL))
			return 7;
	}
	return 0;
}

static void oversubscribed(void **state)
{
	(void)state;
	shmrt_proxy_t *v = create("Value", L(2, S("q"), I(0)));
	g_a = shmrt_proxy_ref(v);
	pin_cpu0(shmrt_manager_pid(srv));
	uint64_t t0 = tu_ms();
	pid_t p[OVER_CLIENTS];
	for (int i = 0; i < OVER_CLIENTS; i++)
		p[i] = tu_fork(adder_main, NULL);
	for (int i = 0; i < OVER_CLIENTS; i++)
		assert_int_equal(tu_wait(p[i], 120000), 0);
	printf("%d shm clients and the server on one CPU: %d calls in %llu ms\n", OVER_CLIENTS,
	       OVER_CLIENTS * OVER_CALLS * 11 / 10, (unsigned long long)(tu_ms() - t0));
	expect(v, "get", NULL, 0, "12000");
}

/* ---- the server's descriptors ------------------------------------------------------ */

static void fd_budget(void **state)
{
	(void)state;
	/* A server started under a low soft limit raises it to the hard one. */
	struct rlimit mine, got;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &mine), 0);
	struct rlimit low = { mine.rlim_max < 256 ? mine.rlim_max : 256, mine.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	shmrt_manager_server_t *t;
	int rc = shmrt_manager_start("unix:", KEY, KEYLEN, NULL, &t);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &mine), 0);
	assert_int_equal(rc, 0);
	shmrt_manager_conn_t *c;
	assert_int_equal(shmrt_manager_connect(shmrt_manager_address(t), KEY, KEYLEN, 10 * SEC, &c),
			 0); /* the server is serving: its limit is set */
	assert_int_equal(prlimit(shmrt_manager_pid(t), RLIMIT_NOFILE, NULL, &got), 0);
	assert_true(got.rlim_cur == mine.rlim_max);
	shmrt_manager_close(c);
	assert_int_equal(shmrt_manager_shutdown(t), 0);

	/* srv's limit cut to 64 from outside: channels, counted at 8 descriptors each
	 * (an idle one's), may hold 32, so 4 in all (setup's conn has one). All the
	 * clients connect before any calls (idle channels hold the most); the later
	 * ones stay on their sockets, and all are served (without the budget the
	 * channels took the table and later connects were refused). */
	struct rlimit lim = { 64, 64 };
	assert_int_equal(prlimit(shmrt_manager_pid(srv), RLIMIT_NOFILE, &lim, NULL), 0);
	enum { N = 16 };
	shmrt_manager_conn_t *cs[N];
	int shm = 1;
	for (int i = 0; i < N; i++) {
		assert_int_equal(shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN,
						       10 * SEC, &cs[i]), 0);
		shm += shmrt_manager_channel(cs[i]) == SHMRT_MANAGER_CHANNEL_SHM;
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(shmrt_manager_ping(cs[i]), 0);
	assert_int_equal(shm, 64 / 2 / 8);
	for (int i = 0; i < N; i++)
		shmrt_manager_close(cs[i]);
	assert_int_equal(shmrt_manager_ping(conn), 0);

	/* A client whose own table has room for its socket but not for the channel's
	 * descriptors: -EMFILE, a clear error (the server has switched the connection);
	 * on the socket the same connect succeeds. */
	/* The limit is a bound on descriptor numbers: set it just past the 4th free
	 * number, so that exactly 4 are free below it whatever is open above. */
	int nfree = 0, fd = 0;
	for (; nfree < 4; fd++)
		nfree += fcntl(fd, F_GETFD) < 0;
	struct rlimit tight = { (rlim_t)fd, mine.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	rc = shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC, &c);
	int rc_sock = shmrt_manager_connect_flags(shmrt_manager_address(srv), KEY, KEYLEN,
						  10 * SEC, 0, &cs[0]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &mine), 0);
	if (rc == 0)
		shmrt_manager_close(c);
	assert_int_equal(rc, -EMFILE);
	assert_int_equal(rc_sock, 0);
	assert_int_equal(shmrt_manager_ping(cs[0]), 0);
	shmrt_manager_close(cs[0]);
	assert_int_equal(shmrt_manager_ping(conn), 0);
}

int main(void)
{
	/* Every connection of this test (the children's too) asks for the channel. */
	setenv("SHMRT_MANAGER_SHM", "1", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(channel_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(channel_when_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(large_values, setup, teardown),
		cmocka_unit_test_setup_teardown(client_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(nonreader_dropped, setup_small_queue, teardown),
		cmocka_unit_test_setup_teardown(doorbell_thief, setup, teardown),
		cmocka_unit_test_setup_teardown(region_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(region_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(flood_fair, setup, teardown),
		cmocka_unit_test_setup_teardown(oversubscribed, setup, teardown),
		cmocka_unit_test_setup_teardown(fd_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(server_killed, setup, teardown_dead),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
