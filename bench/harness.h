/*
 * Benchmark harness shared by the C bodies and the C++ shim.
 *
 * A body runs `iters` operations and returns; the shim (main.cc) times it with
 * Google Benchmark. Multi-process cases use bench_mp_run(): it forks N workers that
 * prepare, wait at a start line in shared memory, run their operations, and report;
 * the parent times from the start signal to the last worker's end (wall clock) and
 * returns the total operations per second. Workers are pinned one per core when the
 * machine has enough cores, and are always reaped (a worker that does not finish in
 * time is killed and the case fails).
 */
#ifndef SHMRT_BENCH_HARNESS_H
#define SHMRT_BENCH_HARNESS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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

/* Bodies (alloc_bench.c). Each `*_open` prepares a context, `*_loop` runs n pairs. */
void *alloc_shmrt_open(void);
uint64_t alloc_shmrt_loop(void *ctx, uint64_t n);
void alloc_shmrt_close(void *ctx);
uint64_t alloc_glibc_loop(void *ctx, uint64_t n);
double alloc_shmrt_2proc(uint64_t ops, double *wall);
double alloc_glibc_2proc(uint64_t ops, double *wall);

/* value_bench.c */
#include <sys/types.h>
void *value_open(void);
void value_close(void *ctx);
uint64_t value_fetch_add_loop(void *ctx, uint64_t n);
uint64_t raw_atomic_loop(void *ctx, uint64_t n);
double counter_2proc(uint64_t ops, double *wall);
double raw_atomic_contended_2proc(uint64_t ops, double *wall);
double locked_add_2proc(uint64_t ops, double *wall);
double pthread_robust_mutex_2proc(uint64_t ops, double *wall);
void *array_open(void);
void array_close(void *ctx);
uint64_t array_bytes(void);
void array_snapshot_once(void *ctx);
void array_read_once(void *ctx);
void memcpy_once(void *ctx);
pid_t array_start_writer(void *ctx);
void array_stop_writer(pid_t pid);

/* queue_bench.c */
double queue_shmrt(uint64_t n, uint32_t msg, int P, int C, unsigned burst, double *wall);
double queue_ck_ring_raw(uint64_t n, double *wall);
double queue_fd_peer(uint64_t n, uint32_t msg, int unix_socket, double *wall);
double queue_posix_mq(uint64_t n, uint32_t msg, double *wall);
double pingpong_us(int mode, uint64_t rounds);
double pipe_shmrt(uint64_t n, double *wall);
double pipe_shmrt_call(uint64_t n, double *wall); /* without the inline fast paths */
double pipe_ck_ring_spsc_raw(uint64_t n, double *wall);
double pipe_spsc_64B_ck_ec(uint64_t n, double *wall); /* spsc_64B_raw woken through ck_ec */
double pipe_spsc_64B_raw(uint64_t n, double *wall);

/* iox_bench.c (built when Debian's iceoryx C binding is installed) */
double iox_pingpong_us(uint64_t rounds);

/* dict_bench.c, dict_boost.cc: the Dict cases (1M keys of 16 B, values of 64 B). */
#define DICT_KEYS 1000000ull
const char *dict_bench_key(uint64_t i);
void dict_bench_value(uint64_t i, char out[64]);
double dict_shmrt(uint64_t ops, int workers, int mixed, double *wall);
double dict_redis(uint64_t ops, int workers, int mixed, int depth, double *wall);
double dict_boost(uint64_t ops, int workers, int mixed, double *wall);

#ifdef __cplusplus
}
#endif
#endif
