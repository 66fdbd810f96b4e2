//! The reports on recordings of fixture programs whose heap is known: `grow.c` (40 steps
//! of 1 MiB, 10 ms apart, freed, then 10 MiB leaked), `inline.cpp` (an inlined helper in
//! a namespaced function, allocating with `new[]`) and `vecs.rs` (allocations through
//! Rust's `alloc` plumbing). Fixtures are compiled and recorded once per test run.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

const MIB: i64 = 1024 * 1024;

fn memscope() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_memscope"))
}

fn fixture_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/analysis").join(name)
}

/// Where fixtures are built and recorded.
fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("analysis");
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `command`, failing the test with its stderr if it fails.
fn succeed(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Builds a fixture with `compiler` as `build` (one name per build: tests run at once)
/// and records it; returns the trace.
fn record(name: &str, build: &str, compiler: &str, flags: &[&str]) -> PathBuf {
    let preload = memscope().with_file_name("libmemscope_preload.so");
    assert!(
        preload.is_file(),
        "{} is missing: run `cargo build --release --workspace` before the tests",
        preload.display()
    );
    let dir = work_dir();
    let binary = dir.join(build);
    succeed(Command::new(compiler).args(flags).arg(fixture_source(name)).arg("-o").arg(&binary));
    let trace = dir.join(format!("{build}.trace"));
    // memscope never replaces a file: an earlier test run's trace goes first.
    let _ = fs::remove_file(&trace);
    succeed(Command::new(memscope()).arg("run").arg("-o").arg(&trace).arg("--").arg(&binary));
    trace
}

fn grow_trace() -> &'static Path {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| record("grow.c", "grow", "gcc", &["-O1", "-g"]))
}

fn inline_trace() -> &'static Path {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| record("inline.cpp", "inline", "g++", &["-O2", "-g"]))
}

fn vecs_trace() -> &'static Path {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| {
        let flags = ["-g", "--edition", "2021", "--crate-name", "fixture"];
        record("vecs.rs", "vecs", "rustc", &flags)
    })
}

/// The same fixture optimised, with line tables only for debug information, as release
/// profiles often build (memscope's own does): functions then carry bare names
/// (`grow_impl_runtime`, `alloc`) without the crate path that names the plumbing.
fn vecs_optimised_trace() -> &'static Path {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| {
        let flags = [
            "-O",
            "-C",
            "debuginfo=line-tables-only",
            "--edition",
            "2021",
            "--crate-name",
            "fixture",
        ];
        record("vecs.rs", "vecs-optimised", "rustc", &flags)
    })
}

/// `memscope ARGS`, which must succeed without a warning; its stdout.
fn report(args: &[&str]) -> String {
    let output = succeed(Command::new(memscope()).args(args));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty(), "memscope {args:?} warned: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// `memscope ARGS --json`, parsed.
fn json(args: &[&str]) -> Value {
    let text = report(&[args, &["--json"]].concat());
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("memscope {args:?}: {e}: {text}"))
}

/// `memscope ARGS`, which must fail; its stderr.
fn failure(args: &[&str]) -> String {
    let output = Command::new(memscope()).args(args).output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success(), "memscope {args:?} succeeded");
    assert!(!stderr.contains("panicked"), "memscope {args:?} panicked: {stderr}");
    stderr
}

/// The 1-based line of fixture `source` that carries `MARK:<marker>`.
fn marker_line(source: &str, marker: &str) -> u64 {
    let text = fs::read_to_string(fixture_source(source)).unwrap();
    let index =
        text.lines().position(|line| line.contains(&format!("MARK:{marker}"))).expect("marker");
    index as u64 + 1
}

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or_else(|| panic!("{value} is not an integer"))
}

fn ms(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("{value} is not a number"))
}

/// The row of `rows` whose function is `function`.
fn row<'v>(rows: &'v Value, function: &str) -> &'v Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|row| row["function"] == function)
        .unwrap_or_else(|| panic!("no {function} in {rows}"))
}

fn trace_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The peak, as `peak --json` reports it with extra ARGS.
fn peak(args: &[&str]) -> Value {
    json(&[&["peak", trace_arg(grow_trace())], args].concat())
}

#[test]
fn peak_is_40_mib_of_grow_steps_plus_the_libc_baseline() {
    let peak = peak(&[]);
    let stacks = peak["stacks"].as_array().unwrap();
    let grow = stacks
        .iter()
        .find(|s| s["stack"][0]["function"] == "grow_step")
        .expect("grow_step is live");

    assert_eq!((int(&grow["bytes"]), int(&grow["blocks"])), (40 * MIB, 40));
    let baseline: i64 = stacks
        .iter()
        .filter(|s| s["stack"][0]["function"] != "grow_step")
        .map(|s| int(&s["bytes"]))
        .sum();
    assert!(baseline < 64 * 1024, "libc's baseline is small, not {baseline}");
    assert_eq!(int(&peak["bytes"]), 40 * MIB + baseline);
    assert_eq!(int(&peak["blocks"]), stacks.iter().map(|s| int(&s["blocks"])).sum::<i64>());
}

#[test]
fn focused_peak_comes_after_39_sleeps_and_before_the_leak() {
    let peak = peak(&["--focus", "grow_step"]);
    let timeline =
        json(&["timeline", trace_arg(grow_trace()), "--interval", "1", "--focus", "grow_step"]);
    let first_step =
        timeline.as_array().unwrap().iter().find(|row| int(&row["bytes"]) > 0).unwrap();
    let leak =
        json(&["timeline", trace_arg(grow_trace()), "--interval", "1", "--focus", "leak_later"]);
    let leak_row = leak.as_array().unwrap().iter().find(|row| int(&row["bytes"]) > 0).unwrap();

    assert_eq!((int(&peak["bytes"]), int(&peak["blocks"])), (40 * MIB, 40));
    let since_first = ms(&peak["time_ms"]) - ms(&first_step["high_ms"]);
    assert!((390.0..800.0).contains(&since_first), "40th step {since_first} ms after the first");
    assert!(ms(&peak["time_ms"]) < ms(&leak_row["high_ms"]));
}

#[test]
fn top_at_the_peak_and_just_before_it() {
    let trace = trace_arg(grow_trace());
    let peak_ms = ms(&peak(&[])["time_ms"]);
    let at =
        |time: f64| json(&["top", trace, "--at", &format!("{time:.3}"), "--focus", "grow_step"]);

    let at_peak = at(peak_ms);
    let before = at(peak_ms - 5.0);

    let grow = row(&at_peak["rows"], "grow_step");
    assert_eq!((int(&grow["flat"]), int(&grow["cum"])), (40 * MIB, 40 * MIB));
    assert_eq!(grow["line"], marker_line("grow.c", "grow-malloc"));
    assert_eq!(int(&row(&at_peak["rows"], "main")["cum"]), 40 * MIB);
    assert_eq!(
        (at_peak["sample_type"].as_str(), ms(&at_peak["at_ms"])),
        (Some("inuse_space"), peak_ms)
    );
    assert_eq!(int(&before["total"]), 39 * MIB, "the step before the last was 10 ms earlier");
}

#[test]
fn top_at_the_end_holds_the_leak_only() {
    let top = json(&["top", trace_arg(grow_trace()), "--end"]);

    assert_eq!(top["rows"][0]["function"], "leak_later");
    assert_eq!(int(&top["rows"][0]["flat"]), 10 * MIB);
    assert!(top["rows"].as_array().unwrap().iter().all(|row| row["function"] != "grow_step"));
}

#[test]
fn top_by_lines_and_by_allocations() {
    let trace = trace_arg(grow_trace());

    let lines = json(&["top", trace, "--lines", "--cum", "--focus", "grow_step|leak_later"]);
    let objects = json(&["top", trace, "--by", "alloc_objects", "--focus", "grow_step"]);

    let main_rows: Vec<u64> = lines["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["function"] == "main")
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(main_rows, [marker_line("grow.c", "leak-call")], "only the leak is live at the end");
    assert_eq!(objects["sample_type"], "alloc_objects");
    assert_eq!(int(&row(&objects["rows"], "grow_step")["flat"]), 40);
}

#[test]
fn timeline_maximum_and_last_value() {
    let trace = trace_arg(grow_trace());
    let rows = |focus: &str| {
        json(&["timeline", trace, "--interval", "10", "--focus", focus]).as_array().unwrap().clone()
    };

    let grow = rows("grow_step");
    let leak = rows("leak_later");

    let highest = grow.iter().max_by_key(|row| int(&row["bytes"])).unwrap();
    assert_eq!((int(&highest["bytes"]), int(&highest["blocks"])), (40 * MIB, 40));
    assert_eq!(int(&grow.last().unwrap()["bytes"]), 0);
    assert_eq!(
        (int(&leak.last().unwrap()["bytes"]), int(&leak.last().unwrap()["blocks"])),
        (10 * MIB, 1)
    );
    let steps =
        grow.windows(2).filter(|pair| int(&pair[1]["bytes"]) > int(&pair[0]["bytes"])).count();
    assert!((20..=40).contains(&steps), "about one step per 10 ms row, got {steps}");
}

#[test]
fn timeline_csv_has_the_json_fields() {
    let csv = report(&["timeline", trace_arg(grow_trace()), "--csv", "--interval", "100"]);

    let rows = json(&["timeline", trace_arg(grow_trace()), "--interval", "100"]);

    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("t_ms,bytes,blocks,high_ms,rss_bytes"));
    // Row by row the same figures as the JSON (whose extra high_events the CSV leaves out).
    let fields = ["t_ms", "bytes", "blocks", "high_ms", "rss_bytes"];
    let from_json: Vec<Vec<String>> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| fields.iter().map(|field| number_text(&row[*field])).collect())
        .collect();
    let from_csv: Vec<Vec<String>> =
        lines.map(|line| line.split(',').map(str::to_owned).collect()).collect();
    assert_eq!(from_csv, from_json);
}

/// A JSON number as the CSV writes it (Rust's shortest form: `0`, `197.51`), an absent
/// RSS sample empty.
fn number_text(value: &Value) -> String {
    match (value.as_u64(), value.as_f64()) {
        (Some(whole), _) => whole.to_string(),
        (None, Some(ms)) => format!("{ms}"),
        (None, None) => String::new(),
    }
}

/// grow.c touches every byte it allocates, so the RSS the recorder sampled beside the
/// heap must hold the 40 MiB peak, plus the program's and memscope's own few MiB.
#[test]
fn timeline_shows_rss_beside_the_heap() {
    let rows = json(&["timeline", trace_arg(grow_trace()), "--interval", "100"]);
    let rows = rows.as_array().unwrap();
    let sampled = rows.iter().filter(|row| row["rss_bytes"].is_u64()).count();
    assert!(sampled * 2 >= rows.len(), "most 100 ms rows have an RSS sample: {rows:?}");
    let highest_rss = rows.iter().filter_map(|row| row["rss_bytes"].as_u64()).max().unwrap();
    let peak_rss = json(&["summary", trace_arg(grow_trace())])["peak_rss_bytes"].as_u64().unwrap();
    // The summary's peak RSS (VmHWM) and the highest sample (statm, every 10 ms) count
    // the same pages, and the process stays at its high for the last step's 10 ms, so a
    // sample sees it. They are not equal: the kernel batches RSS counts per CPU and the
    // two are read at other moments (VmHWM was seen 0.4 MiB under the highest sample).
    // 1 MiB is the width of one grow step: a missed or extra step would exceed it.
    assert!(peak_rss.abs_diff(highest_rss) < MIB as u64, "{peak_rss} against {highest_rss}");
    assert!(highest_rss >= 40 * MIB as u64, "the 40 MiB the program touched: {highest_rss}");
}

#[test]
fn diff_from_the_peak_to_the_end() {
    let trace = trace_arg(grow_trace());
    let peak_ms = format!("{:.3}", ms(&peak(&[])["time_ms"]));

    let diff = json(&[
        "diff",
        trace,
        "--from",
        &peak_ms,
        "--to",
        &format!("{:.3}", ms(&json(&["summary", trace])["runtime_ms"])),
    ]);

    let rows = diff["rows"].as_array().unwrap();
    assert_eq!(rows[0]["function"], "leak_later");
    assert_eq!((int(&rows[0]["delta_bytes"]), int(&rows[0]["delta_blocks"])), (10 * MIB, 1));
    let last = rows.last().unwrap();
    assert_eq!(last["function"], "grow_step");
    assert_eq!((int(&last["delta_bytes"]), int(&last["delta_blocks"])), (-40 * MIB, -40));
}

#[test]
fn diff_of_two_recordings_matches_rows_by_function() {
    let grow = trace_arg(grow_trace());
    let inline = trace_arg(inline_trace());

    let output = succeed(Command::new(memscope()).args([
        "diff",
        grow,
        inline,
        "--json",
        "--focus",
        "leak_later|build",
    ]));

    let diff: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("note:"),
        "different programs are noted"
    );
    assert_eq!(int(&row(&diff["rows"], "make_buffer")["delta_bytes"]), MIB);
    assert_eq!(int(&row(&diff["rows"], "leak_later")["delta_bytes"]), -10 * MIB);
}

#[test]
fn leaks_show_the_full_stack_and_allocation_counts() {
    let leaks = json(&["leaks", trace_arg(grow_trace())]);

    let leak = leaks
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["stack"][0]["function"] == "leak_later")
        .unwrap();
    assert_eq!(
        (int(&leak["bytes"]), int(&leak["blocks"]), int(&leak["allocations"])),
        (10 * MIB, 1, 1)
    );
    let frames: Vec<(&str, Option<u64>)> = leak["stack"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["function"].as_str().unwrap(), f["line"].as_u64()))
        .collect();
    assert_eq!(frames[0], ("leak_later", Some(marker_line("grow.c", "leak-malloc"))));
    assert_eq!(frames[1], ("main", Some(marker_line("grow.c", "leak-call"))));
    assert!(leak["stack"][0]["file"].as_str().unwrap().ends_with("grow.c"));
    assert_eq!(leak["stack"][0]["module"], "grow");
    assert!(leak["stack"][0]["address"].as_u64().unwrap() > 0);
}

#[test]
fn leaks_text_limits_stacks_and_totals_all() {
    let text = report(&["leaks", trace_arg(grow_trace()), "-n", "1"]);

    let source = fixture_source("grow.c");
    let source = source.display();
    let mut lines = text.lines();
    let first_three: Vec<&str> = lines.by_ref().take(3).collect();
    assert_eq!(
        first_three,
        [
            "10.0 MiB in 1 blocks leaked, from 1 allocations at:".to_owned(),
            format!("    leak_later at {source}:{} (grow)", marker_line("grow.c", "leak-malloc")),
            format!("    main at {source}:{} (grow)", marker_line("grow.c", "leak-call")),
        ]
    );
    // grow.c leaks one block and libc nothing: the total is that block's stack.
    assert_eq!(lines.last(), Some("total: 10.0 MiB in 1 blocks from 1 stacks"), "{text}");
}

#[test]
fn cpp_inlined_helper_is_a_frame_and_operator_new_is_trimmed() {
    let leaks = json(&["leaks", trace_arg(inline_trace()), "--focus", "build"]);
    let kept = json(&["leaks", trace_arg(inline_trace()), "--focus", "build", "--keep-frames"]);

    let frames: Vec<(&str, Option<u64>)> = leaks[0]["stack"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["function"].as_str().unwrap(), f["line"].as_u64()))
        .collect();
    assert_eq!(
        frames[..3],
        [
            ("make_buffer", Some(marker_line("inline.cpp", "new-call"))),
            ("shapes::build", Some(marker_line("inline.cpp", "helper-call"))),
            ("main", Some(marker_line("inline.cpp", "build-call"))),
        ]
    );
    assert_eq!(int(&leaks[0]["bytes"]), MIB);
    assert!(
        kept[0]["stack"][0]["function"].as_str().unwrap().starts_with("operator new"),
        "{}",
        kept[0]["stack"][0]
    );
}

#[test]
fn rust_names_are_demangled_and_alloc_plumbing_is_trimmed() {
    let trace = trace_arg(vecs_trace());

    let top = json(&["top", trace]);
    let kept = json(&["leaks", trace, "--keep-frames", "--focus", "make_buffers", "-n", "1"]);

    let buffers = row(&top["rows"], "fixture::make_buffers");
    assert_eq!(
        int(&buffers["flat"]),
        4 * MIB + 96,
        "four 1 MiB vectors and their 4-slot outer vector"
    );
    assert_eq!(int(&row(&top["rows"], "fixture::boxed")["flat"]), 8192);
    assert_eq!(int(&row(&top["rows"], "fixture::grown")["flat"]), 8192);
    assert!(top["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| !r["function"].as_str().unwrap().starts_with("alloc::")));
    let first = kept[0]["stack"][0]["function"].as_str().unwrap();
    assert!(first.contains("alloc::"), "--keep-frames shows the plumbing, got {first}");
}

#[test]
fn inlined_alloc_plumbing_of_an_optimised_rust_build_is_trimmed() {
    let trace = trace_arg(vecs_optimised_trace());

    let top = json(&["top", trace]);

    // Line tables name functions without their crate; the symbol table's path completes
    // the names of functions that were not inlined. (`boxed`'s leaked box is optimised
    // away: nothing reads it.)
    assert_eq!(int(&row(&top["rows"], "fixture::make_buffers")["flat"]), 4 * MIB + 96);
    assert_eq!(int(&row(&top["rows"], "fixture::grown")["flat"]), 8192, "1024 slots of 8 bytes");
}

#[test]
fn info_lists_the_raw_contents() {
    let text = report(&["info", trace_arg(grow_trace()), "-n", "3"]);
    let pid = json(&["summary", trace_arg(grow_trace())])["pid"].as_u64().unwrap();
    let binary = work_dir().join("grow");

    let lines: Vec<&str> = text.lines().collect();
    let after = |heading: &str, n: usize| -> Vec<&str> {
        let at = lines.iter().position(|l| *l == heading);
        let at = at.unwrap_or_else(|| panic!("no {heading:?} in {text}"));
        lines[at + 1..at + 1 + n].to_vec()
    };
    // The header: who was recorded, as the test ran it.
    let header =
        ["damage: none".to_owned(), format!("pid: {pid}"), format!("exe: {}", binary.display())];
    assert_eq!(lines[3..6], header, "{text}");
    assert_eq!(lines[6], format!("args: {}", binary.display()));
    assert_eq!(lines[8], "unwind: dwarf, at most 64 frames");
    // The two stacks, grow_step's and leak_later's, each from the allocating function
    // through main and libc's two start frames to _start: five return addresses.
    let stacks = after("stacks (the first 2 of 2):", 3);
    for (index, stack) in stacks[..2].iter().enumerate() {
        let addresses = stack.strip_prefix(&format!("  #{}: ", index + 1)).expect(stack);
        assert_eq!(addresses.split(' ').count(), 5, "{stack}");
    }
    assert_eq!(stacks[2], "");
    // The first three events: grow_step's first three 1 MiB blocks, from the main thread.
    let events = after("events (the first 3, in file order):", 4);
    assert_eq!(events[0], "thread  time_ms   kind     size  stack");
    for event in &events[1..] {
        let fields: Vec<&str> = event.split_whitespace().collect();
        assert_eq!(
            [fields[0], fields[2], fields[3], fields[4]],
            [&pid.to_string(), "Alloc", "1048576", "1"]
        );
    }
    // The program's module carries the build id of the file it was run from.
    let notes = succeed(Command::new("readelf").arg("-n").arg(&binary));
    let notes = String::from_utf8_lossy(&notes.stdout);
    let build_id = notes.lines().find_map(|l| l.trim().strip_prefix("Build ID: ")).unwrap();
    let modules = after("modules (the last map):", 2);
    let exe: Vec<&str> = modules[1].split_whitespace().collect();
    assert_eq!([exe[1], exe[3]], [build_id, binary.to_str().unwrap()], "{}", modules[1]);
}

#[test]
fn a_truncated_trace_is_reported_with_a_warning() {
    let bytes = fs::read(grow_trace()).unwrap();
    let cut = work_dir().join("grow-cut.trace");
    fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();

    let output = succeed(Command::new(memscope()).args(["leaks", "--json", cut.to_str().unwrap()]));

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("memscope: warning: ") && stderr.contains("truncated at byte"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    let leaks: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(leaks.as_array().unwrap().iter().any(|l| l["stack"][0]["function"] == "leak_later"));
}

#[test]
fn summary_json_names_the_program_and_its_pid() {
    let trace = grow_trace();
    let summary = json(&["summary", trace_arg(trace)]);
    let binary = work_dir().join("grow");
    assert_eq!(summary["command"], serde_json::json!([binary.to_str().unwrap()]));
    assert_eq!(summary["executable"], binary.to_str().unwrap());
    let text = report(&["summary", trace_arg(trace)]);
    let pid = summary["pid"].as_u64().unwrap();
    assert!(text.starts_with(&format!("command: {} (pid {pid})\n", binary.display())), "{text}");
}

#[test]
fn bad_input_fails_with_one_line() {
    let dir = work_dir();
    let garbage = dir.join("garbage.trace");
    fs::write(&garbage, b"this is not a trace at all").unwrap();
    let empty = dir.join("empty.trace");
    fs::write(&empty, b"").unwrap();
    let grow = trace_arg(grow_trace());
    let runtime = json(&["summary", grow])["runtime_ms"].as_f64().unwrap();
    let shown = format!("{runtime:.3}").trim_end_matches('0').trim_end_matches('.').to_owned();

    let dir_text = dir.to_str().unwrap();
    let pid = json(&["summary", grow])["pid"].to_string();
    let cases: [(Vec<&str>, String); 10] = [
        (
            vec!["top", "/nonexistent/x.trace"],
            "memscope: cannot open trace /nonexistent/x.trace: No such file".into(),
        ),
        (vec!["top", garbage.to_str().unwrap()], "not a memscope trace (bad magic)".into()),
        (vec!["peak", empty.to_str().unwrap()], "the trace is empty".into()),
        (
            vec!["top", grow, "--at", "5000"],
            format!("memscope: --at 5000 is outside the recording (0 to {shown} ms)\n"),
        ),
        (
            vec!["top", grow, "--focus", "grow("],
            "memscope: invalid focus regex `grow(`: unclosed group\n".into(),
        ),
        (
            vec!["diff", grow, "--to", "99999"],
            format!("memscope: --to 99999 is outside the recording (0 to {shown} ms)\n"),
        ),
        (
            vec!["diff", grow, "--from", "2", "--to", "1"],
            "memscope: --from 2 is after --to 1: the first moment must come first\n".into(),
        ),
        (
            vec!["timeline", grow, "--interval", "0"],
            "memscope: --interval 0 is no length: give a number of milliseconds above 0\n".into(),
        ),
        (
            // Thread ids are at most 2^22 on Linux: no thread has this one.
            vec!["top", grow, "--thread", "4294967295"],
            format!("memscope: --thread 4294967295: no such thread in {grow} (its threads: {pid} (grow))\n"),
        ),
        (
            vec!["summary", dir_text],
            format!("memscope: cannot open trace {dir_text}: the directory holds no trace files (a rotated series holds files named 000001, 000002, ...)\n"),
        ),
    ];

    for (args, expected) in cases {
        let stderr = failure(&args);
        assert!(stderr.contains(&expected), "memscope {args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "memscope {args:?}: {stderr}");
    }
}
