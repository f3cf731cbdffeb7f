/* A program built against an installed shmrt. "create NAME": creates a region and
 * an object; "attach NAME": attaches by name, bumps the object, waits for "go". */
#include <shmrt.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	shmrt_region_t *r;
	int create = !strcmp(argv[1], "create");
	int rc = shmrt_region_open(argv[2], create ? SHMRT_O_CREATE | SHMRT_O_EXCL : 0, NULL, &r);
	if (rc) {
		fprintf(stderr, "consumer: %s\n", shmrt_strerror(rc));
		return 1;
	}
	shmrt_object_info_t oi;
	rc = shmrt_object_open(r, "state", create ? SHMRT_O_CREATE : 0, SHMRT_TYPE_BYTES, 16, NULL,
			       &oi);
	if (rc)
		return 3;
	volatile uint64_t *w = shmrt_ptr(r, oi.off);
	if (!create) {
		__atomic_fetch_add(&w[0], 1, __ATOMIC_RELEASE);
		for (int i = 0; i < 10000 && !__atomic_load_n(&w[1], __ATOMIC_ACQUIRE); i++)
			usleep(1000);
	}
	printf("consumer %s %s ok (shmrt %s)\n", argv[1], argv[2], SHMRT_VERSION_STRING);
	shmrt_region_close(r);
	return 0;
}
