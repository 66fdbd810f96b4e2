#!/usr/bin/env python3
"""Times workloads uninstrumented, under `memscope run` and under `heaptrack`,
alternating A B C A B C, and every workload in every round, so that machine noise hits
all alike, and prints a markdown table of medians and ratios.

Usage: bench/bench.py [--repeats N] [--memscope PATH] [--only NAME]
Run bench/run.sh instead: it builds everything first."""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(cmd, stdin=None, cwd=None, env=None):
    """Wall seconds, CPU seconds (user + system) and peak resident MiB of one run: the
    command and every process it waited for (the peak is the largest one's, so under
    `memscope run` it is the program's). The command's output is discarded.

    The peak comes from GNU time, which starts the command: a process keeps the peak
    it had before exec, and a child of this Python process would start at Python's."""
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as inp, \
            tempfile.NamedTemporaryFile("r") as peak:
        start = time.perf_counter()
        child = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", peak.name] + cmd, stdin=inp,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd,
                                 env=dict(os.environ, **(env or {})))
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        peak_kib = int(peak.read().split()[-1])
    # Reaped by wait4: telling Popen so keeps it from waiting for the child again.
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} exited with {child.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, peak_kib / 1024, peak_kib / 1024


def prefixed(directory, prefix):
    """Paths of the files in `directory` whose names start with `prefix`."""
    return [os.path.join(directory, f) for f in os.listdir(directory) if f.startswith(prefix)]


def settle(directory, prefix, timeout=20.0):
    """Waits until the files starting with `prefix` stop growing: heaptrack's
    compressor goes on writing after heaptrack itself has exited."""
    deadline, last = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = sum(os.path.getsize(f) for f in prefixed(directory, prefix))
        if now == last and now > 0:
            return
        last = now


def workloads(build):
    """Name -> (command, stdin file, prefix, memscope options, environment). The prefix
    goes before all three ways of running it: the one-core rows take the second core
    away from the collector too, so they show whether threads cost more per event
    without the spare core's help. The environment is every way's (memscope sets
    PYTHONMALLOC=malloc itself; the others get it so that they run the same program)."""
    churn = os.path.join(build, "churn")
    one_core = ["taskset", "-c", "0"]
    sampled = ["--sample-rate", "524288"]
    python = ["python3", "-c", "x = [str(i) for i in range(3000000)]; print(len(x))"]
    pymalloc_off = {"PYTHONMALLOC": "malloc"}
    sqlite = (["sqlite3", ":memory:"], os.path.join(HERE, "sqlite_workload.sql"))
    return {
        "churn 2 threads (8M calls)": ([churn, "2000000", "2"], None, [], [], {}),
        "churn 1 thread": ([churn, "2000000", "1"], None, [], [], {}),
        "churn 8 threads": ([churn, "500000", "8"], None, [], [], {}),
        "churn 1 thread, one core": ([churn, "2000000", "1"], None, one_core, [], {}),
        "churn 2 threads, one core": ([churn, "1000000", "2"], None, one_core, [], {}),
        "churn 8 threads, one core": ([churn, "250000", "8"], None, one_core, [], {}),
        "8 threads freeing each other's blocks": ([os.path.join(build, "endings"), "swap", "8", "500000"], None, [], [], {}),
        "C++ std::map workload": ([os.path.join(build, "map_workload"), "400000"], None, [], [], {}),
        "sqlite3 200k rows + indexes": (*sqlite, [], [], {}),
        "/bin/true (start-up)": (["/bin/true"], None, [], [], {}),
        "python3, 3M live strings": (python, None, [], [], pymalloc_off),
        "churn 2 threads, sampled 512 KiB": ([churn, "2000000", "2"], None, [], sampled, {}),
        "C++ std::map workload, sampled 512 KiB": ([os.path.join(build, "map_workload"), "400000"], None, [], sampled, {}),
        "sqlite3, sampled 512 KiB": (*sqlite, [], sampled, {}),
    }


def run_once(workload, memscope, scratch, runs):
    """Runs one workload once each way, appending (wall, CPU, peak RSS, peak RSS of the
    process tree) to `runs`. Under memscope the peak RSS is the program's own (VmHWM, as
    the trace records it), and the tree's is the larger of it and memscope run's.
    Returns the sizes of memscope's and heaptrack's traces."""
    cmd, stdin, prefix, options, env = workload
    runs["base"].append(timed(prefix + cmd, stdin, env=env))
    trace = os.path.join(scratch, "trace")
    wall, cpu, _, tree = timed(prefix + [memscope, "run"] + options + ["-o", trace, "--"] + cmd, stdin, env=env)
    # The recorder's totals (no replay), except for a sampled trace, which has none.
    recorded = [] if "--sample-rate" in options else ["--recorded"]
    summary = json.loads(subprocess.run([memscope, "summary", "--json", *recorded, trace],
                                        capture_output=True, check=True).stdout)
    runs["memscope"].append((wall, cpu, summary["peak_rss_bytes"] / 2**20, tree))
    size = os.path.getsize(trace)
    os.remove(trace)
    ht_size = 0
    if shutil.which("heaptrack"):
        runs["heaptrack"].append(timed(prefix + ["heaptrack", "-o", "ht"] + cmd, stdin, cwd=scratch, env=env))
        ht_size = take_heaptrack_trace(scratch, "ht")
    return size, ht_size


def medians(runs):
    """Per measure (wall, CPU, peak RSS, tree's peak RSS), the median of each way's runs."""
    return tuple({k: statistics.median(r[n] for r in v) if v else float("nan") for k, v in runs.items()}
                 for n in range(4))


def take_heaptrack_trace(scratch, prefix):
    """The size of heaptrack's trace once its compressor is done; removes the trace."""
    settle(scratch, prefix)
    files = prefixed(scratch, prefix)
    size = sum(os.path.getsize(f) for f in files)
    for f in files:
        os.remove(f)
    return size


def print_table(rows):
    print("| workload | uninstrumented | memscope | heaptrack | memscope ÷ base | memscope ÷ heaptrack | heaptrack ÷ base "
          "| CPU: memscope ÷ base | CPU: heaptrack ÷ base | peak RSS (base / program under memscope / memscope run) "
          "| trace (memscope / heaptrack) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, wall, cpu, rss, tree, size, ht_size in rows:
        b, m, h = wall["base"], wall["memscope"], wall["heaptrack"]
        print(f"| {name} | {b*1000:.0f} ms | {m*1000:.0f} ms | {h*1000:.0f} ms | {m/b:.2f}× | {m/h:.2f} | {h/b:.2f}× "
              f"| {ratio(cpu['memscope'], cpu['base'])} | {ratio(cpu['heaptrack'], cpu['base'])} "
              f"| {rss['base']:.0f} / {rss['memscope']:.0f} / {tree['memscope']:.0f} MiB "
              f"| {size/1e6:.1f} MB / {ht_size/1e6:.1f} MB |")


def ratio(a, b):
    """a ÷ b, or a dash when b is too small to divide by (CPU time is counted in
    clock ticks)."""
    return f"{a/b:.2f}×" if b >= 0.02 else "–"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memscope", default=os.path.join(HERE, "..", "target", "release", "memscope"))
    parser.add_argument("--build", required=True, help="directory holding the built workloads")
    parser.add_argument("--only", help="run only workloads whose name contains this")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="memscope-bench-")
    chosen = {name: w for name, w in workloads(args.build).items() if not args.only or args.only in name}
    runs = {name: {"base": [], "memscope": [], "heaptrack": []} for name in chosen}
    sizes = {}
    # Every round runs every workload: the machine's speed drifts over minutes, and
    # rows compared with each other (1, 2 and 8 threads) must see the same drift.
    for done in range(1, args.repeats + 1):
        for name, workload in chosen.items():
            sizes[name] = run_once(workload, args.memscope, scratch, runs[name])
        print(f"# round {done} of {args.repeats} done", file=sys.stderr)
    print_table([(name, *medians(runs[name]), *sizes[name]) for name in chosen])
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
