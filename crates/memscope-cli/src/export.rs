//! `memscope export`: the stacks at a moment in a format other tools open: pprof for
//! `go tool pprof`, collapsed stacks for flame graph tools, JSON for scripts.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use memscope_analyze::{Recording, SampleType, Snapshot, StackProfile, Summary, Timeline};
use memscope_export::{
    write_aggregate_json, write_collapsed, write_pprof, AggregateInput, PprofHeader,
};

use crate::output_file::Replacement;
use crate::report::{run_report, By, ChosenMoment, MomentArgs, Prepared, StackArgs};

/// Timeline rows of the JSON export: at most this many, each a whole number of ms.
const TIMELINE_ROWS: u64 = 1000;

/// Write the stacks at a moment (the end by default) as a pprof profile, collapsed
/// stacks or JSON.
#[derive(Args)]
pub struct ExportArgs {
    /// The trace to read.
    trace: PathBuf,
    /// pprof (gzip-compressed protobuf for `go tool pprof`), collapsed (folded stacks
    /// for flamegraph.pl, inferno, speedscope) or json (the aggregate model).
    #[arg(long, value_name = "FORMAT")]
    format: String,
    /// Where to write.
    #[arg(short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// What to count: the sample type pprof shows first, or the values of collapsed
    /// stacks [default: inuse_space]. JSON holds all four.
    #[arg(long, value_enum)]
    by: Option<By>,
    #[command(flatten)]
    moment: MomentArgs,
    #[command(flatten)]
    stacks: StackArgs,
}

/// The formats.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Format {
    Pprof,
    Collapsed,
    Json,
}

fn format(name: &str) -> Result<Format> {
    match name {
        "pprof" => Ok(Format::Pprof),
        "collapsed" => Ok(Format::Collapsed),
        "json" => Ok(Format::Json),
        _ => bail!("unknown export format `{name}`: choose pprof, collapsed or json"),
    }
}

/// `memscope run --export FILE`: the export of `trace` at its end, in the format its
/// name says (`.pb.gz` or `.pprof`: pprof; `.json`: JSON; otherwise collapsed stacks).
pub fn export_by_name(trace: &std::path::Path, output: &std::path::Path) -> Result<()> {
    #[derive(clap::Parser)]
    struct Command {
        #[command(flatten)]
        export: ExportArgs,
    }
    let name = output.to_string_lossy();
    let format = if name.ends_with(".pb.gz") || name.ends_with(".pprof") {
        "pprof"
    } else if name.ends_with(".json") {
        "json"
    } else {
        "collapsed"
    };
    let words = [
        "export".as_ref(),
        trace.as_os_str(),
        "--format".as_ref(),
        format.as_ref(),
        "-o".as_ref(),
        output.as_os_str(),
    ];
    let command = <Command as clap::Parser>::try_parse_from(words)?;
    run(command.export).map(drop)
}

pub fn run(args: ExportArgs) -> Result<u8> {
    let format = format(&args.format)?;
    if format == Format::Json && args.by.is_some() {
        bail!("--by chooses one sample type; the JSON export holds all four");
    }
    let sample_type: SampleType = args.by.unwrap_or(By::InuseSpace).into();
    let mut output = Replacement::new(&args.output)?;
    run_report(&args.trace, &args.stacks, |recording, prepared| {
        let chosen = args.moment.choose(recording, &prepared.filter)?;
        let snapshot = Snapshot::take(recording, chosen.moment, &prepared.filter);
        prepared.symbols.resolve(snapshot.counts.keys().copied());
        let profile = StackProfile::compute(&snapshot, &prepared.symbols);
        let out = &mut output;
        match format {
            Format::Pprof => {
                let header = PprofHeader {
                    default_sample_type: sample_type,
                    comments: comments(recording, &chosen),
                    window_ns: None,
                };
                write_pprof(out, recording, &profile, &header)?
            }
            Format::Collapsed => write_collapsed(out, &profile, sample_type)?,
            Format::Json => {
                let timeline = json_timeline(recording, prepared)?;
                let summary = Summary::compute(recording);
                let input = AggregateInput {
                    recording,
                    profile: &profile,
                    moment: &chosen.label,
                    summary: &summary,
                    timeline: &timeline,
                };
                write_aggregate_json(out, &input)?
            }
        }
        Ok(())
    })?;
    output.commit()?;
    Ok(0)
}

/// What a pprof profile says of where it comes from (`pprof -comments`).
pub fn comments(recording: &Recording, chosen: &ChosenMoment) -> Vec<String> {
    let meta = recording.meta();
    vec![
        format!("memscope recording of {} (pid {})", meta.args.join(" "), meta.pid),
        format!("inuse at {}; alloc up to it", chosen.label),
    ]
}

/// The timeline of the JSON export: intervals of a whole number of milliseconds, at
/// most [`TIMELINE_ROWS`] of them.
fn json_timeline(recording: &Recording, prepared: &Prepared) -> Result<Timeline> {
    let ms = recording.end_ns().div_ceil(TIMELINE_ROWS * 1_000_000).max(1);
    Ok(Timeline::build(recording, ms * 1_000_000, &prepared.filter)?)
}
