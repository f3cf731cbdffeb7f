/*
 * The Manager's values and errors for Python: Python objects to the server's
 * msgpack-shaped values (shmrt/mvalue.h) and back, and the server's error codes to
 * the exceptions multiprocessing's proxies raise.
 *
 * Values. The server never unpickles: what crosses is None, bool, int (int64; a
 * larger one is an OverflowError here, before anything is sent), float, str,
 * bytes (bytearray and memoryview too, as bytes), list and tuple (both a list: a
 * tuple comes back as a list), dict (a map; its keys hashable kinds) and a proxy
 * (a ref: the container then holds the object itself, so `d['l'] = manager.list()`
 * stays live). Anything else is a TypeError that says so. Coming back, a ref is
 * made a proxy of this process's connection (pyshmrt_mgr_proxy_of_ref: a reference
 * taken and the type asked, two round trips, once per ref).
 *
 * Errors. The server speaks errnos; which exception Python raises for one depends
 * on the type and method (a dict's -ENOENT is a KeyError, a Namespace's an
 * AttributeError, a list's remove a ValueError), so the mapping takes both.
 */
#include "pyshmrt.h"
#include "pymgr.h"

#include <errno.h>
#include <string.h>

#define MGR_DEPTH_MAX 64

static int depth_err(void)
{
	PyErr_SetString(PyExc_ValueError,
			"a Manager value nests lists and dicts deeper than 64 levels");
	return -1;
}

static shmrt_mv_t *from_py(PyObject *o, int depth);

static shmrt_mv_t *nomem(shmrt_mv_t *v)
{
	shmrt_mv_free(v);
	if (!PyErr_Occurred())
		PyErr_NoMemory();
	return NULL;
}

static shmrt_mv_t *seq_from_py(PyObject *o, int depth)
{
	PyObject *fast = PySequence_Fast(o, "a sequence");
	if (!fast)
		return NULL;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
	shmrt_mv_t *l = shmrt_mv_list_cap((size_t)n);
	if (!l) {
		Py_DECREF(fast);
		return nomem(NULL);
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		shmrt_mv_t *item = from_py(PySequence_Fast_GET_ITEM(fast, i), depth + 1);
		if (!item || shmrt_mv_list_append(l, item)) {
			Py_DECREF(fast);
			return nomem(l);
		}
	}
	Py_DECREF(fast);
	return l;
}

static shmrt_mv_t *map_from_py(PyObject *o, int depth)
{
	shmrt_mv_t *m = shmrt_mv_map_cap((size_t)PyDict_GET_SIZE(o));
	if (!m)
		return nomem(NULL);
	Py_ssize_t pos = 0;
	PyObject *k, *v;
	while (PyDict_Next(o, &pos, &k, &v)) {
		shmrt_mv_t *mk = from_py(k, depth + 1);
		if (!mk)
			return nomem(m);
		shmrt_mv_kind_t kind = shmrt_mv_kind(mk);
		if (kind == SHMRT_MV_LIST || kind == SHMRT_MV_MAP || kind == SHMRT_MV_REF) {
			shmrt_mv_free(mk);
			shmrt_mv_free(m);
			PyErr_Format(PyExc_TypeError,
				     "a Manager dict's keys are None, bool, int, float, str or "
				     "bytes, not %.100s", Py_TYPE(k)->tp_name);
			return NULL;
		}
		shmrt_mv_t *mv = from_py(v, depth + 1);
		if (!mv) {
			shmrt_mv_free(mk);
			return nomem(m);
		}
		if (shmrt_mv_map_set(m, mk, mv))
			return nomem(m);
	}
	return m;
}

static shmrt_mv_t *from_py(PyObject *o, int depth)
{
	if (depth > MGR_DEPTH_MAX) {
		depth_err();
		return NULL;
	}
	shmrt_mv_t *v;
	if (o == Py_None)
		v = shmrt_mv_nil();
	else if (PyBool_Check(o))
		v = shmrt_mv_bool(o == Py_True);
	else if (PyLong_Check(o)) {
		int overflow;
		long long x = PyLong_AsLongLongAndOverflow(o, &overflow);
		if (overflow) {
			PyErr_SetString(PyExc_OverflowError,
					"a Manager int is a signed 64-bit integer");
			return NULL;
		}
		if (x == -1 && PyErr_Occurred())
			return NULL;
		v = shmrt_mv_int(x);
	} else if (PyFloat_Check(o))
		v = shmrt_mv_float(PyFloat_AS_DOUBLE(o));
	else if (PyUnicode_Check(o)) {
		Py_ssize_t n;
		const char *s = PyUnicode_AsUTF8AndSize(o, &n);
		if (!s)
			return NULL;
		v = shmrt_mv_strn(s, (size_t)n);
	} else if (PyBytes_Check(o))
		v = shmrt_mv_bytes(PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o));
	else if (PyByteArray_Check(o) || PyMemoryView_Check(o)) {
		Py_buffer b;
		if (PyObject_GetBuffer(o, &b, PyBUF_CONTIG_RO))
			return NULL;
		v = shmrt_mv_bytes(b.buf, (size_t)b.len);
		PyBuffer_Release(&b);
	} else if (PyList_Check(o) || PyTuple_Check(o))
		return seq_from_py(o, depth);
	else if (PyDict_Check(o))
		return map_from_py(o, depth);
	else if (PyObject_TypeCheck(o, &pyshmrt_MgrProxyType))
		v = shmrt_mv_ref(((MgrProxyObj *)o)->ref);
	else {
		PyErr_Format(PyExc_TypeError,
			     "a Manager value is None, bool, int, float, str, bytes, a list, "
			     "tuple or dict of them, or a proxy, not %.100s (the server holds "
			     "msgpack values and never unpickles)", Py_TYPE(o)->tp_name);
		return NULL;
	}
	return v ? v : nomem(NULL);
}

shmrt_mv_t *pyshmrt_mv_from_py(PyObject *o)
{
	return from_py(o, 0);
}

shmrt_mv_t *pyshmrt_mv_args(PyObject *const *args, Py_ssize_t n)
{
	shmrt_mv_t *l = shmrt_mv_list_cap((size_t)n);
	if (!l)
		return nomem(NULL);
	for (Py_ssize_t i = 0; i < n; i++) {
		shmrt_mv_t *item = from_py(args[i], 1);
		if (!item || shmrt_mv_list_append(l, item))
			return nomem(l);
	}
	return l;
}

PyObject *pyshmrt_mv_to_py(MgrConnObj *conn, const shmrt_mv_t *v, int tuples)
{
	switch (shmrt_mv_kind(v)) {
	case SHMRT_MV_NIL:
		Py_RETURN_NONE;
	case SHMRT_MV_BOOL: {
		bool b = false;
		(void)shmrt_mv_as_bool(v, &b);
		return PyBool_FromLong(b);
	}
	case SHMRT_MV_INT: {
		int64_t i = 0;
		(void)shmrt_mv_as_int(v, &i);
		return PyLong_FromLongLong(i);
	}
	case SHMRT_MV_FLOAT: {
		double d = 0;
		(void)shmrt_mv_as_float(v, &d);
		return PyFloat_FromDouble(d);
	}
	case SHMRT_MV_STR: {
		const char *s = "";
		size_t n = 0;
		(void)shmrt_mv_as_str(v, &s, &n);
		return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "surrogatepass");
	}
	case SHMRT_MV_BYTES: {
		const void *p = "";
		size_t n = 0;
		(void)shmrt_mv_as_bytes(v, &p, &n);
		return PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
	}
	case SHMRT_MV_LIST: {
		size_t n = shmrt_mv_list_len(v);
		PyObject *l = tuples ? PyTuple_New((Py_ssize_t)n) : PyList_New((Py_ssize_t)n);
		if (!l)
			return NULL;
		for (size_t i = 0; i < n; i++) {
			PyObject *item = pyshmrt_mv_to_py(conn, shmrt_mv_list_get(v, (int64_t)i), 0);
			if (!item) {
				Py_DECREF(l);
				return NULL;
			}
			if (tuples)
				PyTuple_SET_ITEM(l, (Py_ssize_t)i, item);
			else
				PyList_SET_ITEM(l, (Py_ssize_t)i, item);
		}
		return l;
	}
	case SHMRT_MV_MAP: {
		PyObject *d = PyDict_New();
		if (!d)
			return NULL;
		size_t pos = 0;
		const shmrt_mv_t *k;
		shmrt_mv_t *val;
		while (shmrt_mv_map_next(v, &pos, &k, &val)) {
			PyObject *pk = pyshmrt_mv_to_py(conn, k, 0);
			PyObject *pv = pk ? pyshmrt_mv_to_py(conn, val, 0) : NULL;
			if (!pv || PyDict_SetItem(d, pk, pv)) {
				Py_XDECREF(pk);
				Py_XDECREF(pv);
				Py_DECREF(d);
				return NULL;
			}
			Py_DECREF(pk);
			Py_DECREF(pv);
		}
		return d;
	}
	case SHMRT_MV_REF: {
		uint64_t id = 0;
		(void)shmrt_mv_as_ref(v, &id);
		return pyshmrt_mgr_proxy_of_ref(conn, id);
	}
	}
	PyErr_SetString(PyExc_RuntimeError, "a Manager value of an unknown kind");
	return NULL;
}

/* ---- errors ----------------------------------------------------------------------- */

static PyObject *exc_from(const char *module, const char *name)
{
	PyObject *m = PyImport_ImportModule(module);
	if (!m)
		return NULL;
	PyObject *e = PyObject_GetAttrString(m, name);
	Py_DECREF(m);
	return e;
}

static void raise_from(const char *module, const char *name, const char *msg)
{
	PyObject *e = exc_from(module, name);
	if (!e)
		return;
	if (msg)
		PyErr_SetString(e, msg);
	else
		PyErr_SetNone(e);
	Py_DECREF(e);
}

static int is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

/* The key of a KeyError: the call's first argument when there is one. */
static void key_error(PyObject *const *args, Py_ssize_t nargs, const char *method)
{
	if (nargs > 0 && !is(method, "popitem"))
		PyErr_SetObject(PyExc_KeyError, args[0]);
	else
		PyErr_SetString(PyExc_KeyError, "popitem(): dictionary is empty");
}

PyObject *pyshmrt_mgr_err(int rc, const char *type, const char *method,
			  PyObject *const *args, Py_ssize_t nargs)
{
	int e = rc < 0 ? -rc : rc;
	int seq = is(type, "list") || is(type, "Array");
	int slice = method && strstr(method, "slice__");
	switch (e) {
	case ENOENT:
		if (is(method, "__typeid__") || is(method, "create") || is(method, "incref"))
			break;
		if (is(type, "dict")) {
			key_error(args, nargs, method);
			return NULL;
		}
		if (is(type, "Namespace")) {
			if (nargs > 0 && PyUnicode_Check(args[0]))
				PyErr_Format(PyExc_AttributeError,
					     "'Namespace' object has no attribute '%U'", args[0]);
			else
				PyErr_SetString(PyExc_AttributeError, "no such attribute");
			return NULL;
		}
		if (is(method, "remove")) {
			PyErr_SetString(PyExc_ValueError, "list.remove(x): x not in list");
			return NULL;
		}
		if (is(method, "index")) {
			if (nargs > 0)
				PyErr_Format(PyExc_ValueError, "%R is not in list", args[0]);
			else
				PyErr_SetString(PyExc_ValueError, "not in list");
			return NULL;
		}
		PyErr_Format(PyExc_AttributeError, "a Manager %s has no method %s",
			     type ? type : "object", method ? method : "?");
		return NULL;
	case ERANGE:
		if (seq && !slice && !is(method, "__setitem__") && !is(method, "set")) {
			if (is(method, "pop"))
				PyErr_SetString(PyExc_IndexError, nargs ? "pop index out of range"
									: "pop from empty list");
			else
				PyErr_Format(PyExc_IndexError, "%s index out of range", type);
			return NULL;
		}
		if (is(type, "list") && is(method, "__setitem__")) {
			PyErr_SetString(PyExc_IndexError, "list assignment index out of range");
			return NULL;
		}
		if (is(type, "Array") && is(method, "__setitem__") && nargs > 1 &&
		    PyLong_Check(args[0])) {
			/* out of range index, or a value out of the typecode's range */
			PyErr_SetString(PyExc_IndexError,
					"array assignment index out of range, or a value "
					"out of the typecode's range");
			return NULL;
		}
		PyErr_SetString(PyExc_OverflowError, "a value out of the typecode's range");
		return NULL;
	case EINVAL:
		if (slice || is(method, "acquire") || is(method, "release") ||
		    is(method, "task_done") || is(type, "Barrier")) {
			PyErr_Format(PyExc_ValueError, "%s.%s: %s", type ? type : "object",
				     method ? method : "?",
				     is(method, "task_done") ? "task_done() called too many times"
				     : is(method, "release") ? "released too many times"
							     : "invalid argument");
			return NULL;
		}
		PyErr_Format(PyExc_TypeError, "%s.%s: an argument of the wrong kind or number",
			     type ? type : "object", method ? method : "?");
		return NULL;
	case EAGAIN:
	case ETIMEDOUT:
		if (is(type, "Queue") || is(type, "JoinableQueue")) {
			raise_from("queue", method && !strncmp(method, "put", 3) ? "Full" : "Empty",
				   NULL);
			return NULL;
		}
		if (e == ETIMEDOUT) {
			PyErr_Format(PyExc_TimeoutError,
				     "%s.%s: the Manager did not answer in time",
				     type ? type : "object", method ? method : "?");
			return NULL;
		}
		break;
	case ECANCELED:
		raise_from("threading", "BrokenBarrierError", NULL);
		return NULL;
	case EPERM:
		if (method) {
			PyErr_SetString(PyExc_RuntimeError, "cannot release un-acquired lock");
			return NULL;
		}
		break;
	case EDEADLK:
		PyErr_Format(PyExc_RuntimeError,
			     "%s.acquire: this process already holds the Lock (acquiring it "
			     "again without a timeout would wait forever)", type ? type : "Lock");
		return NULL;
	case E2BIG:
		PyErr_Format(PyExc_ValueError, "%s: too large", type ? type : "object");
		return NULL;
	case ENOMEM:
		return PyErr_NoMemory();
	case EMSGSIZE:
		PyErr_SetString(PyExc_ValueError,
				"a Manager request or reply above the frame cap (16 MiB)");
		return NULL;
	default:
		break;
	}
	char what[160];
	snprintf(what, sizeof(what), "Manager %s%s%s", type ? type : "call",
		 method ? "." : "", method ? method : "");
	return pyshmrt_err(rc, what);
}
