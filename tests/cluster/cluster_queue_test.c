/*
 * Cluster Queue, on 4 ranks in two pretend nodes of two ranks:
 *  - MPMC across nodes: ranks 0 and 2 (one per node) push M messages each (producer,
 *    sequence number, a length that varies, bytes derived from both), ranks 1 and 3
 *    pop M each, through a queue of 8 slots (so that pushes wait on a full queue and
 *    pops on an empty one); every message arrives whole, FIFO per producer at each
 *    consumer, and the multiset of popped messages (gathered on rank 0) is exactly
 *    the pushed one;
 *  - edges: pop on an empty queue (timeout 0: -EAGAIN, 1 ms: -ETIMEDOUT), push on a
 *    full one (-EAGAIN, -ETIMEDOUT), then the queue works on (nothing wedged); a zero
 *    length message; -EMSGSIZE both ways; reopen with other sizes is -EINVAL.
 */
#include "cltest.h"

#define M 1500
#define MSG_MAX 64

struct msg {
	int32_t producer;
	int32_t seq;
	unsigned char bytes[MSG_MAX - 8];
};

static size_t msg_len(int seq) { return 8 + (size_t)(seq % (MSG_MAX - 7)); }

static unsigned char byte_of(int producer, int seq, size_t i)
{
	return (unsigned char)(producer * 31 + seq * 7 + (int)i);
}

int main(int argc, char **argv)
{
	char name[64];
	shmrt_cluster_t *cl;
	shmrt_cluster_queue_t q, q2;
	struct msg m;
	unsigned char buf[MSG_MAX];
	size_t len;
	int rank, size;

	MPI_Init(&argc, &argv);
	cl = cltest_open("shmrt-cl-queue", name, sizeof name);
	rank = shmrt_cluster_rank(cl);
	size = shmrt_cluster_size(cl);
	CHECK_RC(shmrt_cluster_queue_open(cl, "jobs", 8, MSG_MAX, &q));

	if (rank % 2 == 0) {
		for (int s = 0; s < M; s++) {
			m.producer = rank;
			m.seq = s;
			size_t n = msg_len(s);
			for (size_t i = 8; i < n; i++)
				m.bytes[i - 8] = byte_of(rank, s, i);
			CHECK_RC(shmrt_cluster_queue_push(&q, &m, n, SHMRT_FOREVER));
		}
	}
	int32_t *got = calloc(2 * M, sizeof(int32_t)), *all = NULL;
	CHECK(got);
	if (rank % 2 == 1) {
		int last[4] = {-1, -1, -1, -1};
		for (int k = 0; k < M; k++) {
			CHECK_RC(shmrt_cluster_queue_pop(&q, buf, sizeof buf, &len, SHMRT_FOREVER));
			CHECK(len >= 8);
			memcpy(&m, buf, len);
			CHECK(m.producer == 0 || m.producer == 2);
			CHECK(m.seq >= 0 && m.seq < M);
			CHECK(len == msg_len(m.seq));
			for (size_t i = 8; i < len; i++)
				CHECK(m.bytes[i - 8] == byte_of(m.producer, m.seq, i));
			CHECK(m.seq > last[m.producer]);  /* FIFO per producer */
			last[m.producer] = m.seq;
			got[2 * k] = m.producer;
			got[2 * k + 1] = m.seq;
		}
	}
	if (rank == 0)
		CHECK((all = malloc(sizeof(int32_t) * 2 * M * (size_t)size)) != NULL);
	MPI_Gather(got, 2 * M, MPI_INT32_T, all, 2 * M, MPI_INT32_T, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		char *seen = calloc(4 * M, 1);
		CHECK(seen);
		for (int r = 1; r < size; r += 2)
			for (int k = 0; k < M; k++) {
				int p = all[(size_t)r * 2 * M + 2 * k], s = all[(size_t)r * 2 * M + 2 * k + 1];
				CHECK(!seen[p * M + s]);
				seen[p * M + s] = 1;
			}
		for (int p = 0; p < 4; p += 2)
			for (int s = 0; s < M; s++)
				CHECK(seen[p * M + s]);
		free(seen);
	}
	MPI_Barrier(MPI_COMM_WORLD);

	/* Edges, on rank 2 only (a rank of the node that is not the queue's home, or is). */
	if (rank == 2) {
		CHECK(shmrt_cluster_queue_pop(&q, buf, sizeof buf, &len, 0) == -EAGAIN);
		CHECK(shmrt_cluster_queue_pop(&q, buf, sizeof buf, &len, 1000000) == -ETIMEDOUT);
		for (int i = 0; i < 8; i++)
			CHECK_RC(shmrt_cluster_queue_push(&q, &i, sizeof i, 0));
		CHECK(shmrt_cluster_queue_push(&q, buf, 1, 0) == -EAGAIN);
		CHECK(shmrt_cluster_queue_push(&q, buf, 1, 1000000) == -ETIMEDOUT);
		CHECK(shmrt_cluster_queue_push(&q, buf, MSG_MAX + 1, 0) == -EMSGSIZE);
		CHECK(shmrt_cluster_queue_pop(&q, buf, MSG_MAX - 1, &len, 0) == -EMSGSIZE);
		for (int i = 0; i < 8; i++) {
			int x;
			CHECK_RC(shmrt_cluster_queue_pop(&q, buf, sizeof buf, &len, 0));
			CHECK(len == sizeof x);
			memcpy(&x, buf, sizeof x);
			CHECK(x == i);
		}
		CHECK_RC(shmrt_cluster_queue_push(&q, NULL, 0, 0));
		CHECK_RC(shmrt_cluster_queue_pop(&q, buf, sizeof buf, &len, 0));
		CHECK(len == 0);
		CHECK(shmrt_cluster_queue_pop(&q, buf, sizeof buf, &len, 0) == -EAGAIN);
		CHECK(shmrt_cluster_queue_push(NULL, buf, 1, 0) == -EINVAL);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK(shmrt_cluster_queue_open(cl, "jobs", 16, MSG_MAX, &q2) == -EINVAL);
	CHECK(shmrt_cluster_queue_open(cl, "jobs2", 0, MSG_MAX, &q2) == -EINVAL);
	CHECK_RC(shmrt_cluster_queue_open(cl, "jobs", 8, MSG_MAX, &q2));
	CHECK(q2.disp == q.disp);

	free(got);
	free(all);
	CHECK_RC(shmrt_cluster_close(cl));
	if (rank == 0)
		printf("cluster_queue_test: %d ranks: ok\n", size);
	MPI_Finalize();
	return 0;
}
