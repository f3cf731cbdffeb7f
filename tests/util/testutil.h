/* Helpers shared by shmrt's tests: unique names, bounded child processes. */
#ifndef SHMRT_TESTUTIL_H
#define SHMRT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

#include <shmrt.h>

/* TU_SANITIZED is 1 in a sanitizer build, whose instrumented code runs 5-20x slower
 * (TSan most): loops of a fixed size that only need to be long (a drain, a ping-pong)
 * take TU_SCALE(n), a tenth there, so they stay within their CTest timeout on a busy
 * machine. What they check is the same at either size. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TU_SANITIZED 1
#endif
#endif
#ifndef TU_SANITIZED
#define TU_SANITIZED 0
#endif
#define TU_SCALE(n) (TU_SANITIZED ? (n) / 10 : (n))

/* A region name unique to this test process; unlinked at exit. */
const char *tu_name(const char *tag);

/* Creates a region with the given size (0 = the default: what /dev/shm can hold),
 * asserting success. */
shmrt_region_t *tu_create(const char *name, size_t size, uint32_t flags);

/* A region and an offset in it: the argument of a forked child that works on an
 * object of its parent's. */
struct tu_fork_arg {
	shmrt_region_t *r;
	shmrt_off_t off;
};

/* Forks a child that runs fn(arg) and _exits with its return value. */
pid_t tu_fork(int (*fn)(void *), void *arg);

/* Waits for pid at most timeout_ms; on timeout SIGKILLs it and returns -1.
 * Otherwise returns the exit status (0..255), or 128+signal if it was killed. */
int tu_wait(pid_t pid, int timeout_ms);

/* Kills and reaps every child still tracked (also at exit). */
void tu_kill_all(void);

/* Monotonic milliseconds. */
uint64_t tu_ms(void);

/* A child's "ready" for its parent, so that nothing is timed by a fixed sleep (a forked
 * child takes 3-150 ms to open a region or connect, more on a loaded machine):
 * tu_read_byte waits at most timeout_ms for a byte on fd (a kernel pipe) and reads it
 * into *b (if b): 0, or -1 if none came; tu_await waits at most timeout_ms until the
 * shared word *flag is nonzero and returns it (0: it never was). */
int tu_read_byte(int fd, char *b, int timeout_ms);
uint64_t tu_await(const uint64_t *flag, int timeout_ms);

/* Small deterministic PRNG (xorshift64*). */
uint64_t tu_rand(uint64_t *state);

#endif
