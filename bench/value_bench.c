/*
 * Bodies of the Value, Counter, lock and Array benchmarks (issue 3). Each shmrt case
 * has its peers here (or in value_boost.cc for Boost, python/ for Python), run on
 * the same work:
 *  - value/fetch_add/1proc: shmrt_value_fetch_add_i64 vs C11 atomic_fetch_add on the
 *    same shared cell (raw_atomic);
 *  - counter/add/2proc: the striped Counter vs both processes on one atomic word;
 *  - value/locked_add/2proc: the Value's robust lock vs a raw robust pthread mutex;
 *  - array/snapshot/8MiB and array/read_under_writer/8MiB vs memcpy.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <shmrt.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static shmrt_region_t *bench_region(char *name, size_t cap, size_t size)
{
	snprintf(name, cap, "shmrt-bench-%d-%ld", (int)getpid(), (long)(now_ns() % 100000));
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.size = size;
	o.flags = SHMRT_REGION_AUTO_UNLINK;
	shmrt_region_t *r = NULL;
	if (shmrt_region_open(name, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r))
		return NULL;
	return r;
}

/* ---- value/fetch_add/1proc ----------------------------------------------------- */

struct vctx {
	shmrt_region_t *r;
	shmrt_value_t v;
	shmrt_counter_t c;
	char name[64];
};

void *value_open(void)
{
	struct vctx *c = calloc(1, sizeof(*c));
	c->r = bench_region(c->name, sizeof(c->name), 16 << 20);
	if (!c->r || shmrt_value_open(c->r, "v", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &c->v) ||
	    shmrt_counter_open(c->r, "c", SHMRT_O_CREATE, &c->c)) {
		free(c);
		return NULL;
	}
	return c;
}

void value_close(void *ctx)
{
	struct vctx *c = ctx;
	shmrt_region_close(c->r);
	free(c);
}

uint64_t value_fetch_add_loop(void *ctx, uint64_t n)
{
	struct vctx *c = ctx;
	for (uint64_t i = 0; i < n; i++)
		(void)shmrt_value_fetch_add_i64(&c->v, 1, NULL);
	return n;
}

uint64_t raw_atomic_loop(void *ctx, uint64_t n)
{
	struct vctx *c = ctx;
	_Atomic int64_t *cell = c->v.cell; /* the same shared cell */
	for (uint64_t i = 0; i < n; i++)
		atomic_fetch_add(cell, 1);
	return n;
}

/* ---- counter/add/2proc ---------------------------------------------------------- */

static void *counter_setup(int w, void *arg)
{
	(void)w;
	struct vctx *c = arg, *m = calloc(1, sizeof(*m));
	if (shmrt_region_open(c->name, 0, NULL, &m->r) || shmrt_counter_open(m->r, "c", 0, &m->c))
		return NULL;
	return m;
}

static uint64_t counter_run(void *st, uint64_t n)
{
	struct vctx *m = st;
	for (uint64_t i = 0; i < n; i++)
		shmrt_counter_add(&m->c, 1);
	return n;
}

double counter_2proc(uint64_t ops, double *wall)
{
	struct vctx *c = value_open();
	if (!c)
		return -1;
	bench_mp_case_t mc = { counter_setup, counter_run, c, 2, ops };
	double rate = bench_mp_run(&mc, wall);
	if (rate > 0 && shmrt_counter_read(&c->c) != (int64_t)(2 * ops))
		rate = -1; /* every add must be there */
	value_close(c);
	return rate;
}

static uint64_t contended_run(void *st, uint64_t n)
{
	_Atomic int64_t *cell = st;
	for (uint64_t i = 0; i < n; i++)
		atomic_fetch_add_explicit(cell, 1, memory_order_relaxed);
	return n;
}

double raw_atomic_contended_2proc(uint64_t ops, double *wall)
{
	_Atomic int64_t *cell = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				     -1, 0);
	if (cell == MAP_FAILED)
		return -1;
	bench_mp_case_t mc = { NULL, contended_run, (void *)cell, 2, ops };
	double rate = bench_mp_run(&mc, wall);
	munmap((void *)cell, 4096);
	return rate;
}

/* ---- value/locked_add/2proc ------------------------------------------------------ */

static void *locked_setup(int w, void *arg)
{
	(void)w;
	struct vctx *c = arg, *m = calloc(1, sizeof(*m));
	if (shmrt_region_open(c->name, 0, NULL, &m->r) ||
	    shmrt_value_open(m->r, "v", 0, SHMRT_VT_INT64, NULL, &m->v))
		return NULL;
	return m;
}

static uint64_t locked_run(void *st, uint64_t n)
{
	struct vctx *m = st;
	for (uint64_t i = 0; i < n; i++) {
		int64_t x;
		if (shmrt_value_lock(&m->v, -1))
			abort();
		/* Under the lock, relaxed accesses suffice: the unlock publishes. */
		(void)shmrt_value_get_i64_relaxed(&m->v, &x);
		(void)shmrt_value_set_i64_relaxed(&m->v, x + 1);
		shmrt_value_unlock(&m->v);
	}
	return n;
}

double locked_add_2proc(uint64_t ops, double *wall)
{
	struct vctx *c = value_open();
	if (!c)
		return -1;
	bench_mp_case_t mc = { locked_setup, locked_run, c, 2, ops };
	double rate = bench_mp_run(&mc, wall);
	int64_t x = 0;
	(void)shmrt_value_get_i64(&c->v, &x);
	if (rate > 0 && x != (int64_t)(2 * ops))
		rate = -1;
	value_close(c);
	return rate;
}

struct raw_locked {
	pthread_mutex_t m;
	int64_t v;
};

static uint64_t raw_locked_run(void *st, uint64_t n)
{
	struct raw_locked *s = st;
	for (uint64_t i = 0; i < n; i++) {
		if (pthread_mutex_lock(&s->m))
			abort();
		s->v++;
		pthread_mutex_unlock(&s->m);
	}
	return n;
}

double pthread_robust_mutex_2proc(uint64_t ops, double *wall)
{
	struct raw_locked *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				    -1, 0);
	if (s == MAP_FAILED)
		return -1;
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&s->m, &a);
	bench_mp_case_t mc = { NULL, raw_locked_run, s, 2, ops };
	double rate = bench_mp_run(&mc, wall);
	if (rate > 0 && s->v != (int64_t)(2 * ops))
		rate = -1;
	munmap(s, 4096);
	return rate;
}

/* ---- array/snapshot/8MiB and array/read_under_writer/8MiB ------------------------ */

#define AN (1u << 20) /* doubles: 8 MiB */

struct actx {
	shmrt_region_t *r;
	shmrt_array_t a;
	double *buf;
	char name[64];
};

void *array_open(void)
{
	struct actx *c = calloc(1, sizeof(*c));
	c->r = bench_region(c->name, sizeof(c->name), 64 << 20);
	c->buf = malloc(AN * sizeof(double));
	if (!c->r || shmrt_array_open(c->r, "a", SHMRT_O_CREATE, SHMRT_VT_DOUBLE, AN, NULL,
				      &c->a)) {
		free(c);
		return NULL;
	}
	memset(shmrt_array_data(&c->a), 1, AN * sizeof(double));
	memset(c->buf, 2, AN * sizeof(double));
	return c;
}

void array_close(void *ctx)
{
	struct actx *c = ctx;
	shmrt_region_close(c->r);
	free(c->buf);
	free(c);
}

uint64_t array_bytes(void)
{
	return AN * sizeof(double);
}

void array_snapshot_once(void *ctx)
{
	struct actx *c = ctx;
	if (shmrt_array_snapshot(&c->a, 0, c->buf, AN))
		abort();
}

void array_read_once(void *ctx)
{
	struct actx *c = ctx;
	if (shmrt_array_read(&c->a, 0, c->buf, AN))
		abort();
}

void memcpy_once(void *ctx)
{
	struct actx *c = ctx;
	memcpy(c->buf, shmrt_array_data(&c->a), AN * sizeof(double));
	__asm__ __volatile__("" ::"r"(c->buf) : "memory");
}

/* Starts a process that rewrites the array stripe by stripe (4 KiB each) until
 * killed; returns its pid. */
pid_t array_start_writer(void *ctx)
{
	struct actx *c = ctx;
	pid_t pid = fork();
	if (pid == 0) {
		shmrt_region_t *r;
		shmrt_array_t a;
		if (shmrt_region_open(c->name, 0, NULL, &r) ||
		    shmrt_array_open(r, "a", 0, SHMRT_VT_DOUBLE, AN, NULL, &a))
			_exit(1);
		static double stripe[512];
		for (uint64_t v = 0;; v++) {
			for (int i = 0; i < 512; i++)
				stripe[i] = (double)v;
			for (uint64_t off = 0; off < AN; off += 512)
				(void)shmrt_array_write(&a, off, stripe, 512);
		}
	}
	usleep(20000); /* let it start writing */
	return pid;
}

void array_stop_writer(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
