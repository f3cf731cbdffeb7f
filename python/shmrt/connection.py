"""Pipe() and its Connection objects: multiprocessing's, on a shmrt pipe pair.

Each direction is a ring of slots in the process tree's region (python/src/pipe.c);
a message larger than a slot is cut into chunks that the receiver puts back
together. A receiver whose peer closed its end, or whose peer's every holding process
ended (even by kill -9), gets EOFError once it has read what was sent; a sender gets
BrokenPipeError. As with multiprocessing, a process that keeps a copy of the peer's
end (the parent that forked the child using it) keeps that end alive: close the end
you do not use.

Under spawn and forkserver, an end passes to the child with its kernel descriptors
(multiprocessing's DupFd, as its own Connection does): the child becomes one of the
end's holders, as under fork, so the parent may close its copy once the child is
started, and the peer sees the end closed when the child ends.
"""
import pickle as _pickle

from multiprocessing import BufferTooShort
from multiprocessing import context as _context

from . import _shmrt

__all__ = ["Pipe", "Connection"]


class Connection:
    """One end of a Pipe (multiprocessing.connection.Connection)."""

    def __init__(self, conn, readable=True, writable=True):
        if not readable and not writable:
            raise ValueError("at least one of `readable` and `writable` must be True")
        self._c = conn
        self._readable = readable
        self._writable = writable
        self._bind_fast()

    def _bind_fast(self):
        # send, recv and recv_bytes as the transport's C methods, bound on the
        # instance: one call into C per message (python/src/pipe.c, "Fast methods").
        # Not where a subclass overrides one of them.
        self._c._bind(self._readable, self._writable)
        cls = type(self)
        for name in ("send", "recv", "recv_bytes"):
            if getattr(cls, name) is getattr(Connection, name):
                setattr(self, name, getattr(self._c, name))

    def __getstate__(self):
        _context.assert_spawning(self)
        return (self._c, self._readable, self._writable)

    def __setstate__(self, state):
        self._c, self._readable, self._writable = state
        self._bind_fast()

    def __repr__(self):
        return (f"<shmrt.Connection {'closed' if self.closed else 'open'} "
                f"readable={self._readable} writable={self._writable}>")

    @property
    def closed(self):
        """Whether close() was called on this end."""
        return self._c._closed

    @property
    def readable(self):
        """Whether this end receives (False for a one-way pipe's sending end)."""
        return self._readable

    @property
    def writable(self):
        """Whether this end sends (False for a one-way pipe's receiving end)."""
        return self._writable

    def _check_readable(self):
        if not self._readable:
            raise OSError("connection is write-only")

    def _check_writable(self):
        if not self._writable:
            raise OSError("connection is read-only")

    def send(self, obj):
        """Sends a picklable object."""
        self._check_writable()
        self._c._send("p", _pickle.dumps(obj, protocol=5))

    def send_bytes(self, buf, offset=0, size=None):
        """Sends bytes of a bytes-like object (buf[offset:offset+size])."""
        self._check_writable()
        m = memoryview(buf)
        if m.itemsize > 1:
            m = m.cast("B")
        n = m.nbytes
        if offset < 0:
            raise ValueError("offset is negative")
        if n < offset:
            raise ValueError("buffer length < offset")
        if size is None:
            size = n - offset
        elif size < 0:
            raise ValueError("size is negative")
        elif offset + size > n:
            raise ValueError("buffer length < offset + size")
        self._c._send("b", m[offset:offset + size])

    def recv(self):
        """Receives an object; EOFError when the peer is gone and all was read."""
        self._check_readable()
        return _pickle.loads(self._c._recv(-1)[1])

    def recv_bytes(self, maxlength=None):
        """Receives a message's bytes; OSError (and the connection closes) when it is
        longer than maxlength."""
        self._check_readable()
        if maxlength is not None and maxlength < 0:
            raise ValueError("negative maxlength")
        return self._c._recv(-1 if maxlength is None else maxlength)[1]

    def recv_bytes_into(self, buf, offset=0):
        """Receives a message into buf at offset (bytes); returns its length.
        BufferTooShort (carrying the message) when it does not fit."""
        self._check_readable()
        with memoryview(buf) as m:
            itemsize = m.itemsize
            bytesize = itemsize * len(m)
            if offset < 0:
                raise ValueError("negative offset")
            elif offset > bytesize:
                raise ValueError("offset too large")
            data = self._c._recv(-1)[1]
            size = len(data)
            if bytesize < offset + size:
                raise BufferTooShort(data)
            m.cast("B")[offset:offset + size] = data
            return size

    def poll(self, timeout=0.0):
        """Whether a message (or the end) is there to receive, waiting up to timeout
        seconds (None: forever)."""
        self._check_readable()
        return self._c._poll(-1.0 if timeout is None else max(0.0, float(timeout)))

    def close(self):
        """Closes this end in this process (the peer sees the end once no process
        holds it)."""
        self._c._close()

    def fileno(self):
        """Raises OSError: a shmrt Connection has no file descriptor (it lives in
        shared memory); use poll() to wait for data."""
        raise OSError("a shmrt Connection has no file descriptor")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def Pipe(duplex=True):
    """Two Connections (multiprocessing.Pipe): duplex, or (receive-only, send-only)."""
    a, b = _shmrt._pipe_pair()
    if duplex:
        return Connection(a), Connection(b)
    return Connection(a, writable=False), Connection(b, readable=False)
