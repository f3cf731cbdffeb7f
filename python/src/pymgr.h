/*
 * The extension's Manager part (mgr.c, mgr_value.c): what its two files share.
 *
 * A connection (MgrConnObj) is one process's: its socket is never used by a forked
 * child (each proxy checks its pid and binds again through the connection of its
 * own process). A process has one connection that holds its proxies' references,
 * and one per thread that makes the calls (as multiprocessing's per-thread
 * connections): a thread parked in the server holds up no other thread. Each has a
 * lock, taken with the GIL released.
 */
#ifndef PYMGR_H
#define PYMGR_H

#include "pyshmrt.h"
#include <shmrt/manager.h>

typedef struct {
	PyObject_HEAD
	shmrt_manager_conn_t *c;
	PyThread_type_lock lock;
	pid_t pid;
	PyObject *address;   /* str */
	PyObject *types;     /* dict: ref id -> typeid str, for refs in results */
} MgrConnObj;

typedef struct {
	PyObject_HEAD
	MgrConnObj *conn;    /* holds the reference; NULL: not bound in this process yet */
	shmrt_proxy_t *p;
	MgrConnObj *ccall;   /* the connection of the thread that called last */
	unsigned long ctid;  /* that thread */
	pid_t cpid;
	pid_t pid;
	uint64_t ref;
	PyObject *typeid;    /* str */
	PyObject *address;   /* str */
	char type[40];       /* typeid as C text, for error messages */
	PyObject *dict;
	PyObject *weaklist;
} MgrProxyObj;

extern PyTypeObject pyshmrt_MgrProxyType;

/* mgr_value.c: a Python object as a new value (NULL and a Python error). */
shmrt_mv_t *pyshmrt_mv_from_py(PyObject *o);
/* A list value of n arguments. */
shmrt_mv_t *pyshmrt_mv_args(PyObject *const *args, Py_ssize_t n);
/* A value as a new Python object; refs become proxies of conn; tuples: a top-level
 * list as a tuple. */
PyObject *pyshmrt_mv_to_py(MgrConnObj *conn, const shmrt_mv_t *v, int tuples);
/* Raises the exception multiprocessing raises for the server's rc from type.method
 * (args: the call's, for KeyError's key); returns NULL. */
PyObject *pyshmrt_mgr_err(int rc, const char *type, const char *method,
			  PyObject *const *args, Py_ssize_t nargs);

/* mgr.c: a proxy (of the class registered for its type) for a ref in a result. */
PyObject *pyshmrt_mgr_proxy_of_ref(MgrConnObj *conn, uint64_t ref);
int pyshmrt_mgr_ready(PyObject *m);

#endif /* PYMGR_H */
