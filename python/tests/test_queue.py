"""shmrt.Queue, JoinableQueue and SimpleQueue: every method, several producers and
consumers (per-producer sequence numbers: no loss, no duplicate, FIFO per producer),
large objects, numpy arrays out of band, EOF, kill -9 of a producer, SIGINT, and
passing to children under every start method."""
import multiprocessing as mp
import os
import queue
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import shmrt


def test_put_get_every_method():
    q = shmrt.Queue()
    assert q.empty() and q.qsize() == 0 and not q.full()
    q.put(1)
    q.put_nowait((2, "two"))
    q.put_bytes(b"raw")
    q.put_many([4, 5, 6])
    assert q.qsize() == 6 and not q.empty()
    assert q.get() == 1
    assert q.get_nowait() == (2, "two")
    assert q.get_bytes() == b"raw"
    assert q.get_many(10) == [4, 5, 6]
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    q.put_bytes(bytearray(b"ba"))
    assert q.get() == b"ba"          # put_bytes' message is bytes for get() too
    q.close()
    q.join_thread()
    with pytest.raises(ValueError, match="closed"):
        q.put(1)
    q.cancel_join_thread()


def test_bounded_is_exact():
    q = shmrt.Queue(3)
    for i in range(3):
        q.put(i)
    assert q.full() and q.qsize() == 3
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.05)
    assert q.get() == 0 and not q.full()
    q.put(3)
    assert [q.get() for _ in range(3)] == [1, 2, 3]


def test_unbounded_buffers_past_the_ring():
    q = shmrt.Queue()
    n = 5000                          # more than the ring's slots: the feeder thread
    for i in range(n):
        q.put(i)
    assert q.qsize() == n
    assert [q.get(timeout=10) for _ in range(n)] == list(range(n))
    q.close()
    q.join_thread()


def test_large_objects_and_numpy_out_of_band():
    q = shmrt.Queue()
    big = os.urandom(10 << 20)
    arr = np.arange(3 << 20, dtype=np.float32)            # 12 MiB
    q.put(big)
    q.put({"a": arr, "b": [arr[:5]]})
    q.put_bytes(big)
    assert q.get() == big
    d = q.get()
    assert np.array_equal(d["a"], arr) and np.array_equal(d["b"][0], arr[:5])
    assert d["a"].flags.writeable
    assert q.get_bytes() == big
    assert q.empty()


def test_joinable_queue():
    q = shmrt.JoinableQueue()
    q.put(1)
    q.put(2)
    q.get()
    q.task_done()
    q.get()
    q.task_done()
    q.join()
    with pytest.raises(ValueError):
        q.task_done()


def test_simple_queue():
    q = shmrt.SimpleQueue()
    assert q.empty()
    q.put([1])
    assert not q.empty() and q.get() == [1]
    q.close()


def _produce(q, pid, n):
    for i in range(n):
        q.put((pid, i))
    q.put(None)


def _consume(q, out):
    got = []
    while True:
        item = q.get(timeout=30)
        if item is None:
            break
        got.append(item)
    out.put(got)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_two_producers_two_consumers(method):
    ctx = mp.get_context(method)
    q, out = shmrt.Queue(), shmrt.Queue()
    n = 3000
    ps = [ctx.Process(target=_produce, args=(q, p, n)) for p in range(2)]
    cs = [ctx.Process(target=_consume, args=(q, out)) for _ in range(2)]
    for p in ps + cs:
        p.start()
    results = [out.get(timeout=60) for _ in range(2)]
    for p in ps + cs:
        p.join(30)
        assert p.exitcode == 0
    for got in results:
        for pid in range(2):
            seq = [i for p, i in got if p == pid]
            assert seq == sorted(seq)             # FIFO per producer
    allgot = sorted(results[0] + results[1])
    assert allgot == sorted((p, i) for p in range(2) for i in range(n))


def _put_arrays(q):
    for k in range(3):
        q.put(np.full(1 << 20, k, dtype=np.int64))


def test_numpy_arrays_from_a_child():
    q = shmrt.Queue()
    p = mp.get_context("spawn").Process(target=_put_arrays, args=(q,))
    p.start()
    for k in range(3):
        assert np.array_equal(q.get(timeout=60), np.full(1 << 20, k, dtype=np.int64))
    p.join(30)


def _put_forever(q, pad=0):
    i = 0
    while True:
        q.put(i if not pad else (i, b"x" * pad))
        i += 1
        if i % 500 == 0:
            time.sleep(0.001)


def _put_forever_large(q):
    # Every message larger than a slot: each goes through an arena block.
    _put_forever(q, 3000)


def test_kill_9_of_a_producer_in_a_put_loop_of_large_messages():
    q = shmrt.Queue(100)
    p = mp.get_context("fork").Process(target=_put_forever_large, args=(q,))
    p.start()
    try:
        got = [q.get(timeout=30) for _ in range(300)]
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.join(10)
    q.close()
    while True:
        try:
            got.append(q.get(timeout=10))
        except EOFError:
            break
    assert [g[0] for g in got] == list(range(len(got)))   # no loss, no duplicate
    assert all(g[1] == b"x" * 3000 for g in got)


def test_kill_9_of_a_producer_in_a_put_loop():
    q = shmrt.Queue(100)
    p = mp.get_context("fork").Process(target=_put_forever, args=(q,))
    p.start()
    got = [q.get(timeout=30) for _ in range(1000)]
    os.kill(p.pid, signal.SIGKILL)
    p.join(10)
    q.close()                 # this process puts no more: the end is reachable
    while True:
        try:
            got.append(q.get(timeout=10))
        except EOFError:
            break
    assert got == list(range(len(got)))        # nothing lost, nothing duplicated
    r = shmrt.Queue(100)
    r.put_bytes(b"still works")
    assert r.get() == b"still works"


def _exit_quietly(q):
    q.put("last")


def test_eof_when_every_producer_is_gone():
    q = shmrt.Queue()
    q.close()
    p = mp.get_context("fork").Process(target=_exit_quietly, args=(q,))
    p.start()
    p.join(30)
    assert q.get(timeout=10) == "last"
    with pytest.raises(EOFError):
        q.get(timeout=10)


def test_sigint_ends_a_blocked_get():
    prog = textwrap.dedent("""
        import shmrt, sys
        q = shmrt.Queue()
        print("ready", flush=True)
        try:
            q.get()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", prog], stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ))
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=10)
        assert out.strip() == "interrupted" and p.returncode == 0
    finally:
        p.kill()
        p.wait()


def test_not_through_pickle_outside_spawning():
    import pickle
    with pytest.raises(RuntimeError):
        pickle.dumps(shmrt.Queue())


def _put_later(q, delay, items):
    time.sleep(delay)
    q.put_many(items)


def test_get_many_with_timeouts():
    q = shmrt.Queue()
    with pytest.raises(queue.Empty):
        q.get_many(5, block=False)
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get_many(5, timeout=0.05)
    assert time.monotonic() - t0 >= 0.04       # it did wait (no upper bound asserted)
    with pytest.raises(ValueError):
        q.get_many(0)
    q.put_many(range(7))
    assert q.get_many(3, timeout=0) == [0, 1, 2]     # at most n
    assert q.get_many(10, block=False) == [3, 4, 5, 6]
    # The first object arrives while it waits; the rest of what is there comes too.
    p = mp.get_context("fork").Process(target=_put_later, args=(q, 0.1, ["a", "b"]))
    p.start()
    try:
        got = q.get_many(5, timeout=30)
        while len(got) < 2:                   # "b" may land just after the first take
            got += q.get_many(5, timeout=30)
        assert got == ["a", "b"]
    finally:
        p.join(30)
        if p.exitcode is None:
            p.kill()
            p.join()
    assert p.exitcode == 0
    # A drained queue whose producers are all gone: EOFError, as get().
    r = shmrt.Queue()
    r.close()
    p = mp.get_context("fork").Process(target=_put_later, args=(r, 0, [1, 2]))
    p.start()
    p.join(30)
    assert r.get_many(5, timeout=10) == [1, 2]
    with pytest.raises(EOFError):
        r.get_many(5, timeout=10)


def test_fast_methods_keep_the_python_semantics():
    """put, put_bytes, get and get_bytes are C methods bound on the instance; they hand
    to the Python path what needs it: a closed queue, the local buffer's order."""
    q = shmrt.Queue()
    assert type(q.put).__name__ == "builtin_function_or_method"
    q.put(1, True, None)
    q.put(2, block=False)
    q.put_bytes(b"x", timeout=1)
    assert q.get(True, 1) == 1 and q.get(block=False) == 2
    assert q.get_bytes(timeout=1) == b"x"
    with pytest.raises(queue.Empty):    # a negative timeout: one try (multiprocessing)
        q.get(timeout=-1)
    with pytest.raises(TypeError):
        q.put(1, nonsense=True)
    with pytest.raises(TypeError):
        q.get(True, 1, 2)
    q.put(np.arange(1000.0))        # out of band: not bytes
    with pytest.raises(TypeError, match="out-of-band"):
        q.get_bytes()
    # Past the ring, into the local buffer, and FIFO through it: a put behind a
    # non-empty buffer goes to the buffer even when the ring has room again.
    n = 3000
    for i in range(n):
        q.put_nowait(i)
    assert q.qsize() == n
    assert [q.get(timeout=10) for _ in range(n)] == list(range(n))
    q.close()
    with pytest.raises(ValueError, match="closed"):
        q.put_bytes(b"y")
    with pytest.raises(ValueError, match="closed"):
        q.put(1)
    q.join_thread()


def test_fast_methods_respect_a_subclass_and_outlive_the_queue():
    class Mine(shmrt.Queue):
        def put(self, obj, block=True, timeout=None):
            super().put(("mine", obj), block, timeout)
    q = Mine()
    q.put(1)
    assert q.get() == ("mine", 1)
    q2 = shmrt.Queue(2)
    put, get = q2.put_bytes, q2.get_bytes
    del q2                          # the bound methods go on without the Queue
    put(b"a")
    put(b"b")
    with pytest.raises(queue.Full):
        put(b"c", timeout=0.01)
    assert get() == b"a" and get() == b"b"
    with pytest.raises(queue.Empty):
        get(timeout=0.01)


def test_large_blocks_reused_across_sizes():
    """Blocks of large messages go back to the queue's spare table and are taken
    again by later puts that fit them; every message arrives whole."""
    q = shmrt.Queue()
    sizes = [5000, 2 << 20, 100 << 10, 2 << 20, 9 << 20, 3000, 1 << 20] * 3
    want = []
    for k, n in enumerate(sizes):
        q.put_bytes(bytes([k % 251]) * n)
        want.append((k % 251, n))
        if k % 3 == 2:                         # some in flight at once
            for _ in range(2):
                b, (c, m) = q.get_bytes(), want.pop(0)
                assert len(b) == m and b.count(c) == m
    q2 = shmrt.Queue()
    for k, n in enumerate(sizes):
        a = np.full(n // 8, k, dtype=np.int64)
        q2.put(a)
        b = q2.get()
        assert b.shape == a.shape and (b == k).all()
    while want:
        b, (c, m) = q.get_bytes(), want.pop(0)
        assert len(b) == m and b.count(c) == m
    assert q.empty()
