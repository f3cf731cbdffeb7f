# shmrt: top-level entry points (a thin wrapper over CMake + CTest).
#
#   make test                         install missing Debian packages, build, run the suite
#   make test SANITIZE=address,undefined
#   make test SANITIZE=thread         the same suite under ASan+UBSan / TSan
#   make test PYTHON=/path/to/python3 the Python package's tests with that interpreter
#                                     (default /usr/bin/python3: Debian's, with numpy)
#   make bench [BENCH=regex]          Release build, benchmarks beside their peers, table
#                                     + build/bench/summary.json, drawn in build/bench/report.html
#                                     (the py/ cases: the Python package under PYTHON)
#   make stress                       the crash and multi-process tests (labels crash, mp)
#                                     with many more kills
#   make fuzz                         libFuzzer targets: region open, the manager's wire,
#                                     value decoder, requests and replies (clang; label fuzz)
#   make install PREFIX=/usr/local    library, headers, shmrt tool, CMake and pkg-config files
#                                     (build packages only; the tool runs at any PREFIX)
#   make clean
#
# Every test has a CTest label: unit, mp (several processes), crash (kill -9), fuzz,
# install, example, cluster (mpirun -np 4; skipped without MPI) (see tests/CMakeLists.txt). After `make test`, select by label in
# the build directory (-L takes a regular expression matched anywhere in a label, so
# anchor it: "mp" alone also matches "example"):
#   cd build/test && ctest -L unit                  the single-process tests
#   cd build/test && ctest -L '^(crash|mp)$'        what `make stress` runs
#   cd build/test && ctest -LE '^(crash|install)$'  all but those

PREFIX ?= /usr/local
SANITIZE ?=
BENCH ?=
JOBS ?= 2
CMAKE ?= cmake
PYTHON ?= /usr/bin/python3
comma := ,
TEST_DIR := build/test$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))
REL_DIR := build/release
FUZZ_DIR := build/fuzz

.PHONY: all build test bench stress fuzz install clean deps deps-build

all: build

# What each target needs, no more (tools/install-deps.sh): building and installing the
# library needs no test packages.
deps:
	@tools/install-deps.sh test

deps-build:
	@tools/install-deps.sh build

build: deps-build
	$(CMAKE) -S . -B $(REL_DIR) -DCMAKE_BUILD_TYPE=Release -DSHMRT_BUILD_TESTS=OFF >/dev/null
	$(CMAKE) --build $(REL_DIR) -j$(JOBS)

test: deps
	$(CMAKE) -S . -B $(TEST_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHMRT_BUILD_TESTS=ON \
	  -DSHMRT_SANITIZE=$(SANITIZE) -DSHMRT_PYTHON=$(PYTHON) >/dev/null
	$(CMAKE) --build $(TEST_DIR) -j$(JOBS)
	cd $(TEST_DIR) && ctest --output-on-failure -j$(JOBS)

stress: deps
	$(CMAKE) -S . -B $(TEST_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHMRT_BUILD_TESTS=ON \
	  -DSHMRT_SANITIZE=$(SANITIZE) >/dev/null
	$(CMAKE) --build $(TEST_DIR) -j$(JOBS)
	cd $(TEST_DIR) && SHMRT_KILLS=400 ctest --output-on-failure -L '^(crash|mp)$$' --timeout 600

fuzz: deps
	CC=clang CXX=clang++ $(CMAKE) -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSHMRT_BUILD_TESTS=ON -DSHMRT_BUILD_FUZZ=ON -DSHMRT_SANITIZE=address,undefined >/dev/null
	$(CMAKE) --build $(FUZZ_DIR) -j$(JOBS) --target region_open_fuzz wire_fuzz \
	  mvalue_decode_fuzz manager_frames_fuzz manager_reply_fuzz
	cd $(FUZZ_DIR) && ctest --output-on-failure -L '^fuzz$$'

bench:
	@tools/install-deps.sh bench
	$(CMAKE) -S . -B $(REL_DIR) -DCMAKE_BUILD_TYPE=Release -DSHMRT_BUILD_TESTS=OFF \
	  -DSHMRT_BUILD_BENCH=ON -DSHMRT_PYTHON=$(PYTHON) >/dev/null
	$(CMAKE) --build $(REL_DIR) -j$(JOBS)
	python3 bench/run.py --build $(REL_DIR) --out build/bench/summary.json $(if $(BENCH),--filter '$(BENCH)')

install: build
	$(CMAKE) --install $(REL_DIR) --prefix $(PREFIX)

clean:
	rm -rf build
