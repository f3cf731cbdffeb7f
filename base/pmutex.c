/*
 * Robust process-shared mutexes (pmutex.h).
 *
 * Judging a lock word. glibc keeps the holder's TID in the low 30 bits of the word of a
 * robust mutex, with FUTEX_WAITERS and FUTEX_OWNER_DIED above it (the kernel's
 * robust-futex protocol). A waiter blocks in pthread_mutex_timedlock for one slice at a
 * time; between slices it reads the word's TID and the `owner` identity and decides:
 *  - the owner identity is that TID's, and the thread is alive with that start time:
 *    a genuine holder, wait;
 *  - the TID's thread is gone, or its process does not map the lock's file: no holder
 *    backs the word (a holder that died would have had its word rewritten by the
 *    kernel): take it over at once;
 *  - otherwise (the identity names a thread that is gone or was replaced, or no
 *    identity names the TID while that thread lives and maps the file): either a holder
 *    between its acquisition and its `owner` store (a few instructions), or a word no
 *    holder backs. If the same word and identity are seen a slice apart, it is the
 *    latter: take it over. A holder stopped (SIGSTOP, a debugger) inside those few
 *    instructions for a whole slice would be taken over wrongly: that is the one case
 *    this cannot tell apart.
 *  - /proc cannot tell (another user's or pid namespace's process): if the same owner
 *    holds it for UNKNOWN_OWNER_NS, -ENOTRECOVERABLE, so no wait is endless.
 * Taking over is what the kernel does for a dead holder: the word becomes
 * FUTEX_OWNER_DIED (keeping FUTEX_WAITERS), a waiter is woken, and the next trylock
 * returns EOWNERDEAD, whose recovery then runs as after a death.
 */
#define _GNU_SOURCE
#include "pmutex.h"

#include <errno.h>
#include <linux/futex.h>

#include "atomic.h"
#include "clock.h"
#include "futex.h"
#include "proc.h"

#ifdef __SANITIZE_THREAD__
#include <sanitizer/tsan_interface.h>
#endif

#define LOCK_SLICE_NS 100000000ull     /* how often a waiter judges the word */
#define UNKNOWN_OWNER_NS 1000000000ull /* bound when /proc cannot tell */

int shmrt__pmutex_init_type(shmrt_pmutex_t *pm, int type)
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
		rc = pthread_mutex_init(&pm->m, &a);
	pthread_mutexattr_destroy(&a);
	pm->owner = 0;
	return -rc;
}

int shmrt__pmutex_init(shmrt_pmutex_t *pm)
{
	return shmrt__pmutex_init_type(pm, PTHREAD_MUTEX_NORMAL);
}

static inline uint32_t *word_of(shmrt_pmutex_t *pm)
{
	return (uint32_t *)(void *)&pm->m.__data.__lock;
}

/*
 * glibc's kind word of the three mutexes shmrt makes (robust, process-shared: normal,
 * error-checking, recursive), learnt once from mutexes made the same way. A shared
 * mutex whose kind is anything else was damaged: glibc would treat its word by another
 * protocol (a private or non-robust one), and a lock could wait for ever.
 */
static int kinds[3];
static pthread_once_t kinds_once = PTHREAD_ONCE_INIT;

static void learn_kinds(void)
{
	const int types[3] = { PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_ERRORCHECK,
			       PTHREAD_MUTEX_RECURSIVE };
	for (int i = 0; i < 3; i++) {
		shmrt_pmutex_t m;
		if (shmrt__pmutex_init_type(&m, types[i]) == 0)
			kinds[i] = m.m.__data.__kind;
		pthread_mutex_destroy(&m.m);
	}
}

static int kind_ok(shmrt_pmutex_t *pm)
{
	pthread_once(&kinds_once, learn_kinds);
	/* Relaxed: the kind never changes after init (a change is damage). */
	int k = load_relaxed(&pm->m.__data.__kind);
	return k == kinds[0] || k == kinds[1] || k == kinds[2];
}

/* What a waiter makes of the word w and identity tag (file comment). */
enum { GENUINE, NO_HOLDER, MAYBE, UNKNOWN };

static int judge(shmrt_pmutex_t *pm, int fd, uint32_t w, uint64_t tag)
{
	uint32_t tid = w & FUTEX_TID_MASK;
	if (SHMRT_IDENT_TID(tag) == tid) {
		int is = shmrt__thread_is(tid, SHMRT_IDENT_START(tag));
		return is > 0 ? GENUINE : is == 0 ? MAYBE : UNKNOWN;
	}
	int cannot = shmrt__tid_cannot_own(word_of(pm), fd, tid);
	return cannot > 0 ? NO_HOLDER : cannot == 0 ? MAYBE : UNKNOWN;
}

/* Does for the word w what the kernel does when its holder dies. */
static void take_over(shmrt_pmutex_t *pm, uint32_t w)
{
	uint32_t died = (w & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
	/* Relaxed: the trylock that follows acquires (and fails if anyone moved the
	 * word meanwhile: this CAS then fails too). */
	if (cas_relaxed(word_of(pm), &w, died) && (died & FUTEX_WAITERS))
		shmrt__futex_wake(word_of(pm), 1);
}

int shmrt__pmutex_acquire(shmrt_pmutex_t *pm, int fd, uint64_t deadline)
{
	if (unlikely(!kind_ok(pm)))
		return -ENOTRECOVERABLE;
	int rc = pthread_mutex_trylock(&pm->m);
	uint32_t seen_w = 0;
	uint64_t seen_tag = 0, seen_since = 0;
	while (rc == EBUSY || rc == ETIMEDOUT) {
		uint64_t now = mono_ns();
		if (now >= deadline)
			return -(deadline == 0 ? EAGAIN : ETIMEDOUT);
		if (rc == ETIMEDOUT) {
			/* A slice passed: judge the word. Relaxed loads: acted on only when
			 * the same pair is seen a slice apart, or when no thread can back it. */
			uint32_t w = load_relaxed(word_of(pm));
			uint64_t tag = load_relaxed(&pm->owner);
			int same = w == seen_w && tag == seen_tag;
			if (!same) {
				seen_w = w;
				seen_tag = tag;
				seen_since = now;
			}
			if ((w & FUTEX_TID_MASK) && !(w & FUTEX_OWNER_DIED)) {
				int j = judge(pm, fd, w, tag);
				if (j == NO_HOLDER || (j == MAYBE && same)) {
					take_over(pm, w);
					rc = pthread_mutex_trylock(&pm->m);
					continue;
				}
				if (j == UNKNOWN && same && now - seen_since >= UNKNOWN_OWNER_NS)
					return -ENOTRECOVERABLE;
			}
		}
		/* timedlock (CLOCK_REALTIME) rather than clocklock: sanitizers intercept it.
		 * Its absolute time is one slice from now, cut to the monotonic deadline:
		 * a step of the wall clock changes one slice, not the deadline. */
		uint64_t slice = deadline - now < LOCK_SLICE_NS ? deadline - now : LOCK_SLICE_NS;
		struct timespec ts = shmrt__timespec(real_ns() + slice);
		rc = pthread_mutex_timedlock(&pm->m, &ts);
#ifdef __SANITIZE_THREAD__
		/* TSan's timedlock interceptor records the lock only when the call returns
		 * 0, yet EOWNERDEAD acquires it too (its trylock interceptor knows that):
		 * without this, the release that follows is reported as the unlock of an
		 * unlocked mutex. */
		if (rc == EOWNERDEAD) {
			__tsan_mutex_pre_lock(&pm->m, __tsan_mutex_try_lock);
			__tsan_mutex_post_lock(&pm->m, __tsan_mutex_try_lock, 0);
		}
#endif
	}
	if (rc == 0 || rc == EOWNERDEAD)
		store_relaxed(&pm->owner, shmrt__self_ident()); /* ours until we release */
	return -rc;
}

int shmrt__pmutex_lock(shmrt_pmutex_t *pm, int fd, void (*recover)(void *), void *ctx)
{
	int rc = shmrt__pmutex_acquire(pm, fd, SHMRT_NO_DEADLINE);
	if (rc == -EOWNERDEAD) {
		if (recover)
			recover(ctx);
		pthread_mutex_consistent(&pm->m);
		rc = 0;
	}
	return rc;
}

int shmrt__pmutex_release(shmrt_pmutex_t *pm)
{
	/* Relaxed: our own TID is in the word only while we hold it. */
	if ((load_relaxed(word_of(pm)) & FUTEX_TID_MASK) != shmrt__tid())
		return -EPERM;
	/* Cleared before the unlock (whose release orders it before the next holder's
	 * store), unless a recursive lock stays held. */
	if (pm->m.__data.__count <= 1)
		store_relaxed(&pm->owner, 0);
	return -pthread_mutex_unlock(&pm->m);
}

int shmrt__pmutex_held(const shmrt_pmutex_t *pm)
{
	return (load_relaxed(word_of((shmrt_pmutex_t *)pm)) & FUTEX_TID_MASK) == shmrt__tid();
}

void shmrt__pmutex_unlock(shmrt_pmutex_t *pm)
{
	(void)shmrt__pmutex_release(pm);
}

int shmrt__pmutex_consistent(shmrt_pmutex_t *pm)
{
	return -pthread_mutex_consistent(&pm->m);
}
