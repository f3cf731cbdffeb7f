/*
 * Regions: what region.c (the create/attach protocol) uses of region_backing.c (the
 * backing file: names, paths, the creator's lock, unlinking, stale regions). Private
 * to core/.
 */
#ifndef SHMRT_CORE_REGION_BACKING_INT_H
#define SHMRT_CORE_REGION_BACKING_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmrt/region.h"

struct shmrt_region;

#define SHMRT_REGION_MAX_SIZE (1ull << 44) /* 16 TiB: page numbers fit 32 bits */

/* 0 if name is a valid name for backing (a path for SHMRT_BACKING_FILE, else a
 * SHMRT_NAME_MAX name of [A-Za-z0-9._-]), else -EINVAL or -ENAMETOOLONG. */
int shmrt__backing_check_name(const char *name, shmrt_backing_t backing);

/* Opens the file behind name with open(2)'s flags and mode (a memfd ignores them).
 * Returns the descriptor or -errno. */
int shmrt__backing_open(const char *name, shmrt_backing_t backing, int flags, mode_t mode);

/* Unlinks name (nothing for a memfd). 0 or -errno. */
int shmrt__backing_unlink(const char *name, shmrt_backing_t backing);

/* The default size of a region at name: what its file system can hold, page-rounded,
 * at least 64 MiB, at most SHMRT_REGION_MAX_SIZE. */
uint64_t shmrt__backing_default_size(const char *name, shmrt_backing_t backing);

/* The path a named region has in the file system (path, cap bytes), and the directory
 * it lives in (dir, dcap bytes). 0 or -ENAMETOOLONG. */
int shmrt__backing_paths(const char *name, shmrt_backing_t backing, char *path, size_t cap,
			 char *dir, size_t dcap);

/* Takes (type F_WRLCK or F_RDLCK) the OFD lock of fd's first byte, waiting if wait.
 * 0 or -errno (-EAGAIN: held by another). */
int shmrt__ofd_lock(int fd, short type, int wait);

/* Whether a creator in place still holds its lock on fd. */
int shmrt__creator_busy(int fd);

/* Unlinks name only if it still names the file open at fd. */
void shmrt__unlink_if_ours(const char *name, shmrt_backing_t backing, int fd);

/* Unlinks r's stale region (its creator died initialising it in place) if the name
 * still refers to it. 0, -EAGAIN (someone holds its lock now), or -errno. */
int shmrt__region_remove_stale(struct shmrt_region *r);

/* Unlinks r's name if it still names r's file, and marks the region unlinked.
 * Caller holds r's life_lock. */
void shmrt__region_unlink_if_same(struct shmrt_region *r);

#endif /* SHMRT_CORE_REGION_BACKING_INT_H */
