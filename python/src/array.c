/*
 * RawArray and SynchronizedArray: multiprocessing's Array on a shmrt Array.
 *
 * The elements live in the process-tree region, in a shmrt Array: stripes of 4 KiB,
 * each with a seqlock and a robust writer lock (shmrt/array.h). Indexing and slicing
 * go through the Array's read and write calls, so an element or a slice is never
 * seen half-written: a slice is consistent per stripe, and snapshot() is one
 * instant's state of the whole range, whatever other processes write meanwhile.
 * A slice assignment with step 1 is one write (a write bracket around a copy), so a
 * snapshot sees all of it or none of it.
 *
 * The buffer protocol exposes the elements themselves (format per typecode, see
 * convert.c): np.asarray(arr) and np.frombuffer(arr, dtype) are views of the shared
 * memory. numpy writes through such a view bypass the seqlocks; to keep readers'
 * snapshots consistent, bracket them: "with arr.writing(lo, hi): view[lo:hi] = ...".
 * The bracket locks the stripes of [lo, hi), and readers retry until it ends. A
 * writer killed inside a bracket leaves its stripes torn: snapshot() and reads then
 * raise TornError until the range is written again or repair(lo, hi) is called.
 *
 * A view keeps the Array object alive (the buffer holds a reference), and the
 * region stays mapped for the life of the process: a view never outlives its memory.
 *
 * Arrays of 'c' slice to bytes and of 'u' to str, as ctypes' arrays do, and have a
 * .value (up to the first NUL) and, for 'c', .raw.
 */
#include "pyshmrt.h"


#define BIG_COPY (64 * 1024) /* copies above this release the GIL */

static int fill_init(const pyshmrt_code_t *c, PyObject *seq, Py_ssize_t n, char *buf)
{
	PyObject *fast = PySequence_Fast(seq, "Array initializer must be a sequence");
	if (!fast)
		return -1;
	if (PySequence_Fast_GET_SIZE(fast) != n) {
		Py_DECREF(fast);
		PyErr_SetString(PyExc_ValueError, "initializer length changed");
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		shmrt_scalar_t s;
		if (pyshmrt_to_scalar(c, PySequence_Fast_GET_ITEM(fast, i), &s)) {
			Py_DECREF(fast);
			return -1;
		}
		memcpy(buf + i * c->size, &s, c->size);
	}
	Py_DECREF(fast);
	return 0;
}

static PyObject *array_create(PyTypeObject *type, PyObject *code, PyObject *init)
{
	if (!PyUnicode_Check(code) || PyUnicode_GET_LENGTH(code) != 1) {
		PyErr_SetString(PyExc_TypeError, "typecode must be a one-character str");
		return NULL;
	}
	const pyshmrt_code_t *c = pyshmrt_code(PyUnicode_READ_CHAR(code, 0));
	if (!c)
		return NULL;
	Py_ssize_t n;
	char *buf = NULL;
	if (PyLong_Check(init)) {
		n = PyLong_AsSsize_t(init);
		if (n < 0) {
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_ValueError, "array size must be >= 0");
			return NULL;
		}
	} else {
		n = PySequence_Size(init);
		if (n < 0)
			return NULL;
		buf = PyMem_Calloc(n ? n : 1, c->size);
		if (!buf)
			return PyErr_NoMemory();
		if (n && fill_init(c, init, n, buf)) {
			PyMem_Free(buf);
			return NULL;
		}
	}
	ArrayObj *o = (ArrayObj *)type->tp_alloc(type, 0);
	if (!o) {
		PyMem_Free(buf);
		return NULL;
	}
	o->c = c;
	o->n = n;
	if (pyshmrt_entry_new(&o->e, "array")) {
		PyMem_Free(buf);
		Py_DECREF(o);
		return NULL;
	}
	shmrt_array_opts_t opts = { 0 };
	opts.init = buf;
	int rc = shmrt_array_open(pyshmrt_tree(), o->e.name, SHMRT_O_CREATE | SHMRT_O_EXCL,
				  c->vtype, n ? (uint64_t)n : 1, &opts, &o->a);
	PyMem_Free(buf);
	if (rc) {
		o->e.creator = 0;
		Py_DECREF(o);
		return pyshmrt_err(rc, "creating an Array");
	}
	return (PyObject *)o;
}

static PyObject *RawArray_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "typecode", "size_or_initializer", NULL };
	PyObject *code, *init;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO:RawArray", kwl, &code, &init))
		return NULL;
	return array_create(type, code, init);
}

static PyObject *SyncArray_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "typecode", "size_or_initializer", "lock", NULL };
	PyObject *code, *init, *lock = Py_True;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:Array", kwl, &code, &init, &lock))
		return NULL;
	ArrayObj *o = (ArrayObj *)array_create(type, code, init);
	if (o && pyshmrt_lock_arg(lock, &o->lock))
		Py_CLEAR(o);
	return (PyObject *)o;
}

static int array_traverse(ArrayObj *o, visitproc visit, void *arg)
{
	Py_VISIT(o->lock);
	Py_VISIT(o->owner);
	return 0;
}

static int array_clear(ArrayObj *o)
{
	Py_CLEAR(o->lock);
	Py_CLEAR(o->owner);
	return 0;
}

static void array_dealloc(ArrayObj *o)
{
	PyObject_GC_UnTrack(o);
	array_clear(o);
	pyshmrt_entry_drop(&o->e);
	Py_TYPE(o)->tp_free((PyObject *)o);
}

/* ---- reading and writing ranges ---------------------------------------------------- */

/* Copies [lo, lo+cnt) out: consistent per stripe, or the whole range (snap). */
int pyshmrt_array_read_range(ArrayObj *o, Py_ssize_t lo, Py_ssize_t cnt, void *dst, int snap)
{
	if (cnt <= 0)
		return 0;
	int rc;
	if (pyshmrt_brackets_open && pyshmrt_array_bracket_check(o, lo, cnt))
		return -1;
	if ((size_t)cnt * o->c->size > BIG_COPY || pyshmrt_brackets_open) {
		Py_BEGIN_ALLOW_THREADS
		rc = snap ? shmrt_array_snapshot(&o->a, lo, dst, cnt)
			  : shmrt_array_read(&o->a, lo, dst, cnt);
		Py_END_ALLOW_THREADS
	} else {
		rc = snap ? shmrt_array_snapshot(&o->a, lo, dst, cnt)
			  : shmrt_array_read(&o->a, lo, dst, cnt);
	}
	if (rc) {
		pyshmrt_err(rc, "reading an Array");
		return -1;
	}
	return 0;
}

int pyshmrt_array_write_range(ArrayObj *o, Py_ssize_t lo, Py_ssize_t cnt, const void *src)
{
	if (cnt <= 0)
		return 0;
	int rc;
	if (pyshmrt_brackets_open && pyshmrt_array_bracket_check(o, lo, cnt))
		return -1;
	if ((size_t)cnt * o->c->size > BIG_COPY || pyshmrt_brackets_open) {
		Py_BEGIN_ALLOW_THREADS
		rc = shmrt_array_write(&o->a, lo, src, cnt);
		Py_END_ALLOW_THREADS
	} else {
		rc = shmrt_array_write(&o->a, lo, src, cnt);
	}
	if (rc) {
		pyshmrt_err(rc, "writing an Array");
		return -1;
	}
	return 0;
}

/* Writes [lo, lo+cnt) as one write: a snapshot sees all of it or none (a plain
 * shmrt_array_write is atomic per stripe only). */
static int write_whole(ArrayObj *o, Py_ssize_t lo, Py_ssize_t cnt, const void *src)
{
	if (cnt <= 1)
		return pyshmrt_array_write_range(o, lo, cnt, src);
	void *p;
	int rc;
	size_t bytes = (size_t)cnt * o->c->size;
	if (pyshmrt_brackets_open && pyshmrt_array_bracket_check(o, lo, cnt))
		return -1;
	Py_BEGIN_ALLOW_THREADS
	rc = shmrt_array_begin_write(&o->a, lo, cnt, &p);
	if (!rc) {
		memcpy(p, src, bytes);
		rc = shmrt_array_end_write(&o->a, lo, cnt);
	}
	Py_END_ALLOW_THREADS
	if (rc) {
		pyshmrt_err(rc, "writing an Array");
		return -1;
	}
	return 0;
}

/* Builds what a slice of these elements is in Python: bytes ('c'), str ('u'), or a
 * list. Takes elements buf[0], buf[step], ... (count of them). */
PyObject *pyshmrt_array_build_seq(ArrayObj *o, const char *buf, Py_ssize_t count, Py_ssize_t step)
{
	int sz = o->c->size;
	if (o->c->code == 'c') {
		PyObject *b = PyBytes_FromStringAndSize(NULL, count);
		if (!b)
			return NULL;
		for (Py_ssize_t i = 0; i < count; i++)
			PyBytes_AS_STRING(b)[i] = buf[i * step];
		return b;
	}
	if (o->c->code == 'u') {
		Py_UCS4 *u = PyMem_Malloc((count ? count : 1) * sizeof(Py_UCS4));
		if (!u)
			return PyErr_NoMemory();
		for (Py_ssize_t i = 0; i < count; i++) {
			memcpy(&u[i], buf + i * step * sz, 4);
			if (u[i] > 0x10ffff) {
				PyMem_Free(u);
				PyErr_SetString(PyExc_ValueError, "invalid code point");
				return NULL;
			}
		}
		PyObject *s = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, u, count);
		PyMem_Free(u);
		return s;
	}
	PyObject *l = PyList_New(count);
	if (!l)
		return NULL;
	for (Py_ssize_t i = 0; i < count; i++) {
		PyObject *x = pyshmrt_from_mem(o->c, buf + i * step * sz);
		if (!x) {
			Py_DECREF(l);
			return NULL;
		}
		PyList_SET_ITEM(l, i, x);
	}
	return l;
}

static Py_ssize_t array_len(ArrayObj *o)
{
	return o->n;
}

static PyObject *array_item(ArrayObj *o, Py_ssize_t i)
{
	if (i < 0 || i >= o->n) {
		PyErr_SetString(PyExc_IndexError, "invalid index");
		return NULL;
	}
	shmrt_scalar_t s;
	if (pyshmrt_brackets_open) { /* it may wait for a bracket: without the GIL */
		if (pyshmrt_array_read_range(o, i, 1, &s, 0))
			return NULL;
		return pyshmrt_from_mem(o->c, &s);
	}
	int rc = shmrt_array_read(&o->a, (uint64_t)i, &s, 1);
	if (rc)
		return pyshmrt_err(rc, "reading an Array");
	return pyshmrt_from_mem(o->c, &s);
}

static PyObject *array_subscript(ArrayObj *o, PyObject *key)
{
	/* The common arr[i]: an int read directly (no __index__ call); one too large
	 * for an index takes the general path, which says so. */
	if (PyLong_CheckExact(key)) {
		Py_ssize_t i = PyLong_AsSsize_t(key);
		if (i != -1 || !PyErr_Occurred())
			return array_item(o, i < 0 ? i + o->n : i);
		PyErr_Clear();
	}
	if (PyIndex_Check(key)) {
		Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
		if (i == -1 && PyErr_Occurred())
			return NULL;
		if (i < 0)
			i += o->n;
		return array_item(o, i);
	}
	if (!PySlice_Check(key)) {
		PyErr_SetString(PyExc_TypeError, "indices must be integers");
		return NULL;
	}
	Py_ssize_t start, stop, step;
	if (PySlice_Unpack(key, &start, &stop, &step) < 0)
		return NULL;
	Py_ssize_t count = PySlice_AdjustIndices(o->n, &start, &stop, step);
	if (count == 0)
		return pyshmrt_array_build_seq(o, "", 0, 1);
	Py_ssize_t lo = step > 0 ? start : start + (count - 1) * step;
	Py_ssize_t span = (count - 1) * (step > 0 ? step : -step) + 1;
	char *buf = PyMem_Malloc(span * o->c->size);
	if (!buf)
		return PyErr_NoMemory();
	PyObject *r = NULL;
	if (!pyshmrt_array_read_range(o, lo, span, buf, 0)) {
		const char *first = buf + (start - lo) * o->c->size;
		r = pyshmrt_array_build_seq(o, first, count, step);
	}
	PyMem_Free(buf);
	return r;
}

static int array_ass_item(ArrayObj *o, Py_ssize_t i, PyObject *x)
{
	if (i < 0 || i >= o->n) {
		PyErr_SetString(PyExc_IndexError, "invalid index");
		return -1;
	}
	shmrt_scalar_t s;
	if (pyshmrt_to_scalar(o->c, x, &s))
		return -1;
	return pyshmrt_array_write_range(o, i, 1, &s);
}

static int array_ass_subscript(ArrayObj *o, PyObject *key, PyObject *x)
{
	if (!x) {
		PyErr_SetString(PyExc_TypeError, "Array does not support item deletion");
		return -1;
	}
	if (PyIndex_Check(key)) {
		Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
		if (i == -1 && PyErr_Occurred())
			return -1;
		if (i < 0)
			i += o->n;
		return array_ass_item(o, i, x);
	}
	if (!PySlice_Check(key)) {
		PyErr_SetString(PyExc_TypeError, "indices must be integers");
		return -1;
	}
	Py_ssize_t start, stop, step;
	if (PySlice_Unpack(key, &start, &stop, &step) < 0)
		return -1;
	Py_ssize_t count = PySlice_AdjustIndices(o->n, &start, &stop, step);
	Py_ssize_t len = PySequence_Size(x);
	if (len < 0)
		return -1;
	if (len != count) {
		PyErr_SetString(PyExc_ValueError, "Can only assign sequence of same size");
		return -1;
	}
	if (count == 0)
		return 0;
	char *buf = PyMem_Malloc(count * o->c->size);
	if (!buf) {
		PyErr_NoMemory();
		return -1;
	}
	int rc = fill_init(o->c, x, count, buf);
	if (!rc) {
		if (step == 1) {
			rc = write_whole(o, start, count, buf);
		} else {
			for (Py_ssize_t k = 0; k < count && !rc; k++)
				rc = pyshmrt_array_write_range(o, start + k * step, 1, buf + k * o->c->size);
		}
	}
	PyMem_Free(buf);
	return rc;
}

/* ---- lock, get_obj, repr, value ---------------------------------------------------- */

static PyObject *array_get_lock(ArrayObj *o, PyObject *noargs)
{
	(void)noargs;
	if (!o->lock) {
		o->lock = pyshmrt_objlock_new((PyObject *)o, NULL, &o->a);
		if (!o->lock)
			return NULL;
	}
	return Py_NewRef(o->lock);
}

static PyObject *array_get_obj(ArrayObj *o, PyObject *noargs)
{
	(void)noargs;
	ArrayObj *r = (ArrayObj *)pyshmrt_RawArrayType.tp_alloc(&pyshmrt_RawArrayType, 0);
	if (!r)
		return NULL;
	memcpy(r->e.name, o->e.name, sizeof(r->e.name));
	r->a = o->a;
	r->c = o->c;
	r->n = o->n;
	r->owner = Py_NewRef((PyObject *)o);
	return (PyObject *)r;
}

static PyObject *lock_call(ArrayObj *o, const char *m, PyObject *args, PyObject *kw)
{
	PyObject *l = array_get_lock(o, NULL);
	if (!l)
		return NULL;
	PyObject *r = pyshmrt_call_lock(l, m, args, kw);
	Py_DECREF(l);
	return r;
}

static PyObject *array_acquire(ArrayObj *o, PyObject *args, PyObject *kw)
{
	return lock_call(o, "acquire", args, kw);
}

static PyObject *array_release(ArrayObj *o, PyObject *noargs)
{
	(void)noargs;
	return lock_call(o, "release", NULL, NULL);
}

static PyObject *array_enter(ArrayObj *o, PyObject *noargs)
{
	(void)noargs;
	return lock_call(o, "__enter__", NULL, NULL);
}

static PyObject *array_exit(ArrayObj *o, PyObject *args)
{
	return lock_call(o, "__exit__", args, NULL);
}

static PyObject *raw_repr(ArrayObj *o)
{
	return PyUnicode_FromFormat("<shmrt.RawArray %s_Array_%zd object at %p>", o->c->ctype,
				    o->n, (void *)o);
}

static PyObject *sync_repr(ArrayObj *o)
{
	return PyUnicode_FromFormat("<SynchronizedArray wrapper for <shmrt.%s_Array_%zd object at %p>>",
				    o->c->ctype, o->n, (void *)o);
}

static PyObject *array_full(ArrayObj *o)
{
	PyObject *sl = PySlice_New(NULL, NULL, NULL);
	if (!sl)
		return NULL;
	PyObject *r = array_subscript(o, sl);
	Py_DECREF(sl);
	return r;
}

static PyObject *array_value_get(ArrayObj *o, void *closure)
{
	(void)closure;
	if (o->c->code != 'c' && o->c->code != 'u') {
		PyErr_SetString(PyExc_AttributeError, "only 'c' and 'u' Arrays have .value");
		return NULL;
	}
	PyObject *all = array_full(o);
	if (!all)
		return NULL;
	/* Up to the first NUL, as ctypes' arrays of chars do. */
	Py_ssize_t n = PySequence_Size(all), k = 0;
	if (o->c->code == 'c') {
		const char *p = PyBytes_AS_STRING(all);
		while (k < n && p[k])
			k++;
	} else {
		while (k < n && PyUnicode_READ_CHAR(all, k))
			k++;
	}
	PyObject *r = PySequence_GetSlice(all, 0, k);
	Py_DECREF(all);
	return r;
}

static int array_value_set(ArrayObj *o, PyObject *x, void *closure)
{
	(void)closure;
	if (!x || (o->c->code != 'c' && o->c->code != 'u')) {
		PyErr_SetString(PyExc_AttributeError, "only 'c' and 'u' Arrays have .value");
		return -1;
	}
	Py_ssize_t n = PySequence_Size(x);
	if (n < 0)
		return -1;
	if (n > o->n) {
		PyErr_SetString(PyExc_ValueError, "string too long");
		return -1;
	}
	PyObject *stop = PyLong_FromSsize_t(n);
	if (!stop)
		return -1;
	PyObject *sl = PySlice_New(NULL, stop, NULL);
	Py_DECREF(stop);
	if (!sl)
		return -1;
	int rc = array_ass_subscript(o, sl, x);
	Py_DECREF(sl);
	if (!rc && n < o->n) {
		shmrt_scalar_t z;
		memset(&z, 0, sizeof(z));
		rc = pyshmrt_array_write_range(o, n, 1, &z);
	}
	return rc;
}

static PyObject *array_raw_get(ArrayObj *o, void *closure)
{
	(void)closure;
	if (o->c->code != 'c') {
		PyErr_SetString(PyExc_AttributeError, "only 'c' Arrays have .raw");
		return NULL;
	}
	return array_full(o);
}

/* .raw = b: the bytes written from the first element on, as ctypes' char arrays
 * (ValueError if longer than the Array; the rest is left as it was). */
static int array_raw_set(ArrayObj *o, PyObject *x, void *closure)
{
	(void)closure;
	if (!x || o->c->code != 'c') {
		PyErr_SetString(PyExc_AttributeError, "only 'c' Arrays have .raw");
		return -1;
	}
	Py_buffer b;
	if (PyObject_GetBuffer(x, &b, PyBUF_SIMPLE))
		return -1;
	int rc = 0;
	if (b.len > o->n) {
		PyErr_SetString(PyExc_ValueError, "byte string too long");
		rc = -1;
	} else if (b.len > 0) {
		rc = pyshmrt_array_write_range(o, 0, b.len, b.buf);
	}
	PyBuffer_Release(&b);
	return rc;
}

static PyObject *array_typecode(ArrayObj *o, void *closure)
{
	(void)closure;
	return PyUnicode_FromOrdinal(o->c->code);
}

static PyObject *array_name(ArrayObj *o, void *closure)
{
	(void)closure;
	return PyUnicode_FromString(o->e.name);
}

/* _handle() -> ("array", name, (typecode, len, lock)); see value.c. */
static PyObject *array_handle(ArrayObj *o, PyObject *noargs)
{
	(void)noargs;
	PyObject *lock = Py_None;
	if (o->lock) {
		PyObject *n = PyObject_GetAttrString(o->lock, "_name");
		if (!n)
			PyErr_Clear();
		if (!n || PyUnicode_GetLength(n) != 0)
			lock = o->lock;
		Py_XDECREF(n);
	}
	return Py_BuildValue("(ss(CnO))", "array", o->e.name, o->c->code, o->n, lock);
}

static PyObject *array_attach(PyTypeObject *type, PyObject *args)
{
	const char *name;
	int code;
	Py_ssize_t n;
	PyObject *lock;
	if (!PyArg_ParseTuple(args, "sCnO:_attach", &name, &code, &n, &lock))
		return NULL;
	const pyshmrt_code_t *c = pyshmrt_code(code);
	shmrt_region_t *r = pyshmrt_tree();
	if (!c || !r)
		return NULL;
	ArrayObj *o = (ArrayObj *)type->tp_alloc(type, 0);
	if (!o)
		return NULL;
	o->c = c;
	o->n = n;
	snprintf(o->e.name, sizeof(o->e.name), "%s", name);
	int rc = shmrt_array_open(r, name, 0, c->vtype, 0, NULL, &o->a);
	if (!rc && shmrt_array_len(&o->a) < (uint64_t)(n ? n : 1))
		rc = -EPROTOTYPE;
	if (rc) {
		Py_DECREF(o);
		return pyshmrt_err(rc, "opening an Array");
	}
	if (lock != Py_None)
		o->lock = Py_NewRef(lock);
	return (PyObject *)o;
}

static PyMethodDef raw_methods[] = {
	{ "_handle", (PyCFunction)array_handle, METH_NOARGS, "What a pickle carries." },
	{ "_attach", (PyCFunction)array_attach, METH_VARARGS | METH_CLASS,
	  "Opens an existing Array by its handle." },
	{ "snapshot", (PyCFunction)(void (*)(void))pyshmrt_array_snapshot, METH_VARARGS | METH_KEYWORDS,
	  "snapshot(out=None, lo=0, hi=len): elements [lo, hi) as one instant's state, "
	  "whatever writers do meanwhile: a list (bytes for 'c', str for 'u'), or copied "
	  "into out (a writable buffer of the range's size, e.g. a numpy array) and out "
	  "returned. TornError if a writer died in the range." },
	{ "writing", (PyCFunction)(void (*)(void))pyshmrt_array_writing, METH_VARARGS | METH_KEYWORDS,
	  "writing(lo=0, hi=len): a context manager bracketing in-place writes (numpy) of "
	  "[lo, hi), so that snapshots never see them half done." },
	{ "repair", (PyCFunction)(void (*)(void))pyshmrt_array_repair, METH_VARARGS | METH_KEYWORDS,
	  "repair(lo=0, hi=len): marks a torn range consistent again, once restored." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef raw_getset[] = {
	{ "value", (getter)array_value_get, (setter)array_value_set,
	  "'c' and 'u' Arrays: the contents up to the first NUL", NULL },
	{ "raw", (getter)array_raw_get, (setter)array_raw_set, "'c' Arrays: all the bytes",
	  NULL },
	{ "_typecode", (getter)array_typecode, NULL, "the typecode", NULL },
	{ "_name", (getter)array_name, NULL, "the name in the process-tree region", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyMethodDef sync_methods[] = {
	{ "get_lock", (PyCFunction)array_get_lock, METH_NOARGS,
	  "The lock of this Array (a robust RLock unless one was given)." },
	{ "get_obj", (PyCFunction)array_get_obj, METH_NOARGS,
	  "A RawArray on the same elements." },
	{ "acquire", (PyCFunction)(void (*)(void))array_acquire, METH_VARARGS | METH_KEYWORDS,
	  "get_lock().acquire(...)" },
	{ "release", (PyCFunction)array_release, METH_NOARGS, "get_lock().release()" },
	{ "__enter__", (PyCFunction)array_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)array_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyBufferProcs array_as_buffer = {
	.bf_getbuffer = (getbufferproc)pyshmrt_array_getbuffer,
};

static PySequenceMethods array_as_sequence = {
	.sq_length = (lenfunc)array_len,
	.sq_item = (ssizeargfunc)array_item,
	.sq_ass_item = (ssizeobjargproc)array_ass_item,
};

static PyMappingMethods array_as_mapping = {
	.mp_length = (lenfunc)array_len,
	.mp_subscript = (binaryfunc)array_subscript,
	.mp_ass_subscript = (objobjargproc)array_ass_subscript,
};

PyTypeObject pyshmrt_RawArrayType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt.RawArray",
	.tp_basicsize = sizeof(ArrayObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "RawArray(typecode, size_or_initializer): shared typed elements, no lock.",
	.tp_new = RawArray_new,
	.tp_dealloc = (destructor)array_dealloc,
	.tp_traverse = (traverseproc)array_traverse,
	.tp_clear = (inquiry)array_clear,
	.tp_repr = (reprfunc)raw_repr,
	.tp_as_sequence = &array_as_sequence,
	.tp_as_mapping = &array_as_mapping,
	.tp_as_buffer = &array_as_buffer,
	.tp_methods = raw_methods,
	.tp_getset = raw_getset,
};

PyTypeObject pyshmrt_SynchronizedArrayType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt.SynchronizedArray",
	.tp_basicsize = sizeof(ArrayObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "SynchronizedArray(typecode, size_or_initializer, lock=True): shared typed "
		  "elements with a robust lock (multiprocessing.Array).",
	.tp_new = SyncArray_new,
	.tp_dealloc = (destructor)array_dealloc,
	.tp_traverse = (traverseproc)array_traverse,
	.tp_clear = (inquiry)array_clear,
	.tp_repr = (reprfunc)sync_repr,
	.tp_methods = sync_methods,
};

int pyshmrt_array_ready(PyObject *m)
{
	pyshmrt_SynchronizedArrayType.tp_base = &pyshmrt_RawArrayType;
	if (pyshmrt_bracket_ready() || PyType_Ready(&pyshmrt_RawArrayType) ||
	    PyType_Ready(&pyshmrt_SynchronizedArrayType))
		return -1;
	if (PyModule_AddObjectRef(m, "RawArray", (PyObject *)&pyshmrt_RawArrayType) ||
	    PyModule_AddObjectRef(m, "SynchronizedArray",
				  (PyObject *)&pyshmrt_SynchronizedArrayType))
		return -1;
	return 0;
}
