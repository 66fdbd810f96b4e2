//! glibc's own allocator entry points. The agent allocates through these, never through
//! the interposed `malloc`, so its tables and buffers stay out of the numbers it reports.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

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

/// A [`GlobalAlloc`] over glibc's `__libc_*` functions, for the preload library's
/// `#[global_allocator]`.
pub struct LibcAllocator;

/// malloc's own alignment guarantee on x86_64 and aarch64 glibc.
const MALLOC_ALIGN: usize = 16;

// SAFETY: every method forwards to glibc's allocator, which upholds the GlobalAlloc
// contract; alignments above malloc's go through memalign.
unsafe impl GlobalAlloc for LibcAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            __libc_malloc(layout.size()) as *mut u8
        } else {
            __libc_memalign(layout.align(), layout.size()) as *mut u8
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        __libc_free(ptr as *mut c_void)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            __libc_calloc(1, layout.size()) as *mut u8
        } else {
            let ptr = self.alloc(layout);
            if !ptr.is_null() {
                ptr.write_bytes(0, layout.size());
            }
            ptr
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            return __libc_realloc(ptr as *mut c_void, new_size) as *mut u8;
        }
        let new = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new
    }
}
