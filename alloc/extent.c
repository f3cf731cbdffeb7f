/*
 * Page extents of the arena: the page map, first-fit extent allocation with
 * boundary-tag coalescing, and committing / releasing backing pages.
 *
 * The page map (one word per page, layout in arena_int.h) is the only record of
 * which pages are free. A free run carries its length in its head and tail words
 * (boundary tags), so freeing coalesces with both neighbours in O(1), and nothing is
 * ever written into a free data page: a page is first touched after it has been
 * allocated, bound to its NUMA node(s) and committed.
 *
 * Commit: regions are sparse files. An extent is committed with fallocate() when it
 * is allocated, so a full /dev/shm (tmpfs size limit, Docker's 64 MB) is reported as
 * -ENOSPC by the allocation and never surfaces later as SIGBUS on first touch.
 * Releasing a large extent punches a hole: the memory goes back to the system, and
 * the next allocation of those pages faults fresh, zeroed pages under its own NUMA
 * policy (a faulted page would not move).
 *
 * Concurrency: map updates are serialised by the arena's robust ext_lock. Readers
 * outside the lock (free(), usable_size()) read only the words of extents they own,
 * which do not change while allocated.
 *
 * Crash recovery: every update writes interiors first and the head word last, so
 * the head word is the commit point of an allocation and clearing it the commit
 * point of a free. If the lock holder dies, the next locker rebuilds every free run
 * from the page kinds: any page not covered by a valid extent head is free. An
 * extent whose head was written belongs to whoever asked for it (for a dead process:
 * leaked with its other allocations; for a span: see J_CARVE in arena.c).
 *
 * Memory ordering (labels of the arena, table in arena.c). ext_lock protects the
 * counters pages_used and large_bytes (plain) and every map write but X2's; its
 * acquire and release order the map for live lockers. The releases are for the dead:
 *   X0  the offset of the extent being allocated, stored into the caller's journal
 *       (a bin's j_arg) before the map commits it; read by J_CARVE recovery
 *       (bin_recover() in arena.c) after a takeover of the bin lock
 *   X1  every map word (map_set): interiors before the head word that commits them,
 *       as "Crash recovery" requires; read by rebuild() when the next locker of
 *       ext_lock finds its holder dead (EOWNERDEAD, the acquire of shmrt__pmutex_lock)
 *   X2  CARVED set on a span's head (a fetch_or outside ext_lock, by the span's
 *       owner): the span is linked into its bin (B1) first; read by J_CARVE recovery
 * Loads of map words are relaxed: under ext_lock the lock orders them, and outside
 * it a thread reads only the words of extents it owns (arena.c). pages_committed is a
 * statistic: relaxed.
 */
#define _GNU_SOURCE
#include "arena_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

static inline uint64_t map_get(const shmrt_arena_t *a, uint32_t p)
{
	/* Relaxed: writers hold ext_lock; lock-free readers only read words of extents
	 * they own, whose values were published by the lock release before handover. */
	return load_relaxed(&a->map[p]);
}

static inline void map_set(shmrt_arena_t *a, uint32_t p, uint64_t v)
{
	/* X1: release: keeps the write order (interiors, then head) for a process that
	 * inspects the map after this one died: rebuild(), run by the next locker of
	 * ext_lock after EOWNERDEAD. Live lockers are ordered by the lock itself. */
	store_release(&a->map[p], v);
}

static void write_free_run(shmrt_arena_t *a, uint32_t start, uint32_t n, int zero_interior)
{
	if (zero_interior)
		for (uint32_t p = start + 1; p + 1 < start + n; p++)
			if (map_get(a, p))
				map_set(a, p, 0);
	if (n > 1)
		map_set(a, start + n - 1, map_make(MAP_FREE, MAP_TAIL, 0, 0, n));
	map_set(a, start, map_make(MAP_FREE, MAP_HEAD, 0, 0, n));
}

static int valid_head(const shmrt_arena_t *a, uint32_t p, uint64_t e)
{
	unsigned k = map_kind(e);
	return (k == MAP_SPAN || k == MAP_LARGE) && (e & MAP_HEAD) && map_n(e) > 0 &&
	       (uint64_t)p + map_n(e) <= a->npages;
}

/* ext_lock recovery: rebuild free runs and counters from the page kinds. */
static void rebuild(void *ctx)
{
	shmrt_arena_t *a = ctx;
	uint64_t used = 0, large = 0;
	uint32_t p = 0;

	while (p < a->npages) {
		uint64_t e = map_get(a, p);
		if (valid_head(a, p, e)) {
			uint32_t n = map_n(e);
			uint64_t interior = (e & ~(MAP_HEAD | MAP_CARVED)) & 0xffffffffull;
			for (uint32_t i = 1; i < n; i++)
				map_set(a, p + i, interior | ((uint64_t)i << 32));
			used += n;
			if (map_kind(e) == MAP_LARGE)
				large += n;
			p += n;
			continue;
		}
		uint32_t q = p + 1;
		while (q < a->npages && !valid_head(a, q, map_get(a, q)))
			q++;
		write_free_run(a, p, q - p, 1);
		p = q;
	}
	a->h->pages_used = used;
	a->h->large_bytes = large * SHMRT_ARENA_PAGE;
	/* Relaxed: a counter read racily by stats. */
	fetch_add_relaxed(&a->h->rebuilds, 1);
}

int shmrt__ext_lock(shmrt_arena_t *a)
{
	return shmrt__pmutex_lock(&a->h->ext_lock, a->fd, rebuild, a);
}

/* Map entries committed at a time: 64 KiB of map, for 32 MiB of pages. */
#define MAP_CHUNK (65536 / 8)

/* Commits the map's pages up to entry end (exclusive), a chunk at a time. ext_lock held
 * (or the arena not yet published). 0 or -ENOSPC. */
static int map_reserve(shmrt_arena_t *a, uint64_t end)
{
	uint64_t have = a->h->map_committed; /* under ext_lock */
	if (have > a->npages)
		have = 0; /* damaged: commit again (a no-op where it was) */
	if (end <= have)
		return 0;
	uint64_t want = (end + MAP_CHUNK - 1) / MAP_CHUNK * MAP_CHUNK;
	if (want > a->npages)
		want = a->npages;
	uint64_t map_off = (uint64_t)((char *)a->map - a->base);
	int rc = shmrt__meta_commit(a, map_off + have * 8, (want - have) * 8);
	if (!rc)
		a->h->map_committed = want;
	return rc;
}

int shmrt__ext_init_map(shmrt_arena_t *a)
{
	/* The first chunk, and the map's last page, which holds the tail word of the one
	 * free run the arena starts with. */
	uint64_t map_off = (uint64_t)((char *)a->map - a->base);
	uint64_t last = (map_off + ((uint64_t)a->npages - 1) * 8) & ~(uint64_t)(SHMRT_ARENA_PAGE - 1);
	int rc = map_reserve(a, 1);
	if (!rc)
		rc = shmrt__meta_commit(a, last, SHMRT_ARENA_PAGE);
	if (rc)
		return rc;
	write_free_run(a, 0, a->npages, 0);
	return 0;
}

/*
 * Allocates npages pages; head_word gives kind/node/class (n and HEAD are added).
 * If publish is not NULL, the offset is stored there before the page map commits,
 * so that a journal owner can find an extent its dead holder was allocating.
 * Returns 0, -ENOMEM (no run large enough), -ENOSPC (the map could not be committed),
 * or the lock error.
 */
int shmrt__ext_alloc(shmrt_arena_t *a, uint32_t npages, uint64_t head_word,
		     uint64_t *out_off, uint64_t *publish)
{
	int rc = shmrt__ext_lock(a);
	if (rc)
		return rc;

	uint32_t p = 0, run = 0;
	int found = 0, rebuilt = 0;
	while (p < a->npages) {
		uint64_t e = map_get(a, p);
		uint32_t n = map_n(e);
		if (unlikely(!(e & MAP_HEAD) || n == 0 || (uint64_t)p + n > a->npages)) {
			/* A torn map without a dead holder is a bug or a corrupted region;
			 * rebuild rather than walk garbage, once (a map still torn after
			 * its rebuild is being damaged as we go). */
			if (rebuilt++) {
				shmrt__pmutex_unlock(&a->h->ext_lock);
				return -EBADMSG;
			}
			rebuild(a);
			p = 0;
			continue;
		}
		if (map_kind(e) == MAP_FREE && n >= npages) {
			run = n;
			found = 1;
			break;
		}
		p += n;
	}
	if (!found) {
		shmrt__pmutex_unlock(&a->h->ext_lock);
		return -ENOMEM;
	}

	/* The map words written below: the extent's, and the head of what remains of the
	 * run. Every other word a map update writes was written before (by the update
	 * that made it a head or a tail), or lies in the map's last page. */
	if ((rc = map_reserve(a, (uint64_t)p + npages + 1))) {
		shmrt__pmutex_unlock(&a->h->ext_lock);
		return rc;
	}
	uint64_t off = page_off(a, p);
	/* X0: release, read by J_CARVE recovery (bin_recover) after a takeover of the
	 * caller's bin lock: the journal's op (J1) is claimed before its offset appears.
	 * That the offset is stored before the head word commits the extent is kept by
	 * the head's own release (X1) below. */
	if (publish)
		store_release(publish, off);
	SHMRT_YIELD_POINT();
	if (run > npages)
		write_free_run(a, p + npages, run - npages, 0);
	else if (run > 1)
		map_set(a, p + run - 1, 0); /* old tail becomes an interior below */
	uint64_t interior = head_word & ~(MAP_HEAD | MAP_CARVED) & 0xffffffffull;
	for (uint32_t i = 1; i < npages; i++)
		map_set(a, p + i, interior | ((uint64_t)i << 32));
	SHMRT_YIELD_POINT();
	map_set(a, p, (head_word & 0xffffffffull) | MAP_HEAD | ((uint64_t)npages << 32));
	a->h->pages_used += npages;
	if (map_kind(head_word) == MAP_LARGE)
		a->h->large_bytes += (uint64_t)npages * SHMRT_ARENA_PAGE;
	shmrt__pmutex_unlock(&a->h->ext_lock);
	*out_off = off;
	return 0;
}

/* Frees the extent whose head page is at off (a span or a large extent). */
void shmrt__ext_free(shmrt_arena_t *a, uint64_t off)
{
	uint32_t p = (uint32_t)((off - a->pages_off) / SHMRT_ARENA_PAGE);
	if (shmrt__ext_lock(a))
		return;
	uint64_t e = map_get(a, p);
	if (!valid_head(a, p, e)) {
		shmrt__pmutex_unlock(&a->h->ext_lock);
		return;
	}
	uint32_t n = map_n(e);
	for (uint32_t i = 1; i < n; i++)
		map_set(a, p + i, 0);
	SHMRT_YIELD_POINT();
	map_set(a, p, 0); /* commit point: the extent is free from here on */

	uint32_t start = p, len = n;
	if (p > 0) {
		uint64_t le = map_get(a, p - 1);
		if (map_kind(le) == MAP_FREE && (le & (MAP_HEAD | MAP_TAIL))) {
			uint32_t ln = map_n(le);
			start = p - ln;
			len += ln;
			if (ln > 1)
				map_set(a, p - 1, 0);
		}
	}
	if (p + n < a->npages) {
		uint64_t re = map_get(a, p + n);
		if (map_kind(re) == MAP_FREE && (re & MAP_HEAD)) {
			uint32_t rn = map_n(re);
			map_set(a, p + n, 0);
			len += rn;
		}
	}
	write_free_run(a, start, len, 0);
	a->h->pages_used -= n;
	if (map_kind(e) == MAP_LARGE)
		a->h->large_bytes -= (uint64_t)n * SHMRT_ARENA_PAGE;
	shmrt__pmutex_unlock(&a->h->ext_lock);
}

/* Sets CARVED on a span's head word (only its owner writes it while allocated). */
void shmrt__ext_set_carved(shmrt_arena_t *a, uint64_t span_off)
{
	uint32_t p = (uint32_t)((span_off - a->pages_off) / SHMRT_ARENA_PAGE);
	/* X2: release RMW: the span's batches are linked and the bin head holds them
	 * (B1, finish_carve) before CARVED says so; read by J_CARVE recovery after a
	 * takeover of the bin lock, which then knows the span needs no carving. */
	fetch_or_release(&a->map[p], MAP_CARVED);
}

int shmrt__ext_commit(shmrt_arena_t *a, uint64_t off, uint64_t len)
{
	if (a->fd < 0)
		return 0;
	int rc;
	do
		rc = fallocate(a->fd, 0, (off_t)off, (off_t)len);
	while (rc && errno == EINTR);
	if (rc) {
		int e = errno;
		if (e == EOPNOTSUPP || e == ENOSYS)
			return 0; /* backing cannot reserve (e.g. some FUSE): nothing to do */
		/* Pages a partial fallocate did get are given back. */
		shmrt__ext_release(a, off, len);
		return e == ENOSPC || e == EFBIG ? -ENOSPC : -e;
	}
	/* Relaxed: a statistic. */
	fetch_add_relaxed(&a->h->pages_committed, len / SHMRT_ARENA_PAGE);
	return 0;
}

int shmrt__meta_commit(shmrt_arena_t *a, uint64_t off, uint64_t len)
{
	if (a->fd < 0 || len == 0)
		return 0;
	int rc;
	do
		rc = fallocate(a->fd, 0, (off_t)off, (off_t)len);
	while (rc && errno == EINTR);
	if (rc && errno != EOPNOTSUPP && errno != ENOSYS)
		return errno == ENOSPC || errno == EFBIG ? -ENOSPC : -errno;
	return 0;
}

void shmrt__ext_release(shmrt_arena_t *a, uint64_t off, uint64_t len)
{
	if (a->fd < 0)
		return;
	if (fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)len) == 0) {
		/* Relaxed (the load and the CAS, success and failure): a statistic.
		 * Saturate rather than wrap after a failed commit. */
		uint64_t pages = len / SHMRT_ARENA_PAGE, cur = load_relaxed(&a->h->pages_committed);
		while (cur && !cas_relaxed(&a->h->pages_committed, &cur,
					   cur > pages ? cur - pages : 0))
			;
	}
}
