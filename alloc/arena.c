/*
 * The arena's small-block allocator: size classes, per-thread caches held in shared
 * memory, and per-(node, class) bins of free batches.
 *
 * Algorithm (jemalloc's tcache/bin split, in offsets):
 *  - 36 size classes from 16 B to 16 KiB (16 B steps to 128 B, then four classes
 *    per power of two). Larger requests are page extents (extent.c).
 *  - Each thread record owns a cache: per class, a list `cur` of up to N free blocks
 *    (linked through the blocks' first word) and one full batch `spare`. alloc pops
 *    cur, free pushes cur: no lock, no atomic read-modify-write, one cache line of
 *    the thread's own plus the block itself.
 *  - When cur runs dry it takes spare, else pops a whole batch from the bin; when it
 *    overflows it becomes spare and the old spare is pushed to the bin. Bins hold
 *    batches of N blocks and refill from spans (64 KiB or more) carved from extents.
 *    So a bin is touched once per N operations, N = 64 for blocks up to 256 B.
 *
 * Why bins use a lock (at batch granularity) and not a lock-free stack: the arena
 * must return every block after a kill -9 at any instruction. A Treiber stack's pop
 * is one CAS; a thread killed right after it owns a batch that nothing records, and
 * no survivor can decide whether the CAS happened (tags prove someone moved the head,
 * not who). A robust mutex plus a one-entry journal per bin makes every bin operation
 * decidable: the journal says what the dead holder was doing, the bin's head and the
 * dead thread's cache say how far it got, and recovery rolls it forward or back.
 * Bin operations are 1/N of all operations, so the lock costs under 1 ns amortised,
 * and caches make allocation scale with threads and processes.
 *
 * Crash recovery (EOWNERDEAD on a bin lock), by journal op:
 *  J_POP H:        head == H: not done. Else the dead cache's cur == H: done. Else
 *                  push H back (its link word was never modified by the pop).
 *  J_PUSH_* X:     head == X: done, clear the cache field that held X. Else not done.
 *  J_TAKE1 H:      head == H: not done; else done (one block went to the dead thread).
 *  J_CARVE S:      S == 0: no extent yet. Else if S is a span of this bin, not marked
 *                  carved, and head is not inside it: (re)commit, carve and link it.
 * A dead thread's cache (cur, spare) is returned by shmrt__arena_cache_reclaim(),
 * which the registry calls once it has established that the thread is dead.
 *
 * What a killed thread can lose: only blocks it had itself in hand: the block being
 * returned by alloc or passed to free at that instant, and blocks it allocated and
 * never freed (the arena cannot know what the application did with them).
 *
 * Memory ordering. A bin's words (head, journal, counts) are protected by the bin's
 * robust lock, a cache's words by the one thread that owns the cache, the page map's
 * writers by ext_lock (extent.c): for live threads, the locks' acquire and release
 * order everything, and the words need no label of their own. The release stores
 * below are for the dead. A thread killed at any instruction has made its stores up
 * to that point; each release keeps the stores before it from being moved after it,
 * so what a successor finds is the program's order, which the journal and the
 * recovery rules above rely on. The successor reads it after the kernel's handover:
 * the next locker of a bin after EOWNERDEAD (the acquire of shmrt__pmutex_lock, then
 * bin_recover()), or the reclaimer of a dead thread's cache (shmrt__arena_cache_reclaim(),
 * called by the registry once it has found the thread dead and marked its record:
 * TR2 in core/registry.c). Labels of the arena (arena.c and extent.c):
 *   I1/I2  arena magic: init's release, attach's acquire (the caller's publication
 *          of the whole region orders it for other processes too)
 *   J1     journal op claimed: its arguments (j_cache, j_arg) are in place first
 *   J2     journal cleared (J_NONE): the op's stores (B1, F1/F2, cache fields) first
 *   J3     the recovering locker's load of the op (bin_recover): acquire, pairs with
 *          J1/J2 (the lock's takeover orders them too)
 *   B1     a bin's head moved: the batch's links and the journal entry (J1) first
 *   F1/F2  a cache's cur / spare moved: the block's link, the bin head (B1) and the
 *          other cache words written before it first; read by reclaim and by J_POP /
 *          J_PUSH_* recovery
 *   F3     reclaim's exchange of a cache's byte count (acq_rel)
 *   X0-X2  the page map (extent.c): the extent offset in the journal (X0), map words
 *          (X1: interiors before the head), CARVED after the span is linked (X2)
 * Relaxed: loads of map words outside ext_lock (words of spans, which never change
 * kind, node or class once carved), and counters read racily by stats.
 */
#define _GNU_SOURCE
#include "arena_int.h"

#include <errno.h>
#include <string.h>

static const uint32_t cls_size[SHMRT_ARENA_NCLS] = {
	16,   32,   48,   64,   80,   96,   112,  128,  160,   192,   224,   256,
	320,  384,  448,  512,  640,  768,  896,  1024, 1280,  1536,  1792,  2048,
	2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192, 10240, 12288, 14336, 16384,
};
static uint32_t cls_batch[SHMRT_ARENA_NCLS]; /* N: blocks per batch */
static uint32_t cls_span_pages[SHMRT_ARENA_NCLS];
static uint32_t cls_per_span[SHMRT_ARENA_NCLS];
static uint64_t cls_inv[SHMRT_ARENA_NCLS]; /* ceil(2^32 / size): exact division below */

__attribute__((constructor)) static void init_classes(void)
{
	for (unsigned c = 0; c < SHMRT_ARENA_NCLS; c++) {
		uint32_t s = cls_size[c], n = 16384 / s;
		cls_batch[c] = n < 2 ? 2 : n > 64 ? 64 : n;
		uint64_t span = 65536;
		if (span < 8ull * s)
			span = 8ull * s;
		cls_span_pages[c] = (uint32_t)(span / SHMRT_ARENA_PAGE);
		cls_per_span[c] = (uint32_t)(span / s);
		cls_inv[c] = ((1ull << 32) + s - 1) / s;
	}
}

unsigned shmrt__arena_size_class(size_t size)
{
	if (size <= 128)
		return size ? (unsigned)((size - 1) >> 4) : 0;
	size_t s = size - 1;
	unsigned b = 63u - (unsigned)__builtin_clzll(s);
	return 8u + (b - 7u) * 4u + (unsigned)((s >> (b - 2u)) & 3u);
}

uint32_t shmrt__arena_class_size(unsigned cls)
{
	return cls < SHMRT_ARENA_NCLS ? cls_size[cls] : 0;
}

/* ---- layout ------------------------------------------------------------------- */

static uint64_t round_page(uint64_t x)
{
	return (x + SHMRT_ARENA_PAGE - 1) & ~(uint64_t)(SHMRT_ARENA_PAGE - 1);
}

struct layout {
	uint64_t bins_off, caches_off, map_off, states_off, pages_off;
	uint32_t npages, stride;
};

/* Metadata bytes per page: its map word and its 256 state bytes. */
#define PER_PAGE_META (8 + SHMRT_ARENA_PAGE / 16)

static int compute_layout(uint64_t off, uint64_t len, uint32_t ncaches, uint32_t nnodes,
			  struct layout *l)
{
	if (nnodes == 0 || nnodes > SHMRT_MAX_NODES || ncaches == 0 || ncaches > (1u << 20))
		return -EINVAL;
	l->stride = (uint32_t)sizeof(struct shmrt_arena_cache);
	l->bins_off = off + SHMRT_ARENA_PAGE;
	l->caches_off = l->bins_off + (uint64_t)nnodes * SHMRT_ARENA_NCLS *
					      sizeof(struct shmrt_arena_bin);
	l->map_off = l->caches_off + (uint64_t)ncaches * l->stride;
	uint64_t fixed = l->map_off - off;
	if (len < fixed + SHMRT_ARENA_MIN_PAGES * (SHMRT_ARENA_PAGE + PER_PAGE_META) +
			  2 * SHMRT_ARENA_PAGE)
		return -EINVAL;
	uint64_t np = (len - fixed) / (SHMRT_ARENA_PAGE + PER_PAGE_META);
	while (np && round_page(fixed + np * 8) + round_page(np * (SHMRT_ARENA_PAGE / 16)) +
			     np * SHMRT_ARENA_PAGE > len)
		np--;
	if (np < SHMRT_ARENA_MIN_PAGES || np > UINT32_MAX)
		return -EINVAL;
	l->npages = (uint32_t)np;
	l->states_off = off + round_page(fixed + np * 8);
	l->pages_off = l->states_off + round_page(np * (SHMRT_ARENA_PAGE / 16));
	return 0;
}

uint64_t shmrt__arena_meta_bytes(uint64_t len, uint32_t ncaches, uint32_t nnodes)
{
	struct layout l;
	if (compute_layout(0, len, ncaches, nnodes, &l))
		return 0;
	return l.pages_off;
}

static void fill_handle(shmrt_arena_t *a, char *base, int fd, const struct layout *l,
			struct shmrt_arena_hdr *h, uint32_t ncaches, uint32_t nnodes)
{
	a->base = base;
	a->h = h;
	a->bins = (struct shmrt_arena_bin *)(void *)(base + l->bins_off);
	a->caches = (struct shmrt_arena_cache *)(void *)(base + l->caches_off);
	a->map = (uint64_t *)(void *)(base + l->map_off);
	a->states = (uint8_t *)(base + l->states_off);
	a->state_bias = (uintptr_t)a->states - (uintptr_t)(l->pages_off >> 4);
	a->pages_off = l->pages_off;
	a->npages = l->npages;
	a->data_len = (uint64_t)l->npages * SHMRT_ARENA_PAGE;
	a->ncaches = ncaches;
	a->nnodes = nnodes;
	a->cache_stride = l->stride;
	a->fd = fd;
}

int shmrt__arena_init(shmrt_arena_t *a, char *base, uint64_t off, uint64_t len, int fd,
		      uint32_t ncaches, uint32_t nnodes)
{
	struct layout l;
	if (off % SHMRT_ARENA_PAGE || compute_layout(off, len, ncaches, nnodes, &l))
		return -EINVAL;
	struct shmrt_arena_hdr *h = (struct shmrt_arena_hdr *)(void *)(base + off);
	fill_handle(a, base, fd, &l, h, ncaches, nnodes);
	/* The header, bins and caches; the map and the states as they are used. The file
	 * is new (created empty and sized), so whatever is not written reads as zero. */
	int rc = shmrt__meta_commit(a, off, l.map_off - off);
	if (rc)
		return rc;
	memset(base + off, 0, l.map_off - off);
	h->version = SHMRT_LAYOUT_VERSION;
	h->nnodes = nnodes;
	h->ncaches = ncaches;
	h->npages = l.npages;
	h->off = off;
	h->len = len;
	h->bins_off = l.bins_off;
	h->caches_off = l.caches_off;
	h->map_off = l.map_off;
	h->states_off = l.states_off;
	h->pages_off = l.pages_off;
	h->cache_stride = l.stride;
	if ((rc = shmrt__pmutex_init(&h->ext_lock)))
		return rc;
	for (uint32_t i = 0; i < nnodes * SHMRT_ARENA_NCLS; i++)
		if ((rc = shmrt__pmutex_init(&a->bins[i].lock)))
			return rc;
	if ((rc = shmrt__ext_init_map(a)))
		return rc;
	/* I1: release, pairs with I2 in shmrt__arena_attach(): the magic is written
	 * last, after the header, locks and map (the caller's publication of the region
	 * orders all of this for other processes anyway). */
	store_release(&h->magic, ARENA_MAGIC);
	return 0;
}

int shmrt__arena_attach(shmrt_arena_t *a, char *base, uint64_t off, uint64_t len, int fd)
{
	struct shmrt_arena_hdr *h = (struct shmrt_arena_hdr *)(void *)(base + off);
	struct layout l;
	/* I2: acquire, pairs with I1: the header read below is complete. */
	if (off % SHMRT_ARENA_PAGE || load_acquire(&h->magic) != ARENA_MAGIC ||
	    h->version != SHMRT_LAYOUT_VERSION || h->off != off || h->len != len ||
	    compute_layout(off, len, h->ncaches, h->nnodes, &l) || h->npages != l.npages ||
	    h->bins_off != l.bins_off || h->caches_off != l.caches_off ||
	    h->map_off != l.map_off || h->states_off != l.states_off ||
	    h->pages_off != l.pages_off ||
	    h->cache_stride != l.stride)
		return -EBADMSG;
	fill_handle(a, base, fd, &l, h, h->ncaches, h->nnodes);
	return 0;
}

/* ---- block validation ----------------------------------------------------------- */

/* Validates that off starts a block of a span; returns its class or -1. */
static inline int small_class_of(const shmrt_arena_t *a, uint64_t off, uint64_t e, uint32_t p)
{
	unsigned cls = map_cls(e);
	if (unlikely(cls >= SHMRT_ARENA_NCLS))
		return -1;
	uint32_t dist = (e & MAP_HEAD) ? 0 : map_n(e);
	if (unlikely(dist > p))
		return -1;
	uint64_t rel = off - page_off(a, p - dist);
	uint64_t q = (rel * cls_inv[cls]) >> 32;
	if (unlikely(q * cls_size[cls] != rel || q >= cls_per_span[cls]))
		return -1;
	return (int)cls;
}

/*
 * Repair paths (cache reclaim, journal recovery) read offsets that a dead or
 * corrupted process left: each is checked to start a block of a span of the given
 * class and node before it is dereferenced. Hot paths rely on the invariants.
 */
static int valid_block(const shmrt_arena_t *a, uint64_t off, unsigned node, unsigned cls)
{
	if (off < a->pages_off || off >= page_off(a, a->npages) || (off & 15))
		return 0;
	uint32_t p = (uint32_t)((off - a->pages_off) / SHMRT_ARENA_PAGE);
	/* Relaxed: a span's words keep their kind, node and class once carved (spans
	 * are never freed); any other word fails the check. */
	uint64_t e = load_relaxed(&a->map[p]);
	return map_kind(e) == MAP_SPAN && map_node(e) == node && map_cls(e) == cls &&
	       small_class_of(a, off, e, p) == (int)cls;
}

/* valid_block, and free: what a free list may hold. Relaxed: the state of a block in
 * our hands (a list we hold, under a bin lock or in our cache). */
static int free_block(const shmrt_arena_t *a, uint64_t off, unsigned node, unsigned cls)
{
	return valid_block(a, off, node, cls) && load_relaxed(block_state(a, off)) == BLOCK_FREE;
}

/* Whether a block taken from our own cache list can be followed: inside the pages (the
 * one check the fast path makes: its state byte and its link are then in bounds). A
 * list that fails it was damaged: the caller drops it (what it held leaks). The full
 * check (free_block) is made on every batch a cache takes from a bin and on every list
 * of a dead thread's cache. */
static inline int plausible_free(const shmrt_arena_t *a, uint64_t off)
{
	return likely(off - a->pages_off < a->data_len);
}

/* ---- bins ------------------------------------------------------------------------ */

struct bin_ctx {
	shmrt_arena_t *a;
	struct shmrt_arena_bin *b;
	unsigned node, cls;
};

static uint64_t link_span(shmrt_arena_t *a, uint64_t span, unsigned cls, uint64_t next_head)
{
	uint32_t s = cls_size[cls], per = cls_per_span[cls], n = cls_batch[cls];
	uint64_t first = 0, *prev_link = &first;
	for (uint32_t i = 0; i < per; i += n) {
		uint32_t cnt = per - i < n ? per - i : n;
		uint64_t head = span + (uint64_t)i * s;
		for (uint32_t k = 0; k < cnt; k++) {
			uint64_t blk = head + (uint64_t)k * s;
			*word0(a, blk) = k + 1 < cnt ? blk + s : 0;
		}
		*prev_link = (*prev_link & ~BATCH_NEXT_MASK) | head; /* keeps the count */
		prev_link = word1(a, head);
		*word1(a, head) = (uint64_t)cnt << 48; /* next filled by the following batch */
	}
	*prev_link = (*prev_link & ~BATCH_NEXT_MASK) | next_head;
	return first;
}

static int span_is_bins(const shmrt_arena_t *a, uint64_t s, const struct bin_ctx *x)
{
	if (s < a->pages_off || s >= page_off(a, a->npages))
		return 0;
	/* Relaxed: called by J_CARVE recovery right after taking ext_lock (whose
	 * acquire orders the map), and a span's head changes only by X2 after that. */
	uint64_t e = load_relaxed(&a->map[(s - a->pages_off) / SHMRT_ARENA_PAGE]);
	return map_kind(e) == MAP_SPAN && (e & MAP_HEAD) && map_cls(e) == x->cls &&
	       map_node(e) == x->node;
}

/* Commits, carves and links span s into bin b. Caller holds the bin lock. */
static int finish_carve(shmrt_arena_t *a, struct shmrt_arena_bin *b, unsigned node,
			unsigned cls, uint64_t s)
{
	uint64_t len = (uint64_t)cls_span_pages[cls] * SHMRT_ARENA_PAGE;
	int rc = 0;
	if (a->nnodes > 1) {
		shmrt_placement_t pl = { .policy = SHMRT_PLACE_BIND, .node = node };
		rc = shmrt__numa_bind(a->base + s, len, &pl);
	}
	if (!rc)
		rc = shmrt__ext_commit(a, s, len);
	if (!rc) /* the span's block states (all BLOCK_FREE: a span's pages are new) */
		rc = shmrt__meta_commit(a, (uint64_t)((char *)block_state(a, s) - a->base), len / 16);
	if (rc) {
		shmrt__ext_free(a, s);
		return rc;
	}
	uint64_t first = link_span(a, s, cls, b->head);
	SHMRT_YIELD_POINT();
	/* B1: release: the links written above are in place before the head makes them
	 * reachable. Live lockers are ordered by the bin lock; this release is needed only
	 * for recovery by another process: the next locker after our death (EOWNERDEAD)
	 * may walk the span's batches from the head. */
	store_release(&b->head, first);
	/* X2 (extent.c): CARVED only after the head (B1) holds the span's batches. */
	shmrt__ext_set_carved(a, s);
	b->blocks_total += cls_per_span[cls];
	b->spans++;
	return 0;
}

static void bin_recover(void *ctx)
{
	struct bin_ctx *x = ctx;
	shmrt_arena_t *a = x->a;
	struct shmrt_arena_bin *b = x->b;
	/* J3: acquire, pairs with J1/J2 of the dead holder (the lock's takeover in
	 * shmrt__pmutex_lock orders its stores too). Head and arguments: plain, under the
	 * lock. */
	uint32_t op = load_acquire(&b->j_op);
	uint64_t arg = b->j_arg, head = b->head;
	struct shmrt_arena_ccls *cc = NULL;

	if (op == J_NONE)
		return;
	if (b->j_cache < a->ncaches)
		cc = &cache_of(a, b->j_cache)->c[x->cls];
	switch (op) {
	case J_POP:
		if (!valid_block(a, arg, x->node, x->cls) ||
		    (head && !valid_block(a, head, x->node, x->cls)))
			break; /* corrupted journal or bin: leave them be */
		if (head != arg && cc && cc->cur != arg) {
			*word1(a, arg) = (*word1(a, arg) & ~BATCH_NEXT_MASK) | head;
			/* B1: the batch's link before the head that takes it back (for
			 * the next recovery, should we die here too). */
			store_release(&b->head, arg);
		}
		break;
	case J_PUSH_CUR:
	case J_PUSH_SPARE:
		if (head == arg && cc) {
			if (op == J_PUSH_CUR && cc->cur == arg)
				cc->cur = 0, cc->n = 0;
			if (op == J_PUSH_SPARE && cc->spare == arg)
				cc->spare = 0, cc->spare_n = 0;
		}
		break;
	case J_CARVE:
		if (arg && shmrt__ext_lock(a) == 0) {
			/* Taking ext_lock first lets its own recovery finish the map. */
			shmrt__pmutex_unlock(&a->h->ext_lock);
			uint64_t len = (uint64_t)cls_span_pages[x->cls] * SHMRT_ARENA_PAGE;
			/* Relaxed: after ext_lock (above); CARVED was set by the dead
			 * holder (X2), whose stores the bin lock's takeover orders. */
			uint64_t e = load_relaxed(&a->map[(arg - a->pages_off) / SHMRT_ARENA_PAGE]);
			int in_span = head >= arg && head < arg + len;
			if (span_is_bins(a, arg, x) && !(e & MAP_CARVED) && !in_span)
				(void)finish_carve(a, b, x->node, x->cls, arg);
		}
		break;
	default: /* J_PUSH_RAW, J_TAKE1: the head says it all; nothing to undo */
		break;
	}
	/* J2: the repairs above before the journal is cleared: a recoverer killed
	 * before this store leaves the op for the next one (recovery is idempotent). */
	store_release(&b->j_op, J_NONE);
	/* Relaxed: a counter read racily by stats. */
	fetch_add_relaxed(&a->h->recoveries, 1);
}

static int bin_lock(shmrt_arena_t *a, unsigned node, unsigned cls, struct bin_ctx *x)
{
	x->a = a;
	x->b = bin_of(a, node, cls);
	x->node = node;
	x->cls = cls;
	return shmrt__pmutex_lock(&x->b->lock, a->fd, bin_recover, x);
}

int shmrt__arena_bin_lock(shmrt_arena_t *a, unsigned node, unsigned cls)
{
	struct bin_ctx x; /* only used by recovery, inside this call */
	return bin_lock(a, node, cls, &x);
}

static inline void journal(struct shmrt_arena_bin *b, uint32_t op, uint32_t cache, uint64_t arg)
{
	b->j_cache = cache;
	b->j_arg = arg;
	/* J1: release, pairs with J3 in bin_recover(): the journal's arguments are in
	 * place before it claims an op, and the op is claimed before the stores it
	 * covers (each of them a release: B1, F1/F2). Needed only for recovery by another
	 * process after our death; the bin lock orders live lockers. */
	store_release(&b->j_op, op);
}

/* Ensures the bin has a batch, carving a new span if needed. Bin lock held. */
static int bin_fill(shmrt_arena_t *a, struct bin_ctx *x, uint32_t cache)
{
	struct shmrt_arena_bin *b = x->b;
	if (b->head)
		return 0;
	journal(b, J_CARVE, cache, 0);
	uint64_t s;
	int rc = shmrt__ext_alloc(a, cls_span_pages[x->cls],
				  map_make(MAP_SPAN, 0, x->node, x->cls, 0), &s, &b->j_arg);
	if (!rc)
		rc = finish_carve(a, b, x->node, x->cls, s);
	/* J2: the carve (B1, X2) before the journal is cleared. */
	store_release(&b->j_op, J_NONE);
	return rc;
}

/* Pushes the batch x (cnt blocks) to the bin; op says which cache field held it. */
static int bin_push(shmrt_arena_t *a, unsigned node, unsigned cls, uint32_t cache, uint32_t op,
		    uint64_t batch, uint32_t cnt)
{
	struct bin_ctx x;
	int rc = bin_lock(a, node, cls, &x);
	if (rc)
		return rc;
	struct shmrt_arena_bin *b = x.b;
	journal(b, op, cache, batch);
	*word1(a, batch) = ((uint64_t)cnt << 48) | b->head;
	SHMRT_YIELD_POINT();
	/* B1: the batch's word1 and the journal (J1) before the head takes the batch. */
	store_release(&b->head, batch);
	if (cache < a->ncaches) {
		struct shmrt_arena_ccls *cc = &cache_of(a, cache)->c[cls];
		if (op == J_PUSH_SPARE)
			cc->spare = 0, cc->spare_n = 0;
		else if (op == J_PUSH_CUR)
			cc->cur = 0, cc->n = 0;
	}
	/* J2: the cache field that held the batch is cleared before the journal: after
	 * our death, J_PUSH_* recovery clears it if this store was not made. */
	store_release(&b->j_op, J_NONE);
	shmrt__pmutex_unlock(&b->lock);
	return 0;
}

/* ---- small blocks ------------------------------------------------------------- */

static int alloc_small_slow(shmrt_arena_t *a, uint32_t idx, unsigned cls, uint64_t *off)
{
	struct shmrt_arena_cache *c = cache_of(a, idx);
	struct shmrt_arena_ccls *cc = &c->c[cls];

	if (cc->spare) {
		/* cur := spare, then clear spare. A death in between leaves cur == spare,
		 * which reclaim recognises (one list, returned once). */
		cc->n = cc->spare_n;
		/* F1: release (the count before the list), read by reclaim after our
		 * death. */
		store_release(&cc->cur, cc->spare);
		cc->spare_n = 0;
		/* F2: release: cur holds the list (F1) before spare lets it go. */
		store_release(&cc->spare, 0);
	} else {
		struct bin_ctx x;
		int rc = bin_lock(a, c->node, cls, &x);
		if (rc)
			return rc;
		struct shmrt_arena_bin *b = x.b;
		if ((rc = bin_fill(a, &x, idx))) {
			shmrt__pmutex_unlock(&b->lock);
			return rc;
		}
		uint64_t h = b->head;
		if (!free_block(a, h, c->node, cls)) {
			store_release(&b->head, 0); /* B1: a damaged bin: its batches leak */
			shmrt__pmutex_unlock(&b->lock);
			return -EBADMSG;
		}
		uint64_t w1 = *word1(a, h);
		journal(b, J_POP, idx, h);
		/* B1: the journal (J1) before the head moves past the batch. */
		store_release(&b->head, w1 & BATCH_NEXT_MASK);
		SHMRT_YIELD_POINT();
		cc->n = (uint32_t)(w1 >> 48);
		/* F1: the head moved (B1) before our cache holds the batch, so J_POP
		 * recovery finds the batch in one of the two, never in both. */
		store_release(&cc->cur, h);
		/* J2: the batch is in our cache (F1) before the journal forgets it. */
		store_release(&b->j_op, J_NONE);
		shmrt__pmutex_unlock(&b->lock);
	}
	uint64_t o = cc->cur;
	if (!plausible_free(a, o)) {
		store_release(&cc->cur, 0); /* F1: a damaged list is dropped */
		cc->n = 0;
		return -EBADMSG;
	}
	/* F1: release, as every store of cur: the block leaves the list, which reclaim
	 * reads after our death. */
	store_release(&cc->cur, *word0(a, o));
	cc->n--;
	c->bytes += cls_size[cls];
	store_relaxed(block_state(a, o), BLOCK_ALLOCATED); /* ours: see arena_int.h */
	*off = o;
	return 0;
}

/* BIND to a node other than the cache's: one block straight from that node's bin. */
static int alloc_take1(shmrt_arena_t *a, uint32_t idx, unsigned node, unsigned cls,
		       uint64_t *off)
{
	struct bin_ctx x;
	int rc = bin_lock(a, node, cls, &x);
	if (rc)
		return rc;
	struct shmrt_arena_bin *b = x.b;
	if ((rc = bin_fill(a, &x, idx))) {
		shmrt__pmutex_unlock(&b->lock);
		return rc;
	}
	uint64_t h = b->head;
	if (!free_block(a, h, node, cls)) {
		store_release(&b->head, 0); /* B1: a damaged bin: its batches leak */
		shmrt__pmutex_unlock(&b->lock);
		return -EBADMSG;
	}
	uint64_t w1 = *word1(a, h), h2 = *word0(a, h);
	uint32_t cnt = (uint32_t)(w1 >> 48);
	journal(b, J_TAKE1, idx, h);
	if (cnt > 1 && h2) {
		*word1(a, h2) = ((uint64_t)(cnt - 1) << 48) | (w1 & BATCH_NEXT_MASK);
		/* B1: the rest of the batch (word1 of h2) and the journal before the
		 * head. */
		store_release(&b->head, h2);
	} else {
		store_release(&b->head, w1 & BATCH_NEXT_MASK); /* B1 */
	}
	store_release(&b->j_op, J_NONE); /* J2: after the head (B1) */
	shmrt__pmutex_unlock(&b->lock);
	/* Relaxed: a counter read racily by stats. */
	fetch_add_relaxed(&a->h->retired_bytes, (int64_t)cls_size[cls]);
	store_relaxed(block_state(a, h), BLOCK_ALLOCATED); /* ours: see arena_int.h */
	*off = h;
	return 0;
}

static int free_small_slow(shmrt_arena_t *a, uint32_t idx, unsigned cls, uint64_t off)
{
	struct shmrt_arena_cache *c = cache_of(a, idx);
	struct shmrt_arena_ccls *cc = &c->c[cls];
	if (cc->spare) {
		int rc = bin_push(a, c->node, cls, idx, J_PUSH_SPARE, cc->spare, cc->spare_n);
		if (rc)
			return rc;
	}
	/* spare := cur, then empty cur; cur == spare after a death is handled by reclaim. */
	cc->spare_n = cc->n;
	/* F2: release: the count, and the old spare's push (bin_push, J2), before spare
	 * takes cur. */
	store_release(&cc->spare, cc->cur);
	cc->n = 0;
	/* F1: spare holds the list (F2) before cur lets it go. */
	store_release(&cc->cur, 0);
	*word0(a, off) = 0;
	/* F1: the block's link is written before the block joins the list. */
	store_release(&cc->cur, off);
	cc->n = 1;
	c->bytes -= cls_size[cls];
	return 0;
}

int shmrt__arena_alloc(shmrt_arena_t *a, uint32_t idx, size_t size,
		       const shmrt_placement_t *pl, uint64_t *off)
{
	if (likely(size - 1 < SHMRT_SMALL_MAX)) {
		unsigned cls = shmrt__arena_size_class(size);
		struct shmrt_arena_cache *c = cache_of(a, idx);
		if (unlikely(pl && pl->policy == SHMRT_PLACE_BIND && pl->node != c->node)) {
			if (pl->node >= a->nnodes)
				return -EINVAL;
			return alloc_take1(a, idx, pl->node, cls, off);
		}
		struct shmrt_arena_ccls *cc = &c->c[cls];
		uint64_t o = cc->cur;
		if (likely(o) && plausible_free(a, o)) {
			/* F1: release, as every store of cur: the store hands the block
			 * over (see "Crash recovery"); reclaim reads cur after our death. */
			store_release(&cc->cur, *word0(a, o));
			cc->n--;
			c->bytes += cls_size[cls];
			store_relaxed(block_state(a, o), BLOCK_ALLOCATED); /* arena_int.h */
			*off = o;
			return 0;
		}
		return alloc_small_slow(a, idx, cls, off);
	}
	if (size == 0)
		return -EINVAL;
	if (size > (uint64_t)a->npages * SHMRT_ARENA_PAGE)
		return -ENOMEM;
	uint32_t np = (uint32_t)(round_page(size) / SHMRT_ARENA_PAGE);
	uint64_t o, len = (uint64_t)np * SHMRT_ARENA_PAGE;
	int rc = shmrt__ext_alloc(a, np, map_make(MAP_LARGE, 0, 0, 0, 0), &o, NULL);
	if (rc)
		return rc;
	if (pl && (a->nnodes > 1 || pl->policy != SHMRT_PLACE_LOCAL))
		rc = shmrt__numa_bind(a->base + o, len, pl);
	else if (a->nnodes > 1)
		rc = shmrt__numa_bind(a->base + o, len, &(shmrt_placement_t){ 0 });
	if (!rc)
		rc = shmrt__ext_commit(a, o, len);
	if (rc) {
		shmrt__ext_free(a, o);
		return rc;
	}
	*off = o;
	return 0;
}

int shmrt__arena_free(shmrt_arena_t *a, uint32_t idx, uint64_t off)
{
	if (unlikely(off < a->pages_off || off >= page_off(a, a->npages) || (off & 15)))
		return -EINVAL;
	uint32_t p = (uint32_t)((off - a->pages_off) / SHMRT_ARENA_PAGE);
	/* Relaxed: the word of an extent the caller owns (it does not change while
	 * allocated); it reached us with the block, through the bin lock or the
	 * application's own handover of the offset. A bad offset fails the checks. */
	uint64_t e = load_relaxed(&a->map[p]);
	if (likely(map_kind(e) == MAP_SPAN)) {
		int cls = small_class_of(a, off, e, p);
		if (unlikely(cls < 0))
			return -EINVAL;
		/* Only an allocated block: one never allocated, or freed already, is
		 * refused before any list changes. Relaxed: the block is the caller's. */
		uint8_t *state = block_state(a, off);
		if (unlikely(load_relaxed(state) != BLOCK_ALLOCATED))
			return -EINVAL;
		store_relaxed(state, BLOCK_FREE);
		struct shmrt_arena_cache *c = cache_of(a, idx);
		if (unlikely(map_node(e) != c->node)) {
			*word0(a, off) = 0;
			/* Relaxed: a counter read racily by stats. */
			fetch_add_relaxed(&a->h->retired_bytes, -(int64_t)cls_size[cls]);
			return bin_push(a, map_node(e), (unsigned)cls, UINT32_MAX, J_PUSH_RAW, off, 1);
		}
		struct shmrt_arena_ccls *cc = &c->c[cls];
		if (likely(cc->n < cls_batch[cls])) {
			*word0(a, off) = cc->cur;
			/* F1: release: the link is written before the block joins the list
			 * (reclaim walks it after our death). */
			store_release(&cc->cur, off);
			cc->n++;
			c->bytes -= cls_size[cls];
			return 0;
		}
		return free_small_slow(a, idx, (unsigned)cls, off);
	}
	if (map_kind(e) == MAP_LARGE && (e & MAP_HEAD) && off == page_off(a, p)) {
		shmrt__ext_release(a, off, (uint64_t)map_n(e) * SHMRT_ARENA_PAGE);
		shmrt__ext_free(a, off);
		return 0;
	}
	return -EINVAL;
}

size_t shmrt__arena_usable_size(shmrt_arena_t *a, uint64_t off)
{
	if (off < a->pages_off || off >= page_off(a, a->npages))
		return 0;
	uint32_t p = (uint32_t)((off - a->pages_off) / SHMRT_ARENA_PAGE);
	/* Relaxed: as in shmrt__arena_free(), the word of an extent the caller owns. */
	uint64_t e = load_relaxed(&a->map[p]);
	if (map_kind(e) == MAP_SPAN) {
		int cls = small_class_of(a, off, e, p);
		return cls < 0 ? 0 : cls_size[cls];
	}
	if (map_kind(e) == MAP_LARGE && (e & MAP_HEAD) && off == page_off(a, p))
		return (size_t)map_n(e) * SHMRT_ARENA_PAGE;
	return 0;
}

/* ---- caches ------------------------------------------------------------------ */

void shmrt__arena_cache_attach(shmrt_arena_t *a, uint32_t idx, uint32_t node)
{
	struct shmrt_arena_cache *c = cache_of(a, idx);
	c->node = node < a->nnodes ? node : 0;
	c->attached = 1;
}

/* Length of a free list, checking every block; a bad link ends the list there
 * (what lies beyond is lost, nothing is dereferenced). 0 if the head is bad. */
static uint32_t list_len(shmrt_arena_t *a, uint64_t head, uint32_t cap, unsigned node,
			 unsigned cls)
{
	uint32_t n = 0;
	uint64_t prev = 0;
	while (head && n < cap) {
		if (!free_block(a, head, node, cls)) {
			if (prev)
				*word0(a, prev) = 0;
			break;
		}
		n++;
		prev = head;
		head = *word0(a, head);
	}
	if (n == cap && prev)
		*word0(a, prev) = 0;
	return n;
}

void shmrt__arena_cache_reclaim(shmrt_arena_t *a, uint32_t idx)
{
	if (idx >= a->ncaches)
		return;
	struct shmrt_arena_cache *c = cache_of(a, idx);
	unsigned node = c->node;
	for (unsigned cls = 0; cls < SHMRT_ARENA_NCLS; cls++) {
		struct shmrt_arena_ccls *cc = &c->c[cls];
		if (cc->cur && cc->cur == cc->spare)
			cc->cur = 0, cc->n = 0; /* died moving one list between the two */
		uint32_t cap = 2 * cls_batch[cls] + 1, n;
		if (node >= a->nnodes) { /* corrupted: nothing in it can be trusted */
			memset(cc, 0, sizeof(*cc));
			continue;
		}
		if (cc->spare && (n = list_len(a, cc->spare, cap, node, cls)))
			(void)bin_push(a, node, cls, idx, J_PUSH_SPARE, cc->spare, n);
		cc->spare = 0, cc->spare_n = 0;
		if (cc->cur && (n = list_len(a, cc->cur, cap, node, cls)))
			(void)bin_push(a, node, cls, idx, J_PUSH_CUR, cc->cur, n);
		cc->cur = 0, cc->n = 0;
	}
	/* F3: acq_rel exchange. The count is the only word of the cache that stats read
	 * without its owner (relaxed); the dead owner's plain stores to it are ours to
	 * read since its death, and the record's release (TR3, core/registry.c) publishes
	 * the emptied cache to its next owner. Relaxed would do; the order is kept. */
	int64_t bytes = exchange_acq_rel(&c->bytes, 0);
	/* Relaxed: a counter read racily by stats. */
	fetch_add_relaxed(&a->h->retired_bytes, bytes);
	c->attached = 0;
}

/* ---- statistics and checking ---------------------------------------------------- */

void shmrt__arena_stats(shmrt_arena_t *a, struct shmrt_arena_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->pages = a->npages;
	/* Relaxed, all of them: counters read racily (written under ext_lock, a bin lock,
	 * or by a cache's owner); the sums are approximate by design. */
	st->pages_used = load_relaxed(&a->h->pages_used);
	st->pages_committed = load_relaxed(&a->h->pages_committed);
	st->large_bytes_in_use = load_relaxed(&a->h->large_bytes);
	st->nnodes = a->nnodes;
	for (uint32_t i = 0; i < a->nnodes * SHMRT_ARENA_NCLS; i++)
		st->small_blocks_total += load_relaxed(&a->bins[i].blocks_total);
	int64_t bytes = load_relaxed(&a->h->retired_bytes);
	for (uint32_t i = 0; i < a->ncaches; i++)
		bytes += load_relaxed(&cache_of(a, i)->bytes);
	st->small_bytes_in_use = bytes;
}

void shmrt__arena_class_info(unsigned cls, uint32_t *size, uint32_t *per_span,
			     uint32_t *span_pages, uint32_t *batch)
{
	*size = cls_size[cls];
	*per_span = cls_per_span[cls];
	*span_pages = cls_span_pages[cls];
	*batch = cls_batch[cls];
}
