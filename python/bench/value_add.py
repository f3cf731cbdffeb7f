"""v.add(1) from two processes against multiprocessing's "with v.get_lock(): v.value += 1"
(the future bench case py/value/add/2proc), in one run under one interpreter. Each
worker times its own loop, started together; the figure is the slowest worker's
time over the 2N operations, best of 5.

    PYTHONPATH=build/test/python /usr/bin/python3 python/bench/value_add.py
"""
import multiprocessing as mp, time, sys
import shmrt
N = 200000
def shm_worker(v, n, t, go):
    add = v.add
    go.wait()
    t0 = time.perf_counter()
    for _ in range(n):
        add(1)
    t.value = max(t.value, time.perf_counter() - t0)
def mp_worker(v, n, t, go):
    go.wait()
    t0 = time.perf_counter()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    t.value = max(t.value, time.perf_counter() - t0)
def run(make, worker):
    v = make()
    t = mp.RawValue('d', 0.0); go = mp.Event()
    ps = [mp.Process(target=worker, args=(v, N, t, go)) for _ in range(2)]
    for p in ps: p.start()
    time.sleep(0.2); go.set()
    for p in ps: p.join()
    dt = t.value
    assert v.value == 2 * N, v.value
    return dt
if __name__ == '__main__':
    res = {"shmrt": [], "mp": []}
    for _ in range(5):
        res["shmrt"].append(run(lambda: shmrt.Value('i', 0), shm_worker))
        res["mp"].append(run(lambda: mp.Value('i', 0), mp_worker))
    s, m = min(res["shmrt"]), min(res["mp"])
    print(f"2 procs x {N}: shmrt v.add(1) {s*1e9/(2*N):.0f} ns/op slowest worker {s:.3f}s; "
          f"mp locked += {m*1e9/(2*N):.0f} ns/op slowest worker {m:.3f}s; ratio {m/s:.1f}x")
