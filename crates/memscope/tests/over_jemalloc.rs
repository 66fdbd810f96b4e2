//! The library over `tikv_jemallocator::Jemalloc`: every figure exact (see common/fixtures.rs).

mod common;

#[global_allocator]
static ALLOCATOR: memscope::Profiler<tikv_jemallocator::Jemalloc> =
    memscope::Profiler::new(tikv_jemallocator::Jemalloc);

#[test]
fn every_figure_is_exact_over_jemalloc() {
    common::fixtures::exact_figures();
}
