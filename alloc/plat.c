/*
 * Robust process-shared mutexes and the debug yield points (see plat.h).
 *
 * A robust mutex whose owner thread dies is released by the kernel (robust futex
 * list) with FUTEX_OWNER_DIED; the next pthread_mutex_lock returns EOWNERDEAD and
 * owns it. We then run the caller's recovery and call pthread_mutex_consistent().
 * If the process recovering dies too, the next locker gets EOWNERDEAD again and
 * recovery runs again: every recovery function is idempotent.
 */
#define _GNU_SOURCE
#include "plat.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <stdint.h>

int shmrt__pmutex_init(pthread_mutex_t *m)
{
	return shmrt__pmutex_init_type(m, PTHREAD_MUTEX_NORMAL);
}

int shmrt__pmutex_init_type(pthread_mutex_t *m, int type)
{
	pthread_mutexattr_t a;
	int rc = pthread_mutexattr_init(&a);
	if (rc)
		return -rc;
	rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!rc)
		rc = pthread_mutexattr_settype(&a, type);
	if (!rc)
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!rc)
		rc = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return -rc;
}

/*
 * The kernel hands a robust mutex over when its owner dies. A lock word naming a
 * thread that cannot be the owner (a corrupted region, or an owner in another pid
 * namespace) would make lockers wait forever. So a waiter, every LOCK_SLICE, checks
 * the owner TID that glibc keeps in the lock word of robust mutexes: the thread must
 * exist, and its process must map the file the mutex lives in (fd, by device and
 * inode, from /proc/TID/maps). Otherwise the lock is reported -ENOTRECOVERABLE.
 * When /proc cannot tell (another user's or namespace's process), the wait is still
 * bounded: if the same owner holds it for UNKNOWN_OWNER_NS, it is reported too.
 * shmrt holds its internal locks for microseconds, so only corruption gets there.
 */
static int maps_file(int tid, dev_t dev, ino_t ino)
{
	char path[48], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -1; /* -1: cannot tell */
	int found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long inode;
		if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &inode) == 3)
			found = inode == (unsigned long long)ino && maj == major(dev) &&
				min == minor(dev);
		if (!strchr(line, '\n')) { /* skip the rest of an overlong line */
			int c;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
		}
	}
	fclose(f);
	return found;
}

#define LOCK_SLICE_NS 100000000ull     /* how often a waiter re-checks the owner */
#define UNKNOWN_OWNER_NS 1000000000ull /* bound when /proc cannot tell */

/* 1: the owner cannot hold the lock whose word is *word; 0: it may; -1: cannot tell. */
static int owner_impossible_word(const int *word, int fd, int tid)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/%d", tid);
	if (access(path, F_OK) != 0)
		return errno == ENOENT ? 1 : -1;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		return -1;
	int maps = maps_file(tid, st.st_dev, st.st_ino);
	if (maps < 0)
		return -1;
	return !maps && (__atomic_load_n(word, __ATOMIC_RELAXED) & 0x3fffffff) == tid;
}

static int owner_impossible(pthread_mutex_t *m, int fd, int tid)
{
	return owner_impossible_word(&m->__data.__lock, fd, tid);
}

int shmrt__pmutex_acquire(pthread_mutex_t *m, int fd, uint64_t deadline)
{
	int rc = pthread_mutex_trylock(m), seen_tid = 0;
	uint64_t seen_since = 0;
	while (rc == EBUSY || rc == ETIMEDOUT) {
		uint64_t now = real_ns();
		if (now >= deadline)
			return -(deadline == 0 ? EAGAIN : ETIMEDOUT);
		/* The owner TID glibc keeps in the lock word of robust mutexes, without
		 * FUTEX_WAITERS / FUTEX_OWNER_DIED. */
		int tid = __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) & 0x3fffffff;
		if (rc == ETIMEDOUT && tid) {
			int imp = owner_impossible(m, fd, tid);
			if (imp == 1)
				return -ENOTRECOVERABLE;
			if (tid != seen_tid) {
				seen_tid = tid;
				seen_since = mono_ns();
			} else if (imp < 0 && mono_ns() - seen_since >= UNKNOWN_OWNER_NS) {
				return -ENOTRECOVERABLE;
			}
		}
		/* timedlock (CLOCK_REALTIME) rather than clocklock: sanitizers intercept
		 * it; a clock step only lengthens or shortens one re-check slice. */
		uint64_t d = now + LOCK_SLICE_NS < deadline ? now + LOCK_SLICE_NS : deadline;
		struct timespec ts = { .tv_sec = (time_t)(d / 1000000000ull),
				       .tv_nsec = (long)(d % 1000000000ull) };
		rc = pthread_mutex_timedlock(m, &ts);
	}
	return -rc;
}

int shmrt__pmutex_lock(pthread_mutex_t *m, int fd, void (*recover)(void *), void *ctx)
{
	int rc = shmrt__pmutex_acquire(m, fd, UINT64_MAX);
	if (rc == -EOWNERDEAD) {
		if (recover)
			recover(ctx);
		pthread_mutex_consistent(m);
		rc = 0;
	}
	return rc;
}

void shmrt__pmutex_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
}

/* ---- asymmetric barriers ------------------------------------------------------- */

/* Read by the inline fast paths of public headers (shmrt/inline/pipe.h): exported. */
__attribute__((visibility("default"))) int shmrt__asym_state;

static void asym_child(void)
{
	/* A fork copies the flag, not (for certain) the kernel's registration. */
	__atomic_store_n(&shmrt__asym_state, 0, __ATOMIC_RELAXED);
}

/* SHMRT_TEST_NO_MEMBARRIER=1 (tests): behave as on a kernel without membarrier, with
 * fences on both sides. Every process of the test must have it. */
static int asym_test_off(void)
{
	static int off = -1;
	int v = __atomic_load_n(&off, __ATOMIC_RELAXED);
	if (unlikely(v < 0)) {
		const char *e = getenv("SHMRT_TEST_NO_MEMBARRIER");
		v = e && *e == '1';
		__atomic_store_n(&off, v, __ATOMIC_RELAXED);
	}
	return v;
}

static void asym_init(void)
{
	pthread_atfork(NULL, NULL, asym_child);
}

int shmrt__asym_register(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int s = __atomic_load_n(&shmrt__asym_state, __ATOMIC_RELAXED);
	if (s)
		return s;
	pthread_once(&once, asym_init);
	/* The registration runs a full barrier in this thread: a sleeper whose heavy
	 * barrier came before it sees our stores, and we see its announcement. */
	if (asym_test_off())
		s = -1;
	else
		s = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0 ? 1 : -1;
	__atomic_store_n(&shmrt__asym_state, s, __ATOMIC_RELAXED);
	return s;
}

int shmrt__heavy_barrier(void)
{
	if (unlikely(asym_test_off())) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* every waker fences too */
		return 0;
	}
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0)
		return 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return -1;
}

/* ---- TID locks ------------------------------------------------------------------ */

static uint64_t tid_gen = 1;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;
static __thread struct {
	uint64_t gen;
	uint32_t tid;
} tl_tid __attribute__((tls_model("initial-exec"))); /* no __tls_get_addr per lock */

static void tid_child(void)
{
	__atomic_fetch_add(&tid_gen, 1, __ATOMIC_RELAXED);
}

static void tid_init(void)
{
	pthread_atfork(NULL, NULL, tid_child);
}

uint32_t shmrt__tid(void)
{
	/* Relaxed: tid_gen changes only in a forked child's only thread. */
	uint64_t g = __atomic_load_n(&tid_gen, __ATOMIC_RELAXED);
	if (likely(tl_tid.gen == g))
		return tl_tid.tid;
	pthread_once(&tid_once, tid_init);
	tl_tid.tid = (uint32_t)syscall(SYS_gettid);
	tl_tid.gen = __atomic_load_n(&tid_gen, __ATOMIC_RELAXED);
	return tl_tid.tid;
}

static void tlock_wait(uint32_t *w, uint32_t val, uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
	/* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	syscall(SYS_futex, w, FUTEX_WAIT, val, &ts, NULL, 0);
}

#define TLOCK_FIRST_CHECK_NS 1000000ull
#define TLOCK_MAX_CHECK_NS 100000000ull

int shmrt__tlock_acquire(uint32_t *w, int fd, uint64_t deadline)
{
	uint32_t me = shmrt__tid(), c = 0;
	/* Acquire: pairs with the release in shmrt__tlock_release(). */
	if (likely(__atomic_compare_exchange_n(w, &c, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
		return 0;
	uint64_t step = TLOCK_FIRST_CHECK_NS, next = mono_ns() + step, unknown_since = 0;
	uint32_t unknown_tid = 0;
	for (;;) {
		c = __atomic_load_n(w, __ATOMIC_RELAXED);
		if (c == 0) {
			/* We have waited: others may wait too, so keep WAITERS set. */
			if (__atomic_compare_exchange_n(w, &c, me | SHMRT_TLOCK_WAITERS, 0,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return 0;
			continue;
		}
		uint32_t owner = c & SHMRT_TLOCK_TID;
		if (owner == SHMRT_TLOCK_UNUSABLE)
			return -ENOTRECOVERABLE;
		if (owner == me)
			return -EDEADLK;
		uint64_t now = real_ns();
		if (now >= deadline)
			return -(deadline == 0 ? EAGAIN : ETIMEDOUT);
		uint64_t mono = mono_ns();
		if (mono >= next) {
			int imp = owner_impossible_word((const int *)(void *)w, fd, (int)owner);
			if (imp == 1) {
				/* Dead owner: take over, keeping WAITERS (others may sleep). */
				uint32_t mine = me | SHMRT_TLOCK_WAITERS | SHMRT_TLOCK_DIED;
				if (__atomic_compare_exchange_n(w, &c, mine, 0, __ATOMIC_ACQUIRE,
								__ATOMIC_RELAXED))
					return -EOWNERDEAD;
				continue;
			}
			if (imp < 0) {
				if (owner != unknown_tid) {
					unknown_tid = owner;
					unknown_since = mono;
				} else if (mono - unknown_since >= UNKNOWN_OWNER_NS) {
					return -ENOTRECOVERABLE;
				}
			}
			step = step * 2 < TLOCK_MAX_CHECK_NS ? step * 2 : TLOCK_MAX_CHECK_NS;
			next = mono + step;
		}
		if (!(c & SHMRT_TLOCK_WAITERS)) {
			if (!__atomic_compare_exchange_n(w, &c, c | SHMRT_TLOCK_WAITERS, 0,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				continue;
			c |= SHMRT_TLOCK_WAITERS;
		}
		uint64_t left = deadline - now, slice = next > mono ? next - mono : 0;
		tlock_wait(w, c, slice < left ? slice : left);
	}
}

int shmrt__tlock_release(uint32_t *w)
{
	uint32_t c = __atomic_load_n(w, __ATOMIC_RELAXED);
	if ((c & SHMRT_TLOCK_TID) != shmrt__tid())
		return -EPERM;
	if (c & SHMRT_TLOCK_DIED) {
		/* Taken over and never made consistent: unusable from now on (as glibc's
		 * robust mutexes). Release: whatever was written is published. */
		__atomic_store_n(w, SHMRT_TLOCK_UNUSABLE | SHMRT_TLOCK_WAITERS, __ATOMIC_RELEASE);
		syscall(SYS_futex, w, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
		return 0;
	}
	/* Release: the critical section's writes are visible to the next owner
	 * (pairs with the acquire CAS in shmrt__tlock_acquire()). */
	uint32_t old = __atomic_exchange_n(w, 0, __ATOMIC_RELEASE);
	if (old & SHMRT_TLOCK_WAITERS)
		syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
	return 0;
}

int shmrt__tlock_consistent(uint32_t *w)
{
	uint32_t c = __atomic_load_n(w, __ATOMIC_RELAXED);
	if ((c & SHMRT_TLOCK_TID) != shmrt__tid() || !(c & SHMRT_TLOCK_DIED))
		return -EINVAL;
	/* Only the owner writes the word besides waiters setting WAITERS: CAS. */
	while (!__atomic_compare_exchange_n(w, &c, c & ~SHMRT_TLOCK_DIED, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
	return 0;
}

#ifdef SHMRT_DEBUG_YIELD
static __thread uint64_t yield_rng;
static int yield_n = -1;

void shmrt__yield_point(void)
{
	if (yield_n < 0) {
		const char *e = getenv("SHMRT_YIELD");
		yield_n = e ? atoi(e) : 0;
	}
	if (yield_n <= 0)
		return;
	if (!yield_rng)
		yield_rng = (uint64_t)(uintptr_t)&yield_rng ^ mono_ns();
	yield_rng ^= yield_rng << 13;
	yield_rng ^= yield_rng >> 7;
	yield_rng ^= yield_rng << 17;
	if (yield_rng % (uint64_t)yield_n == 0)
		sched_yield();
}
#endif
