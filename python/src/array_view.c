/*
 * The Array's views and consistency: the buffer protocol, snapshot(), repair() and
 * the write bracket of writing(lo, hi) (the Array type itself is in array.c).
 *
 * The buffer protocol exposes the elements themselves, with the format of their
 * typecode (convert.c): np.asarray(arr) and np.frombuffer(arr, dtype) are views of
 * the shared memory, and a view holds a reference to the Array, whose region stays
 * mapped for the life of the process: a view never outlives its memory.
 *
 * numpy writes through a view bypass the stripes' seqlocks. writing(lo, hi) returns
 * a context manager that opens a write of [lo, hi) (shmrt_array_begin_write: the
 * stripes' writer locks taken, their sequences odd) and publishes it on exit, so a
 * snapshot() sees all of the bracketed writes or none. A process killed inside the
 * bracket leaves its stripes torn: snapshots and reads of them raise TornError
 * until the range is written whole again or repair(lo, hi) is called.
 *
 * Threads: the thread inside a bracket holds its stripes' locks and needs the GIL to
 * end it. While any bracket is open in the process, the Array's calls that may wait
 * for stripes (indexing, slices, snapshot(), writing()) wait without the GIL, and a
 * call that needs stripes its own thread holds in a bracket raises RuntimeError
 * instead of waiting for itself forever.
 */
#include "pyshmrt.h"

/* ---- the buffer protocol ------------------------------------------------------------ */

int pyshmrt_array_getbuffer(ArrayObj *o, Py_buffer *view, int flags)
{
	view->buf = shmrt_array_data(&o->a);
	view->obj = Py_NewRef((PyObject *)o);
	view->len = o->n * o->c->size;
	view->readonly = 0;
	view->itemsize = o->c->size;
	view->format = (flags & PyBUF_FORMAT) ? (char *)o->c->format : NULL;
	view->ndim = 1;
	view->shape = (flags & PyBUF_ND) ? &o->n : NULL;
	view->strides = (flags & PyBUF_STRIDES) ? &view->itemsize : NULL;
	view->suboffsets = NULL;
	view->internal = NULL;
	return 0;
}


/* ---- snapshot, writing, repair ---------------------------------------------------- */

static int parse_range(ArrayObj *o, PyObject *args, PyObject *kw, const char *fmt,
		       Py_ssize_t *lo, Py_ssize_t *hi, PyObject **extra)
{
	static char *kwl_lh[] = { "lo", "hi", NULL };
	static char *kwl_out[] = { "out", "lo", "hi", NULL };
	PyObject *plo = Py_None, *phi = Py_None;
	int ok = extra ? PyArg_ParseTupleAndKeywords(args, kw, fmt, kwl_out, extra, &plo, &phi)
		       : PyArg_ParseTupleAndKeywords(args, kw, fmt, kwl_lh, &plo, &phi);
	if (!ok)
		return -1;
	*lo = 0;
	*hi = o->n;
	if (plo != Py_None && (*lo = PyNumber_AsSsize_t(plo, PyExc_IndexError)) == -1 &&
	    PyErr_Occurred())
		return -1;
	if (phi != Py_None && (*hi = PyNumber_AsSsize_t(phi, PyExc_IndexError)) == -1 &&
	    PyErr_Occurred())
		return -1;
	if (*lo < 0 || *hi > o->n || *lo > *hi) {
		PyErr_Format(PyExc_IndexError, "range [%zd, %zd) is not within [0, %zd)", *lo, *hi,
			     o->n);
		return -1;
	}
	return 0;
}

PyObject *pyshmrt_array_snapshot(ArrayObj *o, PyObject *args, PyObject *kw)
{
	Py_ssize_t lo, hi;
	PyObject *out = Py_None;
	if (parse_range(o, args, kw, "|OOO:snapshot", &lo, &hi, &out))
		return NULL;
	Py_ssize_t cnt = hi - lo;
	if (out != Py_None) {
		Py_buffer b;
		if (PyObject_GetBuffer(out, &b, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS))
			return NULL;
		if (b.len != cnt * o->c->size) {
			PyBuffer_Release(&b);
			PyErr_Format(PyExc_ValueError, "out has %zd bytes, the range %zd", b.len,
				     cnt * o->c->size);
			return NULL;
		}
		int rc = pyshmrt_array_read_range(o, lo, cnt, b.buf, 1);
		PyBuffer_Release(&b);
		return rc ? NULL : Py_NewRef(out);
	}
	char *buf = PyMem_Malloc((cnt ? cnt : 1) * o->c->size);
	if (!buf)
		return PyErr_NoMemory();
	PyObject *r = NULL;
	if (!pyshmrt_array_read_range(o, lo, cnt, buf, 1))
		r = pyshmrt_array_build_seq(o, buf, cnt, 1);
	PyMem_Free(buf);
	return r;
}

PyObject *pyshmrt_array_repair(ArrayObj *o, PyObject *args, PyObject *kw)
{
	Py_ssize_t lo, hi;
	if (parse_range(o, args, kw, "|OO:repair", &lo, &hi, NULL))
		return NULL;
	if (hi > lo) {
		int rc = shmrt_array_repair(&o->a, lo, hi - lo);
		if (rc)
			return pyshmrt_err(rc, "repairing an Array");
	}
	Py_RETURN_NONE;
}

/* The bracket returned by writing(lo, hi). */
typedef struct BracketObj {
	PyObject_HEAD
	ArrayObj *arr;
	Py_ssize_t lo, hi;
	int open;
	unsigned long thread;    /* the thread inside it, while open */
	struct BracketObj *next; /* in open_brackets, while open */
} BracketObj;

/*
 * The brackets open in this process, or being opened (listed before the GIL is
 * released to take their stripes). The thread inside a bracket needs the GIL to end
 * it, so while one is listed, the Array's other calls that may wait for stripes wait
 * without the GIL; and a call that would wait for stripes its own thread holds in a
 * bracket (forever) raises RuntimeError. Read and changed under the GIL only.
 */
static BracketObj *open_brackets;
int pyshmrt_brackets_open;

/* The stripes of [lo, lo+cnt) of a, as [*k0, *k1]. */
static void stripes_of(const shmrt_array_t *a, Py_ssize_t lo, Py_ssize_t cnt, uint64_t *k0,
		       uint64_t *k1)
{
	uint64_t se = a->stripe_elems ? a->stripe_elems : 1;
	*k0 = (uint64_t)lo / se;
	*k1 = (uint64_t)(lo + (cnt > 0 ? cnt : 1) - 1) / se;
}

int pyshmrt_array_bracket_check(ArrayObj *o, Py_ssize_t lo, Py_ssize_t cnt)
{
	unsigned long me = PyThread_get_thread_ident();
	uint64_t k0, k1;
	stripes_of(&o->a, lo, cnt, &k0, &k1);
	for (BracketObj *b = open_brackets; b; b = b->next) {
		uint64_t b0, b1;
		if (b->thread != me || b->arr->a.data != o->a.data || b->hi <= b->lo)
			continue;
		stripes_of(&b->arr->a, b->lo, b->hi - b->lo, &b0, &b1);
		if (b0 <= k1 && k0 <= b1) {
			PyErr_Format(PyExc_RuntimeError,
				     "this thread's writing() bracket of [%zd, %zd) holds stripes "
				     "that [%zd, %zd) of the same Array needs (it would wait for "
				     "itself): write through the numpy view, or end the bracket first",
				     b->lo, b->hi, lo, lo + cnt);
			return -1;
		}
	}
	return 0;
}

static void bracket_list(BracketObj *b)
{
	b->thread = PyThread_get_thread_ident();
	b->next = open_brackets;
	open_brackets = b;
	pyshmrt_brackets_open = 1;
}

static void bracket_unlist(BracketObj *b)
{
	for (BracketObj **p = &open_brackets; *p; p = &(*p)->next) {
		if (*p == b) {
			*p = b->next;
			break;
		}
	}
	b->next = NULL;
	pyshmrt_brackets_open = open_brackets != NULL;
}

static void bracket_dealloc(BracketObj *b)
{
	if (b->open && b->hi > b->lo)
		(void)shmrt_array_end_write(&b->arr->a, b->lo, b->hi - b->lo);
	if (b->open)
		bracket_unlist(b);
	Py_XDECREF(b->arr);
	Py_TYPE(b)->tp_free((PyObject *)b);
}

static PyObject *bracket_enter(BracketObj *b, PyObject *noargs)
{
	(void)noargs;
	if (b->open) {
		PyErr_SetString(PyExc_RuntimeError, "writing() bracket already entered");
		return NULL;
	}
	if (b->hi > b->lo && pyshmrt_brackets_open &&
	    pyshmrt_array_bracket_check(b->arr, b->lo, b->hi - b->lo))
		return NULL;
	/* Listed before the GIL is released: a thread that then finds no bracket
	 * listed never waits for these stripes with the GIL. */
	bracket_list(b);
	if (b->hi > b->lo) {
		void *p;
		int rc;
		Py_BEGIN_ALLOW_THREADS
		rc = shmrt_array_begin_write(&b->arr->a, b->lo, b->hi - b->lo, &p);
		Py_END_ALLOW_THREADS
		if (rc) {
			bracket_unlist(b);
			return pyshmrt_err(rc, "opening a write bracket");
		}
	}
	b->open = 1;
	return Py_NewRef((PyObject *)b->arr);
}

static PyObject *bracket_exit(BracketObj *b, PyObject *args)
{
	(void)args;
	if (!b->open) {
		PyErr_SetString(PyExc_RuntimeError, "writing() bracket not entered");
		return NULL;
	}
	if (b->thread != PyThread_get_thread_ident()) {
		PyErr_SetString(PyExc_RuntimeError,
				"a writing() bracket ends in the thread that entered it");
		return NULL;
	}
	b->open = 0;
	bracket_unlist(b);
	if (b->hi > b->lo) {
		int rc = shmrt_array_end_write(&b->arr->a, b->lo, b->hi - b->lo);
		if (rc)
			return pyshmrt_err(rc, "closing a write bracket");
	}
	Py_RETURN_FALSE;
}

static PyMethodDef bracket_methods[] = {
	{ "__enter__", (PyCFunction)bracket_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)bracket_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyTypeObject BracketType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt._shmrt.WriteBracket",
	.tp_basicsize = sizeof(BracketObj),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The context manager of Array.writing(lo, hi).",
	.tp_dealloc = (destructor)bracket_dealloc,
	.tp_methods = bracket_methods,
};

int pyshmrt_bracket_ready(void)
{
	return PyType_Ready(&BracketType);
}

PyObject *pyshmrt_array_writing(ArrayObj *o, PyObject *args, PyObject *kw)
{
	Py_ssize_t lo, hi;
	if (parse_range(o, args, kw, "|OO:writing", &lo, &hi, NULL))
		return NULL;
	BracketObj *b = PyObject_New(BracketObj, &BracketType);
	if (!b)
		return NULL;
	b->arr = (ArrayObj *)Py_NewRef((PyObject *)o);
	b->lo = lo;
	b->hi = hi;
	b->open = 0;
	return (PyObject *)b;
}
