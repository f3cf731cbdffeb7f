/*
 * Typecodes, and the conversions between Python objects and shmrt scalars.
 *
 * multiprocessing's Value and Array take the typecodes of the array module (and
 * ctypes types, mapped to their codes by the Python package). Each code has a shmrt
 * element type for storage, a buffer format for the buffer protocol (the one ctypes
 * exports, except 'u': ctypes says "<u", which numpy refuses, and we say "w", UCS-4,
 * which numpy reads as U1) and the ctypes class name that repr() prints.
 *
 * Conversions follow ctypes: integers wrap to their width (c_int(2**32 + 1) is 1),
 * a float given for an integer is a TypeError, a float accepts ints, 'c' takes a
 * one-byte bytes object (or an int), 'u' a one-character str, '?' any object's truth.
 * 'u' has no shmrt element type: it is stored as a uint32 code point.
 */
#include "pyshmrt.h"

static const pyshmrt_code_t codes[] = {
	{ 'b', SHMRT_VT_INT8, 1, "b", "c_byte", 1, 0 },
	{ 'B', SHMRT_VT_UINT8, 1, "B", "c_ubyte", 1, 0 },
	{ 'h', SHMRT_VT_INT16, 2, "h", "c_short", 1, 0 },
	{ 'H', SHMRT_VT_UINT16, 2, "H", "c_ushort", 1, 0 },
	{ 'i', SHMRT_VT_INT32, 4, "i", "c_int", 1, 0 },
	{ 'I', SHMRT_VT_UINT32, 4, "I", "c_uint", 1, 0 },
	{ 'l', SHMRT_VT_LONG, 8, "l", "c_long", 1, 0 },
	{ 'L', SHMRT_VT_ULONG, 8, "L", "c_ulong", 1, 0 },
	{ 'q', SHMRT_VT_INT64, 8, "q", "c_long", 1, 0 },
	{ 'Q', SHMRT_VT_UINT64, 8, "Q", "c_ulong", 1, 0 },
	{ 'f', SHMRT_VT_FLOAT, 4, "f", "c_float", 0, 1 },
	{ 'd', SHMRT_VT_DOUBLE, 8, "d", "c_double", 0, 1 },
	{ 'c', SHMRT_VT_CHAR, 1, "c", "c_char", 0, 0 },
	{ 'u', SHMRT_VT_UINT32, 4, "w", "c_wchar", 0, 0 },
	{ '?', SHMRT_VT_BOOL, 1, "?", "c_bool", 0, 0 },
};

const pyshmrt_code_t *pyshmrt_code(int code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return &codes[i];
	PyErr_Format(PyExc_TypeError, "unsupported typecode %R",
		     PyUnicode_FromOrdinal(code > 0 && code < 0x110000 ? code : '?'));
	return NULL;
}

int pyshmrt_to_scalar(const pyshmrt_code_t *c, PyObject *o, shmrt_scalar_t *out)
{
	shmrt_scalar_t s;
	memset(&s, 0, sizeof(s));
	if (c->is_int) {
		if (PyFloat_Check(o)) {
			PyErr_Format(PyExc_TypeError, "int expected instead of float");
			return -1;
		}
		PyObject *i = PyNumber_Index(o);
		if (!i)
			return -1;
		unsigned long long u = PyLong_AsUnsignedLongLongMask(i);
		Py_DECREF(i);
		if (u == (unsigned long long)-1 && PyErr_Occurred())
			return -1;
		switch (c->size) {
		case 1: s.u8 = (uint8_t)u; break;
		case 2: s.u16 = (uint16_t)u; break;
		case 4: s.u32 = (uint32_t)u; break;
		default: s.u64 = (uint64_t)u; break;
		}
	} else if (c->is_float) {
		double d = PyFloat_AsDouble(o);
		if (d == -1 && PyErr_Occurred()) {
			PyErr_Format(PyExc_TypeError, "must be real number, not %.100s",
				     Py_TYPE(o)->tp_name);
			return -1;
		}
		if (c->size == 4)
			s.f32 = (float)d;
		else
			s.f64 = d;
	} else if (c->code == 'c') {
		if (PyBytes_Check(o) && PyBytes_GET_SIZE(o) == 1) {
			s.c = PyBytes_AS_STRING(o)[0];
		} else if (PyByteArray_Check(o) && PyByteArray_GET_SIZE(o) == 1) {
			s.c = PyByteArray_AS_STRING(o)[0];
		} else if (PyLong_Check(o)) {
			long v = PyLong_AsLong(o);
			if (v < 0 || v > 255) {
				if (!PyErr_Occurred())
					PyErr_SetString(PyExc_TypeError,
							"one character bytes, bytearray or integer expected");
				return -1;
			}
			s.c = (char)v;
		} else {
			PyErr_SetString(PyExc_TypeError,
					"one character bytes, bytearray or integer expected");
			return -1;
		}
	} else if (c->code == 'u') {
		if (!PyUnicode_Check(o) || PyUnicode_GET_LENGTH(o) != 1) {
			PyErr_SetString(PyExc_TypeError, "one character unicode string expected");
			return -1;
		}
		s.u32 = PyUnicode_READ_CHAR(o, 0);
	} else { /* '?' */
		int t = PyObject_IsTrue(o);
		if (t < 0)
			return -1;
		s.b = t;
	}
	*out = s;
	return 0;
}

PyObject *pyshmrt_from_mem(const pyshmrt_code_t *c, const void *p)
{
	switch (c->code) {
	case 'b': return PyLong_FromLong(*(const int8_t *)p);
	case 'B': return PyLong_FromLong(*(const uint8_t *)p);
	case 'h': return PyLong_FromLong(*(const int16_t *)p);
	case 'H': return PyLong_FromLong(*(const uint16_t *)p);
	case 'i': return PyLong_FromLong(*(const int32_t *)p);
	case 'I': return PyLong_FromUnsignedLong(*(const uint32_t *)p);
	case 'l':
	case 'q': return PyLong_FromLongLong(*(const int64_t *)p);
	case 'L':
	case 'Q': return PyLong_FromUnsignedLongLong(*(const uint64_t *)p);
	case 'f': return PyFloat_FromDouble(*(const float *)p);
	case 'd': return PyFloat_FromDouble(*(const double *)p);
	case 'c': return PyBytes_FromStringAndSize((const char *)p, 1);
	case 'u': {
		uint32_t u = *(const uint32_t *)p;
		if (u > 0x10ffff) {
			PyErr_Format(PyExc_ValueError, "invalid code point %u", u);
			return NULL;
		}
		return PyUnicode_FromOrdinal((int)u);
	}
	case '?': return PyBool_FromLong(*(const uint8_t *)p != 0);
	}
	PyErr_SetString(PyExc_SystemError, "bad typecode");
	return NULL;
}

PyObject *pyshmrt_from_scalar(const pyshmrt_code_t *c, const shmrt_scalar_t *s)
{
	/* Every member of the union starts at its first byte. */
	return pyshmrt_from_mem(c, s);
}
