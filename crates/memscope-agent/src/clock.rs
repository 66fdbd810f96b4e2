//! Event times: a clock the writer thread advances every few milliseconds, which the
//! hooks read with one load.
//!
//! Pairing needs no time at all (the freeing thread pairs a free as it happens, see
//! `live_table`), and a timeline needs milliseconds, not nanoseconds. Reading a clock
//! on every hooked call cost 19 ns (the time-stamp counter) or 6 ns (the kernel's
//! coarse clock, through the vDSO) on the virtual machines we measure on; a load of a
//! line that changes every few milliseconds costs about one. The writer's own records
//! (RSS samples, segments, the end) read the precise clock: a run shorter than a tick
//! still has a length. An event's time is never later than the moment it was recorded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often the writer advances the clock at least: the resolution of event times.
pub(crate) const TICK: Duration = Duration::from_millis(4);

static START_NS: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds since start in whole microseconds, as of the writer's last tick.
static NOW_NS: AtomicU64 = AtomicU64::new(0);

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// An event's time: nanoseconds since start (whole microseconds, like every time in
/// the trace), as of the writer's last tick.
#[inline]
pub(crate) fn event_ns() -> u64 {
    NOW_NS.load(Ordering::Relaxed)
}

/// Advances the events' clock to now; called by the writer thread alone.
pub(crate) fn tick() {
    NOW_NS.store(now_ns(), Ordering::Relaxed);
}

/// Fixes time zero; called once, at the first hooked call.
pub(crate) fn start() {
    START_NS.store(monotonic_ns(), Ordering::Relaxed);
}

/// Nanoseconds since start, now, precisely, in whole microseconds like event times.
pub(crate) fn now_ns() -> u64 {
    monotonic_ns().saturating_sub(START_NS.load(Ordering::Relaxed)) / 1000 * 1000
}

/// Wall-clock milliseconds since the Unix epoch, for the trace header.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
