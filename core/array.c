/*
 * Arrays with per-stripe seqlocks (shmrt/array.h).
 *
 * Shared layout (SHMRT_TYPE_ARRAY), one allocation:
 *   0     header: magic, type, elem, n, stripe_elems, nstripes, data_rel  (line 0)
 *   64    whole-array robust lock (Python's get_lock())                  (line 1)
 *   128   struct stripe [nstripes], 64 B each: ck_sequence, torn, robust lock
 *   data  at header + data_rel: 64-byte aligned, or page aligned when the
 *         allocation is a page extent (over 16 KiB), so placement applies to it
 *
 * Writer of stripe k: take its robust lock; ck_sequence_write_begin (odd, then a
 * store fence); copy; ck_sequence_write_end (fence, even); unlock. A writer that
 * finds the lock's previous holder dead (-EOWNERDEAD) with an odd sequence marks
 * the stripe torn and evens the sequence. A reader: load the sequence (bounded wait
 * while odd, see stripe_begin), copy, ck_sequence_read_retry. CK's own read_begin
 * spins without bound while the sequence is odd, which a dead writer would make
 * forever; we wait in three stages: spin, yield, then probe the stripe lock (trylock:
 * EOWNERDEAD proves the writer dead; EBUSY means a live writer: sleep briefly).
 *
 * Copies race with writers by design (the sequence check discards them); under
 * ThreadSanitizer they are done with relaxed atomics so the race is a declared one.
 *
 * Memory ordering. The seqlock is CK's protocol (ck_sequence, kept on purpose): its
 * writer calls spell it, and readers load the sequence with the wrappers of
 * base/atomic.h at the strength CK uses (relaxed loads and stores, acquire fences:
 * ck_pr_fence_load, which on x86-64 is a compiler barrier as fence_acquire is).
 *   S1  write_begin: the sequence odd, then a store fence. Pairs with S4: a reader
 *       whose copy read any byte this write stored finds the sequence moved.
 *   S2  write_end: a store fence, then the sequence even. Pairs with S3: a reader
 *       that sees the new even value copies the whole write.
 *   S3  reader: an acquire fence after loading the sequence (stripe_begin).
 *   S4  reader: an acquire fence, then the sequence compared (read_retry, and the
 *       snapshot's own recheck).
 *   R1  torn = 1 (a dead writer's stripe, before its sequence is made even)
 *   R2  torn = 0 (after a write that covered the whole stripe, or a repair)
 *   R3  a dead writer's odd sequence made even, after R1: pairs with S3
 *   A1  every load of torn: pairs with R1/R2. Seeing R2 means seeing the sequence
 *       past the rewrite (R2 follows S2), so a reader that loaded the sequence
 *       before the rewrite and then finds torn cleared fails its recheck (S4)
 *       instead of returning the torn data.
 * The sequence and torn are written only under the stripe lock, a robust mutex
 * (acquire on lock, release on unlock: base/pmutex.h), which also orders the
 * snapshot's fallback copy and a recovering locker against the dead writer.
 * Everything in the header is written once, before the directory publishes the
 * object (shmrt__object_open).
 */
#define _GNU_SOURCE
#include "region_int.h"
#include "shmrt/array.h"

#include <ck_sequence.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_MAGIC 0x59525241u /* "ARRY" */

struct array_hdr {
	uint32_t magic;
	uint32_t type;
	uint32_t elem;
	uint32_t pad0;
	uint64_t n;
	uint64_t stripe_elems;
	uint64_t nstripes;
	uint64_t data_rel;
	uint8_t pad1[16];
	shmrt_pmutex_t lock;
	uint8_t pad2[16];
};

struct stripe {
	ck_sequence_t seq;
	uint32_t torn;
	uint32_t pad[2];
	shmrt_pmutex_t lock;
};

_Static_assert(sizeof(struct array_hdr) == 128, "array header layout");
_Static_assert(offsetof(struct array_hdr, lock) == 64, "array header layout");
_Static_assert(sizeof(struct stripe) == 64, "stripe layout");
_Static_assert(sizeof(ck_sequence_t) == 4, "ck_sequence is one word");

#define SPIN 1000
#define YIELDS 64

static struct stripe *stripes(const shmrt_array_t *a)
{
	return (struct stripe *)(void *)((char *)a->shm + sizeof(struct array_hdr));
}

static int fd_of(const shmrt_array_t *a)
{
	return shmrt_region_fd(a->region);
}

/* ---- creation -------------------------------------------------------------------- */

struct array_init {
	int type;
	uint32_t elem;
	uint64_t n, stripe_elems, nstripes, data_rel;
	const void *init;
};

static int array_init(void *mem, uint64_t size, void *ctx)
{
	(void)size;
	struct array_init *ai = ctx;
	struct array_hdr *h = mem;
	h->type = (uint32_t)ai->type;
	h->elem = ai->elem;
	h->n = ai->n;
	h->stripe_elems = ai->stripe_elems;
	h->nstripes = ai->nstripes;
	h->data_rel = ai->data_rel;
	int rc = shmrt__pmutex_init(&h->lock);
	struct stripe *st = (struct stripe *)(void *)((char *)mem + sizeof(*h));
	for (uint64_t k = 0; !rc && k < ai->nstripes; k++)
		rc = shmrt__pmutex_init(&st[k].lock);
	if (!rc && ai->init)
		memcpy((char *)mem + ai->data_rel, ai->init, ai->n * ai->elem);
	h->magic = ARRAY_MAGIC;
	return rc;
}

int shmrt_array_open(shmrt_region_t *r, const char *name, int oflags, int type, uint64_t n,
		     const shmrt_array_opts_t *opts, shmrt_array_t *out)
{
	size_t elem = shmrt_vtype_size(type);
	bool any_n = n == 0 && !(oflags & SHMRT_O_CREATE); /* open: take its length */
	if (!r || !out || !elem || (n == 0 && !any_n) || n > (1ull << 40))
		return -EINVAL;
	uint64_t sb = opts && opts->stripe_bytes ? opts->stripe_bytes : 4096;
	uint64_t se = sb / elem ? sb / elem : 1;
	uint64_t ns = (n + se - 1) / se;
	uint64_t meta = sizeof(struct array_hdr) + ns * sizeof(struct stripe);
	uint64_t data_rel = (meta + 63) & ~63ull;
	if (data_rel + n * elem > SHMRT_SMALL_MAX)
		data_rel = (meta + 4095) & ~4095ull; /* an extent: page-align the data */
	struct array_init ai = { type, (uint32_t)elem, n, se, ns, data_rel,
				 opts ? opts->init : NULL };
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, oflags, SHMRT_TYPE_ARRAY,
				    any_n ? sizeof(struct array_hdr) : data_rel + n * elem,
				    opts ? opts->placement : NULL, array_init, &ai, &oi);
	if (rc == -EMSGSIZE)
		return -EPROTOTYPE; /* exists with fewer elements */
	if (rc)
		return rc;
	struct array_hdr *h = shmrt_ptr(r, oi.off);
	if (h->magic != ARRAY_MAGIC || !h->elem || h->elem != shmrt_vtype_size((int)h->type) ||
	    !h->stripe_elems || h->nstripes != (h->n + h->stripe_elems - 1) / h->stripe_elems ||
	    h->data_rel < sizeof(*h) + h->nstripes * sizeof(struct stripe) ||
	    h->data_rel + h->n * h->elem > oi.size)
		return -EBADMSG;
	if ((int)h->type != type || (h->n != n && !any_n))
		return -EPROTOTYPE;
	*out = (shmrt_array_t){ .shm = h, .data = (char *)h + h->data_rel, .n = h->n,
				.elem = h->elem, .type = h->type, .stripe_elems = h->stripe_elems,
				.nstripes = h->nstripes, .region = r, .created = oi.created };
	return 0;
}

/* ---- stripes ----------------------------------------------------------------------- */

/* The stripe's writer died (we hold its lock after EOWNERDEAD): if it died between
 * write_begin and write_end, the data is torn. Also for a stripe found odd by a
 * thread that took its lock with no writer inside (damage: only a writer, holding the
 * lock, makes it odd). */
static void stripe_seal(struct stripe *st)
{
	/* Relaxed: we hold the stripe lock, as every writer of the sequence does. */
	unsigned s = load_relaxed(&st->seq.sequence);
	if (s & 1) {
		/* R1: release, pairs with A1: a reader that sees it returns -EUCLEAN. */
		store_release(&st->torn, 1);
		/* R3: release, pairs with S3 (a reader's acquire fence after it loads the
		 * sequence): a reader that sees this even value sees R1's torn flag, and
		 * does not copy the torn data as good. (CK's relaxed store was enough on
		 * x86-64, which keeps stores in order; not on arm64.) */
		store_release(&st->seq.sequence, s + 1);
	}
}

static void stripe_after_death(struct stripe *st)
{
	stripe_seal(st);
	shmrt__pmutex_consistent(&st->lock);
}

static int stripe_lock(const shmrt_array_t *a, struct stripe *st)
{
	int rc = shmrt__pmutex_acquire(&st->lock, fd_of(a), SHMRT_NO_DEADLINE);
	if (rc == -EOWNERDEAD) {
		stripe_after_death(st);
		rc = 0;
	}
	return rc;
}

/* Bounded wait for an even sequence. 0 and *ver; -EUCLEAN when torn. */
static int stripe_begin(const shmrt_array_t *a, struct stripe *st, unsigned *ver)
{
	for (unsigned i = 0;; i++) {
		/* Relaxed, as CK's read_begin: S3 orders what follows after it. */
		unsigned v = load_relaxed(&st->seq.sequence);
		/* S3: acquire fence, pairs with S2: seeing a write's even value, we
		 * copy all of it. */
		fence_acquire();
		if (!(v & 1)) {
			if (load_acquire(&st->torn)) /* A1: pairs with R1/R2 */
				return -EUCLEAN;
			*ver = v;
			return 0;
		}
		if (i < SPIN) {
			cpu_relax();
		} else if (i < SPIN + YIELDS) {
			sched_yield();
		} else {
			/* A writer has been inside for a while: alive? Its robust lock
			 * answers (a 1 ms wait, so a live writer is not hurried). */
			int e = shmrt__pmutex_acquire(&st->lock, fd_of(a), mono_ns() + 1000000);
			if (e == 0 || e == -EOWNERDEAD) {
				/* No writer inside (we hold its lock), or a dead one: a stripe
				 * still odd is torn (death) or damaged, and sealed as torn. */
				if (e == -EOWNERDEAD)
					stripe_after_death(st);
				else
					stripe_seal(st);
				shmrt__pmutex_unlock(&st->lock);
				if (load_acquire(&st->torn)) /* A1 */
					return -EUCLEAN;
			} else if (e == -ENOTRECOVERABLE) {
				return -ENOTRECOVERABLE;
			}
			i = SPIN; /* keep yielding between probes */
		}
	}
}

static int range_ok(const shmrt_array_t *a, uint64_t off, uint64_t count)
{
	return a && a->shm && count && off < a->n && count <= a->n - off;
}

/* Calls fn for each stripe piece of [off, off+count): stripe k, element range. */
#define FOR_PIECES(a, off, count, k, lo, hi)                                            \
	for (uint64_t k = (off) / (a)->stripe_elems, lo = (off), hi;                    \
	     lo < (off) + (count) &&                                                    \
	     ((hi = ((k + 1) * (a)->stripe_elems < (off) + (count) ? (k + 1) * (a)->stripe_elems \
								      : (off) + (count))), 1); \
	     k++, lo = hi)

static int whole_stripe(const shmrt_array_t *a, uint64_t k, uint64_t lo, uint64_t hi)
{
	uint64_t end = (k + 1) * a->stripe_elems < a->n ? (k + 1) * a->stripe_elems : a->n;
	return lo == k * a->stripe_elems && hi == end;
}

int shmrt_array_write(const shmrt_array_t *a, uint64_t off, const void *src, uint64_t count)
{
	if (!range_ok(a, off, count) || !src)
		return -EINVAL;
	struct stripe *st = stripes(a);
	const char *s = src;
	FOR_PIECES(a, off, count, k, lo, hi) {
		int rc = stripe_lock(a, &st[k]);
		if (rc)
			return rc;
		ck_sequence_write_begin(&st[k].seq); /* S1: odd, then a store fence */
		SHMRT_YIELD_POINT();
		shmrt__copy_racy(a->data + lo * a->elem, s + (lo - off) * a->elem, (hi - lo) * a->elem);
		ck_sequence_write_end(&st[k].seq); /* S2: a store fence, then even */
		if (whole_stripe(a, k, lo, hi))
			store_release(&st[k].torn, 0); /* R2: after S2, pairs with A1 */
		shmrt__pmutex_unlock(&st[k].lock);
	}
	return 0;
}

int shmrt_array_read(const shmrt_array_t *a, uint64_t off, void *dst, uint64_t count)
{
	if (!range_ok(a, off, count) || !dst)
		return -EINVAL;
	struct stripe *st = stripes(a);
	char *d = dst;
	FOR_PIECES(a, off, count, k, lo, hi) {
		unsigned ver;
		do {
			int rc = stripe_begin(a, &st[k], &ver);
			if (rc)
				return rc;
			shmrt__copy_racy(d + (lo - off) * a->elem, a->data + lo * a->elem, (hi - lo) * a->elem);
			/* S4: CK's read_retry, a load fence then the sequence compared;
			 * pairs with S1. */
		} while (ck_sequence_read_retry(&st[k].seq, ver));
	}
	return 0;
}

int shmrt_array_snapshot(const shmrt_array_t *a, uint64_t off, void *dst, uint64_t count)
{
	if (!range_ok(a, off, count) || !dst)
		return -EINVAL;
	struct stripe *st = stripes(a);
	uint64_t k0 = off / a->stripe_elems, k1 = (off + count - 1) / a->stripe_elems;
	uint64_t nk = k1 - k0 + 1;
	unsigned stackv[256], *ver = nk <= 256 ? stackv : malloc(nk * sizeof(unsigned));
	if (!ver)
		return -ENOMEM;
	int rc = 0;
	for (int attempt = 0; attempt < 8; attempt++) {
		for (uint64_t k = k0; k <= k1 && !rc; k++)
			rc = stripe_begin(a, &st[k], &ver[k - k0]);
		if (rc)
			goto out;
		shmrt__copy_racy(dst, a->data + off * a->elem, count * a->elem);
		/* S4: acquire fence, pairs with S1 of every stripe: the copy is read
		 * before the sequences are compared again. */
		fence_acquire();
		uint64_t k = k0;
		/* Relaxed: after S4, as CK's read_retry. */
		while (k <= k1 && load_relaxed(&st[k].seq.sequence) == ver[k - k0])
			k++;
		if (k > k1)
			goto out; /* nothing changed while we copied: one instant */
	}
	/* Writers kept winning: take the stripes (ascending, as writers do). */
	for (uint64_t k = k0; k <= k1; k++) {
		if ((rc = stripe_lock(a, &st[k]))) {
			while (k-- > k0)
				shmrt__pmutex_unlock(&st[k].lock);
			goto out;
		}
	}
	for (uint64_t k = k0; k <= k1 && !rc; k++)
		if (load_acquire(&st[k].torn)) /* A1 (under the lock, which orders it too) */
			rc = -EUCLEAN;
	if (!rc)
		memcpy(dst, a->data + off * a->elem, count * a->elem);
	for (uint64_t k = k1 + 1; k-- > k0;)
		shmrt__pmutex_unlock(&st[k].lock);
out:
	if (ver != stackv)
		free(ver);
	return rc;
}

int shmrt_array_get(const shmrt_array_t *a, uint64_t i, shmrt_scalar_t *out)
{
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	return shmrt_array_read(a, i, out, 1);
}

int shmrt_array_set(const shmrt_array_t *a, uint64_t i, shmrt_scalar_t x)
{
	if (a && a->type == SHMRT_VT_BOOL)
		x.u8 = x.b ? 1 : 0;
	return shmrt_array_write(a, i, &x, 1);
}

int shmrt_array_fetch(const shmrt_array_t *a, uint64_t i, shmrt_vop_t op, shmrt_scalar_t arg,
		      shmrt_scalar_t *old)
{
	if (!range_ok(a, i, 1))
		return -EINVAL;
	static const uint8_t repr[SHMRT_VT_COUNT_] = {
		[SHMRT_VT_INT8] = SHMRT__R_I8,   [SHMRT_VT_UINT8] = SHMRT__R_U8,
		[SHMRT_VT_INT16] = SHMRT__R_I16, [SHMRT_VT_UINT16] = SHMRT__R_U16,
		[SHMRT_VT_INT32] = SHMRT__R_I32, [SHMRT_VT_UINT32] = SHMRT__R_U32,
		[SHMRT_VT_LONG] = SHMRT__R_I64,  [SHMRT_VT_ULONG] = SHMRT__R_U64,
		[SHMRT_VT_INT64] = SHMRT__R_I64, [SHMRT_VT_UINT64] = SHMRT__R_U64,
		[SHMRT_VT_FLOAT] = SHMRT__R_F32, [SHMRT_VT_DOUBLE] = SHMRT__R_F64,
		[SHMRT_VT_CHAR] = SHMRT__R_I8,   [SHMRT_VT_BOOL] = SHMRT__R_BOOL,
	};
	/* An element is a Value without a lock: reuse the Value operations. */
	shmrt_value_t v = { .cell = a->data + i * a->elem, .lock = NULL, .region = a->region,
			    .type = a->type, .repr = repr[a->type] };
	return shmrt_value_fetch(&v, op, arg, old);
}

int shmrt_array_begin_write(const shmrt_array_t *a, uint64_t off, uint64_t count, void **ptr)
{
	if (!range_ok(a, off, count) || !ptr)
		return -EINVAL;
	struct stripe *st = stripes(a);
	uint64_t k0 = off / a->stripe_elems, k1 = (off + count - 1) / a->stripe_elems;
	for (uint64_t k = k0; k <= k1; k++) {
		int rc = stripe_lock(a, &st[k]);
		if (rc) {
			while (k-- > k0) {
				/* S2 with nothing written: readers that overlapped retry. */
				ck_sequence_write_end(&st[k].seq);
				shmrt__pmutex_unlock(&st[k].lock);
			}
			return rc;
		}
		ck_sequence_write_begin(&st[k].seq); /* S1: odd, then a store fence */
	}
	*ptr = a->data + off * a->elem;
	return 0;
}

/* Whether the calling thread holds the stripe's lock, in a write bracket (the sequence
 * odd). Relaxed: the owner tag is the holder's own (base/pmutex.h), and only the holder
 * moves the sequence. */
static int bracket_open(struct stripe *st)
{
	return load_relaxed(&st->lock.owner) == shmrt__self_ident() &&
	       (load_relaxed(&st->seq.sequence) & 1);
}

int shmrt_array_end_write(const shmrt_array_t *a, uint64_t off, uint64_t count)
{
	if (!range_ok(a, off, count))
		return -EINVAL;
	struct stripe *st = stripes(a);
	/* Only a bracket this thread opened over the whole range: an unmatched end would
	 * make the sequences even under other writers, or odd for ever. */
	FOR_PIECES(a, off, count, k, lo, hi) {
		(void)lo, (void)hi;
		if (!bracket_open(&st[k]))
			return -EINVAL;
	}
	FOR_PIECES(a, off, count, k, lo, hi) {
		ck_sequence_write_end(&st[k].seq); /* S2: a store fence, then even */
		if (whole_stripe(a, k, lo, hi))
			store_release(&st[k].torn, 0); /* R2: after S2, pairs with A1 */
		shmrt__pmutex_unlock(&st[k].lock);
	}
	return 0;
}

int shmrt_array_repair(const shmrt_array_t *a, uint64_t off, uint64_t count)
{
	if (!range_ok(a, off, count))
		return -EINVAL;
	struct stripe *st = stripes(a);
	FOR_PIECES(a, off, count, k, lo, hi) {
		(void)lo, (void)hi;
		int rc = stripe_lock(a, &st[k]);
		if (rc)
			return rc;
		/* R2: release, pairs with A1; the caller vouches for the data, so the
		 * sequence is left as it is. */
		store_release(&st[k].torn, 0);
		shmrt__pmutex_unlock(&st[k].lock);
	}
	return 0;
}

int shmrt_array_lock(const shmrt_array_t *a, shmrt_ns_t timeout)
{
	if (!a || !a->shm)
		return -EINVAL;
	return shmrt__pmutex_acquire(&((struct array_hdr *)a->shm)->lock, fd_of(a),
				     shmrt__deadline(timeout));
}

int shmrt_array_unlock(const shmrt_array_t *a)
{
	if (!a || !a->shm)
		return -EINVAL;
	return shmrt__pmutex_release(&((struct array_hdr *)a->shm)->lock);
}

int shmrt_array_consistent(const shmrt_array_t *a)
{
	if (!a || !a->shm)
		return -EINVAL;
	return shmrt__pmutex_consistent(&((struct array_hdr *)a->shm)->lock);
}
