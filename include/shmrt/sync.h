/*
 * shmrt process-shared synchronisation: Lock, RLock, Semaphore, BoundedSemaphore,
 * Event, Condition, Barrier. Named objects in a region; every wait takes a timeout
 * (0 = try once, negative = forever), and waiting spins briefly, then sleeps on a
 * futex, so any number of processes can wait on 2 cores.
 *
 * Robustness:
 *  - Lock and RLock are robust mutexes: if the holder dies, the next acquirer gets
 *    -EOWNERDEAD (it holds the lock; it repairs what the lock protects and calls
 *    shmrt_lock_consistent(); releasing without that makes the lock unusable, every
 *    later acquire returning -ENOTRECOVERABLE, as POSIX specifies).
 *  - A Barrier knows the processes that opened it; a waiter that finds one of them
 *    dead (checked every 50 ms while waiting) breaks the barrier for everyone
 *    (-EPIPE, like Python's BrokenBarrierError); a waiter that times out breaks it
 *    too; shmrt_barrier_reset() makes it usable again.
 *  - Semaphores and Events have no owner: a process that dies having acquired a
 *    permit does not give it back (as in POSIX and Python); waits stay bounded by
 *    their timeouts.
 *
 * Differences from Python: a Lock is owned (only the holder releases it: -EPERM
 * otherwise), and acquiring it twice in one thread returns -EDEADLK instead of
 * deadlocking; for a binary lock that any process may release, use a
 * BoundedSemaphore of 1. Timed-out waits return -ETIMEDOUT and tries (timeout 0)
 * -EAGAIN where Python returns False.
 *
 * Handles are small process-local structs (fields private), valid until the region
 * is closed. Ordering: acquiring or waiting successfully is an acquire of what the
 * releaser / setter / notifier / last arriver did before (release).
 */
#ifndef SHMRT_SYNC_H
#define SHMRT_SYNC_H

#include "common.h"
#include "region.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmrt_lock {
	void *shm;
	shmrt_region_t *region;
	bool created;  /* the open that filled this handle created it */
} shmrt_lock_t;
typedef struct shmrt_sem {
	void *shm;
	shmrt_region_t *region;
	bool created;  /* the open that filled this handle created it */
} shmrt_sem_t;
typedef struct shmrt_event {
	void *shm;
	shmrt_region_t *region;
	bool created;  /* the open that filled this handle created it */
} shmrt_event_t;
typedef struct shmrt_cond {
	void *shm;
	shmrt_region_t *region;
	bool created;  /* the open that filled this handle created it */
} shmrt_cond_t;
typedef struct shmrt_barrier {
	void *shm;
	shmrt_region_t *region;
	uint32_t slot, gen;   /* our membership */
	bool created;         /* the open that filled this handle created it */
} shmrt_barrier_t;

/* Object-opening calls: create or open by name (oflags SHMRT_O_CREATE/EXCL). Errors are
 * those of shmrt_object_open(); -EPROTOTYPE also when the name holds another kind
 * of primitive (a Lock opened as an RLock, a Semaphore as a BoundedSemaphore ...).
 * Concurrency: as shmrt_object_open. */

/* ---- Lock and RLock --------------------------------------------------------------- */

/* recursive != 0: an RLock (the holder may acquire again; release as many times).
 * oflags may add SHMRT_LOCK_NO_REPAIR (fixed at creation; an opener asking otherwise
 * gets -EPROTOTYPE): for locks that protect no invariant a holder's death can break
 * (a lock around printing, a turn): the next acquirer gets 0, never -EOWNERDEAD. */
#define SHMRT_LOCK_NO_REPAIR 0x400
SHMRT_API SHMRT_MUST_USE int shmrt_lock_open(shmrt_region_t *r, const char *name, int oflags,
					     int recursive, shmrt_lock_t *out);
/*
 * Returns 0; -EOWNERDEAD (acquired; the previous holder died holding it); -EAGAIN
 * (timeout 0, held); -ETIMEDOUT; -EDEADLK (a Lock already held by this thread);
 * -ENOTRECOVERABLE (abandoned after an -EOWNERDEAD, or corrupted). Concurrency: any.
 */
SHMRT_API int shmrt_lock_acquire(const shmrt_lock_t *l, shmrt_ns_t timeout);
/* Returns 0, or -EPERM when the caller does not hold it. */
SHMRT_API int shmrt_lock_release(const shmrt_lock_t *l);
/* 1 if the calling thread holds l, 0 if not (held by another thread, process, or
 * nobody); -EINVAL l not open. Exact for the caller: only the holder's own acquire
 * and release change the answer. Concurrency: any. Ordering: none (a relaxed read
 * of the lock word; the caller's own acquire and release order it for the caller).
 * (Python's Condition.notify uses it to refuse a notify without the lock.) */
SHMRT_API int shmrt_lock_held(const shmrt_lock_t *l);
/* After -EOWNERDEAD, once repaired: marks the lock consistent. 0 or -EINVAL. */
SHMRT_API int shmrt_lock_consistent(const shmrt_lock_t *l);

/*
 * Acquires with the repair of a dead holder's leftovers in one place: on -EOWNERDEAD,
 * calls repair(ctx) (NULL: nothing to repair), which returns 0 once the protected
 * state is consistent again; the lock is then marked consistent and the call returns
 * 0 with the lock held. A repair that fails (non-zero) releases the lock unrepaired,
 * which makes it -ENOTRECOVERABLE for everyone, and returns its error (a positive
 * one as -ENOTRECOVERABLE). Other results as shmrt_lock_acquire (not held then).
 */
SHMRT_API int shmrt_lock_acquire_repair(const shmrt_lock_t *l, shmrt_ns_t timeout,
					int (*repair)(void *ctx), void *ctx);

/*
 * The scoped form: runs the statement or block that follows with the lock held,
 * after shmrt_lock_acquire_repair(lock, SHMRT_FOREVER, repair, ctx), and releases it
 * when the block ends, by return or goto too (the cleanup attribute of GCC and
 * Clang). The macro is a loop of one round: break and continue inside the block
 * leave the block, not a loop around it. Each argument is evaluated once. rc (an int
 * lvalue) gets the acquire's result; the block runs only if it is 0, once:
 *
 *     int rc;
 *     SHMRT_WITH_LOCK(&lock, fix_totals, &state, rc) {
 *             state.a -= x;   // a holder killed here leaves a and b apart:
 *             state.b += x;   // the next holder's fix_totals() mends them
 *     }
 *     if (rc) ...             // not run: the lock is unrecoverable, or bad
 */
struct shmrt__lock_guard {
	const shmrt_lock_t *lock;
	int held;
};
static inline struct shmrt__lock_guard shmrt__lock_guard_enter(const shmrt_lock_t *l,
								int (*repair)(void *), void *ctx,
								int *rc)
{
	struct shmrt__lock_guard g = { l, 0 };
	*rc = shmrt_lock_acquire_repair(l, SHMRT_FOREVER, repair, ctx);
	g.held = *rc == 0;
	return g;
}
SHMRT_API void shmrt__lock_guard_release(struct shmrt__lock_guard *g);
#define SHMRT_WITH_LOCK(l, repair, ctx, rc)                                                \
	for (struct shmrt__lock_guard shmrt__guard                                         \
		     __attribute__((cleanup(shmrt__lock_guard_release))) =                  \
			     shmrt__lock_guard_enter((l), (repair), (ctx), &(rc));          \
	     shmrt__guard.held; shmrt__lock_guard_release(&shmrt__guard))

/* ---- Semaphore and BoundedSemaphore -------------------------------------------- */

/* bounded != 0: releasing above the initial value is an error (-EOVERFLOW). The
 * initial value applies on creation. */
SHMRT_API SHMRT_MUST_USE int shmrt_sem_open(shmrt_region_t *r, const char *name, int oflags,
					    uint32_t initial, int bounded, shmrt_sem_t *out);
/* Takes a permit. 0, -EAGAIN (timeout 0, none), -ETIMEDOUT. */
SHMRT_API int shmrt_sem_acquire(const shmrt_sem_t *s, shmrt_ns_t timeout);
/* Returns n permits. 0, -EOVERFLOW (bounded and too many: nothing is released),
 * -EINVAL (n == 0). */
SHMRT_API int shmrt_sem_release(const shmrt_sem_t *s, uint32_t n);
/* Current number of permits (a racy snapshot). */
SHMRT_API uint32_t shmrt_sem_value(const shmrt_sem_t *s);

/* ---- Event --------------------------------------------------------------------- */

SHMRT_API SHMRT_MUST_USE int shmrt_event_open(shmrt_region_t *r, const char *name, int oflags,
					      shmrt_event_t *out);
/* Sets the flag and wakes every waiter. */
SHMRT_API void shmrt_event_set(const shmrt_event_t *e);
SHMRT_API void shmrt_event_clear(const shmrt_event_t *e);
SHMRT_API int shmrt_event_is_set(const shmrt_event_t *e);
/* Waits for the flag. 0, -EAGAIN (timeout 0, not set), -ETIMEDOUT. */
SHMRT_API int shmrt_event_wait(const shmrt_event_t *e, shmrt_ns_t timeout);

/* ---- Condition ----------------------------------------------------------------- */

SHMRT_API SHMRT_MUST_USE int shmrt_cond_open(shmrt_region_t *r, const char *name, int oflags,
					     shmrt_cond_t *out);
/*
 * With l held: releases l, waits for a notify or the timeout, re-acquires l (without
 * timeout, as Python does). Returns 0 (notified; spurious wakeups are possible, as
 * with POSIX: re-check your predicate, or use shmrt_cond_wait_for), -ETIMEDOUT, or
 * -EOWNERDEAD from re-acquiring l (held; see shmrt_lock_acquire); -EPERM if the
 * caller did not hold l. Concurrency: any, with l held.
 */
SHMRT_API int shmrt_cond_wait(const shmrt_cond_t *c, const shmrt_lock_t *l, shmrt_ns_t timeout);
/* Waits until pred(ctx) is true (checked with l held), or the timeout: 0 when it
 * became true, -ETIMEDOUT, -EOWNERDEAD, -EPERM. */
SHMRT_API int shmrt_cond_wait_for(const shmrt_cond_t *c, const shmrt_lock_t *l,
				  int (*pred)(void *ctx), void *ctx, shmrt_ns_t timeout);
/* Wakes up to n waiters (at least n if that many wait); call with the lock held. */
SHMRT_API void shmrt_cond_notify(const shmrt_cond_t *c, int n);
SHMRT_API void shmrt_cond_notify_all(const shmrt_cond_t *c);

/* ---- Barrier ------------------------------------------------------------------- */

/*
 * Opens a barrier for `parties` participants (fixed at creation; an opener asking
 * another number gets -EPROTOTYPE) and registers the calling process as a member:
 * a member found dead while others wait breaks the barrier. Close with
 * shmrt_barrier_close() when done with it.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_barrier_open(shmrt_region_t *r, const char *name, int oflags,
						uint32_t parties, shmrt_barrier_t *out);
/*
 * Waits until `parties` callers have arrived. 0 and *index (may be NULL) set to a
 * number in [0, parties) unique within the generation; -EPIPE: the barrier is (or
 * became) broken, or was reset while waiting; -ETIMEDOUT: this caller timed out,
 * and the barrier is now broken for the others.
 */
SHMRT_API int shmrt_barrier_wait(shmrt_barrier_t *b, shmrt_ns_t timeout, uint32_t *index);
/* Breaks the barrier: current and future waiters get -EPIPE until a reset. */
SHMRT_API void shmrt_barrier_abort(shmrt_barrier_t *b);
/* Back to the empty, unbroken state; current waiters get -EPIPE. */
SHMRT_API void shmrt_barrier_reset(shmrt_barrier_t *b);
SHMRT_API int shmrt_barrier_broken(const shmrt_barrier_t *b);
/* Number of callers waiting in the current generation. */
SHMRT_API uint32_t shmrt_barrier_n_waiting(const shmrt_barrier_t *b);
/* Ends this process's membership (a member that exits without it counts as dead).
 * The handle stays usable: a non-member may still wait, inspect, abort and reset. */
SHMRT_API void shmrt_barrier_close(shmrt_barrier_t *b);

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_SYNC_H */
