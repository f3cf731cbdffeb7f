/*
 * Deterministic corruption test (runs in every build, with or without clang): the
 * fuzz target's body over many seeded random damages of a valid region, header and
 * metadata alike. Opening must fail cleanly or succeed without crashing; the
 * sanitizer suites turn any out-of-bounds read into a failure.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include "../fuzz/fuzz_common.h"

static void t_random_damage(void **s)
{
	(void)s;
	uint64_t seed = 1234;
	uint8_t buf[4096];
	for (int iter = 0; iter < 400; iter++) {
		size_t n = 1 + tu_rand(&seed) % sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)tu_rand(&seed);
		if (iter % 3 == 0 && fuzz_template) /* small edits of the real header */
			for (size_t i = 0; i < n; i++)
				buf[i] = i < 1024 && tu_rand(&seed) % 64 ? fuzz_template[i] : buf[i];
		shmrt_fuzz_one(buf, n);
	}
	assert_non_null(fuzz_template);
}

/* Inputs that once crashed or hung the fuzzer (tests/fuzz/corpus/region_open). */
static void t_fuzz_corpus(void **s)
{
	(void)s;
	DIR *d = opendir(SHMRT_FUZZ_CORPUS);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type == DT_DIR)
			continue; /* other targets' corpora (mvalue_decode/) */
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", SHMRT_FUZZ_CORPUS, de->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		uint8_t buf[8192];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		shmrt_fuzz_one(buf, len);
		n++;
	}
	closedir(d);
	assert_true(n >= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_random_damage),
		cmocka_unit_test(t_fuzz_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
