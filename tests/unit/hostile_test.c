/*
 * Hostile and careless callers (the findings of an adversarial review, each a test
 * that failed before its fix):
 *  - a lock word naming a thread that does not hold the lock: the holder died and its
 *    TID now belongs to a live process that maps the region (simulated by forging the
 *    word to name such a process, with another start time), or a word forged to name a
 *    live attached process that never took it: the lock is taken over, not waited on
 *    forever; a genuine holder (its true identity) is still waited for;
 *  - a name squatted by another user, and a region whose mode is wider than asked for:
 *    refused, never attached to;
 *  - files that are not regions (empty, zero-filled, foreign) are never removed or
 *    replaced, by the calls or by `shmrt rm`;
 *  - a second close of a handle is an error, not a double free; a thread that opens
 *    and closes regions for ever does not pile up memory.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/pmutex.h"
#include "base/proc.h"
#include "core/region_int.h"

static const char *NAME;
static int ready_pipe[2];

/* A process that maps the region (attached), says so, and waits to be killed. */
static int attach_and_pause(void *arg)
{
	(void)arg;
	shmrt_region_t *r;
	if (shmrt_region_open(NAME, 0, NULL, &r))
		return 1;
	char c = 1;
	if (write(ready_pipe[1], &c, 1) != 1)
		return 2;
	pause();
	return 0;
}

static pid_t start_mapper(void)
{
	assert_int_equal(pipe(ready_pipe), 0);
	pid_t pid = tu_fork(attach_and_pause, NULL);
	char c;
	assert_int_equal(read(ready_pipe[0], &c, 1), 1);
	close(ready_pipe[0]);
	close(ready_pipe[1]);
	return pid;
}

static uint32_t start_of(pid_t pid)
{
	int alive;
	uint64_t st = shmrt__proc_start_time(pid, &alive);
	assert_true(alive && st);
	return (uint32_t)st;
}

static void t_value_lock_recycled_tid(void **s)
{
	(void)s;
	NAME = tu_name("vlock");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_value_t v;
	assert_int_equal(shmrt_value_open(r, "v", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &v), 0);
	pid_t pid = start_mapper();
	uint64_t *word = v.lock;
	/* The holder died and the kernel gave its TID to this live process, which maps
	 * the region: the word names the TID with the dead holder's start time. */
	__atomic_store_n(word, SHMRT_IDENT(pid, start_of(pid) + 12345), __ATOMIC_RELEASE);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_value_lock(&v, 3000000000ll), -EOWNERDEAD);
	assert_true(tu_ms() - t0 < 1000);
	assert_int_equal(shmrt_value_consistent(&v), 0);
	assert_int_equal(shmrt_value_unlock(&v), 0);
	/* The same TID with its true start time is a genuine holder: waited for. */
	__atomic_store_n(word, SHMRT_IDENT(pid, start_of(pid)), __ATOMIC_RELEASE);
	assert_int_equal(shmrt_value_lock(&v, 300000000), -ETIMEDOUT);
	__atomic_store_n(word, 0, __ATOMIC_RELEASE);
	assert_int_equal(shmrt_value_lock(&v, 0), 0);
	assert_int_equal(shmrt_value_unlock(&v), 0);
	kill(pid, SIGKILL);
	assert_int_equal(tu_wait(pid, 5000), 128 + SIGKILL);
	shmrt_region_close(r);
}

/* The robust mutex of a Lock: offset 64 of its object (core/sync.c, pinned there). */
static shmrt_pmutex_t *lock_mutex(const shmrt_lock_t *l)
{
	return (shmrt_pmutex_t *)(void *)((char *)l->shm + 64);
}

static void t_robust_lock_forged_owner(void **s)
{
	(void)s;
	NAME = tu_name("rlock");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	shmrt_lock_t l;
	assert_int_equal(shmrt_lock_open(r, "l", SHMRT_O_CREATE, 0, &l), 0);
	pid_t pid = start_mapper();
	shmrt_pmutex_t *m = lock_mutex(&l);
	/* A word naming a live process that maps the region, whose identity is not the
	 * holder's (the holder's TID, recycled): taken over with EOWNERDEAD. */
	for (int k = 0; k < 2; k++) {
		__atomic_store_n(&m->m.__data.__lock, pid, __ATOMIC_RELEASE);
		__atomic_store_n(&m->owner, k ? SHMRT_IDENT(pid, start_of(pid) + 1) : 0,
				 __ATOMIC_RELEASE);
		uint64_t t0 = tu_ms();
		assert_int_equal(shmrt_lock_acquire(&l, 5000000000ll), -EOWNERDEAD);
		assert_true(tu_ms() - t0 < 2000);
		assert_int_equal(shmrt_lock_consistent(&l), 0);
		assert_int_equal(shmrt_lock_release(&l), 0);
	}
	/* Its true identity: a genuine holder, waited for until the timeout. */
	__atomic_store_n(&m->m.__data.__lock, pid, __ATOMIC_RELEASE);
	__atomic_store_n(&m->owner, SHMRT_IDENT(pid, start_of(pid)), __ATOMIC_RELEASE);
	assert_int_equal(shmrt_lock_acquire(&l, 400000000), -ETIMEDOUT);
	/* Once it is gone (killed: a forged word gets no help from the kernel), taken. */
	kill(pid, SIGKILL);
	assert_int_equal(tu_wait(pid, 5000), 128 + SIGKILL);
	assert_int_equal(shmrt_lock_acquire(&l, 5000000000ll), -EOWNERDEAD);
	assert_int_equal(shmrt_lock_consistent(&l), 0);
	assert_int_equal(shmrt_lock_release(&l), 0);
	assert_int_equal(shmrt_lock_acquire(&l, 0), 0);
	assert_int_equal(shmrt_lock_release(&l), 0);
	shmrt_region_close(r);
}

/* Runs `shmrt args...` bounded: its exit status, or -1 if it had to be killed. */
static int run_tool(const char *args)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "exec %s %s >/dev/null 2>&1", getenv("SHMRT_TOOL"), args);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int st;
	for (int i = 0; i < 1000; i++) { /* 10 s */
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void t_internal_lock_forged_live_owner(void **s)
{
	(void)s;
	NAME = tu_name("dlock");
	shmrt_region_t *r = tu_create(NAME, 8 << 20, 0);
	struct shmrt_region *R = (struct shmrt_region *)r;
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(r, "x", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 64, NULL, &oi),
			 0);
	pid_t pid = start_mapper();
	/* The directory lock's word names a live attached process that never took it. A
	 * reader, a new opener and the CLI used to hang: each now gets through. */
	__atomic_store_n(&R->hdr->dir_lock.m.__data.__lock, pid, __ATOMIC_RELEASE);
	uint64_t t0 = tu_ms();
	assert_int_equal(shmrt_object_lookup(r, "x", &oi), 0);
	assert_true(tu_ms() - t0 < 3000);
	__atomic_store_n(&R->hdr->dir_lock.m.__data.__lock, pid, __ATOMIC_RELEASE);
	shmrt_region_t *r2;
	assert_int_equal(shmrt_region_open(NAME, 0, NULL, &r2), 0);
	assert_int_equal(shmrt_object_lookup(r2, "x", &oi), 0);
	shmrt_region_close(r2);
	__atomic_store_n(&R->hdr->dir_lock.m.__data.__lock, pid, __ATOMIC_RELEASE);
	char args[256];
	snprintf(args, sizeof(args), "info %s", NAME);
	assert_int_equal(run_tool(args), 0);
	kill(pid, SIGKILL);
	assert_int_equal(tu_wait(pid, 5000), 128 + SIGKILL);
	shmrt_region_close(r);
}

static int create_as_nobody(void *arg)
{
	(void)arg;
	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		return 1;
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.mode = 0666;
	o.size = 8 << 20;
	shmrt_region_t *r;
	return shmrt_region_open(NAME, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r) ? 2 : 0;
}

/* Another user's plain file under a name: created by a child as nobody. */
static int plain_file_as_nobody(void *arg)
{
	int mode = (int)(intptr_t)arg;
	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		return 1;
	char path[256];
	snprintf(path, sizeof(path), "/dev/shm/%s", NAME);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, mode);
	if (fd < 0 || fchmod(fd, (mode_t)mode) || write(fd, "not a region", 12) != 12)
		return 2;
	close(fd);
	return 0;
}

static void t_squatted_name(void **s)
{
	(void)s;
	shmrt_region_t *r;
	/* Our own region, made wider than the opener asks for: refused (-EACCES) unless
	 * the opener asks for that mode. */
	NAME = tu_name("wide");
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.mode = 0644;
	o.size = 8 << 20;
	assert_int_equal(shmrt_region_open(NAME, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r), 0);
	shmrt_region_close(r);
	assert_int_equal(shmrt_region_open(NAME, 0, NULL, &r), -EACCES);
	assert_int_equal(shmrt_region_open(NAME, SHMRT_O_CREATE, NULL, &r), -EACCES);
	assert_int_equal(shmrt_region_open(NAME, 0, &o, &r), 0);
	shmrt_region_close(r);

	if (geteuid() != 0) {
		print_message("not root: the second user's region is not tested\n");
		return;
	}
	/* Another user creates the name first, readable and writable by all. */
	NAME = tu_name("squat");
	pid_t pid = tu_fork(create_as_nobody, NULL);
	assert_int_equal(tu_wait(pid, 10000), 0);
	assert_int_equal(shmrt_region_open(NAME, SHMRT_O_CREATE, NULL, &r), -EPERM);
	assert_int_equal(shmrt_region_open(NAME, 0, NULL, &r), -EPERM);
	/* Inspection is allowed (the CLI lists every region), never attachment. */
	assert_int_equal(shmrt_region_open(NAME, SHMRT_O_NOATTACH, NULL, &r), 0);
	shmrt_region_close(r);
	/* Another user's plain file: a permanent error at once, not -EAGAIN after
	 * retries, whether we may open it (-EPERM: not ours) or not (-EACCES). */
	const int modes[] = { 0666, 0600 };
	for (int i = 0; i < 2; i++) {
		NAME = tu_name("plain");
		pid = tu_fork(plain_file_as_nobody, (void *)(intptr_t)modes[i]);
		assert_int_equal(tu_wait(pid, 10000), 0);
		int rc = shmrt_region_open(NAME, SHMRT_O_CREATE, NULL, &r);
		/* root opens anything: then the owner check says so */
		assert_true(rc == -EPERM || rc == -EACCES);
		assert_int_equal(shmrt_region_open(NAME, 0, NULL, &r), rc);
	}
	assert_string_equal(shmrt_strerror_kind(-EPERM, SHMRT_TYPE_NONE),
			    "not permitted: the region belongs to another user, or the handle "
			    "is for inspection only");
}

static void write_shm(const char *name, const void *buf, size_t n)
{
	char path[256];
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

static int file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : (int)st.st_size;
}

static void t_foreign_files_kept(void **s)
{
	(void)s;
	static char buf[65536];
	const struct {
		const char *tag;
		char fill;
		size_t n;
	} files[] = { { "fempty", 0, 0 }, { "fzero", 0, sizeof(buf) }, { "fjunk", 0x5a, 8192 } };
	for (int i = 0; i < 3; i++) {
		const char *name = tu_name(files[i].tag);
		memset(buf, files[i].fill, files[i].n);
		write_shm(name, buf, files[i].n);
		char path[256], args[300];
		snprintf(path, sizeof(path), "/dev/shm/%s", name);
		snprintf(args, sizeof(args), "rm %s", name);
		assert_int_not_equal(run_tool(args), 0);
		assert_int_equal(file_size(path), (int)files[i].n);
		assert_int_equal(shmrt_region_unlink(name), -EBADMSG);
		shmrt_region_t *r;
		assert_int_equal(shmrt_region_open(name, SHMRT_O_CREATE, NULL, &r), -EBADMSG);
		assert_int_equal(file_size(path), (int)files[i].n);
	}
	/* A plain file at a path: not a region either. */
	char path[] = "/tmp/shmrt-hostile-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	memset(buf, 0, 4096);
	assert_int_equal(write(fd, buf, 4096), 4096);
	close(fd);
	assert_int_equal(shmrt_region_unlink_path(path), -EBADMSG);
	assert_int_equal(file_size(path), 4096);
	unlink(path);
}

static void t_double_close(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("dclose"), 8 << 20, 0);
	assert_int_equal(shmrt_region_close(r), 0);
	assert_int_equal(shmrt_region_close(r), -EINVAL); /* not freed twice (ASan) */
	assert_int_equal(shmrt_region_close(NULL), -EINVAL);
}

static void t_open_close_does_not_pile_up(void **s)
{
	(void)s;
	const char *name = tu_name("cycle");
	shmrt_region_t *keep = tu_create(name, 8 << 20, 0);
	shmrt_counter_t c;
	assert_int_equal(shmrt_counter_open(keep, "c", SHMRT_O_CREATE, &c), 0);
	struct mallinfo2 m0 = mallinfo2();
	for (int i = 0; i < 20000; i++) {
		shmrt_region_t *r;
		assert_int_equal(shmrt_region_open(name, 0, NULL, &r), 0);
		shmrt_counter_t ci;
		assert_int_equal(shmrt_counter_open(r, "c", 0, &ci), 0);
		shmrt_counter_add(&ci, 1); /* claims a thread record in this handle */
		assert_int_equal(shmrt_region_close(r), 0);
	}
	struct mallinfo2 m1 = mallinfo2();
	assert_int_equal(shmrt_counter_read(&c), 20000);
	if (m0.uordblks == 0 && m1.uordblks == 0) {
		print_message("malloc statistics unavailable (sanitizer allocator): not checked\n");
	} else {
		print_message("heap in use grew by %zu bytes over 20000 open/close cycles\n",
			      m1.uordblks > m0.uordblks ? m1.uordblks - m0.uordblks : 0);
		assert_true(m1.uordblks < m0.uordblks + 64 * 1024);
	}
	shmrt_region_close(keep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_value_lock_recycled_tid),
		cmocka_unit_test(t_robust_lock_forged_owner),
		cmocka_unit_test(t_internal_lock_forged_live_owner),
		cmocka_unit_test(t_squatted_name),
		cmocka_unit_test(t_foreign_files_kept),
		cmocka_unit_test(t_double_close),
		cmocka_unit_test(t_open_close_does_not_pile_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
