/*
 * The manager's Condition and Barrier: Python's threading.Condition and
 * threading.Barrier as its Manager serves them, their waits parked in the server
 * (manager/park.c).
 *
 * Condition. Its lock is its own RLock (init nil, Python's default) or a shared Lock
 * or RLock object (init: a ref to it). A shared lock is the condition's data (a ref,
 * so the store counts it: the lock lives as long as the condition) and keeps its own
 * semantics and proxies; the condition's own lock is a shmrt__lock_t at the head of
 * its C state, so the lock code (mtype_sync.c) serves both. FIFOs: the own lock's
 * acquirers on 0, the waiters on 1.
 *
 * wait [timeout]: the caller must hold the lock (else -EPERM, Python's
 * RuntimeError). The call parks on FIFO 1 with the lock's recursion count saved in
 * its waiter, and the lock is released fully (handed to its oldest acquirer). A
 * notify moves the oldest n live waiters, marked notified, to the tail of the
 * lock's FIFO; a waiter whose deadline passes moves there unmarked (the timer's
 * expire hook). There it waits, without a deadline, like any acquirer; when it is
 * handed the lock (count restored) it answers True if notified, else False: so
 * every answer of wait finds the lock held again, as Python's does. Handed a lock
 * whose holder died, it answers -EOWNERDEAD (acquired; notified or not is then
 * unknown: the client re-checks its predicate, as it must anyway). wait_for takes a
 * Python predicate and is not served: the client loops on wait.
 *
 * Barrier (init: parties >= 1, or [parties, timeout]): wait parks until parties
 * calls wait; each answers its arrival index (0 first, parties-1 last: Python's). The
 * barrier breaks (Python's BrokenBarrierError: -ECANCELED to every waiter and to
 * every wait until reset) on abort, when a wait's timeout passes (that wait answers
 * -ECANCELED too, as Python's), and when a session ends while parked in a wait: a
 * party died, the others must not hang. reset answers the waiters -ECANCELED and
 * makes the barrier whole again. A party killed while parked whose hang-up the
 * server has not read yet when the last party arrives counts as arrived.
 *
 * Concurrency: the server's one thread.
 */
#include "manager/server_int.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#define ARGC(c) SHMRT__MARGC(c)
#define ARG(c, i) SHMRT__MARG(c, i)
#define result shmrt__mcall_result

/* ---- Condition ------------------------------------------------------------------ */

enum { C_LOCK = 0, C_WAIT = 1 };

typedef struct cond {
	shmrt__lock_t lk; /* its own RLock (first: the lock code casts o->priv) */
	uint64_t lock_id; /* a shared Lock or RLock (the data's ref), or 0: its own */
} cond_t;

/* init: nil, or a ref to a live Lock or RLock. */
static int cond_check(shmrt__mstore_t *st, const shmrt_mv_t *init)
{
	uint64_t id;
	shmrt__mobj_t *lo;
	if (!init || shmrt_mv_kind(init) == SHMRT_MV_NIL)
		return 0;
	if (shmrt_mv_as_ref(init, &id) || shmrt__mstore_lookup(st, id, &lo))
		return -EINVAL;
	return lo->type == &shmrt__mtype_lock || lo->type == &shmrt__mtype_rlock ? 0 : -EINVAL;
}

static int cond_priv(const shmrt_mv_t *init, void **priv)
{
	cond_t *cv = calloc(1, sizeof(*cv));
	if (!cv)
		return -ENOMEM;
	cv->lk.recursive = 1;
	if (init && shmrt_mv_kind(init) != SHMRT_MV_NIL && shmrt_mv_as_ref(init, &cv->lock_id)) {
		free(cv);
		return -EINVAL;
	}
	*priv = cv;
	return 0;
}

/* The data: the shared lock's ref (counted by the store), or nil. */
static int cond_init(shmrt_mv_t *init, shmrt_mv_t **data)
{
	if (init && shmrt_mv_kind(init) == SHMRT_MV_REF) {
		*data = init;
		return 0;
	}
	return shmrt__mtype_nil_data(init, data);
}

/* The lock object of condition o: a shared one, or o itself. */
static shmrt__mobj_t *lock_of(shmrt__mstore_t *st, shmrt__mobj_t *o)
{
	cond_t *cv = o->priv;
	shmrt__mobj_t *lo = o;
	if (cv->lock_id && shmrt__mstore_lookup(st, cv->lock_id, &lo) != 0)
		assert(!"a condition's lock died before it"); /* the data holds a ref */
	return lo;
}

static int cv_acquire(shmrt__mcall_t *c)
{
	return shmrt__lock_acquire(c, lock_of(c->st, c->o));
}

static int cv_release(shmrt__mcall_t *c)
{
	return shmrt__lock_release(c, lock_of(c->st, c->o));
}

/* wait [timeout=nil] -> True (notified), False (the timeout passed), the lock held
 * again either way; -EOWNERDEAD (held again from a holder that died); -EPERM (the
 * lock not held by this session). */
static int cv_wait(shmrt__mcall_t *c)
{
	int64_t ns;
	const shmrt_mv_t *timeout = ARGC(c) ? ARG(c, 0) : NULL;
	if (ARGC(c) > 1 || shmrt__mwait_timeout(timeout, &ns))
		return -EINVAL;
	shmrt__mobj_t *lo = lock_of(c->st, c->o);
	if (!shmrt__lock_held_by(lo, c->sess))
		return -EPERM;
	c->aux[0] = ((shmrt__lock_t *)lo->priv)->count;
	c->aux[1] = 0;
	int rc = shmrt__mwait_park(c, C_WAIT, timeout, SHMRT__TMO_HOOK, NULL);
	if (rc == SHMRT__MPARKED)
		(void)shmrt__lock_release_all(c->st, lo, c->sess);
	return rc;
}

/* notify [n=1] -> None: the oldest n live waiters queue for the lock, notified;
 * -EPERM (the lock not held by this session). notify_all: every waiter. */
static int notify(shmrt__mcall_t *c, int64_t n)
{
	shmrt__mobj_t *lo = lock_of(c->st, c->o);
	if (!shmrt__lock_held_by(lo, c->sess))
		return -EPERM;
	shmrt__mwait_t *w;
	for (; n > 0 && (w = shmrt__mwait_pop(c->st, c->o, C_WAIT)) != NULL; n--) {
		w->aux[1] = 1;
		shmrt__lock_reacquire(c->st, lo, w); /* queued: the notifier holds lo */
	}
	return 0;
}

static int cv_notify(shmrt__mcall_t *c)
{
	int64_t n = 1;
	if (ARGC(c) > 1 || (ARGC(c) == 1 && (shmrt_mv_kind(ARG(c, 0)) != SHMRT_MV_INT ||
					     shmrt_mv_as_int(ARG(c, 0), &n) || n < 0)))
		return -EINVAL;
	return notify(c, n);
}

static int cv_notify_all(shmrt__mcall_t *c)
{
	return ARGC(c) ? -EINVAL : notify(c, INT64_MAX);
}

/* A waiter's deadline passed: it queues for the lock, not notified. */
static void cv_expire(shmrt__mstore_t *st, shmrt__mwait_t *w)
{
	w->aux[1] = 0;
	shmrt__lock_reacquire(st, lock_of(st, w->o), w);
}

static const shmrt__mmethod_t cond_methods[] = {
	{ "acquire", cv_acquire },
	{ "release", cv_release },
	{ "wait", cv_wait },
	{ "notify", cv_notify },
	{ "notify_all", cv_notify_all },
};

const shmrt__mtype_t shmrt__mtype_condition = {
	.name = "Condition",
	.init = cond_init,
	.methods = cond_methods,
	.nmethods = sizeof(cond_methods) / sizeof(cond_methods[0]),
	.init_priv = cond_priv,
	.fini = shmrt__lock_fini,
	.sess_end = shmrt__lock_sess_end, /* its own lock's holder died */
	.check_init = cond_check,
	.expire = cv_expire,
};

/* ---- Barrier -------------------------------------------------------------------- */

typedef struct barrier {
	int64_t parties;
	int64_t timeout; /* the default wait timeout in ns; -1: none */
	int64_t waiting; /* parked waits of this generation */
	int broken;
} barrier_t;

/* init: parties (an int >= 1), or [parties, timeout (nil or ns >= 0)]. */
static int barrier_priv(const shmrt_mv_t *init, void **priv)
{
	const shmrt_mv_t *p = init, *t = NULL;
	int64_t parties, tmo = -1;
	if (init && shmrt_mv_kind(init) == SHMRT_MV_LIST) {
		if (shmrt_mv_list_len(init) != 2)
			return -EINVAL;
		p = shmrt_mv_list_get(init, 0);
		t = shmrt_mv_list_get(init, 1);
	}
	if (!p || shmrt_mv_kind(p) != SHMRT_MV_INT || shmrt_mv_as_int(p, &parties) ||
	    parties < 1 || shmrt__mwait_timeout(t, &tmo))
		return -EINVAL;
	barrier_t *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->parties = parties;
	b->timeout = tmo;
	*priv = b;
	return 0;
}

/* Answers every waiter rc (its index if rc is 0) and starts a new generation. */
static void release_all(shmrt__mstore_t *st, shmrt__mobj_t *o, int rc)
{
	barrier_t *b = o->priv;
	shmrt__mwait_t *w;
	while ((w = o->wq[0][0]) != NULL) {
		shmrt__mwait_unlink(st, w);
		shmrt__mwait_answer(st, w, rc, rc ? NULL : shmrt_mv_int(w->aux[0]));
	}
	b->waiting = 0;
}

static void breaks(shmrt__mstore_t *st, shmrt__mobj_t *o)
{
	((barrier_t *)o->priv)->broken = 1;
	release_all(st, o, -ECANCELED);
}

/* wait [timeout=nil: the barrier's] -> the arrival index; -ECANCELED (broken, or
 * broken while waiting: abort, a timeout, a party's session ended, reset). */
static int br_wait(shmrt__mcall_t *c)
{
	barrier_t *b = c->o->priv;
	int64_t ns;
	if (ARGC(c) > 1 || shmrt__mwait_timeout(ARGC(c) ? ARG(c, 0) : NULL, &ns))
		return -EINVAL;
	if (b->broken)
		return -ECANCELED;
	int64_t index = b->waiting;
	if (index + 1 == b->parties) {
		release_all(c->st, c->o, 0);
		return result(c, shmrt_mv_int(index));
	}
	if (ns < 0)
		ns = b->timeout;
	shmrt_mv_t *tmo = ns < 0 ? NULL : shmrt_mv_int(ns);
	if (ns >= 0 && !tmo)
		return -ENOMEM;
	c->aux[0] = index;
	int rc = shmrt__mwait_park(c, 0, tmo, SHMRT__TMO_HOOK, NULL);
	shmrt_mv_free(tmo);
	if (rc == SHMRT__MPARKED)
		b->waiting++;
	return rc;
}

/* A wait's timeout passed: the barrier breaks, that wait too answers -ECANCELED. */
static void br_expire(shmrt__mstore_t *st, shmrt__mwait_t *w)
{
	breaks(st, w->o);
	shmrt__mwait_answer(st, w, -ECANCELED, NULL);
}

/* A session ended while parked in a wait: a party died, the barrier breaks. */
static void br_sess_drop(shmrt__mstore_t *st, shmrt__mwait_t *w)
{
	breaks(st, w->o);
}

static int br_reset(shmrt__mcall_t *c)
{
	if (ARGC(c))
		return -EINVAL;
	release_all(c->st, c->o, -ECANCELED);
	((barrier_t *)c->o->priv)->broken = 0;
	return 0;
}

static int br_abort(shmrt__mcall_t *c)
{
	if (ARGC(c))
		return -EINVAL;
	breaks(c->st, c->o);
	return 0;
}

static int br_parties(shmrt__mcall_t *c)
{
	return ARGC(c) ? -EINVAL : result(c, shmrt_mv_int(((barrier_t *)c->o->priv)->parties));
}

static int br_n_waiting(shmrt__mcall_t *c)
{
	return ARGC(c) ? -EINVAL : result(c, shmrt_mv_int(((barrier_t *)c->o->priv)->waiting));
}

static int br_broken(shmrt__mcall_t *c)
{
	return ARGC(c) ? -EINVAL : result(c, shmrt_mv_bool(((barrier_t *)c->o->priv)->broken));
}

static const shmrt__mmethod_t barrier_methods[] = {
	{ "wait", br_wait },
	{ "reset", br_reset },
	{ "abort", br_abort },
	{ "parties", br_parties },
	{ "n_waiting", br_n_waiting },
	{ "broken", br_broken },
};

const shmrt__mtype_t shmrt__mtype_barrier = {
	.name = "Barrier",
	.init = shmrt__mtype_nil_data,
	.methods = barrier_methods,
	.nmethods = sizeof(barrier_methods) / sizeof(barrier_methods[0]),
	.init_priv = barrier_priv,
	.fini = shmrt__mtype_free_priv,
	.expire = br_expire,
	.sess_drop = br_sess_drop,
};
