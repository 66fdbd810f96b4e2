//! What is counted per stack.

use memscope_format::{Event, EventKind, StackTotals};
use serde::Serialize;

/// Live and cumulative counts of one stack, or of many added together.
///
/// Signed, because sums are taken in whatever order blocks decode (a free may be counted
/// before the allocation it frees), and because a view of one thread can free blocks that
/// other threads allocated. Over a whole, unfiltered recording no live figure is negative.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StackCounts {
    /// Bytes live.
    pub live_bytes: i64,
    /// Blocks live.
    pub live_blocks: i64,
    /// Bytes allocated so far.
    pub alloc_bytes: i64,
    /// Blocks allocated so far.
    pub alloc_blocks: i64,
}

impl StackCounts {
    /// Adds one event. Sums saturate rather than wrap: a size is at most 2^56, so only
    /// a damaged or crafted trace gets near the limits, and it is told by them.
    pub(crate) fn apply(&mut self, event: &Event) {
        let size = event.size as i64;
        if event.kind == EventKind::Alloc {
            self.live_bytes = self.live_bytes.saturating_add(size);
            self.live_blocks = self.live_blocks.saturating_add(1);
            self.alloc_bytes = self.alloc_bytes.saturating_add(size);
            self.alloc_blocks = self.alloc_blocks.saturating_add(1);
        } else {
            self.live_bytes = self.live_bytes.saturating_sub(size);
            self.live_blocks = self.live_blocks.saturating_sub(1);
        }
    }

    /// Adds another set of counts.
    pub fn add(&mut self, other: &StackCounts) {
        self.live_bytes = self.live_bytes.saturating_add(other.live_bytes);
        self.live_blocks = self.live_blocks.saturating_add(other.live_blocks);
        self.alloc_bytes = self.alloc_bytes.saturating_add(other.alloc_bytes);
        self.alloc_blocks = self.alloc_blocks.saturating_add(other.alloc_blocks);
    }

    /// True if a sum reached the limits of its type: the counts are capped, not right.
    pub(crate) fn is_saturated(&self) -> bool {
        [self.live_bytes, self.live_blocks, self.alloc_bytes, self.alloc_blocks]
            .iter()
            .any(|&value| value == i64::MAX || value == i64::MIN)
    }

    /// The counts a segment checkpoint carries. The varints are read as two's complement,
    /// so a writer that lets a live total wrap below zero still sums right.
    pub(crate) fn from_totals(totals: &StackTotals) -> Self {
        StackCounts {
            live_bytes: totals.live_bytes as i64,
            live_blocks: totals.live_blocks as i64,
            alloc_bytes: totals.alloc_bytes as i64,
            alloc_blocks: totals.alloc_blocks as i64,
        }
    }

    /// Blocks freed so far: every free removes one live block of its stack.
    pub fn frees(&self) -> i64 {
        self.alloc_blocks.saturating_sub(self.live_blocks)
    }
}
