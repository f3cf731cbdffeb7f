"""Python peer for the dict cases: a Manager().dict() holding the same million
16-byte keys and 64-byte values as the C benchmarks (populated with update() in
chunks, not timed).
Usage: dict_manager.py get1 OPS    one process, random gets       -> ops/s
       dict_manager.py mixed2 OPS  two processes, 90% get, 10% set -> total ops/s
The last output line is the figure."""
import sys
from multiprocessing import Manager, Process

from mp_common import timed, value, work

KEYS = 1000000


def key(i):
    return b"k%015d" % i


if __name__ == "__main__":
    mode, ops = sys.argv[1], int(sys.argv[2])
    with Manager() as m:
        d = m.dict()
        chunk = 50000
        for base in range(0, KEYS, chunk):
            d.update({key(i): value(i) for i in range(base, base + chunk)})
        workers = 1 if mode == "get1" else 2
        timed(lambda go: [Process(target=work, args=(d, ops // workers, mode == "mixed2", w,
                                                     go, KEYS, key))
                          for w in range(workers)], ops // workers * workers)
