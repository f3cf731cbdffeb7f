/*
 * Bodies of the Manager benchmarks (issue 14): shmrt's Manager server and client, and
 * the Redis peers; Python's Manager peer is python/manager_peer.py.
 *
 * The work is the same for every implementation: a dict of MGR_KEYS keys of 16 bytes
 * ("m" + 15 digits; str in the Manager and in Python, Redis strings) to values of 64
 * bytes (bytes), keys drawn uniformly at random (all hits); the mixed case does 90%
 * gets and 10% sets of existing keys. A get is a __getitem__ call (Python's d[k]).
 *
 * The servers are started once per benchmark process, lazily, by the first case that
 * needs them (shmrt_manager_start: a Unix socket in a private directory, or loopback
 * TCP on a free port), populated with one create, and shut down at exit. The parent
 * keeps its connection, so the dict lives while the clients, forked by bench_mp_run,
 * each connect, take a proxy of it by id and run their calls. Redis is the server the
 * Dict cases use too (redis_bench.c), with these 1000 keys under their own prefix.
 *
 * tls: the get case over loopback TCP with TLS 1.3 (opts.tls_*, the client's
 * shmrt_manager_connect_tls), certificates made at the first use in a temporary
 * directory (tests/util/tlscert.h) removed at exit: beside the tcp figure, the cost
 * of TLS per call (the handshakes are outside the timed part).
 *
 * list_create: one client creates a list, asks its len and releases it, as Python's
 * `l = manager.list(); len(l); del l` does; the rate is lists per second.
 *
 * lock: the parent makes one Lock; each of the clients acquires it (blocking: a
 * call that finds it held is parked in the server and answered by the holder's
 * release) and releases it, as Python's `lock.acquire(); lock.release()` on a
 * manager.Lock(); the rate is pairs per second, all clients together.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <shmrt.h>
#include <shmrt/manager.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tlscert.h"

#define SEC 1000000000ll

static const char KEY[] = "shmrt-bench-manager";
#define KEYLEN (sizeof(KEY) - 1)

/* The TLS case's files (tlscert.h); tls_dir[0] == 0 until made. */
static char tls_dir[128], tls_ca[160], tls_cert[160], tls_key[160];

static int tls_files(void)
{
	if (tls_dir[0])
		return 0;
	const char *t = getenv("TMPDIR");
	snprintf(tls_dir, sizeof(tls_dir), "%s/shmrt-bench-tls-XXXXXX",
		 t && t[0] == '/' && strlen(t) < 64 ? t : "/tmp");
	if (!mkdtemp(tls_dir) || tlscert_make(tls_dir)) {
		tls_dir[0] = 0;
		return -1;
	}
	snprintf(tls_ca, sizeof(tls_ca), "%s/ca.pem", tls_dir);
	snprintf(tls_cert, sizeof(tls_cert), "%s/server.pem", tls_dir);
	snprintf(tls_key, sizeof(tls_key), "%s/server.key", tls_dir);
	return 0;
}

static void tls_files_remove(void)
{
	static const char *names[] = { "ca.pem", "server.pem", "server.key", "wrong.key",
				       "other-ca.pem", "client.pem", "client.key",
				       "other-client.pem", "other-client.key" };
	if (!tls_dir[0])
		return;
	char p[200];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tls_dir, names[i]);
		(void)unlink(p);
	}
	(void)rmdir(tls_dir);
}

/* Connects to srv: over TLS for the tls server (index 2). */
static int mconnect(int tls, const shmrt_manager_server_t *srv, shmrt_manager_conn_t **c)
{
	shmrt_manager_tls_t t = { .ca_file = tls_ca };
	return tls ? shmrt_manager_connect_tls(shmrt_manager_address(srv), KEY, KEYLEN, &t,
					       10 * SEC, c)
		   : shmrt_manager_connect(shmrt_manager_address(srv), KEY, KEYLEN, 10 * SEC, c);
}

static char mkeys[MGR_KEYS][16]; /* not NUL-terminated */

static void make_keys(void)
{
	static int done;
	char tmp[32];
	for (int i = 0; !done && i < MGR_KEYS; i++) {
		snprintf(tmp, sizeof(tmp), "m%015d", i);
		memcpy(mkeys[i], tmp, 16);
	}
	done = 1;
}

/* ---- shmrt's Manager ------------------------------------------------------------ */

/* [0]: a Unix address with the default connect (the socket, then the shared-memory
 * channel from the client's SHMRT_MANAGER_SHM_AFTER_CALLS-th call: the warm-up is
 * inside the timed part), [1]: loopback TCP, [2]: Unix with the channel from the
 * connect (SHMRT_MANAGER_CONNECT_SHM), [3]: loopback TCP with TLS 1.3, [4]: Unix, the
 * socket only (SHMRT_MANAGER_CONNECT_SOCKET). */
static struct server {
	shmrt_manager_server_t *srv;
	shmrt_manager_conn_t *conn; /* the parent's: keeps the dict alive */
	uint64_t dict;
	unsigned flags;             /* the clients' connect flags */
} servers[5];

static int connect_to(struct server *s, shmrt_manager_conn_t **c)
{
	if (s == &servers[3])
		return mconnect(1, s->srv, c);
	int rc = shmrt_manager_connect_flags(shmrt_manager_address(s->srv), KEY, KEYLEN, 10 * SEC,
					     s->flags, c);
	if (rc == 0 && (s->flags & SHMRT_MANAGER_CONNECT_SHM) &&
	    shmrt_manager_channel(*c) != SHMRT_MANAGER_CHANNEL_SHM) {
		shmrt_manager_close(*c); /* the case would measure the socket */
		return -EPROTO;
	}
	return rc;
}

static void manager_teardown(void)
{
	for (int i = 0; i < 5; i++) {
		if (servers[i].srv) {
			shmrt_manager_close(servers[i].conn);
			(void)shmrt_manager_shutdown(servers[i].srv);
			servers[i].srv = NULL;
		}
	}
	tls_files_remove();
}

static struct server *manager_ready(int tcp)
{
	struct server *s = &servers[tcp];
	if (s->srv)
		return s;
	static int once;
	if (!once++) {
		make_keys();
		atexit(manager_teardown);
	}
	shmrt_manager_opts_t o;
	memset(&o, 0, sizeof(o));
	if (tcp == 3) {
		if (tls_files())
			return NULL;
		o.tls_cert_file = tls_cert;
		o.tls_key_file = tls_key;
	}
	s->flags = tcp == 2   ? SHMRT_MANAGER_CONNECT_SHM
		   : tcp == 4 ? SHMRT_MANAGER_CONNECT_SOCKET
			      : 0;
	if (shmrt_manager_start(tcp == 1 || tcp == 3 ? "tcp:127.0.0.1:0" : "unix:", KEY, KEYLEN, &o,
				&s->srv))
		return NULL;
	shmrt_mv_t *init = shmrt_mv_map();
	char v[64];
	for (int i = 0; init && i < MGR_KEYS; i++) {
		bench_value64((uint64_t)i, v);
		if (shmrt_mv_map_set(init, shmrt_mv_strn(mkeys[i], 16), shmrt_mv_bytes(v, 64))) {
			shmrt_mv_free(init);
			init = NULL;
		}
	}
	shmrt_proxy_t *d;
	if (!init ||
	    connect_to(s, &s->conn) ||
	    shmrt_manager_create(s->conn, "dict", init, &d)) {
		shmrt_manager_close(s->conn);
		(void)shmrt_manager_shutdown(s->srv);
		s->srv = NULL;
		return NULL;
	}
	s->dict = shmrt_proxy_ref(d);
	return s; /* d is not released: the parent's reference keeps the dict */
}

struct mparams {
	struct server *s;
	int depth, mixed;
};

struct mstate {
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *d;
	uint64_t seed;
	int depth, mixed;
	shmrt_proxy_req_t reqs[32];
};

static void *manager_setup(int worker, void *arg)
{
	const struct mparams *p = arg;
	static struct mstate w;
	if (connect_to(p->s, &w.c))
		return NULL;
	if (shmrt_manager_proxy(w.c, p->s->dict, &w.d)) {
		shmrt_manager_close(w.c);
		return NULL;
	}
	w.seed = 0x9e3779b97f4a7c15ull * (uint64_t)(worker + 1);
	w.depth = p->depth;
	w.mixed = p->mixed;
	return &w;
}

/* Whether a get's result is one of the 64-byte values. */
static int good_value(shmrt_mv_t *v)
{
	const void *b;
	size_t n;
	return v && shmrt_mv_as_bytes(v, &b, &n) == 0 && n == 64;
}

/* One call (get, or set when the draw says so) as a request of a batch. */
static void draw(struct mstate *w, uint64_t i, shmrt_proxy_req_t *r)
{
	uint64_t x = bench_xorshift(&w->seed), k = x % MGR_KEYS;
	shmrt_mv_t *args = shmrt_mv_list();
	if (args)
		(void)shmrt_mv_list_append(args, shmrt_mv_strn(mkeys[k], 16));
	r->proxy = w->d;
	if (w->mixed && (x >> 40) % 10 == 0) {
		char v[64];
		bench_value64(i, v);
		if (args)
			(void)shmrt_mv_list_append(args, shmrt_mv_bytes(v, 64));
		r->method = "__setitem__";
	} else {
		r->method = "__getitem__";
	}
	r->args = args;
}

static uint64_t manager_run(void *st, uint64_t n)
{
	struct mstate *w = st;
	uint64_t ok = 0;
	for (uint64_t i = 0; i < n; i += (uint64_t)w->depth) {
		if (w->depth == 1) {
			shmrt_proxy_req_t r;
			draw(w, i, &r);
			shmrt_mv_t *res = NULL;
			int rc = shmrt_proxy_call(r.proxy, r.method, r.args, 60 * SEC, &res);
			ok += rc == 0 && (r.method[2] == 's' || good_value(res));
			shmrt_mv_free(res);
			continue;
		}
		for (int j = 0; j < w->depth; j++)
			draw(w, i + (uint64_t)j, &w->reqs[j]);
		if (shmrt_proxy_call_batch(w->c, w->reqs, (size_t)w->depth, 60 * SEC))
			break;
		for (int j = 0; j < w->depth; j++) {
			shmrt_proxy_req_t *r = &w->reqs[j];
			ok += r->rc == 0 && (r->method[2] == 's' || good_value(r->result));
			shmrt_mv_free(r->result);
		}
	}
	return ok; /* a failed call makes the total fall short: the case fails */
}

double manager_shmrt(uint64_t ops, int tcp, int workers, int depth, int mixed, double *wall)
{
	static struct mparams p;
	p.s = manager_ready(tcp);
	if (!p.s || depth < 1 || depth > 32)
		return -1;
	p.depth = depth;
	p.mixed = mixed;
	ops -= ops % (uint64_t)depth;
	return bench_mp_all(manager_setup, manager_run, &p, workers, ops, wall);
}

static void *list_setup(int worker, void *arg)
{
	(void)worker;
	static shmrt_manager_conn_t *c;
	struct server *s = arg;
	return shmrt_manager_connect(shmrt_manager_address(s->srv), KEY, KEYLEN, 10 * SEC, &c)
		       ? NULL
		       : c;
}

static uint64_t list_run(void *st, uint64_t n)
{
	shmrt_manager_conn_t *c = st;
	uint64_t ok = 0;
	for (uint64_t i = 0; i < n; i++) {
		shmrt_proxy_t *l;
		if (shmrt_manager_create(c, "list", NULL, &l))
			break;
		shmrt_mv_t *len = NULL;
		int64_t v = -1;
		ok += shmrt_proxy_call0(l, "__len__", &len) == 0 && shmrt_mv_as_int(len, &v) == 0 &&
		      v == 0;
		shmrt_mv_free(len);
		if (shmrt_proxy_release(l))
			break;
	}
	return ok;
}

double manager_list_create(uint64_t ops, double *wall)
{
	struct server *s = manager_ready(0);
	return s ? bench_mp_all(list_setup, list_run, s, 1, ops, wall) : -1;
}

/* ---- lock ------------------------------------------------------------------------- */

/* The Lock of the lock case, made by the parent (whose reference keeps it). */
static uint64_t lock_ref;

static void *lock_setup(int worker, void *arg)
{
	(void)worker;
	struct server *s = arg;
	static shmrt_manager_conn_t *c;
	static shmrt_proxy_t *l;
	if (shmrt_manager_connect(shmrt_manager_address(s->srv), KEY, KEYLEN, 10 * SEC, &c))
		return NULL;
	if (shmrt_manager_proxy(c, lock_ref, &l)) {
		shmrt_manager_close(c);
		return NULL;
	}
	return l;
}

static uint64_t lock_run(void *st, uint64_t n)
{
	shmrt_proxy_t *l = st;
	uint64_t ok = 0;
	for (uint64_t i = 0; i < n; i++) {
		shmrt_mv_t *got = NULL;
		bool b = false;
		if (shmrt_proxy_call0(l, "acquire", &got) || shmrt_mv_as_bool(got, &b) || !b) {
			shmrt_mv_free(got);
			break;
		}
		shmrt_mv_free(got);
		if (shmrt_proxy_call0(l, "release", NULL))
			break;
		ok++;
	}
	return ok;
}

double manager_lock(uint64_t ops, int workers, double *wall)
{
	struct server *s = manager_ready(0);
	if (!s)
		return -1;
	if (!lock_ref) {
		shmrt_proxy_t *l;
		if (shmrt_manager_create(s->conn, "Lock", NULL, &l))
			return -1;
		lock_ref = shmrt_proxy_ref(l); /* not released: the parent's reference */
	}
	return bench_mp_all(lock_setup, lock_run, s, workers, ops, wall);
}

/* ---- the raw socket round trip ------------------------------------------------------ */

/* The bound of any server behind a Unix socket on this machine: an echo server (one
 * process, epoll) and clients that write a 48-byte message (a get's request frame is
 * about that) and wait for its echo, one at a time. No encoding, no lookup: a round
 * trip is what the kernel and the scheduler cost. Two forms: blocking (the client
 * sleeps in read(), the server in epoll_wait: unix_echo_raw), and polling as shmrt's
 * client and server do (unix_echo_spin: after a request the client polls read() with
 * a sched_yield between looks for ECHO_SPIN_NS before it sleeps in poll(); after
 * serving, the server polls the same way, see echo_serve): the second is the bound of
 * shmrt's socket design itself, everything but the work. */
#define ECHO_MSG 48
#define ECHO_SPIN_NS 50000u

static int echo_fds[8];
static int echo_spin;

static uint64_t echo_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Answers each fd's message with the same bytes until every fd is closed. spin: poll
 * after serving as shmrt's server does (manager/server.c: hot_look), looks of
 * epoll_wait(0) and a yield for ECHO_SPIN_NS, three looks in four a direct read of
 * the one fd that ECHO_HOT_TURNS wake-ups in a row served alone. */
#define ECHO_HOT_TURNS 8
static void echo_serve(const int *fds, int n, int spin)
{
	int ep = epoll_create1(0), open = n;
	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev))
			_exit(1);
	}
	char b[4096];
	uint64_t until = 0; /* polling until then (spin) */
	int hot = -1;
	unsigned turns = 0, look = 0;
	while (open > 0) {
		struct epoll_event evs[8];
		if (until && hot >= 0 && turns >= ECHO_HOT_TURNS && (++look & 3) != 0) {
			ssize_t r = recv(hot, b, sizeof(b), MSG_DONTWAIT);
			if (r > 0) {
				if (send(hot, b, (size_t)r, MSG_NOSIGNAL) != r)
					_exit(1);
				until = echo_now() + ECHO_SPIN_NS;
				continue;
			}
			if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				hot = -1; /* epoll reports the hang-up */
			sched_yield();
			if (echo_now() > until)
				until = 0;
			continue;
		}
		int k = epoll_wait(ep, evs, 8, until ? 0 : -1);
		if (k == 0) { /* polling, nothing yet */
			sched_yield();
			if (echo_now() > until)
				until = 0;
			continue;
		}
		turns = k == 1 && evs[0].data.fd == hot ? turns + 1 : 1;
		hot = k == 1 ? evs[0].data.fd : -1;
		for (int i = 0; i < k; i++) {
			ssize_t r = read(evs[i].data.fd, b, sizeof(b));
			if (r <= 0) {
				(void)epoll_ctl(ep, EPOLL_CTL_DEL, evs[i].data.fd, NULL);
				close(evs[i].data.fd);
				open--;
				hot = -1;
			} else if (send(evs[i].data.fd, b, (size_t)r, MSG_NOSIGNAL) != r) {
				_exit(1);
			}
		}
		if (spin)
			until = echo_now() + ECHO_SPIN_NS;
	}
	_exit(0);
}

static void *echo_setup(int worker, void *arg)
{
	(void)arg;
	return &echo_fds[worker];
}

/* Reads into p[0, n) from fd: blocking, or (spin) polling first as described above. */
static ssize_t echo_read(int fd, char *p, size_t n)
{
	if (!echo_spin)
		return read(fd, p, n);
	uint64_t until = echo_now() + ECHO_SPIN_NS;
	for (;;) {
		ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return r;
		if (echo_now() < until) {
			sched_yield();
			continue;
		}
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, -1) < 0 && errno != EINTR)
			return -1;
	}
}

static uint64_t echo_run(void *st, uint64_t n)
{
	int fd = *(int *)st;
	char m[ECHO_MSG];
	memset(m, 'm', sizeof(m));
	uint64_t ok = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (send(fd, m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
			break;
		size_t got = 0;
		while (got < sizeof(m)) {
			ssize_t r = echo_read(fd, m + got, sizeof(m) - got);
			if (r <= 0)
				return ok;
			got += (size_t)r;
		}
		ok++;
	}
	return ok;
}

double manager_unix_echo(uint64_t ops, int workers, int spin, double *wall)
{
	int srv[8];
	if (workers < 1 || workers > 8)
		return -1;
	echo_spin = spin;
	for (int i = 0; i < workers; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			return -1;
		echo_fds[i] = sv[0];
		srv[i] = sv[1];
	}
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < workers; i++)
			close(echo_fds[i]);
		echo_serve(srv, workers, spin);
	}
	for (int i = 0; i < workers; i++)
		close(srv[i]);
	double rate = pid < 0 ? -1 : bench_mp_all(echo_setup, echo_run, NULL, workers, ops, wall);
	for (int i = 0; i < workers; i++)
		close(echo_fds[i]); /* the server sees every end close, and exits */
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return rate;
}

/* ---- Redis (redis_bench.c) ------------------------------------------------------------ */

double manager_redis(uint64_t ops, int workers, int depth, int mixed, double *wall)
{
	static int populated;
	make_keys();
	if (!populated && bench_redis_fill((const char (*)[16])mkeys, MGR_KEYS))
		return -1;
	populated = 1;
	return bench_redis_run((const char (*)[16])mkeys, MGR_KEYS, ops, workers, depth, mixed,
			       wall);
}
