/*
 * The Manager's server, connections and proxies for Python (shmrt.managers builds
 * multiprocessing's classes over them).
 *
 * _MgrServer starts a server process (shmrt_manager_start: forked, dies with the
 * thread that started it) and shuts it down. _MgrConn is one process's connection
 * to a server (shmrt_manager_connect, authenticated with the authkey; over the
 * shared-memory channel once busy when the server is local, unless
 * SHMRT_MANAGER_SHM=0). _MgrProxy is the base of every proxy class: it holds the
 * object's ref id, its type id and the server's address, and a reference of its own
 * process's connection.
 *
 * Processes. A proxy that reaches another process (copied by fork, or unpickled
 * under spawn and forkserver) binds again there: it asks shmrt.managers for this
 * process's connection to the address (made lazily, one per process, with
 * current_process().authkey) and takes a reference to the object on it
 * (shmrt_manager_proxy). A proxy never uses a connection of another process: the
 * socket a fork copied is the parent's, and a child writing on it would mix its
 * frames with the parent's. The parent's reference made in the parent is dropped by
 * the parent only.
 *
 * Calls. _call(name, *args) converts the arguments (mgr_value.c), then, with the
 * GIL released, takes the lock of the calling thread's connection and makes the
 * round trip (shmrt_manager_call by the ref id); the result is converted back with the GIL held. Calls that
 * may wait in the server (an acquire, a get) use _callt(timeout, ...), whose call
 * timeout covers the server's own. A lock whose holder died is acquired with
 * -EOWNERDEAD: that is a success here, with shmrt.OwnerDiedWarning.
 *
 * Connections. A process's proxies hold their references on one connection of the
 * process (made by shmrt.managers._conn_for); each thread calls on a connection of
 * its own (_call_conn_for, kept in a threading.local: closed when the thread
 * ends), so a thread parked in the server (a get, an acquire) holds up no other,
 * and a Lock is owned by the thread that acquired it, as in multiprocessing, where
 * each thread has its connection too (a Lock acquired in one thread and released in
 * another is refused here: RuntimeError).
 *
 * Concurrency: a connection serves one call at a time (its lock). Ordering: the
 * server's (shmrt/manager.h).
 */
#include "pymgr.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static PyObject *conn_for;   /* shmrt.managers._conn_for(address) -> _MgrConn */
static PyObject *call_conn_for; /* ..._call_conn_for(address): the thread's */
static PyObject *classes;    /* dict: typeid -> proxy class; None -> the default */

static shmrt_ns_t to_ns(PyObject *timeout)
{
	if (timeout == Py_None)
		return -1;
	double t = PyFloat_AsDouble(timeout);
	if (t == -1.0 && PyErr_Occurred())
		return -2;
	if (t != t) {
		PyErr_SetString(PyExc_ValueError, "Invalid value NaN (not a number)");
		return -2;
	}
	if (t < 0)
		t = 0;
	if (t > 1e9)
		return -1;
	return (shmrt_ns_t)(t * 1e9);
}

/* ---- _MgrServer --------------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	shmrt_manager_server_t *srv;
	pid_t owner;
	PyObject *address;
} MgrServerObj;

static int server_init(MgrServerObj *s, PyObject *args, PyObject *kw)
{
	static char *kws[] = { "address", "authkey", NULL };
	const char *addr;
	Py_buffer key;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "sy*", kws, &addr, &key))
		return -1;
	if (s->srv) {
		PyBuffer_Release(&key);
		PyErr_SetString(PyExc_RuntimeError, "the server is already started");
		return -1;
	}
	shmrt_manager_server_t *srv = NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = shmrt_manager_start(addr, key.buf, (size_t)key.len, NULL, &srv);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&key);
	if (rc) {
		pyshmrt_err(rc, "starting the Manager's server");
		return -1;
	}
	s->address = PyUnicode_FromString(shmrt_manager_address(srv));
	if (!s->address) {
		(void)shmrt_manager_shutdown(srv);
		return -1;
	}
	s->srv = srv;
	s->owner = getpid();
	return 0;
}

static int server_stop(MgrServerObj *s)
{
	if (!s->srv || s->owner != getpid())
		return 0;
	shmrt_manager_server_t *srv = s->srv;
	s->srv = NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = shmrt_manager_shutdown(srv);
	Py_END_ALLOW_THREADS
	return rc;
}

static PyObject *server_shutdown(MgrServerObj *s, PyObject *noargs)
{
	(void)noargs;
	return PyLong_FromLong(server_stop(s));
}

static PyObject *server_pid(MgrServerObj *s, void *closure)
{
	(void)closure;
	if (!s->srv)
		Py_RETURN_NONE;
	return PyLong_FromLong((long)shmrt_manager_pid(s->srv));
}

static PyObject *server_address(MgrServerObj *s, void *closure)
{
	(void)closure;
	if (!s->address)
		Py_RETURN_NONE;
	return Py_NewRef(s->address);
}

static void server_dealloc(MgrServerObj *s)
{
	(void)server_stop(s);
	Py_CLEAR(s->address);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyMethodDef server_methods[] = {
	{ "shutdown", (PyCFunction)server_shutdown, METH_NOARGS,
	  "Stops the server process (SIGTERM, SIGKILL after 5 s) and reaps it." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef server_getset[] = {
	{ "pid", (getter)server_pid, NULL, "The server's process id (None once shut down).",
	  NULL },
	{ "address", (getter)server_address, NULL, "The address it listens on.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject MgrServerType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmrt._shmrt._MgrServer",
	.tp_basicsize = sizeof(MgrServerObj),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "_MgrServer(address, authkey): a Manager server process.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)server_init,
	.tp_dealloc = (destructor)server_dealloc,
	.tp_methods = server_methods,
	.tp_getset = server_getset,
};

/* ---- _MgrConn ----------------------------------------------------------------------- */

static PyTypeObject MgrConnType;

static int conn_init(MgrConnObj *c, PyObject *args, PyObject *kw)
{
	static char *kws[] = { "address", "authkey", "timeout", NULL };
	PyObject *addr, *timeout = NULL;
	Py_buffer key;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "Uy*|O", kws, &addr, &key, &timeout))
		return -1;
	shmrt_ns_t t = timeout ? to_ns(timeout) : 30ll * 1000000000ll;
	const char *a = PyUnicode_AsUTF8(addr);
	if (t == -2 || !a || c->c) {
		if (c->c)
			PyErr_SetString(PyExc_RuntimeError, "already connected");
		PyBuffer_Release(&key);
		return -1;
	}
	if (!c->lock && !(c->lock = PyThread_allocate_lock())) {
		PyBuffer_Release(&key);
		PyErr_NoMemory();
		return -1;
	}
	/* A local server's calls take the shared-memory channel (about 1 us against
	 * 4.5 us on the socket; the same semantics) once the connection proves busy
	 * (SHMRT_MANAGER_SHM_AFTER_CALLS calls), at once with SHMRT_MANAGER_SHM=1, never
	 * with =0; a TCP address, or a server in another PID namespace, stays on its
	 * socket. A process that makes a few calls (a pool's worker) so pays neither the
	 * channel's 3.5 ms nor its 4 MiB. shmrt_manager_connect reads the variable. */
	shmrt_manager_conn_t *conn = NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = shmrt_manager_connect(a, key.buf, (size_t)key.len, t, &conn);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&key);
	if (rc == -EACCES) {
		PyObject *e = PyImport_ImportModule("multiprocessing");
		PyObject *ae = e ? PyObject_GetAttrString(e, "AuthenticationError") : NULL;
		if (ae)
			PyErr_Format(ae, "the Manager at %U refused the authkey", addr);
		Py_XDECREF(ae);
		Py_XDECREF(e);
		return -1;
	}
	if (rc) {
		pyshmrt_err(rc, "connecting to the Manager");
		return -1;
	}
	c->c = conn;
	c->pid = getpid();
	Py_XSETREF(c->address, Py_NewRef(addr));
	Py_XSETREF(c->types, PyDict_New());
	return c->types ? 0 : -1;
}

/* Takes the lock and runs fn with the GIL released. */
#define CONN_RUN(conn, stmt)                                              \
	do {                                                              \
		Py_BEGIN_ALLOW_THREADS                                    \
		PyThread_acquire_lock((conn)->lock, WAIT_LOCK);           \
		stmt;                                                     \
		PyThread_release_lock((conn)->lock);                      \
		Py_END_ALLOW_THREADS                                      \
	} while (0)

static int conn_ok(MgrConnObj *c)
{
	if (c->c && c->pid == getpid())
		return 1;
	PyErr_SetString(PyExc_BrokenPipeError,
			c->c ? "a Manager connection of another process"
			     : "the Manager connection is closed");
	return 0;
}

static void conn_close(MgrConnObj *c)
{
	if (!c->c)
		return;
	shmrt_manager_conn_t *conn = c->c;
	c->c = NULL;
	/* a forked copy closes its descriptor only (nothing is sent), without its lock,
	 * which another thread of the parent may have held at the fork */
	if (c->lock && c->pid == getpid())
		CONN_RUN(c, shmrt_manager_close(conn));
	else
		shmrt_manager_close(conn);
}

static PyObject *conn_close_m(MgrConnObj *c, PyObject *noargs)
{
	(void)noargs;
	conn_close(c);
	Py_RETURN_NONE;
}

static void conn_dealloc(MgrConnObj *c)
{
	conn_close(c);
	if (c->lock)
		PyThread_free_lock(c->lock);
	Py_CLEAR(c->address);
	Py_CLEAR(c->types);
	Py_TYPE(c)->tp_free((PyObject *)c);
}

/* A new instance of cls (a _MgrProxy class) bound to conn's proxy p. Releases p on
 * failure. */
static PyObject *proxy_new(PyObject *cls, MgrConnObj *conn, shmrt_proxy_t *p,
			   PyObject *typeid)
{
	PyObject *o = NULL;
	if (PyType_Check(cls) && PyType_IsSubtype((PyTypeObject *)cls, &pyshmrt_MgrProxyType))
		o = PyObject_CallNoArgs(cls);
	else
		PyErr_SetString(PyExc_TypeError, "not a Manager proxy class");
	if (!o) {
		CONN_RUN(conn, (void)shmrt_proxy_release(p));
		return NULL;
	}
	MgrProxyObj *x = (MgrProxyObj *)o;
	x->conn = (MgrConnObj *)Py_NewRef((PyObject *)conn);
	x->p = p;
	x->pid = conn->pid;
	x->ref = shmrt_proxy_ref(p);
	Py_XSETREF(x->typeid, Py_NewRef(typeid));
	Py_XSETREF(x->address, Py_NewRef(conn->address));
	const char *t = PyUnicode_AsUTF8(typeid);
	snprintf(x->type, sizeof(x->type), "%s", t ? t : "?");
	PyErr_Clear();
	return o;
}

/* create(cls, typeid, init=None): a new object of the server and its proxy. */
static PyObject *conn_create(MgrConnObj *c, PyObject *args)
{
	PyObject *cls, *typeid, *init = Py_None;
	if (!PyArg_ParseTuple(args, "OU|O", &cls, &typeid, &init) || !conn_ok(c))
		return NULL;
	const char *t = PyUnicode_AsUTF8(typeid);
	if (!t)
		return NULL;
	shmrt_mv_t *mv = init == Py_None ? NULL : pyshmrt_mv_from_py(init);
	if (!mv && PyErr_Occurred())
		return NULL;
	shmrt_proxy_t *p = NULL;
	int rc;
	CONN_RUN(c, rc = shmrt_manager_create(c->c, t, mv, &p));
	if (rc) {
		if (rc == -ENOENT)
			return PyErr_Format(PyExc_KeyError, "the Manager has no type %R", typeid);
		if (rc == -EINVAL && (!strcmp(t, "Value") || !strcmp(t, "Array")))
			return PyErr_Format(PyExc_TypeError,
					    "a Manager %s of this typecode and value cannot "
					    "be made", t);
		return pyshmrt_mgr_err(rc, t, "create", NULL, 0);
	}
	return proxy_new(cls, c, p, typeid);
}

static PyObject *conn_value(MgrConnObj *c, int objects)
{
	if (!conn_ok(c))
		return NULL;
	shmrt_mv_t *v = NULL;
	int rc;
	CONN_RUN(c, rc = objects ? shmrt_manager_objects(c->c, &v) : shmrt_manager_stats(c->c, &v));
	if (rc)
		return pyshmrt_mgr_err(rc, NULL, NULL, NULL, 0);
	/* refs here are listed, not proxied: shown as their ids */
	PyObject *r;
	if (objects) {
		shmrt_mv_t *objs = shmrt_mv_map_get_str(v, "objects");
		for (size_t i = 0; i < shmrt_mv_list_len(objs); i++) {
			shmrt_mv_t *o = shmrt_mv_list_get(objs, (int64_t)i);
			uint64_t id = 0;
			(void)shmrt_mv_as_ref(shmrt_mv_map_get_str(o, "id"), &id);
			(void)shmrt_mv_map_set(o, shmrt_mv_str("id"), shmrt_mv_int((int64_t)id));
		}
	}
	r = pyshmrt_mv_to_py(c, v, 0);
	shmrt_mv_free(v);
	return r;
}

static PyObject *conn_stats(MgrConnObj *c, PyObject *noargs)
{
	(void)noargs;
	return conn_value(c, 0);
}

static PyObject *conn_objects(MgrConnObj *c, PyObject *noargs)
{
	(void)noargs;
	return conn_value(c, 1);
}

/* "shm" (the shared-memory channel) or "socket". */
static PyObject *conn_channel(MgrConnObj *c, PyObject *noargs)
{
	(void)noargs;
	if (!conn_ok(c))
		return NULL;
	int rc;
	CONN_RUN(c, rc = shmrt_manager_channel(c->c));
	if (rc < 0)
		return pyshmrt_mgr_err(rc, NULL, NULL, NULL, 0);
	return PyUnicode_FromString(rc == SHMRT_MANAGER_CHANNEL_SHM ? "shm" : "socket");
}

static PyMethodDef conn_methods[] = {
	{ "channel", (PyCFunction)conn_channel, METH_NOARGS,
	  "The channel this connection's calls take: \"shm\" or \"socket\"." },
	{ "create", (PyCFunction)conn_create, METH_VARARGS,
	  "create(cls, typeid, init=None): a new object and its proxy (an instance of cls)." },
	{ "stats", (PyCFunction)conn_stats, METH_NOARGS, "The server's figures (a dict)." },
	{ "objects", (PyCFunction)conn_objects, METH_NOARGS,
	  "What the server holds (a dict, as `shmrt manager ls --json`)." },
	{ "close", (PyCFunction)conn_close_m, METH_NOARGS, "Closes the connection." },
	{ NULL, NULL, 0, NULL },
};

static PyTypeObject MgrConnType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmrt._shmrt._MgrConn",
	.tp_basicsize = sizeof(MgrConnObj),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "_MgrConn(address, authkey, timeout=30.0): a connection to a Manager.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)conn_init,
	.tp_dealloc = (destructor)conn_dealloc,
	.tp_methods = conn_methods,
};

/* ---- _MgrProxy ---------------------------------------------------------------------- */

PyObject *pyshmrt_mgr_proxy_of_ref(MgrConnObj *conn, uint64_t ref)
{
	if (!classes) {
		PyErr_SetString(PyExc_RuntimeError, "shmrt.managers is not loaded");
		return NULL;
	}
	PyObject *key = PyLong_FromUnsignedLongLong(ref);
	if (!key)
		return NULL;
	PyObject *typeid = PyDict_GetItemWithError(conn->types, key);
	Py_XINCREF(typeid);
	if (PyErr_Occurred()) {
		Py_DECREF(key);
		return NULL;
	}
	shmrt_proxy_t *p = NULL;
	shmrt_mv_t *res = NULL;
	int rc, trc = 0;
	CONN_RUN(conn, rc = shmrt_manager_proxy(conn->c, ref, &p);
		 if (rc == 0 && !typeid) trc = shmrt_proxy_call(p, "__typeid__", NULL, -1, &res));
	if (rc || trc) {
		Py_DECREF(key);
		Py_XDECREF(typeid);
		if (rc == 0)
			CONN_RUN(conn, (void)shmrt_proxy_release(p));
		return pyshmrt_mgr_err(rc ? rc : trc, NULL, "incref", NULL, 0);
	}
	if (!typeid) {
		typeid = pyshmrt_mv_to_py(conn, res, 0);
		shmrt_mv_free(res);
		if (!typeid || !PyUnicode_Check(typeid) ||
		    PyDict_SetItem(conn->types, key, typeid)) {
			if (typeid && !PyUnicode_Check(typeid))
				PyErr_SetString(PyExc_RuntimeError, "a type id that is no str");
			Py_XDECREF(typeid);
			Py_DECREF(key);
			CONN_RUN(conn, (void)shmrt_proxy_release(p));
			return NULL;
		}
	}
	Py_DECREF(key);
	PyObject *cls = PyDict_GetItemWithError(classes, typeid);
	if (!cls && !PyErr_Occurred())
		cls = PyDict_GetItemWithError(classes, Py_None);
	PyObject *o = cls ? proxy_new(cls, conn, p, typeid) : NULL;
	if (!cls) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_RuntimeError, "no default proxy class");
		CONN_RUN(conn, (void)shmrt_proxy_release(p));
	}
	Py_DECREF(typeid);
	return o;
}

/* Binds x in this process if it is not yet: 0, or -1 with a Python error. */
static int proxy_bind(MgrProxyObj *x)
{
	pid_t me = getpid();
	if (x->conn && x->pid == me && x->p)
		return 0;
	if (!x->address || !x->typeid) {
		PyErr_SetString(PyExc_ValueError, "an empty Manager proxy");
		return -1;
	}
	if (!conn_for) {
		PyErr_SetString(PyExc_RuntimeError, "shmrt.managers is not loaded");
		return -1;
	}
	/* another process's: forget its reference (its own process drops it) */
	x->p = NULL;
	Py_CLEAR(x->conn);
	PyObject *c = PyObject_CallOneArg(conn_for, x->address);
	if (!c)
		return -1;
	if (!PyObject_TypeCheck(c, &MgrConnType) || !conn_ok((MgrConnObj *)c)) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_TypeError, "_conn_for gave no connection");
		Py_DECREF(c);
		return -1;
	}
	MgrConnObj *conn = (MgrConnObj *)c;
	shmrt_proxy_t *p = NULL;
	int rc;
	CONN_RUN(conn, rc = shmrt_manager_proxy(conn->c, x->ref, &p));
	if (rc) {
		Py_DECREF(c);
		pyshmrt_mgr_err(rc, x->type, "incref", NULL, 0);
		return -1;
	}
	x->conn = conn;
	x->p = p;
	x->pid = me;
	return 0;
}

/* The calling thread's connection (borrowed from x's cache), or NULL with an error. */
static MgrConnObj *call_conn(MgrProxyObj *x)
{
	unsigned long tid = PyThread_get_thread_ident();
	if (x->ccall && x->ctid == tid && x->cpid == x->pid && x->ccall->c)
		return x->ccall;
	if (!call_conn_for) {
		PyErr_SetString(PyExc_RuntimeError, "shmrt.managers is not loaded");
		return NULL;
	}
	PyObject *c = PyObject_CallOneArg(call_conn_for, x->address);
	if (!c)
		return NULL;
	if (!PyObject_TypeCheck(c, &MgrConnType) || !conn_ok((MgrConnObj *)c)) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_TypeError, "_call_conn_for gave no connection");
		Py_DECREF(c);
		return NULL;
	}
	Py_XSETREF(x->ccall, (MgrConnObj *)c);
	x->ctid = tid;
	x->cpid = x->pid;
	return x->ccall;
}

static int is_acquire(const char *m)
{
	return !strcmp(m, "acquire") || !strcmp(m, "wait");
}

static PyObject *proxy_do(MgrProxyObj *x, shmrt_ns_t timeout, PyObject *const *args,
			  Py_ssize_t nargs)
{
	if (nargs < 1 || !PyUnicode_Check(args[0])) {
		PyErr_SetString(PyExc_TypeError, "a method name (str) first");
		return NULL;
	}
	const char *method = PyUnicode_AsUTF8(args[0]);
	if (!method || proxy_bind(x))
		return NULL;
	shmrt_mv_t *a = pyshmrt_mv_args(args + 1, nargs - 1);
	if (!a)
		return NULL;
	MgrConnObj *cc = call_conn(x);
	if (!cc) {
		shmrt_mv_free(a);
		return NULL;
	}
	shmrt_mv_t *res = NULL;
	int rc;
	CONN_RUN(cc, rc = shmrt_manager_call(cc->c, x->ref, method, a, timeout, &res));
	if (rc == -EOWNERDEAD && is_acquire(method)) {
		shmrt_mv_free(res);
		if (PyErr_WarnFormat(pyshmrt_OwnerDiedWarning, 1,
				     "the Manager %s was acquired from a holder that died "
				     "holding it: what it protects may be half-updated",
				     x->type))
			return NULL;
		Py_RETURN_TRUE;
	}
	if (rc) {
		shmrt_mv_free(res);
		return pyshmrt_mgr_err(rc, x->type, method, args + 1, nargs - 1);
	}
	PyObject *r = pyshmrt_mv_to_py(x->conn, res, 0);
	shmrt_mv_free(res);
	return r;
}

/* _call(name, *args): the method's result. */
static PyObject *proxy_call(MgrProxyObj *x, PyObject *const *args, Py_ssize_t nargs)
{
	return proxy_do(x, 60ll * 1000000000ll, args, nargs);
}

/* _callt(timeout, name, *args): with a call timeout in seconds (None: none). */
static PyObject *proxy_callt(MgrProxyObj *x, PyObject *const *args, Py_ssize_t nargs)
{
	if (nargs < 2) {
		PyErr_SetString(PyExc_TypeError, "_callt(timeout, name, *args)");
		return NULL;
	}
	shmrt_ns_t t = to_ns(args[0]);
	if (t == -2)
		return NULL;
	return proxy_do(x, t, args + 1, nargs - 1);
}

static PyObject *proxy_bind_m(MgrProxyObj *x, PyObject *noargs)
{
	(void)noargs;
	if (proxy_bind(x))
		return NULL;
	Py_RETURN_NONE;
}

/* _setup(ref, typeid, address): an unbound proxy's identity (unpickled). */
static PyObject *proxy_setup(MgrProxyObj *x, PyObject *args)
{
	unsigned long long ref;
	PyObject *typeid, *address;
	if (!PyArg_ParseTuple(args, "KUU", &ref, &typeid, &address))
		return NULL;
	if (x->typeid) {
		PyErr_SetString(PyExc_RuntimeError, "the proxy is set up already");
		return NULL;
	}
	x->ref = ref;
	x->typeid = Py_NewRef(typeid);
	x->address = Py_NewRef(address);
	const char *t = PyUnicode_AsUTF8(typeid);
	snprintf(x->type, sizeof(x->type), "%s", t ? t : "?");
	PyErr_Clear();
	Py_RETURN_NONE;
}

static void proxy_dealloc(MgrProxyObj *x)
{
	if (x->weaklist)
		PyObject_ClearWeakRefs((PyObject *)x);
	MgrConnObj *conn = x->conn;
	if (conn && x->p && x->pid == getpid() && conn->c && conn->pid == x->pid) {
		shmrt_proxy_t *p = x->p;
		CONN_RUN(conn, (void)shmrt_proxy_release(p));
	}
	x->p = NULL;
	Py_CLEAR(x->conn);
	Py_CLEAR(x->ccall);
	Py_CLEAR(x->typeid);
	Py_CLEAR(x->address);
	Py_TYPE(x)->tp_free((PyObject *)x);
}

static PyObject *proxy_ref(MgrProxyObj *x, void *c)
{
	(void)c;
	return PyLong_FromUnsignedLongLong(x->ref);
}

static PyObject *proxy_typeid(MgrProxyObj *x, void *c)
{
	(void)c;
	return Py_NewRef(x->typeid ? x->typeid : Py_None);
}

static PyObject *proxy_address(MgrProxyObj *x, void *c)
{
	(void)c;
	return Py_NewRef(x->address ? x->address : Py_None);
}

static PyMethodDef proxy_methods[] = {
	{ "_call", (PyCFunction)(void (*)(void))proxy_call, METH_FASTCALL,
	  "_call(name, *args): calls the object's method on the server." },
	{ "_callt", (PyCFunction)(void (*)(void))proxy_callt, METH_FASTCALL,
	  "_callt(timeout, name, *args): the same, the round trip bounded by timeout "
	  "seconds (None: none)." },
	{ "_bind", (PyCFunction)proxy_bind_m, METH_NOARGS,
	  "Takes a reference in this process (done by the first call otherwise)." },
	{ "_setup", (PyCFunction)proxy_setup, METH_VARARGS,
	  "_setup(ref, typeid, address): an unpickled proxy's identity." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef proxy_getset[] = {
	{ "_ref", (getter)proxy_ref, NULL, "The object's id on the server.", NULL },
	{ "_typeid", (getter)proxy_typeid, NULL, "The object's type (\"dict\" ...).", NULL },
	{ "_address", (getter)proxy_address, NULL, "The server's address.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject pyshmrt_MgrProxyType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmrt._shmrt._MgrProxy",
	.tp_basicsize = sizeof(MgrProxyObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "The base of the Manager's proxies (shmrt.managers).",
	.tp_new = PyType_GenericNew,
	.tp_dealloc = (destructor)proxy_dealloc,
	.tp_weaklistoffset = offsetof(MgrProxyObj, weaklist),
	.tp_methods = proxy_methods,
	.tp_getset = proxy_getset,
};

/* _mgr_setup(conn_for, call_conn_for, classes): shmrt.managers' hooks. */
static PyObject *mgr_setup(PyObject *self, PyObject *args)
{
	(void)self;
	PyObject *f, *g, *d;
	if (!PyArg_ParseTuple(args, "OOO!", &f, &g, &PyDict_Type, &d))
		return NULL;
	Py_XSETREF(conn_for, Py_NewRef(f));
	Py_XSETREF(call_conn_for, Py_NewRef(g));
	Py_XSETREF(classes, Py_NewRef(d));
	Py_RETURN_NONE;
}

static PyMethodDef mgr_functions[] = {
	{ "_mgr_setup", mgr_setup, METH_VARARGS,
	  "_mgr_setup(conn_for, call_conn_for, classes): the hooks of shmrt.managers." },
	{ NULL, NULL, 0, NULL },
};

int pyshmrt_mgr_ready(PyObject *m)
{
	if (PyType_Ready(&MgrServerType) || PyType_Ready(&MgrConnType) ||
	    PyType_Ready(&pyshmrt_MgrProxyType) ||
	    PyModule_AddObjectRef(m, "_MgrServer", (PyObject *)&MgrServerType) ||
	    PyModule_AddObjectRef(m, "_MgrConn", (PyObject *)&MgrConnType) ||
	    PyModule_AddObjectRef(m, "_MgrProxy", (PyObject *)&pyshmrt_MgrProxyType))
		return -1;
	return PyModule_AddFunctions(m, mgr_functions);
}
