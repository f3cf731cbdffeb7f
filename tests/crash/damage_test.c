/*
 * Damaged live regions: no crash, no hang. Each round builds a region holding one
 * object of every kind, with contents, detaches, then damages its file at random (a
 * few words: random bytes, zero, all ones, a small number, or an offset that points
 * inside the region; in the header, registry and directory, the arena's metadata, the
 * objects' own words, or anywhere). Half the rounds damage it before the worker opens
 * it; the other half while the worker has it open, between its opens (which validated
 * what they found) and its calls. Then, in child processes:
 *  - a new opener and reader: opens the region and every object by name, and reads
 *    them all (dict gets and iteration, queue gets with timeouts, array reads and
 *    snapshots, values, the counter, the event), lists objects and processes, and
 *    runs gc;
 *  - a timed writer: puts, dict sets, array writes, locks with timeouts, allocations;
 *  - every few rounds, `shmrt info` on it.
 * Any result is fine (damage usually gives -EBADMSG, -EUCLEAN, -ETIMEDOUT, -EINVAL);
 * a signal, a sanitizer report (exit status 1) or a child still running after its
 * bound fails the test. Rounds: 4 x SHMRT_KILLS (40 by default, 400 in `make stress`).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define REGION_SIZE (4u << 20)
#define NKEYS 200

static const char *NAME;
static uint64_t seed;

static int rounds_wanted(void)
{
	const char *e = getenv("SHMRT_KILLS");
	int k = e && atoi(e) > 0 ? atoi(e) : 40;
	return 4 * k;
}

static void populate(void)
{
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.size = REGION_SIZE;
	o.max_procs = 16;
	o.max_threads = 32;
	o.max_objects = 16;
	shmrt_region_t *r;
	assert_int_equal(shmrt_region_open(NAME, SHMRT_O_CREATE | SHMRT_O_EXCL, &o, &r), 0);
	shmrt_queue_t q;
	shmrt_dict_t d;
	shmrt_array_t a;
	shmrt_value_t v;
	shmrt_counter_t c;
	shmrt_lock_t l;
	shmrt_event_t e;
	shmrt_pipe_t p;
	shmrt_object_info_t oi;
	assert_int_equal(shmrt_queue_open(r, "q", SHMRT_O_CREATE, 16, 64, &q), 0);
	shmrt_dict_opts_t dopt = { .partitions = 4, .capacity = 64 };
	assert_int_equal(shmrt_dict_open(r, "d", SHMRT_O_CREATE, &dopt, &d), 0);
	assert_int_equal(shmrt_array_open(r, "a", SHMRT_O_CREATE, SHMRT_VT_INT64, 4096, NULL, &a),
			 0);
	assert_int_equal(shmrt_value_open(r, "v", SHMRT_O_CREATE, SHMRT_VT_INT64, NULL, &v), 0);
	assert_int_equal(shmrt_counter_open(r, "c", SHMRT_O_CREATE, &c), 0);
	assert_int_equal(shmrt_lock_open(r, "l", SHMRT_O_CREATE, 0, &l), 0);
	assert_int_equal(shmrt_event_open(r, "e", SHMRT_O_CREATE, &e), 0);
	assert_int_equal(shmrt_pipe_open(r, "p", SHMRT_O_CREATE, 0, 8, 32, &p), 0);
	assert_int_equal(shmrt_object_open(r, "b", SHMRT_O_CREATE, SHMRT_TYPE_BYTES, 30000, NULL,
					   &oi),
			 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(shmrt_queue_put(&q, &i, sizeof(i), 0), 0);
	for (int64_t k = 0; k < NKEYS; k++)
		assert_int_equal(shmrt_dict_set_i64(&d, k, k * 3), 0);
	for (int64_t k = 0; k < NKEYS; k += 3)
		assert_int_equal(shmrt_dict_delete(&d, &k, sizeof(k)) == 0 || 1, 1);
	int64_t row[64];
	for (int i = 0; i < 64; i++)
		row[i] = i;
	assert_int_equal(shmrt_array_write(&a, 100, row, 64), 0);
	shmrt_counter_add(&c, 5);
	shmrt_event_set(&e);
	assert_int_equal(shmrt_pipe_send(&p, "hello", 5, 0), 0);
	assert_int_equal(shmrt_region_close(r), 0);
}

/* A value a damage writes: random bits, 0, all ones, a small number, or an offset into
 * the region (the kind a pointer-following reader trusts). */
static uint64_t damage_value(void)
{
	switch (tu_rand(&seed) % 5) {
	case 0: return tu_rand(&seed);
	case 1: return 0;
	case 2: return ~0ull;
	case 3: return tu_rand(&seed) % 64;
	default: return tu_rand(&seed) % REGION_SIZE & ~7ull;
	}
}

static void damage(int fd, const shmrt_object_info_t *objs, size_t nobj)
{
	int n = 1 + (int)(tu_rand(&seed) % 4);
	for (int i = 0; i < n; i++) {
		uint64_t off;
		unsigned where = (unsigned)(tu_rand(&seed) % 5);
		if (where == 0) /* header, registry, directory */
			off = tu_rand(&seed) % 65536;
		else if (where == 1) /* arena metadata (header, bins, caches, map) */
			off = 65536 + tu_rand(&seed) % (256 << 10);
		else if (where == 4) /* anywhere: dict tables and nodes, data pages */
			off = tu_rand(&seed) % REGION_SIZE;
		else if (nobj) { /* inside an object (its first 4 KiB, where its words are) */
			const shmrt_object_info_t *o = &objs[tu_rand(&seed) % nobj];
			uint64_t span = o->size < 4096 ? o->size : 4096;
			off = o->off + tu_rand(&seed) % (span ? span : 1);
		} else {
			off = tu_rand(&seed) % REGION_SIZE;
		}
		off &= ~7ull;
		uint64_t v = damage_value();
		size_t len = 1 + (size_t)(tu_rand(&seed) % 8);
		assert_int_equal(pwrite(fd, &v, len, (off_t)off), (ssize_t)len);
	}
}

static int go[2], opened[2]; /* pipes: the worker's "opened" and the parent's "go" */

/* In a live round: tells the parent the objects are open, waits for its damage. */
static void sync_live(int live)
{
	char c = 1;
	if (live && (write(opened[1], &c, 1) != 1 || read(go[0], &c, 1) != 1))
		_exit(3);
}

/* The child: everything a reader, an opener and a timed writer do. Any result is
 * fine; only finishing counts. */
static int work(void *arg)
{
	int live = arg != NULL;
	/* A crash is the child's own signal, not cmocka's report inherited by the fork. */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.open_timeout = 100000000;
	shmrt_region_t *r;
	if (shmrt_region_open(NAME, 0, &o, &r)) {
		sync_live(live);
		return 0;
	}
	const int64_t T = 10000000; /* 10 ms */
	shmrt_queue_t q;
	shmrt_dict_t d;
	shmrt_array_t a;
	shmrt_value_t v;
	shmrt_counter_t c;
	shmrt_lock_t l;
	shmrt_event_t e;
	shmrt_pipe_t p;
	int hq = shmrt_queue_open(r, "q", 0, 16, 64, &q) == 0;
	int hd = shmrt_dict_open(r, "d", 0, NULL, &d) == 0;
	int ha = shmrt_array_open(r, "a", 0, SHMRT_VT_INT64, 4096, NULL, &a) == 0;
	int hv = shmrt_value_open(r, "v", 0, SHMRT_VT_INT64, NULL, &v) == 0;
	int hc = shmrt_counter_open(r, "c", 0, &c) == 0;
	int hl = shmrt_lock_open(r, "l", 0, 0, &l) == 0;
	int he = shmrt_event_open(r, "e", 0, &e) == 0;
	int hp = shmrt_pipe_open(r, "p", 0, 1, 8, 32, &p) == 0;
	sync_live(live);
	shmrt_object_info_t objs[16];
	shmrt_proc_info_t procs[16];
	shmrt_region_stats_t st;
	size_t n, len;
	(void)shmrt_object_list(r, objs, 16, &n);
	(void)shmrt_region_procs(r, procs, 16, &n);
	(void)shmrt_region_stats(r, &st);
	(void)shmrt_region_gc(r, NULL);
	char buf[128];
	int64_t x;
	if (hq) {
		for (int i = 0; i < 6; i++)
			(void)shmrt_queue_get(&q, buf, sizeof(buf), &len, T);
		for (int i = 0; i < 20; i++)
			(void)shmrt_queue_put(&q, &i, sizeof(i), T);
		(void)shmrt_queue_size(&q);
	}
	if (hd) {
		for (int64_t k = 0; k < NKEYS; k++)
			(void)shmrt_dict_get_i64(&d, k, &x);
		shmrt_dict_stats_t ds;
		(void)shmrt_dict_stats(&d, &ds);
		(void)shmrt_dict_len(&d);
		for (int64_t k = 0; k < 60; k++)
			(void)shmrt_dict_set_i64(&d, k + 1000, k);
		(void)shmrt_dict_delete(&d, "zz", 2);
	}
	if (ha) {
		int64_t row[64];
		(void)shmrt_array_read(&a, 90, row, 64);
		(void)shmrt_array_snapshot(&a, 0, row, 64);
		(void)shmrt_array_write(&a, 2000, row, 64);
		if (shmrt_array_lock(&a, T) == 0)
			(void)shmrt_array_unlock(&a);
	}
	if (hv) {
		(void)shmrt_value_get_i64(&v, &x);
		(void)shmrt_value_fetch_add_i64(&v, 1, NULL);
		int rc = shmrt_value_lock(&v, T);
		if (rc == 0 || rc == -EOWNERDEAD)
			(void)shmrt_value_unlock(&v);
	}
	if (hc) {
		shmrt_counter_add(&c, 1);
		(void)shmrt_counter_read(&c);
	}
	if (hl) {
		int rc = shmrt_lock_acquire(&l, T);
		if (rc == 0 || rc == -EOWNERDEAD)
			(void)shmrt_lock_release(&l);
	}
	if (he) {
		(void)shmrt_event_is_set(&e);
		(void)shmrt_event_wait(&e, T);
	}
	if (hp) {
		(void)shmrt_pipe_recv(&p, buf, sizeof(buf), &len, T);
		(void)shmrt_pipe_send(&p, "x", 1, T);
	}
	shmrt_off_t offs[8];
	for (int i = 0; i < 8; i++)
		if (shmrt_alloc(r, (size_t)(16 << (i % 12)), &offs[i]) == 0)
			(void)shmrt_free(r, offs[i]);
	(void)shmrt_region_close(r);
	return 0;
}

static int run_tool(const char *args)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "exec %s %s >/dev/null 2>&1", getenv("SHMRT_TOOL"), args);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return tu_wait(pid, 20000);
}

static void t_random_damage(void **s)
{
	(void)s;
	int rounds = rounds_wanted();
	seed = (uint64_t)tu_ms() ^ (uint64_t)getpid() << 20;
	const char *env = getenv("SHMRT_DAMAGE_SEED");
	if (env)
		seed = strtoull(env, NULL, 0);
	print_message("%d rounds, seed %llu (SHMRT_DAMAGE_SEED to replay)\n", rounds,
		      (unsigned long long)seed);
	NAME = tu_name("dmg"); /* one name, made anew every round */
	for (int round = 0; round < rounds; round++) {
		populate();
		char path[256];
		snprintf(path, sizeof(path), "/dev/shm/%s", NAME);
		/* The objects' places, read before the damage (the damage may hide them). */
		shmrt_region_t *r;
		shmrt_object_info_t objs[16];
		size_t nobj = 0;
		assert_int_equal(shmrt_region_open(NAME, SHMRT_O_NOATTACH, NULL, &r), 0);
		assert_int_equal(shmrt_object_list(r, objs, 16, &nobj), 0);
		shmrt_region_close(r);
		int fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		uint64_t before = seed;
		int live = (int)(tu_rand(&seed) % 2);
		pid_t pid;
		if (live) {
			assert_int_equal(pipe(go), 0);
			assert_int_equal(pipe(opened), 0);
			pid = tu_fork(work, (void *)1);
			char ch = 0;
			assert_int_equal(read(opened[0], &ch, 1), 1); /* its handles are open */
			damage(fd, objs, nobj);
			assert_int_equal(write(go[1], &ch, 1), 1);
			close(go[0]), close(go[1]), close(opened[0]), close(opened[1]);
		} else {
			damage(fd, objs, nobj);
			pid = tu_fork(work, NULL);
		}
		close(fd);
		int st = tu_wait(pid, 20000);
		if (st != 0)
			fail_msg("round %d (seed before its damage: %llu): the worker %s (status %d)",
				 round, (unsigned long long)before,
				 st < 0 ? "hung" : st > 128 ? "was killed by a signal" : "failed", st);
		if (round % 8 == 0) {
			char args[300];
			snprintf(args, sizeof(args), "info %s", NAME);
			st = run_tool(args);
			if (st < 0 || st >= 128)
				fail_msg("round %d: `shmrt info` %s (status %d)", round,
					 st < 0 ? "hung" : "crashed", st);
		}
		unlink(path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_random_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
