#!/usr/bin/env bash
# The HTML report's benchmark: how long `memscope report` takes on a synthetic trace with
# a million distinct stacks, how much memory it needs, how big the page is, and how long
# headless Chromium takes to open and draw it. Prints the Markdown rows of
# BENCHMARKS.md's "HTML report" section.
#
#   bench/report.sh                          # EVENTS=100000000 STACKS=1000000
#   EVENTS=10000000 bench/report.sh          # a quicker run
#
# The trace comes from crates/memscope-analyze/examples/synth_trace.rs: 4 threads, STACKS
# stacks shaped as a call tree (10 levels below the outermost frame, 4 callees a frame),
# a segment every SEGMENT_EVENTS events (default 2^23; each repeats the stack table). It
# goes to a temporary directory that is removed at the end.
# Needs GNU time (/usr/bin/time) and chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

events=${EVENTS:-100000000}
stacks=${STACKS:-1000000}
segment=${SEGMENT_EVENTS:-8388608}
runs=${RUNS:-3}
target=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -p memscope-cli >&2
cargo build --release -p memscope-analyze --example synth_trace >&2
memscope="$target/release/memscope"

echo "Generating the trace ($events events, $stacks stacks)..." >&2
"$target/release/examples/synth_trace" "$work/synthetic.trace" "$events" 4 "$stacks" "$segment" 2>/dev/null
trace_mib=$(($(stat -c %s "$work/synthetic.trace") / 1048576))

/usr/bin/time -f '%e %M' -o "$work/time" "$memscope" report "$work/synthetic.trace" -o "$work/report.html"
read -r wall rss <"$work/time"
page_bytes=$(stat -c %s "$work/report.html")

# chromium PAGE: wall seconds of a headless run that loads PAGE and prints its DOM, and
# the page's own figure for its drawing (data-render-ms, from script start to drawn).
chromium_run() {
    local profile
    profile=$(mktemp -d -p "$work")
    local start end
    start=$(date +%s.%N)
    timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --window-size=1280,1500 --dump-dom "file://$1" \
        >"$work/dom.html" 2>/dev/null
    end=$(date +%s.%N)
    local drawn
    drawn=$(grep -o 'data-render-ms="[^"]*"' "$work/dom.html" | head -1 | cut -d'"' -f2 || true)
    echo "$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }') ${drawn:--}"
}

echo '<!DOCTYPE html><html><body>blank</body></html>' >"$work/blank.html"
for _ in $(seq "$runs"); do
    read -r blank _ < <(chromium_run "$work/blank.html")
    read -r open drawn < <(chromium_run "$work/report.html")
    echo "$blank $open $drawn" >>"$work/browser"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
blank=$(cut -d' ' -f1 "$work/browser" | median)
open=$(cut -d' ' -f2 "$work/browser" | median)
drawn=$(cut -d' ' -f3 "$work/browser" | median)

echo "| events | stacks | trace | report: wall | report: peak RSS | page | Chromium: open and draw (blank page) | script: draw |"
echo "|---|---|---|---|---|---|---|---|"
printf '| %s | %s | %d MiB | %s s | %d MiB | %.1f MB | %s s (%s s) | %s ms |\n' \
    "$events" "$stacks" "$trace_mib" "$wall" "$((rss / 1024))" \
    "$(awk -v b="$page_bytes" 'BEGIN { print b / 1e6 }')" "$open" "$blank" "$drawn"
