//! The peak: the moment the live heap was highest.

use std::ops::Range;

use memscope_format::MAX_EVENT_SIZE;

use crate::filter::EventFilter;
use crate::problems::{Loss, Problem};
use crate::recording::Recording;
use crate::timeline::{live_curve, Bins, TimelineRow};

/// When the live heap was highest, and how high.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Peak {
    /// The first moment it was reached, nanoseconds.
    pub time_ns: u64,
    /// Live bytes then.
    pub bytes: i64,
    /// Live blocks then.
    pub blocks: i64,
    /// How many events of time `time_ns` the replay had applied at the peak. The clock
    /// ticks in microseconds, so a block may be allocated and freed within one tick;
    /// events of one tick are replayed thread block by thread block, each in its order.
    pub events_at_time: usize,
}

impl Peak {
    /// Replays `recording` in time order, counting what `filter` keeps: a timeline of
    /// one interval spanning all time.
    pub fn find(recording: &Recording, filter: &EventFilter) -> Peak {
        let high = live_curve(recording, Bins::Every(u64::MAX), 1, filter)
            .first()
            .copied()
            .unwrap_or_default();
        Peak::of_high(recording, high)
    }

    /// The highest live heap inside `from_ns..to_ns` (the level held at `from_ns` if
    /// nothing there goes higher), found as a timeline row of that window is.
    pub fn find_in(recording: &Recording, filter: &EventFilter, window: Range<u64>) -> Peak {
        let bins = Bins::Window { from_ns: window.start, to_ns: window.end };
        let high = live_curve(recording, bins, 3, filter).get(1).copied().unwrap_or_default();
        Peak::of_high(recording, high)
    }

    fn of_high(recording: &Recording, high: TimelineRow) -> Peak {
        let (time_ns, events_at_time) = (high.high_ns, high.high_events_at_time);
        if high.bytes.unsigned_abs() > MAX_EVENT_SIZE {
            recording.note(Problem::of_trace(
                recording.trace().len(),
                format!(
                    "the live heap reaches {} bytes, more than an address space holds",
                    high.bytes
                ),
                Loss::Nothing,
            ));
        }
        Peak { time_ns, bytes: high.bytes, blocks: high.blocks, events_at_time }
    }
}
