"""What the shmrt package's tests share.

The tests run with the interpreter that runs pytest (CTest gives it: /usr/bin/python3
unless `make test PYTHON=...`), and their subprocesses with the same one, so that
multiprocessing and shmrt are compared under one interpreter.
"""
import os
import subprocess
import sys

import pytest


def run_program(text, timeout=60, path=None):
    """Runs a Python program's text in a fresh interpreter (from the file path if
    given: spawn and forkserver need a main module they can import again); returns
    its stdout."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Block-buffered output, as a program's into a pipe: each process writes its lines
    # at once (no line cut by another process's, which unbuffered output allows).
    env.pop("PYTHONUNBUFFERED", None)
    if path is not None:
        with open(path, "w") as f:
            f.write(text)
        argv = [sys.executable, str(path)]
    else:
        argv = [sys.executable, "-c", text]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout


@pytest.fixture
def run():
    return run_program


@pytest.fixture
def run_file(tmp_path):
    """run_program from a file in the test's temporary directory."""
    n = [0]

    def run(text, timeout=60):
        n[0] += 1
        return run_program(text, timeout, path=tmp_path / f"prog{n[0]}.py")
    return run
