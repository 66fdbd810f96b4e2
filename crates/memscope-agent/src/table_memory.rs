//! Zeroed memory for the live tables. A program with hundreds of thousands of live
//! blocks has tables of many megabytes, probed at random on every hooked call: with
//! 4 KiB pages nearly every probe also misses the TLB, and under virtualisation a page
//! walk costs more than the cache miss itself. Tables of 2 MiB and more therefore ask
//! for transparent huge pages.

use std::alloc::Layout;

const HUGE_PAGE: usize = 2 << 20;

/// `bytes` of zeroed memory, aligned to a cache line; `bytes` a power of two.
pub(crate) fn alloc_zeroed(bytes: usize) -> *mut u8 {
    if bytes < HUGE_PAGE {
        // SAFETY: the layout has a nonzero size.
        return unsafe { std::alloc::alloc_zeroed(layout(bytes)) };
    }
    // Mapped with a huge page's worth to spare, then trimmed to an aligned range.
    // SAFETY: an anonymous private mapping; the address is the kernel's choice.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes + HUGE_PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    let start = raw as usize;
    let aligned = start.next_multiple_of(HUGE_PAGE);
    // SAFETY: both ranges lie inside the mapping made above and are not used.
    unsafe {
        if aligned > start {
            libc::munmap(raw, aligned - start);
        }
        let end = aligned + bytes;
        let tail = start + bytes + HUGE_PAGE - end;
        if tail > 0 {
            libc::munmap(end as *mut libc::c_void, tail);
        }
        libc::madvise(aligned as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE);
    }
    aligned as *mut u8
}

/// Returns memory from [`alloc_zeroed`] of the same size.
///
/// # Safety
/// `ptr` came from `alloc_zeroed(bytes)` and is not used afterwards.
pub(crate) unsafe fn free(ptr: *mut u8, bytes: usize) {
    if bytes < HUGE_PAGE {
        std::alloc::dealloc(ptr, layout(bytes));
    } else {
        libc::munmap(ptr.cast(), bytes);
    }
}

fn layout(bytes: usize) -> Layout {
    Layout::from_size_align(bytes, 64).expect("a power of two below 2 MiB")
}
