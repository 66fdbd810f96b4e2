//! Bytes for the format tests, built by hand from the layout the format documents, so
//! that the tests do not trust the crate under test to describe its own output.

#![allow(dead_code)]

use std::ops::Range;

mod crc;

pub use crc::crc32;

/// LEB128.
pub fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Zigzag LEB128.
pub fn signed(out: &mut Vec<u8>, value: i64) {
    varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Varints, one after another.
pub fn varints(values: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    values.iter().for_each(|&v| varint(&mut out, v));
    out
}

/// A version 4 file header.
pub fn file_header() -> Vec<u8> {
    let mut out = b"MEMSCOPE".to_vec();
    out.extend_from_slice(&4u32.to_le_bytes());
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A version 4 block of `kind` numbered `seq` holding `raw`, compressed.
pub fn block(kind: u8, seq: u64, raw: &[u8]) -> Vec<u8> {
    let payload = zstd::bulk::compress(raw, 1).expect("compress");
    block_with(kind, seq, raw.len() as u32, &payload)
}

/// A version 4 block with the given raw length and stored payload, both checksums right.
pub fn block_with(kind: u8, seq: u64, raw_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = b"MSBK".to_vec();
    out.push(kind);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&raw_len.to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A meta block's payload: pid 1, exe "/x", no arguments, dwarf, 64 frames.
pub fn meta_payload() -> Vec<u8> {
    let mut out = varints(&[1, 0, 2]);
    out.extend_from_slice(b"/x");
    out.extend(varints(&[0, 5]));
    out.extend_from_slice(b"dwarf");
    out.extend(varints(&[64]));
    out
}

/// An events payload: `events` as (stack, kind, time delta in ns, size).
pub fn events_payload(thread: u64, events: &[(u64, u64, i64, u64)]) -> Vec<u8> {
    let (mut stacks, mut times, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    for &(stack, kind, delta, size) in events {
        varint(&mut stacks, (stack << 2) | kind);
        signed(&mut times, delta);
        varint(&mut sizes, size);
    }
    let mut out =
        varints(&[thread, events.len() as u64, 1, stacks.len() as u64, times.len() as u64]);
    out.extend(stacks);
    out.extend(times);
    out.extend(sizes);
    out
}

/// Where each version 4 block starts and ends, read with the documented layout: a
/// 16-byte file header, then blocks of a 29-byte header (marker, kind, sequence number,
/// compressed length at 13, raw length, payload CRC, header CRC) and the payload.
pub fn block_ranges(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut blocks = Vec::new();
    let mut at = 16;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 13..at + 17].try_into().expect("4 bytes"));
        let end = at + 29 + len as usize;
        blocks.push(at..end);
        at = end;
    }
    assert_eq!(at, bytes.len(), "the blocks do not end where the file does");
    blocks
}
