/*
 * The process registry: a forked child gets a slot of its own, its slot and blocks are
 * reclaimed once it is dead, a full registry refuses openers until a dead holder's
 * slot is reclaimed, and each thread's record is given back when the thread exits.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int child_writes(void *p)
{
	struct tu_fork_arg *a = p;
	/* The child has its own slot, not the parent's. */
	size_t n;
	shmrt_proc_info_t pi[8];
	if (shmrt_region_procs(a->r, pi, 8, &n) || n != 2)
		return 10;
	int mine = 0;
	for (size_t i = 0; i < n; i++)
		mine += pi[i].pid == getpid() && pi[i].state == SHMRT_PROC_ALIVE;
	if (mine != 1)
		return 11;
	shmrt_off_t off;
	if (shmrt_alloc(a->r, 48, &off))
		return 12;
	strcpy(shmrt_ptr(a->r, a->off), "from child");
	*(shmrt_off_t *)((char *)shmrt_ptr(a->r, a->off) + 32) = off;
	return 0;
}

static void t_fork_and_registry(void **s)
{
	(void)s;
	const char *name = tu_name("fork");
	shmrt_region_t *r = tu_create(name, 8 << 20, 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "buf", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 64, NULL,
					   &oi), 0);
	struct tu_fork_arg a = { r, oi.off };
	pid_t pid = tu_fork(child_writes, &a);
	assert_int_equal(tu_wait(pid, 10000), 0);
	assert_string_equal(shmrt_ptr(r, oi.off), "from child");
	/* The child exited without closing: its slot is dead until reclaimed, and the
	 * block it allocated can be freed by the parent. */
	size_t n;
	shmrt_proc_info_t pi[8];
	assert_int_equal(shmrt_region_procs(r, pi, 8, &n), 0);
	assert_int_equal(n, 2);
	int dead = 0;
	for (size_t i = 0; i < n; i++)
		dead += pi[i].pid == pid && pi[i].state == SHMRT_PROC_DEAD;
	assert_int_equal(dead, 1);
	unsigned rec = 0;
	assert_int_equal(shmrt_region_gc(r, &rec), 0);
	assert_int_equal(rec, 1);
	assert_int_equal(shmrt_region_procs(r, pi, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pi[0].pid, getpid());
	shmrt_off_t child_off = *(shmrt_off_t *)((char *)shmrt_ptr(r, oi.off) + 32);
	assert_int_equal(shmrt_usable_size(r, child_off), 48);
	assert_int_equal(shmrt_free(r, child_off), 0);
	shmrt_region_close(r);
}

static int hold_slot(void *p)
{
	(void)p;
	pause();
	return 0;
}

static void t_registry_full(void **s)
{
	(void)s;
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.size = 8 << 20;
	o.max_procs = 2;
	const char *name = tu_name("full");
	shmrt_region_t *r;
	assert_int_equal(shmrt_region_open(name, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r), 0);
	pid_t pid = tu_fork(hold_slot, NULL); /* takes the second slot */
	uint64_t end = tu_ms() + 5000;
	size_t n = 0;
	while (shmrt_region_procs(r, NULL, 0, &n) == 0 && n < 2 && tu_ms() < end)
		usleep(1000);
	assert_int_equal(n, 2);
	shmrt_region_t *r2 = NULL;
	assert_int_equal(shmrt_region_open(name, 0, NULL, &r2), -EUSERS);
	/* Once the holder is dead, its slot is reclaimed by the next opener. */
	kill(pid, SIGKILL);
	assert_int_equal(tu_wait(pid, 5000), 128 + SIGKILL);
	assert_int_equal(shmrt_region_open(name, 0, NULL, &r2), 0);
	shmrt_region_close(r2);
	shmrt_region_close(r);
}

static void *thread_allocs(void *p)
{
	shmrt_region_t *r = p;
	shmrt_off_t off;
	if (shmrt_alloc(r, 100, &off))
		return (void *)1;
	return (void *)(uintptr_t)(shmrt_free(r, off) ? 2 : 0);
}

static void t_thread_records(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("threads"), 8 << 20, 0);
	shmrt_region_stats_t st;
	shmrt_off_t off;
	assert_int_equal(shmrt_alloc(r, 16, &off), 0);
	assert_int_equal(shmrt_region_stats(r, &st), 0);
	assert_int_equal(st.threads, 1);
	for (int i = 0; i < 8; i++) {
		pthread_t t;
		void *ret;
		assert_int_equal(pthread_create(&t, NULL, thread_allocs, r), 0);
		assert_int_equal(pthread_join(t, &ret), 0);
		assert_null(ret);
	}
	/* Each exited thread gave its record (and cache) back. */
	assert_int_equal(shmrt_region_stats(r, &st), 0);
	assert_int_equal(st.threads, 1);
	assert_int_equal(shmrt_free(r, off), 0);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_fork_and_registry),
		cmocka_unit_test(t_registry_full),
		cmocka_unit_test(t_thread_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
