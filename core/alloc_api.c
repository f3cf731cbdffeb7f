/*
 * Public allocation calls: resolve the calling thread's registry record (its cache)
 * and hand over to the arena. See shmrt/alloc.h for the contracts.
 *
 * Memory ordering: nothing of its own. The record lookup is the registry's
 * (registry.c; its fast path reads thread-local state only), and the arena orders
 * its shared words (alloc/arena.c).
 */
#define _GNU_SOURCE
#include "region_int.h"
#include "shmrt/alloc.h"

#include <errno.h>

static int no_rec(const struct shmrt_region *r)
{
	return r->attached ? -EUSERS : -EPERM;
}

int shmrt_alloc(shmrt_region_t *r, size_t size, shmrt_off_t *off)
{
	if (unlikely(!r || !off))
		return -EINVAL;
	uint32_t rec = shmrt__thread_rec(r);
	if (unlikely(rec == REC_NONE))
		return no_rec(r);
	return shmrt__arena_alloc(&r->arena, rec, size, NULL, off);
}

int shmrt_alloc_placed(shmrt_region_t *r, size_t size, const shmrt_placement_t *pl,
		       shmrt_off_t *off)
{
	if (!r || !off)
		return -EINVAL;
	uint32_t rec = shmrt__thread_rec(r);
	if (unlikely(rec == REC_NONE))
		return no_rec(r);
	return shmrt__arena_alloc(&r->arena, rec, size, pl, off);
}

int shmrt_free(shmrt_region_t *r, shmrt_off_t off)
{
	if (unlikely(!r))
		return -EINVAL;
	uint32_t rec = shmrt__thread_rec(r);
	if (unlikely(rec == REC_NONE))
		return no_rec(r);
	return shmrt__arena_free(&r->arena, rec, off);
}

size_t shmrt_usable_size(shmrt_region_t *r, shmrt_off_t off)
{
	if (!r)
		return 0;
	return shmrt__arena_usable_size(&r->arena, off);
}
