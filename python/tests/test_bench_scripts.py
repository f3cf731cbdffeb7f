"""The py/ benchmark scripts (bench/python/py_*.py) run and check their own results.

Each case of `make bench` runs one of these scripts with many operations; here each
runs with a few, both implementations, so that a change of the package that breaks a
script (or its result checks: the Value's total, the last message, the sums) shows in
`make test` rather than as a skipped case in a benchmark run. No speed is asserted.
"""
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "python")

CASES = [
    ("py_value.py", "add", 2000),
    ("py_value.py", "getitem", 8192),
    ("py_value.py", "numpy_sum", 3),
    ("py_queue.py", "tuple", 300),
    ("py_queue.py", "bytes64", 300),
    ("py_queue.py", "ndarray4MiB", 3),
    ("py_queue.py", "pingpong", 200),
    ("py_manager.py", "dict_get", 200),
]


@pytest.mark.parametrize("impl", ["shmrt", "python_mp"])
@pytest.mark.parametrize("script,sub,ops", CASES)
def test_bench_script(script, sub, ops, impl):
    r = subprocess.run([sys.executable, os.path.join(BENCH, script), sub, impl, str(ops)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    figure = float(r.stdout.strip().splitlines()[-1])
    assert figure > 0


def test_bench_script_usage():
    r = subprocess.run([sys.executable, os.path.join(BENCH, "py_value.py"), "nosuch",
                        "shmrt", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "usage" in r.stderr
