/*
 * Compiler hints and attributes used throughout shmrt (GCC and clang).
 */
#ifndef SHMRT_BASE_COMPILER_H
#define SHMRT_BASE_COMPILER_H

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define SHMRT_NOINLINE __attribute__((noinline))
/* For a hot helper with several callers that must stay inside its caller. */
#define SHMRT_ALWAYS_INLINE inline __attribute__((always_inline))
#define SHMRT_CACHELINE 64
#define SHMRT_ALIGNED(n) __attribute__((aligned(n)))

/*
 * initial-exec TLS: read at a fixed offset from the thread pointer, without a call to
 * __tls_get_addr on every queue operation or lock. It takes static TLS: a program that
 * dlopens libshmrt gets the few bytes it uses from glibc's reserve for that case.
 */
#define SHMRT_TLS_IE __attribute__((tls_model("initial-exec")))

#endif /* SHMRT_BASE_COMPILER_H */
