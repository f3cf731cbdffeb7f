"""An Array's write bracket and the other users of the Array in the same process.

writing(lo, hi) holds the writer locks of the stripes of [lo, hi) until it ends. The
thread inside it needs the GIL to end it, so every other thread of the process must
wait for those stripes without the GIL; and the bracket's own thread must not wait
for itself (it would wait forever): it gets a RuntimeError instead. Each case runs in
a fresh interpreter, since the failure these tests guard against is a hang that holds
the GIL (no timeout inside the process could end it).
"""
import pytest

from conftest import run_program

SAME_THREAD = """
import shmrt
a = shmrt.Array("d", 10000)      # stripes of 512 doubles
with a.writing(0, 10):
    for what, f in [("get", lambda: a[0]), ("set", lambda: a.__setitem__(3, 1.0)),
                    ("slice", lambda: a[5:600]), ("snapshot", lambda: a.snapshot()),
                    ("slice-set", lambda: a.__setitem__(slice(0, 3), [1.0] * 3)),
                    ("nested", lambda: a.writing(5, 20).__enter__())]:
        try:
            f()
            print(what, "returned")
        except RuntimeError as e:
            print(what, "RuntimeError", "writing() bracket" in str(e))
    # Stripes the bracket does not hold stay usable.
    a[9000] = 2.0
    print("other stripe", a[9000], a[8000:8002])
print("after", a[0], a[3], a.snapshot()[:1])
"""


def test_the_brackets_own_thread_gets_an_error_not_a_hang():
    out = run_program(SAME_THREAD, timeout=30).split("\n")
    assert out[:6] == [f"{w} RuntimeError True" for w in
                       ("get", "set", "slice", "snapshot", "slice-set", "nested")]
    assert out[6:8] == ["other stripe 2.0 [0.0, 0.0]", "after 0.0 0.0 [0.0]"]


OTHER_THREADS = """
import threading
import numpy as np
import shmrt
N, ROUNDS = 8, 300
for n in (1000, 20000):          # one stripe; many (a copy above 64 KiB)
    a = shmrt.Array("d", n)
    bad = []
    def work(i):
        out = np.empty(n)
        for _ in range(ROUNDS):
            if i % 2:
                with a.writing(0, n):
                    np.asarray(a)[:] += 1
            else:
                a.snapshot(out)
                if len(set(out.tolist())) != 1:
                    bad.append(out[:3])
                a[0], a[n - 1], a[1:3]
    ts = [threading.Thread(target=work, args=(i,)) for i in range(N)]
    for t in ts: t.start()
    for t in ts: t.join()
    print(n, set(a[:]) == {N // 2 * ROUNDS * 1.0}, bad)
"""


def test_other_threads_wait_for_a_bracket_without_the_gil():
    out = run_program(OTHER_THREADS, timeout=60)
    assert out.split("\n")[:2] == ["1000 True []", "20000 True []"]


@pytest.mark.parametrize("op", ["a[1]", "a[1] = 2.0", "a[0:4]", "a.snapshot()"])
def test_another_thread_waits_until_the_bracket_ends(op):
    prog = f"""
import threading, time
import shmrt
a = shmrt.Array("d", 100)
done = threading.Event()
def other():
    {op}
    done.set()
with a.writing(0, 100):
    t = threading.Thread(target=other)
    t.start()
    time.sleep(0.2)             # the other thread is waiting (without the GIL)
    print("inside", done.is_set())
t.join(10)
print("after", done.is_set())
"""
    assert run_program(prog, timeout=30).split("\n")[:2] == ["inside False", "after True"]
