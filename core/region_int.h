/*
 * Shared layout of a region (header, registry, directory) and the process-local
 * handle. This is ABI: structs are pinned below; a change bumps SHMRT_LAYOUT_VERSION.
 *
 *   0                  struct shmrt_hdr                       4096 B
 *     0                  struct shmrt_geom: immutable after creation, checksummed
 *     384                state, unlinked flag, counters, RCU epoch (408)
 *     448                life_lock (attach/detach/unlink), dir_lock (directory)
 *   procs_off = 4096   struct shmrt_proc_slot [max_procs]     64 B each
 *   threads_off        struct shmrt_thread_rec [max_threads]  128 B each
 *   dir_off            struct shmrt_dir_entry [max_objects]   128 B each
 *   arena_off (page)   the arena (alloc/arena_int.h) up to the end of the region
 *
 * Process slot ctl word: 0 = free, else (pid << 8) | state, state one of SLOT_*.
 * Thread record ctl word: 0 = free, else ((slot + 1) << 32) | slot generation: a
 * record is live while its slot is ACTIVE with that generation and the process is
 * alive (by pid and start time).
 */
#ifndef SHMRT_CORE_REGION_INT_H
#define SHMRT_CORE_REGION_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmrt/region.h"
#include "shmrt/version.h"
#include "alloc/arena.h"
#include "base/atomic.h"
#include "base/clock.h"
#include "base/compiler.h"
#include "base/cpu.h"
#include "base/pmutex.h"
#include "base/proc.h"
#include "base/yield.h"

#define SHMRT_MAGIC 0x3147524d52544d53ull /* "SMTRMRG1" little endian */
#define SHMRT_HDR_SIZE 4096u

enum { STATE_INIT = 0, STATE_READY = 2 };
enum { SLOT_FREE = 0, SLOT_CLAIMING = 1, SLOT_ACTIVE = 2, SLOT_RECLAIMING = 3 };

struct shmrt_geom {
	uint64_t magic;            /* 0 */
	uint32_t layout_version;   /* 8 */
	uint32_t hdr_size;         /* 12 */
	uint64_t size;             /* 16 */
	uint64_t created_ns;       /* 24 */
	uint32_t flags;            /* 32 SHMRT_REGION_* */
	uint32_t creator_pid;      /* 36 */
	uint64_t creator_start;    /* 40 */
	uint32_t max_procs;        /* 48 */
	uint32_t max_threads;      /* 52 */
	uint32_t max_objects;      /* 56 */
	uint32_t nnodes;           /* 60 */
	uint64_t procs_off;        /* 64 */
	uint64_t threads_off;      /* 72 */
	uint64_t dir_off;          /* 80 */
	uint64_t arena_off;        /* 88 */
	uint64_t arena_len;        /* 96 */
	uint32_t backing;          /* 104 */
	uint32_t pad0;             /* 108 */
	char name[256];            /* 112 */
	uint64_t pad1[1];          /* 368 */
	uint64_t checksum;         /* 376: FNV-1a 64 of bytes [0, 376) */
};

struct shmrt_hdr {
	struct shmrt_geom g;       /* 0 */
	uint32_t state;            /* 384 */
	uint32_t unlinked;         /* 388: set under life_lock by whoever unlinks */
	uint64_t attaches;         /* 392: total attaches (statistic) */
	uint64_t reclaims;         /* 400: dead process slots reclaimed */
	uint64_t rcu_epoch;        /* 408: cross-process RCU epoch (core/rcu.c) */
	uint32_t rec_hwm;          /* 416: 1 + highest thread record ever claimed */
	uint32_t pad32;            /* 420 */
	uint64_t pad[3];           /* 424 */
	shmrt_pmutex_t life_lock;  /* 448 */
	uint8_t pad2[16];
	shmrt_pmutex_t dir_lock;   /* 512 */
	uint8_t pad3[16];
	uint32_t nobjects;         /* 576, under dir_lock */
};

struct shmrt_proc_slot {
	uint64_t ctl;              /* 0 */
	uint64_t start_time;       /* 8 */
	uint64_t attached_ns;      /* 16 */
	uint32_t pid;              /* 24: kept while RECLAIMING */
	uint32_t gen;              /* 28: bumped by every claim */
	uint64_t reclaimer_start;  /* 32 */
	uint64_t pad[3];           /* 40 */
};

/* Words a module may keep per thread (RCU reader state, queue reservations). */
#define SHMRT_THREAD_MODULE_WORDS 8

/*
 * The thread-record words, for every module at once: what each module keeps per
 * thread in the registry, where scans of other processes find it (a dead producer's
 * ticket, a reader's epoch). Each word is written by the thread that owns the record,
 * read by anyone, and cleared by the registry when it reclaims the record (the thread
 * is dead or gone), so a word's zero always means "nothing in progress".
 */
enum shmrt_thread_word {
	TW_QUEUE_PUT = 0,     /* queues/: queue offset | 1 while an enqueue is in progress */
	TW_QUEUE_TICKET = 1,  /* queues/: first ticket | VALID | (count - 1) << 40, once known */
	TW_RCU = 2,           /* core/rcu: (epoch << 1) | 1 inside a read section, else 0 */
	TW_RCU_NEST = 3,      /* core/rcu: read-section nesting depth */
	TW_QUEUE_PEEK = 4,    /* queues/: queue offset | 1 while a peek is in progress or held */
	TW_QUEUE_PTICKET = 5, /* queues/: the peeked ticket | VALID, once known */
	TW_COUNT
};
_Static_assert(TW_COUNT <= SHMRT_THREAD_MODULE_WORDS, "thread-record words fit the record");

struct shmrt_thread_rec {
	uint64_t ctl;              /* 0 */
	uint32_t tid;              /* 8 */
	uint32_t node;             /* 12 */
	uint64_t pad[6];           /* 16 */
	uint64_t module[SHMRT_THREAD_MODULE_WORDS]; /* 64 */
};

enum { DIR_FREE = 0, DIR_CREATING = 1, DIR_READY = 2 };

struct shmrt_dir_entry {
	char name[64];             /* 0 */
	uint32_t type;             /* 64 */
	uint32_t state;            /* 68 DIR_* */
	uint64_t off;              /* 72 */
	uint64_t size;             /* 80 */
	uint32_t creator_pid;      /* 88 */
	uint32_t pad0;             /* 92 */
	uint64_t created_ns;       /* 96 */
	uint64_t meta[2];          /* 104 */
	uint64_t pad1;             /* 120 */
};

_Static_assert(sizeof(struct shmrt_geom) == 384, "geom layout");
_Static_assert(offsetof(struct shmrt_geom, name) == 112, "geom layout");
_Static_assert(offsetof(struct shmrt_geom, checksum) == 376, "geom layout");
_Static_assert(offsetof(struct shmrt_hdr, state) == 384, "hdr layout");
_Static_assert(offsetof(struct shmrt_hdr, rcu_epoch) == 408, "hdr layout");
_Static_assert(offsetof(struct shmrt_hdr, rec_hwm) == 416, "hdr layout");
_Static_assert(offsetof(struct shmrt_hdr, life_lock) == 448, "hdr layout");
_Static_assert(offsetof(struct shmrt_hdr, dir_lock) == 512, "hdr layout");
_Static_assert(sizeof(struct shmrt_hdr) <= SHMRT_HDR_SIZE, "hdr fits its page");
_Static_assert(sizeof(struct shmrt_proc_slot) == 64, "proc slot layout");
_Static_assert(sizeof(struct shmrt_thread_rec) == 128, "thread record layout");
_Static_assert(offsetof(struct shmrt_thread_rec, module) == 64, "thread record layout");
_Static_assert(sizeof(struct shmrt_dir_entry) == 128, "dir entry layout");

#define SHMRT_MAX_PROCS_LIMIT 4096u
#define SHMRT_MAX_THREADS_LIMIT 65536u
#define SHMRT_MAX_OBJECTS_LIMIT 65536u
#define REC_NONE UINT32_MAX

/* Process-local handle; starts with the public prefix (region.h). */
struct shmrt_region {
	struct shmrt__region_pub pub;   /* base, size */
	struct shmrt_geom geo;          /* the geometry, validated at open: what this
					 * process uses (the header's copy may be damaged) */
	struct shmrt_hdr *hdr;
	struct shmrt_proc_slot *procs;
	struct shmrt_thread_rec *threads;
	struct shmrt_dir_entry *dir;
	shmrt_arena_t arena;
	int fd;
	int attached;                   /* 0 for SHMRT_O_NOATTACH handles */
	int created;                    /* this handle's open created the region */
	uint32_t slot;                  /* our process slot, REC_NONE if none */
	uint32_t slot_gen;
	pid_t pid;                      /* the process that holds `slot` */
	uint64_t id;                    /* unique per handle in this process */
	shmrt_backing_t backing;
	struct shmrt_region *next;      /* list of open handles (fork, thread exit) */
	char name[];                    /* name or path as given */
};

/* registry.c */
int shmrt__slot_claim(struct shmrt_region *r);
void shmrt__slot_release(struct shmrt_region *r);
int shmrt__slot_alive(struct shmrt_region *r, uint32_t slot, uint64_t ctl);
uint32_t shmrt__thread_rec_slow(struct shmrt_region *r);
void shmrt__registry_init(void);
unsigned shmrt__gc(struct shmrt_region *r);
int shmrt__live_procs(struct shmrt_region *r);
/* Whether thread record idx is held by a live thread's process. */
int shmrt__rec_alive(struct shmrt_region *r, uint32_t idx);
extern uint64_t shmrt__fork_gen;
/* Set by a thread around a fork whose child only execs (core/worker.c): the registry's
 * atfork child handler then claims no slots in the child. */
extern __thread int shmrt__fork_exec;
extern pthread_mutex_t shmrt__handles_lock;
extern struct shmrt_region *shmrt__handles;

/* The calling thread's record index in r (claimed on first use), or REC_NONE. */
struct shmrt__tls_rec {
	uint64_t handle_id, fork_gen;
	uint32_t rec;
};
/* initial-exec (base/compiler.h): no __tls_get_addr on every queue operation. */
extern __thread struct shmrt__tls_rec shmrt__tls_last SHMRT_TLS_IE;

static inline uint32_t shmrt__thread_rec(struct shmrt_region *r)
{
	if (likely(shmrt__tls_last.handle_id == r->id &&
		   shmrt__tls_last.fork_gen == load_relaxed(&shmrt__fork_gen)))
		return shmrt__tls_last.rec;
	return shmrt__thread_rec_slow(r);
}

/* directory.c */
typedef int (*shmrt__obj_init_fn)(void *mem, uint64_t size, void *ctx);
int shmrt__object_open(struct shmrt_region *r, const char *name, int oflags,
		       uint32_t type, uint64_t size, const shmrt_placement_t *pl,
		       shmrt__obj_init_fn init, void *ctx, shmrt_object_info_t *info);
/* Removes the READY object of this type at offset off (as shmrt_object_remove). */
int shmrt__object_remove_at(struct shmrt_region *r, uint64_t off, uint32_t type);

/*
 * Closes the handle r (unmapped, its descriptor closed, freed) without taking any of
 * the region's locks and without releasing its registry slot, which stays claimed
 * until this process ends. For a region shared with a process that may hold its
 * robust locks forever (the Manager's shm channel, whose client maps it
 * read-write): shmrt_region_close would wait for them. Returns 0, or -EINVAL (not
 * an open handle).
 * Concurrency: as shmrt_region_close.
 */
SHMRT_API int shmrt__region_abandon(shmrt_region_t *r); /* the Manager's library calls it */

/* region.c */
uint64_t shmrt__fnv1a(const void *p, size_t n);

/* region_backing.c: 0 if name is at most max bytes of [A-Za-z0-9._-] and not "." or
 * "..", else -EINVAL or -ENAMETOOLONG (region and object names). */
int shmrt__name_valid(const char *name, size_t max);

#endif /* SHMRT_CORE_REGION_INT_H */
