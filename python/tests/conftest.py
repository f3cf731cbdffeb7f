"""What the shmrt package's tests share.

The tests run with the interpreter that runs pytest (CTest gives it: /usr/bin/python3
unless `make test PYTHON=...`), and their subprocesses with the same one, so that
multiprocessing and shmrt are compared under one interpreter.
"""
import os
import subprocess
import sys

import pytest


def run_program(text, timeout=60):
    """Runs a Python program's text in a fresh interpreter; returns its stdout."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Block-buffered output, as a program's into a pipe: each process writes its lines
    # at once (no line cut by another process's, which unbuffered output allows).
    env.pop("PYTHONUNBUFFERED", None)
    r = subprocess.run([sys.executable, "-c", text], capture_output=True, text=True,
                       timeout=timeout, env=env)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout


@pytest.fixture
def run():
    return run_program


def run_programs(texts, tmp_path, timeout=60):
    """Runs several programs at once, each from a file in tmp_path (spawn and
    forkserver need a main module they can import again); their stdouts. (The seeds
    mostly wait: side by side they take the time of the slowest.)"""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONUNBUFFERED", None)
    procs = []
    try:
        for i, text in enumerate(texts):
            path = tmp_path / f"prog{i}.py"
            path.write_text(text)
            procs.append(subprocess.Popen([sys.executable, str(path)], env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{out}\nstderr:\n{err}"
            outs.append(out)
        return outs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
                p.stdout.close()
                p.stderr.close()


@pytest.fixture
def run_files(tmp_path):
    """run_programs in the test's temporary directory."""
    return lambda texts, timeout=60: run_programs(texts, tmp_path, timeout)
