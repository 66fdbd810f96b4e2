//! Issue 2, "Record any program": `memscope run` on small C and C++ programs, with
//! exact counts, bytes, leaks and stacks for every hooked function.
//!
//! Endings (crashes, `_exit`, exec, fork, threads, `kill -9`) are in
//! `record_endings.rs`, the comparison with valgrind in `record_valgrind.rs`, and bad
//! input in `record_errors.rs`. They need `cargo build --release --workspace` first,
//! for the preload library, and gcc and g++.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    build, build_plain, leak_at, leaks, leaks_at, marker_line, record, record_with, HeapCounts,
};

/// What a fixture's run adds to the same fixture's baseline run, which makes no
/// allocation of its own: whatever the C or C++ runtime allocates is in both.
fn added_by(program: &Path, baseline: &str, args: &[&str]) -> HeapCounts {
    let base = record(program, &[baseline]);
    let full = record(program, args);
    assert_eq!(
        (base.code(), full.code()),
        (Some(0), Some(0)),
        "{}{}",
        base.stderr(),
        full.stderr()
    );
    full.summary().heap() - base.summary().heap()
}

/// `(site, blocks, bytes)` leaked by `hooks all`, one row per site.
const HOOK_LEAKS: [(&str, u64, u64); 9] = [
    ("site_pvalloc", 1, 8192),
    ("site_realloc_grow", 1, 400),
    ("site_malloc", 3, 300),
    ("site_aligned_alloc", 1, 256),
    ("site_posix_memalign", 1, 200),
    ("site_reallocarray_grow", 1, 120),
    ("site_memalign", 1, 96),
    ("site_calloc", 1, 70),
    ("site_valloc", 1, 50),
];

#[test]
fn every_c_allocation_function_is_counted_as_memcheck_counts_it() {
    let hooks = build_plain("hooks.c");
    let base = record(&hooks, &["none"]);
    let run = record(&hooks, &["all"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let (base, summary) = (base.summary(), run.summary());
    // The calls in hooks.c's all(): 16 allocations (realloc and reallocarray of a
    // block count as a free and an allocation, of NULL as an allocation, realloc to
    // 0 as a free; calloc(7, 10) is 70 bytes, pvalloc(5000) two pages), 5 frees.
    let leaked_bytes: u64 = HOOK_LEAKS.iter().map(|row| row.2).sum();
    let expected = HeapCounts {
        allocations: 16,
        frees: 5,
        bytes_allocated: 300 + 70 + 40 + 400 + 16 + 60 + 120 + 200 + 256 + 96 + 50 + 8192 + 2000,
        leaked_bytes,
        leaked_blocks: 11,
    };
    assert_eq!(summary.heap() - base.heap(), expected);
    // Freed before their thread allocated again: the block realloc grows, the one
    // realloc(p, 0) frees, the one reallocarray grows, and the second 1000 bytes.
    assert_eq!(
        summary.n("temporary_allocations") - base.n("temporary_allocations"),
        4,
        "{summary:?}"
    );
    // The heap peaks just before the two blocks of 1000 are freed (and see
    // the_peak_is_reached_even_within_one_microsecond): every leak is live then, and no
    // temporary (each was freed before the next allocation). The baseline holds none.
    let peak = summary.n("peak_bytes");
    assert_eq!(peak, base.n("peak_bytes") + leaked_bytes + 2000, "{summary:?}");
    assert_eq!(summary.n("threads"), 1);
    assert_eq!(summary.n("dropped_events"), 0);
    assert!(summary.complete());
    assert_eq!(summary.end_reason(), Some("exit"));
    // The printed peak moment names the peak's state: given back to --at, it shows the
    // peak's bytes. The frees of the 1000-byte blocks may share the peak's microsecond,
    // so the moment is the time and the events of that tick up to the peak.
    let peak_time = format!("{:.3}#{}", summary.ms("peak_time_ms"), summary.n("peak_events"));
    let at_peak = common::report_json_with("top", &run.trace, &["--at", &peak_time]);
    assert_eq!(at_peak["total"], peak, "top --at {peak_time}: {at_peak}");
    // The run is shorter than the collector's 10 ms between RSS samples, so there is
    // no sample to compare with; the baseline's run is the same program but for its
    // 16 small allocations (12 KB) and the capture area's pages for their events, far
    // below the 1 MiB allowed here for the kernel's per-CPU batching of RSS counts.
    let (peak_rss, base_rss) = (summary.n("peak_rss_bytes"), base.n("peak_rss_bytes"));
    assert!(peak_rss.abs_diff(base_rss) <= 1 << 20, "{peak_rss} against {base_rss}");

    let leaks = run.leaks();
    for (site, blocks, bytes) in HOOK_LEAKS {
        let leak = leak_at(&leaks, site);
        assert_eq!(
            (leak.blocks, leak.bytes, leak.allocations),
            (blocks, bytes, blocks),
            "{leak:#?}"
        );
        leak.assert_site(site, "hooks.c", marker_line("hooks.c", site));
        assert_eq!(leak.program_stack()[1].function, "all", "{leak:#?}");
    }
    // Largest first.
    let sizes: Vec<u64> = leaks.iter().map(|leak| leak.bytes).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    for freed in ["site_realloc_null", "site_reallocarray_null", "site_freed", "site_realloc_zero"]
    {
        assert!(leaks_at(&leaks, freed).is_empty(), "{freed} leaked: {leaks:#?}");
    }
}

/// One malloc of 100 bytes and its free.
const ONE_BLOCK: HeapCounts = HeapCounts {
    allocations: 1,
    frees: 1,
    bytes_allocated: 100,
    leaked_bytes: 0,
    leaked_blocks: 0,
};

#[test]
fn failed_allocations_count_nothing() {
    assert_eq!(added_by(&build_plain("hooks.c"), "none", &["failures"]), ONE_BLOCK);
}

#[test]
fn a_failed_realloc_counts_nothing() {
    assert_eq!(added_by(&build_plain("hooks.c"), "none", &["failed-realloc"]), ONE_BLOCK);
}

#[test]
fn the_peak_is_reached_even_within_one_microsecond() {
    // hooks.c's peak comes just before it frees two blocks of 1000 bytes, one call
    // after allocating them. Recorded five times: each must see it.
    let hooks = build_plain("hooks.c");
    let leaked_bytes: u64 = HOOK_LEAKS.iter().map(|row| row.2).sum();
    for _ in 0..5 {
        let summary = record(&hooks, &["all"]).summary();
        assert_eq!(summary.n("peak_bytes"), leaked_bytes + 2000, "{summary:?}");
    }
}

#[test]
fn cxx_new_and_delete_are_counted_with_their_call_sites() {
    let cxx = build_plain("cxx.cpp");
    let added = added_by(&cxx, "none", &["all"]);
    // new long x2 (16), new int[10] (40), new Widget[3] (72 + an 8-byte count), new
    // Widget (24), new Widget[5] (120 + 8) and new int[100] (400); the last three are
    // deleted.
    let expected = HeapCounts {
        allocations: 7,
        frees: 3,
        bytes_allocated: 16 + 40 + 80 + 24 + 128 + 400,
        leaked_bytes: 16 + 40 + 80,
        leaked_blocks: 4,
    };
    assert_eq!(added, expected);

    let run = record(&cxx, &["all"]);
    let leaks = run.leaks();
    for (site, blocks, bytes) in [("new_scalar", 2, 16), ("new_array", 1, 40)] {
        let leak = leak_at(&leaks, site);
        assert_eq!((leak.blocks, leak.bytes), (blocks, bytes), "{leak:#?}");
        leak.assert_site(site, "cxx.cpp", marker_line("cxx.cpp", site));
    }
    // new_widgets(3) leaks; new_widgets(5), called from another line, does not.
    let widgets = leak_at(&leaks, "new_widgets");
    assert_eq!((widgets.blocks, widgets.bytes, widgets.allocations), (1, 80, 1), "{widgets:#?}");
    widgets.assert_site("new_widgets", "cxx.cpp", marker_line("cxx.cpp", "new_widgets"));
    assert!(leaks_at(&leaks, "new_widget").is_empty(), "{leaks:#?}");
}

/// The `main -> outer -> middle -> leaf` chain of stack.c, innermost first.
fn assert_stack_chain(leak: &common::Leak, depth: usize) {
    let chain = ["leaf", "middle", "outer", "main"];
    let frames = leak.program_stack();
    assert!(frames.len() >= depth, "{leak:#?}");
    for (frame, function) in frames.iter().zip(&chain[..depth]) {
        assert_eq!(frame.function, *function, "{leak:#?}");
        assert_eq!(frame.line, Some(u64::from(marker_line("stack.c", function))), "{leak:#?}");
        assert!(frame.file.as_deref().is_some_and(|f| f.ends_with("/stack.c")), "{leak:#?}");
    }
    assert_eq!((leak.blocks, leak.bytes), (5, 320), "{leak:#?}");
}

#[test]
fn dwarf_unwinding_names_every_caller_of_an_optimised_build() {
    let stack = build("stack.c", &["-O2", "-fomit-frame-pointer"]);
    let run = record(&stack, &[] as &[&str]);
    assert_stack_chain(leak_at(&run.leaks(), "leaf"), 4);
}

#[test]
fn frame_pointer_unwinding_names_every_caller() {
    let stack = build("stack.c", &["-O2", "-fno-omit-frame-pointer"]);
    let run = record_with(&["--unwind", "fp"], &stack, &[] as &[&str]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_stack_chain(leak_at(&run.leaks(), "leaf"), 4);
}

#[test]
fn max_frames_limits_the_stack_to_the_innermost_frames() {
    let stack = build("stack.c", &["-O2", "-fno-omit-frame-pointer"]);
    let run = record_with(&["--max-frames", "2"], &stack, &[] as &[&str]);
    let leaks = run.leaks();
    let leak = leak_at(&leaks, "leaf");
    let marker = leak.stack.last().map(|frame| (frame.function.as_str(), frame.address));
    assert_eq!(marker, Some(("[truncated at 2 frames]", 0)), "{leak:#?}");
    assert!(leak.addresses() <= 2 + 1, "two recorded addresses and the marker: {leak:#?}");
    assert_stack_chain(leak, 2);
}

/// lib.c's leaks: 2 x 64 bytes from its constructor, 3 x 48 from its loader's calls.
fn assert_library_leaks(leaks: &[common::Leak]) {
    for (site, blocks, bytes) in [("ctor_site", 2, 128), ("lib_site", 3, 144)] {
        let leak = leak_at(leaks, site);
        assert_eq!((leak.blocks, leak.bytes), (blocks, bytes), "{leak:#?}");
        leak.assert_site(site, "lib.c", marker_line("lib.c", site));
    }
}

fn library() -> PathBuf {
    build("lib.c", &["-O0", "-shared", "-fPIC"])
}

#[test]
fn a_library_constructor_that_may_run_before_the_recorders_is_counted() {
    let library = library();
    let library = library.to_str().expect("a UTF-8 path");
    let linked = build("loader.c", &["-O0", "-DLINKED", "-Wl,--no-as-needed", library]);
    let run = record(&linked, &[] as &[&str]);
    // Nothing else allocates: the constructor's 2 x 64 and 1000 (freed), then 3 x 48.
    let expected = HeapCounts {
        allocations: 6,
        frees: 1,
        bytes_allocated: 128 + 1000 + 144,
        leaked_bytes: 128 + 144,
        leaked_blocks: 5,
    };
    assert_eq!(run.summary().heap(), expected);
    assert_library_leaks(&run.leaks());
}

#[test]
fn stacks_through_a_dlopened_library_name_its_functions() {
    let run = record(&build_plain("loader.c"), &[library()]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_library_leaks(&run.leaks());
}

#[test]
fn stacks_through_a_dlclosed_library_name_its_functions() {
    let run = record(&build_plain("loader.c"), &[library().into_os_string(), "close".into()]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_library_leaks(&run.leaks());
}

#[test]
fn without_o_the_trace_is_named_after_the_program_and_its_pid() {
    // A child that execs gets a trace of its own, named with its own pid.
    let endings = build_plain("endings.c");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new(common::memscope_bin());
    command.args(["run", "--"]).arg(&endings).arg("fork-exec").current_dir(dir.path());
    let output = common::output_within(&mut command, common::RUN_TIMEOUT);
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    let stderr = common::text(&output.stderr);
    let named = stderr.lines().find_map(|line| line.strip_prefix("trace: ")).expect("a trace line");
    let name = endings.file_name().and_then(|n| n.to_str()).expect("a file name");
    let mut traces: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    traces.sort();
    assert_eq!(traces.len(), 2, "{traces:?}");
    // memscope.PROGRAM.PID for the program, memscope.PROGRAM.PID.CHILD for the child.
    let root = traces[0].strip_prefix(&format!("memscope.{name}.")).expect("memscope.PROGRAM.PID");
    assert!(root.parse::<u32>().is_ok(), "{traces:?}");
    let child = traces[1].strip_prefix(&format!("{}.", traces[0])).expect("TRACE.PID");
    assert!(child.parse::<u32>().is_ok(), "{traces:?}");
    assert_eq!(dir.path().join(&traces[0]), Path::new(named), "{traces:?}");
    let parent = leaks(Path::new(named));
    assert_eq!(leak_at(&parent, "parent_site").blocks, 3);
}

#[test]
fn a_static_program_runs_and_memscope_says_why_there_is_no_trace() {
    let stat = build("endings.c", &["-O0", "-static", "-pthread"]);
    let run = record(&stat, &["exit", "7"]);
    assert_eq!(run.code(), Some(7));
    assert!(run.stderr().contains("no trace was written"), "{}", run.stderr());
    assert!(run.files().is_empty(), "{:?}", run.files());
}

#[test]
fn the_exit_status_passes_through() {
    let endings = build_plain("endings.c");
    for (mode, code) in [("exit", 3), ("return", 5), ("exit", 0)] {
        let run = record(&endings, &[mode, &code.to_string()]);
        assert_eq!(run.code(), Some(code), "{mode} {code}: {}", run.stderr());
        assert_eq!(run.summary().end_reason(), Some("exit"));
    }
}

#[test]
fn the_programs_output_is_untouched() {
    let endings = build_plain("endings.c");
    let direct = Command::new(&endings).arg("stdio").output().expect("run the fixture");
    assert!(direct.status.success());
    assert_eq!(direct.stdout, b"line one\n\0\x01\xff\nend\nraw");
    let run = record(&endings, &["stdio"]);
    assert_eq!(run.code(), Some(0));
    assert_eq!(run.output.stdout, direct.stdout);
    // memscope's own report follows the program's stderr, once the program is done.
    assert!(run.output.stderr.starts_with(&direct.stderr), "{}", run.stderr());
}

#[test]
fn churn_leaks_one_block_per_ten_thousand_iterations_per_thread() {
    let Some(churn) = common::churn() else { return };
    // 200000 iterations on 2 threads: 2 x ceil(200000 / 10000) blocks of 100 bytes.
    let run = record(&churn, &["200000", "2"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_eq!(run.output.stdout, b"done\n");
    let leaks = run.leaks();
    let leak = leak_at(&leaks, "leak_site");
    assert_eq!((leak.blocks, leak.bytes, leak.allocations), (40, 4000, 40), "{leak:#?}");
    let summary = run.summary();
    assert_eq!(summary.n("threads"), 3, "{summary:?}");
    assert!(summary.n("allocations") >= 2 * (200_000 + 20), "{summary:?}");
}

/// A stack cut at `--max-frames` is remembered like a whole one: churn's allocations
/// come from a handful of call sites, so after the first capture of each nearly every
/// one is a memo hit (a cut walk used to be walked again every time, which made a small
/// limit slower than the default), and each leak still has its own site's stack.
#[test]
fn a_stack_cut_at_max_frames_is_remembered() {
    let Some(churn) = common::churn() else { return };
    let run = common::record_with_env(
        &[("MEMSCOPE_STATS", "1")],
        &["--max-frames", "2"],
        &churn,
        &["200000", "2"],
    );
    let stderr = run.stderr();
    assert_eq!(run.code(), Some(0), "{stderr}");
    let leaks = run.leaks();
    let leak = leak_at(&leaks, "leak_site");
    assert_eq!((leak.blocks, leak.bytes, leak.allocations), (40, 4000, 40), "{leak:#?}");
    let figure = |label: &str| -> u64 {
        let after = stderr.split_once(label).map(|(_, rest)| rest);
        let digits = after.map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next());
        digits.flatten().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{label}: {stderr}"))
    };
    let (captures, hits) = (figure("stack captures "), figure("memo hits "));
    // 2 x (200000 + 20) allocations of the worker threads, plus the C library's own.
    assert!(captures >= 400_040, "{stderr}");
    assert!(captures - hits < 100, "{captures} captures, {hits} memo hits: {stderr}");
}

/// `MEMSCOPE_STATS=1` ends with the collector's CPU time, the part of the recorder's
/// cost that runs beside the program: 400k events take it well over a millisecond, and
/// it cannot exceed the run's wall time.
#[test]
fn memscope_stats_reports_the_collectors_cpu_time() {
    let endings = build_plain("endings.c");
    let started = std::time::Instant::now();
    let run = common::record_with_env(
        &[("MEMSCOPE_STATS", "1")],
        &[],
        &endings,
        &["threads", "2", "100000"],
    );
    let wall_ms = started.elapsed().as_millis() as u64;
    let stderr = run.stderr();
    assert_eq!(run.code(), Some(0), "{stderr}");
    let collector_ms: u64 = stderr
        .split_once("collector CPU ")
        .and_then(|(_, rest)| rest.split_once(" ms"))
        .and_then(|(ms, _)| ms.parse().ok())
        .unwrap_or_else(|| panic!("no collector CPU figure in {stderr}"));
    assert!(
        (1..=wall_ms).contains(&collector_ms),
        "collector {collector_ms} ms of {wall_ms} ms: {stderr}"
    );
}

/// Issue 16: `cargo install` (and a copied binary) records with no other file: the
/// preload library is embedded in `memscope` and written to a private cache.
#[test]
fn an_installed_memscope_records_with_no_other_file() {
    let root = tempfile::tempdir().expect("a temporary directory");
    let target =
        Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory").to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let installed = Command::new(cargo)
        .args(["install", "--quiet", "--locked", "--path", env!("CARGO_MANIFEST_DIR"), "--root"])
        .arg(root.path())
        .arg("--target-dir")
        .arg(&target)
        .output()
        .expect("run cargo install");
    assert!(installed.status.success(), "cargo install: {}", common::text(&installed.stderr));
    let bin = root.path().join("bin/memscope");
    assert_eq!(std::fs::read_dir(root.path().join("bin")).unwrap().count(), 1, "only the binary");
    let endings = build_plain("endings.c");
    let work = tempfile::tempdir().expect("a temporary directory");
    let mut run = Command::new(&bin);
    run.args(["run", "-o", "trace", "--"])
        .arg(&endings)
        .args(["exit", "0"])
        .current_dir(work.path())
        .env_remove("MEMSCOPE_PRELOAD")
        .env("XDG_CACHE_HOME", work.path().join("cache"));
    let output = common::output_within(&mut run, common::RUN_TIMEOUT);
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    assert_eq!(leak_at(&leaks(&work.path().join("trace")), "ending_site").blocks, 3);
    let cached: Vec<_> =
        std::fs::read_dir(work.path().join("cache/memscope")).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let mode = cached[0].metadata().unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the cached library is the user's alone: {mode:o}");
}

/// Issue 11: `run --report FILE.html` writes the HTML report of the program's trace
/// when it ends: the same page `memscope report` makes of that trace.
#[test]
fn run_report_writes_the_html_report_of_the_programs_trace() {
    let endings = build_plain("endings.c");
    let run = common::record_with(&["--report", "report.html"], &endings, &["exit", "0"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let written = run.dir.path().join("report.html");
    assert!(run.stderr().contains(&format!("report: {}", "report.html")), "{}", run.stderr());
    let again = run.dir.path().join("again.html");
    let made = common::memscope(&[
        "report".as_ref(),
        run.trace.as_os_str(),
        "-o".as_ref(),
        again.as_os_str(),
    ]);
    assert!(made.status.success(), "{}", common::text(&made.stderr));
    let page = std::fs::read_to_string(&written).unwrap();
    assert!(page.contains("ending_site"), "the page names the leaking function");
    assert_eq!(page, std::fs::read_to_string(&again).unwrap());
}
