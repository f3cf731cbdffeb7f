/*
 * A rank killed, then a restart (driven by cluster_restart_test.sh):
 *  phase "kill": 4 ranks (two pretend nodes) open a cluster whose node regions are
 *    persistent, every rank adds K to a Counter, an exact sum confirms 4K, then rank 3
 *    kills itself with SIGKILL while the others wait in a barrier: Open MPI ends the
 *    whole job (fail-stop), which the script checks (non-zero, within the timeout);
 *  phase "check": a new job of 4 ranks opens the same cluster: each node's leader
 *    re-attaches its node's region (registry slots of the dead processes reclaimed),
 *    the Counter still holds every add of the dead job (4K, the killed rank's
 *    included), adds go on, and the regions are removed at the end.
 * Usage: cluster_restart_test kill|check NAME
 */
#include <signal.h>
#include "cltest.h"

#define K 100000

static shmrt_cluster_t *open_named(const char *name, bool fresh)
{
	shmrt_cluster_opts_t o;
	shmrt_cluster_t *cl;
	shmrt_cluster_opts_init(&o);
	o.ranks_per_node = 2;
	o.fresh = fresh;
	o.region_size = 64u << 20;  /* persistent (the default flags) */
	CHECK_RC(shmrt_cluster_open(name, MPI_COMM_WORLD, &o, &cl));
	return cl;
}

int main(int argc, char **argv)
{
	shmrt_cluster_t *cl;
	shmrt_cluster_counter_t c;
	int rank;
	int64_t x;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	CHECK(argc == 3);
	if (strcmp(argv[1], "kill") == 0) {
		cl = open_named(argv[2], true);
		CHECK_RC(shmrt_cluster_counter_open(cl, "hits", &c));
		for (int i = 0; i < K; i++)
			shmrt_cluster_counter_add(&c, 1);
		CHECK_RC(shmrt_cluster_counter_sum(&c, &x));
		CHECK(x == 4 * (int64_t)K);
		if (rank == 3) {
			fprintf(stderr, "rank 3: killing myself (SIGKILL); the job must end\n");
			raise(SIGKILL);
		}
		MPI_Barrier(MPI_COMM_WORLD);  /* never completes: rank 3 is dead */
		fprintf(stderr, "rank %d: the barrier completed without rank 3\n", rank);
		return 3;
	}
	CHECK(strcmp(argv[1], "check") == 0);
	cl = open_named(argv[2], false);
	CHECK(shmrt_region_created(shmrt_cluster_region(cl)) == false);  /* re-attached */
	CHECK_RC(shmrt_cluster_counter_open(cl, "hits", &c));
	CHECK(shmrt_cluster_counter_read_node(&c) == 2 * (int64_t)K);
	CHECK_RC(shmrt_cluster_counter_sum(&c, &x));
	CHECK(x == 4 * (int64_t)K);
	shmrt_cluster_counter_add(&c, 1);
	CHECK_RC(shmrt_cluster_counter_sum(&c, &x));
	CHECK(x == 4 * (int64_t)K + 4);
	int nodes = shmrt_cluster_nodes(cl);
	CHECK_RC(shmrt_cluster_close(cl));
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) {
		CHECK_RC(shmrt_cluster_unlink(argv[2], nodes));
		printf("cluster_restart_test: the node regions were re-attached with every add\n");
	}
	MPI_Finalize();
	return 0;
}
