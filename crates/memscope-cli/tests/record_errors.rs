//! Issue 2, "Record any program": bad input gets a clear one-line error and a non-zero
//! exit, never a panic. A damaged trace is reported on as far as it is readable, with
//! one warning line saying where the damage starts.

mod common;
#[path = "../../memscope-format/tests/common/crc.rs"]
mod crc;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{assert_no_panic, assert_one_line_error, build_plain, memscope, text, Recording};
use tempfile::TempDir;

/// `memscope run -- PROGRAM` from a fresh directory, with no -o.
fn run_program(program: &Path) -> std::process::Output {
    run_refused(&[], program.as_os_str())
}

/// `memscope run OPTIONS -- PROGRAM` from a fresh directory, which must stay empty: the
/// program never ran (or it would leave its trace). The session directory (made in
/// `XDG_RUNTIME_DIR`) must be gone too, with its spare capture areas.
fn run_refused(options: &[&str], program: &std::ffi::OsStr) -> std::process::Output {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let runtime = tempfile::tempdir().expect("a temporary directory");
    let output = std::process::Command::new(common::memscope_bin())
        .arg("run")
        .args(options)
        .arg("--")
        .arg(program)
        .current_dir(dir.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("run memscope");
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
    assert!(left.is_empty(), "{options:?}: a trace was written for a program that never ran");
    let sessions: Vec<_> = std::fs::read_dir(runtime.path()).expect("list").flatten().collect();
    assert!(sessions.is_empty(), "{options:?}: the session was left behind: {sessions:?}");
    output
}

#[test]
fn a_missing_command_exits_127_with_one_line() {
    let output = run_program(Path::new("/nonexistent/program"));
    assert_one_line_error(&output, "cannot run /nonexistent/program");
    assert_eq!(output.status.code(), Some(127));
    let output = run_program(Path::new("no-such-program-on-the-path"));
    assert_one_line_error(&output, "cannot run no-such-program-on-the-path");
    assert_eq!(output.status.code(), Some(127));
}

#[test]
fn a_command_that_cannot_be_executed_exits_126_with_one_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\necho hello\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for program in [script.as_path(), dir.path()] {
        let output = run_program(program);
        assert_one_line_error(&output, &format!("cannot run {}", program.display()));
        assert_eq!(output.status.code(), Some(126));
    }
}

#[test]
fn run_without_a_command_is_a_usage_error() {
    // clap's usage message, which says what is missing and how to get help.
    let output = memscope(&["run"]);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).starts_with("error: "), "{}", text(&output.stderr));
}

#[test]
fn live_mode_with_a_trace_path_is_refused_before_the_program_runs() {
    for extra in [["-o", "trace"], ["--max-size", "4M"]] {
        let options = [&["--serve", ":0", "--mode", "live"][..], &extra].concat();
        let output = run_refused(&options, "true".as_ref());
        assert_one_line_error(&output, "--mode live writes no trace");
    }
}

#[test]
fn an_unwritable_output_path_fails_before_the_program_runs() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let marker = dir.path().join("ran");
    let touch = ["touch".to_owned(), marker.display().to_string()];
    let missing_dir = dir.path().join("no/such/dir/trace");
    let cases: [(&Path, &str); 2] =
        [(&missing_dir, "cannot write trace"), (dir.path(), "it is a directory")];
    for (output_path, message) in cases {
        let mut args = vec!["run".to_owned(), "-o".to_owned(), output_path.display().to_string()];
        args.push("--".to_owned());
        args.extend(touch.iter().cloned());
        let output = memscope(&args);
        assert_one_line_error(&output, message);
        assert!(text(&output.stderr).contains(&output_path.display().to_string()));
        assert!(!marker.exists(), "the program ran although its trace cannot be written");
    }
}

/// Issue 17: `run -o` never deletes or overwrites what is at its path, and never
/// follows a symbolic link there.
#[test]
fn run_refuses_an_existing_file_or_symbolic_link_at_its_output_path() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let marker = dir.path().join("ran");
    let file = dir.path().join("earlier.trace");
    std::fs::write(&file, "keep me").unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, "keep me too").unwrap();
    let link = dir.path().join("link.trace");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for path in [&file, &link] {
        let args = [
            "run".as_ref(),
            "-o".as_ref(),
            path.as_os_str(),
            "--".as_ref(),
            "touch".as_ref(),
            marker.as_os_str(),
        ];
        let output = memscope(&args);
        assert_one_line_error(&output, "which memscope never replaces");
        assert!(!marker.exists(), "the program ran although its trace has nowhere to go");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me too");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

/// A file that appears at the trace's path while the program runs is kept: the trace
/// takes the next free name, and `run` says so.
#[test]
fn a_file_planted_at_the_trace_path_while_the_program_runs_is_kept() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let trace = dir.path().join("trace");
    let plant = format!("echo planted > {}", trace.display());
    let args = [
        "run".as_ref(),
        "-o".as_ref(),
        trace.as_os_str(),
        "--".as_ref(),
        "sh".as_ref(),
        "-c".as_ref(),
        plant.as_ref(),
    ];
    let output = memscope(&args);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(std::fs::read_to_string(&trace).unwrap(), "planted\n");
    let moved = dir.path().join("trace.1");
    assert!(
        stderr.contains(&format!(
            "{} exists, so the trace went to {}",
            trace.display(),
            moved.display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::metadata(&moved).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(stderr.contains(&format!("trace: {}", moved.display())), "{stderr}");
}

// ---------------------------------------------------------------------------------
// Damaged traces

/// A real trace, of `hooks all`, and its bytes.
fn recorded_trace() -> (Recording, Vec<u8>) {
    let run = common::record(&build_plain("hooks.c"), &["all"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let bytes = std::fs::read(&run.trace).expect("read the trace");
    (run, bytes)
}

/// Writes `bytes` as a trace file in `dir`.
fn trace_file(dir: &TempDir, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join("damaged");
    std::fs::write(&path, bytes).expect("write the trace");
    path
}

/// Where each block starts and ends.
fn blocks(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    common::block_ranges(bytes)
}

/// Both reports fail on `path` with one line containing `message`.
fn assert_unreadable(path: &Path, message: &str) {
    for report in ["summary", "leaks"] {
        for json in [false, true] {
            let mut args = vec![report, path.to_str().expect("a UTF-8 path")];
            args.extend(json.then_some("--json"));
            let output = memscope(&args);
            assert_one_line_error(&output, message);
            assert!(text(&output.stderr).contains(&path.display().to_string()));
        }
    }
}

/// Both reports succeed on `path` with valid JSON and exactly one warning line
/// containing `message`; returns the summary.
fn assert_readable_with_warning(path: &Path, message: &str) -> serde_json::Value {
    let leaks = memscope(&["leaks", path.to_str().expect("a UTF-8 path"), "--json"]);
    let summary = memscope(&["summary", path.to_str().expect("a UTF-8 path"), "--json"]);
    for output in [&leaks, &summary] {
        assert_no_panic(output);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let stderr = text(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("memscope: warning: "), "{stderr}");
        assert!(stderr.contains(message), "{message:?} not in {stderr}");
        let _: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    }
    serde_json::from_slice(&summary.stdout).expect("JSON")
}

#[test]
fn a_truncated_trace_reports_what_was_written_before_the_cut() {
    let (run, bytes) = recorded_trace();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let blocks = blocks(&bytes);
    // Cut the last block (the end block) in half: every event is still there.
    let last = blocks.last().expect("blocks").clone();
    let cut = last.start + (last.end - last.start) / 2;
    let path = trace_file(&dir, &bytes[..cut]);
    let summary = assert_readable_with_warning(&path, &format!("truncated at byte {}", last.start));
    assert_eq!(summary["complete"], false, "{summary}");
    assert_eq!(summary["allocations"], run.summary().n("allocations"), "{summary}");
    // Cut through the middle of the file.
    let middle = blocks.iter().find(|b| b.contains(&(bytes.len() / 2))).expect("a block");
    let path = trace_file(&dir, &bytes[..bytes.len() / 2]);
    assert_readable_with_warning(&path, &format!("truncated at byte {}", middle.start));
}

/// Issue 17: the blocks after a damaged one are read, the end record among them, and
/// the warning names the bytes skipped and the events they held.
#[test]
fn a_corrupted_block_is_reported_by_its_checksum() {
    let (run, mut bytes) = recorded_trace();
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Flip a payload byte of the block that holds the middle of the file.
    let middle = bytes.len() / 2;
    let block = blocks(&bytes).into_iter().find(|b| b.contains(&middle)).expect("a block");
    let at = middle.max(block.start + 29);
    assert!(at < block.end, "the block has no payload");
    bytes[at] ^= 0xff;
    let path = trace_file(&dir, &bytes);
    let message = format!(
        "bytes {}..{} skipped: checksum mismatch in block at byte {}",
        block.start, block.end, block.start
    );
    let summary = assert_readable_with_warning(&path, &message);
    assert_eq!(summary["complete"], true, "{summary}");
    let damage = &summary["damage"];
    assert_eq!(damage.as_array().map(Vec::len), Some(1), "{summary}");
    assert_eq!(
        (&damage[0]["offset"], &damage[0]["length"]),
        (&block.start.into(), &(block.end - block.start).into())
    );
    // The events lost and those read add up to what the recorder wrote.
    let recorded = run.summary();
    let written = recorded.n("allocations") + recorded.n("frees");
    let read = summary["allocations"].as_u64().unwrap() + summary["frees"].as_u64().unwrap();
    let lost = damage[0]["events_lost"].as_u64().unwrap_or_else(|| panic!("{summary}"));
    assert_eq!(read + lost, written, "{summary}");
}

#[test]
fn a_trace_of_another_format_version_is_refused() {
    let (_run, mut bytes) = recorded_trace();
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A version 4 header damaged in its version field is still known by its checksum.
    bytes[8..12].copy_from_slice(&9u32.to_le_bytes());
    assert_readable_with_warning(
        &trace_file(&dir, &bytes),
        "bytes 0..16 skipped: file header checksum mismatch; no events lost",
    );
    // A header that says version 9 and whose checksum agrees is a newer trace.
    let crc = crc::crc32(&bytes[..12]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    assert_unreadable(&trace_file(&dir, &bytes), "version 9");
}

#[test]
fn missing_empty_and_foreign_files_are_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    assert_unreadable(&dir.path().join("missing"), "cannot open trace");
    assert_unreadable(&trace_file(&dir, b""), "empty");
    let not_a_trace = dir.path().join("hello.c");
    std::fs::write(&not_a_trace, "int main(void) { return 0; }\n").expect("write");
    assert_unreadable(&not_a_trace, "not a memscope trace");
    assert_unreadable(&trace_file(&dir, b"MEMS"), "not a memscope trace");
    assert_unreadable(&trace_file(&dir, b"MEMSCOPE\x01\0"), "truncated at byte 0");
    assert_unreadable(dir.path(), "cannot open trace");
}

/// Issue 17: a trace cut exactly at a block boundary printed no warning in top, leaks,
/// peak, timeline or diff; and `peak` and `top --peak` panicked on a trace holding only
/// its header block. Every report now prints the same one warning, and succeeds.
#[test]
fn every_report_warns_of_a_cut_at_a_block_boundary() {
    let (_run, bytes) = recorded_trace();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let blocks = blocks(&bytes);
    for cut in [blocks[blocks.len() - 1].start, blocks[0].end] {
        let path = trace_file(&dir, &bytes[..cut]);
        let trace = path.to_str().expect("a UTF-8 path");
        let warning = format!(
            "memscope: warning: {trace}: the trace ends at byte {cut} without an end record; an unknown number of events lost"
        );
        let reports: [&[&str]; 8] = [
            &["summary", trace],
            &["top", trace],
            &["top", trace, "--peak"],
            &["leaks", trace],
            &["peak", trace],
            &["timeline", trace],
            &["diff", trace],
            &["diff", trace, trace],
        ];
        for args in reports {
            let output = memscope(args);
            assert_no_panic(&output);
            assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
            let stderr = text(&output.stderr);
            let lines: Vec<&str> = stderr.lines().collect();
            let expected = if args.len() == 3 && args[0] == "diff" { 2 } else { 1 };
            assert_eq!(lines.len(), expected, "{args:?}: {stderr}");
            assert!(lines.iter().all(|line| line.starts_with(&warning)), "{args:?}: {stderr}");
        }
    }
}
