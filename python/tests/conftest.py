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
