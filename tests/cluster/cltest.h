/*
 * What the cluster tests share: a CHECK that aborts the whole job (MPI_Abort, so that
 * no rank waits in a collective for one that failed), and the cluster they run on:
 * pretend nodes of two ranks (unless SHMRT_CLUSTER_RANKS_PER_NODE says otherwise),
 * node regions created fresh under a name unique to the run and unlinked by the last
 * process to leave them.
 */
#ifndef SHMRT_CLTEST_H
#define SHMRT_CLTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <mpi.h>
#include <shmrt/cluster.h>

#define CHECK(c)                                                                             \
	do {                                                                                 \
		if (!(c)) {                                                                  \
			int r_;                                                              \
			MPI_Comm_rank(MPI_COMM_WORLD, &r_);                                  \
			fprintf(stderr, "rank %d: %s:%d: CHECK failed: %s\n", r_, __FILE__,   \
				__LINE__, #c);                                               \
			MPI_Abort(MPI_COMM_WORLD, 1);                                        \
		}                                                                            \
	} while (0)

#define CHECK_RC(e)                                                                          \
	do {                                                                                 \
		int rc_ = (e);                                                               \
		if (rc_ != 0) {                                                              \
			int r_;                                                              \
			MPI_Comm_rank(MPI_COMM_WORLD, &r_);                                  \
			fprintf(stderr, "rank %d: %s:%d: %s = %d (%s)\n", r_, __FILE__,      \
				__LINE__, #e, rc_, strerror(-rc_));                          \
			MPI_Abort(MPI_COMM_WORLD, 1);                                        \
		}                                                                            \
	} while (0)

/* Opens the test's cluster; *name receives its name (unique to this run). */
static inline shmrt_cluster_t *cltest_open(const char *prefix, char *name, size_t cap)
{
	shmrt_cluster_opts_t o;
	shmrt_cluster_t *cl;
	int rank, pid;

	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	pid = (int)getpid();
	MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
	snprintf(name, cap, "%s-%d", prefix, pid);
	shmrt_cluster_opts_init(&o);
	if (getenv("SHMRT_CLUSTER_RANKS_PER_NODE") == NULL)
		o.ranks_per_node = 2;
	o.fresh = true;
	o.region_flags = SHMRT_REGION_AUTO_UNLINK;
	o.region_size = 64u << 20;
	o.window_bytes = 1u << 20;
	CHECK_RC(shmrt_cluster_open(name, MPI_COMM_WORLD, &o, &cl));
	return cl;
}

#endif
