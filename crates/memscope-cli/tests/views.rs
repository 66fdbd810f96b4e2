//! The views heaptrack_print users reach for: `temporaries` (its `-T`), `sizes` (its
//! `-H`) and the threads of `summary`, on fixtures whose allocations are known exactly.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::{
    assert_one_line_error, build_plain, fixture_source, marker_line, memscope, record, text,
    Recording,
};
use serde_json::Value;

/// `memscope ARGS`, which must succeed without a warning; its stdout.
fn report(args: &[&str]) -> String {
    let output = memscope(args);
    assert!(output.status.success(), "memscope {args:?}: {}", text(&output.stderr));
    assert!(output.stderr.is_empty(), "memscope {args:?} warned: {}", text(&output.stderr));
    text(&output.stdout)
}

/// `memscope ARGS --json`, parsed.
fn json(args: &[&str]) -> Value {
    let out = report(&[args, &["--json"]].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("memscope {args:?}: {e}: {out}"))
}

fn path(trace: &Path) -> &str {
    trace.to_str().expect("a UTF-8 path")
}

/// A fixture built without optimisation and recorded once per test run.
fn recorded(source: &'static str, cell: &'static OnceLock<Recording>) -> &'static Path {
    let recording = cell.get_or_init(|| {
        let recording = record(&build_plain(source), &[] as &[&str]);
        assert_eq!(recording.code(), Some(0), "{}", recording.stderr());
        recording
    });
    &recording.trace
}

fn temporaries_trace() -> &'static Path {
    static RECORDING: OnceLock<Recording> = OnceLock::new();
    recorded("temporaries.c", &RECORDING)
}

/// The frame of a report's stack: function and line.
fn site(frame: &Value) -> (String, u64) {
    let function = frame["function"].as_str().expect("a function").to_owned();
    (function, frame["line"].as_u64().expect("a line"))
}

const FIXTURE_SITES: &str = "--focus=^(make_temporary|keep_blocks)$";

#[test]
fn temporaries_by_stack_most_first_with_exact_counts() {
    let json = json(&["temporaries", path(temporaries_trace()), FIXTURE_SITES]);
    assert_eq!(json["temporary"], 101, "{json}");
    assert_eq!(json["allocations"], 130, "{json}");
    assert_eq!(json["more_stacks"], 0, "{json}");
    let stacks = json["stacks"].as_array().expect("stacks");
    assert_eq!(stacks.len(), 2, "{json}");
    let counts = |row: &Value| {
        (row["temporary"].clone(), row["temporary_bytes"].clone(), row["allocations"].clone())
    };
    assert_eq!(counts(&stacks[0]), (100.into(), 3200.into(), 100.into()));
    assert_eq!(site(&stacks[0]["stack"][0]), ("make_temporary".into(), marker("temporary-malloc")));
    assert_eq!(counts(&stacks[1]), (1.into(), 64.into(), 30.into()));
    assert_eq!(site(&stacks[1]["stack"][0]), ("keep_blocks".into(), marker("kept-malloc")));
}

fn marker(name: &str) -> u64 {
    marker_line("temporaries.c", name).into()
}

#[test]
fn temporaries_text_limits_stacks_and_says_how_many_more() {
    let text = report(&["temporaries", path(temporaries_trace()), FIXTURE_SITES, "-n", "1"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "100 temporary allocations (3.1 KiB) of 100 allocations (100.0%) from:");
    let source = fixture_source("temporaries.c");
    let frame =
        format!("    make_temporary at {}:{} (", source.display(), marker("temporary-malloc"));
    assert!(lines[1].starts_with(&frame), "{frame:?} does not start:\n{text}");
    let more = lines.iter().position(|l| l.starts_with("... and")).expect("a line of more stacks");
    assert_eq!(lines[more], "... and 1 more stacks (-n 0 shows all)");
    assert_eq!(lines.last(), Some(&"total: 101 temporary allocations of 130 allocations (77.7%)"));
}

#[test]
fn temporaries_json_more_stacks_counts_what_the_limit_left_out() {
    let json = json(&["temporaries", path(temporaries_trace()), FIXTURE_SITES, "-n", "1"]);
    assert_eq!(json["stacks"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["more_stacks"], 1);
    assert_eq!(json["temporary"], 101);
}

#[test]
fn temporaries_of_an_unknown_thread_is_an_error() {
    let output = memscope(&["temporaries", path(temporaries_trace()), "--thread", "1"]);
    assert_one_line_error(&output, "--thread 1: no such thread");
}

#[test]
fn temporaries_total_without_filters_is_the_summary_count() {
    let trace = temporaries_trace();
    let json = json(&["temporaries", path(trace)]);
    let summary = common::summary(trace);
    assert_eq!(json["temporary"], summary.n("temporary_allocations"), "{json}");
    assert_eq!(json["allocations"], summary.n("allocations"), "{json}");
    assert_eq!(json["temporary"], 101, "{json}");
}

fn sizes_trace() -> &'static Path {
    static RECORDING: OnceLock<Recording> = OnceLock::new();
    recorded("sizes.c", &RECORDING)
}

const SIZED: &str = "--focus=^(sized|zeroed)$";

#[test]
fn sizes_counts_each_bucket_and_exact_size() {
    let json = json(&["sizes", path(sizes_trace()), SIZED]);
    assert_eq!((json["allocations"].clone(), json["bytes"].clone()), (18.into(), 9069.into()));
    let buckets: Vec<(u64, u64, u64, u64)> = json["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| (int(&b["from"]), int(&b["to"]), int(&b["allocations"]), int(&b["bytes"])))
        .collect();
    assert_eq!(buckets, [(1, 1, 5, 5), (16, 31, 3, 72), (64, 127, 8, 800), (4096, 8191, 2, 8192)]);
    assert_eq!(exact_sizes(&json), [(100, 8), (1, 5), (24, 3), (4096, 2)]);
    assert_eq!(json["more_sizes"], 0);
}

fn int(value: &Value) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("{value} is not a whole number"))
}

fn exact_sizes(json: &Value) -> Vec<(u64, u64)> {
    let sizes = json["sizes"].as_array().expect("sizes");
    sizes.iter().map(|s| (int(&s["size"]), int(&s["allocations"]))).collect()
}

#[test]
fn sizes_focused_on_one_function_count_only_its_allocations() {
    let json = json(&["sizes", path(sizes_trace()), "--focus=^zeroed$"]);
    assert_eq!(exact_sizes(&json), [(100, 1)]);
    assert_eq!((json["allocations"].clone(), json["bytes"].clone()), (1.into(), 100.into()));
}

#[test]
fn sizes_text_shows_buckets_then_the_most_frequent_sizes() {
    let text = report(&["sizes", path(sizes_trace()), SIZED, "-n", "2"]);
    let expected = "\
18 allocations of 8.9 KiB in total

allocations  share    bytes  sizes
          5  27.8%      5 B  1
          3  16.7%     72 B  16-31
          8  44.4%    800 B  64-127
          2  11.1%  8.0 KiB  4096-8191

most frequent sizes:
allocations  share  size
          8  44.4%  100
          5  27.8%  1
... and 2 more sizes (-n 0 shows all)
";
    assert_eq!(text, expected);
}

fn threads_recording() -> &'static Recording {
    static RECORDING: OnceLock<Recording> = OnceLock::new();
    recorded("threads_named.c", &RECORDING);
    RECORDING.get().expect("recorded")
}

fn threads_trace() -> &'static Path {
    &threads_recording().trace
}

/// `summary --json`'s `threads_detail` entry of the thread named `name`.
fn thread_named(name: &str) -> Value {
    let summary = json(&["summary", path(threads_trace())]);
    let threads = summary["threads_detail"].as_array().expect("threads_detail").clone();
    assert_eq!(threads.len() as u64, int(&summary["threads"]), "{summary}");
    let mut named = threads.into_iter().filter(|t| t["name"] == name);
    let thread = named.next().unwrap_or_else(|| panic!("no thread {name} in {summary}"));
    assert!(named.next().is_none(), "two threads named {name}");
    thread
}

/// allocations, bytes_allocated, frees, bytes_freed, peak_live_bytes.
fn figures(thread: &Value) -> [u64; 5] {
    ["allocations", "bytes_allocated", "frees", "bytes_freed", "peak_live_bytes"]
        .map(|key| int(&thread[key]))
}

fn tid(name: &str) -> String {
    thread_named(name)["id"].to_string()
}

#[test]
fn summary_lists_each_named_thread_with_exact_figures() {
    assert_eq!(figures(&thread_named("alpha")), [10, 10_000, 4, 4000, 10_000]);
    assert_eq!(figures(&thread_named("beta")), [3, 1500, 6, 6000, 1500]);
    // Renamed after its first allocation: the name it had at its last events.
    assert_eq!(figures(&thread_named("renamed")), [2, 16, 2, 16, 8 + 8]);
    // The main thread's name is the program's, as the kernel keeps it; the fourth
    // thread inherited it.
    let summary = json(&["summary", path(threads_trace())]);
    let threads = summary["threads_detail"].as_array().expect("threads_detail");
    assert_eq!(threads[0]["id"], summary["pid"], "{summary}");
    let named_as_main: Vec<&Value> = threads.iter().filter(|t| t["name"] == main_name()).collect();
    assert_eq!(named_as_main.len(), 2, "{summary}");
    assert_eq!(named_as_main[1]["allocations"], 1, "{summary}");
}

/// The program's name as the kernel keeps it for its main thread: 15 bytes.
fn main_name() -> String {
    let binary = build_plain("threads_named.c");
    binary.file_name().unwrap().to_str().unwrap().chars().take(15).collect()
}

#[test]
fn a_name_two_threads_share_is_refused_with_their_ids() {
    let trace = path(threads_trace());
    let summary = json(&["summary", trace]);
    let name = main_name();
    let ids: Vec<String> = summary["threads_detail"]
        .as_array()
        .expect("threads_detail")
        .iter()
        .filter(|t| t["name"] == name.as_str())
        .map(|t| format!("{} ({name})", t["id"]))
        .collect();
    let output = memscope(&["top", trace, "--thread", &name]);
    let message = format!(
        "--thread {name}: 2 threads of {trace} have that name; give one's id ({})",
        ids.join(", ")
    );
    assert_one_line_error(&output, &message);
}

#[test]
fn summary_text_has_a_table_of_threads() {
    let text = report(&["summary", path(threads_trace())]);
    let row = |name: &str| -> Vec<String> {
        let line = text.lines().find(|line| line.ends_with(&format!("  {name}")));
        let line = line.unwrap_or_else(|| panic!("no row for {name} in:\n{text}"));
        line.split_whitespace().map(str::to_owned).collect()
    };
    let header = text.lines().find(|line| line.trim_start().starts_with("thread "));
    let header: Vec<&str> = header.expect("a table header").split_whitespace().collect();
    assert_eq!(header, ["thread", "allocations", "allocated", "frees", "peak", "live", "name"]);
    assert_eq!(
        row("alpha"),
        [&tid("alpha"), "10", "9.8", "KiB", "4", "9.8", "KiB", "alpha"].map(String::from)
    );
    assert_eq!(
        row("beta"),
        [&tid("beta"), "3", "1.5", "KiB", "6", "1.5", "KiB", "beta"].map(String::from)
    );
}

#[test]
fn a_thread_is_chosen_by_name_or_by_id_alike() {
    let trace = path(threads_trace());
    let by_name = json(&["top", trace, "--thread", "alpha"]);
    let by_id = json(&["top", trace, "--thread", &tid("alpha")]);
    assert_eq!(by_name, by_id);
    // A free counts for the thread that made it: in alpha's view, the 6 blocks beta
    // freed are still live.
    assert_eq!(by_name["total"], 6000, "{by_name}");
    let peak = json(&["peak", trace, "--thread", "alpha"]);
    assert_eq!(peak["bytes"], thread_named("alpha")["peak_live_bytes"], "{peak}");
}

#[test]
fn a_thread_freeing_others_blocks_ranks_by_magnitude_and_says_why_it_is_negative() {
    let trace = path(threads_trace());
    let top = json(&["top", trace, "--thread", "beta"]);
    assert_eq!(top["total"], -4500, "{top}");
    let rows: Vec<(&str, i64)> = top["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .take(2)
        .map(|row| {
            (row["function"].as_str().expect("a function"), row["flat"].as_i64().expect("flat"))
        })
        .collect();
    assert_eq!(rows, [("alloc_alpha", -6000), ("alloc_beta", 1500)]);
    let note = format!(
        "note: thread {} freed more than it allocated here: it frees blocks other threads allocated, and each free counts against the stack that allocated the block",
        tid("beta")
    );
    let text = report(&["top", trace, "--thread", "beta"]);
    assert_eq!(text.lines().last(), Some(note.as_str()), "{text}");
    let leaks = report(&["leaks", trace, "--thread", "beta"]);
    assert_eq!(leaks.lines().last(), Some(note.as_str()), "{leaks}");
    // The stacks leaks lists add up to its total: alpha's, which beta took 6 blocks
    // from, is listed with its negative counts, first by magnitude.
    let listed = json(&["leaks", trace, "--thread", "beta", "-n", "0"]);
    let counts: Vec<(i64, i64)> = listed
        .as_array()
        .expect("leak rows")
        .iter()
        .map(|row| (row["bytes"].as_i64().expect("bytes"), row["blocks"].as_i64().expect("blocks")))
        .collect();
    assert_eq!(counts.first(), Some(&(-6000, -6)), "{listed}");
    assert_eq!(counts.iter().map(|(bytes, _)| bytes).sum::<i64>(), -4500, "{listed}");
    let alpha = report(&["top", trace, "--thread", "alpha"]);
    assert!(!alpha.contains("note:"), "{alpha}");
}

#[test]
fn an_unknown_thread_name_is_an_error_listing_the_threads_with_their_names() {
    let trace = path(threads_trace());
    let output = memscope(&["top", trace, "--thread", "gamma"]);
    let threads = format!("{} (alpha), {} (beta)", tid("alpha"), tid("beta"));
    assert_one_line_error(&output, &format!("--thread gamma: no such thread in {trace}"));
    assert_one_line_error(&output, &threads);
}

/// A trace written before thread names were recorded (format version 3) still lists its
/// thread, with no name.
#[test]
fn a_trace_without_thread_names_lists_threads_unnamed() {
    let old = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../memscope-format/tests/fixtures/small-v3.trace");
    let summary = json(&["summary", path(&old)]);
    let threads = summary["threads_detail"].as_array().expect("threads_detail");
    assert_eq!(threads.len(), 1, "{summary}");
    assert_eq!(threads[0]["name"], Value::Null);
    assert_eq!(figures(&threads[0]), [4, 1000, 1, 200, 1000]);
    assert_eq!(threads[0]["peak_live_bytes"], summary["peak_bytes"]);
}
