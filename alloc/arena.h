/*
 * The arena: an offset-based heap over a caller-given range of a shared mapping.
 * Internal interface (core/ uses it; users go through shmrt_alloc in shmrt/alloc.h).
 *
 * alloc/ knows nothing of the region or the registry: the caller passes
 *  - the mapping's base address and the arena's [off, off+len) inside it (all offsets
 *    the arena stores and returns are relative to base, i.e. region offsets);
 *  - the fd backing the mapping, to commit (fallocate) and release (punch) pages;
 *  - a small integer per thread (core passes its registry thread-record index) that
 *    selects the thread's cache; the caller reclaims a cache when it finds its
 *    thread dead or detached.
 */
#ifndef SHMRT_ALLOC_ARENA_H
#define SHMRT_ALLOC_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include "shmrt/placement.h"

#define SHMRT_ARENA_PAGE 4096u
#define SHMRT_ARENA_NCLS 36

struct shmrt_arena_hdr;   /* shared, see arena.c */
struct shmrt_arena_cache; /* shared, one per thread record */

/* Process-local handle. */
typedef struct shmrt_arena {
	char *base;                     /* mapping base in this process */
	struct shmrt_arena_hdr *h;
	struct shmrt_arena_bin *bins;   /* [nnodes][NCLS] */
	struct shmrt_arena_cache *caches;
	uint64_t *map;                  /* one entry per page */
	uint8_t *states;                /* one byte per 16-byte granule of the pages */
	uintptr_t state_bias;           /* states - pages_off / 16: the byte of off is at
					 * state_bias + off / 16 (one shift and one add) */
	uint64_t pages_off;             /* offset of page 0 */
	uint64_t data_len;              /* bytes of pages: npages * SHMRT_ARENA_PAGE */
	uint32_t npages, ncaches, nnodes, cache_stride;
	int fd;                         /* backing fd, -1 = nothing to commit */
} shmrt_arena_t;

/* Bytes of metadata + pages needed, and sanity limits. */
#define SHMRT_ARENA_MIN_PAGES 16u

/*
 * Lays out and initialises an arena in base[off, off+len) (off page aligned).
 * Only metadata is written; data pages are untouched (so that NUMA binding applies
 * before first touch) and uncommitted. nnodes >= 1. Returns 0, -EINVAL (too small),
 * or -ENOSPC (metadata could not be committed).
 */
int shmrt__arena_init(shmrt_arena_t *a, char *base, uint64_t off, uint64_t len, int fd,
		      uint32_t ncaches, uint32_t nnodes);

/* Validates an existing arena at base[off, off+len). 0 or -EBADMSG. */
int shmrt__arena_attach(shmrt_arena_t *a, char *base, uint64_t off, uint64_t len, int fd);

/* Bytes of metadata (rounded to pages) an arena of len bytes with these limits uses. */
uint64_t shmrt__arena_meta_bytes(uint64_t len, uint32_t ncaches, uint32_t nnodes);

/* Cache lifecycle: a thread record taking cache idx calls attach (node = its NUMA
 * node); on detach or death of that thread, reclaim returns every cached block to
 * the bins (idempotent; safe if a previous reclaimer died midway). */
void shmrt__arena_cache_attach(shmrt_arena_t *a, uint32_t idx, uint32_t node);
void shmrt__arena_cache_reclaim(shmrt_arena_t *a, uint32_t idx);

/* Allocation, as the public shmrt_alloc_placed / shmrt_free (their errors). */
int shmrt__arena_alloc(shmrt_arena_t *a, uint32_t idx, size_t size,
		       const shmrt_placement_t *pl, uint64_t *off);
int shmrt__arena_free(shmrt_arena_t *a, uint32_t idx, uint64_t off);
size_t shmrt__arena_usable_size(shmrt_arena_t *a, uint64_t off);

/* Size class of a small size (size <= SHMRT_SMALL_MAX), and a class's block size. */
unsigned shmrt__arena_size_class(size_t size);
uint32_t shmrt__arena_class_size(unsigned cls);

struct shmrt_arena_stats {
	uint64_t pages, pages_used, pages_committed;
	uint64_t small_blocks_total;      /* capacity of all carved spans */
	int64_t small_bytes_in_use;       /* from per-thread counters; approximate */
	uint64_t large_bytes_in_use;
	uint32_t nnodes;
};
void shmrt__arena_stats(shmrt_arena_t *a, struct shmrt_arena_stats *st);

/*
 * Full consistency check, for tests and `shmrt info --check`: walks the page map and
 * every bin and cache, verifying bounds, class membership, alignment and that no
 * block is free twice. The arena must be quiescent (no thread allocating).
 * Zero-initialise *out (except the optional probes). Returns 0 if consistent,
 * -EBADMSG otherwise (with *why set).
 */
struct shmrt_arena_check {
	uint64_t small_total, small_free;   /* blocks in spans, and free blocks found */
	uint64_t small_allocated;           /* blocks marked allocated */
	uint64_t cached;                    /* of small_free: blocks in thread caches */
	uint64_t free_pages, large_pages, span_pages, large_extents;
	const char *why;
	/* Optional probes, set by the caller: probe_free[i] = 1 if probe[i] is free. */
	const uint64_t *probe;
	size_t nprobe;
	uint8_t *probe_free;
};
int shmrt__arena_check(shmrt_arena_t *a, struct shmrt_arena_check *out);

/* ---- NUMA (numa.c) ---------------------------------------------------------- */

/* One range of a placement plan: [off, off+len) relative to the extent, on nodes. */
struct shmrt_plan_range {
	uint64_t off, len;
	uint64_t nodemask;
	int interleave;
};

/*
 * Pure placement logic: cuts an extent of len bytes (page multiple) into ranges
 * for the policy on a machine with nnodes nodes, cur_node being the caller's.
 * Returns the number of ranges written (<= max), or -EINVAL (bad node / mask).
 * Tested on synthetic topologies.
 */
int shmrt__placement_plan(const shmrt_placement_t *pl, uint32_t nnodes, uint32_t cur_node,
			  uint64_t len, uint64_t page, struct shmrt_plan_range *out, int max);

/* Applies a placement to [addr, addr+len) with hwloc, before any page is touched.
 * A single-node machine with LOCAL placement needs no call. 0, -EINVAL, -EIO. */
int shmrt__numa_bind(void *addr, uint64_t len, const shmrt_placement_t *pl);

/* NUMA node count and the caller's node, from the process's hwloc topology. */
uint32_t shmrt__numa_nnodes(void);
uint32_t shmrt__numa_node_of_caller(void);

#endif /* SHMRT_ALLOC_ARENA_H */
