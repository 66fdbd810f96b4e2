//! Live stacks with their full frames, as `leaks` and `peak` list them.

use std::io::Write;

use anyhow::Result;
use memscope_analyze::{Frame, Snapshot, StackSymbols};
use serde::Serialize;

use crate::output::{bytes, frame_line};

/// One stack and what it holds.
#[derive(Serialize)]
pub struct StackRow<'s> {
    /// Bytes live.
    pub bytes: i64,
    /// Blocks live.
    pub blocks: i64,
    /// Blocks ever allocated from it, up to the moment.
    pub allocations: i64,
    /// Frames, innermost first.
    pub stack: Vec<&'s Frame>,
}

/// The stacks shown, and how many more there were.
pub struct StackList<'s> {
    /// The stacks shown, most bytes first.
    pub rows: Vec<StackRow<'s>>,
    /// Stacks with blocks live that are not shown.
    pub more: usize,
}

/// The stacks with blocks live in `snapshot`, most bytes first, at most `limit` (0 for
/// all); only these are symbolized.
pub fn live_stack_rows<'s>(
    snapshot: &Snapshot,
    symbols: &'s mut StackSymbols,
    limit: usize,
) -> StackList<'s> {
    let mut live = snapshot.live_stacks();
    let all = live.len();
    live.truncate(if limit == 0 { usize::MAX } else { limit });
    symbols.resolve(live.iter().map(|(stack, _)| *stack));
    let symbols = &*symbols;
    let rows = live
        .iter()
        .map(|(stack, counts)| StackRow {
            bytes: counts.live_bytes,
            blocks: counts.live_blocks,
            allocations: counts.alloc_blocks,
            stack: symbols.frames(*stack),
        })
        .collect();
    StackList { rows, more: all - live.len() }
}

/// Each stack: a line of what it holds (`what` says how that is put), then its frames,
/// then how many stacks are not shown.
pub fn write_stack_rows(out: &mut impl Write, list: &StackList, what: &str) -> Result<()> {
    for row in &list.rows {
        writeln!(
            out,
            "{} in {} blocks {what}, from {} allocations at:",
            bytes(row.bytes),
            row.blocks,
            row.allocations
        )?;
        write_frames(out, &row.stack)?;
    }
    write_more_stacks(out, list.more)
}

/// A stack's frames under its heading line, indented, and a blank line after them.
pub fn write_frames(out: &mut impl Write, frames: &[&Frame]) -> Result<()> {
    for frame in frames {
        writeln!(out, "    {}", frame_line(frame))?;
    }
    writeln!(out)?;
    Ok(())
}

/// The line that says how many stacks a list leaves out, if it leaves any.
pub fn write_more_stacks(out: &mut impl Write, more: usize) -> Result<()> {
    if more > 0 {
        writeln!(out, "... and {more} more stacks (-n 0 shows all)\n")?;
    }
    Ok(())
}
