/*
 * kill -9 in the middle of alloc/free loops, many times, then prove that reclaim
 * returns every block.
 *
 * Workers allocate and free (small and large, with batches crossing the bins so that
 * kills land inside journaled bin operations and page map updates). Each keeps the
 * offsets it holds in a log in ANOTHER region, with a "pending" word set around each
 * call. The parent kills random workers at random moments and starts new ones. At the
 * end: gc reclaims the dead threads' caches and any half-done bin or extent operation;
 * the parent frees every block the logs say a dead worker held; then the arena check
 * must find every block free exactly once. The only blocks allowed to be missing are
 * those in a dead worker's hand at the instant of the kill (pending set): one at most
 * per kill, and counted.
 *
 * SHMRT_KILLS sets the number of kills (default 60; the stress suite runs 400).
 * Build with SHMRT_DEBUG_YIELD and set SHMRT_YIELD to widen the windows.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/arena_int.h"
#include "core/region_int.h"

enum { MAXW = 1024, HELD = 48, LIVE = 3 };
#define PEND_ALLOC 1ull

struct wlog {
	uint64_t pending;          /* 0, PEND_ALLOC, or the offset being freed */
	uint64_t held[HELD];       /* offsets this worker holds (0 = empty) */
	uint64_t ops;
};

struct ctx {
	const char *name, *lname;
	int id;
};

static int worker(void *arg)
{
	struct ctx *c = arg;
	shmrt_region_t *r, *rl;
	if (shmrt_region_open(c->name, 0, NULL, &r) || shmrt_region_open(c->lname, 0, NULL, &rl))
		return 1;
	shmrt_object_info_t oi;
	if (shmrt_object_lookup(rl, "logs", &oi))
		return 2;
	struct wlog *log = (struct wlog *)shmrt_ptr(rl, oi.off) + c->id;
	uint64_t seed = (uint64_t)c->id * 104729 + 3;
	for (;;) {
		uint64_t x = tu_rand(&seed);
		int i = (int)(x % HELD);
		if (log->held[i] == 0) {
			size_t size = x % 64 == 0 ? 20000 + x % 100000 : 16 + x % 3000;
			shmrt_off_t off = 0;
			__atomic_store_n(&log->pending, PEND_ALLOC, __ATOMIC_SEQ_CST);
			int rc = shmrt_alloc(r, size, &off);
			if (rc == 0)
				__atomic_store_n(&log->held[i], off, __ATOMIC_SEQ_CST);
			__atomic_store_n(&log->pending, 0, __ATOMIC_SEQ_CST);
			if (rc && rc != -ENOMEM)
				return 3;
			if (rc == 0)
				memset(shmrt_ptr(r, off), 0xab, size < 64 ? size : 64);
		} else {
			uint64_t off = log->held[i];
			__atomic_store_n(&log->pending, off, __ATOMIC_SEQ_CST);
			__atomic_store_n(&log->held[i], 0, __ATOMIC_SEQ_CST);
			if (shmrt_free(r, off))
				return 4;
			__atomic_store_n(&log->pending, 0, __ATOMIC_SEQ_CST);
		}
		log->ops++;
	}
}

static void t_kill_during_alloc_free(void **s)
{
	(void)s;
	const char *e = getenv("SHMRT_KILLS");
	int kills = e ? atoi(e) : 60;
	const char *name = tu_name("kill"), *lname = tu_name("killlog");
	shmrt_region_t *r = tu_create(name, 32 << 20, 0);
	shmrt_region_t *rl = tu_create(lname, 8 << 20, 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(rl, "logs", SHMRT_O_CREATE, SHMRT_TYPE_BYTES,
					   sizeof(struct wlog) * MAXW, NULL, &oi), 0);
	struct wlog *logs = shmrt_ptr(rl, oi.off);
	static struct ctx c[MAXW];
	pid_t live[LIVE];
	int nw = 0;
	uint64_t seed = 99;
	for (int i = 0; i < LIVE; i++) {
		c[nw] = (struct ctx){ name, lname, nw };
		live[i] = tu_fork(worker, &c[nw++]);
	}
	for (int k = 0; k < kills && nw < MAXW; k++) {
		usleep(1000 + tu_rand(&seed) % 15000);
		int v = (int)(tu_rand(&seed) % LIVE);
		kill(live[v], SIGKILL);
		assert_int_equal(tu_wait(live[v], 10000), 128 + SIGKILL);
		/* Every few kills a survivor reclaims, as a long-running worker pool would. */
		if (k % 4 == 0)
			assert_int_equal(shmrt_region_gc(r, NULL), 0);
		c[nw] = (struct ctx){ name, lname, nw };
		live[v] = tu_fork(worker, &c[nw++]);
	}
	for (int i = 0; i < LIVE; i++) {
		kill(live[i], SIGKILL);
		assert_int_equal(tu_wait(live[i], 10000), 128 + SIGKILL);
	}
	unsigned reclaimed = 0;
	assert_int_equal(shmrt_region_gc(r, &reclaimed), 0);

	/* Free what the logs say the dead workers held; note what was in flight. */
	uint64_t ops = 0, held = 0, pend_alloc = 0, nprobe = 0;
	uint64_t *probe = calloc((size_t)nw, sizeof(*probe));
	for (int w = 0; w < nw; w++) {
		ops += logs[w].ops;
		if (logs[w].pending == PEND_ALLOC)
			pend_alloc++;
		else if (logs[w].pending) {
			/* Once per block: a worker killed after its free completed leaves
			 * the offset pending; another can then allocate the block and be
			 * killed freeing it too. One block, missing at most once. */
			uint64_t k = 0;
			while (k < nprobe && probe[k] != logs[w].pending)
				k++;
			if (k == nprobe)
				probe[nprobe++] = logs[w].pending;
		}
		for (int i = 0; i < HELD; i++) {
			if (logs[w].held[i]) {
				assert_int_equal(shmrt_free(r, logs[w].held[i]), 0);
				held++;
			}
		}
	}
	struct shmrt_region *R = (struct shmrt_region *)r;
	shmrt__arena_cache_reclaim(&R->arena, shmrt__thread_rec(R));
	uint8_t *probe_free = calloc((size_t)nw, 1);
	struct shmrt_arena_check ck = { .probe = probe, .nprobe = nprobe, .probe_free = probe_free };
	int rc = shmrt__arena_check(&R->arena, &ck);
	if (rc)
		fail_msg("arena check: %s", ck.why);
	/* A free that was in flight either completed (the block is free) or did not
	 * (the block is gone with the worker): decided exactly by the probe. An alloc
	 * in flight may or may not have taken a block: at most one each. */
	uint64_t unfinished_frees = 0;
	for (uint64_t i = 0; i < nprobe; i++)
		unfinished_frees += !probe_free[i];
	uint64_t missing = ck.small_total - ck.small_free + ck.large_extents;
	print_message("%d workers, %llu ops, %llu held blocks freed by the parent, "
		      "%llu bin recoveries, %llu map rebuilds; missing %llu = %llu unfinished "
		      "frees + at most %llu allocs in flight\n",
		      nw, (unsigned long long)ops, (unsigned long long)held,
		      (unsigned long long)R->arena.h->recoveries,
		      (unsigned long long)R->arena.h->rebuilds, (unsigned long long)missing,
		      (unsigned long long)unfinished_frees, (unsigned long long)pend_alloc);
	assert_true(ops > 1000);
	/* Every dead thread's cache was returned to the bins. */
	assert_int_equal(ck.cached, 0);
	assert_true(missing >= unfinished_frees);
	assert_true(missing <= unfinished_frees + pend_alloc);
	free(probe);
	free(probe_free);
	/* The arena keeps working. */
	shmrt_off_t off;
	assert_int_equal(shmrt_alloc(r, 1000, &off), 0);
	assert_int_equal(shmrt_free(r, off), 0);
	shmrt_region_close(rl);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_kill_during_alloc_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
