//! `memscope leaks`: blocks still live at the end, grouped by allocating stack.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use memscope_analyze::{stack_frames, Frame, StackUsage};
use memscope_system::human_bytes;
use serde::Serialize;

use crate::trace_input;

/// List the blocks still live when the program ended, largest stacks first.
#[derive(Args)]
pub struct LeaksArgs {
    /// The trace to read.
    trace: PathBuf,
    /// Show at most N stacks.
    #[arg(short = 'n', long = "limit", value_name = "N")]
    limit: Option<usize>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct LeakRow<'a> {
    bytes: u64,
    blocks: u64,
    allocations: u64,
    stack: &'a [Frame],
}

pub fn run(args: LeaksArgs) -> Result<u8> {
    let profile = trace_input::load(&args.trace)?;
    let mut leaks = profile.leaks();
    leaks.truncate(args.limit.unwrap_or(usize::MAX));
    let ids: Vec<_> = leaks.iter().map(|l| l.stack).collect();
    let frames = stack_frames(&profile, &ids);
    let mut out = std::io::stdout().lock();
    let stack_of = |leak: &StackUsage| frames.get(&leak.stack).map_or(&[][..], Vec::as_slice);
    if args.json {
        let rows: Vec<LeakRow> = leaks
            .iter()
            .map(|leak| LeakRow {
                bytes: leak.counts.live_bytes,
                blocks: leak.counts.live_blocks,
                allocations: leak.counts.alloc_blocks,
                stack: stack_of(leak),
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(0);
    }
    for leak in &leaks {
        let c = &leak.counts;
        writeln!(out, "{} in {} blocks leaked, from {} allocations at:", human_bytes(c.live_bytes), c.live_blocks, c.alloc_blocks)?;
        for frame in stack_of(leak) {
            writeln!(out, "    {}", frame_line(frame))?;
        }
        writeln!(out)?;
    }
    let total: u64 = leaks.iter().map(|l| l.counts.live_bytes).sum();
    writeln!(out, "total: {} in {} stacks", human_bytes(total), leaks.len())?;
    Ok(0)
}

/// `function at file:line (module)`, leaving out what is unknown.
pub fn frame_line(frame: &Frame) -> String {
    let location = match (&frame.file, frame.line) {
        (Some(file), Some(line)) => format!(" at {file}:{line}"),
        (Some(file), None) => format!(" at {file}"),
        _ => String::new(),
    };
    format!("{}{location} ({})", frame.function, frame.module)
}
