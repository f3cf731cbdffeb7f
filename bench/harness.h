/*
 * Benchmark bodies: every body the cases of main.cc run, one section per module, each
 * naming its files. A module's benchmark reads in its files: the C bodies (shmrt and
 * its C peers) in <module>_bench.c, the C++ peers (Boost.Interprocess) in
 * <module>_boost.cc, the Python peers in python/. gbench.h adapts the bodies to
 * Google Benchmark; main.cc registers the cases.
 *
 * A body runs `iters` operations and returns; the adapters time it with Google
 * Benchmark. Multi-process cases use bench_mp_run(): it forks N workers that prepare,
 * wait at a start line in shared memory, run their operations, and report; the parent
 * times from the start signal to the last worker's end (wall clock) and returns the
 * total operations per second. Workers are pinned one per core when the machine has
 * enough cores, and are always reaped (a worker that does not finish in time is killed
 * and the case fails).
 *
 * Shapes (what the adapters of gbench.h expect):
 *  - `*_open`/`*_loop`/`*_close`: a context, and a loop of n operations on it, timed
 *    per operation in this process;
 *  - `double f(uint64_t ops, <parameters>..., double *wall)`: a multi-process run of
 *    `ops` operations (per worker unless said otherwise); returns operations (or
 *    messages) per second, or a negative value on failure, and its wall clock.
 * The C++ peers are declared here too (extern "C"), so that this file is the whole
 * list of bodies.
 */
#ifndef SHMRT_BENCH_HARNESS_H
#define SHMRT_BENCH_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- harness.c: multi-process timing ------------------------------------------ */

/* Per-worker body of a multi-process case: prepare (not timed), then run. */
typedef struct bench_mp_case {
	void *(*setup)(int worker, void *arg);     /* in the worker, before the start line */
	uint64_t (*run)(void *state, uint64_t n);  /* returns operations done */
	void *arg;
	int workers;
	uint64_t ops_per_worker;
} bench_mp_case_t;

/* Runs the case; returns total ops/s, or a negative value on failure. */
double bench_mp_run(const bench_mp_case_t *c, double *wall_seconds);

/* bench_mp_run of workers x ops operations that must all succeed (run returns how
 * many did): the rate, or -1 if one failed. */
double bench_mp_all(void *(*setup)(int worker, void *arg), uint64_t (*run)(void *, uint64_t),
		    void *arg, int workers, uint64_t ops, double *wall_seconds);

/* The random draws of the bodies (xorshift64*). */
static inline uint64_t bench_xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* The 64-byte value of the Dict and Manager cases for i (its bytes, then a letter). */
void bench_value64(uint64_t i, char out[64]);

/* ---- alloc: alloc_bench.c, alloc_boost.cc --------------------------------------
 * alloc+free pairs of 64 B blocks. Each `*_open` prepares a context, `*_loop` runs n
 * pairs; the 2-process cases run the same loop in two processes on one heap. */
void *alloc_shmrt_open(void);
uint64_t alloc_shmrt_loop(void *ctx, uint64_t n);
void alloc_shmrt_close(void *ctx);
uint64_t alloc_glibc_loop(void *ctx, uint64_t n); /* ctx unused: the process's heap */
double alloc_shmrt_2proc(uint64_t ops, double *wall);
double alloc_glibc_2proc(uint64_t ops, double *wall);
void *alloc_boost_open(void); /* a managed_shared_memory segment of 256 MiB */
uint64_t alloc_boost_loop(void *ctx, uint64_t n);
void alloc_boost_close(void *ctx);
double alloc_boost_2proc(uint64_t ops, double *wall);

/* ---- value, counter, locked add, array: value_bench.c, value_boost.cc, ----------
 * python/locked_add.py, python/array_snapshot.py */
void *value_open(void);
void value_close(void *ctx);
uint64_t value_fetch_add_loop(void *ctx, uint64_t n);
uint64_t raw_atomic_loop(void *ctx, uint64_t n);
double counter_2proc(uint64_t ops, double *wall);
double raw_atomic_contended_2proc(uint64_t ops, double *wall);
double locked_add_2proc(uint64_t ops, double *wall);
double pthread_robust_mutex_2proc(uint64_t ops, double *wall);
double boost_mutex_2proc(uint64_t ops, double *wall); /* value_boost.cc */
/* Arrays of 8 MiB: one snapshot, read or memcpy per call, optionally under a writer
 * process that rewrites the array stripe by stripe until stopped. */
void *array_open(void);
void array_close(void *ctx);
uint64_t array_bytes(void);
void array_snapshot_once(void *ctx);
void array_read_once(void *ctx);
void memcpy_once(void *ctx);
pid_t array_start_writer(void *ctx);
void array_stop_writer(pid_t pid);

/* ---- queue, pipe: queue_bench.c, queue_boost.cc, iox_bench.c, python/queue_1p1c.py
 * `n` messages in all (split among the producers); the rate is messages/s. */
double queue_shmrt(uint64_t n, uint32_t msg, int P, int C, unsigned burst, double *wall);
double queue_ck_ring_raw(uint64_t n, double *wall);
double queue_fd_peer(uint64_t n, uint32_t msg, int unix_socket, double *wall);
double queue_posix_mq(uint64_t n, uint32_t msg, double *wall);
double queue_boost_mq(uint64_t n, int P, int C, double *wall); /* queue_boost.cc, 64 B */
/* Round trips of 64 bytes between two processes: microseconds per round trip. */
enum pingpong_mode {
	PP_SHMRT = 0,       /* two shmrt Queues */
	PP_SPIN_RAW = 1,    /* raw peer: two flags, spinning */
	PP_FUTEX_RAW = 2,   /* raw peer: two flags, futex waits and wakes */
	PP_PIPE = 3,        /* two pipe(2)s */
	PP_SHMRT_SPSC = 4,  /* two shmrt Queues opened SHMRT_QUEUE_SP | SHMRT_QUEUE_SC */
	PP_SHMRT_PIPE = 5,  /* one shmrt Pipe (both directions) */
};
double pingpong_us(int mode, uint64_t rounds);
double iox_pingpong_us(uint64_t rounds); /* iox_bench.c: built when iceoryx is found */
double pipe_shmrt(uint64_t n, double *wall);
double pipe_shmrt_call(uint64_t n, double *wall); /* without the inline fast paths */
double pipe_ck_ring_spsc_raw(uint64_t n, double *wall);
double pipe_spsc_64B_ck_ec(uint64_t n, double *wall); /* spsc_64B_raw woken through ck_ec */
double pipe_spsc_64B_raw(uint64_t n, double *wall);

/* ---- dict: dict_bench.c, dict_boost.cc, python/dict_manager.py ------------------
 * 1M keys of 16 B, values of 64 B; `ops` per worker; mixed: 90% gets, 10% sets. */
#define DICT_KEYS 1000000ull
const char *dict_bench_key(uint64_t i);
double dict_shmrt(uint64_t ops, int workers, int mixed, double *wall);
double dict_redis(uint64_t ops, int workers, int mixed, int depth, double *wall);
double dict_boost(uint64_t ops, int workers, int mixed, double *wall);

/* ---- redis_bench.c: the Redis peer of the dict and manager cases ----------------- */
/* Redis, started once per benchmark process: its socket, or NULL. */
const char *bench_redis_socket(void);
/* Sets keys[0, nkeys) (16 bytes each) to their values. Returns 0 or -1. */
int bench_redis_fill(const char (*keys)[16], uint64_t nkeys);
/* `ops` commands per worker on keys[0, nkeys) (filled), depth per round trip (1..32),
 * 10% SETs if mixed: total ops/s, or -1. */
double bench_redis_run(const char (*keys)[16], uint64_t nkeys, uint64_t ops, int workers,
		       int depth, int mixed, double *wall);

/* Redis over loopback TCP (a second server, on a free port, started once per
 * benchmark process and stopped at exit): its port, or 0. */
int bench_redis_tcp_port(void);
/* A connection to it (TCP_NODELAY), a redisContext *, or NULL. */
struct redisContext *bench_redis_tcp_connect(void);

/* ---- remote: remote_bench.c --------------------------------------------------------
 * Remote region objects over loopback TCP (shmrt/remote.h) and their Redis peers on one
 * TCP connection each. fetch_add: `ops` round trips of one client (Redis: INCR);
 * queue 1p1c: `n` messages of 64 B from one producer client to one consumer client,
 * in bursts of `burst` (Redis: LPUSH and RPOP pipelined `burst` deep): messages/s. */
double remote_fetch_add_tcp(uint64_t ops, double *wall);
double remote_redis_incr_tcp(uint64_t ops, double *wall);
double remote_queue_tcp(uint64_t n, int burst, double *wall);
double remote_redis_queue_tcp(uint64_t n, int burst, double *wall);

/* ---- manager: manager_bench.c, python/manager_peer.py ----------------------------
 * A dict of MGR_KEYS keys of 16 B, values of 64 B; `ops` per client; depth: calls in
 * flight per client (1, or a batch of up to 32); mixed: 90% gets, 10% sets. */
#define MGR_KEYS 1000
double manager_shmrt(uint64_t ops, int tcp, int workers, int depth, int mixed, double *wall);
double manager_redis(uint64_t ops, int workers, int depth, int mixed, double *wall);
/* Lists created, asked their len and released, one client: lists/s. */
double manager_list_create(uint64_t ops, double *wall);
/* acquire+release pairs on one Lock, `ops` per client: total pairs/s. */
double manager_lock(uint64_t ops, int workers, double *wall);
/* The raw round trip: 48-byte messages echoed by one epoll process over Unix
 * sockets, blocking reads, `ops` per client: total round trips/s. */
double manager_unix_echo(uint64_t ops, int workers, int spin, double *wall);

#ifdef __cplusplus
}
#endif
#endif
