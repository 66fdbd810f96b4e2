//! `memscope top`: functions (or lines) ranked by what they hold or allocated, as pprof's
//! `top` shows them.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use memscope_analyze::{ns_to_ms, Granularity, Place, Snapshot, Top};
use serde::Serialize;

use crate::output::{bytes, place_name, write_json, write_sampled_heading, write_table};
use crate::report::{negative_note, run_report, By, MomentArgs, ReportArgs};

/// Rank functions by the memory they hold (or allocated) at a moment, with pprof's flat,
/// sum and cum columns.
#[derive(Args)]
pub struct TopArgs {
    /// The trace to read.
    trace: PathBuf,
    /// What to count.
    #[arg(long, value_enum, default_value_t = By::InuseSpace)]
    by: By,
    /// Rank by cum (everything allocated beneath a function) rather than flat.
    #[arg(long)]
    cum: bool,
    /// Show the first N rows (0 for all).
    #[arg(short = 'n', value_name = "N", default_value_t = 10)]
    limit: usize,
    /// One row per source line rather than per function.
    #[arg(long)]
    lines: bool,
    #[command(flatten)]
    moment: MomentArgs,
    #[command(flatten)]
    report: ReportArgs,
}

/// The JSON form.
#[derive(Serialize)]
struct TopJson<'t> {
    sample_type: &'static str,
    at_ms: f64,
    total: i64,
    rows: Vec<RowJson<'t>>,
}

#[derive(Serialize)]
struct RowJson<'t> {
    #[serde(flatten)]
    place: &'t Place,
    flat: i64,
    cum: i64,
}

/// Whether `--lines` was given.
pub fn granularity(lines: bool) -> Granularity {
    if lines {
        Granularity::Lines
    } else {
        Granularity::Functions
    }
}

pub fn run(args: TopArgs) -> Result<u8> {
    run_report(&args.trace, &args.report.stacks, |recording, prepared| {
        let chosen = args.moment.choose(recording, &prepared.filter)?;
        let snapshot = Snapshot::take(recording, chosen.moment, &prepared.filter);
        prepared.symbols.resolve(snapshot.counts.keys().copied());
        let sample_type = args.by.into();
        let mut top = Top::compute(
            &snapshot,
            &prepared.symbols,
            sample_type,
            granularity(args.lines),
            args.cum,
        );
        let rows = top.rows.len();
        if args.limit > 0 {
            top.rows.truncate(args.limit);
        }
        let mut out = std::io::stdout().lock();
        if args.report.json {
            write_json(&mut out, &json(&top))
        } else {
            write_sampled_heading(&mut out, recording.sampling())?;
            let note = negative_note(&prepared.filter, top.total);
            write_text(&mut out, &top, rows, &chosen.label, args.lines)?;
            note.map_or(Ok(()), |note| Ok(writeln!(out, "{note}")?))
        }
    })
}

fn json(top: &Top) -> TopJson<'_> {
    TopJson {
        sample_type: top.sample_type.name(),
        at_ms: ns_to_ms(top.time_ns),
        total: top.total,
        rows: top
            .rows
            .iter()
            .map(|row| RowJson { place: &row.place, flat: row.flat, cum: row.cum })
            .collect(),
    }
}

fn write_text(
    out: &mut impl Write,
    top: &Top,
    rows: usize,
    moment: &str,
    lines: bool,
) -> Result<()> {
    let unit = if lines { "lines" } else { "functions" };
    let value = |v: i64| if top.sample_type.is_bytes() { bytes(v) } else { v.to_string() };
    writeln!(
        out,
        "{} at {moment}: {} total; showing {} of {rows} {unit}",
        top.sample_type.name(),
        value(top.total),
        top.rows.len()
    )?;
    let percent = |v: i64| {
        if top.total == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}%", v as f64 * 100.0 / top.total as f64)
        }
    };
    let mut table = vec![["flat", "flat%", "sum%", "cum", "cum%", ""].map(String::from).to_vec()];
    let mut sum = 0;
    for row in &top.rows {
        sum += row.flat;
        table.push(vec![
            value(row.flat),
            percent(row.flat),
            percent(sum),
            value(row.cum),
            percent(row.cum),
            place_name(&row.place),
        ]);
    }
    write_table(out, &table)
}
