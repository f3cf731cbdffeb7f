/*
 * The manager's synchronisation types: Lock, RLock, Semaphore, BoundedSemaphore and
 * Event, as Python's threading objects that its Manager serves, with their blocking
 * calls parked in the server (manager/park.c) instead of a thread per client.
 *
 * State. Each object's state is C (o->priv); its data is nil. A waiter parks on the
 * object's FIFO 0 and is answered in arrival order.
 *
 * Lock and RLock are owned by a session (a client connection): release by another
 * session, or of a lock not held, is -EPERM (Python's RuntimeError). A release hands
 * the lock straight to the oldest live waiter (its acquire answers True), so a
 * newcomer never overtakes a waiter. A session that ends holding a lock (closed, or
 * its process killed: the kernel closes its socket and the server sees the hang-up
 * at once) hands it on the same way, but the waiter's answer is -EOWNERDEAD:
 * "acquired; the previous holder died", the lock is then the waiter's and whatever it
 * protects may be half-updated. With no waiter the lock becomes free and marked, and
 * the next acquire, whoever makes it, takes it with -EOWNERDEAD once. An RLock's
 * recursion count goes with it (the new holder's count is 1).
 *
 * A held lock's hold (server_int.h) is on its holder session's list, so a session's
 * end hands on exactly the locks it holds. The lock code also serves Condition
 * (mtype_cond.c), whose own RLock heads its state and whose waiters, notified or
 * timed out, queue with the acquirers and take the lock back with their count
 * (shmrt__lock_reacquire; a waiter is told apart by its saved count, aux[0] > 0).
 *
 * Semaphores have no owner (Python's do not): a session that dies after an acquire
 * does not give its unit back. BoundedSemaphore refuses a release above its initial
 * value (-EINVAL, Python's ValueError).
 *
 * Event: set answers every waiter True at once; wait on a set event answers at once.
 *
 * Timeouts are nanoseconds (an int >= 0) or nil (none); a call past its deadline
 * answers False, as Python's acquire and wait return False.
 *
 * Concurrency: the server's one thread.
 */
#include "manager/server_int.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define ARGC(c) SHMRT__MARGC(c)
#define ARG(c, i) SHMRT__MARG(c, i)
#define result shmrt__mcall_result

/* [blocking=True, timeout=nil] of acquire: 0, or -EINVAL (a bad value; a timeout
 * with blocking False, Python's ValueError). */
static int acquire_args(shmrt__mcall_t *c, int *blocking, const shmrt_mv_t **timeout)
{
	size_t n = ARGC(c);
	int64_t ns;
	if (n > 2 || shmrt__mv_truth(n > 0 ? ARG(c, 0) : NULL, 1, blocking))
		return -EINVAL;
	*timeout = n > 1 ? ARG(c, 1) : NULL;
	if (shmrt__mwait_timeout(*timeout, &ns))
		return -EINVAL;
	if (!*blocking && ns >= 0)
		return -EINVAL;
	return 0;
}

/* ---- Lock, RLock ---------------------------------------------------------------- */

static int lock_init_priv(const shmrt_mv_t *init, void **priv, int recursive)
{
	if (init && shmrt_mv_kind(init) != SHMRT_MV_NIL)
		return -EINVAL;
	shmrt__lock_t *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->recursive = recursive;
	*priv = l;
	return 0;
}

static int lock_priv(const shmrt_mv_t *init, void **priv)
{
	return lock_init_priv(init, priv, 0);
}

static int rlock_priv(const shmrt_mv_t *init, void **priv)
{
	return lock_init_priv(init, priv, 1);
}

/* lo becomes sess's with count; its hold moves to sess's list. */
static void lock_take(shmrt__mobj_t *lo, shmrt__msess_t *sess, int64_t count)
{
	shmrt__lock_t *l = lo->priv;
	l->owner = sess->id;
	l->count = count;
	shmrt__mhold_link(&l->hold, sess, lo);
}

/* Answers w, which was just given the lock: a Condition waiter (aux[0], its saved
 * count, > 0) with whether it was notified, an acquirer with True; or rc
 * (-EOWNERDEAD). */
static void lock_answer(shmrt__mstore_t *st, shmrt__mwait_t *w, int rc)
{
	shmrt_mv_t *res = rc ? NULL : shmrt_mv_bool(w->aux[0] > 0 ? w->aux[1] != 0 : true);
	shmrt__mwait_answer(st, w, rc, res);
}

/* Gives the lock to the oldest live waiter (answered as lock_answer says, with rc
 * 0 or -EOWNERDEAD), or frees it (marked if its holder died). */
static void lock_hand_on(shmrt__mstore_t *st, shmrt__mobj_t *lo, int rc)
{
	shmrt__lock_t *l = lo->priv;
	shmrt__mhold_unlink(&l->hold);
	shmrt__mwait_t *w = shmrt__mwait_pop(st, lo, 0);
	if (!w) {
		l->owner = 0;
		l->count = 0;
		l->owner_died = rc == -EOWNERDEAD;
		return;
	}
	lock_take(lo, w->sess, w->aux[0] > 0 ? w->aux[0] : 1);
	l->owner_died = 0;
	lock_answer(st, w, rc);
}

/* acquire [blocking=True, timeout=nil] -> True, False; -EOWNERDEAD (acquired, the
 * previous holder died); -EDEADLK (a Lock's holder blocking on it forever). */
int shmrt__lock_acquire(shmrt__mcall_t *c, shmrt__mobj_t *lo)
{
	shmrt__lock_t *l = lo->priv;
	int blocking;
	const shmrt_mv_t *timeout;
	int rc = acquire_args(c, &blocking, &timeout);
	if (rc)
		return rc;
	uint64_t me = c->sess->id;
	if (l->owner == 0) {
		lock_take(lo, c->sess, 1);
		if (l->owner_died) {
			l->owner_died = 0;
			return -EOWNERDEAD;
		}
		return result(c, shmrt_mv_bool(true));
	}
	if (l->owner == me && l->recursive) {
		if (l->count == INT64_MAX)
			return -EOVERFLOW;
		l->count++;
		return result(c, shmrt_mv_bool(true));
	}
	if (!blocking)
		return result(c, shmrt_mv_bool(false));
	if (l->owner == me && (!timeout || shmrt_mv_kind(timeout) == SHMRT_MV_NIL))
		return -EDEADLK; /* Python would hang this client forever */
	shmrt__mcall_t lc = *c; /* parks on lo's FIFO (c->o may be a Condition) */
	lc.o = lo;
	rc = shmrt__mwait_park(&lc, 0, timeout, SHMRT__TMO_FALSE, NULL);
	c->res = lc.res;
	return rc;
}

/* release [] -> None; -EPERM (not held by this session). */
int shmrt__lock_release(shmrt__mcall_t *c, shmrt__mobj_t *lo)
{
	shmrt__lock_t *l = lo->priv;
	if (ARGC(c) != 0)
		return -EINVAL;
	if (l->owner == 0 || l->owner != c->sess->id)
		return -EPERM;
	if (--l->count > 0)
		return 0;
	lock_hand_on(c->st, lo, 0);
	return 0;
}

int shmrt__lock_held_by(const shmrt__mobj_t *lo, const shmrt__msess_t *sess)
{
	const shmrt__lock_t *l = lo->priv;
	return l->owner != 0 && l->owner == sess->id;
}

int64_t shmrt__lock_release_all(shmrt__mstore_t *st, shmrt__mobj_t *lo, shmrt__msess_t *sess)
{
	shmrt__lock_t *l = lo->priv;
	int64_t count = l->count;
	assert(l->owner == sess->id && count >= 1);
	(void)sess;
	lock_hand_on(st, lo, 0);
	return count;
}

void shmrt__lock_reacquire(shmrt__mstore_t *st, shmrt__mobj_t *lo, shmrt__mwait_t *w)
{
	shmrt__lock_t *l = lo->priv;
	assert(w->aux[0] > 0);
	if (l->owner != 0) {
		shmrt__mwait_relink(st, w, lo, 0);
		return;
	}
	int rc = l->owner_died ? -EOWNERDEAD : 0;
	l->owner_died = 0;
	lock_take(lo, w->sess, w->aux[0]);
	lock_answer(st, w, rc);
}

static int lk_acquire(shmrt__mcall_t *c)
{
	return shmrt__lock_acquire(c, c->o);
}

static int lk_release(shmrt__mcall_t *c)
{
	return shmrt__lock_release(c, c->o);
}

/* locked [] -> bool. */
static int lk_locked(shmrt__mcall_t *c)
{
	shmrt__lock_t *l = c->o->priv;
	return ARGC(c) ? -EINVAL : result(c, shmrt_mv_bool(l->owner != 0));
}

/* Runs only for a session on whose list the lock's hold is: its holder. */
void shmrt__lock_sess_end(shmrt__mstore_t *st, shmrt__mobj_t *o, shmrt__msess_t *sess)
{
	shmrt__lock_t *l = o->priv;
	if (l->owner == sess->id)
		lock_hand_on(st, o, -EOWNERDEAD);
	else
		shmrt__mhold_unlink(&l->hold); /* not reached: a hold is its holder's */
}

void shmrt__lock_fini(shmrt__mstore_t *st, shmrt__mobj_t *o)
{
	shmrt__lock_t *l = o->priv;
	if (l)
		shmrt__mhold_unlink(&l->hold); /* destroyed while held */
	shmrt__mtype_free_priv(st, o);
}

static const shmrt__mmethod_t lock_methods[] = {
	{ "acquire", lk_acquire },
	{ "release", lk_release },
	{ "locked", lk_locked },
};

const shmrt__mtype_t shmrt__mtype_lock = {
	.name = "Lock",
	.init = shmrt__mtype_nil_data,
	.methods = lock_methods,
	.nmethods = sizeof(lock_methods) / sizeof(lock_methods[0]),
	.init_priv = lock_priv,
	.fini = shmrt__lock_fini,
	.sess_end = shmrt__lock_sess_end,
};

const shmrt__mtype_t shmrt__mtype_rlock = {
	.name = "RLock",
	.init = shmrt__mtype_nil_data,
	.methods = lock_methods,
	.nmethods = sizeof(lock_methods) / sizeof(lock_methods[0]),
	.init_priv = rlock_priv,
	.fini = shmrt__lock_fini,
	.sess_end = shmrt__lock_sess_end,
};

/* ---- Semaphore, BoundedSemaphore ------------------------------------------------ */

typedef struct sem {
	int64_t value;
	int64_t initial;
	int bounded;
} sem_t_;

/* init: nil (1) or an int >= 0 (Python's ValueError below 0: -EINVAL). */
static int sem_init_priv(const shmrt_mv_t *init, void **priv, int bounded)
{
	int64_t v = 1;
	if (init && shmrt_mv_kind(init) != SHMRT_MV_NIL &&
	    (shmrt_mv_kind(init) != SHMRT_MV_INT || shmrt_mv_as_int(init, &v) || v < 0))
		return -EINVAL;
	sem_t_ *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->value = s->initial = v;
	s->bounded = bounded;
	*priv = s;
	return 0;
}

static int sem_priv(const shmrt_mv_t *init, void **priv)
{
	return sem_init_priv(init, priv, 0);
}

static int bsem_priv(const shmrt_mv_t *init, void **priv)
{
	return sem_init_priv(init, priv, 1);
}

/* acquire [blocking=True, timeout=nil] -> True, False. */
static int sem_acquire(shmrt__mcall_t *c)
{
	sem_t_ *s = c->o->priv;
	int blocking;
	const shmrt_mv_t *timeout;
	int rc = acquire_args(c, &blocking, &timeout);
	if (rc)
		return rc;
	if (s->value > 0) {
		s->value--;
		return result(c, shmrt_mv_bool(true));
	}
	if (!blocking)
		return result(c, shmrt_mv_bool(false));
	return shmrt__mwait_park(c, 0, timeout, SHMRT__TMO_FALSE, NULL);
}

/* release [n=1] -> None; -EINVAL (n < 1; a bounded one above its initial value). */
static int sem_release(shmrt__mcall_t *c)
{
	sem_t_ *s = c->o->priv;
	int64_t n = 1;
	if (ARGC(c) > 1 || (ARGC(c) == 1 && (shmrt_mv_kind(ARG(c, 0)) != SHMRT_MV_INT ||
					     shmrt_mv_as_int(ARG(c, 0), &n) || n < 1)))
		return -EINVAL;
	if (n > INT64_MAX - s->value || (s->bounded && s->value + n > s->initial))
		return -EINVAL;
	s->value += n;
	shmrt__mwait_t *w;
	while (s->value > 0 && (w = shmrt__mwait_pop(c->st, c->o, 0)) != NULL) {
		s->value--;
		shmrt__mwait_answer(c->st, w, 0, shmrt_mv_bool(true));
	}
	return 0;
}

/* get_value [] -> int (the free units). */
static int sem_value(shmrt__mcall_t *c)
{
	sem_t_ *s = c->o->priv;
	return ARGC(c) ? -EINVAL : result(c, shmrt_mv_int(s->value));
}

static const shmrt__mmethod_t sem_methods[] = {
	{ "acquire", sem_acquire },
	{ "release", sem_release },
	{ "get_value", sem_value },
};

const shmrt__mtype_t shmrt__mtype_semaphore = {
	.name = "Semaphore",
	.init = shmrt__mtype_nil_data,
	.methods = sem_methods,
	.nmethods = sizeof(sem_methods) / sizeof(sem_methods[0]),
	.init_priv = sem_priv,
	.fini = shmrt__mtype_free_priv,
};

const shmrt__mtype_t shmrt__mtype_bsemaphore = {
	.name = "BoundedSemaphore",
	.init = shmrt__mtype_nil_data,
	.methods = sem_methods,
	.nmethods = sizeof(sem_methods) / sizeof(sem_methods[0]),
	.init_priv = bsem_priv,
	.fini = shmrt__mtype_free_priv,
};

/* ---- Event ---------------------------------------------------------------------- */

static int event_priv(const shmrt_mv_t *init, void **priv)
{
	if (init && shmrt_mv_kind(init) != SHMRT_MV_NIL)
		return -EINVAL;
	*priv = calloc(1, sizeof(int));
	return *priv ? 0 : -ENOMEM;
}

/* set [] -> None: every waiter answers True. */
static int ev_set(shmrt__mcall_t *c)
{
	if (ARGC(c))
		return -EINVAL;
	*(int *)c->o->priv = 1;
	shmrt__mwait_t *w;
	while ((w = shmrt__mwait_pop(c->st, c->o, 0)) != NULL)
		shmrt__mwait_answer(c->st, w, 0, shmrt_mv_bool(true));
	return 0;
}

static int ev_clear(shmrt__mcall_t *c)
{
	if (ARGC(c))
		return -EINVAL;
	*(int *)c->o->priv = 0;
	return 0;
}

static int ev_is_set(shmrt__mcall_t *c)
{
	return ARGC(c) ? -EINVAL : result(c, shmrt_mv_bool(*(int *)c->o->priv));
}

/* wait [timeout=nil] -> True (set), False (the timeout passed). */
static int ev_wait(shmrt__mcall_t *c)
{
	int64_t ns;
	if (ARGC(c) > 1 || shmrt__mwait_timeout(ARGC(c) ? ARG(c, 0) : NULL, &ns))
		return -EINVAL;
	if (*(int *)c->o->priv)
		return result(c, shmrt_mv_bool(true));
	return shmrt__mwait_park(c, 0, ARGC(c) ? ARG(c, 0) : NULL, SHMRT__TMO_FALSE, NULL);
}

static const shmrt__mmethod_t event_methods[] = {
	{ "set", ev_set },
	{ "clear", ev_clear },
	{ "is_set", ev_is_set },
	{ "wait", ev_wait },
};

const shmrt__mtype_t shmrt__mtype_event = {
	.name = "Event",
	.init = shmrt__mtype_nil_data,
	.methods = event_methods,
	.nmethods = sizeof(event_methods) / sizeof(event_methods[0]),
	.init_priv = event_priv,
	.fini = shmrt__mtype_free_priv,
};
