/*
 * Kill torture for the Queue: producers and consumers are SIGKILLed at random points
 * of their loops, many times (SHMRT_KILLS, default 60; `make stress` 400), and
 * replaced. Producers log the highest sequence whose put returned (committed);
 * consumers count every (producer, sequence) they take. At the end (producers
 * stopped, queue closed, consumers drained) we require:
 *  - no message received twice;
 *  - every committed message received, except at most one per killed consumer (the
 *    one it had taken when it died, at-most-once as in Python);
 *  - nobody hung: every wait has a timeout, and a consumer that times out fails;
 *  - the queue still works.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAXP = 450, PER = 120000, LIVEP = 3, LIVEC = 3, BURST = 6 };
#define MAGIC 0xdeadc0deu
#define SEC 1000000000ll
static const char *NAME;
/* A peeked message is held for a moment now and then, so that kills land on holders. */
#define SHMRT_TEST_PAUSE() do { if (rand() % 64 == 0) usleep(200); } while (0)

struct msg {
	uint32_t magic, producer, seq, check;
	uint8_t pad[48];
};

struct table {
	int32_t committed[MAXP]; /* highest seq whose put returned 0, -1: none */
	uint8_t got[MAXP][PER];
	uint64_t dup, bad, received;
};

static struct table *table_of(shmrt_region_t *r)
{
	shmrt_object_info_t oi;
	if (shmrt_object_lookup(r, "table", &oi))
		return NULL;
	return shmrt_ptr(r, oi.off);
}

static int producer(void *arg)
{
	int id = (int)(intptr_t)arg;
	shmrt_region_t *r;
	shmrt_queue_t q;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_queue_open(r, "q", 0, 32, 64, &q))
		return 1;
	struct table *t = table_of(r);
	for (uint32_t seq = 0; seq < PER;) {
		/* Odd producers put bursts of up to BURST messages. */
		struct msg m[BURST];
		const void *ptrs[BURST];
		size_t lens[BURST];
		unsigned n = id % 2 ? BURST : 1;
		if (n > PER - seq)
			n = PER - seq;
		for (unsigned k = 0; k < n; k++) {
			m[k] = (struct msg){ .magic = MAGIC, .producer = (uint32_t)id, .seq = seq + k,
					     .check = (uint32_t)id * 31 + seq + k };
			ptrs[k] = &m[k];
			lens[k] = sizeof(m[k]);
		}
		int rc = n == 1 ? shmrt_queue_put(&q, &m[0], sizeof(m[0]), 10 * SEC)
				: shmrt_queue_put_burst(&q, ptrs, lens, n, 10 * SEC);
		if (rc == -EPIPE)
			return 0;
		if (rc < 0)
			return 2;
		unsigned got = n == 1 ? 1 : (unsigned)rc;
		if ((seq + got) / 256 != seq / 256)
			usleep(50); /* paced, so that a fast queue does not let producers finish
				     * their PER messages before the kills reach them */
		seq += got;
		__atomic_store_n(&t->committed[id], (int32_t)(seq - 1), __ATOMIC_RELEASE);
	}
	return 0;
}

static void record(struct table *t, const struct msg *m, size_t len)
{
	if (len != sizeof(*m) || m->magic != MAGIC || m->producer >= MAXP || m->seq >= PER ||
	    m->check != m->producer * 31 + m->seq) {
		__atomic_fetch_add(&t->bad, 1, __ATOMIC_RELAXED);
		return;
	}
	if (__atomic_fetch_add(&t->got[m->producer][m->seq], 1, __ATOMIC_RELAXED))
		__atomic_fetch_add(&t->dup, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&t->received, 1, __ATOMIC_RELAXED);
}

static int consumer(void *arg)
{
	(void)arg;
	shmrt_region_t *r;
	shmrt_queue_t q;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_queue_open(r, "q", 0, 32, 64, &q))
		return 1;
	struct table *t = table_of(r);
	int mode = getpid() % 3; /* get, burst, or zero-copy peek/release */
	for (;;) {
		struct msg m[BURST];
		void *bufs[BURST];
		size_t lens[BURST];
		for (int k = 0; k < BURST; k++)
			bufs[k] = &m[k];
		int rc;
		if (mode == 1) {
			rc = shmrt_queue_get_burst(&q, bufs, sizeof(m[0]), lens, BURST, 10 * SEC);
		} else if (mode == 2) {
			shmrt_queue_peek_t pk;
			rc = shmrt_queue_peek(&q, &pk, 10 * SEC);
			if (rc == 0) {
				lens[0] = pk.len;
				memcpy(&m[0], pk.data, pk.len <= sizeof(m[0]) ? pk.len : sizeof(m[0]));
				SHMRT_TEST_PAUSE(); /* hold it a little: kills land here too */
				if (shmrt_queue_release(&q, &pk))
					return 9;
			}
		} else {
			rc = shmrt_queue_get(&q, &m[0], sizeof(m[0]), &lens[0], 10 * SEC);
		}
		if (rc == -EPIPE)
			return 0;
		if (rc < 0)
			return 10 + (-rc & 0x3f); /* e.g. a timeout: the queue stalled */
		int n = mode == 1 ? rc : 1;
		for (int k = 0; k < n; k++)
			record(t, &m[k], lens[k]);
	}
}

static void t_kill_torture(void **s)
{
	(void)s;
	const char *e = getenv("SHMRT_KILLS");
	int kills = e ? atoi(e) : 60;
	NAME = tu_name("qkill");
	shmrt_region_t *r = tu_create(NAME, 128 << 20, 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "table", SHMRT_O_CREATE, SHMRT_TYPE_BYTES,
					   sizeof(struct table), NULL, &oi), 0);
	struct table *t = shmrt_ptr(r, oi.off);
	for (int i = 0; i < MAXP; i++)
		t->committed[i] = -1;
	shmrt_queue_t q;
	assert_int_equal(shmrt_queue_open(r, "q", SHMRT_O_CREATE, 32, 64, &q), 0);

	/* The parent is a producer for the whole run: between a killed producer and its
	 * replacement's first put, every producer may be gone (slow starts under TSan made
	 * that happen), and a consumer would rightly see the end of file. */
	assert_int_equal(shmrt_queue_producer(&q), 0);
	pid_t prod[LIVEP], cons[LIVEC];
	int np = 0, consumer_kills = 0, producer_kills = 0;
	for (int i = 0; i < LIVEP; i++)
		prod[i] = tu_fork(producer, (void *)(intptr_t)np++);
	for (int i = 0; i < LIVEC; i++)
		cons[i] = tu_fork(consumer, NULL);
	uint64_t seed = 4242;
	for (int k = 0; k < kills && np < MAXP - LIVEP; k++) {
		/* Kills land every 0.5-3.5 ms: producers (paced below) die mid-loop. */
		usleep(500 + tu_rand(&seed) % 3000);
		uint64_t x = tu_rand(&seed);
		if (x & 1) {
			int v = (int)(x / 2 % LIVEP);
			kill(prod[v], SIGKILL);
			int st = tu_wait(prod[v], 10000);
			assert_true(st == 128 + SIGKILL || st == 0);
			producer_kills += st != 0;
			prod[v] = tu_fork(producer, (void *)(intptr_t)np++);
		} else {
			int v = (int)(x / 2 % LIVEC);
			kill(cons[v], SIGKILL);
			int st = tu_wait(cons[v], 10000);
			assert_int_equal(st, 128 + SIGKILL); /* a consumer only ends killed */
			consumer_kills++;
			cons[v] = tu_fork(consumer, NULL);
		}
		if (k % 8 == 0)
			(void)shmrt_region_gc(r, NULL);
	}
	/* Stop the producers (killed mid-loop, one last time), then close and drain. */
	for (int i = 0; i < LIVEP; i++) {
		kill(prod[i], SIGKILL);
		int st = tu_wait(prod[i], 10000);
		producer_kills += st != 0;
	}
	assert_int_equal(shmrt_queue_producer_done(&q), 0);
	shmrt_queue_close(&q);
	for (int i = 0; i < LIVEC; i++)
		assert_int_equal(tu_wait(cons[i], 30000), 0); /* drained, -EPIPE, exit 0 */

	uint64_t committed = 0, missing = 0, extra = 0;
	for (int p = 0; p < np; p++) {
		for (int sq = 0; sq < PER; sq++) {
			if (sq <= t->committed[p]) {
				committed++;
				missing += t->got[p][sq] == 0;
			} else {
				extra += t->got[p][sq] != 0; /* in flight when killed: delivered */
			}
		}
	}
	print_message("%d producers (%d killed), %d consumer kills: %llu committed, %llu received, "
		      "%llu missing, %llu uncommitted delivered\n",
		      np, producer_kills, consumer_kills, (unsigned long long)committed,
		      (unsigned long long)t->received, (unsigned long long)missing,
		      (unsigned long long)extra);
	assert_int_equal(t->dup, 0);
	assert_int_equal(t->bad, 0);
	/* A killed consumer loses what it held: one message, or one burst. A killed
	 * producer may have had one put or burst in flight, delivered uncommitted. */
	assert_true(missing <= (uint64_t)consumer_kills * BURST);
	assert_true(extra <= (uint64_t)producer_kills * BURST);
	assert_true(committed > 1000);
	assert_true(producer_kills > kills / 4); /* producers did die mid-loop */

	/* The queue works afterwards (a fresh one under the same region). */
	shmrt_queue_t q2;
	assert_int_equal(shmrt_queue_open(r, "q2", SHMRT_O_CREATE, 4, 8, &q2), 0);
	uint64_t v = 7, w;
	size_t len;
	assert_int_equal(shmrt_queue_put(&q2, &v, sizeof(v), 0), 0);
	assert_int_equal(shmrt_queue_get(&q2, &w, sizeof(w), &len, 0), 0);
	assert_int_equal(w, 7);
	shmrt_region_close(r);
}

/* A consumer killed holding a peeked message: producers that wrap around to its slot
 * go on once its death is seen; the message is lost with it, nothing else. */
static int die_peeking(void *arg)
{
	(void)arg;
	shmrt_region_t *r;
	shmrt_queue_t q;
	shmrt_queue_peek_t pk;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_queue_open(r, "pk", 0, 3, 16, &q) ||
	    shmrt_queue_peek(&q, &pk, 5 * SEC))
		return 1;
	raise(SIGKILL);
	return 0;
}

static void t_dead_peeker(void **s)
{
	(void)s;
	NAME = tu_name("qpeek");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_queue_t q;
	assert_int_equal(shmrt_queue_open(r, "pk", SHMRT_O_CREATE, 3, 16, &q), 0);
	uint32_t cap = shmrt_queue_capacity(&q);
	assert_int_equal(shmrt_queue_put(&q, "held", 4, 0), 0);
	assert_int_equal(tu_wait(tu_fork(die_peeking, NULL), 5000), 128 + SIGKILL);
	/* Fill the ring and wrap around onto the dead consumer's slot. */
	uint64_t t0 = tu_ms();
	char buf[16];
	size_t len;
	for (uint32_t i = 0; i < 2 * cap + 2; i++) {
		uint32_t v = i;
		assert_int_equal(shmrt_queue_put(&q, &v, sizeof(v), 2 * SEC), 0);
		assert_int_equal(shmrt_queue_get(&q, buf, sizeof(buf), &len, 0), 0);
		assert_int_equal(len, sizeof(v));
		assert_memory_equal(buf, &v, sizeof(v)); /* in order; "held" never comes back */
	}
	print_message("wrapped past a dead peeker's slot in %llu ms\n",
		      (unsigned long long)(tu_ms() - t0));
	assert_true(tu_ms() - t0 < 1000);
	shmrt_region_close(r);
}

/* A producer killed between reserve and commit: the queue does not stall. QF: the
 * queue's modes (with SHMRT_QUEUE_SP, the next producer takes over from the dead one). */
static int QF;

static int die_reserved(void *arg)
{
	(void)arg;
	shmrt_region_t *r;
	shmrt_queue_t q;
	shmrt_queue_res_t res;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_queue_open(r, "h", QF, 8, 16, &q) ||
	    shmrt_queue_reserve(&q, &res, 0))
		return 1;
	memcpy(res.data, "half", 4);
	raise(SIGKILL);
	return 0;
}

static void dead_reservation_becomes_hole(int qf)
{
	QF = qf;
	NAME = tu_name("qhole");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_queue_t q;
	assert_int_equal(shmrt_queue_open(r, "h", SHMRT_O_CREATE | qf, 8, 16, &q), 0);
	assert_int_equal(tu_wait(tu_fork(die_reserved, NULL), 5000), 128 + SIGKILL);
	/* Our put queues behind the dead ticket; it must still get through, fast. */
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_queue_put(&q, "after", 6, 5 * SEC), 0);
	char buf[16];
	size_t len;
	assert_int_equal(shmrt_queue_get(&q, buf, sizeof(buf), &len, 5 * SEC), 0);
	assert_string_equal(buf, "after"); /* the hole was skipped */
	print_message("put behind a dead reservation: %llu ms\n", (unsigned long long)(tu_ms() - t0));
	assert_true(tu_ms() - t0 < 1000);
	assert_true(shmrt_queue_empty(&q));
	shmrt_region_close(r);
}

static void t_dead_reservation_becomes_hole(void **s)
{
	(void)s;
	dead_reservation_becomes_hole(0);
}

static void t_dead_single_producer_is_replaced(void **s)
{
	(void)s;
	dead_reservation_becomes_hole(SHMRT_QUEUE_SP | SHMRT_QUEUE_SC);
}

static int die_reserved_joinable(void *arg)
{
	(void)arg;
	shmrt_region_t *r;
	shmrt_queue_t q;
	shmrt_queue_res_t res;
	if (shmrt_region_open(NAME, 0, NULL, &r) ||
	    shmrt_joinable_queue_open(r, "jq", 0, 8, 16, &q) || shmrt_queue_reserve(&q, &res, 0))
		return 1;
	raise(SIGKILL); /* counted its task, never committed */
	return 0;
}

static void t_dead_producer_does_not_block_join(void **s)
{
	(void)s;
	NAME = tu_name("qjoin");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_queue_t q;
	assert_int_equal(shmrt_joinable_queue_open(r, "jq", SHMRT_O_CREATE, 8, 16, &q), 0);
	assert_int_equal(tu_wait(tu_fork(die_reserved_joinable, NULL), 5000), 128 + SIGKILL);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_queue_join(&q, 5 * SEC), 0);
	assert_true(tu_ms() - t0 < 1000);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_dead_reservation_becomes_hole),
		cmocka_unit_test(t_dead_single_producer_is_replaced),
		cmocka_unit_test(t_dead_producer_does_not_block_join),
		cmocka_unit_test(t_kill_torture),
		cmocka_unit_test(t_dead_peeker),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
