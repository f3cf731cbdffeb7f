/*
 * Processes and threads: who the caller is, and whether another one is alive.
 *
 * The one liveness module of shmrt. Two questions, two answers:
 *  - Is process PID, which started at time S, alive? A pid alone is not enough: the
 *    kernel recycles pids (pid_max is 32768 on many machines), so the process start
 *    time (field 22 of /proc/PID/stat, in clock ticks since boot) is recorded beside
 *    every pid shmrt trusts, and a pid whose start time differs is another process.
 *    A zombie (killed, not yet reaped) counts as dead. The registry uses this.
 *  - Is thread TID, which started at S, still that thread? Locks record their holder as
 *    a thread identity, the TID and the low 32 bits of the thread's start time (field
 *    22 of /proc/TID/stat), so a TID the kernel gave to a new thread is not taken for
 *    the holder that died (shmrt__thread_is). The TID lock keeps both in its word; a
 *    robust mutex keeps them in a tag beside glibc's word (base/pmutex.h).
 *  - Can thread TID own a lock that lives in the file behind fd? For a lock word that
 *    names a TID without a matching identity (a corrupted region, or a holder between
 *    its acquisition and its tag): the thread must exist and its process must map that
 *    file (/proc/TID/maps, by device and inode).
 * Limitation: every process must share one pid namespace (and see /proc).
 */
#ifndef SHMRT_BASE_PROC_H
#define SHMRT_BASE_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* The calling thread's TID, cached per thread (refreshed in a forked child). */
uint32_t shmrt__tid(void);

/* A thread identity: TID in bits 0..31, the low 32 bits of its start time (clock ticks
 * since boot) in bits 32..63. */
#define SHMRT_IDENT(tid, start) ((uint64_t)(uint32_t)(start) << 32 | (uint32_t)(tid))
#define SHMRT_IDENT_TID(id) ((uint32_t)(id))
#define SHMRT_IDENT_START(id) ((uint32_t)((id) >> 32))

/* The calling thread's identity, cached per thread (refreshed in a forked child). */
uint64_t shmrt__self_ident(void);

/* Whether thread tid that started at (the low 32 bits of) start still runs: 1 it does,
 * 0 it is gone or the TID now names another thread (or a zombie), -1 /proc cannot
 * tell (another pid namespace, no permission). */
int shmrt__thread_is(uint32_t tid, uint32_t start);

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
