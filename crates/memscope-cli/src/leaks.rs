//! `memscope leaks`: blocks still live at the end, grouped by allocating stack.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use memscope_analyze::{Moment, Snapshot};

use crate::output::{bytes, write_json, write_sampled_heading};
use crate::report::{negative_note, run_report, ReportArgs};
use crate::stack_list::{live_stack_rows, write_stack_rows};
use crate::time_arg::{parse_window, WindowArg};

/// List the blocks still live when the program ended, largest stacks first, with the
/// full stack and how many allocations each stack made.
#[derive(Args)]
pub struct LeaksArgs {
    /// The trace to read.
    trace: PathBuf,
    /// Show at most N stacks (0 for all).
    #[arg(short = 'n', long = "limit", value_name = "N", default_value_t = 10)]
    limit: usize,
    /// What was live at the highest live heap inside FROM:TO milliseconds (TO not
    /// included) rather than at the end.
    #[arg(long, value_name = "FROM:TO", value_parser = parse_window)]
    peak_in: Option<WindowArg>,
    #[command(flatten)]
    report: ReportArgs,
}

pub fn run(args: LeaksArgs) -> Result<u8> {
    run_report(&args.trace, &args.report.stacks, |recording, prepared| {
        let (moment, what) = match &args.peak_in {
            Some(window) => (Moment::Peak(window.peak(recording, &prepared.filter)?), "live"),
            None => (Moment::End, "leaked"),
        };
        let snapshot = Snapshot::take(recording, moment, &prepared.filter);
        let list = live_stack_rows(&snapshot, &mut prepared.symbols, args.limit);
        let mut out = std::io::stdout().lock();
        if args.report.json {
            return write_json(&mut out, &list.rows);
        }
        write_sampled_heading(&mut out, recording.sampling())?;
        write_stack_rows(&mut out, &list, what)?;
        let (total, stacks) = (snapshot.total(), list.rows.len() + list.more);
        let (bytes, blocks) = (bytes(total.live_bytes), total.live_blocks);
        writeln!(out, "total: {bytes} in {blocks} blocks from {stacks} stacks")?;
        if let Some(note) = negative_note(&prepared.filter, total.live_bytes.min(total.live_blocks))
        {
            writeln!(out, "{note}")?;
        }
        Ok(())
    })
}
