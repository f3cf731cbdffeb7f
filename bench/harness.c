/* Multi-process timing for the benchmarks (see harness.h). */
#define _GNU_SOURCE
#include "harness.h"

#include <shmrt.h>

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct start_line {
	uint32_t ready;
	uint32_t go;
	uint32_t done;
	uint32_t failed;
	uint64_t ops;
	uint64_t end_ns;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double bench_mp_run(const bench_mp_case_t *c, double *wall)
{
	struct start_line *sl = mmap(NULL, sizeof(*sl), PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sl == MAP_FAILED)
		return -1;
	pid_t pids[64];
	int n = c->workers > 64 ? 64 : c->workers, cores = shmrt_numa_cores();
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			if (n <= cores)
				(void)shmrt_pin_core(i, SHMRT_PIN_PROCESS);
			void *st = c->setup ? c->setup(i, c->arg) : c->arg;
			if (!st)
				__atomic_fetch_add(&sl->failed, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&sl->ready, 1, __ATOMIC_RELEASE);
			while (!__atomic_load_n(&sl->go, __ATOMIC_ACQUIRE))
				sched_yield();
			uint64_t done = st ? c->run(st, c->ops_per_worker) : 0;
			uint64_t end = mono_ns();
			__atomic_fetch_add(&sl->ops, done, __ATOMIC_RELAXED);
			uint64_t prev = __atomic_load_n(&sl->end_ns, __ATOMIC_RELAXED);
			while (end > prev && !__atomic_compare_exchange_n(&sl->end_ns, &prev, end, 0,
									  __ATOMIC_RELAXED,
									  __ATOMIC_RELAXED))
				;
			__atomic_fetch_add(&sl->done, 1, __ATOMIC_RELEASE);
			_exit(0);
		}
	}
	uint64_t deadline = mono_ns() + 120000000000ull, start;
	while (__atomic_load_n(&sl->ready, __ATOMIC_ACQUIRE) < (uint32_t)n && mono_ns() < deadline)
		usleep(100);
	start = mono_ns();
	__atomic_store_n(&sl->go, 1, __ATOMIC_RELEASE);
	/* Sleep coarsely while the workers run: each wakeup of this process would take
	 * a core from them (workers time their own end, so this costs no precision). */
	while (__atomic_load_n(&sl->done, __ATOMIC_ACQUIRE) < (uint32_t)n && mono_ns() < deadline)
		usleep(20000);
	int ok = __atomic_load_n(&sl->done, __ATOMIC_ACQUIRE) == (uint32_t)n && !sl->failed;
	for (int i = 0; i < n; i++) {
		if (!ok)
			kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
	double secs = (double)(sl->end_ns - start) / 1e9, rate = (double)sl->ops / secs;
	munmap(sl, sizeof(*sl));
	if (wall)
		*wall = secs;
	return ok ? rate : -1;
}

double bench_mp_all(void *(*setup)(int, void *), uint64_t (*run)(void *, uint64_t), void *arg,
		    int workers, uint64_t ops, double *wall)
{
	bench_mp_case_t c = { setup, run, arg, workers, ops };
	double rate = bench_mp_run(&c, wall);
	/* Every operation must have succeeded. */
	return rate > 0 && (uint64_t)(rate * *wall + 0.5) >= (uint64_t)workers * ops ? rate : -1;
}

void bench_value64(uint64_t i, char out[64])
{
	memset(out, 'a' + (int)(i % 26), 64);
	memcpy(out, &i, sizeof(i));
}
