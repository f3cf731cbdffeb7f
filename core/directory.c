/*
 * The directory: named objects in a region, so that unrelated executables attach to
 * "counter" or "tasks" by name. Lookups are rare (once per attach), so the directory
 * is a plain table under one robust mutex, scanned linearly.
 *
 * Entry life cycle: FREE -> CREATING -> READY -> (remove) CREATING -> FREE.
 * CREATING is only ever seen by a process that took the lock from a dead holder; its
 * recovery frees the memory the entry names (if any) and frees the entry. Creation
 * stores the offset only after the allocation returned, and removal clears it before
 * freeing, so a death can leak one block but never free one twice.
 *
 * Everything read from an entry is bounds-checked before use (a corrupted region may
 * hold anything): names must be terminated, offsets and sizes must lie in the arena.
 *
 * Memory ordering. The directory's robust mutex (dir_lock in the header) protects
 * every entry and nobjects: every read of them, recovery included, holds it, so
 * lookups are ordered by the lock's acquire and release and read plainly. The
 * release stores of an entry's state and offset are needed only because of recovery
 * by another process: a holder killed at any instruction leaves its stores in
 * program order up to each release, and the next locker reads them after EOWNERDEAD
 * (the acquire of shmrt__pmutex_lock, then dir_recover()). Labels:
 *   D1  state = CREATING: the entry's words first (its offset zeroed), so recovery
 *       never frees a stale offset
 *   D2  offset stored (after the allocation) or cleared (before the free): the block
 *       is out of the arena's hands (its F1, B1 or X1) before the entry names it,
 *       and CREATING (D1) is visible before the entry stops naming it
 *   D3  state = FREE: the offset is cleared and the block freed first
 *   D4  state = READY: the zeroed, initialised object and the entry first; a holder
 *       killed after it leaves a complete object, which recovery keeps
 * nobjects is written plainly under the lock and read racily (relaxed) by
 * shmrt_region_stats() (region_info.c).
 */
#define _GNU_SOURCE
#include "region_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static void dir_recover(void *ctx)
{
	struct shmrt_region *r = ctx;
	uint32_t rec = shmrt__thread_rec(r);
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->geo.max_objects; i++) {
		struct shmrt_dir_entry *e = &r->dir[i];
		if (e->state == DIR_CREATING) {
			uint64_t off = e->off;
			e->off = 0;
			if (off && rec != REC_NONE)
				(void)shmrt__arena_free(&r->arena, rec, off);
			/* D3: the offset cleared and the block freed before the entry is
			 * free (a recoverer killed before it recovers the entry again). */
			store_release(&e->state, DIR_FREE);
		}
		n += e->state == DIR_READY;
	}
	r->hdr->nobjects = n;
}

static int dir_lock(struct shmrt_region *r)
{
	return shmrt__pmutex_lock(&r->hdr->dir_lock, r->fd, dir_recover, r);
}

static void dir_unlock(struct shmrt_region *r)
{
	shmrt__pmutex_unlock(&r->hdr->dir_lock);
}

static int entry_ok(const struct shmrt_region *r, const struct shmrt_dir_entry *e)
{
	uint64_t lo = r->geo.arena_off, hi = r->geo.size;
	return memchr(e->name, 0, sizeof(e->name)) && e->off >= lo && e->off < hi &&
	       e->size <= hi - e->off;
}

static void fill_info(const struct shmrt_dir_entry *e, shmrt_object_info_t *info)
{
	memset(info, 0, sizeof(*info));
	memcpy(info->name, e->name, sizeof(info->name) - 1);
	info->type = e->type;
	info->off = e->off;
	info->size = e->size;
	info->creator_pid = (pid_t)e->creator_pid;
	info->created_ns = e->created_ns;
	info->meta[0] = e->meta[0];
	info->meta[1] = e->meta[1];
}

static struct shmrt_dir_entry *find(struct shmrt_region *r, const char *name)
{
	for (uint32_t i = 0; i < r->geo.max_objects; i++) {
		struct shmrt_dir_entry *e = &r->dir[i];
		if (e->state == DIR_READY && !strncmp(e->name, name, sizeof(e->name)))
			return e;
	}
	return NULL;
}

int shmrt__object_open(struct shmrt_region *r, const char *name, int oflags,
		       uint32_t type, uint64_t size, const shmrt_placement_t *pl,
		       shmrt__obj_init_fn init, void *ctx, shmrt_object_info_t *info)
{
	if (!r || type == SHMRT_TYPE_NONE || ((oflags & SHMRT_O_CREATE) && size == 0) ||
	    (oflags & ~(SHMRT_O_CREATE | SHMRT_O_EXCL)))
		return -EINVAL;
	int rc = shmrt__name_valid(name, SHMRT_OBJNAME_MAX);
	if (rc)
		return rc;
	if ((oflags & SHMRT_O_CREATE) && !r->attached)
		return -EPERM;
	if ((rc = dir_lock(r)))
		return rc;
	struct shmrt_dir_entry *e = find(r, name);
	if (e) {
		if (!entry_ok(r, e))
			rc = -EBADMSG;
		else if ((oflags & SHMRT_O_CREATE) && (oflags & SHMRT_O_EXCL))
			rc = -EEXIST;
		else if (e->type != type)
			rc = -EPROTOTYPE;
		else if (size > e->size)
			rc = -EMSGSIZE;
		else if (info)
			fill_info(e, info);
		dir_unlock(r);
		return rc;
	}
	if (!(oflags & SHMRT_O_CREATE)) {
		dir_unlock(r);
		return -ENOENT;
	}
	for (uint32_t i = 0; i < r->geo.max_objects && !e; i++)
		if (r->dir[i].state == DIR_FREE)
			e = &r->dir[i];
	uint32_t rec = shmrt__thread_rec(r);
	if (!e || rec == REC_NONE) {
		dir_unlock(r);
		return e ? -EUSERS : -ENOSPC;
	}
	memset(e, 0, sizeof(*e));
	strcpy(e->name, name);
	e->type = type;
	e->size = size;
	e->creator_pid = (uint32_t)getpid();
	e->created_ns = real_ns();
	/* D1: release: the entry's words (its offset zeroed by the memset) before
	 * CREATING, which recovery after our death reads (see top). */
	store_release(&e->state, DIR_CREATING);
	uint64_t off;
	rc = shmrt__arena_alloc(&r->arena, rec, size, pl, &off);
	if (rc == -ENOMEM)
		rc = -ENOSPC; /* the arena's "no run large enough": the region is full */
	if (!rc) {
		/* D2: release: the block has left our cache or the bin (the arena's F1,
		 * B1), or the map committed the extent (X1), before the entry names it:
		 * after our death, recovery frees it once, and reclaiming our cache does
		 * not. */
		store_release(&e->off, off);
		if (size <= SHMRT_SMALL_MAX) /* large extents are fresh zero pages */
			memset(r->pub.base + off, 0, size);
		if (init && (rc = init(r->pub.base + off, size, ctx))) {
			e->off = 0;
			(void)shmrt__arena_free(&r->arena, rec, off);
		}
	}
	if (rc) {
		store_release(&e->state, DIR_FREE); /* D3 */
	} else {
		/* D4: release: the zeroed, initialised object is complete before READY.
		 * Processes that find the entry READY do so under the directory lock,
		 * which orders it for them; the release is needed only for recovery by
		 * another process: a holder killed after this store leaves a complete
		 * object, which recovery keeps. */
		store_release(&e->state, DIR_READY);
		r->hdr->nobjects++;
		if (info) {
			fill_info(e, info);
			info->created = true;
		}
	}
	dir_unlock(r);
	return rc;
}

int shmrt_object_open(shmrt_region_t *r, const char *name, int oflags, uint32_t type,
		      uint64_t size, const shmrt_placement_t *placement, shmrt_object_info_t *info)
{
	if (oflags & ~(SHMRT_O_CREATE | SHMRT_O_EXCL))
		return -EINVAL;
	return shmrt__object_open(r, name, oflags, type, size, placement, NULL, NULL, info);
}

int shmrt_object_lookup(shmrt_region_t *r, const char *name, shmrt_object_info_t *info)
{
	if (!r || !info)
		return -EINVAL;
	int rc = shmrt__name_valid(name, SHMRT_OBJNAME_MAX);
	if (rc)
		return rc;
	if ((rc = dir_lock(r)))
		return rc;
	struct shmrt_dir_entry *e = find(r, name);
	rc = !e ? -ENOENT : !entry_ok(r, e) ? -EBADMSG : 0;
	if (!rc)
		fill_info(e, info);
	dir_unlock(r);
	return rc;
}

int shmrt_object_list(shmrt_region_t *r, shmrt_object_info_t *arr, size_t cap, size_t *count)
{
	if (!r || !count || (cap && !arr))
		return -EINVAL;
	int rc = dir_lock(r);
	if (rc)
		return rc;
	size_t n = 0;
	for (uint32_t i = 0; i < r->geo.max_objects; i++) {
		struct shmrt_dir_entry *e = &r->dir[i];
		if (e->state != DIR_READY || !entry_ok(r, e))
			continue;
		if (n < cap)
			fill_info(e, &arr[n]);
		n++;
	}
	dir_unlock(r);
	*count = n;
	return 0;
}

/* Removes a READY entry and frees its object. Caller holds the directory lock. */
static void remove_entry(struct shmrt_region *r, struct shmrt_dir_entry *e, uint32_t rec)
{
	uint64_t off = e->off;
	/* D1: CREATING, so that a death from here on has recovery finish the removal. */
	store_release(&e->state, DIR_CREATING);
	/* D2: CREATING (D1) before the entry stops naming the block; the free below
	 * comes after (the arena's own releases, F1 or B1/X1 on its other paths, keep
	 * this store before the block is free). A death in between leaks the block,
	 * never frees it twice. */
	store_release(&e->off, 0);
	(void)shmrt__arena_free(&r->arena, rec, off);
	store_release(&e->state, DIR_FREE); /* D3 */
	r->hdr->nobjects--;
}

int shmrt_object_remove(shmrt_region_t *r, const char *name)
{
	if (!r)
		return -EINVAL;
	int rc = shmrt__name_valid(name, SHMRT_OBJNAME_MAX);
	if (rc)
		return rc;
	if (!r->attached)
		return -EPERM;
	uint32_t rec = shmrt__thread_rec(r);
	if (rec == REC_NONE)
		return -EUSERS;
	if ((rc = dir_lock(r)))
		return rc;
	struct shmrt_dir_entry *e = find(r, name);
	if (!e || !entry_ok(r, e)) {
		dir_unlock(r);
		return e ? -EBADMSG : -ENOENT;
	}
	remove_entry(r, e, rec);
	dir_unlock(r);
	return 0;
}

int shmrt__object_remove_at(struct shmrt_region *r, uint64_t off, uint32_t type)
{
	if (!r->attached)
		return -EPERM;
	uint32_t rec = shmrt__thread_rec(r);
	if (rec == REC_NONE)
		return -EUSERS;
	int rc = dir_lock(r);
	if (rc)
		return rc;
	rc = -ENOENT;
	for (uint32_t i = 0; i < r->geo.max_objects; i++) {
		struct shmrt_dir_entry *e = &r->dir[i];
		if (e->state == DIR_READY && e->off == off && e->type == type && entry_ok(r, e)) {
			remove_entry(r, e, rec);
			rc = 0;
			break;
		}
	}
	dir_unlock(r);
	return rc;
}

