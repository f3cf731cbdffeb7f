/* Process and thread identity and liveness (proc.h). */
#define _GNU_SOURCE
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "atomic.h"

/* ---- who the caller is ---------------------------------------------------------- */

static uint64_t fork_gen = 1;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;
static __thread struct {
	uint64_t gen;
	uint32_t tid;
	uint64_t ident; /* 0 until first asked for */
} tl_tid SHMRT_TLS_IE; /* no __tls_get_addr per lock */

static void tid_child(void)
{
	/* Relaxed: the child runs this in its only thread. */
	fetch_add_relaxed(&fork_gen, 1);
}

static void tid_init(void)
{
	pthread_atfork(NULL, NULL, tid_child);
}

uint32_t shmrt__tid(void)
{
	/* Relaxed: fork_gen changes only in a forked child's only thread. */
	uint64_t g = load_relaxed(&fork_gen);
	if (likely(tl_tid.gen == g))
		return tl_tid.tid;
	pthread_once(&tid_once, tid_init);
	tl_tid.tid = (uint32_t)syscall(SYS_gettid);
	tl_tid.ident = 0;
	tl_tid.gen = load_relaxed(&fork_gen);
	return tl_tid.tid;
}

uint64_t shmrt__self_ident(void)
{
	uint32_t tid = shmrt__tid(); /* refreshes the cache after a fork */
	if (likely(tl_tid.ident))
		return tl_tid.ident;
	int alive;
	uint64_t start = shmrt__proc_start_time((pid_t)tid, &alive);
	tl_tid.ident = SHMRT_IDENT(tid, start);
	return tl_tid.ident;
}

int shmrt__thread_is(uint32_t tid, uint32_t start)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/%u/stat", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : -1;
	close(fd);
	int alive;
	uint64_t st = shmrt__proc_start_time((pid_t)tid, &alive);
	if (!st && !alive)
		return 0; /* gone between the open and the read */
	return alive && (uint32_t)st == start;
}

/* ---- processes: pid and start time ------------------------------------------------ */

uint64_t shmrt__proc_start_time(pid_t pid, int *alive)
{
	char path[64], buf[1024];
	*alive = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* comm may contain spaces and parentheses: fields resume after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return 0;
	char state = p[2];
	p += 2;
	/* p is at field 3 (state); starttime is field 22. */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return 0;
	*alive = state != 'Z' && state != 'X' && state != 'x';
	return strtoull(p, NULL, 10);
}

uint64_t shmrt__self_start_time(void)
{
	static pid_t self_pid;
	static uint64_t self_start;
	/* Every thread of the process computes the same pair; a fork changes the pid,
	 * so the child recomputes it. */
	pid_t pid = getpid();
	/* P1: acquire, pairs with P2: a thread that sees our pid sees its start time. */
	if (load_acquire(&self_pid) != pid) {
		int alive;
		/* Relaxed: published by P2. */
		store_relaxed(&self_start, shmrt__proc_start_time(pid, &alive));
		store_release(&self_pid, pid); /* P2: pairs with P1 */
	}
	/* Relaxed: ordered by P1 (or written by this thread). */
	return load_relaxed(&self_start);
}

int shmrt__pid_alive(pid_t pid)
{
	int alive;
	(void)shmrt__proc_start_time(pid, &alive);
	return alive;
}

/* ---- threads that may own a lock ---------------------------------------------------- */

/* 1: thread tid's process maps the file (dev, ino); 0: it does not, or the thread is
 * gone; -1: cannot tell. */
static int maps_file(int tid, dev_t dev, ino_t ino)
{
	char path[48], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -1;
	int found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long inode;
		if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &inode) == 3)
			found = inode == (unsigned long long)ino && maj == major(dev) &&
				min == minor(dev);
		if (!strchr(line, '\n')) { /* skip the rest of an overlong line */
			int c;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
		}
	}
	fclose(f);
	return found;
}

int shmrt__tid_cannot_own(const uint32_t *word, int fd, uint32_t tid)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/%u", tid);
	if (access(path, F_OK) != 0)
		return errno == ENOENT ? 1 : -1;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		return -1;
	int maps = maps_file((int)tid, st.st_dev, st.st_ino);
	if (maps < 0)
		return -1;
	/* Relaxed: a re-read of the owner field; a lock that changed hands since is
	 * judged again on the waiter's next check. */
	return !maps && (load_relaxed(word) & 0x3fffffffu) == tid;
}
