//! The per-stack aggregate that exports are written from: every stack with something to
//! count at a moment, symbolized, with all four of pprof's sample types at once.

use std::collections::HashMap;

use crate::counts::StackCounts;
use crate::snapshot::Snapshot;
use crate::stack_symbols::{Location, StackSymbols};

/// One symbolized stack and what it counts at the moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileStack<'s> {
    /// Its return addresses with their frames, innermost first.
    pub locations: Vec<Location<'s>>,
    /// Live and allocated bytes and blocks. Stacks whose locations are the same once the
    /// allocator's frames are trimmed are added together.
    pub counts: StackCounts,
}

/// Every stack of a snapshot that allocated something by its moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackProfile<'s> {
    /// The moment, nanoseconds.
    pub time_ns: u64,
    /// The stacks, most live bytes first, then most allocated bytes, then by frames.
    pub stacks: Vec<ProfileStack<'s>>,
}

impl<'s> StackProfile<'s> {
    /// The stacks of `snapshot`, whose stacks `symbols` must have resolved.
    pub fn compute(snapshot: &Snapshot, symbols: &'s StackSymbols) -> StackProfile<'s> {
        let mut merged: HashMap<Vec<(u64, usize)>, ProfileStack<'s>> = HashMap::new();
        for (&stack, counts) in &snapshot.counts {
            if *counts == StackCounts::default() {
                continue;
            }
            let locations = symbols.locations(stack);
            let key = locations.iter().map(|l| (l.address, l.frames.len())).collect();
            let entry = merged
                .entry(key)
                .or_insert_with(|| ProfileStack { locations, counts: StackCounts::default() });
            entry.counts.add(counts);
        }
        let mut stacks: Vec<ProfileStack> = merged.into_values().collect();
        stacks.sort_by(|a, b| {
            (b.counts.live_bytes, b.counts.alloc_bytes)
                .cmp(&(a.counts.live_bytes, a.counts.alloc_bytes))
                .then_with(|| order_key(a).cmp(&order_key(b)))
        });
        StackProfile { time_ns: snapshot.time_ns, stacks }
    }

    /// The counts of all stacks together.
    pub fn total(&self) -> StackCounts {
        let mut total = StackCounts::default();
        self.stacks.iter().for_each(|stack| total.add(&stack.counts));
        total
    }
}

/// A stable order among stacks that count the same.
fn order_key<'a>(stack: &'a ProfileStack) -> Vec<(&'a str, u64)> {
    stack
        .locations
        .iter()
        .flat_map(|l| l.frames.iter().map(|f| (f.function.as_str(), l.address)))
        .collect()
}
