"""What objects leave behind: no file descriptor (every object lives in the one
process-tree region, whose memfd is the only descriptor), directory entries freed
when their creator drops them without having forked, nothing in /dev/shm; after
close() of SharedMemory, ShareableList, Queue, Pipe and Manager no descriptor and
no mapping is left (/proc/self/fd, /proc/self/maps); after a whole run, with a
child killed by kill -9 holding a lock and a mapping, no /dev/shm file it used."""
import gc
import os
import subprocess
import sys

import numpy as np
import pytest

import shmrt

KINDS = [
    lambda: shmrt.Value("i", 1), lambda: shmrt.RawValue("d", 2.0),
    lambda: shmrt.Array("i", 100), lambda: shmrt.RawArray("c", b"abc"),
    lambda: shmrt.Lock(), lambda: shmrt.RLock(), lambda: shmrt.Semaphore(2),
    lambda: shmrt.BoundedSemaphore(), lambda: shmrt.Event(), lambda: shmrt.Condition(),
    lambda: shmrt.Barrier(2),
]


def fds():
    return set(os.listdir("/proc/self/fd"))


def dev_shm_used():
    """/dev/shm files this process maps or holds open (other programs on the machine
    may create and remove theirs meanwhile: only ours count)."""
    used = set()
    with open("/proc/self/maps") as f:
        for line in f:
            if "/dev/shm/" in line:
                used.add(line.split()[-1])
    for fd in os.listdir("/proc/self/fd"):
        try:
            t = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if t.startswith("/dev/shm/"):
            used.add(t)
    return used


def test_objects_leave_no_descriptor_and_no_entry_behind():
    shmrt.Value("i")                     # the region exists from here on
    gc.collect()                         # earlier tests' objects are gone
    fd_before = fds()
    shm_before = dev_shm_used()          # e.g. multiprocessing's forkserver's own
    objects_before = shmrt._shmrt._tree_info()[1]
    for _ in range(3):
        objs = [make() for make in KINDS for _ in range(20)]
        views = [np.asarray(o) for o in objs if isinstance(o, shmrt._shmrt.RawArray)]
        objs[0].get_lock()
        objs[0].get_obj()
        del objs, views
        gc.collect()
    assert fds() == fd_before
    assert shmrt._shmrt._tree_info()[1] == objects_before
    assert dev_shm_used() == shm_before


def test_many_objects_in_a_loop_do_not_fill_the_region():
    for i in range(20000):               # more than the directory holds at once
        v = shmrt.Value("q", i)
        assert v.value == i
    del v


def test_the_tree_region_is_one_memfd():
    shmrt.Value("i")
    fd = shmrt._shmrt._tree_info()[0]
    assert os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:")


def shared_mappings():
    """This process's mappings of shared memory: /dev/shm files and memfds (the tree
    region is one), with their address ranges."""
    out = set()
    with open("/proc/self/maps") as f:
        for line in f:
            if "/dev/shm/" in line or "/memfd:" in line:
                out.add(line.split()[0] + " " + line.split(None, 5)[-1].strip())
    return out


def _use_everything(ctx):
    from shmrt.shared_memory import SharedMemory, ShareableList
    s = SharedMemory(create=True, size=1 << 20)
    t = SharedMemory(s.name)
    a = np.ndarray((1000,), dtype=np.int64, buffer=t.buf)
    a[:] = 3
    assert int(np.frombuffer(s.buf, dtype=np.int64, count=1000).sum()) == 3000
    del a
    t.close()
    s.close()
    s.unlink()
    sl = ShareableList([1, "two", 3.0])
    sl.shm.close()
    sl.shm.unlink()
    q = shmrt.Queue()
    q.put(np.arange(1 << 18))                   # a large message: an arena block
    assert q.get(timeout=10)[-1] == (1 << 18) - 1
    q.close()
    q.join_thread()
    x, y = shmrt.Pipe()
    x.send_bytes(b"z" * 100000)                 # chunked
    assert len(y.recv_bytes()) == 100000
    x.close()
    y.close()
    m = shmrt.Manager()
    d = m.dict(a=1)
    assert d["a"] == 1
    del d
    m.shutdown()


def test_close_leaves_no_descriptor_and_no_mapping():
    shmrt.Value("i")                            # the tree region exists from here on
    _use_everything(None)                       # first uses (imports, caches) done
    gc.collect()
    fd_before, maps_before = fds(), shared_mappings()
    for _ in range(3):
        _use_everything(None)
    gc.collect()
    assert fds() == fd_before
    assert shared_mappings() == maps_before


LEAVE_NOTHING = r"""
import multiprocessing as mp, os, signal, sys, time
import numpy as np
import shmrt
from shmrt.shared_memory import SharedMemory

def mine():
    # every /dev/shm file this process maps or holds open (a name it had when
    # mapped, if since renamed or removed: "... (deleted)")
    out = set()
    for line in open("/proc/self/maps"):
        if "/dev/shm/" in line:
            out.add(line.split(None, 5)[5].strip().removesuffix(" (deleted)"))
    for fd in os.listdir("/proc/self/fd"):
        try:
            t = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if t.startswith("/dev/shm/"):
            out.add(t.removesuffix(" (deleted)"))
    return out

def child(name, lk, q, ready):
    s = SharedMemory(name)
    np.ndarray((10,), dtype=np.int64, buffer=s.buf)[:] = 1
    print(*sorted(mine()), sep="\n", flush=True)
    lk.acquire()
    q.put("x" * 5000)
    ready.set()
    time.sleep(60)

if __name__ == "__main__":
    mp.set_start_method(sys.argv[1])
    s = SharedMemory(create=True, size=1 << 16)
    v, lk, q, ready = shmrt.Value("i"), shmrt.Lock(), shmrt.Queue(), shmrt.Event()
    m = shmrt.Manager()
    d = m.dict(k=list(range(100)))
    p = mp.Process(target=child, args=(s.name, lk, q, ready))
    p.start()
    assert ready.wait(30)
    print(*sorted(mine()), sep="\n", flush=True)
    os.kill(p.pid, signal.SIGKILL)             # killed holding a lock and a mapping
    p.join(30)
    assert q.get(timeout=10) == "x" * 5000
    s.close()
    s.unlink()
    m.shutdown()
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_nothing_left_in_dev_shm_after_a_run(method, tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(LEAVE_NOTHING)
    r = subprocess.run([sys.executable, str(prog), method], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    used = set(r.stdout.splitlines())
    assert any("psm_" in f for f in used), f"the run's SharedMemory is not among {used}"
    # Other programs on the machine may use /dev/shm meanwhile: only the files this
    # run used count, and none of them is left.
    assert [f for f in used if os.path.exists(f)] == []
