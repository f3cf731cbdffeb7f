/*
 * kill -9 and the sync primitives:
 *  - workers update a pair (a, b) under a Lock (a++, then b++: equal when consistent);
 *    the parent kills random workers many times; whoever acquires after a death gets
 *    -EOWNERDEAD, repairs (b = a) and marks the lock consistent; at the end a == b
 *    and the number of completed updates matches;
 *  - the Value's own lock: same protocol, one kill;
 *  - a recovery that is abandoned (released without consistent): -ENOTRECOVERABLE;
 *  - a Barrier party killed before it arrives: the others get -EPIPE (broken), fast.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#define MS 1000000ll
static const char *NAME;

struct pair {
	int64_t a, b, done, recoveries;
};

static int pair_worker(void *p)
{
	(void)p;
	shmrt_region_t *r;
	shmrt_lock_t l;
	shmrt_object_info_t oi;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_lock_open(r, "L", 0, 0, &l) ||
	    shmrt_object_lookup(r, "pair", &oi))
		return 1;
	struct pair *pr = shmrt_ptr(r, oi.off);
	for (;;) {
		int rc = shmrt_lock_acquire(&l, 10000 * MS);
		if (rc == -EOWNERDEAD) {
			pr->b = pr->a; /* repair: the dead holder may have done a++ only */
			pr->recoveries++;
			shmrt_lock_consistent(&l);
		} else if (rc) {
			return 2;
		}
		if (pr->a != pr->b)
			return 3; /* never see a half update */
		pr->a++;
		for (volatile int i = 0; i < 200; i++)
			; /* widen the window between the two halves */
		pr->b++;
		pr->done++;
		shmrt_lock_release(&l);
	}
}

static void t_lock_holders_killed(void **s)
{
	(void)s;
	const char *e = getenv("SHMRT_KILLS");
	/* 90: a kill lands inside the lock 9-26% of the time (3 of 34 under TSan on a
	 * slow VM), and the test needs one: 30 left a few percent of runs without. */
	int kills = e ? atoi(e) / 4 : 90;
	NAME = tu_name("lockkill");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_lock_t l;
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_lock_open(r, "L", SHMRT_O_CREATE, 0, &l), 0);
	assert_int_equal(shmrt_object_open(r, "pair", SHMRT_O_CREATE, SHMRT_TYPE_BYTES,
					   sizeof(struct pair), NULL, &oi), 0);
	struct pair *pr = shmrt_ptr(r, oi.off);
	enum { W = 4 };
	pid_t w[W];
	for (int i = 0; i < W; i++)
		w[i] = tu_fork(pair_worker, NULL);
	uint64_t seed = 5;
	for (int k = 0; k < kills; k++) {
		usleep(2000 + tu_rand(&seed) % 8000);
		int v = (int)(tu_rand(&seed) % W);
		kill(w[v], SIGKILL);
		assert_int_equal(tu_wait(w[v], 10000), 128 + SIGKILL);
		w[v] = tu_fork(pair_worker, NULL);
	}
	usleep(20000);
	for (int i = 0; i < W; i++) {
		kill(w[i], SIGKILL);
		assert_int_equal(tu_wait(w[i], 10000), 128 + SIGKILL);
	}
	int rc = shmrt_lock_acquire(&l, 5000 * MS);
	if (rc == -EOWNERDEAD) {
		pr->b = pr->a;
		pr->recoveries++;
		assert_int_equal(shmrt_lock_consistent(&l), 0);
	} else {
		assert_int_equal(rc, 0);
	}
	print_message("%lld updates, %lld recoveries after %d kills\n", (long long)pr->done,
		      (long long)pr->recoveries, kills + W);
	assert_int_equal(pr->a, pr->b);
	/* Each completed update did a++ once; a recovered half update did a++ too. */
	assert_true(pr->a >= pr->done && pr->a <= pr->done + pr->recoveries);
	assert_true(pr->done > 100);
	assert_true(pr->recoveries >= 1);
	shmrt_lock_release(&l);
	shmrt_region_close(r);
}

static int die_holding_value_lock(void *p)
{
	(void)p;
	shmrt_region_t *r;
	shmrt_value_t v;
	if (shmrt_region_open(NAME, 0, NULL, &r) ||
	    shmrt_value_open(r, "V", 0, SHMRT_VT_INT64, NULL, &v) || shmrt_value_lock(&v, -1))
		return 1;
	(void)shmrt_value_set_i64(&v, -1); /* a compound update, half done */
	raise(SIGKILL);
	return 0;
}

static int hold_value_lock_then_die(void *p)
{
	(void)p;
	shmrt_region_t *r;
	shmrt_value_t v;
	if (shmrt_region_open(NAME, 0, NULL, &r) ||
	    shmrt_value_open(r, "W", 0, SHMRT_VT_INT64, NULL, &v) || shmrt_value_lock(&v, -1))
		return 1;
	usleep(100000);
	raise(SIGKILL);
	return 0;
}

static int die_holding_lock(void *p)
{
	(void)p;
	shmrt_region_t *r;
	shmrt_lock_t l;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_lock_open(r, "A", 0, 0, &l) ||
	    shmrt_lock_acquire(&l, -1))
		return 1;
	raise(SIGKILL);
	return 0;
}

static void t_value_lock_and_abandon(void **s)
{
	(void)s;
	NAME = tu_name("vlock");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_value_t v, w;
	shmrt_lock_t l;
	assert_int_equal(shmrt_value_open(r, "V", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &v), 0);
	assert_int_equal(tu_wait(tu_fork(die_holding_value_lock, NULL), 5000), 128 + SIGKILL);
	assert_int_equal(shmrt_value_lock(&v, 1000 * MS), -EOWNERDEAD);
	int64_t x;
	assert_int_equal(shmrt_value_get_i64(&v, &x), 0);
	assert_int_equal(x, -1);
	assert_int_equal(shmrt_value_set_i64(&v, 0), 0);
	assert_int_equal(shmrt_value_consistent(&v), 0);
	assert_int_equal(shmrt_value_unlock(&v), 0);
	assert_int_equal(shmrt_value_lock(&v, 0), 0);
	assert_int_equal(shmrt_value_unlock(&v), 0);

	/* A waiter already asleep when the holder dies gets the lock within a bound. */
	assert_int_equal(shmrt_value_open(r, "W", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &w), 0);
	pid_t holder = tu_fork(hold_value_lock_then_die, NULL);
	uint64_t t0 = tu_ms();
	while (shmrt_value_lock(&w, 0) == 0) { /* until the holder has it */
		assert_int_equal(shmrt_value_unlock(&w), 0);
		usleep(1000);
		assert_true(tu_ms() - t0 < 5000);
	}
	t0 = tu_ms();
	assert_int_equal(shmrt_value_lock(&w, 5000 * MS), -EOWNERDEAD);
	print_message("value lock taken over %llu ms after the wait began (holder dies at 100 ms)\n",
		      (unsigned long long)(tu_ms() - t0));
	assert_true(tu_ms() - t0 < 1000);
	assert_int_equal(tu_wait(holder, 5000), 128 + SIGKILL);
	/* Abandoned: unlocked without consistent -> unusable for everyone, no hang. */
	assert_int_equal(shmrt_value_unlock(&w), 0);
	assert_int_equal(shmrt_value_lock(&w, 1000 * MS), -ENOTRECOVERABLE);

	/* Recovery abandoned: released without consistent -> unusable, never a hang. */
	assert_int_equal(shmrt_lock_open(r, "A", SHMRT_O_CREATE, 0, &l), 0);
	assert_int_equal(tu_wait(tu_fork(die_holding_lock, NULL), 5000), 128 + SIGKILL);
	assert_int_equal(shmrt_lock_acquire(&l, 1000 * MS), -EOWNERDEAD);
	assert_int_equal(shmrt_lock_release(&l), 0);
	assert_int_equal(shmrt_lock_acquire(&l, 1000 * MS), -ENOTRECOVERABLE);
	shmrt_region_close(r);
}

static int registered_fd = -1; /* the victim says it is a member before it is killed */

static int barrier_member(void *p)
{
	int arrive = (int)(intptr_t)p;
	shmrt_region_t *r;
	shmrt_barrier_t b;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_barrier_open(r, "B", 0, 3, &b))
		return 1;
	if (!arrive) {
		if (write(registered_fd, "r", 1) != 1)
			return 2;
		pause(); /* registered, never arrives: killed by the test */
		return 0;
	}
	int rc = shmrt_barrier_wait(&b, 10000 * MS, NULL);
	return rc == -EPIPE ? 0 : 10 + (rc < 0 ? -rc : rc) % 100;
}

static void t_barrier_party_killed(void **s)
{
	(void)s;
	NAME = tu_name("bkill");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_barrier_t b;
	assert_int_equal(shmrt_barrier_open(r, "B", SHMRT_O_CREATE, 3, &b), 0);
	shmrt_barrier_close(&b);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	registered_fd = fds[1];
	pid_t victim = tu_fork(barrier_member, (void *)0);
	/* Killed before it opened the barrier, the victim would not be a member, and
	 * nothing would break: wait for it (a race of the test alone, seen under load). */
	close(fds[1]); /* a victim that dies early: EOF, not a 10 s wait */
	assert_int_equal(tu_read_byte(fds[0], NULL, 10000), 0);
	close(fds[0]);
	pid_t a = tu_fork(barrier_member, (void *)1), c = tu_fork(barrier_member, (void *)1);
	uint64_t end = tu_ms() + 5000;
	while (shmrt_barrier_n_waiting(&b) < 2 && tu_ms() < end)
		usleep(1000);
	assert_int_equal(shmrt_barrier_n_waiting(&b), 2);
	uint64_t t0 = tu_ms();
	kill(victim, SIGKILL);
	assert_int_equal(tu_wait(victim, 5000), 128 + SIGKILL);
	assert_int_equal(tu_wait(a, 5000), 0);
	assert_int_equal(tu_wait(c, 5000), 0);
	print_message("waiters broken %llu ms after the kill\n", (unsigned long long)(tu_ms() - t0));
	assert_true(tu_ms() - t0 < 2000);
	assert_true(shmrt_barrier_broken(&b));
	shmrt_region_close(r);
}

/* Counter: an add that returned is never lost when its process is killed. Each
 * worker counts, after each add returns, in its own log; the counter may hold at
 * most one more per killed worker (the add in flight at the kill). */
static int counter_worker(void *p)
{
	int id = (int)(intptr_t)p;
	shmrt_region_t *r;
	shmrt_counter_t c;
	shmrt_object_info_t oi;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_counter_open(r, "C", 0, &c) ||
	    shmrt_object_lookup(r, "logs", &oi))
		return 1;
	int64_t *log = (int64_t *)shmrt_ptr(r, oi.off) + id;
	for (;;) {
		shmrt_counter_add(&c, 1);
		__atomic_store_n(log, *log + 1, __ATOMIC_RELEASE);
	}
}

static void t_counter_adds_survive_kills(void **s)
{
	(void)s;
	NAME = tu_name("ckill");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_counter_t c;
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_counter_open(r, "C", SHMRT_O_CREATE, &c), 0);
	assert_int_equal(shmrt_object_open(r, "logs", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 8 * 64,
					   NULL,
					   &oi), 0);
	int64_t *logs = shmrt_ptr(r, oi.off);
	int kills = 0;
	for (int w = 0; w < 40; w++) {
		pid_t pid = tu_fork(counter_worker, (void *)(intptr_t)w);
		/* Killed while it adds, not while it opens the region (which may take
		 * longer than the kill delay on a slow machine, under ASan): wait for its
		 * first logged add (bounded), then let it run 0-3 ms more. */
		uint64_t end = tu_ms() + 5000;
		while (__atomic_load_n(&logs[w], __ATOMIC_ACQUIRE) == 0 && tu_ms() < end)
			usleep(200);
		usleep((unsigned)w * 97 % 3000);
		kill(pid, SIGKILL);
		assert_int_equal(tu_wait(pid, 5000), 128 + SIGKILL);
		kills++;
		if (w % 8 == 0)
			assert_int_equal(shmrt_region_gc(r, NULL), 0); /* records get reused */
	}
	int64_t logged = 0;
	for (int w = 0; w < 40; w++)
		logged += logs[w];
	int64_t total = shmrt_counter_read(&c);
	print_message("counter %lld, adds logged as returned %lld, %d kills\n", (long long)total,
		      (long long)logged, kills);
	assert_true(logged > 1000);
	assert_true(total >= logged && total <= logged + kills);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_lock_holders_killed),
		cmocka_unit_test(t_value_lock_and_abandon),
		cmocka_unit_test(t_barrier_party_killed),
		cmocka_unit_test(t_counter_adds_survive_kills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
