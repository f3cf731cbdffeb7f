"""Ctrl-C (SIGINT) ends every blocking call within 100 ms: Queue.get, Pipe recv and
poll, Lock and Semaphore acquire, Event and Condition wait, SimpleQueue.get. Each
call blocks in a subprocess (nothing would ever wake it), a timer thread sends the
process SIGINT, and the process measures the time from the kill to the
KeyboardInterrupt. The calls wait in slices of at most 50 ms with the GIL released
and check for signals between slices.

Each call is interrupted three times: the best of the three must be within 100 ms
(the issue's bound; a slice is 50 ms), and every one within 2 s (a wait that is not
sliced never returns at all), so that one scheduling delay of a loaded machine does
not fail the test."""
import os
import subprocess
import sys

import pytest

PROGRAM = r"""
import os, signal, sys, threading, time
import shmrt

lk = shmrt.Lock()
pid = os.fork()
if pid == 0:                                  # holds the Lock until killed
    lk.acquire()
    time.sleep(60)
    os._exit(0)
while lk.acquire(timeout=0):                  # until the child holds it
    lk.release()
    time.sleep(0.005)

q, sq = shmrt.Queue(), shmrt.SimpleQueue()
a, b = shmrt.Pipe()
sem, ev, cond = shmrt.Semaphore(0), shmrt.Event(), shmrt.Condition()

def cond_wait():
    with cond:
        cond.wait()

CALLS = {
    "Queue.get": q.get, "SimpleQueue.get": sq.get, "Pipe.recv": a.recv,
    "Pipe.poll": lambda: a.poll(None), "Lock.acquire": lk.acquire,
    "Semaphore.acquire": sem.acquire, "Event.wait": ev.wait, "Condition.wait": cond_wait,
}
sent = [0.0]

def kill():
    sent[0] = time.monotonic()
    os.kill(os.getpid(), signal.SIGINT)

try:
    for name in sys.argv[1:]:
        took = []
        for _ in range(3):
            threading.Timer(0.1, kill).start()
            try:
                CALLS[name]()
                print(name, "returned")
            except KeyboardInterrupt:
                took.append(time.monotonic() - sent[0])
        print(name, *("%.4f" % t for t in took), flush=True)
finally:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
"""

CALLS = ["Queue.get", "SimpleQueue.get", "Pipe.recv", "Pipe.poll", "Lock.acquire",
         "Semaphore.acquire", "Event.wait", "Condition.wait"]


def test_sigint_ends_every_blocking_call_within_100_ms():
    r = subprocess.run([sys.executable, "-c", PROGRAM, *CALLS], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()]
    assert [line[0] for line in lines] == CALLS, r.stdout
    for name, *took in lines:
        took = [float(t) for t in took]
        assert len(took) == 3, (name, took)
        assert min(took) < 0.1 and max(took) < 2.0, (name, took)
