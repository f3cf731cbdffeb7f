/*
 * Consistency check of a quiescent arena (tests, `shmrt info --check`).
 *
 * Walks the page map (every page covered by exactly one run or extent, free runs
 * tagged at both ends, interiors pointing back to their head), then every bin's
 * batches and every cache's lists, checking that each free block lies in a span of
 * the right class and node, starts a block, and is found only once. Counts free
 * blocks against the capacity of the carved spans, and counts the blocks marked
 * allocated: with nothing lost, free + allocated = capacity; a leak or a lost batch
 * shows as a difference. A block in a free list must be marked free.
 *
 * Memory ordering: no atomic of its own. The map is read under ext_lock and each
 * bin's batches under its lock (plain loads, ordered by the locks' acquire); taking
 * them also runs a dead holder's recovery first. Caches are read without their
 * owners' cooperation, plainly: the caller guarantees a quiescent arena (no thread
 * allocating or freeing), so nothing changes under the walk.
 */
#define _GNU_SOURCE
#include "arena_int.h"

#include <errno.h>
#include <stdlib.h>

struct walk {
	shmrt_arena_t *a;
	uint8_t *seen; /* one bit per 16-byte unit of the page space */
	struct shmrt_arena_check *out;
};

static int fail(struct walk *w, const char *why)
{
	if (!w->out->why)
		w->out->why = why;
	return -EBADMSG;
}

static int visit_block(struct walk *w, uint64_t off, unsigned node, unsigned cls)
{
	shmrt_arena_t *a = w->a;
	if (off < a->pages_off || off >= page_off(a, a->npages) || (off & 15))
		return fail(w, "free block outside the page space");
	uint32_t p = (uint32_t)((off - a->pages_off) / SHMRT_ARENA_PAGE);
	uint64_t e = a->map[p];
	if (map_kind(e) != MAP_SPAN || map_cls(e) != cls || map_node(e) != node)
		return fail(w, "free block not in a span of its class and node");
	if (shmrt__arena_usable_size(a, off) != shmrt__arena_class_size(cls))
		return fail(w, "free block does not start a block");
	uint64_t unit = (off - a->pages_off) / 16;
	if (w->seen[unit / 8] & (1u << (unit % 8)))
		return fail(w, "block is free twice");
	if (*block_state(a, off) != BLOCK_FREE)
		return fail(w, "a block in a free list is marked allocated");
	w->seen[unit / 8] |= (uint8_t)(1u << (unit % 8));
	w->out->small_free++;
	return 0;
}

static int walk_list(struct walk *w, uint64_t head, uint32_t expect, unsigned node, unsigned cls)
{
	uint32_t n = 0;
	int rc = 0;
	while (head && !rc) {
		rc = visit_block(w, head, node, cls);
		if (++n > (1u << 20))
			return fail(w, "free list does not end");
		head = *word0(w->a, head);
	}
	if (!rc && expect != UINT32_MAX && n != expect)
		return fail(w, "batch count does not match its list");
	return rc;
}

static int check_map(struct walk *w)
{
	shmrt_arena_t *a = w->a;
	uint32_t p = 0;
	while (p < a->npages) {
		uint64_t e = a->map[p];
		uint32_t n = map_n(e);
		if (!(e & MAP_HEAD) || n == 0 || (uint64_t)p + n > a->npages)
			return fail(w, "page map: page not covered by a run head");
		if (map_kind(e) == MAP_FREE) {
			if (n > 1 && a->map[p + n - 1] != map_make(MAP_FREE, MAP_TAIL, 0, 0, n))
				return fail(w, "page map: free run without its tail tag");
			for (uint32_t i = 1; i + 1 < n; i++)
				if (a->map[p + i])
					return fail(w, "page map: dirty free interior");
			w->out->free_pages += n;
			if (p + n < a->npages && map_kind(a->map[p + n]) == MAP_FREE)
				return fail(w, "page map: adjacent free runs not coalesced");
		} else {
			for (uint32_t i = 1; i < n; i++) {
				uint64_t f = a->map[p + i];
				if (map_kind(f) != map_kind(e) || map_n(f) != i || (f & MAP_HEAD))
					return fail(w, "page map: bad extent interior");
			}
			if (map_kind(e) == MAP_LARGE) {
				w->out->large_pages += n;
				w->out->large_extents++;
			} else {
				uint32_t sz, per, sp, b;
				shmrt__arena_class_info(map_cls(e), &sz, &per, &sp, &b);
				if (map_cls(e) >= SHMRT_ARENA_NCLS || sp != n)
					return fail(w, "page map: bad span");
				w->out->span_pages += n;
				if (e & MAP_CARVED) {
					w->out->small_total += per;
					uint64_t s0 = page_off(a, p);
					for (uint32_t k = 0; k < per; k++)
						w->out->small_allocated +=
							*block_state(a, s0 + (uint64_t)k * sz) ==
							BLOCK_ALLOCATED;
				}
			}
		}
		p += n;
	}
	return 0;
}

int shmrt__arena_check(shmrt_arena_t *a, struct shmrt_arena_check *out)
{
	struct shmrt_arena_check zero = { 0 };
	zero.probe = out->probe;
	zero.nprobe = out->nprobe;
	zero.probe_free = out->probe_free;
	*out = zero;
	struct walk w = { .a = a, .out = out };
	w.seen = calloc(((uint64_t)a->npages * SHMRT_ARENA_PAGE / 16 + 7) / 8, 1);
	if (!w.seen)
		return -ENOMEM;

	/* Taking ext_lock and each bin lock runs any pending crash recovery first. */
	int rc = shmrt__ext_lock(a);
	if (!rc) {
		rc = check_map(&w);
		shmrt__pmutex_unlock(&a->h->ext_lock);
	}
	for (unsigned node = 0; !rc && node < a->nnodes; node++) {
		for (unsigned cls = 0; !rc && cls < SHMRT_ARENA_NCLS; cls++) {
			struct shmrt_arena_bin *b = bin_of(a, node, cls);
			/* Locking through the arena runs a dead holder's recovery first. */
			if ((rc = shmrt__arena_bin_lock(a, node, cls)) == 0) {
				uint64_t batch = b->head;
				uint32_t guard = 0;
				while (batch && !rc) {
					uint64_t w1 = *word1(a, batch);
					rc = walk_list(&w, batch, (uint32_t)(w1 >> 48), node, cls);
					batch = w1 & BATCH_NEXT_MASK;
					if (++guard > (1u << 24))
						rc = fail(&w, "bin list does not end");
				}
				shmrt__pmutex_unlock(&b->lock);
			}
		}
	}
	uint64_t in_bins = out->small_free;
	for (uint32_t i = 0; !rc && i < a->ncaches; i++) {
		struct shmrt_arena_cache *c = cache_of(a, i);
		for (unsigned cls = 0; !rc && cls < SHMRT_ARENA_NCLS; cls++) {
			rc = walk_list(&w, c->c[cls].cur, UINT32_MAX, c->node, cls);
			if (!rc)
				rc = walk_list(&w, c->c[cls].spare, UINT32_MAX, c->node, cls);
		}
	}
	out->cached = out->small_free - in_bins;
	for (size_t i = 0; !rc && i < out->nprobe; i++) {
		uint64_t off = out->probe[i], unit = (off - a->pages_off) / 16;
		int in = off >= a->pages_off && off < page_off(a, a->npages);
		out->probe_free[i] = in && (w.seen[unit / 8] & (1u << (unit % 8)));
	}
	if (!rc && out->free_pages + out->large_pages + out->span_pages != a->npages)
		rc = fail(&w, "page map: pages do not add up");
	free(w.seen);
	return rc;
}
