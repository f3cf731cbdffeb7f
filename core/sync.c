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
 *   Lock/RLock  0 hdr | 64 pthread_mutex_t
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
	uint8_t pad[56];
	pthread_mutex_t m;
	uint8_t pad2[24];
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
		     uint32_t arg, uint32_t arg2, uint64_t size, void **out)
{
	if (!r || !out || (oflags & ~(SHMRT_O_CREATE | SHMRT_O_EXCL)))
		return -EINVAL;
	struct sync_init si = { kind, arg, arg2 };
	uint32_t type = kind <= K_RLOCK ? SHMRT_TYPE_LOCK : SHMRT_TYPE_SYNC;
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, type, size, oflags, NULL, sync_init, &si, &oi);
	if (rc)
		return rc;
	struct sync_hdr *h = shmrt_ptr(r, oi.off);
	if (h->magic != SYNC_MAGIC || oi.size < size)
		return h->magic != SYNC_MAGIC ? -EBADMSG : -EPROTOTYPE;
	if (h->kind != kind)
		return -EPROTOTYPE;
	*out = h;
	return 0;
}

/* ---- Lock ---------------------------------------------------------------------- */

int shmrt_lock_open(shmrt_region_t *r, const char *name, int oflags, int recursive,
		    shmrt_lock_t *out)
{
	void *p;
	int rc = sync_open(r, name, oflags, recursive ? K_RLOCK : K_LOCK, 0, 0,
			   sizeof(struct lock_shm), &p);
	if (!rc)
		*out = (shmrt_lock_t){ p, r };
	return rc;
}

int shmrt_lock_acquire(const shmrt_lock_t *l, shmrt_ns_t timeout)
{
	if (!l || !l->shm)
		return -EINVAL;
	struct lock_shm *s = l->shm;
	return shmrt__pmutex_acquire(&s->m, shmrt_region_fd(l->region), shmrt__deadline(timeout));
}

int shmrt_lock_release(const shmrt_lock_t *l)
{
	if (!l || !l->shm)
		return -EINVAL;
	return -pthread_mutex_unlock(&((struct lock_shm *)l->shm)->m);
}

int shmrt_lock_consistent(const shmrt_lock_t *l)
{
	if (!l || !l->shm)
		return -EINVAL;
	return -pthread_mutex_consistent(&((struct lock_shm *)l->shm)->m);
}

/* ---- Semaphore ---------------------------------------------------------------- */

int shmrt_sem_open(shmrt_region_t *r, const char *name, int oflags, uint32_t initial,
		   int bounded, shmrt_sem_t *out)
{
	void *p;
	if (initial > INT_MAX)
		return -EINVAL;
	int rc = sync_open(r, name, oflags, bounded ? K_BSEM : K_SEM, initial, 0,
			   sizeof(struct word_shm), &p);
	if (!rc)
		*out = (shmrt_sem_t){ p, r };
	return rc;
}

int shmrt_sem_acquire(const shmrt_sem_t *s, shmrt_ns_t timeout)
{
	if (!s || !s->shm)
		return -EINVAL;
	struct word_shm *w = s->shm;
	uint64_t deadline = shmrt__deadline(timeout);
	for (;;) {
		uint32_t v = load_relaxed(&w->word);
		/* Acquire on success: pairs with the release in shmrt_sem_release(). */
		while (v > 0)
			if (cas_acq_rel(&w->word, &v, v - 1))
				return 0;
		if (timeout == 0)
			return -EAGAIN;
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
	uint32_t v = load_relaxed(&w->word);
	do {
		if ((w->max && v + (uint64_t)n > w->max) || v + (uint64_t)n > INT_MAX)
			return -EOVERFLOW;
	} while (!cas_acq_rel(&w->word, &v, v + n));
	shmrt__wake(&w->word, &w->waiters, (int)n);
	return 0;
}

uint32_t shmrt_sem_value(const shmrt_sem_t *s)
{
	return load_relaxed(&((struct word_shm *)s->shm)->word);
}

/* ---- Event --------------------------------------------------------------------- */

int shmrt_event_open(shmrt_region_t *r, const char *name, int oflags, shmrt_event_t *out)
{
	void *p;
	int rc = sync_open(r, name, oflags, K_EVENT, 0, 0, sizeof(struct word_shm), &p);
	if (!rc)
		*out = (shmrt_event_t){ p, r };
	return rc;
}

void shmrt_event_set(const shmrt_event_t *e)
{
	struct word_shm *w = e->shm;
	/* Release: what the setter did is visible to whoever sees the flag. */
	store_release(&w->word, 1);
	shmrt__wake(&w->word, &w->waiters, INT_MAX);
}

void shmrt_event_clear(const shmrt_event_t *e)
{
	store_release(&((struct word_shm *)e->shm)->word, 0);
}

int shmrt_event_is_set(const shmrt_event_t *e)
{
	return load_acquire(&((struct word_shm *)e->shm)->word) != 0;
}

int shmrt_event_wait(const shmrt_event_t *e, shmrt_ns_t timeout)
{
	if (!e || !e->shm)
		return -EINVAL;
	struct word_shm *w = e->shm;
	if (load_acquire(&w->word))
		return 0;
	if (timeout == 0)
		return -EAGAIN;
	return shmrt__wait_ne(&w->word, 0, &w->waiters, shmrt__deadline(timeout), 0, NULL,
			      NULL);
}

/* ---- Condition ---------------------------------------------------------------- */

int shmrt_cond_open(shmrt_region_t *r, const char *name, int oflags, shmrt_cond_t *out)
{
	void *p;
	int rc = sync_open(r, name, oflags, K_COND, 0, 0, sizeof(struct word_shm), &p);
	if (!rc)
		*out = (shmrt_cond_t){ p, r };
	return rc;
}

static int cond_wait_until(const shmrt_cond_t *c, const shmrt_lock_t *l, uint64_t deadline)
{
	struct word_shm *w = c->shm;
	/* Read the sequence while holding the lock: a notify (made with the lock held)
	 * after our release changes it, so the futex wait below cannot miss it. */
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
	struct word_shm *w = c->shm;
	fetch_add_acq_rel(&w->word, 1);
	shmrt__wake(&w->word, &w->waiters, n);
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
	uint32_t np = R->hdr->g.max_procs;
	void *p;
	int rc = sync_open(r, name, oflags, K_BARRIER, parties, np,
			   sizeof(struct barrier_shm) + 4ull * np, &p);
	if (rc)
		return rc;
	struct barrier_shm *b = p;
	if (b->parties != parties)
		return -EPROTOTYPE;
	if (b->nmembers != np || R->slot >= np)
		return -EBADMSG;
	store_release(&b->member_gen[R->slot], R->slot_gen);
	*out = (shmrt_barrier_t){ p, r, R->slot, R->slot_gen };
	return 0;
}

void shmrt_barrier_close(shmrt_barrier_t *b)
{
	struct barrier_shm *s = b->shm;
	uint32_t g = b->gen;
	if (s && g && b->slot < s->nmembers)
		__atomic_compare_exchange_n(&s->member_gen[b->slot], &g, 0, 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
	b->gen = 0; /* no longer a member; the handle still inspects, waits, resets */
}

static void barrier_break(struct barrier_shm *b)
{
	store_release(&b->broken, 1);
	fence_seq_cst();
	shmrt__futex_wake(gen_word(b), INT_MAX);
}

struct barrier_check {
	shmrt_barrier_t *h;
	struct barrier_shm *b;
};

/* Between sleeps: broken? a member dead? */
static int barrier_check(void *ctx)
{
	struct barrier_check *x = ctx;
	struct barrier_shm *b = x->b;
	if (load_acquire(&b->broken))
		return -EPIPE;
	struct shmrt_region *R = (struct shmrt_region *)x->h->region;
	for (uint32_t i = 0; i < b->nmembers && i < R->hdr->g.max_procs; i++) {
		uint32_t g = load_acquire(&b->member_gen[i]);
		if (!g)
			continue;
		uint64_t ctl = load_acquire(&R->procs[i].ctl);
		if (load_relaxed(&R->procs[i].gen) != g || !shmrt__slot_alive(R, i, ctl)) {
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
	uint64_t s = load_acquire(&b->state), ns;
	uint32_t gen, cnt;
	do {
		if (load_acquire(&b->broken))
			return -EPIPE;
		gen = (uint32_t)(s >> 32);
		cnt = (uint32_t)s;
		ns = cnt + 1 >= b->parties ? (uint64_t)(gen + 1) << 32
					   : ((uint64_t)gen << 32) | (cnt + 1);
	} while (!cas_acq_rel(&b->state, &s, ns));
	if (index)
		*index = cnt;
	if (cnt + 1 >= b->parties) {
		/* Last arriver: the new generation is published by the CAS (release);
		 * wake the sleepers of the old one. */
		shmrt__wake(gen_word(b), &b->waiters, INT_MAX);
		return 0;
	}
	struct barrier_check x = { h, b };
	int rc = shmrt__wait_ne(gen_word(b), gen, &b->waiters, shmrt__deadline(timeout),
				50000000, barrier_check, &x);
	if (rc == -ETIMEDOUT) {
		barrier_break(b);
		return -ETIMEDOUT;
	}
	if (rc)
		return rc;
	/* The generation moved on: completed, or reset while we waited. */
	return load_acquire(&b->reset_from) == gen + 1 ? -EPIPE : 0;
}

void shmrt_barrier_abort(shmrt_barrier_t *h)
{
	barrier_break(h->shm);
}

void shmrt_barrier_reset(shmrt_barrier_t *h)
{
	struct barrier_shm *b = h->shm;
	uint64_t s = load_acquire(&b->state);
	uint32_t gen;
	do {
		gen = (uint32_t)(s >> 32);
		/* Tell the waiters of `gen` that it ended by reset (stored +1: 0 = none). */
		store_release(&b->reset_from, gen + 1);
	} while (!cas_acq_rel(&b->state, &s, (uint64_t)(gen + 1) << 32));
	store_release(&b->broken, 0);
	shmrt__wake(gen_word(b), &b->waiters, INT_MAX);
}

int shmrt_barrier_broken(const shmrt_barrier_t *h)
{
	return load_acquire(&((struct barrier_shm *)h->shm)->broken) != 0;
}

uint32_t shmrt_barrier_n_waiting(const shmrt_barrier_t *h)
{
	return (uint32_t)load_acquire(&((struct barrier_shm *)h->shm)->state);
}
