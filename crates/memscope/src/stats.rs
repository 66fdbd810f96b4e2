//! The headline numbers, in code: what Go's `runtime.ReadMemStats` gives a Go program.

use std::fmt;

use crate::runtime;

/// The program's heap as memscope counts it (the recording's own memory excluded), and
/// its resident set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes allocated and not freed.
    pub live_bytes: u64,
    /// Blocks allocated and not freed.
    pub live_blocks: u64,
    /// The highest `live_bytes` so far.
    pub peak_bytes: u64,
    /// Bytes allocated since recording started.
    pub total_allocated_bytes: u64,
    /// Allocations since recording started.
    pub allocations: u64,
    /// Frees (of blocks allocated since recording started).
    pub frees: u64,
    /// The process's resident set now (VmRSS), bytes.
    pub rss_bytes: u64,
    /// Its highest resident set (VmHWM), bytes.
    pub peak_rss_bytes: u64,
}

/// The numbers now: every allocation and free made before the call is in them. All
/// zero but the resident set when memscope is not recording.
pub fn stats() -> Stats {
    crate::inside_memscope(|| {
        let (rss_bytes, peak_rss_bytes) = runtime::resident().unwrap_or_default();
        let Some(snapshot) = runtime::running().and_then(|r| r.snapshot()) else {
            return Stats { rss_bytes, peak_rss_bytes, ..Stats::default() };
        };
        let (live_bytes, live_blocks) = snapshot.live();
        let (allocations, total_allocated_bytes) = snapshot.allocated();
        Stats {
            live_bytes,
            live_blocks,
            peak_bytes: snapshot.peak_bytes.max(live_bytes),
            total_allocated_bytes,
            allocations,
            frees: snapshot.frees,
            rss_bytes,
            peak_rss_bytes,
        }
    })
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "live: {} in {} blocks (peak {})",
            bytes(self.live_bytes),
            self.live_blocks,
            bytes(self.peak_bytes)
        )?;
        writeln!(
            f,
            "allocated: {} in {} allocations, {} freed",
            bytes(self.total_allocated_bytes),
            self.allocations,
            self.frees
        )?;
        write!(f, "resident: {} (peak {})", bytes(self.rss_bytes), bytes(self.peak_rss_bytes))
    }
}

/// Bytes as people read them: B, KiB, MiB, GiB.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
