//! Event times: the kernel's CLOCK_MONOTONIC_COARSE, its clock as of the last timer
//! tick (1–4 ms apart), read from the vDSO.
//!
//! Pairing needs no time at all (the freeing thread pairs a free as it happens, see
//! `live_table`), and a timeline needs milliseconds, not nanoseconds. The coarse clock
//! costs ~6 ns a read where the time-stamp counter costs ~19 ns on the virtual machines
//! we measure on, and every hooked call reads it once. The writer's own records (RSS
//! samples, segments, the end) take the precise clock: a run shorter than a tick still
//! has a length. A coarse time is never later than the precise time of its moment.

use std::sync::atomic::{AtomicU64, Ordering};

static START_NS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// An event's raw timestamp in nanoseconds, comparable across threads; [`us`]
/// converts it.
#[inline]
pub(crate) fn ticks() -> u64 {
    read(libc::CLOCK_MONOTONIC_COARSE)
}

/// Fixes time zero; called once, at the first hooked call.
pub(crate) fn start() {
    START_NS.store(read(libc::CLOCK_MONOTONIC), Ordering::Relaxed);
}

/// Whole microseconds since start: the trace's unit of time.
#[inline]
pub(crate) fn us(ticks: u64) -> u64 {
    ticks.saturating_sub(START_NS.load(Ordering::Relaxed)) / 1000
}

/// Nanoseconds since start, now, precisely, in whole microseconds like event times.
pub(crate) fn now_ns() -> u64 {
    us(read(libc::CLOCK_MONOTONIC)) * 1000
}

/// Wall-clock milliseconds since the Unix epoch, for the trace header.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
