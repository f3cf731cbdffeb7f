/*
 * Values and striped Counters (shmrt/value.h).
 *
 * Shared layout of a Value (SHMRT_TYPE_VALUE):
 *   0    magic, type                 (line 0, read-mostly)
 *   64   the 8-byte cell             (line 1)
 *   72   robust TID lock (line 1 too: Python's get_lock())
 * The lock shares the cell's line: a locked update then moves one line between
 * processes, not two, and lock-free atomics never write the lock word, so they do
 * not suffer from it. (Measured: two lines cost 35% of locked-add throughput.)
 * The cell is zero-extended: a 1-byte type lives in its low byte, so every type's
 * atomic is a plain atomic of its own width on the cell's address (little endian).
 *
 * Shared layout of a Counter (SHMRT_TYPE_COUNTER): a 64-byte header, then one 64-byte
 * line per registry thread record and one shared line, each holding an int64. A
 * thread adds to the line of its own record: it is the line's only writer (a record
 * belongs to one thread at a time, handed over with acquire/release by the
 * registry), so the add is a relaxed load and store, about a nanosecond, where a
 * per-CPU stripe needs a `lock xadd` (two threads may share a CPU). A thread without
 * a record adds atomically to the shared line. A record reused by a later thread
 * keeps its sum: the lines only ever accumulate.
 *
 * Crash behaviour: a cell operation is one atomic instruction, so a killed process
 * never leaves a torn value; a process killed holding the lock hands it to the next
 * locker with -EOWNERDEAD (the value may reflect half of its compound update).
 *
 * The lock is a TID lock (base/tlock.h), not a glibc robust mutex: between two
 * processes it does 50 M locked adds/s where the robust mutex does 22 M. A dead
 * holder is found by its waiters (1 ms after they start waiting, then at doubling
 * intervals), not by the kernel's robust list.
 *
 * Memory ordering. Labels of the Value, shared with its inline fast paths
 * (shmrt/inline/value.h):
 *   M1  every cell operation the user sees as seq_cst (shmrt/value.h's contract):
 *       load, store, exchange, the fetch RMWs, a CAS that succeeds. All M1 of all
 *       processes on a cell are in one total order, and each is an acquire (loads,
 *       RMWs) and a release (stores, RMWs): what a process did before its M1 store is
 *       visible to the process whose M1 load reads it. Pairs with every other M1.
 *   A1  shmrt_value_cas() that fails: an acquire load of the current value (the
 *       header's "acquire on failure"), pairs with the M1 that wrote it.
 * The MIN/MAX and float fetches are weak CAS loops, seq_cst on success (M1) and
 * relaxed on failure: a failed round orders nothing, it only hands the loop the value
 * to retry with. A fetch that ends without storing (MIN/MAX already satisfied, a float
 * result equal to the old bits) has made relaxed loads only: weaker than the seq_cst
 * load its contract implies, though on x86-64 both are the same plain mov (kept as it
 * is). The lock orders by its own labels (T1 acquire, T2 release in base/tlock.h).
 * Counters order nothing: their accesses are relaxed (reasons at each).
 * Initial contents (value_init, counter_init) are plain stores, published with the
 * object by the directory (shmrt__object_open).
 */
#define _GNU_SOURCE
#include "base/tlock.h"
#include "region_int.h"
#include "shmrt/value.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/rseq.h>
#include <unistd.h>

#define VALUE_MAGIC 0x564c4156u   /* "VALV" */
#define COUNTER_MAGIC 0x544e4355u /* "UCNT" */

struct value_shm {
	uint32_t magic;
	uint32_t type;
	uint8_t pad0[56];
	uint64_t cell;
	uint64_t lock;           /* a TID lock (base/tlock.h) */
	uint8_t pad1[48];
};
_Static_assert(sizeof(struct value_shm) == 128, "value layout");
_Static_assert(offsetof(struct value_shm, cell) == 64, "value layout");
_Static_assert(offsetof(struct value_shm, lock) == 72, "value layout");

struct counter_shm {
	uint32_t magic;
	uint32_t nstripes;
	uint8_t pad[56];
	int64_t stripes[]; /* nstripes * 8 words */
};
_Static_assert(offsetof(struct counter_shm, stripes) == 64, "counter layout");

static const struct {
	char code;
	uint8_t size;
	uint8_t repr;
} vt[SHMRT_VT_COUNT_] = {
	[SHMRT_VT_INT8] = { 'b', 1, SHMRT__R_I8 },    [SHMRT_VT_UINT8] = { 'B', 1, SHMRT__R_U8 },
	[SHMRT_VT_INT16] = { 'h', 2, SHMRT__R_I16 },  [SHMRT_VT_UINT16] = { 'H', 2, SHMRT__R_U16 },
	[SHMRT_VT_INT32] = { 'i', 4, SHMRT__R_I32 },  [SHMRT_VT_UINT32] = { 'I', 4, SHMRT__R_U32 },
	[SHMRT_VT_LONG] = { 'l', 8, SHMRT__R_I64 },   [SHMRT_VT_ULONG] = { 'L', 8, SHMRT__R_U64 },
	[SHMRT_VT_INT64] = { 'q', 8, SHMRT__R_I64 },  [SHMRT_VT_UINT64] = { 'Q', 8, SHMRT__R_U64 },
	[SHMRT_VT_FLOAT] = { 'f', 4, SHMRT__R_F32 },  [SHMRT_VT_DOUBLE] = { 'd', 8, SHMRT__R_F64 },
	[SHMRT_VT_CHAR] = { 'c', 1, SHMRT__R_I8 },    [SHMRT_VT_BOOL] = { '?', 1, SHMRT__R_BOOL },
};
_Static_assert(sizeof(long) == 8, "'l' is 64-bit (LP64)");

static int type_ok(int type)
{
	return type > 0 && type < SHMRT_VT_COUNT_;
}

int shmrt_vtype_from_code(char code)
{
	for (int t = 1; t < SHMRT_VT_COUNT_; t++)
		if (vt[t].code == code)
			return t;
	return -EINVAL;
}

char shmrt_vtype_code(int type)
{
	return type_ok(type) ? vt[type].code : 0;
}

size_t shmrt_vtype_size(int type)
{
	return type_ok(type) ? vt[type].size : 0;
}

/* ---- Value ------------------------------------------------------------------- */

struct value_init {
	int type;
	const shmrt_scalar_t *init;
};

static int value_init(void *mem, uint64_t size, void *ctx)
{
	(void)size;
	struct value_shm *v = mem;
	struct value_init *vi = ctx;
	v->magic = VALUE_MAGIC;
	v->type = (uint32_t)vi->type;
	if (vi->init)
		memcpy(&v->cell, vi->init, vt[vi->type].size);
	v->lock = 0;
	return 0;
}

int shmrt_value_open(shmrt_region_t *r, const char *name, int oflags, int type,
		     const shmrt_scalar_t *init, shmrt_value_t *out)
{
	if (!r || !out || !type_ok(type))
		return -EINVAL;
	struct value_init vi = { type, init };
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, oflags, SHMRT_TYPE_VALUE, sizeof(struct value_shm),
				    NULL, value_init, &vi, &oi);
	if (rc)
		return rc;
	struct value_shm *v = shmrt_ptr(r, oi.off);
	if (oi.size < sizeof(*v) || v->magic != VALUE_MAGIC || !type_ok((int)v->type))
		return -EBADMSG;
	if ((int)v->type != type)
		return -EPROTOTYPE;
	*out = (shmrt_value_t){ .cell = &v->cell, .lock = &v->lock, .region = r,
				.type = v->type, .repr = vt[type].repr, .created = oi.created };
	return 0;
}

/* One generic implementation per storage type, through the macros below. The
 * wrappers of base/atomic.h are generic: they take the cell as a T pointer. */
#define INT_FETCH(T)                                                                    \
	do {                                                                            \
		T *p = v->cell, a, o;                                                   \
		memcpy(&a, &arg, sizeof(T));                                            \
		switch (op) {                                                           \
		/* M1: seq_cst RMWs, the Value's contract (pairs with every M1). */    \
		case SHMRT_OP_ADD: o = fetch_add_seq_cst(p, a); break;                  \
		case SHMRT_OP_SUB: o = fetch_sub_seq_cst(p, a); break;                  \
		case SHMRT_OP_AND: o = fetch_and_seq_cst(p, a); break;                  \
		case SHMRT_OP_OR: o = fetch_or_seq_cst(p, a); break;                    \
		case SHMRT_OP_XOR: o = fetch_xor_seq_cst(p, a); break;                  \
		case SHMRT_OP_MIN:                                                      \
		case SHMRT_OP_MAX:                                                      \
			/* Relaxed: a guess that the CAS below checks (the only read    \
			 * when no store is needed: see "Memory ordering" above). */    \
			o = load_relaxed(p);                                            \
			/* M1 when it stores; a failed round is a relaxed load that    \
			 * hands the loop the current value. */                         \
			while ((op == SHMRT_OP_MIN ? a < o : a > o) &&                  \
			       !cas_weak_seq_cst(p, &o, a))                             \
				;                                                       \
			break;                                                          \
		default: return -EINVAL;                                                \
		}                                                                       \
		if (old)                                                                \
			memcpy(old, &o, sizeof(T));                                     \
		return 0;                                                               \
	} while (0)

#define FLOAT_FETCH(F, U)                                                               \
	do {                                                                            \
		/* Relaxed: a guess that the CAS below checks (the only read when the   \
		 * result equals it: see "Memory ordering" above). */                   \
		U *p = v->cell, cur = load_relaxed(p), nxt;                             \
		F a, c, n;                                                              \
		memcpy(&a, &arg, sizeof(F));                                            \
		if (op != SHMRT_OP_ADD && op != SHMRT_OP_SUB && op != SHMRT_OP_MIN &&   \
		    op != SHMRT_OP_MAX)                                                 \
			return -EINVAL;                                                 \
		for (;;) {                                                              \
			memcpy(&c, &cur, sizeof(F));                                    \
			n = op == SHMRT_OP_ADD ? c + a : op == SHMRT_OP_SUB ? c - a       \
			  : op == SHMRT_OP_MIN ? (a < c ? a : c) : (a > c ? a : c);     \
			memcpy(&nxt, &n, sizeof(F));                                    \
			/* M1 when it stores; a failed round is a relaxed load that    \
			 * hands the loop the current value. */                         \
			if (nxt == cur || cas_weak_seq_cst(p, &cur, nxt))               \
				break;                                                  \
		}                                                                       \
		if (old)                                                                \
			memcpy(old, &c, sizeof(F));                                     \
		return 0;                                                               \
	} while (0)

int shmrt_value_fetch(const shmrt_value_t *v, shmrt_vop_t op, shmrt_scalar_t arg,
		      shmrt_scalar_t *old)
{
	if (!v || !v->cell)
		return -EINVAL;
	if (old)
		memset(old, 0, sizeof(*old));
	switch (v->repr) {
	case SHMRT__R_I8:
		if (v->type == SHMRT_VT_CHAR && (op == SHMRT_OP_ADD || op == SHMRT_OP_SUB))
			return -EINVAL;
		INT_FETCH(int8_t);
	case SHMRT__R_U8: INT_FETCH(uint8_t);
	case SHMRT__R_I16: INT_FETCH(int16_t);
	case SHMRT__R_U16: INT_FETCH(uint16_t);
	case SHMRT__R_I32: INT_FETCH(int32_t);
	case SHMRT__R_U32: INT_FETCH(uint32_t);
	case SHMRT__R_I64: INT_FETCH(int64_t);
	case SHMRT__R_U64: INT_FETCH(uint64_t);
	case SHMRT__R_BOOL:
		if (op == SHMRT_OP_ADD || op == SHMRT_OP_SUB)
			return -EINVAL;
		arg.u8 = arg.b ? 1 : 0;
		INT_FETCH(uint8_t);
	case SHMRT__R_F32: FLOAT_FETCH(float, uint32_t);
	case SHMRT__R_F64: FLOAT_FETCH(double, uint64_t);
	}
	return -EINVAL;
}

/* Loads, stores, exchanges and CAS are width-generic: they move bits. */
#define BY_WIDTH(size, T8, T16, T32, T64)                                               \
	switch (size) {                                                                 \
	case 1: T8; break;                                                              \
	case 2: T16; break;                                                             \
	case 4: T32; break;                                                             \
	default: T64; break;                                                            \
	}

static size_t width(const shmrt_value_t *v)
{
	return vt[v->type].size;
}

int shmrt_value_load(const shmrt_value_t *v, shmrt_scalar_t *out)
{
	if (!v || !v->cell || !out || !type_ok((int)v->type))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	/* M1: seq_cst load, the Value's contract (pairs with every M1). */
	BY_WIDTH(width(v), out->u8 = load_seq_cst((uint8_t *)v->cell),
		 out->u16 = load_seq_cst((uint16_t *)v->cell),
		 out->u32 = load_seq_cst((uint32_t *)v->cell),
		 out->u64 = load_seq_cst((uint64_t *)v->cell));
	return 0;
}

int shmrt_value_store(const shmrt_value_t *v, shmrt_scalar_t x)
{
	if (!v || !v->cell || !type_ok((int)v->type))
		return -EINVAL;
	if (v->type == SHMRT_VT_BOOL)
		x.u8 = x.b ? 1 : 0;
	/* M1: seq_cst store, the Value's contract (pairs with every M1). */
	BY_WIDTH(width(v), store_seq_cst((uint8_t *)v->cell, x.u8),
		 store_seq_cst((uint16_t *)v->cell, x.u16),
		 store_seq_cst((uint32_t *)v->cell, x.u32),
		 store_seq_cst((uint64_t *)v->cell, x.u64));
	return 0;
}

int shmrt_value_exchange(const shmrt_value_t *v, shmrt_scalar_t x, shmrt_scalar_t *old)
{
	if (!v || !v->cell || !type_ok((int)v->type))
		return -EINVAL;
	shmrt_scalar_t o;
	memset(&o, 0, sizeof(o));
	if (v->type == SHMRT_VT_BOOL)
		x.u8 = x.b ? 1 : 0;
	/* M1: seq_cst exchange, the Value's contract (pairs with every M1). */
	BY_WIDTH(width(v), o.u8 = exchange_seq_cst((uint8_t *)v->cell, x.u8),
		 o.u16 = exchange_seq_cst((uint16_t *)v->cell, x.u16),
		 o.u32 = exchange_seq_cst((uint32_t *)v->cell, x.u32),
		 o.u64 = exchange_seq_cst((uint64_t *)v->cell, x.u64));
	if (old)
		*old = o;
	return 0;
}

int shmrt_value_cas(const shmrt_value_t *v, shmrt_scalar_t *expected, shmrt_scalar_t desired)
{
	if (!v || !v->cell || !expected || !type_ok((int)v->type))
		return -EINVAL;
	int ok = 0;
	if (v->type == SHMRT_VT_BOOL)
		desired.u8 = desired.b ? 1 : 0;
	/* M1 on success: a strong seq_cst CAS, the Value's contract (pairs with every
	 * M1). A1 on failure: an acquire load of the current value, pairs with the M1
	 * that wrote it (the header promises "acquire on failure"). */
	BY_WIDTH(width(v),
		 ok = cas_seq_cst_acq_fail((uint8_t *)v->cell, &expected->u8, desired.u8),
		 ok = cas_seq_cst_acq_fail((uint16_t *)v->cell, &expected->u16, desired.u16),
		 ok = cas_seq_cst_acq_fail((uint32_t *)v->cell, &expected->u32, desired.u32),
		 ok = cas_seq_cst_acq_fail((uint64_t *)v->cell, &expected->u64, desired.u64));
	return ok ? 0 : -EAGAIN;
}

int shmrt_value_lock(const shmrt_value_t *v, shmrt_ns_t timeout)
{
	if (!v || !v->lock)
		return -EINVAL;
	return shmrt__tlock_acquire(v->lock, shmrt__deadline(timeout));
}

int shmrt_value_unlock(const shmrt_value_t *v)
{
	if (!v || !v->lock)
		return -EINVAL;
	return shmrt__tlock_release(v->lock);
}

int shmrt_value_consistent(const shmrt_value_t *v)
{
	if (!v || !v->lock)
		return -EINVAL;
	return shmrt__tlock_consistent(v->lock);
}

/* ---- Counter ------------------------------------------------------------------ */

static int counter_init(void *mem, uint64_t size, void *ctx)
{
	(void)ctx;
	struct counter_shm *c = mem;
	c->nstripes = (uint32_t)((size - sizeof(*c)) / 64);
	c->magic = COUNTER_MAGIC;
	return 0;
}

int shmrt_counter_open(shmrt_region_t *r, const char *name, int oflags, shmrt_counter_t *out)
{
	if (!r || !out)
		return -EINVAL;
	uint32_t n = ((struct shmrt_region *)r)->geo.max_threads + 1;
	shmrt_object_info_t oi;
	int rc = shmrt__object_open(r, name, oflags, SHMRT_TYPE_COUNTER,
				    sizeof(struct counter_shm) + 64ull * n, NULL, counter_init, NULL,
				    &oi);
	if (rc)
		return rc;
	struct counter_shm *c = shmrt_ptr(r, oi.off);
	if (c->magic != COUNTER_MAGIC || c->nstripes != n || sizeof(*c) + 64ull * n > oi.size)
		return -EBADMSG;
	*out = (shmrt_counter_t){ .stripes = c->stripes, .nrec = n - 1, .created = oi.created,
				  .region = r };
	return 0;
}

void shmrt_counter_add(const shmrt_counter_t *c, int64_t x)
{
	if (unlikely(!c || !c->stripes))
		return;
	uint32_t rec = shmrt__thread_rec((struct shmrt_region *)c->region);
	if (likely(rec < c->nrec)) {
		int64_t *s = &c->stripes[(size_t)rec * 8];
		/* Relaxed load and store: we are this line's only writer (the record is
		 * ours; the registry hands a record over with release/acquire, so a later
		 * owner reads our last store); readers sum with relaxed loads. */
		store_relaxed(s, load_relaxed(s) + x);
	} else {
		/* Relaxed: a counter orders nothing; the RMW's atomicity alone keeps
		 * every add of the threads that share this line. */
		fetch_add_relaxed(&c->stripes[(size_t)c->nrec * 8], x);
	}
}

unsigned shmrt_current_cpu(void)
{
	if (__rseq_size >= 8) {
		const struct rseq *rs =
			(const struct rseq *)(void *)((char *)__builtin_thread_pointer() + __rseq_offset);
		/* Relaxed: our own thread's rseq area, which the kernel rewrites when
		 * it moves us; the answer is a hint, stale as soon as it is read. */
		int cpu = (int)load_relaxed(&rs->cpu_id);
		if (cpu >= 0)
			return (unsigned)cpu;
	}
	int c = sched_getcpu();
	return c < 0 ? 0 : (unsigned)c;
}

int64_t shmrt_counter_read(const shmrt_counter_t *c)
{
	if (!c || !c->stripes)
		return 0;
	int64_t sum = 0;
	/* Relaxed: a racy sum (shmrt/value.h: not a snapshot); each stripe's own
	 * value is read whole, and nothing else is read by what it says. */
	for (uint32_t i = 0; i <= c->nrec; i++)
		sum += load_relaxed(&c->stripes[(size_t)i * 8]);
	return sum;
}
