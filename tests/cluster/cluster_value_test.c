/*
 * Cluster Value, on 4 ranks in two pretend nodes of two ranks (and, as
 * cluster_value_test_4nodes and _1node, in four nodes of one rank and in the one real
 * node of this machine):
 *  - fetch_add uniqueness: the values returned by 4N fetch_adds on one Value are
 *    exactly 0 .. 4N-1 (gathered and checked on rank 0), for a Value homed on each
 *    node (so that every rank uses the home node's and the remote node's path);
 *  - CAS increments from every rank sum exactly; a failed CAS reports the current value;
 *  - fetch_adds and CAS increments on one word at once sum exactly (mixed operations;
 *    also run on osc/pt2pt, as cluster_*_test_pt2pt);
 *  - store then load (after a barrier) sees the store on every rank;
 *  - collective opens: a second open returns the same Value (init ignored), a bad name
 *    is -EINVAL and a Value's name opened as a Counter is -EPROTOTYPE, on every rank.
 */
#include "cltest.h"

#define N 2000
#define M 300

static void fetch_add_unique(shmrt_cluster_t *cl, const char *name)
{
	shmrt_cluster_value_t v;
	int rank = shmrt_cluster_rank(cl), size = shmrt_cluster_size(cl);
	int64_t *got = malloc(sizeof(int64_t) * N), *all = NULL, x;

	CHECK(got);
	CHECK_RC(shmrt_cluster_value_open(cl, name, 0, &v));
	for (int i = 0; i < N; i++)
		CHECK_RC(shmrt_cluster_value_fetch_add(&v, 1, &got[i]));
	if (rank == 0)
		CHECK((all = malloc(sizeof(int64_t) * N * (size_t)size)) != NULL);
	MPI_Gather(got, N, MPI_INT64_T, all, N, MPI_INT64_T, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		char *seen = calloc((size_t)N * (size_t)size, 1);
		CHECK(seen);
		for (int i = 0; i < N * size; i++) {
			CHECK(all[i] >= 0 && all[i] < (int64_t)N * size);
			CHECK(!seen[all[i]]);
			seen[all[i]] = 1;
		}
		free(seen);
	}
	/* Not the gather: it does not wait for the other ranks' adds on ranks but the root. */
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(shmrt_cluster_value_load(&v, &x));
	CHECK(x == (int64_t)N * size);  /* every rank's adds are complete (flushed) */
	free(got);
	free(all);
}

/* One increment by compare-and-swap, retried until it lands. */
static void cas_increment(shmrt_cluster_value_t *v)
{
	int64_t e;
	CHECK_RC(shmrt_cluster_value_load(v, &e));
	for (;;) {
		int rc = shmrt_cluster_value_cas(v, &e, e + 1);
		if (rc == 0)
			return;
		CHECK(rc == -EAGAIN);
	}
}

int main(int argc, char **argv)
{
	char name[64];
	shmrt_cluster_t *cl;
	shmrt_cluster_value_t v, v2;
	shmrt_cluster_counter_t c;
	const char *home_name[4] = {NULL, NULL, NULL, NULL};
	static char names[64][16];
	int rank, size, nodes;
	int64_t x, e;

	MPI_Init(&argc, &argv);
	cl = cltest_open("shmrt-cl-value", name, sizeof name);
	rank = shmrt_cluster_rank(cl);
	size = shmrt_cluster_size(cl);
	nodes = shmrt_cluster_nodes(cl);
	/* Ranks per node: 2 (cltest_open's default), or the environment's; 0 is the real
	 * split: one node on this machine. */
	const char *env = getenv("SHMRT_CLUSTER_RANKS_PER_NODE");
	int rpn = env ? atoi(env) : 2;
	if (rpn == 0)
		rpn = size;
	CHECK(size == 4);
	CHECK(nodes == size / rpn);
	CHECK(shmrt_cluster_node_size(cl) == rpn);
	CHECK(shmrt_cluster_node(cl) == rank / rpn);
	CHECK(shmrt_cluster_node_rank(cl) == rank % rpn);
	CHECK(shmrt_cluster_region(cl) != NULL);

	/* A name homed on each node: every rank uses the home node's path and the others'. */
	int found = 0;
	for (int i = 0; i < 64 && found < nodes; i++) {
		snprintf(names[i], sizeof names[i], "ticket%d", i);
		int h = shmrt_cluster_home(cl, names[i]);
		CHECK(h >= 0 && h < nodes);
		if (!home_name[h]) {
			home_name[h] = names[i];
			found++;
		}
	}
	CHECK(found == nodes);
	for (int h = 0; h < nodes; h++)
		fetch_add_unique(cl, home_name[h]);

	/* CAS increments. */
	CHECK_RC(shmrt_cluster_value_open(cl, "cas", 100, &v));
	for (int i = 0; i < M; i++)
		cas_increment(&v);
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(shmrt_cluster_value_load(&v, &x));
	CHECK(x == 100 + (int64_t)M * size);
	e = -5;
	CHECK(shmrt_cluster_value_cas(&v, &e, 7) == -EAGAIN);
	CHECK(e == x);
	MPI_Barrier(MPI_COMM_WORLD);

	/* Mixed operations on one word at once (MPI_SUM, compare-and-swap, MPI_NO_OP
	 * loads): even ranks fetch_add, odd ranks CAS-increment. An implementation that
	 * applied one kind without excluding the other (MPI's default accumulate_ops
	 * lets it assume one operation per word) would lose increments here. */
	shmrt_cluster_value_t vm;
	CHECK_RC(shmrt_cluster_value_open(cl, "mixed", 0, &vm));
	for (int i = 0; i < N; i++) {
		if (rank % 2 == 0)
			CHECK_RC(shmrt_cluster_value_fetch_add(&vm, 1, NULL));
		else
			cas_increment(&vm);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(shmrt_cluster_value_load(&vm, &x));
	CHECK(x == (int64_t)N * size);
	MPI_Barrier(MPI_COMM_WORLD);

	/* Store, then load everywhere. */
	if (rank == 3)
		CHECK_RC(shmrt_cluster_value_store(&v, -42));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(shmrt_cluster_value_load(&v, &x));
	CHECK(x == -42);
	MPI_Barrier(MPI_COMM_WORLD);

	/* Reopen, bad names, wrong kind. */
	CHECK_RC(shmrt_cluster_value_open(cl, "cas", 9999, &v2));
	CHECK(v2.disp == v.disp && v2.target == v.target);
	CHECK_RC(shmrt_cluster_value_load(&v2, &x));
	CHECK(x == -42);
	CHECK(shmrt_cluster_value_open(cl, "bad/name", 0, &v2) == -EINVAL);
	CHECK(shmrt_cluster_value_open(cl, "", 0, &v2) == -EINVAL);
	CHECK(shmrt_cluster_value_open(cl, NULL, 0, &v2) == -EINVAL);
	CHECK(shmrt_cluster_value_open(cl, "a-name-longer-than-forty-eight-characters-0123456789",
				       0, &v2) == -ENAMETOOLONG);
	CHECK(shmrt_cluster_counter_open(cl, "cas", &c) == -EPROTOTYPE);
	/* Ranks that disagree on a name: -EINVAL everywhere, nothing placed. */
	CHECK(shmrt_cluster_value_open(cl, rank ? "x1" : "x0", 0, &v2) == -EINVAL);
	CHECK(shmrt_cluster_value_load(NULL, &x) == -EINVAL);
	CHECK(shmrt_cluster_value_fetch_add(NULL, 1, NULL) == -EINVAL);

	CHECK_RC(shmrt_cluster_close(cl));
	CHECK(shmrt_cluster_close(NULL) == -EINVAL);
	if (rank == 0)
		printf("cluster_value_test: %d ranks, %d nodes: ok\n", size, nodes);
	MPI_Finalize();
	return 0;
}
