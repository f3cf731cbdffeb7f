/*
 * Process-shared synchronisation primitives (shmrt/sync.h).
 *
 * Locks are robust pthread mutexes (error-checking, or recursive for RLock), acquired
 * through shmrt__pmutex_acquire(), which bounds waits on a lock word no live thread
 * can own. The other primitives are a few 32-bit words and futexes (base/wait.h): an
 * adaptive wait (spin, yield, sleep) with a waiter count so that a signal costs no
 * syscall when nobody sleeps.
 *
 * Shared layouts (each starts with magic and kind, then cache-line aligned words):
 *   Lock/RLock  0 hdr | 64 shmrt_pmutex_t (glibc's robust mutex and its holder)
 *   Semaphore   0 hdr | 8 value | 12 waiters | 16 max (bounded; 0 = unbounded)
 *   Event       0 hdr | 8 flag | 12 waiters
 *   Condition   0 hdr | 8 seq | 12 waiters
 *   Barrier     0 hdr | 8 parties | 12 broken | 16 state: generation << 32 | count
 *               | 24 waiters | 28 reset_from | 32 nmembers | 64 member_gen[nmembers]
 *
 * Barrier: arrival is one CAS on the 64-bit state (count and generation change
 * together, so a fast party of the next generation cannot be mistaken for one of
 * this); the last arriver starts a new generation and wakes everyone; the others
 * sleep on the generation half of the word. member_gen[slot] holds the registry
 * generation of each member process; a waiter scans them every 50 ms and breaks the
 * barrier when one is dead (its slot moved to another generation or its process is
 * gone), so a killed party never leaves the others waiting.
 *
 * Memory ordering. Lock and RLock order by pthread's contract (acquire on lock,
 * release on unlock: base/pmutex.h); no word of this file is accessed under them
 * (a Condition's caller's lock orders the caller's own data). Every sleep is
 * shmrt__wait_ne (base/wait.h): its loads of the word are acquires (W0), and its
 * lost-wakeup fence W1 pairs with W2 in shmrt__wake(), which every waker calls
 * after its store. The primitives' own labels:
 *   R1/A1  Semaphore: a give's CAS (release half) / a take's CAS (acquire half): the
 *          taker sees what the giver did before giving (and so does W0 of a sleeper)
 *   R2/A2  Event: set (and clear) / is_set and wait's first look (W0 after it)
 *   R3/A3  Condition: notify's increment / the waiter's read of the sequence (W0
 *          in the wait)
 *   R4/A4  Barrier state: every arrival's CAS is both (acq_rel): it publishes the
 *          party's work, and the last arriver's acquires every earlier party's (each
 *          arrival read the previous one); sleepers see the new generation by W0
 *   R5/A5  member_gen: a member's generation at open / a checker's load of it
 *   R6/A6  broken set or cleared / every load of broken
 *   R7/A7  reset_from (published by the reset's CAS, R4) / read after a wake-up
 *   M1     barrier_break(): broken is stored before the wake-up it causes
 * Barrier sleepers load the generation as the 32-bit high half of the 64-bit state
 * (the futex word): a mixed-size access, outside C11's model but coherent on the
 * little-endian targets we build for (x86-64, arm64).
 * The words are initialised by plain stores in sync_init(), published with the
 * object by the directory (shmrt__object_open).
 */
#define _GNU_SOURCE
#include "region_int.h"
#include "shmrt/sync.h"
#include "base/wait.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define SYNC_MAGIC 0x434e5953u /* "SYNC" */
enum { K_LOCK = 1, K_RLOCK, K_SEM, K_BSEM, K_EVENT, K_COND, K_BARRIER };

struct sync_hdr {
	uint32_t magic;
	uint32_t kind;
};

struct lock_shm {
	struct sync_hdr h;
	uint32_t no_repair; /* SHMRT_LOCK_NO_REPAIR, fixed at creation */
	uint8_t pad[52];
	shmrt_pmutex_t m;
	uint8_t pad2[16];
};

struct word_shm { /* Semaphore, Event, Condition */
	struct sync_hdr h;
	uint32_t word;
	uint32_t waiters;
	uint32_t max;
	uint8_t pad[44];
};

struct barrier_shm {
	struct sync_hdr h;
	uint32_t parties;
	uint32_t broken;
	uint64_t state;
	uint32_t waiters;
	uint32_t reset_from;
	uint32_t nmembers;
	uint8_t pad[28];
	uint32_t member_gen[];
};

_Static_assert(offsetof(struct lock_shm, m) == 64 && sizeof(struct lock_shm) == 128, "lock");
_Static_assert(sizeof(struct word_shm) == 64, "word primitives");
_Static_assert(offsetof(struct barrier_shm, state) == 16, "barrier layout");
_Static_assert(offsetof(struct barrier_shm, member_gen) == 64, "barrier layout");

struct sync_init {
	uint32_t kind, arg, arg2;
};

static int sync_init(void *mem, uint64_t size, void *ctx)
{
	(void)size;
	struct sync_init *si = ctx;
	struct sync_hdr *h = mem;
	int rc = 0;
	switch (si->kind) {
	case K_LOCK:
	case K_RLOCK:
		rc = shmrt__pmutex_init_type(&((struct lock_shm *)mem)->m,
					     si->kind == K_RLOCK ? PTHREAD_MUTEX_RECURSIVE
								 : PTHREAD_MUTEX_ERRORCHECK);
		((struct lock_shm *)mem)->no_repair = si->arg;
		break;
	case K_SEM:
	case K_BSEM:
		((struct word_shm *)mem)->word = si->arg;
		((struct word_shm *)mem)->max = si->kind == K_BSEM ? si->arg : 0;
		break;
	case K_BARRIER:
		((struct barrier_shm *)mem)->parties = si->arg;
		((struct barrier_shm *)mem)->nmembers = si->arg2;
		break;
	}
	h->kind = si->kind;
	h->magic = SYNC_MAGIC;
	return rc;
}

/* Opens a primitive of `kind`; kinds that share a layout are told apart here. */
static int sync_open(shmrt_region_t *r, const char *name, int oflags, uint32_t kind,
		     uint32_t arg, uint32_t arg2, uint64_t size, void **out, bool *created)
{
	if (!r || !out || (oflags & ~(SHMRT_O_CREATE | SHMRT_O_EXCL)))
		return -EINVAL;
	struct sync_init si = { kind, arg, arg2 };
	uint32_t type = kind <= K_RLOCK ? SHMRT_TYPE_LOCK : SHMRT_TYPE_SYNC;
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, oflags, type, size, NULL, sync_init, &si, &oi);
	if (rc)
		return rc;
	struct sync_hdr *h = shmrt_ptr(r, oi.off);
	if (h->magic != SYNC_MAGIC || oi.size < size)
		return h->magic != SYNC_MAGIC ? -EBADMSG : -EPROTOTYPE;
	if (h->kind != kind)
		return -EPROTOTYPE;
	*out = h;
	*created = oi.created;
	return 0;
}

/* ---- Lock ---------------------------------------------------------------------- */

int shmrt_lock_open(shmrt_region_t *r, const char *name, int oflags, int recursive,
		    shmrt_lock_t *out)
{
	void *p;
	bool created;
	uint32_t no_repair = (oflags & SHMRT_LOCK_NO_REPAIR) != 0;
	int rc = sync_open(r, name, oflags & ~SHMRT_LOCK_NO_REPAIR, recursive ? K_RLOCK : K_LOCK,
			   no_repair, 0, sizeof(struct lock_shm), &p, &created);
	if (rc)
		return rc;
	/* Plain read: written before the object was published (sync_init). */
	if (((struct lock_shm *)p)->no_repair != no_repair)
		return -EPROTOTYPE;
	*out = (shmrt_lock_t){ p, r, created };
	return 0;
}

int shmrt_lock_acquire(const shmrt_lock_t *l, shmrt_ns_t timeout)
{
	if (!l || !l->shm)
		return -EINVAL;
	struct lock_shm *s = l->shm;
	int rc = shmrt__pmutex_acquire(&s->m, shmrt_region_fd(l->region), shmrt__deadline(timeout));
	/* A lock with nothing to repair: the dead holder's death is only a release. */
	if (rc == -EOWNERDEAD && s->no_repair)
		rc = shmrt__pmutex_consistent(&s->m);
	return rc;
}

int shmrt_lock_acquire_repair(const shmrt_lock_t *l, shmrt_ns_t timeout,
			      int (*repair)(void *ctx), void *ctx)
{
	int rc = shmrt_lock_acquire(l, timeout);
	if (rc != -EOWNERDEAD)
		return rc;
	if (repair && (rc = repair(ctx)) != 0) {
		/* Not repaired: released inconsistent, the lock becomes unrecoverable for
		 * everyone, rather than protecting state known to be broken. */
		(void)shmrt_lock_release(l);
		return rc < 0 ? rc : -ENOTRECOVERABLE;
	}
	return shmrt_lock_consistent(l);
}

void shmrt__lock_guard_release(struct shmrt__lock_guard *g)
{
	if (g->held)
		(void)shmrt_lock_release(g->lock);
	g->held = 0;
}

int shmrt_lock_release(const shmrt_lock_t *l)
{
	if (!l || !l->shm)
		return -EINVAL;
	return shmrt__pmutex_release(&((struct lock_shm *)l->shm)->m);
}

int shmrt_lock_held(const shmrt_lock_t *l)
{
	if (!l || !l->shm)
		return -EINVAL;
	return shmrt__pmutex_held(&((struct lock_shm *)l->shm)->m);
}

int shmrt_lock_consistent(const shmrt_lock_t *l)
{
	if (!l || !l->shm)
		return -EINVAL;
	return shmrt__pmutex_consistent(&((struct lock_shm *)l->shm)->m);
}

/* ---- Semaphore ---------------------------------------------------------------- */

int shmrt_sem_open(shmrt_region_t *r, const char *name, int oflags, uint32_t initial,
		   int bounded, shmrt_sem_t *out)
{
	void *p;
	bool created;
	if (initial > INT_MAX)
		return -EINVAL;
	int rc = sync_open(r, name, oflags, bounded ? K_BSEM : K_SEM, initial, 0,
			   sizeof(struct word_shm), &p, &created);
	if (!rc)
		*out = (shmrt_sem_t){ p, r, created };
	return rc;
}

int shmrt_sem_acquire(const shmrt_sem_t *s, shmrt_ns_t timeout)
{
	if (!s || !s->shm)
		return -EINVAL;
	struct word_shm *w = s->shm;
	uint64_t deadline = shmrt__deadline(timeout);
	for (;;) {
		/* Relaxed: a guess that the CAS (A1) checks. */
		uint32_t v = load_relaxed(&w->word);
		/* A1: acq_rel CAS; its acquire on success pairs with R1 in
		 * shmrt_sem_release(): we see what the giver did before giving. Its
		 * release half and its acquire on failure order nothing we rely on
		 * (a taker publishes nothing); cas_acquire would do. */
		while (v > 0)
			if (cas_acq_rel(&w->word, &v, v - 1))
				return 0;
		if (timeout == 0)
			return -EAGAIN;
		/* W0 (acquire) sees a give; we take it with A1 above. */
		int rc = shmrt__wait_ne(&w->word, 0, &w->waiters, deadline, 0, NULL, NULL);
		if (rc)
			return rc;
	}
}

int shmrt_sem_release(const shmrt_sem_t *s, uint32_t n)
{
	if (!s || !s->shm || n == 0)
		return -EINVAL;
	struct word_shm *w = s->shm;
	/* Relaxed: a guess that the CAS (R1) checks. */
	uint32_t v = load_relaxed(&w->word);
	do {
		if ((w->max && v + (uint64_t)n > w->max) || v + (uint64_t)n > INT_MAX)
			return -EOVERFLOW;
		/* R1: acq_rel CAS; its release pairs with A1 (and W0 of a sleeper):
		 * what we did before giving is visible to the taker. Its acquire half
		 * is not relied on. */
	} while (!cas_acq_rel(&w->word, &v, v + n));
	shmrt__wake(&w->word, &w->waiters, (int)n); /* W2 inside: after R1 */
	return 0;
}

uint32_t shmrt_sem_value(const shmrt_sem_t *s)
{
	if (!s || !s->shm)
		return 0;
	/* Relaxed: a snapshot for the caller, stale once returned; it orders nothing. */
	return load_relaxed(&((struct word_shm *)s->shm)->word);
}

/* ---- Event --------------------------------------------------------------------- */

int shmrt_event_open(shmrt_region_t *r, const char *name, int oflags, shmrt_event_t *out)
{
	void *p;
	bool created;
	int rc = sync_open(r, name, oflags, K_EVENT, 0, 0, sizeof(struct word_shm), &p, &created);
	if (!rc)
		*out = (shmrt_event_t){ p, r, created };
	return rc;
}

void shmrt_event_set(const shmrt_event_t *e)
{
	if (!e || !e->shm)
		return;
	struct word_shm *w = e->shm;
	/* R2: release, pairs with A2 and W0 of the sleepers: what the setter did is
	 * visible to whoever sees the flag. */
	store_release(&w->word, 1);
	shmrt__wake(&w->word, &w->waiters, INT_MAX); /* W2 inside: after R2 */
}

void shmrt_event_clear(const shmrt_event_t *e)
{
	if (!e || !e->shm)
		return;
	/* R2: release, as set's: whoever sees the flag clear (A2) sees what the
	 * clearer did before. */
	store_release(&((struct word_shm *)e->shm)->word, 0);
}

int shmrt_event_is_set(const shmrt_event_t *e)
{
	if (!e || !e->shm)
		return -EINVAL;
	/* A2: acquire, pairs with R2: a set flag brings what the setter did. */
	return load_acquire(&((struct word_shm *)e->shm)->word) != 0;
}

int shmrt_event_wait(const shmrt_event_t *e, shmrt_ns_t timeout)
{
	if (!e || !e->shm)
		return -EINVAL;
	struct word_shm *w = e->shm;
	if (load_acquire(&w->word)) /* A2 */
		return 0;
	if (timeout == 0)
		return -EAGAIN;
	/* W0 (acquire) in the wait pairs with R2, as A2 does. */
	return shmrt__wait_ne(&w->word, 0, &w->waiters, shmrt__deadline(timeout), 0, NULL,
			      NULL);
}

/* ---- Condition ---------------------------------------------------------------- */

int shmrt_cond_open(shmrt_region_t *r, const char *name, int oflags, shmrt_cond_t *out)
{
	void *p;
	bool created;
	int rc = sync_open(r, name, oflags, K_COND, 0, 0, sizeof(struct word_shm), &p, &created);
	if (!rc)
		*out = (shmrt_cond_t){ p, r, created };
	return rc;
}

static int cond_wait_until(const shmrt_cond_t *c, const shmrt_lock_t *l, uint64_t deadline)
{
	struct word_shm *w = c->shm;
	/* Read the sequence while holding the lock: a notify (made with the lock held)
	 * after our release changes it, so the futex wait below cannot miss it.
	 * A3: acquire, pairs with R3 (and W0 in the wait below does, on later values). */
	uint32_t seq = load_acquire(&w->word);
	int rc = shmrt_lock_release(l);
	if (rc)
		return rc;
	int wrc = shmrt__wait_ne(&w->word, seq, &w->waiters, deadline, 0, NULL, NULL);
	rc = shmrt_lock_acquire(l, -1);
	return rc ? rc : wrc;
}

int shmrt_cond_wait(const shmrt_cond_t *c, const shmrt_lock_t *l, shmrt_ns_t timeout)
{
	if (!c || !c->shm || !l || !l->shm)
		return -EINVAL;
	return cond_wait_until(c, l, shmrt__deadline(timeout));
}

int shmrt_cond_wait_for(const shmrt_cond_t *c, const shmrt_lock_t *l, int (*pred)(void *),
			void *ctx, shmrt_ns_t timeout)
{
	if (!c || !c->shm || !l || !l->shm || !pred)
		return -EINVAL;
	uint64_t deadline = shmrt__deadline(timeout);
	while (!pred(ctx)) {
		if (mono_ns() >= deadline)
			return -ETIMEDOUT;
		int rc = cond_wait_until(c, l, deadline);
		if (rc && rc != -ETIMEDOUT)
			return rc;
	}
	return 0;
}

void shmrt_cond_notify(const shmrt_cond_t *c, int n)
{
	if (!c || !c->shm)
		return;
	struct word_shm *w = c->shm;
	/* R3: acq_rel RMW; its release pairs with A3 and W0 of the sleepers: what the
	 * notifier did before is visible to a waiter that sees the sequence move. */
	fetch_add_acq_rel(&w->word, 1);
	shmrt__wake(&w->word, &w->waiters, n); /* W2 inside: after R3 */
}

void shmrt_cond_notify_all(const shmrt_cond_t *c)
{
	shmrt_cond_notify(c, INT_MAX);
}

/* ---- Barrier ------------------------------------------------------------------- */

static uint32_t *gen_word(struct barrier_shm *b)
{
	/* The generation is the high half of the state word (little endian). */
	return (uint32_t *)(void *)&b->state + 1;
}

int shmrt_barrier_open(shmrt_region_t *r, const char *name, int oflags, uint32_t parties,
		       shmrt_barrier_t *out)
{
	struct shmrt_region *R = (struct shmrt_region *)r;
	if (!r || parties == 0 || !R->attached || R->slot == REC_NONE)
		return !r || parties == 0 ? -EINVAL : -EPERM;
	uint32_t np = R->geo.max_procs;
	void *p;
	bool created;
	int rc = sync_open(r, name, oflags, K_BARRIER, parties, np,
			   sizeof(struct barrier_shm) + 4ull * np, &p, &created);
	if (rc)
		return rc;
	struct barrier_shm *b = p;
	if (b->parties != parties)
		return -EPROTOTYPE;
	if (b->nmembers != np || R->slot >= np)
		return -EBADMSG;
	/* R5: release, pairs with A5 in barrier_check(): a checker that sees our
	 * generation also sees our slot's claim (its ctl and gen, stored before by the
	 * registry), so it never judges us dead from a stale slot. */
	store_release(&b->member_gen[R->slot], R->slot_gen);
	*out = (shmrt_barrier_t){ p, r, R->slot, R->slot_gen, created };
	return 0;
}

void shmrt_barrier_close(shmrt_barrier_t *b)
{
	if (!b)
		return;
	struct barrier_shm *s = b->shm;
	uint32_t g = b->gen;
	/* R5: acq_rel CAS: clears our membership only if the slot still holds our
	 * generation (not a later process's). Its release pairs with A5 as open's
	 * store does, though a checker that reads 0 only skips the slot. It was
	 * acq_rel/relaxed; cas_acq_rel fails with acquire: the same lock cmpxchg on
	 * x86-64, and a failure here reads nothing the code uses. */
	if (s && g && b->slot < s->nmembers)
		cas_acq_rel(&s->member_gen[b->slot], &g, 0);
	b->gen = 0; /* no longer a member; the handle still inspects, waits, resets */
}

static void barrier_break(struct barrier_shm *b)
{
	/* R6: release, pairs with A6: a waiter that sees the flag returns -EPIPE (and
	 * relies on nothing else published with it). */
	store_release(&b->broken, 1);
	/* M1: full fence: the flag is visible before the wake-up below, so a sleeper it
	 * wakes finds it (A6 in barrier_check). No waiter-count check: every sleeper. */
	fence_seq_cst();
	shmrt__futex_wake(gen_word(b), INT_MAX);
}

struct barrier_check {
	shmrt_barrier_t *h;
	struct barrier_shm *b;
	uint32_t gen;  /* the generation the waiter arrived in */
};

/* Between sleeps: broken? a member dead? */
static int barrier_check(void *ctx)
{
	struct barrier_check *x = ctx;
	struct barrier_shm *b = x->b;
	if (load_acquire(&b->broken)) /* A6: pairs with R6 */
		return -EPIPE;
	struct shmrt_region *R = (struct shmrt_region *)x->h->region;
	for (uint32_t i = 0; i < b->nmembers && i < R->geo.max_procs; i++) {
		/* A5: acquire, pairs with R5 (open, close): the member's slot as it was
		 * when it joined is visible below. */
		uint32_t g = load_acquire(&b->member_gen[i]);
		if (!g)
			continue;
		/* Acquire, pairs with the registry's release of the slot's ctl (ACTIVE,
		 * in core/registry.c: try_claim): the generation read below is the one
		 * published with it, or a later one. */
		uint64_t ctl = load_acquire(&R->procs[i].ctl);
		/* Relaxed: ordered after the ctl load above (acquire). */
		if (load_relaxed(&R->procs[i].gen) != g || !shmrt__slot_alive(R, i, ctl)) {
			/* A member that arrived last and then died completed our generation
			 * before dying: if the generation moved on, the wait succeeded
			 * (the loop re-reads the word and returns). W0-like acquire. */
			if (load_acquire(gen_word(b)) != x->gen)
				return 0;
			barrier_break(b);
			return -EPIPE;
		}
	}
	return 0;
}

int shmrt_barrier_wait(shmrt_barrier_t *h, shmrt_ns_t timeout, uint32_t *index)
{
	if (!h || !h->shm)
		return -EINVAL;
	struct barrier_shm *b = h->shm;
	/* A4: acquire, pairs with R4: a first guess that the CAS below checks (its
	 * own acquire is what gathers the other parties' work). */
	uint64_t s = load_acquire(&b->state), ns;
	uint32_t gen, cnt;
	do {
		if (load_acquire(&b->broken)) /* A6 */
			return -EPIPE;
		gen = (uint32_t)(s >> 32);
		cnt = (uint32_t)s;
		ns = cnt + 1 >= b->parties ? (uint64_t)(gen + 1) << 32
					   : ((uint64_t)gen << 32) | (cnt + 1);
		/* R4/A4: acq_rel CAS: releases our work with our arrival, and acquires
		 * the arrivals before it (each read its predecessor's), so the last
		 * arriver has every party's work and publishes it with the new
		 * generation. A failure's acquire hands the loop the current word. */
	} while (!cas_acq_rel(&b->state, &s, ns));
	if (index)
		*index = cnt;
	if (cnt + 1 >= b->parties) {
		/* Last arriver: the new generation is published by the CAS (R4); wake
		 * the sleepers of the old one (W2 inside: after R4). */
		shmrt__wake(gen_word(b), &b->waiters, INT_MAX);
		return 0;
	}
	struct barrier_check x = { h, b, gen };
	/* W0 in the wait (an acquire of the generation half) pairs with R4 of the
	 * last arriver, or of a reset. */
	int rc = shmrt__wait_ne(gen_word(b), gen, &b->waiters, shmrt__deadline(timeout),
				50000000, barrier_check, &x);
	if (rc == -ETIMEDOUT) {
		barrier_break(b);
		return -ETIMEDOUT;
	}
	if (rc)
		return rc;
	/* The generation moved on: completed, or reset while we waited. A7: acquire;
	 * what orders it is W0 above, which saw the reset's CAS (R4) that follows R7. */
	return load_acquire(&b->reset_from) == gen + 1 ? -EPIPE : 0;
}

void shmrt_barrier_abort(shmrt_barrier_t *h)
{
	if (!h || !h->shm)
		return;
	barrier_break(h->shm);
}

void shmrt_barrier_reset(shmrt_barrier_t *h)
{
	if (!h || !h->shm)
		return;
	struct barrier_shm *b = h->shm;
	/* A4: acquire, pairs with R4: a first guess that the CAS below checks. */
	uint64_t s = load_acquire(&b->state);
	uint32_t gen;
	do {
		gen = (uint32_t)(s >> 32);
		/* Tell the waiters of `gen` that it ended by reset (stored +1: 0 = none).
		 * R7: release; the CAS below (R4, a release after it) is what a woken
		 * waiter's W0 synchronises with before it reads this (A7). */
		store_release(&b->reset_from, gen + 1);
		/* R4/A4: acq_rel CAS: a new generation, count 0. */
	} while (!cas_acq_rel(&b->state, &s, (uint64_t)(gen + 1) << 32));
	/* R6: release, pairs with A6: the barrier is usable again. */
	store_release(&b->broken, 0);
	shmrt__wake(gen_word(b), &b->waiters, INT_MAX); /* W2 inside: after R4 */
}

int shmrt_barrier_broken(const shmrt_barrier_t *h)
{
	if (!h || !h->shm)
		return -EINVAL;
	return load_acquire(&((struct barrier_shm *)h->shm)->broken) != 0; /* A6 */
}

uint32_t shmrt_barrier_n_waiting(const shmrt_barrier_t *h)
{
	if (!h || !h->shm)
		return 0;
	/* A4: acquire, pairs with R4; a snapshot for the caller (Python's n_waiting),
	 * stale once returned: nothing here reads by it. */
	return (uint32_t)load_acquire(&((struct barrier_shm *)h->shm)->state);
}
