/*
 * shmrt allocation: blocks of a region's arena, addressed by offset, with NUMA
 * placement (shmrt/placement.h; topology and pinning: shmrt/numa.h).
 *
 * Small blocks (up to SHMRT_SMALL_MAX bytes) come from per-thread caches held in the
 * region (no lock, no atomic on the fast path); caches exchange batches with
 * per-node, per-size-class bins. Large blocks are page extents, committed (fallocate)
 * and bound to their NUMA node(s) before any page is touched, and returned to the
 * system when freed. A thread's cache belongs to its registry record: when the
 * thread or its process dies, shmrt_region_gc() returns the cache's blocks.
 *
 *  call          | concurrent with itself and the others below
 *  --------------+--------------------------------------------
 *  shmrt_alloc   | yes (any threads, any processes)
 *  shmrt_free    | yes; a block is freed once, by any thread of any process
 *  shmrt_usable_size | yes, on a block that is allocated
 */
#ifndef SHMRT_ALLOC_H
#define SHMRT_ALLOC_H

#include "common.h"
#include "numa.h"
#include "placement.h"
#include "region.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Allocates size bytes (16-byte aligned; page aligned above SHMRT_SMALL_MAX) and
 * stores the block's offset in *off. The block's contents are unspecified (large
 * blocks are zero). Placement NULL means SHMRT_PLACE_LOCAL; small blocks always come
 * from the caller's node under LOCAL, and from the named node under BIND; INTERLEAVE
 * and SPLIT apply to large blocks (small ones fall back to LOCAL).
 *
 * Returns 0, or:
 *  -EINVAL  size 0, bad placement (unknown node), NULL arguments
 *  -ENOMEM  no free pages of the region's arena are large enough
 *  -ENOSPC  the backing store (e.g. /dev/shm) cannot commit the pages: never SIGBUS
 *  -EUSERS  no free thread record for the calling thread
 *  -EIO     the kernel refused to bind the pages to the requested node(s)
 *
 * Concurrency: any threads of any processes. Ordering: none; publish the offset to
 * other processes with a release store (or a shmrt queue) after filling the block.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_alloc(shmrt_region_t *r, size_t size, shmrt_off_t *off);
SHMRT_API SHMRT_MUST_USE int shmrt_alloc_placed(shmrt_region_t *r, size_t size,
						const shmrt_placement_t *placement,
						shmrt_off_t *off);

/*
 * Frees a block returned by shmrt_alloc*, from any thread of any process.
 * Returns 0, or -EINVAL when off is not the start of an allocated block (checked for
 * large blocks and for small blocks' size-class alignment; a double free of a small
 * block is not detected on the fast path).
 * Concurrency: any; a block is freed once. Ordering: the caller's accesses to the
 * block happen before its reuse by any process (release through the bins).
 */
SHMRT_API int shmrt_free(shmrt_region_t *r, shmrt_off_t off);

/* Usable bytes of an allocated block (its size class or page extent), or 0 if off is
 * not a block start. Concurrency: any. */
SHMRT_API size_t shmrt_usable_size(shmrt_region_t *r, shmrt_off_t off);

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_ALLOC_H */
