/*
 * The cluster benchmarks (include/shmrt/cluster.h), beside raw MPI on the same path:
 * an MPI program of its own (the rest of the benchmarks are one Google Benchmark
 * binary, which mpirun cannot start as several ranks of one job), run by bench/run.py
 * as `mpiexec -n 4 cluster_bench --out=FILE` on two pretend nodes of two ranks. It
 * writes its medians in Google Benchmark's JSON shape, which run.py merges with the
 * rest.
 *
 * Cases (shmrt, then its peers; every peer in the same run, on a window created as the
 * cluster's is: MPI_Win_allocate, lock_all, accumulate_ordering=none):
 *  cluster/value/fetch_add/remote  rank 0 (node 0) on a Value homed on node 1 | peer
 *                                  mpi_fetch_and_op: MPI_Fetch_and_op + flush to
 *                                  rank 2 (node 1's leader)                   ns/op
 *  cluster/value/fetch_add/local   rank 0 on a Value homed on node 0 | peers the same
 *                                  raw call to rank 0 itself; cpu_atomic_raw: a bare
 *                                  CPU fetch-and-add (lock xadd) on a word of the
 *                                  rank's own shared mapping, alone, as the MPI peer
 *                                  is: the floor of any fetch_add that does one
 *                                  atomic on a shared word                    ns/op
 *  cluster/counter/add             all 4 ranks add at once (node-local stripes),
 *                                  timed on rank 0 from barrier to barrier
 *                                  | peer mpi_fetch_and_op: all 4 ranks
 *                                  MPI_Fetch_and_op(MPI_SUM) + flush on one
 *                                  word                                       adds/s
 *  cluster/array/read/1MiB/remote  rank 0 reads node 1's 1 MiB block | peer mpi_get:
 *                                  MPI_Get of 1 MiB + flush from rank 2       MiB/s
 *  cluster/queue/64B/remote        rank 0 pushes and pops 64 B on a Queue homed on
 *                                  node 1 | peer bcl_rma: a BCL-style queue in plain
 *                                  RMA (below)                          ns per pair
 *  cluster/queue/64B/remote/burst64  the same in bursts of 64 (push_burst then
 *                                  pop_burst) | peers: shmrt single, bcl_rma
 *                                                                    ns per message
 *  cluster/dict/get/remote, local  rank 0 gets a 16 B value of a key homed on node 1,
 *                                  on node 0 | peer redis_cluster (remote; run.py
 *                                  shows the same figure beside local): three
 *                                  masters on loopback (bench/redis_cluster.c,
 *                                  started by rank 0, holding the same 64 keys and
 *                                  values), rank 0 GETs the keys in turn, each from
 *                                  its slot's master on that master's one hiredis
 *                                  connection, one at a time                  ns/op
 * The repetitions of all cases run in one random order (the same on every rank), as
 * run.py asks of Google Benchmark, so that a case and its peers sample the same
 * phases of a shared machine. Ranks not timed wait in a barrier.
 *
 * Usage: mpiexec -n 4 cluster_bench [--out=FILE] [--reps=N] [--filter=REGEX]
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <mpi.h>
#include <shmrt/cluster.h>

#include "redis_cluster.h"

#define BLOCK_WORDS (1 << 17)  /* 1 MiB of int64 */

static shmrt_cluster_t *cl;
static shmrt_cluster_value_t v_remote, v_local;
static shmrt_cluster_counter_t counter;
static shmrt_cluster_array_t arr;
static MPI_Win raw_win;
static int64_t *raw_base;
static int64_t *rbuf;
static int rank, size;

static void die(const char *what, int rc)
{
	fprintf(stderr, "cluster_bench: rank %d: %s: %d\n", rank, what, rc);
	redis_cluster_stop();
	MPI_Abort(MPI_COMM_WORLD, 1);
}

/* A case body: runs n operations (on the ranks it involves) and returns. */
typedef struct bcase {
	const char *name;   /* "<case>/<impl>" */
	const char *unit;   /* ns/op, adds/s, MiB/s */
	const char *better; /* lower | higher */
	int all_ranks;      /* every rank runs the body (else rank 0 only) */
	uint64_t n;         /* operations per rank per repetition */
	double scale;       /* MiB per operation (bandwidth cases) */
	void (*body)(uint64_t n);
	double *samples;
} bcase_t;

static void value_remote(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (shmrt_cluster_value_fetch_add(&v_remote, 1, NULL) != 0)
			die("fetch_add", -1);
}
static void value_local(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (shmrt_cluster_value_fetch_add(&v_local, 1, NULL) != 0)
			die("fetch_add", -1);
}
static void raw_fop(int target, uint64_t n)
{
	int64_t one = 1, r;
	for (uint64_t i = 0; i < n; i++)
		if (MPI_Fetch_and_op(&one, &r, MPI_INT64_T, target, 0, MPI_SUM, raw_win) != MPI_SUCCESS ||
		    MPI_Win_flush(target, raw_win) != MPI_SUCCESS)
			die("MPI_Fetch_and_op", -1);
}
static int64_t *cpu_word; /* a word of this rank's own MAP_SHARED mapping (main) */
static volatile int64_t cpu_sink;
static void cpu_atomic(uint64_t n)
{
	int64_t s = 0;
	/* The old values are used, so that this is a lock xadd, as a fetch_add must be
	 * (a discarded result compiles to lock add). */
	for (uint64_t i = 0; i < n; i++)
		s += __atomic_fetch_add(cpu_word, 1, __ATOMIC_SEQ_CST);
	cpu_sink = s;
}
static void raw_remote(uint64_t n) { raw_fop(2, n); }
static void raw_local(uint64_t n) { raw_fop(0, n); }
static void counter_add(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		shmrt_cluster_counter_add(&counter, 1);
}
static void array_read(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (shmrt_cluster_array_read(&arr, BLOCK_WORDS, BLOCK_WORDS, rbuf) != 0)
			die("array_read", -1);
}
static void raw_get(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (MPI_Get(rbuf, BLOCK_WORDS, MPI_INT64_T, 2, 1, BLOCK_WORDS, MPI_INT64_T, raw_win) !=
			    MPI_SUCCESS ||
		    MPI_Win_flush(2, raw_win) != MPI_SUCCESS)
			die("MPI_Get", -1);
}

/* The queue cases: n push+pop pairs of 64 B by rank 0 on a queue homed on node 1. */
static shmrt_cluster_queue_t queue;
static shmrt_cluster_dict_t dict;
static char key_remote[16], key_local[16];

static void queue_pair(uint64_t n)
{
	char m[64] = {1}, b[64];
	size_t len;
	for (uint64_t i = 0; i < n; i++)
		if (shmrt_cluster_queue_push(&queue, m, sizeof m, SHMRT_FOREVER) != 0 ||
		    shmrt_cluster_queue_pop(&queue, b, sizeof b, &len, SHMRT_FOREVER) != 0)
			die("queue", -1);
}

/* n messages as push_burst + pop_burst of 64 (n a multiple of 64): ns per message. */
static void queue_burst(uint64_t n)
{
	static char m[64][64], b[64][64];
	const void *ptrs[64];
	size_t lens[64], moved;
	for (int i = 0; i < 64; i++) {
		ptrs[i] = m[i];
		lens[i] = 64;
	}
	for (uint64_t i = 0; i < n; i += 64) {
		if (shmrt_cluster_queue_push_burst(&queue, ptrs, lens, 64, SHMRT_FOREVER, &moved) != 0 ||
		    moved != 64)
			die("push_burst", -1);
		for (size_t got = 0; got < 64; got += moved)
			if (shmrt_cluster_queue_pop_burst(&queue, b, 64, lens, 64 - got, SHMRT_FOREVER,
							  &moved) != 0)
				die("pop_burst", -1);
	}
}

/*
 * The peer: a BCL-style queue written with plain RMA on the raw window of node 1's
 * leader (rank 2), from BCL_BASE: head, tail, ready (the ordered commit), then 64 B
 * slots.
 * push: fetch-add tail, put the message, flush, then advance `ready` from the ticket
 * by CAS (in ticket order); pop: fetch-add head, wait until ready > ticket, get the
 * message. No full/empty checks (the bench never fills it), no skipping: a producer
 * that dies between its fetch-add and its commit wedges it for good.
 */
#define BCL_CAP 1024
#define BCL_BASE (BLOCK_WORDS + 8)  /* after the words of the other peers */
static void bcl_pair(uint64_t n)
{
	char m[64] = {1}, b[64];
	int64_t one = 1, t, h, r, rdy;
	for (uint64_t i = 0; i < n; i++) {
		MPI_Fetch_and_op(&one, &t, MPI_INT64_T, 2, BCL_BASE + 1, MPI_SUM, raw_win);
		MPI_Win_flush(2, raw_win);
		MPI_Put(m, 64, MPI_BYTE, 2, BCL_BASE + 8 + (t % BCL_CAP) * 8, 64, MPI_BYTE, raw_win);
		MPI_Win_flush(2, raw_win);
		for (;;) {
			int64_t next = t + 1;
			MPI_Compare_and_swap(&next, &t, &r, MPI_INT64_T, 2, BCL_BASE + 2, raw_win);
			MPI_Win_flush(2, raw_win);
			if (r == t)
				break;
		}
		MPI_Fetch_and_op(&one, &h, MPI_INT64_T, 2, BCL_BASE, MPI_SUM, raw_win);
		MPI_Win_flush(2, raw_win);
		do {
			MPI_Fetch_and_op(NULL, &rdy, MPI_INT64_T, 2, BCL_BASE + 2, MPI_NO_OP, raw_win);
			MPI_Win_flush(2, raw_win);
		} while (rdy <= h);
		MPI_Get(b, 64, MPI_BYTE, 2, BCL_BASE + 8 + (h % BCL_CAP) * 8, 64, MPI_BYTE, raw_win);
		MPI_Win_flush(2, raw_win);
	}
}

static void dict_get(const char *key, uint64_t n)
{
	char v[64];
	size_t len;
	for (uint64_t i = 0; i < n; i++)
		if (shmrt_cluster_dict_get(&dict, key, strlen(key), v, sizeof v, &len) != 0)
			die("dict_get", -1);
}
static void dict_get_remote(uint64_t n) { dict_get(key_remote, n); }
static void dict_get_local(uint64_t n) { dict_get(key_local, n); }

/* The Dict's keys (key0 .. key63, 16 B values), also in the Redis Cluster. */
#define NKEYS 64
static const char dict_val[] = "0123456789abcdef";
static void redis_cluster_gets(uint64_t n)
{
	char k[16], v[64];
	size_t len;
	for (uint64_t i = 0; i < n; i++) {
		int kl = snprintf(k, sizeof k, "key%d", (int)(i % NKEYS));
		if (redis_cluster_get(k, (size_t)kl, v, sizeof v, &len) != 0 || len != 16 ||
		    memcmp(v, dict_val, 16) != 0)
			die("redis_cluster_get", -EIO);
	}
}

static bcase_t cases[] = {
	{"cluster/value/fetch_add/remote/shmrt", "ns/op", "lower", 0, 20000, 0, value_remote, 0},
	{"cluster/value/fetch_add/remote/mpi_fetch_and_op", "ns/op", "lower", 0, 20000, 0,
	 raw_remote, 0},
	{"cluster/value/fetch_add/local/shmrt", "ns/op", "lower", 0, 20000, 0, value_local, 0},
	{"cluster/value/fetch_add/local/mpi_fetch_and_op", "ns/op", "lower", 0, 20000, 0,
	 raw_local, 0},
	{"cluster/value/fetch_add/local/cpu_atomic_raw", "ns/op", "lower", 0, 2000000, 0,
	 cpu_atomic, 0},
	{"cluster/counter/add/shmrt", "adds/s", "higher", 1, 20000000, 0, counter_add, 0},
	{"cluster/counter/add/mpi_fetch_and_op", "adds/s", "higher", 1, 200000, 0, raw_remote, 0},
	{"cluster/array/read/1MiB/remote/shmrt", "MiB/s", "higher", 0, 200, 1.0, array_read, 0},
	{"cluster/array/read/1MiB/remote/mpi_get", "MiB/s", "higher", 0, 200, 1.0, raw_get, 0},
	{"cluster/queue/64B/remote/shmrt", "ns/op", "lower", 0, 5000, 0, queue_pair, 0},
	{"cluster/queue/64B/remote/bcl_rma", "ns/op", "lower", 0, 5000, 0, bcl_pair, 0},
	{"cluster/queue/64B/remote/burst64/shmrt", "ns/op", "lower", 0, 64 * 500, 0, queue_burst, 0},
	{"cluster/queue/64B/remote/burst64/shmrt_single", "ns/op", "lower", 0, 5000, 0, queue_pair, 0},
	{"cluster/queue/64B/remote/burst64/bcl_rma", "ns/op", "lower", 0, 5000, 0, bcl_pair, 0},
	{"cluster/dict/get/remote/shmrt", "ns/op", "lower", 0, 20000, 0, dict_get_remote, 0},
	{"cluster/dict/get/local/shmrt", "ns/op", "lower", 0, 20000, 0, dict_get_local, 0},
	{"cluster/dict/get/remote/redis_cluster", "ns/op", "lower", 0, 10000, 0, redis_cluster_gets,
	 0},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One repetition of c: its value in c's unit. */
static double run_once(bcase_t *c)
{
	double t0, t, wall;
	MPI_Barrier(MPI_COMM_WORLD);
	t0 = MPI_Wtime();
	if (c->all_ranks || rank == 0)
		c->body(c->n);
	t = MPI_Wtime() - t0;
	if (c->all_ranks) {
		/* Aggregate rate: all ranks' operations over rank 0's wall clock from the
		 * start barrier to the end one (with more ranks than cores, ranks that run
		 * one after another must not each count only their own slice). */
		MPI_Barrier(MPI_COMM_WORLD);
		wall = MPI_Wtime() - t0;
		MPI_Bcast(&wall, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
		return (double)c->n * size / wall;
	}
	if (c->scale > 0)
		return (double)c->n * c->scale / t;
	return t * 1e9 / (double)c->n;
}

int main(int argc, char **argv)
{
	const char *out = NULL, *flt = NULL;
	int reps = 5;
	regex_t re;
	shmrt_cluster_opts_t o;
	char name[64];
	MPI_Info info;
	int pid;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--out=", 6) == 0)
			out = argv[i] + 6;
		else if (strncmp(argv[i], "--reps=", 7) == 0)
			reps = atoi(argv[i] + 7);
		else if (strncmp(argv[i], "--filter=", 9) == 0 && argv[i][9])
			flt = argv[i] + 9;
	}
	if (size != 4) {
		if (rank == 0)
			fprintf(stderr, "cluster_bench: run with 4 ranks (mpiexec -n 4)\n");
		MPI_Finalize();
		return 2;
	}
	if (reps < 1)
		reps = 1;
	if (flt && regcomp(&re, flt, REG_EXTENDED | REG_NOSUB) != 0)
		die("bad --filter", -EINVAL);

	pid = (int)getpid();
	MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
	snprintf(name, sizeof name, "shmrt-cluster-bench-%d", pid);
	shmrt_cluster_opts_init(&o);
	o.ranks_per_node = 2;
	o.fresh = true;
	o.region_flags = SHMRT_REGION_AUTO_UNLINK;
	o.window_bytes = (2 * BLOCK_WORDS + 65536) * 8;
	int rc = shmrt_cluster_open(name, MPI_COMM_WORLD, &o, &cl);
	if (rc)
		die("shmrt_cluster_open", rc);
	/* Names homed on node 1 and on node 0. */
	char nm[2][16] = {"", ""};
	for (int i = 0; i < 64 && (!nm[0][0] || !nm[1][0]); i++) {
		char t[16];
		snprintf(t, sizeof t, "v%d", i);
		int h = shmrt_cluster_home(cl, t);
		if (!nm[h][0])
			strcpy(nm[h], t);
	}
	if ((rc = shmrt_cluster_value_open(cl, nm[1], 0, &v_remote)) ||
	    (rc = shmrt_cluster_value_open(cl, nm[0], 0, &v_local)) ||
	    (rc = shmrt_cluster_counter_open(cl, "adds", &counter)) ||
	    (rc = shmrt_cluster_array_open(cl, "big", 2 * BLOCK_WORDS, &arr)) ||
	    (rc = shmrt_cluster_dict_open(cl, "kv", 256, 16, 64, &dict)))
		die("object open", rc);
	/* A queue homed on node 1; keys homed on node 1 and node 0 (in their first bucket
	 * or not: the Dict is nearly empty). */
	for (int i = 0;; i++) {
		char t[16];
		snprintf(t, sizeof t, "q%d", i);
		if (shmrt_cluster_home(cl, t) == 1) {
			if ((rc = shmrt_cluster_queue_open(cl, t, 1024, 64, &queue)))
				die("queue open", rc);
			break;
		}
	}
	for (int i = 0; i < NKEYS; i++) {
		char t[16];
		snprintf(t, sizeof t, "key%d", i);
		if (rank == 0 && (rc = shmrt_cluster_dict_set(&dict, t, strlen(t), dict_val, 16)))
			die("dict set", rc);
		int target = shmrt_cluster_dict_home(&dict, t, strlen(t));
		if (target == 1 && !key_remote[0])
			strcpy(key_remote, t);
		if (target == 0 && !key_local[0])
			strcpy(key_local, t);
	}

	/* The peers' window, created as the cluster's. */
	MPI_Info_create(&info);
	MPI_Info_set(info, "accumulate_ordering", "none");
	MPI_Win_allocate(rank % 2 == 0 ? (BLOCK_WORDS + 8 + 8 * BCL_CAP) * 8 : 0, 8, info,
			 MPI_COMM_WORLD,
			 &raw_base, &raw_win);
	MPI_Info_free(&info);
	if (rank % 2 == 0)
		memset(raw_base, 0, (BLOCK_WORDS + 8 + 8 * BCL_CAP) * 8);
	MPI_Win_lock_all(MPI_MODE_NOCHECK, raw_win);
	MPI_Win_sync(raw_win);
	MPI_Barrier(MPI_COMM_WORLD);
	rbuf = malloc(BLOCK_WORDS * 8);
	if (!rbuf)
		die("malloc", -ENOMEM);
	cpu_word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cpu_word == MAP_FAILED)
		die("mmap", -ENOMEM);

	/* The repetitions, in one random order (seeded on rank 0). */
	int sel[NCASES], nsel = 0, *order, norder, want_redis = 0, redis_ok = 0;
	for (int i = 0; i < NCASES; i++)
		if (cases[i].body == redis_cluster_gets &&
		    !(flt && regexec(&re, cases[i].name, 0, NULL, 0) != 0))
			want_redis = 1;
	/* The Redis Cluster, on rank 0 (which alone times it), filled as the Dict. */
	if (want_redis && rank == 0) {
		rc = redis_cluster_start();
		for (int i = 0; !rc && i < NKEYS; i++) {
			char t[16];
			int kl = snprintf(t, sizeof t, "key%d", i);
			rc = redis_cluster_set(t, (size_t)kl, dict_val, 16);
		}
		if (rc) {
			fprintf(stderr, "cluster_bench: no Redis Cluster (%s): no redis_cluster peer\n",
				strerror(-rc));
			redis_cluster_stop();
		}
		redis_ok = !rc;
	}
	MPI_Bcast(&redis_ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
	for (int i = 0; i < NCASES; i++) {
		if (flt && regexec(&re, cases[i].name, 0, NULL, 0) != 0)
			continue;
		if (cases[i].body == redis_cluster_gets && !redis_ok)
			continue;
		sel[nsel++] = i;
		cases[i].samples = calloc((size_t)reps, sizeof(double));
	}
	norder = nsel * reps;
	order = malloc(sizeof(int) * (size_t)(norder ? norder : 1));
	for (int r = 0; r < reps; r++)
		for (int i = 0; i < nsel; i++)
			order[r * nsel + i] = sel[i];
	unsigned seed = (unsigned)time(NULL);
	MPI_Bcast(&seed, 1, MPI_UNSIGNED, 0, MPI_COMM_WORLD);
	srand(seed);
	for (int i = norder - 1; i > 0; i--) {
		int j = rand() % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	/* Warm-up: every selected case once, small. */
	for (int i = 0; i < nsel; i++) {
		bcase_t w = cases[sel[i]];
		w.n = w.n / 20 + 1;
		(void)run_once(&w);
	}
	int done[NCASES] = {0};
	for (int i = 0; i < norder; i++) {
		bcase_t *c = &cases[order[i]];
		c->samples[done[order[i]]++] = run_once(c);
	}

	if (rank == 0) {
		FILE *f = out ? fopen(out, "w") : NULL;
		if (out && !f)
			die("cannot write --out", -errno);
		if (f)
			fprintf(f, "{\"context\": {\"executable\": \"cluster_bench\", \"ranks\": %d},\n"
				   " \"benchmarks\": [\n", size);
		for (int i = 0; i < nsel; i++) {
			bcase_t *c = &cases[sel[i]];
			qsort(c->samples, (size_t)reps, sizeof(double), cmp_double);
			double med = c->samples[reps / 2];
			printf("%-52s %14.1f %s  (min %.1f, max %.1f; %d reps)\n", c->name, med, c->unit,
			       c->samples[0], c->samples[reps - 1], reps);
			if (f)
				fprintf(f,
					"  {\"name\": \"%s_median\", \"run_name\": \"%s\", "
					"\"aggregate_name\": \"median\", \"value\": %.6g, "
					"\"label\": \"unit=%s,better=%s\"}%s\n",
					c->name, c->name, med, c->unit, c->better,
					i + 1 < nsel ? "," : "");
		}
		if (f) {
			fprintf(f, " ]}\n");
			fclose(f);
		}
	}
	redis_cluster_stop();
	MPI_Win_unlock_all(raw_win);
	MPI_Win_free(&raw_win);
	rc = shmrt_cluster_close(cl);
	if (rc)
		die("shmrt_cluster_close", rc);
	MPI_Finalize();
	return 0;
}
