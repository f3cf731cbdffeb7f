"""shmrt.Manager(): every proxy type and method against shmrt's Manager server, the
exceptions multiprocessing raises, printing as multiprocessing prints, proxies in
child processes (fork and spawn, four workers), nested proxies, a Lock whose holder
was killed with kill -9, and no server process left behind."""
import multiprocessing as mp
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
import warnings

import pytest

import shmrt
from shmrt.managers import SyncManager


@pytest.fixture(scope="module")
def manager():
    with shmrt.Manager() as m:
        yield m


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


# ---- dict, list, Namespace, Value, Array --------------------------------------------

def test_dict_methods(manager):
    d = manager.dict({"a": 1}, b=2)
    d[1] = "1"
    d[0.25] = None
    d[b"k"] = [1, (2, 3), {"x": True}]
    assert d["a"] == 1 and d[1] == "1" and d[0.25] is None
    assert d[b"k"] == [1, [2, 3], {"x": True}]   # a tuple comes back a list
    assert len(d) == 5 and "a" in d and "zz" not in d
    assert list(d) == ["a", "b", 1, 0.25, b"k"]
    assert d.keys() == ["a", "b", 1, 0.25, b"k"]
    assert d.values()[:2] == [1, 2]
    assert d.items()[:2] == [("a", 1), ("b", 2)]
    assert d.get("zz") is None and d.get("zz", 7) == 7 and d.get("a") == 1
    assert d.setdefault("s", 5) == 5 and d.setdefault("s", 6) == 5
    assert d.pop("s") == 5 and d.pop("s", "dflt") == "dflt"
    del d[b"k"]
    d.update({"c": 3}, e=4)
    d.update([("f", 5)])
    assert d.copy() == {"a": 1, "b": 2, 1: "1", 0.25: None, "c": 3, "e": 4, "f": 5}
    assert d.popitem() == ("f", 5)
    assert dict(d) == d.copy()
    d.clear()
    assert len(d) == 0 and d.copy() == {}


def test_dict_errors(manager):
    d = manager.dict()
    with pytest.raises(KeyError, match="'nope'"):
        d["nope"]
    with pytest.raises(KeyError):
        del d["nope"]
    with pytest.raises(KeyError):
        d.pop("nope")
    with pytest.raises(KeyError):
        d.popitem()

    class Thing:
        pass
    with pytest.raises(TypeError, match="never unpickles"):
        d["x"] = Thing()
    with pytest.raises(TypeError):
        d[(1, 2)] = 3     # a list key: unhashable on the server
    with pytest.raises(OverflowError):
        d["big"] = 2 ** 64
    d["ok"] = 2 ** 63 - 1
    assert d["ok"] == 2 ** 63 - 1


def test_list_methods_and_slices(manager):
    lst = manager.list(range(10))
    assert len(lst) == 10 and lst[0] == 0 and lst[-1] == 9 and 5 in lst
    assert lst[2:5] == [2, 3, 4] and lst[::3] == [0, 3, 6, 9] and lst[::-4] == [9, 5, 1]
    lst[0:3] = ["a"]
    assert lst[:] == ["a", 3, 4, 5, 6, 7, 8, 9]
    del lst[1:3]
    assert lst[:3] == ["a", 5, 6]
    del lst[0]
    lst.append(1)
    lst.extend((2, 3))
    lst.insert(0, 0)
    assert lst.copy() == [0, 5, 6, 7, 8, 9, 1, 2, 3]
    assert lst.pop() == 3 and lst.pop(0) == 0
    lst.remove(9)
    assert lst.index(7) == 2 and lst.count(5) == 1
    lst.sort()
    assert list(lst) == [1, 2, 5, 6, 7, 8]
    lst.sort(reverse=True)
    assert list(lst) == [8, 7, 6, 5, 2, 1]
    lst.sort(key=lambda x: x % 3)
    assert list(lst) == [6, 7, 1, 8, 5, 2]
    lst.reverse()
    assert list(lst) == [2, 5, 8, 1, 7, 6]
    lst[1] = "x"
    assert lst[1] == "x"
    assert lst + [0] == [2, "x", 8, 1, 7, 6, 0]
    lst += [9]
    assert len(lst) == 7 and list(reversed(lst))[0] == 9
    assert lst * 2 == lst.copy() * 2


def test_list_errors(manager):
    lst = manager.list([1, 2])
    with pytest.raises(IndexError):
        lst[5]
    with pytest.raises(IndexError):
        lst[5] = 1
    with pytest.raises(IndexError):
        del lst[5]
    with pytest.raises(ValueError):
        lst.remove(7)
    with pytest.raises(ValueError):
        lst.index(7)
    with pytest.raises(ValueError):
        lst[::0]
    with pytest.raises(ValueError):
        lst[::2] = [1, 2, 3]
    with pytest.raises(IndexError):
        manager.list().pop()


def test_namespace(manager):
    ns = manager.Namespace(a=1)
    ns.x = 0
    ns.x += 1               # a read and a write, as Python
    ns.items = [1, 2]
    assert ns.a == 1 and ns.x == 1 and ns.items == [1, 2]
    del ns.a
    with pytest.raises(AttributeError, match="'a'"):
        ns.a
    with pytest.raises(AttributeError):
        del ns.a
    assert str(ns) == "Namespace(items=[1, 2], x=1)"


def test_value_and_array(manager):
    v = manager.Value("i", 3)
    assert v.value == 3 and v.get() == 3
    v.value = 7
    v.set(8)
    assert v.value == 8 and v.add(2) == 10 and v.cas(10, 1) and v.value == 1
    with pytest.raises(OverflowError):
        v.value = 2 ** 40
    assert str(v) == "Value('i', 1)"
    d = manager.Value("d", 0.5)
    assert d.value == 0.5
    a = manager.Array("i", [1, 2, 3])
    assert len(a) == 3 and a[0] == 1 and a[-1] == 3 and a[0:2] == [1, 2] and list(a) == [1, 2, 3]
    a[1] = 20
    a[0:2] = [10, 11]
    assert a.tolist() == [10, 11, 3]
    with pytest.raises(IndexError):
        a[3]
    with pytest.raises(ValueError):
        a[0:2] = [1]
    assert str(a) == "array('i', [10, 11, 3])"
    assert manager.Array("d", 3).tolist() == [0.0, 0.0, 0.0]


# ---- synchronisation and queues ----------------------------------------------------

def test_locks(manager):
    for lk in (manager.Lock(), manager.RLock()):
        assert lk.acquire() is True
        assert lk.locked()
        lk.release()
        with lk:
            assert lk.locked()
        assert not lk.locked()
        with pytest.raises(RuntimeError):
            lk.release()
        with pytest.raises(ValueError):
            lk.acquire(False, 1.0)
    r = manager.RLock()
    with r:
        with r:
            pass


def test_lock_timeouts_from_another_process(manager):
    lk = manager.Lock()
    lk.acquire()
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_try_acquire, args=(lk, q))
    p.start()
    assert q.get(timeout=30) == (False, False)
    lk.release()
    p.join(30)
    assert p.exitcode == 0


def _try_acquire(lk, q):
    q.put((lk.acquire(False), lk.acquire(timeout=0.05)))


def test_semaphores(manager):
    s = manager.Semaphore(2)
    assert s.acquire() and s.acquire() and not s.acquire(False)
    assert s.acquire(timeout=0.01) is False
    s.release()
    assert s.get_value() == 1
    b = manager.BoundedSemaphore(1)
    with pytest.raises(ValueError):
        b.release()
    with b:
        assert b.get_value() == 0


def test_event_condition_barrier(manager):
    e = manager.Event()
    assert not e.is_set() and e.wait(0.01) is False
    e.set()
    assert e.is_set() and e.wait() is True
    e.clear()
    assert not e.is_set()

    c = manager.Condition()
    with c:
        assert c.wait(0.01) is False
        c.notify()
        c.notify_all()
        assert c.wait_for(lambda: True) is True
    with pytest.raises(RuntimeError):
        c.notify()
    lk = manager.Lock()
    c2 = manager.Condition(lk)
    with c2:
        assert lk.locked()

    b = manager.Barrier(1)
    assert b.parties == 1 and b.wait() == 0 and b.n_waiting == 0 and not b.broken
    b2 = manager.Barrier(2)
    with pytest.raises(threading.BrokenBarrierError):
        b2.wait(0.05)
    assert b2.broken
    b2.reset()
    assert not b2.broken
    b2.abort()
    with pytest.raises(threading.BrokenBarrierError):
        b2.wait()


def test_queues(manager):
    q = manager.Queue(2)
    q.put(1)
    q.put_nowait((2, "two"))
    assert q.full() and q.qsize() == 2
    with pytest.raises(queue.Full):
        q.put(3, False)
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.01)
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    assert q.get() == 1 and q.get_nowait() == [2, "two"]
    assert q.empty()
    with pytest.raises(queue.Empty):
        q.get(False)
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    jq = manager.JoinableQueue()
    jq.put("x")
    assert jq.get() == "x"
    jq.task_done()
    jq.join()
    with pytest.raises(ValueError):
        jq.task_done()


# ---- printing as multiprocessing prints ---------------------------------------------

PRINT_PROGRAM = """\
from multiprocessing import Manager
with Manager() as m:
    d = m.dict({1: '1', '2': 2, 0.25: None, 'n': [1, 'a', b'b', 2.5, True]})
    l = m.list(range(10))
    print(d)
    print(l)
    print(str(d), str(l))
    print(m.Namespace(b=1, a='x'))
    print(m.Value('i', 3))
    print(m.Array('d', [1.5, 2]))
    print(repr(d).split(' at ')[0], repr(l).split(' at ')[0])
"""


def test_printing_matches_multiprocessing(run):
    theirs = run(PRINT_PROGRAM)
    ours = run(PRINT_PROGRAM.replace("from multiprocessing import", "from shmrt import"))
    assert theirs.count("\n") == 7
    assert ours == theirs


# ---- nested proxies ---------------------------------------------------------------

def test_nested_proxies_stay_live(manager):
    d = manager.dict()
    d["l"] = manager.list()          # the temporary proxy is dropped: d holds the list
    inner = d["l"]
    assert isinstance(inner, shmrt.managers.ListProxy)
    inner.append(1)
    d["l"].append(2)
    assert d["l"][:] == [1, 2]
    outer = manager.list([manager.dict({"k": 1}), 5])
    assert outer[0]["k"] == 1
    ns = manager.Namespace()
    ns.q = manager.Queue()
    ns.q.put("hi")
    assert ns.q.get() == "hi"


def test_proxies_pickle(manager):
    d = manager.dict({"a": 1})
    d2 = pickle.loads(pickle.dumps(d))
    d2["b"] = 2
    assert d.copy() == {"a": 1, "b": 2} and d2._ref == d._ref


# ---- processes ----------------------------------------------------------------------

def _worker(i, d, lst, lock, counter, q, ns):
    d[i] = i * i
    lst.append(i)
    with lock:
        counter.value = counter.value + 1
    q.put(("done", i))
    ns.last = i
    d["nested"].append(i)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_four_workers(method):
    ctx = mp.get_context(method)
    with shmrt.Manager() as m:
        d, lst, lock = m.dict(), m.list(), m.Lock()
        counter, q, ns = m.Value("i", 0), m.Queue(), m.Namespace()
        d["nested"] = m.list()
        ps = [ctx.Process(target=_worker, args=(i, d, lst, lock, counter, q, ns))
              for i in range(4)]
        for p in ps:
            p.start()
        got = sorted(q.get(timeout=60)[1] for _ in range(4))
        for p in ps:
            p.join(60)
            assert p.exitcode == 0
        assert got == [0, 1, 2, 3]
        assert {k: d[k] for k in range(4)} == {0: 0, 1: 1, 2: 4, 3: 9}
        assert sorted(lst) == [0, 1, 2, 3] and sorted(d["nested"]) == [0, 1, 2, 3]
        assert counter.value == 4 and ns.last in range(4)


def _hold(lock, ev):
    lock.acquire()
    ev.set()
    time.sleep(60)


def test_killed_lock_holder(manager):
    lock, ev = manager.Lock(), manager.Event()
    p = mp.get_context("fork").Process(target=_hold, args=(lock, ev))
    p.start()
    try:
        assert ev.wait(30)
        assert lock.acquire(False) is False
        os.kill(p.pid, signal.SIGKILL)
        p.join(30)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert lock.acquire(timeout=10) is True
        assert any(issubclass(x.category, shmrt.OwnerDiedWarning) for x in w)
        lock.release()
        assert lock.acquire(timeout=10) is True
        lock.release()
    finally:
        if p.is_alive():
            p.kill()
        p.join(30)


def test_connect_to_a_running_manager():
    key = b"secret key"
    with SyncManager(authkey=key) as m:
        d = m.dict({"x": 1})
        other = SyncManager(address=m.address, authkey=key)
        other.connect()
        assert other.address == m.address
        assert other.dict({"y": 2})["y"] == 2
        assert pickle.loads(pickle.dumps(d))["x"] == 1
        bad = SyncManager(address=m.address + "-none", authkey=key)
        with pytest.raises(OSError):
            bad.connect()
        # a child (fork and spawn) uses the manager's key, not its own authkey
        for method in ("fork", "spawn"):
            p = mp.get_context(method).Process(target=_set, args=(d, method))
            p.start()
            p.join(60)
            assert p.exitcode == 0 and d[method] == 1


def _set(d, k):
    d[k] = 1


def test_wrong_authkey_is_refused():
    with SyncManager(authkey=b"right") as m:
        with pytest.raises(mp.AuthenticationError):
            shmrt._shmrt._MgrConn(m.address, b"wrong")


def test_no_server_left_after_shutdown():
    m = shmrt.Manager()
    pid = m._server.pid
    assert alive(pid)
    m.dict()["a"] = 1
    m.shutdown()
    assert not alive(pid)


def test_no_server_left_after_the_parent_exits(tmp_path):
    prog = ("import shmrt, sys\n"
            "m = shmrt.Manager()\n"
            "m.dict()['a'] = 1\n"
            "print(m._server.pid, flush=True)\n"
            "sys.stdout.close()\n"
            "import os; os._exit(0)\n")
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    pid = int(r.stdout)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(pid)


def test_objects_released(manager):
    before = manager._number_of_objects()
    d = manager.dict()
    d["l"] = manager.list([1])
    x = d["l"]
    del d, x
    assert manager._number_of_objects() == before


def test_threads_have_their_own_connections(manager):
    # a thread parked in the server holds up no other thread of the process
    ev, q = manager.Event(), manager.Queue()
    out = []
    t = threading.Thread(target=lambda: out.append((ev.wait(30), q.get(timeout=30))))
    t.start()
    time.sleep(0.05)
    d = manager.dict()
    d["x"] = 1                      # not held up by the waiting thread
    ev.set()
    q.put("item")
    t.join(30)
    assert out == [(True, "item")] and d["x"] == 1


# ---- the shared-memory channel ------------------------------------------------------

@pytest.mark.parametrize("env,want", [(None, ["2", "socket", "shm"]),
                                       ("1", ["2", "shm", "shm"]),
                                       ("0", ["2", "socket", "socket"])])
def test_channel_when_busy(env, want):
    """A local Manager's calls take the shared-memory channel (the same semantics,
    about 1 us a call) once their connection has made 1024 calls;
    SHMRT_MANAGER_SHM=1 takes it at once, =0 keeps them on the socket."""
    code = ("import shmrt\n"
            "from shmrt.managers import _call_conn_for\n"
            "with shmrt.Manager() as m:\n"
            "    d = m.dict({'k': 2})\n"
            "    c = _call_conn_for(m.address)\n"
            "    first = c.channel()\n"
            "    assert all(d['k'] == 2 for _ in range(1100))\n"
            "    print(d['k'], first, c.channel())\n")
    e = dict(os.environ)
    e.pop("SHMRT_MANAGER_SHM", None)
    if env is not None:
        e["SHMRT_MANAGER_SHM"] = env
    out = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == want
