/*
 * Asymmetric barriers (the idea of folly's asymmetricLightBarrier and of liburcu's
 * membarrier flavor): a Dekker pair in which one side runs per message and the other
 * only before it sleeps.
 *
 * The hot side (a waker: store the index, then read the waiter flag) calls
 * shmrt__light_barrier(), a compiler barrier once this process is registered with
 * membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED); the cold side (a sleeper:
 * announce itself, then re-read the index) calls shmrt__heavy_barrier(),
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which runs a full barrier on every CPU
 * that runs a registered process. Either the waker's index store is visible to the
 * sleeper's re-read, or the waker's flag load comes after that barrier and sees the
 * announcement.
 *
 * Without membarrier (old kernel, seccomp), shmrt__light_barrier() is a full fence and
 * shmrt__heavy_barrier() returns -1: the caller fences and bounds its sleep. A forked
 * child registers again on its first light barrier. SHMRT_TEST_NO_MEMBARRIER=1 (tests)
 * behaves as a kernel without membarrier, in every process that has it set.
 */
#ifndef SHMRT_BASE_ASYM_H
#define SHMRT_BASE_ASYM_H

#include "atomic.h"

/* 0 unknown, 1 registered, -1 unavailable. Exported: the inline fast paths of the
 * public header shmrt/inline/pipe.h read it. */
extern int shmrt__asym_state;

int shmrt__asym_register(void); /* 1 registered, or -1 */
int shmrt__heavy_barrier(void); /* 0, or -1 (a full fence only: bound the sleep) */

static inline void shmrt__light_barrier(void)
{
	/* Relaxed: the state changes only in this process (registration, fork). */
	if (likely(load_relaxed(&shmrt__asym_state) > 0))
		compiler_barrier(); /* LB: the heavy barrier (HB) of a sleeper orders us */
	else if (shmrt__asym_register() < 0)
		fence_seq_cst(); /* LB without membarrier: pairs with the sleeper's fence */
}

#endif /* SHMRT_BASE_ASYM_H */
