//! Event times: nanoseconds of CLOCK_MONOTONIC (a vDSO call, no system call) since the
//! agent started, which stands in for "since the process started".

use std::sync::atomic::{AtomicU64, Ordering};

static START_NS: AtomicU64 = AtomicU64::new(0);

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Fixes time zero; called once, at the first hooked call.
pub(crate) fn start() {
    START_NS.store(monotonic_ns(), Ordering::Relaxed);
}

/// Nanoseconds since [`start`].
pub(crate) fn now_ns() -> u64 {
    monotonic_ns().saturating_sub(START_NS.load(Ordering::Relaxed))
}

/// Wall-clock milliseconds since the Unix epoch, for the trace header.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
