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
 * Redis: redis-server from Debian, started here on a Unix socket in a private
 * directory (no persistence), driven through hiredis, one connection per process;
 * `redis` sends one GET (or SET) per round trip, `redis_pipelined32` 32.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <shmrt.h>

#include <hiredis/hiredis.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

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

void dict_bench_value(uint64_t i, char out[64])
{
	memset(out, 'a' + (int)(i % 26), 64);
	memcpy(out, &i, sizeof(i));
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
		dict_bench_value(i, v);
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
		uint64_t x = xorshift(&w->seed), k = x % DICT_KEYS;
		if (w->mixed && (x >> 40) % 10 == 0) {
			dict_bench_value(i, v);
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

static double mp(void *(*setup)(int, void *), uint64_t (*run)(void *, uint64_t), void *arg,
		 int workers, uint64_t ops, double *wall)
{
	bench_mp_case_t c = { setup, run, arg, workers, ops };
	double rate = bench_mp_run(&c, wall);
	/* Every operation must have succeeded (hits only). */
	return rate > 0 && (uint64_t)(rate * *wall + 0.5) >= (uint64_t)workers * ops ? rate : -1;
}

double dict_shmrt(uint64_t ops, int workers, int mixed, double *wall)
{
	if (shmrt_ready())
		return -1;
	return mp(shmrt_setup, shmrt_run, mixed ? (void *)1 : NULL, workers, ops, wall);
}

/* ---- Redis ----------------------------------------------------------------------------- */

static pid_t redis_pid;
static char redis_dir[64], redis_sock[128];

static void redis_teardown(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
		redis_pid = 0;
		unlink(redis_sock);
		rmdir(redis_dir);
	}
}

static redisContext *redis_connect(void)
{
	redisContext *c = redisConnectUnix(redis_sock);
	if (!c || c->err) {
		if (c)
			redisFree(c);
		return NULL;
	}
	return c;
}

/* Sends n commands (GET, or SET for the marked ones) and reads n replies. */
static int redis_batch(redisContext *c, const uint64_t *k, const int *set, int n)
{
	char v[64];
	for (int i = 0; i < n; i++) {
		if (set[i]) {
			dict_bench_value(k[i], v);
			redisAppendCommand(c, "SET %b %b", keys[k[i]], (size_t)16, v, (size_t)64);
		} else {
			redisAppendCommand(c, "GET %b", keys[k[i]], (size_t)16);
		}
	}
	int ok = 0;
	for (int i = 0; i < n; i++) {
		redisReply *r;
		if (redisGetReply(c, (void **)&r) != REDIS_OK)
			return -1;
		ok += set[i] ? r->type == REDIS_REPLY_STATUS
			     : r->type == REDIS_REPLY_STRING && r->len == 64;
		freeReplyObject(r);
	}
	return ok;
}

/* Starts redis-server once per benchmark process (torn down at exit); the Manager's
 * peers (manager_bench.c) share it. Returns its socket's path, or NULL. */
const char *bench_redis_socket(void)
{
	if (redis_pid > 0)
		return redis_sock;
	snprintf(redis_dir, sizeof(redis_dir), "/tmp/shmrt-bench-redis-XXXXXX");
	if (!mkdtemp(redis_dir))
		return NULL;
	snprintf(redis_sock, sizeof(redis_sock), "%s/redis.sock", redis_dir);
	redis_pid = fork();
	if (redis_pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", redis_sock,
		       "--save", "", "--appendonly", "no", "--dir", redis_dir, (char *)NULL);
		_exit(127);
	}
	atexit(redis_teardown);
	redisContext *c = NULL;
	for (int i = 0; i < 500 && !c; i++) {
		usleep(10000);
		c = redis_connect();
	}
	if (!c)
		return NULL;
	redisFree(c);
	return redis_sock;
}

static int populated;

/* Redis with the million keys. */
static int redis_ready(void)
{
	if (populated)
		return 0;
	(void)dict_bench_key(0); /* the key table */
	redisContext *c = bench_redis_socket() ? redis_connect() : NULL;
	if (!c)
		return -1;
	uint64_t k[1000];
	int set[1000];
	for (int i = 0; i < 1000; i++)
		set[i] = 1;
	for (uint64_t base = 0; base < DICT_KEYS; base += 1000) {
		for (int i = 0; i < 1000; i++)
			k[i] = base + (uint64_t)i;
		if (redis_batch(c, k, set, 1000) != 1000) {
			redisFree(c);
			return -1;
		}
	}
	redisFree(c);
	populated = 1;
	return 0;
}

struct rstate {
	redisContext *c;
	uint64_t seed;
	int depth, mixed;
};

static uint64_t redis_run(void *st, uint64_t n)
{
	struct rstate *w = st;
	uint64_t k[32], ok = 0;
	int set[32];
	for (uint64_t i = 0; i < n; i += (uint64_t)w->depth) {
		for (int j = 0; j < w->depth; j++) {
			uint64_t x = xorshift(&w->seed);
			k[j] = x % DICT_KEYS;
			set[j] = w->mixed && (x >> 40) % 10 == 0;
		}
		int got = redis_batch(w->c, k, set, w->depth);
		if (got < 0)
			break;
		ok += (uint64_t)got;
	}
	return ok;
}

static int redis_depth, redis_mixed;

static void *redis_setup(int worker, void *arg)
{
	(void)arg;
	static struct rstate w;
	w.c = redis_connect();
	w.seed = 0x9e3779b97f4a7c15ull * (uint64_t)(worker + 1);
	w.depth = redis_depth;
	w.mixed = redis_mixed;
	return w.c ? &w : NULL;
}

double dict_redis(uint64_t ops, int workers, int mixed, int depth, double *wall)
{
	if (redis_ready())
		return -1;
	redis_depth = depth;
	redis_mixed = mixed;
	ops -= ops % (uint64_t)depth;
	return mp(redis_setup, redis_run, NULL, workers, ops, wall);
}
