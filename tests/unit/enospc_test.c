/*
 * Out of shared memory is an error code, never SIGBUS. A child enters a private
 * mount namespace, mounts an 8 MiB tmpfs (as Docker's small /dev/shm would be),
 * and creates regions there (file backing):
 *  - one whose fixed metadata alone does not fit (the caches of 65536 threads): creation
 *    fails with -ENOSPC and leaves no file behind;
 *  - a sparse 64 GiB one: created, since its page map and block states are committed
 *    as they are used, not at creation, and its metadata takes under 2 MiB;
 *  - one larger than the mount (sparse): allocations succeed until the pages cannot
 *    be committed, then fail with -ENOSPC; every block handed out can be written in
 *    full (a SIGBUS would kill the child and fail the test); after freeing, the
 *    space can be allocated again.
 * Where mounting is refused (no CAP_SYS_ADMIN), the test says so and is skipped.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SKIP = 77 };

static int child(void *arg)
{
	(void)arg;
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return SKIP;
	char dir[] = "/tmp/shmrt-enospc-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	if (mount("tmpfs", dir, "tmpfs", 0, "size=8m")) {
		rmdir(dir);
		return SKIP;
	}
	char path[128];
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.backing = SHMRT_BACKING_FILE;
	shmrt_region_t *r;

	/* 1. Fixed metadata that cannot fit: 65536 thread caches of 1.2 KiB. */
	snprintf(path, sizeof(path), "%s/huge", dir);
	o.size = 16ull << 30;
	o.max_threads = 65536;
	int rc = shmrt_region_open(path, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r);
	o.max_threads = 0;
	struct stat st;
	if (rc != -ENOSPC)
		return 2;
	if (stat(path, &st) == 0)
		return 3; /* a failed creation leaves nothing */

	/* 1b. A 64 GiB region: its page map would be 128 MiB and its block states 4 GiB,
	 * if they were committed at creation. */
	snprintf(path, sizeof(path), "%s/sparse64g", dir);
	o.size = 64ull << 30;
	if (shmrt_region_open(path, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r))
		return 9;
	if (stat(path, &st) || (uint64_t)st.st_blocks * 512 > (2u << 20))
		return 10;
	shmrt_off_t small_off;
	if (shmrt_alloc(r, 64, &small_off) || shmrt_free(r, small_off))
		return 11;
	shmrt_region_close(r);
	unlink(path);

	/* 2. A sparse 64 MiB region on an 8 MiB mount. */
	snprintf(path, sizeof(path), "%s/sparse", dir);
	o.size = 64 << 20;
	if (shmrt_region_open(path, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r))
		return 4;
	shmrt_off_t offs[64];
	int n = 0;
	while (n < 64 && (rc = shmrt_alloc(r, 1 << 20, &offs[n])) == 0) {
		memset(shmrt_ptr(r, offs[n]), 0x5a, 1 << 20); /* would SIGBUS if uncommitted */
		n++;
	}
	if (rc != -ENOSPC || n < 3 || n > 8)
		return 5;
	/* Small blocks hit the same wall cleanly. */
	int small = 0;
	shmrt_off_t so;
	while ((rc = shmrt_alloc(r, 4000, &so)) == 0) {
		memset(shmrt_ptr(r, so), 1, 4000);
		small++;
	}
	if (rc != -ENOSPC)
		return 6;
	for (int i = 0; i < n; i++)
		if (shmrt_free(r, offs[i]))
			return 7;
	/* Freed large extents went back to tmpfs: the space is usable again. */
	shmrt_off_t again;
	if (shmrt_alloc(r, 2 << 20, &again))
		return 8;
	memset(shmrt_ptr(r, again), 1, 2 << 20);
	printf("enospc: %d x 1 MiB committed before -ENOSPC, then %d small blocks\n", n, small);
	fflush(stdout);
	shmrt_region_close(r);
	umount(dir);
	rmdir(dir);
	return 0;
}

static void t_enospc_never_sigbus(void **s)
{
	(void)s;
	int rc = tu_wait(tu_fork(child, NULL), 30000);
	if (rc == SKIP) {
		print_message("SKIPPED: cannot mount a private tmpfs here (needs root/CAP_SYS_ADMIN)\n");
		skip();
	}
	if (rc == 128 + SIGBUS)
		fail_msg("SIGBUS: memory was handed out uncommitted");
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_enospc_never_sigbus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
