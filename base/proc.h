/*
 * Processes and threads: who the caller is, and whether another one is alive.
 *
 * The one liveness module of shmrt. Two questions, two answers:
 *  - Is process PID, which started at time S, alive? A pid alone is not enough: the
 *    kernel recycles pids (pid_max is 32768 on many machines), so the process start
 *    time (field 22 of /proc/PID/stat, in clock ticks since boot) is recorded beside
 *    every pid shmrt trusts, and a pid whose start time differs is another process.
 *    A zombie (killed, not yet reaped) counts as dead. The registry uses this.
 *  - Can thread TID own a lock that lives in the file behind fd? A lock word holds a
 *    bare TID (the kernel's robust-futex convention), without a start time. The thread
 *    must exist and its process must map that file (/proc/TID/maps, by device and
 *    inode). The robust mutex and the TID lock use this to avoid waiting forever on a
 *    lock word that names a thread that cannot hold it.
 * Limitation: every process must share one pid namespace (and see /proc).
 */
#ifndef SHMRT_BASE_PROC_H
#define SHMRT_BASE_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* The calling thread's TID, cached per thread (refreshed in a forked child). */
uint32_t shmrt__tid(void);

/* Start time of process pid (clock ticks since boot), 0 if it cannot be read; *alive is
 * set to 1 if the process exists and is not a zombie. */
uint64_t shmrt__proc_start_time(pid_t pid, int *alive);

/* The calling process's start time, cached per process. */
uint64_t shmrt__self_start_time(void);

/* Whether process pid exists and is not a zombie (pid alone: for short windows in
 * which no start time is recorded yet). */
int shmrt__pid_alive(pid_t pid);

/*
 * Whether thread tid cannot own the lock whose 32-bit word is *word, a lock that lives
 * in the file open as fd: 1 if the thread is gone, or its process does not map that
 * file while the word still names tid; 0 if it may own it; -1 if /proc cannot tell
 * (another user's process, fd < 0).
 */
int shmrt__tid_cannot_own(const uint32_t *word, int fd, uint32_t tid);

#endif /* SHMRT_BASE_PROC_H */
