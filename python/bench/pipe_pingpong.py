"""Pipe ping-pong: a parent sends a small object, a child sends it back, N round
trips; shmrt.Pipe() against multiprocessing.Pipe() (the future bench case
py/pipe/pingpong), interleaved in one run under one interpreter. Figure: the mean
round trip, best of ROUNDS rounds for each, and their ratio.

    PYTHONPATH=build/test/python /usr/bin/python3 python/bench/pipe_pingpong.py [N] [bytes]

With "bytes" the messages are send_bytes/recv_bytes of 16 bytes instead of send/recv
of a small tuple.
"""
import multiprocessing as mp
import sys
import time

import shmrt

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
BYTES = len(sys.argv) > 2 and sys.argv[2] == "bytes"
ROUNDS = 5
MSG = b"0123456789abcdef" if BYTES else (1, "two", 3.0)


def echo(c, n):
    if BYTES:
        recv, send = c.recv_bytes, c.send_bytes
    else:
        recv, send = c.recv, c.send
    for _ in range(n):
        send(recv())


def round_trip(make):
    a, b = make()
    p = mp.Process(target=echo, args=(b, N + 100))
    p.start()
    b.close()
    if BYTES:
        recv, send = a.recv_bytes, a.send_bytes
    else:
        recv, send = a.recv, a.send
    for _ in range(100):        # warm up: both sides running
        send(MSG)
        recv()
    t0 = time.perf_counter()
    for _ in range(N):
        send(MSG)
        recv()
    dt = time.perf_counter() - t0
    p.join()
    a.close()
    return dt / N


if __name__ == "__main__":
    ours, theirs = [], []
    for _ in range(ROUNDS):
        ours.append(round_trip(shmrt.Pipe))
        theirs.append(round_trip(mp.Pipe))
    o, t = min(ours), min(theirs)
    kind = "send_bytes(16 B)" if BYTES else "send((1, 'two', 3.0))"
    print(f"pipe ping-pong {kind}, {N} round trips, best of {ROUNDS}:")
    print(f"shmrt            {o * 1e6:8.2f} us")
    print(f"multiprocessing  {t * 1e6:8.2f} us")
    print(f"ratio            {t / o:8.2f}x")
