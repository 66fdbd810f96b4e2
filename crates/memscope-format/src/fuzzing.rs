//! The decoders one at a time, for the fuzz targets in `fuzz/` (feature `fuzzing`).
//! Not a stable interface: a trace is read through [`crate::Trace`].

use crate::block::BlockHeader;
use crate::codec::{self, BlockKind};
use crate::error::{DecodeError, FormatError};
use crate::event_reader::EventReader;
use crate::record::{Event, Record};

/// A version 4 block header's fields, if `bytes` start with one that verifies:
/// (kind, sequence number, compressed length, raw length, payload CRC). A header that
/// verifies is written back to the same bytes.
pub fn block_header(bytes: &[u8]) -> Option<(u8, u64, u32, u32, u32)> {
    let header = BlockHeader::parse(bytes)?;
    assert_eq!(header.to_bytes()[..], bytes[..crate::BLOCK_HEADER_LEN], "header round trip");
    Some((header.kind, header.seq, header.compressed_len, header.raw_len, header.payload_crc))
}

/// Decodes a decompressed payload as a block of `kind`.
pub fn decode(kind: BlockKind, raw: &[u8]) -> Result<Record, DecodeError> {
    codec::decode(kind, raw)
}

/// Decodes a decompressed events payload column by column, as [`EventReader`] does,
/// and checks that it agrees with decoding the whole block at once.
pub fn event_columns(raw: &[u8]) -> Result<Vec<Event>, FormatError> {
    let lazily: Result<Vec<Event>, FormatError> =
        EventReader::from_raw(raw.to_vec(), 0).and_then(|reader| reader.collect());
    let whole = codec::decode(BlockKind::Events, raw);
    match (&lazily, &whole) {
        (Ok(events), Ok(Record::Events(batch))) => assert_eq!(events, &batch.events),
        (Ok(_), Ok(other)) => panic!("an events payload decoded as {other:?}"),
        (Ok(_), Err(err)) => panic!("the reader took what the block decoder refused: {err}"),
        (Err(_), Ok(_)) => panic!("the block decoder took what the reader refused"),
        (Err(_), Err(_)) => {}
    }
    lazily
}

/// The kind and decompressed payload of every intact block of a trace, to seed the
/// fuzz targets' corpora from real traces.
pub fn raw_payloads(data: &[u8]) -> Vec<(BlockKind, Vec<u8>)> {
    let Ok(trace) = crate::Trace::parse(data) else { return Vec::new() };
    trace
        .blocks()
        .iter()
        .filter_map(|block| {
            let start = block.payload_offset() as usize;
            let compressed = data.get(start..block.end() as usize)?;
            Some((block.kind, crate::reader::decompress(block, compressed).ok()?))
        })
        .collect()
}
