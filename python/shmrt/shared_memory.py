"""SharedMemory and ShareableList: multiprocessing.shared_memory's, on shmrt regions.

    from shmrt.shared_memory import SharedMemory, ShareableList

A segment is a named shmrt region (/dev/shm/NAME, as multiprocessing's) holding the
memory (python/src/shm.c). ``buf`` is a memoryview of it; ``name``, ``size``,
``close()``, ``unlink()`` are multiprocessing's. The differences, all about safety:

* close() never unmaps memory that something still uses. With live exports of
  ``buf`` (memoryviews sliced from it, buffers held by other objects) it raises
  BufferError, as multiprocessing's does. When objects merely keep the memory
  referenced (a numpy array made with ``np.ndarray(..., buffer=shm.buf)`` does),
  multiprocessing unmaps under them (a later access segfaults); here the unmap waits
  until the last of them is freed (a ResourceWarning says so; hidden by default).
* Only the creator registers the name with multiprocessing's resource tracker (which
  unlinks it, with a warning, if the process tree ends without unlink()); a process
  that attaches by name never does, so it cannot unlink a segment under its creator
  when it exits (gh-82300). unlink() removes the name; the memory lives while mapped.
* A SharedMemory pickles as its name: it passes to Process() under every start
  method, and through Queues and Pipes, as multiprocessing's does.
"""
import secrets as _secrets
import sys as _sys
import types as _types
import warnings as _warnings

import multiprocessing.shared_memory as _mpsm
from multiprocessing import resource_tracker as _resource_tracker

from . import _shmrt

__all__ = ["SharedMemory", "ShareableList"]

_PREFIX = "psm_"


class SharedMemory:
    """A named block of shared memory (multiprocessing.shared_memory.SharedMemory)."""

    _seg = None
    _buf = None

    def __init__(self, name=None, create=False, size=0):
        if not size >= 0:
            raise ValueError("'size' must be a positive integer")
        if create and size == 0:
            raise ValueError("'size' must be a positive number different from zero")
        if name is None:
            if not create:
                raise ValueError("'name' can only be None if create=True")
            while True:
                name = _PREFIX + _secrets.token_hex(7)
                try:
                    self._seg = _shmrt._Segment(name, True, size)
                except FileExistsError:
                    continue
                break
        else:
            name = name.lstrip("/")
            self._seg = _shmrt._Segment(name, bool(create), size)
        self._name = name
        self._size = self._seg.size
        self._buf = memoryview(self._seg)
        if create:
            _resource_tracker.register("/" + name, "shared_memory")

    def __del__(self):
        try:
            self.close()
        except (OSError, BufferError):
            pass

    def __reduce__(self):
        return (self.__class__, (self.name, False, self.size))

    def __repr__(self):
        return f"{self.__class__.__name__}({self.name!r}, size={self.size})"

    @property
    def buf(self):
        """A memoryview of the segment's bytes."""
        return self._buf

    @property
    def name(self):
        """The name that opens it elsewhere: SharedMemory(name)."""
        return self._name

    @property
    def size(self):
        """Its size in bytes."""
        return self._size

    def close(self):
        """Unmaps the segment in this process (see the module's notes: BufferError with
        live exports of buf; deferred while objects keep buf referenced)."""
        if self._buf is not None:
            self._buf.release()   # BufferError with live exports, as multiprocessing's
            self._buf = None
        seg = self._seg
        if seg is None:
            return
        if seg.exports:
            # Views of buf's memory (slices of buf) are alive: as mmap.close().
            raise BufferError("cannot close exported pointers exist")
        # Ours: the attribute, the local and the argument. Any other reference is an
        # object built on buf's memory (numpy keeps the segment as its base).
        if _sys.getrefcount(seg) > 3:
            _warnings.warn(f"{self!r}: close() deferred: objects still use its memory; "
                           "it is unmapped when the last of them is freed",
                           ResourceWarning, stacklevel=2)
        else:
            seg.close()
        self._seg = None

    def unlink(self):
        """Removes the name (once, by one process); the memory lives while mapped."""
        _shmrt._unlink_segment(self._name)
        _resource_tracker.unregister("/" + self._name, "shared_memory")


_globals = dict(vars(_mpsm))
_globals["SharedMemory"] = SharedMemory


class ShareableList(_mpsm.ShareableList):
    """multiprocessing.shared_memory.ShareableList, in a shmrt SharedMemory."""

    # multiprocessing's own __init__, run with this module's SharedMemory.
    __init__ = _types.FunctionType(_mpsm.ShareableList.__init__.__code__, _globals,
                                   "__init__", _mpsm.ShareableList.__init__.__defaults__)
    __init__.__kwdefaults__ = _mpsm.ShareableList.__init__.__kwdefaults__
