/*
 * Cross-process RCU grace periods (the protocol and its proof are in rcu_int.h).
 *
 * Reclaimers never wait on a dead reader: a record that holds back a grace period is
 * checked for liveness (pid + start time, shmrt__rec_alive) and ignored once its
 * thread is dead; the registry's gc then releases the record, clearing its reader
 * word. Waiting is bounded and adaptive: yield first, then sleep with a growing
 * period, re-probing liveness at most every 10 ms.
 */
#define _GNU_SOURCE
#include "rcu_int.h"

#include <errno.h>
#include <sched.h>
#include <time.h>

uint64_t shmrt__rcu_tag(struct shmrt_region *r)
{
	/* M2: the unlink before this call is visible before the scan's loads, and before
	 * the epoch is read; pairs with M1 in shmrt__rcu_lock(). */
	fence_seq_cst();
	return load_seq_cst(&r->hdr->rcu_epoch); /* E1's kind: in the total order with E2 */
}

uint64_t shmrt__rcu_advance(struct shmrt_region *r)
{
	/* E2: seq_cst RMW, pairs with E1: ordered after every unlink and tag of this
	 * thread, and before the epoch loads of readers that start later. */
	return fetch_add_seq_cst(&r->hdr->rcu_epoch, 1) + 1;
}

uint64_t shmrt__rcu_scan(struct shmrt_region *r, uint64_t want, int check_live,
			 unsigned *dead)
{
	/* M2 (again): this scan's loads come after every unlink made before the call. */
	fence_seq_cst();
	uint64_t min = UINT64_MAX;
	/* H2: seq_cst, pairs with H1 (registry.c): records at or above the high-water
	 * mark were never claimed. The mark is raised before a record can run a read
	 * section, and M1/M2 order it against the section. */
	uint32_t n = load_seq_cst(&r->hdr->rec_hwm);
	if (n > r->geo.max_threads)
		n = r->geo.max_threads;
	for (uint32_t i = 0; i < n; i++) {
		struct shmrt_thread_rec *t = &r->threads[i];
		/* S1: acquire, pairs with U1 in shmrt__rcu_unlock(): a record seen
		 * inactive has finished the loads of its last section. */
		uint64_t w = load_acquire(&t->module[TW_RCU]);
		if (!(w & 1))
			continue;
		uint64_t e = w >> 1;
		if (e >= want || e >= min)
			continue;
		if (check_live && !shmrt__rec_alive(r, i)) {
			if (dead)
				(*dead)++;
			continue;
		}
		min = e;
	}
	return min;
}

int shmrt__rcu_synchronize(struct shmrt_region *r, uint64_t deadline_mono)
{
	uint32_t rec = shmrt__thread_rec(r);
	if (rec != REC_NONE && shmrt__rcu_nested(&r->threads[rec]))
		return -EDEADLK;
	uint64_t want = shmrt__rcu_advance(r);
	uint64_t sleep_ns = 50000, last_probe = 0;
	for (unsigned i = 0;; i++) {
		uint64_t now = mono_ns();
		int probe = now - last_probe >= 10000000ull;
		unsigned dead = 0;
		uint64_t min = shmrt__rcu_scan(r, want, probe, &dead);
		if (probe)
			last_probe = now;
		if (dead)
			(void)shmrt__gc(r);
		if (min >= want)
			return 0;
		if (now >= deadline_mono)
			return -ETIMEDOUT;
		if (i < 16) {
			sched_yield();
		} else {
			struct timespec ts = { 0, (long)sleep_ns };
			nanosleep(&ts, NULL);
			if (sleep_ns < 2000000)
				sleep_ns *= 2;
		}
	}
}
