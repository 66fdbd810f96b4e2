#!/usr/bin/env bash
# Builds memscope and the workloads, then runs bench.py. Needs gcc, g++, sqlite3,
# GNU time, util-linux's taskset, python3 and (for the comparison column) heaptrack:
# all Debian packages.
#   bench/run.sh [--repeats N] [--only NAME]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
cargo build --release --workspace --manifest-path "$root/Cargo.toml" >&2
churn_src="${CHURN_SRC:-$root/../shared/bench/churn.c}"
[ -f "$churn_src" ] || { echo "bench: churn.c not found at $churn_src (set CHURN_SRC)" >&2; exit 2; }
gcc -O2 -g -pthread "$churn_src" -o "$build/churn"
g++ -O2 -g "$root/bench/map_workload.cpp" -o "$build/map_workload"
gcc -O2 -g -pthread "$root/crates/memscope-cli/tests/fixtures/record/endings.c" -o "$build/endings"
python3 "$root/bench/bench.py" --build "$build" --memscope "$root/target/release/memscope" "$@"
