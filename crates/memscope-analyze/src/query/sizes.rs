//! A histogram of allocation sizes (heaptrack's `-H`): how many allocations asked for
//! each size, and the same counts in power-of-two buckets.

use std::collections::HashMap;

use memscope_format::{Event, EventKind, ThreadId};

use crate::event_pass::fold_events;
use crate::filter::EventFilter;
use crate::recording::Recording;

/// Allocations of one exact size.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SizeCount {
    /// The size asked for, bytes.
    pub size: u64,
    /// Allocations of that size.
    pub allocations: u64,
}

/// Allocations whose size lies in `from..=to`: 0 alone, then each power of two up to
/// the one below the next (1, 2–3, 4–7, …).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SizeBucket {
    /// The smallest size in the bucket.
    pub from: u64,
    /// The largest size in the bucket.
    pub to: u64,
    /// Allocations in the bucket.
    pub allocations: u64,
    /// Bytes they asked for.
    pub bytes: u64,
}

/// The sizes of every allocation a filter keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SizeHistogram {
    /// Every size asked for, most allocations first (then smallest first).
    pub sizes: Vec<SizeCount>,
    /// The buckets that hold an allocation, smallest sizes first.
    pub buckets: Vec<SizeBucket>,
    /// Allocations counted.
    pub allocations: u64,
    /// Bytes they asked for.
    pub bytes: u64,
}

impl SizeHistogram {
    /// Counts the sizes of the allocations among the events `filter` keeps.
    pub fn compute(recording: &Recording, filter: &EventFilter) -> SizeHistogram {
        let counts = fold_events(recording, filter, HashMap::new, add_event, merge);
        let mut sizes: Vec<SizeCount> =
            counts.into_iter().map(|(size, allocations)| SizeCount { size, allocations }).collect();
        sizes.sort_by(|a, b| b.allocations.cmp(&a.allocations).then(a.size.cmp(&b.size)));
        let buckets = buckets(&sizes);
        let allocations = sizes.iter().map(|s| s.allocations).sum();
        let bytes = buckets.iter().map(|b| b.bytes).fold(0, u64::saturating_add);
        SizeHistogram { sizes, buckets, allocations, bytes }
    }
}

fn add_event(counts: &mut HashMap<u64, u64>, _: ThreadId, event: &Event) {
    if event.kind == EventKind::Alloc {
        *counts.entry(event.size).or_default() += 1;
    }
}

fn merge(mut into: HashMap<u64, u64>, from: HashMap<u64, u64>) -> HashMap<u64, u64> {
    for (size, allocations) in from {
        *into.entry(size).or_default() += allocations;
    }
    into
}

/// The bucket of `size`: 0 alone, else from its highest bit to just below the next.
fn bucket_of(size: u64) -> (u64, u64) {
    if size == 0 {
        return (0, 0);
    }
    let from = 1u64 << (63 - size.leading_zeros());
    (from, from.saturating_sub(1).saturating_add(from))
}

fn buckets(sizes: &[SizeCount]) -> Vec<SizeBucket> {
    let mut buckets: HashMap<u64, SizeBucket> = HashMap::new();
    for count in sizes {
        let (from, to) = bucket_of(count.size);
        let bucket =
            buckets.entry(from).or_insert(SizeBucket { from, to, ..SizeBucket::default() });
        bucket.allocations += count.allocations;
        bucket.bytes = bucket.bytes.saturating_add(count.size.saturating_mul(count.allocations));
    }
    let mut buckets: Vec<SizeBucket> = buckets.into_values().collect();
    buckets.sort_by_key(|bucket| bucket.from);
    buckets
}

#[cfg(test)]
mod tests {
    use super::bucket_of;

    #[test]
    fn buckets_are_powers_of_two_with_zero_alone() {
        assert_eq!(bucket_of(0), (0, 0));
        assert_eq!(bucket_of(1), (1, 1));
        assert_eq!(bucket_of(3), (2, 3));
        assert_eq!(bucket_of(100), (64, 127));
        assert_eq!(bucket_of(4096), (4096, 8191));
        assert_eq!(bucket_of(u64::MAX), (1 << 63, u64::MAX));
    }
}
