#!/usr/bin/python3
"""bench/report.py on a small synthetic summary.json.

Checks that the report is written (report.html, report.svg, report.png), that the SVG
is well-formed XML and the PNG a PNG, that both the picture and the page name every
case and every peer, that the ratios and the counts of targets met, missed and not
measured are the summary's, and that the odd cases are drawn, not dropped: a case
without shmrt's figure, a case without peers, a target whose peer is absent, a summary
written before bench/run.py recorded ratios. An empty summary is an error.

Needs matplotlib; without it the test is skipped (exit status 77) and says so.
Usage: report_test.py REPORT_PY
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SUMMARY = [
    # ns/op, lower is better: ratio = peer / shmrt. Targets: one met, one missed, and
    # one whose peer is not in the summary.
    {"case": "alloc/pair/64B/1proc", "unit": "ns/op", "better": "lower", "shmrt": 10.0,
     "peers": {"glibc_malloc": 5.0, "boost_interprocess": 40.0},
     "ratios": {"glibc_malloc": 0.5, "boost_interprocess": 4.0},
     "targets": {"glibc_malloc": 0.8, "boost_interprocess": 3.0, "absent_peer": 2.0}},
    # ops/s, higher is better, written without ratios and targets (an older summary):
    # the ratio is computed, 300 / 2 = 150x.
    {"case": "queue/1p1c/64B", "unit": "ops/s", "better": "higher", "shmrt": 300.0,
     "peers": {"posix_mq": 2.0}},
    # A filtered first run: a peer measured, shmrt not.
    {"case": "dict/get/1proc", "unit": "ops/s", "better": "higher", "shmrt": None,
     "peers": {"redis": 5.0}, "ratios": {"redis": None}, "targets": {}},
    # No peer at all.
    {"case": "value/fetch_add/1proc", "unit": "ns/op", "better": "lower", "shmrt": 5.0,
     "peers": {}, "ratios": {}, "targets": {}},
]
NAMES = ["alloc/pair/64B/1proc", "queue/1p1c/64B", "dict/get/1proc", "value/fetch_add/1proc",
         "glibc_malloc", "boost_interprocess", "absent_peer", "posix_mq", "redis"]


def fail(msg):
    sys.exit(f"report_test: FAILED: {msg}")


def main():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"report_test: SKIPPED: no matplotlib for {sys.executable} "
              "(Debian: apt-get install python3-matplotlib)")
        sys.exit(77)
    report = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        summary = os.path.join(d, "summary.json")
        with open(summary, "w") as f:
            json.dump(SUMMARY, f)
        out = os.path.join(d, "out")
        proc = subprocess.run([sys.executable, report, summary, "--out-dir", out],
                              capture_output=True, text=True, timeout=100)
        if proc.returncode != 0:
            fail(f"report.py exited {proc.returncode}: {proc.stderr}")

        files = {}
        for name in ("report.html", "report.svg", "report.png"):
            path = os.path.join(out, name)
            if not os.path.isfile(path) or os.path.getsize(path) == 0:
                fail(f"{name} not written")
            with open(path, "rb") as f:
                files[name] = f.read()
        if not files["report.png"].startswith(b"\x89PNG\r\n\x1a\n"):
            fail("report.png is not a PNG")
        try:
            ET.fromstring(files["report.svg"])
        except ET.ParseError as e:
            fail(f"report.svg is not well-formed: {e}")

        svg, page = files["report.svg"].decode(), files["report.html"].decode()
        if "<svg" not in page:
            fail("report.html does not embed the picture")
        for name in NAMES:
            for what, text in (("report.svg", svg), ("report.html", page)):
                if name not in text:
                    fail(f"{what} does not mention {name}")
        for ratio in ("0.50x", "4.00x", "150x"):
            if ratio not in svg:
                fail(f"report.svg lacks the ratio {ratio}")
        if "targets: 1 met, 1 missed, 1 not measured" not in page:
            fail("report.html does not count 1 target met, 1 missed, 1 not measured")
        if "shmrt not measured" not in svg or "peer not measured" not in svg:
            fail("report.svg does not say which figures are missing")

        with open(summary, "w") as f:
            json.dump([], f)
        proc = subprocess.run([sys.executable, report, summary, "--out-dir", out],
                              capture_output=True, text=True, timeout=100)
        if proc.returncode == 0:
            fail("report.py accepted a summary without cases")
    print("report_test: ok")


if __name__ == "__main__":
    main()
