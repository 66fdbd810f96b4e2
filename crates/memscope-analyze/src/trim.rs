//! Hiding the allocator's own frames at the innermost end of a stack, as Go's profiles
//! hide the runtime's: a report should say which of the user's functions allocated, not
//! that `operator new` or `alloc::raw_vec` did.

use crate::symbols::Frame;

/// Functions of the malloc family and glibc's internals behind them.
const MALLOC_FAMILY: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "free",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
];

/// Name prefixes of allocation plumbing: glibc's malloc internals, libstdc++'s
/// `operator new` and allocators, and Rust's global allocator shims and `alloc` crate.
const PLUMBING_PREFIXES: &[&str] = &[
    "__libc_malloc",
    "__libc_calloc",
    "__libc_realloc",
    "__libc_memalign",
    "__libc_valloc",
    "__libc_pvalloc",
    "__libc_free",
    "__GI___libc_",
    "_int_malloc",
    "_int_realloc",
    "_int_memalign",
    "_mid_memalign",
    "sysmalloc",
    "tcache_",
    "__malloc_",
    "operator new",
    "__gnu_cxx::new_allocator<",
    "std::__new_allocator<",
    "std::allocator<",
    "std::allocator_traits<",
    "__rust_alloc",
    "__rust_realloc",
    "__rustc::__rust_",
    "__rust_alloc_zeroed",
    "__rdl_",
    "__rg_",
    "alloc::",
    "core::alloc::",
    "std::alloc::",
    "std::sys::alloc::",
    "std::sys::pal::unix::alloc::",
];

/// Source files of Rust's allocation plumbing, as rustc's debug information names them
/// (`/rustc/HASH/library/alloc/src/raw_vec/mod.rs`). Frames the compiler inlined carry a
/// bare name (`grow_one<alloc::alloc::Global>`, `finish_grow`) without the crate path
/// the prefixes above need, but always their file.
const RUST_PLUMBING_FILES: &[&str] = &[
    "/library/alloc/src/",
    "/library/core/src/alloc/",
    "/library/std/src/alloc.rs",
    "/library/std/src/sys/alloc/",
];

/// True for a frame of the allocator, of the memscope agent, or of a language runtime's
/// allocation plumbing.
pub fn is_allocator_frame(frame: &Frame) -> bool {
    if frame.module.starts_with("libmemscope") {
        return true;
    }
    let file = frame.file.as_deref().unwrap_or("");
    if RUST_PLUMBING_FILES.iter().any(|plumbing| file.contains(plumbing)) {
        return true;
    }
    // Trait impls print as `<Type as Trait>::method`: judge them by the type's crate,
    // and by the trait's when the trait is the alloc crate's.
    let name = frame.function.strip_prefix('<').unwrap_or(&frame.function);
    MALLOC_FAMILY.contains(&name)
        || PLUMBING_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        || name.contains(" as alloc::")
        || name.contains(" as core::alloc::")
}

/// True for a frame of the `memscope` Rust library's recorder linked into the program:
/// its global allocator or the agent behind it. They share the program's module and are
/// told apart by name (`memscope::profiler::…`) or, inlined with a bare name
/// (`alloc<std::alloc::System>`, `record_alloc`), by file: `…/memscope/src/profiler.rs`
/// or `…/memscope-agent/src/…` (`…/memscope-0.1.0/src/…` from a registry). Optimized
/// builds may inline the allocator into the caller with no trace of it in the line
/// tables, so the agent's frames are what is left to go by.
fn is_embedded_recorder_frame(frame: &Frame) -> bool {
    // `memscope::profiler::` also names the recorder's closures inside std's generic
    // frames: `try_with<Cell<bool>, memscope::profiler::reported::{closure_env#0}<…>>`.
    if frame.function.contains("memscope::profiler::")
        || frame.function.starts_with("memscope_agent::")
    {
        return true;
    }
    let Some(file) = frame.file.as_deref() else { return false };
    if let Some(crate_dir) = file.strip_suffix("/src/profiler.rs") {
        return is_crate_dir(crate_dir, "memscope");
    }
    file.split_once("/src/").is_some_and(|(crate_dir, _)| is_crate_dir(crate_dir, "memscope-agent"))
}

/// Whether `dir` is crate `name`'s directory: `…/name` in a workspace, `…/name-1.2.3`
/// from a registry.
fn is_crate_dir(dir: &str, name: &str) -> bool {
    let last = dir.rsplit('/').next().unwrap_or_default();
    last.strip_prefix(name).is_some_and(|rest| {
        rest.is_empty()
            || rest.strip_prefix('-').is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// How many of the innermost `frames` are allocator frames to hide: those of a linked-in
/// recorder up to its global allocator, then the allocator's and the runtime's. The
/// outermost frame is always kept, so a stack never becomes empty.
pub(crate) fn allocator_frames(frames: &[&Frame]) -> usize {
    let recorder =
        frames.iter().rposition(|frame| is_embedded_recorder_frame(frame)).map_or(0, |at| at + 1);
    let leading = frames[recorder..].iter().take_while(|frame| is_allocator_frame(frame)).count();
    (recorder + leading).min(frames.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, module: &str) -> Frame {
        Frame {
            function: function.into(),
            file: None,
            line: None,
            module: module.into(),
            address: 0,
        }
    }

    #[test]
    fn only_leading_plumbing_is_hidden() {
        let stack = [
            frame("__rdl_alloc", "app"),
            frame("alloc::raw_vec::RawVec<T,A>::grow_one", "app"),
            frame("<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem", "app"),
            frame("app::build", "app"),
            frame("alloc::vec::Vec<T,A>::push", "app"),
            frame("main", "app"),
        ];
        let frames: Vec<&Frame> = stack.iter().collect();

        assert_eq!(allocator_frames(&frames), 3);
    }

    #[test]
    fn cpp_operator_new_and_the_agent_are_hidden() {
        assert!(is_allocator_frame(&frame("operator new(unsigned long)", "libstdc++.so.6")));
        assert!(is_allocator_frame(&frame(
            "std::__new_allocator<int>::allocate(unsigned long, void const*)",
            "a"
        )));
        assert!(is_allocator_frame(&frame("record_alloc", "libmemscope_preload.so")));
        assert!(is_allocator_frame(&frame("malloc", "libc.so.6")));
        assert!(!is_allocator_frame(&frame("strdup", "libc.so.6")));
        assert!(!is_allocator_frame(&frame("ns::outer(int)", "app")));
        assert!(!is_allocator_frame(&frame("my_alloc_pool", "app")));
    }

    #[test]
    fn inlined_rust_plumbing_is_known_by_its_file() {
        let inlined = |function: &str, file: &str| Frame {
            file: Some(format!("/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/{file}")),
            ..frame(function, "app")
        };
        let stack = [
            inlined("grow_impl_runtime", "alloc/src/alloc.rs"),
            inlined("grow_one<alloc::alloc::Global>", "alloc/src/raw_vec/mod.rs"),
            inlined("push<u8, alloc::alloc::Global>", "alloc/src/vec/mod.rs"),
            Frame { file: Some("/src/app/abbrev.rs".into()), ..frame("insert", "app") },
            inlined("from_iter<u8>", "core/src/iter/traits/collect.rs"),
            frame("main", "app"),
        ];
        let frames: Vec<&Frame> = stack.iter().collect();

        assert_eq!(allocator_frames(&frames), 3);
        assert!(!is_allocator_frame(&stack[4]), "core's iterators are not plumbing");
    }

    /// A frame of the program's own module, with its source file.
    fn in_file(function: &str, file: &str) -> Frame {
        Frame { file: Some(file.into()), ..frame(function, "app") }
    }

    #[test]
    fn the_rust_library_s_recorder_is_hidden_down_to_its_allocator() {
        let stack = [
            in_file(
                "memscope_agent::recorder::capture",
                "/w/crates/memscope-agent/src/recorder.rs",
            ),
            frame("std::thread::local::LocalKey<T>::try_with", "app"),
            in_file(
                "alloc<std::alloc::System>",
                "/home/u/.cargo/registry/src/i/memscope-0.1.0/src/profiler.rs",
            ),
            frame("__rust_alloc", "app"),
            frame("alloc::alloc::alloc", "app"),
            frame("app::leak", "app"),
            frame("memscope::testing::measure", "app"),
            frame("main", "app"),
        ];
        let frames: Vec<&Frame> = stack.iter().collect();

        assert_eq!(allocator_frames(&frames), 5);
        let by_name = [
            frame(
                "<memscope::profiler::Profiler<System> as core::alloc::global::GlobalAlloc>::alloc",
                "app",
            ),
            frame("main", "app"),
        ];
        assert_eq!(allocator_frames(&by_name.iter().collect::<Vec<_>>()), 1);
        let elsewhere = [
            in_file("f", "/src/other/src/profiler.rs"),
            in_file("g", "/src/memscope-agents/src/a.rs"),
            frame("main", "app"),
        ];
        assert_eq!(allocator_frames(&elsewhere.iter().collect::<Vec<_>>()), 0);
    }

    #[test]
    fn an_allocator_inlined_away_is_hidden_by_the_agent_s_frames() {
        // An optimized build over jemalloc: the allocator went into `try_allocate_in`
        // and the line tables kept no frame of it.
        let stack = [
            in_file("capture<fn(&Area) -> bool>", "/w/crates/memscope-agent/src/unwind.rs"),
            in_file("record_alloc", "/r/memscope-agent-0.1.0/src/recorder.rs"),
            in_file(
                "try_with<Cell<bool>, memscope::profiler::reported::{closure_env#0}<F>, ()>",
                "/rustc/h/library/std/src/thread/local.rs",
            ),
            in_file(
                "try_allocate_in<alloc::alloc::Global>",
                "/rustc/h/library/alloc/src/raw_vec/mod.rs",
            ),
            frame("app::leak", "app"),
            frame("main", "app"),
        ];
        assert_eq!(allocator_frames(&stack.iter().collect::<Vec<_>>()), 4);
    }

    #[test]
    fn a_stack_of_plumbing_only_keeps_its_outermost_frame() {
        let stack =
            [frame("operator new(unsigned long)", "libstdc++.so.6"), frame("malloc", "libc.so.6")];
        let frames: Vec<&Frame> = stack.iter().collect();

        assert_eq!(allocator_frames(&frames), 1);
    }
}
