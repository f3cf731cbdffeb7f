"""Objects passed to Process() under spawn and forkserver (a pickled reference: the
process-tree region's descriptor and the object's name) and fork; through Queues
(shmrt's and multiprocessing's) and Pool arguments (a reference naming the sender,
whose region a receiver without one opens through /proc); a Barrier under every
start method, its members' deaths breaking it."""
import multiprocessing as mp
import os
import pickle
import signal
import threading

import numpy as np
import pytest

import shmrt


def _child(v, a, raw, lk, r, s, b, e, c, flag):
    v.add(5)
    with v.get_lock():
        v.value += 1
    a[0] = 42
    np.asarray(a)[1] = 7
    raw[2] = 9
    with lk:
        pass
    with r:
        with r:
            pass
    s.release()
    b.acquire()
    b.release()
    mine = shmrt.Value("i", 3)        # the child's own object, in the same region
    flag.value = mine.value
    with c:
        c.notify_all()
    e.set()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_objects_pass_to_children_under_every_start_method(method):
    ctx = mp.get_context(method)
    v, a, raw = shmrt.Value("i", 1), shmrt.Array("d", 3), shmrt.RawArray("i", 3)
    lk, r, s, b = shmrt.Lock(), shmrt.RLock(), shmrt.Semaphore(0), shmrt.BoundedSemaphore()
    e, c, flag = shmrt.Event(), shmrt.Condition(), shmrt.Value("i", 0, lock=False)
    p = ctx.Process(target=_child, args=(v, a, raw, lk, r, s, b, e, c, flag))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert v.value == 7 and a[:] == [42.0, 7.0, 0.0] and raw[:] == [0, 0, 9]
    assert s.get_value() == 1 and e.is_set() and flag.value == 3
    # The parent drops its objects: the child may still have had them; nothing breaks.
    del v, a, raw


def _party(b, out):
    out.add(1)
    b.wait(30)
    out.add(10)


def _join(p):
    p.join(30)
    if p.exitcode is None:
        p.kill()
        p.join()
    return p.exitcode


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_barrier_under_every_start_method(method):
    ctx = mp.get_context(method)
    b, out = shmrt.Barrier(3), shmrt.Value("i", 0)
    ps = [ctx.Process(target=_party, args=(b, out)) for _ in range(2)]
    for p in ps:
        p.start()
    try:
        assert b.wait(30) in (0, 1, 2)
    finally:
        codes = [_join(p) for p in ps]
    assert codes == [0, 0] and out.value == 22
    # The children exited normally: they are no longer members, so a second round
    # with new parties is not broken by them.
    b2 = shmrt.Barrier(2)
    for _ in range(2):
        p = ctx.Process(target=_party, args=(b2, out))
        p.start()
        try:
            b2.wait(30)
        finally:
            assert _join(p) == 0
    assert out.value == 44 and not b2.broken


def _wait_forever(b):
    b.wait()


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_killed_party_breaks_the_barrier(method):
    ctx = mp.get_context(method)
    b = shmrt.Barrier(3)
    p = ctx.Process(target=_wait_forever, args=(b,))
    p.start()
    try:
        for _ in range(3000):                 # until it waits (30 s at most)
            if b.n_waiting == 1:
                break
            p.join(0.01)
        assert b.n_waiting == 1
        os.kill(p.pid, signal.SIGKILL)
        # The parent waits for a third party that never comes: the dead member
        # breaks the barrier (found within one 50 ms check) instead of a hang.
        with pytest.raises(threading.BrokenBarrierError):
            b.wait(30)
    finally:
        p.kill()
        p.join(30)
    assert b.broken


# ---- through Queues and Pools -------------------------------------------------------

def _use(objs):
    v, a, lk, r, s, e, c, b = objs
    v.add(1)
    with lk:
        a[0] += 1
    np.asarray(a)[1] += 1.5
    with r:
        with r:
            pass
    s.release()
    with c:
        c.notify_all()
    e.set()
    return v.value


def _objects():
    return (shmrt.Value("i", 0), shmrt.Array("d", 4), shmrt.Lock(), shmrt.RLock(),
            shmrt.Semaphore(0), shmrt.Event(), shmrt.Condition(), shmrt.Barrier(1))


def _from_queue(q, done):
    objs = q.get(timeout=30)
    _use(objs)
    objs[7].wait(10)                  # a Barrier of one party
    done.put("ok")


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("queue", ["shmrt", "multiprocessing"])
def test_handles_through_a_queue(method, queue):
    ctx = mp.get_context(method)
    # With multiprocessing's queues the child receives its first shmrt object from
    # the queue: it opens the region through /proc (under spawn and forkserver).
    make = shmrt.Queue if queue == "shmrt" else ctx.Queue
    q, done = make(), make()
    objs = _objects()
    p = ctx.Process(target=_from_queue, args=(q, done))
    p.start()
    try:
        q.put(objs)
        assert done.get(timeout=30) == "ok"
    finally:
        assert _join(p) == 0
    v, a, lk, r, s, e, c, b = objs
    assert v.value == 1 and a[:2] == [1.0, 1.5]
    assert s.acquire(timeout=0) and e.is_set()


def _pool_add(args):
    v, a, i = args
    v.add(1)
    np.asarray(a)[i] = i
    return os.getpid()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_handles_through_pool_arguments(method):
    ctx = mp.get_context(method)
    # The Pool's workers start before the objects exist (under fork too): each
    # opens the parent's region when its first argument arrives.
    with ctx.Pool(2) as pool:
        v, a = shmrt.Value("i", 0), shmrt.Array("i", 8)
        pids = pool.map(_pool_add, [(v, a, i) for i in range(8)], chunksize=1)
        pool.close()
        pool.join()
    assert v.value == 8 and a[:] == list(range(8))
    assert os.getpid() not in pids


def test_pickled_handles_name_their_region():
    v = shmrt.Value("i", 5)
    data = pickle.dumps(v)
    w = pickle.loads(data)             # the same process: the same cell
    w.add(1)
    assert v.value == 6
    # Every kind that travels: a round trip in one process shares the object.
    for obj in _objects():
        assert type(pickle.loads(pickle.dumps(obj))) is type(obj)


def test_queues_pipes_and_own_locks_pass_by_process_only():
    with pytest.raises(RuntimeError, match="inheritance"):
        pickle.dumps(shmrt.Queue())
    a, b = shmrt.Pipe()
    with pytest.raises(RuntimeError, match="inheritance"):
        pickle.dumps(a)
    with pytest.raises(RuntimeError, match="travels with it"):
        pickle.dumps(shmrt.Value("i").get_lock())
