//! The peak: the moment the live heap was highest.

use crate::filter::EventFilter;
use crate::recording::Recording;
use crate::timeline::live_curve;

/// When the live heap was highest, and how high.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Peak {
    /// The first moment it was reached, nanoseconds.
    pub time_ns: u64,
    /// Live bytes then.
    pub bytes: i64,
    /// Live blocks then.
    pub blocks: i64,
}

impl Peak {
    /// Replays `recording` in time order, counting what `filter` keeps: a timeline of
    /// one interval spanning all time.
    pub fn find(recording: &Recording, filter: &EventFilter) -> Peak {
        let high = live_curve(recording, u64::MAX, 1, filter).first().copied().unwrap_or_default();
        Peak { time_ns: high.high_ns, bytes: high.bytes, blocks: high.blocks }
    }
}
