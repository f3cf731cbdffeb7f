/*
 * Platform primitives shared by every layer of shmrt (alloc/ is the bottom layer,
 * so they live here): atomics whose memory order is part of their name, robust
 * process-shared mutexes with crash recovery, clocks, and branch hints.
 *
 * Atomics are the compiler's __atomic builtins rather than ck_pr so that
 * ThreadSanitizer sees every shared access; they compile to the same instructions.
 * Every use in shmrt says what it pairs with.
 *
 * Robust mutexes: a mutex whose holder dies is handed to the next locker with
 * EOWNERDEAD. shmrt__pmutex_lock() then runs the caller's recovery function, which
 * repairs the protected state from its journal, marks the mutex consistent and
 * returns 0: callers never see a dead holder. Internal use only.
 */
#ifndef SHMRT_ALLOC_PLAT_H
#define SHMRT_ALLOC_PLAT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define SHMRT_NOINLINE __attribute__((noinline))
#define SHMRT_CACHELINE 64
#define SHMRT_ALIGNED(n) __attribute__((aligned(n)))

/* ---- atomics ---------------------------------------------------------------- */

#define load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define fetch_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define fetch_add_acq_rel(p, v) __atomic_fetch_add((p), (v), __ATOMIC_ACQ_REL)
#define fetch_sub_relaxed(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)
#define exchange_acq_rel(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
/* Strong CAS; on failure *(expp) receives the current value. */
#define cas_acq_rel(p, expp, v)                                                        \
	__atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_ACQ_REL,          \
				    __ATOMIC_ACQUIRE)
#define fence_seq_cst() __atomic_thread_fence(__ATOMIC_SEQ_CST)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * Copies bytes that another process may be writing at the same time, by design: a
 * seqlock or ring protocol discards the copy if it raced. Under ThreadSanitizer the
 * copy is made of relaxed atomics, so the race is a declared one; elsewhere memcpy.
 */
#include <string.h>
static inline void shmrt__copy_racy(void *dst, const void *src, size_t n)
{
#ifdef __SANITIZE_THREAD__
	unsigned char *d = (unsigned char *)dst;
	const unsigned char *s = (const unsigned char *)src;
	for (size_t i = 0; i < n; i++)
		__atomic_store_n(&d[i], __atomic_load_n(&s[i], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
#else
	if (n >= 16 && n <= 64) {
		/* Two fixed-size moves that overlap in the middle, inline: the message
		 * sizes of a queue or pipe are mostly small, and the call into memcpy's
		 * size dispatch cost more than the copy. */
		char *d = (char *)dst;
		const char *s = (const char *)src;
		if (n <= 32) {
			__builtin_memcpy(d, s, 16);
			__builtin_memcpy(d + n - 16, s + n - 16, 16);
		} else {
			__builtin_memcpy(d, s, 32);
			__builtin_memcpy(d + n - 32, s + n - 32, 32);
		}
		return;
	}
	memcpy(dst, src, n);
#endif
}

/*
 * Asymmetric barriers (the idea of folly's asymmetricLightBarrier and of liburcu's
 * membarrier flavor): a Dekker pair in which one side runs per message and the other
 * only before it sleeps. The hot side (a waker: store the index, then read the
 * waiter flag) calls shmrt__light_barrier(), a compiler barrier once this process is
 * registered with membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED); the cold
 * side (a sleeper: announce itself, then re-read the index) calls
 * shmrt__heavy_barrier(), membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which runs a
 * full barrier on every CPU that runs a registered process. Either the waker's
 * index store is visible to the sleeper's re-read, or the waker's flag load comes
 * after that barrier and sees the announcement.
 *
 * Without membarrier (old kernel, seccomp), shmrt__light_barrier() is a full fence
 * and shmrt__heavy_barrier() returns -1: the caller fences and bounds its sleep.
 * A forked child registers again on its first light barrier.
 */
extern int shmrt__asym_state; /* 0 unknown, 1 registered, -1 unavailable */
int shmrt__asym_register(void); /* 1 registered, or -1 */
int shmrt__heavy_barrier(void); /* 0, or -1 (a full fence only: bound the sleep) */

static inline void shmrt__light_barrier(void)
{
	/* Relaxed: the state changes only in this process (registration, fork). */
	if (likely(__atomic_load_n(&shmrt__asym_state, __ATOMIC_RELAXED) > 0))
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	else if (shmrt__asym_register() < 0)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* ---- clocks -------------------------------------------------------------------- */

static inline uint64_t shmrt__now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#define mono_ns() shmrt__now_ns(CLOCK_MONOTONIC)
#define real_ns() shmrt__now_ns(CLOCK_REALTIME)

/* ---- robust process-shared mutexes -------------------------------------------- */

/* Initialises a PTHREAD_PROCESS_SHARED, PTHREAD_MUTEX_ROBUST mutex. 0 or -errno. */
int shmrt__pmutex_init(pthread_mutex_t *m);

/*
 * Locks m, which lives in the shared file fd (-1 if unknown: the owner check below
 * is then weaker). If the previous holder died, recover(ctx) runs with the lock held (it must
 * repair what m protects), the mutex is made consistent, and 0 is returned.
 * Returns 0, or -ENOTRECOVERABLE if a previous recovery was abandoned or the lock
 * word names a thread that cannot hold it (corruption: no such thread, or its
 * process does not map fd): never waits forever on it.
 */
int shmrt__pmutex_lock(pthread_mutex_t *m, int fd, void (*recover)(void *ctx), void *ctx);

/*
 * Acquires m by an absolute CLOCK_REALTIME deadline (UINT64_MAX: none; 0: try once).
 * Returns 0; -EOWNERDEAD: acquired, the previous owner died, the caller must repair
 * and call pthread_mutex_consistent() (or unlock, making m unrecoverable); -EAGAIN
 * (try once, busy); -ETIMEDOUT; -ENOTRECOVERABLE; -EDEADLK (error-checking kinds).
 */
int shmrt__pmutex_acquire(pthread_mutex_t *m, int fd, uint64_t deadline);

/* Initialises a robust process-shared mutex of the given pthread type. */
int shmrt__pmutex_init_type(pthread_mutex_t *m, int type);

void shmrt__pmutex_unlock(pthread_mutex_t *m);

/* ---- TID locks: a futex word owned by a thread id, robust by liveness checks ------ */

/*
 * A lighter robust lock for user-facing compound updates (the Value's get_lock()),
 * where glibc's robust mutex costs twice as much under contention (measured: 22 M vs
 * 50 M locked adds/s between two processes). One 32-bit word: 0 = free, else the
 * owner's TID | TLOCK_WAITERS (someone sleeps) | TLOCK_DIED (taken over from a dead
 * owner, not yet made consistent). An owner field of all ones marks it unusable.
 * No kernel robust list: a waiter checks the owner after 1 ms, then at doubling
 * intervals up to 100 ms: a thread that no longer exists, or whose process does not
 * map the lock's file (a recycled TID), is dead, and the waiter takes the lock over
 * with -EOWNERDEAD. Lock and unlock are one atomic each when uncontended.
 */
#define SHMRT_TLOCK_WAITERS 0x80000000u
#define SHMRT_TLOCK_DIED 0x40000000u
#define SHMRT_TLOCK_TID 0x3fffffffu
#define SHMRT_TLOCK_UNUSABLE SHMRT_TLOCK_TID

/* The calling thread's TID, cached per thread (refreshed in a forked child). */
uint32_t shmrt__tid(void);

/* As shmrt__pmutex_acquire, for a TID lock; also -EDEADLK (the caller holds it). */
int shmrt__tlock_acquire(uint32_t *w, int fd, uint64_t deadline);
/* 0, or -EPERM (the caller does not hold it). Unlocking a lock taken over from a dead
 * owner without shmrt__tlock_consistent() makes it unusable (-ENOTRECOVERABLE). */
int shmrt__tlock_release(uint32_t *w);
/* Marks a lock taken over with -EOWNERDEAD consistent. 0, or -EINVAL. */
int shmrt__tlock_consistent(uint32_t *w);

/* Absolute CLOCK_REALTIME deadline for a shmrt timeout (0 = try once, <0 = never). */
static inline uint64_t shmrt__deadline(int64_t timeout_ns)
{
	if (timeout_ns < 0)
		return UINT64_MAX;
	if (timeout_ns == 0)
		return 0;
	return real_ns() + (uint64_t)timeout_ns;
}

/* ---- test hooks -------------------------------------------------------------- */

/*
 * Race-window widening for tests (urcu's debug-yield idea): when the environment
 * variable SHMRT_YIELD=N is set in a build with SHMRT_DEBUG_YIELD, every
 * SHMRT_YIELD_POINT() yields the CPU with probability 1/N. Compiled out otherwise.
 */
#ifdef SHMRT_DEBUG_YIELD
void shmrt__yield_point(void);
#define SHMRT_YIELD_POINT() shmrt__yield_point()
#else
#define SHMRT_YIELD_POINT() ((void)0)
#endif

#endif /* SHMRT_ALLOC_PLAT_H */
