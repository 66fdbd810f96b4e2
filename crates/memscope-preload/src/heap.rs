//! The malloc family. Counting follows memcheck: `realloc(NULL, n)` is an allocation,
//! `realloc(p, 0)` a free, and `realloc(p, n)` a free plus an allocation.
//!
//! `malloc`, `calloc`, `realloc` and `free` ask the recorder first whether the call may be
//! recorded, and when not (nothing records, or sampling leaves it out) they end in a
//! tail call to glibc: no frame, no saved register. Only the calls that are recorded go
//! through a function of their own.

use core::ffi::{c_int, c_void};

use memscope_agent::{
    __libc_calloc, __libc_free, __libc_malloc, __libc_memalign, __libc_pvalloc, __libc_realloc,
    __libc_valloc, alloc_wanted, free_wanted, record_alloc, record_free, record_realloc,
};

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Interposed `malloc`.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    if !alloc_wanted(size) {
        return __libc_malloc(size);
    }
    malloc_recorded(size)
}

#[inline(never)]
unsafe fn malloc_recorded(size: usize) -> *mut c_void {
    let ptr = __libc_malloc(size);
    record_alloc(ptr, size);
    ptr
}

/// Interposed `free`.
#[no_mangle]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if !free_wanted(ptr) {
        return __libc_free(ptr);
    }
    free_recorded(ptr)
}

#[inline(never)]
unsafe fn free_recorded(ptr: *mut c_void) {
    record_free(ptr);
    __libc_free(ptr);
}

/// Interposed `calloc`: counts `count * size` bytes.
#[no_mangle]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    if !alloc_wanted(count.wrapping_mul(size)) {
        return __libc_calloc(count, size);
    }
    calloc_recorded(count, size)
}

#[inline(never)]
unsafe fn calloc_recorded(count: usize, size: usize) -> *mut c_void {
    let ptr = __libc_calloc(count, size);
    record_alloc(ptr, count.wrapping_mul(size));
    ptr
}

/// Interposed `realloc`. Nothing is recorded when neither the old block may have been
/// sampled nor the new size reaches the next sample (asked in that order: only an
/// allocation that is not recorded counts its bytes down here).
#[no_mangle]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        return malloc(size);
    }
    if !free_wanted(ptr) && !alloc_wanted(size) {
        return __libc_realloc(ptr, size);
    }
    realloc_recorded(ptr, size)
}

#[inline(never)]
unsafe fn realloc_recorded(ptr: *mut c_void, size: usize) -> *mut c_void {
    if size == 0 {
        record_free(ptr);
        return __libc_realloc(ptr, 0);
    }
    record_realloc(ptr, size, || __libc_realloc(ptr, size))
}

/// Interposed `reallocarray`: `realloc` with an overflow check.
#[no_mangle]
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, count: usize, size: usize) -> *mut c_void {
    match count.checked_mul(size) {
        Some(bytes) => realloc(ptr, bytes),
        None => {
            *libc::__errno_location() = libc::ENOMEM;
            core::ptr::null_mut()
        }
    }
}

/// Interposed `posix_memalign`.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || !align.is_multiple_of(core::mem::size_of::<*mut c_void>()) {
        return libc::EINVAL;
    }
    let ptr = __libc_memalign(align, size);
    if ptr.is_null() {
        return libc::ENOMEM;
    }
    record_alloc(ptr, size);
    *out = ptr;
    0
}

/// Interposed `aligned_alloc`.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    memalign(align, size)
}

/// Interposed `memalign`.
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let ptr = __libc_memalign(align, size);
    record_alloc(ptr, size);
    ptr
}

/// Interposed `valloc`.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    let ptr = __libc_valloc(size);
    record_alloc(ptr, size);
    ptr
}

/// Interposed `pvalloc`: counts the size rounded up to whole pages, as memcheck does.
#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let ptr = __libc_pvalloc(size);
    let page = page_size();
    record_alloc(ptr, size.div_ceil(page) * page);
    ptr
}
