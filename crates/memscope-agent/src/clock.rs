//! Event times. The hot path reads the CPU's time-stamp counter (a few cycles) where
//! the kernel itself trusts it as a clock source (constant, non-stop TSC), else the
//! vDSO's CLOCK_MONOTONIC. The writer turns ticks into nanoseconds since start.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static USE_TSC: AtomicBool = AtomicBool::new(false);
static START_TICKS: AtomicU64 = AtomicU64::new(0);
static START_NS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn tsc() -> u64 {
    // SAFETY: rdtsc has no preconditions.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The kernel only picks `tsc` as its clock source when the counter is synchronised
/// across CPUs and runs at a constant rate; then ticks from any thread compare.
fn tsc_is_a_clock() -> bool {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .is_ok_and(|source| source.trim() == "tsc")
}

/// Fixes time zero; called once, at the first hooked call.
pub(crate) fn start() {
    let use_tsc = tsc_is_a_clock();
    USE_TSC.store(use_tsc, Ordering::Relaxed);
    START_NS.store(monotonic_ns(), Ordering::Relaxed);
    START_TICKS.store(if use_tsc { tsc() } else { monotonic_ns() }, Ordering::Relaxed);
}

/// A raw timestamp: comparable across threads, converted by [`Calibration`].
#[inline]
pub(crate) fn ticks() -> u64 {
    if USE_TSC.load(Ordering::Relaxed) {
        tsc()
    } else {
        monotonic_ns()
    }
}

/// Ticks-to-microseconds. One fixed rate for the whole run, so converted times keep the
/// order of the ticks they came from.
pub(crate) struct Calibration {
    start_ticks: u64,
    /// Microseconds per tick, in units of 2^-64: the writer converts every event, and a
    /// 64-by-64-bit multiply is cheaper than going through floating point.
    us_per_tick: u64,
}

/// Long enough that clock-read jitter (tens of ns) is a 1e-5 error.
const CALIBRATION_SPAN_NS: u64 = 3_000_000;

impl Calibration {
    /// Measures the tick rate against CLOCK_MONOTONIC by spinning for a few ms; the
    /// writer does this once as it starts, off the program's threads.
    pub(crate) fn measure() -> Calibration {
        let start_ticks = START_TICKS.load(Ordering::Relaxed);
        if !USE_TSC.load(Ordering::Relaxed) {
            return Calibration { start_ticks, us_per_tick: fixed_point(1e-3) };
        }
        let (ticks0, ns0) = (tsc(), monotonic_ns());
        let mut ns1 = ns0;
        while ns1 - ns0 < CALIBRATION_SPAN_NS {
            ns1 = monotonic_ns();
        }
        let ticks1 = tsc();
        let rate = (ns1 - ns0) as f64 / 1e3 / ticks1.saturating_sub(ticks0).max(1) as f64;
        Calibration { start_ticks, us_per_tick: fixed_point(rate) }
    }

    /// Whole microseconds since start: the trace's resolution, finer than any report
    /// needs and far more compressible than nanoseconds.
    pub(crate) fn us(&self, ticks: u64) -> u64 {
        let elapsed = ticks.saturating_sub(self.start_ticks);
        ((u128::from(elapsed) * u128::from(self.us_per_tick)) >> 64) as u64
    }

    /// Nanoseconds since start, now.
    pub(crate) fn now_ns() -> u64 {
        monotonic_ns().saturating_sub(START_NS.load(Ordering::Relaxed))
    }
}

/// `rate` (below 1) in units of 2^-64.
fn fixed_point(rate: f64) -> u64 {
    (rate * 18_446_744_073_709_551_616.0) as u64
}

/// Wall-clock milliseconds since the Unix epoch, for the trace header.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
