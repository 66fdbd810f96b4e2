//! A whole trace: indexed, then every block decoded and every events block read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memscope_format::{BlockKind, Trace};

fuzz_target!(|data: &[u8]| {
    let Ok(trace) = Trace::parse(data) else { return };
    let _ = trace.meta();
    for block in trace.blocks() {
        assert!(block.end() <= data.len() as u64, "a block past the end of the file");
        let _ = trace.decode_block(block);
        if block.kind == BlockKind::Events {
            if let Ok(reader) = trace.events(block) {
                reader.for_each(drop);
            }
        }
    }
    for damage in trace.damage() {
        assert!(damage.end() <= data.len() as u64, "damage past the end of the file");
    }
});
