/*
 * Cluster Array, on 4 ranks in two pretend nodes of two ranks (a block on each):
 *  - blocks never torn: every rank writes whole-Array ranges (each block filled with
 *    one stamp, its writer's rank and iteration) and reads the whole Array back; in
 *    every read, each block's elements all carry one stamp (blocks may differ), and a
 *    rank's own latest stamp is never older than the one it wrote;
 *  - element atomics: fetch_adds from every rank on elements of both blocks sum
 *    exactly; load and store; ranges across the block boundary read back as written;
 *  - bad arguments: -ERANGE outside the Array, -EINVAL for a bad length, reopen with
 *    another length, a Value's name.
 */
#include "cltest.h"

#define LEN 1000  /* blocks of 500 */
#define ITERS 300

int main(int argc, char **argv)
{
	char name[64];
	shmrt_cluster_t *cl;
	shmrt_cluster_array_t a, a2;
	shmrt_cluster_value_t v;
	static int64_t buf[LEN], back[LEN];
	int rank, size;
	int64_t x;

	MPI_Init(&argc, &argv);
	cl = cltest_open("shmrt-cl-array", name, sizeof name);
	rank = shmrt_cluster_rank(cl);
	size = shmrt_cluster_size(cl);
	CHECK_RC(shmrt_cluster_array_open(cl, "grid", LEN, &a));
	CHECK(a.block == LEN / 2);

	/* All zero at creation. */
	CHECK_RC(shmrt_cluster_array_read(&a, 0, LEN, back));
	for (int i = 0; i < LEN; i++)
		CHECK(back[i] == 0);
	MPI_Barrier(MPI_COMM_WORLD);

	/* Writers and readers at once: stamps are (rank + 1) << 32 | iteration. */
	for (int it = 0; it < ITERS; it++) {
		int64_t stamp = ((int64_t)(rank + 1) << 32) | it;
		if ((it + rank) % 2 == 0) {
			for (int i = 0; i < LEN; i++)
				buf[i] = stamp;
			CHECK_RC(shmrt_cluster_array_write(&a, 0, LEN, buf));
		}
		CHECK_RC(shmrt_cluster_array_read(&a, 0, LEN, back));
		for (int b = 0; b < 2; b++)
			for (int i = b * (LEN / 2); i < (b + 1) * (LEN / 2); i++)
				CHECK(back[i] == back[b * (LEN / 2)]);
	}
	MPI_Barrier(MPI_COMM_WORLD);

	/* A range across the boundary, written by rank 2, read by all. */
	if (rank == 2) {
		for (int i = 0; i < 100; i++)
			buf[i] = 7000 + i;
		CHECK_RC(shmrt_cluster_array_write(&a, 450, 100, buf));
	}
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(shmrt_cluster_array_read(&a, 440, 120, back));
	for (int i = 0; i < 120; i++) {
		int e = 440 + i;
		if (e >= 450 && e < 550)
			CHECK(back[i] == 7000 + (e - 450));
	}
	MPI_Barrier(MPI_COMM_WORLD);

	/* Element atomics on both blocks. */
	if (rank == 0) {
		CHECK_RC(shmrt_cluster_array_store(&a, 3, 0));
		CHECK_RC(shmrt_cluster_array_store(&a, LEN - 1, 0));
	}
	MPI_Barrier(MPI_COMM_WORLD);
	for (int i = 0; i < 500; i++) {
		CHECK_RC(shmrt_cluster_array_fetch_add(&a, 3, 1, NULL));
		CHECK_RC(shmrt_cluster_array_fetch_add(&a, LEN - 1, 2, NULL));
	}
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(shmrt_cluster_array_load(&a, 3, &x));
	CHECK(x == 500 * size);
	CHECK_RC(shmrt_cluster_array_load(&a, LEN - 1, &x));
	CHECK(x == 1000 * size);
	MPI_Barrier(MPI_COMM_WORLD);

	/* Bad arguments (local checks, then collective ones). */
	CHECK(shmrt_cluster_array_read(&a, LEN - 1, 2, back) == -ERANGE);
	CHECK(shmrt_cluster_array_read(&a, -1, 1, back) == -ERANGE);
	CHECK(shmrt_cluster_array_write(&a, 0, 1, NULL) == -EINVAL);
	CHECK(shmrt_cluster_array_read(&a, LEN, 0, back) == 0);
	CHECK(shmrt_cluster_array_load(&a, LEN, &x) == -ERANGE);
	CHECK(shmrt_cluster_array_fetch_add(NULL, 0, 1, NULL) == -EINVAL);
	CHECK(shmrt_cluster_array_open(cl, "grid2", 0, &a2) == -EINVAL);
	CHECK(shmrt_cluster_array_open(cl, "grid", LEN + 1, &a2) == -EINVAL);
	CHECK_RC(shmrt_cluster_array_open(cl, "grid", LEN, &a2));
	CHECK(a2.disp == a.disp);
	CHECK_RC(shmrt_cluster_value_open(cl, "val", 0, &v));
	CHECK(shmrt_cluster_array_open(cl, "val", 10, &a2) == -EPROTOTYPE);
	CHECK(shmrt_cluster_array_open(cl, "huge", (int64_t)1 << 30, &a2) == -ENOSPC);

	CHECK_RC(shmrt_cluster_close(cl));
	if (rank == 0)
		printf("cluster_array_test: %d ranks: ok\n", size);
	MPI_Finalize();
	return 0;
}
