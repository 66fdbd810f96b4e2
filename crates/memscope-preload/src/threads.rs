//! The hook on thread creation. While a process has one thread, the recorder numbers
//! its events with unlocked adds; it must switch to locked ones before a second thread
//! can allocate or free anything.

use core::ffi::{c_int, c_void};

use crate::real::next;

type StartFn = extern "C" fn(*mut c_void) -> *mut c_void;
type PthreadCreateFn = unsafe extern "C" fn(
    *mut libc::pthread_t,
    *const libc::pthread_attr_t,
    StartFn,
    *mut c_void,
) -> c_int;

/// Interposed `pthread_create`.
#[no_mangle]
pub unsafe extern "C" fn pthread_create(
    thread: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: StartFn,
    arg: *mut c_void,
) -> c_int {
    memscope_agent::before_thread_start();
    next::<PthreadCreateFn>(c"pthread_create")
        .map_or(libc::ENOSYS, |real| real(thread, attr, start, arg))
}
