//! `diff`: how much each function (or line) holds more or less between two snapshots, of
//! one recording or of two. Stacks are matched by their symbolized frames, since stack
//! ids mean nothing across recordings.

use crate::group::{Granularity, Groups, Place};
use crate::snapshot::Snapshot;
use crate::stack_symbols::StackSymbols;

/// One row of a [`Diff`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffRow {
    /// The function (or line) where the stacks end.
    pub place: Place,
    /// Live bytes in the new snapshot minus in the base.
    pub delta_bytes: i64,
    /// Live blocks in the new snapshot minus in the base.
    pub delta_blocks: i64,
}

/// Rows that changed, largest growth first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// The rows; unchanged ones are left out.
    pub rows: Vec<DiffRow>,
}

/// Bytes and blocks.
#[derive(Copy, Clone, Default)]
struct Delta {
    bytes: i64,
    blocks: i64,
}

impl Diff {
    /// Compares the live stacks of `base` and `new`, each with its recording's symbols
    /// (resolved for every stack with something live).
    pub fn compute(
        base: (&Snapshot, &StackSymbols),
        new: (&Snapshot, &StackSymbols),
        granularity: Granularity,
    ) -> Diff {
        let mut groups: Groups<Delta> = Groups::new(granularity);
        for (sign, (snapshot, symbols)) in [(-1, base), (1, new)] {
            for (&stack, counts) in &snapshot.counts {
                let frames = symbols.frames(stack);
                let Some(&leaf) = frames.first() else { continue };
                let group = groups.entry(leaf);
                group.value.bytes += sign * counts.live_bytes;
                group.value.blocks += sign * counts.live_blocks;
                group.vote(leaf.line, counts.live_bytes);
            }
        }
        let mut rows: Vec<DiffRow> = groups
            .into_rows()
            .filter(|row| row.value.bytes != 0 || row.value.blocks != 0)
            .map(|row| DiffRow {
                place: row.place,
                delta_bytes: row.value.bytes,
                delta_blocks: row.value.blocks,
            })
            .collect();
        rows.sort_by(|a, b| {
            (b.delta_bytes, b.delta_blocks)
                .cmp(&(a.delta_bytes, a.delta_blocks))
                .then_with(|| a.place.cmp(&b.place))
        });
        Diff { rows }
    }
}
