/*
 * iceoryx peer of queue/pingpong/64B (issue 4): Eclipse iceoryx 2.0 from Debian, through
 * its C binding. The harness starts RouDi (iox-roudi, iceoryx's daemon), then two
 * processes: the pinger publishes 64 bytes on "shmrt/pp/ping" and waits for the echo on
 * "shmrt/pp/pong"; the ponger echoes. Chunks are loaned from iceoryx's shared memory
 * pools, written and published (zero-copy), taken and released. Waiting polls
 * iox_sub_take_chunk with a pause, iceoryx's lowest-latency mode (like the raw spin
 * peer), pinned one process per core as the other ping-pong cases.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <shmrt.h>

#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t roudi;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void roudi_stop(void)
{
	if (roudi > 0) {
		kill(roudi, SIGINT);
		waitpid(roudi, NULL, 0);
		roudi = 0;
	}
}

static int roudi_start(void)
{
	if (roudi > 0)
		return 0;
	roudi = fork();
	if (roudi == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execlp("iox-roudi", "iox-roudi", (char *)NULL);
		_exit(127);
	}
	if (roudi < 0)
		return -1;
	atexit(roudi_stop);
	usleep(500000); /* RouDi creates its shared memory, then accepts registrations */
	int st;
	return waitpid(roudi, &st, WNOHANG) == 0 ? 0 : -1; /* still running */
}

struct iox_shared {
	double us;
	int ok;
};

static inline void pause_cpu(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* One side: publishes on `out`, subscribes to `in`; the pinger measures. */
static int side(int pinger, uint64_t rounds, struct iox_shared *res)
{
	(void)shmrt_pin_core(pinger ? 0 : 1 % shmrt_numa_cores(), SHMRT_PIN_PROCESS);
	iox_runtime_init(pinger ? "shmrt_bench_ping" : "shmrt_bench_pong");
	iox_pub_storage_t ps;
	iox_sub_storage_t ss;
	iox_pub_options_t po;
	iox_pub_options_init(&po);
	iox_sub_options_t so;
	iox_sub_options_init(&so);
	so.queueCapacity = 16;
	iox_pub_t pub = iox_pub_init(&ps, "shmrt", "pp", pinger ? "ping" : "pong", &po);
	iox_sub_t sub = iox_sub_init(&ss, "shmrt", "pp", pinger ? "pong" : "ping", &so);
	uint64_t end = now_ns() + 10000000000ull;
	while ((!iox_pub_has_subscribers(pub) ||
		iox_sub_get_subscription_state(sub) != SubscribeState_SUBSCRIBED) && now_ns() < end)
		usleep(1000);
	if (now_ns() >= end)
		return 1;
	const uint64_t warm = 1000;
	uint64_t t0 = 0;
	for (uint64_t i = 0; i < rounds + warm; i++) {
		if (pinger && i == warm)
			t0 = now_ns();
		const void *in;
		void *out;
		if (pinger) {
			if (iox_pub_loan_chunk(pub, &out, 64) != AllocationResult_SUCCESS)
				return 2;
			memset(out, (int)i, 64);
			iox_pub_publish_chunk(pub, out);
			while (iox_sub_take_chunk(sub, &in) != ChunkReceiveResult_SUCCESS)
				pause_cpu();
			iox_sub_release_chunk(sub, in);
		} else {
			while (iox_sub_take_chunk(sub, &in) != ChunkReceiveResult_SUCCESS)
				pause_cpu();
			if (iox_pub_loan_chunk(pub, &out, 64) != AllocationResult_SUCCESS)
				return 2;
			memcpy(out, in, 64);
			iox_sub_release_chunk(sub, in);
			iox_pub_publish_chunk(pub, out);
		}
	}
	if (pinger) {
		res->us = (double)(now_ns() - t0) / 1e3 / (double)rounds;
		res->ok = 1;
	}
	iox_sub_deinit(sub);
	iox_pub_deinit(pub);
	iox_runtime_shutdown();
	return 0;
}

double iox_pingpong_us(uint64_t rounds)
{
	if (roudi_start())
		return -1;
	struct iox_shared *res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		return -1;
	res->ok = 0;
	pid_t p[2];
	for (int k = 0; k < 2; k++) {
		p[k] = fork();
		if (p[k] == 0)
			_exit(side(k == 0, rounds, res));
	}
	/* Bounded: a side that does not finish in 60 s is killed and the case fails. */
	uint64_t end = now_ns() + 60000000000ull;
	int done = 0, fail = 0;
	while (done < 2 && now_ns() < end) {
		for (int k = 0; k < 2; k++) {
			int st;
			if (p[k] > 0 && waitpid(p[k], &st, WNOHANG) == p[k]) {
				fail |= !WIFEXITED(st) || WEXITSTATUS(st);
				p[k] = 0;
				done++;
			}
		}
		usleep(10000);
	}
	for (int k = 0; k < 2; k++)
		if (p[k] > 0) {
			kill(p[k], SIGKILL);
			waitpid(p[k], NULL, 0);
			fail = 1;
		}
	double us = !fail && res->ok ? res->us : -1;
	munmap(res, sizeof(*res));
	return us;
}
