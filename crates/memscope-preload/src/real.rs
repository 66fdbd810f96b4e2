//! The real functions behind this library's hooks, found with `dlsym(RTLD_NEXT)`:
//! calling them by name would call the hooks again.

use core::ffi::CStr;

/// The next definition of `name` after this library, or `None` (never expected with
/// glibc, but then the hook fails like a missing function would, with ENOSYS).
pub(crate) unsafe fn next<F: Copy>(name: &CStr) -> Option<F> {
    let symbol = libc::dlsym(libc::RTLD_NEXT, name.as_ptr());
    if symbol.is_null() {
        *libc::__errno_location() = libc::ENOSYS;
        return None;
    }
    // SAFETY: F is the function pointer type of `name` in glibc.
    Some(core::mem::transmute_copy(&symbol))
}
