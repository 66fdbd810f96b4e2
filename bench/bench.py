#!/usr/bin/env python3
"""Times workloads uninstrumented, under `memscope run` and under `heaptrack`,
alternating A B C A B C so that machine noise hits all three alike, and prints a
markdown table of medians and ratios.

Usage: bench/bench.py [--repeats N] [--memscope PATH] [--only NAME]
Run bench/run.sh instead: it builds everything first."""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(cmd, stdin=None, cwd=None):
    """Wall seconds of one run; the command's output is discarded."""
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as inp:
        start = time.perf_counter()
        result = subprocess.run(cmd, stdin=inp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
        elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} exited with {result.returncode}")
    return elapsed


def settle(directory, prefix, timeout=20.0):
    """Waits until the files starting with `prefix` stop growing: heaptrack's
    compressor goes on writing after heaptrack itself has exited."""
    def size():
        return sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory) if f.startswith(prefix))
    deadline, last = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = size()
        if now == last and now > 0:
            return
        last = now


def workloads(build):
    churn = os.path.join(build, "churn")
    return {
        "churn 2 threads (8M calls)": ([churn, "2000000", "2"], None),
        "churn 1 thread": ([churn, "2000000", "1"], None),
        "churn 8 threads": ([churn, "500000", "8"], None),
        "C++ std::map workload": ([os.path.join(build, "map_workload"), "400000"], None),
        "sqlite3 200k rows + indexes": (["sqlite3", ":memory:"], os.path.join(HERE, "sqlite_workload.sql")),
        "/bin/true (start-up)": (["/bin/true"], None),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memscope", default=os.path.join(HERE, "..", "target", "release", "memscope"))
    parser.add_argument("--build", required=True, help="directory holding the built workloads")
    parser.add_argument("--only", help="run only workloads whose name contains this")
    args = parser.parse_args()
    have_heaptrack = shutil.which("heaptrack") is not None
    scratch = tempfile.mkdtemp(prefix="memscope-bench-")
    rows = []
    for name, (cmd, stdin) in workloads(args.build).items():
        if args.only and args.only not in name:
            continue
        runs = {"base": [], "memscope": [], "heaptrack": []}
        for i in range(args.repeats):
            runs["base"].append(timed(cmd, stdin))
            trace = os.path.join(scratch, f"trace.{i}")
            runs["memscope"].append(timed([args.memscope, "run", "-o", trace, "--"] + cmd, stdin))
            size = os.path.getsize(trace)
            os.remove(trace)
            if have_heaptrack:
                out = os.path.join(scratch, f"ht.{i}")
                runs["heaptrack"].append(timed(["heaptrack", "-o", out] + cmd, stdin, cwd=scratch))
                settle(scratch, f"ht.{i}")
                ht_size = sum(os.path.getsize(os.path.join(scratch, f)) for f in os.listdir(scratch) if f.startswith(f"ht.{i}"))
                for f in os.listdir(scratch):
                    if f.startswith(f"ht.{i}"):
                        os.remove(os.path.join(scratch, f))
            else:
                ht_size = 0
        med = {k: statistics.median(v) if v else float("nan") for k, v in runs.items()}
        rows.append((name, med, size, ht_size))
        print(f"# {name}: {med}", file=sys.stderr)
    print("| workload | uninstrumented | memscope | heaptrack | memscope ÷ base | memscope ÷ heaptrack | heaptrack ÷ base | trace (memscope / heaptrack) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, med, size, ht_size in rows:
        b, m, h = med["base"], med["memscope"], med["heaptrack"]
        print(f"| {name} | {b*1000:.0f} ms | {m*1000:.0f} ms | {h*1000:.0f} ms | {m/b:.2f}× | {m/h:.2f} | {h/b:.2f}× "
              f"| {size/1e6:.1f} MB / {ht_size/1e6:.1f} MB |")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
