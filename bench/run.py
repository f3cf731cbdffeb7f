#!/usr/bin/env python3
"""Runs shmrt's benchmarks beside their peers and summarises them.

Every benchmark is registered as "<case>/<impl>" (impl = "shmrt" or a peer) with a
label "unit=...,better=lower|higher". This script runs them all in ONE process run
(so shmrt and its peers see the same machine state), with repetitions in a random
interleaved order, takes the medians, and writes build/bench/summary.json: a list of

  {"case": ..., "unit": "ns/op" | "ops/s" | ..., "better": "lower" | "higher",
   "shmrt": <median>, "peers": {"<peer>": <median>, ...},
   "ratios": {"<peer>": <shmrt better by, or null>, ...},
   "targets": {"<peer>": <minimum ratio asked>, ...}}

Cases (and implementations of a case) measured in an earlier run and not selected
by --filter are kept, so that `make bench BENCH=...` updates only what it ran. The table shows, for each peer,
how many times better shmrt is (>1: shmrt better), and the targets of the issues.
Ratios and targets are recomputed for every case each time the file is written.
Last, bench/report.py draws them beside it: report.html, report.svg, report.png.
"""
import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys

# (case, peer) -> minimum ratio (shmrt better by at least this factor; <1 allows
# shmrt to be slower, e.g. 0.5 = "at most 2x the peer's cost").
TARGETS = {
    ("alloc/pair/64B/1proc", "glibc_malloc"): 0.5,
    ("alloc/pair/64B/1proc", "boost_interprocess"): 3.0,
    ("alloc/pair/64B/2proc", "shmrt_1proc"): 1.6,
    ("value/fetch_add/1proc", "raw_atomic"): 0.8,
    ("counter/add/2proc", "raw_atomic_contended"): 3.0,
    ("value/locked_add/2proc", "pthread_robust_mutex"): 0.8,
    ("value/locked_add/2proc", "python_mp"): 20.0,
    ("array/snapshot/8MiB", "memcpy"): 0.8,
    ("queue/1p1c/64B", "ck_ring_raw"): 0.6,
    ("queue/1p1c/64B", "boost_message_queue"): 1.0,
    ("queue/1p1c/64B", "python_mp"): 10.0,
    ("queue/1p1c/64B", "pipe"): 1.0,
    ("queue/1p1c/64B", "unix_socket"): 1.0,
    ("queue/1p1c/64B", "posix_mq"): 1.0,
    ("queue/1p1c/64B/burst32", "boost_message_queue_1p1c"): 3.0,
    ("queue/1p1c/64B/burst32", "shmrt_1p1c"): 2.0,
    ("queue/4p4c/64B", "boost_message_queue"): 1.0,
    ("queue/4p4c/64B", "shmrt_1p1c"): 0.5,
    ("queue/pingpong/64B", "spin_pingpong_raw"): 1 / 3,
    ("queue/pingpong/64B", "iceoryx"): 1.0,
    ("pipe/1p1c/64B", "ck_ring_spsc_raw"): 0.4,
    ("dict/mixed90/2proc", "boost_interprocess"): 10.0,
    ("dict/mixed90/2proc", "redis_pipelined32"): 2.0,
    ("dict/mixed90/2proc", "python_mp"): 100.0,
    ("dict/get/2proc", "shmrt_1proc"): 1.7,
    ("manager/get/1client/unix", "python_mp"): 3.0,
    ("manager/get/1client/unix", "redis"): 3.0,
    ("manager/get/1client/tcp", "python_mp"): 2.0,
    ("manager/get/pipelined32", "redis_pipelined32"): 1.5,
    ("manager/mixed90/4clients", "python_mp"): 10.0,
    # Cluster (bench/cluster_bench.c, mpiexec -n 4, two pretend nodes on one machine:
    # shmrt's overhead over the same MPI path, not a network).
    ("cluster/value/fetch_add/remote", "mpi_fetch_and_op"): 1 / 1.2,
    ("cluster/value/fetch_add/local", "mpi_fetch_and_op"): 10.0,
    ("cluster/array/read/1MiB/remote", "mpi_get"): 0.8,
    ("cluster/queue/64B/remote", "bcl_rma"): 1.0,
    ("cluster/queue/64B/remote/burst64", "shmrt_single"): 5.0,
    ("cluster/dict/get/remote", "redis_cluster"): 2.0,
    ("manager/mixed90/4clients", "redis"): 1.0,
    ("manager/list_create", "python_mp"): 20.0,
    ("manager/get/1client/shm", "python_mp"): 30.0,
    ("manager/get/1client/shm", "shmrt_socket"): 10.0,
    ("manager/mixed90/4clients/shm", "shmrt_socket"): 2.0,
    # Remote region objects (issue 16), over loopback TCP.
    ("remote/value/fetch_add/tcp", "redis"): 1.0,
    ("remote/queue/1p1c/64B/tcp", "redis_pipelined32"): 1.0,
    # The Python package (issue 15): both implementations in Python, one interpreter.
    ("py/value/add/2proc", "python_mp"): 20.0,
    ("py/array/getitem", "python_mp"): 10.0,
    ("py/array/numpy_sum/8MiB", "python_mp"): 0.95,
    ("py/queue/1p1c/tuple", "python_mp"): 3.0,
    ("py/queue/1p1c/bytes64", "python_mp"): 10.0,
    ("py/queue/1p1c/ndarray4MiB", "python_mp"): 5.0,
    ("py/pipe/pingpong", "python_mp"): 5.0,
    ("py/manager/dict_get", "python_mp"): 3.0,
}

# Derived references: (case, name) -> (source case, conversion) computed from shmrt's
# own figure in the same run, so that scaling targets can be read off the table.
DERIVED = {
    ("alloc/pair/64B/2proc", "shmrt_1proc"): ("alloc/pair/64B/1proc", "ns_to_ops"),
    ("queue/1p1c/64B/burst32", "shmrt_1p1c"): ("queue/1p1c/64B", "same"),
    ("queue/1p1c/64B/burst32", "boost_message_queue_1p1c"):
        ("queue/1p1c/64B", "peer:boost_message_queue"),
    ("queue/4p4c/64B", "shmrt_1p1c"): ("queue/1p1c/64B", "same"),
    ("dict/get/2proc", "shmrt_1proc"): ("dict/get/1proc", "same"),
    ("manager/get/1client/shm", "shmrt_socket"): ("manager/get/1client/socket", "same"),
    ("manager/get/1client/shm", "python_mp"): ("manager/get/1client/unix", "peer:python_mp"),
    ("manager/mixed90/4clients/shm", "shmrt_socket"): ("manager/mixed90/4clients/socket", "same"),
    # One Redis Cluster measurement (a GET costs a loopback round trip wherever the
    # key lives), shown beside both Dict cases.
    ("cluster/dict/get/local", "redis_cluster"):
        ("cluster/dict/get/remote", "peer:redis_cluster"),
}


def parse_label(label):
    out = {}
    for part in (label or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def split_name(run_name):
    """'alloc/pair/64B/2proc/shmrt/20000000/iterations:1/manual_time' -> (case, impl)."""
    parts = [p for p in run_name.split("/")
             if not re.fullmatch(r"\d+|iterations:\d+|manual_time|real_time|repeats:\d+", p)]
    return "/".join(parts[:-1]), parts[-1]


def run(binary, flt, reps, raw):
    # Random interleaving: the repetitions of all selected benchmarks run in a random
    # order, so a case and its peers sample the same phases of a noisy machine (here
    # the two vCPUs move between sibling hyperthreads and separate cores, and a bare
    # ring's rate changes several times over with it) instead of each taking its own
    # few seconds of it.
    cmd = [binary, f"--benchmark_repetitions={reps}",
           "--benchmark_enable_random_interleaving=true",
           "--benchmark_report_aggregates_only=true",
           f"--benchmark_out={raw}", "--benchmark_out_format=json"]
    if flt:
        cmd.append(f"--benchmark_filter={flt}")
    print("running:", " ".join(cmd), flush=True)
    # The console report streams to the terminal as each benchmark finishes.
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        sys.exit(f"benchmark binary failed with status {proc.returncode}")


# Open MPI's settings for one machine (ignored by other MPIs), as the cluster tests
# use them (tests/cluster/CMakeLists.txt).
CLUSTER_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_btl": "self,vader",
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none", "OMPI_MCA_osc": "sm,pt2pt",
    "OMPI_MCA_mpi_yield_when_idle": "1",
}


def run_cluster(build, flt, reps, raw):
    """The cluster cases: cluster_bench under mpiexec (4 ranks), writing Google
    Benchmark's JSON shape to raw. False if it was not built (no MPI)."""
    exe = os.path.join(build, "bench", "cluster_bench")
    if not os.path.exists(exe):
        print("no cluster_bench (MPI not found when configuring): no cluster/ cases")
        return False
    if os.path.exists(raw):
        os.remove(raw)
    cmd = ["mpiexec", "-n", "4", exe, f"--reps={reps}", f"--out={raw}"]
    if flt:
        cmd.append(f"--filter={flt}")
    print("running:", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, env=dict(os.environ, **CLUSTER_ENV), timeout=900)
    if proc.returncode != 0:
        sys.exit(f"cluster_bench failed with status {proc.returncode}")
    return True


def collect(raw):
    """The medians of the run (None if it ran nothing: no case matched the filter,
    e.g. py/ when the Python package was not built, which the benchmark says)."""
    try:
        with open(raw) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    cases = {}
    for b in data.get("benchmarks", []):
        if b.get("aggregate_name") != "median" or b.get("error_occurred"):
            continue
        case, impl = split_name(b["run_name"])
        meta = parse_label(b.get("label"))
        unit = meta.get("unit", "ns/op")
        if "value" in b:
            value = float(b["value"])
        else:
            scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
            value = float(b["real_time"]) * scale
            if unit == "us":
                value /= 1e3
        c = cases.setdefault(case, {"case": case, "unit": unit,
                                    "better": meta.get("better", "lower"),
                                    "shmrt": None, "peers": {}})
        if impl == "shmrt":
            c["shmrt"] = value
        else:
            c["peers"][impl] = value
    for (case, name), (src, conv) in DERIVED.items():
        if case in cases and src in cases and cases[src]["shmrt"]:
            v = cases[src]["shmrt"]
            if conv.startswith("peer:"):
                v = cases[src]["peers"].get(conv[5:])
                if v is None:
                    continue
            cases[case]["peers"][name] = 1e9 / v if conv == "ns_to_ops" else v
    return cases


def ratio(c, peer_value):
    s = c["shmrt"]
    if not s or not peer_value:
        return None
    return peer_value / s if c["better"] == "lower" else s / peer_value


def fmt(v):
    if v is None:
        return "-"
    for lim, div, suf in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(v) >= lim:
            return f"{v / div:.2f}{suf}"
    return f"{v:.3g}"


def table(cases):
    rows = [("case", "unit", "shmrt", "peer", "peer value", "shmrt better by", "target")]
    misses = 0
    for c in cases:
        first = True
        peers = sorted(c["peers"].items()) or [("-", None)]
        for peer, pv in peers:
            r = ratio(c, pv)
            t = TARGETS.get((c["case"], peer))
            verdict = ""
            if t is not None and r is not None:
                ok = r >= t
                misses += not ok
                verdict = f">= {t:g}x {'ok' if ok else 'MISSED'}"
            rows.append((c["case"] if first else "", c["unit"] if first else "",
                         fmt(c["shmrt"]) if first else "", peer, fmt(pv),
                         f"{r:.2f}x" if r is not None else "-", verdict))
            first = False
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return misses


def report_python():
    """The report needs matplotlib: this interpreter if it has it, else Debian's, where
    python3-matplotlib installs it (a python3 earlier on PATH may lack it)."""
    if importlib.util.find_spec("matplotlib") or not os.path.exists("/usr/bin/python3"):
        return sys.executable
    return "/usr/bin/python3"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--out", default="build/bench/summary.json")
    ap.add_argument("--filter", default="")
    ap.add_argument("--repetitions", type=int, default=5)
    args = ap.parse_args()

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    raw = os.path.join(os.path.dirname(args.out), "raw.json")
    run(os.path.join(args.build, "bench", "shmrt_bench"), args.filter, args.repetitions, raw)
    fresh = collect(raw)
    raw_cluster = os.path.join(os.path.dirname(args.out), "raw_cluster.json")
    if run_cluster(args.build, args.filter, args.repetitions, raw_cluster):
        more = collect(raw_cluster)
        if more:
            fresh = dict(fresh or {}, **more)
    if fresh is None:
        print(f"no benchmark ran{' (filter ' + repr(args.filter) + ')' if args.filter else ''}; "
              f"{args.out} is unchanged")
        return

    merged = {}
    if os.path.exists(args.out):
        try:
            with open(args.out) as f:
                for c in json.load(f):
                    merged[c["case"]] = c
        except (OSError, ValueError, KeyError, TypeError):
            merged = {}
    # Merge per implementation: a filtered run updates only what it measured.
    for case, c in fresh.items():
        old = merged.get(case)
        if not old:
            merged[case] = c
            continue
        if c["shmrt"] is not None:
            old["shmrt"] = c["shmrt"]
        old.setdefault("peers", {}).update(c["peers"])
        old["unit"], old["better"] = c["unit"], c["better"]
    for c in merged.values():
        c["ratios"] = {p: ratio(c, v) for p, v in sorted(c.get("peers", {}).items())}
        c["targets"] = {p: t for (case, p), t in sorted(TARGETS.items()) if case == c["case"]}
    out = [merged[k] for k in sorted(merged)]
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")

    print()
    print(f"medians of {args.repetitions} repetitions (15 for the short pipe and ping-pong cases); "
          "ratios > 1 mean shmrt is better")
    misses = table([fresh[k] for k in sorted(fresh)])
    print(f"\nwrote {args.out}")
    if misses:
        print(f"{misses} target(s) missed in this run (the machine is shared: rerun to confirm)")

    # After the table and summary.json, so that a missing matplotlib costs only the picture.
    report = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.py")
    if subprocess.run([report_python(), report, args.out]).returncode != 0:
        sys.exit(f"no report drawn (see above); the table is printed and {args.out} written")


if __name__ == "__main__":
    main()
