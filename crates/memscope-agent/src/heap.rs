//! The recorder's own memory. It comes from glibc's `__libc_*` functions, never through
//! the interposed `malloc`, so it stays out of the numbers reported. When glibc has no
//! memory left (a program that allocates until malloc fails under a limit), the
//! recorder must not abort its host, which Rust's allocation failure handler would do:
//! requests then come from a fixed reserve, and [`out_of_memory`] tells the recorder to
//! stop growing its tables.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

extern "C" {
    /// glibc's `malloc`, reachable under this name even when `malloc` is interposed.
    pub fn __libc_malloc(size: usize) -> *mut c_void;
    /// glibc's `free`.
    pub fn __libc_free(ptr: *mut c_void);
    /// glibc's `calloc`.
    pub fn __libc_calloc(count: usize, size: usize) -> *mut c_void;
    /// glibc's `realloc`.
    pub fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    /// glibc's `memalign`.
    pub fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    /// glibc's `valloc`.
    pub fn __libc_valloc(size: usize) -> *mut c_void;
    /// glibc's `pvalloc`.
    pub fn __libc_pvalloc(size: usize) -> *mut c_void;
}

/// Bytes set aside for the recorder once glibc refuses it memory: enough to finish what
/// was under way (a thread's unwinding state, a table's last growth).
const RESERVE_BYTES: usize = 1 << 20;

#[repr(C, align(4096))]
struct Reserve(UnsafeCell<[u8; RESERVE_BYTES]>);

// SAFETY: parts of the reserve are handed out once each, by an atomic bump.
unsafe impl Sync for Reserve {}

static RESERVE: Reserve = Reserve(UnsafeCell::new([0; RESERVE_BYTES]));
static RESERVE_USED: AtomicUsize = AtomicUsize::new(0);
static OUT_OF_MEMORY: AtomicBool = AtomicBool::new(false);

/// Whether glibc refused the recorder memory: it then grows nothing more.
pub fn out_of_memory() -> bool {
    OUT_OF_MEMORY.load(Ordering::Relaxed)
}

fn reserve_range() -> core::ops::Range<usize> {
    let start = RESERVE.0.get() as usize;
    start..start + RESERVE_BYTES
}

/// A piece of the reserve, or null when it is used up too.
fn from_reserve(layout: Layout) -> *mut u8 {
    OUT_OF_MEMORY.store(true, Ordering::Relaxed);
    let base = reserve_range().start;
    let mut used = RESERVE_USED.load(Ordering::Relaxed);
    loop {
        let start = (base + used).next_multiple_of(layout.align()) - base;
        let end = start + layout.size();
        if end > RESERVE_BYTES {
            return core::ptr::null_mut();
        }
        match RESERVE_USED.compare_exchange_weak(used, end, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return (base + start) as *mut u8,
            Err(now) => used = now,
        }
    }
}

/// A [`GlobalAlloc`] over glibc's `__libc_*` functions, for the preload library's
/// `#[global_allocator]`.
pub struct LibcAllocator;

/// malloc's own alignment guarantee on x86_64 glibc.
const MALLOC_ALIGN: usize = 16;

// SAFETY: every method forwards to glibc's allocator, which upholds the GlobalAlloc
// contract, or hands out a part of the reserve no one else has; alignments above
// malloc's go through memalign.
unsafe impl GlobalAlloc for LibcAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = if layout.align() <= MALLOC_ALIGN {
            __libc_malloc(layout.size()) as *mut u8
        } else {
            __libc_memalign(layout.align(), layout.size()) as *mut u8
        };
        if ptr.is_null() {
            return from_reserve(layout);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // The reserve is never given back: it is for the last few requests of a
        // recorder that stops growing.
        if !reserve_range().contains(&(ptr as usize)) {
            __libc_free(ptr as *mut c_void)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN && !reserve_range().contains(&(ptr as usize)) {
            let new = __libc_realloc(ptr as *mut c_void, new_size) as *mut u8;
            if !new.is_null() {
                return new;
            }
        }
        let new = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
        if !new.is_null() {
            core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new
    }
}
