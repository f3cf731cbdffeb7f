"""Queue, one producer process and one consumer process: shmrt.Queue against
multiprocessing.Queue (the future bench cases py/queue/1p1c/*), interleaved in one
run under one interpreter. Figure: messages per second from the consumer's first
get to its last, best of ROUNDS rounds for each, and their ratio.

    PYTHONPATH=build/test/python /usr/bin/python3 python/bench/queue_1p1c.py [case ...]

Cases: bytes64 (shmrt put_bytes/get_bytes of 64 bytes against put/get of the same
bytes), tuple (put((i,)*5) / get()), ndarray (put/get of a 4 MiB float64 array).
"""
import multiprocessing as mp
import sys
import time

import numpy as np

import shmrt

ROUNDS = 5
CASES = {"bytes64": 200000, "tuple": 100000, "ndarray": 300}


def produce(q, case, n, ours, go):
    go.wait()
    if case == "bytes64":
        msg = bytes(64)
        put = q.put_bytes if ours else q.put
        for _ in range(n):
            put(msg)
    elif case == "tuple":
        put = q.put
        for i in range(n):
            put((i,) * 5)
    else:
        a = np.arange(4 << 20 >> 3, dtype=np.float64)
        for _ in range(n):
            q.put(a)


def consume(q, case, n, ours, out):
    get = q.get_bytes if ours and case == "bytes64" else q.get
    x = get()
    t0 = time.perf_counter()
    for _ in range(n - 1):
        x = get()
    out.value = (n - 1) / (time.perf_counter() - t0)
    if case == "ndarray":
        assert x.shape == (4 << 20 >> 3,)


def rate(mod, case):
    n = CASES[case]
    q = mod.Queue()
    go, out = mp.Event(), mp.RawValue("d", 0.0)
    ours = mod is shmrt
    ps = [mp.Process(target=produce, args=(q, case, n, ours, go)),
          mp.Process(target=consume, args=(q, case, n, ours, out))]
    for p in ps:
        p.start()
    time.sleep(0.1)
    go.set()
    for p in ps:
        p.join()
    return out.value


if __name__ == "__main__":
    cases = sys.argv[1:] or list(CASES)
    for case in cases:
        ours, theirs = [], []
        for _ in range(ROUNDS):
            ours.append(rate(shmrt, case))
            theirs.append(rate(mp, case))
        o, t = max(ours), max(theirs)
        print(f"queue 1p1c {case}, {CASES[case]} messages, best of {ROUNDS}: "
              f"shmrt {o:10.0f}/s  multiprocessing {t:10.0f}/s  ratio {o / t:6.2f}x")
