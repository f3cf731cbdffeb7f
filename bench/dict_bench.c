/*
 * Bodies of the Dict benchmarks (issue 5): shmrt and the Redis peers. The work is
 * the same for every implementation: DICT_KEYS keys of 16 bytes ("k" + 15 digits),
 * values of 64 bytes, keys drawn uniformly at random (all hits); the mixed case does
 * 90% gets and 10% sets of existing keys. Boost's peer is in dict_boost.cc, Python's
 * in python/dict_manager.py.
 *
 * Populating a million keys takes a while in every implementation, so each is
 * populated once per benchmark process (lazily, by the first case that needs it) and
 * torn down at exit; the timed loops only read and overwrite.
 *
 * Redis (redis_bench.c, shared with the Manager cases): redis-server from Debian on a
 * Unix socket, driven through hiredis, one connection per process; `redis` sends one
 * GET (or SET) per round trip, `redis_pipelined32` 32.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <shmrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char (*keys)[16];

const char *dict_bench_key(uint64_t i)
{
	if (!keys) {
		keys = malloc(sizeof(*keys) * DICT_KEYS);
		char tmp[32];
		for (uint64_t k = 0; k < DICT_KEYS; k++) {
			snprintf(tmp, sizeof(tmp), "k%015llu", (unsigned long long)k);
			memcpy(keys[k], tmp, 16);
		}
	}
	return keys[i];
}

/* ---- shmrt -------------------------------------------------------------------------- */

static shmrt_region_t *dreg;
static shmrt_dict_t dict;
static char dname[64];

static void shmrt_teardown(void)
{
	if (dreg) {
		shmrt_region_close(dreg);
		(void)shmrt_region_unlink(dname);
	}
}

static int shmrt_ready(void)
{
	if (dreg)
		return 0;
	snprintf(dname, sizeof(dname), "shmrt-bench-dict-%d", (int)getpid());
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.size = 1ull << 30;
	if (shmrt_region_open(dname, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &dreg))
		return -1;
	atexit(shmrt_teardown);
	shmrt_dict_opts_t d = { .max_key = 16, .max_value = 64, .capacity = DICT_KEYS };
	if (shmrt_dict_open(dreg, "d", SHMRT_O_CREATE, &d, &dict))
		return -1;
	char v[64];
	for (uint64_t i = 0; i < DICT_KEYS; i++) {
		bench_value64(i, v);
		if (shmrt_dict_set(&dict, dict_bench_key(i), 16, v, 64))
			return -1;
	}
	return shmrt_dict_reclaim(&dict, 10000000000ll) ? -1 : 0;
}

struct wstate {
	uint64_t seed;
	int mixed;
};

static uint64_t shmrt_run(void *st, uint64_t n)
{
	struct wstate *w = st;
	char v[64];
	size_t len;
	uint64_t ok = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t x = bench_xorshift(&w->seed), k = x % DICT_KEYS;
		if (w->mixed && (x >> 40) % 10 == 0) {
			bench_value64(i, v);
			ok += shmrt_dict_set(&dict, keys[k], 16, v, 64) == 0;
		} else {
			ok += shmrt_dict_get(&dict, keys[k], 16, v, sizeof(v), &len) == 0 && len == 64;
		}
	}
	return ok; /* a failed operation makes the total fall short: the case fails */
}

static void *shmrt_setup(int worker, void *arg)
{
	static struct wstate w;
	w.seed = 0x9e3779b97f4a7c15ull * (uint64_t)(worker + 1);
	w.mixed = arg != NULL;
	return &w;
}

double dict_shmrt(uint64_t ops, int workers, int mixed, double *wall)
{
	if (shmrt_ready())
		return -1;
	return bench_mp_all(shmrt_setup, shmrt_run, mixed ? (void *)1 : NULL, workers, ops, wall);
}

/* ---- Redis (redis_bench.c) --------------------------------------------------------- */

double dict_redis(uint64_t ops, int workers, int mixed, int depth, double *wall)
{
	static int populated;
	(void)dict_bench_key(0); /* the key table */
	if (!populated && bench_redis_fill((const char (*)[16])keys, DICT_KEYS))
		return -1;
	populated = 1;
	return bench_redis_run((const char (*)[16])keys, DICT_KEYS, ops, workers, depth, mixed,
			       wall);
}
