/*
 * The Manager's blocking types across processes: calls parked in the server with
 * their deadlines. A Lock keeps 8 client processes' read-modify-writes of a Namespace
 * attribute exact; Lock, RLock, Semaphore, BoundedSemaphore, Queue and JoinableQueue
 * answer as designed (True/False, -EPERM, -EAGAIN, -ETIMEDOUT within generous measured
 * bounds); a client SIGKILLed holding a Lock hands it to the parked waiter with
 * -EOWNERDEAD (the time from the kill to the waiter's answer is printed), or, with no
 * waiter, to the next acquirer once; a client killed while parked in a get takes no
 * item; 4 producers and 4 consumers move every item exactly once, FIFO per producer;
 * an Event wakes every waiter; a call parked forever does not hold up other clients.
 * Every wait is bounded; children are killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

#define MMU_BLOCKING
#include "manager_mp_util.h"

/* ---- mutual exclusion ------------------------------------------------------------- */

#define LOCK_CLIENTS 8
#define LOCK_ROUNDS 150

/* LOCK_ROUNDS times: acquire, x = x + 1 as a get then a set, release. */
static int counter_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *lk = child_proxy(c, g_a), *ns = child_proxy(c, g_b);
	for (int k = 0; k < LOCK_ROUNDS; k++) {
		bool got = false;
		if (callb(lk, "acquire", NULL, &got) || !got)
			return 3;
		shmrt_mv_t *v = NULL;
		int64_t x;
		if (shmrt_proxy_call1(ns, "__getattr__", S("x"), &v) || shmrt_mv_as_int(v, &x))
			return 4;
		shmrt_mv_free(v);
		if (k % 16 == 0)
			sched_yield(); /* widen the window the lock closes */
		if (shmrt_proxy_call2(ns, "__setattr__", S("x"), I(x + 1), NULL))
			return 5;
		if (callb(lk, "release", NULL, NULL))
			return 6;
	}
	shmrt_manager_close(c);
	return 0;
}

static void lock_mutual_exclusion(void **state)
{
	(void)state;
	shmrt_proxy_t *lk = create("Lock", NULL);
	shmrt_mv_t *m = shmrt_mv_map();
	assert_int_equal(shmrt_mv_map_set(m, S("x"), I(0)), 0);
	shmrt_proxy_t *ns = create("Namespace", m);
	g_a = shmrt_proxy_ref(lk);
	g_b = shmrt_proxy_ref(ns);
	pid_t pids[LOCK_CLIENTS];
	for (int i = 0; i < LOCK_CLIENTS; i++)
		pids[i] = tu_fork(counter_main, NULL);
	for (int i = 0; i < LOCK_CLIENTS; i++)
		assert_int_equal(tu_wait(pids[i], 120000), 0);
	shmrt_mv_t *v;
	int64_t x;
	assert_int_equal(shmrt_proxy_call1(ns, "__getattr__", S("x"), &v), 0);
	assert_int_equal(shmrt_mv_as_int(v, &x), 0);
	shmrt_mv_free(v);
	assert_int_equal(x, LOCK_CLIENTS * LOCK_ROUNDS);
	expect_b(lk, "locked", NULL, false);
	assert_int_equal(stat_of(conn, "parked"), 0);
}

/* ---- semantics and timeouts --------------------------------------------------------- */


/* Acquires g_a, says so, and sleeps until killed. */
static int holder_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *lk = child_proxy(c, g_a);
	bool got = false;
	if (callb(lk, "acquire", NULL, &got) || !got)
		return 3;
	if (write(pfd[1], "h", 1) != 1)
		return 4;
	for (;;)
		pause();
}

static void semantics_and_timeouts(void **state)
{
	(void)state;
	assert_int_equal(pipe(pfd), 0);
	/* Lock in one session */
	shmrt_proxy_t *lk = create("Lock", NULL);
	expect_b(lk, "acquire", NULL, true);
	expect_b(lk, "locked", NULL, true);
	expect_b(lk, "acquire", L(1, B(false)), false);
	assert_int_equal(callb(lk, "acquire", NULL, NULL), -EDEADLK); /* itself, forever */
	expect_timeout(lk, "acquire", L(2, B(true), I(50 * MS)), 0, 50);
	assert_int_equal(callb(lk, "release", NULL, NULL), 0);
	assert_int_equal(callb(lk, "release", NULL, NULL), -EPERM);
	assert_int_equal(callb(lk, "acquire", L(2, B(false), I(5)), NULL), -EINVAL);
	assert_int_equal(callb(lk, "acquire", L(2, B(true), I(-1)), NULL), -EINVAL);
	/* held by another process */
	g_a = shmrt_proxy_ref(lk);
	tu_fork(holder_main, NULL);
	char ch;
	assert_int_equal(read(pfd[0], &ch, 1), 1);
	expect_b(lk, "acquire", L(1, B(false)), false);
	expect_timeout(lk, "acquire", L(2, B(true), I(200 * MS)), 0, 200);
	expect_timeout(lk, "acquire", L(2, I(1), I(0)), 0, 0);
	assert_int_equal(callb(lk, "release", NULL, NULL), -EPERM);
	tu_kill_all();
	assert_int_equal(callb(lk, "acquire", NULL, NULL), -EOWNERDEAD); /* once */
	assert_int_equal(callb(lk, "release", NULL, NULL), 0);
	expect_b(lk, "acquire", NULL, true);
	assert_int_equal(callb(lk, "release", NULL, NULL), 0);

	/* RLock counts */
	shmrt_proxy_t *rl = create("RLock", NULL);
	expect_b(rl, "acquire", NULL, true);
	expect_b(rl, "acquire", NULL, true);
	assert_int_equal(callb(rl, "release", NULL, NULL), 0);
	expect_b(rl, "locked", NULL, true);
	assert_int_equal(callb(rl, "release", NULL, NULL), 0);
	assert_int_equal(callb(rl, "release", NULL, NULL), -EPERM);

	/* Semaphore, BoundedSemaphore */
	shmrt_proxy_t *sm = create("Semaphore", I(2));
	expect_b(sm, "acquire", NULL, true);
	expect_b(sm, "acquire", NULL, true);
	expect_b(sm, "acquire", L(1, B(false)), false);
	expect_timeout(sm, "acquire", L(2, B(true), I(100 * MS)), 0, 100);
	assert_int_equal(callb(sm, "release", L(1, I(3)), NULL), 0);
	shmrt_mv_t *v;
	assert_int_equal(shmrt_proxy_call0(sm, "get_value", &v), 0);
	assert_int_equal(ival(v), 3);
	shmrt_mv_free(v);
	shmrt_proxy_t *bs = create("BoundedSemaphore", I(1));
	assert_int_equal(callb(bs, "release", NULL, NULL), -EINVAL);
	expect_b(bs, "acquire", NULL, true);
	assert_int_equal(callb(bs, "release", NULL, NULL), 0);
	shmrt_proxy_t *x;
	assert_int_equal(shmrt_manager_create(conn, "Semaphore", I(-1), &x), -EINVAL);

	/* Queue: Empty and Full as -EAGAIN (no blocking) and -ETIMEDOUT */
	shmrt_proxy_t *q = create("Queue", I(1));
	assert_int_equal(callb(q, "get", L(1, B(false)), NULL), -EAGAIN);
	assert_int_equal(callb(q, "get_nowait", NULL, NULL), -EAGAIN);
	expect_timeout(q, "get", L(2, B(true), I(100 * MS)), -ETIMEDOUT, 100);
	expect_b(q, "empty", NULL, true);
	assert_int_equal(callb(q, "put", L(1, S("a")), NULL), 0);
	expect_b(q, "full", NULL, true);
	assert_int_equal(callb(q, "put", L(2, S("b"), B(false)), NULL), -EAGAIN);
	expect_timeout(q, "put", L(3, S("b"), B(true), I(100 * MS)), -ETIMEDOUT, 100);
	assert_int_equal(shmrt_proxy_call0(q, "qsize", &v), 0);
	assert_int_equal(ival(v), 1);
	shmrt_mv_free(v);
	assert_int_equal(shmrt_proxy_call0(q, "get", &v), 0);
	const char *str;
	assert_int_equal(shmrt_mv_as_str(v, &str, NULL), 0);
	assert_string_equal(str, "a");
	shmrt_mv_free(v);
	assert_int_equal(callb(q, "task_done", NULL, NULL), -ENOENT); /* Queue has none */

	/* JoinableQueue */
	shmrt_proxy_t *jq = create("JoinableQueue", NULL);
	assert_int_equal(callb(jq, "join", NULL, NULL), 0);
	assert_int_equal(callb(jq, "put", L(1, I(1)), NULL), 0);
	expect_timeout(jq, "join", L(1, I(50 * MS)), -ETIMEDOUT, 50);
	assert_int_equal(callb(jq, "get", NULL, NULL), 0);
	assert_int_equal(callb(jq, "task_done", NULL, NULL), 0);
	assert_int_equal(callb(jq, "task_done", NULL, NULL), -EINVAL);
	assert_int_equal(callb(jq, "join", NULL, NULL), 0);

	/* Event */
	shmrt_proxy_t *ev = create("Event", NULL);
	expect_b(ev, "is_set", NULL, false);
	expect_timeout(ev, "wait", L(1, I(100 * MS)), 0, 100);
	assert_int_equal(callb(ev, "set", NULL, NULL), 0);
	expect_b(ev, "wait", NULL, true);
	assert_int_equal(callb(ev, "clear", NULL, NULL), 0);
	expect_b(ev, "is_set", NULL, false);
	assert_int_equal(stat_of(conn, "parked"), 0);
	close(pfd[0]);
	close(pfd[1]);
}

/* ---- a holder killed -------------------------------------------------------------- */

/* Parks in acquire (forever), then writes its answer's rc and the time it came. */
static int waiter_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *lk = child_proxy(c, g_a);
	int rc = callb(lk, "acquire", NULL, NULL);
	uint64_t t = mono_ns();
	if (write(pfd[1], &rc, sizeof(rc)) != sizeof(rc) || write(pfd[1], &t, sizeof(t)) != sizeof(t))
		return 3;
	if (rc != -EOWNERDEAD)
		return 4;
	/* it holds the lock now: a release works, a second one does not */
	if (callb(lk, "release", NULL, NULL) || callb(lk, "release", NULL, NULL) != -EPERM)
		return 5;
	shmrt_manager_close(c);
	return 0;
}

static void holder_killed(void **state)
{
	(void)state;
	assert_int_equal(pipe(pfd), 0);
	shmrt_proxy_t *lk = create("Lock", NULL);
	g_a = shmrt_proxy_ref(lk);
	pid_t h = tu_fork(holder_main, NULL);
	char ch;
	assert_int_equal(read(pfd[0], &ch, 1), 1);
	pid_t w = tu_fork(waiter_main, NULL);
	wait_stat("parked", 1);
	uint64_t t_kill = mono_ns();
	assert_int_equal(kill(h, SIGKILL), 0);
	int rc;
	uint64_t t_reply;
	assert_int_equal(read(pfd[0], &rc, sizeof(rc)), sizeof(rc));
	assert_int_equal(read(pfd[0], &t_reply, sizeof(t_reply)), sizeof(t_reply));
	assert_int_equal(rc, -EOWNERDEAD);
	double ms = (double)(t_reply - t_kill) / 1e6;
	printf("lock hand-over after SIGKILL of its holder: %.3f ms (kill to the waiter's "
	       "-EOWNERDEAD)\n", ms);
	assert_true(ms < 1000.0);
	assert_int_equal(tu_wait(w, 20000), 0);
	assert_int_equal(tu_wait(h, 5000), 128 + SIGKILL);
	expect_b(lk, "acquire", L(1, B(false)), true); /* the waiter released it cleanly */
	assert_int_equal(callb(lk, "release", NULL, NULL), 0);
	close(pfd[0]);
	close(pfd[1]);
}

/* ---- a getter killed -------------------------------------------------------------- */

/* Parks in get (forever) and writes the item it got. */
static int getter_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *q = child_proxy(c, g_a);
	shmrt_mv_t *v = NULL;
	int64_t x;
	if (shmrt_proxy_call(q, "get", NULL, LONG_WAIT, &v) || shmrt_mv_as_int(v, &x))
		return 3;
	shmrt_mv_free(v);
	if (write(pfd[1], &x, sizeof(x)) != sizeof(x))
		return 4;
	shmrt_manager_close(c);
	return 0;
}

static void getter_killed(void **state)
{
	(void)state;
	assert_int_equal(pipe(pfd), 0);
	shmrt_proxy_t *q = create("Queue", NULL);
	g_a = shmrt_proxy_ref(q);
	pid_t a = tu_fork(getter_main, NULL);
	wait_stat("parked", 1);
	assert_int_equal(kill(a, SIGKILL), 0);
	assert_int_equal(tu_wait(a, 5000), 128 + SIGKILL);
	/* at once, before the server may have read the hang-up: the dead getter takes
	 * nothing */
	assert_int_equal(callb(q, "put", L(1, I(1)), NULL), 0);
	shmrt_mv_t *v;
	assert_int_equal(shmrt_proxy_call0(q, "get_nowait", &v), 0);
	assert_int_equal(ival(v), 1);
	shmrt_mv_free(v);
	wait_stat("sessions", 1);
	/* a live getter gets the next item, once */
	pid_t b = tu_fork(getter_main, NULL);
	wait_stat("parked", 1);
	assert_int_equal(callb(q, "put", L(1, I(2)), NULL), 0);
	int64_t x;
	assert_int_equal(read(pfd[0], &x, sizeof(x)), sizeof(x));
	assert_int_equal(x, 2);
	assert_int_equal(tu_wait(b, 20000), 0);
	expect_b(q, "empty", NULL, true);
	close(pfd[0]);
	close(pfd[1]);
}

/* ---- producers and consumers ------------------------------------------------------ */

#define PRODUCERS 4
#define CONSUMERS 4
#define PER_PRODUCER 400

static int producer_main(void *arg)
{
	int64_t me = (int64_t)(intptr_t)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *q = child_proxy(c, g_a);
	for (int64_t k = 0; k < PER_PRODUCER; k++)
		if (callb(q, "put", L(1, I(me * 100000 + k)), NULL))
			return 3;
	shmrt_manager_close(c);
	return 0;
}

/* Gets until a -1; checks FIFO per producer; appends what it got to the list g_b. */
static int consumer_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *q = child_proxy(c, g_a), *l = child_proxy(c, g_b);
	int64_t last[PRODUCERS];
	for (int i = 0; i < PRODUCERS; i++)
		last[i] = -1;
	for (;;) {
		shmrt_mv_t *v = NULL;
		int64_t x;
		if (shmrt_proxy_call(q, "get", NULL, LONG_WAIT, &v) || shmrt_mv_as_int(v, &x))
			return 3;
		shmrt_mv_free(v);
		if (x < 0)
			break;
		if (x % 100000 <= last[x / 100000])
			return 4; /* out of order */
		last[x / 100000] = x % 100000;
		if (shmrt_proxy_call1(l, "append", I(x), NULL))
			return 5;
	}
	shmrt_manager_close(c);
	return 0;
}

static void producers_consumers(void **state)
{
	(void)state;
	shmrt_proxy_t *q = create("Queue", I(8)); /* small: producers park too */
	shmrt_proxy_t *l = create("list", NULL);
	g_a = shmrt_proxy_ref(q);
	g_b = shmrt_proxy_ref(l);
	pid_t p[PRODUCERS], c[CONSUMERS];
	for (int i = 0; i < CONSUMERS; i++)
		c[i] = tu_fork(consumer_main, NULL);
	for (int i = 0; i < PRODUCERS; i++)
		p[i] = tu_fork(producer_main, (void *)(intptr_t)i);
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(tu_wait(p[i], 120000), 0);
	for (int i = 0; i < CONSUMERS; i++)
		assert_int_equal(callb(q, "put", L(1, I(-1)), NULL), 0);
	for (int i = 0; i < CONSUMERS; i++)
		assert_int_equal(tu_wait(c[i], 120000), 0);
	shmrt_mv_t *v;
	assert_int_equal(shmrt_proxy_call0(l, "copy", &v), 0);
	assert_int_equal(shmrt_mv_list_len(v), PRODUCERS * PER_PRODUCER);
	static unsigned char seen[PRODUCERS][PER_PRODUCER];
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < shmrt_mv_list_len(v); i++) {
		int64_t x = ival(shmrt_mv_list_get(v, (int64_t)i));
		assert_true(x >= 0 && x / 100000 < PRODUCERS && x % 100000 < PER_PRODUCER);
		assert_int_equal(seen[x / 100000][x % 100000]++, 0); /* exactly once */
	}
	shmrt_mv_free(v);
	expect_b(q, "empty", NULL, true);
	assert_int_equal(stat_of(conn, "parked"), 0);
}

/* ---- Event across processes -------------------------------------------------------- */

static int event_waiter_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *ev = child_proxy(c, g_a);
	bool b = false;
	if (callb(ev, "wait", NULL, &b) || !b)
		return 3;
	shmrt_manager_close(c);
	return 0;
}

static void event_across(void **state)
{
	(void)state;
	shmrt_proxy_t *ev = create("Event", NULL);
	g_a = shmrt_proxy_ref(ev);
	pid_t w[3];
	for (int i = 0; i < 3; i++)
		w[i] = tu_fork(event_waiter_main, NULL);
	wait_stat("parked", 3);
	assert_int_equal(callb(ev, "set", NULL, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tu_wait(w[i], 20000), 0);
	assert_int_equal(stat_of(conn, "parked"), 0);
}

/* ---- a parked call does not block others -------------------------------------------- */

static int forever_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *lk = child_proxy(c, g_a);
	(void)callb(lk, "acquire", NULL, NULL); /* never answered: killed */
	return 3;
}

/* 2000 dict gets from another process. */
static int reader_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *d = child_proxy(c, g_b);
	for (int k = 0; k < 2000; k++) {
		shmrt_mv_t *v = NULL;
		if (shmrt_proxy_call1(d, "__getitem__", S("k"), &v) || ival(v) != 42)
			return 3;
		shmrt_mv_free(v);
	}
	shmrt_manager_close(c);
	return 0;
}

static void parked_does_not_block(void **state)
{
	(void)state;
	shmrt_proxy_t *lk = create("Lock", NULL);
	shmrt_mv_t *m = shmrt_mv_map();
	assert_int_equal(shmrt_mv_map_set(m, S("k"), I(42)), 0);
	shmrt_proxy_t *d = create("dict", m);
	g_a = shmrt_proxy_ref(lk);
	g_b = shmrt_proxy_ref(d);
	expect_b(lk, "acquire", NULL, true);
	pid_t f[2];
	for (int i = 0; i < 2; i++)
		f[i] = tu_fork(forever_main, NULL);
	wait_stat("parked", 2);
	uint64_t t0 = tu_ms();
	pid_t r = tu_fork(reader_main, NULL);
	assert_int_equal(tu_wait(r, 30000), 0);
	printf("2000 dict gets from another client with 2 calls parked: %llu ms\n",
	       (unsigned long long)(tu_ms() - t0));
	assert_int_equal(stat_of(conn, "parked"), 2);
	for (int i = 0; i < 2; i++) {
		kill(f[i], SIGKILL);
		assert_int_equal(tu_wait(f[i], 5000), 128 + SIGKILL);
	}
	wait_stat("parked", 0);
	wait_stat("sessions", 1);
	expect_b(lk, "locked", NULL, true); /* still ours: dead waiters took nothing */
	assert_int_equal(callb(lk, "release", NULL, NULL), 0);
	expect_b(lk, "locked", NULL, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(lock_mutual_exclusion, setup, teardown),
		cmocka_unit_test_setup_teardown(semantics_and_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(holder_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(getter_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(producers_consumers, setup, teardown),
		cmocka_unit_test_setup_teardown(event_across, setup, teardown),
		cmocka_unit_test_setup_teardown(parked_does_not_block, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
