/*
 * shmrt workers: processes that run a function or a program, started and joined as
 * Python's `Process(target=f, args=...).start()`, `.join(timeout)`, `.exitcode`,
 * `.is_alive()`, `.terminate()` and `.kill()` do.
 *
 *   shmrt_worker_t w;
 *   int rc = shmrt_worker_start(f, &arg, &w);        // f runs in a forked child
 *   rc = shmrt_worker_join(&w, SHMRT_FOREVER, &code); // code: f's return value, or
 *                                                     // -9 if it was SIGKILLed
 *
 * Exit codes are Python's: the exit status (0..255) of a worker that exited, or minus
 * the signal number of one a signal killed.
 *
 * Fork rules. shmrt_worker_start() forks; the child runs fn and exits with its return
 * value.
 *  - Everything open in the parent stays valid in the child: region handles, the
 *    pointers into regions, and object handles (Value, Counter, Array, Queue, Pipe,
 *    Dict, locks), which live in the regions the child inherits. The child gets a
 *    registry slot of its own in every open region as it starts (see region.h), so
 *    its locks, queue reservations and allocations are its own, and what it holds
 *    when it dies is reclaimed as for any dead process.
 *  - The child exits with _exit(): the parent's atexit handlers do not run in it. Its
 *    registry slots are reclaimed by the next gc (or an attach that needs a slot);
 *    call shmrt_region_close() in fn to detach at once.
 *  - stdio buffers are flushed before the fork (fflush(NULL)), so what the parent
 *    printed without a newline is not printed twice, and again in the child before it
 *    exits, so what fn printed is not lost.
 *  - As after any fork of a process with threads, the child has one thread; a lock
 *    another thread of the parent held at the fork (its own, or one inside libc)
 *    stays held in the child. shmrt's own locks are fork-safe.
 *  - No handle crosses an exec: a program started with shmrt_worker_exec() gets the
 *    regions it is handed (by descriptor) and attaches to them itself with
 *    shmrt_region_inherited(); it opens anything else by name.
 *
 * When the parent dies. Every worker is started with PR_SET_PDEATHSIG = SIGKILL and
 * checks, once that is set, that its parent is still the process that started it (if
 * not, the parent died during the start, and the child exits at once). So a parent
 * killed by any signal, even SIGKILL, takes its workers with it, as the kernel sends
 * them SIGKILL; what they held in regions is reclaimed as for any dead process.
 * Linux sends the signal when the *thread* that started the worker exits: start
 * workers from a thread that outlives them (the main thread, say).
 *
 * Waiting. A join waits for its one worker only (waitpid on its pid; other children
 * and their statuses are not touched): a timed join sleeps in poll() on a pidfd where
 * the kernel has them (Linux 5.3), else in short bounded sleeps between checks.
 * Statuses are reaped by the process that started the worker: a program that
 * ignores SIGCHLD (SIG_IGN) or reaps with waitpid(-1) takes them, and the join then
 * returns -ECHILD.
 *
 * Which calls may run concurrently:
 *
 *  call                          | same handle, other thread | other handles
 *  ------------------------------+---------------------------+---------------
 *  shmrt_worker_start / _exec    | n/a (it fills the handle) | yes
 *  join / is_alive / signal ...  | no (one thread at a time) | yes
 *
 * A handle belongs to the process that started the worker: in any other process
 * (a forked child that inherited it, say) every call but the reads of its fields
 * returns -ECHILD.
 */
#ifndef SHMRT_WORKER_H
#define SHMRT_WORKER_H

#include <sys/types.h>
#include "common.h"
#include "region.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A worker's state (shmrt_worker_t.state). */
typedef enum shmrt_worker_state {
	SHMRT_WORKER_NONE = 0,    /* not started (a zeroed handle) */
	SHMRT_WORKER_RUNNING = 1, /* started, not yet reaped (it may have exited) */
	SHMRT_WORKER_EXITED = 2,  /* reaped by a join or is_alive: exitcode is valid */
	SHMRT_WORKER_LOST = 3,    /* reaped by someone else (SIGCHLD ignored, waitpid(-1)):
	                             its exit code is unknown */
} shmrt_worker_state_t;

/*
 * A worker: a process-local handle, filled by a start and updated by the calls below.
 * The fields may be read at any time; only the calls change them.
 */
typedef struct shmrt_worker {
	pid_t pid;      /* the worker's process id (still its own while RUNNING) */
	int state;      /* shmrt_worker_state_t */
	int exitcode;   /* when EXITED: the exit status (0..255), or -SIG if killed by SIG */
	pid_t parent;   /* the process that started it, the one that may join and signal it */
} shmrt_worker_t;

/* The function a worker runs; its return value is the worker's exit status (& 0xff,
 * as for exit()). */
typedef int (*shmrt_worker_fn)(void *arg);

/*
 * Starts a worker: forks, and runs fn(arg) in the child, which exits with its return
 * value. See the fork rules above. Before the fork, stdio buffers are flushed; in the
 * child, PR_SET_PDEATHSIG is set to SIGKILL before fn runs.
 *
 * Returns 0 and *out (state RUNNING), or:
 *  -EINVAL   fn or out is NULL
 *  -EAGAIN   the process limit (RLIMIT_NPROC) or the kernel's is reached
 *  -ENOMEM   out of memory for the new process
 *
 * Concurrency: any thread (a process-local lock orders the forks of this file, so a
 * child never inherits another start's exec pipe). Ordering: the child starts with a
 * copy of the caller's private memory as it was at the fork, and sees in the regions
 * everything the caller wrote before the call.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_worker_start(shmrt_worker_fn fn, void *arg,
						shmrt_worker_t *out);

/*
 * Starts a worker running a program: forks and execs file with argv and envp (NULL:
 * the caller's environment). A file without a '/' is searched in PATH (or
 * "/bin:/usr/bin" without one) as execvp() does, except that a file that is not an
 * executable format is -ENOEXEC, not run by a shell.
 *
 * Handing regions over: the descriptors of the nregions regions (shmrt_region_fd())
 * stay open in the program (without FD_CLOEXEC), and its environment gets
 * SHMRT_REGION_FDS=FD0,FD1,... naming them in order (replacing any such variable of
 * envp; with no region, the variable is removed). The program attaches to the i-th
 * with shmrt_region_inherited(i, &r). Any backing may be handed over; a memfd region
 * (SHMRT_BACKING_MEMFD) reaches a program only this way (or over a Unix socket). The
 * regions stay open in the caller, which may close them once the call returned.
 *
 * The program gets PR_SET_PDEATHSIG = SIGKILL too (kept across exec, except for a
 * set-user-ID or set-group-ID program). It inherits no registry slot: the process
 * appears in a region's registry once it attaches.
 *
 * Returns 0 and *out (state RUNNING) once the exec has succeeded, or:
 *  -EINVAL    file, argv or out NULL, or a region NULL
 *  -ENOENT    no such program (nor in PATH); -EACCES not executable; -ENOEXEC not an
 *             executable format; any other error of execve(), as the child saw it (the
 *             child is reaped: no worker is left running)
 *  -E2BIG     argument list and environment too large
 *  -EAGAIN, -ENOMEM, -EMFILE  as for shmrt_worker_start, or out of descriptors
 *
 * Concurrency: any thread. A fork() that the program runs itself, in another thread,
 * while this call waits for the exec, makes its child hold the pipe that reports the
 * exec's outcome: this call then returns only when that child exits or execs.
 * Ordering: as shmrt_worker_start; what the caller wrote into the regions before the
 * call is visible to the program once it attached.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_worker_exec(const char *file, char *const argv[],
					       char *const envp[],
					       shmrt_region_t *const regions[], unsigned nregions,
					       shmrt_worker_t *out);

/*
 * In a program started by shmrt_worker_exec(): attaches to the i-th region handed over
 * (from SHMRT_REGION_FDS) with shmrt_region_open_fd(). The first call adopts the
 * variable: it remembers the descriptors, marks them all close-on-exec and removes
 * SHMRT_REGION_FDS from the environment, so that a program this one starts (by any
 * exec) sees neither stale descriptor numbers nor the variable; it gets only the
 * regions it is handed. The handle holds its own duplicate. Calling it again, for the
 * same i or another, uses the remembered descriptors (the same i opens a second
 * handle to the same region); a variable set again later replaces them.
 *
 * Returns 0 and *out, or:
 *  -EINVAL   out is NULL, or SHMRT_REGION_FDS is malformed
 *  -ENOENT   no region i was handed over (no variable, or fewer regions)
 *  -EBADF    the descriptor is not open (closed by the program)
 *  and the errors of shmrt_region_open_fd().
 *
 * Concurrency: any thread; calls are serialised by a process-local lock. It reads the
 * environment and, when it adopts the variable, changes it (unsetenv): not while
 * another thread calls getenv, setenv, unsetenv or putenv. Ordering: as
 * shmrt_region_open_fd.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_region_inherited(unsigned i, shmrt_region_t **out);

/*
 * Waits for a worker to end, at most timeout nanoseconds (SHMRT_FOREVER: no limit),
 * and reaps it. *exitcode (may be NULL) gets its exit code, Python style: the exit
 * status (0..255), or -SIG if the signal SIG killed it. A worker already joined is
 * joined again at once, with the same code.
 *
 * Returns 0, or:
 *  -ETIMEDOUT  still running at the deadline (timeout 0 included: is_alive is the
 *              probe that does not count as a failure); join again later
 *  -EINVAL     w NULL or never started
 *  -ECHILD     not the caller's worker (another process's handle), or its status was
 *              taken by someone else (state becomes LOST)
 *
 * Concurrency: one thread per handle at a time. Ordering: what the worker wrote
 * before it exited (into regions, or to files) is visible after a join that returns 0.
 */
SHMRT_API int shmrt_worker_join(shmrt_worker_t *w, shmrt_ns_t timeout, int *exitcode);

/*
 * Whether the worker still runs, without waiting: 1 it does, 0 it has ended (and is
 * now reaped: state EXITED and exitcode set, as Python's is_alive() does; or LOST if
 * its status was taken by someone else), or -EINVAL (NULL, never started), -ECHILD
 * (another process's handle).
 * Concurrency and Ordering: as shmrt_worker_join.
 */
SHMRT_API int shmrt_worker_is_alive(shmrt_worker_t *w);

/*
 * Sends signal sig to the worker (kill(2)). shmrt_worker_terminate() sends SIGTERM and
 * shmrt_worker_kill() SIGKILL, as Python's terminate() and kill() do; join then gives
 * -SIGTERM (-15) or -SIGKILL (-9), unless the worker handled the signal. A signal is
 * sent only to a worker not yet reaped, whose pid therefore cannot be another
 * process's.
 *
 * Returns 0, or: -ESRCH (already joined or lost: nothing sent), -EINVAL (NULL, never
 * started, or a bad signal number), -ECHILD (another process's handle), -EPERM.
 * Concurrency: as shmrt_worker_join (a signal sent while another thread reaps the
 * same handle could reach a recycled pid). Ordering: none.
 */
SHMRT_API int shmrt_worker_signal(shmrt_worker_t *w, int sig);
SHMRT_API int shmrt_worker_terminate(shmrt_worker_t *w);
SHMRT_API int shmrt_worker_kill(shmrt_worker_t *w);

/*
 * Starts n workers: worker i runs fn(args[i]) (fn(NULL) for all if args is NULL),
 * into out[0..n-1]. If one fails to start, those already started are killed
 * (SIGKILL) and reaped, out[] is left untouched, and the error is returned.
 * Returns 0, the errors of shmrt_worker_start, or -EINVAL (fn or out NULL).
 * Concurrency and Ordering: as shmrt_worker_start.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_workers_start(unsigned n, shmrt_worker_fn fn,
						 void *const args[], shmrt_worker_t out[]);

/*
 * Joins n workers with one deadline for all (timeout as shmrt_worker_join). Every
 * worker is joined or tried, also after a failure (past the deadline, each ended one
 * is still reaped); exit codes are in ws[i].exitcode of those with state EXITED.
 * Returns 0 when all are joined, or the first error (in index order) of
 * shmrt_worker_join: -ETIMEDOUT if some still run, -EINVAL, -ECHILD.
 * Concurrency and Ordering: as shmrt_worker_join, for each handle.
 */
SHMRT_API int shmrt_workers_join(unsigned n, shmrt_worker_t ws[], shmrt_ns_t timeout);

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_WORKER_H */
