/*
 * Lock and RLock, and the locks behind get_lock(): multiprocessing's locks on
 * shmrt/sync.h, with its signatures (acquire(block=True, timeout=None), release(),
 * context managers).
 *
 * Locks are robust. When the holder of a Lock, an RLock or a get_lock() lock dies
 * (even by kill -9), the next acquire succeeds and warns with OwnerDiedWarning:
 * what the lock protects may be half-updated. The lock is marked consistent before
 * the warning, so it goes on working; if warnings are turned into errors, the
 * acquire releases it again and raises.
 *
 * Locks behind get_lock(). A Value's and an Array's own robust lock (a word beside
 * the Value's cell; the Array's whole-array lock) is handed out as an RLock, as
 * multiprocessing hands out an RLock: the recursion is counted here, in the Python
 * object (one per Value or Array and process), by thread and process id, so a
 * forked child never believes it holds what its parent held.
 *
 * Differences from multiprocessing, from shmrt's locks being owned: only the holder
 * may release a Lock (another thread or process gets ValueError, where
 * multiprocessing lets anyone release it). A Lock acquired again by its holder
 * waits for its timeout and returns False, as Python's does (forever: until Ctrl-C).
 *
 * Waits run in slices with the GIL released (pyshmrt_sliced, module.c).
 */
#include "pyshmrt.h"

#include <pythread.h>
#include <time.h>
#include <unistd.h>

/* ---- Lock and RLock ---------------------------------------------------------------- */


static int lock_try(void *ctx, shmrt_ns_t t)
{
	LockObj *s = ctx;
	switch (s->backend) {
	case B_VALUE: return shmrt_value_lock(s->v, t);
	case B_ARRAY: return shmrt_array_lock(s->a, t);
	default: return shmrt_lock_acquire(&s->l, t);
	}
}

static int lock_unlock(LockObj *s)
{
	switch (s->backend) {
	case B_VALUE: return shmrt_value_unlock(s->v);
	case B_ARRAY: return shmrt_array_unlock(s->a);
	default: return shmrt_lock_release(&s->l);
	}
}

void pyshmrt_lock_consistent(LockObj *s)
{
	switch (s->backend) {
	case B_VALUE: (void)shmrt_value_consistent(s->v); break;
	case B_ARRAY: (void)shmrt_array_consistent(s->a); break;
	default: (void)shmrt_lock_consistent(&s->l); break;
	}
}

static int never(void *ctx, shmrt_ns_t t)
{
	(void)ctx;
	if (t > 0) {
		struct timespec ts = { t / 1000000000, t % 1000000000 };
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

static bool emulated_owner(LockObj *s)
{
	return s->count > 0 && s->owner_pid == getpid() &&
	       s->owner_tid == PyThread_get_thread_ident();
}

/* 1 acquired, 0 not (timeout), -1 Python error. */
static int lock_acquire_t(LockObj *s, double timeout)
{
	if (s->backend != B_SYNC && emulated_owner(s)) {
		s->count++;
		return 1;
	}
	int rc = pyshmrt_sliced(lock_try, s, timeout);
	if (rc == -EDEADLK) {
		/* A Lock held by this very thread: Python blocks until the timeout. */
		rc = pyshmrt_sliced(never, NULL, timeout);
	}
	if (rc == PYSHMRT_EXC)
		return -1;
	if (rc == -ETIMEDOUT)
		return 0;
	if (rc == -EOWNERDEAD) {
		pyshmrt_lock_consistent(s);
		if (PyErr_WarnEx(pyshmrt_OwnerDiedWarning,
				 "the previous holder of this lock died holding it: what it "
				 "protects may be half-updated",
				 1)) {
			(void)lock_unlock(s);
			return -1;
		}
		rc = 0;
	}
	if (rc) {
		pyshmrt_err(rc, "acquiring a lock");
		return -1;
	}
	if (s->backend != B_SYNC) {
		s->owner_pid = getpid();
		s->owner_tid = PyThread_get_thread_ident();
		s->count = 1;
	}
	return 1;
}

PyObject *pyshmrt_lock_acquire(LockObj *s, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "block", "timeout", NULL };
	PyObject *block = NULL, *timeout = NULL;
	double t;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:acquire", kwl, &block, &timeout) ||
	    pyshmrt_block_timeout(block, timeout, &t))
		return NULL;
	int r = lock_acquire_t(s, t);
	if (r < 0)
		return NULL;
	return PyBool_FromLong(r);
}

PyObject *pyshmrt_lock_release(LockObj *s, PyObject *noargs)
{
	(void)noargs;
	if (s->backend != B_SYNC) {
		if (!emulated_owner(s)) {
			PyErr_SetString(PyExc_AssertionError,
					"attempt to release recursive lock not owned by thread");
			return NULL;
		}
		if (--s->count > 0)
			Py_RETURN_NONE;
		s->owner_pid = 0;
	}
	int rc = lock_unlock(s);
	if (rc == -EPERM) {
		if (s->recursive)
			PyErr_SetString(PyExc_AssertionError,
					"attempt to release recursive lock not owned by thread");
		else
			PyErr_SetString(PyExc_ValueError,
					"lock released by a thread that does not hold it (shmrt "
					"locks are owned)");
		return NULL;
	}
	if (rc)
		return pyshmrt_err(rc, "releasing a lock");
	Py_RETURN_NONE;
}

PyObject *pyshmrt_lock_enter(LockObj *s, PyObject *noargs)
{
	(void)noargs;
	int r = lock_acquire_t(s, -1);
	if (r < 0)
		return NULL;
	return PyBool_FromLong(r);
}

PyObject *pyshmrt_lock_exit(LockObj *s, PyObject *args)
{
	(void)args;
	return pyshmrt_lock_release(s, NULL);
}

PyObject *pyshmrt_lock_create(PyTypeObject *type, int recursive)
{
	LockObj *s = (LockObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	s->backend = B_SYNC;
	s->recursive = recursive;
	if (pyshmrt_entry_new(&s->e, recursive ? "rlock" : "lock")) {
		Py_DECREF(s);
		return NULL;
	}
	int rc = shmrt_lock_open(pyshmrt_tree(), s->e.name, SHMRT_O_CREATE | SHMRT_O_EXCL,
				 recursive, &s->l);
	if (rc) {
		s->e.creator = 0;
		Py_DECREF(s);
		return pyshmrt_err(rc, "creating a lock");
	}
	return (PyObject *)s;
}

static PyObject *Lock_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { NULL };
	if (!PyArg_ParseTupleAndKeywords(args, kw, ":Lock", kwl))
		return NULL;
	return pyshmrt_lock_create(type, 0);
}

static PyObject *RLock_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { NULL };
	if (!PyArg_ParseTupleAndKeywords(args, kw, ":RLock", kwl))
		return NULL;
	return pyshmrt_lock_create(type, 1);
}

PyObject *pyshmrt_objlock_new(PyObject *owner, const shmrt_value_t *v, const shmrt_array_t *a)
{
	LockObj *s = (LockObj *)pyshmrt_RLockType.tp_alloc(&pyshmrt_RLockType, 0);
	if (!s)
		return NULL;
	s->backend = v ? B_VALUE : B_ARRAY;
	s->recursive = 1;
	s->v = v;
	s->a = a;
	s->owner = Py_NewRef(owner);
	return (PyObject *)s;
}

static int lock_traverse(LockObj *s, visitproc visit, void *arg)
{
	Py_VISIT(s->owner);
	return 0;
}

static int lock_clear(LockObj *s)
{
	Py_CLEAR(s->owner);
	return 0;
}

static void lock_dealloc(LockObj *s)
{
	PyObject_GC_UnTrack(s);
	pyshmrt_entry_drop(&s->e);
	Py_CLEAR(s->owner);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *lock_repr(LockObj *s)
{
	const char *t = Py_TYPE(s)->tp_name;
	if (s->backend != B_SYNC)
		return PyUnicode_FromFormat("<shmrt.RLock of %R>", s->owner);
	return PyUnicode_FromFormat("<%s %s>", t, s->e.name);
}

static PyObject *lock_name(LockObj *s, void *c)
{
	(void)c;
	return PyUnicode_FromString(s->e.name);
}

/* _handle() -> ("lock", name, (recursive,)): what a pickle for a spawned child
 * carries (see shmrt/__init__.py). */
static PyObject *lock_handle(LockObj *s, PyObject *noargs)
{
	(void)noargs;
	if (s->backend != B_SYNC) {
		PyErr_SetString(PyExc_RuntimeError,
				"a Value's or Array's own lock travels with it: pass the Value "
				"or Array to the child, and call get_lock() there");
		return NULL;
	}
	return Py_BuildValue("(ss(i))", "lock", s->e.name, s->recursive);
}

static PyObject *lock_attach(PyTypeObject *type, PyObject *args)
{
	const char *name;
	int recursive;
	if (!PyArg_ParseTuple(args, "si:_attach", &name, &recursive))
		return NULL;
	shmrt_region_t *r = pyshmrt_tree();
	if (!r)
		return NULL;
	LockObj *s = (LockObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	s->backend = B_SYNC;
	s->recursive = recursive;
	snprintf(s->e.name, sizeof(s->e.name), "%s", name);
	int rc = shmrt_lock_open(r, name, 0, recursive, &s->l);
	if (rc) {
		Py_DECREF(s);
		return pyshmrt_err(rc, "opening a lock");
	}
	return (PyObject *)s;
}

static PyMethodDef lock_methods[] = {
	{ "_handle", (PyCFunction)lock_handle, METH_NOARGS, "What a pickle carries." },
	{ "_attach", (PyCFunction)lock_attach, METH_VARARGS | METH_CLASS,
	  "Opens an existing lock by its handle." },
	{ "acquire", (PyCFunction)(void (*)(void))pyshmrt_lock_acquire, METH_VARARGS | METH_KEYWORDS,
	  "acquire(block=True, timeout=None) -> bool. Warns OwnerDiedWarning when the "
	  "previous holder died holding it." },
	{ "release", (PyCFunction)pyshmrt_lock_release, METH_NOARGS, "Releases the lock (holder only)." },
	{ "__enter__", (PyCFunction)pyshmrt_lock_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)pyshmrt_lock_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef lock_getset[] = {
	{ "_name", (getter)lock_name, NULL, "the name in the process-tree region", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject pyshmrt_LockType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt.Lock",
	.tp_basicsize = sizeof(LockObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_traverse = (traverseproc)lock_traverse,
	.tp_clear = (inquiry)lock_clear,
	.tp_doc = "Lock(): a robust process-shared lock (multiprocessing.Lock).",
	.tp_new = Lock_new,
	.tp_dealloc = (destructor)lock_dealloc,
	.tp_repr = (reprfunc)lock_repr,
	.tp_methods = lock_methods,
	.tp_getset = lock_getset,
};

PyTypeObject pyshmrt_RLockType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt.RLock",
	.tp_basicsize = sizeof(LockObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_traverse = (traverseproc)lock_traverse,
	.tp_clear = (inquiry)lock_clear,
	.tp_doc = "RLock(): a robust process-shared recursive lock (multiprocessing.RLock).",
	.tp_new = RLock_new,
	.tp_dealloc = (destructor)lock_dealloc,
	.tp_repr = (reprfunc)lock_repr,
	.tp_methods = lock_methods,
	.tp_getset = lock_getset,
};
