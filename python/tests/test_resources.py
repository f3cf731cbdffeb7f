"""What objects leave behind: no file descriptor (every object lives in the one
process-tree region, whose memfd is the only descriptor), directory entries freed
when their creator drops them without having forked, nothing in /dev/shm."""
import gc
import os

import numpy as np

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
