/*
 * NUMA placement: the planning logic on synthetic 2- and 4-node hwloc topologies
 * (this machine has one node), the real binding of an extent checked with
 * hwloc_get_area_memlocation, and pinning checked with sched_getaffinity.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <hwloc.h>
#include <sched.h>
#include <string.h>

#include "alloc/arena.h"

static uint32_t synthetic_nodes(const char *desc)
{
	hwloc_topology_t t;
	assert_int_equal(hwloc_topology_init(&t), 0);
	assert_int_equal(hwloc_topology_set_synthetic(t, desc), 0);
	assert_int_equal(hwloc_topology_load(t), 0);
	int n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
	hwloc_topology_destroy(t);
	return (uint32_t)n;
}

static void t_plan_two_nodes(void **s)
{
	(void)s;
	uint32_t nn = synthetic_nodes("pack:2 numa:1 core:2 pu:1");
	assert_int_equal(nn, 2);
	struct shmrt_plan_range r[64];
	const uint64_t P = 4096, len = 64 * P;

	/* local: the caller's node */
	assert_int_equal(shmrt__placement_plan(NULL, nn, 1, len, P, r, 64), 1);
	assert_int_equal(r[0].nodemask, 2);
	assert_int_equal(r[0].len, len);
	/* bind */
	shmrt_placement_t pl = { .policy = SHMRT_PLACE_BIND, .node = 0 };
	assert_int_equal(shmrt__placement_plan(&pl, nn, 1, len, P, r, 64), 1);
	assert_int_equal(r[0].nodemask, 1);
	assert_int_equal(r[0].interleave, 0);
	pl.node = 2;
	assert_int_equal(shmrt__placement_plan(&pl, nn, 0, len, P, r, 64), -EINVAL);
	/* interleave over all */
	pl = (shmrt_placement_t){ .policy = SHMRT_PLACE_INTERLEAVE };
	assert_int_equal(shmrt__placement_plan(&pl, nn, 0, len, P, r, 64), 1);
	assert_int_equal(r[0].nodemask, 3);
	assert_int_equal(r[0].interleave, 1);
	pl.nodemask = 4; /* node 2 does not exist */
	assert_int_equal(shmrt__placement_plan(&pl, nn, 0, len, P, r, 64), -EINVAL);
	/* split in halves by default */
	pl = (shmrt_placement_t){ .policy = SHMRT_PLACE_SPLIT };
	assert_int_equal(shmrt__placement_plan(&pl, nn, 0, len, P, r, 64), 2);
	assert_int_equal(r[0].off, 0);
	assert_int_equal(r[0].len, 32 * P);
	assert_int_equal(r[0].nodemask, 1);
	assert_int_equal(r[1].off, 32 * P);
	assert_int_equal(r[1].nodemask, 2);
}

static void t_plan_four_nodes(void **s)
{
	(void)s;
	uint32_t nn = synthetic_nodes("pack:4 numa:1 core:1 pu:2");
	assert_int_equal(nn, 4);
	struct shmrt_plan_range r[64];
	const uint64_t P = 4096;
	/* split with a block size that is not a page multiple: rounded up; blocks
	 * round-robin over the nodes; the last block is short. */
	shmrt_placement_t pl = { .policy = SHMRT_PLACE_SPLIT, .block_size = 3 * P - 100 };
	int n = shmrt__placement_plan(&pl, nn, 0, 20 * P, P, r, 64);
	assert_int_equal(n, 7);
	for (int k = 0; k < n; k++) {
		assert_int_equal(r[k].off, (uint64_t)k * 3 * P);
		assert_int_equal(r[k].nodemask, 1ull << (k % 4));
	}
	assert_int_equal(r[6].len, 2 * P);
	/* split over a subset: nodes 1 and 3 */
	pl = (shmrt_placement_t){ .policy = SHMRT_PLACE_SPLIT, .nodemask = 0xa };
	n = shmrt__placement_plan(&pl, nn, 0, 8 * P, P, r, 64);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].nodemask, 2);
	assert_int_equal(r[1].nodemask, 8);
	/* interleave over a subset */
	pl = (shmrt_placement_t){ .policy = SHMRT_PLACE_INTERLEAVE, .nodemask = 0x6 };
	assert_int_equal(shmrt__placement_plan(&pl, nn, 0, 8 * P, P, r, 64), 1);
	assert_int_equal(r[0].nodemask, 6);
	/* a plan that does not fit the caller's array */
	pl = (shmrt_placement_t){ .policy = SHMRT_PLACE_SPLIT, .block_size = P };
	assert_int_equal(shmrt__placement_plan(&pl, nn, 0, 100 * P, P, r, 64), -E2BIG);
	/* local on node 3 */
	assert_int_equal(shmrt__placement_plan(NULL, nn, 3, P, P, r, 64), 1);
	assert_int_equal(r[0].nodemask, 8);
}

static void t_real_binding(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("numa"), 32 << 20, 0);
	int nodes = shmrt_numa_nodes();
	assert_true(nodes >= 1);
	for (int node = 0; node < nodes; node++) {
		shmrt_placement_t pl = { .policy = SHMRT_PLACE_BIND, .node = (uint32_t)node };
		shmrt_off_t off;
		assert_int_equal(shmrt_alloc_placed(r, 4 << 20, &pl, &off), 0);
		char *p = shmrt_ptr(r, off);
		memset(p, 1, 4 << 20); /* first touch after binding */
		uint64_t mask = 0;
		assert_int_equal(shmrt_numa_memlocation(p, 4 << 20, &mask), 0);
		assert_int_equal(mask, 1ull << node);
		assert_int_equal(shmrt_free(r, off), 0);
	}
	/* interleave and split run through hwloc too */
	shmrt_placement_t il = { .policy = SHMRT_PLACE_INTERLEAVE };
	shmrt_placement_t sp = { .policy = SHMRT_PLACE_SPLIT, .block_size = 1 << 20 };
	shmrt_off_t a, b;
	assert_int_equal(shmrt_alloc_placed(r, 2 << 20, &il, &a), 0);
	assert_int_equal(shmrt_alloc_placed(r, 4 << 20, &sp, &b), 0);
	memset(shmrt_ptr(r, b), 2, 4 << 20);
	uint64_t mask = 0;
	assert_int_equal(shmrt_numa_memlocation(shmrt_ptr(r, b), 4 << 20, &mask), 0);
	assert_int_equal(mask, nodes >= 64 ? ~0ull : (1ull << nodes) - 1);
	/* a node that does not exist */
	shmrt_placement_t bad = { .policy = SHMRT_PLACE_BIND, .node = (uint32_t)nodes };
	shmrt_off_t c;
	assert_int_equal(shmrt_alloc_placed(r, 1 << 20, &bad, &c), -EINVAL);
	assert_int_equal(shmrt_alloc_placed(r, 64, &bad, &c), -EINVAL);
	assert_int_equal(shmrt_free(r, a), 0);
	assert_int_equal(shmrt_free(r, b), 0);
	int cur = shmrt_numa_current_node();
	assert_true(cur >= 0 && cur < nodes);
	shmrt_region_close(r);
}

static void t_pinning(void **s)
{
	(void)s;
	cpu_set_t orig, now;
	assert_int_equal(sched_getaffinity(0, sizeof(orig), &orig), 0);
	int cores = shmrt_numa_cores();
	assert_true(cores >= 1);
	for (int core = 0; core < cores; core++) {
		assert_int_equal(shmrt_pin_core(core, SHMRT_PIN_THREAD), 0);
		assert_int_equal(sched_getaffinity(0, sizeof(now), &now), 0);
		assert_int_equal(CPU_COUNT(&now), 1); /* one PU per core on this machine */
	}
	assert_int_equal(shmrt_pin_core(cores, SHMRT_PIN_THREAD), -EINVAL);
	assert_int_equal(shmrt_pin_core(0, 7), -EINVAL);
	assert_int_equal(shmrt_pin_node(0, SHMRT_PIN_PROCESS), 0);
	assert_int_equal(sched_getaffinity(0, sizeof(now), &now), 0);
	assert_true(CPU_COUNT(&now) >= 1);
	assert_int_equal(shmrt_pin_node(shmrt_numa_nodes(), SHMRT_PIN_THREAD), -EINVAL);
	assert_int_equal(sched_setaffinity(0, sizeof(orig), &orig), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_plan_two_nodes),
		cmocka_unit_test(t_plan_four_nodes),
		cmocka_unit_test(t_real_binding),
		cmocka_unit_test(t_pinning),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
