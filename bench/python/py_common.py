"""What the py/ cases share (py_value.py, py_queue.py, py_manager.py).

A py/ case measures the shmrt package against multiprocessing doing the same work,
under the same interpreter: `<script> <sub-case> shmrt|python_mp <ops>` runs one of
the two and prints its figure on its last line (the unit is the case's, registered in
bench/main.cc). The benchmark runs both, repetitions interleaved with every other
case's, and bench/run.py computes the ratios.

Timing. A case in one process times its loop itself, after a warm-up. A case in
several processes gives each worker a generator: the code before its `yield` is the
warm-up (not timed; the processes of a queue case warm up together), the code after
it the timed operations. Every worker warms up, says it is ready, and waits for the
start; the clock runs from the start to the end of the last worker, each worker
reading the (system-wide, monotonic) clock itself when it ends, so that the parent's
own wake-ups do not count.

Clean exits. Workers are forked (the same start method for both implementations)
and die with the script (PR_SET_PDEATHSIG), as does multiprocessing's Manager server
(mp_manager) and shmrt's, so a script killed by the benchmark, even by kill -9,
leaves no process behind. Every wait is bounded: a worker that does not get ready or does
not finish in time fails the run, and the script itself ends after DEADLINE seconds
(SIGALRM); on every way out, live children are killed and reaped.
"""
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import time

CTX = mp.get_context("fork")
DEADLINE = 60  # seconds a whole script may take
WAIT = 30      # seconds a worker may take to get ready, or to finish its operations

_PR_SET_PDEATHSIG = 1


class CaseError(Exception):
    """A worker failed, timed out, or the result is wrong: the run has no figure."""


def _die_with_parent(parent):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the prctl
        os._exit(1)


def _worker(i, body, args, ends, ready, go, parent):
    _die_with_parent(parent)
    steps = body(*args)
    next(steps)          # the warm-up
    ready.release()
    if not go.wait(WAIT):
        os._exit(1)
    for _ in steps:      # the timed operations
        pass
    ends[i] = time.perf_counter()


def start(target, *args):
    """Starts a forked child running target(*args); it dies with this process."""
    def run(parent, *a):
        _die_with_parent(parent)
        target(*a)
    p = CTX.Process(target=run, args=(os.getpid(), *args), daemon=True)
    p.start()
    return p


def mp_manager():
    """A started multiprocessing SyncManager whose server process dies with this one."""
    from multiprocessing.managers import SyncManager
    m = SyncManager(ctx=CTX)
    m.start(_die_with_parent, (os.getpid(),))
    return m


def timed(bodies):
    """Runs one worker process per (generator function, args) of bodies, as above;
    returns the seconds from the start to the end of the last one."""
    ready, go = CTX.Semaphore(0), CTX.Event()
    ends = CTX.RawArray("d", len(bodies))
    procs = [CTX.Process(target=_worker, args=(i, body, args, ends, ready, go, os.getpid()),
                         daemon=True)
             for i, (body, args) in enumerate(bodies)]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=WAIT):
            raise CaseError("a worker did not get ready in time")
    t0 = time.perf_counter()
    go.set()
    limit = time.monotonic() + WAIT
    for p in procs:
        p.join(max(0.0, limit - time.monotonic()))
        if p.exitcode != 0:
            raise CaseError(f"a worker failed or timed out (exit code {p.exitcode})")
    return max(ends) - t0


def reap():
    """Kills and reaps this process's live children (bounded)."""
    for p in mp.active_children():
        p.kill()
    for p in mp.active_children():
        p.join(1.0)


def _alarm(signum, frame):
    raise CaseError(f"the case did not end within {DEADLINE} s")


def _term(signum, frame):
    raise SystemExit(1)


def main(cases):
    """argv: SUB IMPL OPS. Runs cases[SUB][IMPL](OPS) and prints the figure it returns;
    on failure, says why on stderr and exits 1."""
    try:
        sub, impl, ops = sys.argv[1], sys.argv[2], int(sys.argv[3])
        fn = cases[sub][impl]
    except (IndexError, KeyError, ValueError):
        subs = " | ".join(sorted(cases))
        sys.exit(f"usage: {os.path.basename(sys.argv[0])} {subs} shmrt|python_mp OPS")
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGTERM, _term)
    signal.alarm(DEADLINE)
    try:
        figure = fn(ops)
    except CaseError as e:
        sys.exit(f"{sys.argv[0]} {sub} {impl}: {e}")
    finally:
        signal.alarm(0)
        reap()
    print(figure, flush=True)
