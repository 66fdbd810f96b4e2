//! Finding the blocks of a trace and the damage between them, without decompressing
//! anything: each block's checksums are verified, and in version 4 a damaged stretch is
//! skipped by scanning for the next header that verifies.

use std::collections::HashMap;
use std::ops::Range;

use crate::block::{
    BlockHeader, LegacyBlockHeader, BLOCK_HEADER_LEN, BLOCK_SYNC, LEGACY_BLOCK_HEADER_LEN,
    LEGACY_MAX_BLOCK_LEN, MAX_BLOCK_LEN,
};
use crate::codec::BlockKind;
use crate::damage::Damage;
use crate::error::FormatError;
use crate::reader::BlockRef;

/// The intact blocks of a trace, by sequence number, and the damage found.
pub(crate) struct Index {
    pub blocks: Vec<BlockRef>,
    pub damage: Vec<Damage>,
}

/// Indexes a version 4 trace's blocks from byte `start`, calling `checked` with each
/// intact block's byte range.
pub(crate) fn index(data: &[u8], start: usize, mut checked: impl FnMut(Range<u64>)) -> Index {
    let mut blocks = Vec::new();
    let mut damage = Vec::new();
    let mut offset = start;
    while offset < data.len() {
        match check_block(data, offset) {
            Ok(block) => {
                checked(block.offset..block.end());
                offset = block.end() as usize;
                blocks.push(block);
            }
            Err((error, resume)) => {
                damage.push(Damage::bytes(offset as u64, resume as u64, error));
                offset = resume;
            }
        }
    }
    let mut index = Index { blocks, damage };
    index.order_by_sequence();
    index.note_missing_blocks(start as u64);
    index.note_missing_end(data.len() as u64);
    index.damage.sort_by_key(|d| (d.offset, d.length));
    index
}

/// Indexes a version 2 or 3 trace: its headers carry no checksum and no marker, so
/// nothing after the first damaged block can be trusted.
pub(crate) fn index_legacy(
    data: &[u8],
    start: usize,
    mut checked: impl FnMut(Range<u64>),
) -> Index {
    let mut blocks = Vec::new();
    let mut damage = Vec::new();
    let mut offset = start;
    while offset < data.len() {
        match check_legacy_block(data, offset, blocks.len() as u64) {
            Ok(block) => {
                checked(block.offset..block.end());
                offset = block.end() as usize;
                blocks.push(block);
            }
            Err(error) => {
                damage.push(Damage::bytes(offset as u64, data.len() as u64, error));
                break;
            }
        }
    }
    let mut index = Index { blocks, damage };
    index.note_missing_end(data.len() as u64);
    index
}

/// The block at `offset`, or what is wrong there and where reading resumes.
fn check_block(data: &[u8], offset: usize) -> Result<BlockRef, (FormatError, usize)> {
    let at = offset as u64;
    let rest = &data[offset..];
    let Some(header) = BlockHeader::parse(rest) else {
        let resume = next_header(data, offset + 1);
        let error = if rest.len() < BLOCK_HEADER_LEN && resume == data.len() {
            FormatError::Truncated { offset: at }
        } else {
            FormatError::NoBlockHeader { offset: at }
        };
        return Err((error, resume));
    };
    let len = header.compressed_len.max(header.raw_len);
    if len > MAX_BLOCK_LEN {
        let error = FormatError::TooLarge { offset: at, len: len.into() };
        return Err((error, next_header(data, offset + 1)));
    }
    let end = offset + BLOCK_HEADER_LEN + header.compressed_len as usize;
    if end > data.len() {
        // The header verifies, so the length is what the writer wrote: the file was cut.
        // A header further on that verifies too means this one was made to lie.
        let resume = next_header(data, offset + 1);
        let error = match resume == data.len() {
            true => FormatError::Truncated { offset: at },
            false => FormatError::TooLarge { offset: at, len: header.compressed_len.into() },
        };
        return Err((error, resume));
    }
    let payload = &data[offset + BLOCK_HEADER_LEN..end];
    let Some(kind) = BlockKind::from_byte(header.kind) else {
        return Err((FormatError::BadBlockKind { offset: at, kind: header.kind }, end));
    };
    if crc32fast::hash(payload) != header.payload_crc {
        return Err((FormatError::BadChecksum { offset: at }, end));
    }
    Ok(BlockRef::new(at, kind, header.seq, header.compressed_len, header.raw_len, false))
}

/// The first offset from `from` at which a header verifies, or the file's length.
/// Every byte is looked at once, and only a marker costs a checksum of a header's
/// bytes, so a hostile file cannot make this slow.
fn next_header(data: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(found) = data.get(at..).and_then(find_sync) {
        let candidate = at + found;
        if BlockHeader::parse(&data[candidate..]).is_some() {
            return candidate;
        }
        at = candidate + 1;
    }
    data.len()
}

fn find_sync(bytes: &[u8]) -> Option<usize> {
    bytes.windows(BLOCK_SYNC.len()).position(|window| window == BLOCK_SYNC)
}

fn check_legacy_block(data: &[u8], offset: usize, seq: u64) -> Result<BlockRef, FormatError> {
    let at = offset as u64;
    let header =
        LegacyBlockHeader::parse(&data[offset..]).ok_or(FormatError::Truncated { offset: at })?;
    let kind = BlockKind::from_byte(header.kind)
        .ok_or(FormatError::BadBlockKind { offset: at, kind: header.kind })?;
    let len = header.compressed_len.max(header.raw_len);
    if len > LEGACY_MAX_BLOCK_LEN {
        return Err(FormatError::TooLarge { offset: at, len: len.into() });
    }
    let start = offset + LEGACY_BLOCK_HEADER_LEN;
    let payload = data
        .get(start..start + header.compressed_len as usize)
        .ok_or(FormatError::Truncated { offset: at })?;
    if crc32fast::hash(payload) != header.payload_crc {
        return Err(FormatError::BadChecksum { offset: at });
    }
    Ok(BlockRef::new(at, kind, seq, header.compressed_len, header.raw_len, true))
}

impl Index {
    /// Puts the blocks in sequence order. A block whose number was seen before is a
    /// repeat and is dropped; one whose number is below one seen before was moved, and
    /// is read in its place.
    fn order_by_sequence(&mut self) {
        let mut seen: HashMap<u64, u64> = HashMap::with_capacity(self.blocks.len());
        let mut highest: Option<u64> = None;
        let mut kept = Vec::with_capacity(self.blocks.len());
        for block in std::mem::take(&mut self.blocks) {
            let (offset, seq) = (block.offset, block.seq);
            if let Some(&first) = seen.get(&seq) {
                let error = FormatError::RepeatedBlock { offset, seq, first };
                self.damage.push(Damage::bytes(offset, block.end(), error));
                continue;
            }
            if let Some(after) = highest.filter(|&highest| seq < highest) {
                let error = FormatError::OutOfOrder { offset, seq, after };
                self.damage.push(Damage::bytes(offset, block.end(), error));
            }
            seen.insert(seq, offset);
            highest = highest.max(Some(seq));
            kept.push(block);
        }
        kept.sort_by_key(|block| block.seq);
        self.blocks = kept;
    }

    /// Notes each jump in the sequence numbers that no damaged bytes explain: whole
    /// blocks are missing from the file there.
    fn note_missing_blocks(&mut self, start: u64) {
        let mut missing = Vec::new();
        let mut expected = 0u64;
        let mut previous_end = start;
        for block in &self.blocks {
            let explained = self
                .damage
                .iter()
                .any(|d| d.offset >= previous_end && d.offset < block.offset && d.length > 0);
            if block.seq > expected && !explained {
                let (first, last) = (expected, block.seq - 1);
                let error = FormatError::MissingBlocks { offset: block.offset, first, last };
                missing.push(Damage { offset: block.offset, length: 0, error });
            }
            expected = block.seq.saturating_add(1);
            previous_end = block.end();
        }
        self.damage.extend(missing);
    }

    /// Notes a trace whose last block is not an end record, unless damage at its tail
    /// already says where it stops.
    fn note_missing_end(&mut self, file_len: u64) {
        let ends = self.blocks.last().is_some_and(|block| block.kind == BlockKind::End);
        let tail_damaged = self.damage.iter().any(|d| d.end() == file_len && d.length > 0);
        if !ends && !tail_damaged && !self.blocks.is_empty() {
            let error = FormatError::NoEnd { offset: file_len };
            self.damage.push(Damage { offset: file_len, length: 0, error });
        }
    }
}
