/*
 * Cross-process RCU: read sections and grace periods over a region's registry.
 *
 * liburcu's grace periods see the threads of one process only. Here the readers are
 * the thread records of the region's registry (core/region_int.h), whatever process
 * they belong to, and a reader killed inside a read section is found dead by the
 * registry's liveness check instead of stalling reclamation forever.
 *
 * State:
 *   hdr->rcu_epoch                    the global epoch (64-bit, only grows)
 *   thread record module[TW_RCU]       (epoch << 1) | 1 inside a read section, else 0
 *   thread record module[TW_RCU_NEST]  nesting depth, written by its owner only
 *
 * Reader (outermost lock): e = epoch; store (e << 1) | 1 in its record; full fence
 * (M1). Unlock: store 0 (release: the section's loads complete before it).
 *
 * Updater: unlink (the store that makes an object unreachable); full fence (M2);
 * tag = epoch. The object may be freed once every record is inactive, or active at
 * an epoch > tag, or owned by a dead thread.
 *
 * Why it is safe: M1 and M2 order each side's store before its later loads, so of a
 * reader that announces itself and an updater that unlinks, at least one sees the
 * other's store (store-load, Dekker). Either the scan sees the announcement (the
 * object waits), or the reader sees the unlink (it cannot reach the object). A reader
 * that announces an epoch > tag read the epoch after it was advanced past the tag,
 * which happened after the unlink and M2, so it too sees the unlink. An announcement
 * made with an epoch loaded long before (the reader was preempted between the load and
 * the store) is older than the truth, which only delays reclamation.
 *
 * Epoch advance: a reclaimer increments the epoch (E2, a seq_cst RMW) before it scans,
 * so readers that start afterwards (E1) no longer hold back what it retired before.
 *
 * Labels: M1 (reader's fence) pairs with M2 (updater's fences, in rcu_tag and
 * rcu_scan); E1 (reader's epoch load) with E2 (advance); U1 (reader leaves) with S1
 * (scan); H1 (the registry raising the record high-water mark, registry.c) with H2
 * (scan).
 */
#ifndef SHMRT_CORE_RCU_INT_H
#define SHMRT_CORE_RCU_INT_H

#include "region_int.h"

/* Enters a read section of region r on behalf of thread record t (nestable). */
static inline void shmrt__rcu_lock(struct shmrt_region *r, struct shmrt_thread_rec *t)
{
	/* Relaxed: the nesting depth is read and written by this thread only. */
	uint64_t nest = load_relaxed(&t->module[TW_RCU_NEST]);
	store_relaxed(&t->module[TW_RCU_NEST], nest + 1);
	if (nest)
		return;
	/* E1: seq_cst load, pairs with E2 (the reclaimers' seq_cst increments, see the
	 * file comment); a plain load on x86 and a ldar on arm64. */
	uint64_t e = load_seq_cst(&r->hdr->rcu_epoch);
	/* Relaxed: ordered before the section's loads by M1. */
	store_relaxed(&t->module[TW_RCU], (e << 1) | 1);
	/* M1: the announcement is visible before any load of the section; pairs with
	 * M2 in shmrt__rcu_scan(). */
	fence_seq_cst();
}

static inline void shmrt__rcu_unlock(struct shmrt_thread_rec *t)
{
	uint64_t nest = load_relaxed(&t->module[TW_RCU_NEST]); /* this thread's only */
	store_relaxed(&t->module[TW_RCU_NEST], nest - 1);
	if (nest == 1)
		/* U1: release, pairs with S1 in shmrt__rcu_scan(): every load of the
		 * section completes before a reclaimer can see this record inactive and
		 * free what the section read. */
		store_release(&t->module[TW_RCU], 0);
}

static inline int shmrt__rcu_nested(const struct shmrt_thread_rec *t)
{
	return load_relaxed(&t->module[TW_RCU_NEST]) != 0; /* this thread's only */
}

/* The current epoch, read after M2 (call after the unlink that a tag covers). */
uint64_t shmrt__rcu_tag(struct shmrt_region *r);

/* Advances the epoch (seq_cst RMW) and returns the new value. */
uint64_t shmrt__rcu_advance(struct shmrt_region *r);

/*
 * Scans every thread record (after M2). Returns the smallest epoch of a
 * live reader inside a read section (UINT64_MAX if none): whatever was tagged with
 * an epoch below it may be freed. With check_live, a record whose announcement is
 * below `want` is checked for liveness (a /proc read each) and ignored if its thread
 * is dead, and *dead counts such records (the caller then runs the registry's gc to
 * release them). Without it, no record is probed (the cheap poll of hot paths).
 */
uint64_t shmrt__rcu_scan(struct shmrt_region *r, uint64_t want, int check_live,
			 unsigned *dead);

/*
 * Waits until everything tagged before the call may be freed: every live reader
 * active at the call has left its section. Dead readers are skipped (and released by
 * gc). Returns 0, -ETIMEDOUT (deadline: CLOCK_MONOTONIC ns, UINT64_MAX = none), or
 * -EDEADLK if the caller itself is inside a read section of r.
 */
int shmrt__rcu_synchronize(struct shmrt_region *r, uint64_t deadline_mono);

#endif /* SHMRT_CORE_RCU_INT_H */
