//! `memscope diff`: what grew and what shrank, between two recordings (at their ends) or
//! between two moments of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use memscope_analyze::{Diff, DiffRow, Moment, Place, Recording, Sampling, Snapshot};
use serde::Serialize;

use crate::output::{
    moment_name, ms, place_name, signed_bytes, write_json, write_sampled_heading, write_table,
};
use crate::rebuilt_modules::RebuiltModules;
use crate::report::{run_report, Prepared, ReportArgs};
use crate::time_arg::{from_to, parse_moment, parse_window, TimeArg, WindowArg};
use crate::top::granularity;
use crate::trace_input::{self, Input};

/// Compare live memory per function: `diff BASE NEW` compares two recordings at their
/// ends, `diff TRACE --from MS --to MS` two moments of one. Growth comes first;
/// shrinkage has a minus sign.
#[derive(Args)]
pub struct DiffArgs {
    /// BASE and NEW traces, or one trace with --from and --to.
    #[arg(required = true, num_args = 1..=2, value_name = "TRACE")]
    traces: Vec<PathBuf>,
    /// The earlier moment of one trace, MS or MS#EVENTS as reports print moments
    /// [default: 0].
    #[arg(long, value_name = "MS[#EVENTS]", value_parser = parse_moment)]
    from: Option<TimeArg>,
    /// The later moment of one trace [default: the end].
    #[arg(long, value_name = "MS[#EVENTS]", value_parser = parse_moment)]
    to: Option<TimeArg>,
    /// From the start of FROM:TO milliseconds to the highest live heap inside it: what
    /// made that high.
    #[arg(long, value_name = "FROM:TO", value_parser = parse_window, conflicts_with_all = ["from", "to"])]
    peak_in: Option<WindowArg>,
    /// Show the first N rows (0 for all).
    #[arg(short = 'n', value_name = "N", default_value_t = 0)]
    limit: usize,
    /// One row per source line rather than per function.
    #[arg(long)]
    lines: bool,
    #[command(flatten)]
    report: ReportArgs,
}

#[derive(Serialize)]
struct DiffJson<'d> {
    rows: Vec<RowJson<'d>>,
}

#[derive(Serialize)]
struct RowJson<'d> {
    #[serde(flatten)]
    place: &'d Place,
    delta_bytes: i64,
    delta_blocks: i64,
}

pub fn run(args: DiffArgs) -> Result<u8> {
    match &args.traces[..] {
        [base, new] => {
            if args.from.is_some() || args.to.is_some() || args.peak_in.is_some() {
                bail!("--from, --to and --peak-in compare two moments of one trace; give one trace with them");
            }
            let (diff, title, sampling) = two_traces(&args, base, new)?;
            print(&args, diff, &title, sampling)?;
            Ok(0)
        }
        [trace] => run_report(trace, &args.report.stacks, |recording, prepared| {
            let (diff, title) = two_moments(&args, recording, prepared)?;
            let title = format!("{title} in {}", trace.display());
            print(&args, diff, &title, recording.sampling())
        }),
        _ => unreachable!("clap takes one or two traces"),
    }
}

fn print(args: &DiffArgs, mut diff: Diff, title: &str, sampling: Option<Sampling>) -> Result<()> {
    if args.limit > 0 {
        diff.rows.truncate(args.limit);
    }
    let mut out = std::io::stdout().lock();
    if args.report.json {
        return write_json(&mut out, &json(&diff));
    }
    write_sampled_heading(&mut out, sampling)?;
    writeln!(out, "{title}")?;
    write_text(&mut out, &diff)
}

/// Snapshots of `recording` at `moments`, with their stacks symbolized.
fn snapshots(recording: &Recording, prepared: &mut Prepared, moments: &[Moment]) -> Vec<Snapshot> {
    let snapshots: Vec<Snapshot> =
        moments.iter().map(|&moment| Snapshot::take(recording, moment, &prepared.filter)).collect();
    prepared.symbols.resolve(snapshots.iter().flat_map(|snapshot| snapshot.counts.keys().copied()));
    snapshots
}

/// The difference between the ends of two traces, its title, and the sampling of the
/// first sampled one (their figures are estimates).
fn two_traces(
    args: &DiffArgs,
    base: &Path,
    new: &Path,
) -> Result<(Diff, String, Option<Sampling>)> {
    let patterns = args.report.stacks.patterns()?;
    let files = [trace_input::open(base)?, trace_input::open(new)?];
    let mut inputs: Vec<Input> =
        files.iter().map(|files| trace_input::recording(files.files())).collect::<Result<_>>()?;
    let [base_exe, new_exe] = [0, 1].map(|i| inputs[i].recording.meta().exe.clone());
    if base_exe != new_exe {
        let (base, new) = (base.display(), new.display());
        eprintln!("memscope: note: {base} records {base_exe} and {new} records {new_exe}; rows are matched by function");
    }
    let diff = {
        let [base_prepared, new_prepared] =
            [0, 1].map(|i| args.report.stacks.prepare(&inputs[i].recording, &patterns));
        let mut prepared = [base_prepared?, new_prepared?];
        let [before, after] =
            [0, 1].map(|i| snapshots(&inputs[i].recording, &mut prepared[i], &[Moment::End]));
        let [base_symbols, new_symbols] = [0, 1].map(|i| &prepared[i].symbols);
        let mut rebuilt = RebuiltModules::default();
        [base_symbols, new_symbols].into_iter().for_each(|symbols| rebuilt.warn(symbols));
        Diff::compute((&before[0], base_symbols), (&after[0], new_symbols), granularity(args.lines))
    };
    inputs.iter_mut().for_each(Input::warn);
    let sampling = inputs.iter().find_map(|input| input.recording.sampling());
    let title = format!("live memory from {} (end) to {} (end)", base.display(), new.display());
    Ok((diff, title, sampling))
}

fn two_moments(
    args: &DiffArgs,
    recording: &Recording,
    prepared: &mut Prepared,
) -> Result<(Diff, String)> {
    let [(from, from_name), (to, to_name)] = match &args.peak_in {
        Some(window) => {
            let peak = window.peak(recording, &prepared.filter)?;
            let start = Moment::within(window.range().start, 0);
            let high = moment_name(peak.time_ns, peak.events_at_time);
            [(start, ms(window.range().start)), (Moment::Peak(peak), high)]
        }
        None => from_to(args.from.as_ref(), args.to.as_ref(), recording)?,
    };
    let moments = snapshots(recording, prepared, &[from, to]);
    let symbols = &prepared.symbols;
    let diff =
        Diff::compute((&moments[0], symbols), (&moments[1], symbols), granularity(args.lines));
    Ok((diff, format!("live memory from {from_name} ms to {to_name} ms")))
}

fn json(diff: &Diff) -> DiffJson<'_> {
    DiffJson { rows: diff.rows.iter().map(row_json).collect() }
}

fn row_json(row: &DiffRow) -> RowJson<'_> {
    RowJson { place: &row.place, delta_bytes: row.delta_bytes, delta_blocks: row.delta_blocks }
}

fn write_text(out: &mut impl Write, diff: &Diff) -> Result<()> {
    let mut table = vec![["delta bytes", "delta blocks", ""].map(String::from).to_vec()];
    for row in &diff.rows {
        let blocks = if row.delta_blocks > 0 {
            format!("+{}", row.delta_blocks)
        } else {
            row.delta_blocks.to_string()
        };
        table.push(vec![signed_bytes(row.delta_bytes), blocks, place_name(&row.place)]);
    }
    write_table(out, &table)
}
