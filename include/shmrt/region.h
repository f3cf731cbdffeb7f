/*
 * shmrt regions: one shared mapping holding a header, the process registry, a
 * directory of named objects and the arena that backs them.
 *
 * A region is created once (by name, as a memfd, or at a file path) and then opened
 * by any number of processes: forked children inherit the parent's handle and get a
 * registry slot of their own; unrelated executables open it by name.
 *
 * Which calls may run concurrently:
 *
 *  call                         | same handle, other thread | other process, same region
 *  -----------------------------+---------------------------+---------------------------
 *  shmrt_region_open/create     | n/a                       | yes (creation is race-free)
 *  shmrt_region_close           | no (last call on handle)  | yes
 *  shmrt_object_* / shmrt_alloc | yes                       | yes
 *  shmrt_region_gc / _procs     | yes                       | yes
 *  shmrt_region_unlink          | yes                       | yes (mappings stay valid)
 */
#ifndef SHMRT_REGION_H
#define SHMRT_REGION_H

#include <sys/types.h>
#include <stdbool.h>
#include "common.h"
#include "placement.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmrt_region shmrt_region_t;

/* Longest region name (excluding the NUL). Names are [A-Za-z0-9._-]+, not "." or "..". */
#define SHMRT_NAME_MAX 200
/* Longest object name in a region's directory (excluding the NUL); same characters. */
#define SHMRT_OBJNAME_MAX 63

/* Where the bytes of a region live. */
typedef enum shmrt_backing {
	SHMRT_BACKING_SHM = 0,  /* named POSIX shm object (/dev/shm/NAME); the default */
	SHMRT_BACKING_MEMFD,    /* anonymous memfd: inherited across fork, passable as an fd */
	SHMRT_BACKING_FILE,     /* a file path (tmpfs, hugetlbfs, DAX); NAME is the path */
} shmrt_backing_t;

/*
 * Flags for every *_open call (regions and objects; the calls take them third, after
 * the region and the name). Their values lie in a range of their own, away from the
 * small numbers of element and object types, so that a call that swaps the flags
 * with a type argument fails with -EINVAL instead of opening something else.
 */
#define SHMRT_O_CREATE 0x10000   /* create it if it does not exist */
#define SHMRT_O_EXCL 0x20000     /* with CREATE: fail with -EEXIST if it exists */
#define SHMRT_O_NOATTACH 0x40000 /* regions: inspect only (tools): map and validate
                                    without a registry slot; creating objects and
                                    allocating return -EPERM. Not with CREATE. */
#define SHMRT_O_FRESH 0x80000    /* regions, with CREATE: an existing region whose
                                    attached processes are all dead (or that none
                                    attaches) is replaced by a new, empty one instead
                                    of being reopened with its old contents. With
                                    EXCL too, a region in use is -EEXIST: the safe
                                    pattern for a named region per run. A region of
                                    another layout version or a damaged one is not
                                    replaced (its users cannot be read): the open
                                    fails as without FRESH; shmrt rm removes it. */

/* Region lifetime flags (shmrt_region_opts_t.flags), fixed at creation. */
#define SHMRT_REGION_PERSISTENT 0x0  /* lives until unlinked (the default) */
#define SHMRT_REGION_AUTO_UNLINK 0x1 /* unlinked when the last attached process detaches or
                                        is found dead (by a detach, an open or shmrt gc) */

typedef struct shmrt_region_opts {
	shmrt_backing_t backing;  /* default SHMRT_BACKING_SHM */
	size_t size;              /* the most the region can hold, fixed at creation; 0 = what
	                             its file system can hold (/dev/shm's size: half the RAM
	                             by default), at most 16 TiB. The file is sparse and pages
	                             are committed only when allocated, so the region grows
	                             as it is used: the size costs address space, not memory.
	                             An allocation that does not fit is -ENOSPC. */
	uint32_t flags;           /* SHMRT_REGION_* */
	uint32_t max_procs;       /* registry slots for attached processes; 0 = 64 */
	uint32_t max_threads;     /* thread records (each with an allocation cache); 0 = 256 */
	uint32_t max_objects;     /* directory entries; 0 = 256 */
	mode_t mode;              /* permissions on creation; 0 = 0600 */
	shmrt_ns_t open_timeout;  /* how long open waits for a creator to finish; <0 = 5 s */
} shmrt_region_opts_t;

/* Initialises opts to the defaults above. */
SHMRT_API void shmrt_region_opts_init(shmrt_region_opts_t *opts);

/*
 * Opens (and with SHMRT_O_CREATE creates) a region and attaches the calling process
 * to it (a registry slot). The name is validated; with SHMRT_BACKING_SHM it names
 * /dev/shm/NAME, with SHMRT_BACKING_FILE it is a path (O_NOFOLLOW), with
 * SHMRT_BACKING_MEMFD it is only a label and the region is always created.
 *
 * Lifetimes:
 *  - anonymous (name NULL, with SHMRT_O_CREATE; Python's Value() and Array()): a
 *    memfd with no name, shared by the processes forked after the open (and by an
 *    exec'd program given its descriptor: shmrt/worker.h), freed when the last of
 *    them exits or dies. Two runs of a program never share it. The default choice.
 *  - named (/dev/shm/NAME or a file), PERSISTENT: lives until unlinked, for unrelated
 *    programs and for data that outlives its processes.
 *  - named, AUTO_UNLINK: unlinked by the last attached process to detach, or by the
 *    first open, gc or detach that finds all of them dead; never reopened then.
 * Opening a name again reuses the region and its contents (shmrt_region_created()
 * says which happened). To get a new region per run whatever an earlier run left,
 * create with SHMRT_O_CREATE | SHMRT_O_EXCL | SHMRT_O_FRESH: a region left by dead
 * processes is replaced, and one still in use by a live process is -EEXIST (another
 * run is going on: pick another name, e.g. with the pid in it).
 *
 * Creation is race-free: the creator uses O_CREAT|O_EXCL, sizes and initialises the
 * region, then publishes READY; openers validate magic, layout version, size and
 * header checksum, and wait up to opts->open_timeout for READY. A region whose
 * creator died before READY is reported (-ESTALE), or replaced when O_CREATE is
 * given without O_EXCL.
 *
 * Returns 0 and *out, or:
 *  -EINVAL        bad name (empty, too long, bad characters), bad options or flags
 *                 (FRESH or a NULL name without CREATE)
 *  -ENAMETOOLONG  name longer than SHMRT_NAME_MAX (or PATH_MAX for a path)
 *  -ENOENT        no such region and no SHMRT_O_CREATE (or it was unlinked meanwhile)
 *  -EEXIST        SHMRT_O_CREATE|SHMRT_O_EXCL and the region exists (with FRESH too:
 *                 and a live process is attached to it)
 *  -EACCES        permissions
 *  -EBADMSG       not a shmrt region, truncated, or its header is corrupted
 *  -EPROTONOSUPPORT  the region's layout version is not this library's
 *  -ETIMEDOUT     the creator did not finish initialising within the timeout
 *  -ESTALE        the creator died while initialising (without SHMRT_O_CREATE)
 *  -ENOSPC        not enough shared memory to create the region's metadata
 *  -EUSERS        every registry slot is taken by a live process
 *  -ENOMEM        out of process memory
 *
 * Concurrency: any number of processes and threads may open the same name at once;
 * exactly one creates it. Ordering: an open that returns 0 observes everything the
 * creator initialised (acquire on READY, paired with the creator's release).
 */
SHMRT_API SHMRT_MUST_USE int shmrt_region_open(const char *name, int oflags,
					       const shmrt_region_opts_t *opts,
					       shmrt_region_t **out);

/*
 * Attaches to a region given an open file descriptor (e.g. a memfd received over a
 * Unix socket). The descriptor is duplicated; the caller keeps its own.
 * Errors: as shmrt_region_open (except the name ones), -EBADF for a bad fd.
 * Concurrency: as shmrt_region_open.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_region_open_fd(int fd, shmrt_region_t **out);

/*
 * Detaches the calling process from the region and unmaps it: releases this
 * process's thread records (their allocation caches go back to the arena) and its
 * registry slot. With SHMRT_REGION_AUTO_UNLINK, the last process to detach unlinks
 * the name. The handle is freed; pointers into the region become invalid.
 * Returns 0, or -EINVAL for a NULL handle.
 * Concurrency: no other thread may use this handle during or after the call; other
 * processes are unaffected. Ordering: release; what this process wrote is visible to
 * a process that later observes the slot free.
 */
SHMRT_API int shmrt_region_close(shmrt_region_t *r);

/*
 * Removes a region's name (SHMRT_BACKING_SHM). Processes that have it mapped keep
 * using it; the memory is freed when the last one unmaps it. Returns 0, -ENOENT,
 * -EINVAL (bad name), -EACCES, or -EBADMSG when the name is not a shmrt region
 * (nothing is removed then).
 * Concurrency: any time. Ordering: none beyond the kernel's.
 */
SHMRT_API int shmrt_region_unlink(const char *name);

/* Same for a region at a file path. */
SHMRT_API int shmrt_region_unlink_path(const char *path);

/* The region's base address in this process, its size, its name, and its fd. */
SHMRT_API void *shmrt_region_base(const shmrt_region_t *r);
SHMRT_API size_t shmrt_region_size(const shmrt_region_t *r);
SHMRT_API const char *shmrt_region_name(const shmrt_region_t *r);
SHMRT_API int shmrt_region_fd(const shmrt_region_t *r);
/* Whether the open that returned r created the region (false: it existed). */
SHMRT_API bool shmrt_region_created(const shmrt_region_t *r);

/*
 * The first members of every region handle; exposed only so that the inline
 * helpers below cost one load. Not for direct use.
 */
struct shmrt__region_pub {
	char *base;
	uint64_t size;
};

/* Pointer for an offset inside the region, and back. No checking: hot path. */
static inline void *shmrt_ptr(const shmrt_region_t *r, shmrt_off_t off)
{
	return ((const struct shmrt__region_pub *)(const void *)r)->base + off;
}
static inline shmrt_off_t shmrt_offset(const shmrt_region_t *r, const void *p)
{
	return (shmrt_off_t)((const char *)p -
			     ((const struct shmrt__region_pub *)(const void *)r)->base);
}

/* ---- Directory of named objects -------------------------------------------------- */

/* Object types. Modules add theirs; values are part of the shared layout. */
typedef enum shmrt_type {
	SHMRT_TYPE_NONE = 0,
	SHMRT_TYPE_BYTES = 1,   /* a raw, zero-initialised buffer (Python's SharedMemory) */
	SHMRT_TYPE_VALUE = 2,
	SHMRT_TYPE_COUNTER = 3,
	SHMRT_TYPE_ARRAY = 4,
	SHMRT_TYPE_QUEUE = 5,
	SHMRT_TYPE_PIPE = 6,
	SHMRT_TYPE_DICT = 7,
	SHMRT_TYPE_LOCK = 8,
	SHMRT_TYPE_SYNC = 9,
	SHMRT_TYPE_USER = 1000, /* applications may use SHMRT_TYPE_USER + n */
} shmrt_type_t;

/* Returns "bytes", "value", ... or "user+N" / "unknown". */
SHMRT_API const char *shmrt_type_name(uint32_t type);

typedef struct shmrt_object_info {
	char name[SHMRT_OBJNAME_MAX + 1];
	uint32_t type;
	shmrt_off_t off;        /* offset of the object's memory in the region */
	uint64_t size;          /* bytes requested at creation */
	pid_t creator_pid;
	uint64_t created_ns;    /* CLOCK_REALTIME */
	uint64_t meta[2];       /* type-specific (e.g. element type and count) */
	bool created;           /* set by an open: true if this call created the object,
	                           false if it existed (lookups and lists: false) */
} shmrt_object_info_t;

/*
 * Creates or opens the named object of the given type and size. On creation the
 * memory is allocated with placement (NULL = local), zero-filled, and published;
 * an opener gets the same offset. info receives the entry.
 *
 * Returns 0, or:
 *  -EINVAL       bad name, type NONE, size 0
 *  -ENOENT       absent and no SHMRT_O_CREATE
 *  -EEXIST       SHMRT_O_CREATE|SHMRT_O_EXCL and present
 *  -EPROTOTYPE   present with another type
 *  -EMSGSIZE     present with a smaller size than requested
 *  -ENOSPC       the directory is full, or no room left in the region (its size, or
 *                what the backing file system can still commit)
 *
 * Concurrency: any threads and processes; one creates, the others open. A creator
 * killed mid-creation leaves no entry (the next directory user cleans it up).
 * Ordering: release on publication, acquire on lookup: an opener sees the zeroed
 * memory and whatever the creator wrote before shmrt_object_open returned.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_object_open(shmrt_region_t *r, const char *name,
					       int oflags, uint32_t type, uint64_t size,
					       const shmrt_placement_t *placement,
					       shmrt_object_info_t *info);

/* Looks an object up without creating it. Returns 0, -ENOENT, -EINVAL.
 * Concurrency/Ordering: as shmrt_object_open. */
SHMRT_API SHMRT_MUST_USE int shmrt_object_lookup(shmrt_region_t *r, const char *name,
						 shmrt_object_info_t *info);

/*
 * Lists up to cap objects into arr and sets *count to the number of objects present
 * (which may exceed cap). Returns 0 or -EINVAL.
 * Concurrency: any time; the list is a snapshot taken under the directory lock.
 */
SHMRT_API int shmrt_object_list(shmrt_region_t *r, shmrt_object_info_t *arr, size_t cap,
				size_t *count);

/*
 * Removes the named object and frees its memory. Processes still using it must have
 * stopped (the directory does not reference-count). Returns 0, -ENOENT, -EINVAL.
 * Concurrency: serialised with other directory calls by the directory lock.
 */
SHMRT_API int shmrt_object_remove(shmrt_region_t *r, const char *name);

/* ---- Registry: attached processes -------------------------------------------------- */

typedef enum shmrt_proc_state {
	SHMRT_PROC_ALIVE = 1,
	SHMRT_PROC_DEAD = 2,      /* exited or killed without detaching; not yet reclaimed */
	SHMRT_PROC_ATTACHING = 3, /* between claiming a slot and finishing its attach */
} shmrt_proc_state_t;

typedef struct shmrt_proc_info {
	uint32_t slot;
	pid_t pid;
	uint64_t start_time;      /* /proc/PID/stat starttime (clock ticks since boot) */
	uint64_t attached_ns;     /* CLOCK_REALTIME at attach */
	uint32_t threads;         /* thread records held */
	shmrt_proc_state_t state;
} shmrt_proc_info_t;

/*
 * Lists attached processes (up to cap) with their liveness, checked now by pid and
 * process start time (a recycled pid is not mistaken for the dead process).
 * *count receives the number of occupied slots. Returns 0 or -EINVAL.
 * Concurrency: any time. Ordering: acquire on each slot.
 */
SHMRT_API int shmrt_region_procs(shmrt_region_t *r, shmrt_proc_info_t *arr, size_t cap,
				 size_t *count);

/*
 * Reclaims what dead processes left: their slots, thread records, allocation caches
 * and half-done allocator operations. *reclaimed (may be NULL) receives the number of
 * process slots reclaimed. Runs automatically on open; call it after a worker dies.
 * Returns 0 or -EINVAL.
 * Concurrency: any time, from any process; each dead slot is reclaimed exactly once
 * (a reclaimer that dies midway is taken over by the next). Ordering: acquire.
 */
SHMRT_API int shmrt_region_gc(shmrt_region_t *r, unsigned *reclaimed);

/* ---- Region statistics ---------------------------------------------------------- */

typedef struct shmrt_region_stats {
	uint64_t size;            /* mapping size */
	uint64_t arena_bytes;     /* bytes of the allocatable page space */
	uint64_t arena_used;      /* bytes in allocated pages (small-block spans + large) */
	uint64_t arena_committed; /* bytes whose backing pages are committed */
	uint64_t small_bytes_in_use; /* bytes handed out as small blocks (approximate:
	                                summed from per-thread counters) */
	uint64_t large_bytes_in_use; /* bytes handed out as large extents */
	uint32_t procs_alive, procs_dead, threads;
	uint32_t objects, max_objects, max_procs, max_threads;
	uint32_t flags;           /* SHMRT_REGION_* */
	uint32_t numa_nodes;      /* nodes the arena places on */
	pid_t creator_pid;
	uint64_t created_ns;
	uint32_t layout_version;
} shmrt_region_stats_t;

/* Fills *st. Returns 0 or -EINVAL. Concurrency: any time; figures are a racy snapshot. */
SHMRT_API int shmrt_region_stats(shmrt_region_t *r, shmrt_region_stats_t *st);

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_REGION_H */
