/*
 * The cluster Array: int64 elements block-distributed over the nodes, read and
 * written in ranges that are consistent per block, with element atomics.
 *
 * Layout. Node k's leader holds, at the Array's displacement in the window, one
 * sequence word and then the block of B = ceil(len / nodes) elements of node k
 * (elements k*B ... (k+1)*B - 1, fewer or none on the last nodes).
 *
 * The seqlock, on MPI atomics only (the rule of cluster.h: the sequence word and the
 * elements are touched by MPI calls only, on every rank, the owner's included):
 *  writer  CAS seq: s (even) -> s+1, flush          (retried, with backoff, while
 *                                                    odd: another writer is in)
 *          Accumulate(REPLACE) the elements, flush   (complete at the target before
 *          Accumulate(REPLACE) seq = s+2, flush       the release: S1)
 *  reader  Fetch(NO_OP) seq -> s1, flush; if odd, back off and retry
 *          Get_accumulate(NO_OP) the elements, flush
 *          Fetch(NO_OP) seq -> s2, flush; if s2 != s1, retry
 * Each flush completes its operation at the target before the next is issued, which
 * is the order the seqlock needs (the window says accumulate_ordering=none, so no
 * order is assumed between operations in flight). The elements are written with
 * MPI_Accumulate(MPI_REPLACE) and read with MPI_Get_accumulate(MPI_NO_OP), not with
 * Put and Get: MPI makes accumulate-family operations atomic per element with each
 * other, so the element atomics (Fetch_and_op on one element, without the seqlock)
 * never race a range operation on a word; a Put concurrent with them would be a
 * conflicting access, whose result MPI leaves undefined.
 *
 * A writer that dies holding a block's seqlock would leave it odd forever; across
 * nodes the model is fail-stop (the job ends with it), so no repair is attempted.
 */
#include "cluster_int.h"

#include <limits.h>
#include <sched.h>
#include <string.h>
#include <time.h>

void shmrt__cl_backoff(unsigned n)
{
	if (n < 4) {
		sched_yield();
	} else {
		/* 1 us, doubling to 256 us: the machine may have more ranks than cores. */
		unsigned sh = n - 4 < 8 ? n - 4 : 8;
		struct timespec ts = {0, 1000L << sh};
		nanosleep(&ts, NULL);
	}
}

SHMRT_API int shmrt_cluster_array_open(shmrt_cluster_t *cl, const char *name, int64_t len,
				       shmrt_cluster_array_t *out)
{
	struct object *ob;
	shmrt_cluster_array_t a;
	int64_t block;
	int rc;

	if (cl == NULL || out == NULL)
		return -EINVAL;
	/* len is checked on every rank (the place checks that all passed the same). */
	block = len >= 1 ? (len + cl->nodes - 1) / cl->nodes : 0;
	rc = shmrt__cl_agree(cl->comm, (len < 1 || block > INT_MAX / 2) ? -EINVAL : 0);
	if (rc != 0)
		return rc;
	rc = shmrt__cl_place(cl, name, KIND_ARRAY, (uint64_t)len * 0xbf58476d1ce4e5b9ull, -1,
			     block + 1, &ob);
	if (rc < 0)
		return rc;
	if (rc == 0)
		ob->len = len;
	else if (ob->len != len)
		return -EINVAL;  /* the same on every rank: same table */
	a.cl = cl;
	a.len = len;
	a.block = block;
	a.disp = ob->disp;
	/* The window is zeroed at open and its words are never reused: the new Array's
	 * sequence words and elements are already zero. */
	*out = a;
	return 0;
}

static bool bad_array(const shmrt_cluster_array_t *a)
{
	return a == NULL || a->cl == NULL || a->len < 1 || a->block < 1 ||
	       a->disp < 0 || a->disp + a->block + 1 > a->cl->words;
}

static int check_range(const shmrt_cluster_array_t *a, int64_t start, int64_t count,
		       const void *buf)
{
	if (bad_array(a) || count < 0 || (count > 0 && buf == NULL))
		return -EINVAL;
	if (start < 0 || start > a->len || count > a->len - start)
		return -ERANGE;
	return 0;
}

/* One block's part: node k, elements [off, off+n) of its block. */
static int read_block(const shmrt_cluster_array_t *a, int k, int64_t off, int n, int64_t *buf)
{
	MPI_Win win = a->cl->win;
	int t = a->cl->leader[k];
	int64_t s1, s2;

	for (unsigned tries = 0;; tries++) {
		if (MPI_Fetch_and_op(NULL, &s1, MPI_INT64_T, t, a->disp, MPI_NO_OP, win) !=
			    MPI_SUCCESS ||
		    MPI_Win_flush(t, win) != MPI_SUCCESS)
			return -EIO;
		if (s1 & 1) {
			shmrt__cl_backoff(tries);
			continue;
		}
		if (MPI_Get_accumulate(NULL, 0, MPI_INT64_T, buf, n, MPI_INT64_T, t,
				       a->disp + 1 + off, n, MPI_INT64_T, MPI_NO_OP,
				       win) != MPI_SUCCESS ||
		    MPI_Win_flush(t, win) != MPI_SUCCESS)
			return -EIO;
		if (MPI_Fetch_and_op(NULL, &s2, MPI_INT64_T, t, a->disp, MPI_NO_OP, win) !=
			    MPI_SUCCESS ||
		    MPI_Win_flush(t, win) != MPI_SUCCESS)
			return -EIO;
		if (s2 == s1)
			return 0;
		shmrt__cl_backoff(tries);
	}
}

static int write_block(const shmrt_cluster_array_t *a, int k, int64_t off, int n,
		       const int64_t *buf)
{
	MPI_Win win = a->cl->win;
	int t = a->cl->leader[k];
	int64_t s = 0, r, next;

	for (unsigned tries = 0;; tries++) {
		int64_t want = s + 1;
		if (MPI_Compare_and_swap(&want, &s, &r, MPI_INT64_T, t, a->disp, win) !=
			    MPI_SUCCESS ||
		    MPI_Win_flush(t, win) != MPI_SUCCESS)
			return -EIO;
		if (r == s)
			break;
		if (r & 1) {
			s = r + 1;  /* the value its writer will release */
			shmrt__cl_backoff(tries);
		} else {
			s = r;      /* a stale guess: retry at once */
		}
	}
	/* S1: the elements complete at the target before the release below. */
	if (a->cl->split_writes) {
		/* Tests: one element at a time, so that only the seqlock keeps reads whole. */
		for (int i = 0; i < n; i++) {
			if (MPI_Accumulate(buf + i, 1, MPI_INT64_T, t, a->disp + 1 + off + i, 1,
					   MPI_INT64_T, MPI_REPLACE, win) != MPI_SUCCESS ||
			    MPI_Win_flush(t, win) != MPI_SUCCESS)
				return -EIO;
			if (i % 64 == 0)
				sched_yield();
		}
	} else if (MPI_Accumulate(buf, n, MPI_INT64_T, t, a->disp + 1 + off, n, MPI_INT64_T,
				  MPI_REPLACE, win) != MPI_SUCCESS ||
		   MPI_Win_flush(t, win) != MPI_SUCCESS) {
		return -EIO;
	}
	next = s + 2;
	if (MPI_Accumulate(&next, 1, MPI_INT64_T, t, a->disp, 1, MPI_INT64_T, MPI_REPLACE, win) !=
		    MPI_SUCCESS ||
	    MPI_Win_flush(t, win) != MPI_SUCCESS)
		return -EIO;
	return 0;
}

/* Splits [start, start+count) by blocks and applies fn to each part. */
#define FOR_EACH_BLOCK(a, start, count, CALL)                                                 \
	do {                                                                                  \
		int64_t i_ = (start), end_ = (start) + (count);                              \
		while (i_ < end_) {                                                           \
			int k_ = (int)(i_ / (a)->block);                                      \
			int64_t off_ = i_ - (int64_t)k_ * (a)->block;                         \
			int64_t n_ = (a)->block - off_;                                       \
			if (n_ > end_ - i_)                                                   \
				n_ = end_ - i_;                                               \
			int rc_ = CALL(a, k_, off_, (int)n_, buf + (i_ - (start)));          \
			if (rc_ != 0)                                                         \
				return rc_;                                                   \
			i_ += n_;                                                             \
		}                                                                             \
	} while (0)

SHMRT_API int shmrt_cluster_array_read(const shmrt_cluster_array_t *a, int64_t start,
				       int64_t count, int64_t *buf)
{
	int rc = check_range(a, start, count, buf);
	if (rc != 0)
		return rc;
	FOR_EACH_BLOCK(a, start, count, read_block);
	return 0;
}

SHMRT_API int shmrt_cluster_array_write(const shmrt_cluster_array_t *a, int64_t start,
					int64_t count, const int64_t *buf)
{
	int rc = check_range(a, start, count, buf);
	if (rc != 0)
		return rc;
	FOR_EACH_BLOCK(a, start, count, write_block);
	return 0;
}

/* The element's node leader and displacement. */
static int element(const shmrt_cluster_array_t *a, int64_t i, int *t, int64_t *disp)
{
	int k;
	if (bad_array(a))
		return -EINVAL;
	if (i < 0 || i >= a->len)
		return -ERANGE;
	k = (int)(i / a->block);
	*t = a->cl->leader[k];
	*disp = a->disp + 1 + (i - (int64_t)k * a->block);
	return 0;
}

SHMRT_API int shmrt_cluster_array_load(const shmrt_cluster_array_t *a, int64_t i, int64_t *out)
{
	int t, rc;
	int64_t d, r;
	if (out == NULL)
		return -EINVAL;
	if ((rc = element(a, i, &t, &d)) != 0)
		return rc;
	if (MPI_Fetch_and_op(NULL, &r, MPI_INT64_T, t, d, MPI_NO_OP, a->cl->win) != MPI_SUCCESS ||
	    MPI_Win_flush(t, a->cl->win) != MPI_SUCCESS)
		return -EIO;
	*out = r;
	return 0;
}

SHMRT_API int shmrt_cluster_array_store(const shmrt_cluster_array_t *a, int64_t i, int64_t x)
{
	int t, rc;
	int64_t d;
	if ((rc = element(a, i, &t, &d)) != 0)
		return rc;
	if (MPI_Accumulate(&x, 1, MPI_INT64_T, t, d, 1, MPI_INT64_T, MPI_REPLACE, a->cl->win) !=
		    MPI_SUCCESS ||
	    MPI_Win_flush(t, a->cl->win) != MPI_SUCCESS)
		return -EIO;
	return 0;
}

SHMRT_API int shmrt_cluster_array_fetch_add(const shmrt_cluster_array_t *a, int64_t i, int64_t x,
					    int64_t *old)
{
	int t, rc;
	int64_t d, r;
	if ((rc = element(a, i, &t, &d)) != 0)
		return rc;
	if (MPI_Fetch_and_op(&x, &r, MPI_INT64_T, t, d, MPI_SUM, a->cl->win) != MPI_SUCCESS ||
	    MPI_Win_flush(t, a->cl->win) != MPI_SUCCESS)
		return -EIO;
	if (old)
		*old = r;
	return 0;
}
