//! `memscope flamegraph`: an interactive SVG flame graph of the stacks at a moment, or a
//! differential one between two recordings or two moments of one.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use memscope_analyze::{Moment, Recording, SampleType, Snapshot, StackProfile};
use memscope_export::{
    collapsed_lines, write_diff_flame_graph, write_flame_graph, FlameGraphTitle,
};

use crate::output_file::Replacement;
use crate::rebuilt_modules::RebuiltModules;
use crate::report::{run_report, By, MomentArgs, Prepared, StackArgs};
use crate::time_arg::{from_to, parse_moment, TimeArg};
use crate::trace_input::{self, Input};

/// Draw a flame graph (SVG) of the stacks at a moment; with --diff BASE NEW, or one
/// trace with --from and --to, a differential flame graph: red where memory grew, blue
/// where it shrank.
#[derive(Args)]
pub struct FlamegraphArgs {
    /// The trace; with --diff, BASE and NEW.
    #[arg(required = true, num_args = 1..=2, value_name = "TRACE")]
    traces: Vec<PathBuf>,
    /// Where to write the SVG.
    #[arg(short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// What the widths count.
    #[arg(long, value_enum, default_value_t = By::InuseSpace)]
    by: By,
    /// Compare two traces at their ends: `--diff BASE NEW`.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    diff: bool,
    /// Compare two moments of one trace: from MS...
    #[arg(long, value_name = "MS", value_parser = parse_moment)]
    from: Option<TimeArg>,
    /// ...to MS [default: the end].
    #[arg(long, value_name = "MS", value_parser = parse_moment)]
    to: Option<TimeArg>,
    #[command(flatten)]
    moment: MomentArgs,
    #[command(flatten)]
    stacks: StackArgs,
}

pub fn run(args: FlamegraphArgs) -> Result<u8> {
    // A flame graph is an SVG: a name that says PNG or PDF would hold something else.
    if args.output.extension().is_none_or(|e| !e.eq_ignore_ascii_case("svg")) {
        bail!("a flame graph is an SVG: name it FILE.svg, not {}", args.output.display());
    }
    let differential = args.from.is_some() || args.to.is_some();
    match (&args.traces[..], args.diff) {
        ([base, new], true) => {
            let mut output = Replacement::new(&args.output)?;
            two_traces(&args, base, new, &mut output)?;
            output.commit()?;
        }
        ([_, _], false) => bail!(
            "give --diff to compare two traces: memscope flamegraph --diff BASE NEW -o FILE.svg"
        ),
        ([_], true) => {
            bail!("--diff compares two traces: memscope flamegraph --diff BASE NEW -o FILE.svg")
        }
        ([trace], false) => {
            if differential && args.moment.given() {
                bail!("--from and --to compare two moments; --at, --peak and --end choose one");
            }
            let mut output = Replacement::new(&args.output)?;
            run_report(trace, &args.stacks, |recording, prepared| {
                one_trace(&args, trace, recording, prepared, &mut output)
            })?;
            output.commit()?;
        }
        _ => unreachable!("clap takes one or two traces"),
    }
    Ok(0)
}

/// The folded stacks of `recording` at `moment`.
fn folded(
    recording: &Recording,
    prepared: &mut Prepared,
    moment: Moment,
    sample_type: SampleType,
) -> Vec<String> {
    let snapshot = Snapshot::take(recording, moment, &prepared.filter);
    prepared.symbols.resolve(snapshot.counts.keys().copied());
    collapsed_lines(&StackProfile::compute(&snapshot, &prepared.symbols), sample_type)
}

/// A flame graph of one trace: of one moment, or of what changed between two.
fn one_trace(
    args: &FlamegraphArgs,
    trace: &Path,
    recording: &Recording,
    prepared: &mut Prepared,
    output: &mut Replacement,
) -> Result<()> {
    let sample_type: SampleType = args.by.into();
    let subtitle = trace.display().to_string();
    if args.from.is_none() && args.to.is_none() {
        let chosen = args.moment.choose(recording, &prepared.filter)?;
        let lines = folded(recording, prepared, chosen.moment, sample_type);
        let title = format!("memscope: {} at {}", sample_type.name(), chosen.label);
        let title = FlameGraphTitle { title, subtitle, sample_type };
        return Ok(write_flame_graph(&mut *output, &lines, &title)?);
    }
    let [(from, from_name), (to, to_name)] =
        from_to(args.from.as_ref(), args.to.as_ref(), recording)?;
    let before = folded(recording, prepared, from, sample_type);
    let after = folded(recording, prepared, to, sample_type);
    let title = format!(
        "memscope: {} from {from_name} ms to {to_name} ms (red: grew, blue: shrank)",
        sample_type.name(),
    );
    let title = FlameGraphTitle { title, subtitle, sample_type };
    Ok(write_diff_flame_graph(&mut *output, &before, &after, &title)?)
}

fn two_traces(
    args: &FlamegraphArgs,
    base: &Path,
    new: &Path,
    output: &mut Replacement,
) -> Result<()> {
    let sample_type: SampleType = args.by.into();
    if args.moment.given() {
        bail!("--diff compares two traces at their ends; --at, --peak and --end choose a moment of one");
    }
    let patterns = args.stacks.patterns()?;
    let files = [trace_input::open(base)?, trace_input::open(new)?];
    let mut inputs: Vec<Input> =
        files.iter().map(|files| trace_input::recording(files.files())).collect::<Result<_>>()?;
    let mut lines = Vec::new();
    let mut rebuilt = RebuiltModules::default();
    for input in &inputs {
        let mut prepared = args.stacks.prepare(&input.recording, &patterns)?;
        lines.push(folded(&input.recording, &mut prepared, Moment::End, sample_type));
        rebuilt.warn(&prepared.symbols);
    }
    inputs.iter_mut().for_each(Input::warn);
    let title = FlameGraphTitle {
        title: format!(
            "memscope: {} at the end, {} against {} (red: grew, blue: shrank)",
            sample_type.name(),
            new.display(),
            base.display()
        ),
        subtitle: format!("base {}, new {}", base.display(), new.display()),
        sample_type,
    };
    Ok(write_diff_flame_graph(&mut *output, &lines[0], &lines[1], &title)?)
}
