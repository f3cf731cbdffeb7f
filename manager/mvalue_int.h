/*
 * Internals of the manager's values (shmrt/mvalue.h), shared by mvalue.c (the tree),
 * mvalue_codec.c (msgpack) and mvalue_repr.c (Python's repr).
 *
 * A value is one malloc'ed block of 24 bytes plus what its kind needs right after it:
 * the bytes of a str or bytes (NUL-terminated), the header of a map. A list's items
 * are a separate array of cap + 1 pointers: the extra slot, past the items, is the
 * link of shmrt_mv_free()'s work stack, as a map's `link` is (so free needs no memory
 * and no recursion).
 *
 * A map is CPython's compact dict: an array of entries in insertion order (a deleted
 * entry keeps its place with key NULL until the next resize compacts the array) and
 * an index of 2^k uint32 slots, linear probing, each slot 0 (empty), MV_DUMMY (the
 * entry was deleted) or an entry's index + 1. Entries and index are one block. The
 * entry array never holds more than 2/3 of the slot count, dummies included, so a
 * probe always ends on an empty slot. A popitem takes the last live entry and trims
 * the deleted ones after it off the entry count (as CPython's does), so that draining
 * a map by popitem is O(1) amortised; their index slots stay dummies, counted in
 * `spent` until the next rebuild.
 */
#ifndef SHMRT_MANAGER_MVALUE_INT_H
#define SHMRT_MANAGER_MVALUE_INT_H

#include "shmrt/mvalue.h"

#include <stdbool.h>
#include <stdint.h>

#define MV_OWNED 0x01u     /* flags: the value belongs to a container */
#define MV_DUMMY UINT32_MAX /* index slot of a deleted entry */
#define MV_LIST_MAX (UINT32_MAX - 1u)
#define MV_MAP_MAX (1u << 31)

struct mv_entry {
	uint64_t hash;
	shmrt_mv_t *key;   /* NULL: deleted */
	shmrt_mv_t *val;
};

struct mv_map {
	struct mv_entry *e;  /* ecap entries, then the index (mask + 1 slots) */
	uint32_t *idx;
	uint32_t used;       /* live entries */
	uint32_t n;          /* entries filled, deleted ones included */
	uint32_t spent;      /* index slots left MV_DUMMY by deleted entries trimmed off
	                        the end (popitem): n + spent slots are taken, and a full
	                        array (n + spent == ecap) is rebuilt */
	uint32_t ecap;
	uint32_t mask;
	shmrt_mv_t *link;    /* free()'s work stack */
};

struct shmrt_mv {
	uint8_t kind;        /* shmrt_mv_kind_t */
	uint8_t flags;       /* MV_OWNED */
	uint8_t pad[6];
	union {
		bool b;
		int64_t i;
		double f;
		uint64_t ref;
		struct {
			const char *p;  /* the bytes right after the value (or a caller's,
					 * in a key built on the stack for a lookup) */
			size_t n;
		} s;                    /* str, bytes */
		struct {
			shmrt_mv_t **items;  /* cap + 1 slots (none while cap is 0) */
			uint32_t len, cap;
		} l;
		struct mv_map *m;       /* right after the value */
	} u;
};
_Static_assert(sizeof(struct shmrt_mv) == 24, "a value is 24 bytes");

/* A new empty list or map with room for n items or keys, or NULL (errno ENOMEM). */
shmrt_mv_t *shmrt__mv_list_new(size_t n);
shmrt_mv_t *shmrt__mv_map_new(size_t n);
/* A new str or bytes value of n bytes copied from p, not validated; NULL: ENOMEM. */
shmrt_mv_t *shmrt__mv_bytes_new(uint8_t kind, const void *p, size_t n);

/* Appends item to l, which has room for it (no checks, no growth). */
void shmrt__mv_list_push(shmrt_mv_t *l, shmrt_mv_t *item);

/* m[key] = val for a hashable key, consuming both. 0 or -ENOMEM / -E2BIG. */
int shmrt__mv_map_put(shmrt_mv_t *m, shmrt_mv_t *key, shmrt_mv_t *val);

/*
 * Removes m's last inserted entry (Python's dict.popitem): 0 and *key, *val (the
 * caller's to free); -ENOENT (m empty); -EINVAL (m not a map). O(1) amortised:
 * deleted entries at the end are trimmed, each once. Never allocates.
 */
int shmrt__mv_map_popitem(shmrt_mv_t *m, shmrt_mv_t **key, shmrt_mv_t **val);
/* The value of m's last inserted entry (the one popitem takes), or NULL (m empty or
 * not a map). */
shmrt_mv_t *shmrt__mv_map_last(const shmrt_mv_t *m);

/*
 * The id of a request frame [id, ...] that shmrt_mv_decode refused as a whole (a uint
 * 64 above INT64_MAX further in, -ERANGE), so that the request can be answered with
 * an error instead of dropping its client: reads the array header and the first item
 * only. Returns 0 and *id; -EBADMSG (not an array, empty, or its first item is not an
 * int: nothing to answer); -ERANGE (the id itself is out of range), -ENOMEM.
 * Concurrency: any thread; p is only read.
 */
int shmrt__mv_request_id(const void *p, size_t len, int64_t *id);

/* Whether v may be a map key (nil, bool, int, float, str, bytes). */
static inline bool shmrt__mv_hashable(const shmrt_mv_t *v)
{
	return v->kind <= SHMRT_MV_BYTES;
}

/* 0 if the n bytes at p are valid UTF-8 (no overlong form, no surrogate, nothing
 * above U+10FFFF, nothing cut), else -EILSEQ. */
int shmrt__utf8_check(const uint8_t *p, size_t n);

/* Whether Python 3.11's str.isprintable() holds for code point cp >= 0x80
 * (mvalue_unicode.c, generated from Python's unicodedata, Unicode 14.0). */
bool shmrt__mv_printable(uint32_t cp);

#endif /* SHMRT_MANAGER_MVALUE_INT_H */
