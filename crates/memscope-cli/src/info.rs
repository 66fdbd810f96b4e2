//! `memscope info`: what a trace holds, block by block, for debugging the recorder and
//! the format rather than the program.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use memscope_format::{BlockKind, FormatError, Module, Record, StackId, Trace, FILE_HEADER_LEN};

use crate::output::{ms, write_table};

/// Show a trace's raw contents: header, modules, segments, blocks, stacks and the
/// first events.
#[derive(Args)]
pub struct InfoArgs {
    /// The trace to read.
    trace: PathBuf,
    /// How many blocks, stacks and events to list.
    #[arg(short = 'n', long = "limit", value_name = "N", default_value_t = 20)]
    limit: usize,
}

/// What the small blocks say, gathered in one pass.
#[derive(Default)]
struct Contents {
    modules: Vec<Module>,
    stacks: BTreeMap<StackId, Vec<u64>>,
    segments: Vec<Vec<String>>,
    events: Vec<Vec<String>>,
    end: Option<String>,
    errors: Vec<FormatError>,
}

pub fn run(args: InfoArgs) -> Result<u8> {
    let file = memscope_analyze::TraceFile::open(&args.trace)?;
    let trace = file.trace()?;
    let mut out = std::io::stdout().lock();
    let meta = trace.meta();
    writeln!(out, "file: {}", args.trace.display())?;
    writeln!(
        out,
        "size: {} bytes (header {FILE_HEADER_LEN}), format version {}",
        trace.len(),
        trace.version()
    )?;
    writeln!(out, "blocks: {}, segments: {}", trace.blocks().len(), trace.segments().len())?;
    if trace.damage().is_empty() {
        writeln!(out, "damage: none")?;
    }
    for damage in trace.damage() {
        let (start, end) = (damage.offset, damage.end());
        writeln!(out, "damage: bytes {start}..{end}: {}", damage.error)?;
    }
    let meta = match meta {
        Ok(meta) => meta,
        Err(err) => {
            writeln!(out, "meta: unreadable ({err})")?;
            Default::default()
        }
    };
    writeln!(out, "pid: {}\nexe: {}\nargs: {}", meta.pid, meta.exe, meta.args.join(" "))?;
    writeln!(
        out,
        "started: {} ms since the epoch\nunwind: {}, at most {} frames",
        meta.start_unix_ms, meta.unwind, meta.max_frames
    )?;
    let contents = read_contents(&trace, args.limit);
    writeln!(out, "end: {}", contents.end.as_deref().unwrap_or("none (the trace was cut off)"))?;
    write_blocks(&mut out, &trace, args.limit)?;
    write_section(
        &mut out,
        "segments",
        &[["index", "time_ms", "blocks", "events blocks", "checkpoint stacks", "frees"]
            .map(String::from)
            .to_vec()],
        &contents.segments,
    )?;
    write_modules(&mut out, &contents.modules)?;
    write_stacks(&mut out, &contents.stacks, args.limit)?;
    let header = ["thread", "time_ms", "kind", "size", "stack"].map(String::from).to_vec();
    let title = format!("events (the first {}, in file order)", contents.events.len());
    write_section(&mut out, &title, &[header], &contents.events)?;
    for error in &contents.errors {
        writeln!(out, "error: {error}")?;
    }
    Ok(0)
}

fn read_contents(trace: &Trace, limit: usize) -> Contents {
    let mut contents = Contents::default();
    for (index, range) in trace.segments().iter().enumerate() {
        let blocks = &trace.blocks()[range.clone()];
        let events_blocks = blocks.iter().filter(|b| b.kind == BlockKind::Events).count();
        for block in blocks {
            if block.kind == BlockKind::Events && contents.events.len() >= limit {
                continue;
            }
            match trace.decode_block(block) {
                Ok(Record::SegmentStart(start)) => contents.segments.push(vec![
                    index.to_string(),
                    ms(start.time_ns),
                    blocks.len().to_string(),
                    events_blocks.to_string(),
                    start.stacks.len().to_string(),
                    start.frees.to_string(),
                ]),
                Ok(Record::Modules(map)) => contents.modules = map.modules,
                Ok(Record::Stacks(defs)) => {
                    contents.stacks.extend(defs.into_iter().map(|d| (d.id, d.frames)))
                }
                Ok(Record::Events(batch)) => {
                    let thread = batch.thread.0.to_string();
                    contents.events.extend(
                        batch.events.iter().take(limit - contents.events.len()).map(|e| {
                            vec![
                                thread.clone(),
                                ms(e.time_ns),
                                format!("{:?}", e.kind),
                                e.size.to_string(),
                                e.stack.0.to_string(),
                            ]
                        }),
                    );
                }
                Ok(Record::End(end)) => {
                    contents.end = Some(format!(
                        "at {} ms, {:?}, peak RSS {} bytes, {} events dropped",
                        ms(end.time_ns),
                        end.reason,
                        end.peak_rss_bytes,
                        end.dropped_events
                    ))
                }
                Ok(_) => {}
                Err(err) => contents.errors.push(err),
            }
        }
    }
    contents
}

fn write_section(
    out: &mut impl Write,
    title: &str,
    header: &[Vec<String>],
    rows: &[Vec<String>],
) -> Result<()> {
    writeln!(out, "\n{title}:")?;
    write_table(out, &[header, rows].concat())
}

fn write_blocks(out: &mut impl Write, trace: &Trace, limit: usize) -> Result<()> {
    let rows: Vec<Vec<String>> = trace
        .blocks()
        .iter()
        .take(limit)
        .map(|b| {
            vec![
                b.offset.to_string(),
                b.seq.to_string(),
                format!("{:?}", b.kind),
                b.compressed_len.to_string(),
                b.raw_len.to_string(),
            ]
        })
        .collect();
    let header = ["offset", "seq", "kind", "compressed", "raw"].map(String::from).to_vec();
    write_section(
        out,
        &format!("blocks (the first {} of {})", rows.len(), trace.blocks().len()),
        &[header],
        &rows,
    )
}

fn write_modules(out: &mut impl Write, modules: &[Module]) -> Result<()> {
    let rows: Vec<Vec<String>> = modules
        .iter()
        .map(|m| {
            let build_id: String = m.build_id.iter().map(|b| format!("{b:02x}")).collect();
            let ranges: Vec<String> =
                m.ranges.iter().map(|r| format!("{:#x}-{:#x}", r.start, r.end)).collect();
            vec![
                format!("{:#x}", m.load_bias),
                if build_id.is_empty() { "-".into() } else { build_id },
                ranges.join(","),
                m.path.clone(),
            ]
        })
        .collect();
    let header = ["load bias", "build id", "ranges", "path"].map(String::from).to_vec();
    write_section(out, "modules (the last map)", &[header], &rows)
}

fn write_stacks(
    out: &mut impl Write,
    stacks: &BTreeMap<StackId, Vec<u64>>,
    limit: usize,
) -> Result<()> {
    writeln!(out, "\nstacks (the first {} of {}):", stacks.len().min(limit), stacks.len())?;
    for (id, frames) in stacks.iter().take(limit) {
        let frames: Vec<String> = frames.iter().map(|a| format!("{a:#x}")).collect();
        writeln!(out, "  #{}: {}", id.0, frames.join(" "))?;
    }
    Ok(())
}
