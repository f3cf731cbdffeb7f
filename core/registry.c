/*
 * The registry: which processes and threads are attached to a region, whether they
 * are alive, and reclaiming what dead ones leave behind.
 *
 * Liveness is decided by pid AND process start time (field 22 of /proc/PID/stat):
 * a pid recycled by the kernel has a different start time, so it is not mistaken for
 * the dead process. A zombie (killed, not yet reaped by its parent) counts as dead.
 * Limitation: all processes must share a pid namespace.
 *
 * Process slot life cycle (ctl word = pid << 8 | state):
 *   FREE --CAS--> CLAIMING(pid) --> ACTIVE(pid) --detach--> FREE
 *   ACTIVE(dead pid) --CAS by a reclaimer--> RECLAIMING(reclaimer pid) --> FREE
 * A claimer writes start time and generation between CLAIMING and ACTIVE; while
 * CLAIMING (a few instructions) liveness is judged by pid alone, and so is a
 * reclaimer's. A reclaimer that dies midway is replaced by the next one: every
 * reclaim step is idempotent.
 *
 * Thread records belong to (slot, generation). Reclaiming a record runs the hooks
 * of the modules that keep per-thread state (the arena's cache first), then frees it.
 * Records are claimed lazily, on a thread's first allocation or object operation in
 * a region, and released by a pthread key destructor when the thread exits, or when
 * the region is closed.
 *
 * fork(): the child must not share the parent's slot (the parent may detach while
 * the child still runs). A pthread_atfork child handler claims a fresh slot in every
 * region the process has open, and bumps a fork generation that invalidates the
 * thread-local record cache, so the child's threads claim records of their own.
 */
#define _GNU_SOURCE
#include "region_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

uint64_t shmrt__fork_gen = 1;
pthread_mutex_t shmrt__handles_lock = PTHREAD_MUTEX_INITIALIZER;
struct shmrt_region *shmrt__handles;
__thread struct shmrt__tls_rec shmrt__tls_last SHMRT_TLS_IE;

#define REC_MARK (1ull << 63) /* record being reclaimed */

/* ---- liveness (pid + start time: base/proc.h) ----------------------------------- */

int shmrt__slot_alive(struct shmrt_region *r, uint32_t i, uint64_t ctl)
{
	pid_t pid = (pid_t)(ctl >> 8);
	switch (ctl & 0xff) {
	case SLOT_ACTIVE: {
		if (r->attached && i == r->slot && pid == getpid())
			return 1;
		int alive;
		uint64_t st = shmrt__proc_start_time(pid, &alive);
		return alive && st == load_relaxed(&r->procs[i].start_time);
	}
	case SLOT_CLAIMING:
	case SLOT_RECLAIMING:
		return shmrt__pid_alive(pid);
	default:
		return 0;
	}
}

/* ---- reclaim hooks ------------------------------------------------------------ */

static void release_rec(struct shmrt_region *r, uint32_t idx)
{
	struct shmrt_thread_rec *t = &r->threads[idx];
	shmrt__arena_cache_reclaim(&r->arena, idx);
	for (int i = 0; i < SHMRT_THREAD_MODULE_WORDS; i++)
		store_relaxed(&t->module[i], 0);
	/* Release: the reclaimed state is visible before the record can be claimed
	 * again (paired with the acquire of the claiming CAS). */
	store_release(&t->ctl, 0);
}

/* Reclaims every record of (slot, gen). Records marked by a dead reclaimer of the
 * same slot are reclaimed again (idempotent). */
static void reclaim_recs_of(struct shmrt_region *r, uint32_t slot, uint32_t gen)
{
	uint64_t want = ((uint64_t)(slot + 1) << 32) | gen;
	for (uint32_t i = 0; i < r->hdr->g.max_threads; i++) {
		uint64_t c = load_acquire(&r->threads[i].ctl);
		if ((c & ~REC_MARK) != want)
			continue;
		if (!(c & REC_MARK) && !cas_acq_rel(&r->threads[i].ctl, &c, c | REC_MARK))
			continue;
		release_rec(r, i);
	}
}

static int reclaim_slot(struct shmrt_region *r, uint32_t i, uint64_t ctl)
{
	struct shmrt_proc_slot *s = &r->procs[i];
	uint64_t mine = ((uint64_t)getpid() << 8) | SLOT_RECLAIMING;
	/* Acq_rel: we take the slot over exclusively; a competing reclaimer fails. */
	if (!cas_acq_rel(&s->ctl, &ctl, mine))
		return 0;
	reclaim_recs_of(r, i, load_relaxed(&s->gen));
	store_release(&s->ctl, 0);
	fetch_add_relaxed(&r->hdr->reclaims, 1);
	return 1;
}

unsigned shmrt__gc(struct shmrt_region *r)
{
	unsigned n = 0;
	uint32_t np = r->hdr->g.max_procs;
	for (uint32_t i = 0; i < np; i++) {
		uint64_t ctl = load_acquire(&r->procs[i].ctl);
		if (ctl && !shmrt__slot_alive(r, i, ctl))
			n += (unsigned)reclaim_slot(r, i, ctl);
	}
	/* Orphan records: their slot is free or has moved on to another generation
	 * (the reclaimer of their slot died before reaching them). */
	for (uint32_t i = 0; i < r->hdr->g.max_threads; i++) {
		uint64_t c = load_acquire(&r->threads[i].ctl);
		if (!c || (c & REC_MARK))
			continue;
		uint32_t slot = (uint32_t)(c >> 32) - 1, gen = (uint32_t)c;
		if (slot >= np)
			continue;
		uint64_t sc = load_acquire(&r->procs[slot].ctl);
		uint32_t st = sc & 0xff;
		if ((st == SLOT_ACTIVE || st == SLOT_CLAIMING || st == SLOT_RECLAIMING) &&
		    load_acquire(&r->procs[slot].gen) == gen)
			continue;
		if (st == SLOT_CLAIMING)
			continue; /* its generation is about to change; judge next time */
		if (cas_acq_rel(&r->threads[i].ctl, &c, c | REC_MARK))
			release_rec(r, i);
	}
	return n;
}

int shmrt__rec_alive(struct shmrt_region *r, uint32_t idx)
{
	uint64_t c = load_acquire(&r->threads[idx].ctl) & ~REC_MARK;
	uint32_t slot = (uint32_t)(c >> 32) - 1, gen = (uint32_t)c;
	if (!c || slot >= r->hdr->g.max_procs)
		return 0;
	uint64_t sc = load_acquire(&r->procs[slot].ctl);
	return load_acquire(&r->procs[slot].gen) == gen && shmrt__slot_alive(r, slot, sc);
}

int shmrt__live_procs(struct shmrt_region *r)
{
	int n = 0;
	for (uint32_t i = 0; i < r->hdr->g.max_procs; i++) {
		uint64_t ctl = load_acquire(&r->procs[i].ctl);
		if (ctl && shmrt__slot_alive(r, i, ctl))
			n++;
	}
	return n;
}

/* ---- process slots --------------------------------------------------------------- */

static int try_claim(struct shmrt_region *r)
{
	uint64_t start = shmrt__self_start_time();
	pid_t pid = getpid();
	for (uint32_t i = 0; i < r->hdr->g.max_procs; i++) {
		struct shmrt_proc_slot *s = &r->procs[i];
		uint64_t expect = 0;
		if (load_relaxed(&s->ctl) != 0 ||
		    !cas_acq_rel(&s->ctl, &expect, ((uint64_t)pid << 8) | SLOT_CLAIMING))
			continue;
		s->start_time = start;
		s->attached_ns = real_ns();
		s->pid = (uint32_t)pid;
		uint32_t gen = s->gen + 1;
		store_relaxed(&s->gen, gen);
		/* Release: start time and generation are published with ACTIVE. */
		store_release(&s->ctl, ((uint64_t)pid << 8) | SLOT_ACTIVE);
		r->slot = i;
		r->slot_gen = gen;
		r->pid = pid;
		fetch_add_relaxed(&r->hdr->attaches, 1);
		return 0;
	}
	return -EUSERS;
}

int shmrt__slot_claim(struct shmrt_region *r)
{
	int rc = try_claim(r);
	if (rc == -EUSERS && shmrt__gc(r))
		rc = try_claim(r);
	return rc;
}

void shmrt__slot_release(struct shmrt_region *r)
{
	if (r->slot == REC_NONE)
		return;
	reclaim_recs_of(r, r->slot, r->slot_gen);
	store_release(&r->procs[r->slot].ctl, 0);
	r->slot = REC_NONE;
}

/* ---- thread records ----------------------------------------------------------- */

struct tls_node {
	struct shmrt__tls_rec e;
	struct tls_node *next;
};
static __thread struct tls_node *tls_list;
static pthread_key_t tls_key;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *arg)
{
	(void)arg;
	uint64_t fg = load_relaxed(&shmrt__fork_gen);
	pthread_mutex_lock(&shmrt__handles_lock);
	for (struct tls_node *n = tls_list, *next; n; n = next) {
		next = n->next;
		for (struct shmrt_region *r = shmrt__handles; r && n->e.fork_gen == fg; r = r->next) {
			if (r->id != n->e.handle_id || r->slot == REC_NONE)
				continue;
			uint64_t want = ((uint64_t)(r->slot + 1) << 32) | r->slot_gen;
			uint64_t c = load_acquire(&r->threads[n->e.rec].ctl);
			if (c == want && cas_acq_rel(&r->threads[n->e.rec].ctl, &c, c | REC_MARK))
				release_rec(r, n->e.rec);
		}
		free(n);
	}
	tls_list = NULL;
	shmrt__tls_last.handle_id = 0;
	pthread_mutex_unlock(&shmrt__handles_lock);
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&shmrt__handles_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&shmrt__handles_lock);
}

static void atfork_child(void)
{
	store_relaxed(&shmrt__fork_gen, shmrt__fork_gen + 1);
	shmrt__tls_last.handle_id = 0;
	tls_list = NULL; /* the parent's nodes leak in the child: it cannot free them
	                    safely here, and they are few */
	for (struct shmrt_region *r = shmrt__handles; r; r = r->next) {
		if (!r->attached)
			continue;
		r->slot = REC_NONE;
		if (shmrt__slot_claim(r))
			r->slot = REC_NONE;
	}
	pthread_mutex_unlock(&shmrt__handles_lock);
}

static void reg_init(void)
{
	pthread_key_create(&tls_key, thread_exit);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void shmrt__registry_init(void)
{
	pthread_once(&reg_once, reg_init);
}

uint32_t shmrt__thread_rec_slow(struct shmrt_region *r)
{
	uint64_t fg = load_relaxed(&shmrt__fork_gen);
	if (!r->attached || r->slot == REC_NONE)
		return REC_NONE;
	for (struct tls_node *n = tls_list; n; n = n->next) {
		if (n->e.handle_id == r->id && n->e.fork_gen == fg) {
			shmrt__tls_last = n->e;
			return n->e.rec;
		}
	}
	struct tls_node *node = malloc(sizeof(*node));
	if (!node)
		return REC_NONE;
	uint64_t want = ((uint64_t)(r->slot + 1) << 32) | r->slot_gen;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < r->hdr->g.max_threads; i++) {
			struct shmrt_thread_rec *t = &r->threads[i];
			uint64_t expect = 0;
			if (load_relaxed(&t->ctl) || !cas_acq_rel(&t->ctl, &expect, want))
				continue;
			/* Relaxed max: scans (RCU) cover records below the mark; a record
			 * is announced by its own stores, ordered by the scanner's fence. */
			uint32_t hwm = load_relaxed(&r->hdr->rec_hwm);
			while (hwm < i + 1 &&
			       !__atomic_compare_exchange_n(&r->hdr->rec_hwm, &hwm, i + 1, 0,
							    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				;
			t->tid = shmrt__tid();
			t->node = shmrt__numa_node_of_caller();
			shmrt__arena_cache_attach(&r->arena, i, t->node);
			node->e = (struct shmrt__tls_rec){ r->id, fg, i };
			node->next = tls_list;
			tls_list = node;
			pthread_setspecific(tls_key, node);
			shmrt__tls_last = node->e;
			return i;
		}
		if (!shmrt__gc(r))
			break;
	}
	free(node);
	return REC_NONE;
}
