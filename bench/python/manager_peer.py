"""Python peer for the Manager cases: a Manager().dict() of the same 1000 keys (str of
16 characters) and 64-byte values (bytes) as manager_bench.c, read and written through
its proxy (d[k], d[k] = v), by worker processes started before the clock.
Usage: manager_peer.py get1 OPS        one client, Unix socket (the default) -> ops/s
       manager_peer.py get1tcp OPS     one client, Manager(address=('127.0.0.1', 0))
       manager_peer.py mixed4 OPS      four clients, 90% get, 10% set -> total ops/s
       manager_peer.py list_create OPS l = m.list(); len(l); del l   -> lists/s
       manager_peer.py lock2 OPS       two clients, lock.acquire(); lock.release() on
                                       one m.Lock(), OPS pairs each   -> total pairs/s
The last output line is the figure."""
import sys
from multiprocessing import Process
from multiprocessing.managers import SyncManager

from mp_common import timed, value, work

KEYS = 1000


def key(i):
    return "m%015d" % i


def lists(m, n, go):
    go.wait()
    for _ in range(n):
        l = m.list()
        assert len(l) == 0
        del l


def locks(lock, n, go):
    go.wait()
    for _ in range(n):
        assert lock.acquire()
        lock.release()


if __name__ == "__main__":
    mode, ops = sys.argv[1], int(sys.argv[2])
    address = ("127.0.0.1", 0) if mode == "get1tcp" else None
    with SyncManager(address=address) as m:
        if mode == "list_create":
            timed(lambda go: [Process(target=lists, args=(m, ops, go))], ops)
        elif mode == "lock2":
            lock = m.Lock()
            timed(lambda go: [Process(target=locks, args=(lock, ops, go)) for _ in range(2)],
                  2 * ops)
        else:
            d = m.dict({key(i): value(i) for i in range(KEYS)})
            workers = 4 if mode == "mixed4" else 1
            timed(lambda go: [Process(target=work, args=(d, ops, mode == "mixed4", w, go,
                                                         KEYS, key))
                              for w in range(workers)], ops * workers)
