/*
 * Regions: inspection. The accessors of a handle (base, size, name, fd, created) and
 * the two listings of tools and tests: the processes attached (shmrt_region_procs)
 * and the region's statistics (shmrt_region_stats).
 *
 * Nothing here writes to the region. The accessors read the handle's private copy of
 * the validated geometry (region.c), never the shared header, so a damaged header
 * changes nothing they return. The listings are racy snapshots: a process may attach
 * or leave while they run; a slot's liveness is judged by pid and start time
 * (registry.c).
 *
 * Memory ordering: SL5 (registry.c), an acquire load of a slot's ctl word, pairs with
 * SL2 so that an ACTIVE slot's start time and generation are those it was published
 * with; the counts (threads, objects) are relaxed racy reads, for display.
 */
#include "region_int.h"

#include <errno.h>
#include <string.h>

void *shmrt_region_base(const shmrt_region_t *r)
{
	return r ? r->pub.base : NULL;
}
size_t shmrt_region_size(const shmrt_region_t *r)
{
	return r ? r->pub.size : 0;
}
const char *shmrt_region_name(const shmrt_region_t *r)
{
	return r ? r->geo.name : NULL;
}
int shmrt_region_fd(const shmrt_region_t *r)
{
	if (!r)
		return -EINVAL;
	return r->fd;
}
bool shmrt_region_created(const shmrt_region_t *r)
{
	return r && r->created;
}

int shmrt_region_procs(shmrt_region_t *r, shmrt_proc_info_t *arr, size_t cap, size_t *count)
{
	if (!r || !count || (cap && !arr))
		return -EINVAL;
	size_t n = 0;
	uint32_t np = r->geo.max_procs;
	for (uint32_t i = 0; i < np; i++) {
		struct shmrt_proc_slot *s = &r->procs[i];
		/* SL5 (registry.c): acquire, pairs with SL2: an ACTIVE slot's start time
		 * and generation, read below, are those it was published with. */
		uint64_t ctl = load_acquire(&s->ctl);
		if (!ctl)
			continue;
		if (n < cap) {
			shmrt_proc_info_t *p = &arr[n];
			/* Relaxed: after SL5 above; the whole listing is a racy snapshot. */
			uint32_t gen = load_relaxed(&s->gen), th = 0;
			uint64_t want = ((uint64_t)(i + 1) << 32) | gen;
			/* Relaxed: a count for display. */
			for (uint32_t t = 0; t < r->geo.max_threads; t++)
				th += (load_relaxed(&r->threads[t].ctl) & ~(1ull << 63)) == want;
			p->slot = i;
			p->pid = (pid_t)(ctl >> 8);
			p->start_time = s->start_time;
			p->attached_ns = s->attached_ns;
			p->threads = th;
			p->state = (ctl & 0xff) == SLOT_CLAIMING ? SHMRT_PROC_ATTACHING
				   : shmrt__slot_alive(r, i, ctl) ? SHMRT_PROC_ALIVE
								  : SHMRT_PROC_DEAD;
		}
		n++;
	}
	*count = n;
	return 0;
}

int shmrt_region_stats(shmrt_region_t *r, shmrt_region_stats_t *st)
{
	if (!r || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	const struct shmrt_geom *g = &r->geo;
	struct shmrt_arena_stats as;
	shmrt__arena_stats(&r->arena, &as);
	st->size = g->size;
	st->arena_bytes = as.pages * SHMRT_ARENA_PAGE;
	st->arena_used = as.pages_used * SHMRT_ARENA_PAGE;
	st->arena_committed = as.pages_committed * SHMRT_ARENA_PAGE;
	st->small_bytes_in_use = as.small_bytes_in_use > 0 ? (uint64_t)as.small_bytes_in_use : 0;
	st->large_bytes_in_use = as.large_bytes_in_use;
	for (uint32_t i = 0; i < g->max_procs; i++) {
		/* SL5 (registry.c): acquire, for the liveness check's start time. */
		uint64_t ctl = load_acquire(&r->procs[i].ctl);
		if (ctl && shmrt__slot_alive(r, i, ctl))
			st->procs_alive++;
		else if (ctl)
			st->procs_dead++;
	}
	/* Relaxed: statistics, racy by nature (nobjects is written under dir_lock). */
	for (uint32_t i = 0; i < g->max_threads; i++)
		st->threads += load_relaxed(&r->threads[i].ctl) != 0;
	st->objects = load_relaxed(&r->hdr->nobjects);
	st->max_objects = g->max_objects;
	st->max_procs = g->max_procs;
	st->max_threads = g->max_threads;
	st->flags = g->flags;
	st->numa_nodes = g->nnodes;
	st->creator_pid = (pid_t)g->creator_pid;
	st->created_ns = g->created_ns;
	st->layout_version = g->layout_version;
	return 0;
}
