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
 * thread-local record cache, so the child's threads claim records of their own. A
 * child forked only to exec a program (shmrt__fork_exec set by the forking thread,
 * core/worker.c) claims nothing: the program attaches itself if it wants to.
 *
 * Memory ordering. No lock protects the registry's shared words (life_lock, held
 * around attach and detach, serialises them with unlinking, not with gc): every
 * transition of a slot's or a record's ctl word is a CAS or a release store, and the
 * words a transition publishes are written before it. Labels of the registry:
 *   SL1  slot claim, CAS FREE -> CLAIMING     acq_rel: acquire pairs with SL4
 *   SL2  slot ACTIVE (try_claim)              release: start time and generation first
 *   SL3  slot reclaim, CAS -> RECLAIMING      acq_rel: acquire pairs with SL2 (the
 *                                             generation whose records we reclaim) or
 *                                             a dead reclaimer's SL3
 *   SL4  slot FREE (reclaim, detach)          release: its records are freed (TR3)
 *                                             first; read by SL1
 *   SL5  loads of a slot's ctl                acquire: pairs with SL2/SL4; also in
 *                                             region_info.c (procs, stats). The
 *                                             acquire loads of gen that follow some
 *                                             of them pair with no release (gen is
 *                                             stored relaxed, published by SL2)
 *   TR1  record claim, CAS 0 -> (slot, gen)   acq_rel: acquire pairs with TR3 (the
 *                                             record was emptied); release with TR4
 *                                             (whoever sees the record sees our slot
 *                                             ACTIVE, SL2)
 *   TR2  record mark, CAS -> | REC_MARK       acq_rel: one reclaimer per record
 *   TR3  record freed, ctl = 0 (release_rec)  release: its cache reclaimed, its module
 *                                             words cleared first; read by TR1/TR4
 *   TR4  loads of a record's ctl              acquire: pairs with TR1/TR3 (and TR2)
 *   H1   rec_hwm raised (seq_cst CAS)         pairs with H2 in shmrt__rcu_scan()
 *                                             (core/rcu.c)
 * What a dead process or thread wrote is read by its reclaimer after the death was
 * established (/proc, base/proc.h) and the slot or record taken over with SL3/TR2;
 * the arena's cache words are ordered for that reader by their own releases (F1/F2
 * in alloc/arena.c). Counters (attaches, reclaims) are relaxed: statistics.
 * shmrt__fork_gen and the handle list are process-local: the list is under
 * shmrt__handles_lock, and fork_gen changes only in a fork child's atfork handler,
 * while the child has one thread (threads created later are ordered after it by
 * their creation), hence relaxed.
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
__thread int shmrt__fork_exec;

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
		/* Relaxed: the caller read ctl (ACTIVE) with SL5, which pairs with SL2,
		 * published after the start time. */
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
		store_relaxed(&t->module[i], 0); /* Relaxed: published by TR3 below */
	/* TR3: release, pairs with TR1 (the claiming CAS) and TR4: the reclaimed cache
	 * and the cleared module words are visible before the record can be claimed
	 * again. */
	store_release(&t->ctl, 0);
}

/* Reclaims every record of (slot, gen). Records marked by a dead reclaimer of the
 * same slot are reclaimed again (idempotent). */
static void reclaim_recs_of(struct shmrt_region *r, uint32_t slot, uint32_t gen)
{
	uint64_t want = ((uint64_t)(slot + 1) << 32) | gen;
	for (uint32_t i = 0; i < r->geo.max_threads; i++) {
		/* TR4: acquire, pairs with TR1 (the owner's claim) and with a dead
		 * reclaimer's TR2 (a record already marked is reclaimed again). */
		uint64_t c = load_acquire(&r->threads[i].ctl);
		if ((c & ~REC_MARK) != want)
			continue;
		/* TR2: acq_rel CAS: one reclaimer marks the record; its acquire pairs
		 * with TR1, its release with the TR4 of a reclaimer after us. */
		if (!(c & REC_MARK) && !cas_acq_rel(&r->threads[i].ctl, &c, c | REC_MARK))
			continue;
		release_rec(r, i);
	}
}

static int reclaim_slot(struct shmrt_region *r, uint32_t i, uint64_t ctl)
{
	struct shmrt_proc_slot *s = &r->procs[i];
	uint64_t mine = ((uint64_t)getpid() << 8) | SLOT_RECLAIMING;
	/* SL3: acq_rel CAS: we take the slot over exclusively; a competing reclaimer
	 * fails. Acquire pairs with SL2 (the ACTIVE we saw, published after the
	 * generation) or with a dead reclaimer's SL3; release with the SL5/SL3 of
	 * whoever comes after us, should we die. */
	if (!cas_acq_rel(&s->ctl, &ctl, mine))
		return 0;
	/* Relaxed: ordered by SL3's acquire; nobody changes gen while we hold the slot. */
	reclaim_recs_of(r, i, load_relaxed(&s->gen));
	/* SL4: release, pairs with SL1 and SL5: the slot's records are freed (TR3)
	 * before the slot can be claimed again. */
	store_release(&s->ctl, 0);
	/* Relaxed: a counter read racily by stats. */
	fetch_add_relaxed(&r->hdr->reclaims, 1);
	return 1;
}

unsigned shmrt__gc(struct shmrt_region *r)
{
	unsigned n = 0;
	uint32_t np = r->geo.max_procs;
	for (uint32_t i = 0; i < np; i++) {
		/* SL5: acquire, pairs with SL2: an ACTIVE slot's start time (for the
		 * liveness check) is complete. */
		uint64_t ctl = load_acquire(&r->procs[i].ctl);
		if (ctl && !shmrt__slot_alive(r, i, ctl))
			n += (unsigned)reclaim_slot(r, i, ctl);
	}
	/* Orphan records: their slot is free or has moved on to another generation
	 * (the reclaimer of their slot died before reaching them). */
	for (uint32_t i = 0; i < r->geo.max_threads; i++) {
		/* TR4: acquire, pairs with TR1's release: a record seen claimed has its
		 * slot ACTIVE with its generation (SL2, before TR1), so the slot check
		 * below cannot find a live owner's slot older than its record. */
		uint64_t c = load_acquire(&r->threads[i].ctl);
		if (!c || (c & REC_MARK))
			continue;
		uint32_t slot = (uint32_t)(c >> 32) - 1, gen = (uint32_t)c;
		if (slot >= np)
			continue;
		uint64_t sc = load_acquire(&r->procs[slot].ctl); /* SL5 */
		uint32_t st = sc & 0xff;
		/* SL5 on gen: acquire, read after the ctl above, whose acquire is what
		 * publishes gen (stored relaxed before SL2: it has no release of its own);
		 * this one keeps the loads after it after it. */
		if ((st == SLOT_ACTIVE || st == SLOT_CLAIMING || st == SLOT_RECLAIMING) &&
		    load_acquire(&r->procs[slot].gen) == gen)
			continue;
		if (st == SLOT_CLAIMING)
			continue; /* its generation is about to change; judge next time */
		/* TR2: acq_rel CAS, as in reclaim_recs_of(): the orphan is ours alone. */
		if (cas_acq_rel(&r->threads[i].ctl, &c, c | REC_MARK))
			release_rec(r, i);
	}
	return n;
}

int shmrt__rec_alive(struct shmrt_region *r, uint32_t idx)
{
	/* TR4: acquire, pairs with TR1: the owner's slot is ACTIVE (SL2) for us too. */
	uint64_t c = load_acquire(&r->threads[idx].ctl) & ~REC_MARK;
	uint32_t slot = (uint32_t)(c >> 32) - 1, gen = (uint32_t)c;
	if (!c || slot >= r->geo.max_procs)
		return 0;
	uint64_t sc = load_acquire(&r->procs[slot].ctl); /* SL5: start time for the check */
	/* SL5 on gen: acquire, as in shmrt__gc(): published by the ctl just read. */
	return load_acquire(&r->procs[slot].gen) == gen && shmrt__slot_alive(r, slot, sc);
}

int shmrt__live_procs(struct shmrt_region *r)
{
	int n = 0;
	for (uint32_t i = 0; i < r->geo.max_procs; i++) {
		uint64_t ctl = load_acquire(&r->procs[i].ctl); /* SL5, for the start time */
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
	for (uint32_t i = 0; i < r->geo.max_procs; i++) {
		struct shmrt_proc_slot *s = &r->procs[i];
		uint64_t expect = 0;
		/* Relaxed: a hint that skips taken slots; the CAS (SL1) decides. SL1:
		 * acq_rel CAS, its acquire pairs with SL4: the slot's previous generation
		 * and records are freed before we reuse it. (Its release half publishes
		 * nothing: the claim's writes follow it, and SL2 publishes them.) */
		if (load_relaxed(&s->ctl) != 0 ||
		    !cas_acq_rel(&s->ctl, &expect, ((uint64_t)pid << 8) | SLOT_CLAIMING))
			continue;
		s->start_time = start;
		s->attached_ns = real_ns();
		s->pid = (uint32_t)pid;
		uint32_t gen = s->gen + 1;
		store_relaxed(&s->gen, gen); /* Relaxed: published by SL2 below */
		/* SL2: release, pairs with SL5 and SL3: start time and generation are
		 * published with ACTIVE. */
		store_release(&s->ctl, ((uint64_t)pid << 8) | SLOT_ACTIVE);
		r->slot = i;
		r->slot_gen = gen;
		r->pid = pid;
		/* Relaxed: a counter read racily by stats. */
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
	/* SL4: release, pairs with SL1 and SL5: our records are freed (TR3) before the
	 * slot can be claimed again. */
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
	uint64_t fg = load_relaxed(&shmrt__fork_gen); /* Relaxed: process-local, see top */
	pthread_mutex_lock(&shmrt__handles_lock);
	for (struct tls_node *n = tls_list, *next; n; n = next) {
		next = n->next;
		for (struct shmrt_region *r = shmrt__handles; r && n->e.fork_gen == fg; r = r->next) {
			if (r->id != n->e.handle_id || r->slot == REC_NONE)
				continue;
			uint64_t want = ((uint64_t)(r->slot + 1) << 32) | r->slot_gen;
			/* TR4 and TR2 on our own record: the acquire and the CAS decide
			 * against a gc that may have marked it meanwhile. */
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
	/* A child that only execs (core/worker.c) claims nothing: exec would drop its
	 * slots unreleased, and since pid and start time survive the exec they would
	 * look alive for as long as the program runs. */
	if (shmrt__fork_exec) {
		pthread_mutex_unlock(&shmrt__handles_lock);
		return;
	}
	/* Relaxed: the child has one thread here (see top). */
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

/* Whether handle id is open in this process. Caller holds shmrt__handles_lock. */
static int handle_open(uint64_t id)
{
	for (struct shmrt_region *h = shmrt__handles; h; h = h->next)
		if (h->id == id)
			return 1;
	return 0;
}

uint32_t shmrt__thread_rec_slow(struct shmrt_region *r)
{
	uint64_t fg = load_relaxed(&shmrt__fork_gen); /* Relaxed: process-local, see top */
	if (!r->attached || r->slot == REC_NONE)
		return REC_NONE;
	for (struct tls_node *n = tls_list; n; n = n->next) {
		if (n->e.handle_id == r->id && n->e.fork_gen == fg) {
			shmrt__tls_last = n->e;
			return n->e.rec;
		}
	}
	/* A node of a handle closed since (its record went with its slot) or of the
	 * parent before a fork is reused: a thread that opens and closes regions for
	 * ever keeps one node per open handle, not one per handle it ever used. */
	struct tls_node *node = NULL;
	pthread_mutex_lock(&shmrt__handles_lock);
	for (struct tls_node *n = tls_list; n && !node; n = n->next)
		if (n->e.fork_gen != fg || !handle_open(n->e.handle_id))
			node = n;
	pthread_mutex_unlock(&shmrt__handles_lock);
	int fresh = !node;
	if (fresh && !(node = malloc(sizeof(*node))))
		return REC_NONE;
	uint64_t want = ((uint64_t)(r->slot + 1) << 32) | r->slot_gen;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < r->geo.max_threads; i++) {
			struct shmrt_thread_rec *t = &r->threads[i];
			uint64_t expect = 0;
			/* Relaxed: a hint that skips taken records; the CAS (TR1) decides.
			 * TR1: acq_rel CAS. Acquire pairs with TR3: the record's previous
			 * cache and module words were reclaimed before it was freed. Release
			 * pairs with TR4: whoever sees the record claimed sees our slot
			 * ACTIVE with our generation (SL2, made before). */
			if (load_relaxed(&t->ctl) || !cas_acq_rel(&t->ctl, &expect, want))
				continue;
			/* Relaxed: a first guess; the CAS (H1) checks it. */
			uint32_t hwm = load_relaxed(&r->hdr->rec_hwm);
			/* H1: seq_cst CAS (a failure is a relaxed load: the loop
			 * retries with the value it got), pairs with H2 in
			 * shmrt__rcu_scan() (core/rcu.c): scans cover the records below
			 * the mark, and the mark covers this record before the record is
			 * returned, so before it can run a read section; M1/M2 order the
			 * mark against the section (core/rcu_int.h). */
			while (hwm < i + 1 && !cas_seq_cst(&r->hdr->rec_hwm, &hwm, i + 1))
				;
			t->tid = shmrt__tid();
			t->node = shmrt__numa_node_of_caller();
			shmrt__arena_cache_attach(&r->arena, i, t->node);
			node->e = (struct shmrt__tls_rec){ r->id, fg, i };
			if (fresh) {
				node->next = tls_list;
				tls_list = node;
			}
			pthread_setspecific(tls_key, node);
			shmrt__tls_last = node->e;
			return i;
		}
		if (!shmrt__gc(r))
			break;
	}
	if (fresh)
		free(node);
	else
		node->e.handle_id = 0; /* still unused */
	return REC_NONE;
}
