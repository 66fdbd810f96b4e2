//! The live heap's high, followed while events are written, so that `memscope run`
//! prints the peak at once instead of replaying the whole trace after the program.
//!
//! Batches reach the writer per thread, not in time order. Events are therefore summed
//! into one bucket per microsecond (the trace's resolution), and a bucket is read only
//! once every thread's events of that time must have arrived: each sweep takes every
//! published event, so buckets older than the sweep by a safe margin are complete.
//! Within a bucket, each batch's events count in their order, batch after batch, as the
//! analyzer replays the events of one tick thread block by thread block.

use std::collections::VecDeque;

/// A run of events' change of the live heap.
#[derive(Copy, Clone, Debug, Default)]
struct Bucket {
    /// Net change over the run.
    net: i64,
    /// Highest point reached inside it, relative to its start (a bucket's start
    /// counts, so a bucket's high is at least 0; a lone run's may be below).
    high: i64,
}

impl Bucket {
    /// `self` followed by `next`.
    fn then(self, next: Bucket) -> Bucket {
        Bucket { net: self.net + next.net, high: self.high.max(self.net + next.high) }
    }
}

#[derive(Debug, Default)]
pub(crate) struct HeapCurve {
    /// Time of `open[0]`, microseconds.
    first_us: u64,
    /// Buckets not yet read, from `first_us` on.
    open: VecDeque<Bucket>,
    /// Live bytes before `first_us`.
    level: i64,
    /// The highest level and the microsecond it was first reached.
    peak: (i64, u64),
    /// Consecutive events of one microsecond not yet put in their bucket: a batch
    /// holds several per microsecond, and one bucket update for all is cheaper.
    pending: Option<(u64, Bucket)>,
}

impl HeapCurve {
    /// Counts an event of `delta` bytes (negative for a free) at `time_us`.
    pub(crate) fn add(&mut self, time_us: u64, delta: i64) {
        let event = Bucket { net: delta, high: delta };
        match &mut self.pending {
            Some((time, run)) if *time == time_us => *run = run.then(event),
            _ => {
                self.flush();
                self.pending = Some((time_us, event));
            }
        }
    }

    fn flush(&mut self) {
        let Some((time_us, run)) = self.pending.take() else { return };
        let Some(index) = time_us.checked_sub(self.first_us) else {
            // Its bucket was read already (a thread held its event past the margin):
            // the level stays right, and the high can only have been missed.
            self.note(self.level + run.high, self.first_us);
            self.level += run.net;
            return;
        };
        let index = index as usize;
        if index >= self.open.len() {
            self.open.resize(index + 1, Bucket::default());
        }
        self.open[index] = self.open[index].then(run);
    }

    /// Reads every bucket before `time_us`: no event of those times is still to come.
    pub(crate) fn close_before(&mut self, time_us: u64) {
        self.flush();
        while self.first_us < time_us {
            let Some(bucket) = self.open.pop_front() else {
                self.first_us = time_us;
                return;
            };
            self.note(self.level + bucket.high, self.first_us);
            self.level += bucket.net;
            self.first_us += 1;
        }
    }

    fn note(&mut self, level: i64, time_us: u64) {
        if level > self.peak.0 {
            self.peak = (level, time_us);
        }
    }

    /// The highest live heap in bytes and when it was first reached, in microseconds,
    /// over the buckets read so far.
    pub(crate) fn peak(&self) -> (u64, u64) {
        (self.peak.0.max(0) as u64, self.peak.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_arriving_out_of_order_give_the_time_ordered_peak() {
        let mut curve = HeapCurve::default();
        // Thread 2's batch (a free at 5 µs of a block allocated at 1 µs) comes first.
        curve.add(5, -100);
        curve.add(1, 100);
        curve.add(3, 50);
        curve.add(6, -50);
        curve.close_before(10);
        assert_eq!(curve.peak(), (150, 3));
    }

    #[test]
    fn a_block_freed_within_its_microsecond_still_counts() {
        let mut curve = HeapCurve::default();
        curve.add(2, 1000);
        curve.add(2, -1000);
        curve.add(4, 10);
        curve.close_before(5);
        assert_eq!(curve.peak(), (1000, 2));
    }

    #[test]
    fn idle_time_is_skipped_without_buckets() {
        let mut curve = HeapCurve::default();
        curve.add(1, 10);
        curve.close_before(5_000_000_000);
        assert!(curve.open.is_empty());
        curve.add(5_000_000_001, 30);
        curve.close_before(u64::MAX);
        assert_eq!(curve.peak(), (40, 5_000_000_001));
    }

    #[test]
    fn an_event_after_its_bucket_was_read_keeps_the_level() {
        let mut curve = HeapCurve::default();
        curve.add(10, 100);
        curve.close_before(20);
        curve.add(5, 70);
        curve.add(25, 1);
        curve.close_before(30);
        assert_eq!(curve.peak(), (171, 25));
    }
}
