/*
 * A manager server in a process of its own (shmrt_manager_start, _shutdown, _address,
 * _pid; shmrt/manager.h), as Python's Manager().start() runs one.
 *
 * The caller forks; the child sets PR_SET_PDEATHSIG = SIGKILL and only then checks
 * that its parent is still the caller (as core/worker.c does), so it never outlives
 * the program. It keeps only stdin, stdout, stderr and its report pipe (a server that
 * held copies of the caller's client sockets would keep them open after the caller
 * closed them, and their sessions alive), blocks SIGTERM until it listens, and runs
 * shmrt_manager_serve. When every address listens, on_ready writes "0 ADDRESS" to
 * the pipe and unblocks SIGTERM, whose handler calls shmrt_manager_stop; a server
 * that fails first writes its error code. The caller waits for that line (30 s at
 * most) and gets the server's real address (its private directory for "unix:", the
 * port the kernel chose for "tcp:...:0").
 *
 * Shutdown sends SIGTERM, waits 5 s for the exit, then SIGKILLs, and reaps.
 *
 * Concurrency: a server handle is one thread's at a time.
 */
#define _GNU_SOURCE
#include <shmrt/manager.h>

#include "base/clock.h"
#include "manager/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPORT_FD 3
#define START_TIMEOUT_NS (30ll * 1000000000ll)
#define STOP_TIMEOUT_NS (5ll * 1000000000ll)

struct shmrt_manager_server {
	pid_t pid;
	char address[600];
};

static void on_term(int sig)
{
	(void)sig;
	shmrt_manager_stop();
}

static void child_ready(const char *const *addrs, size_t n, void *arg)
{
	(void)arg;
	char line[600];
	int w = snprintf(line, sizeof(line), "0 %s\n", n ? addrs[0] : "");
	if (w > 0 && write(REPORT_FD, line, (size_t)w) < 0)
		_exit(1);
	close(REPORT_FD);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* The server process: never returns. */
static void child_main(pid_t parent, int wr, const char *address, const void *key,
		       size_t keylen, const shmrt_manager_opts_t *opts)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	if (wr != REPORT_FD) {
		if (dup2(wr, REPORT_FD) < 0)
			_exit(1);
	} else {
		(void)fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC);
	}
	(void)syscall(SYS_close_range, REPORT_FD + 1, ~0u, 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	shmrt__msrv_fd_limit_raise(); /* a process of our own: its descriptors are ours */
	shmrt_manager_opts_t o;
	if (opts)
		o = *opts;
	else
		memset(&o, 0, sizeof(o));
	o.addresses = &address;
	o.naddresses = 1;
	o.authkey = key;
	o.keylen = keylen;
	o.on_ready = child_ready;
	o.ready_arg = NULL;
	int rc = shmrt_manager_serve(&o);
	if (rc) {
		char line[32];
		int w = snprintf(line, sizeof(line), "%d\n", rc);
		if (w > 0)
			(void)!write(REPORT_FD, line, (size_t)w); /* closed once ready */
	}
	_exit(rc ? 1 : 0);
}

/* Reads the child's line until it ends with '\n', EOF or the deadline.
 * Returns the bytes read, or -ETIMEDOUT. */
static ssize_t read_report(int fd, char *buf, size_t cap, uint64_t deadline)
{
	size_t got = 0;
	while (got + 1 < cap) {
		uint64_t now = mono_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t ms = (deadline - now) / 1000000 + 1;
		int r = poll(&p, 1, ms > 1000 ? 1000 : (int)ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (buf[got - 1] == '\n')
			break;
	}
	buf[got] = 0;
	return (ssize_t)got;
}

static int reap(pid_t pid, uint64_t deadline)
{
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (mono_ns() >= deadline)
			return -ETIMEDOUT;
		usleep(2000);
	}
}

/*
 * Forks a server (see shmrt/manager.h).
 * Returns: 0 and *out; -EINVAL; the server's error; -ETIMEDOUT; -EAGAIN, -ENOMEM.
 * Concurrency: any thread.
 */
int shmrt_manager_start(const char *address, const void *authkey, size_t keylen,
			const shmrt_manager_opts_t *opts, shmrt_manager_server_t **out)
{
	if (!address || !authkey || !keylen || !out ||
	    (opts && shmrt__mutypes_check(opts->types, opts->ntypes)))
		return -EINVAL; /* a bad table of user types fails here, not in the child */
	shmrt_manager_server_t *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	int p[2];
	if (pipe2(p, O_CLOEXEC)) {
		free(s);
		return -errno;
	}
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(p[0]);
		close(p[1]);
		free(s);
		return e;
	}
	if (pid == 0) {
		close(p[0]);
		child_main(parent, p[1], address, authkey, keylen, opts);
	}
	close(p[1]);
	char line[600];
	ssize_t n = read_report(p[0], line, sizeof(line), mono_ns() + START_TIMEOUT_NS);
	close(p[0]);
	int rc;
	if (n > 2 && line[0] == '0' && line[1] == ' ') {
		line[strcspn(line, "\n")] = 0;
		snprintf(s->address, sizeof(s->address), "%s", line + 2);
		s->pid = pid;
		*out = s;
		return 0;
	}
	if (n == -ETIMEDOUT)
		rc = -ETIMEDOUT;
	else if (n > 0 && (rc = atoi(line)) < 0)
		; /* the server's own error */
	else
		rc = -ECHILD; /* it died without a word */
	kill(pid, SIGKILL);
	(void)reap(pid, SHMRT_NO_DEADLINE);
	free(s);
	return rc;
}

/* The server's address. Concurrency: any thread. */
const char *shmrt_manager_address(const shmrt_manager_server_t *srv)
{
	return srv->address;
}

/* The server's pid. Concurrency: any thread. */
pid_t shmrt_manager_pid(const shmrt_manager_server_t *srv)
{
	return srv->pid;
}

/*
 * Stops, reaps and frees the server.
 * Returns: 0; -ECHILD; a positive exit status; minus a killing signal.
 * Concurrency: one thread per srv.
 */
int shmrt_manager_shutdown(shmrt_manager_server_t *srv)
{
	if (!srv)
		return 0;
	kill(srv->pid, SIGTERM);
	int rc = reap(srv->pid, mono_ns() + STOP_TIMEOUT_NS);
	if (rc == -ETIMEDOUT) {
		kill(srv->pid, SIGKILL);
		rc = reap(srv->pid, SHMRT_NO_DEADLINE);
	}
	free(srv);
	return rc;
}
