/*
 * What python/src/queue.c (the _Queue type, its transport) and queue_fast.c (the
 * fast methods that shmrt.Queue binds on its instances) share.
 */
#ifndef PYQUEUE_H
#define PYQUEUE_H

#include "pyshmrt.h"

typedef struct {
	PyObject_HEAD
	pyshmrt_entry_t e, se, xe; /* the queue, a bounded queue's semaphore, the spare */
	shmrt_queue_t q;
	shmrt_sem_t sem;
	shmrt_value_t spare;   /* the offset of the spare table (block_alloc) */
	uint64_t *spares;      /* the spare table, or NULL */
	long maxsize;          /* <= 0: unbounded */
	int joinable;
	/* The fast methods (put, put_bytes, get, get_bytes; see "Fast methods" below). */
	PyObject *owner;       /* a weak reference to the shmrt.Queue, or NULL */
	PyObject *buffer;      /* its local buffer (a deque), or NULL */
	int open;              /* it may put (not closed) */
} QueueObj;

/* Puts a message of n parts (objects with the buffer protocol): 1, 0 when still
 * full at the timeout (seconds; < 0 forever, 0 once), -1 with a Python error. */
int pyshmrt_queue_put_parts(QueueObj *s, int kind, PyObject *const *parts, Py_ssize_t n,
			    double timeout);
/* Takes the next message: its one part as bytes, or the list of its parts; *kind
 * gets its kind. Py_None (a new reference) when empty at the timeout; NULL with a
 * Python error (EOFError at the end of the queue). */
PyObject *pyshmrt_queue_take(QueueObj *s, double timeout, int *kind);

/* The fast methods (queue_fast.c): put, put_bytes, get, get_bytes, _bind. */
PyObject *pyshmrt_queue_fput(QueueObj *s, PyObject *const *args, Py_ssize_t nargs,
			     PyObject *kwnames);
PyObject *pyshmrt_queue_fput_bytes(QueueObj *s, PyObject *const *args, Py_ssize_t nargs,
				   PyObject *kwnames);
PyObject *pyshmrt_queue_fget(QueueObj *s, PyObject *const *args, Py_ssize_t nargs,
			     PyObject *kwnames);
PyObject *pyshmrt_queue_fget_bytes(QueueObj *s, PyObject *const *args, Py_ssize_t nargs,
				   PyObject *kwnames);
PyObject *pyshmrt_queue_bind(QueueObj *s, PyObject *args);

#endif /* PYQUEUE_H */
