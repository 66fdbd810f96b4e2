//! Long runs (issue 14): sampling by bytes scaled back to unbiased estimates, and
//! rotated series read as one recording of the time they hold. The fixture `long_run.c`
//! allocates 64 MiB at each of six sites, each in one size from 16 B to 4 MiB; given a
//! round count it runs a long deterministic heap shape instead.

mod common;

use std::fs;
use std::path::Path;

use serde_json::Value;

use common::{
    assert_one_line_error, build, memscope, record_with, record_with_env, text, Recording,
};

const MIB: u64 = 1 << 20;
const SITES: [&str; 6] = ["site_16", "site_256", "site_4k", "site_64k", "site_1m", "site_4m"];
const SEEDS: u64 = 8;
/// Rounds of the rotation shape: about 15 M events, six files of 4 MiB.
const ROUNDS: &str = "1500";

fn sizes() -> std::path::PathBuf {
    build("long_run.c", &["-O1", "-g"])
}

fn json(args: &[&str]) -> Value {
    let output = memscope(args);
    assert!(output.status.success(), "memscope {args:?}: {}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// `top --by alloc_space` of one site.
fn alloc_space(trace: &Path, site: &str) -> f64 {
    let top = json(&["top", arg(trace), "--by", "alloc_space", "-n", "0", "--json"]);
    let rows = top["rows"].as_array().expect("rows");
    let row = rows.iter().find(|row| row["function"] == site);
    row.map_or(0.0, |row| row["flat"].as_f64().expect("flat"))
}

fn sampled(rate: u64, seed: u64) -> Recording {
    let (rate, seed) = (rate.to_string(), seed.to_string());
    let env = [("MEMSCOPE_SAMPLE_SEED", seed.as_str())];
    let recording = record_with_env(&env, &["--sample-rate", &rate], &sizes(), &[] as &[&str]);
    assert_eq!(recording.code(), Some(0), "{}", recording.stderr());
    recording
}

/// Every site's alloc_space, estimated at `rate`, is within 10% of its 64 MiB on the
/// mean of eight fixed seeds; the figures say they are estimates.
fn check_unbiased(rate: u64) {
    let mut sums = [0.0; SITES.len()];
    for seed in 1..=SEEDS {
        let recording = sampled(rate, seed);
        for (sum, site) in sums.iter_mut().zip(SITES) {
            *sum += alloc_space(&recording.trace, site);
        }
        if seed == 1 {
            let summary = json(&["summary", arg(&recording.trace), "--json"]);
            assert_eq!(summary["sampled"], serde_json::json!({ "rate": rate }));
            let top = memscope(&["top", arg(&recording.trace)]);
            let heading = text(&top.stdout).lines().next().unwrap_or_default().to_owned();
            assert!(heading.starts_with("estimates from samples of one in"), "{heading}");
        }
    }
    for (sum, site) in sums.iter().zip(SITES) {
        let mean = sum / SEEDS as f64;
        let error = (mean - (64 * MIB) as f64).abs() / (64 * MIB) as f64;
        assert!(error < 0.10, "{site} at rate {rate}: mean estimate {mean:.0}, off by {error:.3}");
    }
}

#[test]
fn sampling_at_64k_is_unbiased() {
    check_unbiased(64 * 1024);
}

#[test]
fn sampling_at_512k_is_unbiased() {
    check_unbiased(512 * 1024);
}

#[test]
fn an_unsampled_recording_is_exact_and_says_nothing_of_estimates() {
    let recording = record_with(&[], &sizes(), &[] as &[&str]);
    for site in SITES {
        assert_eq!(alloc_space(&recording.trace, site), (64 * MIB) as f64, "{site}");
    }
    let summary = json(&["summary", arg(&recording.trace), "--json"]);
    assert_eq!(summary["sampled"], Value::Null);
}

/// Blocks grown by `realloc` and ended by `free` or `realloc(p, 0)`: a sampled block's
/// realloc must record its free however the new block is sampled, and a block that
/// was not sampled must leave nothing behind. `long_run realloc` keeps 3 blocks of
/// 4 MiB, far above the rate, so always sampled at scale 1.
#[test]
fn blocks_grown_by_realloc_are_estimated_and_end_where_they_end() {
    let full = record_with(&[], &sizes(), &["realloc"]);
    let summary = json(&["summary", arg(&full.trace), "--json"]);
    let counts = |s: &Value| {
        ["allocations", "frees", "bytes_allocated", "leaked_bytes", "leaked_blocks"]
            .map(|field| s[field].as_u64().unwrap_or_else(|| panic!("{field} in {s}")))
    };
    // 4000 chains of a malloc and 12 reallocs (32 B to 64 KiB), 3 of a malloc and 18.
    let allocated = 4000 * (2 * 65536 - 16) + 3 * (2 * 4 * MIB - 16);
    assert_eq!(counts(&summary), [52_057, 52_054, allocated, 12 * MIB, 3]);
    let env = [("MEMSCOPE_SAMPLE_SEED", "1")];
    let sampled = record_with_env(&env, &["--sample-rate", "65536"], &sizes(), &["realloc"]);
    let summary = json(&["summary", arg(&sampled.trace), "--json"]);
    let [_, _, estimated, leaked_bytes, leaked_blocks] = counts(&summary);
    assert_eq!((leaked_bytes, leaked_blocks), (12 * MIB, 3), "{summary}");
    let error = (estimated as f64 - allocated as f64).abs() / allocated as f64;
    assert!(error < 0.03, "bytes allocated estimated {estimated}, {allocated} made");
}

/// The series' file names, oldest first.
fn series_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list the series")
        .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The headline figures that count the whole run.
fn totals(trace: &Path) -> [u64; 5] {
    let summary = json(&["summary", arg(trace), "--json"]);
    ["allocations", "frees", "bytes_allocated", "leaked_bytes", "threads"]
        .map(|key| summary[key].as_u64().unwrap_or_else(|| panic!("{key} in {summary}")))
}

fn timeline(trace: &Path) -> Vec<Value> {
    json(&["timeline", arg(trace), "--interval", "50", "--json"]).as_array().expect("rows").clone()
}

fn top_total(trace: &Path, at: &str) -> i64 {
    json(&["top", arg(trace), "--at", at, "--json"])["total"].as_i64().expect("a total")
}

/// A series with its oldest files deleted, as `--keep 3` leaves it, holds the same
/// timeline rows and `top --at` values as the whole series for the time it holds, and
/// the whole run's totals, which equal an unrotated recording's.
#[test]
fn the_newest_files_of_a_series_agree_with_the_whole_recording() {
    let whole = record_with(&["--max-size", "4M", "--keep", "1000"], &sizes(), &[ROUNDS]);
    assert_eq!(whole.code(), Some(0), "{}", whole.stderr());
    let names = series_files(&whole.trace);
    assert!(names.len() >= 5, "a series of several files: {names:?}");
    let kept = whole.dir.path().join("kept");
    fs::create_dir(&kept).unwrap();
    for name in &names[names.len() - 3..] {
        fs::copy(whole.trace.join(name), kept.join(name)).unwrap();
    }

    let unrotated = record_with(&[], &sizes(), &[ROUNDS]);
    assert_eq!(totals(&whole.trace), totals(&unrotated.trace));
    assert_eq!(totals(&kept), totals(&whole.trace));
    let summary = json(&["summary", arg(&kept), "--json"]);
    let covers_from = summary["covers_from_ms"].as_f64().expect("covers_from_ms");
    assert_eq!(json(&["summary", arg(&whole.trace), "--json"])["covers_from_ms"], Value::Null);

    let (all_rows, kept_rows) = (timeline(&whole.trace), timeline(&kept));
    let first_kept = kept_rows[0]["t_ms"].as_f64().unwrap();
    assert_eq!(first_kept, (covers_from / 50.0).floor() * 50.0, "rows start where the files do");
    // The first row is only partly held; every row after it is whole.
    let held: Vec<&Value> =
        all_rows.iter().filter(|r| r["t_ms"].as_f64() > Some(first_kept)).collect();
    assert_eq!(kept_rows[1..].iter().collect::<Vec<_>>(), held);
    assert!(held.len() >= 3, "the kept files hold several rows: {}", held.len());
    // The first, partly held row names a moment of the kept files that they reproduce.
    let first = &kept_rows[0];
    let at = format!("{:.3}#{}", first["high_ms"].as_f64().unwrap(), first["high_events"]);
    assert_eq!(top_total(&kept, &at), first["bytes"].as_i64().unwrap(), "top --at {at}");
    for row in &held {
        let at = format!("{:.3}#{}", row["high_ms"].as_f64().unwrap(), row["high_events"]);
        let bytes = row["bytes"].as_i64().unwrap();
        assert_eq!(top_total(&kept, &at), bytes, "top --at {at} of the kept files");
        assert_eq!(top_total(&whole.trace, &at), bytes, "top --at {at} of the whole series");
    }

    let before = format!("{:.3}", covers_from / 2.0);
    let output = memscope(&["top", arg(&kept), "--at", &before]);
    assert_one_line_error(&output, "the older files of the rotated series are gone");
}

/// `--keep 3` leaves three files of about 4 MiB (rotation happens at a write past the
/// size), and the report on them warns of nothing.
#[test]
fn rotation_keeps_the_newest_files() {
    let recording = record_with(&["--max-size", "4M", "--keep", "3"], &sizes(), &[ROUNDS]);
    assert_eq!(recording.code(), Some(0), "{}", recording.stderr());
    let names = series_files(&recording.trace);
    assert_eq!(names.len(), 3, "{names:?}");
    assert_ne!(names[0], "000001", "the oldest files were deleted: {names:?}");
    for name in &names {
        let len = fs::metadata(recording.trace.join(name)).unwrap().len();
        assert!(len <= 4 * MIB + MIB / 2, "{name}: {len} bytes");
    }
    for name in &names[..2] {
        let len = fs::metadata(recording.trace.join(name)).unwrap().len();
        assert!(len >= 4 * MIB, "{name} was ended before its size: {len} bytes");
    }
    let output = memscope(&["summary", arg(&recording.trace)]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "", "no warnings on an intact series");
    assert!(text(&output.stdout).contains("covers: "), "{}", text(&output.stdout));
}

/// A file missing in the middle: one warning names it and the files left out, and the
/// newest run is still read.
#[test]
fn a_gap_in_a_series_is_named_and_the_newest_run_read() {
    let recording = record_with(&["--max-size", "4M", "--keep", "1000"], &sizes(), &[ROUNDS]);
    let names = series_files(&recording.trace);
    assert!(names.len() >= 4, "{names:?}");
    fs::remove_file(recording.trace.join(&names[1])).unwrap();
    let output = memscope(&["summary", arg(&recording.trace), "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let expected = format!(
        "memscope: warning: {}: file {} is missing from the series; the older file {} is not read\n",
        recording.trace.display(),
        names[1],
        names[0]
    );
    assert_eq!(text(&output.stderr), expected);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["complete"], true);
    assert!(summary["covers_from_ms"].as_f64().is_some(), "{summary}");
    // The JSON says it too, in the warning's words.
    let gap = expected.split_once(": file ").map(|(_, rest)| format!("file {}", rest.trim_end()));
    assert_eq!(summary["series_gaps"], serde_json::json!([gap.unwrap()]), "{summary}");
    assert_eq!(summary["damage"], serde_json::json!([]), "{summary}");
}

#[test]
fn bad_rotation_settings_get_one_line() {
    let program = sizes();
    let run = |options: &[&str]| {
        let mut args = vec!["run"];
        args.extend_from_slice(options);
        args.extend(["--", arg(&program)]);
        memscope(&args)
    };
    // clap's own errors: the bad value named, with a hint to --help.
    for (options, message) in [
        (["--max-size", "0", "--keep", "3"], "a size of 0 keeps nothing"),
        (["--max-size", "4M", "--keep", "0"], "0 is not in 1..="),
    ] {
        let output = run(&[&options[..], &["-o", "/tmp/x"]].concat());
        assert_eq!(output.status.code(), Some(2), "{options:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with("error: invalid value") && stderr.contains(message), "{stderr}");
    }
    assert_one_line_error(
        &run(&["--max-size", "4M", "--keep", "3", "-o", "/etc/passwd/trace"]),
        "Not a directory",
    );
    let empty = tempfile::tempdir().unwrap();
    assert_one_line_error(
        &memscope(&["summary", arg(empty.path())]),
        "the directory holds no trace files",
    );
}
