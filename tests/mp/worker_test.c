/*
 * Workers (shmrt/worker.h): exit codes Python style (a return value, -9 for SIGKILL,
 * -15 for SIGTERM), timed joins, workers that die with their parent (a function and
 * a program), stdout not printed twice, N workers on a Counter, a program that
 * attaches to handed-over memfd regions, exec errors from the start, bad calls.
 * Also run as worker_test_nopidfd (SHMRT_TEST_NO_PIDFD=1: timed joins without pidfd).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS 1000000ll /* nanoseconds */

static char helper[512];

static const char *helper_path(void)
{
	snprintf(helper, sizeof(helper), "%s/worker_helper", getenv("SHMRT_TEST_BIN"));
	return helper;
}

static int ret_arg(void *a)
{
	return (int)(intptr_t)a;
}

static int sleeper(void *a)
{
	(void)a;
	for (int i = 0; i < 3000; i++) /* 30 s at most */
		usleep(10000);
	return 0;
}

static int nap_then_3(void *a)
{
	(void)a;
	usleep(200000);
	return 3;
}

static void t_exit_code(void **s)
{
	(void)s;
	shmrt_worker_t w;
	int code = -1;
	assert_int_equal(shmrt_worker_start(ret_arg, (void *)(intptr_t)7, &w), 0);
	assert_true(w.pid > 0);
	assert_int_equal(w.state, SHMRT_WORKER_RUNNING);
	assert_int_equal(shmrt_worker_join(&w, 10000 * MS, &code), 0);
	assert_int_equal(code, 7);
	assert_int_equal(w.state, SHMRT_WORKER_EXITED);
	assert_int_equal(w.exitcode, 7);
	code = -1; /* joined again: at once, the same code */
	assert_int_equal(shmrt_worker_join(&w, 0, &code), 0);
	assert_int_equal(code, 7);
	assert_int_equal(shmrt_worker_is_alive(&w), 0);
	assert_int_equal(shmrt_worker_kill(&w), -ESRCH);

	/* Only the low 8 bits of a return value survive, as for exit(). */
	assert_int_equal(shmrt_worker_start(ret_arg, (void *)(intptr_t)300, &w), 0);
	assert_int_equal(shmrt_worker_join(&w, SHMRT_FOREVER, &code), 0);
	assert_int_equal(code, 300 & 0xff);

	/* is_alive reaps an ended worker (Python's is_alive() does too). */
	assert_int_equal(shmrt_worker_start(ret_arg, (void *)(intptr_t)5, &w), 0);
	uint64_t end = tu_ms() + 10000;
	while (shmrt_worker_is_alive(&w) == 1 && tu_ms() < end)
		usleep(1000);
	assert_int_equal(w.state, SHMRT_WORKER_EXITED);
	assert_int_equal(w.exitcode, 5);
	assert_int_equal(waitpid(w.pid, NULL, WNOHANG), -1); /* reaped: no zombie */
}

static void t_signals(void **s)
{
	(void)s;
	shmrt_worker_t w;
	int code = 0;
	assert_int_equal(shmrt_worker_start(sleeper, NULL, &w), 0);
	assert_int_equal(shmrt_worker_is_alive(&w), 1);
	assert_int_equal(shmrt_worker_kill(&w), 0);
	assert_int_equal(shmrt_worker_join(&w, 10000 * MS, &code), 0);
	assert_int_equal(code, -SIGKILL);
	assert_int_equal(shmrt_worker_is_alive(&w), 0);
	assert_int_equal(shmrt_worker_terminate(&w), -ESRCH);

	assert_int_equal(shmrt_worker_start(sleeper, NULL, &w), 0);
	assert_int_equal(shmrt_worker_terminate(&w), 0);
	assert_int_equal(shmrt_worker_join(&w, 10000 * MS, &code), 0);
	assert_int_equal(code, -SIGTERM);

	assert_int_equal(shmrt_worker_start(sleeper, NULL, &w), 0);
	assert_int_equal(shmrt_worker_signal(&w, SIGUSR1), 0);
	assert_int_equal(shmrt_worker_join(&w, 10000 * MS, &code), 0);
	assert_int_equal(code, -SIGUSR1);
	assert_int_equal(w.exitcode, -SIGUSR1);
}

static void t_join_timeout(void **s)
{
	(void)s;
	shmrt_worker_t w;
	int code = 12345;
	assert_int_equal(shmrt_worker_start(sleeper, NULL, &w), 0);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_worker_join(&w, 150 * MS, &code), -ETIMEDOUT);
	uint64_t took = tu_ms() - t0;
	assert_true(took >= 150);
	assert_true(took < 5000);
	assert_int_equal(code, 12345); /* untouched */
	assert_int_equal(w.state, SHMRT_WORKER_RUNNING);
	assert_int_equal(shmrt_worker_join(&w, 0, &code), -ETIMEDOUT);
	assert_int_equal(shmrt_worker_is_alive(&w), 1);
	assert_int_equal(shmrt_worker_kill(&w), 0);
	assert_int_equal(shmrt_worker_join(&w, 10000 * MS, &code), 0);
	assert_int_equal(code, -SIGKILL);

	/* A timed join returns when the worker ends, not at its deadline. */
	assert_int_equal(shmrt_worker_start(nap_then_3, NULL, &w), 0);
	t0 = tu_ms();
	assert_int_equal(shmrt_worker_join(&w, 20000 * MS, &code), 0);
	took = tu_ms() - t0;
	assert_int_equal(code, 3);
	assert_true(took >= 150);
	assert_true(took < 5000);
}

/* The middle process of t_parent_death starts a worker, a function or the helper
 * program, then waits to be killed. The pid of the worker goes into the pipe once the
 * worker runs: a worker whose parent died before it was set up exits at once instead
 * (with status 1), which this test is not about. */
struct mid_arg {
	int wfd;
	int exec;
};

static int announce_and_sleep(void *a)
{
	pid_t me = getpid();
	if (write(*(int *)a, &me, sizeof(me)) != sizeof(me))
		return 1;
	return sleeper(NULL);
}

static int mid(void *a)
{
	struct mid_arg *m = a;
	shmrt_worker_t w;
	char *argv[] = { (char *)helper_path(), (char *)"sleep", NULL };
	if (!m->exec)
		return shmrt_worker_start(announce_and_sleep, &m->wfd, &w) ? 1 : sleeper(NULL);
	/* A started program has run past its setup (the exec succeeded). */
	if (shmrt_worker_exec(helper, argv, NULL, NULL, 0, &w))
		return 1;
	if (write(m->wfd, &w.pid, sizeof(w.pid)) != sizeof(w.pid))
		return 2;
	return sleeper(NULL);
}

static pid_t read_pid(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 10000), 1);
	pid_t pid = 0;
	assert_int_equal(read(fd, &pid, sizeof(pid)), sizeof(pid));
	return pid;
}

static void parent_death(int exec)
{
	/* Orphans come to us, so the worker's end can be seen in its exit status. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct mid_arg m = { p[1], exec };
	pid_t middle = tu_fork(mid, &m);
	close(p[1]);
	pid_t worker = read_pid(p[0]);
	close(p[0]);
	assert_true(worker > 0 && worker != middle);
	assert_int_equal(kill(worker, 0), 0); /* running */
	kill(middle, SIGKILL);
	assert_int_equal(tu_wait(middle, 10000), 128 + SIGKILL);
	/* The middle process is reaped, so the worker is ours now; it got SIGKILL from the
	 * kernel (tu_wait kills it itself and returns -1 after 5 s otherwise). */
	assert_int_equal(tu_wait(worker, 5000), 128 + SIGKILL);
}

static void t_parent_death(void **s)
{
	(void)s;
	parent_death(0);
}

static void t_parent_death_exec(void **s)
{
	(void)s;
	parent_death(1);
}

/* t_stdout_once: stdout is a pipe; text printed without a newline before a start
 * must come out once, and so must the worker's. */
static int print_in_worker(void *a)
{
	(void)a;
	printf("in-worker;");
	return 0;
}

static int print_around_start(void *a)
{
	int fd = *(int *)a;
	if (dup2(fd, STDOUT_FILENO) < 0)
		return 1;
	close(fd);
	setvbuf(stdout, NULL, _IOFBF, 4096); /* as for any pipe, whatever stdout was */
	printf("before-start;");
	shmrt_worker_t w;
	int code = -1;
	if (shmrt_worker_start(print_in_worker, NULL, &w) ||
	    shmrt_worker_join(&w, 10000 * MS, &code) || code)
		return 2;
	printf("after-join;");
	fflush(stdout);
	return 0;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void t_stdout_once(void **s)
{
	(void)s;
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL); /* cmocka's own output stays out of the pipe */
	pid_t pid = tu_fork(print_around_start, &p[1]);
	close(p[1]);
	char buf[4096];
	size_t len = 0;
	uint64_t end = tu_ms() + 10000;
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		assert_int_equal(poll(&pf, 1, (int)(end - tu_ms())), 1);
		ssize_t k = read(p[0], buf + len, sizeof(buf) - 1 - len);
		assert_true(k >= 0);
		if (k == 0)
			break;
		len += (size_t)k;
		assert_true(tu_ms() < end);
	}
	close(p[0]);
	buf[len] = 0;
	assert_int_equal(tu_wait(pid, 10000), 0);
	assert_int_equal(count(buf, "before-start;"), 1);
	assert_int_equal(count(buf, "in-worker;"), 1);
	assert_int_equal(count(buf, "after-join;"), 1);
}

/* t_many: N workers, each adds its index + 1 to a Counter and returns it. */
struct many_arg {
	shmrt_counter_t *c;
	int i;
};

static int add_and_return(void *a)
{
	struct many_arg *m = a;
	for (int k = 0; k < 1000; k++)
		shmrt_counter_add(m->c, m->i + 1);
	return m->i + 1;
}

static shmrt_region_t *memfd_region(const char *label)
{
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.backing = SHMRT_BACKING_MEMFD;
	o.size = 16 << 20;
	shmrt_region_t *r = NULL;
	assert_int_equal(shmrt_region_open(label, 0, &o, &r), 0);
	return r;
}

static void t_many(void **s)
{
	(void)s;
	enum { N = 8 };
	shmrt_region_t *r = memfd_region("workers");
	shmrt_counter_t c;
	assert_int_equal(shmrt_counter_open(r, "sum", SHMRT_O_CREATE, &c), 0);
	struct many_arg ma[N];
	void *args[N];
	for (int i = 0; i < N; i++) {
		ma[i] = (struct many_arg){ &c, i };
		args[i] = &ma[i];
	}
	shmrt_worker_t ws[N + 1];
	assert_int_equal(shmrt_workers_start(N, add_and_return, args, ws), 0);
	assert_int_equal(shmrt_workers_join(N, ws, 20000 * MS), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(ws[i].state, SHMRT_WORKER_EXITED);
		assert_int_equal(ws[i].exitcode, i + 1);
	}
	assert_int_equal(shmrt_counter_read(&c), 1000 * N * (N + 1) / 2);

	/* One that does not end: the others are still joined, the call says -ETIMEDOUT;
	 * once it is killed, all are joined. */
	assert_int_equal(shmrt_workers_start(N, add_and_return, args, ws), 0);
	assert_int_equal(shmrt_worker_start(sleeper, NULL, &ws[N]), 0);
	assert_int_equal(shmrt_workers_join(N + 1, ws, 300 * MS), -ETIMEDOUT);
	for (int i = 0; i < N; i++)
		assert_int_equal(ws[i].state, SHMRT_WORKER_EXITED);
	assert_int_equal(ws[N].state, SHMRT_WORKER_RUNNING);
	assert_int_equal(shmrt_worker_kill(&ws[N]), 0);
	assert_int_equal(shmrt_workers_join(N + 1, ws, 10000 * MS), 0);
	assert_int_equal(ws[N].exitcode, -SIGKILL);
	assert_int_equal(shmrt_counter_read(&c), 2 * 1000 * N * (N + 1) / 2);

	/* No args: every worker gets NULL. */
	assert_int_equal(shmrt_workers_start(3, ret_arg, NULL, ws), 0);
	assert_int_equal(shmrt_workers_join(3, ws, SHMRT_FOREVER), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ws[i].exitcode, 0);
	assert_int_equal(shmrt_region_close(r), 0);
}

static void t_exec_regions(void **s)
{
	(void)s;
	shmrt_region_t *a = memfd_region("handed-a"), *b = memfd_region("handed-b");
	shmrt_counter_t ca, cb;
	assert_int_equal(shmrt_counter_open(a, "hits", SHMRT_O_CREATE, &ca), 0);
	assert_int_equal(shmrt_counter_open(b, "hits", SHMRT_O_CREATE, &cb), 0);
	shmrt_off_t off;
	assert_int_equal(shmrt_alloc(a, 16, &off), 0);
	uint64_t *word = shmrt_ptr(a, off);
	word[0] = word[1] = 0;
	char offs[32];
	snprintf(offs, sizeof(offs), "%llu", (unsigned long long)off);
	char *argv[] = { (char *)helper_path(), (char *)"regions", offs, (char *)"1000", NULL };
	char *envp[] = { (char *)"WORKER_TEST=yes", (char *)"SHMRT_REGION_FDS=99,98", NULL };
	shmrt_region_t *rs[] = { a, b };
	shmrt_worker_t w;
	assert_int_equal(shmrt_worker_exec(helper, argv, envp, rs, 2, &w), 0);

	uint64_t end = tu_ms() + 10000;
	while (!__atomic_load_n(&word[0], __ATOMIC_ACQUIRE) && tu_ms() < end &&
	       shmrt_worker_is_alive(&w) == 1)
		usleep(1000);
	if (w.state != SHMRT_WORKER_RUNNING)
		fail_msg("worker_helper exited with %d", w.exitcode);
	assert_int_equal(word[0], 1);
	assert_int_equal(shmrt_counter_read(&ca), 1000);
	assert_int_equal(shmrt_counter_read(&cb), 2000);
	/* The program is in each registry once, by its own attach: no slot inherited
	 * from the fork that started it. */
	shmrt_proc_info_t pi[8];
	size_t n;
	shmrt_region_t *both[] = { a, b };
	for (int k = 0; k < 2; k++) {
		assert_int_equal(shmrt_region_procs(both[k], pi, 8, &n), 0);
		assert_int_equal(n, 2);
		int seen = 0;
		for (size_t i = 0; i < n; i++)
			seen += pi[i].pid == w.pid && pi[i].state == SHMRT_PROC_ALIVE;
		assert_int_equal(seen, 1);
	}
	__atomic_store_n(&word[1], 1, __ATOMIC_RELEASE);
	int code = -1;
	assert_int_equal(shmrt_worker_join(&w, 10000 * MS, &code), 0);
	assert_int_equal(code, 42);
	assert_int_equal(shmrt_region_procs(a, pi, 8, &n), 0);
	assert_int_equal(n, 1); /* it detached */
	shmrt_free(a, off);
	assert_int_equal(shmrt_region_close(a), 0);
	assert_int_equal(shmrt_region_close(b), 0);
}

static void t_exec_errors(void **s)
{
	(void)s;
	shmrt_worker_t w = { .pid = 4321, .state = 77 }, keep = w;
	char *argv[] = { (char *)"x", NULL };
	assert_int_equal(shmrt_worker_exec("/nonexistent-dir/prog", argv, NULL, NULL, 0, &w),
			 -ENOENT);
	assert_int_equal(shmrt_worker_exec("shmrt-no-such-program-xyz", argv, NULL, NULL, 0, &w),
			 -ENOENT);
	assert_int_equal(shmrt_worker_exec("", argv, NULL, NULL, 0, &w), -ENOENT);
	char path[] = "/tmp/shmrt-worker-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	assert_int_equal(chmod(path, 0600), 0);
	int rc = shmrt_worker_exec(path, argv, NULL, NULL, 0, &w); /* no x bit: even root */
	unlink(path);
	assert_int_equal(rc, -EACCES);
	assert_int_equal(shmrt_worker_exec(NULL, argv, NULL, NULL, 0, &w), -EINVAL);
	assert_int_equal(shmrt_worker_exec(helper_path(), NULL, NULL, NULL, 0, &w), -EINVAL);
	shmrt_region_t *none[] = { NULL };
	assert_int_equal(shmrt_worker_exec(helper, argv, NULL, none, 1, &w), -EINVAL);
	assert_memory_equal(&w, &keep, sizeof(w)); /* untouched by every failure */
	/* The children of the failed execs are reaped: nothing is left to wait for. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);

	/* Found in PATH; no region handed over, and a stale SHMRT_REGION_FDS of the
	 * caller's environment is not passed on. */
	char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	assert_int_equal(setenv("PATH", getenv("SHMRT_TEST_BIN"), 1), 0);
	assert_int_equal(setenv("SHMRT_REGION_FDS", "5,6", 1), 0);
	char *argv2[] = { (char *)"worker_helper", (char *)"none", NULL };
	rc = shmrt_worker_exec("worker_helper", argv2, NULL, NULL, 0, &w);
	unsetenv("SHMRT_REGION_FDS");
	if (old)
		setenv("PATH", old, 1);
	else
		unsetenv("PATH");
	free(old);
	assert_int_equal(rc, 0);
	int code = -1;
	assert_int_equal(shmrt_worker_join(&w, 10000 * MS, &code), 0);
	assert_int_equal(code, 0);
}

static int join_foreign(void *a)
{
	shmrt_worker_t *w = a;
	int code;
	if (shmrt_worker_join(w, 0, &code) != -ECHILD || shmrt_worker_kill(w) != -ECHILD ||
	    shmrt_worker_is_alive(w) != -ECHILD)
		return 1;
	return 0;
}

static void t_bad_calls(void **s)
{
	(void)s;
	shmrt_worker_t z;
	memset(&z, 0, sizeof(z));
	int code = 99;
	assert_int_equal(shmrt_worker_join(&z, 0, &code), -EINVAL);
	assert_int_equal(shmrt_worker_join(NULL, 0, &code), -EINVAL);
	assert_int_equal(shmrt_worker_is_alive(&z), -EINVAL);
	assert_int_equal(shmrt_worker_kill(&z), -EINVAL);
	assert_int_equal(shmrt_worker_start(NULL, NULL, &z), -EINVAL);
	assert_int_equal(shmrt_worker_start(ret_arg, NULL, NULL), -EINVAL);
	assert_int_equal(shmrt_workers_start(2, NULL, NULL, &z), -EINVAL);
	assert_int_equal(shmrt_workers_join(0, NULL, 0), 0);
	assert_int_equal(code, 99);

	/* A handle belongs to the process that started the worker. */
	shmrt_worker_t w;
	assert_int_equal(shmrt_worker_start(sleeper, NULL, &w), 0);
	assert_int_equal(tu_wait(tu_fork(join_foreign, &w), 10000), 0);
	assert_int_equal(shmrt_worker_signal(&w, 1000), -EINVAL);
	assert_int_equal(shmrt_worker_kill(&w), 0);
	assert_int_equal(shmrt_worker_join(&w, 10000 * MS, &code), 0);
	assert_int_equal(code, -SIGKILL);

	/* Reaped behind its back: LOST, -ECHILD, and no signal goes to its pid. */
	assert_int_equal(shmrt_worker_start(ret_arg, NULL, &w), 0);
	assert_int_equal(waitpid(w.pid, NULL, 0), w.pid);
	assert_int_equal(shmrt_worker_join(&w, 1000 * MS, &code), -ECHILD);
	assert_int_equal(w.state, SHMRT_WORKER_LOST);
	assert_int_equal(shmrt_worker_is_alive(&w), 0);
	assert_int_equal(shmrt_worker_kill(&w), -ESRCH);

	/* shmrt_region_inherited outside a started program, or with a bad variable. */
	shmrt_region_t *r = NULL;
	unsetenv("SHMRT_REGION_FDS");
	assert_int_equal(shmrt_region_inherited(0, &r), -ENOENT);
	setenv("SHMRT_REGION_FDS", "", 1);
	assert_int_equal(shmrt_region_inherited(0, &r), -ENOENT);
	setenv("SHMRT_REGION_FDS", "3,x", 1);
	assert_int_equal(shmrt_region_inherited(0, &r), -EINVAL);
	assert_non_null(getenv("SHMRT_REGION_FDS")); /* a malformed one is not adopted */
	setenv("SHMRT_REGION_FDS", "3,", 1);
	assert_int_equal(shmrt_region_inherited(0, &r), -EINVAL);
	setenv("SHMRT_REGION_FDS", "99999999999", 1);
	assert_int_equal(shmrt_region_inherited(0, &r), -EINVAL);
	setenv("SHMRT_REGION_FDS", "1000", 1); /* not open */
	assert_int_equal(shmrt_region_inherited(0, &r), -EBADF);
	assert_int_equal(shmrt_region_inherited(1, &r), -ENOENT);
	assert_int_equal(shmrt_region_inherited(0, NULL), -EINVAL);
	/* Adopted: out of the environment, remembered for the next calls, replaced by
	 * a variable set again. */
	assert_null(getenv("SHMRT_REGION_FDS"));
	assert_int_equal(shmrt_region_inherited(0, &r), -EBADF);
	setenv("SHMRT_REGION_FDS", "", 1);
	assert_int_equal(shmrt_region_inherited(0, &r), -ENOENT);
	assert_null(getenv("SHMRT_REGION_FDS"));
	unsetenv("SHMRT_REGION_FDS");
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_exit_code),
		cmocka_unit_test(t_signals),
		cmocka_unit_test(t_join_timeout),
		cmocka_unit_test(t_exec_errors),
		cmocka_unit_test(t_parent_death),
		cmocka_unit_test(t_parent_death_exec),
		cmocka_unit_test(t_stdout_once),
		cmocka_unit_test(t_many),
		cmocka_unit_test(t_exec_regions),
		cmocka_unit_test(t_bad_calls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
