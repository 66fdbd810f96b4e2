//! Estimates from a sampled recording (`memscope run --sample-rate BYTES`).
//!
//! The recorder samples each allocated byte with probability 1/rate, as Go's
//! `MemProfileRate` does, so an allocation of `size` bytes is recorded with probability
//! `1 - exp(-size/rate)`. Each sample therefore stands for `1/(1 - exp(-size/rate))`
//! allocations of its size: the scale Go's pprof applies. Snapshots scale each stack's
//! counts by the scale of its average size, as Go scales each stack's record (exact for
//! a stack that allocates one size); the live curve of the timeline and the peak scales
//! each event by the scale of its own size.

use serde::Serialize;

use crate::counts::StackCounts;

/// The sampling of a recording.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sampling {
    /// Mean bytes between samples.
    pub rate: u64,
}

impl Sampling {
    /// The sampling of a recording made with `sample_rate` (0: every allocation was
    /// recorded, nothing to estimate).
    pub fn of_rate(sample_rate: u64) -> Option<Sampling> {
        (sample_rate > 0).then_some(Sampling { rate: sample_rate })
    }

    /// How many allocations of `size` bytes one sample stands for.
    pub fn scale(&self, size: f64) -> f64 {
        if size <= 0.0 {
            return 1.0;
        }
        1.0 / (1.0 - (-size / self.rate as f64).exp())
    }

    /// The counts a stack's samples stand for: live and allocated blocks and bytes, each
    /// pair scaled by the scale of its average size.
    pub fn estimate(&self, samples: &StackCounts) -> StackCounts {
        let (live_blocks, live_bytes) = self.pair(samples.live_blocks, samples.live_bytes);
        let (alloc_blocks, alloc_bytes) = self.pair(samples.alloc_blocks, samples.alloc_bytes);
        StackCounts { live_bytes, live_blocks, alloc_bytes, alloc_blocks }
    }

    /// The bytes and blocks one event of `size` bytes stands for, rounded.
    pub(crate) fn event(&self, size: u64) -> (i64, i64) {
        let scale = self.scale(size as f64);
        ((size as f64 * scale).round() as i64, scale.round() as i64)
    }

    fn pair(&self, blocks: i64, bytes: i64) -> (i64, i64) {
        if blocks == 0 {
            return (0, bytes);
        }
        let scale = self.scale(bytes as f64 / blocks as f64);
        ((blocks as f64 * scale).round() as i64, (bytes as f64 * scale).round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Sampling = Sampling { rate: 524_288 };

    #[test]
    fn small_samples_stand_for_many_and_large_ones_for_one() {
        // 1/(1-exp(-16/524288)) = 32768.5
        assert_eq!((RATE.scale(16.0) * 10.0).round(), 327_685.0);
        assert_eq!(RATE.scale(64.0 * 1024.0 * 1024.0), 1.0);
        // At the rate itself: 1/(1-1/e).
        assert!((RATE.scale(524_288.0) - 1.581_976_7).abs() < 1e-6);
    }

    #[test]
    fn a_stack_is_scaled_by_its_average_size() {
        let samples =
            StackCounts { live_bytes: 32, live_blocks: 2, alloc_bytes: 1 << 26, alloc_blocks: 1 };
        let estimate = RATE.estimate(&samples);
        assert_eq!((estimate.live_blocks, estimate.live_bytes), (65_537, 1_048_592));
        assert_eq!((estimate.alloc_blocks, estimate.alloc_bytes), (1, 1 << 26));
    }
}
