//! Hiding the allocator's own frames at the innermost end of a stack, as Go's profiles
//! hide the runtime's: a report should say which of the user's functions allocated, not
//! that `operator new` or `alloc::raw_vec` did. Programs' own allocation wrappers
//! (`xmalloc`, `g_malloc`, `PyMem_Malloc`, …) count as the allocator too, as massif's
//! `--alloc-fn` makes them: a built-in list, and any the user names.

use regex::Regex;

use crate::error::AnalyzeError;
use crate::filter::regex;
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

/// Well-known allocation wrappers of C programs and language runtimes, by exact name:
/// libiberty's and gnulib's (gcc, bash, coreutils), git's, GLib's, CPython's, Perl's,
/// jq's, SQLite's, OpenSSL's and zlib's.
const ALLOCATOR_WRAPPERS: &[&str] = &[
    // libiberty, gnulib, bash, git
    "xmalloc",
    "xcalloc",
    "xrealloc",
    "xzalloc",
    "xstrdup",
    "xstrndup",
    "xmemdup",
    "xnmalloc",
    "xnrealloc",
    "x2realloc",
    "x2nrealloc",
    "ximalloc",
    "xicalloc",
    "xirealloc",
    "xireallocarray",
    "xreallocarray",
    "xcharalloc",
    "sh_xmalloc",
    "sh_xrealloc",
    "do_xmalloc",
    "xmallocz",
    "xmallocz_gently",
    "xmemdupz",
    // GLib
    "g_malloc",
    "g_malloc0",
    "g_malloc_n",
    "g_malloc0_n",
    "g_realloc",
    "g_realloc_n",
    "g_try_malloc",
    "g_try_malloc0",
    "g_try_malloc_n",
    "g_try_malloc0_n",
    "g_try_realloc",
    "g_try_realloc_n",
    "g_aligned_alloc",
    "g_aligned_alloc0",
    "g_slice_alloc",
    "g_slice_alloc0",
    // CPython (its internals are below, by prefix)
    "PyMem_Malloc",
    "PyMem_Calloc",
    "PyMem_Realloc",
    "PyMem_RawMalloc",
    "PyMem_RawCalloc",
    "PyMem_RawRealloc",
    "PyObject_Malloc",
    "PyObject_Calloc",
    "PyObject_Realloc",
    "pymalloc_alloc",
    "pymalloc_realloc",
    // Perl
    "Perl_safesysmalloc",
    "Perl_safesyscalloc",
    "Perl_safesysrealloc",
    // jq
    "jv_mem_alloc",
    "jv_mem_alloc_unguarded",
    "jv_mem_calloc",
    "jv_mem_calloc_unguarded",
    "jv_mem_realloc",
    // SQLite
    "sqlite3Malloc",
    "sqlite3MallocZero",
    "sqlite3Realloc",
    "sqlite3DbMallocRaw",
    "sqlite3DbMallocRawNN",
    "sqlite3DbMallocZero",
    "sqlite3DbRealloc",
    "sqlite3DbReallocOrFree",
    "sqlite3_malloc",
    "sqlite3_malloc64",
    "sqlite3_realloc",
    "sqlite3_realloc64",
    "sqlite3MemMalloc",
    "sqlite3MemRealloc",
    "mallocWithAlarm",
    "dbMallocRawFinish",
    "dbReallocFinish",
    // OpenSSL, zlib
    "CRYPTO_malloc",
    "CRYPTO_zalloc",
    "CRYPTO_realloc",
    "CRYPTO_clear_realloc",
    "zcalloc",
];

/// Name prefixes of allocation wrappers' internals: CPython's `_PyMem_RawMalloc`,
/// `_PyMem_DebugMalloc`, `_PyObject_Malloc` and their kin.
const ALLOCATOR_WRAPPER_PREFIXES: &[&str] =
    &["_PyMem_", "_PyObject_Malloc", "_PyObject_Calloc", "_PyObject_Realloc"];

/// The allocation wrappers a user named (`--alloc-fn`), besides the built-in ones.
#[derive(Clone, Debug, Default)]
pub struct AllocFns(Vec<Regex>);

impl AllocFns {
    /// Frames whose function matches any of `patterns` count as the allocator's.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<AllocFns, AnalyzeError> {
        let regexes = patterns.iter().map(|pattern| regex("alloc-fn", pattern.as_ref()));
        Ok(AllocFns(regexes.collect::<Result<_, _>>()?))
    }

    fn matches(&self, function: &str) -> bool {
        self.0.iter().any(|regex| regex.is_match(function))
    }
}

/// What a frame is to trimming, judged once per frame on its full name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The `memscope` library's recorder linked into the program.
    Recorder,
    /// The allocator, its plumbing or a wrapper of it.
    Allocator,
    /// The program's own code.
    Program,
}

impl Role {
    /// `frame`'s role, with the wrappers in `alloc_fns` counted as the allocator's.
    pub(crate) fn of(frame: &Frame, alloc_fns: &AllocFns) -> Role {
        if is_embedded_recorder_frame(frame) {
            Role::Recorder
        } else if is_allocator_frame(frame) || alloc_fns.matches(&frame.function) {
            Role::Allocator
        } else {
            Role::Program
        }
    }
}

/// Whether `function` is a built-in allocation wrapper. Compilers' clones of a C function
/// (`xmalloc.part.0`, `xmalloc.cold`) are judged by the function's name.
fn is_wrapper(function: &str) -> bool {
    let name = function.split_once('.').map_or(function, |(name, _)| name);
    ALLOCATOR_WRAPPERS.contains(&name)
        || ALLOCATOR_WRAPPER_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

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

/// True for a frame of the allocator, of the memscope agent, of a language runtime's
/// allocation plumbing, or of a built-in allocation wrapper.
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
        || is_wrapper(name)
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

/// How many of the innermost frames, given by their `roles`, are allocator frames to
/// hide: those of a linked-in recorder up to its global allocator, then the allocator's,
/// the runtime's and the wrappers'. The outermost frame is always kept, so a stack never
/// becomes empty.
pub(crate) fn allocator_frames(roles: &[Role]) -> usize {
    let recorder = roles.iter().rposition(|&role| role == Role::Recorder).map_or(0, |at| at + 1);
    let leading = roles[recorder..].iter().take_while(|&&role| role == Role::Allocator).count();
    (recorder + leading).min(roles.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of `stack`'s innermost frames are hidden, with no `--alloc-fn`.
    fn hidden(stack: &[Frame]) -> usize {
        let roles: Vec<Role> = stack.iter().map(|f| Role::of(f, &AllocFns::default())).collect();
        allocator_frames(&roles)
    }

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
        assert_eq!(hidden(&stack), 3);
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
    fn built_in_wrappers_and_their_clones_are_hidden_with_the_allocator() {
        let stack = [
            frame("malloc", "libc.so.6"),
            frame("xmalloc.part.0", "app"),
            frame("xstrdup", "app"),
            frame("copy_name", "app"),
            frame("xmalloc", "app"),
            frame("main", "app"),
        ];
        assert_eq!(hidden(&stack), 3);
        for wrapper in ["jv_mem_alloc", "Perl_safesysmalloc", "_PyMem_RawMalloc", "g_malloc0"] {
            assert!(is_allocator_frame(&frame(wrapper, "lib.so")), "{wrapper}");
        }
        assert!(!is_allocator_frame(&frame("xmalloc_stats", "app")));
    }

    #[test]
    fn alloc_fns_name_more_wrappers_by_regex() {
        let alloc_fns = AllocFns::new(&["^pool_(get|grow)$"]).unwrap();
        let stack =
            [frame("malloc", "libc.so.6"), frame("pool_grow", "app"), frame("pool_get", "app")];
        let roles: Vec<Role> = stack.iter().map(|f| Role::of(f, &alloc_fns)).collect();
        assert_eq!(roles, [Role::Allocator, Role::Allocator, Role::Allocator]);
        assert_eq!(Role::of(&frame("pool_grower", "app"), &alloc_fns), Role::Program);
        let err = AllocFns::new(&["pool_(get"]).unwrap_err().to_string();
        assert_eq!(err, "invalid alloc-fn regex `pool_(get`: unclosed group");
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
        assert_eq!(hidden(&stack), 3);
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
        assert_eq!(hidden(&stack), 5);
        let by_name = [
            frame(
                "<memscope::profiler::Profiler<System> as core::alloc::global::GlobalAlloc>::alloc",
                "app",
            ),
            frame("main", "app"),
        ];
        assert_eq!(hidden(&by_name), 1);
        let elsewhere = [
            in_file("f", "/src/other/src/profiler.rs"),
            in_file("g", "/src/memscope-agents/src/a.rs"),
            frame("main", "app"),
        ];
        assert_eq!(hidden(&elsewhere), 0);
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
        assert_eq!(hidden(&stack), 4);
    }

    #[test]
    fn a_stack_of_plumbing_only_keeps_its_outermost_frame() {
        let stack =
            [frame("operator new(unsigned long)", "libstdc++.so.6"), frame("malloc", "libc.so.6")];
        assert_eq!(hidden(&stack), 1);
    }
}
