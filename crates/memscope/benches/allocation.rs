//! The cost of one allocation and its free through `memscope::Profiler<System>`, against
//! the bare allocator: forwarding only (recording off), then recording in live mode, or
//! with `MEMSCOPE_BENCH_TRACE=DIR` in trace mode (a process records in one mode only,
//! so `bench/run.sh` runs this twice).
//!
//! `cargo bench -p memscope --bench allocation`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use memscope::{Config, Mode, Profiler};

#[global_allocator]
static ALLOCATOR: Profiler<System> = Profiler::new(System);

/// The block allocated and freed: a typical small object.
const LAYOUT: Layout = match Layout::from_size_align(64, 8) {
    Ok(layout) => layout,
    Err(_) => panic!("a valid layout"),
};

/// One allocation and its free through `allocator`.
fn pair(allocator: &impl GlobalAlloc) {
    // SAFETY: LAYOUT is nonzero; the block is freed with the layout it was made with.
    unsafe {
        let block = allocator.alloc(black_box(LAYOUT));
        black_box(block).write(1);
        allocator.dealloc(block, LAYOUT);
    }
}

fn allocation(c: &mut Criterion) {
    let trace = std::env::var_os("MEMSCOPE_BENCH_TRACE");
    let mut group = c.benchmark_group("alloc+free 64 B");
    group.bench_function("bare System", |b| b.iter(|| pair(&System)));
    if trace.is_none() {
        group.bench_function("Profiler, recording off", |b| b.iter(|| pair(&ALLOCATOR)));
    }
    let config = match &trace {
        Some(dir) => Config {
            mode: Mode::Trace,
            trace_path: Some(
                std::path::Path::new(dir).join(format!("bench-{}.trace", std::process::id())),
            ),
            ..Config::default()
        },
        None => Config::default(),
    };
    memscope::start(config).expect("start memscope");
    let name = if trace.is_some() { "Profiler, trace mode" } else { "Profiler, live mode" };
    group.bench_function(name, |b| b.iter(|| pair(&ALLOCATOR)));
    group.finish();
}

criterion_group!(benches, allocation);
criterion_main!(benches);
