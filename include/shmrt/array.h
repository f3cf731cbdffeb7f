/*
 * shmrt Array: a named array of N typed elements (Python's Array, and SharedMemory
 * + numpy for numeric data), protected by seqlocks per stripe of elements.
 *
 * Elements are split in stripes (4 KiB by default). Each stripe has a sequence
 * counter (Concurrency Kit's ck_sequence) and a robust lock that serialises its
 * writers. Readers take no lock and write nothing shared: they copy and retry if a
 * writer got in. So readers never block writers, and writers of disjoint stripes
 * never contend.
 *
 *  operation            | consistency                    | concurrent with
 *  ---------------------+--------------------------------+-------------------------
 *  read                 | each stripe at one instant     | everything
 *  snapshot             | the whole range at one instant | everything (falls back to
 *                       |                                | taking the stripe locks
 *                       |                                | if writers keep winning)
 *  write                | each stripe atomically         | everything
 *  begin/end_write      | the range, as one write        | everything
 *  fetch (element)      | that element (atomic)          | everything (it bypasses
 *                       |                                | the seqlock: use it for
 *                       |                                | histogram-style counters)
 *  lock/unlock          | the whole array, for code that | other lockers only (like
 *                       | wants Python's semantics       | Python's get_lock())
 *
 * Dead writers: a writer killed inside a stripe leaves it odd-numbered. Readers spin
 * briefly, yield, then probe the stripe's robust lock; once its death is established
 * the stripe is marked torn and every read or snapshot touching it returns -EUCLEAN
 * (never the half-written data as good) until a write covers the whole stripe or
 * shmrt_array_repair() is called. Waits are bounded by that liveness check: a
 * reader never spins forever on a dead writer.
 *
 * Ordering: a read or snapshot that returns 0 observes each stripe as some complete
 * write left it (acquire, paired with the writer's release at the end of its write).
 */
#ifndef SHMRT_ARRAY_H
#define SHMRT_ARRAY_H

#include "common.h"
#include "region.h"
#include "alloc.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmrt_array {
	void *shm;
	char *data;
	uint64_t n;             /* elements */
	uint32_t elem;          /* bytes per element */
	uint32_t type;          /* shmrt_vtype_t */
	uint64_t stripe_elems;  /* elements per stripe */
	uint64_t nstripes;
	shmrt_region_t *region;
	bool created;           /* the open that filled this handle created the Array */
} shmrt_array_t;

typedef struct shmrt_array_opts {
	uint32_t stripe_bytes;          /* bytes per stripe, rounded to elements; 0: 4096 */
	const shmrt_placement_t *placement; /* NUMA placement of the data; NULL: local */
	const void *init;               /* n elements copied in at creation; NULL: zeros */
} shmrt_array_opts_t;

/*
 * Creates or opens the array `name` of n elements of `type` (Python typecode through
 * shmrt_vtype_from_code). Data larger than 16 KiB is page aligned (and placed as
 * asked); smaller data is cache-line aligned. Errors: those of shmrt_object_open
 * (-EPROTOTYPE also for another element type or length), -EINVAL (n == 0, unknown
 * type). Without SHMRT_O_CREATE, n may be 0: the existing Array's length is taken
 * (shmrt_array_len). Concurrency: as shmrt_object_open.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_array_open(shmrt_region_t *r, const char *name, int oflags,
					      int type, uint64_t n,
					      const shmrt_array_opts_t *opts, shmrt_array_t *out);

/* Copies count elements from src to elements [off, off+count). 0, -EINVAL (range),
 * -ENOTRECOVERABLE (a stripe lock is corrupted). */
SHMRT_API int shmrt_array_write(const shmrt_array_t *a, uint64_t off, const void *src,
				uint64_t count);
/* Copies elements [off, off+count) to dst, each stripe consistent. 0, -EINVAL,
 * -EUCLEAN (a stripe is torn by a dead writer; dst is then unspecified). */
SHMRT_API int shmrt_array_read(const shmrt_array_t *a, uint64_t off, void *dst, uint64_t count);
/* As read, but the whole range is one instant's state. */
SHMRT_API int shmrt_array_snapshot(const shmrt_array_t *a, uint64_t off, void *dst,
				   uint64_t count);
/* One element, as read/write. */
SHMRT_API int shmrt_array_get(const shmrt_array_t *a, uint64_t i, shmrt_scalar_t *out);
SHMRT_API int shmrt_array_set(const shmrt_array_t *a, uint64_t i, shmrt_scalar_t x);
/* Atomic read-modify-write of element i (see shmrt_value_fetch for the ops). */
SHMRT_API int shmrt_array_fetch(const shmrt_array_t *a, uint64_t i, shmrt_vop_t op,
				shmrt_scalar_t arg, shmrt_scalar_t *old);

/*
 * In-place kernels: begin_write locks the stripes of [off, off+count) and opens their
 * seqlocks; *ptr gets the elements' address. Write through it, then end_write with
 * the same range publishes the change (readers see all of it or retry), from the same
 * thread. 0, -EINVAL (end_write: a range this thread did not open with begin_write:
 * nothing changes).
 */
SHMRT_API int shmrt_array_begin_write(const shmrt_array_t *a, uint64_t off, uint64_t count,
				      void **ptr);
SHMRT_API int shmrt_array_end_write(const shmrt_array_t *a, uint64_t off, uint64_t count);

/* Marks the stripes of [off, off+count) as no longer torn (after the caller restored
 * their contents). 0 or -EINVAL. */
SHMRT_API int shmrt_array_repair(const shmrt_array_t *a, uint64_t off, uint64_t count);

/* The whole-array robust lock; results as shmrt_lock_acquire. */
SHMRT_API int shmrt_array_lock(const shmrt_array_t *a, shmrt_ns_t timeout);
SHMRT_API int shmrt_array_unlock(const shmrt_array_t *a);
SHMRT_API int shmrt_array_consistent(const shmrt_array_t *a);

/* Raw element pointer: no protection (for phases separated by a Barrier). */
static inline void *shmrt_array_data(const shmrt_array_t *a)
{
	return a->data;
}

/* Number of elements (Python's len()), and the element type (shmrt_vtype_t);
 * 0 for a NULL or never-opened handle. */
static inline uint64_t shmrt_array_len(const shmrt_array_t *a)
{
	return a ? a->n : 0;
}
static inline int shmrt_array_type(const shmrt_array_t *a)
{
	return a ? (int)a->type : 0;
}

/*
 * Typed element access: shmrt_array_get_f64(&a, i, &x), shmrt_array_set_i32(&a, i, 7).
 * The C type must be the Array's element type, or the call fails with -EPROTOTYPE
 * and changes nothing (an int32 written into an Array of doubles is refused, not
 * reinterpreted). 'l' and 'L' Arrays take i64 and u64, 'c' takes i8 ('?' Arrays:
 * shmrt_array_get/set with the .b member). Otherwise as shmrt_array_get/set: 0,
 * -EINVAL (i out of range, NULL handle), -EUCLEAN (get: the element's stripe is
 * torn by a dead writer).
 */
#define SHMRT__ARRAY_TYPED(name, T, t1, t2)                                              \
	static inline int shmrt_array_get_##name(const shmrt_array_t *a, uint64_t i, T *out) \
	{                                                                                \
		if (!a || !out)                                                          \
			return -EINVAL;                                                  \
		if (a->type != (uint32_t)(t1) && a->type != (uint32_t)(t2))              \
			return -EPROTOTYPE;                                              \
		return shmrt_array_read(a, i, out, 1);                                   \
	}                                                                                \
	static inline int shmrt_array_set_##name(const shmrt_array_t *a, uint64_t i, T x) \
	{                                                                                \
		if (!a)                                                                  \
			return -EINVAL;                                                  \
		if (a->type != (uint32_t)(t1) && a->type != (uint32_t)(t2))              \
			return -EPROTOTYPE;                                              \
		return shmrt_array_write(a, i, &x, 1);                                   \
	}
SHMRT__ARRAY_TYPED(i8, int8_t, SHMRT_VT_INT8, SHMRT_VT_CHAR)
SHMRT__ARRAY_TYPED(u8, uint8_t, SHMRT_VT_UINT8, SHMRT_VT_UINT8)
SHMRT__ARRAY_TYPED(i16, int16_t, SHMRT_VT_INT16, SHMRT_VT_INT16)
SHMRT__ARRAY_TYPED(u16, uint16_t, SHMRT_VT_UINT16, SHMRT_VT_UINT16)
SHMRT__ARRAY_TYPED(i32, int32_t, SHMRT_VT_INT32, SHMRT_VT_INT32)
SHMRT__ARRAY_TYPED(u32, uint32_t, SHMRT_VT_UINT32, SHMRT_VT_UINT32)
SHMRT__ARRAY_TYPED(i64, int64_t, SHMRT_VT_INT64, SHMRT_VT_LONG)
SHMRT__ARRAY_TYPED(u64, uint64_t, SHMRT_VT_UINT64, SHMRT_VT_ULONG)
SHMRT__ARRAY_TYPED(f32, float, SHMRT_VT_FLOAT, SHMRT_VT_FLOAT)
SHMRT__ARRAY_TYPED(f64, double, SHMRT_VT_DOUBLE, SHMRT_VT_DOUBLE)
#undef SHMRT__ARRAY_TYPED

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_ARRAY_H */
