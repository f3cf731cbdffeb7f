/*
 * The MPMC Queue (shmrt/queue.h): creation, close, state and the JoinableQueue's count.
 * The layout, the protocol and its memory-ordering labels are in queue_int.h; putting
 * is in queue_put.c, getting in queue_get.c, and the repair of what dead producers and
 * consumers leave in queue_repair.c.
 */
#define _GNU_SOURCE
#include "queue_int.h"

#include <string.h>

/* ---- creation -------------------------------------------------------------------- */

struct qinit {
	uint32_t nslots, slot_size, max_msg, joinable, mode;
};

/* Runs before the object is published (the directory's release store publishes it):
 * plain stores. */
static int queue_init(void *mem, uint64_t size, void *ctx)
{
	(void)size;
	struct qinit *qi = ctx;
	struct qhdr *h = mem;
	h->nslots = qi->nslots;
	h->slot_size = qi->slot_size;
	h->max_msg = qi->max_msg;
	h->joinable = qi->joinable;
	h->mode = qi->mode;
	ck_ring_init(&h->ring, qi->nslots);
	/* Slot i first serves ticket i: it starts as if ticket i - nslots had been there
	 * and was released, so "not committed yet" reads the same in every lap. */
	for (uint32_t i = 0; i < qi->nslots; i++) {
		struct slot *sl = (struct slot *)(void *)((char *)mem + SLOTS_OFF +
							  (size_t)i * qi->slot_size);
		sl->state = (uint64_t)(uint32_t)(i - qi->nslots) | ST_RELEASED;
		sl->len = 0;
		sl->cwait = 0;
	}
	h->magic = QUEUE_MAGIC;
	return 0;
}

static int queue_open(shmrt_region_t *r, const char *name, int oflags, uint32_t capacity,
		      uint32_t max_msg, uint32_t joinable, shmrt_queue_t *out)
{
	uint32_t mode = (uint32_t)oflags & (SHMRT_QUEUE_SP | SHMRT_QUEUE_SC);
	oflags &= ~(SHMRT_QUEUE_SP | SHMRT_QUEUE_SC); /* shmrt__object_open checks the rest */
	if (!r || !out || capacity == 0 || capacity > (1u << 24) || max_msg > (16u << 20))
		return -EINVAL;
	uint32_t n = 2;
	while (n < capacity + 1) /* ck_ring keeps one slot empty */
		n <<= 1;
	struct qinit qi = { n, (uint32_t)((SLOT_HDR + max_msg + 63) & ~63u), max_msg, joinable,
			    mode };
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, oflags, SHMRT_TYPE_QUEUE,
				    SLOTS_OFF + (uint64_t)n * qi.slot_size, NULL, queue_init, &qi,
				    &oi);
	if (rc == -EMSGSIZE)
		return -EPROTOTYPE;
	if (rc)
		return rc;
	/* Plain reads of the immutable geometry: the directory published it (acquire
	 * under its lock) before we found the entry. */
	struct qhdr *h = shmrt_ptr(r, oi.off);
	if (h->magic != QUEUE_MAGIC || h->nslots < 2 || (h->nslots & (h->nslots - 1)) ||
	    h->ring.size != h->nslots || h->ring.mask != h->nslots - 1 ||
	    h->slot_size < SLOT_HDR + h->max_msg || h->slot_size % 64 ||
	    SLOTS_OFF + (uint64_t)h->nslots * h->slot_size > oi.size)
		return -EBADMSG;
	if (h->nslots - 1 < capacity || h->max_msg < max_msg || h->joinable != joinable ||
	    h->mode != mode)
		return -EPROTOTYPE;
	(void)shmrt__asym_register(); /* before our first publish (base/asym.h) */
	*out = (shmrt_queue_t){ .shm = h, .slots = (char *)h + SLOTS_OFF, .slot_size = h->slot_size,
				.max_msg = h->max_msg, .mask = h->nslots - 1, .mode = mode,
				.region = r, .off = oi.off, .created = oi.created };
	return 0;
}

int shmrt_queue_open(shmrt_region_t *r, const char *name, int oflags, uint32_t capacity,
		     uint32_t max_msg, shmrt_queue_t *out)
{
	return queue_open(r, name, oflags, capacity, max_msg, 0, out);
}

int shmrt_joinable_queue_open(shmrt_region_t *r, const char *name, int oflags, uint32_t capacity,
			      uint32_t max_msg, shmrt_queue_t *out)
{
	return queue_open(r, name, oflags, capacity, max_msg, 1, out);
}

/* ---- JoinableQueue ------------------------------------------------------------ */

int shmrt_queue_task_done(const shmrt_queue_t *q)
{
	if (!q || !q->shm || !H(q)->joinable)
		return -EINVAL;
	struct qhdr *h = H(q);
	uint32_t v = load_relaxed(&h->unfinished); /* a guess that the CAS checks */
	do {
		if (v == 0)
			return -EOVERFLOW; /* task_done() called too many times */
		/* J2: release (acq_rel CAS), pairs with J3: the caller's work on the task
		 * happens before a join that sees the count reach zero. */
	} while (!cas_acq_rel(&h->unfinished, &v, v - 1));
	if (v == 1)
		shmrt__wake(&h->unfinished, &h->join_waiters, INT_MAX);
	return 0;
}

int shmrt_queue_join(const shmrt_queue_t *q, shmrt_ns_t timeout)
{
	if (!q || !q->shm || !H(q)->joinable)
		return -EINVAL;
	struct qhdr *h = H(q);
	uint64_t deadline = shmrt__deadline(timeout);
	for (;;) {
		/* J3: acquire, pairs with J2 (and J1's release sequence). */
		uint32_t v = load_acquire(&h->unfinished);
		if (v == 0)
			return 0;
		if (timeout == 0)
			return -EAGAIN;
		/* Between sleeps, unstick a dead producer: its hole retires its task. */
		struct stuck_ctx x = { q };
		if (shmrt__wait_ne(&h->unfinished, v, &h->join_waiters, deadline, STUCK_CHECK_NS,
				   shmrt__queue_join_check, &x))
			return -ETIMEDOUT;
	}
}

/* ---- state ----------------------------------------------------------------------- */

void shmrt_queue_close(const shmrt_queue_t *q)
{
	if (!q || !q->shm)
		return;
	struct qhdr *h = H(q);
	/* R9: release, pairs with every acquire load of closed: what the closer did
	 * before the close is visible to whoever sees it. */
	store_release(&h->closed, 1);
	/* Full fence: the close is visible before the wakes below (a sleeper woken, or
	 * about to sleep, re-reads closed in its check). */
	fence_seq_cst();
	shmrt__futex_wake(&h->ring.p_tail, INT_MAX);
	shmrt__futex_wake(&h->ring.c_head, INT_MAX);
}

int shmrt_queue_closed(const shmrt_queue_t *q)
{
	if (!q || !q->shm)
		return -EINVAL;
	return load_acquire(&H(q)->closed) != 0; /* pairs with R9 */
}

uint32_t shmrt_queue_size(const shmrt_queue_t *q)
{
	if (!q || !q->shm)
		return 0;
	/* Relaxed: a racy snapshot by contract (shmrt/queue.h). */
	struct qhdr *h = H(q);
	unsigned c = load_relaxed(&h->ring.c_head);
	unsigned d = load_relaxed(&h->ring.p_tail) - c;
	/* Consumers may run ahead of p_tail (they take committed slots before their
	 * publication): then nothing published is left. */
	return d > q->mask ? 0 : d;
}

int shmrt_queue_empty(const shmrt_queue_t *q)
{
	if (!q || !q->shm)
		return -EINVAL;
	return shmrt_queue_size(q) == 0;
}

int shmrt_queue_full(const shmrt_queue_t *q)
{
	if (!q || !q->shm)
		return -EINVAL;
	/* Relaxed: a racy snapshot by contract. */
	struct qhdr *h = H(q);
	unsigned c = load_relaxed(&h->ring.c_head);
	return load_relaxed(&h->ring.p_head) - c >= q->mask;
}

uint32_t shmrt_queue_capacity(const shmrt_queue_t *q)
{
	if (!q || !q->shm)
		return 0;
	return q->mask;
}
