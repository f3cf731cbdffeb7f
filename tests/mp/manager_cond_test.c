/*
 * The Manager's Condition and Barrier across processes, and a server killed under
 * parked calls.
 *
 * Condition: every method, over its own RLock and over a shared Lock; wait without
 * the lock is -EPERM; a wait's timeout answers False only once the lock is held
 * again (its holder's release is waited for, the RLock's count restored); notify(n)
 * wakes the n oldest waiters in order, notify_all the rest; a waiter whose lock
 * holder is SIGKILLed gets the lock with -EOWNERDEAD; a lock destroyed while held
 * does not trouble its holder's end. Barrier: 3 client processes
 * get the indexes {0, 1, 2}, twice; a timeout (the call's or the barrier's) breaks
 * it (-ECANCELED for every waiter and every later wait until reset); abort; reset; a
 * party SIGKILLed while parked breaks it for the others. Server death: clients parked
 * in Lock.acquire, Queue.get, Event.wait, Condition.wait and Barrier.wait, each its
 * own process, all return -EPIPE or -ECONNRESET within 10 s of the server's SIGKILL.
 * Every wait is bounded; children are killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define MMU_BLOCKING
#include "manager_mp_util.h"

/* Reads n bytes from the notes pipe within 10 s. */
static void note_read(void *buf, size_t n)
{
	struct pollfd p = { .fd = pfd[0], .events = POLLIN };
	if (poll(&p, 1, 10000) != 1)
		fail_msg("no note from a child within 10 s");
	assert_int_equal(read(pfd[0], buf, n), (ssize_t)n);
}

static void note_write(const void *buf, size_t n)
{
	if (write(pfd[1], buf, n) != (ssize_t)n)
		_exit(80);
}

static void pipe_open(void)
{
	assert_int_equal(pipe(pfd), 0);
}

static void pipe_close(void)
{
	close(pfd[0]);
	close(pfd[1]);
}

/* ---- Condition: methods, timeouts, -EPERM --------------------------------------------- */

/* Takes the condition's lock as soon as the parent's wait releases it, holds it
 * 300 ms, releases it. */
static int late_holder_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *cv = child_proxy(c, g_a);
	bool got = false;
	if (callb(cv, "acquire", NULL, &got) || !got)
		return 3;
	note_write("h", 1);
	usleep(300000);
	if (callb(cv, "release", NULL, NULL))
		return 4;
	shmrt_manager_close(c);
	return 0;
}

static void cond_methods(void **state)
{
	(void)state;
	pipe_open();
	shmrt_proxy_t *cv = create("Condition", NULL); /* its own RLock */
	assert_int_equal(callb(cv, "wait", NULL, NULL), -EPERM);
	assert_int_equal(callb(cv, "notify", NULL, NULL), -EPERM);
	assert_int_equal(callb(cv, "notify_all", NULL, NULL), -EPERM);
	assert_int_equal(callb(cv, "release", NULL, NULL), -EPERM);
	assert_int_equal(callb(cv, "wait_for", NULL, NULL), -ENOENT); /* the client loops */
	expect_b(cv, "acquire", NULL, true);
	expect_b(cv, "acquire", L(2, B(true), I(MS)), true); /* an RLock: count 2 */
	assert_int_equal(callb(cv, "notify", NULL, NULL), 0); /* nobody waits */
	assert_int_equal(callb(cv, "notify", L(1, I(5)), NULL), 0);
	assert_int_equal(callb(cv, "notify", L(1, I(-1)), NULL), -EINVAL);
	assert_int_equal(callb(cv, "notify_all", NULL, NULL), 0);
	assert_int_equal(callb(cv, "wait", L(1, I(-1)), NULL), -EINVAL);
	expect_timeout(cv, "wait", L(1, I(50 * MS)), 0, 50);
	expect_timeout(cv, "wait", L(1, I(0)), 0, 0);
	/* the lock is ours again with its count: two releases, a third fails */
	assert_int_equal(callb(cv, "release", NULL, NULL), 0);
	assert_int_equal(callb(cv, "release", NULL, NULL), 0);
	assert_int_equal(callb(cv, "release", NULL, NULL), -EPERM);

	/* a timeout re-acquires: the answer waits for the lock's holder */
	g_a = shmrt_proxy_ref(cv);
	expect_b(cv, "acquire", NULL, true);
	pid_t h = tu_fork(late_holder_main, NULL);
	wait_stat("parked", 1); /* its acquire */
	uint64_t t0 = tu_ms();
	bool b = true;
	assert_int_equal(callb(cv, "wait", L(1, I(100 * MS)), &b), 0);
	uint64_t took = tu_ms() - t0;
	assert_false(b);
	char ch;
	note_read(&ch, 1);
	printf("wait(100 ms) with the lock held 300 ms by another: False after %llu ms\n",
	       (unsigned long long)took);
	assert_true(took >= 250);
	assert_int_equal(tu_wait(h, 10000), 0);
	assert_int_equal(callb(cv, "release", NULL, NULL), 0);

	/* over a shared Lock: one lock, two proxies' views */
	shmrt_proxy_t *lk = create("Lock", NULL);
	shmrt_proxy_t *cl = create("Condition", shmrt_mv_ref(shmrt_proxy_ref(lk)));
	expect_b(cl, "acquire", NULL, true);
	expect_b(lk, "locked", NULL, true);
	expect_b(cl, "acquire", L(1, B(false)), false); /* a Lock: not recursive */
	expect_timeout(cl, "wait", L(1, I(20 * MS)), 0, 20);
	expect_b(lk, "locked", NULL, true); /* held again */
	assert_int_equal(callb(lk, "release", NULL, NULL), 0);
	assert_int_equal(callb(cl, "wait", NULL, NULL), -EPERM);
	expect_b(lk, "acquire", NULL, true);
	assert_int_equal(callb(cl, "notify", NULL, NULL), 0);
	assert_int_equal(callb(cl, "release", NULL, NULL), 0);
	expect_b(lk, "locked", NULL, false);

	/* bad inits */
	shmrt_proxy_t *x, *d = create("dict", NULL);
	assert_int_equal(shmrt_manager_create(conn, "Condition", shmrt_mv_ref(shmrt_proxy_ref(d)),
					      &x), -EINVAL);
	assert_int_equal(shmrt_manager_create(conn, "Condition", I(1), &x), -EINVAL);
	assert_int_equal(shmrt_manager_create(conn, "Condition", shmrt_mv_ref(1), &x), -ESTALE);
	/* locks destroyed while held (their last proxy released): this connection's
	 * end must not visit them */
	for (int i = 0; i < 2; i++) {
		shmrt_proxy_t *t;
		assert_int_equal(shmrt_manager_create(conn, i ? "Condition" : "RLock", NULL, &t), 0);
		expect_b(t, "acquire", NULL, true);
		assert_int_equal(shmrt_proxy_release(t), 0);
	}
	assert_int_equal(stat_of(conn, "parked"), 0);
	pipe_close();
}

/* ---- Condition: notify order, notify(n), notify_all ------------------------------------ */

/* Waits on the condition g_a; when woken (True), writes its index, releases. */
static int cond_waiter_main(void *arg)
{
	char me = (char)(intptr_t)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *cv = child_proxy(c, g_a);
	bool b = false;
	if (callb(cv, "acquire", NULL, &b) || !b)
		return 3;
	if (callb(cv, "wait", NULL, &b) || !b)
		return 4;
	note_write(&me, 1);
	if (callb(cv, "release", NULL, NULL))
		return 5;
	shmrt_manager_close(c);
	return 0;
}

static void cond_notify_order(void **state)
{
	(void)state;
	pipe_open();
	shmrt_proxy_t *cv = create("Condition", NULL);
	g_a = shmrt_proxy_ref(cv);
	pid_t w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = tu_fork(cond_waiter_main, (void *)(intptr_t)i);
		wait_stat("parked", i + 1); /* in arrival order */
	}
	expect_b(cv, "acquire", NULL, true);
	assert_int_equal(callb(cv, "notify", L(1, I(2)), NULL), 0);
	assert_int_equal(callb(cv, "release", NULL, NULL), 0);
	char got[4];
	note_read(&got[0], 1);
	note_read(&got[1], 1);
	assert_int_equal(got[0], 0); /* the oldest first */
	assert_int_equal(got[1], 1);
	assert_int_equal(tu_wait(w[0], 10000), 0);
	assert_int_equal(tu_wait(w[1], 10000), 0);
	assert_int_equal(stat_of(conn, "parked"), 2); /* two still wait */
	expect_b(cv, "acquire", NULL, true);
	assert_int_equal(callb(cv, "notify", NULL, NULL), 0);
	assert_int_equal(callb(cv, "release", NULL, NULL), 0);
	note_read(&got[2], 1);
	assert_int_equal(got[2], 2);
	expect_b(cv, "acquire", NULL, true);
	assert_int_equal(callb(cv, "notify_all", NULL, NULL), 0);
	assert_int_equal(callb(cv, "release", NULL, NULL), 0);
	note_read(&got[3], 1);
	assert_int_equal(got[3], 3);
	for (int i = 2; i < 4; i++)
		assert_int_equal(tu_wait(w[i], 10000), 0);
	assert_int_equal(stat_of(conn, "parked"), 0);
	pipe_close();
}

/* ---- Condition: wait_for (the predicate in the client) ---------------------------------- */

/* The predicate: the counter in the dict g_b has reached *want. Reads it through the
 * waiter's own proxy, under the condition's lock. */
struct wf {
	shmrt_proxy_t *d;
	int64_t want;
	int calls;
};

static int reached(void *arg)
{
	struct wf *w = arg;
	shmrt_mv_t *v = NULL;
	w->calls++;
	int rc = shmrt_proxy_call2(w->d, "get", S("n"), I(0), &v);
	int64_t n = 0;
	if (rc == 0 && shmrt_mv_as_int(v, &n))
		rc = -EPROTO;
	shmrt_mv_free(v);
	return rc < 0 ? rc : n >= w->want;
}

/* Under the condition's lock: n += 1, notify_all. */
static int bumper_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *cv = child_proxy(c, g_a), *d = child_proxy(c, g_b);
	bool b = false;
	shmrt_mv_t *v = NULL;
	int64_t n = 0;
	usleep(20000);
	if (callb(cv, "acquire", NULL, &b) || !b ||
	    shmrt_proxy_call2(d, "get", S("n"), I(0), &v) || shmrt_mv_as_int(v, &n) ||
	    shmrt_proxy_call2(d, "__setitem__", S("n"), I(n + 1), NULL) ||
	    callb(cv, "notify_all", NULL, NULL) || callb(cv, "release", NULL, NULL))
		return 3;
	shmrt_mv_free(v);
	shmrt_manager_close(c);
	return 0;
}

static void cond_wait_for(void **state)
{
	(void)state;
	shmrt_proxy_t *cv = create("Condition", NULL);
	shmrt_proxy_t *d = create("dict", NULL);
	g_a = shmrt_proxy_ref(cv);
	g_b = shmrt_proxy_ref(d);
	struct wf w = { .d = d, .want = 0 };
	assert_int_equal(shmrt_proxy_wait_for(cv, NULL, &w, 0), -EINVAL);
	assert_int_equal(shmrt_proxy_wait_for(NULL, reached, &w, 0), -EINVAL);
	/* true at once: no wait, so no lock needed and none taken */
	assert_int_equal(shmrt_proxy_wait_for(cv, reached, &w, 0), 1);
	assert_int_equal(w.calls, 1);
	/* false, and the lock not held: the wait's -EPERM */
	w.want = 1;
	assert_int_equal(shmrt_proxy_wait_for(cv, reached, &w, SHMRT_FOREVER), -EPERM);
	/* three processes each add one under the lock and notify_all: the predicate is
	 * read again after each wake-up until it holds */
	w.want = 3;
	w.calls = 0;
	expect_b(cv, "acquire", NULL, true);
	pid_t p[3];
	for (int i = 0; i < 3; i++)
		p[i] = tu_fork(bumper_main, NULL);
	assert_int_equal(shmrt_proxy_wait_for(cv, reached, &w, LONG_WAIT), 1);
	assert_in_range(w.calls, 2, 4); /* once before, then after each wake-up that saw < 3 */
	for (int i = 0; i < 3; i++)
		assert_int_equal(tu_wait(p[i], 10000), 0);
	/* still holding the lock: a notify is allowed; then the timeout, predicate false */
	assert_int_equal(callb(cv, "notify", NULL, NULL), 0);
	w.want = 4;
	uint64_t t0 = mono_ns();
	assert_int_equal(shmrt_proxy_wait_for(cv, reached, &w, 100 * MS), 0);
	uint64_t took = (mono_ns() - t0) / MS;
	assert_true(took >= 100); /* never early */
	assert_int_equal(callb(cv, "notify", NULL, NULL), 0); /* held again after */
	assert_int_equal(callb(cv, "release", NULL, NULL), 0);
	assert_int_equal(stat_of(conn, "parked"), 0);
}

/* ---- Condition: the lock's holder killed ----------------------------------------------- */

/* Waits; writes the answer's rc; with -EOWNERDEAD it holds the lock: releases it. */
static int dead_waiter_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *cv = child_proxy(c, g_a);
	bool b = false;
	if (callb(cv, "acquire", NULL, &b) || !b)
		return 3;
	int rc = callb(cv, "wait", NULL, NULL);
	note_write(&rc, sizeof(rc));
	if (rc != -EOWNERDEAD)
		return 4;
	if (callb(cv, "release", NULL, NULL) || callb(cv, "release", NULL, NULL) != -EPERM)
		return 5;
	shmrt_manager_close(c);
	return 0;
}

/* Takes the lock (through the shared Lock g_b, or the condition), notifies, and
 * sleeps holding it until killed. */
static int notifier_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *cv = child_proxy(c, g_a);
	shmrt_proxy_t *lk = g_b ? child_proxy(c, g_b) : cv;
	bool b = false;
	if (callb(lk, "acquire", NULL, &b) || !b || callb(cv, "notify", NULL, NULL))
		return 3;
	note_write("n", 1);
	for (;;)
		pause();
}

static void cond_holder_killed(void **state)
{
	(void)state;
	pipe_open();
	shmrt_proxy_t *lk = create("Lock", NULL);
	for (int shared = 0; shared < 2; shared++) {
		shmrt_proxy_t *cv = create("Condition",
					   shared ? shmrt_mv_ref(shmrt_proxy_ref(lk)) : NULL);
		g_a = shmrt_proxy_ref(cv);
		g_b = shared ? shmrt_proxy_ref(lk) : 0;
		pid_t w = tu_fork(dead_waiter_main, NULL);
		wait_stat("parked", 1);
		pid_t n = tu_fork(notifier_main, NULL);
		char ch;
		note_read(&ch, 1);
		assert_int_equal(stat_of(conn, "parked"), 1); /* queued for the lock */
		assert_int_equal(kill(n, SIGKILL), 0);
		int rc = 0;
		note_read(&rc, sizeof(rc));
		assert_int_equal(rc, -EOWNERDEAD);
		assert_int_equal(tu_wait(w, 10000), 0);
		assert_int_equal(tu_wait(n, 10000), 128 + SIGKILL);
		expect_b(cv, "acquire", L(1, B(false)), true); /* released cleanly */
		assert_int_equal(callb(cv, "release", NULL, NULL), 0);
	}
	pipe_close();
}

/* ---- Barrier ----------------------------------------------------------------------- */

/* Two rounds of wait on the barrier g_a; writes each index. */
static int party_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *br = child_proxy(c, g_a);
	for (int round = 0; round < 2; round++) {
		shmrt_mv_t *v = NULL;
		if (shmrt_proxy_call(br, "wait", NULL, LONG_WAIT, &v))
			return 3;
		char x = (char)ival(v);
		shmrt_mv_free(v);
		note_write(&x, 1);
	}
	shmrt_manager_close(c);
	return 0;
}

static void barrier_parties(void **state)
{
	(void)state;
	pipe_open();
	shmrt_proxy_t *br = create("Barrier", I(3));
	g_a = shmrt_proxy_ref(br);
	pid_t p[3];
	for (int i = 0; i < 3; i++)
		p[i] = tu_fork(party_main, NULL);
	int seen[3] = { 0 };
	for (int i = 0; i < 6; i++) {
		char x;
		note_read(&x, 1);
		assert_true(x >= 0 && x < 3);
		seen[(int)x]++;
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(seen[i], 2); /* {0, 1, 2} in each generation */
		assert_int_equal(tu_wait(p[i], 10000), 0);
	}
	shmrt_mv_t *v;
	assert_int_equal(shmrt_proxy_call0(br, "parties", &v), 0);
	assert_int_equal(ival(v), 3);
	shmrt_mv_free(v);
	assert_int_equal(shmrt_proxy_call0(br, "n_waiting", &v), 0);
	assert_int_equal(ival(v), 0);
	shmrt_mv_free(v);
	expect_b(br, "broken", NULL, false);
	/* one party: no wait at all */
	shmrt_proxy_t *one = create("Barrier", I(1));
	assert_int_equal(shmrt_proxy_call0(one, "wait", &v), 0);
	assert_int_equal(ival(v), 0);
	shmrt_mv_free(v);
	shmrt_proxy_t *x;
	assert_int_equal(shmrt_manager_create(conn, "Barrier", I(0), &x), -EINVAL);
	assert_int_equal(shmrt_manager_create(conn, "Barrier", NULL, &x), -EINVAL);
	assert_int_equal(shmrt_manager_create(conn, "Barrier", S("3"), &x), -EINVAL);
	assert_int_equal(shmrt_manager_create(conn, "Barrier", L(1, I(2)), &x), -EINVAL);
	assert_int_equal(shmrt_manager_create(conn, "Barrier", L(2, I(2), I(-5)), &x), -EINVAL);
	pipe_close();
}

/* One wait on g_a; writes its rc. */
static int one_wait_main(void *arg)
{
	(void)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *br = child_proxy(c, g_a);
	int rc = callb(br, "wait", NULL, NULL);
	note_write(&rc, sizeof(rc));
	shmrt_manager_close(c);
	return 0;
}

/* Forks one_wait_main on br and waits until it is parked (parked figure n). */
static pid_t parked_waiter(shmrt_proxy_t *br, int n)
{
	g_a = shmrt_proxy_ref(br);
	pid_t p = tu_fork(one_wait_main, NULL);
	wait_stat("parked", n);
	return p;
}

static void expect_child_rc(pid_t p, int want)
{
	int rc = 0;
	note_read(&rc, sizeof(rc));
	assert_int_equal(rc, want);
	assert_int_equal(tu_wait(p, 10000), 0);
}

static void barrier_breaking(void **state)
{
	(void)state;
	pipe_open();
	/* a wait's timeout breaks it, for the other waiter too */
	shmrt_proxy_t *br = create("Barrier", I(3));
	pid_t p = parked_waiter(br, 1);
	expect_timeout(br, "wait", L(1, I(100 * MS)), -ECANCELED, 100);
	expect_child_rc(p, -ECANCELED);
	expect_b(br, "broken", NULL, true);
	assert_int_equal(callb(br, "wait", NULL, NULL), -ECANCELED); /* until reset */
	assert_int_equal(callb(br, "reset", NULL, NULL), 0);
	expect_b(br, "broken", NULL, false);
	/* reset with a waiter: it gets -ECANCELED, the barrier is whole */
	p = parked_waiter(br, 1);
	shmrt_mv_t *v;
	assert_int_equal(shmrt_proxy_call0(br, "n_waiting", &v), 0);
	assert_int_equal(ival(v), 1);
	shmrt_mv_free(v);
	assert_int_equal(callb(br, "reset", NULL, NULL), 0);
	expect_child_rc(p, -ECANCELED);
	expect_b(br, "broken", NULL, false);
	/* abort */
	p = parked_waiter(br, 1);
	assert_int_equal(callb(br, "abort", NULL, NULL), 0);
	expect_child_rc(p, -ECANCELED);
	expect_b(br, "broken", NULL, true);
	assert_int_equal(callb(br, "reset", NULL, NULL), 0);
	/* the barrier's own timeout */
	shmrt_proxy_t *bt = create("Barrier", L(2, I(2), I(80 * MS)));
	expect_timeout(bt, "wait", NULL, -ECANCELED, 80);
	expect_b(bt, "broken", NULL, true);
	/* a party SIGKILLed while parked breaks it for the others */
	pid_t k = parked_waiter(br, 1);
	p = parked_waiter(br, 2);
	assert_int_equal(kill(k, SIGKILL), 0);
	expect_child_rc(p, -ECANCELED);
	assert_int_equal(tu_wait(k, 10000), 128 + SIGKILL);
	expect_b(br, "broken", NULL, true);
	wait_stat("parked", 0);
	pipe_close();
}

/* ---- the server killed under parked calls ------------------------------------------- */

static const char *const park_calls[] = { "acquire", "get", "wait", "wait", "wait" };
static uint64_t park_refs[5];

/* Parks in call i on park_refs[i] (a Condition's wait after taking its lock); writes
 * i and the rc the server's death gave; exits 0 if it was -EPIPE or -ECONNRESET. */
static int parked_main(void *arg)
{
	int i = (int)(intptr_t)arg;
	shmrt_manager_conn_t *c = child_conn();
	shmrt_proxy_t *p = child_proxy(c, park_refs[i]);
	bool b;
	if (i == 3 && (callb(p, "acquire", NULL, &b) || !b))
		return 3;
	int rc = callb(p, park_calls[i], NULL, NULL);
	int note[2] = { i, rc };
	note_write(note, sizeof(note));
	return rc == -EPIPE || rc == -ECONNRESET ? 0 : 4;
}

static void server_killed(void **state)
{
	(void)state;
	pipe_open();
	shmrt_proxy_t *objs[5] = {
		create("Lock", NULL), create("Queue", NULL), create("Event", NULL),
		create("Condition", NULL), create("Barrier", I(2)),
	};
	expect_b(objs[0], "acquire", NULL, true); /* the children's acquire parks */
	pid_t p[5];
	for (int i = 0; i < 5; i++) {
		park_refs[i] = shmrt_proxy_ref(objs[i]);
		p[i] = tu_fork(parked_main, (void *)(intptr_t)i);
		wait_stat("parked", i + 1);
	}
	uint64_t t0 = tu_ms();
	assert_int_equal(kill(shmrt_manager_pid(srv), SIGKILL), 0);
	int seen = 0;
	for (int k = 0; k < 5; k++) {
		int note[2];
		note_read(note, sizeof(note));
		if (note[1] != -EPIPE && note[1] != -ECONNRESET)
			fail_msg("%s parked call %d returned %d", park_calls[note[0]], note[0], note[1]);
		seen |= 1 << note[0];
	}
	assert_int_equal(seen, 0x1f);
	for (int i = 0; i < 5; i++)
		assert_int_equal(tu_wait(p[i], 10000), 0);
	printf("5 parked calls returned after the server's SIGKILL within %llu ms\n",
	       (unsigned long long)(tu_ms() - t0));
	/* the parent's connection is broken too */
	assert_int_equal(shmrt_manager_ping(conn) < 0, 1);
	while (nmade)
		(void)shmrt_proxy_release(made[--nmade]);
	pipe_close();
}

/* The teardown of server_killed: the server is dead already. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(cond_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(cond_notify_order, setup, teardown),
		cmocka_unit_test_setup_teardown(cond_wait_for, setup, teardown),
		cmocka_unit_test_setup_teardown(cond_holder_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(barrier_parties, setup, teardown),
		cmocka_unit_test_setup_teardown(barrier_breaking, setup, teardown),
		cmocka_unit_test_setup_teardown(server_killed, setup, teardown_dead),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
