/*
 * Pairs nobody holds (shmrt_pipe_gc): the directory entries of pipe pairs whose every
 * holder is gone.
 *
 * A pair's last closer removes it when the peer endpoint has no holder either
 * (pipe.c). When the peer's last holder dies instead of closing, after our close,
 * nobody is left to notice: the pair's name and memory stay in the directory. Its
 * holders are known only to the kernel, as descriptors of the pair's two kernel
 * pipes (pipe.c, struct pair_fds), and every holder of either endpoint holds one of
 * each, from the pair's creation (or its fork) until its close no longer touches
 * the pipe's memory. Their inode numbers are in the pipe's header, so a process
 * that holds none of them can still ask the kernel, through /proc/PID/fd, whether
 * any process does. A pair none holds can never be used again: nobody has a
 * descriptor to fork, and they are never sent over sockets. It is taken out of the
 * directory, once (the header's removed word, which the last closer's CAS uses too).
 *
 * The scan must not miss a holder that forks a child and closes its own descriptors
 * while /proc is being read: the child is a new process, so after the whole pass
 * /proc is listed again and every process not yet read is read, until a listing
 * brings no new process (a bounded number of times; past it nothing is removed).
 * A holder that existed through the whole scan was read while it held. Processes
 * whose descriptors may not be read (another user's) are taken not to hold any: a
 * pair's holders are the creator and the processes it forked, with its credentials
 * (one that changed them is not seen). Processes of another PID namespace, not in our
 * /proc, are not seen either.
 *
 * Memory ordering: the inode numbers are read with acquire (pairs with the release
 * stores of shmrt_pipe_pair); removed is claimed by the same CAS as the last closer's.
 */
#define _GNU_SOURCE
#include "core/region_int.h"
#include "pipe_int.h"
#include "shmrt/pipe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIST_ROUNDS 64 /* listings of /proc that may bring new processes */

struct cand {
	uint64_t off;
	uint64_t ino[2];
	bool held;
};

/* Marks the candidates whose kernel pipes pid holds a descriptor of. */
static void scan_pid(long pid, struct cand *c, size_t n)
{
	char path[48], link[64];
	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return; /* exited, or not ours to read (the file comment) */
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		ssize_t k = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		unsigned long long ino;
		if (k <= 0)
			continue;
		link[k] = 0;
		if (sscanf(link, "pipe:[%llu]", &ino) != 1)
			continue;
		for (size_t i = 0; i < n; i++)
			if (c[i].ino[0] == ino || c[i].ino[1] == ino)
				c[i].held = true;
	}
	closedir(d);
}

/* Reads every process of /proc not read yet (seen: a bitmap by pid), marking seen;
 * *fresh: how many. 0 or -errno. */
static int scan_new(uint8_t *seen, long maxpid, struct cand *c, size_t n, unsigned *fresh)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	struct dirent *de;
	*fresh = 0;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		if (pid >= maxpid) {
			closedir(d);
			return -EOVERFLOW;
		}
		if (seen[pid / 8] & (1u << (pid % 8)))
			continue;
		seen[pid / 8] |= (uint8_t)(1u << (pid % 8));
		++*fresh;
		scan_pid(pid, c, n);
	}
	closedir(d);
	return 0;
}

/* The largest pid plus one (/proc/sys/kernel/pid_max), or the kernel's limit. */
static long pid_max(void)
{
	long v = 0;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > 0 && v <= (1l << 22) ? v + 1 : (1l << 22) + 1;
}

/* Marks the held candidates. 0, or -EAGAIN (processes kept appearing), -ENOMEM,
 * -errno of /proc: then nothing is known. */
static int scan_proc(struct cand *c, size_t n)
{
	long maxpid = pid_max();
	uint8_t *seen = calloc((size_t)maxpid / 8 + 1, 1);
	if (!seen)
		return -ENOMEM;
	int rc = -EAGAIN;
	for (int round = 0; round < LIST_ROUNDS; round++) {
		unsigned fresh = 0;
		int e = scan_new(seen, maxpid, c, n, &fresh);
		if (e) {
			rc = e;
			break;
		}
		if (round > 0 && fresh == 0) {
			rc = 0;
			break;
		}
	}
	free(seen);
	return rc;
}

int shmrt_pipe_gc(shmrt_region_t *r, unsigned *removed)
{
	struct shmrt_region *R = (struct shmrt_region *)r;
	if (removed)
		*removed = 0;
	if (!r)
		return -EINVAL;
	if (!R->attached || R->slot == REC_NONE)
		return -EPERM;
	size_t total = 0;
	int rc = shmrt_object_list(r, NULL, 0, &total);
	if (rc)
		return rc;
	if (total == 0)
		return 0;
	size_t cap = total + 8, n = 0;
	shmrt_object_info_t *oi = calloc(cap, sizeof(*oi));
	struct cand *c = calloc(cap, sizeof(*c));
	if (!oi || !c) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = shmrt_object_list(r, oi, cap, &total)))
		goto out;
	for (size_t i = 0; i < total && i < cap; i++) {
		if (oi[i].type != SHMRT_TYPE_PIPE || oi[i].size < sizeof(struct pipe_hdr))
			continue;
		struct pipe_hdr *h = shmrt_ptr(r, oi[i].off);
		uint64_t i1 = load_acquire(&h->ino[1]), i0 = load_acquire(&h->ino[0]);
		if (h->magic != PIPE_MAGIC || !i0 || !i1 || load_acquire(&h->removed))
			continue;
		c[n++] = (struct cand){ oi[i].off, { i0, i1 }, false };
	}
	if (n == 0 || (rc = scan_proc(c, n)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (c[i].held)
			continue;
		struct pipe_hdr *h = shmrt_ptr(r, c[i].off);
		uint32_t zero = 0;
		/* Still the pair we looked at (not one made since at the same place by a
		 * concurrent gc's removal and a new pair: its inodes differ). */
		if (load_acquire(&h->ino[0]) != c[i].ino[0] ||
		    load_acquire(&h->ino[1]) != c[i].ino[1] ||
		    !__atomic_compare_exchange_n(&h->removed, &zero, 1, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		if (shmrt__object_remove_at(R, c[i].off, SHMRT_TYPE_PIPE) == 0 && removed)
			++*removed;
	}
out:
	free(oi);
	free(c);
	return rc;
}
