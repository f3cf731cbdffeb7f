"""shmrt.managers: multiprocessing's Manager() over shmrt's Manager server.

    from shmrt import Manager
    with Manager() as manager:
        d = manager.dict()
        l = manager.list(range(10))

The server is shmrt's (a C process: ``shmrt_manager_start``), not a Python one. It
holds msgpack values, never pickles: a value is None, bool, int (64-bit), float,
str, bytes, a list or tuple (stored as a list), a dict of them, or a proxy (stored
as a reference to its object: ``d['l'] = manager.list()`` stays live). Anything else
is a TypeError.

Proxies pass to other processes (Process arguments under fork, spawn and
forkserver, Queues, Pools): the process that receives one connects to the server
with its ``current_process().authkey`` (or the key its parent's manager was given)
and takes a reference to the object. A process holds its references on one
connection and each thread calls on one of its own, as multiprocessing's threads
do: a thread waiting in the server (a ``get``, an ``acquire``) holds up no other.
A Lock belongs to the thread that acquired it.

Differences from multiprocessing: a tuple comes back as a list; ``register()`` of
Python types is not served (the server runs no Python: register C types, see
shmrt/mtype.h); a Lock whose holder died is acquired with ``OwnerDiedWarning``
instead of never.
"""
import os
import queue as _queue
import threading
import weakref

from multiprocessing import current_process, util as _util

from . import _shmrt

__all__ = ["SyncManager", "BaseProxy", "DictProxy", "ListProxy", "NamespaceProxy",
           "ValueProxy", "ArrayProxy", "AcquirerProxy", "ConditionProxy", "EventProxy",
           "BarrierProxy", "QueueProxy", "JoinableQueueProxy", "SemaphoreProxy"]

_conns = {}          # (pid, address) -> _MgrConn
_keys = {}           # address -> authkey, when not current_process().authkey
_conns_lock = threading.Lock()


def _authkey():
    return bytes(current_process().authkey)


def _conn_for(address, authkey=None):
    """This process's connection to the server at address (made on first use)."""
    key = (os.getpid(), address)
    c = _conns.get(key)
    if c is None:
        with _conns_lock:
            c = _conns.get(key)
            if c is None:
                for k in [k for k in _conns if k[0] != key[0]]:
                    del _conns[k]   # inherited from a parent: never used here
                c = _conns[key] = _shmrt._MgrConn(
                    address, authkey or _keys.get(address) or _authkey())
    return c


_tls = threading.local()


def _call_conn_for(address):
    """The calling thread's connection to the server at address (its calls go there;
    closed when the thread ends)."""
    pid = os.getpid()
    d = getattr(_tls, "conns", None)
    if d is None or _tls.pid != pid:
        d = _tls.conns = {}
        _tls.pid = pid
    c = d.get(address)
    if c is None:
        c = d[address] = _shmrt._MgrConn(address, _keys.get(address) or _authkey())
    return c


def _address(address):
    """multiprocessing's address forms as shmrt's ('unix:/path', 'tcp:host:port')."""
    if address is None:
        return "unix:"
    if isinstance(address, tuple):
        host, port = address
        return f"tcp:{host or '127.0.0.1'}:{port}"
    if isinstance(address, bytes):
        address = address.decode()
    if address.startswith(("unix:", "tcp:")):
        return address
    return "unix:" + address


def _ns(timeout):
    """A timeout in seconds as the server's (nanoseconds, None: none)."""
    if timeout is None or timeout < 0:
        return None
    return int(timeout * 1e9)


def _after(timeout):
    """A call timeout that outlasts a server timeout (None: none)."""
    return None if timeout is None else max(timeout, 0) + 30.0


class BaseProxy(_shmrt._MgrProxy):
    """A reference to an object of the Manager's server (multiprocessing's BaseProxy)."""
    __slots__ = ()

    def _callmethod(self, methodname, args=(), kwds={}):
        if kwds:
            raise TypeError("the Manager's methods take positional arguments only")
        return self._call(methodname, *args)

    def _getvalue(self):
        return self._call("copy")

    def __reduce__(self):
        from multiprocessing import context
        key = None
        if context.get_spawning_popen() is not None:
            key = _keys.get(self._address)   # as multiprocessing: to a child only
        return _rebuild, (type(self), self._ref, self._typeid, self._address, key)

    def __repr__(self):
        return (f"<{type(self).__name__} object, typeid {self._typeid!r} "
                f"at {id(self):#x}>")

    def __str__(self):
        try:
            return repr(self._call("copy"))
        except Exception:
            return repr(self)[:-1] + "; '__str__()' failed>"

    def _after_fork(self):
        self._bind()


def _rebuild(cls, ref, typeid, address, authkey=None):
    if authkey is not None:
        _keys.setdefault(address, authkey)
    p = cls()
    p._setup(ref, typeid, address)
    p._bind()
    _util.register_after_fork(p, BaseProxy._after_fork)
    return p


def _items(pairs):
    return [tuple(p) for p in pairs]


class DictProxy(BaseProxy):
    """A dict on the Manager's server (multiprocessing's DictProxy)."""
    __slots__ = ()

    def __getitem__(self, k):
        return self._call("__getitem__", k)

    def __setitem__(self, k, v):
        self._call("__setitem__", k, v)

    def __delitem__(self, k):
        self._call("__delitem__", k)

    def __contains__(self, k):
        return self._call("__contains__", k)

    def __len__(self):
        return self._call("__len__")

    def __iter__(self):
        return iter(self._call("keys"))

    def get(self, k, default=None):
        """d[k] if k is in d, else default."""
        return self._call("get", k, default)

    def keys(self):
        """A list of the keys (a copy, in insertion order)."""
        return self._call("keys")

    def values(self):
        """A list of the values (a copy)."""
        return self._call("values")

    def items(self):
        """A list of (key, value) pairs (a copy)."""
        return _items(self._call("items"))

    def update(self, *args, **kwds):
        """As dict.update: from a mapping, an iterable of pairs, and keywords."""
        if len(args) > 1:
            raise TypeError(f"update expected at most 1 argument, got {len(args)}")
        if args:
            other = args[0]
            if isinstance(other, BaseProxy):
                other = other._getvalue()
            if not isinstance(other, dict):
                if hasattr(other, "keys"):
                    other = {k: other[k] for k in other.keys()}
                else:
                    other = [list(p) for p in other]
            self._call("update", other)
        if kwds:
            self._call("update", kwds)

    def pop(self, k, *default):
        """Removes k and returns its value; default if given and k is missing,
        else KeyError."""
        return self._call("pop", k, *default)

    def popitem(self):
        """Removes and returns the last inserted (key, value); KeyError if empty."""
        return tuple(self._call("popitem"))

    def setdefault(self, k, default=None):
        """d[k] if k is in d, else sets d[k] = default and returns it."""
        return self._call("setdefault", k, default)

    def clear(self):
        """Removes every item."""
        self._call("clear")

    def copy(self):
        """A plain dict copy of the shared dict (one round trip)."""
        return self._call("copy")

def _slice_args(s, n=None):
    return (s.start, s.stop, s.step)


class ListProxy(BaseProxy):
    """A list on the Manager's server (multiprocessing's ListProxy)."""
    __slots__ = ()

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._call("__getslice__", *_slice_args(i))
        return self._call("__getitem__", i)

    def __setitem__(self, i, v):
        if isinstance(i, slice):
            self._call("__setslice__", *_slice_args(i), list(v))
        else:
            self._call("__setitem__", i, v)

    def __delitem__(self, i):
        if isinstance(i, slice):
            self._call("__delslice__", *_slice_args(i))
        else:
            self._call("__delitem__", i)

    def __len__(self):
        return self._call("__len__")

    def __contains__(self, v):
        return self._call("__contains__", v)

    def __iter__(self):
        return iter(self._call("copy"))

    def __reversed__(self):
        return reversed(self._call("copy"))

    def append(self, v):
        """Appends v."""
        self._call("append", v)

    def extend(self, seq):
        """Appends every item of seq (one call)."""
        self._call("extend", list(seq))

    def insert(self, i, v):
        """Inserts v before index i."""
        self._call("insert", i, v)

    def pop(self, *i):
        """Removes and returns the item at index i (default last); IndexError."""
        return self._call("pop", *i)

    def remove(self, v):
        """Removes the first item equal to v; ValueError if none."""
        self._call("remove", v)

    def index(self, v, *args):
        """The index of the first item equal to v (in [start, stop)); ValueError."""
        return self._call("index", v, *args)

    def count(self, v):
        """The number of items equal to v."""
        return self._call("count", v)

    def reverse(self):
        """Reverses the list in place."""
        self._call("reverse")

    def sort(self, *, key=None, reverse=False):
        """Sorts in place (on the server; with a key, here, then stored back)."""
        if key is not None:
            items = sorted(self._call("copy"), key=key, reverse=reverse)
            self._call("__setslice__", None, None, None, items)
        else:
            self._call("sort", bool(reverse))

    def copy(self):
        """A plain list copy of the shared list (one round trip)."""
        return self._call("copy")

    def __add__(self, other):
        return self._call("copy") + list(other)

    def __radd__(self, other):
        return list(other) + self._call("copy")

    def __iadd__(self, other):
        self.extend(other)
        return self

    def __mul__(self, n):
        return self._call("copy") * n

    __rmul__ = __mul__

    def __imul__(self, n):
        self._call("__setslice__", None, None, None, self._call("copy") * n)
        return self

class NamespaceProxy(BaseProxy):
    """A namespace on the Manager's server: attributes are its items."""
    __slots__ = ()

    def __getattr__(self, name):
        if name[0] == "_":
            return object.__getattribute__(self, name)
        return self._call("__getattr__", name)

    def __setattr__(self, name, value):
        if name[0] == "_":
            return object.__setattr__(self, name, value)
        self._call("__setattr__", name, value)

    def __delattr__(self, name):
        if name[0] == "_":
            return object.__delattr__(self, name)
        self._call("__delattr__", name)

    def __str__(self):
        d = self._call("copy")
        inner = ", ".join(f"{k}={v!r}" for k, v in sorted(d.items())
                          if not k.startswith("_"))
        return f"Namespace({inner})"


class ValueProxy(BaseProxy):
    """A typed value on the Manager's server (.value, get, set, add, cas)."""
    __slots__ = ()

    def get(self):
        """The value (one round trip)."""
        return self._call("get")

    def set(self, value):
        """Sets the value (one round trip)."""
        self._call("set", value)

    value = property(get, set, doc="The value (a round trip each way).")

    def add(self, delta):
        """Adds delta atomically on the server; returns the new value."""
        return self._call("add", delta)

    def cas(self, expected, new):
        """Stores new if the value equals expected (atomically); returns whether."""
        return self._call("cas", expected, new)

    def __str__(self):
        return f"Value({_typecodes.get(self, '?')!r}, {self.get()!r})"


class ArrayProxy(BaseProxy):
    """A typed array on the Manager's server (index, slice, len, tolist)."""
    __slots__ = ()

    def __len__(self):
        return self._call("__len__")

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._call("__getslice__", *_slice_args(i))
        return self._call("__getitem__", i)

    def __setitem__(self, i, v):
        if isinstance(i, slice):
            self._call("__setslice__", *_slice_args(i), list(v))
        else:
            self._call("__setitem__", i, v)

    def __iter__(self):
        return iter(self._call("tolist"))

    def tolist(self):
        """A list copy of the elements (one round trip)."""
        return self._call("tolist")

    def __str__(self):
        return f"array({_typecodes.get(self, '?')!r}, {self._call('tolist')!r})"


class AcquirerProxy(BaseProxy):
    """A Lock, RLock, Semaphore or Condition on the Manager's server."""
    __slots__ = ()

    def acquire(self, blocking=True, timeout=None):
        """Acquires (blocking, with an optional timeout in seconds); True if
        acquired. OwnerDiedWarning when the previous holder died holding it."""
        if timeout is not None and timeout < 0:
            timeout = None
        if timeout is None:
            return self._callt(None if blocking else 60.0, "acquire", bool(blocking))
        return self._callt(_after(timeout), "acquire", bool(blocking), _ns(timeout))

    def release(self):
        """Releases it (a Lock: from the thread that acquired it)."""
        self._call("release")

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def __str__(self):
        return repr(self)


class LockProxy(AcquirerProxy):
    """A Lock or RLock on the Manager's server."""
    __slots__ = ()

    def locked(self):
        """Whether the lock is held now."""
        return self._call("locked")


class SemaphoreProxy(AcquirerProxy):
    """A Semaphore or BoundedSemaphore on the Manager's server."""
    __slots__ = ()

    def release(self, n=1):
        """Gives n permits back."""
        self._call("release", n)

    def get_value(self):
        """The permits available now."""
        return self._call("get_value")


class ConditionProxy(AcquirerProxy):
    """A Condition on the Manager's server."""
    __slots__ = ()

    def wait(self, timeout=None):
        """Releases the lock, waits for a notify or the timeout, takes the lock
        back; False on timeout."""
        return self._callt(_after(timeout), "wait", _ns(timeout))

    def notify(self, n=1):
        """Wakes up to n waiters."""
        self._call("notify", n)

    def notify_all(self):
        """Wakes every waiter."""
        self._call("notify_all")

    def wait_for(self, predicate, timeout=None):
        """Waits until predicate() is true or the timeout passes; returns its
        last value."""
        import time
        result = predicate()
        if result:
            return result
        endtime = None if timeout is None else time.monotonic() + timeout
        waittime = timeout
        while not result:
            if endtime is not None:
                waittime = endtime - time.monotonic()
                if waittime <= 0:
                    break
            self.wait(waittime)
            result = predicate()
        return result


class EventProxy(BaseProxy):
    """An Event on the Manager's server."""
    __slots__ = ()

    def is_set(self):
        """Whether the flag is set."""
        return self._call("is_set")

    def set(self):
        """Sets the flag and wakes every waiter."""
        self._call("set")

    def clear(self):
        """Clears the flag."""
        self._call("clear")

    def wait(self, timeout=None):
        """Waits until the flag is set or the timeout passes; the flag."""
        return self._callt(_after(timeout), "wait", _ns(timeout))

    def __str__(self):
        return repr(self)


class BarrierProxy(BaseProxy):
    """A Barrier on the Manager's server."""
    __slots__ = ()

    def wait(self, timeout=None):
        """Waits for the other parties; the arrival index. BrokenBarrierError
        when broken (aborted, reset, timed out)."""
        if timeout is None:
            return self._callt(None, "wait")
        return self._callt(_after(timeout), "wait", _ns(timeout))

    def abort(self):
        """Breaks the barrier: waiters get BrokenBarrierError."""
        self._call("abort")

    def reset(self):
        """Back to the empty, unbroken state (current waiters get
        BrokenBarrierError)."""
        self._call("reset")

    @property
    def parties(self):
        """The parties needed."""
        return self._call("parties")

    @property
    def n_waiting(self):
        """The parties waiting now."""
        return self._call("n_waiting")

    @property
    def broken(self):
        """Whether the barrier is broken."""
        return self._call("broken")

    def __str__(self):
        return repr(self)


class QueueProxy(BaseProxy):
    """A queue.Queue on the Manager's server."""
    __slots__ = ()

    def put(self, item, block=True, timeout=None):
        """Puts item; a bounded queue waits for room (queue.Full at the timeout)."""
        if not block:
            return self._call("put", item, False)
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        return self._callt(_after(timeout), "put", item, True, _ns(timeout))

    def get(self, block=True, timeout=None):
        """Takes the oldest item (queue.Empty at the timeout, or at once with
        block=False)."""
        if not block:
            return self._call("get", False)
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        return self._callt(_after(timeout), "get", True, _ns(timeout))

    def put_nowait(self, item):
        """put(item, False)."""
        return self._call("put_nowait", item)

    def get_nowait(self):
        """get(False)."""
        return self._call("get_nowait")

    def qsize(self):
        """The number of items."""
        return self._call("qsize")

    def empty(self):
        """Whether the queue is empty now."""
        return self._call("empty")

    def full(self):
        """Whether a bounded queue is full now."""
        return self._call("full")

    def __str__(self):
        return repr(self)


class JoinableQueueProxy(QueueProxy):
    """A queue.Queue with task_done and join, on the Manager's server."""
    __slots__ = ()

    def task_done(self):
        """Marks one taken item as processed."""
        self._call("task_done")

    def join(self):
        """Waits until every item put has been marked task_done()."""
        self._callt(None, "join")


_CLASSES = {
    "dict": DictProxy, "list": ListProxy, "Namespace": NamespaceProxy,
    "Value": ValueProxy, "Array": ArrayProxy, "Lock": LockProxy, "RLock": LockProxy,
    "Semaphore": SemaphoreProxy, "BoundedSemaphore": SemaphoreProxy,
    "Condition": ConditionProxy, "Event": EventProxy, "Barrier": BarrierProxy,
    "Queue": QueueProxy, "JoinableQueue": JoinableQueueProxy, None: BaseProxy,
}
_shmrt._mgr_setup(_conn_for, _call_conn_for, _CLASSES)

# ValueProxy's str needs the typecode, which the server does not say: the creating
# process keeps it.
_typecodes = weakref.WeakKeyDictionary()


class SyncManager:
    """multiprocessing.managers.SyncManager on shmrt's server.

    SyncManager(address=None, authkey=None): start() starts a server process on
    address (None: a Unix socket in a private directory; 'unix:/path', '/path',
    ('host', port) or 'tcp:host:port'); connect() uses the server already at
    address. authkey: bytes, default current_process().authkey.
    """

    def __init__(self, address=None, authkey=None, serializer="pickle", ctx=None, *,
                 shutdown_timeout=1.0):
        self._address_arg = address
        self._authkey = bytes(authkey) if authkey is not None else _authkey()
        self._server = None
        self._conn = None
        self._address = None
        self._state = "initial"
        self._finalizer = None

    @property
    def address(self):
        """The server's address (for connect() from other processes)."""
        return self._address

    def start(self, initializer=None, initargs=()):
        """Starts the server (shmrt's, in C; no initializer: it runs no Python)."""
        if self._state != "initial":
            raise RuntimeError("Manager already started" if self._state == "started"
                               else "Manager has shut down")
        if initializer is not None:
            raise ValueError("the shmrt Manager's server runs no Python: no initializer")
        self._server = _shmrt._MgrServer(_address(self._address_arg), self._authkey)
        self._address = self._server.address
        self._remember_key()
        self._state = "started"
        self._finalizer = weakref.finalize(self, _stop, self._server, os.getpid())

    def connect(self):
        """Connects to a server already running at the address given."""
        if self._state != "initial":
            raise RuntimeError("Manager already started")
        self._address = _address(self._address_arg)
        self._remember_key()
        _conn_for(self._address, self._authkey)
        self._state = "connected"

    def shutdown(self):
        """Stops the server this manager started (its objects go with it)."""
        if self._finalizer is not None:
            self._finalizer()
        self._state = "shutdown"

    def _remember_key(self):
        if self._authkey != _authkey():
            _keys[self._address] = self._authkey

    def join(self, timeout=None):
        """Returns at once: the server stops in shutdown()."""
        pass

    def __enter__(self):
        if self._state == "initial":
            self.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def _conn_here(self):
        if self._state not in ("started", "connected"):
            raise RuntimeError("the Manager is not started (or shut down)")
        return _conn_for(self._address, self._authkey)

    def _create(self, typeid, init=None):
        p = self._conn_here().create(_CLASSES[typeid], typeid, init)
        _util.register_after_fork(p, BaseProxy._after_fork)
        return p

    def dict(self, *args, **kwds):
        """A new shared dict (dict(*args, **kwds)) on the server: a DictProxy."""
        return self._create("dict", dict(*args, **kwds) or None)

    def list(self, sequence=()):
        """A new shared list of sequence's items on the server: a ListProxy."""
        return self._create("list", list(sequence) or None)

    def Namespace(self, **kwds):
        """A new shared namespace with kwds as attributes: a NamespaceProxy."""
        return self._create("Namespace", kwds or None)

    def Value(self, typecode, value, lock=True):
        """A new shared value of that typecode (or ctypes type): a ValueProxy."""
        from . import _typecode
        tc = _typecode(typecode)
        p = self._create("Value", [tc, value])
        _typecodes[p] = tc
        return p

    def Array(self, typecode, sequence, lock=True):
        """A new shared array of that typecode, from a sequence or a length."""
        from . import _typecode
        tc = _typecode(typecode)
        if isinstance(sequence, (bytes, str)) or isinstance(sequence, int):
            init = sequence
        else:
            init = list(sequence)
        p = self._create("Array", [tc, init])
        _typecodes[p] = tc
        return p

    def Lock(self):
        """A new Lock on the server: a proxy with acquire, release, locked."""
        return self._create("Lock")

    def RLock(self):
        """A new RLock on the server."""
        return self._create("RLock")

    def Semaphore(self, value=1):
        """A new Semaphore(value) on the server."""
        return self._create("Semaphore", value)

    def BoundedSemaphore(self, value=1):
        """A new BoundedSemaphore(value) on the server."""
        return self._create("BoundedSemaphore", value)

    def Condition(self, lock=None):
        """A new Condition on the server, on lock (a Lock or RLock proxy) or
        a new RLock."""
        return self._create("Condition", lock)

    def Event(self):
        """A new Event on the server."""
        return self._create("Event")

    def Barrier(self, parties, action=None, timeout=None):
        """A new Barrier(parties, timeout) on the server (no action callable)."""
        if action is not None:
            raise ValueError("the shmrt Manager's Barrier runs no Python action")
        return self._create("Barrier", parties if timeout is None
                            else [parties, _ns(timeout)])

    def Queue(self, maxsize=0):
        """A new queue.Queue(maxsize) on the server."""
        return self._create("Queue", maxsize or None)

    def JoinableQueue(self, maxsize=0):
        """A new queue.Queue(maxsize) with task_done and join, on the server."""
        return self._create("JoinableQueue", maxsize or None)

    def _debug_info(self):
        return self._conn_here().objects()

    def _number_of_objects(self):
        return self._conn_here().stats()["objects"]


def _stop(server, pid):
    if os.getpid() != pid:
        return
    for k in [k for k in _conns if k[1] == server.address]:
        _conns.pop(k).close()
    mine = getattr(_tls, "conns", None)
    if mine and server.address in mine:
        mine.pop(server.address).close()
    server.shutdown()

