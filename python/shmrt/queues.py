"""Queue, JoinableQueue and SimpleQueue: multiprocessing's, on a shmrt queue.

The messages travel through a shmrt queue in the process tree's region
(python/src/queue.c): a put copies the pickle into a slot of the ring, or, when it is
larger than a slot, into a block of the region that the slot refers to; a get copies
it out. Objects are pickled with protocol 5 and out-of-band buffers, so a large numpy
array crosses with one copy in and one copy out.

Unbounded (maxsize <= 0, the default) as multiprocessing's: when the ring is full, a
put appends to this process's buffer, which a feeder thread drains into the ring, as
multiprocessing's feeder thread drains into its pipe; a process joins its feeder
thread when it exits (unless cancel_join_thread() was called). A bounded queue
(maxsize > 0) waits in put, or raises queue.Full, exactly at maxsize.

End of file: every process that holds the queue (its creator, the children that
inherit it or receive it as a Process argument) counts as one of its producers until
it calls close() or ends. A get on a drained queue once no producer is left raises
EOFError instead of waiting forever (multiprocessing's would wait forever). The
process calling get counts: a parent that made the queue and only consumes calls
close() first to get EOFError when its children are all gone (here close() ends
this process's puts only; gets go on).
"""
import collections as _collections
import os as _os
import pickle as _pickle
import queue as _queue
import threading as _threading
import weakref as _weakref

from multiprocessing import context as _context
from multiprocessing import util as _util

from . import _shmrt

__all__ = ["Queue", "JoinableQueue", "SimpleQueue"]

_live = _weakref.WeakSet()


def _after_fork_in_child():
    for q in list(_live):
        q._after_fork()


_os.register_at_fork(after_in_child=_after_fork_in_child)


def _timeout(block, timeout):
    """multiprocessing's (block, timeout) as the transport's: < 0 forever, 0 once.
    A negative timeout is 0, as multiprocessing.Queue takes it (a deadline already
    passed: one try), not queue.Queue's ValueError."""
    if not block:
        return 0.0
    if timeout is None:
        return -1.0
    t = float(timeout)
    if t != t:
        raise ValueError("Invalid value NaN (not a number)")
    return max(t, 0.0)


def _dumps(obj):
    bufs = []
    data = _pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
    return [data, *bufs]


def _loads(kind, parts):
    if kind == "b":
        return parts[0]
    return _pickle.loads(parts[0], buffers=parts[1:])


class Queue:
    """A process-shared FIFO of picklable objects (multiprocessing.Queue)."""

    _joinable = False

    def __init__(self, maxsize=0, *, ctx=None):
        self._maxsize = maxsize if maxsize > 0 else 0
        self._q = _shmrt._Queue(self._maxsize, self._joinable)
        self._after_init()

    def _after_init(self):
        self._closed = False
        self._producing = True
        self._lock = _threading.Lock()
        self._notempty = _threading.Condition(self._lock)
        self._buffer = _collections.deque()
        self._thread = None
        self._jointhread = None
        self._joincancelled = False
        _live.add(self)
        self._bind_fast()

    def _bind_fast(self):
        # put, put_bytes, get and get_bytes as the transport's C methods, bound on the
        # instance: one call into C per message (python/src/queue.c, "Fast methods"),
        # which hands back to _put what needs this object's buffer or state. Not where
        # a subclass overrides one of them.
        q = self._q
        q._bind(self, self._buffer, not self._closed)
        cls = type(self)
        for name in ("put", "put_bytes", "get", "get_bytes"):
            if getattr(cls, name) in _FAST[name]:
                setattr(self, name, getattr(q, name))

    def _after_fork(self):
        # The parent's buffer and feeder thread are the parent's.
        self._lock = _threading.Lock()
        self._notempty = _threading.Condition(self._lock)
        self._buffer = _collections.deque()
        self._thread = None
        self._jointhread = None
        self._joincancelled = False
        # A child is a new holder, a producer until it closes (as multiprocessing's
        # child gets an open queue, whatever its parent did).
        self._closed = False
        self._producing = True
        self._q._producer(True)
        self._bind_fast()

    def __getstate__(self):
        _context.assert_spawning(self)
        return (self._q, self._maxsize)

    def __setstate__(self, state):
        self._q, self._maxsize = state     # the transport's attach made us a producer
        self._after_init()

    def __repr__(self):
        return f"<shmrt.{type(self).__name__} maxsize={self._maxsize} qsize={self.qsize()}>"

    # ---- put ---------------------------------------------------------------------

    def _check_open(self):
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")

    def _put(self, kind, parts, block, timeout):
        self._check_open()
        t = _timeout(block, timeout)
        if self._maxsize:
            if not self._q._put(kind, parts, t):
                raise _queue.Full
            return
        with self._lock:
            if not self._buffer and self._q._put(kind, parts, 0.0):
                return
            # The ring is full: this process's buffer, in order, for the feeder.
            self._buffer.append((kind, parts))
            if self._thread is None:
                self._start_thread()
            self._notempty.notify()

    def put(self, obj, block=True, timeout=None):
        """Puts obj (pickled). A bounded queue waits for room (queue.Full at the
        timeout); an unbounded one never waits."""
        self._put("p", _dumps(obj), block, timeout)

    def put_nowait(self, obj):
        """put(obj, False): queue.Full at once if a bounded queue has no room."""
        return self.put(obj, False)

    def put_bytes(self, data, block=True, timeout=None):
        """Puts a bytes-like object as it is (no pickling); get() returns it as bytes."""
        self._put("b", [data], block, timeout)

    def put_many(self, objs, block=True, timeout=None):
        """Puts every object of objs, in order (each as put() would)."""
        for obj in objs:
            self.put(obj, block, timeout)

    # ---- get ---------------------------------------------------------------------

    def _get(self, block, timeout):
        r = self._q._get(_timeout(block, timeout))
        if r is None:
            raise _queue.Empty
        return r

    def get(self, block=True, timeout=None):
        """Takes the oldest object; queue.Empty at the timeout; EOFError when the
        queue is drained and no process that holds it is left to put."""
        return _loads(*self._get(block, timeout))

    def get_nowait(self):
        """get(False): queue.Empty at once if nothing is there."""
        return self.get(False)

    def get_bytes(self, block=True, timeout=None):
        """Takes the oldest message as bytes: what put_bytes() put, or the pickle of
        what put() put (TypeError if that pickle has out-of-band buffers)."""
        kind, parts = self._get(block, timeout)
        if len(parts) != 1:
            raise TypeError("the message is a pickle with out-of-band buffers, not bytes")
        return parts[0]

    def get_many(self, n, block=True, timeout=None):
        """Takes up to n objects: waits (as get()) for the first, then takes what is
        there without waiting. A list of 1..n objects; queue.Empty (nothing came
        within the timeout) and EOFError as get(); ValueError if n < 1."""
        if n < 1:
            raise ValueError(f"get_many(n) needs n >= 1, not {n}")
        out = [self.get(block, timeout)]
        while len(out) < n:
            r = self._q._get(0.0)
            if r is None:
                break
            out.append(_loads(*r))
        return out

    # ---- state ---------------------------------------------------------------------

    def qsize(self):
        """Messages in the queue (exact when nobody puts or gets meanwhile), with those
        still in this process's buffer."""
        return self._q._qsize() + len(self._buffer)

    def empty(self):
        """Whether qsize() is 0 (a snapshot: others may put or get meanwhile)."""
        return self.qsize() == 0

    def full(self):
        """Whether a bounded queue has no room (an unbounded one is never full)."""
        return bool(self._maxsize) and self._q._full()

    # ---- closing -------------------------------------------------------------------

    def close(self):
        """This process puts no more: the feeder thread flushes the buffer and ends,
        then this process stops being a producer (see EOF above). Gets go on."""
        if self._closed:
            return
        self._closed = True
        self._q._bind(self, self._buffer, False)
        with self._lock:
            if self._thread is not None:
                self._buffer.append(None)
                self._notempty.notify()
                return
        self._producer_done()

    def _producer_done(self):
        if self._producing:
            self._producing = False
            self._q._producer(False)

    def join_thread(self):
        """Waits for the feeder thread (after close()), as multiprocessing's."""
        assert self._closed, f"Queue {self!r} not closed"
        if self._jointhread:
            self._jointhread()

    def cancel_join_thread(self):
        """The process will not wait for its buffer to be flushed when it exits."""
        self._joincancelled = True
        try:
            self._jointhread.cancel()
        except AttributeError:
            pass

    # ---- the feeder thread -------------------------------------------------------

    def _start_thread(self):
        self._thread = _threading.Thread(target=self._feed, name="shmrt-QueueFeederThread",
                                         daemon=True)
        self._thread.start()
        # At exit: the feeder flushes the buffer and ends (priority 10), then the
        # process waits for it (-5), as multiprocessing's.
        _util.Finalize(self, Queue._finalize_close, [self._buffer, self._notempty],
                       exitpriority=10)
        if not self._joincancelled:
            self._jointhread = _util.Finalize(
                self._thread, Queue._finalize_join, [_weakref.ref(self._thread)],
                exitpriority=-5)

    @staticmethod
    def _finalize_close(buffer, notempty):
        with notempty:
            buffer.append(None)
            notempty.notify()

    @staticmethod
    def _finalize_join(twr):
        thread = twr()
        if thread is not None:
            thread.join()

    def _feed(self):
        while True:
            with self._lock:
                while not self._buffer:
                    self._notempty.wait()
                item = self._buffer[0]
            if item is None:
                self._producer_done()
                return
            if self._joincancelled and _util.is_exiting():
                return
            self._q._put(item[0], item[1], -1.0)
            with self._lock:
                self._buffer.popleft()


class JoinableQueue(Queue):
    """A Queue that counts unfinished tasks (multiprocessing.JoinableQueue)."""

    _joinable = True

    def task_done(self):
        """A consumer finished one message; ValueError if called more times than
        messages were put."""
        self._q._task_done()

    def join(self):
        """Waits until every message put has been marked done with task_done()."""
        while self._buffer:
            self._q._join(0.05)
        self._q._join(-1.0)


class SimpleQueue(Queue):
    """multiprocessing.SimpleQueue: put, get, empty, close."""

    def __init__(self, *, ctx=None):
        super().__init__(0)

    def put(self, obj):
        """Puts obj (pickled); never blocks (unbounded)."""
        super().put(obj)

    def get(self):
        """Takes the oldest object, waiting as long as it takes (EOFError when
        drained with no producer left)."""
        return super().get()

    @property
    def _reader(self):  # noqa: D401  (multiprocessing's attribute, for introspection)
        return self._q


# The methods that the transport's C methods stand in for (Queue._bind_fast).
_FAST = {
    "put": {Queue.put, SimpleQueue.put},
    "put_bytes": {Queue.put_bytes},
    "get": {Queue.get, SimpleQueue.get},
    "get_bytes": {Queue.get_bytes},
}
