//! Moments that reproduce: every high a report prints, given back to `--at` or asked
//! for with `--peak-in`, shows the state the report described. The fixture `bursts.c`
//! makes highs that last microseconds, inside one tick of the collector's clock.

mod common;

use std::path::Path;

use serde_json::Value;

use common::{build, memscope, record_with, text, Recording};

const KIB: u64 = 1024;

fn bursts(threads: u32) -> Recording {
    let binary = build("bursts.c", &["-O1", "-pthread"]);
    let recording = record_with(&[], &binary, &[threads.to_string()]);
    assert_eq!(recording.code(), Some(0), "{}", recording.stderr());
    recording
}

fn json(args: &[&str]) -> Value {
    let output = memscope(args);
    assert!(output.status.success(), "memscope {args:?}: {}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// `top --json`'s total with `moment` (like `["--at", "12.345#3"]`).
fn top_total(trace: &Path, moment: &[&str]) -> i64 {
    let trace = trace.to_str().expect("a UTF-8 path");
    let mut args = vec!["top", trace, "--json"];
    args.extend_from_slice(moment);
    json(&args)["total"].as_i64().expect("a total")
}

/// The moment summary's text prints for the peak, `--at MS#N`.
fn printed_peak_moment(trace: &Path) -> String {
    let output = memscope(&["summary", trace.to_str().expect("a UTF-8 path")]);
    let summary = text(&output.stdout);
    let line = summary.lines().find(|l| l.starts_with("peak heap memory")).expect("a peak line");
    let (_, moment) = line.split_once("(--at ").expect("a moment on the peak line");
    moment.trim_end_matches(')').to_owned()
}

fn check_moments(recording: &Recording) {
    let trace = &recording.trace;
    let peak_bytes = recording.summary().n("peak_bytes") as i64;
    let moment = printed_peak_moment(trace);
    assert_eq!(top_total(trace, &["--at", &moment]), peak_bytes, "top --at {moment}");
    let path = trace.to_str().expect("a UTF-8 path");
    let rows = json(&["timeline", path, "--interval", "5", "--json"]);
    let rows = rows.as_array().expect("timeline rows");
    for row in rows {
        let (t, bytes) = (row["t_ms"].as_f64().unwrap(), row["bytes"].as_i64().unwrap());
        let window = format!("{t}:{}", t + 5.0);
        assert_eq!(top_total(trace, &["--peak-in", &window]), bytes, "top --peak-in {window}");
        let at = format!("{:.3}#{}", row["high_ms"].as_f64().unwrap(), row["high_events"]);
        assert_eq!(top_total(trace, &["--at", &at]), bytes, "top --at {at}");
    }
    let highest = rows.iter().map(|row| row["bytes"].as_i64().unwrap()).max();
    assert_eq!(highest, Some(peak_bytes), "the timeline's highest row is the peak");
}

#[test]
fn one_thread_highs_reproduce() {
    let recording = bursts(1);
    assert_eq!(recording.summary().n("peak_bytes"), 1024 * KIB + 500 * KIB);
    check_moments(&recording);
}

#[test]
fn four_threads_highs_reproduce() {
    let recording = bursts(4);
    check_moments(&recording);
}

#[test]
fn peak_in_names_the_window_and_its_moment() {
    let recording = bursts(1);
    let path = recording.trace.to_str().expect("a UTF-8 path");
    let peak = json(&["peak", path, "--json"]);
    let at = peak["at"].as_str().expect("the peak's moment").to_owned();
    let whole = format!("0:{}", peak["time_ms"].as_f64().unwrap() + 1.0);
    let within = json(&["peak", path, "--peak-in", &whole, "--json"]);
    assert_eq!((within["at"].as_str(), &within["bytes"]), (Some(at.as_str()), &peak["bytes"]));
    let output = memscope(&["top", path, "--peak-in", "5:1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("ends before it starts"), "{}", text(&output.stderr));
}

#[test]
fn peak_shows_ten_stacks_and_counts_the_rest() {
    let recording = bursts(1);
    let path = recording.trace.to_str().expect("a UTF-8 path");
    let all = json(&["peak", path, "--json", "-n", "0"]);
    let stacks = all["stacks"].as_array().expect("stacks").len();
    assert_eq!(all["more_stacks"], 0);
    let default = json(&["peak", path, "--json"]);
    assert_eq!(default["stacks"].as_array().unwrap().len(), stacks.min(10));
    let one = json(&["peak", path, "--json", "-n", "1"]);
    assert_eq!(one["more_stacks"].as_u64(), Some(stacks as u64 - 1));
    let output = text(&memscope(&["peak", path, "-n", "1"]).stdout);
    let more = format!("... and {} more stacks (-n 0 shows all)", stacks - 1);
    assert_eq!(output.lines().rev().find(|line| !line.is_empty()), Some(more.as_str()));
}
