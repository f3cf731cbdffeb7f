"""Python peer for value/locked_add/2proc: two processes add under Value.get_lock().
Usage: locked_add.py TOTAL  ->  prints operations per second (wall clock)."""
import sys
import time
from multiprocessing import Process, Value, Event


def work(counter, n, go):
    go.wait()
    for _ in range(n):
        with counter.get_lock():
            counter.value += 1


if __name__ == "__main__":
    total = int(sys.argv[1])
    counter, go = Value("q", 0), Event()
    procs = [Process(target=work, args=(counter, total // 2, go)) for _ in range(2)]
    for p in procs:
        p.start()
    time.sleep(0.2)  # both started and waiting
    t0 = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    dt = time.perf_counter() - t0
    assert counter.value == total // 2 * 2, counter.value
    print(total / dt)
