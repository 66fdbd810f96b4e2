//! Each thread's share of a recording: its name, what it allocated and freed, and the
//! highest its own events took the live heap, as `summary` lists threads.

use std::collections::BTreeMap;

use memscope_format::{EventKind, ThreadId};
use rayon::prelude::*;

use crate::block_heads::BlockHead;
use crate::event_merge::merge_in_time_order;
use crate::recording::Recording;

/// One thread's figures. Counts are of the thread's own calls: a block one thread
/// allocates and another frees counts as an allocation of the first and a free of
/// the second, as `--thread` counts them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadFigures {
    /// The kernel's thread id.
    pub thread: ThreadId,
    /// Its name (`/proc/PID/task/TID/comm`) as the recorder last saw it; `None` for a
    /// trace written before names were recorded, or cut off before its end record.
    pub name: Option<String>,
    /// Blocks it allocated.
    pub allocations: u64,
    /// Bytes it allocated.
    pub bytes_allocated: u64,
    /// Blocks it freed, whichever thread allocated them.
    pub frees: u64,
    /// Bytes of those blocks.
    pub bytes_freed: u64,
    /// The highest the live heap went counting only its events (bytes it allocated less
    /// bytes it freed, at the worst moment); 0 for a thread that only freed.
    pub peak_live_bytes: i64,
}

impl ThreadFigures {
    /// The figures of every thread that made events, by thread id; each thread's events
    /// are replayed in its own order, all threads in parallel.
    pub fn compute(recording: &Recording) -> Vec<ThreadFigures> {
        recording.read_all_heads();
        let mut by_thread: BTreeMap<ThreadId, Vec<BlockHead>> = BTreeMap::new();
        for segment in 0..recording.segments().len() {
            for head in recording.heads(segment) {
                by_thread.entry(head.thread).or_default().push(*head);
            }
        }
        let names = thread_names(recording);
        let mut figures: Vec<ThreadFigures> = by_thread
            .into_par_iter()
            .map(|(thread, heads)| {
                let name = names.get(&thread).cloned();
                replay(recording, ThreadFigures { thread, name, ..ThreadFigures::default() }, heads)
            })
            .collect();
        figures.sort_by_key(|figures| figures.thread);
        figures
    }
}

/// Adds a thread's events, in its order, to `figures`.
fn replay(
    recording: &Recording,
    mut figures: ThreadFigures,
    heads: Vec<BlockHead>,
) -> ThreadFigures {
    let mut live: i64 = 0;
    merge_in_time_order(recording, heads, 0..u64::MAX, |event| {
        let size = event.size as i64;
        if event.kind == EventKind::Alloc {
            figures.allocations += 1;
            figures.bytes_allocated = figures.bytes_allocated.saturating_add(event.size);
            live = live.saturating_add(size);
            figures.peak_live_bytes = figures.peak_live_bytes.max(live);
        } else {
            figures.frees += 1;
            figures.bytes_freed = figures.bytes_freed.saturating_add(event.size);
            live = live.saturating_sub(size);
        }
    });
    figures
}

/// The thread names the recorder kept (in the end record), by thread id.
pub fn thread_names(recording: &Recording) -> BTreeMap<ThreadId, String> {
    let Some(end) = recording.end() else { return BTreeMap::new() };
    end.threads.iter().map(|t| (t.thread, t.name.clone())).collect()
}
