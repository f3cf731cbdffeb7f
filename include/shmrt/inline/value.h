/*
 * Inline fast paths of shmrt Values and Counters. Not for direct inclusion: include
 * <shmrt.h> (or shmrt/value.h).
 *
 * Each typed call checks the Value's storage class with one predictable branch and
 * then is the bare atomic instruction. They return 0, or -EPROTOTYPE when the Value
 * holds another type ('l' and 'q' share the i64 calls, 'L' and 'Q' the u64 ones).
 * Ordering: seq_cst, or relaxed for the *_relaxed variants: counters, and compound
 * updates made under the Value's lock (the unlock publishes them, a release).
 * Concurrency: any thread of any process, with every other Value operation.
 *
 * Memory ordering. This header is public, so it spells its atomics with the
 * compiler's __atomic builtins; its labels are the Value's (those of the library's
 * own Value operations, which run on the same cells):
 *   M1  seq_cst get, set, fetch_add and successful CAS: one total order over every
 *       M1 on the cell, in any process, the library's generic operations included;
 *       a set or RMW is a release and a get or RMW an acquire, so what the writer did
 *       before its M1 is visible to whoever reads the value it wrote. Pairs with
 *       every other M1.
 *   A1  a CAS that fails: an acquire load of the current value, pairs with the M1
 *       that wrote it.
 * The *_relaxed calls are relaxed at the caller's choice: they order nothing but the
 * cell itself (a counter, or an update under the Value's lock, whose acquire and
 * release order it). The f64 add is a weak CAS loop: M1 when it stores, a relaxed
 * load when a round fails (it only hands the loop the value to retry with).
 */
#ifndef SHMRT_INLINE_VALUE_H
#define SHMRT_INLINE_VALUE_H

#ifndef SHMRT_VALUE_H
#error "include <shmrt.h>, not shmrt/inline/value.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Storage classes (shmrt_value_t.repr). */
enum { SHMRT__R_I8 = 1, SHMRT__R_U8, SHMRT__R_I16, SHMRT__R_U16, SHMRT__R_I32, SHMRT__R_U32,
       SHMRT__R_I64, SHMRT__R_U64, SHMRT__R_F32, SHMRT__R_F64, SHMRT__R_BOOL };

/* One predictable branch: a NULL or never-opened handle (repr 0) is -EINVAL, a Value
 * of another storage class -EPROTOTYPE. */
#define SHMRT__VCHECK(v, r)                                                             \
	do {                                                                            \
		if (__builtin_expect(!(v) || (v)->repr != (r), 0))                      \
			return !(v) || !(v)->repr ? -EINVAL : -EPROTOTYPE;              \
	} while (0)

#define SHMRT__TYPED(name, T, R)                                                        \
	static inline int shmrt_value_get_##name(const shmrt_value_t *v, T *out)        \
	{                                                                               \
		SHMRT__VCHECK(v, R);                                                    \
		/* M1: seq_cst load, the Value's contract. */                           \
		*out = __atomic_load_n((T *)v->cell, __ATOMIC_SEQ_CST);                 \
		return 0;                                                               \
	}                                                                               \
	static inline int shmrt_value_set_##name(const shmrt_value_t *v, T x)           \
	{                                                                               \
		SHMRT__VCHECK(v, R);                                                    \
		/* M1: seq_cst store, the Value's contract. */                          \
		__atomic_store_n((T *)v->cell, x, __ATOMIC_SEQ_CST);                    \
		return 0;                                                               \
	}                                                                               \
	static inline int shmrt_value_get_##name##_relaxed(const shmrt_value_t *v, T *out) \
	{                                                                               \
		SHMRT__VCHECK(v, R);                                                    \
		/* Relaxed: the caller's choice (*_relaxed): the cell alone. */         \
		*out = __atomic_load_n((T *)v->cell, __ATOMIC_RELAXED);                 \
		return 0;                                                               \
	}                                                                               \
	static inline int shmrt_value_set_##name##_relaxed(const shmrt_value_t *v, T x) \
	{                                                                               \
		SHMRT__VCHECK(v, R);                                                    \
		/* Relaxed: the caller's choice (*_relaxed): the cell alone. */         \
		__atomic_store_n((T *)v->cell, x, __ATOMIC_RELAXED);                    \
		return 0;                                                               \
	}                                                                               \
	static inline int shmrt_value_fetch_add_##name(const shmrt_value_t *v, T x, T *old) \
	{                                                                               \
		SHMRT__VCHECK(v, R);                                                    \
		/* M1: seq_cst RMW, the Value's contract. */                            \
		T o = __atomic_fetch_add((T *)v->cell, x, __ATOMIC_SEQ_CST);            \
		if (old)                                                                \
			*old = o;                                                       \
		return 0;                                                               \
	}                                                                               \
	static inline int shmrt_value_fetch_add_##name##_relaxed(const shmrt_value_t *v, T x, \
								 T *old)                \
	{                                                                               \
		SHMRT__VCHECK(v, R);                                                    \
		/* Relaxed: the caller's choice (*_relaxed): an atomic add alone. */    \
		T o = __atomic_fetch_add((T *)v->cell, x, __ATOMIC_RELAXED);            \
		if (old)                                                                \
			*old = o;                                                       \
		return 0;                                                               \
	}                                                                               \
	static inline int shmrt_value_cas_##name(const shmrt_value_t *v, T *expected, T desired) \
	{                                                                               \
		SHMRT__VCHECK(v, R);                                                    \
		/* M1 on success (strong, seq_cst); A1 on failure: an acquire load of  \
		 * the current value, pairs with the M1 that wrote it. */              \
		return __atomic_compare_exchange_n((T *)v->cell, expected, desired, 0,  \
						   __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)  \
			       ? 0                                                      \
			       : -EAGAIN;                                               \
	}

SHMRT__TYPED(i32, int32_t, SHMRT__R_I32)
SHMRT__TYPED(u32, uint32_t, SHMRT__R_U32)
SHMRT__TYPED(i64, int64_t, SHMRT__R_I64)
SHMRT__TYPED(u64, uint64_t, SHMRT__R_U64)

/* Doubles: load/store are atomic moves; add is a CAS loop. */
static inline int shmrt_value_get_f64(const shmrt_value_t *v, double *out)
{
	SHMRT__VCHECK(v, SHMRT__R_F64);
	/* M1: seq_cst load, the Value's contract. */
	uint64_t bits = __atomic_load_n((uint64_t *)v->cell, __ATOMIC_SEQ_CST);
	__builtin_memcpy(out, &bits, sizeof(bits));
	return 0;
}
static inline int shmrt_value_set_f64(const shmrt_value_t *v, double x)
{
	SHMRT__VCHECK(v, SHMRT__R_F64);
	uint64_t bits;
	__builtin_memcpy(&bits, &x, sizeof(bits));
	/* M1: seq_cst store, the Value's contract. */
	__atomic_store_n((uint64_t *)v->cell, bits, __ATOMIC_SEQ_CST);
	return 0;
}
static inline int shmrt_value_fetch_add_f64(const shmrt_value_t *v, double x, double *old)
{
	SHMRT__VCHECK(v, SHMRT__R_F64);
	/* Relaxed: a guess that the CAS below checks. */
	uint64_t *cell = (uint64_t *)v->cell, cur = __atomic_load_n(cell, __ATOMIC_RELAXED), nxt;
	double d;
	do {
		__builtin_memcpy(&d, &cur, sizeof(d));
		d += x;
		__builtin_memcpy(&nxt, &d, sizeof(d));
		/* M1 when it stores (weak, seq_cst); a failed round is a relaxed load
		 * that hands the loop the current value. */
	} while (!__atomic_compare_exchange_n(cell, &cur, nxt, 1, __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
	if (old)
		__builtin_memcpy(old, &cur, sizeof(*old));
	return 0;
}

#undef SHMRT__TYPED
#undef SHMRT__VCHECK

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_INLINE_VALUE_H */
