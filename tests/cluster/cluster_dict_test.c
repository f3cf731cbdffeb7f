/*
 * Cluster Dict, on 4 ranks in two pretend nodes of two ranks:
 *  - every acknowledged set is visible to every rank: each rank sets 200 keys of its
 *    own, then (after a barrier) every rank gets all 800 with their values;
 *  - no torn value: every rank sets 8 hot keys over and over to values whose words all
 *    carry one stamp (writes split element by element in this test: only the bucket's
 *    seqlock keeps them whole), while getting them; every get is uniform;
 *  - del: -ENOENT afterwards, set again revives the key; a full node is -ENOSPC;
 *    sizes: -EMSGSIZE for a long key, a long value, a small buffer.
 */
#include "cltest.h"

#define KEYS 200
#define HOT 2
#define ITERS 2000
#define VWORDS 16

int main(int argc, char **argv)
{
	char name[64], key[32];
	shmrt_cluster_t *cl;
	shmrt_cluster_dict_t d, small;
	int64_t val[VWORDS], got[VWORDS];
	size_t n;
	int rank, size;

	MPI_Init(&argc, &argv);
	cl = cltest_open("shmrt-cl-dict", name, sizeof name);
	rank = shmrt_cluster_rank(cl);
	size = shmrt_cluster_size(cl);
	CHECK_RC(shmrt_cluster_dict_open(cl, "kv", 1024, 24, sizeof val, &d));

	for (int i = 0; i < KEYS; i++) {
		int kl = snprintf(key, sizeof key, "r%d-k%d", rank, i);
		for (int w = 0; w < VWORDS; w++)
			val[w] = rank * 100000 + i * 10 + w;
		CHECK_RC(shmrt_cluster_dict_set(&d, key, (size_t)kl, val, sizeof(int64_t) * (1 + i % VWORDS)));
	}
	MPI_Barrier(MPI_COMM_WORLD);
	for (int r = 0; r < size; r++)
		for (int i = 0; i < KEYS; i++) {
			int kl = snprintf(key, sizeof key, "r%d-k%d", r, i);
			CHECK_RC(shmrt_cluster_dict_get(&d, key, (size_t)kl, got, sizeof got, &n));
			CHECK(n == sizeof(int64_t) * (1 + i % VWORDS));
			for (size_t w = 0; w < n / 8; w++)
				CHECK(got[w] == r * 100000 + i * 10 + (int64_t)w);
		}
	MPI_Barrier(MPI_COMM_WORLD);

	/* Hot keys: uniform values, never torn. */
	for (int it = 0; it < ITERS; it++) {
		int h = (it * 3 + rank) % HOT;
		int kl = snprintf(key, sizeof key, "hot%d", h);
		if ((it + rank) % 2 == 0) {
			for (int w = 0; w < VWORDS; w++)
				val[w] = ((int64_t)(rank + 1) << 32) | it;
			CHECK_RC(shmrt_cluster_dict_set(&d, key, (size_t)kl, val, sizeof val));
		}
		int rc = shmrt_cluster_dict_get(&d, key, (size_t)kl, got, sizeof got, &n);
		CHECK(rc == 0 || rc == -ENOENT);
		if (rc == 0) {
			CHECK(n == sizeof got);
			for (int w = 1; w < VWORDS; w++)
				CHECK(got[w] == got[0]);
		}
	}
	MPI_Barrier(MPI_COMM_WORLD);

	/* del, revive, sizes. */
	if (rank == 1) {
		CHECK_RC(shmrt_cluster_dict_del(&d, "r0-k5", 5));
		CHECK(shmrt_cluster_dict_del(&d, "r0-k5", 5) == -ENOENT);
		CHECK(shmrt_cluster_dict_del(&d, "never", 5) == -ENOENT);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK(shmrt_cluster_dict_get(&d, "r0-k5", 5, got, sizeof got, &n) == -ENOENT);
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 2)
		CHECK_RC(shmrt_cluster_dict_set(&d, "r0-k5", 5, "back", 4));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(shmrt_cluster_dict_get(&d, "r0-k5", 5, got, sizeof got, &n));
	CHECK(n == 4 && memcmp(got, "back", 4) == 0);
	CHECK(shmrt_cluster_dict_get(&d, "r0-k6", 5, got, 2, &n) == -EMSGSIZE);
	CHECK(n == 7 * 8);
	CHECK(shmrt_cluster_dict_set(&d, "a-key-longer-than-24-bytes", 26, "x", 1) == -EMSGSIZE);
	CHECK(shmrt_cluster_dict_set(&d, "k", 1, val, sizeof val + 1) == -EMSGSIZE);
	CHECK(shmrt_cluster_dict_get(&d, "", 0, got, sizeof got, &n) == -EINVAL);
	MPI_Barrier(MPI_COMM_WORLD);

	/* A Dict of 4 buckets per node: at most 8 distinct keys over two nodes. */
	CHECK_RC(shmrt_cluster_dict_open(cl, "small", 4, 8, 8, &small));
	if (rank == 0) {
		int ok = 0, full = 0;
		for (int i = 0; i < 32; i++) {
			int kl = snprintf(key, sizeof key, "s%d", i);
			int rc = shmrt_cluster_dict_set(&small, key, (size_t)kl, "v", 1);
			CHECK(rc == 0 || rc == -ENOSPC);
			ok += rc == 0;
			full += rc == -ENOSPC;
		}
		CHECK(ok == 8 && full == 24);
	}
	CHECK(shmrt_cluster_dict_open(cl, "small", 8, 8, 8, &small) == -EINVAL);

	CHECK_RC(shmrt_cluster_close(cl));
	if (rank == 0)
		printf("cluster_dict_test: %d ranks: ok\n", size);
	MPI_Finalize();
	return 0;
}
