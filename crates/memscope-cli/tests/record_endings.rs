//! Issue 2, "Record any program": every way a recorded program can end, with the
//! fixture `endings.c`. The trace must say how the program ended and hold everything
//! it allocated before; the program's exit status must pass through `memscope run`.

mod common;

use std::path::PathBuf;

use common::{build_plain, leak_at, leaks, leaks_at, marker_line, record, summary, Recording};

fn endings() -> PathBuf {
    build_plain("endings.c")
}

/// Requires the trace to hold `blocks` leaked blocks of `size` bytes from `site`,
/// named with its line in endings.c.
fn assert_leak(leaks: &[common::Leak], site: &str, blocks: u64, size: u64) {
    let leak = leak_at(leaks, site);
    assert_eq!((leak.blocks, leak.bytes), (blocks, blocks * size), "{leak:#?}");
    leak.assert_site(site, "endings.c", marker_line("endings.c", site));
}

/// Runs `endings ARGS`; requires `memscope run` to exit `code` and the trace to say
/// it ended by `reason` after leaking 3 blocks of 100 bytes from `ending_site`.
fn assert_ending(args: &[&str], code: i32, reason: &str) -> Recording {
    let run = record(&endings(), args);
    assert_eq!(run.code(), Some(code), "{args:?}: {}", run.stderr());
    let summary = run.summary();
    assert!(summary.complete(), "{args:?}: {summary:?}");
    assert_eq!(summary.end_reason(), Some(reason), "{args:?}: {summary:?}");
    assert_eq!(summary.n("dropped_events"), 0);
    assert_leak(&run.leaks(), "ending_site", 3, 100);
    run
}

#[test]
fn a_segfault_ends_the_trace_with_signal_11_and_run_exits_139() {
    assert_ending(&["segv"], 139, "signal 11");
}

#[test]
fn abort_ends_the_trace_with_signal_6_and_run_exits_134() {
    assert_ending(&["abort"], 134, "signal 6");
}

#[test]
fn exit_and_return_from_main_end_with_exit() {
    assert_ending(&["exit", "3"], 3, "exit");
    assert_ending(&["return", "4"], 4, "exit");
}

#[test]
fn underscore_exit_and_underscore_capital_exit_complete_the_trace() {
    assert_ending(&["_exit", "5"], 5, "_exit");
    assert_ending(&["_Exit", "6"], 6, "_exit");
}

#[test]
fn kill_9_loses_nothing() {
    // The fixture allocates, sleeps 500 ms, then SIGKILLs itself: everything it
    // allocated is in the mapping the collector drains, and the collector, its parent,
    // knows the signal.
    let run = record(&endings(), &["kill9"]);
    assert_eq!(run.code(), Some(128 + 9), "{}", run.stderr());
    let summary = run.summary();
    assert_eq!(summary.end_reason(), Some("signal 9"), "{summary:?}");
    assert!(summary.ms("runtime_ms") >= 500.0, "{summary:?}");
    assert_leak(&run.leaks(), "ending_site", 4, 100);
}

/// `endings MODE` leaks 3 x 111 bytes, then execs itself, and the new image leaks
/// 2 x 222. The trace of the program (TRACE) is its last image's; the image that
/// exec'd is TRACE.PID.0.
fn assert_exec_writes_two_traces(mode: &str) {
    let run = record(&endings(), &[mode]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let files = run.files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0], "trace");
    let pid = files[1].strip_prefix("trace.").and_then(|rest| rest.strip_suffix(".0"));
    assert!(pid.is_some_and(|pid| pid.parse::<u32>().is_ok()), "{files:?}");

    let before_path = run.dir.path().join(&files[1]);
    let before = summary(&before_path);
    assert!(before.complete(), "{mode}: the old image's trace is incomplete: {before:?}");
    assert_eq!(before.end_reason(), Some("exec"));
    let before_leaks = leaks(&before_path);
    assert_leak(&before_leaks, "before_exec_site", 3, 111);
    assert!(leaks_at(&before_leaks, "after_exec_site").is_empty(), "{before_leaks:#?}");

    let after = run.summary();
    assert!(after.complete(), "{after:?}");
    assert_eq!(after.end_reason(), Some("exit"));
    assert_eq!(after.0["allocations"], 2, "{after:?}");
    let after_leaks = run.leaks();
    assert_leak(&after_leaks, "after_exec_site", 2, 222);
    assert!(run.stderr().contains("(replaced by exec)"), "{}", run.stderr());
}

#[test]
fn execv_completes_the_old_images_trace_and_the_new_image_writes_its_own() {
    assert_exec_writes_two_traces("exec");
}

#[test]
fn execl_completes_the_old_images_trace_too() {
    assert_exec_writes_two_traces("execl");
}

#[test]
fn a_forked_child_records_nothing_in_the_parents_trace() {
    // The child, and a grandchild that ends with _exit, each leak 5 x 55 bytes and
    // free nothing of the parent's.
    let run = record(&endings(), &["fork"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_eq!(run.files(), ["trace"], "a child that does not exec writes no trace");
    let summary = run.summary();
    assert_eq!(summary.end_reason(), Some("exit"));
    assert_eq!(summary.n("threads"), 1, "{summary:?}");
    let leaks = run.leaks();
    assert_leak(&leaks, "parent_site", 3, 111);
    assert_leak(&leaks, "parent_after_fork_site", 1, 77);
    assert!(leaks_at(&leaks, "child_site").is_empty(), "{leaks:#?}");
}

#[test]
fn a_forked_child_that_execs_writes_a_trace_of_its_own() {
    let run = record(&endings(), &["fork-exec"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let files = run.files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0], "trace");
    let pid = files[1].strip_prefix("trace.").expect("trace.PID");
    assert!(pid.parse::<u32>().is_ok(), "{files:?}");
    let parent = run.leaks();
    assert_leak(&parent, "parent_site", 3, 111);
    assert_leak(&parent, "parent_after_fork_site", 1, 77);
    assert!(leaks_at(&parent, "child_site").is_empty(), "{parent:#?}");
    assert!(leaks_at(&parent, "after_exec_site").is_empty(), "{parent:#?}");

    let child = run.dir.path().join(&files[1]);
    assert_eq!(summary(&child).end_reason(), Some("exit"));
    let child_leaks = leaks(&child);
    assert_leak(&child_leaks, "after_exec_site", 2, 222);
    assert!(leaks_at(&child_leaks, "child_site").is_empty(), "{child_leaks:#?}");
    assert!(leaks_at(&child_leaks, "parent_site").is_empty(), "{child_leaks:#?}");
}

#[test]
fn three_hundred_short_lived_threads_are_counted_exactly() {
    const THREADS: u64 = 300;
    const PAIRS: u64 = 50;
    // The same threads without their malloc/free pairs: whatever pthread_create and
    // the thread exits allocate is in both runs.
    let base = record(&endings(), &["threads", "300", "0"]);
    let run = record(&endings(), &["threads", "300", "50"]);
    assert_eq!((base.code(), run.code()), (Some(0), Some(0)), "{}{}", base.stderr(), run.stderr());
    let (base, summary) = (base.summary(), run.summary());
    for key in ["allocations", "frees"] {
        assert_eq!(summary.n(key) - base.n(key), THREADS * PAIRS, "{key}: {base:?}\n{summary:?}");
    }
    assert_eq!(summary.n("bytes_allocated") - base.n("bytes_allocated"), THREADS * PAIRS * 48);
    assert_eq!(summary.n("leaked_blocks"), base.n("leaked_blocks"), "{base:?}\n{summary:?}");
    assert_eq!(summary.n("threads"), THREADS + 1, "{summary:?}");
    assert_eq!(summary.n("dropped_events"), 0);
    let leaks = run.leaks();
    assert_leak(&leaks, "thread_leak_site", THREADS, 33);
    let temporary = leaks_at(&leaks, "thread_temp_site");
    assert!(temporary.is_empty(), "{temporary:#?}");
}

/// While the process has one thread the writer pairs its frees; the threads started
/// later free and reallocate the blocks it made then, and its own frees after the
/// threads end find the blocks they made.
#[test]
fn blocks_made_while_alone_are_freed_by_threads_started_later() {
    const N: u64 = 2000;
    let run = record(&endings(), &["handoff", "2000"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let leaks = run.leaks();
    assert_leak(&leaks, "handoff_leak_site", 3, 99);
    let handed = leaks_at(&leaks, "handoff_site");
    assert!(handed.is_empty(), "every block of handoff_site was freed: {handed:#?}");
    let base = record(&endings(), &["handoff", "0"]).summary();
    let summary = run.summary();
    let added = |key| summary.n(key) - base.n(key);
    // N blocks, N/4 grown, N/4 temporaries, N/2 regrown by the freer thread, N made.
    assert_eq!(added("allocations"), N + N / 4 + N / 4 + N / 2 + N, "{summary:?}");
    assert_eq!(added("frees"), N + N / 4 + N / 4 + N / 2 + N, "{summary:?}");
    // The temporaries, and the blocks grown at once by realloc (freed before the
    // thread allocated again).
    assert_eq!(added("temporary_allocations"), N / 4 + N / 4, "{summary:?}");
}

/// Four threads free each other's blocks while their own tables grow and shrink: every
/// free is counted once, and nothing of the swapping site is left live.
#[test]
fn threads_freeing_each_others_blocks_are_counted_exactly() {
    const MADE: u64 = 4 * 50_000;
    let base = record(&endings(), &["swap", "4", "0"]).summary();
    let run = record(&endings(), &["swap", "4", "50000"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let summary = run.summary();
    for key in ["allocations", "frees"] {
        assert_eq!(summary.n(key) - base.n(key), MADE, "{key}: {base:?}\n{summary:?}");
    }
    let bytes: u64 = (0..50_000u64).map(|i| 16 + i % 64).sum::<u64>() * 4;
    assert_eq!(summary.n("bytes_allocated") - base.n("bytes_allocated"), bytes);
    assert_eq!(summary.n("leaked_blocks"), base.n("leaked_blocks"), "{base:?}\n{summary:?}");
    let leaks = run.leaks();
    let swapped = leaks_at(&leaks, "swap_site");
    assert!(swapped.is_empty(), "{swapped:#?}");
}

/// glibc frees each thread's internal tcache block through `free` at thread exit; the
/// recorder never saw it allocated. Such a free must not take another thread's block
/// of the same address whose own (temporary) free is in a batch not yet read.
#[test]
fn three_hundred_short_lived_threads_count_every_temporary() {
    let base = record(&endings(), &["threads", "300", "0"]).summary();
    let summary = record(&endings(), &["threads", "300", "50"]).summary();
    let added = summary.n("temporary_allocations") - base.n("temporary_allocations");
    assert_eq!(added, 300 * 50, "{base:?}\n{summary:?}");
}

#[test]
fn forking_while_other_threads_allocate_never_hangs_the_child() {
    // 4 threads allocate without pause while 100 children are forked one by one; each
    // child allocates, frees and exits, which runs its thread-local destructors.
    let run = record(&endings(), &["fork-busy", "100"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_eq!(run.files(), ["trace"]);
    let summary = run.summary();
    assert_eq!(summary.end_reason(), Some("exit"));
    assert_leak(&run.leaks(), "parent_site", 3, 111);
}
