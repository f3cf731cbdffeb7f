/*
 * One iteration of the manager's decoder fuzzing, shared by the libFuzzer target
 * (mvalue_decode_fuzz.c) and the unit test that replays the corpus under any compiler
 * (mvalue_test.c). The decoder runs with small limits, so that the depth and element
 * bounds are hit too. Whatever it accepts must survive the round trip: encode, decode
 * again (the whole buffer), and the two trees are identical, their encodings the same
 * bytes, their reprs the same text; a copy is identical too. Whatever it refuses must
 * be refused with one of the documented codes. Any breach aborts.
 */
#ifndef SHMRT_MVALUE_FUZZ_COMMON_H
#define SHMRT_MVALUE_FUZZ_COMMON_H

#include <shmrt/mvalue.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char repr_a[1 << 16], repr_b[1 << 16];

static void mvalue_fuzz_one(const uint8_t *data, size_t size)
{
	shmrt_mv_limits_t lim = { .max_bytes = 1 << 16, .max_elems = 4096, .max_depth = 32 };
	shmrt_mv_t *v, *w, *c;
	size_t used = 0;
	int rc = shmrt_mv_decode_prefix(data, size, &lim, &v, &used);
	if (rc) {
		if (rc != -EBADMSG && rc != -EILSEQ && rc != -ENOTSUP && rc != -ERANGE &&
		    rc != -ELOOP && rc != -E2BIG && rc != -EMSGSIZE)
			abort();
		if (shmrt_mv_decode(data, size, &lim, &w) == 0)
			abort(); /* the whole input cannot decode if its prefix does not */
		return;
	}
	if (used == 0 || used > size)
		abort();
	rc = shmrt_mv_decode(data, size, &lim, &w);
	if ((used == size) != (rc == 0) || (rc && rc != -EBADMSG))
		abort(); /* trailing bytes, and only they, fail the whole-input decode */
	if (!rc)
		shmrt_mv_free(w);

	shmrt_mv_buf_t a = { 0 }, b = { 0 };
	if (shmrt_mv_encode(v, &a) || shmrt_mv_decode(a.data, a.len, NULL, &w))
		abort();
	if (!shmrt_mv_identical(v, w) || shmrt_mv_encode(w, &b) || a.len != b.len ||
	    memcmp(a.data, b.data, a.len) != 0)
		abort();
	ssize_t na = shmrt_mv_repr(v, repr_a, sizeof(repr_a));
	ssize_t nb = shmrt_mv_repr(w, repr_b, sizeof(repr_b));
	if (na < 0 || na != nb || strcmp(repr_a, repr_b) != 0)
		abort();
	c = shmrt_mv_copy(v);
	if (!c || !shmrt_mv_identical(v, c))
		abort();
	shmrt_mv_free(c);
	shmrt_mv_free(w);
	shmrt_mv_free(v);
	shmrt_mv_buf_free(&a);
	shmrt_mv_buf_free(&b);
}

#endif
