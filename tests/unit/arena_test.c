/*
 * The arena in one process: size classes, random alloc/free against a model (no
 * overlap, contents intact, everything returns), large extents and coalescing,
 * exhaustion and bad frees, and the full consistency check.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "alloc/arena_int.h"
#include "core/region_int.h"

static void t_size_classes(void **s)
{
	(void)s;
	unsigned prev = 0;
	for (size_t sz = 1; sz <= SHMRT_SMALL_MAX; sz++) {
		unsigned c = shmrt__arena_size_class(sz);
		assert_true(c < SHMRT_ARENA_NCLS);
		assert_true(shmrt__arena_class_size(c) >= sz);
		if (c)
			assert_true(shmrt__arena_class_size(c - 1) < sz);
		assert_true(c >= prev);
		prev = c;
	}
	assert_int_equal(shmrt__arena_size_class(SHMRT_SMALL_MAX), SHMRT_ARENA_NCLS - 1);
	/* Exact division used to validate frees: every block start of every class. */
	for (unsigned c = 0; c < SHMRT_ARENA_NCLS; c++) {
		uint32_t sz, per, sp, b;
		shmrt__arena_class_info(c, &sz, &per, &sp, &b);
		assert_true(per * sz <= sp * SHMRT_ARENA_PAGE);
		assert_true(b >= 2 && b <= 64);
	}
}

static shmrt_arena_t *arena(shmrt_region_t *r)
{
	return &((struct shmrt_region *)r)->arena;
}

static void check_all_free(shmrt_region_t *r)
{
	struct shmrt_arena_check c = { 0 };
	int rc = shmrt__arena_check(arena(r), &c);
	if (rc)
		fail_msg("arena check: %s", c.why);
	assert_int_equal(c.small_free, c.small_total);
	assert_int_equal(c.small_allocated, 0);
	assert_int_equal(c.large_pages, 0);
}

struct live {
	shmrt_off_t off;
	size_t size;
	uint8_t pat;
};

static size_t rand_size(uint64_t *seed)
{
	uint64_t x = tu_rand(seed);
	switch (x % 8) {
	case 0: return 1 + x % 16;
	case 1: case 2: case 3: return 1 + x % 256;
	case 4: case 5: return 1 + x % 4096;
	case 6: return 1 + x % SHMRT_SMALL_MAX;
	default: return SHMRT_SMALL_MAX + 1 + x % (256 << 10);
	}
}

static void t_random_against_model(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("model"), 64 << 20, 0);
	struct shmrt_region *R = (struct shmrt_region *)r;
	size_t units = R->pub.size / 16;
	uint8_t *owner = calloc(units, 1); /* model: which 16-byte units are held */
	enum { MAXLIVE = 2000 };
	struct live *lv = calloc(MAXLIVE, sizeof(*lv));
	size_t nlive = 0;
	uint64_t seed = 42;
	for (int step = 0; step < 60000; step++) {
		int do_alloc = nlive == 0 || (nlive < MAXLIVE && tu_rand(&seed) % 100 < 55);
		if (do_alloc) {
			size_t sz = rand_size(&seed);
			shmrt_off_t off;
			int rc = shmrt_alloc(r, sz, &off);
			if (rc == -ENOMEM)
				continue;
			assert_int_equal(rc, 0);
			assert_int_equal(off % 16, 0);
			assert_true(shmrt_usable_size(r, off) >= sz);
			if (sz > SHMRT_SMALL_MAX)
				assert_int_equal(off % 4096, 0);
			for (size_t u = off / 16; u < (off + sz + 15) / 16; u++) {
				if (owner[u])
					fail_msg("block %llu overlaps a live block",
						 (unsigned long long)off);
				owner[u] = 1;
			}
			uint8_t pat = (uint8_t)tu_rand(&seed);
			memset(shmrt_ptr(r, off), pat, sz);
			lv[nlive++] = (struct live){ off, sz, pat };
		} else {
			size_t i = tu_rand(&seed) % nlive;
			struct live l = lv[i];
			const uint8_t *p = shmrt_ptr(r, l.off);
			for (size_t k = 0; k < l.size; k++)
				if (p[k] != l.pat)
					fail_msg("block %llu corrupted at byte %zu",
						 (unsigned long long)l.off, k);
			for (size_t u = l.off / 16; u < (l.off + l.size + 15) / 16; u++)
				owner[u] = 0;
			assert_int_equal(shmrt_free(r, l.off), 0);
			lv[i] = lv[--nlive];
		}
	}
	while (nlive)
		assert_int_equal(shmrt_free(r, lv[--nlive].off), 0);
	/* Return the thread's cache too, then every block must be free exactly once. */
	shmrt__arena_cache_reclaim(arena(r), shmrt__thread_rec(R));
	check_all_free(r);
	free(owner);
	free(lv);
	shmrt_region_close(r);
}

static void t_large_and_coalescing(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("large"), 32 << 20, 0);
	shmrt_arena_t *a = arena(r);
	uint64_t total = (uint64_t)a->npages * SHMRT_ARENA_PAGE;
	/* Fill the page space with 1 MiB extents. */
	shmrt_off_t offs[64];
	int n = 0;
	while (n < 64 && shmrt_alloc(r, 1 << 20, &offs[n]) == 0) {
		memset(shmrt_ptr(r, offs[n]), n, 1 << 20);
		n++;
	}
	assert_true(n >= 20);
	shmrt_off_t x;
	assert_int_equal(shmrt_alloc(r, 1 << 20, &x), -ENOMEM);
	shmrt_region_stats_t st;
	assert_int_equal(shmrt_region_stats(r, &st), 0);
	assert_int_equal(st.large_bytes_in_use, (uint64_t)n << 20);
	assert_true(st.arena_committed >= (uint64_t)n << 20);
	/* Free in a scattered order; the page map must coalesce back to one run. */
	for (int stride = 0; stride < 3; stride++)
		for (int i = stride; i < n; i += 3)
			assert_int_equal(shmrt_free(r, offs[i]), 0);
	assert_int_equal(shmrt_region_stats(r, &st), 0);
	assert_int_equal(st.large_bytes_in_use, 0);
	/* Released pages went back to the system (punched). */
	assert_true(st.arena_committed < (1 << 20));
	assert_int_equal(shmrt_alloc(r, total, &x), 0);
	/* A reused extent reads as zero again. */
	const uint8_t *p = shmrt_ptr(r, x);
	for (uint64_t i = 0; i < total; i += 4096)
		assert_int_equal(p[i], 0);
	assert_int_equal(shmrt_free(r, x), 0);
	check_all_free(r);
	shmrt_region_close(r);
}

static void t_bad_frees(void **s)
{
	(void)s;
	shmrt_region_t *r = tu_create(tu_name("badfree"), 8 << 20, 0);
	shmrt_off_t a, b;
	assert_int_equal(shmrt_alloc(r, 100, &a), 0); /* class 112 */
	assert_int_equal(shmrt_alloc(r, 20000, &b), 0);
	assert_int_equal(shmrt_free(r, 0), -EINVAL);
	assert_int_equal(shmrt_free(r, a + 16), -EINVAL);       /* inside a block */
	assert_int_equal(shmrt_free(r, a + 3), -EINVAL);        /* misaligned */
	assert_int_equal(shmrt_free(r, b + 4096), -EINVAL);     /* inside an extent */
	assert_int_equal(shmrt_free(r, b + (1 << 20)), -EINVAL); /* free pages */
	assert_int_equal(shmrt_free(r, 1ull << 40), -EINVAL);   /* outside */
	assert_int_equal(shmrt_usable_size(r, a + 16), 0);
	assert_int_equal(shmrt_alloc(r, 0, &a), -EINVAL);
	assert_int_equal(shmrt_alloc(r, 1ull << 40, &a), -ENOMEM);
	assert_int_equal(shmrt_free(r, b), 0);
	/* A block never allocated (the next one of a's span), and a double free, of a
	 * small block and of a large one: refused, and nothing handed out twice. */
	shmrt_off_t c, d;
	assert_int_equal(shmrt_free(r, a + 112), -EINVAL);
	assert_int_equal(shmrt_free(r, a), 0);
	assert_int_equal(shmrt_free(r, a), -EINVAL);
	assert_int_equal(shmrt_free(r, b), -EINVAL);
	assert_int_equal(shmrt_alloc(r, 100, &c), 0);
	assert_int_equal(shmrt_alloc(r, 100, &d), 0);
	assert_int_not_equal(c, d);
	assert_int_equal(shmrt_free(r, c), 0);
	assert_int_equal(shmrt_free(r, d), 0);
	check_all_free(r);
	shmrt_region_close(r);
}

static void t_small_exhaustion(void **s)
{
	(void)s;
	/* Small blocks until the page space runs out: -ENOMEM, then all come back. */
	shmrt_region_t *r = tu_create(tu_name("exhaust"), 4 << 20, 0);
	size_t cap = 1 << 20, n = 0;
	shmrt_off_t *offs = malloc(cap * sizeof(*offs));
	int rc;
	while ((rc = shmrt_alloc(r, 64, &offs[n])) == 0 && n < cap)
		n++;
	assert_int_equal(rc, -ENOMEM);
	assert_true(n > 10000);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(shmrt_free(r, offs[i]), 0);
	shmrt__arena_cache_reclaim(arena(r), shmrt__thread_rec((struct shmrt_region *)r));
	check_all_free(r);
	/* Again: the same blocks are handed out (nothing was lost). */
	size_t m = 0;
	while (shmrt_alloc(r, 64, &offs[m]) == 0 && m < cap)
		m++;
	assert_int_equal(m, n);
	free(offs);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_size_classes),
		cmocka_unit_test(t_random_against_model),
		cmocka_unit_test(t_large_and_coalescing),
		cmocka_unit_test(t_bad_frees),
		cmocka_unit_test(t_small_exhaustion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
