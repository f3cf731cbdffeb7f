/*
 * The shmrt extension module's private header: what its files share.
 *
 * The module (shmrt._shmrt) is split by concept: module.c (the module, its errors,
 * the process-tree region and object naming, sliced waits), convert.c (typecodes
 * and the conversions between Python objects and shmrt scalars, as ctypes does
 * them), value.c (RawValue, Synchronized), array.c (RawArray, SynchronizedArray:
 * creation, indexing, slicing, locks), array_view.c (the buffer protocol,
 * snapshots, write brackets), locks.c (Lock, RLock and the locks behind
 * get_lock()), sync.c (Semaphore, BoundedSemaphore, Event, Condition), barrier.c
 * (Barrier).
 *
 * Every object of the module lives in the process-tree region (module.c) under a
 * name of its own, "py.<kind>.<n>", n from a counter shared by the whole tree. The
 * Python object that created an entry removes it when it is freed, but only if no
 * other process can know it: the process that created it has not forked since (a
 * fork copies the handle into the child). Otherwise the entry lives as long as the
 * region does, which is as long as the process tree.
 */
#ifndef PYSHMRT_H
#define PYSHMRT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <sys/types.h>
#include <shmrt.h>

/* ---- module.c --------------------------------------------------------------------- */

extern PyObject *pyshmrt_OwnerDiedWarning;
extern PyObject *pyshmrt_TornError;

/* The process-tree region, created on first use (NULL and a Python error if that
 * fails). */
shmrt_region_t *pyshmrt_tree(void);

/* Raises the Python exception for a shmrt error code (negative errno), prefixed
 * with what was being done; returns NULL. */
PyObject *pyshmrt_err(int rc, const char *what);

/* What every object of the module carries to name, and later free, its entry. */
typedef struct pyshmrt_entry {
	char name[SHMRT_OBJNAME_MAX + 1];
	pid_t creator;       /* process that created the entry (0: not ours to remove) */
	uint64_t forks;      /* the creator's fork count when it created it */
} pyshmrt_entry_t;

/* Fills e->name with a fresh name of the tree ("py.KIND.N") and records the creator.
 * 0, or -1 with a Python error. */
int pyshmrt_entry_new(pyshmrt_entry_t *e, const char *kind);
/* Removes the entry if this process created it and has not forked since. */
void pyshmrt_entry_drop(pyshmrt_entry_t *e);
/* The `lock` argument of a synchronized Value or Array: True or None (the object's
 * own lock) leaves *out NULL; anything with acquire and release is kept in *out (a
 * new reference), as multiprocessing accepts any lock-like object. 0, or -1 with
 * AttributeError (multiprocessing's message). */
int pyshmrt_lock_arg(PyObject *lock, PyObject **out);
/* The number of forks this process made (os.register_at_fork, see __init__.py). */
uint64_t pyshmrt_forks(void);

/* Runs fn(ctx, slice) until it returns something else than -EAGAIN/-ETIMEDOUT or the
 * deadline passes, first once without waiting and with the GIL held, then in slices
 * of at most 50 ms with the GIL released, checking for signals between slices.
 * timeout < 0: no deadline. Returns fn's last result (-ETIMEDOUT at the deadline), or
 * PYSHMRT_EXC when a signal handler raised. */
#define PYSHMRT_EXC (-100000)
int pyshmrt_sliced(int (*fn)(void *ctx, shmrt_ns_t slice), void *ctx, double timeout);

/* Parses multiprocessing's (block, timeout) pair into a timeout in seconds: < 0
 * forever, 0 try once. -1 with a Python error for a bad timeout (not a number, or
 * NaN: ValueError). */
int pyshmrt_block_timeout(PyObject *block, PyObject *timeout, double *out);

/* ---- convert.c -------------------------------------------------------------------- */

/* A typecode's facts: shmrt element type, size, PEP 3118 format, ctypes name. */
typedef struct pyshmrt_code {
	char code;            /* multiprocessing's typecode */
	int vtype;            /* shmrt_vtype_t used for storage */
	int size;
	const char *format;   /* buffer format */
	const char *ctype;    /* ctypes class name, for repr */
	int is_int, is_float;
} pyshmrt_code_t;

/* The facts for a typecode, or NULL and a TypeError. */
const pyshmrt_code_t *pyshmrt_code(int code);
/* Python object -> scalar of the code's type, as ctypes converts (integers wrap).
 * 0, or -1 with a Python error. */
int pyshmrt_to_scalar(const pyshmrt_code_t *c, PyObject *o, shmrt_scalar_t *out);
/* Scalar -> new Python object. */
PyObject *pyshmrt_from_scalar(const pyshmrt_code_t *c, const shmrt_scalar_t *s);
/* The same from an element in memory. */
PyObject *pyshmrt_from_mem(const pyshmrt_code_t *c, const void *p);

/* ---- locks.c and sync.c ---------------------------------------------------------- */

/* A Lock or RLock: a shmrt lock (B_SYNC), or a Value's or Array's own lock. */
enum { B_SYNC, B_VALUE, B_ARRAY };

typedef struct {
	PyObject_HEAD
	pyshmrt_entry_t e;
	int backend, recursive;
	shmrt_lock_t l;
	const shmrt_value_t *v;
	const shmrt_array_t *a;
	PyObject *owner;            /* the Value or Array of a get_lock() lock */
	unsigned long owner_tid;    /* emulated recursion (B_VALUE, B_ARRAY) */
	pid_t owner_pid;
	long count;
} LockObj;

/* Creates a new Lock (recursive 0) or RLock in the tree. */
PyObject *pyshmrt_lock_create(PyTypeObject *type, int recursive);
/* The methods, also the Condition's (on its lock). */
PyObject *pyshmrt_lock_acquire(LockObj *s, PyObject *args, PyObject *kw);
PyObject *pyshmrt_lock_release(LockObj *s, PyObject *noargs);
PyObject *pyshmrt_lock_enter(LockObj *s, PyObject *noargs);
PyObject *pyshmrt_lock_exit(LockObj *s, PyObject *args);
/* After -EOWNERDEAD: marks the lock consistent. */
void pyshmrt_lock_consistent(LockObj *s);


extern PyTypeObject pyshmrt_LockType, pyshmrt_RLockType, pyshmrt_SemaphoreType,
	pyshmrt_BoundedSemaphoreType, pyshmrt_EventType, pyshmrt_ConditionType,
	pyshmrt_BarrierType;
int pyshmrt_sync_ready(PyObject *m);
/* An RLock over a Value's or an Array's own robust lock (get_lock()); holds a
 * reference to owner, which keeps the handle alive. */
PyObject *pyshmrt_objlock_new(PyObject *owner, const shmrt_value_t *v, const shmrt_array_t *a);

/* ---- value.c / array.c / array_view.c -------------------------------------------- */

typedef struct {
	PyObject_HEAD
	pyshmrt_entry_t e;
	shmrt_array_t a;
	const pyshmrt_code_t *c;
	Py_ssize_t n;       /* Python length (the shmrt Array has at least 1 element) */
	PyObject *lock;
	PyObject *owner;
} ArrayObj;

/* Copies elements [lo, lo+cnt) out (snap: as one instant's state) or in. 0, or -1
 * with a Python error. */
int pyshmrt_array_read_range(ArrayObj *o, Py_ssize_t lo, Py_ssize_t cnt, void *dst, int snap);
int pyshmrt_array_write_range(ArrayObj *o, Py_ssize_t lo, Py_ssize_t cnt, const void *src);
/* A slice's Python value from count elements at buf, step apart. */
PyObject *pyshmrt_array_build_seq(ArrayObj *o, const char *buf, Py_ssize_t count,
				  Py_ssize_t step);
int pyshmrt_array_getbuffer(ArrayObj *o, Py_buffer *view, int flags);
PyObject *pyshmrt_array_snapshot(ArrayObj *o, PyObject *args, PyObject *kw);
PyObject *pyshmrt_array_repair(ArrayObj *o, PyObject *args, PyObject *kw);
PyObject *pyshmrt_array_writing(ArrayObj *o, PyObject *args, PyObject *kw);
/* Nonzero while a writing() bracket is open (or opening) in this process; then calls
 * that may wait for stripes release the GIL, and first call bracket_check: -1 with
 * RuntimeError if this thread holds, in a bracket, a stripe of [lo, lo+cnt) of o's
 * Array (it would wait for itself), else 0. Under the GIL. */
extern int pyshmrt_brackets_open;
int pyshmrt_array_bracket_check(ArrayObj *o, Py_ssize_t lo, Py_ssize_t cnt);
int pyshmrt_bracket_ready(void);


extern PyTypeObject pyshmrt_RawValueType, pyshmrt_SynchronizedType;
extern PyTypeObject pyshmrt_RawArrayType, pyshmrt_SynchronizedArrayType;
int pyshmrt_value_ready(PyObject *m);
int pyshmrt_array_ready(PyObject *m);

/* The Synchronized types call their lock's method meth(*args, **kw). */
PyObject *pyshmrt_call_lock(PyObject *lock, const char *meth, PyObject *args, PyObject *kw);

/* ---- queue.c / pipe.c / shm.c ------------------------------------------------- */

extern PyTypeObject pyshmrt_QueueType, pyshmrt_ConnType, pyshmrt_SegmentType;
/* _pipe_pair() and _unlink_segment(name), module functions. */
PyObject *pyshmrt_pipe_pair(PyObject *self, PyObject *noargs);
PyObject *pyshmrt_unlink_segment(PyObject *self, PyObject *arg);
int pyshmrt_transport_ready(PyObject *m);

#endif /* PYSHMRT_H */
