"""Python peer for the Manager cases: a Manager().dict() of the same 1000 keys (str of
16 characters) and 64-byte values (bytes) as manager_bench.c, read and written through
its proxy (d[k], d[k] = v), by worker processes started before the clock.
Usage: manager_peer.py get1 OPS        one client, Unix socket (the default) -> ops/s
       manager_peer.py get1tcp OPS     one client, Manager(address=('127.0.0.1', 0))
       manager_peer.py mixed4 OPS      four clients, 90% get, 10% set -> total ops/s
       manager_peer.py list_create OPS l = m.list(); len(l); del l   -> lists/s
The last output line is the figure."""
import random
import sys
import time
from multiprocessing import Event, Process
from multiprocessing.managers import SyncManager

KEYS = 1000


def key(i):
    return "m%015d" % i


def value(i):
    return i.to_bytes(8, "little") + bytes([97 + i % 26]) * 56


def work(d, n, mixed, seed, go):
    rng = random.Random(seed)
    go.wait()
    for i in range(n):
        k = rng.randrange(KEYS)
        if mixed and rng.randrange(10) == 0:
            d[key(k)] = value(i)
        else:
            v = d[key(k)]
            assert len(v) == 64


def lists(m, n, seed, go):
    go.wait()
    for _ in range(n):
        l = m.list()
        assert len(l) == 0
        del l


if __name__ == "__main__":
    mode, ops = sys.argv[1], int(sys.argv[2])
    address = ("127.0.0.1", 0) if mode == "get1tcp" else None
    with SyncManager(address=address) as m:
        go = Event()
        if mode == "list_create":
            workers = 1
            procs = [Process(target=lists, args=(m, ops, 0, go))]
        else:
            d = m.dict({key(i): value(i) for i in range(KEYS)})
            workers = 4 if mode == "mixed4" else 1
            procs = [Process(target=work, args=(d, ops, mode == "mixed4", w, go))
                     for w in range(workers)]
        for p in procs:
            p.start()
        time.sleep(0.3)
        t0 = time.perf_counter()
        go.set()
        for p in procs:
            p.join()
        dt = time.perf_counter() - t0
        if any(p.exitcode for p in procs):
            sys.exit(1)
        print(ops * workers / dt)
