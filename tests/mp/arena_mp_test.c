/*
 * Several processes (more than cores) allocating and freeing in one arena at once.
 * A shared occupancy map (one byte per 16-byte unit, in a separate region) catches
 * any block handed out twice or overlapping another: every allocation claims its
 * units with an atomic exchange, and every free releases them first. Blocks also
 * cross processes: half the frees are of blocks another process allocated, passed
 * through a shared mailbox. At the end every block must be free exactly once.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/arena_int.h"
#include "core/region_int.h"

enum { NPROC = 5, MAILBOX = 256, OPS = 20000 };

struct shared {
	uint64_t mailbox[MAILBOX];   /* offsets of blocks in transit, 0 = empty */
	uint64_t errors;
	uint64_t remote_frees;
	uint8_t occ[];               /* 1 per 16-byte unit of the arena region */
};

struct ctx {
	const char *name, *sname;
	int id;
};

static int claim(struct shared *sh, shmrt_off_t off, size_t size)
{
	for (size_t u = off / 16; u < (off + size + 15) / 16; u++)
		if (__atomic_exchange_n(&sh->occ[u], 1, __ATOMIC_ACQ_REL))
			return -1;
	return 0;
}

static void unclaim(struct shared *sh, shmrt_off_t off, size_t size)
{
	for (size_t u = off / 16; u < (off + size + 15) / 16; u++)
		__atomic_store_n(&sh->occ[u], 0, __ATOMIC_RELEASE);
}

/* A block's first word holds its size; the rest a pattern derived from its offset. */
static void stamp(char *p, shmrt_off_t off, size_t size)
{
	*(uint64_t *)p = size;
	memset(p + 8, (int)(off >> 4) & 0xff, size - 8);
}

static int verify(const char *p, shmrt_off_t off)
{
	size_t size = *(const uint64_t *)p;
	for (size_t i = 8; i < size; i++)
		if ((uint8_t)p[i] != ((off >> 4) & 0xff))
			return -1;
	return 0;
}

static int worker(void *arg)
{
	struct ctx *c = arg;
	shmrt_region_t *r, *rs;
	if (shmrt_region_open(c->name, 0, NULL, &r) || shmrt_region_open(c->sname, 0, NULL, &rs))
		return 1;
	shmrt_object_info_t oi;
	if (shmrt_object_lookup(rs, "shared", &oi))
		return 2;
	struct shared *sh = shmrt_ptr(rs, oi.off);
	enum { HELD = 64 };
	struct { shmrt_off_t off; size_t size; } held[HELD];
	int nheld = 0;
	uint64_t seed = (uint64_t)c->id * 7919 + 1;
	for (int op = 0; op < OPS; op++) {
		uint64_t x = tu_rand(&seed);
		if (nheld < HELD && (nheld == 0 || x % 3 != 0)) {
			size_t size = 16 + x % (x % 16 == 0 ? 40000 : 600);
			shmrt_off_t off;
			if (shmrt_alloc(r, size, &off))
				continue; /* a full arena is fine; the others will free */
			if (claim(sh, off, size)) {
				__atomic_fetch_add(&sh->errors, 1, __ATOMIC_RELAXED);
				return 3;
			}
			stamp(shmrt_ptr(r, off), off, size);
			held[nheld].off = off;
			held[nheld++].size = size;
		} else if (nheld) {
			int i = (int)(x % (uint64_t)nheld);
			shmrt_off_t off = held[i].off;
			held[i] = held[--nheld];
			if (x & 1) { /* pass it to another process through the mailbox */
				uint64_t slot = x % MAILBOX, zero = 0;
				if (__atomic_compare_exchange_n(&sh->mailbox[slot], &zero, off, 0,
								__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
					continue;
			}
			if (verify(shmrt_ptr(r, off), off))
				return 4;
			unclaim(sh, off, *(uint64_t *)shmrt_ptr(r, off));
			if (shmrt_free(r, off))
				return 5;
		}
		/* Free whatever another process left in a mailbox slot. */
		uint64_t slot = tu_rand(&seed) % MAILBOX;
		uint64_t off = __atomic_exchange_n(&sh->mailbox[slot], 0, __ATOMIC_ACQ_REL);
		if (off) {
			if (verify(shmrt_ptr(r, off), off))
				return 6;
			unclaim(sh, off, *(uint64_t *)shmrt_ptr(r, off));
			if (shmrt_free(r, off))
				return 7;
			__atomic_fetch_add(&sh->remote_frees, 1, __ATOMIC_RELAXED);
		}
	}
	for (int i = 0; i < nheld; i++) {
		unclaim(sh, held[i].off, held[i].size);
		if (shmrt_free(r, held[i].off))
			return 8;
	}
	shmrt_region_close(r); /* returns this process's cache */
	shmrt_region_close(rs);
	return 0;
}

static void t_concurrent_processes(void **s)
{
	(void)s;
	struct ctx c[NPROC];
	const char *name = tu_name("mp"), *sname = tu_name("mpshadow");
	shmrt_region_t *r = tu_create(name, 16 << 20, 0);
	shmrt_region_t *rs = tu_create(sname, 8 << 20, 0);
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_object_open(rs, "shared", SHMRT_O_CREATE,
					   SHMRT_TYPE_BYTES,
					   sizeof(struct shared) + (16 << 20) / 16,
					   NULL, &oi), 0);
	struct shared *sh = shmrt_ptr(rs, oi.off);
	pid_t pids[NPROC];
	for (int i = 0; i < NPROC; i++) {
		c[i] = (struct ctx){ name, sname, i };
		pids[i] = tu_fork(worker, &c[i]);
	}
	for (int i = 0; i < NPROC; i++)
		assert_int_equal(tu_wait(pids[i], 60000), 0);
	assert_int_equal(sh->errors, 0);
	assert_true(sh->remote_frees > 100);
	/* Blocks still in the mailbox go back too. */
	for (int i = 0; i < MAILBOX; i++)
		if (sh->mailbox[i])
			assert_int_equal(shmrt_free(r, sh->mailbox[i]), 0);
	struct shmrt_region *R = (struct shmrt_region *)r;
	shmrt__arena_cache_reclaim(&R->arena, shmrt__thread_rec(R));
	struct shmrt_arena_check ck = { 0 };
	int rc = shmrt__arena_check(&R->arena, &ck);
	if (rc)
		fail_msg("arena check: %s", ck.why);
	assert_int_equal(ck.small_free, ck.small_total);
	assert_int_equal(ck.large_pages, 0);
	print_message("blocks %llu, remote frees %llu\n", (unsigned long long)ck.small_total,
		      (unsigned long long)sh->remote_frees);
	shmrt_region_close(rs);
	shmrt_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_concurrent_processes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
