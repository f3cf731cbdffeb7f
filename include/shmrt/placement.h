/*
 * shmrt placement: where the memory of a block or an object goes, across the NUMA
 * nodes of the machine.
 *
 * Blocks up to SHMRT_SMALL_MAX bytes come from size classes and always lie on one
 * node (the caller's under LOCAL, the named one under BIND); larger ones are page
 * extents, bound to their node(s) before any page is touched, so every policy applies.
 */
#ifndef SHMRT_PLACEMENT_H
#define SHMRT_PLACEMENT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest size served from size classes; larger requests are page extents. */
#define SHMRT_SMALL_MAX 16384u

typedef enum shmrt_policy {
	SHMRT_PLACE_LOCAL = 0,  /* the node of the CPU the caller runs on (default) */
	SHMRT_PLACE_BIND,       /* one given node */
	SHMRT_PLACE_INTERLEAVE, /* pages round-robin over the given nodes (or all) */
	SHMRT_PLACE_SPLIT,      /* blocks of block_size bytes; block k on nodes[k % n] */
} shmrt_policy_t;

#define SHMRT_MAX_NODES 64

typedef struct shmrt_placement {
	shmrt_policy_t policy;
	uint32_t node;          /* SHMRT_PLACE_BIND: the node (hwloc logical index) */
	uint64_t nodemask;      /* INTERLEAVE / SPLIT: nodes to use, bit i = node i; 0 = all */
	uint64_t block_size;    /* SPLIT: bytes per block (rounded up to pages); 0 = len/n */
} shmrt_placement_t;

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_PLACEMENT_H */
