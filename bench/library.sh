#!/usr/bin/env bash
# The memscope crate's cost per allocation and free, against the bare allocator:
# criterion in one process with recording off then live, and in another in trace mode
# (a process records in one mode only).
#   bench/library.sh [criterion options, e.g. --measurement-time 5]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
traces="$(mktemp -d)"
trap 'rm -rf "$traces"' EXIT
cd "$root"
cargo bench -p memscope --bench allocation -- "$@"
MEMSCOPE_BENCH_TRACE="$traces" cargo bench -p memscope --bench allocation -- "$@"
