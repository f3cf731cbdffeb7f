"""Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier: their
multiprocessing signatures, across forked processes; a holder killed with kill -9
(the next acquire succeeds with OwnerDiedWarning, at once); Ctrl-C ends a blocked
acquire (within one 50 ms slice). Time bounds here only prove that nothing hangs:
they leave room for a loaded machine."""
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import pytest

import shmrt

fork = mp.get_context("fork")


def start(target, *args):
    p = fork.Process(target=target, args=args)
    p.start()
    return p


def join(p):
    p.join(30)
    if p.exitcode is None:
        p.kill()
        p.join()
    return p.exitcode


def test_lock_basics():
    lk = shmrt.Lock()
    assert lk.acquire() is True
    assert lk.acquire(False) is False
    assert lk.acquire(block=False) is False
    t0 = time.monotonic()
    assert lk.acquire(timeout=0.1) is False       # held by this thread: waits, as Python
    assert time.monotonic() - t0 >= 0.09
    lk.release()
    with pytest.raises(ValueError):
        lk.release()
    with lk:
        assert lk.acquire(False) is False
    assert lk.acquire(True, 0.5) is True
    lk.release()
    assert "shmrt.Lock" in repr(lk)


def test_rlock_recursion():
    r = shmrt.RLock()
    assert r.acquire() and r.acquire() and r.acquire(timeout=0)
    r.release()
    r.release()
    r.release()
    with pytest.raises(AssertionError):
        r.release()
    with r:
        with r:
            pass


def _hold(lk, ready, go):
    lk.acquire()
    ready.set()
    go.wait(30)
    time.sleep(0.05)
    lk.release()


def test_lock_excludes_another_process_and_times_out():
    lk, ready, go = shmrt.Lock(), shmrt.Event(), shmrt.Event()
    p = start(_hold, lk, ready, go)
    assert ready.wait(10)
    assert lk.acquire(False) is False
    assert lk.acquire(timeout=0.05) is False
    go.set()
    assert lk.acquire(timeout=10) is True     # once the child releases
    lk.release()
    assert join(p) == 0


def _hold_forever(lk, ready):
    lk.acquire()
    ready.set()
    time.sleep(60)


@pytest.mark.parametrize("kind", ["Lock", "RLock", "value", "array"])
def test_holder_killed_the_next_acquire_succeeds_with_a_warning(kind):
    if kind == "value":
        obj = shmrt.Value("i", 0)
        lk = obj.get_lock()
    elif kind == "array":
        obj = shmrt.Array("i", 10)
        lk = obj.get_lock()
    else:
        lk = getattr(shmrt, kind)()
    ready = shmrt.Event()
    p = start(_hold_forever, lk, ready)
    assert ready.wait(10)
    assert lk.acquire(timeout=0.05) is False
    os.kill(p.pid, signal.SIGKILL)
    p.join(10)
    assert p.exitcode == -signal.SIGKILL
    # The holder is reaped: the kernel marked the lock's owner dead as it exited,
    # so the hand-over is the first try (measured well under a millisecond), and
    # within the 100 ms the issue asks whatever the machine's load.
    with pytest.warns(shmrt.OwnerDiedWarning):
        assert lk.acquire(timeout=0.1) is True
    lk.release()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lk.acquire(timeout=1) is True    # consistent again: no second warning
        lk.release()


def test_owner_died_warning_as_error_leaves_the_lock_free():
    lk, ready = shmrt.Lock(), shmrt.Event()
    p = start(_hold_forever, lk, ready)
    assert ready.wait(10)
    os.kill(p.pid, signal.SIGKILL)
    p.join(10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(shmrt.OwnerDiedWarning):
            lk.acquire(timeout=5)
    assert lk.acquire(timeout=1) is True
    lk.release()


def test_threads_of_one_process_exclude_each_other():
    lk = shmrt.Lock()
    count = shmrt.Value("i", 0, lock=False)

    def work():
        for _ in range(2000):
            with lk:
                count.value = count.value + 1

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert count.value == 8000


def test_semaphores():
    s = shmrt.Semaphore(2)
    assert s.acquire() and s.acquire(timeout=0.01)
    assert s.acquire(False) is False
    assert s.get_value() == 0
    s.release()
    s.release()
    s.release()           # unbounded: above the start
    assert s.get_value() == 3
    with s:
        assert s.get_value() == 2
    b = shmrt.BoundedSemaphore(1)
    assert b.acquire()
    b.release()
    with pytest.raises(ValueError):
        b.release()
    assert repr(b) == "<BoundedSemaphore(value=1)>"
    with pytest.raises(ValueError):
        shmrt.Semaphore(-1)


def _take(s, out):
    s.acquire()
    out.add(1)


def test_semaphore_across_processes():
    s, out = shmrt.Semaphore(0), shmrt.Value("i", 0)
    ps = [start(_take, s, out) for _ in range(3)]
    time.sleep(0.1)
    assert out.value == 0
    for _ in range(3):
        s.release()
    for p in ps:
        assert join(p) == 0
    assert out.value == 3


def _setter(e, delay):
    time.sleep(delay)
    e.set()


def test_event():
    e = shmrt.Event()
    assert e.is_set() is False and e.wait(0.01) is False and e.wait(timeout=0) is False
    p = start(_setter, e, 0.1)
    assert e.wait(10) is True and e.is_set()
    assert join(p) == 0
    e.clear()
    assert e.is_set() is False


def _notifier(c, flag):
    time.sleep(0.1)
    with c:
        flag.value = 1
        c.notify_all()


def test_condition():
    c, flag = shmrt.Condition(), shmrt.Value("i", 0)
    with c:
        assert c.wait(0.02) is False
    with pytest.raises(RuntimeError):
        c.wait(0.01)              # not holding the lock
    p = start(_notifier, c, flag)
    with c:
        assert c.wait_for(lambda: flag.value == 1, timeout=10) is True
    assert join(p) == 0
    with c:
        assert c.wait_for(lambda: False, timeout=0.05) is False
    lk = shmrt.Lock()
    c2 = shmrt.Condition(lk)
    with c2:
        assert lk.acquire(False) is False
        c2.notify()
        c2.notify(3)
        c2.notify_all()
    # A notify without the lock is refused, as threading's (multiprocessing asserts).
    for cond in (c, c2):
        with pytest.raises(RuntimeError, match="un-acquired"):
            cond.notify()
        with pytest.raises(RuntimeError, match="un-acquired"):
            cond.notify_all()
    with pytest.raises(TypeError):
        shmrt.Condition(object())


def _notify_when_free(c, flag):
    # Takes the Condition's lock: possible only if the waiter released every level.
    with c:
        flag.value = 1
        c.notify()


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_condition_wait_releases_every_level_of_an_rlock(levels):
    c, flag = shmrt.Condition(), shmrt.Value("i", 0)
    for _ in range(levels):
        c.acquire()
    p = start(_notify_when_free, c, flag)
    try:
        assert c.wait_for(lambda: flag.value == 1, timeout=10) is True
        # The levels are back: as many releases as acquires, then not held.
        for _ in range(levels):
            c.release()
        with pytest.raises(AssertionError):
            c.release()
    finally:
        assert join(p) == 0
    # A timed-out wait also gives every level back.
    for _ in range(levels):
        c.acquire()
    assert c.wait(0.02) is False
    for _ in range(levels):
        c.release()
    with pytest.raises(AssertionError):
        c.release()


def _consumer(c, items, got):
    with c:
        while items.value == 0:
            c.wait()
        items.add(-1)
        got.add(1)


def test_condition_wakes_waiters_in_other_processes():
    c, items, got = shmrt.Condition(), shmrt.Value("i", 0), shmrt.Value("i", 0)
    ps = [start(_consumer, c, items, got) for _ in range(3)]
    time.sleep(0.1)
    for _ in range(3):
        with c:
            items.add(1)
            c.notify()
    for p in ps:
        assert join(p) == 0
    assert got.value == 3 and items.value == 0


def _party(b, out):
    out.add(1)
    b.wait(10)
    out.add(10)


def test_barrier():
    b, out = shmrt.Barrier(3), shmrt.Value("i", 0)
    assert b.parties == 3 and b.broken is False
    ps = [start(_party, b, out) for _ in range(2)]
    deadline = time.monotonic() + 10
    while b.n_waiting < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert out.value == 2
    idx = b.wait(10)
    assert 0 <= idx < 3
    for p in ps:
        assert join(p) == 0
    assert out.value == 22
    with pytest.raises(threading.BrokenBarrierError):
        b.wait(0.05)              # alone: times out and breaks it
    assert b.broken
    b.reset()
    assert not b.broken
    b.abort()
    with pytest.raises(threading.BrokenBarrierError):
        b.wait()
    with pytest.raises(NotImplementedError):
        shmrt.Barrier(2, action=print)


CTRL_C = r"""
import os, signal, sys, time, threading
import shmrt
lk = shmrt.Lock()
ready = shmrt.Event()
pid = os.fork()
if pid == 0:
    lk.acquire(); ready.set(); time.sleep(30); os._exit(0)
ready.wait(10)
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
t0 = time.monotonic()
try:
    lk.acquire()
    print("acquired")
except KeyboardInterrupt:
    print("interrupted", time.monotonic() - t0 < 10.0)
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
"""


def test_ctrl_c_ends_a_blocked_acquire(run):
    assert run(CTRL_C).split() == ["interrupted", "True"]
