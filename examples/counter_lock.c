/*
 * Two processes add 100000 each to a shared counter, first under a separate Lock,
 * then under the Value's own lock (get_lock()). Both always print 200000.
 *
 *     with lock: shared_counter.value += 1
 *     with shared_counter.get_lock(): shared_counter.value += 1
 */
#include <shmrt.h>

#include <stdio.h>

#include "pyfmt.h"
#include <sys/wait.h>
#include <unistd.h>

static void increment(shmrt_value_t *c, const shmrt_lock_t *lock, int n)
{
	for (int i = 0; i < n; i++) {
		int32_t v;
		if (lock)
			(void)shmrt_lock_acquire(lock, -1);
		else
			(void)shmrt_value_lock(c, -1);
		(void)shmrt_value_get_i32(c, &v);
		(void)shmrt_value_set_i32(c, v + 1);
		if (lock)
			(void)shmrt_lock_release(lock);
		else
			(void)shmrt_value_unlock(c);
	}
}

static int run(shmrt_region_t *r, const char *name, const shmrt_lock_t *lock)
{
	shmrt_value_t counter;
	if (shmrt_value_open(r, name, SHMRT_O_CREATE, shmrt_vtype_from_code('i'), NULL, &counter))
		return -1;
	pid_t p[2];
	fflush(stdout); /* children must not inherit unflushed output */
	for (int i = 0; i < 2; i++)
		if ((p[i] = fork()) == 0) {
			increment(&counter, lock, 100000);
			_exit(0);
		}
	for (int i = 0; i < 2; i++)
		waitpid(p[i], NULL, 0);
	int32_t v = 0;
	(void)shmrt_value_get_i32(&counter, &v);
	printf("Counter: %d\n", v);
	return 0;
}

int main(void)
{
	shmrt_region_t *r = anon_region("counter"); /* inherited by children */
	shmrt_lock_t lock;
	if (shmrt_lock_open(r, "lock", SHMRT_O_CREATE, 0, &lock))
		return 1;
	if (run(r, "with_lock", &lock) || run(r, "with_get_lock", NULL))
		return 2;
	shmrt_region_close(r);
	return 0;
}
