/*
 * Allocation benchmarks: alloc+free pairs of 64 B blocks.
 *  - shmrt: shmrt_alloc/shmrt_free in a 256 MiB region (per-thread cache path);
 *  - glibc_malloc: malloc/free in the process (tcache), the in-process reference;
 *  - boost_interprocess is in alloc_boost.cc (a C++ library).
 * The 2-process cases run the same loop in two forked processes on one region.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <shmrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SIZE 64

struct actx {
	shmrt_region_t *r;
	char name[64];
};

void *alloc_shmrt_open(void)
{
	struct actx *c = calloc(1, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "shmrt-bench-alloc-%d", (int)getpid());
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.size = 256 << 20;
	o.flags = SHMRT_REGION_AUTO_UNLINK;
	if (shmrt_region_open(c->name, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &c->r)) {
		free(c);
		return NULL;
	}
	return c;
}

uint64_t alloc_shmrt_loop(void *ctx, uint64_t n)
{
	struct actx *c = ctx;
	shmrt_off_t off;
	uint64_t sink = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (shmrt_alloc(c->r, SIZE, &off))
			abort();
		sink += off;
		shmrt_free(c->r, off);
	}
	__asm__ __volatile__("" ::"r"(sink));
	return n;
}

void alloc_shmrt_close(void *ctx)
{
	struct actx *c = ctx;
	if (!c)
		return;
	shmrt_region_close(c->r);
	free(c);
}

uint64_t alloc_glibc_loop(void *ctx, uint64_t n)
{
	(void)ctx;
	for (uint64_t i = 0; i < n; i++) {
		void *p = malloc(SIZE);
		__asm__ __volatile__("" ::"r"(p) : "memory");
		free(p);
	}
	return n;
}

static void *shmrt_worker_setup(int worker, void *arg)
{
	(void)worker;
	struct actx *c = arg;
	/* Attach by name like an independent worker would (the forked handle would
	 * work too); warm the cache so the first refill is not timed. */
	struct actx *w = calloc(1, sizeof(*w));
	if (shmrt_region_open(c->name, 0, NULL, &w->r))
		return NULL;
	alloc_shmrt_loop(w, 1000);
	return w;
}

double alloc_shmrt_2proc(uint64_t ops, double *wall)
{
	struct actx *c = alloc_shmrt_open();
	if (!c)
		return -1;
	bench_mp_case_t mc = { shmrt_worker_setup, alloc_shmrt_loop, c, 2, ops };
	double rate = bench_mp_run(&mc, wall);
	alloc_shmrt_close(c);
	return rate;
}

double alloc_glibc_2proc(uint64_t ops, double *wall)
{
	bench_mp_case_t mc = { NULL, alloc_glibc_loop, (void *)1, 2, ops };
	return bench_mp_run(&mc, wall);
}
