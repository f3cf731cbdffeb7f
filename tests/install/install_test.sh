#!/usr/bin/env bash
# Installs the build into a temporary prefix, builds a consumer with pkg-config (and one
# of the Manager library with its own pkg-config file) and one with CMake
# find_package(shmrt), and checks that two unrelated executables attach
# to one region by name while the installed `shmrt` tool shows both processes. The
# tool runs without LD_LIBRARY_PATH: its RPATH, relative to $ORIGIN, finds the library
# at this prefix and at any other the installed tree is moved to.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
name="shmrt-install-test-$$"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -f "/dev/shm/$name"; rm -rf "$tmp"; }
trap cleanup EXIT
unset LD_LIBRARY_PATH

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
tool="$tmp/prefix/bin/shmrt"
rpath=$(readelf -d "$tool" | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p')
case "$rpath" in
  '$ORIGIN/'*) ;;
  *) echo "FAIL: installed shmrt has RPATH '$rpath', not relative to \$ORIGIN"; exit 1 ;;
esac
"$tool" --version || { echo "FAIL: installed shmrt does not start"; exit 1; }
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig:$tmp/prefix/lib/x86_64-linux-gnu/pkgconfig"
libdir=$(pkg-config --variable=libdir shmrt)
cc -Wall -Wextra -Werror -o "$tmp/consumer_pc" "$src/tests/install/consumer/consumer.c" \
   $(pkg-config --cflags --libs shmrt) -Wl,-rpath,"$libdir"
# The Manager's library, through its own pkg-config file.
cc -Wall -Wextra -Werror -o "$tmp/mvalue_pc" "$src/tests/install/consumer/mvalue_consumer.c" \
   $(pkg-config --cflags --libs shmrt-manager) -Wl,-rpath,"$libdir"
out=$("$tmp/mvalue_pc")
[ "$out" = "{1: '1', '2': 2}" ] || { echo "FAIL: the manager consumer printed: $out"; exit 1; }
cmake -S "$src/tests/install/consumer" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
   -DCMAKE_BUILD_RPATH="$libdir" >/dev/null
cmake --build "$tmp/cm" >/dev/null

"$tmp/consumer_pc" create "$name"
"$tmp/consumer_pc" attach "$name" & pids+=($!)
"$tmp/cm/consumer_cmake" attach "$name" & pids+=($!)
for i in $(seq 1 500); do
  n=$("$tool" info --json "$name" | grep -o '"state":"alive"' | wc -l || true)
  [ "$n" -ge 2 ] && break
  sleep 0.01
done
# Not `ls | grep -q`: grep stops at the first match, and with pipefail the SIGPIPE
# of a long listing (other regions in /dev/shm) would fail the test.
listing=$("$tool" ls)
grep -q "$name" <<<"$listing" || { echo "FAIL: shmrt ls does not list $name"; exit 1; }
info=$("$tool" info "$name")
for p in "${pids[@]}"; do
  echo "$info" | grep -q "pid $p .*alive" || { echo "FAIL: shmrt info lacks pid $p"; echo "$info"; exit 1; }
done
echo "$info"
# Release both attachers (word 1 of the object) through a third attach: a consumer run.
off=$("$tool" info --json "$name" | sed -n 's/.*"name":"state","type":"bytes","type_id":1,"offset":\([0-9]*\).*/\1/p')
printf '\x01' | dd of="/dev/shm/$name" bs=1 seek=$((off + 8)) conv=notrunc status=none
for p in "${pids[@]}"; do wait "$p"; done
pids=()
"$tool" rm "$name"
# The installed tree, moved elsewhere, still runs its tool.
cp -a "$tmp/prefix" "$tmp/moved"
"$tmp/moved/bin/shmrt" ls >/dev/null || { echo "FAIL: moved shmrt does not start"; exit 1; }
echo "1 passed, 0 failed"
