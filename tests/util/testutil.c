#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NAMES 256
#define MAX_KIDS 1024
static char names[MAX_NAMES][96];
static int nnames;
static pid_t kids[MAX_KIDS];
static int nkids;
static pid_t owner;

static void cleanup(void)
{
	if (getpid() != owner)
		return;
	tu_kill_all();
	/* Test names are ours whatever they hold (some tests write foreign bytes). */
	for (int i = 0; i < nnames; i++) {
		char path[sizeof(names[0]) + 1]; /* '/' and a name: never truncated */
		snprintf(path, sizeof(path), "/%.*s", (int)sizeof(names[0]) - 1, names[i]);
		(void)shm_unlink(path);
	}
}

const char *tu_name(const char *tag)
{
	if (!owner) {
		owner = getpid();
		atexit(cleanup);
	}
	assert_true(nnames < MAX_NAMES);
	snprintf(names[nnames], sizeof(names[0]), "shmrt-test-%d-%s-%d", (int)getpid(), tag, nnames);
	return names[nnames++];
}

shmrt_region_t *tu_create(const char *name, size_t size, uint32_t flags)
{
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.size = size;
	o.flags = flags;
	shmrt_region_t *r = NULL;
	int rc = shmrt_region_open(name, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r);
	if (rc)
		fail_msg("create %s: %s", name, shmrt_strerror(rc));
	return r;
}

pid_t tu_fork(int (*fn)(void *), void *arg)
{
	if (!owner) {
		owner = getpid();
		atexit(cleanup);
	}
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	if (nkids < MAX_KIDS)
		kids[nkids++] = pid;
	return pid;
}

static void forget(pid_t pid)
{
	for (int i = 0; i < nkids; i++)
		if (kids[i] == pid)
			kids[i] = kids[--nkids];
}

int tu_wait(pid_t pid, int timeout_ms)
{
	uint64_t end = tu_ms() + (uint64_t)timeout_ms;
	int st;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0) {
			forget(pid);
			return -1;
		}
		if (tu_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			forget(pid);
			return -1;
		}
		usleep(1000);
	}
	forget(pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void tu_kill_all(void)
{
	while (nkids) {
		pid_t p = kids[--nkids];
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
	}
}

uint64_t tu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int tu_read_byte(int fd, char *b, int timeout_ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	uint64_t end = tu_ms() + (uint64_t)timeout_ms;
	char c;
	int n;
	while ((n = poll(&pf, 1, (int)(end > tu_ms() ? end - tu_ms() : 0))) < 0 && errno == EINTR)
		;
	if (n != 1 || read(fd, &c, 1) != 1)
		return -1;
	if (b)
		*b = c;
	return 0;
}

uint64_t tu_await(const uint64_t *flag, int timeout_ms)
{
	uint64_t end = tu_ms() + (uint64_t)timeout_ms, v;
	while (!(v = __atomic_load_n(flag, __ATOMIC_ACQUIRE)) && tu_ms() < end)
		usleep(200);
	return v;
}

uint64_t tu_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 88172645463325252ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 2685821657736338717ull;
}
