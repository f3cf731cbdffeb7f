"""One Pipe end shared by several threads: each message arrives once and whole.

A direction of a shmrt pipe is a single-producer single-consumer ring, and a large
message travels as several chunks; the threads of a process that share an end take
turns per message. (multiprocessing's Connection gives no such promise for receivers;
its small sends are single writes, which several threads may make.) Each case runs in
a fresh interpreter with a timeout: the failure this guards against lost
messages and hung.
"""
import pytest

from conftest import run_program

PROG = """
import threading
import shmrt
S, R, K = {s}, {r}, 2400
a, b = shmrt.Pipe()
got = []
big = b"x" * {size}
def snd(i):
    for k in range(K // S):
        a.send((i, k, big))
def rcv(i):
    for k in range(K // R):
        got.append(b.recv()[:2])
ts = [threading.Thread(target=snd, args=(i,)) for i in range(S)]
ts += [threading.Thread(target=rcv, args=(i,)) for i in range(R)]
for t in ts: t.start()
for t in ts: t.join()
print(len(got), len(set(got)), b.poll(0))
"""


@pytest.mark.parametrize("s,r", [(4, 1), (1, 4), (4, 4)])
@pytest.mark.parametrize("size", [10, 20000], ids=["small", "chunked"])
def test_threads_sharing_an_end_lose_and_repeat_nothing(s, r, size):
    out = run_program(PROG.format(s=s, r=r, size=size), timeout=60)
    assert out.split("\n")[0] == "2400 2400 False"
