/*
 * Atomics whose memory order is part of their name (mimalloc's habit), so that no
 * reader hunts for an order argument, and copies that race by design.
 *
 * They are the compiler's __atomic builtins rather than Concurrency Kit's ck_pr or
 * liburcu's uatomic: ThreadSanitizer sees every access made through them, and on
 * x86-64 and arm64 they compile to the same instructions (checked on the queue's and
 * the pipe's hot paths). Every use in shmrt that orders anything carries a label and
 * names its partner (docs/DESIGN.md, "Memory ordering"); a relaxed use says in one
 * line why nothing needs ordering there.
 *
 * All CAS wrappers are strong (no spurious failure) and store the current value in
 * *(expp) when they fail.
 */
#ifndef SHMRT_BASE_ATOMIC_H
#define SHMRT_BASE_ATOMIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "compiler.h"

#define load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define load_seq_cst(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)

#define store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define store_seq_cst(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

#define fetch_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define fetch_add_acq_rel(p, v) __atomic_fetch_add((p), (v), __ATOMIC_ACQ_REL)
#define fetch_add_seq_cst(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define fetch_sub_relaxed(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)
#define fetch_sub_seq_cst(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_SEQ_CST)
#define fetch_and_seq_cst(p, v) __atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST)
#define fetch_or_release(p, v) __atomic_fetch_or((p), (v), __ATOMIC_RELEASE)
#define fetch_or_seq_cst(p, v) __atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)
#define fetch_xor_seq_cst(p, v) __atomic_fetch_xor((p), (v), __ATOMIC_SEQ_CST)

#define exchange_release(p, v) __atomic_exchange_n((p), (v), __ATOMIC_RELEASE)
#define exchange_acq_rel(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
#define exchange_seq_cst(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)

#define cas_relaxed(p, expp, v)                                                        \
	__atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_RELAXED,          \
				    __ATOMIC_RELAXED)
/* Acquire on success only: a lock's taking CAS. */
#define cas_acquire(p, expp, v)                                                        \
	__atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_ACQUIRE,          \
				    __ATOMIC_RELAXED)
#define cas_acq_rel(p, expp, v)                                                        \
	__atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_ACQ_REL,          \
				    __ATOMIC_ACQUIRE)
/* Seq_cst on success: also a full barrier (a locked instruction on x86). */
#define cas_seq_cst(p, expp, v)                                                        \
	__atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_SEQ_CST,          \
				    __ATOMIC_RELAXED)
/* As cas_seq_cst, and a failure is an acquire load of the current value. */
#define cas_seq_cst_acq_fail(p, expp, v)                                               \
	__atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_SEQ_CST,          \
				    __ATOMIC_ACQUIRE)
/* Weak: may fail spuriously; for CAS loops that compute the new value each round. */
#define cas_weak_seq_cst(p, expp, v)                                                   \
	__atomic_compare_exchange_n((p), (expp), (v), true, __ATOMIC_SEQ_CST,           \
				    __ATOMIC_RELAXED)

#define fence_acquire() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define fence_seq_cst() __atomic_thread_fence(__ATOMIC_SEQ_CST)
/* Orders nothing between CPUs: keeps the compiler from moving accesses across it. */
#define compiler_barrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/*
 * Copies bytes that another process may be writing at the same time, by design: a
 * seqlock or ring protocol discards the copy if it raced. Under ThreadSanitizer the
 * copy is made of relaxed atomics, so the race is a declared one; elsewhere memcpy.
 */
static inline void shmrt__copy_racy(void *dst, const void *src, size_t n)
{
#ifdef __SANITIZE_THREAD__
	unsigned char *d = (unsigned char *)dst;
	const unsigned char *s = (const unsigned char *)src;
	for (size_t i = 0; i < n; i++)
		__atomic_store_n(&d[i], __atomic_load_n(&s[i], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
#else
	if (n >= 16 && n <= 64) {
		/* Two fixed-size moves that overlap in the middle, inline: the message
		 * sizes of a queue or pipe are mostly small, and the call into memcpy's
		 * size dispatch cost more than the copy. */
		char *d = (char *)dst;
		const char *s = (const char *)src;
		if (n <= 32) {
			__builtin_memcpy(d, s, 16);
			__builtin_memcpy(d + n - 16, s + n - 16, 16);
		} else {
			__builtin_memcpy(d, s, 32);
			__builtin_memcpy(d + n - 32, s + n - 32, 32);
		}
		return;
	}
	memcpy(dst, src, n);
#endif
}

#endif /* SHMRT_BASE_ATOMIC_H */
