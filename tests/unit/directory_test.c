/*
 * The directory of named objects: create, open and look up by name, type and size
 * checks, bad names, page-aligned large objects, a full directory, an allocation
 * failure that leaves no entry, list and remove.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <string.h>
#include <unistd.h>

static void t_directory(void **s)
{
	(void)s;
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.size = 8 << 20;
	o.max_objects = 4;
	shmrt_region_t *r;
	const char *name = tu_name("dir");
	assert_int_equal(shmrt_region_open(name, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r), 0);
	shmrt_object_info_t a, b;
	assert_int_equal(shmrt_object_open(r, "a", 0, SHMRT_TYPE_BYTES, 64, NULL, &a), -ENOENT);
	assert_int_equal(shmrt_object_open(r, "a", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 64, NULL, &a),
			 0);
	assert_string_equal(a.name, "a");
	assert_int_equal(a.type, SHMRT_TYPE_BYTES);
	assert_int_equal(a.size, 64);
	assert_int_equal(a.creator_pid, getpid());
	for (int i = 0; i < 64; i++)
		assert_int_equal(((char *)shmrt_ptr(r, a.off))[i], 0);
	assert_int_equal(shmrt_object_open(r, "a", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 64, NULL, &b),
			 0);
	assert_int_equal(b.off, a.off);
	assert_int_equal(shmrt_object_open(r, "a", SHMRT_O_CREATE | SHMRT_O_EXCL, SHMRT_TYPE_BYTES,
					   64, NULL, &b), -EEXIST);
	assert_int_equal(shmrt_object_open(r, "a", 0, SHMRT_TYPE_VALUE, 64, NULL, &b), -EPROTOTYPE);
	assert_int_equal(shmrt_object_open(r, "a", 0, SHMRT_TYPE_BYTES, 65, NULL, &b), -EMSGSIZE);
	assert_int_equal(shmrt_object_open(r, "a", 0, SHMRT_TYPE_BYTES, 32, NULL, &b), 0);
	assert_int_equal(shmrt_object_open(r, "a", 0, SHMRT_TYPE_NONE, 32, NULL, &b), -EINVAL);
	assert_int_equal(shmrt_object_open(r, "bad name", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 8, NULL,
					   &b), -EINVAL);
	char longname[SHMRT_OBJNAME_MAX + 2];
	memset(longname, 'o', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(shmrt_object_open(r, longname, SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 8, NULL,
					   &b),
			 -ENAMETOOLONG);
	/* A large object: page aligned, zero. */
	shmrt_object_info_t big;
	assert_int_equal(shmrt_object_open(r, "big", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 1 << 20,
					   NULL,
					   &big), 0);
	assert_int_equal(big.off % 4096, 0);
	const char *p = shmrt_ptr(r, big.off);
	for (int i = 0; i < (1 << 20); i += 4096)
		assert_int_equal(p[i], 0);
	assert_int_equal(shmrt_object_open(r, "c", SHMRT_O_CREATE, SHMRT_TYPE_USER + 3, 8, NULL,
					   &b), 0);
	assert_int_equal(shmrt_object_open(r, "d", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 8, NULL, &b),
			 0);
	/* Full directory. */
	assert_int_equal(shmrt_object_open(r, "e", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 8, NULL, &b),
			 -ENOSPC);
	/* An allocation failure leaves no entry behind. */
	assert_int_equal(shmrt_object_remove(r, "d"), 0);
	assert_int_equal(shmrt_object_open(r, "huge", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 1ull << 40,
					   NULL, &b), -ENOSPC);
	size_t n = 0;
	shmrt_object_info_t list[8];
	assert_int_equal(shmrt_object_list(r, list, 8, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(shmrt_object_list(r, list, 1, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(shmrt_object_remove(r, "zz"), -ENOENT);
	assert_int_equal(shmrt_object_remove(r, "big"), 0);
	assert_int_equal(shmrt_object_lookup(r, "big", &b), -ENOENT);
	assert_string_equal(shmrt_type_name(SHMRT_TYPE_BYTES), "bytes");
	assert_string_equal(shmrt_type_name(SHMRT_TYPE_USER + 3), "user");
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_directory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
