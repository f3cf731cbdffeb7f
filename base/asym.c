/* Asymmetric barriers on membarrier(2) (asym.h). */
#define _GNU_SOURCE
#include "asym.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((visibility("default"))) int shmrt__asym_state;

static void asym_child(void)
{
	/* A fork copies the flag, not (for certain) the kernel's registration. Relaxed:
	 * the child has one thread. */
	store_relaxed(&shmrt__asym_state, 0);
}

static int asym_test_off(void)
{
	static int off = -1;
	/* Relaxed: every thread computes the same value from the environment. */
	int v = load_relaxed(&off);
	if (unlikely(v < 0)) {
		const char *e = getenv("SHMRT_TEST_NO_MEMBARRIER");
		v = e && *e == '1';
		store_relaxed(&off, v);
	}
	return v;
}

static void asym_init(void)
{
	pthread_atfork(NULL, NULL, asym_child);
}

int shmrt__asym_register(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	/* Relaxed: the state changes only in this process. */
	int s = load_relaxed(&shmrt__asym_state);
	if (s)
		return s;
	pthread_once(&once, asym_init);
	/* The registration runs a full barrier in this thread: a sleeper whose heavy
	 * barrier came before it sees our stores, and we see its announcement. */
	if (asym_test_off())
		s = -1;
	else
		s = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0 ? 1 : -1;
	store_relaxed(&shmrt__asym_state, s);
	return s;
}

int shmrt__heavy_barrier(void)
{
	if (unlikely(asym_test_off())) {
		fence_seq_cst(); /* HB in test mode: every waker fences too (LB) */
		return 0;
	}
	/* HB: a full barrier on every CPU running a registered process; pairs with LB. */
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0)
		return 0;
	fence_seq_cst(); /* HB without membarrier: pairs with a fencing LB only */
	return -1;
}
