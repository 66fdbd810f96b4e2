//! `memscope sizes`: a histogram of allocation sizes, as heaptrack_print `-H` counts
//! allocations per size.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use memscope_analyze::{SizeBucket, SizeCount, SizeHistogram};
use serde::Serialize;

use crate::output::{bytes, percent, write_json, write_table};
use crate::report::{run_report, ListArgs};

/// Count allocations by size: in power-of-two buckets, and the most frequent exact
/// sizes. `--focus` and the other filters choose which allocations count.
#[derive(Args)]
pub struct SizesArgs {
    /// The trace, and how many exact sizes to show.
    #[command(flatten)]
    list: ListArgs,
}

/// The JSON form.
#[derive(Serialize)]
struct SizesJson {
    allocations: u64,
    bytes: u64,
    /// Buckets that hold an allocation, smallest first.
    buckets: Vec<BucketJson>,
    /// Exact sizes, most allocations first.
    sizes: Vec<SizeJson>,
    /// Exact sizes that are not shown.
    more_sizes: usize,
}

#[derive(Serialize)]
struct BucketJson {
    from: u64,
    to: u64,
    allocations: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct SizeJson {
    size: u64,
    allocations: u64,
}

pub fn run(SizesArgs { list: args }: SizesArgs) -> Result<u8> {
    run_report(&args.trace, &args.report.stacks, |recording, prepared| {
        let histogram = SizeHistogram::compute(recording, &prepared.filter);
        let shown = if args.limit == 0 { histogram.sizes.len() } else { args.limit };
        let sizes: Vec<SizeJson> = histogram.sizes.iter().take(shown).map(size_json).collect();
        let json = SizesJson {
            allocations: histogram.allocations,
            bytes: histogram.bytes,
            buckets: histogram.buckets.iter().map(bucket_json).collect(),
            more_sizes: histogram.sizes.len() - sizes.len(),
            sizes,
        };
        let mut out = std::io::stdout().lock();
        if args.report.json {
            write_json(&mut out, &json)
        } else {
            write_text(&mut out, &json)
        }
    })
}

fn bucket_json(bucket: &SizeBucket) -> BucketJson {
    let SizeBucket { from, to, allocations, bytes } = *bucket;
    BucketJson { from, to, allocations, bytes }
}

fn size_json(count: &SizeCount) -> SizeJson {
    SizeJson { size: count.size, allocations: count.allocations }
}

/// The buckets as a table, then the most frequent sizes, then how many more there are.
fn write_text(out: &mut impl Write, json: &SizesJson) -> Result<()> {
    let all = json.allocations;
    writeln!(out, "{} allocations of {} in total", all, bytes(json.bytes as i64))?;
    writeln!(out)?;
    let mut buckets = vec![header(&["allocations", "share", "bytes", "sizes"])];
    buckets.extend(json.buckets.iter().map(|b| {
        let sizes =
            if b.from == b.to { b.from.to_string() } else { format!("{}-{}", b.from, b.to) };
        vec![b.allocations.to_string(), percent(b.allocations, all), bytes(b.bytes as i64), sizes]
    }));
    write_table(out, &buckets)?;
    writeln!(out)?;
    writeln!(out, "most frequent sizes:")?;
    let mut sizes = vec![header(&["allocations", "share", "size"])];
    sizes.extend(
        json.sizes.iter().map(|s| {
            vec![s.allocations.to_string(), percent(s.allocations, all), s.size.to_string()]
        }),
    );
    write_table(out, &sizes)?;
    if json.more_sizes > 0 {
        writeln!(out, "... and {} more sizes (-n 0 shows all)", json.more_sizes)?;
    }
    Ok(())
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}
