//! `memscope callgraph`: a pprof-style call graph of the stacks at a moment, as DOT, or
//! drawn as SVG or PNG by Graphviz's `dot`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use memscope_analyze::{CallGraph, SampleType, Snapshot};
use memscope_export::{check_dot, render_dot, write_dot, DotFormat};

use crate::output_file::Replacement;
use crate::report::{run_report, By, MomentArgs, StackArgs};

/// Draw the call graph at a moment (the end by default): a box per function sized by
/// flat and labelled with flat and cum, an arrow per call labelled with what flowed
/// through it. FILE's extension chooses the format: .dot, .svg or .png (these two need
/// Graphviz).
#[derive(Args)]
pub struct CallgraphArgs {
    /// The trace to read.
    trace: PathBuf,
    /// Where to write: FILE.dot, FILE.svg or FILE.png.
    #[arg(short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// What to count.
    #[arg(long, value_enum, default_value_t = By::InuseSpace)]
    by: By,
    /// Show at most N functions, those with most cum (0 for all).
    #[arg(long, value_name = "N", default_value_t = 80)]
    nodecount: usize,
    #[command(flatten)]
    moment: MomentArgs,
    #[command(flatten)]
    stacks: StackArgs,
}

pub fn run(args: CallgraphArgs) -> Result<u8> {
    let extension = args.output.extension().and_then(|e| e.to_str()).unwrap_or("");
    let format = match extension {
        "dot" | "gv" => DotFormat::Dot,
        "svg" => DotFormat::Svg,
        "png" => DotFormat::Png,
        _ => bail!(
            "cannot tell the format of {}: name it FILE.dot, FILE.svg or FILE.png",
            args.output.display()
        ),
    };
    check_dot(format)?;
    let sample_type: SampleType = args.by.into();
    let mut output = Replacement::new(&args.output)?;
    run_report(&args.trace, &args.stacks, |recording, prepared| {
        let chosen = args.moment.choose(recording, &prepared.filter)?;
        let snapshot = Snapshot::take(recording, chosen.moment, &prepared.filter);
        prepared.symbols.resolve(snapshot.counts.keys().copied());
        let graph = CallGraph::compute(&snapshot, &prepared.symbols, sample_type, args.nodecount);
        let meta = recording.meta();
        let legend = vec![
            format!("File: {}", meta.exe),
            format!("Command: {}", meta.args.join(" ")),
            format!("At: {}", chosen.label),
        ];
        let mut dot = Vec::new();
        write_dot(&mut dot, &graph, &legend)?;
        let drawn = render_dot(&String::from_utf8_lossy(&dot), format)?;
        output.write_bytes(&drawn)
    })?;
    output.commit()?;
    Ok(0)
}
