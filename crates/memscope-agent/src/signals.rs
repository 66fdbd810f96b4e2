//! Fatal signals and fork. A crash must not cost the trace its last events, so the
//! agent catches the crash signals once, has the writer drain, and re-raises.

use std::ffi::c_int;

use memscope_format::EndReason;

use crate::recorder;

const FATAL: [c_int; 5] = [libc::SIGSEGV, libc::SIGABRT, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

extern "C" fn on_fatal(signal: c_int) {
    recorder::end(EndReason::Signal(signal));
    // SA_RESETHAND restored the default action: a fault repeats when we return, and a
    // signal sent by kill() or abort() is delivered again by raise.
    // SAFETY: raise is async-signal-safe.
    unsafe { libc::raise(signal) };
}

extern "C" fn in_child() {
    recorder::stop_in_child();
}

/// Installs the crash handlers where the program has none, and the fork handler.
pub(crate) fn install() {
    for signal in FATAL {
        // SAFETY: sigaction with a zeroed, then filled struct; the previous action is
        // only read, to leave a program's own handler in place.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut old) != 0
                || old.sa_sigaction != libc::SIG_DFL
            {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fatal as *const () as usize;
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    // SAFETY: registers a handler that only stores to atomics.
    unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
}
