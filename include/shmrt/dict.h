/*
 * shmrt Dict: a named shared hash map from byte-string keys to byte-string values
 * (Python's Manager().dict(), without the server), in a region.
 *
 * Readers take no lock and write nothing shared but their own thread record: they
 * run in cross-process RCU read sections. Nodes are immutable once published; set
 * publishes a new node with one atomic store and retires the old one, which is freed
 * after a grace period computed from the region's thread records (a reader killed
 * inside a read section is found dead and no longer holds reclamation back).
 * Writers are serialised per partition (the map is cut in partitions by hash, each
 * with its own bucket array and robust lock). A partition's table grows (and shrinks)
 * by building a new table under the partition lock and swapping it in: readers never
 * wait, and a lookup during a resize sees the old table or the new, both complete.
 *
 * Crashes: a writer killed at any instruction leaves the map consistent: the next
 * writer of the partition gets the lock back and finishes or undoes the operation
 * from the partition's journal (at most one node, allocated but not yet journaled,
 * leaks). A reader killed in a read section delays reclamation only until a writer
 * or shmrt_dict_reclaim() notices its death.
 *
 *  call                         | concurrent with
 *  -----------------------------+--------------------------------------------------
 *  get, get_ref, contains, len, | every call, any threads of any processes
 *  iterate, stats               |
 *  set, setdefault, delete,     | every call; writers of one partition run one at a
 *  cas, update, clear           | time (clear takes the partitions one by one)
 *  reclaim                      | every call, but not inside the caller's own read
 *                               | section (-EDEADLK)
 *
 * Ordering: a get that returns a value observes everything its writer did before the
 * set returned (release/acquire through the bucket and chain offsets). Per key,
 * operations are linearizable: once a get has returned a value, no later get of the
 * caller returns an older one.
 *
 * Limits: key and value sizes are fixed maxima chosen at creation (an operation over
 * them is -EMSGSIZE, nothing is written). Keys compare as bytes. The typed helpers
 * below encode 64-bit integer and double keys and values as 8 bytes (little endian);
 * a double key with an integral value (2.0) is the integer key (2), as in Python.
 */
#ifndef SHMRT_DICT_H
#define SHMRT_DICT_H

#include <math.h>
#include <string.h>

#include "common.h"
#include "region.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmrt_dict {
	void *shm;              /* the shared header */
	shmrt_region_t *region;
	uint64_t *tables;       /* per partition: offset of its current table */
	void *parts;            /* per partition: lock, journal, counters */
	uint64_t seed;          /* hash seed, chosen at creation */
	uint32_t max_key, max_value;
	uint32_t nparts;
	bool created;           /* the open that filled this handle created the Dict */
} shmrt_dict_t;

typedef struct shmrt_dict_opts {
	uint32_t max_key;       /* largest key in bytes; 0 = 64 */
	uint32_t max_value;     /* largest value in bytes; 0 = 1024 */
	uint32_t partitions;    /* writer partitions, a power of two <= 4096; 0 = 64 */
	uint64_t capacity;      /* entries expected (initial buckets); 0 = 1024 */
} shmrt_dict_opts_t;

/*
 * Creates or opens the dict `name`. opts (NULL: defaults) apply at creation; an
 * opener whose maxima exceed the existing dict's gets -EPROTOTYPE. Errors: those of
 * shmrt_object_open, -EINVAL (a size or partition count out of range).
 * Concurrency: as shmrt_object_open. Works on inspect-only (SHMRT_O_NOATTACH)
 * handles for shmrt_dict_stats.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_dict_open(shmrt_region_t *r, const char *name, int oflags,
					     const shmrt_dict_opts_t *opts, shmrt_dict_t *out);

/*
 * Copies the value of key into buf (cap bytes) and its length into *vlen.
 * Returns 0, -ENOENT (absent), -EMSGSIZE (key over the maximum; or cap too small:
 * then *vlen says how much is needed and buf is untouched), -EUSERS (no thread record
 * for the caller), -EBADMSG (a corrupted chain).
 * Concurrency: any threads of any processes, with every call (lock-free).
 * Ordering: acquire: observes everything the value's writer did before its set.
 */
SHMRT_API int shmrt_dict_get(const shmrt_dict_t *d, const void *key, size_t klen, void *buf,
			     size_t cap, size_t *vlen);

/* 1 if key is present, 0 if not, or a negative error as shmrt_dict_get.
 * Concurrency and Ordering: as shmrt_dict_get. */
SHMRT_API int shmrt_dict_contains(const shmrt_dict_t *d, const void *key, size_t klen);

/*
 * Read sections, for zero-copy reads: between read_lock and read_unlock the pointers
 * that get_ref returns stay valid (the nodes they point into are not freed), and
 * several gets see the map without writers being able to free what they read.
 * Nestable. Keep sections short: memory retired meanwhile waits for them. Do not call
 * shmrt_dict_reclaim inside one. read_lock returns 0 or -EUSERS.
 * Concurrency: per thread (a section belongs to the calling thread); any number of
 * threads and processes at once. Ordering: read_lock is a full barrier (the section's
 * loads follow it); read_unlock a release.
 */
SHMRT_API int shmrt_dict_read_lock(const shmrt_dict_t *d);
SHMRT_API void shmrt_dict_read_unlock(const shmrt_dict_t *d);

/*
 * Zero-copy get, inside a read section: *val points to the value (8-byte aligned,
 * read-only, valid until read_unlock). Returns 0, -ENOENT, -EMSGSIZE (key), -EPERM
 * (not inside a read section), -EBADMSG.
 * Concurrency and Ordering: as shmrt_dict_get.
 */
SHMRT_API int shmrt_dict_get_ref(const shmrt_dict_t *d, const void *key, size_t klen,
				 const void **val, size_t *vlen);

/*
 * Inserts or replaces key's value. Returns 0, -EMSGSIZE (key or value over the
 * maximum; nothing written), -ENOSPC/-ENOMEM (no memory for the node; the map is
 * unchanged), -EUSERS, -ENOTRECOVERABLE (the partition lock is corrupted).
 * Concurrency: with every call; writers of one partition are serialised.
 * Ordering: release: the node is complete before it is reachable.
 */
SHMRT_API int shmrt_dict_set(const shmrt_dict_t *d, const void *key, size_t klen,
			     const void *val, size_t vlen);

/*
 * Python's setdefault: inserts val if key is absent. Returns 1 if it inserted, 0 if
 * key was present (the present value is left alone); with out non-NULL, the value
 * now stored is copied out as by shmrt_dict_get (-EMSGSIZE if cap is too small, the
 * insertion having happened or not as the other cases). Errors as shmrt_dict_set.
 * Concurrency and Ordering: as shmrt_dict_set (atomic with respect to other writers).
 */
SHMRT_API int shmrt_dict_setdefault(const shmrt_dict_t *d, const void *key, size_t klen,
				    const void *val, size_t vlen, void *out, size_t cap,
				    size_t *outlen);

/* Removes key. Returns 0, -ENOENT (absent), -EMSGSIZE, -EUSERS, -ENOTRECOVERABLE.
 * Concurrency and Ordering: as shmrt_dict_set. */
SHMRT_API int shmrt_dict_delete(const shmrt_dict_t *d, const void *key, size_t klen);

/*
 * Compare-and-set: replaces key's value with val if its current value equals
 * expect (elen bytes); with expect NULL, inserts only if key is absent. Returns 0
 * (replaced), -EAGAIN (the value differs, or key is present when expect is NULL),
 * -ENOENT (absent, expect non-NULL), or an error of shmrt_dict_set.
 * Concurrency and Ordering: as shmrt_dict_set (the compare and the store are atomic).
 */
SHMRT_API int shmrt_dict_cas(const shmrt_dict_t *d, const void *key, size_t klen,
			     const void *expect, size_t elen, const void *val, size_t vlen);

/* What an update function asks for. */
enum { SHMRT_DICT_KEEP = 0, SHMRT_DICT_STORE = 1, SHMRT_DICT_DELETE = 2 };

/*
 * Read-modify-write under the partition lock: fn receives the current value (old,
 * oldlen; old is NULL if key is absent) and may write a new value of up to cap
 * (= max_value) bytes into newbuf, setting *newlen, and return SHMRT_DICT_STORE; or
 * return SHMRT_DICT_DELETE, SHMRT_DICT_KEEP, or a negative error (returned as is,
 * the map unchanged). fn runs with the partition lock held: it must be short and must
 * not call the dict. Returns what fn returned (>= 0), or an error of shmrt_dict_set.
 * Concurrency and Ordering: as shmrt_dict_set; fn sees the latest committed value.
 */
typedef int (*shmrt_dict_update_fn)(const void *old, size_t oldlen, void *newbuf, size_t cap,
				    size_t *newlen, void *ctx);
SHMRT_API int shmrt_dict_update(const shmrt_dict_t *d, const void *key, size_t klen,
				shmrt_dict_update_fn fn, void *ctx);

/* Number of entries (exact when no writer runs; a sum of per-partition counts).
 * Concurrency: any. Ordering: relaxed (a racy sum while writers run). */
SHMRT_API uint64_t shmrt_dict_len(const shmrt_dict_t *d);

/*
 * Calls fn(key, klen, val, vlen, ctx) for each entry, partition by partition, each
 * partition walked in one read section on one table: an entry present during the
 * whole walk is seen exactly once; one set, deleted or resized concurrently is seen
 * at most once, with a value it had. fn returning non-zero stops the walk and is
 * returned. fn must not call shmrt_dict_reclaim. Returns 0, fn's value, -EUSERS,
 * -EBADMSG (a corrupted chain).
 * Concurrency and Ordering: as shmrt_dict_get, per partition.
 */
typedef int (*shmrt_dict_iter_fn)(const void *key, size_t klen, const void *val, size_t vlen,
				  void *ctx);
SHMRT_API int shmrt_dict_iterate(const shmrt_dict_t *d, shmrt_dict_iter_fn fn, void *ctx);

/* Removes every entry (each partition atomically). 0, -ENOSPC/-ENOMEM (no room for
 * an empty table: that partition and the later ones keep their entries), -EUSERS.
 * Concurrency: with every call; not atomic across partitions. Ordering: as set. */
SHMRT_API int shmrt_dict_clear(const shmrt_dict_t *d);

/*
 * Waits for a grace period and frees everything retired before the call (replaced
 * and deleted nodes, old tables). Readers killed in a read section are skipped.
 * Returns 0, -ETIMEDOUT (a live reader stayed in its section past the timeout),
 * -EDEADLK (called inside a read section), -EUSERS.
 * Concurrency: any (it takes each partition lock in turn). Ordering: returns after every
 * reader that was inside a section at the call has left it.
 */
SHMRT_API int shmrt_dict_reclaim(const shmrt_dict_t *d, shmrt_ns_t timeout);

typedef struct shmrt_dict_stats {
	uint64_t entries;
	uint64_t buckets;         /* sum over partitions */
	double load_factor;       /* entries / buckets */
	uint64_t pending;         /* retired nodes and tables awaiting a grace period */
	uint64_t pending_bytes;
	uint64_t bytes;           /* node and table bytes reachable from the map */
	uint64_t resizes;         /* tables replaced (grow, shrink, clear) */
	uint64_t reclaimed;       /* retired objects freed so far */
	uint64_t recoveries;      /* operations repaired after a writer died */
	uint32_t partitions, max_key, max_value;
} shmrt_dict_stats_t;

/* Statistics (racy sums while writers run). 0. Concurrency: any. Ordering: relaxed. */
SHMRT_API int shmrt_dict_stats(const shmrt_dict_t *d, shmrt_dict_stats_t *st);

/* ---- typed helpers: 8-byte keys and values ----------------------------------------- */

/* Encodes a double key: integral values in the int64 range as that integer (so 2.0
 * and 2 are one key, as in Python), -0.0 as 0; others as their IEEE bits with a
 * 9th tag byte. NaN is rejected (-EINVAL): it equals nothing. Returns the length. */
static inline int shmrt_dict_key_f64(double k, unsigned char out[9])
{
	if (isnan(k))
		return -22; /* -EINVAL */
	if (k >= -9223372036854775808.0 && k < 9223372036854775808.0 && (double)(int64_t)k == k) {
		int64_t i = (int64_t)k;
		memcpy(out, &i, 8);
		return 8;
	}
	memcpy(out, &k, 8);
	out[8] = 'd';
	return 9;
}

static inline int shmrt_dict_set_i64(const shmrt_dict_t *d, int64_t key, int64_t val)
{
	return shmrt_dict_set(d, &key, 8, &val, 8);
}
static inline int shmrt_dict_get_i64(const shmrt_dict_t *d, int64_t key, int64_t *val)
{
	size_t n;
	int64_t v;
	int rc = shmrt_dict_get(d, &key, 8, &v, 8, &n);
	if (rc == 0 && n != 8)
		return -71; /* -EPROTO: not an 8-byte value */
	if (rc == 0)
		*val = v;
	return rc;
}
static inline int shmrt_dict_set_f64(const shmrt_dict_t *d, int64_t key, double val)
{
	return shmrt_dict_set(d, &key, 8, &val, 8);
}
static inline int shmrt_dict_get_f64(const shmrt_dict_t *d, int64_t key, double *val)
{
	int64_t bits;
	int rc = shmrt_dict_get_i64(d, key, &bits);
	if (rc == 0)
		memcpy(val, &bits, 8);
	return rc;
}
static inline int shmrt_dict_set_f64key(const shmrt_dict_t *d, double key, const void *val,
					size_t vlen)
{
	unsigned char k[9];
	int n = shmrt_dict_key_f64(key, k);
	return n < 0 ? n : shmrt_dict_set(d, k, (size_t)n, val, vlen);
}
static inline int shmrt_dict_get_f64key(const shmrt_dict_t *d, double key, void *buf,
					size_t cap, size_t *vlen)
{
	unsigned char k[9];
	int n = shmrt_dict_key_f64(key, k);
	return n < 0 ? n : shmrt_dict_get(d, k, (size_t)n, buf, cap, vlen);
}

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_DICT_H */
