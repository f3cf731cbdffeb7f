/*
 * shmrt Value and Counter: named typed scalars in a region (Python's Value), and
 * striped counters for counters that many processes hammer.
 *
 * A Value is one 8-byte cell on a cache line of its own, with its robust lock on the
 * same line (Python's get_lock(), for compound updates: a locked update then moves one
 * line between processes, not two). Operations on the cell
 * are atomic; the typed fast paths in shmrt/inline/value.h compile to the bare
 * atomic instruction plus one predictable type check.
 *
 * Default memory order: sequentially consistent (what a Python user expects of
 * `v.value`); the *_relaxed variants order nothing but the cell itself (counters).
 *
 *  operation                 | concurrent with
 *  --------------------------+----------------------------------------------
 *  load/store/exchange/cas   | every operation, any thread of any process
 *  fetch_*                   | every operation
 *  lock/unlock               | other lockers (serialised); cell operations
 *                            | still run concurrently (the lock guards only
 *                            | code that holds it, as in Python)
 */
#ifndef SHMRT_VALUE_H
#define SHMRT_VALUE_H

#include <stdbool.h>
#include "common.h"
#include "region.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element types, with Python's typecodes. 'l'/'L' are C long (64-bit on LP64). */
typedef enum shmrt_vtype {
	SHMRT_VT_INT8 = 1,  /* 'b' */
	SHMRT_VT_UINT8,     /* 'B' */
	SHMRT_VT_INT16,     /* 'h' */
	SHMRT_VT_UINT16,    /* 'H' */
	SHMRT_VT_INT32,     /* 'i' */
	SHMRT_VT_UINT32,    /* 'I' */
	SHMRT_VT_LONG,      /* 'l' */
	SHMRT_VT_ULONG,     /* 'L' */
	SHMRT_VT_INT64,     /* 'q' */
	SHMRT_VT_UINT64,    /* 'Q' */
	SHMRT_VT_FLOAT,     /* 'f' */
	SHMRT_VT_DOUBLE,    /* 'd' */
	SHMRT_VT_CHAR,      /* 'c' */
	SHMRT_VT_BOOL,      /* '?' */
	SHMRT_VT_COUNT_
} shmrt_vtype_t;

/* Type for a Python typecode, or -EINVAL. */
SHMRT_API int shmrt_vtype_from_code(char code);
/* Typecode and size in bytes of a type (0 for an unknown type). */
SHMRT_API char shmrt_vtype_code(int type);
SHMRT_API size_t shmrt_vtype_size(int type);

/* A scalar of any type; which member is meaningful follows the Value's type. */
typedef union shmrt_scalar {
	int8_t i8;
	uint8_t u8;
	int16_t i16;
	uint16_t u16;
	int32_t i32;
	uint32_t u32;
	int64_t i64;   /* also 'l' */
	uint64_t u64;  /* also 'L' */
	float f32;
	double f64;
	char c;
	bool b;
} shmrt_scalar_t;

/* Process-local handle (fields are private; valid until the region is closed). */
typedef struct shmrt_value {
	void *cell;
	void *lock;
	shmrt_region_t *region;
	uint32_t type;
	uint32_t repr;  /* storage class used by the inline fast paths */
	bool created;   /* the open that filled this handle created the Value */
} shmrt_value_t;

/*
 * Creates or opens the Value `name` of the given type. On creation it holds *init
 * (NULL: zero), published together with the object. Returns 0, or the errors of
 * shmrt_object_open() (-EPROTOTYPE also when the Value exists with another element
 * type), -EINVAL for an unknown type or unknown flags (as when oflags and type are
 * swapped). out->created tells whether this call created it (and so whether *init
 * was applied).
 * Concurrency: as shmrt_object_open. Ordering: the initial value is visible to
 * every opener.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_value_open(shmrt_region_t *r, const char *name, int oflags,
					      int type, const shmrt_scalar_t *init,
					      shmrt_value_t *out);

/* Generic operations, for every type. They check the type of their arguments
 * against the Value's (the union member used is the one of its type). */
typedef enum shmrt_vop {
	SHMRT_OP_ADD, SHMRT_OP_SUB, SHMRT_OP_AND, SHMRT_OP_OR, SHMRT_OP_XOR,
	SHMRT_OP_MIN, SHMRT_OP_MAX,
} shmrt_vop_t;

/* Reads the value. 0 or -EINVAL. Ordering: seq_cst. */
SHMRT_API int shmrt_value_load(const shmrt_value_t *v, shmrt_scalar_t *out);
/* Writes the value. 0 or -EINVAL. Ordering: seq_cst. */
SHMRT_API int shmrt_value_store(const shmrt_value_t *v, shmrt_scalar_t x);
/* Swaps in x; *old (may be NULL) receives the previous value. Ordering: seq_cst. */
SHMRT_API int shmrt_value_exchange(const shmrt_value_t *v, shmrt_scalar_t x, shmrt_scalar_t *old);
/*
 * Compare-and-swap: if the value equals *expected (bitwise, for floats), stores
 * desired and returns 0; otherwise returns -EAGAIN with *expected updated to the
 * current value. Ordering: seq_cst (acquire on failure).
 */
SHMRT_API int shmrt_value_cas(const shmrt_value_t *v, shmrt_scalar_t *expected,
			      shmrt_scalar_t desired);
/*
 * Atomically applies op with arg and stores the previous value in *old (may be
 * NULL). Integers: every op (add/sub wrap); floats: ADD, SUB, MIN, MAX (a CAS loop);
 * bool and char: AND, OR, XOR, MIN, MAX. Returns 0, or -EINVAL for an op the type
 * does not have. Ordering: seq_cst.
 */
SHMRT_API int shmrt_value_fetch(const shmrt_value_t *v, shmrt_vop_t op, shmrt_scalar_t arg,
				shmrt_scalar_t *old);

/*
 * The Value's robust lock (Python's get_lock()), for compound updates.
 * lock: 0; -EOWNERDEAD: acquired, but its previous holder died while holding it: the
 * value may be half-updated; repair it, then shmrt_value_consistent() (unlocking
 * without that makes the lock unusable: -ENOTRECOVERABLE for everyone); -EAGAIN
 * (timeout 0, held); -ETIMEDOUT; -ENOTRECOVERABLE.
 * Concurrency: any threads/processes. Ordering: acquire on lock, release on unlock.
 */
SHMRT_API int shmrt_value_lock(const shmrt_value_t *v, shmrt_ns_t timeout);
SHMRT_API int shmrt_value_unlock(const shmrt_value_t *v);
SHMRT_API int shmrt_value_consistent(const shmrt_value_t *v);

/* ---- Counter ------------------------------------------------------------------- */

/* Process-local handle of a striped counter (fields private). */
typedef struct shmrt_counter {
	int64_t *stripes;   /* stripe k at stripes[k * 8]: one cache line each */
	uint32_t nrec;      /* per-thread stripes; stripe nrec is the shared one */
	bool created;       /* the open that filled this handle created the Counter */
	shmrt_region_t *region;
} shmrt_counter_t;

/*
 * Creates or opens a striped counter: one cache line per registry thread record of
 * the region, plus a shared one. Each thread adds to its own line, which nothing else
 * writes, so an add is a plain load and store: no atomic read-modify-write, no line
 * moving between cores. (Stripes by CPU would still need an atomic add, since two
 * threads can share a CPU; per-thread lines need none.) Errors as
 * shmrt_object_open. Concurrency: as shmrt_object_open.
 */
SHMRT_API SHMRT_MUST_USE int shmrt_counter_open(shmrt_region_t *r, const char *name, int oflags,
						shmrt_counter_t *out);

/*
 * Adds x. Ordering: relaxed. Concurrency: any thread of any process. A thread without
 * a registry record (table full, or an inspect-only handle) adds atomically to the
 * shared line. An add is never lost once it has returned, even if its process dies.
 */
SHMRT_API void shmrt_counter_add(const shmrt_counter_t *c, int64_t x);

/*
 * Sum of the stripes. Ordering: relaxed; not a linearizable snapshot while adds run
 * (every add that returned before the read started is counted).
 */
SHMRT_API int64_t shmrt_counter_read(const shmrt_counter_t *c);

/* The CPU the caller runs on (rseq when glibc registered it, else sched_getcpu). */
SHMRT_API unsigned shmrt_current_cpu(void);

#ifdef __cplusplus
}
#endif

#include "inline/value.h"

#endif /* SHMRT_VALUE_H */
