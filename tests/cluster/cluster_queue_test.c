/*
 * Cluster Queue, on 4 ranks in two pretend nodes of two ranks:
 *  - MPMC across nodes: ranks 0 and 2 (one per node) push M messages each (producer,
 *    sequence number, a length that varies, bytes derived from both), ranks 1 and 3
 *    pop M each, through a queue of 8 slots (so that pushes wait on a full queue and
 *    pops on an empty one); every message arrives whole, FIFO per producer at each
 *    consumer, and the multiset of popped messages (gathered on rank 0) is exactly
 *    the pushed one;
 *  - bursts: the same with push_burst (bursts of 1 .. 64 through 100 slots) and
 *    pop_burst (up to 64, with a timeout, until every message is counted);
 *  - edges: pop on an empty queue (timeout 0: -EAGAIN, 1 ms: -ETIMEDOUT), push on a
 *    full one (-EAGAIN, -ETIMEDOUT), then the queue works on (nothing wedged); a zero
 *    length message; -EMSGSIZE both ways; reopen with other sizes is -EINVAL;
 *  - tight: every rank pushes and pops single messages, with timeouts, through 2
 *    slots (the fast paths' stale hints and given-back claims, skipped tickets).
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
	int32_t *got = calloc(4 * M, sizeof(int32_t)), *all = NULL;  /* bursts: up to 2M each */
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

	/* Bursts: ranks 0 and 2 push M messages each in bursts of 1 .. 64, through a
	 * queue of 100 slots (bursts wrap around it and meet a full queue); ranks 1 and 3
	 * pop bursts of up to 64 (with a short timeout, until all 2M are counted in a
	 * cluster Value). Multiset and per-producer FIFO as above. */
	shmrt_cluster_queue_t qb;
	shmrt_cluster_value_t total;
	CHECK_RC(shmrt_cluster_queue_open(cl, "bursts", 100, MSG_MAX, &qb));
	CHECK_RC(shmrt_cluster_value_open(cl, "popped", 0, &total));
	memset(got, 0, sizeof(int32_t) * 2 * M);
	int ngot = 0;
	if (rank % 2 == 0) {
		static struct msg ms[64];
		const void *ptrs[64];
		size_t lens[64];
		unsigned seed = (unsigned)rank * 7919u + 1;
		for (int s = 0; s < M;) {
			seed = seed * 1103515245u + 12345u;
			int b = 1 + (int)((seed >> 16) % 64);
			if (b > M - s)
				b = M - s;
			for (int i = 0; i < b; i++) {
				ms[i].producer = rank;
				ms[i].seq = s + i;
				lens[i] = msg_len(s + i);
				for (size_t x = 8; x < lens[i]; x++)
					ms[i].bytes[x - 8] = byte_of(rank, s + i, x);
				ptrs[i] = &ms[i];
			}
			size_t pushed = 0;
			CHECK_RC(shmrt_cluster_queue_push_burst(&qb, ptrs, lens, (size_t)b, SHMRT_FOREVER,
								&pushed));
			CHECK(pushed == (size_t)b);  /* forever: all of them */
			s += b;
		}
	} else {
		static unsigned char bb[64][MSG_MAX];
		size_t lens[64], popped;
		int last[4] = {-1, -1, -1, -1};
		int64_t t = 0;
		for (;;) {
			/* Rank 3 never waits: it skips every slot whose producer has a ticket but
			 * has not claimed it yet, so that producers give tickets up and push
			 * holes, and the other consumer passes over them. */
			int rc = shmrt_cluster_queue_pop_burst(&qb, bb, MSG_MAX, lens, 64,
							       rank == 3 ? 0 : 10000000, &popped);
			if (rc == -ETIMEDOUT || rc == -EAGAIN) {
				CHECK_RC(shmrt_cluster_value_load(&total, &t));
				if (t == 2 * M)
					break;
				continue;
			}
			CHECK_RC(rc);
			CHECK(popped >= 1 && popped <= 64);
			for (size_t i = 0; i < popped; i++) {
				memcpy(&m, bb[i], lens[i]);
				CHECK(m.producer == 0 || m.producer == 2);
				CHECK(m.seq >= 0 && m.seq < M && lens[i] == msg_len(m.seq));
				for (size_t x = 8; x < lens[i]; x++)
					CHECK(m.bytes[x - 8] == byte_of(m.producer, m.seq, x));
				CHECK(m.seq > last[m.producer]);
				last[m.producer] = m.seq;
				CHECK(ngot < 2 * M);
				got[2 * ngot] = m.producer;
				got[2 * ngot + 1] = m.seq;
				ngot++;
			}
			CHECK_RC(shmrt_cluster_value_fetch_add(&total, (int64_t)popped, NULL));
		}
	}
	/* Each consumer's share, then the multiset on rank 0. */
	int counts[4] = {0}, displs[4] = {0};
	int mine = 2 * ngot;
	MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (rank == 0)
		for (int r = 1; r < size; r++)
			displs[r] = displs[r - 1] + counts[r - 1];
	MPI_Gatherv(got, mine, MPI_INT32_T, all, counts, displs, MPI_INT32_T, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		char *seen = calloc(4 * M, 1);
		int n = (displs[3] + counts[3]) / 2;
		CHECK(seen && n == 2 * M);
		for (int i = 0; i < n; i++) {
			int p = all[2 * i], sq = all[2 * i + 1];
			CHECK(!seen[p * M + sq]);
			seen[p * M + sq] = 1;
		}
		free(seen);
	}
	MPI_Barrier(MPI_COMM_WORLD);

	/* Tight: every rank pushes M2 messages one at a time (100 us timeout, again until
	 * in) and pops one after each try (20 us timeout) through a queue of 2 slots, then
	 * all drain it: the single calls' fast paths with hints that go stale (tickets
	 * other ranks took, claims given back), and pops that time out on a ticket whose
	 * producer has not claimed yet (skips, the producer retries). Multiset and FIFO
	 * per producer at each consumer as above. */
	shmrt_cluster_queue_t qt;
	enum { M2 = 500 };
	CHECK_RC(shmrt_cluster_queue_open(cl, "tight", 2, MSG_MAX, &qt));
	int tl[4] = {-1, -1, -1, -1}, rc;
	ngot = 0;
	for (int s = 0, drain = 0;;) {
		if (!drain) {
			m.producer = rank;
			m.seq = s;
			rc = shmrt_cluster_queue_push(&qt, &m, 8, 100000);
			CHECK(rc == 0 || rc == -ETIMEDOUT);
			s += rc == 0;
			rc = shmrt_cluster_queue_pop(&qt, buf, sizeof buf, &len, 20000);
			CHECK(rc == 0 || rc == -ETIMEDOUT || rc == -EAGAIN);
		} else {
			rc = shmrt_cluster_queue_pop(&qt, buf, sizeof buf, &len, 0);
			CHECK(rc == 0 || rc == -EAGAIN);
			if (rc == -EAGAIN)
				break;  /* no push is left anywhere: empty for good */
		}
		if (rc == 0) {
			CHECK(len == 8 && ngot < 2 * M);
			memcpy(&m, buf, 8);
			CHECK(m.producer >= 0 && m.producer < 4 && m.seq >= 0 && m.seq < M2);
			CHECK(m.seq > tl[m.producer]);  /* FIFO per producer */
			tl[m.producer] = m.seq;
			got[2 * ngot] = m.producer;
			got[2 * ngot + 1] = m.seq;
			ngot++;
		}
		if (!drain && s == M2) {
			MPI_Barrier(MPI_COMM_WORLD);  /* every push is in: drain */
			drain = 1;
		}
	}
	mine = 2 * ngot;
	MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (rank == 0)
		for (int r = 1; r < size; r++)
			displs[r] = displs[r - 1] + counts[r - 1];
	MPI_Gatherv(got, mine, MPI_INT32_T, all, counts, displs, MPI_INT32_T, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		char *seen = calloc(4 * M2, 1);
		int n = (displs[3] + counts[3]) / 2;
		CHECK(seen && n == 4 * M2);
		for (int i = 0; i < n; i++) {
			int p = all[2 * i], sq = all[2 * i + 1];
			CHECK(!seen[p * M2 + sq]);
			seen[p * M2 + sq] = 1;
		}
		free(seen);
	}
	MPI_Barrier(MPI_COMM_WORLD);

	free(got);
	free(all);
	CHECK_RC(shmrt_cluster_close(cl));
	if (rank == 0)
		printf("cluster_queue_test: %d ranks: ok\n", size);
	MPI_Finalize();
	return 0;
}
