/*
 * Regions: the backing file. Names and paths (a /dev/shm name, a file path, a memfd),
 * opening and unlinking the file behind a name, the default size (what the file system
 * can hold), the open-file-description lock a creator in place holds while it
 * initialises, and the removal of what is left of a region.
 *
 * The rule every function here keeps: a name is removed only while it still names
 * the very file the caller holds (same device and inode, checked just before), and
 * only a file proved to be a region is removed as one. So a failed creator never
 * removes what another process created at the name meanwhile, and a file without the
 * region magic is never taken for a region nor unlinked (shmrt_region_unlink of such
 * a file is -EBADMSG).
 *
 * Stale regions: a creator in place holds its OFD write lock from its O_EXCL open
 * until READY; the kernel drops the lock when the process dies, so a region file
 * that is not READY, carries the magic and whose lock anyone can take was left by a
 * creator that died initialising it. The open protocol (region.c, wait_ready) finds
 * it; shmrt__region_remove_stale() unlinks it if the name still refers to it.
 *
 * Unlinking a live region (shmrt_region_unlink, auto-unlink by the last process)
 * happens under the region's robust life_lock with its `unlinked` flag set, so an
 * opener that races with it sees the flag and retries or gets -ENOENT (region.c).
 *
 * Memory ordering: `unlinked` is accessed with relaxed atomics under life_lock, which
 * orders them; nothing else here is shared memory.
 */
#define _GNU_SOURCE
#include "region_backing_int.h"
#include "region_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define FALLBACK_SIZE (64ull << 20) /* when the backing's capacity cannot be read */

int shmrt__name_valid(const char *name, size_t max)
{
	if (!name || !*name)
		return -EINVAL;
	size_t n = strlen(name);
	if (n > max)
		return -ENAMETOOLONG;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

int shmrt__backing_check_name(const char *name, shmrt_backing_t backing)
{
	if (backing == SHMRT_BACKING_FILE) {
		if (!name || !*name)
			return -EINVAL;
		return strlen(name) >= PATH_MAX ? -ENAMETOOLONG : 0;
	}
	return shmrt__name_valid(name, SHMRT_NAME_MAX);
}

int shmrt__backing_open(const char *name, shmrt_backing_t backing, int flags, mode_t mode)
{
	int fd;
	if (backing == SHMRT_BACKING_SHM) {
		char path[SHMRT_NAME_MAX + 2] = "/";
		strcat(path, name);
		fd = shm_open(path, flags, mode);
	} else if (backing == SHMRT_BACKING_FILE) {
		fd = open(name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	} else {
		/* Sealable: an owner that hands the descriptor to a less trusted process
		 * can forbid shrinking it (F_SEAL_SHRINK), which would turn the owner's
		 * next touch of the mapping into a SIGBUS (the Manager's shm channel). */
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	}
	return fd < 0 ? -errno : fd;
}

int shmrt__backing_unlink(const char *name, shmrt_backing_t backing)
{
	int rc = 0;
	if (backing == SHMRT_BACKING_SHM) {
		char path[SHMRT_NAME_MAX + 2] = "/";
		strcat(path, name);
		rc = shm_unlink(path);
	} else if (backing == SHMRT_BACKING_FILE) {
		rc = unlink(name);
	}
	return rc ? -errno : 0;
}

/* Open-file-description locks: held by the creator during initialisation. */
int shmrt__ofd_lock(int fd, short type, int wait)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) ? -errno : 0;
}

/* Whether a creator in place still holds its lock (it has published READY but not
 * yet attached: it counts as a live user). */
int shmrt__creator_busy(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	return !fcntl(fd, F_OFD_GETLK, &fl) && fl.l_type != F_UNLCK;
}

/* Unlinks name only if it still names the file open at fd: a failed creator must not
 * remove what another process created at the name meanwhile. */
void shmrt__unlink_if_ours(const char *name, shmrt_backing_t backing, int fd)
{
	int cur = shmrt__backing_open(name, backing, O_RDONLY, 0);
	if (cur < 0)
		return;
	struct stat a, b;
	int same = !fstat(cur, &a) && !fstat(fd, &b) && a.st_ino == b.st_ino &&
		   a.st_dev == b.st_dev;
	close(cur);
	if (same)
		shmrt__backing_unlink(name, backing);
}

/*
 * The default size of a region: what its file system can hold (/dev/shm's size for
 * named and anonymous regions, both being shmem; the directory's for a file), up to
 * SHMRT_REGION_MAX_SIZE. The file is sparse and the arena commits pages as it hands
 * them out, so the size is a limit on growth, not memory taken: a small region costs
 * what it uses.
 */
uint64_t shmrt__backing_default_size(const char *name, shmrt_backing_t backing)
{
	char dir[PATH_MAX] = "/dev/shm";
	if (backing == SHMRT_BACKING_FILE) {
		const char *slash = strrchr(name, '/');
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name) + (slash == name),
				 name);
	}
	struct statvfs sv;
	if (statvfs(dir, &sv) || sv.f_blocks == 0)
		return FALLBACK_SIZE;
	uint64_t cap = (uint64_t)sv.f_blocks * sv.f_frsize;
	cap = cap < SHMRT_REGION_MAX_SIZE ? cap & ~4095ull : SHMRT_REGION_MAX_SIZE;
	return cap < FALLBACK_SIZE ? FALLBACK_SIZE : cap;
}

/* Removes a stale region (its creator died initialising it in place) if the name still
 * refers to it. Only a file wait_ready() proved to be one gets here. */
int shmrt__region_remove_stale(struct shmrt_region *r)
{
	if (shmrt__ofd_lock(r->fd, F_WRLCK, 0))
		return -EAGAIN;
	struct stat a, b;
	int fd = shmrt__backing_open(r->name, r->backing, O_RDONLY, 0);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	int same = !fstat(fd, &a) && !fstat(r->fd, &b) && a.st_ino == b.st_ino &&
		   a.st_dev == b.st_dev;
	close(fd);
	return same ? shmrt__backing_unlink(r->name, r->backing) : 0;
}

/* The path a named region has in the file system, and the directory it lives in. */
int shmrt__backing_paths(const char *name, shmrt_backing_t backing, char *path, size_t cap,
			 char *dir, size_t dcap)
{
	int n;
	if (backing == SHMRT_BACKING_SHM) {
		n = snprintf(path, cap, "/dev/shm/%s", name);
		snprintf(dir, dcap, "/dev/shm");
	} else {
		n = snprintf(path, cap, "%s", name);
		const char *slash = strrchr(name, '/');
		if (!slash)
			snprintf(dir, dcap, ".");
		else if (slash == name)
			snprintf(dir, dcap, "/");
		else
			snprintf(dir, dcap, "%.*s", (int)(slash - name), name);
	}
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Unlinks r's name if it still names r's file. Caller holds life_lock. */
void shmrt__region_unlink_if_same(struct shmrt_region *r)
{
	const char *name = r->backing == SHMRT_BACKING_FILE ? r->name : r->geo.name;
	/* Relaxed (here and below): under life_lock. */
	if (r->backing == SHMRT_BACKING_MEMFD || load_relaxed(&r->hdr->unlinked))
		return;
	int fd = shmrt__backing_open(name, r->backing, O_RDONLY, 0);
	if (fd < 0)
		return;
	struct stat a, b;
	int same = !fstat(fd, &a) && !fstat(r->fd, &b) && a.st_ino == b.st_ino &&
		   a.st_dev == b.st_dev;
	close(fd);
	if (same) {
		store_relaxed(&r->hdr->unlinked, 1);
		shmrt__backing_unlink(name, r->backing);
	}
}

/*
 * Unlinks a region by name: only a file that proves to be a shmrt region, of this
 * layout (under its life_lock, marking it unlinked for late openers) or of another one
 * (its magic), or a region file whose creator died initialising it in place. Anything
 * else (-EBADMSG: not a region) is left alone; a region a live process is still
 * creating in place is -EBUSY.
 */
static int unlink_checked(const char *name, shmrt_backing_t backing)
{
	int rc = shmrt__backing_check_name(name, backing);
	if (rc)
		return rc;
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.backing = backing;
	o.open_timeout = 0;
	shmrt_region_t *r;
	rc = shmrt_region_open(name, SHMRT_O_NOATTACH, &o, &r);
	if (rc == -ESTALE || rc == -EPROTONOSUPPORT)
		return shmrt__backing_unlink(name, backing); /* a dead creation; another layout */
	if (rc == -ETIMEDOUT)
		return -EBUSY;
	if (rc)
		return rc;
	if (shmrt__pmutex_lock(&r->hdr->life_lock, r->fd, NULL, NULL) == 0) {
		store_relaxed(&r->hdr->unlinked, 1); /* under life_lock */
		rc = shmrt__backing_unlink(name, backing);
		shmrt__pmutex_unlock(&r->hdr->life_lock);
	}
	shmrt_region_close(r);
	return rc;
}

int shmrt_region_unlink(const char *name)
{
	return unlink_checked(name, SHMRT_BACKING_SHM);
}

int shmrt_region_unlink_path(const char *path)
{
	return unlink_checked(path, SHMRT_BACKING_FILE);
}
