/*
 * The Redis Cluster peer of the cluster Dict (bench/redis_cluster.h): three masters
 * of Debian's redis-server (7.0) on loopback, started and stopped here.
 *
 * Each master runs in a private directory made by mkdtemp (its nodes.conf is the only
 * file it writes: no persistence), on a client port and a cluster-bus port the kernel
 * picked for a socket just closed (cluster-port, new in 7.0, so the bus need not be
 * port + 10000). The child asks the kernel to kill it when this process dies
 * (PR_SET_PDEATHSIG) and closes every inherited descriptor (an MPI rank's pipes to its
 * launcher among them) before exec. Setup is what redis-cli --cluster create does:
 * CLUSTER ADDSLOTSRANGE on each master for its third of the 16384 slots (0-5460,
 * 5461-10922, 10923-16383), CLUSTER MEET of the others from the first, then CLUSTER
 * INFO on each until cluster_state:ok, polled every 20 ms for at most 20 s. A port
 * taken meanwhile makes that master exit: it is started again on other ports (five
 * attempts). redis_cluster_stop sends SIGTERM, waits at most 2 s, then SIGKILL, and
 * removes the directories; it runs at exit (and cluster_bench calls it before
 * MPI_Abort). A run killed outright (mpiexec ends its ranks with SIGKILL when one
 * fails or it is itself stopped) runs none of that: a cleaner process, forked first,
 * in a session of its own, learns each directory and pid through a pipe and, when
 * the pipe ends without the word that all is stopped, kills what is left and removes
 * the directories. No server, directory or nodes.conf survives a run.
 */
#define _GNU_SOURCE
#include "redis_cluster.h"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NMASTERS 3

static struct master {
	pid_t pid;
	int port, bus;
	char dir[64], conf[96];
	redisContext *c;
} m[NMASTERS];

unsigned redis_cluster_slot(const void *key, size_t klen)
{
	const unsigned char *k = key;
	size_t s, e;
	for (s = 0; s < klen && k[s] != '{'; s++)
		;
	if (s < klen) {
		for (e = s + 1; e < klen && k[e] != '}'; e++)
			;
		if (e < klen && e > s + 1) {
			k += s + 1;
			klen = e - s - 1;
		}
	}
	unsigned crc = 0;
	for (size_t i = 0; i < klen; i++) {
		crc ^= (unsigned)k[i] << 8;
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
		crc &= 0xffff;
	}
	return crc % REDIS_CLUSTER_SLOTS;
}

/* The master serving slot: thirds, as redis-cli --cluster create assigns them. */
static int slot_master(unsigned slot)
{
	return slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2;
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

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static redisContext *connect_port(int port)
{
	redisContext *c = redisConnect("127.0.0.1", port);
	if (!c || c->err) {
		if (c)
			redisFree(c);
		return NULL;
	}
	int one = 1;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c;
}

/* Stops master i (async-signal-safe: no allocation) and removes its directory's one
 * file; the directory itself is removed by the caller. */
static void stop_one(struct master *x)
{
	if (x->pid > 0) {
		kill(x->pid, SIGTERM);
		int i;
		for (i = 0; i < 200 && waitpid(x->pid, NULL, WNOHANG) == 0; i++)
			sleep_ms(10);
		if (i == 200) {
			kill(x->pid, SIGKILL);
			waitpid(x->pid, NULL, 0);
		}
		x->pid = 0;
	}
	if (x->conf[0])
		unlink(x->conf);
}

/* Removes whatever else a master left in its directory, then the directory. */
static void remove_dir(struct master *x)
{
	if (!x->dir[0])
		return;
	DIR *d = opendir(x->dir);
	if (d) {
		struct dirent *e;
		char p[384];
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				snprintf(p, sizeof p, "%s/%s", x->dir, e->d_name);
				unlink(p);
			}
		closedir(d);
	}
	rmdir(x->dir);
	x->dir[0] = 0;
	x->conf[0] = 0;
}

/*
 * The cleaner: a process of its own session (out of reach of the signals a launcher
 * sends to this process's group) that learns each master's directory and pid through
 * a pipe, and when the pipe ends without the word that all is stopped (this process
 * died, even by SIGKILL), kills the masters and removes their directories.
 */
struct note {
	pid_t pid;     /* a master's pid, or 0 with dir, or -1: all stopped */
	char dir[64];
};
static int cleaner_fd = -1;
static pid_t cleaner_pid;

static void tell(pid_t pid, const char *dir)
{
	struct note n = { .pid = pid };
	if (cleaner_fd < 0)
		return;
	if (dir)
		snprintf(n.dir, sizeof n.dir, "%s", dir);
	(void)!write(cleaner_fd, &n, sizeof n); /* atomic: shorter than PIPE_BUF */
}

static void cleaner(int fd)
{
	struct master x[NMASTERS * 8];
	struct note n;
	int nx = 0;
	setsid();
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	int devnull = open("/dev/null", O_RDWR);
	dup2(devnull, 0);
	dup2(devnull, 1);
	dup2(devnull, 2);
	for (int i = 3; i < 1024; i++)
		if (i != fd)
			close(i);
	memset(x, 0, sizeof x);
	while (read(fd, &n, sizeof n) == (ssize_t)sizeof n) {
		if (n.pid < 0)
			_exit(0);
		if (n.pid == 0 && nx < NMASTERS * 8) {
			snprintf(x[nx].dir, sizeof x[nx].dir, "%s", n.dir);
			snprintf(x[nx].conf, sizeof x[nx].conf, "%s/nodes.conf", n.dir);
			nx++;
		}
		for (int i = 0; i < nx; i++)
			if (n.pid > 0 && strcmp(x[i].dir, n.dir) == 0)
				x[i].pid = n.pid;
	}
	for (int i = 0; i < nx; i++)
		if (x[i].pid > 0)
			kill(x[i].pid, SIGKILL);
	for (int i = 0; i < nx; i++) {
		for (int t = 0; t < 200 && x[i].pid > 0 && kill(x[i].pid, 0) == 0; t++)
			sleep_ms(10);
		x[i].pid = 0;
		remove_dir(&x[i]);
	}
	_exit(0);
}

static int start_cleaner(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return -errno;
	cleaner_pid = fork();
	if (cleaner_pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (cleaner_pid == 0) {
		close(p[1]);
		cleaner(p[0]);
	}
	close(p[0]);
	cleaner_fd = p[1];
	return 0;
}

void redis_cluster_stop(void)
{
	for (int i = 0; i < NMASTERS; i++) {
		if (m[i].c) {
			redisFree(m[i].c);
			m[i].c = NULL;
		}
		stop_one(&m[i]);
		remove_dir(&m[i]);
	}
	if (cleaner_fd >= 0) {
		tell(-1, NULL);
		close(cleaner_fd);
		cleaner_fd = -1;
		waitpid(cleaner_pid, NULL, 0);
	}
}

/* Forks redis-server for x on fresh ports; 0 or -errno. */
static int spawn(struct master *x)
{
	char ps[16], bs[16];
	x->port = free_port();
	x->bus = free_port();
	if (!x->port || !x->bus || x->port == x->bus)
		return -EADDRNOTAVAIL;
	snprintf(ps, sizeof ps, "%d", x->port);
	snprintf(bs, sizeof bs, "%d", x->bus);
	pid_t parent = getpid();
	x->pid = fork();
	if (x->pid < 0) {
		x->pid = 0;
		return -errno;
	}
	if (x->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execlp("redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1",
		       "--cluster-enabled", "yes", "--cluster-port", bs,
		       "--cluster-config-file", x->conf, "--dir", x->dir, "--save", "",
		       "--appendonly", "no", "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	tell(x->pid, x->dir);
	return 0;
}

/* Starts master x and connects to it (at most 3 s per attempt). */
static int start_one(struct master *x)
{
	snprintf(x->dir, sizeof x->dir, "/tmp/shmrt-bench-rcluster-XXXXXX");
	if (!mkdtemp(x->dir)) {
		x->dir[0] = 0;
		return -errno;
	}
	snprintf(x->conf, sizeof x->conf, "%s/nodes.conf", x->dir);
	tell(0, x->dir);
	for (int attempt = 0; attempt < 5; attempt++) {
		int rc = spawn(x);
		if (rc == -EADDRNOTAVAIL)
			continue;
		if (rc)
			return rc;
		for (int i = 0; i < 300 && !x->c; i++) {
			int st;
			sleep_ms(10);
			x->c = connect_port(x->port);
			if (!x->c && waitpid(x->pid, &st, WNOHANG) == x->pid) {
				x->pid = 0;
				if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
					return -ENOENT; /* no redis-server */
				break;                  /* a port was taken meanwhile */
			}
		}
		if (x->c)
			return 0;
		stop_one(x);
	}
	return -EIO;
}

/* Runs a command that must answer +OK on master i. */
static int command_ok(int i, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(m[i].c, fmt, ap);
	va_end(ap);
	int ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
	if (!ok)
		fprintf(stderr, "redis_cluster: master %d: %s\n", i,
			r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
	if (r)
		freeReplyObject(r);
	return ok ? 0 : -EIO;
}

static int cluster_ok(int i)
{
	redisReply *r = redisCommand(m[i].c, "CLUSTER INFO");
	int ok = r && r->type == REDIS_REPLY_STRING &&
		 strstr(r->str, "cluster_state:ok") != NULL;
	if (r)
		freeReplyObject(r);
	return ok;
}

int redis_cluster_start(void)
{
	static const int first[NMASTERS] = { 0, 5461, 10923 }, last[NMASTERS] = { 5460, 10922, 16383 };
	static int hooked;
	int rc;
	if (m[0].c)
		return 0;
	if (!hooked++)
		atexit(redis_cluster_stop);
	rc = start_cleaner();
	for (int i = 0; i < NMASTERS && !rc; i++)
		rc = start_one(&m[i]);
	for (int i = 0; i < NMASTERS && !rc; i++)
		rc = command_ok(i, "CLUSTER ADDSLOTSRANGE %d %d", first[i], last[i]);
	for (int i = 1; i < NMASTERS && !rc; i++)
		rc = command_ok(0, "CLUSTER MEET 127.0.0.1 %d %d", m[i].port, m[i].bus);
	if (!rc) {
		int ok = 0;
		for (int t = 0; t < 1000 && ok < NMASTERS; t++) {
			ok = 0;
			for (int i = 0; i < NMASTERS; i++)
				ok += cluster_ok(i);
			if (ok < NMASTERS)
				sleep_ms(20);
		}
		if (ok < NMASTERS)
			rc = -ETIMEDOUT;
	}
	if (rc)
		redis_cluster_stop();
	return rc;
}

int redis_cluster_set(const void *key, size_t klen, const void *val, size_t vlen)
{
	redisContext *c = m[slot_master(redis_cluster_slot(key, klen))].c;
	redisReply *r = c ? redisCommand(c, "SET %b %b", key, klen, val, vlen) : NULL;
	int ok = r && r->type == REDIS_REPLY_STATUS;
	if (r && r->type == REDIS_REPLY_ERROR)
		fprintf(stderr, "redis_cluster: SET: %s\n", r->str);
	if (r)
		freeReplyObject(r);
	return ok ? 0 : -EIO;
}

int redis_cluster_get(const void *key, size_t klen, void *val, size_t cap, size_t *vlen)
{
	redisContext *c = m[slot_master(redis_cluster_slot(key, klen))].c;
	redisReply *r = c ? redisCommand(c, "GET %b", key, klen) : NULL;
	int rc = -EIO;
	if (r && r->type == REDIS_REPLY_STRING) {
		*vlen = r->len;
		rc = r->len > cap ? -EMSGSIZE : 0;
		if (!rc)
			memcpy(val, r->str, r->len);
	} else if (r && r->type == REDIS_REPLY_NIL) {
		rc = -ENOENT;
	} else if (r && r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "redis_cluster: GET: %s\n", r->str); /* MOVED, ASK, ... */
	}
	if (r)
		freeReplyObject(r);
	return rc;
}
