/*
 * Barrier: multiprocessing's Barrier(parties, action=None, timeout=None) on
 * shmrt_barrier (shmrt/sync.h); registered with the other types in sync.c.
 *
 * A Barrier's wait is one call with the GIL released: it is not interrupted by
 * Ctrl-C (a sliced barrier wait would break the barrier at each slice), and the
 * Barrier takes no action callable. Its creator, and a process that received it
 * (under spawn or forkserver, or through a Queue or a Pool), are members: one that
 * dies while others wait breaks it for them; a member ends its membership when it
 * drops the Barrier or exits normally (shmrt/__init__.py calls _leave at exit). A
 * forked child uses its parent's membership, so it never ends it.
 */
#include "pyshmrt.h"

#include <stddef.h>
#include <unistd.h>

typedef struct {
	PyObject_HEAD
	pyshmrt_entry_t e;
	shmrt_barrier_t b;
	unsigned parties;
	double timeout;
	pid_t member;  /* the process whose membership this handle holds (0: none) */
	PyObject *weaklist;
} BarrierObj;

static PyObject *Barrier_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "parties", "action", "timeout", NULL };
	int parties;
	PyObject *action = Py_None, *timeout = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "i|OO:Barrier", kwl, &parties, &action,
					 &timeout))
		return NULL;
	if (parties < 1) {
		PyErr_SetString(PyExc_ValueError, "parties must be >= 1");
		return NULL;
	}
	if (action != Py_None) {
		PyErr_SetString(PyExc_NotImplementedError,
				"shmrt.Barrier takes no action callable");
		return NULL;
	}
	double t = -1;
	if (timeout != Py_None && pyshmrt_block_timeout(NULL, timeout, &t))
		return NULL;
	BarrierObj *s = (BarrierObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	s->parties = (unsigned)parties;
	s->timeout = t;
	if (pyshmrt_entry_new(&s->e, "barrier")) {
		Py_DECREF(s);
		return NULL;
	}
	int rc = shmrt_barrier_open(pyshmrt_tree(), s->e.name, SHMRT_O_CREATE | SHMRT_O_EXCL,
				    (uint32_t)parties, &s->b);
	if (rc) {
		s->e.creator = 0;
		Py_DECREF(s);
		return pyshmrt_err(rc, "creating a barrier");
	}
	s->member = getpid();
	return (PyObject *)s;
}

static PyObject *broken_error(void)
{
	PyObject *threading = PyImport_ImportModule("threading");
	if (!threading)
		return NULL;
	PyObject *exc = PyObject_GetAttrString(threading, "BrokenBarrierError");
	Py_DECREF(threading);
	if (!exc)
		return NULL;
	PyErr_SetNone(exc);
	Py_DECREF(exc);
	return NULL;
}

static PyObject *barrier_wait(BarrierObj *s, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "timeout", NULL };
	PyObject *timeout = NULL;
	double t = s->timeout;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:wait", kwl, &timeout))
		return NULL;
	if (timeout && timeout != Py_None && pyshmrt_block_timeout(NULL, timeout, &t))
		return NULL;
	shmrt_ns_t ns = t < 0 ? SHMRT_FOREVER : (shmrt_ns_t)(t * 1e9);
	uint32_t idx = 0;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = shmrt_barrier_wait(&s->b, ns, &idx);
	Py_END_ALLOW_THREADS
	if (rc == -EPIPE || rc == -ETIMEDOUT)
		return broken_error();
	if (rc)
		return pyshmrt_err(rc, "waiting at a barrier");
	return PyLong_FromUnsignedLong(idx);
}

static PyObject *barrier_abort(BarrierObj *s, PyObject *noargs)
{
	(void)noargs;
	shmrt_barrier_abort(&s->b);
	Py_RETURN_NONE;
}

static PyObject *barrier_reset(BarrierObj *s, PyObject *noargs)
{
	(void)noargs;
	shmrt_barrier_reset(&s->b);
	Py_RETURN_NONE;
}

static PyObject *barrier_parties(BarrierObj *s, void *c)
{
	(void)c;
	return PyLong_FromUnsignedLong(s->parties);
}

static PyObject *barrier_n_waiting(BarrierObj *s, void *c)
{
	(void)c;
	return PyLong_FromUnsignedLong(shmrt_barrier_n_waiting(&s->b));
}

static PyObject *barrier_broken(BarrierObj *s, void *c)
{
	(void)c;
	return PyBool_FromLong(shmrt_barrier_broken(&s->b) > 0);
}

/* Ends this process's membership: it then no longer counts as a party that died. */
static PyObject *barrier_leave(BarrierObj *s, PyObject *noargs)
{
	(void)noargs;
	/* A forked child's copy holds its parent's membership: not its own to end. */
	if (s->b.shm && s->member == getpid())
		shmrt_barrier_close(&s->b);
	s->member = 0;
	Py_RETURN_NONE;
}

static PyObject *barrier_handle(BarrierObj *s, PyObject *noargs)
{
	(void)noargs;
	return Py_BuildValue("(ss(Id))", "barrier", s->e.name, s->parties, s->timeout);
}

/* Under spawn and forkserver: opens the barrier by name and joins it as a member,
 * so that this process dying while others wait breaks it, as a creator's does. */
static PyObject *barrier_attach(PyTypeObject *type, PyObject *args)
{
	const char *name;
	unsigned parties;
	double timeout;
	if (!PyArg_ParseTuple(args, "sId:_attach", &name, &parties, &timeout))
		return NULL;
	shmrt_region_t *r = pyshmrt_tree();
	if (!r)
		return NULL;
	BarrierObj *s = (BarrierObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	s->parties = parties;
	s->timeout = timeout;
	snprintf(s->e.name, sizeof(s->e.name), "%s", name);
	int rc = shmrt_barrier_open(r, name, 0, parties, &s->b);
	if (rc) {
		Py_DECREF(s);
		return pyshmrt_err(rc, "opening a barrier");
	}
	s->member = getpid();
	return (PyObject *)s;
}

static void barrier_dealloc(BarrierObj *s)
{
	if (s->weaklist)
		PyObject_ClearWeakRefs((PyObject *)s);
	if (s->b.shm && s->member == getpid())
		shmrt_barrier_close(&s->b);
	pyshmrt_entry_drop(&s->e);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyMethodDef barrier_methods[] = {
	{ "wait", (PyCFunction)(void (*)(void))barrier_wait, METH_VARARGS | METH_KEYWORDS,
	  "wait(timeout=None) -> index in [0, parties); BrokenBarrierError when broken." },
	{ "abort", (PyCFunction)barrier_abort, METH_NOARGS, "Breaks the barrier." },
	{ "reset", (PyCFunction)barrier_reset, METH_NOARGS, "Back to the empty state." },
	{ "_leave", (PyCFunction)barrier_leave, METH_NOARGS,
	  "Ends this process's membership (at exit, so that a normal exit is no death)." },
	{ "_handle", (PyCFunction)barrier_handle, METH_NOARGS, "What a pickle carries." },
	{ "_attach", (PyCFunction)barrier_attach, METH_VARARGS | METH_CLASS,
	  "_attach(name, parties, timeout): the barrier of that name in the tree." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef barrier_getset[] = {
	{ "parties", (getter)barrier_parties, NULL, "parties needed", NULL },
	{ "n_waiting", (getter)barrier_n_waiting, NULL, "parties waiting now", NULL },
	{ "broken", (getter)barrier_broken, NULL, "whether the barrier is broken", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject pyshmrt_BarrierType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt.Barrier",
	.tp_basicsize = sizeof(BarrierObj),
	.tp_weaklistoffset = offsetof(BarrierObj, weaklist),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Barrier(parties, action=None, timeout=None): a process-shared barrier; "
		  "a party that dies breaks it.",
	.tp_new = Barrier_new,
	.tp_dealloc = (destructor)barrier_dealloc,
	.tp_methods = barrier_methods,
	.tp_getset = barrier_getset,
};
