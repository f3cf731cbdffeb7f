/*
 * shmrt._shmrt: the module, its errors, the process-tree region and the naming of
 * objects in it.
 *
 * The process-tree region. Python's Value(), Array(), Lock() ... take no name: their
 * objects must be shared by the process that makes them and the children it forks,
 * and by nobody else. They live in one anonymous region (shmrt_region_open with a
 * NULL name: a memfd), created by the first object a process makes and kept open
 * until the process ends. fork() copies the handle, and shmrt's own fork handler
 * gives the child a registry slot in it; so a child inherits every object, and the
 * objects it makes itself land in the same region, where its parent can see them.
 * The kernel frees the memfd with the last process that has it mapped: nothing is
 * left in /dev/shm, whatever killed whom.
 *
 * Names. Each object has a directory entry "py.<kind>.<n>"; n comes from a 64-bit
 * counter kept in the region itself ("py.seq", fetch-and-add), so the parent and
 * its children never pick the same name. An entry is removed when the Python object
 * that created it is freed, if the process has not forked since (else a child may
 * still use it; it then lives as long as the region).
 *
 * Waiting. Every blocking call waits in slices of at most 50 ms with the GIL released
 * (pyshmrt_sliced), and runs the signal handlers between slices: Ctrl-C ends a
 * blocked acquire promptly, as it does in multiprocessing.
 */
#include "pyshmrt.h"
#include "pymgr.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

PyObject *pyshmrt_OwnerDiedWarning;
PyObject *pyshmrt_TornError;

static shmrt_region_t *tree;
static shmrt_value_t tree_seq;
static uint64_t fork_count;

PyObject *pyshmrt_err(int rc, const char *what)
{
	int e = rc < 0 ? -rc : rc;
	const char *msg = shmrt_strerror(rc);
	switch (e) {
	case ENOMEM:
		return PyErr_NoMemory();
	case EINVAL:
		PyErr_Format(PyExc_ValueError, "%s: %s", what, msg);
		return NULL;
	case EUCLEAN:
		PyErr_Format(pyshmrt_TornError, "%s: %s", what, msg);
		return NULL;
	default:
		break;
	}
	char buf[512];
	snprintf(buf, sizeof(buf), "%s: %s", what, msg);
	/* OSError(errno, text) picks the subclass for the errno (FileExistsError ...). */
	PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is", e, buf);
	if (exc) {
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
		Py_DECREF(exc);
	}
	return NULL;
}

shmrt_region_t *pyshmrt_tree(void)
{
	if (tree)
		return tree;
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.max_objects = 16384;
	o.max_procs = 256;
	shmrt_region_t *r;
	int rc = shmrt_region_open(NULL, SHMRT_O_CREATE, &o, &r);
	if (rc) {
		pyshmrt_err(rc, "creating the process tree's region");
		return NULL;
	}
	rc = shmrt_value_open(r, "py.seq", SHMRT_O_CREATE, SHMRT_VT_UINT64, NULL, &tree_seq);
	if (rc) {
		shmrt_region_close(r);
		pyshmrt_err(rc, "creating the process tree's name counter");
		return NULL;
	}
	tree = r;
	return tree;
}

uint64_t pyshmrt_forks(void)
{
	return fork_count;
}

int pyshmrt_entry_new(pyshmrt_entry_t *e, const char *kind)
{
	if (!pyshmrt_tree())
		return -1;
	uint64_t n = 0;
	(void)shmrt_value_fetch_add_u64(&tree_seq, 1, &n);
	snprintf(e->name, sizeof(e->name), "py.%s.%llu", kind, (unsigned long long)n);
	e->creator = getpid();
	e->forks = fork_count;
	return 0;
}

void pyshmrt_entry_drop(pyshmrt_entry_t *e)
{
	if (!tree || !e->creator || e->creator != getpid() || e->forks != fork_count)
		return;
	(void)shmrt_object_remove(tree, e->name);
	e->creator = 0;
}

int pyshmrt_lock_arg(PyObject *lock, PyObject **out)
{
	*out = NULL;
	if (lock == Py_True || lock == Py_None)
		return 0;
	if (!PyObject_HasAttrString(lock, "acquire") || !PyObject_HasAttrString(lock, "release")) {
		PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute 'acquire'",
			     Py_TYPE(lock)->tp_name);
		return -1;
	}
	*out = Py_NewRef(lock);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int pyshmrt_sliced(int (*fn)(void *ctx, shmrt_ns_t slice), void *ctx, double timeout)
{
	int rc = fn(ctx, 0);
	if ((rc != -EAGAIN && rc != -ETIMEDOUT) || timeout == 0)
		return rc == -EAGAIN ? -ETIMEDOUT : rc;
	double deadline = timeout < 0 ? 0 : now_s() + timeout;
	for (;;) {
		shmrt_ns_t slice = 50 * 1000 * 1000;
		if (timeout >= 0) {
			double left = deadline - now_s();
			if (left <= 0)
				return -ETIMEDOUT;
			if (left * 1e9 < (double)slice)
				slice = (shmrt_ns_t)(left * 1e9) + 1;
		}
		Py_BEGIN_ALLOW_THREADS
		rc = fn(ctx, slice);
		Py_END_ALLOW_THREADS
		if (rc != -EAGAIN && rc != -ETIMEDOUT)
			return rc;
		if (PyErr_CheckSignals())
			return PYSHMRT_EXC;
	}
}

int pyshmrt_block_timeout(PyObject *block, PyObject *timeout, double *out)
{
	int b = block ? PyObject_IsTrue(block) : 1;
	if (b < 0)
		return -1;
	if (!b) {
		*out = 0;
		return 0;
	}
	if (!timeout || timeout == Py_None) {
		*out = -1;
		return 0;
	}
	double t = PyFloat_AsDouble(timeout);
	if (t == -1 && PyErr_Occurred())
		return -1;
	if (t != t) { /* NaN: threading.Lock's error, not a wait without end */
		PyErr_SetString(PyExc_ValueError, "Invalid value NaN (not a number)");
		return -1;
	}
	*out = t < 0 ? 0 : t;
	return 0;
}

PyObject *pyshmrt_call_lock(PyObject *lock, const char *meth, PyObject *args, PyObject *kw)
{
	PyObject *f = PyObject_GetAttrString(lock, meth);
	if (!f)
		return NULL;
	PyObject *empty = NULL;
	if (!args) {
		empty = PyTuple_New(0);
		if (!empty) {
			Py_DECREF(f);
			return NULL;
		}
		args = empty;
	}
	PyObject *r = PyObject_Call(f, args, kw);
	Py_XDECREF(empty);
	Py_DECREF(f);
	return r;
}

/* _note_fork(): called by os.register_at_fork(before=...) in __init__.py. */
static PyObject *note_fork(PyObject *self, PyObject *noargs)
{
	(void)self;
	(void)noargs;
	fork_count++;
	Py_RETURN_NONE;
}

/* _tree_info(): (fd, inode, objects) of the process-tree region, or None before use;
 * for tests and for passing the region to spawned children. */
static PyObject *tree_info(PyObject *self, PyObject *noargs)
{
	(void)self;
	(void)noargs;
	if (!tree)
		Py_RETURN_NONE;
	shmrt_region_stats_t st;
	if (shmrt_region_stats(tree, &st))
		return pyshmrt_err(-EINVAL, "region stats");
	return Py_BuildValue("(iI)", shmrt_region_fd(tree), st.objects);
}

/* _tree_adopt(fd): makes the region behind fd this process's tree region (a spawned
 * child receiving its parent's). Returns True if adopted, False if a tree region
 * was already open here (the caller then checks it is the same). */
static PyObject *tree_adopt(PyObject *self, PyObject *arg)
{
	(void)self;
	int fd = PyLong_AsLong(arg);
	if (fd == -1 && PyErr_Occurred())
		return NULL;
	if (tree)
		Py_RETURN_FALSE;
	shmrt_region_t *r;
	int rc = shmrt_region_open_fd(fd, &r);
	if (rc)
		return pyshmrt_err(rc, "opening the parent's region");
	rc = shmrt_value_open(r, "py.seq", 0, SHMRT_VT_UINT64, NULL, &tree_seq);
	if (rc) {
		shmrt_region_close(r);
		return pyshmrt_err(rc, "opening the parent's name counter");
	}
	tree = r;
	Py_RETURN_TRUE;
}

static PyMethodDef module_methods[] = {
	{ "_note_fork", note_fork, METH_NOARGS, "Counts a fork (os.register_at_fork)." },
	{ "_tree_info", tree_info, METH_NOARGS,
	  "(fd, objects) of the process-tree region, or None before first use." },
	{ "_tree_adopt", tree_adopt, METH_O,
	  "Adopts the region behind a descriptor as the process-tree region." },
	{ "_pipe_pair", pyshmrt_pipe_pair, METH_NOARGS,
	  "Creates a pipe pair in the process-tree region: (end0, end1)." },
	{ "_unlink_segment", pyshmrt_unlink_segment, METH_O,
	  "Removes a shared memory segment's name." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef moduledef = {
	PyModuleDef_HEAD_INIT, "shmrt._shmrt",
	"shmrt's shared objects for Python: the C extension (use the shmrt package).", -1,
	module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__shmrt(void)
{
	PyObject *m = PyModule_Create(&moduledef);
	if (!m)
		return NULL;
	pyshmrt_OwnerDiedWarning = PyErr_NewExceptionWithDoc(
		"shmrt.OwnerDiedWarning",
		"A lock was acquired whose previous holder died holding it: what it "
		"protects may be half-updated.",
		PyExc_RuntimeWarning, NULL);
	pyshmrt_TornError = PyErr_NewExceptionWithDoc(
		"shmrt.TornError",
		"A part of an Array was left half-written by a writer that died; "
		"rewrite it, or call repair() once its contents are restored.",
		PyExc_RuntimeError, NULL);
	if (!pyshmrt_OwnerDiedWarning || !pyshmrt_TornError ||
	    PyModule_AddObjectRef(m, "OwnerDiedWarning", pyshmrt_OwnerDiedWarning) ||
	    PyModule_AddObjectRef(m, "TornError", pyshmrt_TornError) ||
	    pyshmrt_sync_ready(m) || pyshmrt_value_ready(m) || pyshmrt_array_ready(m) ||
	    pyshmrt_transport_ready(m) || pyshmrt_mgr_ready(m)) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
