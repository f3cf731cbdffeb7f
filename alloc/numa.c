/*
 * NUMA placement and worker pinning, on hwloc.
 *
 * Placement is split in two so that its logic can be tested on machines we do not
 * have: shmrt__placement_plan() is a pure function that cuts an extent into ranges
 * and names the node(s) of each (tests drive it with the node counts of synthetic
 * hwloc topologies); shmrt__numa_bind() applies a plan to memory with
 * hwloc_set_area_membind(). The arena binds an extent after reserving it and before
 * committing (fallocate) or touching it: tmpfs allocates a page under the shared
 * memory policy of its file offset, and a page never moves once faulted.
 *
 * The topology is loaded once per process, on first use (a few milliseconds), and
 * shared read-only by all threads, as hwloc allows.
 *
 * Memory ordering: no atomics. topo, topo_ok, n_nodes and n_cores are written only
 * by topo_load(), inside pthread_once(), which orders those writes before every
 * caller's return from it (get_topo()); afterwards they are read-only. No word of a
 * region is read or written here (binding acts on pages, not on their contents).
 */
#define _GNU_SOURCE
#include "arena.h"
#include "shmrt/numa.h"

#include <pthread.h>

#include <errno.h>
#include <hwloc.h>
#include <stdlib.h>

static hwloc_topology_t topo;
static int topo_ok;
static uint32_t n_nodes = 1, n_cores = 1;
static pthread_once_t topo_once = PTHREAD_ONCE_INIT;

static void topo_load(void)
{
	if (hwloc_topology_init(&topo) || hwloc_topology_load(topo)) {
		n_nodes = 1;
		return;
	}
	int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	n_nodes = n > 0 ? (uint32_t)(n > SHMRT_MAX_NODES ? SHMRT_MAX_NODES : n) : 1;
	n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	n_cores = n > 0 ? (uint32_t)n : 1;
	topo_ok = 1;
}

static int get_topo(void)
{
	pthread_once(&topo_once, topo_load);
	return topo_ok;
}

uint32_t shmrt__numa_nnodes(void)
{
	get_topo();
	return n_nodes;
}

int shmrt_numa_nodes(void)
{
	return (int)shmrt__numa_nnodes();
}

int shmrt_numa_cores(void)
{
	get_topo();
	return (int)n_cores;
}

int shmrt_numa_current_node(void)
{
	if (!get_topo())
		return -EIO;
	if (n_nodes == 1)
		return 0;
	hwloc_cpuset_t set = hwloc_bitmap_alloc();
	if (!set)
		return -ENOMEM;
	int node = -EIO;
	if (hwloc_get_last_cpu_location(topo, set, HWLOC_CPUBIND_THREAD) == 0) {
		for (uint32_t i = 0; i < n_nodes; i++) {
			hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, i);
			if (o && hwloc_bitmap_intersects(o->cpuset, set)) {
				node = (int)i;
				break;
			}
		}
	}
	hwloc_bitmap_free(set);
	return node;
}

uint32_t shmrt__numa_node_of_caller(void)
{
	int n = shmrt_numa_current_node();
	return n < 0 ? 0 : (uint32_t)n;
}

int shmrt__placement_plan(const shmrt_placement_t *pl, uint32_t nnodes, uint32_t cur_node,
			  uint64_t len, uint64_t page, struct shmrt_plan_range *out, int max)
{
	uint64_t all = nnodes >= 64 ? ~0ull : (1ull << nnodes) - 1;
	shmrt_placement_t local = { .policy = SHMRT_PLACE_LOCAL };
	if (!pl)
		pl = &local;
	if (len == 0 || page == 0 || nnodes == 0 || max < 1)
		return -EINVAL;
	switch (pl->policy) {
	case SHMRT_PLACE_LOCAL:
	case SHMRT_PLACE_BIND: {
		uint32_t node = pl->policy == SHMRT_PLACE_LOCAL ? cur_node : pl->node;
		if (node >= nnodes)
			return -EINVAL;
		out[0] = (struct shmrt_plan_range){ 0, len, 1ull << node, 0 };
		return 1;
	}
	case SHMRT_PLACE_INTERLEAVE: {
		uint64_t mask = pl->nodemask ? pl->nodemask : all;
		if (mask & ~all)
			return -EINVAL;
		out[0] = (struct shmrt_plan_range){ 0, len, mask, 1 };
		return 1;
	}
	case SHMRT_PLACE_SPLIT: {
		uint64_t mask = pl->nodemask ? pl->nodemask : all;
		if (mask & ~all)
			return -EINVAL;
		int nodes[SHMRT_MAX_NODES], n = 0;
		for (int i = 0; i < 64; i++)
			if (mask & (1ull << i))
				nodes[n++] = i;
		uint64_t bs = pl->block_size ? pl->block_size : (len + (uint64_t)n - 1) / (uint64_t)n;
		bs = (bs + page - 1) / page * page;
		int k = 0;
		for (uint64_t off = 0; off < len; off += bs, k++) {
			if (k == max)
				return -E2BIG;
			uint64_t l = len - off < bs ? len - off : bs;
			out[k] = (struct shmrt_plan_range){ off, l, 1ull << nodes[k % n], 0 };
		}
		return k;
	}
	}
	return -EINVAL;
}

static int bind_range(char *addr, const struct shmrt_plan_range *r)
{
	hwloc_nodeset_t ns = hwloc_bitmap_alloc();
	if (!ns)
		return -ENOMEM;
	for (uint32_t i = 0; i < n_nodes; i++) {
		if (!(r->nodemask & (1ull << i)))
			continue;
		hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, i);
		if (o)
			hwloc_bitmap_or(ns, ns, o->nodeset);
	}
	int rc = hwloc_set_area_membind(topo, addr + r->off, r->len, ns,
					r->interleave ? HWLOC_MEMBIND_INTERLEAVE : HWLOC_MEMBIND_BIND,
					HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_STRICT);
	hwloc_bitmap_free(ns);
	return rc ? -EIO : 0;
}

int shmrt__numa_bind(void *addr, uint64_t len, const shmrt_placement_t *pl)
{
	if (!get_topo())
		return -EIO;
	enum { STACK = 16 };
	struct shmrt_plan_range stack[STACK], *r = stack;
	int max = STACK;
	if (pl && pl->policy == SHMRT_PLACE_SPLIT) {
		uint64_t bs = pl->block_size ? pl->block_size : 1;
		uint64_t need = len / (bs < SHMRT_ARENA_PAGE ? SHMRT_ARENA_PAGE : bs) + 2;
		if (need > STACK) {
			if (need > (1u << 24) || !(r = malloc(need * sizeof(*r))))
				return -ENOMEM;
			max = (int)need;
		}
	}
	int n = shmrt__placement_plan(pl, n_nodes, shmrt__numa_node_of_caller(), len,
				      SHMRT_ARENA_PAGE, r, max);
	int rc = n < 0 ? n : 0;
	for (int i = 0; i < n && !rc; i++)
		rc = bind_range(addr, &r[i]);
	if (r != stack)
		free(r);
	return rc;
}

static int pin_set(hwloc_const_cpuset_t set, int scope)
{
	int flags = scope == SHMRT_PIN_PROCESS ? HWLOC_CPUBIND_PROCESS : HWLOC_CPUBIND_THREAD;
	return hwloc_set_cpubind(topo, set, flags | HWLOC_CPUBIND_STRICT) &&
			       hwloc_set_cpubind(topo, set, flags)
		       ? -EIO
		       : 0;
}

int shmrt_pin_core(int core, int scope)
{
	if (!get_topo())
		return -EIO;
	if (core < 0 || (uint32_t)core >= n_cores ||
	    (scope != SHMRT_PIN_THREAD && scope != SHMRT_PIN_PROCESS))
		return -EINVAL;
	hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)core);
	return o ? pin_set(o->cpuset, scope) : -EINVAL;
}

int shmrt_pin_node(int node, int scope)
{
	if (!get_topo())
		return -EIO;
	if (node < 0 || (uint32_t)node >= n_nodes ||
	    (scope != SHMRT_PIN_THREAD && scope != SHMRT_PIN_PROCESS))
		return -EINVAL;
	hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)node);
	return o ? pin_set(o->cpuset, scope) : -EINVAL;
}

int shmrt_numa_memlocation(const void *p, size_t len, uint64_t *nodemask)
{
	if (!p || !len || !nodemask)
		return -EINVAL;
	if (!get_topo())
		return -EIO;
	hwloc_nodeset_t ns = hwloc_bitmap_alloc();
	if (!ns)
		return -ENOMEM;
	int rc = hwloc_get_area_memlocation(topo, p, len, ns, HWLOC_MEMBIND_BYNODESET);
	uint64_t mask = 0;
	if (rc == 0) {
		for (uint32_t i = 0; i < n_nodes; i++) {
			hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, i);
			if (o && hwloc_bitmap_intersects(o->nodeset, ns))
				mask |= 1ull << i;
		}
	}
	hwloc_bitmap_free(ns);
	if (rc)
		return -EIO;
	*nodemask = mask;
	return 0;
}
