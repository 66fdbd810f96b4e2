//! The global allocator: the program's allocator, wrapped. Until recording starts each
//! call costs one relaxed load more than the allocator it wraps; once it has, each call
//! is also reported to memscope's recorder (the same one `memscope run` preloads).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::testing;

/// Whether calls are reported to the recorder.
static RECORDING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while this thread is inside the recorder: what the recorder allocates itself
    /// goes straight to the wrapped allocator. `const`, with no destructor, so it can be
    /// read at any point of a thread's life.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// memscope's global allocator, around any other (`std::alloc::System`, jemalloc,
/// mimalloc):
///
/// ```no_run
/// use memscope::Profiler;
/// use std::alloc::System;
///
/// #[global_allocator]
/// static ALLOCATOR: Profiler<System> = Profiler::new(System);
///
/// fn main() {
///     memscope::start(memscope::Config::default()).expect("start memscope");
///     let kept: Vec<u8> = vec![0; 1 << 20];
///     println!("{}", memscope::stats());
///     drop(kept);
/// }
/// ```
pub struct Profiler<A> {
    inner: A,
}

impl<A> Profiler<A> {
    /// Wraps `inner`. It only forwards until [`crate::start`] (or [`crate::serve`]).
    pub const fn new(inner: A) -> Profiler<A> {
        Profiler { inner }
    }
}

/// Turns reporting on.
pub(crate) fn report_from_now() {
    RECORDING.store(true, Ordering::Release);
}

/// Set by the first call a `Profiler` sees with reporting on.
static CALLED: AtomicBool = AtomicBool::new(false);

#[inline(always)]
fn note_call() {
    if !CALLED.load(Ordering::Relaxed) {
        CALLED.store(true, Ordering::Relaxed);
    }
}

/// Whether the program's global allocator is a `Profiler` (call with reporting on).
pub(crate) fn is_global_allocator() -> bool {
    drop(std::hint::black_box(Box::new(0u64)));
    CALLED.load(Ordering::Relaxed)
}

/// Runs `f` marked as inside the recorder, unless the thread already is.
#[inline]
pub(crate) fn reported(f: impl FnOnce()) {
    let _ = INSIDE.try_with(|inside| {
        if !inside.replace(true) {
            f();
            inside.set(false);
        }
    });
}

/// Runs `f` as memscope's own work: what it allocates goes straight to the wrapped
/// allocator, unrecorded and uncounted. Nests; a panic in `f` still clears the mark.
pub(crate) fn unrecorded<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            if !self.0 {
                let _ = INSIDE.try_with(|inside| inside.set(false));
            }
        }
    }
    let _restore = Restore(INSIDE.try_with(|inside| inside.replace(true)).unwrap_or(true));
    f()
}

/// Starts recording from the environment before `main` (see [`crate::start_from_env`]).
/// It sits beside `RECORDING`, which every `Profiler` reads, so the linker keeps it
/// wherever the allocator is used.
#[used]
#[link_section = ".init_array"]
static START_FROM_ENV: extern "C" fn() = {
    extern "C" fn start() {
        crate::start_from_env();
    }
    start
};

/// Whether this thread is inside the recorder (its allocations are the recorder's).
pub(crate) fn is_inside() -> bool {
    INSIDE.try_with(Cell::get).unwrap_or(true)
}

/// Reports a block the wrapped allocator handed out (if it did, and recording is on),
/// and passes it on.
#[inline(always)]
fn allocated(ptr: *mut u8, size: usize) -> *mut u8 {
    if RECORDING.load(Ordering::Relaxed) && !ptr.is_null() {
        note_call();
        reported(|| {
            memscope_agent::record_alloc(ptr.cast(), size);
            testing::allocated(ptr, size);
        });
    }
    ptr
}

// SAFETY: every method forwards to the wrapped allocator, which upholds the contract;
// the reports around the calls never touch the memory handed out.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Profiler<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocated(self.inner.alloc(layout), layout.size())
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocated(self.inner.alloc_zeroed(layout), layout.size())
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if RECORDING.load(Ordering::Relaxed) {
            reported(|| {
                memscope_agent::record_free(ptr.cast());
                testing::freed(ptr);
            });
        }
        self.inner.dealloc(ptr, layout);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !RECORDING.load(Ordering::Relaxed) || is_inside() {
            return self.inner.realloc(ptr, layout, new_size);
        }
        let mut new: *mut u8 = std::ptr::null_mut();
        reported(|| {
            new = memscope_agent::record_realloc(ptr.cast(), new_size, || {
                self.inner.realloc(ptr, layout, new_size).cast()
            })
            .cast();
            if !new.is_null() {
                testing::freed(ptr);
                testing::allocated(new, new_size);
            }
        });
        new
    }
}
