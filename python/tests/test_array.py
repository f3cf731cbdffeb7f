"""Array and RawArray: indexing and slicing against a list as reference, 'c' and 'u'
arrays, locks, the buffer protocol (numpy dtype and shared memory for every
typecode), snapshots consistent under a concurrent writer, write brackets."""
import ctypes
import multiprocessing as mp
import os
import signal
import time

import numpy as np
import pytest

import shmrt

DTYPES = {"b": np.int8, "B": np.uint8, "h": np.int16, "H": np.uint16, "i": np.int32,
          "I": np.uint32, "l": np.int64, "L": np.uint64, "q": np.int64, "Q": np.uint64,
          "f": np.float32, "d": np.float64, "c": np.dtype("S1"), "u": np.dtype("U1"),
          "?": np.bool_}


def test_index_slice_len_iter_against_a_list():
    ref = list(range(-10, 20))
    a = shmrt.Array("i", ref)
    m = mp.Array("i", ref)
    assert len(a) == len(ref) and list(a) == ref and a[:] == ref == m[:]
    for i in range(-len(ref), len(ref)):
        assert a[i] == ref[i]
    for s in [slice(2, 9), slice(None, None, 3), slice(None, None, -1), slice(-5, -1),
              slice(20, 3, -4), slice(50, 60), slice(3, 3)]:
        assert a[s] == ref[s] == m[s]
    a[3] = 99
    ref[3] = 99
    a[-1] = -1
    ref[-1] = -1
    a[5:9] = [1, 2, 3, 4]
    ref[5:9] = [1, 2, 3, 4]
    a[::7] = [0] * len(ref[::7])
    ref[::7] = [0] * len(ref[::7])
    assert a[:] == ref
    with pytest.raises(IndexError):
        a[len(ref)]
    with pytest.raises(IndexError):
        a[-len(ref) - 1] = 0
    with pytest.raises(ValueError):
        a[0:3] = [1, 2]
    with pytest.raises(TypeError):
        a[0] = 1.5
    with pytest.raises(TypeError):
        del a[0]


def test_sizes_and_initialisers():
    assert shmrt.Array("d", 5)[:] == [0.0] * 5
    assert shmrt.Array(ctypes.c_double, [1, 2.5])[:] == [1.0, 2.5]
    assert len(shmrt.Array("i", 0)) == 0 and shmrt.Array("i", [])[:] == []
    with pytest.raises(TypeError):
        shmrt.Array("i", [1, "x"])
    with pytest.raises(ValueError):
        shmrt.Array("i", -1)


def test_char_and_wchar_arrays():
    c = shmrt.Array("c", b"hello\0xy")
    assert c[:] == b"hello\0xy" and c.value == b"hello" and c.raw == b"hello\0xy"
    assert c[1] == b"e"
    c.value = b"hi"
    assert c.value == b"hi"
    u = shmrt.Array("u", "h\u00e9llo")
    assert u[:] == "h\u00e9llo" and u.value == "h\u00e9llo" and u[1] == "\u00e9"
    assert mp.Array("c", b"hello")[:] == shmrt.Array("c", b"hello")[:]


def test_locks_and_get_obj():
    a = shmrt.Array("i", 4)
    assert a.get_lock() is a.get_lock()
    with a:
        with a.get_lock():
            a[0] = 1
    raw = a.get_obj()
    raw[1] = 5
    assert a[:] == [1, 5, 0, 0]
    assert repr(a).startswith("<SynchronizedArray wrapper for <shmrt.c_int_Array_4 object")
    r = shmrt.Array("i", 3, lock=False)
    assert isinstance(r, shmrt._shmrt.RawArray) and not hasattr(r, "get_lock")
    lk = shmrt.RLock()
    b = shmrt.Array("d", 2, lock=lk)
    assert b.get_lock() is lk


@pytest.mark.parametrize("code", list(DTYPES))
def test_numpy_views_share_memory_with_the_right_dtype(code):
    init = {"c": b"ab", "u": "ab", "?": [True, False]}.get(code, [1, 2])
    a = shmrt.Array(code, init)
    v = np.asarray(a)
    assert v.dtype == np.dtype(DTYPES[code])
    assert v.shape == (2,)
    w = np.frombuffer(a, dtype=DTYPES[code])
    assert np.shares_memory(v, w)
    assert np.shares_memory(v, np.asarray(shmrt.RawArray(code, init))) is False
    v[1] = v[0]
    assert a[1] == a[0]
    r = shmrt.RawArray(code, init)
    assert np.asarray(r).dtype == np.dtype(DTYPES[code])
    assert memoryview(r).format == memoryview(a).format


def test_view_keeps_the_array_alive():
    v = np.asarray(shmrt.Array("d", [1.0, 2.0, 3.0]))
    import gc
    gc.collect()
    v += 1
    assert v.tolist() == [2.0, 3.0, 4.0]


def test_snapshot_forms_and_errors():
    a = shmrt.Array("l", list(range(100)))
    assert a.snapshot() == list(range(100))
    assert a.snapshot(lo=10, hi=20) == list(range(10, 20))
    out = np.empty(100, np.int64)
    assert a.snapshot(out) is out and out.tolist() == list(range(100))
    with pytest.raises(ValueError):
        a.snapshot(np.empty(3, np.int64))
    with pytest.raises(IndexError):
        a.snapshot(lo=5, hi=200)
    assert shmrt.Array("c", b"ab").snapshot() == b"ab"


def _writer(a, stop):
    v = np.asarray(a)
    k = 0
    while not stop.is_set():
        k += 1
        with a.writing():
            v[:] = k          # the whole array holds one k at every instant
        a[:] = [k + 0.5] * len(a)


def test_snapshot_is_consistent_under_a_concurrent_writer():
    n = 64 * 1024          # 512 KiB of doubles: 128 stripes
    a = shmrt.Array("d", n)
    stop = shmrt.Event()
    p = mp.get_context("fork").Process(target=_writer, args=(a, stop))
    p.start()
    try:
        out = np.empty(n, np.float64)
        seen = set()
        t0 = time.monotonic()
        # At least 0.5 s of snapshots, and until the writer was seen to move (it may
        # be scheduled late on a loaded machine); 60 s at most.
        while (time.monotonic() - t0 < 0.5 or len(seen) < 3) and time.monotonic() - t0 < 60:
            a.snapshot(out)
            assert out.min() == out.max(), "a snapshot mixed two writes"
            seen.add(out[0])
        assert len(seen) >= 3, "the writer made no progress"
    finally:
        stop.set()
        p.join(30)
    assert p.exitcode == 0


def _die_in_bracket(a, ready):
    v = np.asarray(a)
    with a.writing(0, 1000):
        v[:1000] = 7
        ready.set()
        time.sleep(60)


def test_writer_killed_in_a_bracket_leaves_a_torn_range_that_repair_mends():
    a = shmrt.Array("i", 4096)
    ready = shmrt.Event()
    p = mp.get_context("fork").Process(target=_die_in_bracket, args=(a, ready))
    p.start()
    assert ready.wait(30)
    os.kill(p.pid, signal.SIGKILL)
    p.join(30)
    with pytest.raises(shmrt.TornError):
        a.snapshot(lo=0, hi=1000)
    assert a.snapshot(lo=2048, hi=4096) == [0] * 2048   # other stripes are fine
    np.asarray(a)[:1024] = 0
    a.repair(0, 1024)
    assert a.snapshot(lo=0, hi=1000) == [0] * 1000


def _die_mid_numpy_write(a, ready):
    v = np.asarray(a)
    with a.writing(100, 200):                 # within the first 4 KiB stripe
        v[100:150] = 7                         # half the range written
        ready.set()
        time.sleep(60)
        v[150:200] = 7


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_torn_range_is_reported_then_a_covering_write_repairs_it(method):
    a = shmrt.Array("i", 2048)                 # two stripes of 1024 elements
    ready = shmrt.Event()
    p = mp.get_context(method).Process(target=_die_mid_numpy_write, args=(a, ready))
    p.start()
    try:
        assert ready.wait(30)
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.join(30)
    # Every consistent read of the torn stripe reports it, never the half write as
    # good; the other stripe reads fine.
    with pytest.raises(shmrt.TornError):
        a.snapshot()
    with pytest.raises(shmrt.TornError):
        a[100:200]
    with pytest.raises(shmrt.TornError):
        a[0]
    assert a[1024:2048] == [0] * 1024
    assert np.asarray(a)[100:150].tolist() == [7] * 50     # the raw memory, as left
    # A write that covers the whole stripe (as the C Array: a slice assignment is
    # one write) mends it, without repair().
    a[0:1024] = list(range(1024))
    assert a.snapshot() == list(range(1024)) + [0] * 1024
    assert a[150] == 150


def test_writing_bracket_misuse():
    a = shmrt.Array("i", 10)
    b = a.writing(2, 4)
    with pytest.raises(RuntimeError):
        b.__exit__(None, None, None)
    with b as arr:
        assert arr is a
        np.asarray(a)[2:4] = 5
    assert a[:] == [0, 0, 5, 5, 0, 0, 0, 0, 0, 0]
    with pytest.raises(IndexError):
        a.writing(5, 11)
