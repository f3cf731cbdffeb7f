/*
 * RawValue and Synchronized: multiprocessing's Value on a shmrt Value.
 *
 * A Value is one typed cell in the process-tree region, with a robust lock on the
 * same cache line (shmrt/value.h). .value reads and writes are single atomic
 * accesses (seq_cst), through the library's inline fast paths for the codes that
 * have them ('i', 'I', 'l', 'L', 'q', 'Q', 'd'), so a read never sees half of a
 * write and takes no lock (multiprocessing takes the lock for every .value; the
 * result is the same, as a cell is read or written whole either way).
 *
 * add(x), cas(expected, desired) and exchange(x) are atomic read-modify-writes that
 * multiprocessing lacks: v.add(1) is what "with v.get_lock(): v.value += 1" means,
 * without the lock. add() returns the value before the addition (fetch-and-add).
 *
 * Synchronized (Value(..., lock=True), the default) adds get_lock(), get_obj(),
 * acquire(), release() and the context manager. Its lock is the Value's own robust
 * lock, handed out as an RLock (multiprocessing's default); Value(..., lock=L) uses
 * L instead (any object with acquire and release); lock=False gives a RawValue.
 * get_obj() returns a RawValue on the same cell.
 */
#include "pyshmrt.h"

typedef struct {
	PyObject_HEAD
	pyshmrt_entry_t e;
	shmrt_value_t v;
	const pyshmrt_code_t *c;
	PyObject *lock;   /* Synchronized: its lock (NULL until get_lock() for its own) */
	PyObject *owner;  /* get_obj(): the object that owns the entry */
} ValueObj;

static PyObject *value_create(PyTypeObject *type, PyObject *code, PyObject *init)
{
	if (!PyUnicode_Check(code) || PyUnicode_GET_LENGTH(code) != 1) {
		PyErr_SetString(PyExc_TypeError, "typecode must be a one-character str");
		return NULL;
	}
	const pyshmrt_code_t *c = pyshmrt_code(PyUnicode_READ_CHAR(code, 0));
	if (!c)
		return NULL;
	shmrt_scalar_t s;
	memset(&s, 0, sizeof(s));
	if (init && init != Py_None && pyshmrt_to_scalar(c, init, &s))
		return NULL;
	ValueObj *o = (ValueObj *)type->tp_alloc(type, 0);
	if (!o)
		return NULL;
	o->c = c;
	if (pyshmrt_entry_new(&o->e, "value")) {
		Py_DECREF(o);
		return NULL;
	}
	int rc = shmrt_value_open(pyshmrt_tree(), o->e.name, SHMRT_O_CREATE | SHMRT_O_EXCL,
				  c->vtype, &s, &o->v);
	if (rc) {
		o->e.creator = 0;
		Py_DECREF(o);
		return pyshmrt_err(rc, "creating a Value");
	}
	return (PyObject *)o;
}

static PyObject *RawValue_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "typecode", "value", NULL };
	PyObject *code, *init = NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:RawValue", kwl, &code, &init))
		return NULL;
	return value_create(type, code, init);
}

static PyObject *Synchronized_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "typecode", "value", "lock", NULL };
	PyObject *code, *init = NULL, *lock = Py_True;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO:Value", kwl, &code, &init, &lock))
		return NULL;
	ValueObj *o = (ValueObj *)value_create(type, code, init);
	if (o && pyshmrt_lock_arg(lock, &o->lock))
		Py_CLEAR(o);
	return (PyObject *)o;
}

static int value_traverse(ValueObj *o, visitproc visit, void *arg)
{
	Py_VISIT(o->lock);
	Py_VISIT(o->owner);
	return 0;
}

static int value_clear(ValueObj *o)
{
	Py_CLEAR(o->lock);
	Py_CLEAR(o->owner);
	return 0;
}

static void value_dealloc(ValueObj *o)
{
	PyObject_GC_UnTrack(o);
	value_clear(o);
	pyshmrt_entry_drop(&o->e);
	Py_TYPE(o)->tp_free((PyObject *)o);
}

static PyObject *value_get(ValueObj *o, void *closure)
{
	(void)closure;
	switch (o->c->code) {
	case 'i': {
		int32_t x = 0;
		(void)shmrt_value_get_i32(&o->v, &x);
		return PyLong_FromLong(x);
	}
	case 'I': {
		uint32_t x = 0;
		(void)shmrt_value_get_u32(&o->v, &x);
		return PyLong_FromUnsignedLong(x);
	}
	case 'l':
	case 'q': {
		int64_t x = 0;
		(void)shmrt_value_get_i64(&o->v, &x);
		return PyLong_FromLongLong(x);
	}
	case 'L':
	case 'Q': {
		uint64_t x = 0;
		(void)shmrt_value_get_u64(&o->v, &x);
		return PyLong_FromUnsignedLongLong(x);
	}
	case 'd': {
		double x = 0;
		(void)shmrt_value_get_f64(&o->v, &x);
		return PyFloat_FromDouble(x);
	}
	default: {
		shmrt_scalar_t s;
		int rc = shmrt_value_load(&o->v, &s);
		if (rc)
			return pyshmrt_err(rc, "reading a Value");
		return pyshmrt_from_scalar(o->c, &s);
	}
	}
}

static int value_set(ValueObj *o, PyObject *x, void *closure)
{
	(void)closure;
	if (!x) {
		PyErr_SetString(PyExc_TypeError, "cannot delete the value");
		return -1;
	}
	shmrt_scalar_t s;
	if (pyshmrt_to_scalar(o->c, x, &s))
		return -1;
	int rc;
	switch (o->c->code) {
	case 'i': rc = shmrt_value_set_i32(&o->v, s.i32); break;
	case 'I': rc = shmrt_value_set_u32(&o->v, s.u32); break;
	case 'l':
	case 'q': rc = shmrt_value_set_i64(&o->v, s.i64); break;
	case 'L':
	case 'Q': rc = shmrt_value_set_u64(&o->v, s.u64); break;
	case 'd': rc = shmrt_value_set_f64(&o->v, s.f64); break;
	default: rc = shmrt_value_store(&o->v, s); break;
	}
	if (rc) {
		pyshmrt_err(rc, "writing a Value");
		return -1;
	}
	return 0;
}

static PyObject *value_add(ValueObj *o, PyObject *x)
{
	if (!o->c->is_int && !o->c->is_float) {
		PyErr_Format(PyExc_TypeError, "add() needs an integer or float Value, not '%c'",
			     o->c->code);
		return NULL;
	}
	/* The common call, add(<int>) on a signed Value: the int read directly (no
	 * __index__ call, no reference taken); what overflows 64 bits takes the general
	 * path below, which wraps. */
	char code = o->c->code;
	if (PyLong_CheckExact(x) && (code == 'q' || code == 'l' || code == 'i')) {
		int overflow;
		long long d = PyLong_AsLongLongAndOverflow(x, &overflow);
		if (!overflow && !(d == -1 && PyErr_Occurred())) {
			if (code == 'i') {
				int32_t r = 0;
				(void)shmrt_value_fetch_add_i32(&o->v, (int32_t)(uint32_t)d, &r);
				return PyLong_FromLong(r);
			}
			int64_t r = 0;
			(void)shmrt_value_fetch_add_i64(&o->v, (int64_t)d, &r);
			return PyLong_FromLongLong(r);
		}
		PyErr_Clear();
	}
	shmrt_scalar_t s, old;
	if (pyshmrt_to_scalar(o->c, x, &s))
		return NULL;
	switch (code) {
	case 'i': {
		int32_t r = 0;
		(void)shmrt_value_fetch_add_i32(&o->v, s.i32, &r);
		return PyLong_FromLong(r);
	}
	case 'I': {
		uint32_t r = 0;
		(void)shmrt_value_fetch_add_u32(&o->v, s.u32, &r);
		return PyLong_FromUnsignedLong(r);
	}
	case 'l':
	case 'q': {
		int64_t r = 0;
		(void)shmrt_value_fetch_add_i64(&o->v, s.i64, &r);
		return PyLong_FromLongLong(r);
	}
	case 'L':
	case 'Q': {
		uint64_t r = 0;
		(void)shmrt_value_fetch_add_u64(&o->v, s.u64, &r);
		return PyLong_FromUnsignedLongLong(r);
	}
	case 'd': {
		double r = 0;
		(void)shmrt_value_fetch_add_f64(&o->v, s.f64, &r);
		return PyFloat_FromDouble(r);
	}
	default: {
		int rc = shmrt_value_fetch(&o->v, SHMRT_OP_ADD, s, &old);
		if (rc)
			return pyshmrt_err(rc, "adding to a Value");
		return pyshmrt_from_scalar(o->c, &old);
	}
	}
}

static PyObject *value_cas(ValueObj *o, PyObject *args)
{
	PyObject *pe, *pd;
	if (!PyArg_ParseTuple(args, "OO:cas", &pe, &pd))
		return NULL;
	if (!o->c->is_int) {
		PyErr_Format(PyExc_TypeError, "cas() needs an integer Value, not '%c'", o->c->code);
		return NULL;
	}
	shmrt_scalar_t e, d;
	if (pyshmrt_to_scalar(o->c, pe, &e) || pyshmrt_to_scalar(o->c, pd, &d))
		return NULL;
	int rc;
	switch (o->c->code) {
	case 'i': rc = shmrt_value_cas_i32(&o->v, &e.i32, d.i32); break;
	case 'I': rc = shmrt_value_cas_u32(&o->v, &e.u32, d.u32); break;
	case 'l':
	case 'q': rc = shmrt_value_cas_i64(&o->v, &e.i64, d.i64); break;
	case 'L':
	case 'Q': rc = shmrt_value_cas_u64(&o->v, &e.u64, d.u64); break;
	default: rc = shmrt_value_cas(&o->v, &e, d); break;
	}
	if (rc && rc != -EAGAIN)
		return pyshmrt_err(rc, "compare-and-swap on a Value");
	return PyBool_FromLong(rc == 0);
}

static PyObject *value_exchange(ValueObj *o, PyObject *x)
{
	if (!o->c->is_int) {
		PyErr_Format(PyExc_TypeError, "exchange() needs an integer Value, not '%c'",
			     o->c->code);
		return NULL;
	}
	shmrt_scalar_t s, old;
	if (pyshmrt_to_scalar(o->c, x, &s))
		return NULL;
	int rc = shmrt_value_exchange(&o->v, s, &old);
	if (rc)
		return pyshmrt_err(rc, "exchanging a Value");
	return pyshmrt_from_scalar(o->c, &old);
}

static PyObject *ctype_repr(ValueObj *o)
{
	PyObject *v = value_get(o, NULL);
	if (!v)
		return NULL;
	PyObject *r = PyUnicode_FromFormat("%s(%R)", o->c->ctype, v);
	Py_DECREF(v);
	return r;
}

static PyObject *sync_repr(ValueObj *o)
{
	PyObject *inner = ctype_repr(o);
	if (!inner)
		return NULL;
	PyObject *r = PyUnicode_FromFormat("<Synchronized wrapper for %U>", inner);
	Py_DECREF(inner);
	return r;
}

static PyObject *value_get_lock(ValueObj *o, PyObject *noargs)
{
	(void)noargs;
	if (!o->lock) {
		o->lock = pyshmrt_objlock_new((PyObject *)o, &o->v, NULL);
		if (!o->lock)
			return NULL;
	}
	return Py_NewRef(o->lock);
}

static PyObject *value_get_obj(ValueObj *o, PyObject *noargs)
{
	(void)noargs;
	ValueObj *r = (ValueObj *)pyshmrt_RawValueType.tp_alloc(&pyshmrt_RawValueType, 0);
	if (!r)
		return NULL;
	memcpy(r->e.name, o->e.name, sizeof(r->e.name)); /* creator 0: not its to drop */
	r->v = o->v;
	r->c = o->c;
	r->owner = Py_NewRef((PyObject *)o);
	return (PyObject *)r;
}

static PyObject *value_acquire(ValueObj *o, PyObject *args, PyObject *kw)
{
	PyObject *l = value_get_lock(o, NULL);
	if (!l)
		return NULL;
	PyObject *r = pyshmrt_call_lock(l, "acquire", args, kw);
	Py_DECREF(l);
	return r;
}

static PyObject *value_release(ValueObj *o, PyObject *noargs)
{
	(void)noargs;
	PyObject *l = value_get_lock(o, NULL);
	if (!l)
		return NULL;
	PyObject *r = pyshmrt_call_lock(l, "release", NULL, NULL);
	Py_DECREF(l);
	return r;
}

static PyObject *value_enter(ValueObj *o, PyObject *noargs)
{
	(void)noargs;
	PyObject *l = value_get_lock(o, NULL);
	if (!l)
		return NULL;
	PyObject *r = pyshmrt_call_lock(l, "__enter__", NULL, NULL);
	Py_DECREF(l);
	return r;
}

static PyObject *value_exit(ValueObj *o, PyObject *args)
{
	PyObject *l = value_get_lock(o, NULL);
	if (!l)
		return NULL;
	PyObject *r = pyshmrt_call_lock(l, "__exit__", args, NULL);
	Py_DECREF(l);
	return r;
}

static PyObject *value_typecode(ValueObj *o, void *closure)
{
	(void)closure;
	return PyUnicode_FromOrdinal(o->c->code);
}

static PyObject *value_name(ValueObj *o, void *closure)
{
	(void)closure;
	return PyUnicode_FromString(o->e.name);
}

/* _handle() -> ("value", name, (typecode, lock)): what a pickle for a spawned child
 * carries (see shmrt/__init__.py); lock is None for the Value's own lock. */
static PyObject *value_handle(ValueObj *o, PyObject *noargs)
{
	(void)noargs;
	PyObject *lock = Py_None;
	if (o->lock) {
		/* The Value's own lock has no name of its own: it travels with the Value. */
		PyObject *n = PyObject_GetAttrString(o->lock, "_name");
		if (!n)
			PyErr_Clear();
		if (!n || PyUnicode_GetLength(n) != 0)
			lock = o->lock;
		Py_XDECREF(n);
	}
	return Py_BuildValue("(ss(CO))", "value", o->e.name, o->c->code, lock);
}

/* _attach(name, typecode, lock): opens an existing Value of the tree (a spawned
 * child's side of _handle). */
static PyObject *value_attach(PyTypeObject *type, PyObject *args)
{
	const char *name;
	int code;
	PyObject *lock;
	if (!PyArg_ParseTuple(args, "sCO:_attach", &name, &code, &lock))
		return NULL;
	const pyshmrt_code_t *c = pyshmrt_code(code);
	shmrt_region_t *r = pyshmrt_tree();
	if (!c || !r)
		return NULL;
	ValueObj *o = (ValueObj *)type->tp_alloc(type, 0);
	if (!o)
		return NULL;
	o->c = c;
	snprintf(o->e.name, sizeof(o->e.name), "%s", name);
	int rc = shmrt_value_open(r, name, 0, c->vtype, NULL, &o->v);
	if (rc) {
		Py_DECREF(o);
		return pyshmrt_err(rc, "opening a Value");
	}
	if (lock != Py_None)
		o->lock = Py_NewRef(lock);
	return (PyObject *)o;
}

static PyMethodDef raw_methods[] = {
	{ "_handle", (PyCFunction)value_handle, METH_NOARGS, "What a pickle carries." },
	{ "_attach", (PyCFunction)value_attach, METH_VARARGS | METH_CLASS,
	  "Opens an existing Value by its handle." },
	{ "add", (PyCFunction)value_add, METH_O,
	  "add(x) -> old value: atomic fetch-and-add (integer and float Values; integers "
	  "wrap)." },
	{ "cas", (PyCFunction)value_cas, METH_VARARGS,
	  "cas(expected, desired) -> bool: atomic compare-and-swap (integer Values)." },
	{ "exchange", (PyCFunction)value_exchange, METH_O,
	  "exchange(x) -> old value: atomic swap (integer Values)." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef raw_getset[] = {
	{ "value", (getter)value_get, (setter)value_set, "the value (atomic read and write)",
	  NULL },
	{ "_typecode", (getter)value_typecode, NULL, "the typecode", NULL },
	{ "_name", (getter)value_name, NULL, "the name in the process-tree region", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyMethodDef sync_methods[] = {
	{ "get_lock", (PyCFunction)value_get_lock, METH_NOARGS,
	  "The lock of this Value (a robust RLock unless one was given)." },
	{ "get_obj", (PyCFunction)value_get_obj, METH_NOARGS,
	  "A RawValue on the same cell." },
	{ "acquire", (PyCFunction)(void (*)(void))value_acquire, METH_VARARGS | METH_KEYWORDS,
	  "get_lock().acquire(...)" },
	{ "release", (PyCFunction)value_release, METH_NOARGS, "get_lock().release()" },
	{ "__enter__", (PyCFunction)value_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)value_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

PyTypeObject pyshmrt_RawValueType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt.RawValue",
	.tp_basicsize = sizeof(ValueObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "RawValue(typecode, value=None): a shared typed cell without a lock.",
	.tp_new = RawValue_new,
	.tp_dealloc = (destructor)value_dealloc,
	.tp_traverse = (traverseproc)value_traverse,
	.tp_clear = (inquiry)value_clear,
	.tp_repr = (reprfunc)ctype_repr,
	.tp_methods = raw_methods,
	.tp_getset = raw_getset,
};

PyTypeObject pyshmrt_SynchronizedType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt.Synchronized",
	.tp_basicsize = sizeof(ValueObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "Synchronized(typecode, value=None, lock=True): a shared typed cell with "
		  "a robust lock (multiprocessing.Value).",
	.tp_new = Synchronized_new,
	.tp_dealloc = (destructor)value_dealloc,
	.tp_traverse = (traverseproc)value_traverse,
	.tp_clear = (inquiry)value_clear,
	.tp_repr = (reprfunc)sync_repr,
	.tp_methods = sync_methods,
};

int pyshmrt_value_ready(PyObject *m)
{
	pyshmrt_SynchronizedType.tp_base = &pyshmrt_RawValueType;
	if (PyType_Ready(&pyshmrt_RawValueType) || PyType_Ready(&pyshmrt_SynchronizedType))
		return -1;
	if (PyModule_AddObjectRef(m, "RawValue", (PyObject *)&pyshmrt_RawValueType) ||
	    PyModule_AddObjectRef(m, "Synchronized", (PyObject *)&pyshmrt_SynchronizedType))
		return -1;
	return 0;
}
