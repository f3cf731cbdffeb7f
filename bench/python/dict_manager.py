"""Python peer for the dict cases: a Manager().dict() holding the same million
16-byte keys and 64-byte values as the C benchmarks (populated with update() in
chunks, not timed).
Usage: dict_manager.py get1 OPS    one process, random gets       -> ops/s
       dict_manager.py mixed2 OPS  two processes, 90% get, 10% set -> total ops/s
The last output line is the figure."""
import random
import sys
import time
from multiprocessing import Event, Manager, Process

KEYS = 1000000


def key(i):
    return b"k%015d" % i


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


if __name__ == "__main__":
    mode, ops = sys.argv[1], int(sys.argv[2])
    with Manager() as m:
        d = m.dict()
        chunk = 50000
        for base in range(0, KEYS, chunk):
            d.update({key(i): value(i) for i in range(base, base + chunk)})
        go = Event()
        workers = 1 if mode == "get1" else 2
        procs = [Process(target=work, args=(d, ops // workers, mode == "mixed2", w, go))
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
        print(ops // workers * workers / dt)
