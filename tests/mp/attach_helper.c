/*
 * An unrelated program (not forked from the test): attaches to a region by name,
 * finds the object "counter" by name, adds N to it atomically, says it is ready, and
 * waits (bounded) for the test to release it. Through the Dict "dict" it checks the
 * test's greeting and leaves "pid-PID" -> N. Links only the public shared library.
 * Usage: attach_helper REGION N
 */
#include <shmrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	shmrt_region_t *r;
	int rc = shmrt_region_open(argv[1], 0, NULL, &r);
	if (rc) {
		fprintf(stderr, "attach_helper: %s: %s\n", argv[1], shmrt_strerror(rc));
		return 3;
	}
	shmrt_object_info_t oi;
	if ((rc = shmrt_object_open(r, "counter", 0, SHMRT_TYPE_BYTES, 24, NULL, &oi))) {
		fprintf(stderr, "attach_helper: counter: %s\n", shmrt_strerror(rc));
		return 4;
	}
	uint64_t *w = shmrt_ptr(r, oi.off); /* [0] counter, [1] ready, [2] release */
	long n = atol(argv[2]);
	for (long i = 0; i < n; i++)
		__atomic_fetch_add(&w[0], 1, __ATOMIC_RELAXED);
	/* The dict "dict": read the test's greeting, leave our pid -> n. */
	shmrt_dict_t d;
	char key[32], buf[16];
	size_t len;
	if ((rc = shmrt_dict_open(r, "dict", 0, NULL, &d)) ||
	    (rc = shmrt_dict_get(&d, "greeting", 8, buf, sizeof(buf), &len))) {
		fprintf(stderr, "attach_helper: dict: %s\n", shmrt_strerror(rc));
		return 7;
	}
	if (len != 5 || memcmp(buf, "hello", 5))
		return 8;
	int64_t v = n;
	if (shmrt_dict_set(&d, key, (size_t)snprintf(key, sizeof(key), "pid-%d", (int)getpid()), &v,
			   sizeof(v)))
		return 9;
	/* Also allocate, so that `shmrt info` has a thread record and arena use to show. */
	shmrt_off_t off;
	if (shmrt_alloc(r, 1000, &off))
		return 5;
	__atomic_fetch_add(&w[1], 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 10000 && !__atomic_load_n(&w[2], __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	shmrt_free(r, off);
	return shmrt_region_close(r) ? 6 : 0;
}
