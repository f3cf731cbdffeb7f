/*
 * shmrt: common definitions (export macro, offsets, timeouts, errors).
 *
 * Conventions of the whole API (DESIGN.md section 8):
 *  - Functions return 0 or a negative errno. Out-parameters come last and are left
 *    untouched when a function fails.
 *  - Timeouts are int64_t nanoseconds: 0 = try once, negative = wait forever.
 *  - Everything stored in shared memory is addressed by shmrt_off_t, an offset from
 *    the region's base: every process maps a region at its own address.
 *  - A NULL handle, or a zeroed one (never opened, or whose open failed), is refused:
 *    calls that return 0 or a negative errno return -EINVAL, calls that return a count
 *    or a flag return 0 (or -EINVAL for a flag), and calls that return nothing do
 *    nothing. The inline fast paths included.
 *  - Calls that take something back from the caller (free, commit, abort, release,
 *    end_write, unlock) check that it is the caller's to give back: anything else is
 *    -EINVAL (or -EPERM for a lock), and nothing changes.
 */
#ifndef SHMRT_COMMON_H
#define SHMRT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMRT_STATIC)
# define SHMRT_API
#elif defined(SHMRT_BUILDING)
# define SHMRT_API __attribute__((visibility("default")))
#else
# define SHMRT_API
#endif

#define SHMRT_MUST_USE __attribute__((warn_unused_result))

/* An offset from a region's base. 0 is never a valid object offset (the header is there). */
typedef uint64_t shmrt_off_t;

/* Nanoseconds; see the timeout convention above. */
typedef int64_t shmrt_ns_t;
#define SHMRT_FOREVER ((shmrt_ns_t)-1)
#define SHMRT_NOWAIT ((shmrt_ns_t)0)

/*
 * Returns a human-readable message for an error code returned by shmrt (a negative
 * errno; a positive one is accepted too). The messages describe what the code means
 * for shmrt (e.g. -EBADMSG: "not a shmrt region, or its header is corrupted").
 *
 * Concurrency: any thread, any time. Ordering: none (pure function).
 */
SHMRT_API const char *shmrt_strerror(int err);
/* The message for an error of a call on an object of a kind (SHMRT_TYPE_* of
 * shmrt/region.h; SHMRT_TYPE_NONE for region calls): -EPIPE from a Pipe reads "the
 * peer closed its end or died", from a Barrier "the barrier is broken". */
SHMRT_API const char *shmrt_strerror_kind(int err, uint32_t kind);

#ifdef __cplusplus
}
#endif
#endif /* SHMRT_COMMON_H */
