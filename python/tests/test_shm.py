"""shmrt.shared_memory: SharedMemory's methods, attach by name in children under every
start method, close() under live views (BufferError, or a deferred unmap: never a
segfault), ShareableList, nothing left in /dev/shm."""
import multiprocessing as mp
import os
import pickle
import warnings

import numpy as np
import pytest

from shmrt.shared_memory import SharedMemory, ShareableList


def test_create_attach_close_unlink():
    s = SharedMemory(create=True, size=4096)
    assert s.size == 4096 and len(s.buf) == 4096 and os.path.exists("/dev/shm/" + s.name)
    s.buf[:3] = b"abc"
    t = SharedMemory(s.name)
    assert bytes(t.buf[:3]) == b"abc" and t.size == 4096
    t.close()
    u = pickle.loads(pickle.dumps(s))          # a SharedMemory pickles as its name
    assert bytes(u.buf[:3]) == b"abc"
    u.close()
    s.close()
    s.close()                                   # idempotent
    s.unlink()
    assert not os.path.exists("/dev/shm/" + s.name)
    with pytest.raises(FileNotFoundError):
        SharedMemory(s.name)
    with pytest.raises(ValueError):
        SharedMemory(create=True, size=0)
    with pytest.raises(ValueError):
        SharedMemory()


def test_named_and_exclusive():
    name = f"shmrt-pytest-{os.getpid()}"
    s = SharedMemory(name, create=True, size=10)
    with pytest.raises(FileExistsError):
        SharedMemory(name, create=True, size=10)
    assert s.name == name
    s.close()
    s.unlink()


def test_close_under_a_live_view():
    s = SharedMemory(create=True, size=64)
    v = s.buf[8:16]
    with pytest.raises(BufferError):
        s.close()
    del v
    s.close()
    s.unlink()
    t = SharedMemory(create=True, size=80)
    a = np.ndarray((10,), dtype=np.float64, buffer=t.buf)
    a[:] = 7
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t.close()                               # deferred: a still uses the memory
    assert any(issubclass(x.category, ResourceWarning) for x in w)
    assert a.sum() == 70.0                      # no segfault
    t.unlink()
    del a


def _double(name, n):
    s = SharedMemory(name=name)
    a = np.ndarray((n,), dtype=np.int64, buffer=s.buf)
    a *= 2
    del a
    s.close()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_children_attach_by_name(method):
    s = SharedMemory(create=True, size=8 * 100)
    a = np.ndarray((100,), dtype=np.int64, buffer=s.buf)
    a[:] = np.arange(100)
    p = mp.get_context(method).Process(target=_double, args=(s.name, 100))
    p.start()
    p.join(60)
    assert p.exitcode == 0 and np.array_equal(a, np.arange(100) * 2)
    # A child's exit does not unlink it (gh-82300).
    assert os.path.exists("/dev/shm/" + s.name)
    del a
    s.close()
    s.unlink()


def test_shareable_list():
    sl = ShareableList([1, 2.5, "abc", b"xy", None, True])
    assert list(sl) == [1, 2.5, "abc", b"xy", None, True]
    sl[0] = 42
    other = ShareableList(name=sl.shm.name)
    assert other[0] == 42 and other.count(42) == 1 and other.index("abc") == 2
    other.shm.close()
    sl.shm.close()
    sl.shm.unlink()
    assert not os.path.exists("/dev/shm/" + sl.shm.name)
