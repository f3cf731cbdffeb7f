"""py/ cases of Value and Array: shmrt's against multiprocessing's (see py_common.py).

    py_value.py add        shmrt|python_mp OPS   py/value/add/2proc         ops/s
    py_value.py getitem    shmrt|python_mp OPS   py/array/getitem           ns/op
    py_value.py numpy_sum  shmrt|python_mp OPS   py/array/numpy_sum/8MiB    GB/s

add: two processes add 1 to one shared 64-bit Value, OPS times each (a tenth as many
before, to warm up): shmrt's atomic `v.add(1)` against multiprocessing's
`with v.get_lock(): v.value += 1` (its only correct increment). The figure counts
both processes' adds; the final value is checked.

getitem: one process reads `arr[i]` for i over a synchronized Array of 4096 doubles
(32 KiB: in the cache, 8 of shmrt's 4 KiB stripes), OPS reads after one warm-up pass:
shmrt.Array (each read through the stripe's seqlock) against multiprocessing.Array
(each read under its lock).

numpy_sum: one process sums 8 MiB of doubles through numpy, OPS times after 5
warm-up sums, a view made per sum: `np.asarray(arr).sum()` on a shmrt.Array against
`np.ndarray(n, 'd', buffer=shm.buf).sum()` on a multiprocessing SharedMemory.
"""
import multiprocessing as mp
import time

import shmrt
from py_common import CaseError, main, timed

# ---- py/value/add/2proc ---------------------------------------------------------------


def add_shmrt(v, n):
    for _ in range(n // 10):
        v.add(1)
    yield
    for _ in range(n):
        v.add(1)


def add_mp(v, n):
    for _ in range(n // 10):
        with v.get_lock():
            v.value += 1
    yield
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def add(module, body):
    def run(ops):
        v = module.Value("q", 0)
        secs = timed([(body, (v, ops)), (body, (v, ops))])
        if v.value != 2 * (ops + ops // 10):
            raise CaseError(f"the Value holds {v.value}, not {2 * (ops + ops // 10)}")
        return 2 * ops / secs
    return run


# ---- py/array/getitem -----------------------------------------------------------------

GET_N = 4096


def getitem(module):
    def run(ops):
        arr = module.Array("d", [float(i) for i in range(GET_N)])
        r = range(GET_N)
        for i in r:
            arr[i]
        passes = max(1, ops // GET_N)
        t0 = time.perf_counter()
        for _ in range(passes):
            for i in r:
                arr[i]
        secs = time.perf_counter() - t0
        if arr[GET_N - 1] != GET_N - 1:
            raise CaseError("wrong element")
        return secs * 1e9 / (passes * GET_N)
    return run


# ---- py/array/numpy_sum/8MiB ----------------------------------------------------------

SUM_N = 1 << 20  # doubles: 8 MiB


def sums(view, ops):
    """Sums view() 5 times, then ops times; GB/s of the timed sums."""
    expect = float(SUM_N)
    for _ in range(5):
        view().sum()
    t0 = time.perf_counter()
    for _ in range(ops):
        s = view().sum()
    secs = time.perf_counter() - t0
    if s != expect:
        raise CaseError(f"sum {s}, not {expect}")
    return ops * SUM_N * 8 / secs / 1e9


def numpy_sum_shmrt(ops):
    import numpy as np
    arr = shmrt.Array("d", SUM_N)
    np.asarray(arr)[:] = 1.0
    return sums(lambda: np.asarray(arr), ops)


def numpy_sum_mp(ops):
    import numpy as np
    from multiprocessing.shared_memory import SharedMemory
    shm = SharedMemory(create=True, size=SUM_N * 8)
    try:
        np.ndarray(SUM_N, "d", buffer=shm.buf)[:] = 1.0
        return sums(lambda: np.ndarray(SUM_N, "d", buffer=shm.buf), ops)
    finally:
        shm.close()
        shm.unlink()


if __name__ == "__main__":
    main({
        "add": {"shmrt": add(shmrt, add_shmrt), "python_mp": add(mp, add_mp)},
        "getitem": {"shmrt": getitem(shmrt), "python_mp": getitem(mp)},
        "numpy_sum": {"shmrt": numpy_sum_shmrt, "python_mp": numpy_sum_mp},
    })
