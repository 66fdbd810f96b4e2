//! `memscope top`: functions (or lines) ranked by what they hold or allocated, as pprof's
//! `top` shows them.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use memscope_analyze::{ns_to_ms, Granularity, SampleType, Snapshot, Top, TopRow};
use serde::Serialize;

use crate::output::{bytes, location, write_json, write_table};
use crate::report::{MomentArgs, ReportArgs};
use crate::trace_input;

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

#[derive(Copy, Clone, ValueEnum)]
enum By {
    #[value(name = "inuse_space")]
    InuseSpace,
    #[value(name = "inuse_objects")]
    InuseObjects,
    #[value(name = "alloc_space")]
    AllocSpace,
    #[value(name = "alloc_objects")]
    AllocObjects,
}

impl From<By> for SampleType {
    fn from(by: By) -> Self {
        match by {
            By::InuseSpace => SampleType::InuseSpace,
            By::InuseObjects => SampleType::InuseObjects,
            By::AllocSpace => SampleType::AllocSpace,
            By::AllocObjects => SampleType::AllocObjects,
        }
    }
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
    function: &'t str,
    file: Option<&'t str>,
    line: Option<u32>,
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
    let filter = args.report.filter()?;
    let file = trace_input::open(&args.trace)?;
    let mut input = trace_input::recording(&file)?;
    let recording = &input.recording;
    let mut prepared = args.report.prepare(recording, &filter);
    let chosen = args.moment.choose(recording, &prepared.filter)?;
    let snapshot = Snapshot::take(recording, chosen.moment, &prepared.filter);
    prepared.symbols.resolve(snapshot.counts.keys().copied());
    let mut top = Top::compute(&snapshot, &prepared.symbols, args.by.into(), granularity(args.lines), args.cum);
    let rows = top.rows.len();
    if args.limit > 0 {
        top.rows.truncate(args.limit);
    }
    let mut out = std::io::stdout().lock();
    if args.report.json {
        write_json(&mut out, &json(&top))?;
    } else {
        write_text(&mut out, &top, rows, &chosen.label, args.lines)?;
    }
    input.warn();
    Ok(0)
}

fn json(top: &Top) -> TopJson<'_> {
    TopJson {
        sample_type: top.sample_type.name(),
        at_ms: ns_to_ms(top.time_ns),
        total: top.total,
        rows: top
            .rows
            .iter()
            .map(|row| RowJson { function: &row.function, file: row.file.as_deref(), line: row.line, flat: row.flat, cum: row.cum })
            .collect(),
    }
}

fn write_text(out: &mut impl Write, top: &Top, rows: usize, moment: &str, lines: bool) -> Result<()> {
    let unit = if lines { "lines" } else { "functions" };
    let value = |v: i64| if top.sample_type.is_bytes() { bytes(v) } else { v.to_string() };
    writeln!(
        out,
        "{} at {moment}: {} total; showing {} of {rows} {unit}",
        top.sample_type.name(),
        value(top.total),
        top.rows.len()
    )?;
    let percent = |v: i64| if top.total == 0 { "-".to_owned() } else { format!("{:.2}%", v as f64 * 100.0 / top.total as f64) };
    let mut table = vec![["flat", "flat%", "sum%", "cum", "cum%", ""].map(String::from).to_vec()];
    let mut sum = 0;
    for row in &top.rows {
        sum += row.flat;
        table.push(vec![value(row.flat), percent(row.flat), percent(sum), value(row.cum), percent(row.cum), name(row)]);
    }
    write_table(out, &table)
}

/// The function, then where it is.
fn name(row: &TopRow) -> String {
    let location = location(row.file.as_deref(), row.line);
    if location.is_empty() {
        row.function.clone()
    } else {
        format!("{} {location}", row.function)
    }
}
