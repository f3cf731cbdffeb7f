/*
 * Workers: processes started, watched and joined as Python's multiprocessing.Process
 * is (include/shmrt/worker.h).
 *
 * Starting a function (shmrt_worker_start). stdio is flushed, the caller's pid is
 * recorded, and the process forks. The child sets PR_SET_PDEATHSIG = SIGKILL and only
 * then compares getppid() with the recorded pid: a parent that died between the fork
 * and the prctl has already orphaned the child, and its death signal will never come,
 * so the child exits at once. Otherwise it runs fn, flushes stdio and _exits with fn's
 * return value. The registry's atfork handler has given it a slot in every region open
 * in the parent (core/registry.c).
 *
 * Starting a program (shmrt_worker_exec). Everything that allocates is done in the
 * parent before the fork: the paths to try (a name without '/' is searched in PATH,
 * as execvp() does) and the environment, with SHMRT_REGION_FDS naming the handed-over
 * regions' descriptors. The child, a copy of a process that may have other threads,
 * then calls only async-signal-safe functions: prctl, getppid, fcntl (to clear
 * FD_CLOEXEC on those descriptors), execve on each path, write and _exit. It reports
 * its outcome over a pipe opened O_CLOEXEC: a successful exec closes the pipe (the
 * parent reads end of file), a failure writes errno into it and exits 127 (the parent
 * reads the errno, reaps the child and returns -errno: a missing program is -ENOENT
 * from the start, not a worker that exits 127). The child claims no registry slots
 * (shmrt__fork_exec, read by the atfork handler): exec would drop them unreleased, and
 * as pid and start time survive exec they would look alive while the program runs.
 *
 * fork_lock, a process-local mutex, is held around every fork of this file and, for a
 * program, from the pipe's creation to the parent's close of its write end: a worker
 * another thread starts meanwhile would inherit the write end, and the parent's read
 * would wait for that worker's end. (A fork the program runs itself is not covered:
 * the header says so.)
 *
 * Joining waits for the one pid (never waitpid(-1), which would take other children's
 * statuses). SHMRT_FOREVER blocks in waitpid. A timed join sleeps in ppoll() on a pidfd
 * (readable once the process has exited), opened by the join and closed after it:
 * until the worker is reaped its pid cannot be reused, so the pidfd names the worker.
 * Where pidfd_open is missing (Linux before 5.3, a seccomp filter; and in tests with
 * SHMRT_TEST_NO_PIDFD=1) the join checks waitpid(WNOHANG) between sleeps growing from
 * 50 us to 5 ms, cut at the deadline: the end is seen within 5 ms.
 *
 * Signals are sent with kill() only to a worker not yet reaped, whose pid (a zombie
 * keeps it) cannot be another process's.
 *
 * When a process dies: a dead worker's status waits for its join; what it held in
 * regions is reclaimed as for any dead process (its slots by the next gc). A dead
 * parent's workers get SIGKILL from the kernel (the death signal); a worker's own
 * children started through this file follow it the same way.
 *
 * Nothing here is shared memory: a handle is process-local and used by one thread at a
 * time, and fork_lock orders what it protects.
 */
#define _GNU_SOURCE
#include "region_int.h"
#include "shmrt/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif

#define FDS_VAR "SHMRT_REGION_FDS"
#define NAP_MIN_NS 50000ull    /* first sleep of a join without pidfd */
#define NAP_MAX_NS 5000000ull  /* longest */
#define EXIT_NO_PARENT 1       /* the parent died while the worker started */
#define EXIT_EXEC_FAILED 127

extern char **environ;

static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- starting ------------------------------------------------------------------- */

/* In a new child: dies with the parent from now on, or exits if it is already gone. */
static void child_begin(pid_t parent)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* cannot fail with a valid signal */
	if (getppid() != parent)
		_exit(EXIT_NO_PARENT);
}

static void set_running(shmrt_worker_t *out, pid_t pid, pid_t parent)
{
	out->pid = pid;
	out->state = SHMRT_WORKER_RUNNING;
	out->exitcode = 0;
	out->parent = parent;
}

int shmrt_worker_start(shmrt_worker_fn fn, void *arg, shmrt_worker_t *out)
{
	if (!fn || !out)
		return -EINVAL;
	fflush(NULL);
	pid_t parent = getpid();
	pthread_mutex_lock(&fork_lock);
	pid_t pid = fork();
	int e = errno;
	/* The child unlocks its copy too: it may start workers of its own. */
	pthread_mutex_unlock(&fork_lock);
	if (pid == 0) {
		child_begin(parent);
		int rc = fn(arg);
		fflush(NULL);
		_exit(rc);
	}
	if (pid < 0)
		return -e;
	set_running(out, pid, parent);
	return 0;
}

/*
 * The paths execvp() would try for file, each ending in a NUL, the list ending in an
 * empty one: file itself if it holds a '/', else each PATH entry (an empty entry is
 * the working directory) with "/file". NULL when out of memory.
 */
static char *exec_paths(const char *file)
{
	size_t flen = strlen(file);
	if (strchr(file, '/')) {
		char *p = malloc(flen + 2);
		if (p) {
			memcpy(p, file, flen + 1);
			p[flen + 1] = 0;
		}
		return p;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin";
	size_t entries = 1;
	for (const char *c = path; *c; c++)
		entries += *c == ':';
	char *buf = malloc(strlen(path) + entries * (flen + 2) + 1), *o = buf;
	if (!buf)
		return NULL;
	for (const char *c = path;; c++) {
		const char *end = strchrnul(c, ':');
		if (end > c) {
			memcpy(o, c, (size_t)(end - c));
			o += end - c;
			*o++ = '/';
		}
		memcpy(o, file, flen + 1);
		o += flen + 1;
		if (!*end)
			break;
		c = end;
	}
	*o = 0;
	return buf;
}

/*
 * The program's environment: envp (or environ) without any SHMRT_REGION_FDS, plus
 * SHMRT_REGION_FDS=fds when n > 0 (*var then holds that string). NULL when out of
 * memory. Only the array and *var are allocated; the other strings are envp's.
 */
static char **exec_env(char *const envp[], const int *fds, unsigned n, char **var)
{
	char *const *src = envp ? envp : environ;
	size_t count = 0, vlen = sizeof(FDS_VAR);
	while (src && src[count])
		count++;
	char **env = malloc((count + 2) * sizeof(*env));
	*var = n ? malloc(vlen + 1 + (size_t)n * 12) : NULL;
	if (!env || (n && !*var)) {
		free(env);
		free(*var);
		return NULL;
	}
	size_t k = 0;
	for (size_t i = 0; i < count; i++)
		if (strncmp(src[i], FDS_VAR "=", vlen))
			env[k++] = src[i];
	if (n) {
		char *o = *var + sprintf(*var, "%s=", FDS_VAR);
		for (unsigned i = 0; i < n; i++)
			o += sprintf(o, i ? ",%d" : "%d", fds[i]);
		env[k++] = *var;
	}
	env[k] = NULL;
	return env;
}

/* Whether execve's error err ends the search (execvp's rule: a missing file or
 * directory, or one that cannot be reached, goes on to the next path). */
static int exec_error_final(int err)
{
	return err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENODEV &&
	       err != ETIMEDOUT && err != EACCES;
}

/* The child of shmrt_worker_exec: async-signal-safe calls only. Never returns. */
static void exec_child(pid_t parent, int wfd, const char *paths, char *const argv[],
		       char **env, const int *fds, unsigned n)
{
	int err = 0, eacces = 0;
	child_begin(parent);
	for (unsigned i = 0; i < n; i++) {
		if (fcntl(fds[i], F_SETFD, 0) < 0) {
			err = errno;
			goto fail;
		}
	}
	for (const char *p = paths; *p; p += strlen(p) + 1) {
		execve(p, argv, env);
		err = errno;
		if (err == EACCES)
			eacces = 1;
		if (exec_error_final(err))
			goto fail;
	}
	if (eacces)
		err = EACCES;
fail:
	while (write(wfd, &err, sizeof(err)) < 0 && errno == EINTR)
		;
	_exit(EXIT_EXEC_FAILED);
}

int shmrt_worker_exec(const char *file, char *const argv[], char *const envp[],
		      shmrt_region_t *const regions[], unsigned nregions, shmrt_worker_t *out)
{
	if (!file || !argv || !out || (nregions && !regions))
		return -EINVAL;
	if (!*file)
		return -ENOENT;
	int rc = 0, pfd[2];
	int *fds = nregions ? malloc(nregions * sizeof(*fds)) : NULL;
	char *paths = NULL, *var = NULL, **env = NULL;
	if (nregions && !fds)
		return -ENOMEM;
	for (unsigned i = 0; i < nregions; i++) {
		if (!regions[i] || (fds[i] = shmrt_region_fd(regions[i])) < 0) {
			rc = -EINVAL;
			goto out;
		}
	}
	paths = exec_paths(file);
	env = exec_env(envp, fds, nregions, &var);
	if (!paths || !env) {
		rc = -ENOMEM;
		goto out;
	}
	fflush(NULL);
	pid_t parent = getpid();
	pthread_mutex_lock(&fork_lock);
	if (pipe2(pfd, O_CLOEXEC)) {
		rc = -errno;
		pthread_mutex_unlock(&fork_lock);
		goto out;
	}
	shmrt__fork_exec = 1;
	pid_t pid = fork();
	if (pid == 0)
		exec_child(parent, pfd[1], paths, argv, env, fds, nregions);
	int e = errno;
	shmrt__fork_exec = 0;
	close(pfd[1]);
	pthread_mutex_unlock(&fork_lock);
	if (pid < 0) {
		close(pfd[0]);
		rc = -e;
		goto out;
	}
	int err = 0;
	ssize_t k;
	while ((k = read(pfd[0], &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (k == (ssize_t)sizeof(err)) {
		/* The child exits right after its write: a short wait. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		rc = err > 0 ? -err : -ECHILD;
		goto out;
	}
	set_running(out, pid, parent);
out:
	free(fds);
	free(paths);
	free(var);
	free(env);
	return rc;
}

/*
 * The descriptors handed over in SHMRT_REGION_FDS, adopted by the first
 * shmrt_region_inherited() that finds the variable: parsed into this table and taken
 * out of the environment (a program this one execs, or its children, would otherwise
 * read descriptor numbers that name nothing, or another file). A variable set again
 * later (by the program itself) replaces the table. fork copies it with the
 * descriptors.
 */
static pthread_mutex_t inh_lock = PTHREAD_MUTEX_INITIALIZER;
static int *inh_fds;
static unsigned inh_n;

/* Parses s ("FD0,FD1,...", or empty) into a new array: 0 and *fds (NULL when n is 0),
 * *n; -EINVAL malformed; -ENOMEM. */
static int parse_fds(const char *s, int **fds, unsigned *n)
{
	unsigned cnt = *s ? 1 : 0;
	for (const char *q = s; *q; q++)
		cnt += *q == ',';
	int *a = cnt ? malloc(cnt * sizeof(*a)) : NULL;
	if (cnt && !a)
		return -ENOMEM;
	for (unsigned k = 0; k < cnt; k++) {
		long v = 0;
		if (*s < '0' || *s > '9')
			goto bad;
		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (*s++ - '0');
			if (v > INT_MAX)
				goto bad;
		}
		if (*s && (*s++ != ',' || !*s))
			goto bad;
		a[k] = (int)v;
	}
	*fds = a;
	*n = cnt;
	return 0;
bad:
	free(a);
	return -EINVAL;
}

int shmrt_region_inherited(unsigned i, shmrt_region_t **out)
{
	if (!out)
		return -EINVAL;
	int rc = 0, fd = -1;
	pthread_mutex_lock(&inh_lock);
	const char *s = getenv(FDS_VAR);
	if (s) {
		int *fds;
		unsigned n;
		if ((rc = parse_fds(s, &fds, &n)) == 0) {
			free(inh_fds);
			inh_fds = fds;
			inh_n = n;
			unsetenv(FDS_VAR);
			/* None of them passes to a program this one execs: each handle
			 * holds its own duplicate. */
			for (unsigned k = 0; k < n; k++)
				(void)fcntl(fds[k], F_SETFD, FD_CLOEXEC);
		}
	}
	if (rc == 0 && i < inh_n)
		fd = inh_fds[i];
	pthread_mutex_unlock(&inh_lock);
	if (rc)
		return rc;
	if (fd < 0)
		return -ENOENT;
	return shmrt_region_open_fd(fd, out);
}

int shmrt_workers_start(unsigned n, shmrt_worker_fn fn, void *const args[], shmrt_worker_t out[])
{
	if (!fn || (n && !out))
		return -EINVAL;
	if (!n)
		return 0;
	shmrt_worker_t *ws = calloc(n, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		int rc = shmrt_worker_start(fn, args ? args[i] : NULL, &ws[i]);
		if (rc) {
			for (unsigned j = 0; j < i; j++) {
				shmrt_worker_kill(&ws[j]);
				shmrt_worker_join(&ws[j], SHMRT_FOREVER, NULL);
			}
			free(ws);
			return rc;
		}
	}
	memcpy(out, ws, n * sizeof(*ws));
	free(ws);
	return 0;
}

/* ---- waiting and signalling ----------------------------------------------------- */

/* 0 if w is a started worker of the calling process, else -EINVAL or -ECHILD. */
static int owned(const shmrt_worker_t *w)
{
	if (!w || w->pid <= 0 || w->state < SHMRT_WORKER_RUNNING || w->state > SHMRT_WORKER_LOST)
		return -EINVAL;
	return w->parent == getpid() ? 0 : -ECHILD;
}

/* Reaps w if it has ended (flags WNOHANG) or once it ends (0). Returns 1 reaped, 0
 * still running, -ECHILD someone else took its status (w is LOST). */
static int reap(shmrt_worker_t *w, int flags)
{
	int st;
	pid_t r;
	while ((r = waitpid(w->pid, &st, flags)) < 0 && errno == EINTR)
		;
	if (r == 0)
		return 0;
	if (r < 0) {
		w->state = SHMRT_WORKER_LOST;
		return -ECHILD;
	}
	w->exitcode = WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
	w->state = SHMRT_WORKER_EXITED;
	return 1;
}

static int open_pidfd(pid_t pid)
{
	const char *e = getenv("SHMRT_TEST_NO_PIDFD");
	if (e && *e == '1')
		return -1;
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Waits for a RUNNING w until the monotonic deadline dl (SHMRT_NO_DEADLINE: no limit).
 * Returns as reap(): 1, 0 (still running at dl), -ECHILD. */
static int wait_until(shmrt_worker_t *w, uint64_t dl)
{
	if (dl == SHMRT_NO_DEADLINE)
		return reap(w, 0);
	int rc, pfd = -1, first = 1;
	uint64_t nap = NAP_MIN_NS;
	while ((rc = reap(w, WNOHANG)) == 0) {
		uint64_t now = mono_ns();
		if (now >= dl)
			break;
		if (first)
			pfd = open_pidfd(w->pid);
		first = 0;
		if (pfd >= 0) {
			struct timespec ts = shmrt__timespec(dl - now);
			struct pollfd p = { .fd = pfd, .events = POLLIN };
			int k = ppoll(&p, 1, &ts, NULL);
			/* Readable (it ended) or an error: from here the reap decides, between
			 * naps, should it not be reapable after all. */
			if (k > 0 || (k < 0 && errno != EINTR)) {
				close(pfd);
				pfd = -1;
			}
		} else {
			uint64_t left = dl - now;
			struct timespec ts = shmrt__timespec(left < nap ? left : nap);
			nanosleep(&ts, NULL); /* EINTR: the loop checks again */
			nap = nap * 2 < NAP_MAX_NS ? nap * 2 : NAP_MAX_NS;
		}
	}
	if (pfd >= 0)
		close(pfd);
	return rc;
}

static int join_until(shmrt_worker_t *w, uint64_t dl, int *exitcode)
{
	int rc = owned(w);
	if (rc)
		return rc;
	if (w->state == SHMRT_WORKER_RUNNING) {
		rc = wait_until(w, dl);
		if (rc == 0)
			return -ETIMEDOUT;
		if (rc < 0)
			return rc;
	}
	if (w->state == SHMRT_WORKER_LOST)
		return -ECHILD;
	if (exitcode)
		*exitcode = w->exitcode;
	return 0;
}

int shmrt_worker_join(shmrt_worker_t *w, shmrt_ns_t timeout, int *exitcode)
{
	return join_until(w, shmrt__deadline(timeout), exitcode);
}

int shmrt_workers_join(unsigned n, shmrt_worker_t ws[], shmrt_ns_t timeout)
{
	if (n && !ws)
		return -EINVAL;
	uint64_t dl = shmrt__deadline(timeout);
	int first = 0;
	for (unsigned i = 0; i < n; i++) {
		int rc = join_until(&ws[i], dl, NULL);
		if (rc && !first)
			first = rc;
	}
	return first;
}

int shmrt_worker_is_alive(shmrt_worker_t *w)
{
	int rc = owned(w);
	if (rc)
		return rc;
	if (w->state != SHMRT_WORKER_RUNNING)
		return 0;
	return reap(w, WNOHANG) == 0;
}

int shmrt_worker_signal(shmrt_worker_t *w, int sig)
{
	int rc = owned(w);
	if (rc)
		return rc;
	if (w->state != SHMRT_WORKER_RUNNING)
		return -ESRCH;
	return kill(w->pid, sig) ? -errno : 0;
}

int shmrt_worker_terminate(shmrt_worker_t *w)
{
	return shmrt_worker_signal(w, SIGTERM);
}

int shmrt_worker_kill(shmrt_worker_t *w)
{
	return shmrt_worker_signal(w, SIGKILL);
}
