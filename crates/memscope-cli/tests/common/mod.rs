//! Helpers shared by the `record*` integration tests: building the C and C++ fixtures
//! in `tests/fixtures/record`, running them under `memscope run`, reading
//! `summary --json` and `leaks --json`, and running the same programs under valgrind.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code)]

pub mod pprof;

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

/// The `memscope` executable, after checking that the preload library sits beside it.
pub fn memscope_bin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_memscope"));
    let preload = bin.with_file_name("libmemscope_preload.so");
    assert!(
        preload.is_file(),
        "{} is missing: run `cargo build --release --workspace` (with the same \
         CARGO_TARGET_DIR) before these tests",
        preload.display()
    );
    bin
}

/// Compares `text` with the golden file `tests/golden/NAME`, or writes it there when
/// MEMSCOPE_BLESS=1 (for review in the diff).
pub fn assert_golden(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var("MEMSCOPE_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().expect("tests/golden")).expect("tests/golden");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (MEMSCOPE_BLESS=1 writes it)", path.display()));
    assert_eq!(text, golden, "{} differs (MEMSCOPE_BLESS=1 rewrites it)", path.display());
}

/// `memscope ARGS`, run to completion with its output captured.
pub fn memscope<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(memscope_bin()).args(args).stdin(Stdio::null()).output().expect("run memscope")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails if memscope panicked (its message and backtrace go to stderr).
pub fn assert_no_panic(output: &Output) {
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "a panic:\n{stderr}");
}

/// Requires a failure told in exactly one line that starts with "memscope:" and
/// contains `message`, and nothing on stdout.
pub fn assert_one_line_error(output: &Output, message: &str) {
    assert_no_panic(output);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "exit status {:?}; stderr:\n{stderr}", output.status);
    assert_eq!(stderr.lines().count(), 1, "not one line:\n{stderr}");
    assert!(stderr.starts_with("memscope: "), "{stderr}");
    assert!(stderr.contains(message), "{message:?} not in: {stderr}");
    assert!(output.stdout.is_empty(), "stdout: {}", text(&output.stdout));
}

// ---------------------------------------------------------------------------------
// Fixtures

/// A fixture's source file.
pub fn fixture_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/record").join(name)
}

/// The line of `source` whose comment is exactly `/* MARKER */`, 1-based.
pub fn marker_line(source: &str, marker: &str) -> u32 {
    let path = fixture_source(source);
    let code = std::fs::read_to_string(&path).expect("read fixture source");
    let comment = format!("/* {marker} */");
    let mut lines = code.lines().enumerate().filter(|(_, line)| line.contains(&comment));
    let (index, _) = lines.next().unwrap_or_else(|| panic!("no {comment} in {}", path.display()));
    assert!(lines.next().is_none(), "{comment} marks more than one line of {source}");
    index as u32 + 1
}

/// Compiles the fixture `source` (`.c` with gcc, `.cpp` with g++) with `-g` and
/// `flags`; see [`build_file`].
pub fn build(source: &str, flags: &[&str]) -> PathBuf {
    build_file(&fixture_source(source), flags)
}

/// Compiles `source` (C with gcc, C++ with g++, Rust with rustc) with `-g` and `flags`,
/// once per test process and set of flags.
/// Binaries go to cargo's temporary directory for integration tests; each is written
/// under a private name and renamed into place, so test processes running at once
/// never see a half-written one.
pub fn build_file(source: &Path, flags: &[&str]) -> PathBuf {
    /// (source, flags) -> binary.
    type Built = HashMap<(PathBuf, Vec<String>), PathBuf>;
    static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
    let key = (source.to_owned(), flags.iter().map(|f| f.to_string()).collect());
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&key) {
        return path.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("record-fixtures");
    std::fs::create_dir_all(&dir).expect("create the fixture directory");
    let stem = source.file_stem().and_then(OsStr::to_str).expect("a file name");
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    let tag = hasher.finish();
    let binary = dir.join(format!("{stem}-{tag:016x}"));
    let partial = dir.join(format!(".{stem}-{tag:016x}.{}", std::process::id()));
    let compiler = match source.extension().and_then(OsStr::to_str) {
        Some("cpp") => "g++",
        Some("rs") => "rustc",
        _ => "gcc",
    };
    let output = Command::new(compiler)
        .arg("-g")
        .args(flags)
        .arg(source)
        .arg("-o")
        .arg(&partial)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(output.status.success(), "{compiler} {}:\n{}", source.display(), text(&output.stderr));
    std::fs::rename(&partial, &binary).expect("move the fixture into place");
    built.insert(key, binary.clone());
    binary
}

/// `shared/bench/churn.c` built as its comment says, or `None` with a note when the
/// shared folder is not beside the work tree.
pub fn churn() -> Option<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/churn.c");
    if !source.is_file() {
        eprintln!("note: {} is absent; skipping", source.display());
        return None;
    }
    Some(build_file(&source, &["-O2", "-pthread"]))
}

/// Built the way the tests of exact stacks want it: no optimisation, so every call
/// stays a call (no tail calls, no inlining).
pub fn build_plain(source: &str) -> PathBuf {
    let mut flags = vec!["-O0"];
    if source.ends_with(".c") {
        flags.push("-pthread");
    }
    build(source, &flags)
}

// ---------------------------------------------------------------------------------
// Recording

/// One `memscope run`: its output and the trace it wrote, in a directory of its own.
pub struct Recording {
    pub dir: TempDir,
    pub trace: PathBuf,
    pub output: Output,
}

impl Recording {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn stderr(&self) -> String {
        text(&self.output.stderr)
    }

    pub fn summary(&self) -> Summary {
        summary(&self.trace)
    }

    pub fn leaks(&self) -> Vec<Leak> {
        leaks(&self.trace)
    }

    /// The files memscope wrote to its directory, sorted by name.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("list the trace directory")
            .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into())
            .collect();
        names.sort();
        names
    }
}

/// `memscope run OPTIONS -o DIR/trace -- PROGRAM ARGS`, in a fresh directory.
pub fn record_with<S: AsRef<OsStr>>(options: &[&str], program: &Path, args: &[S]) -> Recording {
    record_with_env(&[], options, program, args)
}

/// [`record_with`], with `env` set for `memscope run` and so for the program.
pub fn record_with_env<S: AsRef<OsStr>>(
    env: &[(&str, &str)],
    options: &[&str],
    program: &Path,
    args: &[S],
) -> Recording {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let trace = dir.path().join("trace");
    let mut command = Command::new(memscope_bin());
    command
        .arg("run")
        .args(options)
        .arg("-o")
        .arg(&trace)
        .arg("--")
        .arg(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir.path());
    let output = output_within(&mut command, RUN_TIMEOUT);
    assert_no_panic(&output);
    Recording { dir, trace, output }
}

/// Longer than any fixture needs by far: reaching it means a hang.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `command` in a process group of its own and collects its output. If it is not
/// done within `timeout`, the group's processes are shown with gdb, then killed, and
/// the test fails: the recorder must never hang its host.
pub fn output_within(command: &mut Command, timeout: Duration) -> Output {
    output_or_hang(command, timeout).unwrap_or_else(|hang| panic!("{hang}"))
}

/// As [`output_within`], but a command still running at `timeout` is killed and told
/// of (with its processes' stacks) as an error rather than a failed test.
pub fn output_or_hang(command: &mut Command, timeout: Duration) -> Result<Output, String> {
    let child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    let group = child.id() as i32;
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match outcome.recv_timeout(timeout) {
        Ok(output) => Ok(output.expect("wait for the command")),
        Err(_) => {
            let stacks = group_backtraces(group);
            // SAFETY: kill has no memory effects; the group is the one started above.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = outcome.recv();
            Err(format!("{command:?} still runs after {timeout:?}; its threads were:\n{stacks}"))
        }
    }
}

/// `gdb -batch -ex 'thread apply all bt'` for every process of `group`.
fn group_backtraces(group: i32) -> String {
    let mut report = String::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // "PID (COMMAND) STATE PPID PGRP ...": the command may hold spaces.
        let Some((command, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(')'))
        else {
            continue;
        };
        if rest.split_whitespace().nth(2) != Some(&group.to_string()) {
            continue;
        }
        let gdb = Command::new("gdb")
            .args(["-batch", "-ex", "thread apply all bt", "-p", &pid.to_string()])
            .stdin(Stdio::null())
            .output();
        let shown = gdb.map_or_else(|e| format!("gdb: {e}"), |o| text(&o.stdout));
        report.push_str(&format!("--- pid {pid} ({command}):\n{shown}\n"));
    }
    report
}

/// `memscope run -o DIR/trace -- PROGRAM ARGS`, in a fresh directory.
pub fn record<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Recording {
    record_with(&[], program, args)
}

/// Runs a report that must succeed, and parses its JSON.
fn report_json(report: &str, trace: &Path) -> Value {
    report_json_with(report, trace, &[])
}

/// [`report_json`] with more options.
pub fn report_json_with(report: &str, trace: &Path, options: &[&str]) -> Value {
    let mut args = vec![OsStr::new(report), trace.as_os_str(), OsStr::new("--json")];
    args.extend(options.iter().map(OsStr::new));
    let output = memscope(&args);
    assert_no_panic(&output);
    assert!(output.status.success(), "memscope {report}: {}", text(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("memscope {report} --json: {e}: {}", text(&output.stdout)))
}

/// `memscope summary TRACE --json`.
#[derive(Clone, Debug)]
pub struct Summary(pub Value);

impl Summary {
    /// A whole-number field; panics if it is missing or not one.
    pub fn n(&self, key: &str) -> u64 {
        self.0[key].as_u64().unwrap_or_else(|| panic!("no whole number {key} in {}", self.0))
    }

    /// A milliseconds field.
    pub fn ms(&self, key: &str) -> f64 {
        self.0[key].as_f64().unwrap_or_else(|| panic!("no number {key} in {}", self.0))
    }

    pub fn complete(&self) -> bool {
        self.0["complete"].as_bool().unwrap_or_else(|| panic!("no complete in {}", self.0))
    }

    pub fn end_reason(&self) -> Option<&str> {
        self.0["end_reason"].as_str()
    }

    /// The counts valgrind also reports.
    pub fn heap(&self) -> HeapCounts {
        HeapCounts {
            allocations: self.n("allocations"),
            frees: self.n("frees"),
            bytes_allocated: self.n("bytes_allocated"),
            leaked_bytes: self.n("leaked_bytes"),
            leaked_blocks: self.n("leaked_blocks"),
        }
    }
}

/// `memscope summary TRACE --json`, which replays the trace. For a complete trace,
/// also checks that the totals the recorder kept (`--recorded`) are the same numbers.
pub fn summary(trace: &Path) -> Summary {
    let replayed = Summary(report_json("summary", trace));
    if replayed.complete() {
        let output = memscope(&[
            OsStr::new("summary"),
            trace.as_os_str(),
            "--recorded".as_ref(),
            "--json".as_ref(),
        ]);
        assert!(output.status.success(), "summary --recorded: {}", text(&output.stderr));
        let recorded: Value =
            serde_json::from_slice(&output.stdout).expect("summary --recorded --json");
        // The recorder does not count the events of the peak's tick, nor each thread's.
        let mut replayed_totals = replayed.0.clone();
        replayed_totals["peak_events"] = Value::Null;
        replayed_totals.as_object_mut().expect("an object").remove("threads_detail");
        assert_eq!(recorded, replayed_totals, "the recorder's totals against the replay");
    }
    replayed
}

/// One frame of a leak's stack.
#[derive(Clone, Debug)]
pub struct Frame {
    pub function: String,
    pub file: Option<String>,
    pub line: Option<u64>,
    pub module: String,
    pub address: u64,
}

/// One row of `memscope leaks --json`.
#[derive(Clone, Debug)]
pub struct Leak {
    pub bytes: u64,
    pub blocks: u64,
    pub allocations: u64,
    /// Innermost first.
    pub stack: Vec<Frame>,
}

impl Leak {
    /// The stack without the C++ runtime's `operator new` frames, which call malloc on
    /// the program's behalf: the first frame is then the program's allocating function.
    pub fn program_stack(&self) -> &[Frame] {
        let runtime = self.stack.iter().take_while(|f| f.function.starts_with("operator new"));
        &self.stack[runtime.count()..]
    }

    /// The allocating function, as `program_stack` shows it.
    pub fn site(&self) -> &str {
        self.program_stack().first().map_or("", |f| f.function.as_str())
    }

    /// Requires the allocating frame to be `function` at `source`:`line`, with the
    /// source file named by its full path as it was given to the compiler.
    pub fn assert_site(&self, function: &str, source: &str, line: u32) {
        let frame = self.program_stack().first().unwrap_or_else(|| panic!("empty stack: {self:?}"));
        assert_eq!(frame.function, function, "{self:#?}");
        assert_eq!(
            frame.file.as_deref().map(PathBuf::from),
            Some(fixture_source(source)),
            "{self:#?}"
        );
        assert_eq!(frame.line, Some(u64::from(line)), "{self:#?}");
    }

    /// Distinct return addresses on the stack (inlined frames share one).
    pub fn addresses(&self) -> usize {
        let mut addresses: Vec<u64> = self.stack.iter().map(|f| f.address).collect();
        addresses.dedup();
        addresses.len()
    }
}

fn frame(value: &Value) -> Frame {
    Frame {
        function: value["function"].as_str().expect("function").to_owned(),
        file: value["file"].as_str().map(str::to_owned),
        line: value["line"].as_u64(),
        module: value["module"].as_str().expect("module").to_owned(),
        address: value["address"].as_u64().expect("address"),
    }
}

/// Every leaked stack (`leaks -n 0`).
pub fn leaks(trace: &Path) -> Vec<Leak> {
    let rows = report_json_with("leaks", trace, &["-n", "0"]);
    let rows = rows.as_array().unwrap_or_else(|| panic!("leaks --json is not an array: {rows}"));
    rows.iter()
        .map(|row| {
            let n = |key: &str| row[key].as_u64().unwrap_or_else(|| panic!("{key} in {row}"));
            Leak {
                bytes: n("bytes"),
                blocks: n("blocks"),
                allocations: n("allocations"),
                stack: row["stack"].as_array().expect("stack").iter().map(frame).collect(),
            }
        })
        .collect()
}

/// The leak rows whose allocating function is `function`.
pub fn leaks_at<'a>(leaks: &'a [Leak], function: &str) -> Vec<&'a Leak> {
    leaks.iter().filter(|leak| leak.site() == function).collect()
}

/// The one leak row whose allocating function is `function`.
pub fn leak_at<'a>(leaks: &'a [Leak], function: &str) -> &'a Leak {
    let found = leaks_at(leaks, function);
    assert_eq!(found.len(), 1, "want one leak row at {function}, got {found:#?}\nall: {leaks:#?}");
    found[0]
}

// ---------------------------------------------------------------------------------
// Valgrind

/// The numbers memcheck's HEAP SUMMARY and memscope's summary have in common.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct HeapCounts {
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub leaked_bytes: u64,
    pub leaked_blocks: u64,
}

impl std::ops::Sub for HeapCounts {
    type Output = HeapCounts;
    fn sub(self, base: HeapCounts) -> HeapCounts {
        HeapCounts {
            allocations: self.allocations - base.allocations,
            frees: self.frees - base.frees,
            bytes_allocated: self.bytes_allocated - base.bytes_allocated,
            leaked_bytes: self.leaked_bytes - base.leaked_bytes,
            leaked_blocks: self.leaked_blocks - base.leaked_blocks,
        }
    }
}

/// Whether valgrind is installed; tests that need it print a note and pass without it.
pub fn have_valgrind() -> bool {
    have_tool("valgrind", "--version")
}

/// Whether `tool` runs (`tool ARG` succeeds). A test without it is skipped with a note,
/// except in CI (`CI=true`), where every tool must be installed and a missing one
/// fails the test.
pub fn have_tool(tool: &str, arg: &str) -> bool {
    let found = Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is not installed, and CI needs it"
        );
        eprintln!("note: {tool} is not installed; skipping");
    }
    found
}

/// `path` if it exists. Outside CI a missing program skips the test; in CI it fails it.
pub fn installed(path: &str) -> Option<PathBuf> {
    let path = PathBuf::from(path);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is not installed, and CI needs it",
        path.display()
    );
    eprintln!("note: {} is not installed; skipping", path.display());
    None
}

/// How many allocations the trace counts at stacks whose innermost program frame is
/// `function` (`top --by alloc_objects`, flat).
pub fn allocations_at(trace: &Path, function: &str) -> u64 {
    let output = memscope(&[
        OsStr::new("top"),
        OsStr::new("--json"),
        OsStr::new("-n"),
        OsStr::new("0"),
        OsStr::new("--by"),
        OsStr::new("alloc_objects"),
        trace.as_os_str(),
    ]);
    assert!(output.status.success(), "memscope top: {}", text(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).expect("top --json");
    json["rows"]
        .as_array()
        .expect("top rows")
        .iter()
        .filter(|row| row["function"] == function)
        .map(|row| row["flat"].as_u64().expect("a count"))
        .sum()
}

/// Numbers in valgrind's reports have thousands separators.
fn number_before(line: &str, word: &str) -> u64 {
    let at = line.find(word).unwrap_or_else(|| panic!("no {word:?} in {line:?}"));
    let digits: String = line[..at]
        .trim_end()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or_else(|_| panic!("no number before {word:?} in {line:?}"))
}

/// Parses memcheck's "in use at exit: B bytes in N blocks" and "total heap usage: X
/// allocs, Y frees, Z bytes allocated" lines.
pub fn parse_valgrind(log: &str) -> HeapCounts {
    let line = |key: &str| {
        log.lines()
            .find(|line| line.contains(key))
            .unwrap_or_else(|| panic!("no {key:?} in:\n{log}"))
    };
    let in_use = line("in use at exit:");
    let usage = line("total heap usage:");
    HeapCounts {
        allocations: number_before(usage, " allocs"),
        frees: number_before(usage, " frees"),
        bytes_allocated: number_before(usage, " bytes allocated"),
        leaked_bytes: number_before(in_use, " bytes in"),
        leaked_blocks: number_before(in_use, " blocks"),
    }
}

/// What the two runs of a comparison add to the environment. Both add their own
/// variables (valgrind: GLIBCXX_FORCE_NEW and the like; memscope: MEMSCOPE_* and
/// PYTHONMALLOC), and both preload libraries; programs copy their environment (perl's
/// %ENV, for one), so each run gets the other's variables too, with values of the same
/// length, and LD_PRELOAD is padded with empty entries (`:`) to the same length in
/// both. memscope's library has no thread-local storage, so glibc's per-thread
/// bookkeeping is the same size under both. With that, the environments differ in
/// their text only, and bytes must be equal.
struct Environments {
    memscope: Vec<(OsString, OsString)>,
    valgrind: Vec<(OsString, OsString)>,
}

/// The environment a program gets under valgrind with `env` set, as `(name, value)`.
fn valgrind_environment(env: &[(OsString, OsString)]) -> HashMap<OsString, OsString> {
    let output = Command::new("valgrind")
        .args(["-q", "--log-file=/dev/null", "env", "-0"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .expect("run valgrind env");
    assert!(output.status.success(), "valgrind env: {}", text(&output.stderr));
    output
        .stdout
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let at = entry.iter().position(|&b| b == b'=')?;
            Some((
                OsStr::from_bytes(&entry[..at]).into(),
                OsStr::from_bytes(&entry[at + 1..]).into(),
            ))
        })
        .collect()
}

fn environments() -> &'static Environments {
    static ENVIRONMENTS: OnceLock<Environments> = OnceLock::new();
    ENVIRONMENTS.get_or_init(|| {
        let preload = OsString::from("LD_PRELOAD");
        let seen = valgrind_environment(&[(preload.clone(), ":".into())]);
        let own: HashMap<OsString, OsString> = std::env::vars_os().collect();
        let mut memscope: Vec<(OsString, OsString)> = seen
            .iter()
            .filter(|(name, value)| **name != preload && own.get(*name) != Some(*value))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        // memscope run sets LD_PRELOAD to its library, `:`, and what was there;
        // valgrind to its libraries, `:`, and what was there.
        let library = memscope_bin().with_file_name("libmemscope_preload.so");
        let library = std::fs::canonicalize(library).expect("the preload library's path");
        let under_valgrind = seen[&preload].len() - 1;
        let pad = under_valgrind.saturating_sub(library.as_os_str().len() + 1).max(1);
        let length = library.as_os_str().len() + 1 + pad;
        memscope.push((preload.clone(), ":".repeat(pad).into()));
        let mut valgrind = vec![(preload.clone(), ":".repeat(length - under_valgrind).into())];
        for (name, value) in MEMSCOPE_VARIABLES {
            valgrind.push((name.into(), value.into()));
        }
        let padded = valgrind_environment(&valgrind);
        assert_eq!(padded[&preload].len(), length, "LD_PRELOAD under valgrind: {padded:?}");
        Environments { memscope, valgrind }
    })
}

/// What `memscope run` sets for its program (see `crates/memscope-cli/src/run.rs`),
/// with values of the lengths it uses: the session directory is made in
/// XDG_RUNTIME_DIR, which both runs of a comparison set to their (equally long)
/// temporary directories, as `memscope-PPPPPPPPPP-NNN`, and the parent's pid has ten
/// digits.
const MEMSCOPE_VARIABLES: [(&str, &str); 6] = [
    ("MEMSCOPE_SESSION", "@/memscope-0000000000-000"),
    ("MEMSCOPE_UNWIND", "dwarf"),
    ("MEMSCOPE_MAX_FRAMES", "64"),
    ("MEMSCOPE_FOLLOW", "exec"),
    ("MEMSCOPE_PARENT", "0000000000"),
    ("PYTHONMALLOC", "malloc"),
];

/// The same run under memscope and under valgrind.
#[derive(Debug)]
pub struct Comparison {
    pub memscope: HeapCounts,
    pub valgrind: HeapCounts,
}

/// Runs `program args` under `memscope run` and under memcheck (which is told to free
/// nothing at exit that the program does not free itself), from the same directory
/// with the same environment (see [`Environments`]) plus `env`, with stdin empty and
/// stdout and stderr pipes. Both must exit alike. Prints both sets of numbers, for
/// the record. `None` when valgrind is not installed.
pub fn compare_with_valgrind<S: AsRef<OsStr>>(
    name: &str,
    program: &Path,
    args: &[S],
    env: &[(&str, &str)],
) -> Option<Comparison> {
    if !have_valgrind() {
        return None;
    }
    let environments = environments();
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let trace = dir.path().join("trace");
    let mut run = Command::new(memscope_bin());
    run.arg("run").arg("-o").arg(&trace).arg("--").arg(program).args(args);
    run.envs(env.iter().copied()).envs(environments.memscope.iter().map(|(k, v)| (k, v)));
    run.env("XDG_RUNTIME_DIR", dir.path());
    // Shells and perl read PWD, which Command does not change with the directory.
    let recorded =
        output_within(run.current_dir(dir.path()).env("PWD", dir.path()), VALGRIND_TIMEOUT);
    assert_no_panic(&recorded);

    let log = dir.path().join("valgrind.log");
    // Run from a shell that waits for it, as `memscope run` waits for its program: then
    // both programs' parents are processes started a moment apart, whose ids have the
    // same number of digits. bash keeps its parent's id as text ($PPID), so a parent
    // id one digit longer is one byte more (this test's own id is far older and can
    // differ in length once ids wrap around).
    let mut memcheck = Command::new("sh");
    memcheck
        .args(["-c", "valgrind \"$@\"; exit $?", "sh"])
        .args(["--tool=memcheck", "--run-libc-freeres=no", "--run-cxx-freeres=no"])
        .arg(format!("--log-file={}", log.display()))
        .arg(program)
        .args(args)
        .envs(env.iter().copied())
        .envs(environments.valgrind.iter().map(|(k, v)| valgrind_value(k, v, dir.path())))
        .env("XDG_RUNTIME_DIR", dir.path());
    let checked =
        output_within(memcheck.current_dir(dir.path()).env("PWD", dir.path()), VALGRIND_TIMEOUT);
    let log = std::fs::read_to_string(&log).expect("read valgrind's log");
    assert_eq!(
        recorded.status.code(),
        checked.status.code(),
        "{name}: {}\n{log}",
        text(&recorded.stderr)
    );
    assert_eq!(recorded.stdout, checked.stdout, "{name}: the program's output differs");
    assert!(trace.is_file(), "{name}: no trace was written: {}", text(&recorded.stderr));
    let comparison =
        Comparison { memscope: summary(&trace).heap(), valgrind: parse_valgrind(&log) };
    eprintln!("{name}: {comparison:?}");
    Some(comparison)
}

/// A variable of [`MEMSCOPE_VARIABLES`] as valgrind's run gets it: `@` stands for the
/// run's directory.
fn valgrind_value(name: &OsString, value: &OsString, dir: &Path) -> (OsString, OsString) {
    let value = value.to_string_lossy().replacen('@', &dir.to_string_lossy(), 1);
    (name.clone(), value.into())
}

/// Allocations and bytes allocated by `program args`, run natively with
/// `count_malloc.c` preloaded, in the environment `memscope run` gives it (the same
/// variables, with values of the same lengths; see [`Environments`]).
pub fn native_counts<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    env: &[(&str, &str)],
) -> (u64, u64) {
    let environments = environments();
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let shim = dir.path().join("c.so");
    std::fs::copy(build("count_malloc.c", &["-O2", "-shared", "-fPIC"]), &shim)
        .expect("copy the shim");
    let library = std::fs::canonicalize(memscope_bin().with_file_name("libmemscope_preload.so"))
        .expect("the preload library's path");
    let counts = dir.path().join("malloc-counts");
    std::fs::write(&counts, [0u8; 4096]).expect("the counts file");
    let mut command = Command::new(program);
    command.args(args).envs(env.iter().copied());
    for (name, value) in &environments.memscope {
        // memscope run puts its library and `:` before the padding.
        let value = match name.to_str() {
            Some("LD_PRELOAD") => {
                let length = library.as_os_str().len() + 1 + value.len();
                let mut padded = shim.clone().into_os_string();
                padded.push(":".repeat(length - padded.len()));
                padded
            }
            _ => value.clone(),
        };
        command.env(name, value);
    }
    for (name, value) in MEMSCOPE_VARIABLES {
        command.env(name, value.replacen('@', &dir.path().to_string_lossy(), 1));
    }
    command.env("XDG_RUNTIME_DIR", dir.path()).current_dir(dir.path()).env("PWD", dir.path());
    let output = output_within(&mut command, RUN_TIMEOUT);
    assert!(output.status.success(), "{program:?} natively: {}", text(&output.stderr));
    let bytes = std::fs::read(&counts).expect("read the counts");
    let word =
        |at: usize| u64::from_ne_bytes(bytes[at * 8..at * 8 + 8].try_into().expect("a word"));
    (word(0), word(1))
}

/// Valgrind runs programs some 20 to 50 times slower.
pub const VALGRIND_TIMEOUT: Duration = Duration::from_secs(180);

/// Where each block of an intact trace starts and ends, in file order, as the reader
/// finds them.
pub fn block_ranges(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let trace = memscope_format::Trace::parse(bytes).expect("an intact trace");
    let mut ranges: Vec<std::ops::Range<usize>> =
        trace.blocks().iter().map(|b| b.offset as usize..b.end() as usize).collect();
    ranges.sort_by_key(|range| range.start);
    let end = ranges.last().map_or(16, |range| range.end);
    assert_eq!(end, bytes.len(), "the blocks do not end where the file does");
    ranges
}
