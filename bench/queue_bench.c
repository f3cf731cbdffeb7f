/*
 * Queue benchmarks (issue 4): messages between processes, shmrt and its peers on the
 * same work. Every case forks its processes through bench_mp_run (pinned one per
 * core when they fit) and counts messages received per second of wall clock.
 * Peers: a bare ck_ring MPMC of 8-byte values (spin-only, the raw limit), pipe(2),
 * a Unix SOCK_SEQPACKET socketpair, POSIX mq; Boost's message_queue is in queue_boost.cc
 * (C++), Python's Queue in python/queue_1p1c.py, iceoryx's ping-pong in iox_bench.c.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <shmrt.h>

#include <ck_ec.h>
#include <ck_ring.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QCAP 1024 /* ring slots: the queue holds QCAP - 1 messages, as ck_ring */

/* ---- shmrt --------------------------------------------------------------------- */

struct qcase {
	char name[64];
	uint32_t msg;     /* bytes per message */
	int producers;    /* the first `producers` workers produce, the rest consume */
	int consumers;
	unsigned burst;   /* 0: single put/get */
};

struct qworker {
	shmrt_region_t *r;
	shmrt_queue_t q;
	struct qcase *c;
	int id;
	char *buf;
};

static void *q_setup(int w, void *arg)
{
	struct qcase *c = arg;
	struct qworker *x = calloc(1, sizeof(*x));
	x->c = c;
	x->id = w;
	x->buf = calloc(32, c->msg + 64);
	if (shmrt_region_open(c->name, 0, NULL, &x->r) ||
	    shmrt_queue_open(x->r, "q", 0, QCAP - 1, c->msg, &x->q))
		return NULL;
	return x;
}

static uint64_t q_run(void *st, uint64_t n)
{
	struct qworker *x = st;
	struct qcase *c = x->c;
	const int64_t T = 60000000000ll;
	if (x->id < c->producers) {
		uint64_t per = n / (uint64_t)c->producers;
		if (!c->burst) {
			for (uint64_t i = 0; i < per; i++)
				if (shmrt_queue_put(&x->q, x->buf, c->msg, T))
					abort();
		} else {
			const void *msgs[32];
			size_t lens[32];
			for (unsigned k = 0; k < c->burst; k++) {
				msgs[k] = x->buf + k * (c->msg + 64);
				lens[k] = c->msg;
			}
			for (uint64_t i = 0; i < per;) {
				unsigned want = per - i < c->burst ? (unsigned)(per - i) : c->burst;
				int got = shmrt_queue_put_burst(&x->q, msgs, lens, want, T);
				if (got <= 0)
					abort();
				i += (uint64_t)got;
			}
		}
		return 0;
	}
	uint64_t total = n / (uint64_t)c->producers * (uint64_t)c->producers, got = 0;
	uint64_t mine = total / (uint64_t)c->consumers;
	if (x->id - c->producers == c->consumers - 1)
		mine = total - mine * (uint64_t)(c->consumers - 1);
	size_t len;
	if (!c->burst) {
		for (; got < mine; got++)
			if (shmrt_queue_get(&x->q, x->buf, c->msg, &len, T))
				abort();
	} else {
		void *bufs[32];
		size_t lens[32];
		for (unsigned k = 0; k < c->burst; k++)
			bufs[k] = x->buf + k * (c->msg + 64);
		while (got < mine) {
			unsigned want = mine - got < c->burst ? (unsigned)(mine - got) : c->burst;
			int k = shmrt_queue_get_burst(&x->q, bufs, c->msg, lens, want, T);
			if (k <= 0)
				abort();
			got += (uint64_t)k;
		}
	}
	return got;
}

double queue_shmrt(uint64_t n, uint32_t msg, int P, int C, unsigned burst, double *wall)
{
	struct qcase c = { .msg = msg, .producers = P, .consumers = C, .burst = burst };
	snprintf(c.name, sizeof(c.name), "shmrt-bench-q-%d", (int)getpid());
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.size = (uint64_t)QCAP * (msg + 128) + (32 << 20);
	o.flags = SHMRT_REGION_AUTO_UNLINK;
	shmrt_region_t *r;
	shmrt_queue_t q;
	if (shmrt_region_open(c.name, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r) ||
	    shmrt_queue_open(r, "q", SHMRT_O_CREATE, QCAP - 1, msg, &q))
		return -1;
	bench_mp_case_t mc = { q_setup, q_run, &c, P + C, n };
	double rate = bench_mp_run(&mc, wall);
	shmrt_region_close(r);
	return rate;
}

/* ---- bare ck_ring MPMC of 8-byte values (spin-only) ------------------------------ */

struct rawring {
	struct ck_ring ring;
	struct ck_ring_buffer buf[QCAP];
};

static uint64_t ring_run(void *st, uint64_t n)
{
	struct rawring *rr = (struct rawring *)((uintptr_t)st & ~(uintptr_t)1);
	int producer = (int)((uintptr_t)st & 1);
	if (producer) {
		for (uint64_t i = 1; i <= n; i++)
			while (!ck_ring_enqueue_mpmc(&rr->ring, rr->buf, (void *)(uintptr_t)i))
				ck_pr_stall();
		return 0;
	}
	void *v;
	for (uint64_t i = 0; i < n; i++)
		while (!ck_ring_dequeue_mpmc(&rr->ring, rr->buf, &v))
			ck_pr_stall();
	return n;
}

static void *ring_setup(int w, void *arg)
{
	return (void *)((uintptr_t)arg | (w == 0));
}

double queue_ck_ring_raw(uint64_t n, double *wall)
{
	struct rawring *rr = mmap(NULL, sizeof(*rr), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rr == MAP_FAILED)
		return -1;
	ck_ring_init(&rr->ring, QCAP);
	bench_mp_case_t mc = { ring_setup, ring_run, rr, 2, n };
	double rate = bench_mp_run(&mc, wall);
	munmap(rr, sizeof(*rr));
	return rate;
}

/* ---- fd peers: pipe, Unix seqpacket socket ---------------------------------------- */

struct fdcase {
	int fds[2];
	uint32_t msg;
	int stream; /* pipe: a stream, read until a message is complete */
};

static void *fd_setup(int w, void *arg)
{
	struct fdcase *c = arg;
	struct fdcase *x = malloc(sizeof(*x) + 2 * c->msg);
	*x = *c;
	x->fds[0] = w == 0 ? c->fds[1] : -1; /* producer writes fds[1] */
	x->fds[1] = w == 1 ? c->fds[0] : -1; /* consumer reads fds[0] */
	return x;
}

static uint64_t fd_run(void *st, uint64_t n)
{
	struct fdcase *x = st;
	char *buf = (char *)(x + 1);
	if (x->fds[0] >= 0) {
		for (uint64_t i = 0; i < n; i++)
			if (write(x->fds[0], buf, x->msg) != (ssize_t)x->msg)
				abort();
		return 0;
	}
	for (uint64_t i = 0; i < n; i++) {
		size_t have = 0;
		do {
			ssize_t k = read(x->fds[1], buf + have, x->msg - have);
			if (k <= 0)
				abort();
			have += (size_t)k;
		} while (x->stream && have < x->msg);
	}
	return n;
}

double queue_fd_peer(uint64_t n, uint32_t msg, int unix_socket, double *wall)
{
	struct fdcase c = { .msg = msg, .stream = !unix_socket };
	if (unix_socket ? socketpair(AF_UNIX, SOCK_SEQPACKET, 0, c.fds) : pipe(c.fds))
		return -1;
	if (unix_socket) { /* room for a burst of messages, as the queue has */
		int sz = 4 << 20;
		setsockopt(c.fds[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(c.fds[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	bench_mp_case_t mc = { fd_setup, fd_run, &c, 2, n };
	double rate = bench_mp_run(&mc, wall);
	close(c.fds[0]);
	close(c.fds[1]);
	return rate;
}

/* ---- POSIX mq ----------------------------------------------------------------------- */

struct mqcase {
	char name[64];
	uint32_t msg;
};

static void *mq_setup(int w, void *arg)
{
	struct mqcase *c = arg;
	mqd_t m = mq_open(c->name, w == 0 ? O_WRONLY : O_RDONLY);
	if (m == (mqd_t)-1)
		return NULL;
	uintptr_t *x = malloc(2 * sizeof(uintptr_t) + c->msg + 64);
	x[0] = (uintptr_t)m | ((uintptr_t)(w == 0) << 31);
	x[1] = c->msg;
	return x;
}

static uint64_t mq_run(void *st, uint64_t n)
{
	uintptr_t *x = st;
	mqd_t m = (mqd_t)(x[0] & 0x7fffffff);
	char *buf = (char *)(x + 2);
	if (x[0] >> 31) {
		for (uint64_t i = 0; i < n; i++)
			if (mq_send(m, buf, x[1], 0))
				abort();
		return 0;
	}
	for (uint64_t i = 0; i < n; i++)
		if (mq_receive(m, buf, x[1] + 64, NULL) < 0)
			abort();
	return n;
}

double queue_posix_mq(uint64_t n, uint32_t msg, double *wall)
{
	struct mqcase c = { .msg = msg };
	snprintf(c.name, sizeof(c.name), "/shmrt-bench-mq-%d", (int)getpid());
	struct mq_attr a = { .mq_maxmsg = 10, .mq_msgsize = msg + 64 }; /* 10: the default limit */
	mq_unlink(c.name);
	mqd_t m = mq_open(c.name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
	if (m == (mqd_t)-1)
		return -1;
	bench_mp_case_t mc = { mq_setup, mq_run, &c, 2, n };
	double rate = bench_mp_run(&mc, wall);
	mq_close(m);
	mq_unlink(c.name);
	return rate;
}

/* ---- round trips -------------------------------------------------------------- */

struct ppcase {
	char name[64];
	uint32_t flag[2]; /* raw peers: 0 = ping's turn ... */
	int mode;         /* enum pingpong_mode (harness.h) */
	int fds[4];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double pingpong_us(int mode, uint64_t rounds)
{
	struct ppcase *c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				-1, 0);
	if (c == MAP_FAILED)
		return -1;
	c->mode = mode;
	shmrt_region_t *r = NULL;
	shmrt_queue_t a, b;
	shmrt_pipe_t pe;
	if (mode == PP_SHMRT || mode == PP_SHMRT_SPSC || mode == PP_SHMRT_PIPE) {
		int qm = mode == PP_SHMRT_SPSC ? SHMRT_QUEUE_SP | SHMRT_QUEUE_SC : 0;
		snprintf(c->name, sizeof(c->name), "shmrt-bench-pp-%d", (int)getpid());
		shmrt_region_opts_t o;
		shmrt_region_opts_init(&o);
		o.size = 8 << 20;
		o.flags = SHMRT_REGION_AUTO_UNLINK;
		if (shmrt_region_open(c->name, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r) ||
		    shmrt_queue_open(r, "a", SHMRT_O_CREATE | qm, 16, 64, &a) ||
		    shmrt_queue_open(r, "b", SHMRT_O_CREATE | qm, 16, 64, &b) ||
		    shmrt_pipe_open(r, "p", SHMRT_O_CREATE, 0, 16, 64, &pe))
			return -1;
	} else if (mode == PP_PIPE) {
		if (pipe(c->fds) || pipe(c->fds + 2))
			return -1;
	}
	char msg[64] = { 0 };
	size_t len;
	pid_t pid = fork();
	if (pid == 0) {
		(void)shmrt_pin_core(1 % shmrt_numa_cores(), SHMRT_PIN_PROCESS);
		if (mode == PP_SHMRT_PIPE && shmrt_pipe_open(r, "p", 0, 1, 16, 64, &pe))
			_exit(1);
		for (uint64_t i = 0; i < rounds; i++) {
			switch (mode) {
			case PP_SHMRT:
			case PP_SHMRT_SPSC:
				if (shmrt_queue_get(&a, msg, sizeof(msg), &len, -1) ||
				    shmrt_queue_put(&b, msg, 64, -1))
					_exit(1);
				break;
			case PP_SPIN_RAW:
				while (__atomic_load_n(&c->flag[0], __ATOMIC_ACQUIRE) != i + 1)
					ck_pr_stall();
				__atomic_store_n(&c->flag[1], (uint32_t)(i + 1), __ATOMIC_RELEASE);
				break;
			case PP_FUTEX_RAW: {
				uint32_t v;
				while ((v = __atomic_load_n(&c->flag[0], __ATOMIC_ACQUIRE)) != i + 1)
					syscall(SYS_futex, &c->flag[0], FUTEX_WAIT, v, NULL, NULL, 0);
				__atomic_store_n(&c->flag[1], (uint32_t)(i + 1), __ATOMIC_RELEASE);
				syscall(SYS_futex, &c->flag[1], FUTEX_WAKE, 1, NULL, NULL, 0);
				break;
			}
			case PP_PIPE:
				if (read(c->fds[0], msg, 64) != 64 || write(c->fds[3], msg, 64) != 64)
					_exit(1);
				break;
			case PP_SHMRT_PIPE:
				if (shmrt_pipe_recv(&pe, msg, sizeof(msg), &len, -1) ||
				    shmrt_pipe_send(&pe, msg, 64, -1))
					_exit(1);
				break;
			}
		}
		_exit(0);
	}
	(void)shmrt_pin_core(0, SHMRT_PIN_THREAD);
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < rounds; i++) {
		switch (mode) {
		case PP_SHMRT:
		case PP_SHMRT_SPSC:
			if (shmrt_queue_put(&a, msg, 64, -1) ||
			    shmrt_queue_get(&b, msg, sizeof(msg), &len, -1))
				abort();
			break;
		case PP_SPIN_RAW:
			__atomic_store_n(&c->flag[0], (uint32_t)(i + 1), __ATOMIC_RELEASE);
			while (__atomic_load_n(&c->flag[1], __ATOMIC_ACQUIRE) != i + 1)
				ck_pr_stall();
			break;
		case PP_FUTEX_RAW: {
			__atomic_store_n(&c->flag[0], (uint32_t)(i + 1), __ATOMIC_RELEASE);
			syscall(SYS_futex, &c->flag[0], FUTEX_WAKE, 1, NULL, NULL, 0);
			uint32_t v;
			while ((v = __atomic_load_n(&c->flag[1], __ATOMIC_ACQUIRE)) != i + 1)
				syscall(SYS_futex, &c->flag[1], FUTEX_WAIT, v, NULL, NULL, 0);
			break;
		}
		case PP_PIPE:
			if (write(c->fds[1], msg, 64) != 64 || read(c->fds[2], msg, 64) != 64)
				abort();
			break;
		case PP_SHMRT_PIPE:
			if (shmrt_pipe_send(&pe, msg, 64, -1) ||
			    shmrt_pipe_recv(&pe, msg, sizeof(msg), &len, -1))
				abort();
			break;
		}
	}
	double us = (double)(now_ns() - t0) / (double)rounds / 1000.0;
	int st;
	waitpid(pid, &st, 0);
	cpu_set_t all;
	CPU_ZERO(&all);
	for (int i = 0; i < shmrt_numa_cores(); i++)
		CPU_SET(i, &all);
	sched_setaffinity(0, sizeof(all), &all);
	if (r)
		shmrt_region_close(r);
	if (mode == PP_PIPE)
		for (int i = 0; i < 4; i++)
			close(c->fds[i]);
	munmap(c, sizeof(*c));
	return st == 0 ? us : -1;
}

/* ---- pipe/1p1c/64B: shmrt Pipe vs bare SPSC rings ----------------------------------
 * Peers: ck_ring's SPSC ring of 8-byte values (8 messages per cache line), and a bare
 * SPSC ring of 64-byte messages with shmrt's slot layout and none of its checks, waits
 * or wakes (spsc_64B_raw): one cache line per message must move between the cores,
 * so this is the limit for the message size of the case. */

struct pipecase {
	char name[64];
	int call; /* 1: the library's calls, not the inline fast paths */
};

static void *pipe_setup(int w, void *arg)
{
	struct pipecase *c = arg;
	shmrt_region_t *r;
	shmrt_pipe_t *p = calloc(1, sizeof(*p) + 128);
	if (shmrt_region_open(c->name, 0, NULL, &r) || shmrt_pipe_open(r, "p", 0, w, 1024, 64, p))
		return NULL;
	if (c->call)
		p = (shmrt_pipe_t *)((uintptr_t)p | 1);
	return p;
}

/* shmrt_pipe_send is a macro over the inline fast path; (shmrt_pipe_send) is the
 * library's function. */
#define PIPE_LOOP(p, buf, n, SEND, RECV)                                                \
	do {                                                                            \
		size_t len_;                                                            \
		if ((p)->end == 0) {                                                    \
			for (uint64_t i = 0; i < (n); i++)                              \
				if (SEND(p, buf, 64, 60000000000ll))                    \
					abort();                                        \
			return 0;                                                       \
		}                                                                       \
		for (uint64_t i = 0; i < (n); i++)                                      \
			if (RECV(p, buf, 128, &len_, 60000000000ll))                    \
				abort();                                                \
		return (n);                                                             \
	} while (0)

static uint64_t pipe_run(void *st, uint64_t n)
{
	shmrt_pipe_t *p = (shmrt_pipe_t *)((uintptr_t)st & ~(uintptr_t)1);
	char *buf = (char *)(p + 1);
	if ((uintptr_t)st & 1)
		PIPE_LOOP(p, buf, n, (shmrt_pipe_send), (shmrt_pipe_recv));
	PIPE_LOOP(p, buf, n, shmrt_pipe_send, shmrt_pipe_recv);
}

static double pipe_case(uint64_t n, double *wall, int call)
{
	struct pipecase c = { .call = call };
	snprintf(c.name, sizeof(c.name), "shmrt-bench-pipe-%d", (int)getpid());
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.size = 32 << 20;
	o.flags = SHMRT_REGION_AUTO_UNLINK;
	shmrt_region_t *r;
	shmrt_pipe_t p;
	if (shmrt_region_open(c.name, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r) ||
	    shmrt_pipe_open(r, "p", SHMRT_O_CREATE, 0, 1024, 64, &p))
		return -1;
	bench_mp_case_t mc = { pipe_setup, pipe_run, &c, 2, n };
	double rate = bench_mp_run(&mc, wall);
	shmrt_region_close(r);
	return rate;
}

double pipe_shmrt(uint64_t n, double *wall)
{
	return pipe_case(n, wall, 0);
}

double pipe_shmrt_call(uint64_t n, double *wall)
{
	return pipe_case(n, wall, 1);
}

static uint64_t spsc_run(void *st, uint64_t n)
{
	struct rawring *rr = (struct rawring *)((uintptr_t)st & ~(uintptr_t)1);
	if ((uintptr_t)st & 1) {
		for (uint64_t i = 1; i <= n; i++)
			while (!ck_ring_enqueue_spsc(&rr->ring, rr->buf, (void *)(uintptr_t)i))
				ck_pr_stall();
		return 0;
	}
	void *v;
	for (uint64_t i = 0; i < n; i++)
		while (!ck_ring_dequeue_spsc(&rr->ring, rr->buf, &v))
			ck_pr_stall();
	return n;
}

double pipe_ck_ring_spsc_raw(uint64_t n, double *wall)
{
	struct rawring *rr = mmap(NULL, sizeof(*rr), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rr == MAP_FAILED)
		return -1;
	ck_ring_init(&rr->ring, QCAP);
	bench_mp_case_t mc = { ring_setup, spsc_run, rr, 2, n };
	double rate = bench_mp_run(&mc, wall);
	munmap(rr, sizeof(*rr));
	return rate;
}

/* spsc_64B_raw: 72-byte slots (sequence word, length, payload), the sender copies the
 * message in and store-releases the sequence, the receiver polls the sequence and
 * copies out; head is read by the sender only when the ring looks full.
 * spsc_64B_ck_ec: the same ring, woken through a ck_ec event count as the issue first
 * had it: the sender increments the count after each message in ck_ec's
 * multi-producer mode (a locked increment, what every producer of an MPMC queue
 * would do), and a receiver that finds the ring empty polls the count, as
 * ck_ec32_wait does before it sleeps. */
#define RAW64_SLOT 72
struct raw64 {
	_Alignas(64) uint32_t head;
	_Alignas(64) struct ck_ec32 ec;
	_Alignas(64) char slots[QCAP * RAW64_SLOT];
};

static const struct ck_ec_ops raw64_ec_ops = { 0 }; /* never sleeps: no wake is needed */

static inline void raw64_event(struct raw64 *r, int ec)
{
	static const struct ck_ec_mode mp = { .ops = &raw64_ec_ops, .single_producer = false };
	if (ec)
		ck_ec32_inc(&r->ec, &mp);
}

static uint64_t raw64_loop(struct raw64 *r, int sender, uint64_t n, int ec)
{
	char msg[64];
	memset(msg, 7, sizeof(msg));
	if (sender) {
		uint32_t head = 0;
		for (uint32_t t = 0; t < (uint32_t)n; t++) {
			while (t - head >= QCAP)
				if (t - (head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE)) >= QCAP)
					ck_pr_stall();
			char *s = r->slots + (t & (QCAP - 1)) * RAW64_SLOT;
			memcpy(s + 8, msg, 64);
			__atomic_store_n((uint32_t *)(void *)(s + 4), 64, __ATOMIC_RELAXED);
			__atomic_store_n((uint32_t *)(void *)s, t + 1, __ATOMIC_RELEASE);
			raw64_event(r, ec);
		}
		return 0;
	}
	for (uint32_t h = 0; h < (uint32_t)n; h++) {
		char *s = r->slots + (h & (QCAP - 1)) * RAW64_SLOT;
		while (__atomic_load_n((uint32_t *)(void *)s, __ATOMIC_ACQUIRE) != h + 1) {
			if (ec)
				(void)ck_ec32_value(&r->ec);
			ck_pr_stall();
		}
		uint32_t len = __atomic_load_n((uint32_t *)(void *)(s + 4), __ATOMIC_RELAXED);
		memcpy(msg, s + 8, len > 64 ? 64 : len);
		__asm__ __volatile__("" : : "r"(msg) : "memory"); /* the copy is used */
		__atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
	}
	return n;
}

static uint64_t raw64_run(void *st, uint64_t n)
{
	return raw64_loop((struct raw64 *)((uintptr_t)st & ~(uintptr_t)1), (uintptr_t)st & 1, n, 0);
}

static uint64_t raw64_ec_run(void *st, uint64_t n)
{
	return raw64_loop((struct raw64 *)((uintptr_t)st & ~(uintptr_t)1), (uintptr_t)st & 1, n, 1);
}

static double raw64_case(uint64_t n, double *wall, uint64_t (*run)(void *, uint64_t))
{
	struct raw64 *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return -1;
	ck_ec32_init(&r->ec, 0);
	for (uint32_t i = 0; i < QCAP; i++) /* free: the previous lap's sequence */
		*(uint32_t *)(void *)(r->slots + i * RAW64_SLOT) = i + 1 - QCAP;
	bench_mp_case_t mc = { ring_setup, run, r, 2, n };
	double rate = bench_mp_run(&mc, wall);
	munmap(r, sizeof(*r));
	return rate;
}

double pipe_spsc_64B_ck_ec(uint64_t n, double *wall)
{
	return raw64_case(n, wall, raw64_ec_run);
}

double pipe_spsc_64B_raw(uint64_t n, double *wall)
{
	return raw64_case(n, wall, raw64_run);
}
