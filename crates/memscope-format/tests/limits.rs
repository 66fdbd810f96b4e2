//! Issue 17: values a file claims never decide what is allocated or computed. Each
//! hostile claim, in a block whose checksums are right, is refused with the exact error,
//! and decoding it allocates little.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{block, block_with, events_payload, file_header, meta_payload, varints};
use memscope_format::*;

/// Counts what each thread has allocated and the most it held at once.
struct Counting;

thread_local! {
    static HELD: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged; the counters are
// thread-local cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = HELD.try_with(|held| {
            held.set(held.get() + layout.size());
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(held.get())));
        });
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = HELD.try_with(|held| held.set(held.get().saturating_sub(layout.size())));
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The most this thread held at once while running `f`, beyond what it held before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    let value = f();
    (value, PEAK.with(Cell::get) - before)
}

/// A trace of the meta block and one block of `kind` holding `raw`.
fn trace_with(kind: BlockKind, raw: &[u8]) -> Vec<u8> {
    [file_header(), block(1, 0, &meta_payload()), block(kind as u8, 1, raw)].concat()
}

/// What decoding block 1 of `bytes` says, and the most it held while doing so.
fn decode_second(bytes: &[u8]) -> (Result<Record, FormatError>, usize) {
    let trace = Trace::parse(bytes).unwrap();
    assert_eq!(trace.blocks().len(), 2, "{:?}", trace.damage());
    let block = trace.blocks()[1];
    peak_during(|| trace.decode_block(&block))
}

fn decode_error(bytes: &[u8]) -> String {
    let (result, held) = decode_second(bytes);
    assert!(held < 1 << 20, "decoding held {held} bytes");
    result.expect_err("the block must not decode").to_string()
}

#[test]
fn an_events_block_may_not_claim_more_than_65536_events() {
    let mut raw = varints(&[7, 65_537, 1, 0, 0]);
    raw.extend(vec![0u8; 3 * 65_537]);
    assert_eq!(
        decode_error(&trace_with(BlockKind::Events, &raw)),
        "block at byte 67 is corrupt: 65537 events, more than the 65536 a block may hold"
    );
}

/// Issue 17: a 38 KB file with a 20-million-frame stack took 3.3 GB. Its block claims
/// more than a stack table block may hold, and is refused before it is decompressed.
#[test]
fn a_stack_of_twenty_million_frames_is_refused_before_it_is_read() {
    let mut raw = varints(&[1, 1, 20_000_000]);
    raw.extend(vec![0u8; 20_000_000]);
    let bytes = trace_with(BlockKind::Stacks, &raw);
    assert!(bytes.len() < 40_000, "{} bytes", bytes.len());
    assert_eq!(
        decode_error(&bytes),
        "block at byte 67 claims 20000006 bytes, more than a block may hold"
    );
}

#[test]
fn a_stack_may_not_have_more_than_1024_frames() {
    let mut raw = varints(&[1, 1, 1025]);
    raw.extend(vec![0u8; 1025]);
    assert_eq!(
        decode_error(&trace_with(BlockKind::Stacks, &raw)),
        "block at byte 67 is corrupt: 1025 frames, more than the 1024 a block may hold"
    );
}

#[test]
fn a_size_larger_than_the_address_space_is_refused() {
    let raw = events_payload(7, &[(1, 0, 5, MAX_EVENT_SIZE + 1)]);
    assert_eq!(
        decode_error(&trace_with(BlockKind::Events, &raw)),
        "block at byte 67 is corrupt: size 72057594037927937 is beyond the limit of 72057594037927936"
    );
}

/// Issue 17: one event at 2^63 ns made `timeline` ask for 51 TB. Times past 2^62 ns,
/// and deltas that would wrap, are damage.
#[test]
fn times_past_the_limit_or_wrapping_are_refused() {
    let at_2_63 = events_payload(7, &[(1, 0, 1 << 62, 8), (1, 0, 1 << 62, 8)]);
    assert_eq!(
        decode_error(&trace_with(BlockKind::Events, &at_2_63)),
        "block at byte 67 is corrupt: time 9223372036854775808 is beyond the limit of 4611686018427387904"
    );
    let below_zero = events_payload(7, &[(1, 0, 5, 8), (1, 0, -6, 8)]);
    assert_eq!(
        decode_error(&trace_with(BlockKind::Events, &below_zero)),
        "block at byte 67 is corrupt: time 18446744073709551615 is beyond the limit of 4611686018427387904"
    );
}

/// Issue 17: a 104 KB file made `summary` allocate 3 GiB: raw lengths of 256 MiB were
/// allocated as claimed. A claim that the zstd frame does not make is refused before
/// anything is allocated, and an events block may not claim more than its events need.
#[test]
fn a_raw_length_claim_allocates_nothing() {
    let raw = varints(&[0]);
    let payload = zstd::bulk::compress(&raw, 1).unwrap();
    let start = block_with(BlockKind::SegmentStart as u8, 1, 60 << 20, &payload);
    let bytes = [file_header(), block(1, 0, &meta_payload()), start].concat();
    assert_eq!(decode_error(&bytes), "block at byte 67 does not decompress");
    let events = block_with(BlockKind::Events as u8, 1, 60 << 20, &payload);
    let bytes = [file_header(), block(1, 0, &meta_payload()), events].concat();
    assert_eq!(
        decode_error(&bytes),
        "block at byte 67 claims 62914560 bytes, more than a block may hold"
    );
}

/// A version 4 header may not claim more than 64 MiB: the reader looks for the next
/// block instead of trusting it.
#[test]
fn a_header_claiming_a_huge_payload_is_damage() {
    let huge = block_with(BlockKind::Events as u8, 1, 100, &[0; 8]);
    let mut lying = huge.clone();
    lying[13..17].copy_from_slice(&(65u32 << 20).to_le_bytes());
    let crc = common::crc32(&lying[..25]);
    lying[25..29].copy_from_slice(&crc.to_le_bytes());
    let end = block(7, 2, &varints(&[10, 0, 0, 0, 0]));
    let bytes = [file_header(), block(1, 0, &meta_payload()), lying, end].concat();
    let trace = Trace::parse(&bytes).unwrap();
    let damage: Vec<String> = trace.damage().iter().map(|d| d.error.to_string()).collect();
    assert_eq!(damage, ["block at byte 67 claims 68157440 bytes, more than a block may hold"]);
    assert_eq!(trace.blocks().len(), 2);
}

/// Decoding a full block of the largest events allocates what its events take, no more.
#[test]
fn a_full_events_block_decodes_in_bounded_memory() {
    let events: Vec<(u64, u64, i64, u64)> = (0..65_536).map(|_| (1, 0, 1, 1 << 40)).collect();
    let bytes = trace_with(BlockKind::Events, &events_payload(7, &events));
    let (result, held) = decode_second(&bytes);
    let Ok(Record::Events(batch)) = result else { panic!("{result:?}") };
    assert_eq!(batch.events.len(), 65_536);
    // The payload (8 bytes per event) and the events (24 bytes each).
    assert!(held < 65_536 * (24 + 8) + (64 << 10), "held {held} bytes");
}
