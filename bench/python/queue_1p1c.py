"""Python peer for queue/1p1c/64B: one process puts N 64-byte messages on a
multiprocessing Queue, another gets them. Usage: queue_1p1c.py N -> messages/s."""
import sys
import time
from multiprocessing import Event, Process, Queue


def produce(q, n, go):
    msg = bytes(64)
    go.wait()
    for _ in range(n):
        q.put(msg)


def consume(q, n, done):
    for _ in range(n):
        q.get()
    done.set()


if __name__ == "__main__":
    n = int(sys.argv[1])
    q, go, done = Queue(maxsize=1024), Event(), Event()
    procs = [Process(target=produce, args=(q, n, go)), Process(target=consume, args=(q, n, done))]
    for p in procs:
        p.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    go.set()
    done.wait()
    dt = time.perf_counter() - t0
    for p in procs:
        p.join()
    print(n / dt)
