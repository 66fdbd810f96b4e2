//! Temporary allocations (heaptrack's `-T`): blocks freed by their thread before it
//! allocated anything else, grouped by the stack that allocated them. The recorder
//! marks such frees ([`EventKind::FreeTemporary`]), and a free carries its block's
//! allocating stack, so one pass over the events counts them.

use std::collections::HashMap;

use memscope_format::{Event, EventKind, StackId, ThreadId};

use crate::event_pass::fold_events;
use crate::filter::EventFilter;
use crate::recording::Recording;

/// One allocating stack's temporary allocations.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TemporaryRow {
    /// The allocating stack.
    pub stack: StackId,
    /// Its blocks that were freed as temporaries.
    pub temporary: u64,
    /// Bytes of those blocks.
    pub temporary_bytes: u64,
    /// Every block it allocated, temporary or not.
    pub allocations: u64,
}

/// The stacks that made temporary allocations, most temporaries first, and the totals
/// over every stack the filter keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Temporaries {
    /// Stacks with at least one temporary allocation, most first (then by stack id).
    pub rows: Vec<TemporaryRow>,
    /// Temporary allocations over all stacks.
    pub temporary: u64,
    /// Allocations over all stacks.
    pub allocations: u64,
}

impl Temporaries {
    /// Counts the temporary allocations among the events `filter` keeps.
    pub fn compute(recording: &Recording, filter: &EventFilter) -> Temporaries {
        let by_stack = fold_events(recording, filter, HashMap::new, add_event, merge);
        let allocations = by_stack.values().map(|row: &TemporaryRow| row.allocations).sum();
        let mut rows: Vec<TemporaryRow> =
            by_stack.into_values().filter(|row| row.temporary > 0).collect();
        rows.sort_by(|a, b| b.temporary.cmp(&a.temporary).then(a.stack.cmp(&b.stack)));
        let temporary = rows.iter().map(|row| row.temporary).sum();
        Temporaries { rows, temporary, allocations }
    }
}

fn add_event(by_stack: &mut HashMap<StackId, TemporaryRow>, _: ThreadId, event: &Event) {
    let row = by_stack
        .entry(event.stack)
        .or_insert(TemporaryRow { stack: event.stack, ..TemporaryRow::default() });
    match event.kind {
        EventKind::Alloc => row.allocations += 1,
        EventKind::FreeTemporary => {
            row.temporary += 1;
            row.temporary_bytes += event.size;
        }
        EventKind::Free => {}
    }
}

fn merge(
    mut into: HashMap<StackId, TemporaryRow>,
    from: HashMap<StackId, TemporaryRow>,
) -> HashMap<StackId, TemporaryRow> {
    for (stack, row) in from {
        let sum = into.entry(stack).or_insert(TemporaryRow { stack, ..TemporaryRow::default() });
        sum.temporary += row.temporary;
        sum.temporary_bytes += row.temporary_bytes;
        sum.allocations += row.allocations;
    }
    into
}
