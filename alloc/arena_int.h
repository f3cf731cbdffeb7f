/*
 * Shared layout of the arena. This is ABI: every struct is pinned below, and a change
 * bumps SHMRT_LAYOUT_VERSION.
 *
 *   arena off (page aligned)
 *   +0                      struct shmrt_arena_hdr            (one page)
 *   +hdr                    struct shmrt_arena_bin [nnodes][NCLS]   128 B each
 *   +bins                   struct shmrt_arena_cache [ncaches]      64 B + NCLS*32 B each
 *   +caches                 uint64_t map[npages]                    one word per page
 *   states_off (page)       uint8_t states[npages * 256]            a byte per 16 bytes
 *   pages_off (page aligned) page 0 ... page npages-1              data, committed lazily
 *
 * Only the header, bins and caches are committed at creation. The map is committed as
 * extents reach it (map_committed entries from its start, under ext_lock, and its last
 * page, which holds the tail of the first free run), and the states of a span's blocks
 * when the span is carved: a large sparse region costs address space, not memory.
 *
 * Block states: the byte of a small block's first 16-byte granule says whether it is
 * allocated (BLOCK_ALLOCATED) or not (BLOCK_FREE: in a free list, or in no one's hands).
 * alloc sets it, free checks and clears it: a block that is not allocated (never
 * allocated, or freed already) is refused (-EINVAL) and no list is corrupted. Each
 * byte is written by the thread that holds its block (relaxed: ordered by the handover
 * of the block itself, through a bin lock or the application).
 *
 * Page map word (authoritative; the extent free lists are derived from it):
 *   bits 0..7   kind: MAP_FREE, MAP_SPAN (small-block span), MAP_LARGE (large extent)
 *   bit  8      HEAD: first page of a span / large extent / free run
 *   bit  9      TAIL: last page of a free run of more than one page
 *   bit  10     CARVED: (span head) the span's blocks were linked into its bin
 *   bits 16..23 node (span)   bits 24..31 size class (span)
 *   bits 32..63 n: pages of the run (heads, free-run tails); for span and large
 *               interior pages, the distance back to the head page
 *
 * Batch of free small blocks (inside the blocks themselves; every block is >= 16 B):
 *   word0 of each block: offset of the next block of the batch (0 ends it)
 *   word1 of the batch's first block: next batch (bits 0..47) | count (bits 48..63)
 */
#ifndef SHMRT_ALLOC_ARENA_INT_H
#define SHMRT_ALLOC_ARENA_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "shmrt/version.h"
#include "base/atomic.h"
#include "base/pmutex.h"
#include "base/yield.h"
#include "arena.h"

#define ARENA_MAGIC 0x414e455241544d53ull /* "SMTARENA" */

#define MAP_FREE 0u
#define MAP_SPAN 1u
#define MAP_LARGE 2u
#define MAP_HEAD (1ull << 8)
#define MAP_TAIL (1ull << 9)
#define MAP_CARVED (1ull << 10)
#define map_kind(e) ((unsigned)((e) & 0xff))
#define map_node(e) ((unsigned)(((e) >> 16) & 0xff))
#define map_cls(e) ((unsigned)(((e) >> 24) & 0xff))
#define map_n(e) ((uint32_t)((e) >> 32))
#define map_make(kind, flags, node, cls, n)                                             \
	((uint64_t)(kind) | (flags) | ((uint64_t)(node) << 16) | ((uint64_t)(cls) << 24) | \
	 ((uint64_t)(n) << 32))

#define BATCH_NEXT_MASK ((1ull << 48) - 1)

#define BLOCK_FREE 0u
#define BLOCK_ALLOCATED 1u

/* Bin journal operations (see arena.c, "Crash recovery"). */
enum { J_NONE = 0, J_POP, J_PUSH_CUR, J_PUSH_SPARE, J_PUSH_RAW, J_TAKE1, J_CARVE };

struct shmrt_arena_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t nnodes;
	uint32_t ncaches;
	uint32_t npages;
	uint64_t off, len;          /* the arena's range in the mapping */
	uint64_t bins_off, caches_off, map_off, pages_off;
	uint32_t cache_stride, pad0;
	uint64_t states_off;
	uint64_t map_committed;     /* under ext_lock: map entries committed from its start */
	uint64_t pad1[2];
	/* extent state: page map updates are serialised by ext_lock */
	shmrt_pmutex_t ext_lock SHMRT_ALIGNED(64);
	uint64_t pages_used;        /* under ext_lock */
	uint64_t large_bytes;       /* under ext_lock: bytes of live large extents */
	uint64_t pages_committed;   /* atomic */
	/* counters folded in from reclaimed caches (atomic) */
	int64_t retired_bytes SHMRT_ALIGNED(64);
	uint64_t rebuilds;          /* times the map was rebuilt after a dead holder */
	uint64_t recoveries;        /* bin journal recoveries */
};

struct shmrt_arena_bin {
	shmrt_pmutex_t lock;        /* serialises everything below */
	uint64_t head;              /* first free batch, 0 = none */
	uint32_t j_op, j_cache;     /* journal: op in progress and the cache it serves */
	uint64_t j_arg;             /* batch / span offset of that op */
	uint64_t blocks_total;      /* capacity of this bin's carved spans */
	uint64_t spans;
} SHMRT_ALIGNED(128);

struct shmrt_arena_ccls {
	uint64_t cur;               /* list of free blocks (word0-linked, 0-terminated) */
	uint32_t n;                 /* blocks on cur */
	uint32_t spare_n;           /* blocks in spare */
	uint64_t spare;             /* one full batch held back, 0 = none */
	uint64_t pad;
};

struct shmrt_arena_cache {
	uint32_t node;              /* NUMA node this cache serves */
	uint32_t attached;
	int64_t bytes;              /* small bytes allocated minus freed through this cache */
	uint64_t pad[6];
	struct shmrt_arena_ccls c[SHMRT_ARENA_NCLS];
};

_Static_assert(sizeof(struct shmrt_arena_bin) == 128, "bin layout");
_Static_assert(offsetof(struct shmrt_arena_bin, head) == 48, "bin layout");
_Static_assert(sizeof(struct shmrt_arena_ccls) == 32, "cache class layout");
_Static_assert(offsetof(struct shmrt_arena_cache, c) == 64, "cache layout");
_Static_assert(sizeof(struct shmrt_arena_cache) == 64 + 32 * SHMRT_ARENA_NCLS, "cache");
_Static_assert(offsetof(struct shmrt_arena_hdr, ext_lock) == 128, "arena hdr layout");
_Static_assert(offsetof(struct shmrt_arena_hdr, retired_bytes) == 256, "arena hdr layout");
_Static_assert(sizeof(struct shmrt_arena_hdr) <= SHMRT_ARENA_PAGE, "arena hdr fits a page");

static inline uint64_t *word0(const shmrt_arena_t *a, uint64_t off)
{
	return (uint64_t *)(void *)(a->base + off);
}
static inline uint64_t *word1(const shmrt_arena_t *a, uint64_t off)
{
	return (uint64_t *)(void *)(a->base + off + 8);
}
static inline struct shmrt_arena_bin *bin_of(const shmrt_arena_t *a, unsigned node,
					     unsigned cls)
{
	return &a->bins[node * SHMRT_ARENA_NCLS + cls];
}
static inline struct shmrt_arena_cache *cache_of(const shmrt_arena_t *a, uint32_t idx)
{
	return (struct shmrt_arena_cache *)(void *)((char *)a->caches +
						    (size_t)idx * a->cache_stride);
}
static inline uint64_t page_off(const shmrt_arena_t *a, uint32_t page)
{
	return a->pages_off + (uint64_t)page * SHMRT_ARENA_PAGE;
}

/* The state byte of the block at off (a 16-byte aligned offset inside the pages). */
static inline uint8_t *block_state(const shmrt_arena_t *a, uint64_t off)
{
	return (uint8_t *)(a->state_bias + (uintptr_t)(off >> 4));
}

/* arena.c */
void shmrt__arena_class_info(unsigned cls, uint32_t *size, uint32_t *per_span,
			     uint32_t *span_pages, uint32_t *batch);
/* Locks a bin, running its crash recovery if its holder died. 0 or -errno. */
int shmrt__arena_bin_lock(shmrt_arena_t *a, unsigned node, unsigned cls);

/* extent.c */
int shmrt__ext_alloc(shmrt_arena_t *a, uint32_t npages, uint64_t head_word,
		     uint64_t *out_off, uint64_t *publish);
void shmrt__ext_free(shmrt_arena_t *a, uint64_t off);
int shmrt__ext_commit(shmrt_arena_t *a, uint64_t off, uint64_t len);
/* Commits metadata pages (map, states): never punches a hole on failure, since a page
 * of metadata may be shared with what is in use. 0 or -ENOSPC. */
int shmrt__meta_commit(shmrt_arena_t *a, uint64_t off, uint64_t len);
void shmrt__ext_release(shmrt_arena_t *a, uint64_t off, uint64_t len);
int shmrt__ext_lock(shmrt_arena_t *a);
int shmrt__ext_init_map(shmrt_arena_t *a);
void shmrt__ext_set_carved(shmrt_arena_t *a, uint64_t span_off);

#endif /* SHMRT_ALLOC_ARENA_INT_H */
