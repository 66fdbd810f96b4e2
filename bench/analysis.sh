#!/usr/bin/env bash
# The analysis benchmark: how long memscope's reports take on 100 million events, and
# how much memory they need, beside heaptrack_print on a heaptrack recording of the
# same workload. Prints the Markdown table of BENCHMARKS.md's "Analysis" section.
#
#   bench/analysis.sh              # EVENTS=100000000 by default
#   EVENTS=10000000 bench/analysis.sh
#
# Two traces of EVENTS events each (generated files go to a temporary directory that is
# removed at the end):
#   synthetic  crates/memscope-analyze/examples/synth_trace.rs: 4 threads, 2000 stacks,
#              blocks and segments laid out as the recorder writes them;
#   churn      shared/bench/churn.c run with EVENTS/4 iterations on 2 threads (each
#              iteration is a malloc or calloc and a free), recorded by `memscope run`
#              and by heaptrack.
# Needs gcc, heaptrack, heaptrack_print and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."

events=${EVENTS:-100000000}
target=${CARGO_TARGET_DIR:-target}
churn_src=${CHURN_SRC:-../shared/bench/churn.c}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --workspace >&2
cargo build --release -p memscope-analyze --example synth_trace >&2
memscope="$target/release/memscope"
gcc -O2 -g -pthread "$churn_src" -o "$work/churn"

# measure LABEL COMMAND...: one table row with wall time, CPU time and peak RSS.
measure() {
    local label=$1
    shift
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || {
        cat "$work/stderr" >&2
        return 1
    }
    read -r wall user sys rss <"$work/time"
    printf '| %s | %s s | %s s | %d MiB |\n' "$label" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$((rss / 1024))"
}

echo "Generating the traces ($events events each)..." >&2
"$target/release/examples/synth_trace" "$work/synthetic.trace" "$events" 4 2>/dev/null
iterations=$((events / 4))
"$memscope" run -o "$work/churn.trace" -- "$work/churn" "$iterations" 2 >/dev/null 2>&1
heaptrack -o "$work/heaptrack.churn" "$work/churn" "$iterations" 2 >/dev/null 2>&1

echo "| what | wall | CPU | peak RSS |"
echo "|---|---|---|---|"
for trace in synthetic churn; do
    size=$(du -m "$work/$trace.trace" | cut -f1)
    echo "| **$trace** trace, $size MiB | | | |"
    measure "memscope summary" "$memscope" summary "$work/$trace.trace"
    measure "memscope top (end)" "$memscope" top "$work/$trace.trace"
    measure "memscope top --peak" "$memscope" top --peak "$work/$trace.trace"
    measure "memscope timeline" "$memscope" timeline "$work/$trace.trace"
    measure "memscope leaks" "$memscope" leaks "$work/$trace.trace"
done
size=$(du -m "$work/heaptrack.churn.zst" | cut -f1)
echo "| **heaptrack** recording of churn, $size MiB | | | |"
measure "heaptrack_print" heaptrack_print "$work/heaptrack.churn.zst"
