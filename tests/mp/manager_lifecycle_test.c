/*
 * The Manager server's own life, each case with a server of its own.
 *
 * Out of descriptors: a server process with RLIMIT_NOFILE 20 gets 90 connections. The
 * ones beyond its limit must be refused (accepted through its spare descriptor and
 * closed at once, so the peer sees the end of its stream) and the server must sleep
 * meanwhile: a level-triggered loop over a listener it cannot accept from would wake
 * at once forever. Its CPU time over a second of refused connections (/proc/PID/stat)
 * must stay under a fifth of the wall time. A sleeping server uses next to nothing
 * (0 ms measured), so the bound never fails it, however loaded the machine; a
 * spinning one took 860 ms of 1018 on a quiet machine and 320 ms of 1137 on a busy
 * one (a loaded machine can hide the spin, never invent it). Its existing client is
 * served throughout, and once the extra connections close, new clients are. A
 * server that could not open its spare (started at the lowest limit it starts with
 * at all) pauses its listener instead: the connections wait in the backlog, the
 * server sleeps.
 *
 * Restart: a call in flight when the server is killed returns -EPIPE or -ECONNRESET
 * at once (not at its timeout); a server restarted on the same address takes
 * shmrt_manager_reconnect; the old proxies get -ESTALE, even though the new server's
 * first object has the old one's number (only the epoch differs), and never act on
 * it; new objects work.
 * Every wait is bounded; children are killed at the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/clock.h"
#include "manager/transport.h"

#define MMU_OWN_FIXTURES
#include "manager_mp_util.h"

/* ---- EMFILE: a server out of descriptors ----------------------------------------- */

static char emfile_addr[80];

/* The server child: no inherited descriptor beyond 0-2, a limit of 20, serve. */
static int emfile_server(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int fd = 3; fd < 4096; fd++)
		(void)close(fd);
	struct rlimit rl = { 20, 20 };
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return 2;
	const char *addrs[] = { emfile_addr };
	shmrt_manager_opts_t o = { .addresses = addrs, .naddresses = 1, .authkey = KEY,
				   .keylen = KEYLEN, .auth_timeout = 60 * SEC };
	return shmrt_manager_serve(&o) ? 3 : 0;
}

/* utime + stime of pid in ms (/proc/PID/stat fields 14 and 15). */
static uint64_t cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	assert_non_null(p);
	unsigned long long ut = 0, stt = 0;
	assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&ut, &stt), 2);
	return (ut + stt) * 1000 / (uint64_t)sysconf(_SC_CLK_TCK);
}

/* A non-blocking connect to the EMFILE server: the fd, or -1 (its backlog is full). */
static int try_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	strncpy(sun.sun_path, path, sizeof(sun.sun_path) - 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	assert_int_equal(errno, EAGAIN);
	close(fd);
	return -1;
}

/* Whether the server closed fd (end of stream after its challenge, if any) within
 * ms milliseconds. */
static int closed_within(int fd, int ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)ms * 1000000u;
	for (;;) {
		char b[512];
		if (shmrt__wait_fd(fd, POLLIN, deadline))
			return 0;
		ssize_t n = recv(fd, b, sizeof(b), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
}

static void emfile(void **state)
{
	(void)state;
	char dir[] = "/tmp/shmrt-lifecycle-XXXXXX";
	assert_non_null(mkdtemp(dir));
	snprintf(emfile_addr, sizeof(emfile_addr), "unix:%s/s", dir);
	const char *path = emfile_addr + 5;
	pid_t pid = tu_fork(emfile_server, NULL);
	shmrt_manager_conn_t *c = NULL;
	uint64_t until = tu_ms() + 10000;
	while (shmrt_manager_connect(emfile_addr, KEY, KEYLEN, 5 * SEC, &c) && tu_ms() < until)
		usleep(5000);
	assert_non_null(c);
	shmrt_manager_set_timeout(c, 20 * SEC);
	shmrt_proxy_t *l;
	assert_int_equal(shmrt_manager_create(c, "list", NULL, &l), 0);
	assert_int_equal(shmrt_proxy_call1(l, "append", shmrt_mv_int(7), NULL), 0);
	/* 40 connections: about a dozen take the server's last descriptors (and wait in
	 * their handshake), the others are refused */
	enum { EXTRA = 40, LATE = 50 };
	int fds[EXTRA + LATE];
	int nfd = 0;
	for (int i = 0; i < EXTRA; i++) {
		int fd = try_connect(path);
		if (fd >= 0)
			fds[nfd++] = fd;
	}
	assert_int_equal(shmrt_manager_ping(c), 0);
	/* a second of more connections, every 20 ms, while the server is at its limit:
	 * it must sleep, not spin on a listener it cannot accept from */
	uint64_t cpu0 = cpu_ms(pid), t0 = tu_ms();
	for (int i = 0; i < LATE; i++) {
		int fd = try_connect(path);
		if (fd >= 0)
			fds[nfd++] = fd;
		usleep(20000);
	}
	uint64_t cpu = cpu_ms(pid) - cpu0, wall = tu_ms() - t0;
	print_message("EMFILE: the server used %llu ms of CPU in %llu ms\n",
		      (unsigned long long)cpu, (unsigned long long)wall);
	assert_true(cpu * 5 < wall); /* a fifth: see the top */
	/* the refused ones were closed by the server, not left in its backlog */
	int refused = 0;
	for (int i = 0; i < nfd; i++)
		refused += closed_within(fds[i], i < 30 ? 100 : 20);
	assert_true(refused >= EXTRA - 20);
	/* the existing client is served */
	shmrt_mv_t *v;
	assert_int_equal(shmrt_proxy_call0(l, "copy", &v), 0);
	assert_int_equal(shmrt_mv_list_len(v), 1);
	shmrt_mv_free(v);
	/* the extra connections go; new clients are served */
	for (int i = 0; i < nfd; i++)
		close(fds[i]);
	assert_int_equal(stat_of(c, "sessions"), 1);
	for (int k = 0; k < 3; k++) {
		shmrt_manager_conn_t *c2;
		shmrt_proxy_t *l2;
		until = tu_ms() + 5000;
		int rc;
		while ((rc = shmrt_manager_connect(emfile_addr, KEY, KEYLEN, 5 * SEC, &c2)) &&
		       tu_ms() < until)
			usleep(5000);
		assert_int_equal(rc, 0);
		assert_int_equal(shmrt_manager_proxy(c2, shmrt_proxy_ref(l), &l2), 0);
		assert_int_equal(shmrt_proxy_call1(l2, "append", shmrt_mv_int(k), NULL), 0);
		assert_int_equal(shmrt_proxy_release(l2), 0);
		shmrt_manager_close(c2);
	}
	assert_int_equal(shmrt_proxy_call0(l, "__len__", &v), 0);
	int64_t len;
	assert_int_equal(shmrt_mv_as_int(v, &len), 0);
	shmrt_mv_free(v);
	assert_int_equal(len, 4);
	assert_int_equal(shmrt_proxy_release(l), 0);
	shmrt_manager_close(c);
	kill(pid, SIGKILL);
	assert_int_equal(tu_wait(pid, 10000), 128 + SIGKILL);
	unlink(path);
	rmdir(dir);
}

/* The server child without a spare: the lowest limit it starts with at all (every
 * lower one fails with EMFILE), so that its spare, opened last, cannot be had. It
 * says when it listens on the pipe ready_wr. */
static int ready_wr = -1;

static void on_ready(const char *const *a, size_t n, void *arg)
{
	(void)a, (void)n, (void)arg;
	ssize_t w = write(ready_wr, "r", 1);
	(void)w;
}

static int nospare_server(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int fd = 3; fd < 4096; fd++)
		if (fd != ready_wr)
			(void)close(fd);
	const char *addrs[] = { emfile_addr };
	shmrt_manager_opts_t o = { .addresses = addrs, .naddresses = 1, .authkey = KEY,
				   .keylen = KEYLEN, .on_ready = on_ready };
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 2;
	for (rlim_t lim = (rlim_t)ready_wr + 1; lim < 64; lim++) {
		rl.rlim_cur = lim; /* the hard limit stays: the next round raises it */
		if (setrlimit(RLIMIT_NOFILE, &rl))
			return 2;
		int rc = shmrt_manager_serve(&o);
		if (rc != -EMFILE)
			return rc ? 3 : 0;
	}
	return 4;
}

/* Without a spare the listener is paused: connections wait in the backlog (not
 * refused) and the server sleeps. */
static void emfile_no_spare(void **state)
{
	(void)state;
	char dir[] = "/tmp/shmrt-lifecycle-XXXXXX";
	assert_non_null(mkdtemp(dir));
	snprintf(emfile_addr, sizeof(emfile_addr), "unix:%s/s", dir);
	const char *path = emfile_addr + 5;
	int p[2];
	assert_int_equal(pipe(p), 0);
	ready_wr = p[1];
	pid_t pid = tu_fork(nospare_server, NULL);
	close(p[1]);
	assert_int_equal(tu_read_byte(p[0], NULL, 10000), 0);
	close(p[0]);
	int fds[30], nfd = 0;
	uint64_t cpu0 = cpu_ms(pid), t0 = tu_ms();
	for (int i = 0; i < 30; i++) {
		int fd = try_connect(path);
		if (fd >= 0)
			fds[nfd++] = fd;
		usleep(33000);
	}
	uint64_t cpu = cpu_ms(pid) - cpu0, wall = tu_ms() - t0;
	print_message("EMFILE without a spare: %llu ms of CPU in %llu ms\n",
		      (unsigned long long)cpu, (unsigned long long)wall);
	assert_true(cpu * 5 < wall); /* a fifth: see the top */
	assert_int_equal(nfd, 30);
	for (int i = 0; i < nfd; i++) {
		assert_false(closed_within(fds[i], 1)); /* waiting, not refused */
		close(fds[i]);
	}
	assert_int_equal(kill(pid, 0), 0); /* alive */
	kill(pid, SIGKILL);
	assert_int_equal(tu_wait(pid, 10000), 128 + SIGKILL);
	unlink(path);
	rmdir(dir);
}

/* ---- restart ------------------------------------------------------------------------- */

static pid_t victim;

/* Kills the (stopped) server after a while: the call in flight meanwhile must
 * fail at once, not at its timeout. */
static int killer(void *arg)
{
	(void)arg;
	usleep(300000);
	return kill(victim, SIGKILL) ? 2 : 0;
}

static int64_t epoch_of(shmrt_manager_conn_t *c)
{
	return stat_of(c, "epoch");
}

static void restart(void **state)
{
	(void)state;
	char dir[] = "/tmp/shmrt-lifecycle-XXXXXX", addr[80];
	assert_non_null(mkdtemp(dir));
	snprintf(addr, sizeof(addr), "unix:%s/s", dir);
	shmrt_manager_server_t *s1, *s2;
	shmrt_manager_conn_t *c;
	shmrt_proxy_t *old, *nw;
	assert_int_equal(shmrt_manager_start(addr, KEY, KEYLEN, NULL, &s1), 0);
	assert_int_equal(shmrt_manager_connect(addr, KEY, KEYLEN, 10 * SEC, &c), 0);
	shmrt_manager_set_timeout(c, 10 * SEC);
	assert_int_equal(shmrt_manager_create(c, "list", NULL, &old), 0);
	int64_t e1 = epoch_of(c);
	/* a call in flight when the server dies: the server is stopped, the call sent,
	 * the server killed 300 ms later */
	victim = shmrt_manager_pid(s1);
	assert_int_equal(kill(victim, SIGSTOP), 0);
	pid_t k = tu_fork(killer, NULL);
	uint64_t t0 = tu_ms();
	int rc = shmrt_proxy_call1(old, "append", shmrt_mv_int(1), NULL);
	uint64_t ms = tu_ms() - t0;
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	assert_true(ms < 5000); /* not the 10 s timeout */
	assert_int_equal(tu_wait(k, 10000), 0);
	assert_int_equal(shmrt_proxy_call0(old, "copy", NULL), -ENOTCONN);
	assert_int_equal(shmrt_manager_ping(c), -ENOTCONN);
	assert_int_equal(shmrt_manager_shutdown(s1), -SIGKILL);
	/* a new server on the same address (its epoch drawn again until it differs) */
	int64_t e2;
	do {
		assert_int_equal(shmrt_manager_start(addr, KEY, KEYLEN, NULL, &s2), 0);
		assert_int_equal(shmrt_manager_reconnect(c, 10 * SEC), 0);
		e2 = epoch_of(c);
		if (e2 == e1)
			assert_int_equal(shmrt_manager_shutdown(s2), 0);
	} while (e2 == e1);
	/* its first object has the old one's number: only the epoch tells them apart */
	assert_int_equal(shmrt_manager_create(c, "list", NULL, &nw), 0);
	uint64_t mask = (1ull << 48) - 1;
	assert_int_equal(shmrt_proxy_ref(nw) & mask, shmrt_proxy_ref(old) & mask);
	assert_int_equal(shmrt_proxy_call1(old, "append", shmrt_mv_int(2), NULL), -ESTALE);
	assert_int_equal(shmrt_proxy_call0(old, "clear", NULL), -ESTALE);
	shmrt_proxy_t *again;
	assert_int_equal(shmrt_manager_proxy(c, shmrt_proxy_ref(old), &again), -ESTALE);
	/* a ref to the old object stored in a new one: refused too */
	assert_int_equal(shmrt_proxy_call1(nw, "append", shmrt_mv_ref(shmrt_proxy_ref(old)), NULL),
			 -ESTALE);
	/* new objects work, untouched by the stale calls */
	assert_int_equal(shmrt_proxy_call1(nw, "append", shmrt_mv_int(3), NULL), 0);
	shmrt_mv_t *v;
	assert_int_equal(shmrt_proxy_call0(nw, "copy", &v), 0);
	char buf[64];
	assert_true(shmrt_mv_repr(v, buf, sizeof(buf)) < (ssize_t)sizeof(buf));
	assert_string_equal(buf, "[3]");
	shmrt_mv_free(v);
	assert_int_equal(shmrt_proxy_release(old), -ESTALE);
	assert_int_equal(shmrt_proxy_release(nw), 0);
	assert_int_equal(stat_of(c, "objects"), 0);
	shmrt_manager_close(c);
	assert_int_equal(shmrt_manager_shutdown(s2), 0);
	rmdir(dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(emfile),
		cmocka_unit_test(emfile_no_spare),
		cmocka_unit_test(restart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
