/*
 * Bodies of the remote-object benchmarks (issue 16): a region's Value and Queue reached
 * through a Manager server over loopback TCP (shmrt/remote.h), and their Redis peers
 * over TCP (a redis-server on a free loopback port, redis_bench.c).
 *
 * The region is made once per benchmark process ("shmrt-bench-remote-PID", fresh,
 * unlinked at exit) with a Value (int64) and a Queue (4096 messages of up to 64 B),
 * and a server attaching it is started on 127.0.0.1, port 0. Clients are forked by
 * bench_mp_run and each open their own connection and handle.
 *
 * fetch_add: one client, `ops` remote fetch_adds of 1, each one round trip; peer: INCR
 * on one hiredis connection, one command per round trip. The final counts are checked.
 *
 * queue 1p1c: worker 0 puts `n` messages of 64 bytes in put_bursts of `burst` (waiting
 * when the queue is full), worker 1 takes them in get_bursts of `burst` (waiting when it
 * is empty); each message carries its sequence number, checked in order by the
 * consumer. Peer: LPUSH of one message per command, `burst` commands per round trip;
 * RPOP likewise (a nil reply: the list was empty, asked again). The rate is messages
 * per second, from the start line to the consumer's last message.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <shmrt.h>
#include <shmrt/remote.h>

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC 1000000000ll

static const char KEY[] = "shmrt-bench-remote";
#define KEYLEN (sizeof(KEY) - 1)
#define QCAP 4096
#define MSG 64

static char rname[64];
static shmrt_region_t *reg;
static shmrt_manager_server_t *srv;

static void remote_teardown(void)
{
	if (srv)
		(void)shmrt_manager_shutdown(srv);
	srv = NULL;
	if (reg) {
		(void)shmrt_region_close(reg);
		(void)shmrt_region_unlink(rname);
		reg = NULL;
	}
}

/* The region and its server, made once: 0, or -1. */
static int remote_ready(void)
{
	if (srv)
		return 0;
	snprintf(rname, sizeof(rname), "shmrt-bench-remote-%d", (int)getpid());
	shmrt_value_t v;
	shmrt_queue_t q;
	if (shmrt_region_open(rname, SHMRT_O_CREATE | SHMRT_O_EXCL | SHMRT_O_FRESH, NULL, &reg))
		return -1;
	atexit(remote_teardown);
	shmrt_scalar_t z = { .i64 = 0 };
	static const char *regions[2];
	regions[0] = rname;
	shmrt_manager_opts_t o = { .regions = regions };
	if (shmrt_value_open(reg, "v", SHMRT_O_CREATE, SHMRT_VT_INT64, &z, &v) ||
	    shmrt_queue_open(reg, "q", SHMRT_O_CREATE | SHMRT_QUEUE_NO_EOF, QCAP, MSG, &q) ||
	    shmrt_manager_start("tcp:127.0.0.1:0", KEY, KEYLEN, &o, &srv)) {
		srv = NULL;
		return -1;
	}
	return 0;
}

static shmrt_manager_conn_t *remote_connect(void)
{
	shmrt_manager_conn_t *c;
	if (shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC, &c))
		return NULL;
	shmrt_manager_set_timeout(c, 60 * SEC);
	return c;
}

/* ---- fetch_add -------------------------------------------------------------------- */

struct vstate {
	shmrt_manager_conn_t *c;
	shmrt_remote_value_t v;
	redisContext *r;
};

static void *fa_setup(int worker, void *arg)
{
	(void)worker;
	(void)arg;
	static struct vstate w;
	w.c = remote_connect();
	return w.c && shmrt_remote_value_open(w.c, rname, "v", &w.v) == 0 ? &w : NULL;
}

static uint64_t fa_run(void *st, uint64_t n)
{
	struct vstate *w = st;
	shmrt_scalar_t one = { .i64 = 1 }, old = { .i64 = -1 }, first = { .i64 = 0 };
	for (uint64_t i = 0; i < n; i++) {
		if (shmrt_remote_value_fetch(&w->v, SHMRT_OP_ADD, one, &old))
			return i;
		if (i == 0)
			first = old;
	}
	/* each add once: the last one saw all the others */
	return n && old.i64 == first.i64 + (int64_t)n - 1 ? n : 0;
}

double remote_fetch_add_tcp(uint64_t ops, double *wall)
{
	if (remote_ready())
		return -1;
	return bench_mp_all(fa_setup, fa_run, NULL, 1, ops, wall);
}

static void *incr_setup(int worker, void *arg)
{
	(void)worker;
	(void)arg;
	static struct vstate w;
	w.r = bench_redis_tcp_connect();
	if (!w.r)
		return NULL;
	redisReply *r = redisCommand(w.r, "SET shmrt-remote-incr 0");
	int ok = r && r->type == REDIS_REPLY_STATUS;
	freeReplyObject(r);
	return ok ? &w : NULL;
}

static uint64_t incr_run(void *st, uint64_t n)
{
	struct vstate *w = st;
	for (uint64_t i = 0; i < n; i++) {
		redisReply *r = redisCommand(w->r, "INCR shmrt-remote-incr");
		int ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == (long long)i + 1;
		freeReplyObject(r);
		if (!ok)
			return i;
	}
	return n;
}

double remote_redis_incr_tcp(uint64_t ops, double *wall)
{
	if (!bench_redis_tcp_port())
		return -1;
	return bench_mp_all(incr_setup, incr_run, NULL, 1, ops, wall);
}

/* ---- queue 1p1c ------------------------------------------------------------------- */

struct qstate {
	int worker, burst;
	shmrt_manager_conn_t *c;
	shmrt_remote_queue_t q;
	redisContext *r;
	char msgs[32][MSG];
	const void *ptrs[32];
	void *bufs[32];
	size_t lens[32];
};

static int g_burst;

static void *q_setup(int worker, void *arg)
{
	(void)arg;
	static struct qstate w;
	w.worker = worker;
	w.burst = g_burst;
	for (int i = 0; i < 32; i++) {
		memset(w.msgs[i], 'a' + i % 26, MSG);
		w.ptrs[i] = w.msgs[i];
		w.bufs[i] = w.msgs[i];
		w.lens[i] = MSG;
	}
	w.c = remote_connect();
	return w.c && shmrt_remote_queue_open(w.c, rname, "q", &w.q) == 0 ? &w : NULL;
}

static uint64_t q_run(void *st, uint64_t n)
{
	struct qstate *w = st;
	uint64_t done = 0;
	while (done < n) {
		unsigned k = (unsigned)(n - done < (uint64_t)w->burst ? n - done : (uint64_t)w->burst);
		int rc;
		if (w->worker == 0) {
			for (unsigned i = 0; i < k; i++)
				memcpy(w->msgs[i], &(uint64_t){ done + i }, 8);
			rc = shmrt_remote_queue_put_burst(&w->q, w->ptrs, w->lens, k, 60 * SEC);
		} else {
			rc = shmrt_remote_queue_get_burst(&w->q, w->bufs, MSG, w->lens, k, 60 * SEC);
			for (int i = 0; i < rc; i++) {
				uint64_t seq;
				memcpy(&seq, w->msgs[i], 8);
				if (seq != done + (uint64_t)i || w->lens[i] != MSG)
					return done; /* out of order or torn: the case fails */
			}
		}
		if (rc < 1)
			return done;
		done += (uint64_t)rc;
	}
	return done;
}

double remote_queue_tcp(uint64_t n, int burst, double *wall)
{
	if (remote_ready() || burst < 1 || burst > 32)
		return -1;
	g_burst = burst;
	double rate = bench_mp_all(q_setup, q_run, NULL, 2, n, wall);
	return rate < 0 ? rate : rate / 2; /* messages, not puts + gets */
}

static void *rq_setup(int worker, void *arg)
{
	(void)arg;
	static struct qstate w;
	w.worker = worker;
	w.burst = g_burst;
	w.r = bench_redis_tcp_connect();
	if (!w.r)
		return NULL;
	if (worker == 0) { /* the producer empties the list before the start line */
		redisReply *r = redisCommand(w.r, "DEL shmrt-remote-q");
		freeReplyObject(r);
	}
	memset(w.msgs, 'm', sizeof(w.msgs));
	return &w;
}

static uint64_t rq_run(void *st, uint64_t n)
{
	struct qstate *w = st;
	uint64_t done = 0;
	while (done < n) {
		int k = (int)(n - done < (uint64_t)w->burst ? n - done : (uint64_t)w->burst);
		for (int i = 0; i < k; i++) {
			if (w->worker == 0) {
				memcpy(w->msgs[i], &(uint64_t){ done + (uint64_t)i }, 8);
				redisAppendCommand(w->r, "LPUSH shmrt-remote-q %b", w->msgs[i],
						   (size_t)MSG);
			} else {
				redisAppendCommand(w->r, "RPOP shmrt-remote-q");
			}
		}
		int got = 0;
		for (int i = 0; i < k; i++) {
			redisReply *r;
			if (redisGetReply(w->r, (void **)&r) != REDIS_OK)
				return done;
			if (w->worker == 0) {
				got += r->type == REDIS_REPLY_INTEGER;
			} else if (r->type == REDIS_REPLY_STRING) {
				uint64_t seq;
				memcpy(&seq, r->str, 8);
				if (r->len != MSG || seq != done + (uint64_t)got) {
					freeReplyObject(r);
					return done;
				}
				got++;
			}
			freeReplyObject(r);
		}
		if (w->worker == 0 && got != k)
			return done;
		done += (uint64_t)got; /* the consumer's nils: asked again */
	}
	return done;
}

double remote_redis_queue_tcp(uint64_t n, int burst, double *wall)
{
	if (!bench_redis_tcp_port() || burst < 1 || burst > 32)
		return -1;
	g_burst = burst;
	double rate = bench_mp_all(rq_setup, rq_run, NULL, 2, n, wall);
	return rate < 0 ? rate : rate / 2;
}
