/*
 * A program started by tests/mp/worker_test.c through shmrt_worker_exec(). Links only
 * the public shared library.
 *
 *   worker_helper regions OFF N  attaches to the two regions handed over; adds N to the
 *                                Counter "hits" of the first and 2N to that of the
 *                                second; checks that the variable was taken out of
 *                                the environment and that a program it execs gets
 *                                no region; raises the word at OFF in the first, waits
 *                                (bounded) for the word after it; exits 42
 *   worker_helper none           checks that no region was handed over; exits 0
 *   worker_helper sleep          sleeps up to 30 s; exits 0
 *
 * Any other exit status names the check that failed.
 */
#include <shmrt.h>

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Runs this program again as "worker_helper none" with this process's environment,
 * by posix_spawn (no fork handlers: it claims no registry slot): 0 if it saw no
 * region handed over. */
static int grandchild(void)
{
	char *argv[] = { (char *)"worker_helper", (char *)"none", NULL };
	pid_t pid;
	int st;
	if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ))
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int regions(const char *offs, const char *ns)
{
	const char *v = getenv("WORKER_TEST");
	if (!v || strcmp(v, "yes"))
		return 10; /* envp not passed */
	v = getenv("SHMRT_REGION_FDS");
	if (!v || strstr(v, "99"))
		return 11; /* the caller's variable not replaced */
	shmrt_region_t *a, *b, *c;
	int rc;
	if ((rc = shmrt_region_inherited(0, &a)) || (rc = shmrt_region_inherited(1, &b))) {
		fprintf(stderr, "worker_helper: inherited: %s\n", shmrt_strerror(rc));
		return 12;
	}
	if (shmrt_region_inherited(2, &c) != -ENOENT)
		return 13;
	/* Adopted: the variable is gone, the descriptors are remembered (a second
	 * handle to region 0), and a program this one execs inherits nothing. */
	if (getenv("SHMRT_REGION_FDS"))
		return 16;
	if (shmrt_region_inherited(0, &c) || shmrt_region_close(c))
		return 17;
	if (grandchild())
		return 18;
	shmrt_counter_t ca, cb;
	if (shmrt_counter_open(a, "hits", 0, &ca) || shmrt_counter_open(b, "hits", 0, &cb))
		return 14;
	long n = atol(ns);
	for (long i = 0; i < n; i++) {
		shmrt_counter_add(&ca, 1);
		shmrt_counter_add(&cb, 2);
	}
	uint64_t *w = shmrt_ptr(a, (shmrt_off_t)strtoull(offs, NULL, 10)); /* [0] ready, [1] go */
	__atomic_store_n(&w[0], 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 10000 && !__atomic_load_n(&w[1], __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	if (shmrt_region_close(a) || shmrt_region_close(b))
		return 15;
	return 42;
}

static int none(void)
{
	shmrt_region_t *r;
	if (getenv("SHMRT_REGION_FDS"))
		return 20; /* a stale variable was passed on */
	return shmrt_region_inherited(0, &r) == -ENOENT ? 0 : 21;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "regions"))
		return regions(argv[2], argv[3]);
	if (argc == 2 && !strcmp(argv[1], "none"))
		return none();
	if (argc == 2 && !strcmp(argv[1], "sleep")) {
		for (int i = 0; i < 3000; i++)
			usleep(10000);
		return 0;
	}
	return 2;
}
