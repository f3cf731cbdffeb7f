"""py/ cases of Queue and Pipe: shmrt's against multiprocessing's (see py_common.py).

    py_queue.py tuple        shmrt|python_mp OPS   py/queue/1p1c/tuple          ops/s
    py_queue.py bytes64      shmrt|python_mp OPS   py/queue/1p1c/bytes64        ops/s
    py_queue.py ndarray4MiB  shmrt|python_mp OPS   py/queue/1p1c/ndarray4MiB    GB/s
    py_queue.py pingpong     shmrt|python_mp OPS   py/pipe/pingpong             us

The queue cases: one producer process puts OPS messages on a Queue() (unbounded, the
default of both), one consumer process gets them; a tenth as many go through first,
to warm up, and the clock runs from the start until the consumer has the last one
(messages/s, or GB/s for the arrays). The messages:
  tuple        put((i,) * 5) / get(), both pickling;
  bytes64      64 bytes: shmrt's put_bytes(b) / get_bytes() (no pickle), against
               multiprocessing's put(b) / get() (which pickles: it has no other way);
  ndarray4MiB  a numpy array of 4 MiB (float64) / get(): shmrt pickles it with
               protocol 5 and out-of-band buffers (one copy in, one out),
               multiprocessing pickles it into its pipe.

pingpong: OPS round trips of 64 bytes over a Pipe() (duplex, both's default) between
this process and a child that echoes them, send_bytes/recv_bytes on both sides, after
a tenth as many to warm up: microseconds per round trip.
"""
import time

import shmrt
from py_common import CTX, CaseError, main, start, timed

# ---- py/queue/1p1c/* ------------------------------------------------------------------


def produce_tuple(q, n):
    for i in range(n // 10):
        q.put((i,) * 5)
    yield
    for i in range(n):
        q.put((i,) * 5)


def consume(q, n):
    for _ in range(n // 10):
        q.get()
    yield
    for _ in range(n - 1):
        q.get()
    last = q.get()
    check(last, n)


def check(last, n):
    if isinstance(last, tuple):
        if last != (n - 1,) * 5:
            raise CaseError(f"last message {last!r}")
    elif isinstance(last, bytes):
        if last != MSG64:
            raise CaseError("last message of the wrong size")
    elif last.shape != (ARRAY_N,) or last[-1] != 1.0:
        raise CaseError("last array of the wrong shape or contents")


MSG64 = bytes(range(64))


def produce_bytes_shmrt(q, n):
    put = q.put_bytes
    for _ in range(n // 10):
        put(MSG64)
    yield
    for _ in range(n):
        put(MSG64)


def consume_bytes_shmrt(q, n):
    for _ in range(n // 10):
        q.get_bytes()
    yield
    for _ in range(n - 1):
        q.get_bytes()
    check(q.get_bytes(), n)


def produce_bytes_mp(q, n):
    put = q.put
    for _ in range(n // 10):
        put(MSG64)
    yield
    for _ in range(n):
        put(MSG64)


ARRAY_N = 4 << 20 >> 3  # float64: 4 MiB


def produce_array(q, n):
    import numpy as np
    a = np.ones(ARRAY_N)
    for _ in range(n // 10):
        q.put(a)
    yield
    for _ in range(n):
        q.put(a)


def one_to_one(module, producer, consumer, gbytes=False):
    def run(ops):
        q = module.Queue()
        secs = timed([(producer, (q, ops)), (consumer, (q, ops))])
        rate = ops / secs
        return rate * ARRAY_N * 8 / 1e9 if gbytes else rate
    return run


# ---- py/pipe/pingpong -----------------------------------------------------------------


def echo(conn, n):
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())


def pingpong(module):
    def run(ops):
        a, b = module.Pipe()
        warm = ops // 10
        child = start(echo, b, warm + ops)
        b.close()
        for _ in range(warm):
            a.send_bytes(MSG64)
            a.recv_bytes()
        t0 = time.perf_counter()
        for _ in range(ops):
            a.send_bytes(MSG64)
            a.recv_bytes()
        secs = time.perf_counter() - t0
        child.join(5)
        if child.exitcode != 0:
            raise CaseError(f"the echoing child failed (exit code {child.exitcode})")
        return secs * 1e6 / ops
    return run


if __name__ == "__main__":
    main({
        "tuple": {"shmrt": one_to_one(shmrt, produce_tuple, consume),
                  "python_mp": one_to_one(CTX, produce_tuple, consume)},
        "bytes64": {"shmrt": one_to_one(shmrt, produce_bytes_shmrt, consume_bytes_shmrt),
                    "python_mp": one_to_one(CTX, produce_bytes_mp, consume)},
        "ndarray4MiB": {"shmrt": one_to_one(shmrt, produce_array, consume, True),
                        "python_mp": one_to_one(CTX, produce_array, consume, True)},
        "pingpong": {"shmrt": pingpong(shmrt), "python_mp": pingpong(CTX)},
    })
