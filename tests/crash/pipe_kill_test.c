/*
 * Kill torture for the Pipe: the sending and the receiving process of one direction
 * are SIGKILLed at random points of their loops (SHMRT_KILLS times, default 40; `make
 * stress` 400), and each is replaced by a new process that takes its end over. Every
 * sender instance numbers its messages from 0; it logs the highest sequence whose
 * send returned (committed). Receivers record every (instance, sequence) they take.
 * At the end (the last sender closes, the last receiver drains) we require:
 *  - nothing received twice, nothing torn, and each instance's messages in order;
 *  - every committed message received, except at most one per killed receiver (the
 *    one it had taken when it died: at-most-once, as the Queue);
 *  - nobody hung: every wait has a timeout, and a receiver or sender that times out
 *    fails the test.
 * The receiver pauses now and then, so that a sender often dies with messages in
 * the ring, published but not yet taken: a sender taking over must start after them
 * (taken_over_tail in pipe.c). One that started from the receiver's head would write
 * over committed messages, and this test fails (checked).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAXI = 512, PER = 4000 };
#define MAGIC 0x50495045u
#define SEC 1000000000ll
static const char *NAME;

struct msg {
	uint32_t magic, instance, seq, check;
	uint8_t body[40];
};

struct table {
	int32_t committed[MAXI]; /* per sender instance: highest seq whose send returned */
	int32_t last[MAXI];      /* per sender instance: highest seq recorded */
	uint8_t got[MAXI][PER];
	uint32_t next_instance, stop;
	uint64_t dup, bad, order, received;
};

static struct table *table_of(shmrt_region_t *r)
{
	shmrt_object_info_t oi;
	if (shmrt_object_lookup(r, "table", &oi))
		return NULL;
	return shmrt_ptr(r, oi.off);
}

static int sender(void *arg)
{
	(void)arg;
	shmrt_region_t *r;
	shmrt_pipe_t p;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_pipe_open(r, "k", 0, 0, 16, 64, &p))
		return 1;
	struct table *t = table_of(r);
	uint32_t inst = __atomic_fetch_add(&t->next_instance, 1, __ATOMIC_RELAXED);
	if (inst >= MAXI)
		return 2;
	for (uint32_t seq = 0; seq < PER && !__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE); seq++) {
		struct msg m = { MAGIC, inst, seq, inst * 7919u + seq, { 0 } };
		memset(m.body, (int)seq, sizeof(m.body));
		int rc = shmrt_pipe_send(&p, &m, sizeof(m), 10 * SEC);
		if (rc == -EPIPE) { /* the receiver died: wait for its successor */
			seq--;
			usleep(1000);
			continue;
		}
		if (rc)
			return 3;
		__atomic_store_n(&t->committed[inst], (int32_t)seq, __ATOMIC_RELEASE);
		if (seq % 64 == 63)
			usleep(50); /* paced: the kills reach a sender in mid-stream */
	}
	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE))
		usleep(1000);
	shmrt_pipe_close(&p);
	return 0;
}

static void record(struct table *t, const struct msg *m, size_t len)
{
	if (len != sizeof(*m) || m->magic != MAGIC || m->instance >= MAXI || m->seq >= PER ||
	    m->check != m->instance * 7919u + m->seq || m->body[39] != (uint8_t)m->seq) {
		__atomic_fetch_add(&t->bad, 1, __ATOMIC_RELAXED);
		return;
	}
	if (__atomic_fetch_add(&t->got[m->instance][m->seq], 1, __ATOMIC_RELAXED))
		__atomic_fetch_add(&t->dup, 1, __ATOMIC_RELAXED);
	if ((int32_t)m->seq <= t->last[m->instance])
		__atomic_fetch_add(&t->order, 1, __ATOMIC_RELAXED);
	t->last[m->instance] = (int32_t)m->seq;
	__atomic_fetch_add(&t->received, 1, __ATOMIC_RELAXED);
}

static int receiver(void *arg)
{
	(void)arg;
	shmrt_region_t *r;
	shmrt_pipe_t p;
	if (shmrt_region_open(NAME, 0, NULL, &r) || shmrt_pipe_open(r, "k", 0, 1, 16, 64, &p))
		return 1;
	struct table *t = table_of(r);
	for (uint32_t n = 1;; n++) {
		struct msg m;
		size_t len;
		int rc = shmrt_pipe_recv(&p, &m, sizeof(m), &len, 10 * SEC);
		if (rc == -EPIPE) {
			/* Closed (the end) or the sender died: drained either way. */
			if (__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE) &&
			    shmrt_pipe_recv(&p, &m, sizeof(m), &len, 0) == -EPIPE)
				return 0;
			usleep(1000); /* a successor takes the end over */
			continue;
		}
		if (rc)
			return 10 + (-rc & 0x3f); /* e.g. a timeout: the pipe stalled */
		record(t, &m, len);
		if (n % 64 == 0)
			usleep(3000); /* paced: the ring is often full when a sender dies */
	}
}

static void t_kill_torture(void **s)
{
	(void)s;
	const char *e = getenv("SHMRT_KILLS");
	int kills = e && atoi(e) > 0 ? atoi(e) : 40;
	NAME = tu_name("pkill");
	shmrt_region_t *r = tu_create(NAME, 16 << 20, 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "table", SHMRT_O_CREATE, SHMRT_TYPE_BYTES,
					   sizeof(struct table), NULL, &oi), 0);
	struct table *t = shmrt_ptr(r, oi.off);
	for (int i = 0; i < MAXI; i++)
		t->committed[i] = t->last[i] = -1;
	shmrt_pipe_t keep; /* creates the pipe; this process sends and receives nothing */
	assert_int_equal(shmrt_pipe_open(r, "k", SHMRT_O_CREATE, 0, 16, 64, &keep), 0);
	pid_t snd = tu_fork(sender, NULL), rcv = tu_fork(receiver, NULL);
	int sender_kills = 0, receiver_kills = 0;
	srand((unsigned)getpid());
	for (int k = 0; k < kills && t->next_instance < MAXI - 1; k++) {
		usleep(500 + (useconds_t)(rand() % 3000));
		int victim_is_sender = rand() % 2;
		pid_t v = victim_is_sender ? snd : rcv;
		kill(v, SIGKILL);
		int st = tu_wait(v, 10000);
		if (st != 128 + SIGKILL)
			fail_msg("a %s exited with %d before its kill", victim_is_sender ? "sender" : "receiver", st);
		if (victim_is_sender) {
			sender_kills++;
			snd = tu_fork(sender, NULL);
		} else {
			receiver_kills++;
			rcv = tu_fork(receiver, NULL);
		}
	}
	__atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(tu_wait(snd, 30000), 0);
	assert_int_equal(tu_wait(rcv, 30000), 0);
	uint64_t missing = 0, beyond = 0;
	for (uint32_t i = 0; i < t->next_instance; i++)
		for (int32_t q = 0; q < PER; q++) {
			if (q <= t->committed[i] && !t->got[i][q])
				missing++;
			if (q > t->committed[i] && t->got[i][q])
				beyond++; /* sent by a sender killed before its send returned */
		}
	print_message("%d sender kills, %d receiver kills, %u senders: %llu received, %llu "
		      "committed missing, %llu uncommitted delivered\n",
		      sender_kills, receiver_kills, t->next_instance,
		      (unsigned long long)t->received, (unsigned long long)missing,
		      (unsigned long long)beyond);
	assert_int_equal(t->bad, 0);
	assert_int_equal(t->dup, 0);
	assert_int_equal(t->order, 0);
	assert_true(missing <= (uint64_t)receiver_kills);
	assert_true(beyond <= (uint64_t)sender_kills);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_kill_torture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
