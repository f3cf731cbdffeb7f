#!/usr/bin/env bash
# Installs the Debian 12 packages shmrt needs to build, test and benchmark.
# Usage: tools/install-deps.sh [build|test|bench]   (default: test)
#   build  compiler, CMake, pkg-config and the libraries the build links
#          (make build, make install)
#   test   build + cmocka, clang (for make fuzz), python3 with its headers, numpy,
#          setuptools and venv (pip install ./python is tested),
#          pytest and pytest-timeout (the Python package's tests), Open MPI (the
#          cluster library and its mpirun tests) (make test, stress, fuzz)
#   bench  build + the peers benchmarked against, python3 for bench/run.py, and its
#          headers and numpy for the Python package's py/ cases, Open MPI for the
#          cluster/ cases (make bench; the
#          benchmarks build without the tests)
# Each mode is the build packages plus its own. Installs only what is missing. Needs
# root (apt-get); without root it prints the exact command to run and exits 1.
set -euo pipefail
what=${1:-test}

pkgs_build="build-essential cmake pkg-config libck-dev liburcu-dev libhwloc-dev hwloc libssl-dev"
pkgs_test="libcmocka-dev clang python3 python3-dev python3-numpy python3-pytest python3-pytest-timeout python3-setuptools python3-venv libopenmpi-dev openmpi-bin"
pkgs_bench="libbenchmark-dev libboost-dev libhiredis-dev redis-server iceoryx libiceoryx-binding-c-dev python3 python3-matplotlib python3-dev python3-numpy libopenmpi-dev openmpi-bin"

case "$what" in
  build) want="$pkgs_build" ;;
  test)  want="$pkgs_build $pkgs_test" ;;
  bench) want="$pkgs_build $pkgs_bench" ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "shmrt: missing packages:$missing (and no apt-get: install them with your package manager)" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "shmrt: missing Debian packages:$missing" >&2
  echo "shmrt: run as root:  apt-get update && apt-get install -y$missing" >&2
  exit 1
fi
echo "shmrt: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends $missing >/dev/null
