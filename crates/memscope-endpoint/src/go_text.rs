//! Go's legacy text form of a heap profile (`/debug/pprof/heap?debug=1`):
//!
//! ```text
//! heap profile: 3: 1048576 [5: 2097152] @ heap/1
//! 1: 1048576 [1: 1048576] @ 0x401136 0x401182
//! #<TAB>0x401136<TAB>leak_site<TAB>/src/server.c:12
//! #<TAB>0x401182<TAB>main<TAB>/src/server.c:40
//! ```
//!
//! The first line gives in-use objects and bytes, then allocated objects and bytes in
//! brackets, then the sampling rate (1: every allocation). Each record follows with its
//! return addresses and, after `#`, each frame with function and place, separated by
//! tabs (`<TAB>` above); inlined frames share their location's address.

use std::fmt::Write as _;

use memscope_analyze::{ProfileStack, StackProfile};

/// Appends the text profile to `out`.
pub fn write_go_heap_text(out: &mut Vec<u8>, profile: &StackProfile, sample_rate: u64) {
    let total = profile.stacks.iter().fold([0i64; 4], |sum, stack| {
        let c = &stack.counts;
        [
            sum[0] + c.live_blocks,
            sum[1] + c.live_bytes,
            sum[2] + c.alloc_blocks,
            sum[3] + c.alloc_bytes,
        ]
    });
    let mut text = String::new();
    let rate = sample_rate.max(1);
    let _ = writeln!(
        text,
        "heap profile: {}: {} [{}: {}] @ heap/{rate}",
        total[0], total[1], total[2], total[3]
    );
    for stack in &profile.stacks {
        write_record(&mut text, stack);
    }
    out.extend_from_slice(text.as_bytes());
}

fn write_record(text: &mut String, stack: &ProfileStack) {
    let c = &stack.counts;
    let addresses: Vec<String> =
        stack.locations.iter().map(|l| format!("{:#x}", l.address)).collect();
    let _ = writeln!(
        text,
        "{}: {} [{}: {}] @ {}",
        c.live_blocks,
        c.live_bytes,
        c.alloc_blocks,
        c.alloc_bytes,
        addresses.join(" ")
    );
    for location in &stack.locations {
        for frame in location.frames {
            let place = match (&frame.file, frame.line) {
                (Some(file), Some(line)) => format!("{file}:{line}"),
                (Some(file), None) => file.clone(),
                _ => String::new(),
            };
            let _ = writeln!(text, "#\t{:#x}\t{}\t{place}", location.address, frame.function);
        }
    }
    text.push('\n');
}
