/*
 * shmrt__yield_switched (base/wait.h), the test the spinning waits use to learn that
 * their core is shared:
 *  - with a busy thread pinned to our core, a wait's yields hand it the core: the
 *    answer is "switched" (the kernel counted the switch) within a wait of four
 *    yields, nearly every time (CFS alternates: a yield that ran the thread for its
 *    slice, then one that comes back at once);
 *  - a slow yield alone is not a switch: with our core to ourselves and the clock
 *    made slow by a signal handler that runs inside the yield (an interrupt-like
 *    stall, the noise a VM adds), the answer is "not switched" unless the kernel
 *    saw another task run on our core (checked against its own count).
 * Pinning needs two usable cores; without them the test says so and passes nothing
 * off as checked (skip).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/atomic.h"
#include "base/clock.h"
#include "base/wait.h"

static int stop_spin;

static void *spinner(void *arg)
{
	cpu_set_t *set = arg;
	if (pthread_setaffinity_np(pthread_self(), sizeof(*set), set) != 0)
		return (void *)1;
	uint64_t deadline = mono_ns() + 20000000000ull; /* bounded: 20 s at most */
	while (!load_acquire(&stop_spin) && mono_ns() < deadline)
		;
	return NULL;
}

/* Pins the calling thread to one CPU of those it may use now (the first, or the
 * last), saving its mask in *saved: -1 if it cannot. */
static int pin_self(int last, cpu_set_t *set, cpu_set_t *saved)
{
	if (pthread_getaffinity_np(pthread_self(), sizeof(*saved), saved) != 0 ||
	    CPU_COUNT(saved) < 2)
		return -1;
	int cpu = -1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, saved) && (cpu < 0 || last))
			cpu = i;
	CPU_ZERO(set);
	CPU_SET(cpu, set);
	return pthread_setaffinity_np(pthread_self(), sizeof(*set), set);
}

static void unpin_self(const cpu_set_t *saved)
{
	(void)pthread_setaffinity_np(pthread_self(), sizeof(*saved), saved);
}

static void t_busy_core_is_switched(void **s)
{
	(void)s;
	cpu_set_t set, saved;
	if (pin_self(0, &set, &saved) != 0)
		skip();
	store_release(&stop_spin, 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, spinner, &set), 0);
	usleep(20000); /* the spinner is running on our core */
	int switched = 0;
	for (int i = 0; i < 10; i++) { /* ten waits of up to four yields */
		struct shmrt__yield_probe p = { 0 };
		int sw = 0;
		for (int k = 0; k < 4 && !sw; k++)
			sw = shmrt__yield_switched(&p);
		switched += sw;
	}
	store_release(&stop_spin, 1);
	void *rc;
	assert_int_equal(pthread_join(t, &rc), 0);
	unpin_self(&saved);
	assert_null(rc);
	print_message("%d of 10 waits switched with a busy thread on our core\n", switched);
	assert_true(switched >= 8);
}

/* A stall inside the yield: SIGALRM's handler spins 20 us on our own thread. */
static volatile sig_atomic_t stalls;
static void stall(int sig)
{
	(void)sig;
	uint64_t t0 = mono_ns();
	while (mono_ns() - t0 < 20000)
		;
	stalls++;
}

static void t_slow_yield_alone_is_not_switched(void **s)
{
	(void)s;
	cpu_set_t set, saved;
	if (pin_self(1, &set, &saved) != 0)
		skip();
	struct sigaction sa = { .sa_handler = stall }, old;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	/* A timer every 50 us: many yields are stretched past the quick bound. */
	struct itimerval it = { .it_interval = { 0, 50 }, .it_value = { 0, 50 } };
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	int said = 0, truly = 0, quiet_stalls = 0;
	for (int i = 0; i < 2000; i++) {
		struct rusage a, b;
		getrusage(RUSAGE_THREAD, &a);
		/* Armed by hand with the count just read: the call times its yield only. */
		struct shmrt__yield_probe p = { .nivcsw = a.ru_nivcsw, .armed = 1 };
		sig_atomic_t st = stalls;
		int sw = shmrt__yield_switched(&p);
		int stalled = stalls != st;
		getrusage(RUSAGE_THREAD, &b);
		int kernel_saw = b.ru_nivcsw != a.ru_nivcsw;
		said += sw;
		/* A switch the kernel saw (another task on our core) justifies the answer. */
		truly += sw && kernel_saw;
		/* The case under test: a stall during the call, no switch, answer 0. */
		quiet_stalls += stalled && !kernel_saw && !sw;
	}
	struct itimerval off = { 0 };
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	unpin_self(&saved);
	print_message("%d calls stalled without a switch and said 0; %d said switched, %d of them "
		      "switched per the kernel\n", quiet_stalls, said, truly);
	assert_true(quiet_stalls > 0); /* the slow path was exercised and said 0 */
	assert_int_equal(said, truly);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_busy_core_is_switched),
		cmocka_unit_test(t_slow_yield_alone_is_not_switched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
