//! The library over `mimalloc::MiMalloc`: every figure exact (see common/fixtures.rs).

mod common;

#[global_allocator]
static ALLOCATOR: memscope::Profiler<mimalloc::MiMalloc> =
    memscope::Profiler::new(mimalloc::MiMalloc);

#[test]
fn every_figure_is_exact_over_mimalloc() {
    common::fixtures::exact_figures();
}
