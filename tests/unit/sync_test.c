/*
 * Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier: semantics in
 * one process and across processes, timeouts, and more processes than cores.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS 1000000ll

/* Checks that a misuse is refused. TSan reports the misuse itself (and forked
 * children inherit its exit status), so these run in the other builds only. */
#ifdef __SANITIZE_THREAD__
#define MISUSE(stmt) ((void)0)
#else
#define MISUSE(stmt) stmt
#endif
static const char *NAME;
static shmrt_region_t *R;

static int setup(void **s)
{
	(void)s;
	NAME = tu_name("sync");
	R = tu_create(NAME, 8 << 20, 0);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	shmrt_region_close(R);
	return 0;
}

static shmrt_region_t *child_open(void)
{
	shmrt_region_t *r = NULL;
	if (shmrt_region_open(NAME, 0, NULL, &r))
		_exit(100);
	return r;
}

static __attribute__((unused)) void *release_other(void *p)
{
	return (void *)(intptr_t)shmrt_lock_release(p);
}

static void *held_other(void *p)
{
	return (void *)(intptr_t)shmrt_lock_held(p);
}

static int hold_pipe[2]; /* the parent writes a byte: release the lock */

static int hold_lock_until_told(void *p)
{
	(void)p;
	shmrt_region_t *r = child_open();
	shmrt_lock_t l;
	if (shmrt_lock_open(r, "L", 0, 0, &l) || shmrt_lock_acquire(&l, -1))
		return 1;
	if (tu_read_byte(hold_pipe[0], NULL, 10000))
		return 3;
	return shmrt_lock_release(&l) ? 2 : 0;
}

static void t_lock(void **s)
{
	(void)s;
	shmrt_lock_t l, rl, x;
	assert_int_equal(shmrt_lock_open(R, "L", SHMRT_O_CREATE, 0, &l), 0);
	assert_int_equal(shmrt_lock_open(R, "L", 0, 1, &x), -EPROTOTYPE);
	assert_int_equal(shmrt_lock_held(&l), 0);
	assert_int_equal(shmrt_lock_held(NULL), -EINVAL);
	assert_int_equal(shmrt_lock_acquire(&l, -1), 0);
	assert_int_equal(shmrt_lock_held(&l), 1);
	assert_int_equal(shmrt_lock_acquire(&l, 0), -EDEADLK);
	pthread_t t;
	void *ret;
	assert_int_equal(pthread_create(&t, NULL, held_other, &l), 0);
	pthread_join(t, &ret);
	assert_int_equal((intptr_t)ret, 0); /* held, but not by that thread */
#ifndef __SANITIZE_THREAD__ /* TSan reports the deliberate misuse itself */
	assert_int_equal(pthread_create(&t, NULL, release_other, &l), 0);
	pthread_join(t, &ret);
	assert_int_equal((intptr_t)ret, -EPERM); /* not the holder */
#endif
	assert_int_equal(shmrt_lock_release(&l), 0);
	assert_int_equal(shmrt_lock_held(&l), 0);
	MISUSE(assert_int_equal(shmrt_lock_release(&l), -EPERM));

	/* Held by another process: try fails, a timed wait times out, then succeeds. */
	assert_int_equal(pipe(hold_pipe), 0);
	pid_t pid = tu_fork(hold_lock_until_told, NULL);
	uint64_t end = tu_ms() + 10000;
	while (shmrt_lock_acquire(&l, 0) == 0 && tu_ms() < end) {
		shmrt_lock_release(&l);
		usleep(1000);
	}
	assert_int_equal(shmrt_lock_acquire(&l, 0), -EAGAIN);
	assert_int_equal(shmrt_lock_held(&l), 0); /* held, by the child */
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_lock_acquire(&l, 20 * MS), -ETIMEDOUT);
	assert_true(tu_ms() - t0 >= 19);
	assert_int_equal(write(hold_pipe[1], "", 1), 1);
	assert_int_equal(shmrt_lock_acquire(&l, 5000 * MS), 0);
	assert_int_equal(shmrt_lock_release(&l), 0);
	assert_int_equal(tu_wait(pid, 5000), 0);
	close(hold_pipe[0]);
	close(hold_pipe[1]);

	/* RLock: recursion, as many releases. */
	assert_int_equal(shmrt_lock_open(R, "RL", SHMRT_O_CREATE, 1, &rl), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmrt_lock_acquire(&rl, 0), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(shmrt_lock_held(&rl), 1);
		assert_int_equal(shmrt_lock_release(&rl), 0);
	}
	assert_int_equal(shmrt_lock_held(&rl), 0);
	MISUSE(assert_int_equal(shmrt_lock_release(&rl), -EPERM));
}

static void t_semaphore(void **s)
{
	(void)s;
	shmrt_sem_t sm, bs, x;
	assert_int_equal(shmrt_sem_open(R, "S", SHMRT_O_CREATE, 2, 0, &sm), 0);
	assert_int_equal(shmrt_sem_open(R, "S", 0, 2, 1, &x), -EPROTOTYPE);
	assert_int_equal(shmrt_sem_acquire(&sm, 0), 0);
	assert_int_equal(shmrt_sem_acquire(&sm, -1), 0);
	assert_int_equal(shmrt_sem_acquire(&sm, 0), -EAGAIN);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_sem_acquire(&sm, 50 * MS), -ETIMEDOUT);
	assert_true(tu_ms() - t0 >= 49);
	assert_int_equal(shmrt_sem_release(&sm, 3), 0);
	assert_int_equal(shmrt_sem_value(&sm), 3);
	assert_int_equal(shmrt_sem_release(&sm, 0), -EINVAL);

	assert_int_equal(shmrt_sem_open(R, "BS", SHMRT_O_CREATE, 1, 1, &bs), 0);
	assert_int_equal(shmrt_sem_release(&bs, 1), -EOVERFLOW);
	assert_int_equal(shmrt_sem_acquire(&bs, 0), 0);
	assert_int_equal(shmrt_sem_release(&bs, 1), 0);
	assert_int_equal(shmrt_sem_release(&bs, 1), -EOVERFLOW);
	assert_int_equal(shmrt_sem_value(&bs), 1);
}

static int set_event_later(void *p)
{
	(void)p;
	shmrt_region_t *r = child_open();
	shmrt_event_t e;
	if (shmrt_event_open(r, "E", 0, &e))
		return 1;
	usleep(30000);
	shmrt_event_set(&e);
	return 0;
}

static void t_event(void **s)
{
	(void)s;
	shmrt_event_t e;
	assert_int_equal(shmrt_event_open(R, "E", SHMRT_O_CREATE, &e), 0);
	assert_false(shmrt_event_is_set(&e));
	assert_int_equal(shmrt_event_wait(&e, 0), -EAGAIN);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_event_wait(&e, 50 * MS), -ETIMEDOUT);
	assert_true(tu_ms() - t0 >= 49 && tu_ms() - t0 < 1000);
	pid_t pid = tu_fork(set_event_later, NULL);
	assert_int_equal(shmrt_event_wait(&e, 5000 * MS), 0);
	assert_true(shmrt_event_is_set(&e));
	assert_int_equal(tu_wait(pid, 5000), 0);
	shmrt_event_clear(&e);
	assert_false(shmrt_event_is_set(&e));
}

/* Condition: a producer process hands 1000 items to this consumer one at a time. */
struct slot {
	int64_t item, full, done;
};

static int producer(void *p)
{
	(void)p;
	shmrt_region_t *r = child_open();
	shmrt_lock_t l;
	shmrt_cond_t c;
	shmrt_object_info_t oi;
	if (shmrt_lock_open(r, "CL", 0, 0, &l) || shmrt_cond_open(r, "C", 0, &c) ||
	    shmrt_object_lookup(r, "slot", &oi))
		return 1;
	struct slot *sl = shmrt_ptr(r, oi.off);
	for (int i = 1; i <= 1000; i++) {
		if (shmrt_lock_acquire(&l, -1))
			return 2;
		while (sl->full)
			if (shmrt_cond_wait(&c, &l, 5000 * MS))
				return 3;
		sl->item = i;
		sl->full = 1;
		shmrt_cond_notify_all(&c);
		shmrt_lock_release(&l);
	}
	return 0;
}

static int slot_full(void *p)
{
	return ((struct slot *)p)->full != 0;
}

static void t_condition(void **s)
{
	(void)s;
	shmrt_lock_t l;
	shmrt_cond_t c;
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_lock_open(R, "CL", SHMRT_O_CREATE, 0, &l), 0);
	assert_int_equal(shmrt_cond_open(R, "C", SHMRT_O_CREATE, &c), 0);
	assert_int_equal(shmrt_object_open(R, "slot", SHMRT_O_CREATE, SHMRT_TYPE_BYTES,
					   sizeof(struct slot), NULL, &oi), 0);
	struct slot *sl = shmrt_ptr(R, oi.off);
	/* A wait with nothing coming times out, holding the lock again. */
	assert_int_equal(shmrt_lock_acquire(&l, -1), 0);
	assert_int_equal(shmrt_cond_wait_for(&c, &l, slot_full, sl, 30 * MS), -ETIMEDOUT);
	assert_int_equal(shmrt_lock_acquire(&l, 0), -EDEADLK); /* still ours */
	assert_int_equal(shmrt_lock_release(&l), 0);
	MISUSE(assert_int_equal(shmrt_cond_wait(&c, &l, 10 * MS), -EPERM)); /* not held */

	pid_t pid = tu_fork(producer, NULL);
	int64_t sum = 0;
	for (int i = 1; i <= 1000; i++) {
		assert_int_equal(shmrt_lock_acquire(&l, -1), 0);
		assert_int_equal(shmrt_cond_wait_for(&c, &l, slot_full, sl, 5000 * MS), 0);
		assert_int_equal(sl->item, i); /* in order, none lost or repeated */
		sum += sl->item;
		sl->full = 0;
		shmrt_cond_notify_all(&c);
		shmrt_lock_release(&l);
	}
	assert_int_equal(sum, 500500);
	assert_int_equal(tu_wait(pid, 10000), 0);
}

enum { PARTIES = 3, ROUNDS = 20 };

static int barrier_party(void *p)
{
	(void)p;
	shmrt_region_t *r = child_open();
	shmrt_barrier_t b;
	shmrt_object_info_t oi;
	if (shmrt_barrier_open(r, "B", 0, PARTIES, &b) || shmrt_object_lookup(r, "bcount", &oi))
		return 1;
	int64_t *arrived = shmrt_ptr(r, oi.off);
	for (int g = 0; g < ROUNDS; g++) {
		__atomic_fetch_add(&arrived[g], 1, __ATOMIC_RELAXED);
		uint32_t idx;
		if (shmrt_barrier_wait(&b, 5000 * MS, &idx))
			return 2;
		/* Past the barrier, everyone of this round has arrived. */
		if (__atomic_load_n(&arrived[g], __ATOMIC_RELAXED) != PARTIES)
			return 3;
		__atomic_fetch_or(&arrived[ROUNDS + g], 1 << idx, __ATOMIC_RELAXED);
	}
	shmrt_barrier_close(&b);
	return 0;
}

static void t_barrier(void **s)
{
	(void)s;
	shmrt_barrier_t b, x;
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(R, "bcount", SHMRT_O_CREATE, SHMRT_TYPE_BYTES,
					   16 * ROUNDS, NULL, &oi), 0);
	int64_t *arrived = shmrt_ptr(R, oi.off);
	assert_int_equal(shmrt_barrier_open(R, "B", SHMRT_O_CREATE, PARTIES, &b), 0);
	assert_int_equal(shmrt_barrier_open(R, "B", 0, PARTIES + 1, &x), -EPROTOTYPE);
	shmrt_barrier_close(&b); /* the parent does not take part */
	pid_t pids[PARTIES];
	for (int i = 0; i < PARTIES; i++)
		pids[i] = tu_fork(barrier_party, NULL);
	for (int i = 0; i < PARTIES; i++)
		assert_int_equal(tu_wait(pids[i], 20000), 0);
	for (int g = 0; g < ROUNDS; g++)
		assert_int_equal(arrived[ROUNDS + g], (1 << PARTIES) - 1); /* unique indexes */

	/* Timeout breaks it; reset repairs it; abort breaks it again. */
	shmrt_barrier_t t;
	assert_int_equal(shmrt_barrier_open(R, "T", SHMRT_O_CREATE, 2, &t), 0);
	assert_int_equal(shmrt_barrier_wait(&t, 20 * MS, NULL), -ETIMEDOUT);
	assert_true(shmrt_barrier_broken(&t));
	assert_int_equal(shmrt_barrier_wait(&t, 20 * MS, NULL), -EPIPE);
	shmrt_barrier_reset(&t);
	assert_false(shmrt_barrier_broken(&t));
	assert_int_equal(shmrt_barrier_n_waiting(&t), 0);
	shmrt_barrier_abort(&t);
	assert_int_equal(shmrt_barrier_wait(&t, 20 * MS, NULL), -EPIPE);
	shmrt_barrier_reset(&t);
	shmrt_barrier_close(&t);
}

/* A party of barrier "D" (2 parties): 0 passed, 2 broken, 1 and 3 other errors. */
static int barrier_wait_once(void *p)
{
	(void)p;
	shmrt_region_t *r = child_open();
	shmrt_barrier_t b;
	if (shmrt_barrier_open(r, "D", 0, 2, &b))
		return 1;
	int rc = shmrt_barrier_wait(&b, 10000 * MS, NULL);
	return rc == 0 ? 0 : rc == -EPIPE ? 2 : 3; /* exits a member: no close */
}

/* The last arriver completes the generation, then dies at once: a waiter that wakes
 * to find a member dead must still pass (its generation completed), not call the
 * barrier broken. The waiter is stopped (SIGSTOP) until the last arriver is dead and
 * reaped, so that it wakes into exactly that order. */
static void t_barrier_last_arriver_dies(void **s)
{
	(void)s;
	shmrt_barrier_t d;
	assert_int_equal(shmrt_barrier_open(R, "D", SHMRT_O_CREATE, 2, &d), 0);
	shmrt_barrier_close(&d); /* the parent does not take part */
	pid_t w = tu_fork(barrier_wait_once, NULL);
	uint64_t t0 = tu_ms();
	while (shmrt_barrier_n_waiting(&d) < 1 && tu_ms() - t0 < 10000)
		usleep(1000);
	assert_int_equal(shmrt_barrier_n_waiting(&d), 1);
	int st;
	assert_int_equal(kill(w, SIGSTOP), 0);
	assert_int_equal(waitpid(w, &st, WUNTRACED), w);
	assert_true(WIFSTOPPED(st));
	assert_int_equal(tu_wait(tu_fork(barrier_wait_once, NULL), 10000), 0);
	assert_int_equal(kill(w, SIGCONT), 0);
	assert_int_equal(tu_wait(w, 10000), 0);
	assert_false(shmrt_barrier_broken(&d));
}

/* 8 processes on 2 cores pass a token around a ring of semaphores: nobody may spin
 * holding the core its successor needs. */
enum { RING = 8, LAPS = 500 };

static int ring_member(void *p)
{
	int i = (int)(intptr_t)p;
	shmrt_region_t *r = child_open();
	shmrt_sem_t me, next;
	char a[16], b[16];
	snprintf(a, sizeof(a), "ring%d", i);
	snprintf(b, sizeof(b), "ring%d", (i + 1) % RING);
	if (shmrt_sem_open(r, a, 0, 0, 0, &me) || shmrt_sem_open(r, b, 0, 0, 0, &next))
		return 1;
	for (int lap = 0; lap < LAPS; lap++) {
		if (shmrt_sem_acquire(&me, 10000 * MS))
			return 2;
		if (shmrt_sem_release(&next, 1))
			return 3;
	}
	return 0;
}

static void t_oversubscribed_ring(void **s)
{
	(void)s;
	shmrt_sem_t sems[RING];
	for (int i = 0; i < RING; i++) {
		char n[16];
		snprintf(n, sizeof(n), "ring%d", i);
		assert_int_equal(shmrt_sem_open(R, n, SHMRT_O_CREATE, 0, 0, &sems[i]), 0);
	}
	pid_t pids[RING];
	for (int i = 0; i < RING; i++)
		pids[i] = tu_fork(ring_member, (void *)(intptr_t)i);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_sem_release(&sems[0], 1), 0);
	for (int i = 0; i < RING; i++)
		assert_int_equal(tu_wait(pids[i], 60000), 0);
	print_message("%d token passes among %d processes on 2 cores: %llu ms\n", RING * LAPS,
		      RING, (unsigned long long)(tu_ms() - t0));
	assert_int_equal(shmrt_sem_value(&sems[0]), 1); /* the token came back */
}

/* ---- the scoped form, the no-repair mode, messages by kind ----------------------- */

static shmrt_lock_t SL;
static struct totals {
	int64_t a, b; /* a + b == 100 whenever the lock is free */
} *TOT;
static int repairs;

static int fix_totals(void *ctx)
{
	struct totals *t = ctx;
	repairs++;
	t->b = 100 - t->a;
	return 0;
}

static int refuse_repair(void *ctx)
{
	(void)ctx;
	return -EIO;
}

/* Moves 10 from a to b under the scoped lock, and dies half-way. */
static int die_in_scope(void *p)
{
	(void)p;
	int rc;
	SHMRT_WITH_LOCK(&SL, fix_totals, TOT, rc) {
		TOT->a -= 10;
		raise(SIGKILL);
		TOT->b += 10;
	}
	return rc ? 1 : 0;
}

static int move_and_return(int64_t x)
{
	int rc;
	SHMRT_WITH_LOCK(&SL, fix_totals, TOT, rc) {
		TOT->a -= x;
		TOT->b += x;
		if (x > 0)
			return 7; /* leaves the block: the lock is released */
	}
	return rc;
}

static int hold_and_die(void *p)
{
	shmrt_lock_t *l = p;
	if (shmrt_lock_acquire(l, SHMRT_FOREVER))
		return 1;
	raise(SIGKILL);
	return 0;
}

static void t_scoped_and_no_repair(void **s)
{
	(void)s;
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(R, "totals", SHMRT_O_CREATE, SHMRT_TYPE_BYTES,
					   sizeof(*TOT), NULL, &oi), 0);
	TOT = shmrt_ptr(R, oi.off);
	TOT->a = 100;
	TOT->b = 0;
	assert_int_equal(shmrt_lock_open(R, "scoped", SHMRT_O_CREATE, 0, &SL), 0);
	/* A holder killed inside the scope: the next one repairs once, then runs. */
	assert_int_equal(tu_wait(tu_fork(die_in_scope, NULL), 5000), 128 + SIGKILL);
	assert_int_equal(TOT->a + TOT->b, 90);
	repairs = 0;
	assert_int_equal(move_and_return(0), 0);
	assert_int_equal(repairs, 1);
	assert_int_equal(TOT->a + TOT->b, 100);
	/* return from inside the block released the lock; nothing left to repair */
	assert_int_equal(move_and_return(5), 7);
	assert_int_equal(shmrt_lock_acquire(&SL, 0), 0);
	assert_int_equal(shmrt_lock_release(&SL), 0);
	assert_int_equal(repairs, 1);
	assert_int_equal(TOT->a + TOT->b, 100);
	/* Arguments evaluated once: the lock taken is the lock released. */
	shmrt_lock_t pair[2];
	assert_int_equal(shmrt_lock_open(R, "once0", SHMRT_O_CREATE, 0, &pair[0]), 0);
	assert_int_equal(shmrt_lock_open(R, "once1", SHMRT_O_CREATE, 0, &pair[1]), 0);
	int k = 0, rc1;
	SHMRT_WITH_LOCK(&pair[k++], NULL, NULL, rc1)
		assert_int_equal(k, 1);
	assert_int_equal(rc1, 0);
	assert_int_equal(k, 1);
	assert_int_equal(shmrt_lock_acquire(&pair[0], 0), 0); /* released */
	assert_int_equal(shmrt_lock_release(&pair[0]), 0);
	/* A repair that fails leaves the lock unrecoverable, and the block unrun. */
	assert_int_equal(tu_wait(tu_fork(hold_and_die, &SL), 5000), 128 + SIGKILL);
	int rc, ran = 0;
	SHMRT_WITH_LOCK(&SL, refuse_repair, NULL, rc)
		ran = 1;
	assert_int_equal(rc, -EIO);
	assert_int_equal(ran, 0);
	assert_int_equal(shmrt_lock_acquire(&SL, 0), -ENOTRECOVERABLE);
	/* No-repair locks: a dead holder is only a release. */
	shmrt_lock_t nr, other;
	assert_int_equal(shmrt_lock_open(R, "norepair", SHMRT_O_CREATE | SHMRT_LOCK_NO_REPAIR, 0,
					 &nr), 0);
	assert_int_equal(shmrt_lock_open(R, "norepair", 0, 0, &other), -EPROTOTYPE);
	assert_int_equal(shmrt_lock_open(R, "norepair", SHMRT_LOCK_NO_REPAIR, 0, &other), 0);
	assert_int_equal(tu_wait(tu_fork(hold_and_die, &nr), 5000), 128 + SIGKILL);
	assert_int_equal(shmrt_lock_acquire(&nr, 5000000000ll), 0);
	assert_int_equal(shmrt_lock_release(&nr), 0);
	/* Messages by kind: one errno, the object's meaning. */
	assert_string_not_equal(shmrt_strerror_kind(-EPIPE, SHMRT_TYPE_PIPE),
				shmrt_strerror_kind(-EPIPE, SHMRT_TYPE_SYNC));
	assert_non_null(strstr(shmrt_strerror_kind(-EPIPE, SHMRT_TYPE_PIPE), "peer"));
	assert_non_null(strstr(shmrt_strerror_kind(-EPIPE, SHMRT_TYPE_SYNC), "barrier"));
	assert_non_null(strstr(shmrt_strerror_kind(-EPERM, SHMRT_TYPE_LOCK), "not held"));
	assert_string_equal(shmrt_strerror_kind(-ETIMEDOUT, SHMRT_TYPE_LOCK),
			    shmrt_strerror(-ETIMEDOUT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_lock),
		cmocka_unit_test(t_scoped_and_no_repair),
		cmocka_unit_test(t_semaphore),
		cmocka_unit_test(t_event),
		cmocka_unit_test(t_condition),
		cmocka_unit_test(t_barrier),
		cmocka_unit_test(t_barrier_last_arriver_dies),
		cmocka_unit_test(t_oversubscribed_ring),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
