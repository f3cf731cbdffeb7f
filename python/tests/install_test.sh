#!/usr/bin/env bash
# pip install ./python against an installed libshmrt, found by pkg-config: installs
# the build tree into a temporary prefix, builds the package into a temporary
# virtual environment (with the system's site packages: setuptools, numpy; nothing
# is downloaded), and uses it from outside the source tree.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR PYTHON. Exit 77 (skipped) without venv.
set -euo pipefail
build=$1 src=$2 py=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$py" -m venv --system-site-packages "$tmp/venv" >/dev/null 2>&1; then
  echo "skipped: $py -m venv does not work (Debian: python3-venv)"
  exit 77
fi
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cp -r "$src/python" "$tmp/src"
rm -rf "$tmp/src/build" "$tmp/src"/*.egg-info
PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" "$tmp/venv/bin/pip" install -q \
  --no-build-isolation --no-index "$tmp/src"
cd "$tmp"
"$tmp/venv/bin/python" - <<'PY'
import numpy as np
import shmrt
assert shmrt.__file__.startswith(__import__("sys").prefix), shmrt.__file__
v = shmrt.Value("i", 1)
assert v.add(2) == 1 and v.value == 3
a = shmrt.Array("d", 8)
assert np.shares_memory(np.asarray(a), np.frombuffer(a))
# The type information ships with it (PEP 561): py.typed and every module's stub.
import os
pkg = os.path.dirname(shmrt.__file__)
for f in ("py.typed", "__init__.pyi", "queues.pyi", "connection.pyi",
          "shared_memory.pyi", "managers.pyi"):
    assert os.path.exists(os.path.join(pkg, f)), f"{f} is not installed"
print("pip-installed shmrt works:", v)
PY
