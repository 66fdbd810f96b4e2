//! The library over `std::alloc::System`: every figure exact (see common/fixtures.rs).

mod common;

#[global_allocator]
static ALLOCATOR: memscope::Profiler<std::alloc::System> =
    memscope::Profiler::new(std::alloc::System);

#[test]
fn every_figure_is_exact_over_system() {
    common::fixtures::exact_figures();
}
