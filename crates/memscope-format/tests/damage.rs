//! Each kind of damage to a version 4 trace's framing is found at its exact byte, the
//! exact bytes are skipped, and every block after them is still read.

mod common;

use std::ops::Range;

use common::block_ranges;
use memscope_format::*;

fn event(time_ns: u64, size: u64) -> Event {
    Event { time_ns, size, stack: StackId(1), kind: EventKind::Alloc }
}

/// Two segments of three blocks each (checkpoint, stacks, events), then the end record:
/// eight blocks, numbered 0 to 7.
fn two_segments() -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = TraceWriter::new(&mut bytes, &Meta::default(), 1).unwrap();
    for (index, time_ns) in [(0, 0), (1, 1000)] {
        writer.write_segment_start(&SegmentStart { index, time_ns, ..Default::default() }).unwrap();
        writer.write_stacks(&[StackDef { id: StackId(1), frames: vec![0x1000] }]).unwrap();
        writer.write_events(ThreadId(1), &[event(time_ns + 1, 8), event(time_ns + 2, 16)]).unwrap();
    }
    writer.write_end(&End { time_ns: 3000, ..End::default() }).unwrap();
    drop(writer);
    bytes
}

/// The damage found, as (offset, length, message).
fn damage(bytes: &[u8]) -> Vec<(u64, u64, String)> {
    let trace = Trace::parse(bytes).unwrap();
    trace.damage().iter().map(|d| (d.offset, d.length, d.error.to_string())).collect()
}

/// The sequence numbers and kinds of the blocks read.
fn blocks_read(bytes: &[u8]) -> Vec<(u64, BlockKind)> {
    Trace::parse(bytes).unwrap().blocks().iter().map(|b| (b.seq, b.kind)).collect()
}

fn all_blocks() -> Vec<(u64, BlockKind)> {
    use BlockKind::*;
    let kinds = [Meta, SegmentStart, Stacks, Events, SegmentStart, Stacks, Events, End];
    kinds.into_iter().enumerate().map(|(seq, kind)| (seq as u64, kind)).collect()
}

/// All blocks but those numbered in `lost`.
fn all_blocks_but(lost: Range<u64>) -> Vec<(u64, BlockKind)> {
    all_blocks().into_iter().filter(|(seq, _)| !lost.contains(seq)).collect()
}

fn len(range: &Range<usize>) -> u64 {
    (range.end - range.start) as u64
}

#[test]
fn an_intact_trace_has_no_damage() {
    let bytes = two_segments();
    assert_eq!(damage(&bytes), []);
    assert_eq!(blocks_read(&bytes), all_blocks());
    assert_eq!(Trace::parse(&bytes).unwrap().segments(), [1..4, 4..8]);
}

/// Issue 17: the kind byte lay outside the checksum, so changing it on a segment-start
/// block gave silently wrong reports. Now the header's checksum fails, and the block's
/// bytes, exactly, are reported and skipped.
#[test]
fn a_changed_kind_byte_is_damage_of_its_block() {
    let bytes = two_segments();
    let blocks = block_ranges(&bytes);
    let start = blocks[4].clone();
    for kind in [0u8, 1, 3, 5, 7, 0xee] {
        let mut damaged = bytes.clone();
        damaged[start.start + 4] = kind;
        let message = format!("no valid block header at byte {}", start.start);
        assert_eq!(damage(&damaged), [(start.start as u64, len(&start), message)], "kind {kind}");
        assert_eq!(blocks_read(&damaged), all_blocks_but(4..5));
    }
}

/// A payload byte changed: the header verifies, so its length is trusted and exactly
/// that block is skipped.
#[test]
fn a_changed_payload_byte_is_damage_of_its_block() {
    let bytes = two_segments();
    let blocks = block_ranges(&bytes);
    let target = blocks[3].clone();
    let mut damaged = bytes.clone();
    damaged[target.end - 1] ^= 0x40;
    let message = format!("checksum mismatch in block at byte {}", target.start);
    assert_eq!(damage(&damaged), [(target.start as u64, len(&target), message)]);
    assert_eq!(blocks_read(&damaged), all_blocks_but(3..4));
}

/// Every header byte is covered: a change anywhere in it is found at that block.
#[test]
fn every_header_byte_is_under_a_checksum() {
    let bytes = two_segments();
    let target = block_ranges(&bytes)[2].clone();
    for at in target.start..target.start + BLOCK_HEADER_LEN {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        let found = damage(&damaged);
        assert_eq!(found.len(), 1, "byte {at}: {found:?}");
        assert_eq!((found[0].0, found[0].1), (target.start as u64, len(&target)), "byte {at}");
        assert_eq!(blocks_read(&damaged), all_blocks_but(2..3), "byte {at}");
    }
}

/// Issue 17: a whole valid block dropped went unnoticed.
#[test]
fn a_dropped_block_is_named_by_its_number() {
    let bytes = two_segments();
    let blocks = block_ranges(&bytes);
    let dropped = [&bytes[..blocks[3].start], &bytes[blocks[3].end..]].concat();
    let message = format!("block #3 is missing before byte {}", blocks[3].start);
    assert_eq!(damage(&dropped), [(blocks[3].start as u64, 0, message)]);
    assert_eq!(blocks_read(&dropped), all_blocks_but(3..4));
    let two = [&bytes[..blocks[2].start], &bytes[blocks[4].start..]].concat();
    let message = format!("blocks #2 to #3 are missing before byte {}", blocks[2].start);
    assert_eq!(damage(&two), [(blocks[2].start as u64, 0, message)]);
}

/// Issue 17: a whole valid block repeated changed every figure without a warning.
#[test]
fn a_repeated_block_is_reported_and_ignored() {
    let bytes = two_segments();
    let blocks = block_ranges(&bytes);
    let events = &bytes[blocks[3].clone()];
    let repeated = [&bytes[..blocks[4].start], events, &bytes[blocks[4].start..]].concat();
    let message = format!(
        "block #3 at byte {} repeats the block at byte {}; ignored",
        blocks[4].start, blocks[3].start
    );
    assert_eq!(damage(&repeated), [(blocks[4].start as u64, len(&blocks[3]), message)]);
    assert_eq!(blocks_read(&repeated), all_blocks());
}

/// Two blocks swapped: the one that comes late is named, and both are read in the
/// order of their numbers.
#[test]
fn swapped_blocks_are_read_in_sequence_order() {
    let bytes = two_segments();
    let blocks = block_ranges(&bytes);
    let swapped = [
        &bytes[..blocks[2].start],
        &bytes[blocks[3].clone()],
        &bytes[blocks[2].clone()],
        &bytes[blocks[4].start..],
    ]
    .concat();
    let at = blocks[2].start + blocks[3].len();
    let message = format!("block #2 at byte {at} comes after block #3; read in sequence order");
    assert_eq!(damage(&swapped), [(at as u64, len(&blocks[2]), message)]);
    assert_eq!(blocks_read(&swapped), all_blocks());
}

/// Issue 17: a trace cut exactly at a block boundary said nothing in most reports. The
/// reader names it.
#[test]
fn a_cut_at_a_block_boundary_is_reported() {
    let bytes = two_segments();
    let blocks = block_ranges(&bytes);
    for cut in [blocks[4].start, blocks[7].start] {
        let message = format!("the trace ends at byte {cut} without an end record");
        assert_eq!(damage(&bytes[..cut]), [(cut as u64, 0, message)]);
    }
}

#[test]
fn a_cut_inside_a_block_loses_that_block_only() {
    let bytes = two_segments();
    let blocks = block_ranges(&bytes);
    let last = blocks[6].clone();
    for cut in [last.start + 3, last.start + BLOCK_HEADER_LEN, last.end - 1] {
        let message = format!("truncated at byte {}", last.start);
        assert_eq!(
            damage(&bytes[..cut]),
            [(last.start as u64, (cut - last.start) as u64, message)]
        );
        assert_eq!(blocks_read(&bytes[..cut]), all_blocks_but(6..8));
    }
}

/// Bytes overwritten across two blocks in the first segment: the reader skips to the
/// next header that verifies and reads the second segment whole.
#[test]
fn damage_mid_file_is_read_around() {
    let bytes = two_segments();
    let blocks = block_ranges(&bytes);
    let mut damaged = bytes.clone();
    let from = blocks[2].start + 5;
    damaged[from..blocks[3].start + 10].fill(0xa5);
    let message = format!("no valid block header at byte {}", blocks[2].start);
    let lost = (blocks[4].start - blocks[2].start) as u64;
    assert_eq!(damage(&damaged), [(blocks[2].start as u64, lost, message)]);
    assert_eq!(blocks_read(&damaged), all_blocks_but(2..4));
    assert_eq!(Trace::parse(&damaged).unwrap().segments(), [1..2, 2..6]);
}

/// Bytes inserted between two blocks, or cut out of one: the stretch that no header
/// starts is named, and every block after it is read.
#[test]
fn inserted_and_deleted_bytes_are_found() {
    let bytes = two_segments();
    let blocks = block_ranges(&bytes);
    let at = blocks[5].start;
    let inserted = [&bytes[..at], &[0x4d, 0x53, 0x42, 0x4b, 9, 9, 9][..], &bytes[at..]].concat();
    assert_eq!(damage(&inserted), [(at as u64, 7, format!("no valid block header at byte {at}"))]);
    assert_eq!(blocks_read(&inserted), all_blocks());
    let inside = blocks[5].start + BLOCK_HEADER_LEN + 1;
    let deleted = [&bytes[..inside], &bytes[inside + 2..]].concat();
    // The header still verifies and claims the old length, which now reaches 2 bytes
    // into the next block: that block's checksum fails, then the next header is 2 bytes
    // into a header, and the reader scans on to the end record's.
    let (five, six, seven) = (blocks[5].clone(), blocks[6].start, blocks[7].start - 2);
    assert_eq!(
        damage(&deleted),
        [
            (
                five.start as u64,
                len(&five),
                format!("checksum mismatch in block at byte {}", five.start)
            ),
            (six as u64, (seven - six) as u64, format!("no valid block header at byte {six}")),
        ]
    );
    assert_eq!(blocks_read(&deleted), all_blocks_but(5..7));
}

/// Garbage where the trace should be: nothing is read, and no time is wasted on it.
#[test]
fn a_file_of_markers_is_scanned_once() {
    let mut bytes = common::file_header();
    for _ in 0..200_000 {
        bytes.extend_from_slice(BLOCK_SYNC);
    }
    let started = std::time::Instant::now();
    let trace = Trace::parse(&bytes).unwrap();
    assert!(trace.blocks().is_empty());
    assert_eq!(damage(&bytes), [(16, 800_000, "no valid block header at byte 16".to_owned())]);
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
}
