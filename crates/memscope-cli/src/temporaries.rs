//! `memscope temporaries`: temporary allocations by allocating stack, as heaptrack_print
//! `-T` lists them.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use memscope_analyze::{Frame, Temporaries};
use serde::Serialize;

use crate::output::{bytes, percent, write_json};
use crate::report::{run_report, ListArgs};
use crate::stack_list::{write_frames, write_more_stacks};

/// List the stacks whose blocks were freed right after being allocated (no other
/// allocation on that thread in between), most temporaries first.
#[derive(Args)]
pub struct TemporariesArgs {
    /// The trace, and how many stacks to show.
    #[command(flatten)]
    list: ListArgs,
}

/// The JSON form.
#[derive(Serialize)]
struct TemporariesJson<'s> {
    /// Temporary allocations over every stack the filters keep.
    temporary: u64,
    /// Allocations over every stack the filters keep.
    allocations: u64,
    stacks: Vec<StackJson<'s>>,
    /// Stacks with temporary allocations that are not shown.
    more_stacks: usize,
}

#[derive(Serialize)]
struct StackJson<'s> {
    temporary: u64,
    temporary_bytes: u64,
    allocations: u64,
    /// Frames, innermost first.
    stack: Vec<&'s Frame>,
}

pub fn run(TemporariesArgs { list: args }: TemporariesArgs) -> Result<u8> {
    run_report(&args.trace, &args.report.stacks, |recording, prepared| {
        let mut temporaries = Temporaries::compute(recording, &prepared.filter);
        let more_stacks = temporaries.rows.len().saturating_sub(args.limit);
        if args.limit > 0 {
            temporaries.rows.truncate(args.limit);
        }
        prepared.symbols.resolve(temporaries.rows.iter().map(|row| row.stack));
        let symbols = &prepared.symbols;
        let stacks = temporaries
            .rows
            .iter()
            .map(|row| StackJson {
                temporary: row.temporary,
                temporary_bytes: row.temporary_bytes,
                allocations: row.allocations,
                stack: symbols.frames(row.stack),
            })
            .collect();
        let json = TemporariesJson {
            temporary: temporaries.temporary,
            allocations: temporaries.allocations,
            stacks,
            more_stacks: if args.limit == 0 { 0 } else { more_stacks },
        };
        let mut out = std::io::stdout().lock();
        if args.report.json {
            write_json(&mut out, &json)
        } else {
            write_text(&mut out, &json)
        }
    })
}

/// Each stack: its temporaries, then its frames; then the stacks not shown and the total.
fn write_text(out: &mut impl Write, list: &TemporariesJson) -> Result<()> {
    for row in &list.stacks {
        writeln!(
            out,
            "{} temporary allocations ({}) of {} allocations ({}) from:",
            row.temporary,
            bytes(row.temporary_bytes as i64),
            row.allocations,
            percent(row.temporary, row.allocations)
        )?;
        write_frames(out, &row.stack)?;
    }
    write_more_stacks(out, list.more_stacks)?;
    writeln!(
        out,
        "total: {} temporary allocations of {} allocations ({})",
        list.temporary,
        list.allocations,
        percent(list.temporary, list.allocations)
    )?;
    Ok(())
}
