//! Writes a synthetic trace for the analysis benchmark (`bench/analysis.sh`):
//!
//! ```text
//! cargo run --release -p memscope-analyze --example synth_trace -- OUT [EVENTS] [THREADS] [STACKS] [SEGMENT_EVENTS]
//! ```
//!
//! EVENTS (default 100 million) allocations and frees from THREADS (default 4) threads,
//! laid out as the recorder lays them out: blocks of 4096 events of one thread, threads'
//! blocks interleaved so that they overlap in time (some land a segment late), and a new
//! segment every 2^21 events, each opening with a checkpoint and the stack table.
//!
//! Each thread replaces blocks in a window of live slots (16 to 527 bytes, from one of
//! 2000 stacks 8 to 31 frames deep), as `shared/bench/churn.c` does; the window widens
//! from 1024 to 32768 slots over the first 60% of the run, is cut back to 1024 there (the
//! peak), and one block in 10000 is leaked.
//!
//! With STACKS (default 2000) above 2000, the stacks are the leaves of a call tree
//! instead, as a program with many distinct paths makes them (the HTML report's
//! benchmark: a million distinct stacks): 10 levels below the outermost frame, each
//! frame calling 4 others, drawn from up to 5000 functions per level. SEGMENT_EVENTS
//! (default 2^21) sets how often a segment starts: every segment repeats the whole
//! stack table.

// Shared with the tests, which use all of it.
#[allow(dead_code)]
#[path = "../tests/support/trace_builder.rs"]
mod trace_builder;

use std::fs::File;
use std::io::BufWriter;

use memscope_format::{Event, StackDef, StackId};
use trace_builder::{alloc, free, TraceBuilder};

const BLOCK_EVENTS: usize = 4096;
const SEGMENT_EVENTS: u64 = 1 << 21;
const STACKS: u32 = 2000;
/// Distinct frames of one level of the call tree of [`tree_stacks`].
const FRAMES_PER_LEVEL: u64 = 5000;
const SMALL_WINDOW: usize = 1024;
const LARGE_WINDOW: usize = 32768;
/// Time between one thread's events.
const EVENT_GAP_NS: u64 = 400;

/// One simulated thread.
struct Thread {
    id: u32,
    seed: u64,
    slots: Vec<Option<(u64, u32)>>,
    /// Whether the window was cut back yet.
    cut: bool,
    time_ns: u64,
    events: Vec<Event>,
}

impl Thread {
    fn random(&mut self) -> u64 {
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.seed >> 33
    }

    fn push(&mut self, event: Event) {
        self.events.push(event);
        self.time_ns += EVENT_GAP_NS;
    }

    /// Frees and allocates until a block's worth of events is ready.
    fn fill_block(&mut self, window: usize, stacks: u32, leak: &mut u64) {
        self.events.clear();
        while self.events.len() + 2 <= BLOCK_EVENTS {
            let slot = self.random() as usize % window;
            if let Some((size, stack)) = self.slots[slot].take() {
                *leak += 1;
                // One block in 10000 is left live: leaked.
                if !leak.is_multiple_of(10_000) {
                    self.push(free(self.time_ns, size, stack));
                }
            }
            let (size, stack) =
                (16 + self.random() % 512, 1 + (self.random() % u64::from(stacks)) as u32);
            self.push(alloc(self.time_ns, size, stack));
            self.slots[slot] = Some((size, stack));
        }
    }

    /// Frees every slot from `from` on, in blocks.
    fn cut_back(&mut self, from: usize) -> Vec<Vec<Event>> {
        let freed: Vec<(u64, u32)> =
            self.slots[from..].iter_mut().filter_map(Option::take).collect();
        freed
            .chunks(BLOCK_EVENTS)
            .map(|chunk| {
                self.events.clear();
                chunk.iter().for_each(|&(size, stack)| self.push(free(self.time_ns, size, stack)));
                self.events.clone()
            })
            .collect()
    }
}

fn stacks() -> Vec<StackDef> {
    (1..=STACKS)
        .map(|id| {
            let depth = 8 + (id as u64 * 7919 % 24);
            let frames = (0..depth)
                .map(|level| 0x5555_0000_0000 + u64::from(id % 97) * 0x1000 + level * 0x40)
                .collect();
            StackDef { id: StackId(id), frames }
        })
        .collect()
}

/// `count` stacks, the leaves of a tree in which each frame calls 4 others: stack `id`
/// shares its outer `k` frames with the stacks whose ids agree in their lowest `2k` bits.
fn tree_stacks(count: u32) -> Vec<StackDef> {
    (1..=count)
        .map(|id| {
            let path = u64::from(id - 1);
            let frames = (0..10u64)
                .rev()
                .map(|level| {
                    let branch = path % (1 << (2 * (level + 1)));
                    let frame = branch.wrapping_mul(2654435761) % FRAMES_PER_LEVEL;
                    0x5555_0000_0000 + level * 0x100_0000 + frame * 0x40
                })
                .collect();
            StackDef { id: StackId(id), frames }
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: synth_trace OUT [EVENTS] [THREADS] [STACKS] [SEGMENT_EVENTS]";
    let out = args.next().ok_or(usage)?;
    let total: u64 = args.next().map_or(Ok(100_000_000), |a| a.parse())?;
    let threads: u32 = args.next().map_or(Ok(4), |a| a.parse())?;
    let stack_count: u32 = args.next().map_or(Ok(STACKS), |a| a.parse())?;
    let segment_events: u64 = args.next().map_or(Ok(SEGMENT_EVENTS), |a| a.parse())?;
    let defs = if stack_count > STACKS { tree_stacks(stack_count) } else { stacks() };
    let stack_count = stack_count.min(defs.len() as u32);
    let mut builder =
        TraceBuilder::new(BufWriter::with_capacity(1 << 20, File::create(&out)?), defs)?;
    let mut threads: Vec<Thread> = (0..threads)
        .map(|t| Thread {
            id: 1000 + t,
            seed: u64::from(t) * 2654435761 + 1,
            slots: vec![None; LARGE_WINDOW],
            cut: false,
            // Threads start a little apart, so their blocks overlap without lining up.
            time_ns: 1_000_000 + u64::from(t) * 333_333,
            events: Vec::with_capacity(BLOCK_EVENTS),
        })
        .collect();
    let (mut written, mut in_segment, mut leak) = (0u64, segment_events, 0u64);
    let mut latest_ns = 0;
    while written < total {
        for thread in &mut threads {
            let progress = written as f64 / total as f64;
            let window = if progress < 0.6 {
                SMALL_WINDOW + ((LARGE_WINDOW - SMALL_WINDOW) as f64 * progress / 0.6) as usize
            } else {
                SMALL_WINDOW
            };
            let mut blocks = Vec::new();
            if progress >= 0.6 && !thread.cut {
                thread.cut = true;
                blocks.extend(thread.cut_back(SMALL_WINDOW));
            }
            thread.fill_block(window, stack_count, &mut leak);
            blocks.push(thread.events.clone());
            for events in blocks {
                if in_segment >= segment_events {
                    // The writer stamps a segment after every event written before it.
                    builder.segment(latest_ns)?;
                    in_segment = 0;
                }
                latest_ns = latest_ns.max(events.last().map_or(0, |e| e.time_ns));
                builder.events(thread.id, &events)?;
                in_segment += events.len() as u64;
                written += events.len() as u64;
            }
        }
    }
    let end = threads.iter().map(|t| t.time_ns).max().unwrap_or(0);
    builder.finish(end)?;
    eprintln!("wrote {written} events to {out}");
    Ok(())
}
