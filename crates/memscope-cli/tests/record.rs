//! Issue 2, "Record any program": `memscope run` on small C and C++ programs, with
//! exact counts, bytes, leaks and stacks for every hooked function.
//!
//! Endings (crashes, `_exit`, exec, fork, threads, `kill -9`) are in
//! `record_endings.rs`, the comparison with valgrind in `record_valgrind.rs`, and bad
//! input in `record_errors.rs`. They need `cargo build --release --workspace` first,
//! for the preload library, and gcc and g++.

mod common;

use std::path::Path;
use std::process::Command;

use common::{build, build_plain, leak_at, leaks_at, marker_line, record, record_with, HeapCounts};

/// What a fixture's run adds to the same fixture's baseline run, which makes no
/// allocation of its own: whatever the C or C++ runtime allocates is in both.
fn added_by(program: &Path, baseline: &str, args: &[&str]) -> HeapCounts {
    let base = record(program, &[baseline]);
    let full = record(program, args);
    assert_eq!((base.code(), full.code()), (Some(0), Some(0)), "{}{}", base.stderr(), full.stderr());
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
    // The heap peaks just before the two blocks of 1000 are freed.
    assert_eq!(summary.n("peak_bytes"), base.n("leaked_bytes") + leaked_bytes + 2000);
    assert_eq!(summary.n("threads"), 1);
    assert_eq!(summary.n("dropped_events"), 0);
    assert!(summary.complete());
    assert_eq!(summary.end_reason(), Some("exit"));
    let runtime = summary.ms("runtime_ms");
    let peak_time = summary.ms("peak_time_ms");
    assert!(runtime > 0.0 && (0.0..=runtime).contains(&peak_time), "{summary:?}");
    assert!(summary.n("peak_rss_bytes") > 0, "{summary:?}");

    let leaks = run.leaks();
    for (site, blocks, bytes) in HOOK_LEAKS {
        let leak = leak_at(&leaks, site);
        assert_eq!((leak.blocks, leak.bytes, leak.allocations), (blocks, bytes, blocks), "{leak:#?}");
        leak.assert_site(site, "hooks.c", marker_line("hooks.c", site));
        assert_eq!(leak.program_stack()[1].function, "all", "{leak:#?}");
    }
    // Largest first.
    let sizes: Vec<u64> = leaks.iter().map(|leak| leak.bytes).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    for freed in ["site_realloc_null", "site_reallocarray_null", "site_freed", "site_realloc_zero"] {
        assert!(leaks_at(&leaks, freed).is_empty(), "{freed} leaked: {leaks:#?}");
    }
}

#[test]
fn failed_allocations_count_nothing() {
    // Only `site_malloc(100)` and its free succeed; the failed realloc of that block
    // leaves it live at its first size.
    let added = added_by(&build_plain("hooks.c"), "none", &["failures"]);
    let expected =
        HeapCounts { allocations: 1, frees: 1, bytes_allocated: 100, leaked_bytes: 0, leaked_blocks: 0 };
    assert_eq!(added, expected);
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
    for (site, blocks, bytes) in [("new_scalar()", 2, 16), ("new_array(unsigned long)", 1, 40)] {
        let leak = leak_at(&leaks, site);
        assert_eq!((leak.blocks, leak.bytes), (blocks, bytes), "{leak:#?}");
        let marker = site.split('(').next().unwrap_or(site);
        leak.assert_site(site, "cxx.cpp", marker_line("cxx.cpp", marker));
    }
    // new_widgets(3) leaks; new_widgets(5), called from another line, does not.
    let widgets = leak_at(&leaks, "new_widgets(unsigned long)");
    assert_eq!((widgets.blocks, widgets.bytes, widgets.allocations), (1, 80, 1), "{widgets:#?}");
    widgets.assert_site("new_widgets(unsigned long)", "cxx.cpp", marker_line("cxx.cpp", "new_widgets"));
    assert!(leaks_at(&leaks, "new_widget()").is_empty(), "{leaks:#?}");
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
    assert!(leak.addresses() <= 2, "{leak:#?}");
    assert_stack_chain(leak, 2);
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
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/churn.c");
    if !source.is_file() {
        eprintln!("note: {} is absent; skipping", source.display());
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let churn = dir.path().join("churn");
    let status = Command::new("gcc")
        .args(["-O2", "-g", "-pthread"])
        .arg(&source)
        .arg("-o")
        .arg(&churn)
        .status()
        .expect("run gcc");
    assert!(status.success());
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
