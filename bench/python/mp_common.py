"""What the Python peers of the dict and Manager cases share (dict_manager.py,
manager_peer.py): the 64-byte values of the C benchmarks, the worker loop of gets
and sets through a Manager proxy, and the timing of worker processes started before
the clock and released together."""
import random
import time
from multiprocessing import Event


def value(i):
    return i.to_bytes(8, "little") + bytes([97 + i % 26]) * 56


def work(d, n, mixed, seed, go, nkeys, key):
    """n random gets (10% sets if mixed) of keys key(0..nkeys-1) on the proxy d."""
    rng = random.Random(seed)
    go.wait()
    for i in range(n):
        k = rng.randrange(nkeys)
        if mixed and rng.randrange(10) == 0:
            d[key(k)] = value(i)
        else:
            v = d[key(k)]
            assert len(v) == 64


def timed(make_procs, ops):
    """Starts the processes make_procs(go) returns, releases them at once and prints
    ops / the seconds until the last one ends (exit 1 if one failed)."""
    go = Event()
    procs = make_procs(go)
    for p in procs:
        p.start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    dt = time.perf_counter() - t0
    if any(p.exitcode for p in procs):
        raise SystemExit(1)
    print(ops / dt)
