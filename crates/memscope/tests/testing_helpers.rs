//! `memscope::testing` under `cargo test`'s parallel threads: every measurement counts
//! only its own thread's allocations (and the threads it starts with
//! `testing::spawn`), exactly, while other tests allocate beside it.

use std::hint::black_box;

use memscope::testing::{
    assert_allocations_at_most, assert_max_bytes, assert_no_leaks, measure, spawn,
};

#[global_allocator]
static ALLOCATOR: memscope::Profiler<std::alloc::System> =
    memscope::Profiler::new(std::alloc::System);

/// The line of `two_allocations`' first allocation (the second is on the next).
const FIRST_LINE: u32 = line!() + 4;

#[inline(never)]
fn two_allocations() -> usize {
    let a = black_box(vec![1u8; 700]);
    let b = black_box(vec![2u8; 300]);
    a.len() + b.len()
}

#[inline(never)]
fn leaks_512() {
    std::mem::forget(black_box(vec![3u8; 512]));
}

/// Runs one measurement many times with `size`, each exact.
fn measure_repeatedly(size: usize) {
    for _ in 0..50 {
        let (_, m) = measure(|| {
            let kept = black_box(vec![0u8; size]);
            drop(black_box(vec![0u8; size * 2]));
            kept
        });
        assert_eq!(
            (m.allocated_bytes, m.allocated_blocks, m.peak_bytes, m.live_bytes, m.live_blocks),
            (3 * size as u64, 2, 3 * size as u64, size as u64, 1),
            "size {size}"
        );
    }
}

#[test]
fn measurements_on_parallel_threads_are_exact_1() {
    measure_repeatedly(100);
}

#[test]
fn measurements_on_parallel_threads_are_exact_2() {
    measure_repeatedly(2000);
}

#[test]
fn measurements_on_parallel_threads_are_exact_3() {
    measure_repeatedly(70_000);
}

#[test]
fn other_threads_allocating_meanwhile_are_not_counted() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noise = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                drop(black_box(vec![0u8; 4096]));
            }
        })
    };
    measure_repeatedly(333);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    noise.join().unwrap();
}

#[test]
fn threads_started_with_testing_spawn_count_and_their_frees_anywhere_too() {
    let (_, m) = measure(|| {
        let worker = spawn(|| black_box(vec![0u8; 10_000]));
        let made = worker.join().unwrap();
        drop(black_box(vec![0u8; 5]));
        made
    });
    // The thread's own start-up allocations are counted too: they are the closure's.
    assert_eq!((m.live_bytes, m.live_blocks), (10_000, 1));
    assert!(m.allocated_bytes >= 10_005, "{m:?}");
    let (kept, m) = measure(|| black_box(vec![0u8; 64]));
    std::thread::spawn(move || drop(kept)).join().unwrap();
    assert_eq!((m.live_bytes, m.allocated_bytes), (64, 64), "measured before the free");
}

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("the assertion fails");
    payload.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn assert_allocations_at_most_names_the_allocating_site() {
    assert_eq!(assert_allocations_at_most(2, two_allocations), 1000);
    let message = panic_message(|| {
        assert_allocations_at_most(1, two_allocations);
    });
    assert!(message.starts_with("more than 1 allocations\n  allocated 1000 bytes in 2 blocks (peak 1000 bytes); 0 bytes in 0 blocks still live\n"), "{message}");
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testing_helpers.rs");
    let site = |bytes: u32, line: u32| {
        format!("    {bytes} bytes (0 live) in testing_helpers::two_allocations at {file}:{line}\n")
    };
    assert!(message.ends_with(&(site(700, FIRST_LINE) + &site(300, FIRST_LINE + 1))), "{message}");
}

#[test]
fn assert_no_leaks_names_the_leaking_site() {
    assert_no_leaks(two_allocations);
    let message = panic_message(|| assert_no_leaks(leaks_512));
    assert!(message.starts_with("blocks allocated inside are still live\n  allocated 512 bytes in 1 blocks (peak 512 bytes); 512 bytes in 1 blocks still live\n"), "{message}");
    assert!(
        message.contains("512 bytes (512 live) in testing_helpers::leaks_512 at "),
        "{message}"
    );
}

#[test]
fn assert_max_bytes_checks_the_peak() {
    assert_max_bytes(1000, two_allocations);
    let message = panic_message(|| {
        assert_max_bytes(999, two_allocations);
    });
    assert!(message.starts_with("memory held at once went over 999 bytes\n"), "{message}");
}
