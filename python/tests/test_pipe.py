"""shmrt.Pipe: every Connection method, one-way pipes, large messages (chunked),
EOFError when the peer closed or its process was killed, passing to children under
every start method."""
import multiprocessing as mp
import os
import signal
import time

import pytest

import shmrt
from multiprocessing import BufferTooShort


def test_every_method():
    a, b = shmrt.Pipe()
    assert a.readable and a.writable and not a.closed
    assert not b.poll() and not b.poll(0.05)
    a.send({"x": [1, 2]})
    assert b.poll() and b.poll(None)
    assert b.recv() == {"x": [1, 2]}
    b.send_bytes(b"0123456789", 2, 3)
    assert a.recv_bytes() == b"234"
    b.send_bytes(bytearray(b"abc"))
    buf = bytearray(8)
    assert a.recv_bytes_into(buf, 2) == 3 and buf[2:5] == b"abc"
    b.send_bytes(b"toolong!!")
    with pytest.raises(BufferTooShort):
        a.recv_bytes_into(bytearray(4))
    a.send_bytes(b"x" * 100)
    with pytest.raises(OSError, match="bad message length"):
        b.recv_bytes(10)
    with pytest.raises(ValueError):
        a.send_bytes(b"ab", 3)
    with pytest.raises(ValueError):
        a.recv_bytes(-1)
    a.close()
    assert a.closed
    with pytest.raises(OSError):
        a.send(1)


def test_one_way():
    r, w = shmrt.Pipe(duplex=False)
    assert r.readable and not r.writable and w.writable and not w.readable
    w.send(5)
    assert r.recv() == 5
    with pytest.raises(OSError):
        r.send(1)
    with pytest.raises(OSError):
        w.recv()


def test_large_messages_are_chunked():
    a, b = shmrt.Pipe()
    big = os.urandom(10 << 20)
    import threading
    t = threading.Thread(target=lambda: (a.send_bytes(big), a.send([big, 1])))
    t.start()
    assert b.recv_bytes() == big
    assert b.recv() == [big, 1]
    t.join(30)


def test_eof_after_the_peer_closed():
    a, b = shmrt.Pipe()
    a.send("last")
    a.close()
    assert b.recv() == "last"
    assert b.poll()
    with pytest.raises(EOFError):
        b.recv()
    with pytest.raises(BrokenPipeError):
        b.send(1)


def _sleep_with(conn):
    conn.send("up")
    time.sleep(60)


def test_eof_when_the_peer_process_is_killed():
    a, b = shmrt.Pipe()
    p = mp.get_context("fork").Process(target=_sleep_with, args=(b,))
    p.start()
    b.close()                       # the parent's copy of the child's end
    assert a.recv() == "up"
    os.kill(p.pid, signal.SIGKILL)
    p.join(10)
    with pytest.raises(EOFError):
        a.recv()


def _echo(conn):
    for _ in range(3):
        conn.send(("echo", conn.recv()))


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pass_to_children(method):
    a, b = shmrt.Pipe()
    p = mp.get_context(method).Process(target=_echo, args=(b,))
    p.start()
    for i in range(3):
        a.send(i)
        assert a.poll(30)
        assert a.recv() == ("echo", i)
    p.join(30)
    assert p.exitcode == 0


def _echo_until_eof(conn):
    try:
        while True:
            conn.send(("echo", conn.recv()))
    except EOFError:
        pass                        # exit code 0: the end was seen


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_spawned_child_holds_the_end(method):
    """Under spawn and forkserver the child adopts its end with the kernel
    descriptors: the parent closes its copy at once, as under fork, and the pipe
    lives on; the child sees the parent's close of the other end as EOFError; the
    parent sees the child's death (kill -9) as EOFError."""
    a, b = shmrt.Pipe()
    p = mp.get_context(method).Process(target=_echo_until_eof, args=(b,))
    p.start()
    b.close()                       # the parent's copy of the child's end
    for i in range(3):
        a.send(i)
        assert a.poll(30)
        assert a.recv() == ("echo", i)
    # A one-way pipe to a second child, killed while the parent waits.
    r, w = shmrt.Pipe(duplex=False)
    q = mp.get_context(method).Process(target=_sender_then_sleep, args=(w,))
    q.start()
    w.close()
    assert r.poll(30) and r.recv() == "up"
    os.kill(q.pid, signal.SIGKILL)
    q.join(10)
    t0 = time.monotonic()
    with pytest.raises(EOFError):
        r.recv()
    assert time.monotonic() - t0 < 5
    # Closing our end ends the first child's loop.
    c, d = shmrt.Pipe()            # (another pair in the same region, untouched)
    a.close()
    p.join(30)
    assert p.exitcode == 0
    c.close()
    d.close()


def _sender_then_sleep(conn):
    conn.send("up")
    time.sleep(60)


def test_not_through_pickle_outside_spawning():
    import pickle
    with pytest.raises(RuntimeError):
        pickle.dumps(shmrt.Pipe()[0])


def test_fast_methods_keep_the_checks():
    """send, recv and recv_bytes are C methods bound on each Connection; they check
    what the Python methods checked."""
    r, w = shmrt.Pipe(duplex=False)
    assert type(w.send).__name__ == "builtin_function_or_method"
    with pytest.raises(OSError, match="read-only"):
        r.send(1)
    with pytest.raises(OSError, match="write-only"):
        w.recv()
    with pytest.raises(OSError, match="write-only"):
        w.recv_bytes()
    w.send_bytes(b"abc")
    with pytest.raises(ValueError, match="negative"):
        r.recv_bytes(-1)
    assert r.recv_bytes(maxlength=3) == b"abc"
    with pytest.raises(TypeError):
        r.recv_bytes(1, 2)

    class Mine(shmrt.connection.Connection):
        def send(self, obj):
            super().send(("mine", obj))
    a, b = shmrt.Pipe()
    m = Mine(a._c)
    m.send(1)
    assert b.recv() == ("mine", 1)
    w.close()
    with pytest.raises(OSError, match="closed"):
        w.send(1)
    with pytest.raises(EOFError):
        r.recv()


def test_sigint_ends_a_blocked_recv():
    import subprocess
    import sys
    import textwrap
    prog = textwrap.dedent("""
        import shmrt, time
        a, b = shmrt.Pipe()
        print("ready", flush=True)
        try:
            a.recv()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", prog], stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ))
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=10)
        assert out.strip() == "interrupted" and p.returncode == 0
    finally:
        p.kill()
        p.wait()
