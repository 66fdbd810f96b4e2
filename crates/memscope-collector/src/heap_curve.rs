//! The live heap's high, followed as events are written, so that `memscope run` prints
//! the peak at once instead of replaying the trace after the program.
//!
//! The trace's readers replay events in time order, and the events of one timestamp
//! block by block in file order. The curve does the same: events are summed into one
//! bucket per timestamp, in the order their blocks are written, and a bucket is read
//! once no event of its time can still come. An event that would land in a bucket
//! already read (a thread held its event past the horizon) is given the oldest open
//! time instead, by the caller, in the trace too: the replay and these totals then
//! still agree exactly.

use std::collections::BTreeMap;

use crate::live::{LocalHigh, HIGHS_WINDOW_NS};

/// A run of events' change of the live heap.
#[derive(Copy, Clone, Debug, Default)]
struct Bucket {
    /// Net change over the run.
    net: i64,
    /// Highest point reached inside it, relative to its start (a bucket's start
    /// counts, so a bucket's high is at least 0).
    high: i64,
}

impl Bucket {
    /// `self` followed by `next`.
    fn then(self, next: Bucket) -> Bucket {
        Bucket { net: self.net + next.net, high: self.high.max(self.net + next.high) }
    }
}

/// The heap curve of the events written so far.
#[derive(Debug, Default)]
pub struct HeapCurve {
    open: BTreeMap<u64, Bucket>,
    /// Live bytes before the first open bucket.
    level: i64,
    /// Buckets before this time have been read.
    closed_before: u64,
    /// The highest level and the time it was first reached.
    peak: (i64, u64),
    /// Consecutive events of one time not yet put in their bucket.
    pending: Option<(u64, Bucket)>,
    /// The highest level of each window of time read so far (for the live endpoint's
    /// timeline).
    highs: Vec<LocalHigh>,
}

impl HeapCurve {
    /// The time an event of `time` is counted (and written) at: its own, or the oldest
    /// open one if its bucket was read already.
    pub fn admit(&self, time: u64) -> u64 {
        time.max(self.closed_before)
    }

    /// Counts an event of `delta` bytes (negative for a free) at `time`, which
    /// [`HeapCurve::admit`] gave.
    pub fn add(&mut self, time: u64, delta: i64) {
        let event = Bucket { net: delta, high: delta.max(0) };
        match &mut self.pending {
            Some((at, run)) if *at == time => *run = run.then(event),
            _ => {
                self.flush();
                self.pending = Some((time, event));
            }
        }
    }

    fn flush(&mut self) {
        if let Some((time, run)) = self.pending.take() {
            let bucket = self.open.entry(time).or_default();
            *bucket = bucket.then(run);
        }
    }

    /// Reads every bucket before `time`: no event of those times may come any more.
    pub fn close_before(&mut self, time: u64) {
        self.flush();
        while let Some(entry) = self.open.first_entry() {
            if *entry.key() >= time {
                break;
            }
            let (at, bucket) = entry.remove_entry();
            self.note(self.level + bucket.high, at);
            self.note_window(self.level + bucket.high, at);
            self.level += bucket.net;
        }
        self.closed_before = self.closed_before.max(time);
    }

    fn note(&mut self, level: i64, time: u64) {
        if level > self.peak.0 {
            self.peak = (level, time);
        }
    }

    fn note_window(&mut self, level: i64, time: u64) {
        let window_ns = time / HIGHS_WINDOW_NS * HIGHS_WINDOW_NS;
        let bytes = level.max(0) as u64;
        match self.highs.last_mut() {
            Some(high) if high.window_ns == window_ns => {
                if bytes > high.bytes {
                    *high = LocalHigh { window_ns, bytes, time_ns: time };
                }
            }
            _ => self.highs.push(LocalHigh { window_ns, bytes, time_ns: time }),
        }
    }

    /// The highest level of each window read so far, in time order.
    pub fn highs(&self) -> &[LocalHigh] {
        &self.highs
    }

    /// The highest live heap so far, counting the buckets not read yet as they stand
    /// (for a live view: the totals wait for late events, a glance need not).
    pub fn peak_so_far(&self) -> (u64, u64) {
        let mut level = self.level;
        let mut peak = self.peak;
        let pending = self.pending.iter().map(|&(at, run)| (at, run));
        let mut open: Vec<(u64, Bucket)> = self.open.iter().map(|(&at, &b)| (at, b)).collect();
        for (at, run) in pending {
            match open.iter_mut().find(|(time, _)| *time == at) {
                Some((_, bucket)) => *bucket = bucket.then(run),
                None => open.push((at, run)),
            }
        }
        open.sort_by_key(|&(at, _)| at);
        for (at, bucket) in open {
            if level + bucket.high > peak.0 {
                peak = (level + bucket.high, at);
            }
            level += bucket.net;
        }
        (peak.0.max(0) as u64, peak.1)
    }

    /// The highest live heap in bytes and when it was first reached, over the buckets
    /// read so far.
    pub fn peak(&self) -> (u64, u64) {
        (self.peak.0.max(0) as u64, self.peak.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_one_time_count_in_the_order_they_are_written() {
        let mut curve = HeapCurve::default();
        // Block 1 (thread A) at time 5: +100; block 2 (thread B) at time 5: -100, +50.
        curve.add(5, 100);
        curve.add(3, 10);
        curve.add(5, -100);
        curve.add(5, 50);
        curve.close_before(6);
        assert_eq!(curve.peak(), (110, 5));
    }

    #[test]
    fn a_block_freed_within_its_time_still_counts() {
        let mut curve = HeapCurve::default();
        curve.add(2, 1000);
        curve.add(2, -1000);
        curve.add(4, 10);
        curve.close_before(5);
        assert_eq!(curve.peak(), (1000, 2));
    }

    #[test]
    fn a_late_event_is_admitted_at_the_oldest_open_time() {
        let mut curve = HeapCurve::default();
        curve.add(10, 100);
        curve.close_before(20);
        assert_eq!(curve.admit(5), 20);
        curve.add(curve.admit(5), 70);
        curve.add(25, 1);
        curve.close_before(30);
        assert_eq!(curve.peak(), (171, 25));
    }
}
