"""The seed programs that use only Process, Value, Array and Lock, run as written
(with multiprocessing) and with the import line changed to shmrt, each by the
test's interpreter in a subprocess; their outputs must be equal.

Their texts are copied verbatim from the examples this project was started from
(Python's documentation, a FAQ answer and a tutorial on sharing state). One of
them, tutorial_value_race, prints the result of a race (value += 1 from two
processes without a lock), which differs from run to run in Python too: there the
test compares the shape of the line and checks the count is at most the total.
Every other program's output is deterministic and compared exactly.

Each program runs under each start method, fork, spawn and forkserver: the test
writes it to a file (spawn and forkserver import the main module again in the
children, which a `python -c` program does not allow) and puts one line before it,
`multiprocessing.set_start_method(method, force=True)`, for both runs, which run
side by side (they mostly wait). A program
without an `if __name__ == '__main__':` guard is skipped under spawn and
forkserver (it fails there with multiprocessing as well).
"""
import ast
import re

import pytest

PROGRAMS = [
    # Python's documentation, sharing state: Value and Array
    ('docs_value_array', 'exact', """\
from multiprocessing import Process, Value, Array

def f(n, a):
    n.value = 3.1415927
    for i in range(len(a)):
        a[i] = -a[i]

if __name__ == '__main__':
    num = Value('d', 0.0)
    arr = Array('i', range(10))

    p = Process(target=f, args=(num, arr))
    p.start()
    p.join()

    print(num.value)
    print(arr[:])
"""),
    # a FAQ: a child's changes to its copy of a list
    ('faq_no_shared_memory', 'exact', """\
from multiprocessing import Process

data = [1, 2, 3]

def worker(data):
    data.append(4)   # mutates the CHILD process's own copy only

p = Process(target=worker, args=(data,))
p.start()
p.join()
print(data)   # [1, 2, 3] -- parent's list is untouched; child had a separate copy
"""),
    # a FAQ: four workers add under get_lock()
    ('faq_value_get_lock', 'exact', """\
from multiprocessing import Process, Value

def worker(counter):
    with counter.get_lock():        # Value provides a built-in lock
        counter.value += 1

counter = Value("i", 0)             # 'i' = ctypes int, backed by shared memory
processes = [Process(target=worker, args=(counter,)) for _ in range(4)]
[p.start() for p in processes]
[p.join() for p in processes]
print(counter.value)   # 4
"""),
    # a tutorial: a global counter is not shared
    ('tutorial_global_counter', 'exact', """\
from multiprocessing import Process

# This does NOT work as expected!
counter = 0

def increment():
    global counter
    for _ in range(100000):
        counter += 1

if __name__ == "__main__":
    p1 = Process(target=increment)
    p2 = Process(target=increment)

    p1.start()
    p2.start()
    p1.join()
    p2.join()

    print(f"Counter: {counter}")  # Still 0!
    # Each process has its own copy of counter
"""),
    # a tutorial: value += 1 without a lock races
    ('tutorial_value_race', 'racy', """\
from multiprocessing import Process, Value

def increment(shared_counter, n):
    for _ in range(n):
        shared_counter.value += 1

if __name__ == "__main__":
    # Type codes: 'i' = int, 'd' = double, 'c' = char
    counter = Value('i', 0)

    p1 = Process(target=increment, args=(counter, 100000))
    p2 = Process(target=increment, args=(counter, 100000))

    p1.start()
    p2.start()
    p1.join()
    p2.join()

    print(f"Counter: {counter.value}")
    # May be less than 200000 — race condition!
"""),
    # a tutorial: value += 1 under a Lock
    ('tutorial_value_lock', 'exact', """\
from multiprocessing import Process, Value, Lock

def increment(shared_counter, lock, n):
    for _ in range(n):
        with lock:
            shared_counter.value += 1

if __name__ == "__main__":
    counter = Value('i', 0)
    lock = Lock()

    p1 = Process(target=increment, args=(counter, lock, 100000))
    p2 = Process(target=increment, args=(counter, lock, 100000))

    p1.start()
    p2.start()
    p1.join()
    p2.join()

    print(f"Counter: {counter.value}")  # Always 200000
"""),
    # a tutorial: value += 1 under get_lock()
    ('tutorial_value_get_lock', 'exact', """\
from multiprocessing import Process, Value

def increment(shared_counter, n):
    for _ in range(n):
        with shared_counter.get_lock():
            shared_counter.value += 1

if __name__ == "__main__":
    counter = Value('i', 0)  # Has built-in lock

    p1 = Process(target=increment, args=(counter, 100000))
    p2 = Process(target=increment, args=(counter, 100000))

    p1.start()
    p2.start()
    p1.join()
    p2.join()

    print(f"Counter: {counter.value}")  # Always 200000
"""),
    # a tutorial: a child fills an Array
    ('tutorial_array_fill', 'exact', """\
from multiprocessing import Process, Array

def fill_array(shared_array, start_value):
    for i in range(len(shared_array)):
        shared_array[i] = start_value + i

if __name__ == "__main__":
    # 'd' = double, size 5
    arr = Array('d', 5)

    p = Process(target=fill_array, args=(arr, 10))
    p.start()
    p.join()

    print(list(arr))  # [10.0, 11.0, 12.0, 13.0, 14.0]
"""),
    # a tutorial: Arrays from a list and a size
    ('tutorial_array_init', 'exact', """\
from multiprocessing import Array

# Initialize with values
arr1 = Array('i', [1, 2, 3, 4, 5])
print(list(arr1))  # [1, 2, 3, 4, 5]

# Initialize with size (zeros)
arr2 = Array('d', 10)
print(list(arr2))  # [0.0, 0.0, ..., 0.0]
"""),
    # a tutorial: ten processes add to an Array under a Lock
    ('tutorial_array_lock', 'exact', """\
from multiprocessing import Process, Array, Lock

def increment_array(arr, lock, amount):
    with lock:
        for i in range(len(arr)):
            arr[i] += amount

if __name__ == "__main__":
    arr = Array('i', [0, 0, 0, 0, 0])
    lock = Lock()

    processes = []
    for _ in range(10):
        p = Process(target=increment_array, args=(arr, lock, 1))
        processes.append(p)
        p.start()

    for p in processes:
        p.join()

    print(list(arr))  # [10, 10, 10, 10, 10]
"""),
]

# Programs using Queue, Pipe and SharedMemory (the same tutorials).
PROGRAMS += [
    # a tutorial: a child puts, the parent gets
    ('tutorial_queue_message', 'exact', """\
from multiprocessing import Process, Queue

def worker(q):
    q.put("result from child")

q = Queue()
p = Process(target=worker, args=(q,))
p.start()
print(q.get())   # 'result from child'
p.join()
"""),
    # a tutorial: a producer and a consumer process (the two print in an order that varies: compared as sets of lines)
    ('tutorial_queue_basic', 'lines', """\
from multiprocessing import Process, Queue

def producer(q, items):
    for item in items:
        q.put(item)
        print(f"Produced: {item}")
    q.put(None)  # Sentinel

def consumer(q):
    while True:
        item = q.get()
        if item is None:
            break
        print(f"Consumed: {item}")

if __name__ == "__main__":
    q = Queue()

    p1 = Process(target=producer, args=(q, [1, 2, 3, 4, 5]))
    p2 = Process(target=consumer, args=(q,))

    p1.start()
    p2.start()

    p1.join()
    p2.join()
"""),
    # a tutorial: five workers put their results, the parent drains (the dict's order
    # is the order the workers finished in, in Python too: compared as dicts)
    ('tutorial_queue_results', 'dict', """\
from multiprocessing import Process, Queue

def worker(task_id, q):
    result = task_id ** 2
    q.put((task_id, result))

if __name__ == "__main__":
    result_queue = Queue()
    processes = []

    for i in range(5):
        p = Process(target=worker, args=(i, result_queue))
        processes.append(p)
        p.start()

    for p in processes:
        p.join()

    # Collect results
    results = {}
    while not result_queue.empty():
        task_id, result = result_queue.get()
        results[task_id] = result

    print(results)  # {0: 0, 1: 1, 2: 4, 3: 9, 4: 16}
"""),
    # a tutorial: one child sends, another receives
    ('tutorial_pipe_basic', 'exact', """\
from multiprocessing import Process, Pipe

def sender(conn):
    conn.send("Hello from sender!")
    conn.send([1, 2, 3])
    conn.close()

def receiver(conn):
    msg1 = conn.recv()
    msg2 = conn.recv()
    print(f"Received: {msg1}")
    print(f"Received: {msg2}")

if __name__ == "__main__":
    parent_conn, child_conn = Pipe()

    p1 = Process(target=sender, args=(child_conn,))
    p2 = Process(target=receiver, args=(parent_conn,))

    p1.start()
    p2.start()

    p1.join()
    p2.join()
"""),
    # a tutorial: ping-pong with a child (compared as sets of lines: two processes print)
    ('tutorial_pipe_bidirectional', 'lines', """\
from multiprocessing import Process, Pipe

def ping_pong(conn, name):
    for i in range(3):
        msg = conn.recv()
        print(f"{name} received: {msg}")
        conn.send(f"{name} reply {i}")
    conn.close()

if __name__ == "__main__":
    conn1, conn2 = Pipe()

    p = Process(target=ping_pong, args=(conn2, "Worker"))
    p.start()

    # Main process
    for i in range(3):
        conn1.send(f"Main message {i}")
        reply = conn1.recv()
        print(f"Main received: {reply}")

    p.join()
"""),
    # a tutorial: a child doubles an array in a SharedMemory it attaches by name
    ('tutorial_shared_memory', 'exact', """\
from multiprocessing import Process
from multiprocessing.shared_memory import SharedMemory
import numpy as np

def worker(shm_name, shape, dtype):
    # Attach to existing shared memory
    existing_shm = SharedMemory(name=shm_name)
    array = np.ndarray(shape, dtype=dtype, buffer=existing_shm.buf)

    # Modify array
    array[:] = array * 2

    existing_shm.close()

if __name__ == "__main__":
    # Create array in shared memory
    arr = np.array([1, 2, 3, 4, 5], dtype=np.float64)

    shm = SharedMemory(create=True, size=arr.nbytes)
    shared_arr = np.ndarray(arr.shape, dtype=arr.dtype, buffer=shm.buf)
    shared_arr[:] = arr[:]  # Copy data

    print(f"Before: {shared_arr}")

    p = Process(target=worker, args=(shm.name, arr.shape, arr.dtype))
    p.start()
    p.join()

    print(f"After: {shared_arr}")

    shm.close()
    shm.unlink()  # Clean up
"""),
    # a tutorial: four children square slices of a numpy array in a SharedMemory
    ('tutorial_shared_memory_numpy', 'exact', '''\
from multiprocessing import Process
from multiprocessing.shared_memory import SharedMemory
import numpy as np

def compute_in_place(shm_name, shape, dtype, start, end):
    """Process a slice of shared array."""
    shm = SharedMemory(name=shm_name)
    arr = np.ndarray(shape, dtype=dtype, buffer=shm.buf)

    arr[start:end] = arr[start:end] ** 2

    shm.close()

if __name__ == "__main__":
    size = 1000000
    arr = np.arange(size, dtype=np.float64)

    # Create shared memory
    shm = SharedMemory(create=True, size=arr.nbytes)
    shared_arr = np.ndarray(arr.shape, dtype=arr.dtype, buffer=shm.buf)
    shared_arr[:] = arr

    # Process in parallel
    num_workers = 4
    chunk_size = size // num_workers

    processes = []
    for i in range(num_workers):
        start = i * chunk_size
        end = start + chunk_size if i < num_workers - 1 else size
        p = Process(target=compute_in_place, 
                   args=(shm.name, arr.shape, arr.dtype, start, end))
        processes.append(p)
        p.start()

    for p in processes:
        p.join()

    print(f"First 10: {shared_arr[:10]}")

    shm.close()
    shm.unlink()
'''),
]


METHODS = ["fork", "spawn", "forkserver"]


def under(method, text):
    """The program with its start method chosen by a first line (the line numbers of
    the program shift by one; nothing it prints depends on them)."""
    return (f"import multiprocessing; multiprocessing.set_start_method({method!r}, "
            f"force=True)\n" + text)


def needs_guard(method, text):
    """Skips a program without an `if __name__ == '__main__':` guard under spawn and
    forkserver: the children run it again, and it fails with multiprocessing too."""
    if method != "fork" and not re.search(r"^if __name__ == ['\"]__main__['\"]:", text,
                                          flags=re.M):
        pytest.skip("no __main__ guard: under spawn and forkserver the program fails "
                    "with multiprocessing too")


def as_shmrt(text):
    shmrt_text = re.sub(r"^from multiprocessing import", "from shmrt import", text,
                        flags=re.M)
    shmrt_text = re.sub(r"^from multiprocessing.shared_memory import",
                        "from shmrt.shared_memory import", shmrt_text, flags=re.M)
    assert shmrt_text != text
    return shmrt_text


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name,how,text", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_seed_prints_what_multiprocessing_prints(run_files, name, how, text, method):
    needs_guard(method, text)
    theirs, ours = run_files([under(method, text), under(method, as_shmrt(text))])
    assert theirs.strip(), "the program printed nothing"
    if how == "exact":
        assert ours == theirs
    elif how == "dict":
        assert ast.literal_eval(ours) == ast.literal_eval(theirs)
    elif how == "lines":
        # Two processes write to one pipe: compared as multisets of lines.
        def lines(out):
            return sorted(x for x in out.splitlines() if x)
        assert lines(ours) == lines(theirs), (ours, theirs)
    else:
        pat = re.compile(r"Counter: (\d+)\n")
        for out in (ours, theirs):
            m = pat.fullmatch(out)
            assert m and 0 < int(m.group(1)) <= 200000, out



# ---- the seeds' Manager programs ---------------------------------------------------
# Their texts are copied verbatim. Output that depends on which worker ran first
# (the order of a dict or list filled by several processes) is compared as a set:
# 'unordered' evaluates each line and compares the sorted items. The Namespace
# program's `ns.x += 1` is a read and a write from five processes: a race in Python
# too, so its lines are compared by shape ('namespace').
MANAGER_PROGRAMS = [
    # Python's documentation: a dict and a list (printed as Python 3.7+ orders dicts;
    # the documentation shows the old order)
    ('docs_manager_dict_list', 'exact', """\
from multiprocessing import Process, Manager

def f(d, l):
    d[1] = '1'
    d['2'] = 2
    d[0.25] = None
    l.reverse()

if __name__ == '__main__':
    with Manager() as manager:
        d = manager.dict()
        l = manager.list(range(10))

        p = Process(target=f, args=(d, l))
        p.start()
        p.join()

        print(d)
        print(l)
"""),
    # an interview answer: four workers set squares
    ('summary_manager_squares', 'unordered', """\
from multiprocessing import Process, Manager

def worker(shared_dict, key, value):
    shared_dict[key] = value

with Manager() as manager:
    shared_dict = manager.dict()
    processes = [Process(target=worker, args=(shared_dict, i, i * i)) for i in range(4)]
    [p.start() for p in processes]
    [p.join() for p in processes]
    print(dict(shared_dict))   # {0: 0, 1: 1, 2: 4, 3: 9}
"""),
    # a tutorial: a shared list
    ('tutorial_manager_list', 'unordered', """\
from multiprocessing import Process, Manager

def worker(shared_list, item):
    shared_list.append(item)

if __name__ == "__main__":
    with Manager() as manager:
        shared_list = manager.list()

        processes = []
        for i in range(5):
            p = Process(target=worker, args=(shared_list, i))
            processes.append(p)
            p.start()

        for p in processes:
            p.join()

        print(list(shared_list))  # [0, 1, 2, 3, 4] (order may vary)
"""),
    # a tutorial: a shared dict
    ('tutorial_manager_dict', 'unordered', """\
from multiprocessing import Process, Manager

def worker(shared_dict, key, value):
    shared_dict[key] = value

if __name__ == "__main__":
    with Manager() as manager:
        shared_dict = manager.dict()

        processes = []
        for i in range(5):
            p = Process(target=worker, args=(shared_dict, f"key_{i}", i ** 2))
            processes.append(p)
            p.start()

        for p in processes:
            p.join()

        print(dict(shared_dict))
        # {'key_0': 0, 'key_1': 1, 'key_2': 4, 'key_3': 9, 'key_4': 16}
"""),
    # a tutorial: a shared Namespace holding a shared list
    ('tutorial_manager_namespace', 'namespace', """\
from multiprocessing import Process, Manager

def worker(ns):
    ns.x += 1
    ns.items.append(ns.x)

if __name__ == "__main__":
    with Manager() as manager:
        ns = manager.Namespace()
        ns.x = 0
        ns.items = manager.list()

        processes = []
        for _ in range(5):
            p = Process(target=worker, args=(ns,))
            processes.append(p)
            p.start()

        for p in processes:
            p.join()

        print(f"x = {ns.x}")
        print(f"items = {list(ns.items)}")
"""),
]


def _unordered(out):
    import ast
    vals = [ast.literal_eval(line) for line in out.splitlines()]
    return [sorted(v.items()) if isinstance(v, dict) else sorted(v) for v in vals]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name,how,text", MANAGER_PROGRAMS,
                         ids=[p[0] for p in MANAGER_PROGRAMS])
def test_manager_seed_prints_what_multiprocessing_prints(run_files, name, how, text, method):
    needs_guard(method, text)
    theirs, ours = run_files([under(method, text), under(method, as_shmrt(text))])
    assert theirs.strip(), "the program printed nothing"
    if how == "exact":
        assert ours == theirs
    elif how == "unordered":
        assert _unordered(ours) == _unordered(theirs)
    else:
        pat = re.compile(r"x = (\d)\nitems = \[(\d(?:, \d)*)\]\n")
        for out in (ours, theirs):
            m = pat.fullmatch(out)
            assert m and 1 <= int(m.group(1)) <= 5, out
            items = [int(i) for i in m.group(2).split(", ")]
            # each worker appends what it reads after its write: a lost update may
            # leave x below an item, so only the shape is certain
            assert len(items) == 5 and all(1 <= i <= 5 for i in items), out
