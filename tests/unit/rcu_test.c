/*
 * The cross-process RCU on its own (core/rcu_int.h), below the Dict that uses it:
 *  - nesting: an inner unlock keeps the section, the scan sees the reader until the
 *    outermost unlock, and a nested lock does not announce again;
 *  - the scan returns the smallest epoch of an active reader below `want`;
 *  - synchronize inside a read section is -EDEADLK;
 *  - synchronize waits for a reader of another process: it times out while a forked
 *    child holds its section, and returns once the child has left it;
 *  - a reader SIGKILLed inside its section does not hold synchronize back, and gc
 *    releases its record;
 *  - safety across processes: a writer process replaces the object an offset in
 *    shared memory names, waits for a grace period, then poisons the old object,
 *    while reader processes (more processes than cores) read the current object
 *    under read sections: no reader ever sees poison or a torn object. With a
 *    synchronize that returns at once, this fails in the first milliseconds.
 * Every child is bounded: it gives up after a deadline, and the parent's waits kill
 * it (tu_wait); the teardown kills whatever a failed assertion left running.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include "base/clock.h"
#include "core/rcu_int.h"

#define MS 1000000ull /* nanoseconds */

/* The calling thread's record in R (claimed on first use). */
static struct shmrt_thread_rec *my_rec(struct shmrt_region *R)
{
	uint32_t i = shmrt__thread_rec(R);
	return i == REC_NONE ? NULL : &R->threads[i];
}

/* Relaxed: these tests read records and the epoch from the thread that wrote them, or
 * after a handshake (wait_for's acquire) that ordered the write before. */
static uint64_t word_of(const struct shmrt_thread_rec *t)
{
	return load_relaxed(&t->module[TW_RCU]);
}

static uint64_t epoch_of(struct shmrt_region *R)
{
	return load_relaxed(&R->hdr->rcu_epoch);
}

/* Waits until *p == want, at most ms milliseconds; returns whether it happened.
 * Acquire: what the writer of *p did before is visible after. */
static int wait_for(const uint32_t *p, uint32_t want, int ms)
{
	uint64_t end = tu_ms() + (uint64_t)ms;
	while (load_acquire(p) != want) {
		if (tu_ms() >= end)
			return 0;
		usleep(100);
	}
	return 1;
}

static int teardown(void **s)
{
	(void)s;
	tu_kill_all();
	return 0;
}

/* ---- one process --------------------------------------------------------------- */

static void t_nesting(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("nest"), 8 << 20, 0);
	struct shmrt_thread_rec *t = my_rec(r);
	assert_non_null(t);
	uint64_t e0 = epoch_of(r);
	assert_false(shmrt__rcu_nested(t));
	assert_int_equal(word_of(t), 0);
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 0, NULL), UINT64_MAX);

	shmrt__rcu_lock(r, t);
	assert_true(shmrt__rcu_nested(t));
	assert_int_equal(word_of(t), (e0 << 1) | 1);
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 0, NULL), e0);

	/* Nested locks neither re-read the epoch nor announce again. */
	uint64_t e1 = shmrt__rcu_advance(r);
	assert_int_equal(e1, e0 + 1);
	shmrt__rcu_lock(r, t);
	shmrt__rcu_lock(r, t);
	assert_int_equal(word_of(t), (e0 << 1) | 1);
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 0, NULL), e0);

	/* Inner unlocks keep the section. */
	shmrt__rcu_unlock(t);
	shmrt__rcu_unlock(t);
	assert_true(shmrt__rcu_nested(t));
	assert_int_equal(word_of(t), (e0 << 1) | 1);
	unsigned dead = 0;
	assert_int_equal(shmrt__rcu_scan(r, e1, 1, &dead), e0);
	assert_int_equal(dead, 0); /* we are alive */
	assert_int_equal(shmrt__rcu_synchronize(r, 0), -EDEADLK);

	/* The outermost one leaves it. */
	shmrt__rcu_unlock(t);
	assert_false(shmrt__rcu_nested(t));
	assert_int_equal(word_of(t), 0);
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 1, &dead), UINT64_MAX);
	assert_int_equal(dead, 0);

	/* A new section announces the current epoch. */
	shmrt__rcu_lock(r, t);
	assert_int_equal(word_of(t), (e1 << 1) | 1);
	shmrt__rcu_unlock(t);
	assert_int_equal(word_of(t), 0);
	shmrt_region_close(r);
}

/* A thread of this process that enters a read section, reports its epoch, and
 * leaves when told (or after 10 s, whatever the main thread does). */
struct rthread {
	struct shmrt_region *R;
	pthread_t th;
	uint32_t locked, leave;
	uint64_t epoch;
};

static void *rthread_main(void *p)
{
	struct rthread *a = p;
	struct shmrt_thread_rec *t = my_rec(a->R);
	if (!t)
		return (void *)1;
	shmrt__rcu_lock(a->R, t);
	a->epoch = word_of(t) >> 1;
	store_release(&a->locked, 1); /* publishes epoch */
	(void)wait_for(&a->leave, 1, 10000);
	shmrt__rcu_unlock(t);
	return NULL;
}

static void rthread_start(struct rthread *a, struct shmrt_region *R)
{
	*a = (struct rthread){ .R = R };
	assert_int_equal(pthread_create(&a->th, NULL, rthread_main, a), 0);
	assert_true(wait_for(&a->locked, 1, 10000));
}

static void rthread_stop(struct rthread *a)
{
	void *ret;
	store_release(&a->leave, 1);
	assert_int_equal(pthread_join(a->th, &ret), 0);
	assert_null(ret);
}

static void t_scan_min_below_want(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("scan"), 8 << 20, 0);
	/* Readers at three epochs, ea < eb < ec. */
	struct rthread a, b, c;
	rthread_start(&a, r);
	shmrt__rcu_advance(r);
	rthread_start(&b, r);
	shmrt__rcu_advance(r);
	shmrt__rcu_advance(r);
	rthread_start(&c, r);
	uint64_t ea = a.epoch, eb = b.epoch, ec = c.epoch;
	assert_int_equal(eb, ea + 1);
	assert_int_equal(ec, eb + 2);

	unsigned dead = 0;
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 0, NULL), ea);
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 1, &dead), ea);
	assert_int_equal(dead, 0);
	assert_int_equal(shmrt__rcu_scan(r, ea + 1, 0, NULL), ea);
	/* Readers at or above want do not count. */
	assert_int_equal(shmrt__rcu_scan(r, ea, 0, NULL), UINT64_MAX);
	assert_int_equal(shmrt__rcu_scan(r, 0, 0, NULL), UINT64_MAX);

	rthread_stop(&a);
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 0, NULL), eb);
	assert_int_equal(shmrt__rcu_scan(r, ec, 0, NULL), eb);
	assert_int_equal(shmrt__rcu_scan(r, eb + 1, 1, &dead), eb);
	assert_int_equal(shmrt__rcu_scan(r, eb, 0, NULL), UINT64_MAX);

	/* Our own section, at the newest epoch, is the smallest once the others left. */
	struct shmrt_thread_rec *t = my_rec(r);
	assert_non_null(t);
	shmrt__rcu_advance(r);
	shmrt__rcu_lock(r, t);
	uint64_t em = word_of(t) >> 1;
	assert_int_equal(em, ec + 1);
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 0, NULL), eb);
	rthread_stop(&b);
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 0, NULL), ec);
	assert_int_equal(shmrt__rcu_scan(r, ec, 0, NULL), UINT64_MAX);
	rthread_stop(&c);
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 0, NULL), em);
	assert_int_equal(shmrt__rcu_scan(r, em, 0, NULL), UINT64_MAX);
	shmrt__rcu_unlock(t);
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 1, &dead), UINT64_MAX);
	assert_int_equal(dead, 0);
	shmrt_region_close(r);
}

static void t_synchronize_in_section(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("deadlk"), 8 << 20, 0);
	struct shmrt_thread_rec *t = my_rec(r);
	assert_non_null(t);
	shmrt__rcu_lock(r, t);
	uint64_t e = epoch_of(r);
	assert_int_equal(shmrt__rcu_synchronize(r, UINT64_MAX), -EDEADLK);
	assert_int_equal(shmrt__rcu_synchronize(r, 0), -EDEADLK);
	shmrt__rcu_lock(r, t);
	assert_int_equal(shmrt__rcu_synchronize(r, UINT64_MAX), -EDEADLK);
	shmrt__rcu_unlock(t);
	assert_int_equal(shmrt__rcu_synchronize(r, UINT64_MAX), -EDEADLK);
	assert_int_equal(epoch_of(r), e); /* refused before it advanced the epoch */
	shmrt__rcu_unlock(t);
	/* Outside the section, with no reader: at once, even with a deadline past. */
	assert_int_equal(shmrt__rcu_synchronize(r, 0), 0);
	assert_int_equal(epoch_of(r), e + 1);
	assert_int_equal(shmrt__rcu_synchronize(r, UINT64_MAX), 0);
	assert_int_equal(epoch_of(r), e + 2);
	shmrt_region_close(r);
}

/* ---- across processes ------------------------------------------------------------ */

/* A child's handshake with the parent, in the region. */
struct hand {
	uint32_t state; /* child: IN_SECTION, LEAVING (just before its unlock), OUT */
	uint32_t leave; /* parent: 1 = leave your section */
	uint32_t rec;   /* the child's record */
	uint32_t pad;
};
enum { IN_SECTION = 1, LEAVING = 2, OUT = 3 };

struct child_arg {
	struct shmrt_region *R;
	struct hand *h;
};

static struct hand *new_hand(shmrt_region_t *r)
{
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "hand", SHMRT_O_CREATE | SHMRT_O_EXCL,
					   SHMRT_TYPE_BYTES,
					   sizeof(struct hand), NULL, &oi), 0);
	return shmrt_ptr(r, oi.off); /* zeroed */
}

/* Enters a section (nested twice), reports it, and holds it until told to leave
 * (exit 11 if nobody says so within 10 s). */
static int hold_section(void *p)
{
	struct child_arg *a = p;
	uint32_t rec = shmrt__thread_rec(a->R);
	if (rec == REC_NONE)
		return 10;
	struct shmrt_thread_rec *t = &a->R->threads[rec];
	shmrt__rcu_lock(a->R, t);
	shmrt__rcu_lock(a->R, t);
	store_relaxed(&a->h->rec, rec); /* Relaxed: published by the release below */
	store_release(&a->h->state, IN_SECTION);
	if (!wait_for(&a->h->leave, 1, 10000))
		return 11;
	usleep(20000); /* let the parent's synchronize start waiting */
	shmrt__rcu_unlock(t);
	/* Relaxed: published by the outermost unlock's release (U1), which the
	 * parent's synchronize must see (S1) before it returns. */
	store_relaxed(&a->h->state, LEAVING);
	shmrt__rcu_unlock(t);
	store_release(&a->h->state, OUT);
	return 0;
}

static void t_synchronize_waits_for_process(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("wait"), 8 << 20, 0);
	struct child_arg a = { r, new_hand(r) };
	pid_t pid = tu_fork(hold_section, &a);
	assert_true(wait_for(&a.h->state, IN_SECTION, 10000));
	uint64_t ec = load_relaxed(&r->threads[a.h->rec].module[TW_RCU]) >> 1;
	unsigned dead = 0;
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 1, &dead), ec);
	assert_int_equal(dead, 0);

	/* While the child holds its section: a bounded synchronize times out. */
	uint64_t t0 = mono_ns();
	assert_int_equal(shmrt__rcu_synchronize(r, t0 + 100 * MS), -ETIMEDOUT);
	assert_true(mono_ns() - t0 >= 100 * MS);
	assert_int_equal(load_acquire(&a.h->state), IN_SECTION);

	/* Once it leaves, synchronize returns, and not before: the child stored LEAVING
	 * before the unlock that let synchronize return. */
	store_release(&a.h->leave, 1);
	assert_int_equal(shmrt__rcu_synchronize(r, mono_ns() + 10000 * MS), 0);
	assert_true(load_relaxed(&a.h->state) >= LEAVING); /* ordered by S1 (scan) */
	assert_int_equal(tu_wait(pid, 10000), 0);
	assert_int_equal(load_acquire(&a.h->state), OUT);
	shmrt_region_close(r);
}

static void t_dead_reader(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("dead"), 8 << 20, 0);
	struct child_arg a = { r, new_hand(r) };
	pid_t pid = tu_fork(hold_section, &a);
	assert_true(wait_for(&a.h->state, IN_SECTION, 10000));
	struct shmrt_thread_rec *ct = &r->threads[a.h->rec];
	assert_int_not_equal(word_of(ct), 0);
	assert_int_not_equal(load_relaxed(&ct->ctl), 0);

	/* Killed inside its section, and not reaped yet (a zombie is dead too). */
	assert_int_equal(kill(pid, SIGKILL), 0);
	uint64_t t0 = mono_ns();
	assert_int_equal(shmrt__rcu_synchronize(r, t0 + 10000 * MS), 0);
	uint64_t took = mono_ns() - t0;
	print_message("synchronize past a killed reader: %.1f ms\n", (double)took / 1e6);
	assert_true(took < 2000 * MS);
	/* gc released its record: free, its reader word cleared. */
	assert_int_equal(load_acquire(&ct->ctl), 0);
	assert_int_equal(word_of(ct), 0);
	assert_int_equal(shmrt__rcu_scan(r, UINT64_MAX, 0, NULL), UINT64_MAX);
	assert_int_equal(tu_wait(pid, 10000), 128 + SIGKILL);
	shmrt_region_close(r);
}

/*
 * Safety. The writer owns the ring: the object `cur` names is complete (every word
 * holds its generation); each round it fills the next ring slot with a new
 * generation, publishes its offset in `cur` (the unlink of the old one), waits for a
 * grace period, and poisons the old object. Readers, inside read sections, read the
 * current object word by word several times, yielding now and then in the middle:
 * every word must hold the same generation, never POISON. Four readers and the
 * writer are more processes than cores, so sections are preempted midway.
 */
#define READERS 4
#define RING 8
#define WORDS 16
#define ROUNDS 8
#define RUN_MS 300      /* at least, and at least MIN_SWAPS and MIN_OVERLAPS... */
#define MIN_SWAPS 100
#define MIN_OVERLAPS 20
#define MAX_MS 10000    /* ... unless this runs out (a machine far too loaded) */
#define POISON 0xdeaddeaddeaddeadull

struct obj {
	uint64_t w[WORDS];
};

struct safety {
	shmrt_off_t cur;           /* the current object */
	uint32_t ready, stop;      /* readers that completed a section; writer done */
	uint64_t swaps, sections, overlaps, bad;
	struct obj ring[RING];
};

struct safety_arg {
	struct shmrt_region *R;
	struct safety *c;
};

static int safety_reader(void *p)
{
	struct safety_arg *a = p;
	struct safety *c = a->c;
	struct shmrt_thread_rec *t = my_rec(a->R);
	if (!t)
		return 20;
	uint64_t rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
	uint64_t end = tu_ms() + 2 * MAX_MS, sections = 0, bad = 0;
	/* Acquire: the writer's rounds before stop are done (its counts are its own). */
	while (!load_acquire(&c->stop) && tu_ms() < end) {
		int yield_at = tu_rand(&rng) % 4 == 0 ? (int)(tu_rand(&rng) % ROUNDS) : -1;
		shmrt__rcu_lock(a->R, t);
		/* Acquire, pairs with the writer's release: the object is complete. */
		shmrt_off_t off = load_acquire(&c->cur);
		const struct obj *o = shmrt_ptr(a->R, off);
		/* Relaxed: the object's words change only after a grace period (poison),
		 * or while unreachable (a new generation), never under a reader. */
		uint64_t g = load_relaxed(&o->w[0]);
		for (int k = 0; k < ROUNDS; k++) {
			if (k == yield_at)
				sched_yield();
			for (int j = 0; j < WORDS; j++) {
				uint64_t v = load_relaxed(&o->w[j]);
				bad += v == POISON || v != g;
			}
		}
		/* Relaxed: only counts sections during which the writer replaced the
		 * object (the test raced), for the writer's loop and the report. */
		if (load_relaxed(&c->cur) != off)
			fetch_add_relaxed(&c->overlaps, 1);
		shmrt__rcu_unlock(t);
		if (!sections++)
			fetch_add_seq_cst(&c->ready, 1);
	}
	fetch_add_seq_cst(&c->sections, sections);
	fetch_add_seq_cst(&c->bad, bad);
	return bad ? 21 : 0;
}

static int safety_writer(void *p)
{
	struct safety_arg *a = p;
	struct safety *c = a->c;
	if (!wait_for(&c->ready, READERS, 10000))
		return 30;
	uint64_t t0 = tu_ms(), gen = 1, swaps = 0;
	int rc = 0;
	for (int i = 0;;) {
		uint64_t ms = tu_ms() - t0;
		/* Relaxed: a progress count, read racily. */
		if (ms >= MAX_MS || (ms >= RUN_MS && swaps >= MIN_SWAPS &&
				     load_relaxed(&c->overlaps) >= MIN_OVERLAPS))
			break;
		shmrt_off_t old = load_relaxed(&c->cur); /* Relaxed: only we write it */
		i = (i + 1) % RING;
		struct obj *n = &c->ring[i];
		gen++;
		for (int j = 0; j < WORDS; j++)
			store_relaxed(&n->w[j], gen); /* Relaxed: published by the release */
		/* Release, pairs with the readers' acquire: the unlink of the old object,
		 * and the publication of the new one. */
		store_release(&c->cur, shmrt_offset(a->R, n));
		rc = shmrt__rcu_synchronize(a->R, mono_ns() + 10000 * MS);
		if (rc)
			break;
		struct obj *o = shmrt_ptr(a->R, old);
		for (int j = 0; j < WORDS; j++)
			store_relaxed(&o->w[j], POISON); /* Relaxed: no reader can reach it */
		swaps++;
	}
	store_relaxed(&c->swaps, swaps); /* Relaxed: published by the release below */
	store_release(&c->stop, 1);
	return rc ? 31 : 0;
}

static void t_safety_across_processes(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("safety"), 8 << 20, 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "safety", SHMRT_O_CREATE | SHMRT_O_EXCL,
					   SHMRT_TYPE_BYTES,
					   sizeof(struct safety), NULL, &oi), 0);
	struct safety *c = shmrt_ptr(r, oi.off);
	for (int i = 0; i < RING; i++)
		for (int j = 0; j < WORDS; j++)
			c->ring[i].w[j] = i ? POISON : 1;
	c->cur = shmrt_offset(r, &c->ring[0]);

	struct safety_arg a = { r, c };
	pid_t readers[READERS];
	for (int i = 0; i < READERS; i++)
		readers[i] = tu_fork(safety_reader, &a);
	pid_t writer = tu_fork(safety_writer, &a);
	int wst = tu_wait(writer, MAX_MS + 20000);
	store_release(&c->stop, 1); /* whatever became of the writer */
	int rst[READERS];
	for (int i = 0; i < READERS; i++)
		rst[i] = tu_wait(readers[i], 20000);
	print_message("%llu replacements, %llu read sections, %llu raced with a replacement, "
		      "%llu bad reads\n", (unsigned long long)load_acquire(&c->swaps),
		      (unsigned long long)load_acquire(&c->sections),
		      (unsigned long long)load_acquire(&c->overlaps),
		      (unsigned long long)load_acquire(&c->bad));
	assert_int_equal(load_acquire(&c->bad), 0);
	assert_int_equal(wst, 0);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(rst[i], 0);
	/* The test raced: the writer made progress, and readers were inside sections
	 * while it replaced the object they were reading. */
	assert_true(load_acquire(&c->swaps) >= MIN_SWAPS);
	assert_true(load_acquire(&c->overlaps) >= MIN_OVERLAPS);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(t_nesting, teardown),
		cmocka_unit_test_teardown(t_scan_min_below_want, teardown),
		cmocka_unit_test_teardown(t_synchronize_in_section, teardown),
		cmocka_unit_test_teardown(t_synchronize_waits_for_process, teardown),
		cmocka_unit_test_teardown(t_dead_reader, teardown),
		cmocka_unit_test_teardown(t_safety_across_processes, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
