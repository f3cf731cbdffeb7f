/*
 * shmrt._shmrt._Conn: one endpoint of a shmrt pipe pair (include/shmrt/pipe.h), the
 * byte transport under shmrt.Pipe()'s Connection objects (shmrt/connection.py does
 * the pickling and multiprocessing's surface).
 *
 * _pipe_pair() makes a pair (shmrt_pipe_pair) in the process-tree region, named
 * "py.pipe.<n>", of PCAP messages of up to PMAX bytes per direction, and returns its
 * two endpoints. An endpoint's liveness is the kernel's: each holds descriptors that
 * fork copies and death closes, so a receiver whose peer process was killed gets
 * EOFError (within 50 ms) instead of waiting forever.
 *
 * A message is the kind of the payload ('b' send_bytes, 'p' a pickle) and its bytes.
 * One that fits a slot travels as [kind][bytes]; a larger one is cut into chunks, as
 * a stream, which is safe because a direction has one sender and one receiver:
 *
 *   first chunk:   [kind | 0x80][7 bytes padding][u64 total][first bytes]
 *   next chunks:   ['c'][the next bytes]                until total bytes are there
 *
 * The receiver allocates the message's bytes once (total, checked against
 * maxlength before anything is allocated) and copies each chunk into place. A sender
 * that dies in the middle of a message leaves the receiver with EOFError, never with
 * half a message.
 *
 * Threads: the rings are single-producer single-consumer, and a message's chunks
 * must stay together, so the threads that share an end take turns per message and
 * direction (turn[0] for sending, turn[1] for receiving), waiting for their turn
 * without the GIL and interruptibly.
 *
 * Under spawn and forkserver an endpoint passes by name with its kernel descriptors
 * (shmrt_pipe_fds; the Python layer sends them with multiprocessing's DupFd, as
 * multiprocessing's own Connection is sent), and the child adopts it
 * (shmrt_pipe_adopt): it becomes one of the endpoint's holders, as a forked child
 * is, so the parent may close its copy once the child is started, and the child's
 * death is seen by the peer. A handle without descriptors (an endpoint opened by
 * name) is taken over by name, its liveness that of the taker's registry slot.
 */
#include "pyshmrt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PCAP 64u
#define PMAX 8192u

typedef struct {
	PyObject_HEAD
	char name[SHMRT_OBJNAME_MAX + 1];
	shmrt_pipe_t p;
	int end, open;
	int readable, writable; /* the Connection's (_bind): checked by send, recv */
	PyThread_type_lock turn[2]; /* one sending thread, one receiving thread at once */
} ConnObj;

extern PyTypeObject pyshmrt_ConnType;

struct pop {
	ConnObj *c;
	const void *msg;
	size_t len;
	void *buf;
	size_t cap, got;
};

static int send_try(void *ctx, shmrt_ns_t t)
{
	struct pop *o = ctx;
	return shmrt_pipe_send(&o->c->p, o->msg, o->len, t);
}

static int recv_try(void *ctx, shmrt_ns_t t)
{
	struct pop *o = ctx;
	return shmrt_pipe_recv(&o->c->p, o->buf, o->cap, &o->got, t);
}

static int poll_try(void *ctx, shmrt_ns_t t)
{
	struct pop *o = ctx;
	return shmrt_pipe_poll(&o->c->p, t);
}

static PyObject *closed_err(void)
{
	PyErr_SetString(PyExc_OSError, "handle is closed");
	return NULL;
}

static PyObject *eof_err(void)
{
	PyErr_SetString(PyExc_EOFError, "the peer closed the connection, or its process ended");
	return NULL;
}

static ConnObj *conn_alloc(void)
{
	ConnObj *c = (ConnObj *)pyshmrt_ConnType.tp_alloc(&pyshmrt_ConnType, 0);
	if (c && (!(c->turn[0] = PyThread_allocate_lock()) ||
		  !(c->turn[1] = PyThread_allocate_lock()))) {
		Py_DECREF(c);
		return (ConnObj *)PyErr_NoMemory();
	}
	return c;
}

/* Waits for this thread's turn at a direction of the end (turn_end gives it back):
 * 0, or -1 with a Python error (a signal's exception). */
static int turn_take(PyThread_type_lock lk)
{
	if (PyThread_acquire_lock(lk, NOWAIT_LOCK))
		return 0;
	for (;;) {
		PyLockStatus st;
		Py_BEGIN_ALLOW_THREADS
		st = PyThread_acquire_lock_timed(lk, 50000, 0); /* 50 ms, then signals */
		Py_END_ALLOW_THREADS
		if (st == PY_LOCK_ACQUIRED)
			return 0;
		if (PyErr_CheckSignals())
			return -1;
	}
}

/* _pipe_pair() -> (end0, end1). */
PyObject *pyshmrt_pipe_pair(PyObject *self, PyObject *noargs)
{
	(void)self;
	(void)noargs;
	pyshmrt_entry_t e;
	if (pyshmrt_entry_new(&e, "pipe"))
		return NULL;
	ConnObj *a = conn_alloc(), *b = conn_alloc();
	if (!a || !b) {
		Py_XDECREF(a);
		Py_XDECREF(b);
		return NULL;
	}
	int rc = shmrt_pipe_pair(pyshmrt_tree(), e.name, PCAP, PMAX, &a->p, &b->p);
	if (rc) {
		Py_DECREF(a);
		Py_DECREF(b);
		return pyshmrt_err(rc, "creating a pipe");
	}
	snprintf(a->name, sizeof(a->name), "%s", e.name);
	snprintf(b->name, sizeof(b->name), "%s", e.name);
	a->end = 0;
	b->end = 1;
	a->open = b->open = 1;
	a->readable = a->writable = b->readable = b->writable = 1;
	return Py_BuildValue("(NN)", a, b);
}

static void conn_dealloc(ConnObj *c)
{
	if (c->open)
		shmrt_pipe_close(&c->p);
	for (int i = 0; i < 2; i++)
		if (c->turn[i])
			PyThread_free_lock(c->turn[i]);
	Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *conn_handle(ConnObj *c, PyObject *noargs)
{
	(void)noargs;
	if (!c->open)
		return closed_err();
	int fds[3];
	if (c->p.paired && !shmrt_pipe_fds(&c->p, fds))
		return Py_BuildValue("(ss(iiii))", "pipe", c->name, c->end, fds[0], fds[1], fds[2]);
	return Py_BuildValue("(ss(i))", "pipe", c->name, c->end);
}

static PyObject *conn_attach(PyTypeObject *type, PyObject *args)
{
	(void)type;
	const char *name;
	int end, fds[3] = { -1, -1, -1 };
	if (!PyArg_ParseTuple(args, "si|iii:_attach", &name, &end, &fds[0], &fds[1], &fds[2]))
		return NULL;
	int nfds = (fds[0] >= 0) + (fds[1] >= 0) + (fds[2] >= 0);
	shmrt_region_t *r = pyshmrt_tree();
	ConnObj *c = r ? conn_alloc() : NULL;
	int rc = -EINVAL;
	if (c && nfds == 3)
		rc = shmrt_pipe_adopt(r, name, end, PCAP, PMAX, fds, &c->p);
	else if (c && nfds == 0)
		rc = shmrt_pipe_open(r, name, 0, end, PCAP, PMAX, &c->p);
	if (rc) /* the descriptors are ours to close unless adopted */
		for (int i = 0; i < 3; i++)
			if (fds[i] >= 0)
				close(fds[i]);
	if (!c)
		return NULL;
	if (rc) {
		Py_DECREF(c);
		return pyshmrt_err(rc, "opening a pipe");
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->end = end;
	c->open = 1;
	c->readable = c->writable = 1;
	return (PyObject *)c;
}

/* Sends one piece; 0, or -1 with a Python error. */
static int send_piece(ConnObj *c, const void *msg, size_t len)
{
	struct pop o = { .c = c, .msg = msg, .len = len };
	int rc = pyshmrt_sliced(send_try, &o, -1);
	if (!rc)
		return 0;
	if (rc == -EPIPE)
		PyErr_SetString(PyExc_BrokenPipeError,
				"the peer closed the connection, or its process ended");
	else if (rc != PYSHMRT_EXC)
		pyshmrt_err(rc, "sending on a pipe");
	return -1;
}

/* Sends a message of kind, in this thread's turn: 0, or -1 with a Python error. */
static int send_msg_turn(ConnObj *c, int kind, const char *src, size_t len)
{
	if (!c->open) {
		closed_err();
		return -1;
	}
	char small[256];
	if (len + 1 <= sizeof(small)) { /* no 8 KiB frame to touch for a small one */
		small[0] = (char)kind;
		memcpy(small + 1, src, len);
		return send_piece(c, small, len + 1);
	}
	char chunk[PMAX];
	if (len + 1 <= PMAX) {
		chunk[0] = (char)kind;
		memcpy(chunk + 1, src, len);
		return send_piece(c, chunk, len + 1);
	} else {
		uint64_t total = len;
		memset(chunk, 0, 8);
		chunk[0] = (char)(kind | 0x80);
		memcpy(chunk + 8, &total, 8);
		size_t n = PMAX - 16;
		memcpy(chunk + 16, src, n);
		if (send_piece(c, chunk, PMAX))
			return -1;
		for (size_t at = n; at < len; at += n) {
			n = len - at < PMAX - 1 ? len - at : PMAX - 1;
			chunk[0] = 'c';
			memcpy(chunk + 1, src + at, n);
			if (send_piece(c, chunk, n + 1))
				return -1;
		}
	}
	return 0;
}

/* Sends a message of kind: 0, or -1 with a Python error. */
static int send_msg(ConnObj *c, int kind, const char *src, size_t len)
{
	if (turn_take(c->turn[0]))
		return -1;
	int r = send_msg_turn(c, kind, src, len);
	PyThread_release_lock(c->turn[0]);
	return r;
}

/* _send(kind, data). */
static PyObject *conn_send(ConnObj *c, PyObject *args)
{
	int kind;
	Py_buffer v;
	if (!PyArg_ParseTuple(args, "Cy*:_send", &kind, &v))
		return NULL;
	int r = send_msg(c, kind, v.buf, (size_t)v.len);
	PyBuffer_Release(&v);
	return r ? NULL : Py_NewRef(Py_None);
}

/* Receives one piece into buf (PMAX bytes): its length, or -1 with a Python error
 * (EOFError at the end), or -2 at the timeout. */
static Py_ssize_t recv_piece(ConnObj *c, char *buf, double timeout)
{
	struct pop o = { .c = c, .buf = buf, .cap = PMAX };
	int rc = pyshmrt_sliced(recv_try, &o, timeout);
	if (!rc)
		return (Py_ssize_t)o.got;
	if (rc == -ETIMEDOUT)
		return -2;
	if (rc == -EPIPE)
		eof_err();
	else if (rc != PYSHMRT_EXC)
		pyshmrt_err(rc, "receiving from a pipe");
	return -1;
}

/* Receives a message: its bytes, *kind its kind. maxlen < 0: no limit; over it:
 * OSError("bad message length") and the connection is closed, as multiprocessing
 * does. NULL with a Python error (EOFError at the end). */
static PyObject *recv_msg_turn(ConnObj *c, Py_ssize_t maxlen, int *kindp)
{
	if (!c->open)
		return closed_err();
	char chunk[PMAX];
	Py_ssize_t n = recv_piece(c, chunk, -1);
	if (n < 0)
		return NULL;
	if (n < 1)
		goto bad;
	if (!((unsigned char)chunk[0] & 0x80)) {
		if (maxlen >= 0 && n - 1 > maxlen)
			goto toolong;
		*kindp = chunk[0];
		return PyBytes_FromStringAndSize(chunk + 1, n - 1);
	}
	if (n != PMAX)
		goto bad;
	int kind = chunk[0] & 0x7f;
	uint64_t total;
	memcpy(&total, chunk + 8, 8);
	if (total < PMAX || total > (uint64_t)PY_SSIZE_T_MAX)
		goto bad;
	if (maxlen >= 0 && total > (uint64_t)maxlen)
		goto toolong;
	PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
	if (!b)
		return NULL;
	char *d = PyBytes_AS_STRING(b);
	size_t at = PMAX - 16;
	memcpy(d, chunk + 16, at);
	while (at < total) {
		n = recv_piece(c, chunk, -1);
		if (n < 0 || n < 1 || chunk[0] != 'c' || (uint64_t)(n - 1) > total - at) {
			Py_DECREF(b);
			if (n >= 0)
				goto bad;
			return NULL;
		}
		memcpy(d + at, chunk + 1, (size_t)n - 1);
		at += (size_t)n - 1;
	}
	*kindp = kind;
	return b;
bad:
	PyErr_SetString(PyExc_OSError, "a malformed pipe message");
	return NULL;
toolong:
	shmrt_pipe_close(&c->p);
	c->open = 0;
	PyErr_SetString(PyExc_OSError, "bad message length");
	return NULL;
}

/* recv_msg_turn in this thread's turn at receiving. */
static PyObject *recv_msg(ConnObj *c, Py_ssize_t maxlen, int *kindp)
{
	if (turn_take(c->turn[1]))
		return NULL;
	PyObject *r = recv_msg_turn(c, maxlen, kindp);
	PyThread_release_lock(c->turn[1]);
	return r;
}

/* _recv(maxlength) -> (kind, bytes): recv_msg. */
static PyObject *conn_recv(ConnObj *c, PyObject *arg)
{
	Py_ssize_t maxlen = PyLong_AsSsize_t(arg);
	if (maxlen == -1 && PyErr_Occurred())
		return NULL;
	int kind = 0;
	PyObject *b = recv_msg(c, maxlen, &kind);
	return b ? Py_BuildValue("(CN)", kind, b) : NULL;
}

/*
 * Fast methods: send, recv and recv_bytes of shmrt.Connection (connection.py binds
 * them on each Connection, with its readable and writable flags given by _bind), so
 * that a message costs one call into C and the pickling, with no Python frame: the
 * frames and argument tuples were half of a small message's cost.
 */
static PyObject *p_dumps, *p_loads, *p_five;

static int pfast_init(void)
{
	if (p_loads)
		return 0;
	PyObject *pk = PyImport_ImportModule("pickle");
	if (!pk)
		return -1;
	if (!p_five)
		p_five = PyLong_FromLong(5);
	if (!p_dumps)
		p_dumps = PyObject_GetAttrString(pk, "dumps");
	if (p_five && p_dumps)
		p_loads = PyObject_GetAttrString(pk, "loads");
	Py_DECREF(pk);
	return p_loads ? 0 : -1;
}

static int check_rw(ConnObj *c, int write)
{
	if (write ? c->writable : c->readable)
		return 0;
	PyErr_SetString(PyExc_OSError, write ? "connection is read-only" : "connection is write-only");
	return -1;
}

/* send(obj): pickled with protocol 5. */
static PyObject *conn_fsend(ConnObj *c, PyObject *obj)
{
	if (check_rw(c, 1) || pfast_init())
		return NULL;
	PyObject *args[2] = { obj, p_five };
	PyObject *data = PyObject_Vectorcall(p_dumps, args, 2, NULL);
	if (!data)
		return NULL;
	int r = send_msg(c, 'p', PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data));
	Py_DECREF(data);
	return r ? NULL : Py_NewRef(Py_None);
}

/* recv(): the next object; EOFError when the peer is gone and all was read. */
static PyObject *conn_frecv(ConnObj *c, PyObject *noargs)
{
	(void)noargs;
	if (check_rw(c, 0) || pfast_init())
		return NULL;
	int kind = 0;
	PyObject *b = recv_msg(c, -1, &kind);
	if (!b)
		return NULL;
	PyObject *r = PyObject_CallOneArg(p_loads, b);
	Py_DECREF(b);
	return r;
}

/* recv_bytes(maxlength=None). */
static PyObject *conn_frecv_bytes(ConnObj *c, PyObject *const *args, Py_ssize_t nargs,
				  PyObject *kwnames)
{
	PyObject *ml = Py_None;
	Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	if (nargs > 1 || nargs + nk > 1 ||
	    (nk && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "maxlength"))) {
		PyErr_SetString(PyExc_TypeError, "recv_bytes(maxlength=None)");
		return NULL;
	}
	if (nargs + nk == 1)
		ml = args[0];
	if (check_rw(c, 0))
		return NULL;
	Py_ssize_t maxlen = -1;
	if (ml != Py_None) {
		maxlen = PyLong_AsSsize_t(ml);
		if (maxlen == -1 && PyErr_Occurred())
			return NULL;
		if (maxlen < 0) {
			PyErr_SetString(PyExc_ValueError, "negative maxlength");
			return NULL;
		}
	}
	int kind = 0;
	return recv_msg(c, maxlen, &kind);
}

/* _bind(readable, writable). */
static PyObject *conn_bind(ConnObj *c, PyObject *args)
{
	int r, w;
	if (!PyArg_ParseTuple(args, "pp:_bind", &r, &w))
		return NULL;
	c->readable = r;
	c->writable = w;
	Py_RETURN_NONE;
}

/* _poll(timeout) -> bool. */
static PyObject *conn_poll(ConnObj *c, PyObject *arg)
{
	double timeout = PyFloat_AsDouble(arg);
	if (timeout == -1 && PyErr_Occurred())
		return NULL;
	if (!c->open)
		return closed_err();
	struct pop o = { .c = c };
	int rc = pyshmrt_sliced(poll_try, &o, timeout);
	if (!rc)
		Py_RETURN_TRUE;
	if (rc == -ETIMEDOUT)
		Py_RETURN_FALSE;
	if (rc != PYSHMRT_EXC)
		pyshmrt_err(rc, "polling a pipe");
	return NULL;
}

static PyObject *conn_close(ConnObj *c, PyObject *noargs)
{
	(void)noargs;
	if (c->open) {
		shmrt_pipe_close(&c->p);
		c->open = 0;
	}
	Py_RETURN_NONE;
}

static PyObject *conn_closed(ConnObj *c, void *unused)
{
	(void)unused;
	return PyBool_FromLong(!c->open);
}

static PyMethodDef conn_methods[] = {
	{ "_handle", (PyCFunction)conn_handle, METH_NOARGS, "What a pickle carries." },
	{ "_attach", (PyCFunction)conn_attach, METH_VARARGS | METH_CLASS,
	  "Opens an endpoint by its handle." },
	{ "_send", (PyCFunction)conn_send, METH_VARARGS, "_send(kind, data)." },
	{ "_recv", (PyCFunction)conn_recv, METH_O,
	  "_recv(maxlength) -> (kind, bytes); EOFError at the end." },
	{ "_poll", (PyCFunction)conn_poll, METH_O, "_poll(timeout) -> bool." },
	{ "send", (PyCFunction)conn_fsend, METH_O, "send(obj): Connection.send's fast path." },
	{ "recv", (PyCFunction)conn_frecv, METH_NOARGS, "recv(): Connection.recv's fast path." },
	{ "recv_bytes", (PyCFunction)(void (*)(void))conn_frecv_bytes,
	  METH_FASTCALL | METH_KEYWORDS, "recv_bytes(maxlength=None): the fast path." },
	{ "_bind", (PyCFunction)conn_bind, METH_VARARGS,
	  "_bind(readable, writable): what send and recv allow." },
	{ "_close", (PyCFunction)conn_close, METH_NOARGS, "Closes this endpoint here." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef conn_getset[] = {
	{ "_closed", (getter)conn_closed, NULL, "Whether it was closed here.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject pyshmrt_ConnType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt._shmrt._Conn",
	.tp_basicsize = sizeof(ConnObj),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "One endpoint of a pipe: the byte transport under shmrt.Pipe().",
	.tp_dealloc = (destructor)conn_dealloc,
	.tp_methods = conn_methods,
	.tp_getset = conn_getset,
};
