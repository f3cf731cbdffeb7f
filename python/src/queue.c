/*
 * shmrt._shmrt._Queue: the byte transport under shmrt.Queue, JoinableQueue and
 * SimpleQueue (shmrt/queues.py does the local buffer and the multiprocessing-
 * compatible surface; queue_fast.c the per-message methods it binds: put, put_bytes,
 * get, get_bytes, with the pickling).
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
#include "pyqueue.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define QCAP 1024u   /* slots of an unbounded queue (a bounded one: >= maxsize) */
#define QMAX 1000u   /* bytes per slot */
#define QMAXPARTS 65536u


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

/*
 * Large messages' blocks. The allocator gives a large extent's pages back to the
 * system when it is freed (alloc/extent.c), so a block allocated afresh for each
 * message faults every page in again: for a 4 MiB array the put took 3.4 ms, of
 * which 1 ms was the copy. So a consumer keeps the blocks it emptied in the queue's
 * spare table, NSPARE words in a small block of the region (each 0 or a block's
 * offset; the table's offset is in the Value "py.qspare.<n>", set before the queue is
 * shared), and a producer takes a block from it when one fits (not more than twice
 * the size plus 64 KiB, so that a small message does not hold a huge block). The
 * words are exchanged and compared-and-swapped (seq_cst: what the consumer read out
 * of a block is done before a producer that takes it writes it). A full table frees
 * the block it replaces, so at most NSPARE blocks per queue are held; a process
 * that dies holding one loses it to the region, as any block of a message in flight.
 * NSPARE covers a producer that runs a few messages ahead of its consumer.
 */
#define NSPARE 4

static int block_fits(QueueObj *s, shmrt_off_t off, size_t size)
{
	size_t have = shmrt_usable_size(s->q.region, off);
	return have >= size && have <= 2 * size + (64u << 10);
}

static void block_free(QueueObj *s, shmrt_off_t off)
{
	for (int i = 0; s->spares && i < NSPARE; i++) {
		uint64_t zero = 0;
		if (__atomic_compare_exchange_n(&s->spares[i], &zero, off, false,
						__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			return;
	}
	if (s->spares) /* full: keep the newest */
		off = __atomic_exchange_n(&s->spares[0], off, __ATOMIC_SEQ_CST);
	if (off)
		(void)shmrt_free(s->q.region, off);
}

static int block_alloc(QueueObj *s, size_t size, shmrt_off_t *off)
{
	shmrt_off_t misfit[NSPARE];
	int nm = 0, found = 0;
	for (int i = 0; s->spares && i < NSPARE && !found; i++) {
		/* Relaxed look first: an empty word costs no write. */
		if (!__atomic_load_n(&s->spares[i], __ATOMIC_RELAXED))
			continue;
		shmrt_off_t x = __atomic_exchange_n(&s->spares[i], 0, __ATOMIC_SEQ_CST);
		if (x && block_fits(s, x, size)) {
			*off = x;
			found = 1;
		} else if (x) {
			misfit[nm++] = x;
		}
	}
	while (nm)
		block_free(s, misfit[--nm]);
	return found ? 0 : shmrt_alloc(s->q.region, size, off);
}

/* The spare table: created (create) or found through the Value. 0, or -errno. */
static int spares_open(QueueObj *s, int create)
{
	shmrt_scalar_t x = { .u64 = 0 };
	if (create) {
		shmrt_off_t t;
		int rc = shmrt_alloc(s->q.region, NSPARE * sizeof(uint64_t), &t);
		if (rc)
			return rc;
		memset(shmrt_ptr(s->q.region, t), 0, NSPARE * sizeof(uint64_t));
		x.u64 = t;
		rc = shmrt_value_store(&s->spare, x); /* seq_cst: the zeroes first */
		if (rc) {
			(void)shmrt_free(s->q.region, t);
			return rc;
		}
	} else if (shmrt_value_load(&s->spare, &x) || !x.u64 ||
		   shmrt_usable_size(s->q.region, x.u64) < NSPARE * sizeof(uint64_t) ||
		   x.u64 % 8) {
		return -EBADMSG;
	}
	s->spares = shmrt_ptr(s->q.region, x.u64);
	return 0;
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
	if (pyshmrt_entry_new(&s->xe, "qspare")) {
		Py_DECREF(s);
		return NULL;
	}
	rc = shmrt_value_open(pyshmrt_tree(), s->xe.name, fl, SHMRT_VT_UINT64, NULL, &s->spare);
	if (!rc)
		rc = spares_open(s, 1);
	if (rc) {
		s->xe.creator = 0;
		Py_DECREF(s);
		return pyshmrt_err(rc, "creating a queue's spare block word");
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
	Py_CLEAR(s->owner);
	Py_CLEAR(s->buffer);
	if (s->q.shm)
		(void)shmrt_queue_producer_done(&s->q);
	/* The spare block, where nobody else can know the queue (as entry_drop). */
	if (s->spares && s->xe.creator == getpid() && s->xe.forks == pyshmrt_forks()) {
		for (int i = 0; i < NSPARE; i++) {
			shmrt_off_t x = __atomic_exchange_n(&s->spares[i], 0, __ATOMIC_SEQ_CST);
			if (x)
				(void)shmrt_free(s->q.region, x);
		}
		(void)shmrt_free(s->q.region, shmrt_offset(s->q.region, s->spares));
		s->spares = NULL;
	}
	pyshmrt_entry_drop(&s->e);
	pyshmrt_entry_drop(&s->se);
	pyshmrt_entry_drop(&s->xe);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *queue_handle(QueueObj *s, PyObject *noargs)
{
	(void)noargs;
	return Py_BuildValue("(ss(ssli))", "queue", s->e.name, s->se.name, s->xe.name, s->maxsize,
			     s->joinable);
}

static PyObject *queue_attach(PyTypeObject *type, PyObject *args)
{
	const char *name, *sname, *xname;
	long maxsize;
	int joinable;
	if (!PyArg_ParseTuple(args, "sssli:_attach", &name, &sname, &xname, &maxsize, &joinable))
		return NULL;
	shmrt_region_t *r = pyshmrt_tree();
	if (!r)
		return NULL;
	QueueObj *s = (QueueObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	snprintf(s->e.name, sizeof(s->e.name), "%s", name);
	snprintf(s->se.name, sizeof(s->se.name), "%s", sname);
	snprintf(s->xe.name, sizeof(s->xe.name), "%s", xname);
	s->maxsize = maxsize;
	s->joinable = joinable;
	uint32_t cap = maxsize > 0 ? (uint32_t)maxsize : QCAP;
	int rc = joinable ? shmrt_joinable_queue_open(r, name, 0, cap, QMAX, &s->q)
			  : shmrt_queue_open(r, name, 0, cap, QMAX, &s->q);
	if (!rc && maxsize > 0)
		rc = shmrt_sem_open(r, sname, 0, (uint32_t)maxsize, 0, &s->sem);
	if (!rc)
		rc = shmrt_value_open(r, xname, 0, SHMRT_VT_UINT64, NULL, &s->spare);
	if (!rc)
		rc = spares_open(s, 0);
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

/* Puts a message of n parts (objects with the buffer protocol): 1, 0 when still
 * full at the timeout, -1 with a Python error. */
int pyshmrt_queue_put_parts(QueueObj *s, int kind, PyObject *const *parts, Py_ssize_t n, double timeout)
{
	if (n < 1 || n > (Py_ssize_t)QMAXPARTS) {
		PyErr_SetString(PyExc_ValueError, "a message has 1 to 65536 parts");
		return -1;
	}
	Py_buffer few[4], *v = few; /* no allocation for the common messages */
	if (n > 4 && !(v = PyMem_Calloc((size_t)n, sizeof(Py_buffer)))) {
		PyErr_NoMemory();
		return -1;
	}
	int ret = -1;
	Py_ssize_t got = 0;
	size_t total = 8 + 8 * (size_t)n;
	for (; got < n; got++) {
		if (PyObject_GetBuffer(parts[got], &v[got], PyBUF_SIMPLE))
			goto out;
		total += (size_t)v[got].len;
	}
	shmrt_off_t off = 0;
	int single = n == 1 && (size_t)v[0].len + 1 <= QMAX;
	int spill = !single && total + 8 > QMAX;
	if (spill) {
		int rc = block_alloc(s, total, &off);
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
			ret = 0;
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
	ret = 1;
out:
	for (Py_ssize_t i = 0; i < got; i++)
		PyBuffer_Release(&v[i]);
	if (v != few)
		PyMem_Free(v);
	return ret;
}

/* _put(kind, parts, timeout) -> bool: False when full at the timeout (queue.Full). */
static PyObject *queue_put(QueueObj *s, PyObject *args)
{
	int kind;
	PyObject *parts;
	double timeout;
	if (!PyArg_ParseTuple(args, "CO!d:_put", &kind, &PyList_Type, &parts, &timeout))
		return NULL;
	int r = pyshmrt_queue_put_parts(s, kind, PySequence_Fast_ITEMS(parts), PyList_GET_SIZE(parts), timeout);
	return r < 0 ? NULL : PyBool_FromLong(r);
}

/* Builds the list of parts from a LAYOUT of size bytes (checked: a block's contents
 * are another process's); *kind gets the message's kind. */
static PyObject *layout_read(const char *p, size_t size, int *kind)
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
	*kind = (int)hdr[1];
	return list;
bad:
	PyErr_SetString(PyExc_RuntimeError, "a malformed queue message");
	return NULL;
}

/* Takes the next message: its one part as bytes, or the list of its parts; *kind
 * gets its kind. Py_None (a new reference) when empty at the timeout; NULL with a
 * Python error (EOFError at the end of the queue). */
PyObject *pyshmrt_queue_take(QueueObj *s, double timeout, int *kind)
{
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
		*kind = d[0];
		ret = PyBytes_FromStringAndSize(d + 1, (Py_ssize_t)len - 1);
	} else if (len >= 8 && d[0] == 'i') {
		ret = layout_read(d + 8, len - 8, kind);
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
		ret = layout_read(shmrt_ptr(s->q.region, off), w[1], kind);
		block_free(s, off);
	}
	return ret;
}

/* _get(timeout) -> (kind, [parts]), or None when empty at the timeout. EOFError at
 * the end of the queue. */
static PyObject *queue_get(QueueObj *s, PyObject *arg)
{
	double timeout = PyFloat_AsDouble(arg);
	if (timeout == -1 && PyErr_Occurred())
		return NULL;
	int kind = 0;
	PyObject *r = pyshmrt_queue_take(s, timeout, &kind);
	if (!r || r == Py_None)
		return r;
	if (PyBytes_CheckExact(r))
		return Py_BuildValue("(C[N])", kind, r);
	return Py_BuildValue("(CN)", kind, r);
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
	{ "put", (PyCFunction)(void (*)(void))pyshmrt_queue_fput, METH_FASTCALL | METH_KEYWORDS,
	  "put(obj, block=True, timeout=None): the fast path of Queue.put." },
	{ "put_bytes", (PyCFunction)(void (*)(void))pyshmrt_queue_fput_bytes, METH_FASTCALL | METH_KEYWORDS,
	  "put_bytes(data, block=True, timeout=None): the fast path of Queue.put_bytes." },
	{ "get", (PyCFunction)(void (*)(void))pyshmrt_queue_fget, METH_FASTCALL | METH_KEYWORDS,
	  "get(block=True, timeout=None): the fast path of Queue.get." },
	{ "get_bytes", (PyCFunction)(void (*)(void))pyshmrt_queue_fget_bytes, METH_FASTCALL | METH_KEYWORDS,
	  "get_bytes(block=True, timeout=None): the fast path of Queue.get_bytes." },
	{ "_bind", (PyCFunction)pyshmrt_queue_bind, METH_VARARGS,
	  "_bind(owner, buffer, open): the Queue the fast methods serve." },
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
