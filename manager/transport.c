/*
 * The manager's transports (transport.h): address strings, Unix and TCP listeners,
 * accept with peer checks, connect with a deadline.
 *
 * Unix sockets. The kernel checks a socket file's permissions on connect, but a file
 * made by bind() gets the mode the umask leaves, and a directory anyone can enter
 * lets anyone reach the socket. So the socket lives in a directory only its owner can
 * enter: listen checks (fstat on the opened directory) that it belongs to the caller
 * and is closed to group and others, and creates it 0700 if it is missing. bind()
 * then goes by path: only someone who may write the directory's parent could swap the
 * directory in between, so a parent open to others without the sticky bit (not /tmp,
 * not /run/user) is the caller's own risk. The abstract namespace
 * (a path starting with a NUL) has no permissions at all: the parser refuses it
 * (a path must start with '/').
 *
 * Stale sockets. A server killed by SIGKILL leaves its socket file. Before binding,
 * listen tries a non-blocking connect to an existing file: ECONNREFUSED means nobody
 * listens (the file is removed and bound again), success or EAGAIN (a full backlog)
 * means a live server (-EADDRINUSE). A file that is not a socket is never removed.
 *
 * Peer credentials. On accept, SO_PEERCRED gives the connecting process's uid; a
 * connection of another user (root excepted) is closed at once. The directory's mode
 * already keeps other users out; this is the second lock on the same door (a
 * descriptor passed to another user's process, a directory opened by mistake).
 *
 * TCP. Names resolve through getaddrinfo (AI_ADDRCONFIG off, so that "localhost"
 * resolves on a machine with loopback only). A listener binds the first resolved
 * address that works, refusing non-loopback ones unless asked; SO_REUSEADDR so a
 * restarted server rebinds a port in TIME_WAIT. TCP_NODELAY everywhere: the manager's
 * frames are small request/reply pairs that Nagle's algorithm would delay by 40 ms.
 *
 * Nothing here keeps state between calls; a process that dies leaves at most a
 * socket file, which the next listener removes.
 */
#define _GNU_SOURCE
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/clock.h"

/* ---- address strings ------------------------------------------------------------ */

static int bad(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EINVAL;
}

/* A Unix path as the parser accepts it (see shmrt__addr_parse). */
static int check_path(const char *p, const char **why)
{
	size_t n = strlen(p);
	if (n == 0)
		return bad(why, "unix path is empty");
	if (p[0] != '/')
		return bad(why, "unix path must be absolute (abstract sockets are refused)");
	if (n > SHMRT__UNIX_PATH_MAX)
		return bad(why, "unix path longer than 107 bytes");
	if (p[n - 1] == '/')
		return bad(why, "unix path names a directory");
	for (const char *c = p; *c;) {
		/* c points at a '/'; the component runs to the next one. */
		const char *s = c + 1;
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (len == 0)
			return bad(why, "unix path has an empty component (\"//\")");
		if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
			return bad(why, "unix path has a \".\" or \"..\" component");
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				return bad(why, "unix path has a control character");
		if (!e)
			break;
		c = e;
	}
	return 0;
}

/* A host name: labels of letters, digits and '-', separated by single dots. */
static int check_name(const char *h, size_t n, const char **why)
{
	if (n == 0)
		return bad(why, "tcp host is empty");
	if (n > SHMRT__HOST_MAX)
		return bad(why, "tcp host longer than 253 characters");
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (c == '.') {
			if (label == 0)
				return bad(why, "tcp host has an empty label");
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '-') {
			if (++label > 63)
				return bad(why, "tcp host has a label longer than 63 characters");
		} else {
			return bad(why, "tcp host has a character that is not a letter, digit, "
					"'-' or '.' (IPv6 literals go in brackets)");
		}
	}
	if (label == 0)
		return bad(why, "tcp host ends with a dot");
	return 0;
}

static int parse_port(const char *s, uint16_t *port, const char **why)
{
	size_t n = strlen(s);
	if (n == 0)
		return bad(why, "tcp port is missing");
	if (n > 5)
		return bad(why, "tcp port out of range (0..65535)");
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return bad(why, "tcp port is not a decimal number");
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return bad(why, "tcp port out of range (0..65535)");
	*port = (uint16_t)v;
	return 0;
}

int shmrt__addr_parse(const char *s, shmrt__addr_t *out, const char **why)
{
	if (!s || !out)
		return bad(why, "no address");
	shmrt__addr_t a;
	memset(&a, 0, sizeof(a));
	if (strncmp(s, "unix:", 5) == 0) {
		int rc = check_path(s + 5, why);
		if (rc)
			return rc;
		a.kind = SHMRT__ADDR_UNIX;
		memcpy(a.path, s + 5, strlen(s + 5) + 1);
	} else if (strncmp(s, "tcp:", 4) == 0) {
		const char *h = s + 4, *port;
		size_t hn;
		if (h[0] == '[') {
			const char *e = strchr(h, ']');
			if (!e)
				return bad(why, "tcp IPv6 literal has no closing ']'");
			if (e[1] != ':')
				return bad(why, "tcp address needs ':PORT' after the host");
			hn = (size_t)(e - h - 1);
			if (hn == 0 || hn >= INET6_ADDRSTRLEN)
				return bad(why, "tcp IPv6 literal is not an IPv6 address");
			memcpy(a.host, h + 1, hn);
			a.host[hn] = 0;
			struct in6_addr in6;
			if (inet_pton(AF_INET6, a.host, &in6) != 1)
				return bad(why, "tcp IPv6 literal is not an IPv6 address");
			port = e + 2;
		} else {
			const char *c = strrchr(h, ':');
			if (!c)
				return bad(why, "tcp address needs ':PORT' after the host");
			hn = (size_t)(c - h);
			if (memchr(h, ':', hn))
				return bad(why, "tcp IPv6 literal must be in brackets: tcp:[::1]:PORT");
			int rc = check_name(h, hn, why);
			if (rc)
				return rc;
			memcpy(a.host, h, hn);
			a.host[hn] = 0;
			port = c + 1;
		}
		int rc = parse_port(port, &a.port, why);
		if (rc)
			return rc;
		a.kind = SHMRT__ADDR_TCP;
	} else {
		return bad(why, "address must start with \"unix:\" or \"tcp:\"");
	}
	*out = a;
	return 0;
}

int shmrt__addr_format(const shmrt__addr_t *a, char *buf, size_t n)
{
	int w;
	if (a->kind == SHMRT__ADDR_UNIX)
		w = snprintf(buf, n, "unix:%s", a->path);
	else if (a->kind == SHMRT__ADDR_TCP)
		w = snprintf(buf, n, strchr(a->host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u", a->host,
			     (unsigned)a->port);
	else
		return -EINVAL;
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

/* ---- helpers -------------------------------------------------------------------- */

int shmrt__wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		int ms = -1;
		if (deadline != SHMRT_NO_DEADLINE) {
			uint64_t now = mono_ns();
			if (now >= deadline)
				ms = 0;
			else if (deadline - now > 1000000000ull * 3600)
				ms = 3600 * 1000;
			else
				ms = (int)((deadline - now + 999999) / 1000000);
		}
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0 && deadline != SHMRT_NO_DEADLINE && mono_ns() >= deadline)
			return -ETIMEDOUT;
	}
}

/* Whether a connected Unix peer is acceptable: the same effective uid, or root. */
static int peer_ok(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	uid_t me = geteuid();
	return cr.uid == me || cr.uid == 0 ? 0 : -EPERM;
}

static void set_nodelay(int fd)
{
	int one = 1;
	/* A failure only costs latency: the connection still works. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a6))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127;
	}
	return 0;
}

static int resolve(const shmrt__addr_t *a, int passive, struct addrinfo **res)
{
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)a->port);
	int rc = getaddrinfo(a->host, port, &hints, res);
	if (rc == 0)
		return 0;
	if (rc == EAI_SYSTEM)
		return errno ? -errno : -EIO;
	if (rc == EAI_MEMORY)
		return -ENOMEM;
	if (rc == EAI_AGAIN)
		return -EAGAIN;
	return -EHOSTUNREACH;
}

/* ---- Unix sockets --------------------------------------------------------------- */

/* The parent directory of path (which check_path accepted) into dir. */
static void parent_dir(const char *path, char *dir)
{
	const char *slash = strrchr(path, '/');
	size_t n = (size_t)(slash - path);
	if (n == 0)
		n = 1; /* "/sock": the root directory */
	memcpy(dir, path, n);
	dir[n] = 0;
}

int shmrt__unix_dir_check(const char *path, int create)
{
	char dir[SHMRT__UNIX_PATH_MAX + 1];
	parent_dir(path, dir);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (st.st_uid != geteuid())
		rc = -EPERM;
	else if (st.st_mode & 077)
		rc = -EACCES;
	close(fd);
	return rc;
}

static void unix_sockaddr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1); /* <= 107 bytes + NUL: parsed */
}

/* Whether a live listener accepts at path: 1 yes, 0 no (stale), negative errno. */
static int unix_live(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
		return 1;
	if (e == ECONNREFUSED)
		return 0;
	return -e;
}

static int listen_unix(const shmrt__addr_t *a, int backlog, shmrt__listener_t *out)
{
	int rc = shmrt__unix_dir_check(a->path, 1);
	if (rc)
		return rc;
	struct sockaddr_un sun;
	unix_sockaddr(a->path, &sun);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (int attempt = 0;; attempt++) {
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		rc = -errno;
		if (rc != -EADDRINUSE || attempt > 0)
			goto fail;
		struct stat st;
		if (lstat(a->path, &st) < 0) {
			if (errno == ENOENT)
				continue; /* gone meanwhile: bind again */
			rc = -errno;
			goto fail;
		}
		if (!S_ISSOCK(st.st_mode)) {
			rc = -EEXIST;
			goto fail;
		}
		int live = unix_live(&sun);
		if (live) {
			rc = live > 0 ? -EADDRINUSE : live;
			goto fail;
		}
		if (unlink(a->path) < 0 && errno != ENOENT) {
			rc = -errno;
			goto fail;
		}
	}
	struct stat st;
	if (listen(fd, backlog) < 0 || lstat(a->path, &st) < 0) {
		rc = -errno;
		(void)unlink(a->path);
		goto fail;
	}
	out->fd = fd;
	out->addr = *a;
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	return 0;
fail:
	close(fd);
	return rc;
}

/* ---- TCP ------------------------------------------------------------------------ */

static int listen_tcp(const shmrt__addr_t *a, unsigned flags, int backlog,
		      shmrt__listener_t *out)
{
	struct addrinfo *res;
	int rc = resolve(a, 1, &res);
	if (rc)
		return rc;
	rc = -EADDRNOTAVAIL;
	int fd = -1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (!(flags & SHMRT__LISTEN_ANY_HOST) && !is_loopback(ai->ai_addr)) {
			if (rc == -EADDRNOTAVAIL)
				rc = -EACCES;
			continue;
		}
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		int one = 1;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return rc;
	/* The bound address, with the port the kernel chose for port 0. */
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	out->fd = fd;
	out->addr = *a;
	if (ss.ss_family == AF_INET)
		out->addr.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else
		out->addr.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	out->dev = 0;
	out->ino = 0;
	return 0;
}

int shmrt__listen(const shmrt__addr_t *a, unsigned flags, int backlog, shmrt__listener_t *out)
{
	if (backlog <= 0)
		backlog = SOMAXCONN;
	if (a->kind == SHMRT__ADDR_UNIX)
		return listen_unix(a, backlog, out);
	if (a->kind == SHMRT__ADDR_TCP)
		return listen_tcp(a, flags, backlog, out);
	return -EINVAL;
}

void shmrt__listener_close(shmrt__listener_t *l)
{
	if (l->fd < 0)
		return;
	if (l->addr.kind == SHMRT__ADDR_UNIX) {
		struct stat st;
		if (lstat(l->addr.path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
			(void)unlink(l->addr.path);
	}
	close(l->fd);
	l->fd = -1;
}

int shmrt__accept(shmrt__listener_t *l, int *fd_out)
{
	int fd;
	do
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (l->addr.kind == SHMRT__ADDR_UNIX) {
		int rc = peer_ok(fd);
		if (rc) {
			close(fd);
			return rc;
		}
	} else {
		set_nodelay(fd);
	}
	*fd_out = fd;
	return 0;
}

/* Connects fd to sa, waiting until deadline. */
static int connect_one(int fd, const struct sockaddr *sa, socklen_t len, uint64_t deadline)
{
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno == EAGAIN && sa->sa_family == AF_UNIX)
		return -EAGAIN; /* a Unix listener's backlog is full: the caller retries */
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	int rc = shmrt__wait_fd(fd, POLLOUT, deadline);
	if (rc)
		return rc;
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return -errno;
	return -err;
}

static int connect_unix(const shmrt__addr_t *a, uint64_t deadline, int *fd_out)
{
	struct sockaddr_un sun;
	unix_sockaddr(a->path, &sun);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		int rc = connect_one(fd, (struct sockaddr *)&sun, sizeof(sun), deadline);
		if (rc == 0 && geteuid() != 0)
			rc = peer_ok(fd);
		if (rc == 0) {
			*fd_out = fd;
			return 0;
		}
		close(fd);
		if (rc != -EAGAIN)
			return rc;
		/* A full backlog: retry in 1 ms steps until the deadline. */
		if (deadline != SHMRT_NO_DEADLINE && mono_ns() >= deadline)
			return -ETIMEDOUT;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

static int connect_tcp(const shmrt__addr_t *a, uint64_t deadline, int *fd_out)
{
	if (a->port == 0)
		return -EINVAL;
	struct addrinfo *res;
	int rc = resolve(a, 0, &res);
	if (rc)
		return rc;
	rc = -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		rc = connect_one(fd, ai->ai_addr, ai->ai_addrlen, deadline);
		if (rc == 0) {
			set_nodelay(fd);
			*fd_out = fd;
			break;
		}
		close(fd);
		if (rc == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return rc;
}

int shmrt__connect(const shmrt__addr_t *a, int64_t timeout_ns, int *fd_out)
{
	uint64_t deadline = shmrt__deadline(timeout_ns);
	if (a->kind == SHMRT__ADDR_UNIX)
		return connect_unix(a, deadline, fd_out);
	if (a->kind == SHMRT__ADDR_TCP)
		return connect_tcp(a, deadline, fd_out);
	return -EINVAL;
}

uint64_t shmrt__spin_ns(void)
{
	/* Relaxed: every thread computes the same value; a race only reads the
	 * environment twice. UINT64_MAX: not read yet. */
	static uint64_t cached = UINT64_MAX;
	uint64_t v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	if (v != UINT64_MAX)
		return v;
	const char *e = getenv("SHMRT_MANAGER_SPIN_US");
	char *end;
	unsigned long us = e && *e ? strtoul(e, &end, 10) : 0;
	v = e && *e && !*end && us <= 10000 ? us * 1000u : SHMRT__SPIN_NS_DEFAULT;
	__atomic_store_n(&cached, v, __ATOMIC_RELAXED);
	return v;
}

/*
 * Polling pays only while the core it yields goes to a peer. A poll is a loop of
 * sched_yield: when the other runnable threads are this conversation's own (the
 * server, the other clients), each yield lets one of them run for the few
 * microseconds its request takes, and the reply is found awake. When they are
 * strangers (a compiler, another program's busy loop), a yield hands the core over
 * for their whole time slice, milliseconds, and a poll costs far more than the
 * sleep it was to save (measured under a load of 20 on 2 cores: 1 client's calls
 * fell from 130k/s to 3k-36k/s with polling, while a blocking round trip of bare
 * sockets stayed near 5 us). So every yield is timed: one that took more than
 * ROBBED_NS says the machine is crowded with strangers, and the next waits sleep at
 * once, 8 of them, then twice as many after each further robbed yield up to 4096
 * (at 200k calls/s, 20 ms between probes); a wait whose polling was not robbed
 * halves that back-off. The state is per process and a hint: threads that race on
 * it (relaxed atomics) only move the back-off a step more or less.
 */
#define ROBBED_NS 200000ull
#define BACKOFF_MIN 8u
#define BACKOFF_MAX 4096u

static unsigned spin_skip;      /* waits left that sleep at once */
static unsigned spin_backoff;   /* the next skip after a robbed yield; 0: none yet */
static int spin_robbed;         /* a yield of the current wait was robbed */

uint64_t shmrt__spin_now(void)
{
	uint64_t spin = shmrt__spin_ns();
	if (!spin)
		return 0;
	unsigned skip = __atomic_load_n(&spin_skip, __ATOMIC_RELAXED);
	if (skip) {
		__atomic_store_n(&spin_skip, skip - 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (!__atomic_exchange_n(&spin_robbed, 0, __ATOMIC_RELAXED)) {
		unsigned b = __atomic_load_n(&spin_backoff, __ATOMIC_RELAXED);
		__atomic_store_n(&spin_backoff, b / 2, __ATOMIC_RELAXED); /* clean: relax */
	}
	return spin;
}

void shmrt__spin_yield(void)
{
	uint64_t t0 = mono_ns();
	sched_yield();
	if (mono_ns() - t0 <= ROBBED_NS)
		return;
	unsigned b = __atomic_load_n(&spin_backoff, __ATOMIC_RELAXED);
	b = b < BACKOFF_MIN ? BACKOFF_MIN : b >= BACKOFF_MAX ? BACKOFF_MAX : b * 2;
	__atomic_store_n(&spin_backoff, b, __ATOMIC_RELAXED);
	__atomic_store_n(&spin_skip, b, __ATOMIC_RELAXED);
	__atomic_store_n(&spin_robbed, 1, __ATOMIC_RELAXED);
}
