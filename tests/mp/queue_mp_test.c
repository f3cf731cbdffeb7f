/*
 * Queue validation across processes: P producers x C consumers (also more than the
 * cores), every message carrying (producer, sequence, magic, checksum) and a size
 * from 0 to the maximum. Consumers record what they got in a shared table: no
 * loss, no duplicate, FIFO per producer. Producers use put, burst and reserve/commit.
 * Then 8 + 8 processes on 2 cores, a queue in single-producer, single-consumer mode
 * with each kind of put and get, and two processes pinned to ONE core ping-pong
 * 100k messages.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC 0x5eed5eedu
enum { MAXP = 8, PER = 20000, MAXMSG = 256 };
static const char *NAME;
static int QF; /* the queue's modes (SHMRT_QUEUE_SP | SHMRT_QUEUE_SC) */

struct msg {
	uint32_t magic, producer, seq, sum;
	uint8_t body[MAXMSG - 16];
};

struct table {
	uint32_t got[MAXP][PER]; /* times each (producer, seq) was received */
	int64_t last[64][MAXP];  /* per consumer: last seq seen from each producer */
	uint64_t bad;
};

static size_t make(struct msg *m, uint32_t p, uint32_t seq)
{
	size_t len = 16 + (seq * 7 + p) % (MAXMSG - 16 + 1);
	m->magic = MAGIC;
	m->producer = p;
	m->seq = seq;
	uint32_t sum = 0;
	for (size_t i = 0; i < len - 16; i++) {
		m->body[i] = (uint8_t)(seq + i);
		sum += m->body[i];
	}
	m->sum = sum;
	return len;
}

static int check(const struct msg *m, size_t len)
{
	if (len < 16 || m->magic != MAGIC || m->producer >= MAXP || m->seq >= PER)
		return -1;
	uint32_t sum = 0;
	for (size_t i = 0; i < len - 16; i++)
		sum += m->body[i];
	return sum == m->sum && len == 16 + (m->seq * 7 + m->producer) % (MAXMSG - 16 + 1) ? 0 : -1;
}

struct ctx {
	int id, mode;
};

static int producer(void *arg)
{
	struct ctx *c = arg;
	shmrt_region_t *r;
	shmrt_queue_t q;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_queue_open(r, "q", QF, 64, MAXMSG, &q))
		return 1;
	struct msg m[8];
	for (uint32_t seq = 0; seq < PER;) {
		if (c->mode == 1 && seq + 8 <= PER) { /* burst */
			const void *msgs[8];
			size_t lens[8];
			for (int i = 0; i < 8; i++) {
				lens[i] = make(&m[i], (uint32_t)c->id, seq + (uint32_t)i);
				msgs[i] = &m[i];
			}
			int n = shmrt_queue_put_burst(&q, msgs, lens, 8, 10000000000ll);
			if (n <= 0)
				return 30 + (-n & 0x3f);
			seq += (uint32_t)n;
		} else if (c->mode == 2) { /* zero-copy */
			shmrt_queue_res_t res;
			if (shmrt_queue_reserve(&q, &res, 10000000000ll))
				return 3;
			size_t len = make(res.data, (uint32_t)c->id, seq++);
			if (shmrt_queue_commit(&q, &res, len))
				return 4;
		} else {
			size_t len = make(&m[0], (uint32_t)c->id, seq);
			int rc = shmrt_queue_put(&q, &m[0], len, 10000000000ll);
			if (rc)
				return 100 + (-rc & 0x3f); /* e.g. 100 + ETIMEDOUT */
			seq++;
		}
	}
	return 0;
}

static int consumer(void *arg)
{
	struct ctx *c = arg;
	shmrt_region_t *r;
	shmrt_queue_t q;
	shmrt_object_info_t oi;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_queue_open(r, "q", QF, 64, MAXMSG, &q) ||
	    shmrt_object_lookup(r, "table", &oi))
		return 1;
	struct table *t = shmrt_ptr(r, oi.off);
	static struct msg m[8];
	size_t lens[8];
	void *bufs[8];
	for (int k = 0; k < 8; k++)
		bufs[k] = &m[k];
	for (;;) {
		int rc, n = 1;
		shmrt_queue_peek_t pk;
		if (c->mode == 1) { /* burst */
			rc = shmrt_queue_get_burst(&q, bufs, sizeof(m[0]), lens, 8, 20000000000ll);
			n = rc > 0 ? rc : 0;
		} else if (c->mode == 2) { /* zero-copy: check it in place, then release */
			rc = shmrt_queue_peek(&q, &pk, 20000000000ll);
			if (rc == 0) {
				lens[0] = pk.len;
				memcpy(&m[0], pk.data, pk.len <= sizeof(m[0]) ? pk.len : sizeof(m[0]));
				if (shmrt_queue_release(&q, &pk))
					return 3;
			}
		} else {
			rc = shmrt_queue_get(&q, &m[0], sizeof(m[0]), &lens[0], 20000000000ll);
		}
		if (rc == -EPIPE)
			return 0;
		if (rc < 0)
			return 2;
		for (int k = 0; k < n; k++) {
			if (check(&m[k], lens[k])) {
				__atomic_fetch_add(&t->bad, 1, __ATOMIC_RELAXED);
				continue;
			}
			__atomic_fetch_add(&t->got[m[k].producer][m[k].seq], 1, __ATOMIC_RELAXED);
			if ((int64_t)m[k].seq <= t->last[c->id][m[k].producer])
				__atomic_fetch_add(&t->bad, 1, __ATOMIC_RELAXED); /* FIFO per producer */
			t->last[c->id][m[k].producer] = m[k].seq;
		}
	}
}

static void run(int P, int C, int mode)
{
	shmrt_region_t *r;
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_region_open(NAME, 0, NULL, &r), 0);
	assert_int_equal(shmrt_object_lookup(r, "table", &oi), 0);
	struct table *t = shmrt_ptr(r, oi.off);
	memset(t, 0, sizeof(*t));
	for (int c = 0; c < 64; c++)
		for (int p = 0; p < MAXP; p++)
			t->last[c][p] = -1;
	shmrt_queue_t q;
	char qn[16];
	snprintf(qn, sizeof(qn), "q");
	assert_int_equal(shmrt_object_remove(r, qn) == 0 || 1, 1);
	assert_int_equal(shmrt_queue_open(r, "q", SHMRT_O_CREATE | SHMRT_O_EXCL | QF, 64, MAXMSG, &q),
			 0);
	struct ctx pc[MAXP], cc[64];
	pid_t pp[MAXP], cp[64];
	for (int i = 0; i < C; i++) {
		/* get, burst, peek/release; with one consumer (QF), the producer's kind */
		cc[i] = (struct ctx){ i, mode < 0 ? i % 3 : QF ? mode : 0 };
		cp[i] = tu_fork(consumer, &cc[i]);
	}
	for (int i = 0; i < P; i++) {
		pc[i] = (struct ctx){ i, mode < 0 ? i % 3 : mode };
		pp[i] = tu_fork(producer, &pc[i]);
	}
	for (int i = 0; i < P; i++)
		assert_int_equal(tu_wait(pp[i], 120000), 0);
	shmrt_queue_close(&q);
	for (int i = 0; i < C; i++)
		assert_int_equal(tu_wait(cp[i], 120000), 0);
	assert_int_equal(t->bad, 0);
	for (int p = 0; p < P; p++)
		for (int s = 0; s < PER; s++)
			if (t->got[p][s] != 1)
				fail_msg("producer %d seq %d received %u times", p, s, t->got[p][s]);
	shmrt_region_close(r);
}

static void t_validation(void **s)
{
	(void)s;
	NAME = tu_name("qmp");
	shmrt_region_t *r = tu_create(NAME, 64 << 20, 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "table", SHMRT_O_CREATE, SHMRT_TYPE_BYTES,
					   sizeof(struct table), NULL, &oi), 0);
	uint64_t t0 = tu_ms();
	run(1, 1, 0); /* 1p1c */
	uint64_t t1 = tu_ms();
	run(4, 4, -1); /* mixed put / burst / reserve-commit; get / burst / peek-release */
	uint64_t t2 = tu_ms();
	run(8, 8, -1); /* 16 processes on 2 cores, every kind of put and get */
	QF = SHMRT_QUEUE_SP | SHMRT_QUEUE_SC; /* one producer, one consumer: stores, not CASes */
	for (int kind = 0; kind < 3; kind++)
		run(1, 1, kind); /* put/get, burst/burst, reserve-commit/peek-release */
	QF = 0;
	print_message("1p1c %llu ms, 4p4c mixed %llu ms, 8p8c %llu ms\n",
		      (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1),
		      (unsigned long long)(tu_ms() - t2));
	shmrt_region_close(r);
}

#define PINGS TU_SCALE(100000)

static int pinned_pong(void *arg)
{
	int core = (int)(intptr_t)arg;
	shmrt_region_t *r;
	shmrt_queue_t a, b;
	if (shmrt_pin_core(core % shmrt_numa_cores(), SHMRT_PIN_PROCESS) || shmrt_region_open(NAME, 0, NULL, &r) ||
	    shmrt_queue_open(r, "ping", 0, 8, 64, &a) || shmrt_queue_open(r, "pong", 0, 8, 64, &b))
		return 1;
	uint64_t v;
	size_t len;
	for (int i = 0; i < PINGS; i++) {
		if (shmrt_queue_get(&a, &v, sizeof(v), &len, 10000000000ll) ||
		    shmrt_queue_put(&b, &v, sizeof(v), 10000000000ll))
			return 2;
	}
	return 0;
}

/* One message in flight at a time: a consumer about to sleep must not miss the
 * message published between its emptiness check and its sleep (a lost wakeup hangs
 * this test; it did, before get_wait took its snapshot first). On one core, and
 * across two. */
static void pingpong(int child_core)
{
	NAME = tu_name("qpp");
	shmrt_region_t *r = tu_create(NAME, 16 << 20, 0);
	shmrt_queue_t a, b;
	assert_int_equal(shmrt_queue_open(r, "ping", SHMRT_O_CREATE, 8, 64, &a), 0);
	assert_int_equal(shmrt_queue_open(r, "pong", SHMRT_O_CREATE, 8, 64, &b), 0);
	pid_t pid = tu_fork(pinned_pong, (void *)(intptr_t)child_core);
	assert_int_equal(shmrt_pin_core(0, SHMRT_PIN_THREAD), 0);
	uint64_t t0 = tu_ms();
	for (uint64_t i = 0; i < PINGS; i++) {
		uint64_t v;
		size_t len;
		assert_int_equal(shmrt_queue_put(&a, &i, sizeof(i), 10000000000ll), 0);
		assert_int_equal(shmrt_queue_get(&b, &v, sizeof(v), &len, 10000000000ll), 0);
		assert_int_equal(v, i);
	}
	uint64_t ms = tu_ms() - t0;
	assert_int_equal(tu_wait(pid, 30000), 0);
	print_message("%d round trips, processes pinned to cores 0 and %d: %llu ms\n", PINGS,
		      child_core % shmrt_numa_cores(), (unsigned long long)ms);
	cpu_set_t all;
	CPU_ZERO(&all);
	for (int i = 0; i < shmrt_numa_cores(); i++)
		CPU_SET(i, &all);
	sched_setaffinity(0, sizeof(all), &all);
	shmrt_region_close(r);
}

static void t_pingpong_one_core(void **s)
{
	(void)s;
	pingpong(0);
}

static void t_pingpong_two_cores(void **s)
{
	(void)s;
	pingpong(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_validation),
		cmocka_unit_test(t_pingpong_one_core),
		cmocka_unit_test(t_pingpong_two_cores),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
