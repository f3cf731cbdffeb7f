/*
 * Redis, the peer of the Dict and Manager cases (dict_bench.c, manager_bench.c): the
 * server, started once per benchmark process, and the one driver both use.
 *
 * redis-server from Debian runs on a Unix socket in a private directory (no
 * persistence) and is stopped at exit. A case names its key table (keys of 16 bytes)
 * and its size: bench_redis_fill sets every key once (values of 64 bytes,
 * bench_value64), bench_redis_run then forks the clients, one hiredis connection
 * each, that draw keys uniformly at random (all hits) and send `depth` commands per
 * round trip (1: `redis`; 32: `redis_pipelined32`), GETs, or 10% SETs when mixed.
 * Every reply is checked; a wrong one makes the total fall short and the case fail.
 *
 * The remote cases (remote_bench.c) need Redis over TCP, as their shmrt side runs:
 * bench_redis_tcp_port starts a second redis-server bound to 127.0.0.1 on a free
 * port (one the kernel picked for a socket just closed), stopped at exit as the first.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t redis_pid, redis_tcp_pid;
static char redis_dir[64], redis_sock[128];
static int redis_port;

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

static void redis_tcp_teardown(void)
{
	if (redis_tcp_pid > 0) {
		kill(redis_tcp_pid, SIGTERM);
		waitpid(redis_tcp_pid, NULL, 0);
		redis_tcp_pid = 0;
	}
}

/* A loopback TCP port free a moment ago (the kernel's pick), or 0. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t n = sizeof(a);
	int port = 0;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &n) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

redisContext *bench_redis_tcp_connect(void)
{
	redisContext *c = redis_port ? redisConnect("127.0.0.1", redis_port) : NULL;
	if (!c || c->err) {
		if (c)
			redisFree(c);
		return NULL;
	}
	int one = 1;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c;
}

int bench_redis_tcp_port(void)
{
	if (redis_tcp_pid > 0)
		return redis_port;
	char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/shmrt-bench-redis-tcp-XXXXXX");
	if (!mkdtemp(dir))
		return 0;
	for (int attempt = 0; attempt < 5; attempt++) {
		int port = free_port();
		char ps[16];
		snprintf(ps, sizeof(ps), "%d", port);
		redis_tcp_pid = fork();
		if (redis_tcp_pid == 0) {
			int devnull = open("/dev/null", O_WRONLY);
			dup2(devnull, 1);
			execlp("redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1",
			       "--save", "", "--appendonly", "no", "--dir", dir, (char *)NULL);
			_exit(127);
		}
		redis_port = port;
		redisContext *c = NULL;
		for (int i = 0; i < 300 && !c; i++) {
			usleep(10000);
			c = bench_redis_tcp_connect();
			if (!c && waitpid(redis_tcp_pid, NULL, WNOHANG) == redis_tcp_pid)
				break; /* the port was taken meanwhile: another one */
		}
		if (c) {
			redisFree(c);
			static int once;
			if (!once++)
				atexit(redis_tcp_teardown);
			rmdir(dir); /* nothing is written there (no persistence) */
			return port;
		}
		redis_tcp_teardown();
		redis_port = 0;
	}
	rmdir(dir);
	return 0;
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

/* Sends n commands (GET, or SET for the marked ones) and reads n replies; returns the
 * replies that were right, or -1 if the connection failed. */
static int redis_batch(redisContext *c, const char (*keys)[16], const uint64_t *k,
		       const int *set, int n)
{
	char v[64];
	for (int i = 0; i < n; i++) {
		if (set[i]) {
			bench_value64(k[i], v);
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

int bench_redis_fill(const char (*keys)[16], uint64_t nkeys)
{
	redisContext *c = bench_redis_socket() ? redis_connect() : NULL;
	if (!c)
		return -1;
	uint64_t k[1000];
	int set[1000];
	for (int i = 0; i < 1000; i++)
		set[i] = 1;
	for (uint64_t base = 0; base < nkeys; base += 1000) {
		int n = nkeys - base < 1000 ? (int)(nkeys - base) : 1000;
		for (int i = 0; i < n; i++)
			k[i] = base + (uint64_t)i;
		if (redis_batch(c, keys, k, set, n) != n) {
			redisFree(c);
			return -1;
		}
	}
	redisFree(c);
	return 0;
}

struct rstate {
	redisContext *c;
	const char (*keys)[16];
	uint64_t nkeys, seed;
	int depth, mixed;
};

static struct rstate rparams;

static void *redis_setup(int worker, void *arg)
{
	(void)arg;
	static struct rstate w;
	w = rparams;
	w.c = redis_connect();
	w.seed = 0x9e3779b97f4a7c15ull * (uint64_t)(worker + 1);
	return w.c ? &w : NULL;
}

static uint64_t redis_run(void *st, uint64_t n)
{
	struct rstate *w = st;
	uint64_t k[32], ok = 0;
	int set[32];
	for (uint64_t i = 0; i < n; i += (uint64_t)w->depth) {
		for (int j = 0; j < w->depth; j++) {
			uint64_t x = bench_xorshift(&w->seed);
			k[j] = x % w->nkeys;
			set[j] = w->mixed && (x >> 40) % 10 == 0;
		}
		int got = redis_batch(w->c, w->keys, k, set, w->depth);
		if (got < 0)
			break;
		ok += (uint64_t)got;
	}
	return ok;
}

double bench_redis_run(const char (*keys)[16], uint64_t nkeys, uint64_t ops, int workers,
		       int depth, int mixed, double *wall)
{
	if (!bench_redis_socket() || depth < 1 || depth > 32)
		return -1;
	rparams = (struct rstate){ NULL, keys, nkeys, 0, depth, mixed };
	ops -= ops % (uint64_t)depth;
	return bench_mp_all(redis_setup, redis_run, NULL, workers, ops, wall);
}
