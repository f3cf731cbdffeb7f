/*
 * shmrt._shmrt._Queue: the byte transport under shmrt.Queue, JoinableQueue and
 * SimpleQueue (shmrt/queues.py does the pickling, the local buffer and the
 * multiprocessing-compatible surface).
 *
 * A _Queue is a shmrt queue (include/shmrt/queue.h) in the process-tree region, of
 * QCAP slots of up to QMAX bytes each, and for a bounded queue (maxsize > 0) a shmrt
 * semaphore of maxsize permits that a put takes and a get gives back, so that
 * full() and queue.Full are exact at maxsize (the ring's capacity is a power of two).
 *
 * A message is a list of parts (the pickle's bytes, then its out-of-band buffers for
 * protocol 5) and a kind byte ('b' put_bytes, 'p' a pickle). In its slot it is:
 *
 *   'b' or 'p', then the one part's bytes            one part that fits the slot
 *   'i', 7 bytes of padding, then LAYOUT              several parts that fit
 *   's', 7 bytes of padding, u64 offset, u64 size     anything larger: LAYOUT spilled
 *                                                      to a block of the region
 *   LAYOUT = u32 nparts, u32 kind, u64 len[nparts], the parts' bytes one after another
 *
 * So any message fits, whatever its size (up to what the region can allocate): a
 * large one is copied once into a block allocated from the region (shmrt_alloc), and
 * the consumer copies each part once out of it into a new bytes (the pickle) or
 * bytearray (a buffer: numpy rebuilds its array on it without a further copy), then
 * frees the block. The slot itself is written in place (reserve/commit) and read in
 * place (peek/release): no intermediate buffer.
 *
 * Crashes. A producer killed before it commits leaves a hole that consumers skip
 * (queue.h); if it had spilled, its block is lost to the region (freed with the
 * process tree). A consumer killed after its peek loses that message (at-most-once,
 * as multiprocessing) and its block too. A bounded queue's permit taken by a producer
 * killed before its commit is lost (as with multiprocessing's semaphore).
 *
 * End of file: every process holding the queue is one of its producers (the creator,
 * each forked child (queues.py marks it after fork), each process that unpickles
 * it) until it closes it or ends. A get that finds the queue drained once no
 * producer is left raises EOFError instead of waiting forever. The holder calling
 * get counts too: a parent that created the queue waits as multiprocessing's would,
 * unless it said it will put no more (close_producer(): close() without the
 * multiprocessing meaning of forbidding gets).
 */
#include "pyshmrt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define QCAP 1024u   /* slots of an unbounded queue (a bounded one: >= maxsize) */
#define QMAX 1000u   /* bytes per slot */
#define QMAXPARTS 65536u

typedef struct {
	PyObject_HEAD
	pyshmrt_entry_t e, se; /* the queue, the bounded queue's semaphore */
	shmrt_queue_t q;
	shmrt_sem_t sem;
	long maxsize;          /* <= 0: unbounded */
	int joinable;
} QueueObj;

struct op {
	QueueObj *s;
	shmrt_queue_res_t res;
	shmrt_queue_peek_t pk;
	int step; /* put: 0 the permit, 1 the slot */
};

static int put_try(void *ctx, shmrt_ns_t t)
{
	struct op *o = ctx;
	int rc;
	if (o->step == 0 && o->s->maxsize > 0) {
		rc = shmrt_sem_acquire(&o->s->sem, t);
		if (rc)
			return rc;
		o->step = 1;
		t = 0; /* the slot, now: a permit means room, apart from holes */
	}
	o->step = 1;
	rc = shmrt_queue_reserve(&o->s->q, &o->res, t);
	return rc == -EAGAIN && t == 0 && o->s->maxsize > 0 ? -ETIMEDOUT : rc;
}

static int get_try(void *ctx, shmrt_ns_t t)
{
	struct op *o = ctx;
	return shmrt_queue_peek(&o->s->q, &o->pk, t);
}

static PyObject *queue_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "maxsize", "joinable", NULL };
	long maxsize = 0;
	int joinable = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|lp:_Queue", kwl, &maxsize, &joinable))
		return NULL;
	if (maxsize > (1l << 24)) {
		PyErr_SetString(PyExc_ValueError, "maxsize over 2**24");
		return NULL;
	}
	QueueObj *s = (QueueObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	s->maxsize = maxsize;
	s->joinable = joinable;
	if (pyshmrt_entry_new(&s->e, "queue")) {
		Py_DECREF(s);
		return NULL;
	}
	uint32_t cap = maxsize > 0 ? (uint32_t)maxsize : QCAP;
	int fl = SHMRT_O_CREATE | SHMRT_O_EXCL;
	int rc = joinable ? shmrt_joinable_queue_open(pyshmrt_tree(), s->e.name, fl, cap, QMAX, &s->q)
			  : shmrt_queue_open(pyshmrt_tree(), s->e.name, fl, cap, QMAX, &s->q);
	if (rc) {
		s->e.creator = 0;
		Py_DECREF(s);
		return pyshmrt_err(rc, "creating a queue");
	}
	if (maxsize > 0) {
		if (pyshmrt_entry_new(&s->se, "qsem")) {
			Py_DECREF(s);
			return NULL;
		}
		rc = shmrt_sem_open(pyshmrt_tree(), s->se.name, fl, (uint32_t)maxsize, 0, &s->sem);
		if (rc) {
			s->se.creator = 0;
			Py_DECREF(s);
			return pyshmrt_err(rc, "creating a queue's semaphore");
		}
	}
	(void)shmrt_queue_producer(&s->q);
	return (PyObject *)s;
}

static void queue_dealloc(QueueObj *s)
{
	if (s->q.shm)
		(void)shmrt_queue_producer_done(&s->q);
	pyshmrt_entry_drop(&s->e);
	pyshmrt_entry_drop(&s->se);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *queue_handle(QueueObj *s, PyObject *noargs)
{
	(void)noargs;
	return Py_BuildValue("(ss(sli))", "queue", s->e.name, s->se.name, s->maxsize, s->joinable);
}

static PyObject *queue_attach(PyTypeObject *type, PyObject *args)
{
	const char *name, *sname;
	long maxsize;
	int joinable;
	if (!PyArg_ParseTuple(args, "ssli:_attach", &name, &sname, &maxsize, &joinable))
		return NULL;
	shmrt_region_t *r = pyshmrt_tree();
	if (!r)
		return NULL;
	QueueObj *s = (QueueObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	snprintf(s->e.name, sizeof(s->e.name), "%s", name);
	snprintf(s->se.name, sizeof(s->se.name), "%s", sname);
	s->maxsize = maxsize;
	s->joinable = joinable;
	uint32_t cap = maxsize > 0 ? (uint32_t)maxsize : QCAP;
	int rc = joinable ? shmrt_joinable_queue_open(r, name, 0, cap, QMAX, &s->q)
			  : shmrt_queue_open(r, name, 0, cap, QMAX, &s->q);
	if (!rc && maxsize > 0)
		rc = shmrt_sem_open(r, sname, 0, (uint32_t)maxsize, 0, &s->sem);
	if (rc) {
		Py_DECREF(s);
		return pyshmrt_err(rc, "opening a queue");
	}
	(void)shmrt_queue_producer(&s->q);
	return (PyObject *)s;
}

static void layout_write(char *dst, int kind, Py_buffer *v, Py_ssize_t n)
{
	uint32_t hdr[2] = { (uint32_t)n, (uint32_t)kind };
	memcpy(dst, hdr, 8);
	char *d = dst + 8 + 8 * (size_t)n;
	for (Py_ssize_t i = 0; i < n; i++) {
		uint64_t len = (uint64_t)v[i].len;
		memcpy(dst + 8 + 8 * i, &len, 8);
		memcpy(d, v[i].buf, (size_t)v[i].len);
		d += v[i].len;
	}
}

/* _put(kind, parts, timeout) -> bool: False when full at the timeout (queue.Full). */
static PyObject *queue_put(QueueObj *s, PyObject *args)
{
	int kind;
	PyObject *parts;
	double timeout;
	if (!PyArg_ParseTuple(args, "CO!d:_put", &kind, &PyList_Type, &parts, &timeout))
		return NULL;
	Py_ssize_t n = PyList_GET_SIZE(parts);
	if (n < 1 || n > (Py_ssize_t)QMAXPARTS) {
		PyErr_SetString(PyExc_ValueError, "a message has 1 to 65536 parts");
		return NULL;
	}
	Py_buffer *v = PyMem_Calloc((size_t)n, sizeof(Py_buffer));
	if (!v)
		return PyErr_NoMemory();
	PyObject *ret = NULL;
	Py_ssize_t got = 0;
	size_t total = 8 + 8 * (size_t)n;
	for (; got < n; got++) {
		if (PyObject_GetBuffer(PyList_GET_ITEM(parts, got), &v[got], PyBUF_SIMPLE))
			goto out;
		total += (size_t)v[got].len;
	}
	shmrt_off_t off = 0;
	int single = n == 1 && (size_t)v[0].len + 1 <= QMAX;
	int spill = !single && total + 8 > QMAX;
	if (spill) {
		int rc = shmrt_alloc(s->q.region, total, &off);
		if (rc) {
			pyshmrt_err(rc, "allocating a large message");
			goto out;
		}
		/* Copies with the GIL released: the buffers are held by v. */
		Py_BEGIN_ALLOW_THREADS
		layout_write(shmrt_ptr(s->q.region, off), kind, v, n);
		Py_END_ALLOW_THREADS
	}
	struct op o = { .s = s };
	int rc = pyshmrt_sliced(put_try, &o, timeout);
	if (rc) {
		if (o.step == 1 && s->maxsize > 0)
			(void)shmrt_sem_release(&s->sem, 1);
		if (spill)
			(void)shmrt_free(s->q.region, off);
		if (rc == -ETIMEDOUT)
			ret = Py_NewRef(Py_False);
		else if (rc != PYSHMRT_EXC)
			pyshmrt_err(rc, "putting into a queue");
		goto out;
	}
	char *d = o.res.data;
	size_t len;
	if (single) {
		d[0] = (char)kind;
		memcpy(d + 1, v[0].buf, (size_t)v[0].len);
		len = 1 + (size_t)v[0].len;
	} else if (!spill) {
		memset(d, 'i', 8);
		layout_write(d + 8, kind, v, n);
		len = 8 + total;
	} else {
		uint64_t w[2] = { off, total };
		memset(d, 's', 8);
		memcpy(d + 8, w, 16);
		len = 24;
	}
	rc = shmrt_queue_commit(&s->q, &o.res, len);
	if (rc) {
		pyshmrt_err(rc, "committing a queue message");
		goto out;
	}
	ret = Py_NewRef(Py_True);
out:
	for (Py_ssize_t i = 0; i < got; i++)
		PyBuffer_Release(&v[i]);
	PyMem_Free(v);
	return ret;
}

/* Builds (kind, [parts]) from a LAYOUT of size bytes (checked: a block's contents
 * are another process's). */
static PyObject *layout_read(const char *p, size_t size)
{
	uint32_t hdr[2];
	if (size < 8)
		goto bad;
	memcpy(hdr, p, 8);
	size_t n = hdr[0];
	if (n < 1 || n > QMAXPARTS || 8 + 8 * n > size)
		goto bad;
	PyObject *list = PyList_New((Py_ssize_t)n);
	if (!list)
		return NULL;
	size_t at = 8 + 8 * n;
	for (size_t i = 0; i < n; i++) {
		uint64_t len;
		memcpy(&len, p + 8 + 8 * i, 8);
		if (len > size - at) {
			Py_DECREF(list);
			goto bad;
		}
		/* The pickle as bytes; the out-of-band buffers as bytearrays, writable as
		 * the arrays numpy rebuilds on them. */
		PyObject *part = i == 0 ? PyBytes_FromStringAndSize(p + at, (Py_ssize_t)len)
					: PyByteArray_FromStringAndSize(p + at, (Py_ssize_t)len);
		if (!part) {
			Py_DECREF(list);
			return NULL;
		}
		PyList_SET_ITEM(list, (Py_ssize_t)i, part);
		at += len;
	}
	return Py_BuildValue("(CN)", (int)hdr[1], list);
bad:
	PyErr_SetString(PyExc_RuntimeError, "a malformed queue message");
	return NULL;
}

/* _get(timeout) -> (kind, [parts]), or None when empty at the timeout. EOFError at
 * the end of the queue. */
static PyObject *queue_get(QueueObj *s, PyObject *arg)
{
	double timeout = PyFloat_AsDouble(arg);
	if (timeout == -1 && PyErr_Occurred())
		return NULL;
	struct op o = { .s = s };
	int rc = pyshmrt_sliced(get_try, &o, timeout);
	if (rc) {
		if (rc == -ETIMEDOUT)
			Py_RETURN_NONE;
		if (rc == -EPIPE) {
			PyErr_SetString(PyExc_EOFError,
					"the queue is drained and every process that put into "
					"it has closed it or ended");
			return NULL;
		}
		if (rc != PYSHMRT_EXC)
			pyshmrt_err(rc, "getting from a queue");
		return NULL;
	}
	if (s->maxsize > 0)
		(void)shmrt_sem_release(&s->sem, 1);
	const char *d = o.pk.data;
	size_t len = o.pk.len;
	PyObject *ret = NULL;
	shmrt_off_t off = 0;
	uint64_t w[2] = { 0, 0 };
	if (len >= 1 && (d[0] == 'b' || d[0] == 'p')) {
		PyObject *b = PyBytes_FromStringAndSize(d + 1, (Py_ssize_t)len - 1);
		ret = b ? Py_BuildValue("(C[N])", (int)d[0], b) : NULL;
	} else if (len >= 8 && d[0] == 'i') {
		ret = layout_read(d + 8, len - 8);
	} else if (len == 24 && d[0] == 's') {
		memcpy(w, d + 8, 16);
		off = w[0];
	} else {
		PyErr_SetString(PyExc_RuntimeError, "a malformed queue message");
	}
	(void)shmrt_queue_release(&s->q, &o.pk);
	if (off) {
		if (w[1] > shmrt_usable_size(s->q.region, off)) {
			PyErr_SetString(PyExc_RuntimeError, "a malformed queue message");
			return NULL;
		}
		ret = layout_read(shmrt_ptr(s->q.region, off), w[1]);
		(void)shmrt_free(s->q.region, off);
	}
	return ret;
}

static PyObject *queue_qsize(QueueObj *s, PyObject *noargs)
{
	(void)noargs;
	return PyLong_FromUnsignedLong(shmrt_queue_size(&s->q));
}

static PyObject *queue_full(QueueObj *s, PyObject *noargs)
{
	(void)noargs;
	if (s->maxsize > 0)
		return PyBool_FromLong(shmrt_sem_value(&s->sem) == 0);
	return PyBool_FromLong(shmrt_queue_full(&s->q) > 0);
}

static PyObject *queue_producer(QueueObj *s, PyObject *arg)
{
	int on = PyObject_IsTrue(arg);
	if (on < 0)
		return NULL;
	int rc = on ? shmrt_queue_producer(&s->q) : shmrt_queue_producer_done(&s->q);
	if (rc)
		return pyshmrt_err(rc, "marking a queue's producer");
	Py_RETURN_NONE;
}

static PyObject *queue_task_done(QueueObj *s, PyObject *noargs)
{
	(void)noargs;
	int rc = shmrt_queue_task_done(&s->q);
	if (rc == -EOVERFLOW) {
		PyErr_SetString(PyExc_ValueError, "task_done() called too many times");
		return NULL;
	}
	if (rc)
		return pyshmrt_err(rc, "task_done");
	Py_RETURN_NONE;
}

static int join_try(void *ctx, shmrt_ns_t t)
{
	return shmrt_queue_join(&((QueueObj *)ctx)->q, t);
}

static PyObject *queue_join(QueueObj *s, PyObject *arg)
{
	double timeout = PyFloat_AsDouble(arg);
	if (timeout == -1 && PyErr_Occurred())
		return NULL;
	int rc = pyshmrt_sliced(join_try, s, timeout);
	if (rc == -ETIMEDOUT)
		Py_RETURN_FALSE;
	if (rc == PYSHMRT_EXC)
		return NULL;
	if (rc)
		return pyshmrt_err(rc, "joining a queue");
	Py_RETURN_TRUE;
}

static PyMethodDef queue_methods[] = {
	{ "_handle", (PyCFunction)queue_handle, METH_NOARGS, "What a pickle carries." },
	{ "_attach", (PyCFunction)queue_attach, METH_VARARGS | METH_CLASS,
	  "Opens an existing queue by its handle." },
	{ "_put", (PyCFunction)queue_put, METH_VARARGS,
	  "_put(kind, parts, timeout) -> False if still full at the timeout." },
	{ "_get", (PyCFunction)queue_get, METH_O,
	  "_get(timeout) -> (kind, parts), None if still empty; EOFError at the end." },
	{ "_qsize", (PyCFunction)queue_qsize, METH_NOARGS, "Messages in the queue." },
	{ "_full", (PyCFunction)queue_full, METH_NOARGS, "Whether a put would wait." },
	{ "_producer", (PyCFunction)queue_producer, METH_O,
	  "_producer(on): this process is (or is no longer) one of the queue's producers." },
	{ "_task_done", (PyCFunction)queue_task_done, METH_NOARGS, "JoinableQueue.task_done." },
	{ "_join", (PyCFunction)queue_join, METH_O,
	  "_join(timeout) -> False at the timeout; True when every task is done." },
	{ NULL, NULL, 0, NULL },
};

PyTypeObject pyshmrt_QueueType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt._shmrt._Queue",
	.tp_basicsize = sizeof(QueueObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "_Queue(maxsize=0, joinable=False): the byte transport under shmrt.Queue.",
	.tp_new = queue_new,
	.tp_dealloc = (destructor)queue_dealloc,
	.tp_methods = queue_methods,
};
