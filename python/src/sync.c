/*
 * Semaphore, BoundedSemaphore, Event, Condition: the rest of multiprocessing's
 * synchronisation types, on shmrt/sync.h, with its signatures
 * (acquire(block=True, timeout=None), wait(timeout=None), context managers). The
 * locks are in locks.c, the Barrier in barrier.c; all are registered here.
 *
 * Semaphores and Events have no owner: a process that dies having taken a permit
 * does not give it back (as in Python); every wait is bounded by its timeout.
 *
 * A Condition's wait in slices (pyshmrt_sliced's 50 ms, for Ctrl-C) could miss a
 * notify made between two slices, while the waiter takes the lock back: the waiter
 * reads the Condition's sequence word (offset 8 of its shared layout, see
 * core/sync.c) before waiting and after each slice, and a change counts as a
 * notify. On an RLock held several levels, wait() releases them all and takes them
 * all back after, as Python's Condition does.
 */
#include "pyshmrt.h"

#include <time.h>
#include <unistd.h>

/* ---- Semaphore and BoundedSemaphore ---------------------------------------------- */

typedef struct {
	PyObject_HEAD
	pyshmrt_entry_t e;
	shmrt_sem_t s;
	int bounded;
} SemObj;

static PyObject *sem_new_common(PyTypeObject *type, PyObject *args, PyObject *kw, int bounded)
{
	static char *kwl[] = { "value", NULL };
	int value = 1;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|i", kwl, &value))
		return NULL;
	if (value < 0) {
		PyErr_SetString(PyExc_ValueError, "semaphore initial value must be >= 0");
		return NULL;
	}
	SemObj *s = (SemObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	s->bounded = bounded;
	if (pyshmrt_entry_new(&s->e, bounded ? "bsem" : "sem")) {
		Py_DECREF(s);
		return NULL;
	}
	int rc = shmrt_sem_open(pyshmrt_tree(), s->e.name, SHMRT_O_CREATE | SHMRT_O_EXCL,
				(uint32_t)value, bounded, &s->s);
	if (rc) {
		s->e.creator = 0;
		Py_DECREF(s);
		return pyshmrt_err(rc, "creating a semaphore");
	}
	return (PyObject *)s;
}

static PyObject *Sem_new(PyTypeObject *t, PyObject *a, PyObject *k)
{
	return sem_new_common(t, a, k, 0);
}

static PyObject *BSem_new(PyTypeObject *t, PyObject *a, PyObject *k)
{
	return sem_new_common(t, a, k, 1);
}

static int sem_try(void *ctx, shmrt_ns_t t)
{
	return shmrt_sem_acquire(&((SemObj *)ctx)->s, t);
}

static int sem_acquire_t(SemObj *s, double t)
{
	int rc = pyshmrt_sliced(sem_try, s, t);
	if (rc == PYSHMRT_EXC)
		return -1;
	if (rc == -ETIMEDOUT)
		return 0;
	if (rc) {
		pyshmrt_err(rc, "acquiring a semaphore");
		return -1;
	}
	return 1;
}

static PyObject *sem_acquire(SemObj *s, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "block", "timeout", NULL };
	PyObject *block = NULL, *timeout = NULL;
	double t;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:acquire", kwl, &block, &timeout) ||
	    pyshmrt_block_timeout(block, timeout, &t))
		return NULL;
	int r = sem_acquire_t(s, t);
	return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *sem_release(SemObj *s, PyObject *noargs)
{
	(void)noargs;
	int rc = shmrt_sem_release(&s->s, 1);
	if (rc == -EOVERFLOW) {
		PyErr_SetString(PyExc_ValueError, "semaphore or lock released too many times");
		return NULL;
	}
	if (rc)
		return pyshmrt_err(rc, "releasing a semaphore");
	Py_RETURN_NONE;
}

static PyObject *sem_enter(SemObj *s, PyObject *noargs)
{
	(void)noargs;
	int r = sem_acquire_t(s, -1);
	return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *sem_exit(SemObj *s, PyObject *args)
{
	(void)args;
	return sem_release(s, NULL);
}

static PyObject *sem_get_value(SemObj *s, PyObject *noargs)
{
	(void)noargs;
	return PyLong_FromUnsignedLong(shmrt_sem_value(&s->s));
}

static void sem_dealloc(SemObj *s)
{
	pyshmrt_entry_drop(&s->e);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *sem_repr(SemObj *s)
{
	return PyUnicode_FromFormat("<%s(value=%u)>", s->bounded ? "BoundedSemaphore" : "Semaphore",
				    shmrt_sem_value(&s->s));
}

static PyObject *sem_handle(SemObj *s, PyObject *noargs)
{
	(void)noargs;
	return Py_BuildValue("(ss(i))", "sem", s->e.name, s->bounded);
}

static PyObject *sem_attach(PyTypeObject *type, PyObject *args)
{
	const char *name;
	int bounded;
	if (!PyArg_ParseTuple(args, "si:_attach", &name, &bounded))
		return NULL;
	shmrt_region_t *r = pyshmrt_tree();
	if (!r)
		return NULL;
	SemObj *s = (SemObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	s->bounded = bounded;
	snprintf(s->e.name, sizeof(s->e.name), "%s", name);
	int rc = shmrt_sem_open(r, name, 0, 0, bounded, &s->s);
	if (rc) {
		Py_DECREF(s);
		return pyshmrt_err(rc, "opening a semaphore");
	}
	return (PyObject *)s;
}

static PyMethodDef sem_methods[] = {
	{ "_handle", (PyCFunction)sem_handle, METH_NOARGS, "What a pickle carries." },
	{ "_attach", (PyCFunction)sem_attach, METH_VARARGS | METH_CLASS,
	  "Opens an existing semaphore by its handle." },
	{ "acquire", (PyCFunction)(void (*)(void))sem_acquire, METH_VARARGS | METH_KEYWORDS,
	  "acquire(block=True, timeout=None) -> bool" },
	{ "release", (PyCFunction)sem_release, METH_NOARGS, "Gives a permit back." },
	{ "get_value", (PyCFunction)sem_get_value, METH_NOARGS, "The number of permits now." },
	{ "__enter__", (PyCFunction)sem_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)sem_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

PyTypeObject pyshmrt_SemaphoreType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt.Semaphore",
	.tp_basicsize = sizeof(SemObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Semaphore(value=1): a process-shared semaphore.",
	.tp_new = Sem_new,
	.tp_dealloc = (destructor)sem_dealloc,
	.tp_repr = (reprfunc)sem_repr,
	.tp_methods = sem_methods,
};

PyTypeObject pyshmrt_BoundedSemaphoreType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt.BoundedSemaphore",
	.tp_basicsize = sizeof(SemObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "BoundedSemaphore(value=1): releasing above the initial value is a ValueError.",
	.tp_new = BSem_new,
	.tp_dealloc = (destructor)sem_dealloc,
	.tp_repr = (reprfunc)sem_repr,
	.tp_methods = sem_methods,
};

/* ---- Event --------------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	pyshmrt_entry_t e;
	shmrt_event_t ev;
} EventObj;

static PyObject *Event_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { NULL };
	if (!PyArg_ParseTupleAndKeywords(args, kw, ":Event", kwl))
		return NULL;
	EventObj *s = (EventObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	if (pyshmrt_entry_new(&s->e, "event")) {
		Py_DECREF(s);
		return NULL;
	}
	int rc = shmrt_event_open(pyshmrt_tree(), s->e.name, SHMRT_O_CREATE | SHMRT_O_EXCL, &s->ev);
	if (rc) {
		s->e.creator = 0;
		Py_DECREF(s);
		return pyshmrt_err(rc, "creating an event");
	}
	return (PyObject *)s;
}

static int event_try(void *ctx, shmrt_ns_t t)
{
	return shmrt_event_wait(&((EventObj *)ctx)->ev, t);
}

static PyObject *event_wait(EventObj *s, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "timeout", NULL };
	PyObject *timeout = NULL;
	double t;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:wait", kwl, &timeout) ||
	    pyshmrt_block_timeout(NULL, timeout, &t))
		return NULL;
	int rc = pyshmrt_sliced(event_try, s, t);
	if (rc == PYSHMRT_EXC)
		return NULL;
	if (rc && rc != -ETIMEDOUT)
		return pyshmrt_err(rc, "waiting for an event");
	return PyBool_FromLong(rc == 0);
}

static PyObject *event_set(EventObj *s, PyObject *noargs)
{
	(void)noargs;
	shmrt_event_set(&s->ev);
	Py_RETURN_NONE;
}

static PyObject *event_clear(EventObj *s, PyObject *noargs)
{
	(void)noargs;
	shmrt_event_clear(&s->ev);
	Py_RETURN_NONE;
}

static PyObject *event_is_set(EventObj *s, PyObject *noargs)
{
	(void)noargs;
	return PyBool_FromLong(shmrt_event_is_set(&s->ev) > 0);
}

static void event_dealloc(EventObj *s)
{
	pyshmrt_entry_drop(&s->e);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *event_handle(EventObj *s, PyObject *noargs)
{
	(void)noargs;
	return Py_BuildValue("(ss())", "event", s->e.name);
}

static PyObject *event_attach(PyTypeObject *type, PyObject *args)
{
	const char *name;
	if (!PyArg_ParseTuple(args, "s:_attach", &name))
		return NULL;
	shmrt_region_t *r = pyshmrt_tree();
	if (!r)
		return NULL;
	EventObj *s = (EventObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	snprintf(s->e.name, sizeof(s->e.name), "%s", name);
	int rc = shmrt_event_open(r, name, 0, &s->ev);
	if (rc) {
		Py_DECREF(s);
		return pyshmrt_err(rc, "opening an event");
	}
	return (PyObject *)s;
}

static PyMethodDef event_methods[] = {
	{ "_handle", (PyCFunction)event_handle, METH_NOARGS, "What a pickle carries." },
	{ "_attach", (PyCFunction)event_attach, METH_VARARGS | METH_CLASS,
	  "Opens an existing event by its handle." },
	{ "wait", (PyCFunction)(void (*)(void))event_wait, METH_VARARGS | METH_KEYWORDS,
	  "wait(timeout=None) -> bool: whether the flag is set." },
	{ "set", (PyCFunction)event_set, METH_NOARGS, "Sets the flag, waking every waiter." },
	{ "clear", (PyCFunction)event_clear, METH_NOARGS, "Clears the flag." },
	{ "is_set", (PyCFunction)event_is_set, METH_NOARGS, "Whether the flag is set." },
	{ NULL, NULL, 0, NULL },
};

PyTypeObject pyshmrt_EventType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt.Event",
	.tp_basicsize = sizeof(EventObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Event(): a process-shared flag (multiprocessing.Event).",
	.tp_new = Event_new,
	.tp_dealloc = (destructor)event_dealloc,
	.tp_methods = event_methods,
};

/* ---- Condition ----------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	pyshmrt_entry_t e;
	shmrt_cond_t c;
	LockObj *lock;
} CondObj;

static PyObject *Cond_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "lock", NULL };
	PyObject *lock = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:Condition", kwl, &lock))
		return NULL;
	if (lock == Py_None) {
		lock = pyshmrt_lock_create(&pyshmrt_RLockType, 1);
		if (!lock)
			return NULL;
	} else {
		if (!PyObject_TypeCheck(lock, &pyshmrt_LockType) &&
		    !PyObject_TypeCheck(lock, &pyshmrt_RLockType)) {
			PyErr_SetString(PyExc_TypeError,
					"Condition(lock): lock must be a shmrt Lock or RLock");
			return NULL;
		}
		if (((LockObj *)lock)->backend != B_SYNC) {
			PyErr_SetString(PyExc_TypeError,
					"Condition(lock): a get_lock() lock cannot back a Condition");
			return NULL;
		}
		Py_INCREF(lock);
	}
	CondObj *s = (CondObj *)type->tp_alloc(type, 0);
	if (!s) {
		Py_DECREF(lock);
		return NULL;
	}
	s->lock = (LockObj *)lock;
	if (pyshmrt_entry_new(&s->e, "cond")) {
		Py_DECREF(s);
		return NULL;
	}
	int rc = shmrt_cond_open(pyshmrt_tree(), s->e.name, SHMRT_O_CREATE | SHMRT_O_EXCL, &s->c);
	if (rc) {
		s->e.creator = 0;
		Py_DECREF(s);
		return pyshmrt_err(rc, "creating a condition");
	}
	return (PyObject *)s;
}

static uint32_t cond_seq(CondObj *s)
{
	/* The sequence word, offset 8 of the Condition's shared layout (core/sync.c).
	 * Acquire: pairs with the notify's release (R3 there). */
	return __atomic_load_n((uint32_t *)((char *)s->c.shm + 8), __ATOMIC_ACQUIRE);
}

struct cond_ctx {
	CondObj *s;
};

static int cond_try(void *ctx, shmrt_ns_t t)
{
	CondObj *s = ((struct cond_ctx *)ctx)->s;
	if (t == 0)
		return -EAGAIN; /* the first, GIL-held round of pyshmrt_sliced: wait below */
	return shmrt_cond_wait(&s->c, &s->lock->l, t);
}

/* After -EOWNERDEAD on the condition's lock (held now, and kept): consistent, and
 * the warning. 0, or PYSHMRT_EXC (warnings as errors). */
static int cond_owner_died(CondObj *s)
{
	pyshmrt_lock_consistent(s->lock);
	if (PyErr_WarnEx(pyshmrt_OwnerDiedWarning,
			 "the previous holder of this condition's lock died holding it", 1))
		return PYSHMRT_EXC;
	return 0;
}

/* Takes an RLock held once back to `levels` levels (the mutex is ours: immediate). */
static int cond_restore(CondObj *s, long levels)
{
	for (long i = 1; i < levels; i++) {
		int rc = shmrt_lock_acquire(&s->lock->l, 0);
		if (rc)
			return rc;
	}
	return 0;
}

static PyObject *cond_wait(CondObj *s, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "timeout", NULL };
	PyObject *timeout = NULL;
	double t;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:wait", kwl, &timeout) ||
	    pyshmrt_block_timeout(NULL, timeout, &t))
		return NULL;
	uint32_t seq0 = cond_seq(s);
	struct cond_ctx ctx = { s };
	int rc;
	/* An RLock held several levels: release them all (Python's Condition does, and
	 * restores the count after). The pthread mutex keeps the count, so unlock until
	 * it says we no longer own it, counting, then take it back once for the wait.
	 * A notify made in between is caught by the sequence check below (seq0 was read
	 * while we held the lock). */
	long levels = 1;
	if (s->lock->recursive) {
		levels = 0;
		while ((rc = shmrt_lock_release(&s->lock->l)) == 0)
			levels++;
		if (rc != -EPERM)
			return pyshmrt_err(rc, "releasing a condition's lock");
		if (levels == 0) {
			PyErr_SetString(PyExc_RuntimeError, "cannot wait on un-acquired lock");
			return NULL;
		}
		Py_BEGIN_ALLOW_THREADS
		rc = shmrt_lock_acquire(&s->lock->l, SHMRT_FOREVER);
		Py_END_ALLOW_THREADS
		if (rc == -EOWNERDEAD && (rc = cond_owner_died(s)) == PYSHMRT_EXC) {
			(void)cond_restore(s, levels);
			return NULL;
		}
		if (rc)
			return pyshmrt_err(rc, "taking a condition's lock");
	}
	double left = t;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		/* One slice at a time, so that a notify between slices is seen. */
		double slice = left < 0 || left > 0.05 ? 0.05 : left;
		shmrt_ns_t ns = (shmrt_ns_t)(slice * 1e9) + 1;
		Py_BEGIN_ALLOW_THREADS
		rc = cond_try(&ctx, ns);
		Py_END_ALLOW_THREADS
		if (rc != -ETIMEDOUT)
			break;
		if (cond_seq(s) != seq0) {
			rc = 0;
			break;
		}
		if (t >= 0) {
			struct timespec t1;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			left = t - ((double)(t1.tv_sec - t0.tv_sec) +
				    (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
			if (left <= 0)
				break;
		}
		if (PyErr_CheckSignals()) {
			(void)cond_restore(s, levels); /* held once again after a slice */
			return NULL;
		}
	}
	if (rc == -EOWNERDEAD && (rc = cond_owner_died(s)) == PYSHMRT_EXC) {
		(void)cond_restore(s, levels);
		return NULL;
	}
	if (rc == -EPERM) {
		PyErr_SetString(PyExc_RuntimeError, "cannot wait on un-acquired lock");
		return NULL;
	}
	if (rc && rc != -ETIMEDOUT)
		return pyshmrt_err(rc, "waiting on a condition");
	int r2 = cond_restore(s, levels);
	if (r2)
		return pyshmrt_err(r2, "restoring a condition's lock levels");
	return PyBool_FromLong(rc == 0);
}

static PyObject *cond_notify(CondObj *s, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "n", NULL };
	int n = 1;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|i:notify", kwl, &n))
		return NULL;
	if (shmrt_lock_held(&s->lock->l) != 1) {
		PyErr_SetString(PyExc_RuntimeError, "cannot notify on un-acquired lock");
		return NULL;
	}
	if (n > 0)
		shmrt_cond_notify(&s->c, n);
	Py_RETURN_NONE;
}

static PyObject *cond_notify_all(CondObj *s, PyObject *noargs)
{
	(void)noargs;
	if (shmrt_lock_held(&s->lock->l) != 1) {
		PyErr_SetString(PyExc_RuntimeError, "cannot notify on un-acquired lock");
		return NULL;
	}
	shmrt_cond_notify_all(&s->c);
	Py_RETURN_NONE;
}

static PyObject *cond_acquire(CondObj *s, PyObject *args, PyObject *kw)
{
	return pyshmrt_lock_acquire(s->lock, args, kw);
}

static PyObject *cond_release(CondObj *s, PyObject *noargs)
{
	return pyshmrt_lock_release(s->lock, noargs);
}

static PyObject *cond_enter(CondObj *s, PyObject *noargs)
{
	return pyshmrt_lock_enter(s->lock, noargs);
}

static PyObject *cond_exit(CondObj *s, PyObject *args)
{
	return pyshmrt_lock_exit(s->lock, args);
}

static void cond_dealloc(CondObj *s)
{
	pyshmrt_entry_drop(&s->e);
	Py_CLEAR(s->lock);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *cond_get_lock(CondObj *s, void *c)
{
	(void)c;
	return Py_NewRef((PyObject *)s->lock);
}

static PyObject *cond_handle(CondObj *s, PyObject *noargs)
{
	(void)noargs;
	return Py_BuildValue("(ss(O))", "cond", s->e.name, (PyObject *)s->lock);
}

static PyObject *cond_attach(PyTypeObject *type, PyObject *args)
{
	const char *name;
	PyObject *lock;
	if (!PyArg_ParseTuple(args, "sO!:_attach", &name, &pyshmrt_LockType, &lock) &&
	    (PyErr_Clear(), !PyArg_ParseTuple(args, "sO!:_attach", &name, &pyshmrt_RLockType, &lock)))
		return NULL;
	shmrt_region_t *r = pyshmrt_tree();
	if (!r)
		return NULL;
	CondObj *s = (CondObj *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	s->lock = (LockObj *)Py_NewRef(lock);
	snprintf(s->e.name, sizeof(s->e.name), "%s", name);
	int rc = shmrt_cond_open(r, name, 0, &s->c);
	if (rc) {
		Py_DECREF(s);
		return pyshmrt_err(rc, "opening a condition");
	}
	return (PyObject *)s;
}

static PyMethodDef cond_methods[] = {
	{ "_handle", (PyCFunction)cond_handle, METH_NOARGS, "What a pickle carries." },
	{ "_attach", (PyCFunction)cond_attach, METH_VARARGS | METH_CLASS,
	  "Opens an existing condition by its handle." },
	{ "wait", (PyCFunction)(void (*)(void))cond_wait, METH_VARARGS | METH_KEYWORDS,
	  "wait(timeout=None) -> bool, with the lock held." },
	{ "notify", (PyCFunction)(void (*)(void))cond_notify, METH_VARARGS | METH_KEYWORDS,
	  "notify(n=1): wakes up to n waiters." },
	{ "notify_all", (PyCFunction)cond_notify_all, METH_NOARGS, "Wakes every waiter." },
	{ "acquire", (PyCFunction)(void (*)(void))cond_acquire, METH_VARARGS | METH_KEYWORDS,
	  "Acquires the underlying lock." },
	{ "release", (PyCFunction)cond_release, METH_NOARGS, "Releases the underlying lock." },
	{ "__enter__", (PyCFunction)cond_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)cond_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef cond_getset[] = {
	{ "_lock", (getter)cond_get_lock, NULL, "the underlying lock", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject pyshmrt_ConditionType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmrt._shmrt.Condition",
	.tp_basicsize = sizeof(CondObj),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Condition(lock=None): a process-shared condition variable.",
	.tp_new = Cond_new,
	.tp_dealloc = (destructor)cond_dealloc,
	.tp_methods = cond_methods,
	.tp_getset = cond_getset,
};

int pyshmrt_sync_ready(PyObject *m)
{
	struct {
		PyTypeObject *t;
		const char *name;
	} ts[] = {
		{ &pyshmrt_LockType, "Lock" },
		{ &pyshmrt_RLockType, "RLock" },
		{ &pyshmrt_SemaphoreType, "Semaphore" },
		{ &pyshmrt_BoundedSemaphoreType, "BoundedSemaphore" },
		{ &pyshmrt_EventType, "Event" },
		{ &pyshmrt_ConditionType, "Condition" },
		{ &pyshmrt_BarrierType, "Barrier" },
	};
	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		if (PyType_Ready(ts[i].t) || PyModule_AddObjectRef(m, ts[i].name, (PyObject *)ts[i].t))
			return -1;
	return 0;
}
