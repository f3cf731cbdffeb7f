/*
 * Unrelated executables attach to a region by name (posix_spawn, not fork), the
 * registry shows them, and the `shmrt` tool reports the region, its objects and both
 * processes; then gc and rm through the tool, and its errors on bad input. `shmrt rm`
 * refuses a region a live process uses (naming it) unless forced, and removes one
 * whose processes are all dead.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static pid_t spawn_helper(const char *name, const char *n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/attach_helper", getenv("SHMRT_TEST_BIN"));
	char *argv[] = { path, (char *)name, (char *)n, NULL };
	pid_t pid;
	assert_int_equal(posix_spawn(&pid, path, NULL, NULL, argv, environ), 0);
	return pid;
}

/* Runs `shmrt ARGS`, returns its exit status and (in out) its stdout+stderr. */
static int tool(char *out, size_t cap, const char *args)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", getenv("SHMRT_TOOL"), args);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, cap - 1, f);
	out[n] = 0;
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void t_unrelated_executables(void **s)
{
	(void)s;
	const char *name = tu_name("exec");
	shmrt_region_t *r = tu_create(name, 16 << 20, 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "counter", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 24, NULL,
					   &oi), 0);
	uint64_t *w = shmrt_ptr(r, oi.off);
	shmrt_dict_t d;
	assert_int_equal(shmrt_dict_open(r, "dict", SHMRT_O_CREATE, NULL, &d), 0);
	assert_int_equal(shmrt_dict_set(&d, "greeting", 8, "hello", 5), 0);
	pid_t a = spawn_helper(name, "100000"), b = spawn_helper(name, "50000");
	uint64_t end = tu_ms() + 10000;
	while (__atomic_load_n(&w[1], __ATOMIC_ACQUIRE) < 2 && tu_ms() < end)
		usleep(1000);
	assert_int_equal(w[1], 2);
	assert_int_equal(w[0], 150000);
	char key[32];
	int64_t v;
	size_t len;
	snprintf(key, sizeof(key), "pid-%d", (int)a);
	assert_int_equal(shmrt_dict_get(&d, key, strlen(key), &v, sizeof(v), &len), 0);
	assert_int_equal(v, 100000);
	snprintf(key, sizeof(key), "pid-%d", (int)b);
	assert_int_equal(shmrt_dict_get_i64(&d, 0, &v), -ENOENT);
	assert_int_equal(shmrt_dict_get(&d, key, strlen(key), &v, sizeof(v), &len), 0);
	assert_int_equal(v, 50000);

	size_t n;
	shmrt_proc_info_t pi[8];
	assert_int_equal(shmrt_region_procs(r, pi, 8, &n), 0);
	assert_int_equal(n, 3);
	int seen = 0;
	for (size_t i = 0; i < n; i++)
		if ((pi[i].pid == a || pi[i].pid == b) && pi[i].state == SHMRT_PROC_ALIVE &&
		    pi[i].threads == 1)
			seen++;
	assert_int_equal(seen, 2);

	char out[16384], args[512], pa[32], pb[32];
	snprintf(pa, sizeof(pa), "pid %d ", (int)a);
	snprintf(pb, sizeof(pb), "pid %d ", (int)b);
	assert_int_equal(tool(out, sizeof(out), "ls"), 0);
	assert_non_null(strstr(out, name));
	snprintf(args, sizeof(args), "info %s", name);
	assert_int_equal(tool(out, sizeof(out), args), 0);
	assert_non_null(strstr(out, "counter"));
	assert_non_null(strstr(out, "bytes"));
	assert_non_null(strstr(out, pa));
	assert_non_null(strstr(out, pb));
	assert_non_null(strstr(out, "alive"));
	assert_non_null(strstr(out, "entries 3, buckets"));
	snprintf(args, sizeof(args), "info --json %s", name);
	assert_int_equal(tool(out, sizeof(out), args), 0);
	snprintf(pa, sizeof(pa), "\"pid\":%d,", (int)a);
	assert_non_null(strstr(out, pa));
	assert_non_null(strstr(out, "\"name\":\"counter\""));
	assert_non_null(strstr(out, "\"type\":\"dict\""));
	assert_non_null(strstr(out, "\"dict\":{\"entries\":3,"));
	assert_int_equal(tool(out, sizeof(out), "ls --json"), 0);
	assert_int_equal(out[0], '[');

	/* Kill one while it is attached (it waits for the release): gc through the
	 * tool reclaims it. Then release the other, which detaches cleanly. */
	kill(b, SIGKILL);
	assert_int_equal(tu_wait(b, 10000), 128 + SIGKILL);
	snprintf(args, sizeof(args), "gc --json %s", name);
	assert_int_equal(tool(out, sizeof(out), args), 0);
	assert_non_null(strstr(out, "\"reclaimed\":1"));
	__atomic_store_n(&w[2], 1, __ATOMIC_RELEASE);
	assert_int_equal(tu_wait(a, 10000), 0);
	assert_int_equal(shmrt_region_procs(r, pi, 8, &n), 0);
	assert_int_equal(n, 1);

	/* Errors: unknown names, foreign files, usage. */
	assert_int_equal(tool(out, sizeof(out), "info no-such-region-xyz"), 1);
	assert_non_null(strstr(out, "no such region"));
	const char *foreign = tu_name("foreign");
	char path[256];
	snprintf(path, sizeof(path), "/dev/shm/%s", foreign);
	FILE *f = fopen(path, "w");
	fputs("not a region, just text that is long enough to be read", f);
	fclose(f);
	snprintf(args, sizeof(args), "info %s", foreign);
	assert_int_equal(tool(out, sizeof(out), args), 1);
	assert_non_null(strstr(out, "not a shmrt region"));
	snprintf(args, sizeof(args), "rm %s", foreign);
	assert_int_equal(tool(out, sizeof(out), args), 1);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0); /* never removes what is not ours */
	assert_int_equal(tool(out, sizeof(out), "frobnicate"), 2);

	shmrt_region_close(r);
	snprintf(args, sizeof(args), "rm %s", name);
	assert_int_equal(tool(out, sizeof(out), args), 0);
	assert_int_equal(shmrt_region_open(name, 0, NULL, &r), -ENOENT);
}

/* A holder: attaches to the region named by arg, says so on fd hold_fd, then stays
 * attached (at most 30 s; the test kills it long before). */
static int hold_fd;

static int holder(void *arg)
{
	shmrt_region_t *r;
	if (shmrt_region_open(arg, 0, NULL, &r))
		return 3;
	if (write(hold_fd, "x", 1) != 1)
		return 4;
	for (int i = 0; i < 3000; i++)
		usleep(10000);
	return 5;
}

/* Creates NAME (the test does not stay attached) and forks a holder; returns its pid
 * once it is attached. */
static pid_t hold(const char *name)
{
	shmrt_region_close(tu_create(name, 16 << 20, 0));
	int p[2];
	assert_int_equal(pipe(p), 0);
	hold_fd = p[1];
	pid_t pid = tu_fork(holder, (void *)name);
	close(p[1]);
	assert_int_equal(tu_read_byte(p[0], NULL, 10000), 0);
	close(p[0]);
	return pid;
}

static int region_exists(const char *name)
{
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	shmrt_region_t *r;
	int rc = shmrt_region_open(name, SHMRT_O_NOATTACH, &o, &r);
	if (rc == 0)
		shmrt_region_close(r);
	else
		assert_int_equal(rc, -ENOENT);
	return rc == 0;
}

static void t_rm_live(void **s)
{
	(void)s;
	char out[4096], args[512], who[32];
	const char *name = tu_name("rm-live");
	pid_t h = hold(name);
	snprintf(who, sizeof(who), "pid %d;", (int)h);
	snprintf(args, sizeof(args), "rm %s", name);
	assert_int_equal(tool(out, sizeof(out), args), 1);
	assert_non_null(strstr(out, name));
	assert_non_null(strstr(out, who));
	assert_non_null(strstr(out, "-f"));
	assert_true(region_exists(name));
	snprintf(args, sizeof(args), "rm -f %s", name);
	assert_int_equal(tool(out, sizeof(out), args), 0);
	assert_false(region_exists(name));
	kill(h, SIGKILL);
	assert_int_equal(tu_wait(h, 10000), 128 + SIGKILL);

	/* A holder killed without detaching leaves a dead slot: no reason to refuse. */
	name = tu_name("rm-killed");
	h = hold(name);
	kill(h, SIGKILL);
	assert_int_equal(tu_wait(h, 10000), 128 + SIGKILL);
	snprintf(args, sizeof(args), "info %s", name);
	assert_int_equal(tool(out, sizeof(out), args), 0);
	snprintf(who, sizeof(who), "pid %-8d", (int)h);
	assert_non_null(strstr(out, who));
	assert_non_null(strstr(out, "dead"));
	snprintf(args, sizeof(args), "rm %s", name);
	assert_int_equal(tool(out, sizeof(out), args), 0);
	assert_false(region_exists(name));

	/* --force is an option, not a name; an unknown option is a usage error. */
	assert_int_equal(tool(out, sizeof(out), "rm --force no-such-region-xyz"), 1);
	assert_non_null(strstr(out, "no such region"));
	assert_int_equal(tool(out, sizeof(out), "rm -x no-such-region-xyz"), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_unrelated_executables),
		cmocka_unit_test(t_rm_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
