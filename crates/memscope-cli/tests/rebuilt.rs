//! A program rebuilt after it was recorded: its file on disk has another build id, so
//! its symbols would name the wrong functions and are not used. Every report that shows
//! its frames names it once on stderr, and its frames read `rebuilt+0xOFFSET`.
//! The fixture is `tests/fixtures/rebuilt/rebuilt.c`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{memscope, record, text, Recording};
use serde_json::Value;
use tempfile::TempDir;

/// `rebuilt.c` compiled into a directory of its own and recorded; with `rebuild`, then
/// compiled again with `-DVARIANT` over the same path, whose program differs and so
/// has another build id. The first build is kept beside it as `rebuilt.recorded`.
struct Fixture {
    _dir: TempDir,
    binary: PathBuf,
    recording: Recording,
}

fn fixture(rebuild: bool) -> Fixture {
    let dir = TempDir::new().expect("create a temporary directory");
    let binary = dir.path().join("rebuilt");
    compile(&binary, &[]);
    let recording = record(&binary, &[] as &[&str]);
    assert_eq!(recording.code(), Some(0), "{}", recording.stderr());
    std::fs::copy(&binary, dir.path().join("rebuilt.recorded")).expect("keep the first build");
    if rebuild {
        compile(&binary, &["-DVARIANT"]);
    }
    Fixture { _dir: dir, binary, recording }
}

fn compile(binary: &Path, flags: &[&str]) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rebuilt/rebuilt.c");
    let output = Command::new("gcc")
        .args(["-O0", "-g", "-Wl,--build-id"])
        .args(flags)
        .arg(&source)
        .arg("-o")
        .arg(binary)
        .output()
        .expect("run gcc");
    assert!(output.status.success(), "gcc: {}", text(&output.stderr));
}

/// The one line every report prints for the rebuilt fixture.
fn warning(binary: &Path) -> String {
    format!(
        "memscope: warning: {}: the file on disk has another build id than when it was \
         recorded (rebuilt?); its frames read rebuilt+0x…",
        binary.display()
    )
}

/// `memscope ARGS`, which must succeed: its stdout and its stderr's lines.
fn run(args: &[&str]) -> (String, Vec<String>) {
    let output = memscope(args);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "memscope {args:?}: {stderr}");
    (text(&output.stdout), stderr.lines().map(str::to_owned).collect())
}

/// The range of `function` in `binary` as `nm -S` gives it: start and size.
fn symbol_range(binary: &Path, function: &str) -> std::ops::Range<u64> {
    let output = Command::new("nm").arg("-S").arg(binary).output().expect("run nm");
    let listing = text(&output.stdout);
    let fields = listing
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.len() == 4 && fields[3] == function)
        .unwrap_or_else(|| panic!("no {function} in nm -S of {}:\n{listing}", binary.display()));
    let hex = |field: &str| u64::from_str_radix(field, 16).expect("a hex number");
    let start = hex(fields[0]);
    start..start + hex(fields[1])
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[test]
fn top_warns_once_of_a_rebuilt_program_and_names_its_frames_by_offset() {
    let fixture = fixture(true);

    let (_, stderr) = run(&["top", arg(&fixture.recording.trace)]);
    let (json, _) = run(&["top", arg(&fixture.recording.trace), "--json", "-n", "0"]);

    assert_eq!(stderr, [warning(&fixture.binary)]);
    // The 3 x 100 bytes were allocated from make_block, whose return address into it
    // is now named by its offset in the file: within make_block of the recorded build.
    let top: Value = serde_json::from_str(&json).expect("JSON");
    let rows = top["rows"].as_array().expect("rows");
    let leaked: Vec<&Value> = rows.iter().filter(|row| row["flat"] == 300).collect();
    let [row] = &leaked[..] else { panic!("not one row of 300 bytes: {rows:?}") };
    let function = row["function"].as_str().expect("a function");
    let offset = function.strip_prefix("rebuilt+0x").unwrap_or_else(|| panic!("{function}"));
    let offset = u64::from_str_radix(offset, 16).expect("a hex offset");
    let recorded = fixture.binary.with_file_name("rebuilt.recorded");
    let make_block = symbol_range(&recorded, "make_block");
    assert!(make_block.contains(&(offset - 1)), "{offset:#x} is not in {make_block:x?}");
}

#[test]
fn exports_warn_of_a_rebuilt_program_once() {
    let fixture = fixture(true);
    let out = fixture.binary.with_file_name("stacks.folded");

    let trace = arg(&fixture.recording.trace);
    let (_, stderr) = run(&["export", trace, "--format", "collapsed", "-o", arg(&out)]);

    assert_eq!(stderr, [warning(&fixture.binary)]);
}

#[test]
fn a_diff_of_two_recordings_of_a_rebuilt_program_warns_once() {
    let fixture = fixture(true);
    let trace = arg(&fixture.recording.trace);

    // Both recordings hold the module, and both symbolize it: one report, one warning.
    let (_, stderr) = run(&["diff", trace, trace]);

    assert_eq!(stderr, [warning(&fixture.binary)]);
}

#[test]
fn a_program_not_rebuilt_gets_no_warning_and_its_names() {
    let fixture = fixture(false);

    let (_, stderr) = run(&["top", arg(&fixture.recording.trace)]);
    let (json, _) = run(&["top", arg(&fixture.recording.trace), "--json", "-n", "1"]);

    assert_eq!(stderr, [] as [String; 0]);
    let top: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(top["rows"][0]["function"], "make_block", "{top}");
    assert_eq!(top["rows"][0]["flat"], 300, "{top}");
}
