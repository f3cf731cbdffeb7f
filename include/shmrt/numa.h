/*
 * shmrt NUMA: the machine's topology (hwloc), pinning workers to cores or nodes, and
 * where pages landed.
 *
 * Concurrency: any thread, any time (the topology is loaded once per process, on first
 * use). Ordering: none.
 */
#ifndef SHMRT_NUMA_H
#define SHMRT_NUMA_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of NUMA nodes of this machine (>= 1). */
SHMRT_API int shmrt_numa_nodes(void);

/* NUMA node the calling thread runs on now (hwloc logical index), or a negative errno. */
SHMRT_API int shmrt_numa_current_node(void);

/* Number of cores (hwloc "Core" objects) of this machine (>= 1). */
SHMRT_API int shmrt_numa_cores(void);

/*
 * Pins the calling thread (SHMRT_PIN_THREAD) or the whole calling process
 * (SHMRT_PIN_PROCESS) to one core, or to the cores of one NUMA node (logical indexes).
 * Returns 0, -EINVAL (no such core/node), or -EIO when the kernel refuses.
 */
#define SHMRT_PIN_THREAD 0
#define SHMRT_PIN_PROCESS 1
SHMRT_API int shmrt_pin_core(int core, int scope);
SHMRT_API int shmrt_pin_node(int node, int scope);

/*
 * Reports the NUMA node holding each touched page of [p, p+len) in *nodemask (bit i =
 * node i), through hwloc_get_area_memlocation. Returns 0, -EINVAL, -EIO.
 */
SHMRT_API int shmrt_numa_memlocation(const void *p, size_t len, uint64_t *nodemask);

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_NUMA_H */
