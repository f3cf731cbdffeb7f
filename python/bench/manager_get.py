"""d[k] on a 1000-key Manager dict, one client, one call at a time: shmrt.Manager()
against multiprocessing's Manager (the future bench case py/manager/dict_get), in
one run under one interpreter. Figure: gets per second, best of 3 rounds.

    PYTHONPATH=build/test/python /usr/bin/python3 python/bench/manager_get.py
"""
import multiprocessing as mp
import time

import shmrt

KEYS = 1000
N = 20000


def rate(manager):
    with manager as m:
        d = m.dict({f"key{i}": i for i in range(KEYS)})
        keys = [f"key{i % KEYS}" for i in range(N)]
        best = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            for k in keys:
                d[k]
            best = max(best, N / (time.perf_counter() - t0))
        return best


if __name__ == "__main__":
    ours = rate(shmrt.Manager())
    theirs = rate(mp.Manager())
    print(f"shmrt            {ours:10.0f} gets/s  {1e6 / ours:6.1f} us")
    print(f"multiprocessing  {theirs:10.0f} gets/s  {1e6 / theirs:6.1f} us")
    print(f"ratio            {ours / theirs:10.2f}x")
