/*
 * Cluster Counter, on 4 ranks in two pretend nodes of two ranks:
 *  - sums exact: every rank adds, and so does a process each rank forks (a node-local
 *    process that is no MPI rank, on the node's region); shmrt_cluster_counter_sum
 *    equals the total on every rank, read_node the node's share;
 *  - a forked process killed with SIGKILL while adding loses none of its acknowledged
 *    adds (it reports each in a shmrt Value before the next), and the node's ranks
 *    go on: the sum is the acknowledged total;
 *  - publish + read: after every rank published, the one-sided read is exact;
 *  - the node region outlives a forked process and is the same for the node's ranks.
 */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include "cltest.h"

#define K 20000

/* Waits for pid at most ms milliseconds, then kills it; its exit status, or -1. */
static int wait_bounded(pid_t pid, int ms)
{
	int st;
	for (int i = 0; i < ms; i++) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			return st;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

int main(int argc, char **argv)
{
	char name[64];
	shmrt_cluster_t *cl;
	shmrt_cluster_counter_t c;
	shmrt_value_t acked;
	int rank, size;
	int64_t x, expect = 0, node_expect = 0;
	pid_t pid;

	MPI_Init(&argc, &argv);
	cl = cltest_open("shmrt-cl-counter", name, sizeof name);
	rank = shmrt_cluster_rank(cl);
	size = shmrt_cluster_size(cl);
	CHECK_RC(shmrt_cluster_counter_open(cl, "hits", &c));

	/* Plain adds: rank r adds r+1, K times; its forked child adds 1, K times. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < K; i++)
			shmrt_cluster_counter_add(&c, 1);
		_exit(0);
	}
	for (int i = 0; i < K; i++)
		shmrt_cluster_counter_add(&c, rank + 1);
	CHECK(wait_bounded(pid, 20000) == 0);
	for (int r = 0; r < size; r++) {
		expect += (int64_t)K * (r + 1) + K;
		if (r / 2 == rank / 2)
			node_expect += (int64_t)K * (r + 1) + K;
	}
	CHECK_RC(shmrt_cluster_counter_sum(&c, &x));
	CHECK(x == expect);
	CHECK(shmrt_cluster_counter_read_node(&c) == node_expect);

	/* One-sided: before anyone published, read sees only this node. */
	CHECK_RC(shmrt_cluster_counter_read(&c, &x));
	CHECK(x == node_expect);
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(shmrt_cluster_counter_publish(&c));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(shmrt_cluster_counter_read(&c, &x));
	CHECK(x == expect);
	MPI_Barrier(MPI_COMM_WORLD);

	/* A node-local process killed while adding: on node 0 only, its acknowledged adds
	 * are counted in a shmrt Value of the node region (a CPU word: never an MPI one). */
	CHECK_RC(shmrt_value_open(shmrt_cluster_region(cl), "acked", SHMRT_O_CREATE,
				  SHMRT_VT_INT64, NULL, &acked));
	MPI_Barrier(MPI_COMM_WORLD);
	int64_t killed_acked = 0;
	if (rank == 0) {
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			shmrt_scalar_t one = {.i64 = 1};
			for (;;) {
				shmrt_cluster_counter_add(&c, 1);
				shmrt_value_fetch(&acked, SHMRT_OP_ADD, one, NULL);
			}
		}
		/* Let it run a little, while rank 1 of the node adds too. */
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		CHECK(wait_bounded(pid, 10000) != -1);
		shmrt_scalar_t a;
		CHECK_RC(shmrt_value_load(&acked, &a));
		killed_acked = a.i64;
		CHECK(killed_acked > 0);
	} else if (rank == 1) {
		for (int i = 0; i < K; i++)
			shmrt_cluster_counter_add(&c, 1);
	}
	int64_t extra = 0;
	MPI_Allreduce(&killed_acked, &extra, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
	expect += K;
	CHECK_RC(shmrt_cluster_counter_sum(&c, &x));
	/* Each acknowledged add counted; at most one add done but not yet acknowledged. */
	CHECK(x == expect + extra || x == expect + extra + 1);

	CHECK_RC(shmrt_cluster_close(cl));
	if (rank == 0)
		printf("cluster_counter_test: %d ranks: ok (killed child acked %lld adds)\n", size,
		       (long long)extra);
	MPI_Finalize();
	return 0;
}
