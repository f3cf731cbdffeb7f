/*
 * shmrt._shmrt._Segment: the memory under shmrt.shared_memory.SharedMemory.
 *
 * A segment is a named shmrt region (/dev/shm/NAME, as a POSIX shared memory
 * object's) holding one object, "shm", of SHMRT_TYPE_BYTES and the requested size.
 * Its memory is exported through the buffer protocol (SharedMemory.buf is a
 * memoryview of it), and the segment counts the views it exported: close() unmaps
 * only when none is left, and otherwise raises BufferError and leaves everything
 * mapped, so a numpy array made on .buf never points into unmapped memory (no
 * segfault; multiprocessing's mmap refuses the same way).
 *
 * Lifetime is POSIX's: unlink removes the name; the memory lives as long as some
 * process maps it. A process attaching by name never unlinks it (only unlink() does;
 * shared_memory.py registers the creator's name with multiprocessing's resource
 * tracker, as multiprocessing does, and attachers do not register: gh-82300).
 */
#include "pyshmrt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct {
	PyObject_HEAD
	shmrt_region_t *r;
	char *mem;
	Py_ssize_t size;
	Py_ssize_t exports;
} SegObj;

static PyObject *seg_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "name", "create", "size", NULL };
	const char *name;
	int create = 0;
	Py_ssize_t size = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|pn:_Segment", kwl, &name, &create, &size))
		return NULL;
	if (create && size <= 0) {
		PyErr_SetString(PyExc_ValueError, "'size' must be a positive number different from zero");
		return NULL;
	}
	SegObj *s = (SegObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	shmrt_region_opts_t o;
	shmrt_region_opts_init(&o);
	o.max_objects = 1;
	o.max_procs = 256;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = shmrt_region_open(name, create ? SHMRT_O_CREATE | SHMRT_O_EXCL : 0, &o, &s->r);
	Py_END_ALLOW_THREADS
	if (rc) {
		s->r = NULL;
		Py_DECREF(s);
		if (rc == -ENOENT) {
			PyErr_Format(PyExc_FileNotFoundError, "[Errno %d] No such file or directory: '%s'",
				     ENOENT, name);
			return NULL;
		}
		if (rc == -EEXIST) {
			PyErr_Format(PyExc_FileExistsError, "[Errno %d] File exists: '%s'", EEXIST,
				     name);
			return NULL;
		}
		return pyshmrt_err(rc, create ? "creating a shared memory segment"
					      : "opening a shared memory segment");
	}
	shmrt_object_info_t info;
	rc = shmrt_object_open(s->r, "shm", create ? SHMRT_O_CREATE | SHMRT_O_EXCL : 0,
			       SHMRT_TYPE_BYTES, create ? (uint64_t)size : 1, NULL, &info);
	if (rc) {
		Py_DECREF(s);
		if (create)
			(void)shmrt_region_unlink(name);
		return pyshmrt_err(rc, "opening a shared memory segment's memory");
	}
	s->mem = shmrt_ptr(s->r, info.off);
	s->size = (Py_ssize_t)info.size;
	return (PyObject *)s;
}

static void seg_dealloc(SegObj *s)
{
	/* Only reached with no export left: each export holds a reference. */
	if (s->r)
		(void)shmrt_region_close(s->r);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static int seg_getbuffer(SegObj *s, Py_buffer *view, int flags)
{
	if (!s->r) {
		PyErr_SetString(PyExc_ValueError, "the shared memory segment is closed");
		view->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)s, s->mem, s->size, 0, flags))
		return -1;
	s->exports++;
	return 0;
}

static void seg_releasebuffer(SegObj *s, Py_buffer *view)
{
	(void)view;
	s->exports--;
}

static PyBufferProcs seg_as_buffer = {
	(getbufferproc)seg_getbuffer,
	(releasebufferproc)seg_releasebuffer,
};

static PyObject *seg_close(SegObj *s, PyObject *noargs)
{
	(void)noargs;
	if (!s->r)
		Py_RETURN_NONE;
	if (s->exports) {
		PyErr_Format(PyExc_BufferError,
			     "cannot close a shared memory segment with %zd exported view(s) "
			     "alive (numpy arrays or memoryviews of .buf): delete them first",
			     s->exports);
		return NULL;
	}
	(void)shmrt_region_close(s->r);
	s->r = NULL;
	s->mem = NULL;
	Py_RETURN_NONE;
}

static PyObject *seg_size(SegObj *s, void *unused)
{
	(void)unused;
	return PyLong_FromSsize_t(s->size);
}

static PyObject *seg_exports(SegObj *s, void *unused)
{
	(void)unused;
	return PyLong_FromSsize_t(s->exports);
}

/* _unlink_segment(name): removes the name (the memory lives while mapped). */
PyObject *pyshmrt_unlink_segment(PyObject *self, PyObject *arg)
{
	(void)self;
	const char *name = PyUnicode_AsUTF8(arg);
	if (!name)
		return NULL;
	int rc = shmrt_region_unlink(name);
	if (rc == -ENOENT) {
		PyErr_Format(PyExc_FileNotFoundError, "[Errno %d] No such file or directory: '%s'",
			     ENOENT, name);
		return NULL;
	}
	if (rc)
		return pyshmrt_err(rc, "unlinking a shared memory segment");
	Py_RETURN_NONE;
}

static PyMethodDef seg_methods[] = {
	{ "close", (PyCFunction)seg_close, METH_NOARGS,
	  "Unmaps the segment here; BufferError while views of it are alive." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef seg_getset[] = {
	{ "size", (getter)seg_size, NULL, "Bytes of the segment.", NULL },
	{ "exports", (getter)seg_exports, NULL, "Views of the segment alive.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject pyshmrt_SegmentType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt._shmrt._Segment",
	.tp_basicsize = sizeof(SegObj),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "_Segment(name, create=False, size=0): the memory under SharedMemory.",
	.tp_new = seg_new,
	.tp_dealloc = (destructor)seg_dealloc,
	.tp_methods = seg_methods,
	.tp_getset = seg_getset,
	.tp_as_buffer = &seg_as_buffer,
};

int pyshmrt_transport_ready(PyObject *m)
{
	PyTypeObject *ts[] = { &pyshmrt_QueueType, &pyshmrt_ConnType, &pyshmrt_SegmentType };
	const char *names[] = { "_Queue", "_Conn", "_Segment" };
	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		if (PyType_Ready(ts[i]) || PyModule_AddObjectRef(m, names[i], (PyObject *)ts[i]))
			return -1;
	return 0;
}
