/*
 * The cluster Dict: byte keys to byte values, each key homed on one node by its hash,
 * in a fixed table of buckets per node in that node leader's window; gets are
 * one-sided (no rank of the home node takes part).
 *
 * Layout (words, at the Dict's displacement, the same on every node): `buckets`
 * buckets of 2 + ceil(key_max / 8) + ceil(val_max / 8) words:
 *     seq    the bucket's seqlock (even: stable, odd: a writer is in), MPI atomics only
 *     meta   0 for a bucket never used; else key length | value length << 16 |
 *            DELETED (bit 62) | USED (bit 63)
 *     key    then value, in words
 * A key hashes (FNV-1a) to a node and a first bucket; lookups probe linearly from
 * there up to `buckets` buckets and stop at a never-used one. A key, once in a bucket,
 * stays in it: deleting it sets DELETED (a tombstone that keeps the key), and setting
 * it again revives the same bucket. So buckets are consumed by distinct keys only, and
 * a probe never has to re-find a key that moved.
 *
 * Reads are seqlock reads of one bucket (the Array's protocol: seq, then the bucket's
 * words by MPI_Get_accumulate(MPI_NO_OP), then seq again, each flushed: 3 round trips
 * per bucket probed). Writes take the bucket's seqlock by CAS (even -> odd), read the
 * bucket again under it (a bucket seen empty may have been taken meanwhile: then the
 * probe goes on), write meta, key and value by MPI_Accumulate(MPI_REPLACE), and
 * release. The words are only ever touched by MPI calls (the rule of cluster.h).
 *
 * Why not each node's share in shmrt's RCU Dict: that Dict lives in the node's region
 * and is driven by CPU atomics; a one-sided get from another node would have to touch
 * the same words through MPI, which the rule forbids, or ask an agent on the home node
 * (two-sided, not one-sided). This table is the one-sided design; the RCU Dict stays
 * the node-local one.
 */
#include "cluster_int.h"

#include <sched.h>
#include <string.h>

#define META_USED (1ull << 63)
#define META_DELETED (1ull << 62)

static uint64_t key_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

static int64_t bucket_words(const shmrt_cluster_dict_t *d)
{
	return 2 + (int64_t)((d->key_max + 7) / 8) + (int64_t)((d->val_max + 7) / 8);
}

SHMRT_API int shmrt_cluster_dict_open(shmrt_cluster_t *cl, const char *name, size_t buckets,
				      size_t key_max, size_t val_max, shmrt_cluster_dict_t *out)
{
	struct object *ob;
	shmrt_cluster_dict_t d;
	int rc;

	if (cl == NULL || out == NULL)
		return -EINVAL;
	rc = shmrt__cl_agree(cl->comm, (buckets < 1 || buckets > (1u << 24) || key_max < 1 ||
					key_max > 4096 || val_max > 65535) ? -EINVAL : 0);
	if (rc != 0)
		return rc;
	d.cl = cl;
	d.buckets = (int64_t)buckets;
	d.key_max = key_max;
	d.val_max = val_max;
	uint64_t shape = (uint64_t)buckets << 32 ^ (uint64_t)key_max << 16 ^ (uint64_t)val_max;
	rc = shmrt__cl_place(cl, name, KIND_DICT, shape ^ 0x44494354ull, -1,
			     d.buckets * bucket_words(&d), &ob);
	if (rc < 0)
		return rc;
	if (rc == 0)
		ob->len = (int64_t)shape;
	else if (ob->len != (int64_t)shape)
		return -EINVAL;
	d.disp = ob->disp;
	*out = d;  /* zero words: every bucket never used, every seq even */
	return 0;
}

static bool bad_dict(const shmrt_cluster_dict_t *d)
{
	return d == NULL || d->cl == NULL || d->buckets < 1 || d->key_max < 1 ||
	       d->disp < 0 || d->disp + d->buckets * bucket_words(d) > d->cl->words;
}

/* Where key lives: its node's leader and its first bucket. */
static void home_of(const shmrt_cluster_dict_t *d, const void *key, size_t klen, int *target,
		    int64_t *first)
{
	uint64_t h = key_hash(key, klen);
	int node = (int)(h % (uint64_t)d->cl->nodes);
	*target = d->cl->leader[node];
	*first = (int64_t)((h / (uint64_t)d->cl->nodes) % (uint64_t)d->buckets);
}

/* A consistent copy of bucket b (all its words, after seq) into w; 3 round trips or
 * more (retried while written). */
static int read_bucket(const shmrt_cluster_dict_t *d, int t, int64_t b, uint64_t *w,
		       int64_t *seq)
{
	MPI_Win win = d->cl->win;
	int64_t bw = bucket_words(d), at = d->disp + b * bw, s1, s2;
	for (unsigned tries = 0;; tries++) {
		if (MPI_Fetch_and_op(NULL, &s1, MPI_INT64_T, t, at, MPI_NO_OP, win) != MPI_SUCCESS ||
		    MPI_Win_flush(t, win) != MPI_SUCCESS)
			return -EIO;
		if (s1 & 1) {
			shmrt__cl_backoff(tries);
			continue;
		}
		if (MPI_Get_accumulate(NULL, 0, MPI_INT64_T, w, (int)(bw - 1), MPI_INT64_T, t,
				       at + 1, (int)(bw - 1), MPI_INT64_T, MPI_NO_OP,
				       win) != MPI_SUCCESS ||
		    MPI_Win_flush(t, win) != MPI_SUCCESS)
			return -EIO;
		if (MPI_Fetch_and_op(NULL, &s2, MPI_INT64_T, t, at, MPI_NO_OP, win) != MPI_SUCCESS ||
		    MPI_Win_flush(t, win) != MPI_SUCCESS)
			return -EIO;
		if (s1 == s2) {
			*seq = s1;
			return 0;
		}
		shmrt__cl_backoff(tries);
	}
}

/* Takes bucket b's seqlock (first guess: its sequence as last read): its even value
 * before (release with +2). */
static int lock_bucket(const shmrt_cluster_dict_t *d, int t, int64_t b, int64_t guess,
		       int64_t *held)
{
	MPI_Win win = d->cl->win;
	int64_t at = d->disp + b * bucket_words(d), s = guess, r;
	for (unsigned tries = 0;; tries++) {
		int64_t want = s + 1;
		if (MPI_Compare_and_swap(&want, &s, &r, MPI_INT64_T, t, at, win) != MPI_SUCCESS ||
		    MPI_Win_flush(t, win) != MPI_SUCCESS)
			return -EIO;
		if (r == s) {
			*held = s;
			return 0;
		}
		if (r & 1) {
			s = r + 1;
			shmrt__cl_backoff(tries);
		} else {
			s = r;
		}
	}
}

static int unlock_bucket(const shmrt_cluster_dict_t *d, int t, int64_t b, int64_t held)
{
	int64_t next = held + 2, at = d->disp + b * bucket_words(d);
	if (MPI_Accumulate(&next, 1, MPI_INT64_T, t, at, 1, MPI_INT64_T, MPI_REPLACE, d->cl->win) !=
		    MPI_SUCCESS ||
	    MPI_Win_flush(t, d->cl->win) != MPI_SUCCESS)
		return -EIO;
	return 0;
}

static bool key_is(const shmrt_cluster_dict_t *d, const uint64_t *w, const void *key, size_t klen)
{
	(void)d;
	return (w[0] & META_USED) && (size_t)(w[0] & 0xffff) == klen &&
	       memcmp(&w[1], key, klen) == 0;
}

/* Writes words [1, n) of bucket b (meta, key, value) under its lock. */
static int write_bucket(const shmrt_cluster_dict_t *d, int t, int64_t b, const uint64_t *w,
			int64_t n)
{
	int64_t at = d->disp + b * bucket_words(d) + 1;
	if (d->cl->split_writes) {
		for (int64_t i = 0; i < n; i++)
			if (MPI_Accumulate(&w[i], 1, MPI_INT64_T, t, at + i, 1, MPI_INT64_T,
					   MPI_REPLACE, d->cl->win) != MPI_SUCCESS ||
			    MPI_Win_flush(t, d->cl->win) != MPI_SUCCESS)
				return -EIO;
			else
				sched_yield();
		return 0;
	}
	if (MPI_Accumulate(w, (int)n, MPI_INT64_T, t, at, (int)n, MPI_INT64_T, MPI_REPLACE,
			   d->cl->win) != MPI_SUCCESS ||
	    MPI_Win_flush(t, d->cl->win) != MPI_SUCCESS)
		return -EIO;
	return 0;
}

static int check_key(const shmrt_cluster_dict_t *d, const void *key, size_t klen)
{
	if (bad_dict(d) || key == NULL || klen == 0)
		return -EINVAL;
	return klen > d->key_max ? -EMSGSIZE : 0;
}

SHMRT_API int shmrt_cluster_dict_get(const shmrt_cluster_dict_t *d, const void *key, size_t klen,
				     void *val, size_t cap, size_t *vlen)
{
	uint64_t w[2 + 512 + 8192];  /* meta, key (<= 4096 B), value (<= 65535 B) */
	int t, rc;
	int64_t first, seq;

	if ((rc = check_key(d, key, klen)) != 0)
		return rc;
	if (vlen == NULL || (val == NULL && cap > 0))
		return -EINVAL;
	home_of(d, key, klen, &t, &first);
	for (int64_t i = 0; i < d->buckets; i++) {
		int64_t b = (first + i) % d->buckets;
		if ((rc = read_bucket(d, t, b, w, &seq)) != 0)
			return rc;
		if (w[0] == 0)
			return -ENOENT;  /* never used: the key is nowhere further */
		if (!key_is(d, w, key, klen))
			continue;
		if (w[0] & META_DELETED)
			return -ENOENT;
		size_t n = (size_t)((w[0] >> 16) & 0xffff);
		*vlen = n;
		if (n > cap)
			return -EMSGSIZE;
		memcpy(val, (const char *)&w[1 + (d->key_max + 7) / 8], n);
		return 0;
	}
	return -ENOENT;
}

/* Finds key's bucket (or, with create, the first never-used one) and locks it:
 * returns 0 with *b, *held and the bucket's words in w; -ENOENT; -ENOSPC. */
static int find_locked(const shmrt_cluster_dict_t *d, int t, int64_t first, const void *key,
		       size_t klen, bool create, uint64_t *w, int64_t *b_out, int64_t *held)
{
	int64_t seq;
	int rc;
	for (int64_t i = 0; i < d->buckets; i++) {
		int64_t b = (first + i) % d->buckets;
		if ((rc = read_bucket(d, t, b, w, &seq)) != 0)
			return rc;
		if (w[0] != 0 && !key_is(d, w, key, klen))
			continue;
		if (w[0] == 0 && !create)
			return -ENOENT;
		if ((rc = lock_bucket(d, t, b, seq, held)) != 0)
			return rc;
		/* Again under the lock: a bucket seen never used may have been taken. */
		int64_t bw = bucket_words(d), at = d->disp + b * bw;
		if (MPI_Get_accumulate(NULL, 0, MPI_INT64_T, w, (int)(bw - 1), MPI_INT64_T, t,
				       at + 1, (int)(bw - 1), MPI_INT64_T, MPI_NO_OP,
				       d->cl->win) != MPI_SUCCESS ||
		    MPI_Win_flush(t, d->cl->win) != MPI_SUCCESS)
			return -EIO;
		if (w[0] == 0 || key_is(d, w, key, klen)) {
			*b_out = b;
			return 0;
		}
		if ((rc = unlock_bucket(d, t, b, *held)) != 0)
			return rc;  /* another key took it: probe on */
	}
	return create ? -ENOSPC : -ENOENT;
}

SHMRT_API int shmrt_cluster_dict_set(const shmrt_cluster_dict_t *d, const void *key, size_t klen,
				     const void *val, size_t vlen)
{
	uint64_t w[2 + 512 + 8192];
	int t, rc;
	int64_t first, b, held, kw;

	if ((rc = check_key(d, key, klen)) != 0)
		return rc;
	if (val == NULL && vlen > 0)
		return -EINVAL;
	if (vlen > d->val_max)
		return -EMSGSIZE;
	home_of(d, key, klen, &t, &first);
	if ((rc = find_locked(d, t, first, key, klen, true, w, &b, &held)) != 0)
		return rc;
	kw = (int64_t)((d->key_max + 7) / 8);
	memset(w, 0, sizeof(uint64_t) * (size_t)(bucket_words(d) - 1));
	w[0] = META_USED | (uint64_t)klen | (uint64_t)vlen << 16;
	memcpy(&w[1], key, klen);
	if (vlen)
		memcpy(&w[1 + kw], val, vlen);
	rc = write_bucket(d, t, b, w, 1 + kw + (int64_t)((vlen + 7) / 8));
	int rc2 = unlock_bucket(d, t, b, held);
	return rc ? rc : rc2;
}

SHMRT_API int shmrt_cluster_dict_del(const shmrt_cluster_dict_t *d, const void *key, size_t klen)
{
	uint64_t w[2 + 512 + 8192];
	int t, rc;
	int64_t first, b, held;

	if ((rc = check_key(d, key, klen)) != 0)
		return rc;
	home_of(d, key, klen, &t, &first);
	if ((rc = find_locked(d, t, first, key, klen, false, w, &b, &held)) != 0)
		return rc;
	bool was = (w[0] & META_USED) && !(w[0] & META_DELETED);
	if (was) {
		w[0] |= META_DELETED;
		rc = write_bucket(d, t, b, w, 1);
	}
	int rc2 = unlock_bucket(d, t, b, held);
	if (rc || rc2)
		return rc ? rc : rc2;
	return was ? 0 : -ENOENT;
}

SHMRT_API int shmrt_cluster_dict_home(const shmrt_cluster_dict_t *d, const void *key, size_t klen)
{
	if (bad_dict(d) || key == NULL || klen == 0)
		return -EINVAL;
	return (int)(key_hash(key, klen) % (uint64_t)d->cl->nodes);
}
