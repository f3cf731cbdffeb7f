"""Places where shmrt differed from multiprocessing where a program could tell, each
checked against multiprocessing under the same interpreter."""
import multiprocessing as mp
import queue
import time

import pytest

import shmrt


def flushed(q):
    """Waits (at most 10 s) until q's item can be got: multiprocessing's feeder thread
    writes it in the background."""
    end = time.monotonic() + 10
    while q.empty() and time.monotonic() < end:
        time.sleep(0.005)


@pytest.mark.parametrize("m", [mp, shmrt], ids=["multiprocessing", "shmrt"])
def test_a_negative_queue_timeout_is_one_try(m):
    """A deadline already passed (timeout = deadline - now < 0) is one try, as
    multiprocessing.Queue takes it, not queue.Queue's ValueError."""
    q = m.Queue(maxsize=1)
    with pytest.raises(queue.Empty):
        q.get(timeout=-0.5)
    q.put("x", timeout=-0.5)
    with pytest.raises(queue.Full):
        q.put("y", timeout=-0.5)
    flushed(q)
    assert q.get(True, -0.5) == "x"
    u = m.Queue()
    u.put(1, timeout=-1)            # unbounded: never waits
    flushed(u)
    assert u.get(timeout=-1) == 1
    j = m.JoinableQueue()
    with pytest.raises(queue.Empty):
        j.get(timeout=-1)
    for x in (q, u, j):
        x.close()
        x.join_thread()


@pytest.mark.parametrize("m", [mp, shmrt], ids=["multiprocessing", "shmrt"])
def test_a_char_arrays_raw_is_writable(m):
    for make in (m.Array, m.RawArray):
        a = make("c", b"hello")
        a.raw = b"HE"
        assert a.raw == b"HEllo" and a.value == b"HEllo"
        a.raw = bytearray(b"\0\0\0\0\0")
        assert a.value == b"" and a.raw == b"\0" * 5
        with pytest.raises(ValueError):
            a.raw = b"toolong"
        with pytest.raises(TypeError):
            a.raw = "str"
        assert a.raw == b"\0" * 5
    if m is shmrt:                  # (multiprocessing's wrapper takes any attribute)
        with pytest.raises(AttributeError):
            m.Array("i", 3).raw = b"x"


def test_the_managers_empty_popitem_says_what_dicts_say():
    with shmrt.Manager() as m:
        with pytest.raises(KeyError) as e:
            m.dict().popitem()
    try:
        {}.popitem()
    except KeyError as ref:
        assert str(e.value) == str(ref) and e.value.args == ref.args


@pytest.mark.timeout(20)
def test_a_nan_timeout_is_a_valueerror_not_a_wait_without_end():
    """threading.Lock's answer to a NaN timeout; the waits treated it as 'forever'."""
    lock = shmrt.Lock()
    lock.acquire()
    rlock, sem, ev, cond = shmrt.RLock(), shmrt.Semaphore(0), shmrt.Event(), shmrt.Condition()
    q, b = shmrt.Queue(), shmrt.Barrier(2)
    nan = float("nan")
    for call in (lambda: lock.acquire(timeout=nan), lambda: sem.acquire(True, nan),
                 lambda: ev.wait(nan), lambda: q.get(timeout=nan), lambda: q.get(True, nan),
                 lambda: q.put(1, timeout=nan), lambda: b.wait(nan)):
        with pytest.raises(ValueError, match="NaN"):
            call()
    with cond:
        with pytest.raises(ValueError, match="NaN"):
            cond.wait(nan)
    with pytest.raises(ValueError, match="NaN"):
        rlock.acquire(timeout=nan)              # even free: the argument is checked first
    assert not b.broken and q.qsize() == 0
    lock.release()
    with shmrt.Manager() as m:
        mq = m.Queue()
        with pytest.raises(ValueError, match="NaN"):
            mq.get(timeout=nan)


@pytest.mark.parametrize("m", [mp, shmrt], ids=["multiprocessing", "shmrt"])
def test_manager_proxies_compare_by_identity_and_hash(m):
    """A proxy is not its value: it equals only itself and is hashable, as
    multiprocessing's, so proxies go in sets and dict keys."""
    with m.Manager() as man:
        d, l = man.dict({1: 2}), man.list([1])
        assert not (d == {1: 2}) and not (l == [1])
        assert d == d and l != man.list([1])
        assert len({d, l, d}) == 2
        assert d.copy() == {1: 2} and l[:] == [1]
