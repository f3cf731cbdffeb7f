"""Objects passed to Process() under spawn and forkserver (a pickled reference: the
process-tree region's descriptor and the object's name) and fork; refused through
a Queue, as multiprocessing refuses its Value there."""
import multiprocessing as mp
import pickle

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


def _noop(x):
    pass


def test_a_barrier_passes_by_fork_only():
    b = shmrt.Barrier(2)
    p = mp.get_context("spawn").Process(target=_noop, args=(b,))
    with pytest.raises(RuntimeError, match="fork only"):
        p.start()


def test_not_through_a_queue_or_pickle():
    for obj in (shmrt.Value("i"), shmrt.Array("i", 2), shmrt.Lock(), shmrt.Event()):
        with pytest.raises(RuntimeError, match="inheritance"):
            pickle.dumps(obj)
    with pytest.raises(RuntimeError):
        pickle.dumps(shmrt.Value("i").get_lock())
