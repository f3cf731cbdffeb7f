"""Python peer for array/snapshot/8MiB: copies Array('d', N)[:] repeatedly.
Usage: array_snapshot.py N REPS  ->  prints GB/s."""
import sys
import time
from multiprocessing import Array

if __name__ == "__main__":
    n, reps = int(sys.argv[1]), int(sys.argv[2])
    a = Array("d", n)
    a[:]  # warm up
    t0 = time.perf_counter()
    for _ in range(reps):
        a[:]
    dt = time.perf_counter() - t0
    print(n * 8 * reps / dt / 1e9)
