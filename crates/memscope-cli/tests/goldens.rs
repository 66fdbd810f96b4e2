//! Golden tests: the text and JSON of every report on one recording of
//! `tests/fixtures/golden/golden.c`, a single-threaded program whose allocations are
//! known (its comment gives every figure), compared with `tests/golden/report-*`.
//! `MEMSCOPE_BLESS=1` rewrites them, for review in the diff. What changes from run to
//! run is replaced by placeholders in [`normalised`]; every byte and block figure is
//! kept exact. The stacks end in glibc's start-up frames as the machine's glibc names
//! them (file and line from its debug information): a different glibc is a reviewed
//! rewrite.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use common::{assert_golden, build_file, memscope, record, text, Recording};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

/// The fixture, built -O0 (every call stays a call) and recorded once per test run.
fn recording() -> &'static (PathBuf, Recording) {
    static RECORDING: OnceLock<(PathBuf, Recording)> = OnceLock::new();
    RECORDING.get_or_init(|| {
        let binary = build_file(&fixture_dir().join("golden.c"), &["-O0"]);
        let recording = record(&binary, &[] as &[&str]);
        assert_eq!(recording.code(), Some(0), "{}", recording.stderr());
        (binary, recording)
    })
}

/// `text` with what varies between recordings of the fixture put as placeholders:
/// - paths: the trace → `<trace>`, the binary → `<program>` (its module name, which
///   carries a build hash, → `golden`, and so does the thread's name, its first 15
///   bytes), the fixture's directory → `<fixtures>`;
/// - times: `123.456` ms → `T`, a moment's `#N` (events into a clock step) → `#N`,
///   rates per second → `N/s`, JSON `*_ms` fields → `T`, `peak_events` and `high_events` → `N`;
/// - the process and thread id (`pid 6094`, a table row's first column, JSON `pid` and
///   `id`) → `P`;
/// - resident set sizes (`peak RSS`, the timeline's rss column, JSON `*rss_bytes`) → `R`;
/// - addresses (`0x…`, JSON `address`) → `A`;
/// - column padding, which widens with those values: runs of spaces → two spaces.
fn normalised(report: &str) -> String {
    let (binary, recording) = recording();
    let pid = recording.summary().n("pid");
    let mut text = report
        .replace(&recording.trace.display().to_string(), "<trace>")
        .replace(&binary.display().to_string(), "<program>")
        .replace(&fixture_dir().display().to_string(), "<fixtures>");
    let rules: [(&str, &str); 16] = [
        (r"\bgolden-[0-9a-f]{8,16}\b", "golden"),
        (r#""(\w*_ms)": [0-9.]+"#, r#""$1": T"#),
        (r#""(peak_events|high_events)": \d+"#, r#""$1": N"#),
        (r#""(\w*rss_bytes)": \d+"#, r#""$1": R"#),
        (r#""(pid|id)": \d+"#, r#""$1": P"#),
        (r#""address": \d+"#, r#""address": A"#),
        (r"\d+\.\d{3}#\d+", "T#N"),
        (r"\b\d+\.\d{3}\b", "T"),
        (r"\(\d+/s\)", "(N/s)"),
        (r"0x[0-9a-f]+", "A"),
        (r"(peak RSS[^:]*): .*", "$1: R"),
        (r"peak RSS \d+ bytes", "peak RSS R bytes"),
        (r"(?m)( +)(\d+(\.\d)? [KMG]?i?B|-)( +\d+:\d+ )", "${1}R$4"),
        (&format!(r"(pid:? ){pid}\b"), "${1}P"),
        (&format!(r"(?m)^ *{pid}\b"), "P"),
        (r"(\S)  +", "$1  "),
    ];
    for (pattern, replacement) in rules {
        text = Regex::new(pattern).expect("a rule").replace_all(&text, replacement).into_owned();
    }
    text
}

/// The output of `memscope ARGS` (the trace goes first), which must succeed.
fn report(args: &[&str]) -> String {
    let trace = recording().1.trace.display().to_string();
    let mut all = vec![args[0], &trace];
    all.extend(&args[1..]);
    let output = memscope(&all);
    assert!(output.status.success(), "memscope {all:?}: {}", text(&output.stderr));
    text(&output.stdout)
}

/// Text and JSON of `args` against `report-NAME.txt` and `report-NAME.json`.
fn assert_report(name: &str, args: &[&str]) {
    assert_golden(&format!("report-{name}.txt"), &normalised(&report(args)));
    let json: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
    assert_golden(&format!("report-{name}.json"), &normalised(&report(&json)));
}

#[test]
fn summary_matches_its_golden_files() {
    assert_report("summary", &["summary"]);
}

#[test]
fn top_matches_its_golden_files() {
    assert_report("top", &["top"]);
    assert_report("top-alloc_objects", &["top", "--by", "alloc_objects"]);
    assert_report("top-alloc_space-cum", &["top", "--by", "alloc_space", "--cum"]);
}

#[test]
fn leaks_matches_its_golden_files() {
    assert_report("leaks", &["leaks"]);
}

#[test]
fn peak_matches_its_golden_files() {
    assert_report("peak", &["peak"]);
}

/// 200 ms rows: phase A (t ~ 0), phase B (t ~ 300) and the end (t ~ 500) each fall
/// 100 ms inside a row of their own.
#[test]
fn timeline_matches_its_golden_files() {
    assert_report("timeline", &["timeline", "--interval", "200"]);
}

/// From the sleep after phase A to the sleep after phase B.
#[test]
fn diff_matches_its_golden_files() {
    assert_report("diff", &["diff", "--from", "100", "--to", "400"]);
}

#[test]
fn temporaries_matches_its_golden_files() {
    assert_report("temporaries", &["temporaries"]);
}

#[test]
fn sizes_matches_its_golden_files() {
    assert_report("sizes", &["sizes"]);
}

/// `info` has no JSON. Its blocks, segments and module map depend on how many RSS
/// samples the run took, how well they compress and which preload library and libc
/// were loaded, so only its header and its stacks and events are compared.
#[test]
fn info_matches_its_golden_file() {
    let info = report(&["info", "-n", "50"]);
    let kept: Vec<&str> = info
        .split("\n\n")
        .filter(|section| {
            !section.starts_with("blocks (")
                && !section.starts_with("segments:")
                && !section.starts_with("modules (")
        })
        .collect();
    let header = Regex::new(r"(?m)^(size|blocks|started): .*\n").expect("a rule");
    assert_golden("report-info.txt", &normalised(&header.replace_all(&kept.join("\n\n"), "")));
}
