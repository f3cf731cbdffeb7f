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
	uint32_t nslots, slot_size, max_msg, joinable, mode, nproducers;
	uint64_t producers_rel;
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
	h->nproducers = qi->nproducers;
	h->producers_rel = qi->producers_rel; /* the table: zeroed with the object */
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
	uint32_t modes = SHMRT_QUEUE_SP | SHMRT_QUEUE_SC | SHMRT_QUEUE_NO_EOF;
	uint32_t mode = (uint32_t)oflags & modes;
	oflags &= ~(int)modes; /* shmrt__object_open checks the rest */
	if (!r || !out || capacity == 0 || capacity > (1u << 24) || max_msg > (16u << 20))
		return -EINVAL;
	uint32_t n = 2;
	while (n < capacity + 1) /* ck_ring keeps one slot empty */
		n <<= 1;
	uint32_t np = ((struct shmrt_region *)r)->geo.max_procs;
	struct qinit qi = { n, (uint32_t)((SLOT_HDR + max_msg + 63) & ~63u), max_msg, joinable,
			    mode, np, 0 };
	qi.producers_rel = SLOTS_OFF + (uint64_t)n * qi.slot_size;
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, oflags, SHMRT_TYPE_QUEUE,
				    qi.producers_rel + 8ull * np, NULL, queue_init, &qi, &oi);
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
	    SLOTS_OFF + (uint64_t)h->nslots * h->slot_size > oi.size ||
	    h->nproducers != np || h->producers_rel % 8 ||
	    h->producers_rel < SLOTS_OFF + (uint64_t)h->nslots * h->slot_size ||
	    h->producers_rel + 8ull * np > oi.size)
		return -EBADMSG;
	if (h->nslots - 1 < capacity || h->max_msg < max_msg || h->joinable != joinable ||
	    h->mode != mode)
		return -EPROTOTYPE;
	(void)shmrt__asym_register(); /* before our first publish (base/asym.h) */
	*out = (shmrt_queue_t){ .shm = h, .slots = (char *)h + SLOTS_OFF, .slot_size = h->slot_size,
				.max_msg = h->max_msg, .mask = h->nslots - 1, .mode = mode,
				.region = r, .off = oi.off,
				.producers = (uint64_t *)(void *)((char *)h + h->producers_rel),
				.nproducers = np, .created = oi.created };
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

/* ---- producers: the end of file (queue_int.h) ------------------------------------ */

/* Marks the calling process a producer (queue_int.h). Seq_cst, as the first put's
 * reservation after it: a consumer that finds the queue drained after its look at
 * the table either saw this word or sees what we put. had_producers after the word:
 * a consumer that reads it set (acquire) also sees the word. */
int shmrt__queue_producer_mark(const shmrt_queue_t *q)
{
	struct shmrt_region *R = region_of(q);
	if (!R->attached || R->slot >= q->nproducers)
		return -EPERM;
	store_seq_cst(&q->producers[R->slot], PROD_LIVE | R->slot_gen);
	if (!load_relaxed(&H(q)->had_producers))
		store_seq_cst(&H(q)->had_producers, 1);
	return 0;
}

int shmrt_queue_producer(const shmrt_queue_t *q)
{
	if (!q || !q->shm || !q->producers)
		return -EINVAL;
	return shmrt__queue_producer_mark(q);
}

int shmrt_queue_producer_done(const shmrt_queue_t *q)
{
	if (!q || !q->shm || !q->producers)
		return -EINVAL;
	struct shmrt_region *R = region_of(q);
	if (!R->attached || R->slot >= q->nproducers)
		return -EPERM;
	/* Seq_cst: after our last put's publication, which a consumer that reads the
	 * word cleared then finds (it looks at the ring after the table). A consumer
	 * asleep with no timeout sees the end at its next look. */
	store_seq_cst(&q->producers[R->slot], 0);
	return 0;
}

/* Whether the queue had a producer and none is left: each marked word's slot must
 * still be held by the generation that marked it, by a live process. */
int shmrt__queue_producers_gone(const shmrt_queue_t *q)
{
	struct qhdr *h = H(q);
	/* Acquire: pairs with the mark's seq_cst store of had_producers. */
	if ((q->mode & SHMRT_QUEUE_NO_EOF) || !load_acquire(&h->had_producers))
		return 0;
	struct shmrt_region *R = region_of(q);
	for (uint32_t i = 0; i < q->nproducers && i < R->geo.max_procs; i++) {
		uint64_t w = load_acquire(&q->producers[i]);
		if (!(w & PROD_LIVE))
			continue;
		/* Acquire, as the Pipe's peer check: the slot's generation and start time
		 * are those of the claim compared against. */
		uint64_t ctl = load_acquire(&R->procs[i].ctl);
		if (load_acquire(&R->procs[i].gen) == (uint32_t)w && shmrt__slot_alive(R, i, ctl))
			return 0;
	}
	return 1;
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
