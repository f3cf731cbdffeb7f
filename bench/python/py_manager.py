"""py/ case of the Manager: shmrt's against multiprocessing's (see py_common.py).

    py_manager.py dict_get  shmrt|python_mp OPS   py/manager/dict_get   ops/s
    py_manager.py dict_get_1MiB  shmrt|python_mp OPS   py/manager/dict_get/1MiB   GB/s

A Manager() (its server a process of its own, reached over a Unix socket: both's
default) holds a dict of 1000 keys (str of 16 characters) and 64-byte values (bytes),
the data of the C case manager/get/1client/unix; this process, its one client, reads
OPS random keys through the proxy, `d[k]`, one call at a time, after a tenth as many
to warm up: gets/s. shmrt's server is a C process, multiprocessing's a Python one
(started so that it dies with this script, as shmrt's does).

dict_get_1MiB: the same dict holds one more key whose value is 1 MiB of bytes; the
client reads that key OPS times: the bytes a large value moves from the server into a
new bytes object of the client, per second. The warm-up is a tenth of OPS, and for
shmrt at least 1100 gets, so that the whole timed part runs where a busy connection
settles (shmrt's moves to the shared-memory channel at its 1024th call).
"""
import random
import time

import shmrt
from py_common import CaseError, main, mp_manager

KEYS = 1000


def key(i):
    return "m%015d" % i


def value(i):
    return i.to_bytes(8, "little") + bytes([97 + i % 26]) * 56


def dict_get(make_manager):
    def run(ops):
        rng = random.Random(1)
        keys = [key(rng.randrange(KEYS)) for _ in range(ops)]
        with make_manager() as m:
            d = m.dict({key(i): value(i) for i in range(KEYS)})
            for k in keys[:ops // 10]:
                d[k]
            t0 = time.perf_counter()
            for k in keys:
                d[k]
            secs = time.perf_counter() - t0
            if d[key(7)] != value(7):
                raise CaseError("wrong value")
        return ops / secs
    return run


BIG = 1 << 20


def dict_get_big(make_manager, warm_min):
    def run(ops):
        big = bytes(range(256)) * (BIG // 256)
        with make_manager() as m:
            d = m.dict({key(i): value(i) for i in range(KEYS)})
            d["big"] = big
            for _ in range(max(ops // 10, warm_min)):
                d["big"]
            t0 = time.perf_counter()
            for _ in range(ops):
                v = d["big"]
            secs = time.perf_counter() - t0
            if v != big:
                raise CaseError("wrong value")
        return ops * BIG / secs / 1e9
    return run


if __name__ == "__main__":
    main({"dict_get": {"shmrt": dict_get(shmrt.Manager), "python_mp": dict_get(mp_manager)},
          "dict_get_1MiB": {"shmrt": dict_get_big(shmrt.Manager, 1100),
                            "python_mp": dict_get_big(mp_manager, 1)}})
