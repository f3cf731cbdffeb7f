"""shmrt: multiprocessing's shared objects on shmrt's shared memory.

    from shmrt import Process, Value, Array, Lock

works as ``from multiprocessing import ...`` does, with these differences:

* Locks are robust: when the holder of a Lock, an RLock or a ``get_lock()`` lock
  dies (even by kill -9), the next ``acquire`` succeeds and warns with
  ``OwnerDiedWarning`` instead of blocking forever.
* Values have atomic ``add``, ``cas`` and ``exchange``; ``.value`` is read and written
  atomically without taking the lock.
* Arrays export their memory (``np.asarray(arr)`` is a view of the shared elements),
  and have ``snapshot()`` (consistent under concurrent writers) and
  ``writing(lo, hi)`` (a bracket for in-place numpy writes).

Objects live in one anonymous shared-memory region per process tree, created on
first use and inherited by fork; the kernel frees it with the last process. They
pass to children as ``Process`` arguments under every start method: fork copies
them, spawn and forkserver pickle a reference (the region's descriptor, passed as
multiprocessing passes descriptors, and the object's name in it). Unlike
multiprocessing's Value and Array, they also travel through Queues (shmrt's and
multiprocessing's), Pipes and Pool arguments to processes of the same tree: the
reference then names the sending process and its descriptor, and a receiver that
has no tree region yet opens it through /proc while the sender lives. Queues and
Pipes themselves pass as ``Process`` arguments only.

``Process``, ``Pool``, ``get_context``, ``current_process`` ... are the standard
library's, re-exported.
"""
import copyreg as _copyreg
import ctypes as _ctypes
import os as _os
import threading as _threading

from multiprocessing import (  # noqa: F401  (re-exported, as multiprocessing's)
    Process, Pool, get_context, current_process, active_children, parent_process,
    cpu_count, freeze_support, set_start_method, get_start_method, get_all_start_methods,
    TimeoutError, ProcessError, BufferTooShort, AuthenticationError,
)

from . import _shmrt
from ._shmrt import (  # noqa: F401
    OwnerDiedWarning, TornError, Lock, RLock, Semaphore, BoundedSemaphore, Event, Barrier,
    Synchronized, SynchronizedArray,
)

__all__ = [
    "Process", "Pool", "get_context", "current_process", "active_children",
    "parent_process", "cpu_count", "freeze_support", "set_start_method",
    "get_start_method", "get_all_start_methods", "TimeoutError", "ProcessError",
    "BufferTooShort", "AuthenticationError",
    "Value", "RawValue", "Array", "RawArray", "Lock", "RLock", "Semaphore",
    "BoundedSemaphore", "Condition", "Event", "Barrier", "BrokenBarrierError",
    "OwnerDiedWarning", "TornError", "Synchronized", "SynchronizedArray",
    "Manager",
]

BrokenBarrierError = _threading.BrokenBarrierError

# Objects created before a fork may be used by the child: the creator then no longer
# removes them when it drops them (see python/src/module.c).
_os.register_at_fork(before=_shmrt._note_fork)

_CODES = frozenset("bBhHiIlLqQfdcu?")


def _typecode(typecode_or_type):
    """The typecode for a typecode or a simple ctypes type (c_int, c_double ...)."""
    t = typecode_or_type
    if isinstance(t, str):
        if len(t) == 1 and t in _CODES:
            return t
        raise TypeError(f"unsupported typecode {t!r} (one of {''.join(sorted(_CODES))})")
    if isinstance(t, type) and issubclass(t, _ctypes._SimpleCData):
        code = getattr(t, "_type_", None)
        if code in _CODES and _ctypes.sizeof(t) == _ctypes.sizeof(
                getattr(_ctypes, {"b": "c_byte", "B": "c_ubyte", "h": "c_short",
                                  "H": "c_ushort", "i": "c_int", "I": "c_uint",
                                  "l": "c_long", "L": "c_ulong", "q": "c_longlong",
                                  "Q": "c_ulonglong", "f": "c_float", "d": "c_double",
                                  "c": "c_char", "u": "c_wchar", "?": "c_bool"}[code])):
            return code
    raise TypeError(f"shmrt supports the scalar typecodes {''.join(sorted(_CODES))} and "
                    f"their ctypes types, not {t!r}")


def RawValue(typecode_or_type, *args):
    """A shared typed cell without a lock (multiprocessing.RawValue)."""
    if len(args) > 1:
        raise TypeError("RawValue() takes at most one initial value")
    return _shmrt.RawValue(_typecode(typecode_or_type), *args)


def Value(typecode_or_type, *args, lock=True, ctx=None):
    """A shared typed cell with a robust lock (multiprocessing.Value).

    lock=True (default): the Value's own lock, an RLock; lock=False: a RawValue;
    lock=L: L (a shmrt Lock or RLock, or any object with acquire and release).
    """
    if len(args) > 1:
        raise TypeError("Value() takes at most one initial value")
    code = _typecode(typecode_or_type)
    if lock is False:
        return _shmrt.RawValue(code, *args)
    return _shmrt.Synchronized(code, args[0] if args else None, lock)


def RawArray(typecode_or_type, size_or_initializer):
    """Shared typed elements without a lock (multiprocessing.RawArray)."""
    return _shmrt.RawArray(_typecode(typecode_or_type), size_or_initializer)


def Array(typecode_or_type, size_or_initializer, *, lock=True, ctx=None):
    """Shared typed elements with a robust lock (multiprocessing.Array)."""
    code = _typecode(typecode_or_type)
    if lock is False:
        return _shmrt.RawArray(code, size_or_initializer)
    return _shmrt.SynchronizedArray(code, size_or_initializer, lock)


class Condition(_shmrt.Condition):
    """A process-shared condition variable (multiprocessing.Condition).

    Its lock is a new RLock, or the shmrt Lock or RLock given.
    """

    def wait_for(self, predicate, timeout=None):
        """Waits until predicate() is true or the timeout passes; returns its last value."""
        import time
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = time.monotonic() + waittime
                else:
                    waittime = endtime - time.monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def __repr__(self):
        return f"<Condition({self._lock!r})>"


# ---- handles for spawn and forkserver --------------------------------------------

_received = set()   # descriptor numbers taken in (spawn passes one number many times)


def _reduce(obj):
    from multiprocessing import context, reduction
    name = type(obj).__name__
    spawning = context.get_spawning_popen() is not None
    if not spawning and name in _BY_PROCESS_ONLY:
        raise RuntimeError(
            f"shmrt {name} objects should only be shared between processes through "
            "inheritance: pass them to Process(), not through a Queue or a Pool")
    kind, oname, args = obj._handle()
    if kind == "pipe" and len(args) == 4:
        # A pipe end's kernel descriptors: the child becomes one of its holders.
        args = (args[0], *(reduction.DupFd(f) for f in args[1:]))
    fd = _shmrt._tree_info()[0]
    # Another process will use the object: its creator must no longer remove it when
    # it drops it, as after a fork.
    _shmrt._note_fork()
    if not spawning:
        # Through a Queue, a Pipe, a Pool or pickle.dumps: no descriptor can travel
        # with the bytes. The receiver opens the region through this process's
        # descriptor in /proc, if it has no tree region of its own yet.
        return _rebuild_by_pid, (_os.getpid(), fd, _os.fstat(fd).st_ino, name, oname, args)
    # One descriptor per child, whatever the number of objects (spawn refuses to
    # pass the same descriptor twice).
    popen = context.get_spawning_popen()
    dupfd = getattr(popen, "_shmrt_dupfd", None)
    if dupfd is None:
        dupfd = popen._shmrt_dupfd = reduction.DupFd(fd)
    return _rebuild, (dupfd, _os.fstat(fd).st_ino, name, oname, args)


def _rebuild(dupfd, ino, cls_name, name, args):
    fd = dupfd.detach()
    info = _shmrt._tree_info()
    if info is None:
        _shmrt._tree_adopt(fd)
    elif _os.fstat(info[0]).st_ino != ino:
        raise RuntimeError("a shmrt object of another process tree")
    if fd != _shmrt._tree_info()[0] and fd not in _received:
        _received.add(fd)
        _os.close(fd)
    args = tuple(a.detach() if hasattr(a, "detach") else a for a in args)
    return _attached(_CLASSES[cls_name]._attach(name, *args))


def _rebuild_by_pid(pid, fdnum, ino, cls_name, name, args):
    info = _shmrt._tree_info()
    if info is None:
        try:
            fd = _os.open(f"/proc/{pid}/fd/{fdnum}", _os.O_RDWR | _os.O_CLOEXEC)
        except OSError as e:
            raise RuntimeError(
                f"a shmrt {cls_name} from process {pid}, whose region this process cannot "
                f"open ({e.strerror}): the sender must live until a process that has no "
                "shmrt object yet receives it") from None
        try:
            if _os.fstat(fd).st_ino != ino:
                raise RuntimeError(f"a shmrt {cls_name} from process {pid}, whose region "
                                   "is gone")
            _shmrt._tree_adopt(fd)
        finally:
            if fd != (_shmrt._tree_info() or (None,))[0]:
                _os.close(fd)
    elif _os.fstat(info[0]).st_ino != ino:
        raise RuntimeError("a shmrt object of another process tree")
    return _attached(_CLASSES[cls_name]._attach(name, *args))


_members = None   # the Barriers this process joined on receiving them


def _attached(obj):
    """A received Barrier made this process a member: a normal exit ends the
    membership (a kill does not, and breaks the barrier for the others)."""
    global _members
    if isinstance(obj, _shmrt.Barrier):
        if _members is None:
            import atexit
            import weakref
            from multiprocessing import util
            _members = weakref.WeakSet()

            def leave(_=None):
                for b in list(_members):
                    b._leave()

            def finalize(_=None):
                util.Finalize(None, leave, exitpriority=0)
            # A child of forkserver ends with os._exit after Process._bootstrap has
            # run multiprocessing's finalizers, not atexit: register with both. The
            # bootstrap clears the finalizers after unpickling the arguments (which
            # brought us here), then runs the after-fork hooks: register again there.
            atexit.register(leave)
            finalize()
            util.register_after_fork(_members, finalize)
        _members.add(obj)
    return obj


_BY_PROCESS_ONLY = {"_Queue", "_Conn"}
_CLASSES = {c.__name__: c for c in (
    _shmrt.RawValue, _shmrt.Synchronized, _shmrt.RawArray, _shmrt.SynchronizedArray,
    _shmrt.Lock, _shmrt.RLock, _shmrt.Semaphore, _shmrt.BoundedSemaphore, _shmrt.Event,
    Condition, _shmrt.Barrier)}
for _c in (*_CLASSES.values(), _shmrt.Condition):
    _copyreg.pickle(_c, _reduce)
del _c


def Manager(*, ctx=None):
    """A started SyncManager (multiprocessing.Manager) on shmrt's Manager server."""
    from .managers import SyncManager
    m = SyncManager()
    m.start()
    return m


_LATER = {"Queue", "JoinableQueue", "SimpleQueue", "Pipe"}
from .queues import Queue, JoinableQueue, SimpleQueue  # noqa: E402
from .connection import Pipe  # noqa: E402
_LATER -= {"Queue", "JoinableQueue", "SimpleQueue", "Pipe"}
__all__ += ["Queue", "JoinableQueue", "SimpleQueue", "Pipe"]
_CLASSES.update({c.__name__: c for c in (_shmrt._Queue, _shmrt._Conn)})
for _c in (_shmrt._Queue, _shmrt._Conn):
    _copyreg.pickle(_c, _reduce)
del _c


def __getattr__(name):
    if name in _LATER:
        raise AttributeError(
            f"shmrt.{name} is not built yet; use multiprocessing.{name} meanwhile")
    raise AttributeError(f"module 'shmrt' has no attribute {name!r}")
