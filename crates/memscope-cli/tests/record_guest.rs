//! Issue 15, "The recorder as a guest": a program under `memscope run` cannot tell
//! that memscope is there (but by time), is never broken by it, and loses nothing it
//! got back from malloc, however it dies. The fixtures are `fixtures/record/guest.c`
//! and `endings.c`; counts are exact.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    allocations_at, build_plain, installed, leak_at, leaks, memscope_bin, output_within, record,
    record_with, summary, text, Recording, RUN_TIMEOUT,
};

fn guest() -> PathBuf {
    build_plain("guest.c")
}

/// `program args` run without memscope, in `dir`, as `record` runs it (stdin empty,
/// output captured).
fn native(dir: &Path, program: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    output_within(&mut command, RUN_TIMEOUT)
}

/// `memscope run -o trace -- program args` in `dir`.
fn record_in(dir: &Path, program: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(memscope_bin());
    command.args(["run", "-o", "trace", "--"]).arg(program).args(args).current_dir(dir);
    output_within(&mut command, RUN_TIMEOUT)
}

#[test]
fn the_program_sees_the_same_process_state_as_without_memscope() {
    let guest = guest();
    let dir = tempfile::tempdir().unwrap();
    let alone = native(dir.path(), &guest, &["state"]);
    let recorded = record_in(dir.path(), &guest, &["state"]);
    assert_eq!(recorded.status.code(), Some(0), "{}", text(&recorded.stderr));
    let (alone, recorded) = (text(&alone.stdout), text(&recorded.stdout));
    assert!(alone.contains("signal 11: default") && alone.contains("Threads:\t1"), "{alone}");
    assert_eq!(recorded, alone, "what the program sees differs under memscope");
}

/// `nohup` and background jobs start programs with SIGINT and SIGQUIT ignored, and a
/// parent may start one with signals blocked. memscope catches SIGINT and SIGQUIT
/// itself while the program runs, and must hand the program the dispositions, the mask
/// and the environment (in its order) it was started with.
#[test]
fn what_memscope_was_started_with_reaches_the_program_unchanged() {
    let guest = guest();
    let dir = tempfile::tempdir().unwrap();
    // Python ignores SIGPIPE for itself; the programs it starts get the default.
    let launcher = "import os, signal, sys\n\
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n\
        signal.signal(signal.SIGINT, signal.SIG_IGN)\n\
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)\n\
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])\n\
        os.execve(sys.argv[1], sys.argv[1:], {'ZZ_FIRST': 'unsorted', **os.environ})";
    let launched = |program: &Path, args: &[&str]| {
        let mut command = Command::new("/usr/bin/python3");
        command.args(["-c", launcher]).arg(program).args(args);
        output_within(command.current_dir(dir.path()), RUN_TIMEOUT)
    };
    let alone = launched(&guest, &["state"]);
    let guest = guest.to_str().unwrap();
    let recorded = launched(&memscope_bin(), &["run", "-o", "trace", "--", guest, "state"]);
    assert_eq!(recorded.status.code(), Some(0), "{}", text(&recorded.stderr));
    let (alone, recorded) = (text(&alone.stdout), text(&recorded.stdout));
    for expected in
        ["signal 2: ignored", "signal 3: ignored", "blocked 10\n", "Threads:\t1\nenv ZZ_FIRST"]
    {
        assert!(alone.contains(expected), "{expected:?} not in {alone}");
    }
    assert_eq!(recorded, alone, "what the program sees differs under memscope");
}

#[test]
fn files_a_program_reopens_after_closing_every_descriptor_hold_what_it_wrote() {
    let guest = guest();
    let dir = tempfile::tempdir().unwrap();
    let alone = native(dir.path(), &guest, &["closefds"]);
    let expected: Vec<Vec<u8>> =
        ["out.1", "out.2"].iter().map(|f| std::fs::read(dir.path().join(f)).unwrap()).collect();
    let recorded = record_in(dir.path(), &guest, &["closefds"]);
    assert_eq!(recorded.status.code(), Some(0), "{}", text(&recorded.stderr));
    assert_eq!(text(&recorded.stdout), text(&alone.stdout));
    assert_eq!(text(&alone.stdout), "open gave 3 and 4\n");
    for (file, expected) in ["out.1", "out.2"].iter().zip(&expected) {
        assert_eq!(&std::fs::read(dir.path().join(file)).unwrap(), expected, "{file}");
    }
    let two = String::from_utf8_lossy(&expected[1]);
    assert!(two.starts_with("ten 0\nten 100\n") && two.ends_with("ten 19900\nend\n"), "{two}");
    assert_eq!(allocations_at(&dir.path().join("trace"), "main_site"), 20_000);
}

#[test]
fn a_shell_that_redirects_descriptor_3_writes_only_its_own_lines_there() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"exec 3>out.txt; echo hi >&3; for i in $(seq 1 20000); do x="$i$x"; x=${x:0:50}; done; echo bye >&3"#;
    let recorded = record_in(dir.path(), Path::new("/bin/bash"), &["-c", script]);
    assert_eq!(recorded.status.code(), Some(0), "{}", text(&recorded.stderr));
    assert_eq!(std::fs::read_to_string(dir.path().join("out.txt")).unwrap(), "hi\nbye\n");
    assert!(summary(&dir.path().join("trace")).n("allocations") > 40_000);
}

#[test]
fn malloc_until_null_under_a_memory_limit_ends_as_it_does_natively() {
    let Some(prlimit) = installed("/usr/bin/prlimit") else { return };
    let guest = guest();
    let dir = tempfile::tempdir().unwrap();
    let args = ["--as=400000000", guest.to_str().unwrap(), "oom"];
    let alone = native(dir.path(), &prlimit, &args);
    let recorded = record_in(dir.path(), &prlimit, &args);
    let stderr = text(&recorded.stderr);
    assert_eq!(recorded.status.code(), alone.status.code(), "{stderr}");
    assert_eq!(recorded.status.code(), Some(0), "{stderr}");
    assert_eq!(text(&recorded.stdout), text(&alone.stdout));
    assert_eq!(text(&alone.stdout), "malloc returned NULL\nand the program went on\n");
    let big: u64 = stderr
        .lines()
        .find_map(|line| line.strip_prefix("big blocks: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of big blocks in {stderr}"));
    let trace = dir.path().join("trace");
    assert!(big > 100, "{stderr}");
    assert_eq!(allocations_at(&trace, "big_site"), big, "{stderr}");
    assert_eq!(allocations_at(&trace, "small_site"), 1000, "{stderr}");
    assert_eq!(summary(&trace).n("dropped_events"), 0);
}

/// `main M handler H` from the fixture's stdout.
fn sigalrm_counts(output: &Output) -> (u64, u64) {
    let line = text(&output.stdout);
    let mut words = line.split_whitespace();
    let mut number = |word| {
        assert_eq!(words.next(), Some(word), "{line}");
        words.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
    };
    (number("main"), number("handler"))
}

#[test]
fn allocations_in_a_signal_handler_are_counted_exactly_and_never_hang() {
    let guest = guest();
    // The same program with no time to run: what libc itself allocates and frees.
    let base = record(&guest, &["sigalrm", "0"]);
    let (main, handler) = sigalrm_counts(&base.output);
    assert_eq!((main, handler), (0, 0));
    let base = base.summary();
    let run = record(&guest, &["sigalrm", "300"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let (main, handler) = sigalrm_counts(&run.output);
    assert!(main > 1000 && handler > 100, "main {main} handler {handler}");
    let summary = run.summary();
    assert_eq!(summary.n("allocations"), base.n("allocations") + main + handler);
    assert_eq!(summary.n("frees"), base.n("frees") + main);
    assert_eq!(summary.n("leaked_blocks"), base.n("leaked_blocks") + handler);
    assert_eq!(summary.n("dropped_events"), 0);
}

/// The peak RSS is the program's own VmHWM: not that of a child it waited for (which
/// the kernel's `ru_maxrss` of the wait adds in), nor memscope's, whose memory the
/// program's process held before its `exec`.
#[test]
fn the_peak_rss_is_the_programs_own() {
    let run = record(&guest(), &["bigchild", "100"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let printed = common::text(&run.output.stdout);
    let kib: u64 = printed
        .strip_prefix("VmHWM:")
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM line in {printed:?}"));
    let peak_rss = run.summary().n("peak_rss_bytes");
    // The recorder reads VmHWM at exit, just after the program printed it.
    assert!(peak_rss.abs_diff(kib * 1024) <= 1 << 20, "{peak_rss} B against VmHWM {kib} kB");
}

#[test]
fn a_stack_overflow_keeps_every_allocation_made_before_it() {
    let run = record(&guest(), &["overflow", "1000"]);
    assert_eq!(run.code(), Some(128 + 11), "{}", run.stderr());
    assert_eq!(run.summary().end_reason(), Some("signal 11"));
    assert_eq!(allocations_at(&run.trace, "doomed_site"), 1000);
}

#[test]
fn a_rust_stack_overflow_still_prints_its_message() {
    let overflow = common::build("overflow.rs", &[]);
    let run = record(&overflow, &[] as &[&str]);
    assert_eq!(run.code(), Some(128 + 6), "{}", run.stderr());
    assert!(run.stderr().contains("has overflowed its stack"), "{}", run.stderr());
    assert_eq!(run.summary().end_reason(), Some("signal 6"));
}

#[test]
fn a_handler_that_re_raises_keeps_every_allocation_made_before_it() {
    let run = record(&guest(), &["reraise", "1000"]);
    assert_eq!(run.code(), Some(128 + 11), "{}", run.stderr());
    assert_eq!(run.summary().end_reason(), Some("signal 11"));
    assert_eq!(allocations_at(&run.trace, "doomed_site"), 1000);
}

/// Kills `guest counted` `after` its start with SIGKILL; the trace holds every
/// allocation that had returned (the one in flight may or may not be in).
fn assert_kill_keeps_everything(after: Duration) {
    let guest = guest();
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("counter");
    std::fs::write(&shared, [0u8; 4096]).unwrap();
    let mut command = Command::new(memscope_bin());
    command
        .args(["run", "-o", "trace", "--"])
        .arg(&guest)
        .arg("counted")
        .arg(&shared)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let run = command.spawn().unwrap();
    let read = |at: usize| {
        let bytes = std::fs::read(&shared).unwrap();
        u64::from_ne_bytes(bytes[at * 8..at * 8 + 8].try_into().unwrap())
    };
    let deadline = Instant::now() + RUN_TIMEOUT;
    let pid = loop {
        match read(0) {
            0 if Instant::now() < deadline => std::thread::yield_now(),
            0 => panic!("the fixture never started"),
            pid => break pid,
        }
    };
    std::thread::sleep(after);
    // SAFETY: kill has no memory effects; the pid is the fixture's.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let output = run.wait_with_output().unwrap();
    let done = read(1);
    assert_eq!(output.status.code(), Some(128 + 9), "{}", text(&output.stderr));
    let trace = dir.path().join("trace");
    let recorded = allocations_at(&trace, "doomed_site");
    assert!(
        (done..=done + 1).contains(&recorded),
        "killed after {after:?}: {done} returned, {recorded} recorded"
    );
    assert_eq!(summary(&trace).end_reason(), Some("signal 9"));
}

#[test]
fn kill_9_at_5_ms_keeps_every_allocation_that_returned() {
    assert_kill_keeps_everything(Duration::from_millis(5));
}

#[test]
fn kill_9_at_20_ms_keeps_every_allocation_that_returned() {
    assert_kill_keeps_everything(Duration::from_millis(20));
}

#[test]
fn kill_9_mid_run_keeps_every_allocation_that_returned() {
    assert_kill_keeps_everything(Duration::from_millis(300));
}

/// Keeps both cores busy while it lives.
struct Load(Vec<std::process::Child>);

impl Load {
    fn start() -> Load {
        let spin = || Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        Load(vec![spin(), spin()])
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_recorded_totals_equal_the_replay_on_a_loaded_machine() {
    let endings = build_plain("endings.c");
    let _load = Load::start();
    for round in 0..20 {
        let run = record(&endings, &["swap", "4", "5000"]);
        assert_eq!(run.code(), Some(0), "{}", run.stderr());
        let mut replay = run.summary().0;
        // The recorder does not count the events of the peak's tick, nor each thread's.
        replay["peak_events"] = serde_json::Value::Null;
        replay.as_object_mut().expect("an object").remove("threads_detail");
        let recorded = common::memscope(&[
            std::ffi::OsStr::new("summary"),
            std::ffi::OsStr::new("--json"),
            std::ffi::OsStr::new("--recorded"),
            run.trace.as_os_str(),
        ]);
        let recorded: serde_json::Value = serde_json::from_slice(&recorded.stdout).unwrap();
        assert_eq!(recorded, replay, "round {round}: the recorder's totals, then the replay");
    }
}

#[test]
fn a_wrapper_script_that_execs_the_program_reports_the_program() {
    let endings = build_plain("endings.c");
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("wrapper.sh");
    std::fs::write(&wrapper, "#!/bin/sh\nexec \"$@\"\n").unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = record_in(dir.path(), &wrapper, &[endings.to_str().unwrap(), "exit", "3"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let command = stderr.lines().find_map(|l| l.strip_prefix("command: ")).expect("a command line");
    assert!(command.starts_with(&format!("{} exit 3 (pid ", endings.display())), "{stderr}");
    let trace = dir.path().join("trace");
    assert_eq!(leak_at(&leaks(&trace), "ending_site").blocks, 3);
    assert_eq!(summary(&trace).end_reason(), Some("exit"));
    // The program's trace is listed first (though the wrapper's image ended first),
    // then the wrapper's own image, named TRACE.PID.0.
    let listed: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(listed.len(), 2, "{stderr}");
    assert!(listed[0].contains("(the program)"), "{stderr}");
    assert!(
        listed[1].contains("(replaced by exec)") && listed[1].contains("wrapper.sh"),
        "{stderr}"
    );
}

fn leak_blocks(trace: &Path, site: &str) -> (u64, u64) {
    let leak = leak_at(&leaks(trace), site).clone();
    (leak.blocks, leak.bytes)
}

#[test]
fn forked_children_get_traces_of_their_own_with_follow_fork() {
    let endings = build_plain("endings.c");
    let run: Recording = record_with(&["--follow", "fork"], &endings, &["fork"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let files = run.files();
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(leak_blocks(&run.trace, "parent_site"), (3, 333));
    assert_eq!(leak_blocks(&run.trace, "parent_after_fork_site"), (1, 77));
    for child in &files[1..] {
        let pid = child.strip_prefix("trace.").expect("TRACE.PID");
        assert!(pid.parse::<u32>().is_ok(), "{files:?}");
        let trace = run.dir.path().join(child);
        assert_eq!(leak_blocks(&trace, "child_site"), (5, 275), "{child}");
        assert_eq!(allocations_at(&trace, "parent_site"), 0, "{child}");
        assert_eq!(allocations_at(&trace, "child_site"), 5, "{child}");
    }
}

#[test]
fn without_follow_fork_forked_children_write_no_trace() {
    let endings = build_plain("endings.c");
    let run = record(&endings, &["fork"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_eq!(run.files(), ["trace"]);
}

/// A trace that hits the file size limit (as a full disk would) stops growing, keeps
/// its end record, and says how many events it could not hold: with those, every event
/// of the program is accounted for.
#[test]
fn a_full_disk_keeps_the_trace_readable_and_counts_what_was_lost() {
    let Some(prlimit) = installed("/usr/bin/prlimit") else { return };
    let Some(churn) = common::churn() else { return };
    let args = ["10000000", "1"];
    let full = record(&churn, &args);
    assert_eq!(full.code(), Some(0), "{}", full.stderr());
    let full = full.summary();
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(&prlimit);
    command
        .arg("--fsize=20000000")
        .arg(memscope_bin())
        .args(["run", "-o", "trace", "--"])
        .arg(&churn)
        .args(args)
        .current_dir(dir.path());
    let output = output_within(&mut command, RUN_TIMEOUT);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("is incomplete: cannot write trace: File too large"), "{stderr}");
    let cut = summary(&dir.path().join("trace"));
    assert!(cut.complete(), "{cut:?}");
    let lost = cut.n("dropped_events");
    assert!(lost > 1_000_000, "{cut:?}");
    assert_eq!(
        cut.n("allocations") + cut.n("frees") + lost,
        full.n("allocations") + full.n("frees"),
        "written and lost, then all of a full recording"
    );
}

#[test]
fn with_follow_none_a_child_that_execs_writes_no_trace() {
    let endings = build_plain("endings.c");
    let run = record_with(&["--follow", "none"], &endings, &["fork-exec"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_eq!(run.files(), ["trace"]);
    assert_eq!(leak_blocks(&run.trace, "parent_site"), (3, 333));
}
