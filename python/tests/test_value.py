"""Value and RawValue: every typecode and ctypes type, conversions as ctypes does
them, repr as multiprocessing's, atomic add/cas/exchange, get_lock/get_obj, and
exact sums from several forked processes."""
import ctypes
import multiprocessing as mp
import os

import pytest

import shmrt

CODES = "bBhHiIlLqQfdcu?"
SAMPLE = {"b": -5, "B": 200, "h": -300, "H": 60000, "i": -7, "I": 4000000000,
          "l": -2**40, "L": 2**63 + 5, "q": -2**50, "Q": 2**64 - 1, "f": 0.1,
          "d": 3.1415927, "c": b"x", "u": "\u00e9", "?": True}
CTYPES = [ctypes.c_byte, ctypes.c_ubyte, ctypes.c_short, ctypes.c_ushort, ctypes.c_int,
          ctypes.c_uint, ctypes.c_long, ctypes.c_ulong, ctypes.c_longlong,
          ctypes.c_ulonglong, ctypes.c_float, ctypes.c_double, ctypes.c_char,
          ctypes.c_wchar, ctypes.c_bool, ctypes.c_int8, ctypes.c_uint64, ctypes.c_size_t]


@pytest.mark.parametrize("code", CODES)
def test_default_and_repr_match_multiprocessing(code):
    ours, theirs = shmrt.Value(code), mp.Value(code) if code != "?" else mp.Value(ctypes.c_bool)
    assert ours.value == theirs.value
    assert repr(ours) == repr(theirs)
    assert repr(shmrt.RawValue(code)) == repr(theirs.get_obj())


@pytest.mark.parametrize("code", CODES)
def test_value_roundtrip_and_repr(code):
    x = SAMPLE[code]
    ours = shmrt.Value(code, x)
    theirs = mp.Value(code if code != "?" else ctypes.c_bool, x)
    assert ours.value == theirs.value
    assert repr(ours) == repr(theirs)
    ours.value = x
    assert ours.value == theirs.value
    raw = shmrt.RawValue(code, x)
    assert raw.value == theirs.value
    assert not hasattr(raw, "get_lock")


@pytest.mark.parametrize("t", CTYPES, ids=lambda t: t.__name__)
def test_ctypes_types(t):
    v = shmrt.Value(t)
    assert repr(v) == repr(mp.Value(t))


def test_unsupported_types():
    with pytest.raises(TypeError):
        shmrt.Value("x")
    with pytest.raises(TypeError):
        shmrt.Value(ctypes.c_char_p)
    with pytest.raises(TypeError):
        shmrt.Value("i", 1, 2)


@pytest.mark.parametrize("code,x", [("b", 200), ("B", -1), ("h", 2**16 + 3), ("i", 2**32 + 9),
                                    ("I", -1), ("l", 2**64 + 1), ("Q", -2)])
def test_integers_wrap_as_ctypes(code, x):
    ours = shmrt.Value(code, x)
    assert ours.value == mp.Value(code, x).value
    ours.value = x
    assert ours.value == mp.Value(code, x).value


def test_conversion_errors_as_ctypes():
    with pytest.raises(TypeError):
        shmrt.Value("i", 1.5)
    v = shmrt.Value("i")
    with pytest.raises(TypeError):
        v.value = 2.5
    with pytest.raises(TypeError):
        shmrt.Value("d", "x")
    with pytest.raises(TypeError):
        shmrt.Value("c", b"xy")
    with pytest.raises(TypeError):
        shmrt.Value("u", "ab")
    d = shmrt.Value("d")
    d.value = 3        # an int is a fine float, as in ctypes
    assert d.value == 3.0 and isinstance(d.value, float)
    assert shmrt.Value("c", 65).value == b"A"


@pytest.mark.parametrize("code", "bBhHiIlLqQ")
def test_add_cas_exchange(code):
    v = shmrt.Value(code, 5)
    assert v.add(3) == 5
    assert v.value == 8
    assert v.cas(8, 11) is True
    assert v.cas(8, 12) is False
    assert v.value == 11
    assert v.exchange(2) == 11
    assert v.value == 2
    r = shmrt.RawValue(code, 1)
    assert r.add(1) == 1 and r.value == 2


def test_add_wraps_and_floats():
    v = shmrt.Value("B", 255)
    assert v.add(1) == 255 and v.value == 0
    d = shmrt.Value("d", 1.5)
    assert d.add(0.25) == 1.5 and d.value == 1.75
    f = shmrt.Value("f", 1.0)
    assert f.add(1.0) == 1.0 and f.value == 2.0
    with pytest.raises(TypeError):
        shmrt.Value("c").add(1)
    with pytest.raises(TypeError):
        shmrt.Value("d").cas(1.0, 2.0)
    with pytest.raises(TypeError):
        shmrt.Value("?").exchange(True)


def test_get_lock_is_a_reentrant_lock_and_get_obj_shares_the_cell():
    v = shmrt.Value("i", 1)
    lock = v.get_lock()
    assert lock is v.get_lock()
    with lock:
        with v.get_lock():         # an RLock, as multiprocessing's default
            v.value += 1
    with v:
        v.value += 1
    assert v.acquire() is True
    assert v.acquire(timeout=0.01) is True
    v.release()
    v.release()
    with pytest.raises(AssertionError):
        v.release()
    raw = v.get_obj()
    raw.value = 42
    assert v.value == 42 and repr(raw) == "c_int(42)"


def test_lock_false_and_given_lock():
    raw = shmrt.Value("i", 3, lock=False)
    assert isinstance(raw, shmrt._shmrt.RawValue) and not hasattr(raw, "get_lock")
    assert repr(raw) == "c_int(3)"
    lk = shmrt.Lock()
    v = shmrt.Value("d", 1.0, lock=lk)
    assert v.get_lock() is lk
    with v:
        assert lk.acquire(False) is False
    assert lk.acquire(False) is True
    lk.release()
    with pytest.raises(AttributeError):
        shmrt.Value("i", lock=object())


def _adder(v, n):
    for _ in range(n):
        v.add(1)


def _locked_adder(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


@pytest.mark.parametrize("fn", [_adder, _locked_adder])
def test_sums_from_four_processes_are_exact(fn):
    ctx = mp.get_context("fork")
    v = shmrt.Value("i", 0)
    ps = [ctx.Process(target=fn, args=(v, 5000)) for _ in range(4)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(60)
        assert p.exitcode == 0
    assert v.value == 20000


def test_child_objects_are_visible_to_the_parent():
    """A child's own objects land in the same region; it hands one back through a
    Value of the parent: here, by writing the value it computed."""
    ctx = mp.get_context("fork")
    out = shmrt.Value("q", 0)

    def child():
        mine = shmrt.Value("q", 40)   # created in the child, in the tree's region
        mine.add(2)
        out.value = mine.value

    p = ctx.Process(target=child)
    p.start()
    p.join(30)
    assert p.exitcode == 0 and out.value == 42
    assert os.getpid() != p.pid
