//! Seeds the fuzz targets' corpora (`fuzz/corpus/TARGET/`) from real traces: each
//! trace whole for `trace`, each version 4 block header for `block_header`, and each
//! block's decompressed payload for the target of its kind (events payloads for
//! `event_columns` too).
//!
//! cargo run -p memscope-format --features fuzzing --example fuzz_corpus -- OUT TRACE...

use std::path::{Path, PathBuf};

use memscope_format::{fuzzing, BlockKind, Trace, BLOCK_HEADER_LEN, VERSION};

fn target(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::Meta => "meta",
        BlockKind::SegmentStart => "segment_start",
        BlockKind::Modules => "modules",
        BlockKind::Stacks => "stacks",
        BlockKind::Events => "events",
        BlockKind::Rss => "rss",
        BlockKind::End => "end",
    }
}

fn put(out: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = out.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: fuzz_corpus OUT TRACE...")?);
    for path in args.map(PathBuf::from) {
        let data = std::fs::read(&path)?;
        let name = path.file_name().ok_or("a trace path")?.to_string_lossy().into_owned();
        put(&out, "trace", &name, &data)?;
        let trace = Trace::parse(&data)?;
        if trace.version() == VERSION {
            for block in trace.blocks() {
                let header = &data[block.offset as usize..][..BLOCK_HEADER_LEN];
                put(&out, "block_header", &format!("{name}-{}", block.seq), header)?;
            }
        }
        for (index, (kind, raw)) in fuzzing::raw_payloads(&data).into_iter().enumerate() {
            put(&out, target(kind), &format!("{name}-{index}"), &raw)?;
            if kind == BlockKind::Events {
                put(&out, "event_columns", &format!("{name}-{index}"), &raw)?;
            }
        }
    }
    Ok(())
}
