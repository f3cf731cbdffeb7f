/*
 * shmrt._shmrt._Queue's fast methods. shmrt.Queue (queues.py) binds put, put_bytes,
 * get and get_bytes of its _Queue as attributes of each instance, so that
 * q.put_bytes(b) or q.get() is one call into C, with no Python frame between: at a
 * few hundred nanoseconds a message, the frames, the lock and the argument tuples of
 * the Python methods were half of the cost. They do what queues.py's methods do, and
 * hand the cases that need its state to it (owner._put): a closed queue, a put while
 * this process's local buffer holds messages (it must queue behind them), and an
 * unbounded queue's put that finds the ring still full after FULL_WAIT. The buffer is
 * checked under the GIL, and the feeder thread commits a message to the ring before
 * it takes it off the buffer, so a thread's messages never overtake those it
 * buffered. The owner is held weakly: a bound method kept after the Queue is gone
 * puts straight into the ring (waiting for room).
 */
#include "pyqueue.h"

/* An unbounded queue whose ring is full waits this long (seconds) for room before it
 * puts into the local buffer: a consumer that keeps up frees a slot within a get
 * (about 100 ns), and a producer that outruns it then goes at its pace instead of
 * filling the buffer, whose feeder thread moves a message in microseconds. A
 * consumer that is away costs this once per filling of the buffer (puts behind a
 * non-empty buffer go to it at once). */
#define FULL_WAIT 50e-6

static PyObject *pickle_dumps, *pickle_loads, *queue_empty, *queue_full_exc;
static PyObject *str_append, *kw_buffer_callback, *kw_buffers, *int_five;
static PyTypeObject *deque_type;

static int fast_init(void)
{
	if (pickle_loads)
		return 0;
	PyObject *pk = PyImport_ImportModule("pickle"), *qm = NULL, *cm = NULL;
	if (!pk || !(qm = PyImport_ImportModule("queue")) ||
	    !(cm = PyImport_ImportModule("collections")))
		goto fail;
	if (!deque_type && !(deque_type = (PyTypeObject *)PyObject_GetAttrString(cm, "deque")))
		goto fail;
	if (!(pickle_dumps = PyObject_GetAttrString(pk, "dumps")) ||
	    !(queue_empty = PyObject_GetAttrString(qm, "Empty")) ||
	    !(queue_full_exc = PyObject_GetAttrString(qm, "Full")) ||
	    !(str_append = PyUnicode_InternFromString("append")) ||
	    !(kw_buffer_callback = Py_BuildValue("(s)", "buffer_callback")) ||
	    !(kw_buffers = Py_BuildValue("(s)", "buffers")) || !(int_five = PyLong_FromLong(5)) ||
	    !(pickle_loads = PyObject_GetAttrString(pk, "loads")))
		goto fail;
	Py_DECREF(pk);
	Py_DECREF(qm);
	Py_DECREF(cm);
	return 0;
fail:
	Py_XDECREF(pk);
	Py_XDECREF(qm);
	Py_XDECREF(cm);
	return -1;
}

/* Parses [first positional arguments,] block=True, timeout=None into *t as queues.py's
 * _timeout does: < 0 forever, 0 once; ValueError for a negative timeout. */
static int parse_bt(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, Py_ssize_t npos,
		    const char *fname, PyObject **block, PyObject **timeout, double *t)
{
	*block = Py_True;
	*timeout = Py_None;
	if (nargs < npos || nargs > npos + 2) {
		PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd positional arguments", fname,
			     npos, npos + 2);
		return -1;
	}
	if (nargs > npos)
		*block = args[npos];
	if (nargs > npos + 1)
		*timeout = args[npos + 1];
	Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	for (Py_ssize_t i = 0; i < nk; i++) {
		PyObject *k = PyTuple_GET_ITEM(kwnames, i);
		if (nargs <= npos && !PyUnicode_CompareWithASCIIString(k, "block"))
			*block = args[nargs + i];
		else if (nargs <= npos + 1 && !PyUnicode_CompareWithASCIIString(k, "timeout"))
			*timeout = args[nargs + i];
		else {
			PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R",
				     fname, k);
			return -1;
		}
	}
	int b = PyObject_IsTrue(*block);
	if (b < 0)
		return -1;
	if (!b) {
		*t = 0;
		return 0;
	}
	if (*timeout == Py_None) {
		*t = -1;
		return 0;
	}
	*t = PyFloat_AsDouble(*timeout);
	if (*t == -1 && PyErr_Occurred())
		return -1;
	if (*t != *t) {
		PyErr_SetString(PyExc_ValueError, "Invalid value NaN (not a number)");
		return -1;
	}
	if (*t < 0)
		*t = 0; /* a deadline already passed: one try, as multiprocessing.Queue */
	return 0;
}

/* Puts parts[0..n) of kind as queues.py's Queue._put would: None, or NULL with a
 * Python error (queue.Full at a bounded queue's timeout). */
static PyObject *fast_put(QueueObj *s, int kind, PyObject *const *parts, Py_ssize_t n,
			  PyObject *block, PyObject *timeout, double t)
{
	PyObject *owner = s->owner ? PyWeakref_GetObject(s->owner) : Py_None;
	int direct = owner == Py_None || (s->open && (!s->buffer || Py_SIZE(s->buffer) == 0));
	if (direct) {
		/* An unbounded queue's full ring: room for a while, FULL_WAIT (below). */
		double tt = s->maxsize > 0 || owner == Py_None ? t
			    : t < 0 || t > FULL_WAIT ? FULL_WAIT : t;
		int r = pyshmrt_queue_put_parts(s, kind, parts, n, tt);
		if (r > 0)
			Py_RETURN_NONE;
		if (r < 0)
			return NULL;
		if (s->maxsize > 0 || owner == Py_None) {
			PyErr_SetNone(queue_full_exc);
			return NULL;
		}
	}
	/* Closed, or behind the local buffer, or an unbounded queue's ring is full. */
	PyObject *list = PyList_New(n);
	if (!list)
		return NULL;
	for (Py_ssize_t i = 0; i < n; i++)
		PyList_SET_ITEM(list, i, Py_NewRef(parts[i]));
	Py_INCREF(owner);
	PyObject *r = PyObject_CallMethod(owner, "_put", "COOO", kind, list, block, timeout);
	Py_DECREF(owner);
	Py_DECREF(list);
	return r;
}

/* put_bytes(data, block=True, timeout=None). */
PyObject *pyshmrt_queue_fput_bytes(QueueObj *s, PyObject *const *args, Py_ssize_t nargs,
				  PyObject *kwnames)
{
	PyObject *block, *timeout;
	double t;
	if (parse_bt(args, nargs, kwnames, 1, "put_bytes", &block, &timeout, &t) ||
	    (!queue_full_exc && fast_init()))
		return NULL;
	return fast_put(s, 'b', args, 1, block, timeout, t);
}

/* put(obj, block=True, timeout=None): pickled with protocol 5, out-of-band buffers
 * as further parts. */
PyObject *pyshmrt_queue_fput(QueueObj *s, PyObject *const *args, Py_ssize_t nargs,
			    PyObject *kwnames)
{
	PyObject *block, *timeout;
	double t;
	if (parse_bt(args, nargs, kwnames, 1, "put", &block, &timeout, &t) ||
	    (!pickle_dumps && fast_init()))
		return NULL;
	PyObject *bufs = PyList_New(0), *cb = NULL, *data = NULL, *ret = NULL, **parts = NULL;
	if (!bufs || !(cb = PyObject_GetAttr(bufs, str_append)))
		goto out;
	PyObject *dargs[3] = { args[0], int_five, cb };
	if (!(data = PyObject_Vectorcall(pickle_dumps, dargs, 2, kw_buffer_callback)))
		goto out;
	Py_ssize_t nb = PyList_GET_SIZE(bufs);
	if (nb == 0) {
		ret = fast_put(s, 'p', &data, 1, block, timeout, t);
		goto out;
	}
	if (!(parts = PyMem_Malloc((size_t)(nb + 1) * sizeof(PyObject *)))) {
		PyErr_NoMemory();
		goto out;
	}
	parts[0] = data;
	for (Py_ssize_t i = 0; i < nb; i++)
		parts[i + 1] = PyList_GET_ITEM(bufs, i); /* held by bufs */
	ret = fast_put(s, 'p', parts, nb + 1, block, timeout, t);
out:
	PyMem_Free(parts);
	Py_XDECREF(data);
	Py_XDECREF(cb);
	Py_XDECREF(bufs);
	return ret;
}

/* The next message as pyshmrt_queue_take() gives it, queue.Empty at the timeout. */
static PyObject *fast_take(QueueObj *s, PyObject *const *args, Py_ssize_t nargs,
			   PyObject *kwnames, const char *fname, int *kind)
{
	PyObject *block, *timeout;
	double t;
	if (parse_bt(args, nargs, kwnames, 0, fname, &block, &timeout, &t) ||
	    (!pickle_loads && fast_init()))
		return NULL;
	PyObject *r = pyshmrt_queue_take(s, t, kind);
	if (r == Py_None) {
		Py_DECREF(r);
		PyErr_SetNone(queue_empty);
		return NULL;
	}
	return r;
}

/* get(block=True, timeout=None). */
PyObject *pyshmrt_queue_fget(QueueObj *s, PyObject *const *args, Py_ssize_t nargs,
			    PyObject *kwnames)
{
	int kind = 0;
	PyObject *r = fast_take(s, args, nargs, kwnames, "get", &kind);
	if (!r)
		return NULL;
	PyObject *ret;
	if (PyBytes_CheckExact(r)) {
		if (kind == 'b')
			return r;
		ret = PyObject_CallOneArg(pickle_loads, r);
	} else if (kind == 'b') {
		ret = Py_NewRef(PyList_GET_ITEM(r, 0));
	} else {
		PyObject *rest = PyList_GetSlice(r, 1, PyList_GET_SIZE(r));
		PyObject *largs[2] = { PyList_GET_ITEM(r, 0), rest };
		ret = rest ? PyObject_Vectorcall(pickle_loads, largs, 1, kw_buffers) : NULL;
		Py_XDECREF(rest);
	}
	Py_DECREF(r);
	return ret;
}

/* get_bytes(block=True, timeout=None): what put_bytes() put, or the pickle of what
 * put() put (TypeError if that pickle has out-of-band buffers). */
PyObject *pyshmrt_queue_fget_bytes(QueueObj *s, PyObject *const *args, Py_ssize_t nargs,
				  PyObject *kwnames)
{
	int kind = 0;
	PyObject *r = fast_take(s, args, nargs, kwnames, "get_bytes", &kind);
	if (!r || PyBytes_CheckExact(r))
		return r;
	PyObject *ret = NULL;
	if (PyList_GET_SIZE(r) == 1)
		ret = Py_NewRef(PyList_GET_ITEM(r, 0));
	else
		PyErr_SetString(PyExc_TypeError,
				"the message is a pickle with out-of-band buffers, not bytes");
	Py_DECREF(r);
	return ret;
}

/* _bind(owner, buffer, open): the shmrt.Queue the fast methods serve, its local
 * buffer, and whether it may put. */
PyObject *pyshmrt_queue_bind(QueueObj *s, PyObject *args)
{
	PyObject *owner, *buffer;
	int open;
	if (!PyArg_ParseTuple(args, "OOp:_bind", &owner, &buffer, &open))
		return NULL;
	if (fast_init())
		return NULL;
	/* A deque: its length is its Py_SIZE, which fast_put reads. */
	if (!PyObject_TypeCheck(buffer, deque_type)) {
		PyErr_SetString(PyExc_TypeError, "_bind: buffer must be a deque");
		return NULL;
	}
	PyObject *wr = PyWeakref_NewRef(owner, NULL);
	if (!wr)
		return NULL;
	Py_XSETREF(s->owner, wr);
	Py_XSETREF(s->buffer, Py_NewRef(buffer));
	s->open = open;
	Py_RETURN_NONE;
}

