//! `memscope leaks`: blocks still live at the end, grouped by allocating stack.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use memscope_analyze::{Moment, Snapshot};

use crate::output::{bytes, write_json};
use crate::report::ReportArgs;
use crate::stack_list::{live_stack_rows, write_stack_rows};
use crate::trace_input;

/// List the blocks still live when the program ended, largest stacks first, with the
/// full stack and how many allocations each stack made.
#[derive(Args)]
pub struct LeaksArgs {
    /// The trace to read.
    trace: PathBuf,
    /// Show at most N stacks (0 for all).
    #[arg(short = 'n', long = "limit", value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    report: ReportArgs,
}

pub fn run(args: LeaksArgs) -> Result<u8> {
    let filter = args.report.filter()?;
    let file = trace_input::open(&args.trace)?;
    let mut input = trace_input::recording(&file)?;
    let recording = &input.recording;
    let mut prepared = args.report.prepare(recording, &filter);
    let snapshot = Snapshot::take(recording, Moment::End, &prepared.filter);
    let total = snapshot.total();
    let stacks = snapshot.live_stacks().len();
    let rows = live_stack_rows(&snapshot, &mut prepared.symbols, args.limit);
    let mut out = std::io::stdout().lock();
    if args.report.json {
        write_json(&mut out, &rows)?;
    } else {
        write_stack_rows(&mut out, &rows, "leaked")?;
        writeln!(out, "total: {} in {} blocks from {stacks} stacks", bytes(total.live_bytes), total.live_blocks)?;
    }
    input.warn();
    Ok(0)
}
