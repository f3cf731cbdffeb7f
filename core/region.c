/*
 * Regions: the protocol that creates, validates, attaches to and detaches from the
 * shared mapping that holds everything else. The backing file (names, paths, the
 * creator's lock, unlinking, stale regions) is in region_backing.c; the read-only
 * inspection calls (accessors, procs, stats) are in region_info.c.
 *
 * Creation is race-free. Where the file system has O_TMPFILE, the region is created
 * complete in an unnamed file, attached to, then linked under its name (linkat fails
 * if the name exists): no process ever sees it half made (create_unnamed). Elsewhere
 * the creator opens the name with O_CREAT|O_EXCL and, before anything else, takes an
 * open-file-description write lock on the file, then writes the magic. It sizes the
 * file (sparse), commits the metadata pages (fallocate: a full /dev/shm fails here
 * with -ENOSPC, not later with SIGBUS), writes the geometry and its checksum, lays out
 * registry, directory and arena, then publishes READY with a release store and drops
 * the lock. An opener that finds the region not READY waits, bounded, while the lock
 * is held; if it can take the lock itself, the creator died during initialisation:
 * the region is stale (reported as -ESTALE, or replaced when the opener may create).
 * The kernel drops the lock of a dead process, so no pid guessing is involved.
 *
 * Validation on open, before anything in the region is trusted: file size against
 * the header, magic, layout version, geometry checksum, every offset and count
 * recomputed from the sizes and compared, then the arena's own header. A truncated,
 * foreign or corrupted file gives -EBADMSG, an unknown layout -EPROTONOSUPPORT.
 *
 * Lifetime: attach and detach serialise on the header's robust life_lock with the
 * `unlinked` flag, so an auto-unlink region is unlinked by the last process to leave
 * (or by gc, once every attached process is dead), and never while a live process is
 * attached: an opener that loses the race sees `unlinked` and retries or gets -ENOENT.
 *
 * Memory ordering. R1, the creator's release store of READY, pairs with A1, the
 * opener's acquire load of it in wait_ready(): the geometry, the locks, registry,
 * directory and arena written before READY are complete for whoever sees it, and the
 * geometry never changes afterwards (plain reads). life_lock protects `unlinked` (its
 * accesses are relaxed atomics, ordered by the lock) and the decision to attach or to
 * unlink. The registry's words are ordered by the registry's labels (registry.c;
 * SL5 in region_info.c's listings, whose statistics are relaxed racy reads). The list
 * of handles and next_handle_id are process-local, under shmrt__handles_lock.
 */
#define _GNU_SOURCE
#include "region_backing_int.h"
#include "region_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t next_handle_id = 1;

uint64_t shmrt__fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h;
}

void shmrt_region_opts_init(shmrt_region_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	o->open_timeout = -1;
}

struct geometry {
	uint64_t size, procs_off, threads_off, dir_off, arena_off, arena_len;
};

static uint64_t round_page(uint64_t x)
{
	return (x + 4095) & ~4095ull;
}

static int compute_geometry(uint64_t size, uint32_t mp, uint32_t mt, uint32_t mo,
			    uint32_t nnodes, struct geometry *g)
{
	if (!mp || mp > SHMRT_MAX_PROCS_LIMIT || !mt || mt > SHMRT_MAX_THREADS_LIMIT || !mo ||
	    mo > SHMRT_MAX_OBJECTS_LIMIT || size > SHMRT_REGION_MAX_SIZE || size % 4096)
		return -EINVAL;
	g->size = size;
	g->procs_off = SHMRT_HDR_SIZE;
	g->threads_off = g->procs_off + (uint64_t)mp * sizeof(struct shmrt_proc_slot);
	g->dir_off = g->threads_off + (uint64_t)mt * sizeof(struct shmrt_thread_rec);
	g->arena_off = round_page(g->dir_off + (uint64_t)mo * sizeof(struct shmrt_dir_entry));
	if (g->arena_off >= size)
		return -EINVAL;
	g->arena_len = size - g->arena_off;
	return shmrt__arena_meta_bytes(g->arena_len, mt, nnodes) ? 0 : -EINVAL;
}

static int map_region(struct shmrt_region *r, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Never in a core dump: the kernel dumps an anonymous (memfd) region as shared
	 * anonymous memory, touching every page of its size (what /dev/shm can hold, by
	 * default): one crash would write and allocate tens of GiB. A named region is
	 * file-backed shared memory, not dumped by default either, and outlives the
	 * crash for inspection (shmrt info). Advice only: its failure changes nothing. */
	(void)madvise(p, size, MADV_DONTDUMP);
	r->pub.base = p;
	r->pub.size = size;
	r->hdr = p;
	return 0;
}

static void set_pointers(struct shmrt_region *r)
{
	const struct shmrt_geom *g = &r->geo;
	r->procs = (struct shmrt_proc_slot *)(void *)(r->pub.base + g->procs_off);
	r->threads = (struct shmrt_thread_rec *)(void *)(r->pub.base + g->threads_off);
	r->dir = (struct shmrt_dir_entry *)(void *)(r->pub.base + g->dir_off);
}

static int create_region(struct shmrt_region *r, const char *name, const shmrt_region_opts_t *o)
{
	uint64_t size = round_page(o->size ? o->size : shmrt__backing_default_size(name, r->backing));
	uint32_t mp = o->max_procs ? o->max_procs : 64, mt = o->max_threads ? o->max_threads : 256,
		 mo = o->max_objects ? o->max_objects : 256, nnodes = shmrt__numa_nnodes();
	struct geometry geo;
	int rc = compute_geometry(size, mp, mt, mo, nnodes, &geo);
	if (rc)
		return rc;
	if (fchmod(r->fd, o->mode ? o->mode : 0600) && r->backing != SHMRT_BACKING_MEMFD)
		return -errno;
	/* The magic first, before the size: a file at a region's name that has no magic is
	 * never taken for a region, or removed as one (in-place creation, below). */
	uint64_t magic = SHMRT_MAGIC;
	if (pwrite(r->fd, &magic, sizeof(magic), 0) != (ssize_t)sizeof(magic))
		return errno == ENOSPC ? -ENOSPC : -EIO;
	if (ftruncate(r->fd, (off_t)size))
		return errno == EFBIG || errno == ENOSPC ? -ENOSPC : -errno;
	if ((rc = map_region(r, size)))
		return rc;
	/* Commit header, registry and directory pages; the arena commits its own. */
	if (fallocate(r->fd, 0, 0, (off_t)geo.arena_off) && errno != EOPNOTSUPP)
		return errno == ENOSPC ? -ENOSPC : -errno;

	struct shmrt_geom *g = &r->hdr->g;
	g->magic = SHMRT_MAGIC;
	g->layout_version = SHMRT_LAYOUT_VERSION;
	g->hdr_size = SHMRT_HDR_SIZE;
	g->size = size;
	g->created_ns = real_ns();
	g->flags = o->flags & SHMRT_REGION_AUTO_UNLINK;
	g->creator_pid = (uint32_t)getpid();
	int alive;
	g->creator_start = shmrt__proc_start_time(getpid(), &alive);
	g->max_procs = mp;
	g->max_threads = mt;
	g->max_objects = mo;
	g->nnodes = nnodes;
	g->procs_off = geo.procs_off;
	g->threads_off = geo.threads_off;
	g->dir_off = geo.dir_off;
	g->arena_off = geo.arena_off;
	g->arena_len = geo.arena_len;
	g->backing = (uint32_t)r->backing;
	strncpy(g->name, name, sizeof(g->name) - 1);
	g->checksum = shmrt__fnv1a(g, offsetof(struct shmrt_geom, checksum));
	r->geo = *g;
	if ((rc = shmrt__pmutex_init(&r->hdr->life_lock)) ||
	    (rc = shmrt__pmutex_init(&r->hdr->dir_lock)))
		return rc;
	set_pointers(r);
	rc = shmrt__arena_init(&r->arena, r->pub.base, geo.arena_off, geo.arena_len, r->fd, mt,
			       nnodes);
	if (rc)
		return rc;
	/* R1: release, pairs with A1 in wait_ready(): everything above (geometry,
	 * locks, registry, directory, arena) is visible to an opener that sees READY. */
	store_release(&r->hdr->state, STATE_READY);
	return 0;
}

/*
 * Validates a mapped region. Nothing beyond the checked geometry is trusted, and the
 * geometry is checked in the handle's private copy, which is what this process uses
 * from then on: a process that damages the header of a live region later changes
 * nothing that others loop over.
 */
static int validate(struct shmrt_region *r, uint64_t file_size)
{
	memcpy(&r->geo, (const void *)&r->hdr->g, sizeof(r->geo));
	struct shmrt_geom *g = &r->geo;
	if (g->magic != SHMRT_MAGIC)
		return -EBADMSG;
	if (g->layout_version != SHMRT_LAYOUT_VERSION)
		return -EPROTONOSUPPORT;
	if (g->checksum != shmrt__fnv1a(g, offsetof(struct shmrt_geom, checksum)) ||
	    g->hdr_size != SHMRT_HDR_SIZE || g->size > file_size || g->size < SHMRT_HDR_SIZE ||
	    memchr(g->name, 0, sizeof(g->name)) == NULL || g->backing > SHMRT_BACKING_FILE ||
	    g->nnodes == 0 || g->nnodes > SHMRT_MAX_NODES)
		return -EBADMSG;
	struct geometry geo;
	if (compute_geometry(g->size, g->max_procs, g->max_threads, g->max_objects, g->nnodes,
			     &geo) ||
	    geo.procs_off != g->procs_off || geo.threads_off != g->threads_off ||
	    geo.dir_off != g->dir_off || geo.arena_off != g->arena_off ||
	    geo.arena_len != g->arena_len)
		return -EBADMSG;
	return 0;
}

/*
 * Waits until the region is READY. Returns 0; -ESTALE: a region file whose creator
 * died initialising it in place (its magic is there and nobody holds its lock);
 * -EBADMSG: not a region (no magic, or another one: an empty or zero-filled file is
 * not a region); -ETIMEDOUT: a live process is still initialising it.
 */
static int wait_ready(struct shmrt_region *r, shmrt_ns_t timeout)
{
	uint64_t deadline = mono_ns() + (uint64_t)(timeout < 0 ? 5000000000ll : timeout);
	for (;;) {
		struct stat st;
		if (fstat(r->fd, &st))
			return -errno;
		uint64_t magic = 0;
		if ((uint64_t)st.st_size >= SHMRT_HDR_SIZE) {
			const struct shmrt_hdr *h = mmap(NULL, SHMRT_HDR_SIZE, PROT_READ, MAP_SHARED,
							 r->fd, 0);
			if (h == MAP_FAILED)
				return -errno;
			/* A1: acquire, pairs with R1 in create_region(): a READY region is
			 * complete (the caller maps and validates it next). */
			uint32_t state = load_acquire(&h->state);
			magic = h->g.magic;
			munmap((void *)(uintptr_t)h, SHMRT_HDR_SIZE);
			if (state == STATE_READY)
				return 0;
		} else if (st.st_size >= (off_t)sizeof(magic) &&
			   pread(r->fd, &magic, sizeof(magic), 0) != (ssize_t)sizeof(magic)) {
			return -EIO;
		}
		if (magic && magic != SHMRT_MAGIC)
			return -EBADMSG;
		/* Not ready: if nobody holds the creator's lock, nobody is creating it. */
		if (shmrt__ofd_lock(r->fd, F_RDLCK, 0) == 0) {
			struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_len = 1 };
			fcntl(r->fd, F_OFD_SETLK, &fl);
			/* Re-check: the creator may have finished just before unlocking. */
			const struct shmrt_hdr *h = (uint64_t)st.st_size >= SHMRT_HDR_SIZE
				? mmap(NULL, SHMRT_HDR_SIZE, PROT_READ, MAP_SHARED, r->fd, 0)
				: MAP_FAILED;
			/* A1 */
			int ready = h != MAP_FAILED && load_acquire(&h->state) == STATE_READY;
			if (h != MAP_FAILED)
				munmap((void *)(uintptr_t)h, SHMRT_HDR_SIZE);
			if (ready)
				return 0;
			if (magic == SHMRT_MAGIC)
				return -ESTALE; /* a shmrt file: its creator died initialising */
			/* No magic. A creator in place takes its lock right after its O_EXCL
			 * open, and writes the magic before the size: an empty file younger
			 * than a grace period may still be in that window. Anything else is
			 * not a region, and is never removed as one. */
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			if (st.st_size == 0 && now.tv_sec - st.st_ctim.tv_sec < 2 &&
			    mono_ns() < deadline) {
				usleep(1000);
				continue;
			}
			return -EBADMSG;
		}
		if (mono_ns() >= deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

static int attach_existing(struct shmrt_region *r, const shmrt_region_opts_t *o, int oflags)
{
	int rc = wait_ready(r, o ? o->open_timeout : -1);
	if (rc)
		return rc;
	struct stat st;
	if (fstat(r->fd, &st))
		return -errno;
	const struct shmrt_hdr *h = mmap(NULL, SHMRT_HDR_SIZE, PROT_READ, MAP_SHARED, r->fd, 0);
	if (h == MAP_FAILED)
		return -errno;
	uint64_t size = h->g.size;
	munmap((void *)(uintptr_t)h, SHMRT_HDR_SIZE);
	if (size > (uint64_t)st.st_size || size < SHMRT_HDR_SIZE || size % 4096)
		return -EBADMSG;
	if ((rc = map_region(r, size)))
		return rc;
	if ((rc = validate(r, (uint64_t)st.st_size)))
		return rc;
	set_pointers(r);
	if ((rc = shmrt__arena_attach(&r->arena, r->pub.base, r->geo.arena_off,
				      r->geo.arena_len, r->fd)))
		return rc;
	r->backing = (shmrt_backing_t)r->geo.backing;
	if (oflags & SHMRT_O_NOATTACH)
		return 0;
	return 1; /* caller attaches */
}

/*
 * Claims a registry slot. For a region found at its name (found, with the oflags of
 * the open; creators attach to their new region with found = 0), a
 * region that nobody lives in any more is not reused when it was created to go away
 * with its processes (AUTO_UNLINK) or the caller asked for a fresh one (FRESH): it is
 * unlinked as its last process would have done, and -ENOENT sends the caller back to
 * create a new one. With FRESH|EXCL, a region that a live process uses is -EEXIST.
 * The count and the claim are under life_lock, as every detach: a process that
 * attaches is counted by any later check, and none attaches to a region found dead.
 */
static int attach_mode(struct shmrt_region *r, int found, int oflags)
{
	int rc = shmrt__pmutex_lock(&r->hdr->life_lock, r->fd, NULL, NULL);
	if (rc)
		return rc;
	/* Relaxed: under life_lock, as every access to unlinked. */
	if (load_relaxed(&r->hdr->unlinked)) {
		shmrt__pmutex_unlock(&r->hdr->life_lock);
		return -ENOENT;
	}
	if (found && ((oflags & SHMRT_O_FRESH) || (r->geo.flags & SHMRT_REGION_AUTO_UNLINK)) &&
	    r->backing != SHMRT_BACKING_MEMFD) {
		rc = shmrt__live_procs(r) || shmrt__creator_busy(r->fd) ? 0 : -ENOENT;
		if (rc)
			shmrt__region_unlink_if_same(r);
		else if ((oflags & SHMRT_O_FRESH) && (oflags & SHMRT_O_EXCL))
			rc = -EEXIST;
		if (rc) {
			shmrt__pmutex_unlock(&r->hdr->life_lock);
			return rc;
		}
	}
	rc = shmrt__slot_claim(r);
	shmrt__pmutex_unlock(&r->hdr->life_lock);
	if (rc)
		return rc;
	r->attached = 1;
	shmrt__gc(r);
	return 0;
}

static int attach(struct shmrt_region *r)
{
	return attach_mode(r, 0, 0);
}

static void destroy(struct shmrt_region *r)
{
	if (r->pub.base)
		munmap(r->pub.base, r->pub.size);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

static void link_handle(struct shmrt_region *r)
{
	pthread_mutex_lock(&shmrt__handles_lock);
	r->id = next_handle_id++;
	r->next = shmrt__handles;
	shmrt__handles = r;
	pthread_mutex_unlock(&shmrt__handles_lock);
}

static struct shmrt_region *new_handle(const char *name)
{
	size_t n = strlen(name);
	struct shmrt_region *r = calloc(1, sizeof(*r) + n + 1);
	if (!r)
		return NULL;
	memcpy(r->name, name, n + 1);
	r->fd = -1;
	r->slot = REC_NONE;
	return r;
}

/*
 * Creates the region complete before it has a name: an unnamed file (O_TMPFILE) in the
 * name's directory is sized, initialised, made READY and attached to, then linked under
 * the name, which fails if the name exists. So no process ever finds a region in
 * creation at a name, and a creator killed at any point leaves nothing behind.
 * Returns 0 (r created and attached), -EEXIST (the name exists: r is to be discarded),
 * -EOPNOTSUPP (no O_TMPFILE here: create in place), or another error.
 */
static int create_unnamed(struct shmrt_region *r, const char *name, const shmrt_region_opts_t *o)
{
	char path[PATH_MAX], dir[PATH_MAX];
	int rc = shmrt__backing_paths(name, r->backing, path, sizeof(path), dir, sizeof(dir));
	if (rc)
		return rc;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, o->mode ? o->mode : 0600);
	if (fd < 0)
		return errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL ? -EOPNOTSUPP
										 : -errno;
	r->fd = fd;
	if ((rc = create_region(r, name, o)))
		return rc;
	if ((rc = attach(r)))
		return rc;
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno == ENOENT && linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
		return 0; /* no /proc: the same, with CAP_DAC_READ_SEARCH */
	return -errno;
}

/* Creates the region at its name (O_CREAT | O_EXCL), under the creator's OFD lock: for
 * file systems without O_TMPFILE. 0, -EEXIST, or another error. */
static int create_in_place(struct shmrt_region *r, const char *name, const shmrt_region_opts_t *o)
{
	int rc = shmrt__backing_open(name, r->backing, O_RDWR | O_CREAT | O_EXCL,
			      o->mode ? o->mode : 0600);
	if (rc < 0)
		return rc;
	r->fd = rc;
	/* The lock marks "initialising"; it is taken before anyone can see a size, so
	 * openers never mistake a live creator for a dead one. */
	rc = shmrt__ofd_lock(r->fd, F_WRLCK, 1);
	if (!rc)
		rc = create_region(r, name, o);
	if (!rc)
		rc = attach(r);
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_len = 1 };
	fcntl(r->fd, F_OFD_SETLK, &fl);
	if (rc)
		shmrt__unlink_if_ours(name, r->backing, r->fd);
	return rc;
}

static int create_named(struct shmrt_region *r, const char *name, const shmrt_region_opts_t *o)
{
	if (r->backing == SHMRT_BACKING_MEMFD) {
		int fd = shmrt__backing_open(name, r->backing, 0, 0);
		if (fd < 0)
			return fd;
		r->fd = fd;
		int rc = create_region(r, name, o);
		return rc ? rc : attach(r);
	}
	int rc = create_unnamed(r, name, o);
	if (rc != -EOPNOTSUPP)
		return rc;
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	return create_in_place(r, name, o);
}

/* The owner and permissions of an existing region, before anything in it is trusted:
 * it must be the caller's, unless the caller asked for a mode that shares it with
 * others, and its mode no wider than the caller asked for (another user must not be
 * able to plant a region under a name the caller uses, nor read it). */
static int check_owner(int fd, const shmrt_region_opts_t *o)
{
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	mode_t want = o && o->mode ? o->mode : 0600;
	if (st.st_uid != geteuid() && !(want & 077))
		return -EPERM;
	if ((st.st_mode & 07777) & ~want)
		return -EACCES;
	return 0;
}

int shmrt_region_open(const char *name, int oflags, const shmrt_region_opts_t *opts,
		      shmrt_region_t **out)
{
	shmrt_region_opts_t def;
	if (!opts) {
		shmrt_region_opts_init(&def);
		opts = &def;
	}
	if (!out || (unsigned)opts->backing > SHMRT_BACKING_FILE ||
	    (oflags & ~(SHMRT_O_CREATE | SHMRT_O_EXCL | SHMRT_O_NOATTACH | SHMRT_O_FRESH)) ||
	    ((oflags & SHMRT_O_NOATTACH) && (oflags & SHMRT_O_CREATE)) ||
	    ((oflags & SHMRT_O_FRESH) && !(oflags & SHMRT_O_CREATE)))
		return -EINVAL;
	shmrt_region_opts_t anon;
	if (!name) { /* anonymous: a memfd shared by the process tree */
		if (!(oflags & SHMRT_O_CREATE))
			return -EINVAL;
		anon = *opts;
		anon.backing = SHMRT_BACKING_MEMFD;
		opts = &anon;
		name = "anonymous";
	}
	int rc = shmrt__backing_check_name(name, opts->backing);
	if (rc)
		return rc;
	if (opts->backing == SHMRT_BACKING_MEMFD)
		oflags |= SHMRT_O_CREATE | SHMRT_O_EXCL;
	shmrt__registry_init();

	/* Each round either ends or saw the name change under it (created, removed or
	 * unlinked by another process meanwhile): 8 such races in a row are -EAGAIN. */
	for (int attempt = 0; attempt < 8; attempt++) {
		struct shmrt_region *r = new_handle(name);
		if (!r)
			return -ENOMEM;
		r->backing = opts->backing;
		if (oflags & SHMRT_O_CREATE) {
			rc = create_named(r, name, opts);
			if (rc == 0) {
				r->created = 1;
				link_handle(r);
				*out = r;
				return 0;
			}
			destroy(r);
			if (rc != -EEXIST || ((oflags & SHMRT_O_EXCL) && !(oflags & SHMRT_O_FRESH)))
				return rc;
			r = new_handle(name); /* it exists: open it */
			if (!r)
				return -ENOMEM;
			r->backing = opts->backing;
		}
		rc = shmrt__backing_open(name, opts->backing, O_RDWR, 0);
		if (rc < 0) {
			destroy(r);
			if (rc == -ENOENT && (oflags & SHMRT_O_CREATE))
				continue; /* removed meanwhile: try creating again */
			return rc;
		}
		r->fd = rc;
		rc = (oflags & SHMRT_O_NOATTACH) ? 0 : check_owner(r->fd, opts);
		if (!rc)
			rc = attach_existing(r, opts, oflags);
		if (rc == -ESTALE && (oflags & SHMRT_O_CREATE)) {
			shmrt__region_remove_stale(r);
			destroy(r);
			continue;
		}
		if (rc == 1) {
			rc = attach_mode(r, 1, oflags);
			if (rc == -ENOENT && (oflags & SHMRT_O_CREATE)) {
				destroy(r); /* unlinked meanwhile */
				continue;
			}
		}
		if (rc) {
			destroy(r);
			return rc;
		}
		link_handle(r);
		*out = r;
		return 0;
	}
	return -EAGAIN;
}

int shmrt_region_open_fd(int fd, shmrt_region_t **out)
{
	if (!out)
		return -EINVAL;
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	shmrt__registry_init();
	struct shmrt_region *r = new_handle("(fd)");
	if (!r)
		return -ENOMEM;
	r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (r->fd < 0) {
		int e = -errno;
		destroy(r);
		return e;
	}
	int rc = attach_existing(r, NULL, 0);
	if (rc == 1)
		rc = attach(r);
	if (rc) {
		destroy(r);
		return rc;
	}
	link_handle(r);
	*out = r;
	return 0;
}


/* With AUTO_UNLINK: unlink once no live process is attached. life_lock held. */
static void maybe_auto_unlink(struct shmrt_region *r)
{
	if ((r->geo.flags & SHMRT_REGION_AUTO_UNLINK) && shmrt__live_procs(r) == 0)
		shmrt__region_unlink_if_same(r);
}

/* Takes r out of the process's list of handles: 1, or 0 if it is not there. A
 * handle is closed (or abandoned) once: one that is not (or no longer) in the list
 * is not touched at all (a second close would free it twice). */
static int unlink_handle(struct shmrt_region *r)
{
	int found = 0;
	pthread_mutex_lock(&shmrt__handles_lock);
	for (struct shmrt_region **pp = &shmrt__handles; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&shmrt__handles_lock);
	return found;
}

int shmrt_region_close(shmrt_region_t *r)
{
	if (!r || !unlink_handle(r))
		return -EINVAL;
	if (r->attached && r->slot != REC_NONE && r->pid == getpid()) {
		if (shmrt__pmutex_lock(&r->hdr->life_lock, r->fd, NULL, NULL) == 0) {
			shmrt__slot_release(r);
			maybe_auto_unlink(r);
			shmrt__pmutex_unlock(&r->hdr->life_lock);
		}
	}
	destroy(r);
	return 0;
}

int shmrt__region_abandon(shmrt_region_t *r)
{
	if (!r || !unlink_handle(r))
		return -EINVAL;
	destroy(r); /* no lock taken, no slot released: see region_int.h */
	return 0;
}

int shmrt_region_gc(shmrt_region_t *r, unsigned *reclaimed)
{
	if (!r)
		return -EINVAL;
	unsigned n = shmrt__gc(r);
	if ((r->geo.flags & SHMRT_REGION_AUTO_UNLINK) &&
	    shmrt__pmutex_lock(&r->hdr->life_lock, r->fd, NULL, NULL) == 0) {
		maybe_auto_unlink(r);
		shmrt__pmutex_unlock(&r->hdr->life_lock);
	}
	if (reclaimed)
		*reclaimed = n;
	return 0;
}

