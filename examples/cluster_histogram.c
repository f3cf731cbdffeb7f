/*
 * A distributed histogram over a cluster of MPI ranks (shmrt/cluster.h): rank 0 cuts
 * 1 .. 20000 into work items and pushes them to a cluster Queue; every rank pops items
 * until it pops a stop item, computes the Collatz step counts of its numbers, adds its
 * share of the histogram to a cluster Array (element fetch_add) and counts the numbers
 * it did in a cluster Counter (node-local adds). Rank 0 prints the histogram.
 *
 * Run: mpiexec -n 4 ./example_cluster_histogram   (SHMRT_CLUSTER_RANKS_PER_NODE=2 to
 * make two nodes of one machine)
 */
#include <stdio.h>
#include <unistd.h>
#include <mpi.h>
#include <shmrt/cluster.h>

#define N 20000
#define ITEM 500
#define BINS 15   /* step counts 0-19, 20-39, ..., 280 and more */

static int collatz_steps(int64_t n)
{
	int s = 0;
	while (n != 1) {
		n = n % 2 ? 3 * n + 1 : n / 2;
		s++;
	}
	return s;
}

int main(int argc, char **argv)
{
	shmrt_cluster_opts_t o;
	shmrt_cluster_t *cl;
	shmrt_cluster_queue_t work;
	shmrt_cluster_array_t hist;
	shmrt_cluster_counter_t done;
	char name[64];
	int rank, size, pid, rc;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	pid = (int)getpid();
	MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
	snprintf(name, sizeof name, "histogram-%d", pid);
	shmrt_cluster_opts_init(&o);
	o.fresh = true;
	o.region_flags = SHMRT_REGION_AUTO_UNLINK;
	if ((rc = shmrt_cluster_open(name, MPI_COMM_WORLD, &o, &cl)) != 0 ||
	    (rc = shmrt_cluster_queue_open(cl, "work", 64, sizeof(int64_t), &work)) != 0 ||
	    (rc = shmrt_cluster_array_open(cl, "hist", BINS, &hist)) != 0 ||
	    (rc = shmrt_cluster_counter_open(cl, "done", &done)) != 0) {
		fprintf(stderr, "rank %d: cluster setup failed: %d\n", rank, rc);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}

	if (rank == 0) {
		for (int64_t first = 1; first <= N; first += ITEM)
			if (shmrt_cluster_queue_push(&work, &first, sizeof first, SHMRT_FOREVER))
				MPI_Abort(MPI_COMM_WORLD, 1);
		for (int r = 0; r < size; r++) {
			int64_t stop = 0;
			if (shmrt_cluster_queue_push(&work, &stop, sizeof stop, SHMRT_FOREVER))
				MPI_Abort(MPI_COMM_WORLD, 1);
		}
	}
	for (;;) {
		int64_t first, mine[BINS] = {0};
		size_t len;
		if (shmrt_cluster_queue_pop(&work, &first, sizeof first, &len, SHMRT_FOREVER))
			MPI_Abort(MPI_COMM_WORLD, 1);
		if (first == 0)
			break;
		for (int64_t n = first; n < first + ITEM && n <= N; n++) {
			int b = collatz_steps(n) / 20;
			mine[b < BINS ? b : BINS - 1]++;
			shmrt_cluster_counter_add(&done, 1);
		}
		for (int b = 0; b < BINS; b++)
			if (mine[b] && shmrt_cluster_array_fetch_add(&hist, b, mine[b], NULL))
				MPI_Abort(MPI_COMM_WORLD, 1);
	}

	int64_t total, bins[BINS];
	if (shmrt_cluster_counter_sum(&done, &total))  /* collective: everyone is done */
		MPI_Abort(MPI_COMM_WORLD, 1);
	if (rank == 0) {
		if (shmrt_cluster_array_read(&hist, 0, BINS, bins))
			MPI_Abort(MPI_COMM_WORLD, 1);
		printf("numbers: %lld\n", (long long)total);
		for (int b = 0; b < BINS - 1; b++)
			printf("steps %3d-%3d: %lld\n", b * 20, b * 20 + 19, (long long)bins[b]);
		printf("steps %3d+   : %lld\n", (BINS - 1) * 20, (long long)bins[BINS - 1]);
	}
	if (shmrt_cluster_close(cl))
		MPI_Abort(MPI_COMM_WORLD, 1);
	MPI_Finalize();
	return 0;
}
