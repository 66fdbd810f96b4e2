//! One pass over every event of a recording, in no particular order: for queries that
//! sum over all time (temporary allocations, allocation sizes), which need neither
//! checkpoints nor a time-ordered merge, so every events block is decoded once, all
//! blocks in parallel.

use memscope_format::{Event, ThreadId};
use rayon::prelude::*;

use crate::filter::EventFilter;
use crate::recording::Recording;

/// Folds every event `filter` keeps into a `T`: `fold` adds one event (with its thread)
/// to a partial result, `merge` joins two partial results.
pub(crate) fn fold_events<T: Send>(
    recording: &Recording,
    filter: &EventFilter,
    init: impl Fn() -> T + Sync + Send,
    fold: impl Fn(&mut T, ThreadId, &Event) + Sync + Send,
    merge: impl Fn(T, T) -> T + Sync + Send,
) -> T {
    let blocks: Vec<(usize, usize)> = (0..recording.segments().len())
        .flat_map(|s| recording.segments()[s].events.iter().map(move |&block| (s, block)))
        .collect();
    blocks
        .par_iter()
        .fold(&init, |mut partial, &(segment, block)| {
            let Some(batch) = recording.event_batch(segment, block) else { return partial };
            if !filter.keeps_thread(batch.thread) {
                return partial;
            }
            for event in batch.events.iter().filter(|event| filter.keeps_stack(event.stack)) {
                fold(&mut partial, batch.thread, event);
            }
            partial
        })
        .reduce(&init, merge)
}
