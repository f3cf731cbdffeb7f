#!/usr/bin/env bash
# A rank killed ends the job (Open MPI 4.1 is fail-stop), and a new job re-attaches the
# node regions and finds every acknowledged add (cluster_restart_test.c).
# Usage: cluster_restart_test.sh MPIEXEC NP_FLAG TEST_EXE
set -uo pipefail
mpiexec=$1 npflag=$2 exe=$3
name="shmrt-cl-restart-$$"
cleanup() { rm -f /dev/shm/"$name".node0 /dev/shm/"$name".node1; }
trap cleanup EXIT

# mpiexec's status is the dead rank's (137 for SIGKILL), so a timeout is told apart
# by the clock, not by timeout's status.
start=$SECONDS
timeout -k 5 20 "$mpiexec" "$npflag" 4 "$exe" kill "$name"
rc=$?
if [ $((SECONDS - start)) -ge 20 ]; then
  echo "FAIL: the job did not end after a rank was killed (timeout)"; exit 1
fi
if [ "$rc" = 0 ]; then
  echo "FAIL: the job with a killed rank exited 0"; exit 1
fi
echo "the job ended (status $rc) after rank 3 was killed"
for k in 0 1; do
  [ -e /dev/shm/"$name".node$k ] || { echo "FAIL: node region $k is gone"; exit 1; }
done
timeout -k 5 20 "$mpiexec" "$npflag" 4 "$exe" check "$name" || { echo "FAIL: check phase"; exit 1; }
for k in 0 1; do
  [ ! -e /dev/shm/"$name".node$k ] || { echo "FAIL: node region $k left behind"; exit 1; }
done
echo "1 passed, 0 failed"
