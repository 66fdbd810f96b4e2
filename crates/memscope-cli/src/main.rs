//! The `memscope` command: records programs and reports on their traces.
//!
//! Each subcommand lives in a module named after it; this file only parses the
//! command line, dispatches, and turns errors into one line on stderr.

mod callgraph;
mod diff;
mod export;
mod flamegraph;
mod html_report;
mod info;
mod leaks;
mod output;
mod output_file;
mod peak;
mod rebuilt_modules;
mod report;
mod run;
mod sizes;
mod spawn;
mod stack_list;
mod summary;
mod system;
mod temporaries;
mod time_arg;
mod timeline;
mod top;
mod trace_input;

use std::io::ErrorKind;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A memory profiler: what holds the memory, who allocated it, and when it grew.
#[derive(Parser)]
#[command(name = "memscope", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(run::RunArgs),
    Summary(summary::SummaryArgs),
    Top(top::TopArgs),
    Leaks(leaks::LeaksArgs),
    Peak(peak::PeakArgs),
    Timeline(timeline::TimelineArgs),
    Sizes(sizes::SizesArgs),
    Temporaries(temporaries::TemporariesArgs),
    Diff(diff::DiffArgs),
    Info(info::InfoArgs),
    Export(export::ExportArgs),
    Flamegraph(flamegraph::FlamegraphArgs),
    Callgraph(callgraph::CallgraphArgs),
    Report(html_report::HtmlReportArgs),
    #[command(flatten)]
    System(system::SystemCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Summary(args) => summary::run(args),
        Command::Top(args) => top::run(args),
        Command::Leaks(args) => leaks::run(args),
        Command::Peak(args) => peak::run(args),
        Command::Timeline(args) => timeline::run(args),
        Command::Sizes(args) => sizes::run(args),
        Command::Temporaries(args) => temporaries::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Info(args) => info::run(args),
        Command::Export(args) => export::run(args),
        Command::Flamegraph(args) => flamegraph::run(args),
        Command::Callgraph(args) => callgraph::run(args),
        Command::Report(args) => html_report::run(args),
        Command::System(cmd) => system::run(cmd),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let code = err.downcast_ref::<run::ExitWith>().map_or(2, |e| e.0);
            eprintln!("memscope: {}", error_chain(&err));
            ExitCode::from(code)
        }
    }
}

/// A reader that closed our stdout (`memscope top | head`) is not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
    })
}

/// Joins the causes into one line, skipping a cause whose text its parent already
/// contains, so that no message is printed twice.
fn error_chain(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
