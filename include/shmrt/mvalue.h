/*
 * shmrt manager values: msgpack-shaped trees in process memory (library
 * shmrt_manager), their msgpack codec, and Python's repr of them.
 *
 * A value is one of nine kinds: nil, bool, int (int64), float (double), str (UTF-8,
 * always valid), bytes, list, map, and ref (a reference to another managed object, by
 * its 64-bit id). They are what the Manager's server stores and what its clients send
 * and receive: the shape of Python's None, bool, int, float, str, bytes, list, dict and
 * proxies.
 *
 * Ownership: single. Every value has one owner: the caller that made it, or the
 * container it was put in. Calls that put a value into a container (list_append,
 * list_insert, list_set, map_set) CONSUME it: on success it belongs to the container,
 * on failure it has been freed. A NULL item is taken for the result of a constructor
 * that ran out of memory (-ENOMEM), so that `shmrt_mv_list_append(l, shmrt_mv_int(1))`
 * needs no check between the two calls. A value that already belongs to a container
 * is refused (-EINVAL, left where it is): copy it (shmrt_mv_copy) or take it out
 * (shmrt_mv_list_pop, shmrt_mv_map_pop) first. Getters return borrowed pointers, valid
 * until the entry is replaced or removed or its container is freed.
 *
 * Maps are Python dicts: insertion order kept (a deleted key set again goes to the
 * end), average O(1) lookup through a hash index (keyed hashes: colliding keys cannot
 * be computed from outside), keys are the hashable kinds nil, bool, int, float, str
 * and bytes, compared as Python compares them: 1, 1.0 and True are the same key, and
 * setting an equal key keeps the key already there and replaces its value ({1: 'a'}
 * then d[True] = 'b' is {1: 'b'}). A NaN key equals no other value, so every set of a
 * new NaN adds an entry, as distinct NaN objects do in Python; like Python's identity
 * check, a lookup with the map's own key pointer (from map_next) finds its entry.
 *
 * Nesting: the tree walks (copy, equal, encode, repr) recurse, and refuse trees
 * deeper than SHMRT_MV_DEPTH_MAX (-ELOOP); free is iterative and takes any depth. The
 * decoder builds no tree deeper than its limit (64 by default). A value must not be
 * put into its own descendant (a cycle): only the direct case (a container into
 * itself) is detected.
 *
 * Integers are int64. msgpack's uint64 above INT64_MAX is refused by the decoder
 * (-ERANGE): no kind of this API holds it, and a double would round it silently.
 *
 * Concurrency: values are process-local and unsynchronised. Calls that only read
 * (get, len, next, equal, copy, encode, repr) may run in several threads at once on
 * one tree; a call that changes a tree excludes every other call on that tree. Trees
 * that share nothing are independent. Ordering: none (no shared memory).
 */
#ifndef SHMRT_MVALUE_H
#define SHMRT_MVALUE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum shmrt_mv_kind {
	SHMRT_MV_NIL = 0,   /* None */
	SHMRT_MV_BOOL,      /* True, False */
	SHMRT_MV_INT,       /* int64 */
	SHMRT_MV_FLOAT,     /* double */
	SHMRT_MV_STR,       /* valid UTF-8, may hold NULs; NUL-terminated in memory too */
	SHMRT_MV_BYTES,
	SHMRT_MV_LIST,
	SHMRT_MV_MAP,
	SHMRT_MV_REF,       /* a managed object's id */
} shmrt_mv_kind_t;

typedef struct shmrt_mv shmrt_mv_t;

/* The msgpack extension type of a ref: fixext 8 (0xd7), type 1, the id as a big-endian
 * uint64 (Python: msgpack.ExtType(1, id.to_bytes(8, 'big'))). */
#define SHMRT_MV_EXT_REF 1

/* Deepest tree that copy, equal, encode and repr walk, and largest decoder depth. */
#define SHMRT_MV_DEPTH_MAX 1000

/*
 * Constructors. Each returns a new value owned by the caller, or NULL with errno set:
 * ENOMEM; EILSEQ (str: not valid UTF-8); EINVAL (a NULL pointer with a non-zero
 * length). shmrt_mv_str takes a NUL-terminated string, shmrt_mv_strn n bytes (which
 * may include NULs). Lists and maps start empty; the *_cap variants reserve room for
 * n items or keys (a hint: they grow anyway).
 * Concurrency: any thread.
 */
SHMRT_API shmrt_mv_t *shmrt_mv_nil(void);
SHMRT_API shmrt_mv_t *shmrt_mv_bool(bool b);
SHMRT_API shmrt_mv_t *shmrt_mv_int(int64_t i);
SHMRT_API shmrt_mv_t *shmrt_mv_float(double d);
SHMRT_API shmrt_mv_t *shmrt_mv_str(const char *s);
SHMRT_API shmrt_mv_t *shmrt_mv_strn(const char *s, size_t n);
SHMRT_API shmrt_mv_t *shmrt_mv_bytes(const void *p, size_t n);
SHMRT_API shmrt_mv_t *shmrt_mv_ref(uint64_t id);
SHMRT_API shmrt_mv_t *shmrt_mv_list(void);
SHMRT_API shmrt_mv_t *shmrt_mv_list_cap(size_t n);
SHMRT_API shmrt_mv_t *shmrt_mv_map(void);
SHMRT_API shmrt_mv_t *shmrt_mv_map_cap(size_t n);

/*
 * Frees v and everything it holds (NULL: nothing). v must be owned by the caller,
 * not by a container (a value inside one is freed with it, or removed by delete).
 * Iterative: any depth. Concurrency: excludes every other call on the tree.
 */
SHMRT_API void shmrt_mv_free(shmrt_mv_t *v);

/*
 * Deep copy, owned by the caller, or NULL with errno ENOMEM or ELOOP (deeper than
 * SHMRT_MV_DEPTH_MAX), or EINVAL (v NULL). Maps keep their order.
 * Concurrency: a reader of v.
 */
SHMRT_API shmrt_mv_t *shmrt_mv_copy(const shmrt_mv_t *v);

/*
 * Python's a == b: numbers compare by value across kinds (1 == 1.0 == True, NaN
 * equals nothing, not even itself unless a and b are the same pointer, as Python's
 * identity shortcut), str and bytes are never equal, lists element by element, maps
 * as sets of equal keys with equal values (order ignored), refs by id. Trees deeper
 * than SHMRT_MV_DEPTH_MAX, and NULL, compare unequal.
 * Concurrency: a reader of a and b.
 */
SHMRT_API bool shmrt_mv_equal(const shmrt_mv_t *a, const shmrt_mv_t *b);

/*
 * Structural identity: the same kinds everywhere, floats with the same bits (NaN is
 * identical to a NaN of the same bits, -0.0 is not 0.0), maps in the same order. What
 * an encode-decode round trip preserves. Concurrency: as shmrt_mv_equal.
 */
SHMRT_API bool shmrt_mv_identical(const shmrt_mv_t *a, const shmrt_mv_t *b);

/*
 * Kind of v (SHMRT_MV_NIL for NULL) and its name ("nil", "bool", ..., "ref").
 * Concurrency: a reader.
 */
SHMRT_API shmrt_mv_kind_t shmrt_mv_kind(const shmrt_mv_t *v);
SHMRT_API const char *shmrt_mv_kind_name(shmrt_mv_kind_t k);

/*
 * Accessors: copy v's scalar into *out. Returns 0, -EINVAL (v or out NULL),
 * -EPROTOTYPE (v is of another kind; *out untouched). as_int takes an int only (not
 * a bool), as_float a float only. as_str and as_bytes point into v (borrowed; a str is
 * NUL-terminated after its n bytes); len may be NULL.
 * Concurrency: a reader.
 */
SHMRT_API int shmrt_mv_as_bool(const shmrt_mv_t *v, bool *out);
SHMRT_API int shmrt_mv_as_int(const shmrt_mv_t *v, int64_t *out);
SHMRT_API int shmrt_mv_as_float(const shmrt_mv_t *v, double *out);
SHMRT_API int shmrt_mv_as_str(const shmrt_mv_t *v, const char **out, size_t *len);
SHMRT_API int shmrt_mv_as_bytes(const shmrt_mv_t *v, const void **out, size_t *len);
SHMRT_API int shmrt_mv_as_ref(const shmrt_mv_t *v, uint64_t *out);

/*
 * Lists. Indexes are Python's: a negative one counts from the end (-1 is the last).
 *  len     number of items; 0 for NULL or another kind.
 *  get     the item (borrowed), or NULL: index out of range, not a list.
 *  append  adds item at the end. CONSUMES item (see Ownership).
 *  insert  inserts item before index, clamped to [0, len] as list.insert. CONSUMES.
 *  set     replaces (and frees) the item at index. CONSUMES item.
 *  pop     removes the item at index and hands it to the caller (*out).
 *  delete  removes and frees the item at index.
 * Returns 0, -EINVAL (l NULL or not a list, item already in a container or l itself),
 * -ERANGE (index out of range: get/set/pop/delete), -ENOMEM (item NULL, or no memory
 * to grow), -E2BIG (a list of 2^32-1 items).
 * Concurrency: get and len are readers; the others exclude every call on the tree.
 */
SHMRT_API size_t shmrt_mv_list_len(const shmrt_mv_t *l);
SHMRT_API shmrt_mv_t *shmrt_mv_list_get(const shmrt_mv_t *l, int64_t index);
SHMRT_API int shmrt_mv_list_append(shmrt_mv_t *l, shmrt_mv_t *item);
SHMRT_API int shmrt_mv_list_insert(shmrt_mv_t *l, int64_t index, shmrt_mv_t *item);
SHMRT_API int shmrt_mv_list_set(shmrt_mv_t *l, int64_t index, shmrt_mv_t *item);
SHMRT_API SHMRT_MUST_USE int shmrt_mv_list_pop(shmrt_mv_t *l, int64_t index, shmrt_mv_t **out);
SHMRT_API int shmrt_mv_list_delete(shmrt_mv_t *l, int64_t index);

/*
 * Maps (Python dicts).
 *  len      number of keys; 0 for NULL or another kind.
 *  set      m[key] = val. CONSUMES key and val: a key equal to one already there is
 *           freed (the first key stays), the old value is freed.
 *  get      m[key] (borrowed), or NULL: absent, key unhashable, m not a map.
 *  get_str  m[s] for a NUL-terminated str key, without building a value.
 *  pop      removes key and hands its value to the caller (*out); the key is freed.
 *  delete   removes and frees key and value.
 *  next     iteration in insertion order: *pos = 0 first; returns true and the entry
 *           (borrowed key and value; either pointer may be NULL), or false at the end.
 *           During an iteration the map may have values replaced and entries deleted
 *           (not inserted: a new key may move the entries, restart then).
 * Returns 0, -EINVAL (m NULL or not a map, key unhashable (list, map, ref), key or
 * val already in a container or m itself), -ENOENT (pop/delete: absent), -ENOMEM (key
 * or val NULL, or no memory to grow), -E2BIG (2^31 keys).
 * Concurrency: get, get_str, len, next are readers; the others exclude every call.
 */
SHMRT_API size_t shmrt_mv_map_len(const shmrt_mv_t *m);
SHMRT_API int shmrt_mv_map_set(shmrt_mv_t *m, shmrt_mv_t *key, shmrt_mv_t *val);
SHMRT_API shmrt_mv_t *shmrt_mv_map_get(const shmrt_mv_t *m, const shmrt_mv_t *key);
SHMRT_API shmrt_mv_t *shmrt_mv_map_get_str(const shmrt_mv_t *m, const char *s);
SHMRT_API SHMRT_MUST_USE int shmrt_mv_map_pop(shmrt_mv_t *m, const shmrt_mv_t *key,
					      shmrt_mv_t **out);
SHMRT_API int shmrt_mv_map_delete(shmrt_mv_t *m, const shmrt_mv_t *key);
SHMRT_API bool shmrt_mv_map_next(const shmrt_mv_t *m, size_t *pos, const shmrt_mv_t **key,
				 shmrt_mv_t **val);

/* ---- msgpack ------------------------------------------------------------------- */

/* A growable byte buffer. Zero it (or shmrt_mv_buf_init) before first use; the
 * fields may be read, and len set to 0 to reuse it. */
typedef struct shmrt_mv_buf {
	uint8_t *data;
	size_t len, cap;
} shmrt_mv_buf_t;

SHMRT_API void shmrt_mv_buf_init(shmrt_mv_buf_t *b);
SHMRT_API void shmrt_mv_buf_free(shmrt_mv_buf_t *b);

/*
 * Appends v's msgpack encoding to b (so a caller may put a frame header first). The
 * smallest form of each int, str, bin, array and map; floats as float 64; refs as
 * SHMRT_MV_EXT_REF. Returns 0, -EINVAL (v or b NULL), -ENOMEM, -ELOOP (deeper than
 * SHMRT_MV_DEPTH_MAX), -EMSGSIZE (a str, bytes, list or map over 2^32-1). On failure
 * b->len is what it was (the contents beyond it are unspecified).
 * Concurrency: a reader of v; b is the caller's.
 */
SHMRT_API int shmrt_mv_encode(const shmrt_mv_t *v, shmrt_mv_buf_t *b);

/* Bounds of the decoder, which faces the network. A zero field takes its default. */
typedef struct shmrt_mv_limits {
	size_t max_bytes;    /* longest input: 16 MiB */
	uint64_t max_elems;  /* most values in one input, keys included: 1 << 20 */
	uint32_t max_depth;  /* most nested lists and maps: 64 (at most SHMRT_MV_DEPTH_MAX) */
} shmrt_mv_limits_t;

#define SHMRT_MV_MAX_BYTES_DEFAULT (16u << 20)
#define SHMRT_MV_MAX_ELEMS_DEFAULT (1u << 20)
#define SHMRT_MV_MAX_DEPTH_DEFAULT 64u

/*
 * Decodes one msgpack value from the len bytes at p into a new tree (*out, owned by
 * the caller). shmrt_mv_decode wants exactly one value; shmrt_mv_decode_prefix
 * decodes the first and says in *used how many bytes it took (the rest is the
 * caller's). lim NULL: the defaults.
 *
 * Bounded: no declared length or count may exceed the bytes left (every element takes
 * at least one byte), so the memory taken is at most a small multiple of len (a
 * five-byte array header declaring 2^32-1 items allocates nothing); nesting is walked
 * with an explicit stack of at most max_depth frames (no recursion). Accepted: every
 * msgpack format (float 32 widens to double; str 8/16/32 and bin 8/16/32; fixext,
 * ext 8/16/32 of type SHMRT_MV_EXT_REF and 8 bytes). A key set twice keeps the first
 * key and the last value, as a Python dict display does.
 *
 * Returns 0, or (*out, *used untouched):
 *  -EINVAL    p, out or used NULL; a limit out of range (max_depth > SHMRT_MV_DEPTH_MAX)
 *  -EMSGSIZE  len > max_bytes
 *  -EBADMSG   malformed: truncated, a length or count over the bytes left, the
 *             reserved byte 0xc1, a map key that is a list, map or ref, an ext of
 *             type SHMRT_MV_EXT_REF and a length other than 8; trailing bytes
 *             (shmrt_mv_decode only)
 *  -EILSEQ    a str that is not valid UTF-8 (overlong, surrogate, > U+10FFFF, cut)
 *  -ENOTSUP   an ext type other than SHMRT_MV_EXT_REF (the timestamp -1 included)
 *  -ERANGE    a uint 64 above INT64_MAX
 *  -ELOOP     lists and maps nested deeper than max_depth
 *  -E2BIG     more than max_elems values
 *  -ENOMEM
 * Concurrency: any thread; p is only read.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_mv_decode(const void *p, size_t len,
					     const shmrt_mv_limits_t *lim, shmrt_mv_t **out);
SHMRT_API SHMRT_MUST_USE int shmrt_mv_decode_prefix(const void *p, size_t len,
						    const shmrt_mv_limits_t *lim,
						    shmrt_mv_t **out, size_t *used);

/* ---- Python's repr ---------------------------------------------------------------- */

/*
 * Writes repr(v) as Python 3.11 writes it: None, True, False, 42, floats in their
 * shortest round-trip form (0.25, 1.0, 1e+16, 1e-05, inf, -inf, nan, -0.0), str with
 * Python's choice of quotes and escapes (non-ASCII printable characters kept as
 * UTF-8, others as \xhh, \uhhhh or \Uhhhhhhhh, by Unicode 14.0 as Python 3.11),
 * bytes as b'...', [1, 2], {1: '1', '2': 2} in insertion order. A ref, which Python
 * shows as its proxy, is written <ref ID> (decimal id): the value layer does not
 * know the referent's type.
 *
 * shmrt_mv_repr writes at most cap bytes to buf, NUL-terminated when cap > 0, like
 * snprintf, and returns the length of the whole repr (without the NUL): the output
 * is complete if that is < cap. Returns -EINVAL (v NULL, buf NULL with cap > 0) or
 * -ELOOP (deeper than SHMRT_MV_DEPTH_MAX). shmrt_mv_repr_file writes to f and returns
 * 0, -EINVAL, -ELOOP or -EIO (a write failed).
 * Concurrency: a reader of v. Locale-independent (the C locale's decimal point).
 */
SHMRT_API ssize_t shmrt_mv_repr(const shmrt_mv_t *v, char *buf, size_t cap);
SHMRT_API int shmrt_mv_repr_file(const shmrt_mv_t *v, FILE *f);

/*
 * repr(float(d)) alone, into buf (at least 32 bytes: the longest is 24 characters,
 * "-2.2250738585072014e-308"). Returns the length.
 * Concurrency: any thread.
 */
SHMRT_API int shmrt_mv_float_repr(double d, char buf[32]);

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_MVALUE_H */
