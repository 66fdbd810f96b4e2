use std::ops::Range;

use crate::block::{
    BLOCK_HEADER_LEN, FILE_HEADER_LEN, LEGACY_BLOCK_HEADER_LEN, LEGACY_MAX_BLOCK_LEN, MAGIC,
    MAX_BLOCK_LEN, OLDEST_VERSION, VERSION,
};
use crate::codec::{self, BlockKind, MAX_BLOCK_EVENTS, MAX_BLOCK_SAMPLES};
use crate::damage::Damage;
use crate::error::FormatError;
use crate::event_reader::EventReader;
use crate::index::{index, index_legacy, Index};
use crate::record::{Meta, Record};

/// Where one block sits in the file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// Byte offset of the block header.
    pub offset: u64,
    /// What the block holds.
    pub kind: BlockKind,
    /// Its sequence number: blocks count from 0, the meta block, in the order they were
    /// written (in versions 2 and 3, which carry no numbers, the block's place in the
    /// file).
    pub seq: u64,
    /// Payload bytes in the file.
    pub compressed_len: u32,
    /// Payload bytes once decompressed.
    pub raw_len: u32,
    header_len: u8,
}

impl BlockRef {
    pub(crate) fn new(
        offset: u64,
        kind: BlockKind,
        seq: u64,
        compressed_len: u32,
        raw_len: u32,
        legacy: bool,
    ) -> BlockRef {
        let header_len = if legacy { LEGACY_BLOCK_HEADER_LEN } else { BLOCK_HEADER_LEN } as u8;
        BlockRef { offset, kind, seq, compressed_len, raw_len, header_len }
    }

    /// Where the payload starts in the file.
    pub fn payload_offset(&self) -> u64 {
        self.offset + u64::from(self.header_len)
    }

    /// Whether the block has a version 2 or 3 header.
    fn is_legacy(&self) -> bool {
        usize::from(self.header_len) == LEGACY_BLOCK_HEADER_LEN
    }

    /// Where the block ends in the file (exclusive).
    pub fn end(&self) -> u64 {
        self.payload_offset() + u64::from(self.compressed_len)
    }
}

/// A trace opened for reading: its blocks are indexed and checksummed up front (cheap:
/// nothing is decompressed), and each segment can then be decoded on its own thread.
///
/// Damage does not make the trace unreadable. Every intact block is kept, in the order
/// of its sequence number, and [`Trace::damage`] lists what could not be read: the
/// byte ranges skipped, blocks missing, repeated or moved, and a missing end record.
pub struct Trace<'a> {
    data: &'a [u8],
    version: u32,
    blocks: Vec<BlockRef>,
    segments: Vec<Range<usize>>,
    damage: Vec<Damage>,
}

impl<'a> Trace<'a> {
    /// Checks the file header and indexes the blocks. Fails only when nothing at all is
    /// readable: an empty file, another file type, or another format version.
    pub fn parse(data: &'a [u8]) -> Result<Self, FormatError> {
        Trace::parse_with(data, |_| {})
    }

    /// [`Trace::parse`], calling `checked` with the byte range of each block once its
    /// checksum is verified: a caller that maps the file can let go of pages it has read.
    pub fn parse_with(
        data: &'a [u8],
        checked: impl FnMut(Range<u64>),
    ) -> Result<Self, FormatError> {
        let (version, header_damage) = check_file_header(data)?;
        let Index { blocks, mut damage } = match version {
            VERSION => index(data, FILE_HEADER_LEN, checked),
            _ => index_legacy(data, FILE_HEADER_LEN, checked),
        };
        damage.splice(0..0, header_damage);
        let segments = segment_ranges(&blocks);
        Ok(Trace { data, version, blocks, segments, damage })
    }

    /// The format version the file was written in.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Every intact block, in sequence order.
    pub fn blocks(&self) -> &[BlockRef] {
        &self.blocks
    }

    /// What could not be read, in file order; empty for an intact trace.
    pub fn damage(&self) -> &[Damage] {
        &self.damage
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// True if the file holds no intact block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Block index ranges of the segments; each begins with a `SegmentStart` block.
    /// Blocks before the first segment start, other than the meta block, belong to none.
    pub fn segments(&self) -> &[Range<usize>] {
        &self.segments
    }

    /// The preamble: who was recorded, how.
    pub fn meta(&self) -> Result<Meta, FormatError> {
        let first = self.blocks.first().filter(|b| b.kind == BlockKind::Meta && b.seq == 0);
        match first.map(|block| self.decode_block(block)) {
            Some(Ok(Record::Meta(meta))) => Ok(meta),
            Some(Err(err)) => Err(err),
            _ => Err(FormatError::MissingMeta),
        }
    }

    /// Decompresses and decodes one block.
    pub fn decode_block(&self, block: &BlockRef) -> Result<Record, FormatError> {
        let raw = self.decompress(block)?;
        codec::decode(block.kind, &raw)
            .map_err(|source| FormatError::Decode { offset: block.offset, source })
    }

    /// Decompresses an events block and returns a reader that decodes its events one at
    /// a time, for readers that keep many blocks open at once.
    pub fn events(&self, block: &BlockRef) -> Result<EventReader, FormatError> {
        EventReader::from_compressed(block, self.payload(block))
    }

    /// A block's payload, as stored (compressed).
    fn payload(&self, block: &BlockRef) -> &'a [u8] {
        let start = block.payload_offset() as usize;
        self.data.get(start..start + block.compressed_len as usize).unwrap_or_default()
    }

    fn decompress(&self, block: &BlockRef) -> Result<Vec<u8>, FormatError> {
        decompress(block, self.payload(block))
    }

    /// Decodes the blocks of one segment in order.
    pub fn segment_records(
        &self,
        segment: usize,
    ) -> impl Iterator<Item = (BlockRef, Result<Record, FormatError>)> + '_ {
        self.blocks[self.segments[segment].clone()]
            .iter()
            .map(move |block| (*block, self.decode_block(block)))
    }
}

/// The most bytes a block of `kind` may decompress to. Events and samples have fixed
/// counts per block, and the version 4 writer splits stack tables, so their payloads
/// are small; a larger claim is damage, refused before anything is allocated for it.
/// Versions 2 and 3 wrote each stack table in one block.
fn max_raw_len(kind: BlockKind, legacy: bool) -> u64 {
    const MIB: u64 = 1 << 20;
    match kind {
        // Three varints of at most ten bytes per event, and a head of six varints.
        BlockKind::Events => MAX_BLOCK_EVENTS * 30 + 60,
        BlockKind::Rss => MAX_BLOCK_SAMPLES * 20 + 10,
        BlockKind::Stacks if !legacy => 4 * MIB,
        BlockKind::Meta | BlockKind::End if !legacy => 4 * MIB,
        _ if legacy => u64::from(LEGACY_MAX_BLOCK_LEN),
        _ => u64::from(MAX_BLOCK_LEN),
    }
}

/// Decompresses `compressed`, the payload of `block`. The block's raw length must be
/// the one its zstd frame declares and within what its kind may hold, so what is
/// allocated is what the payload really decompresses to.
pub(crate) fn decompress(block: &BlockRef, compressed: &[u8]) -> Result<Vec<u8>, FormatError> {
    let fail = FormatError::Decompress { offset: block.offset };
    let raw_len = u64::from(block.raw_len);
    if raw_len > max_raw_len(block.kind, block.is_legacy()) {
        return Err(FormatError::TooLarge { offset: block.offset, len: raw_len });
    }
    match zstd::zstd_safe::get_frame_content_size(compressed) {
        Ok(Some(declared)) if declared == raw_len => {}
        _ => return Err(fail),
    }
    let raw = zstd::bulk::decompress(compressed, block.raw_len as usize).map_err(|_| fail)?;
    if raw.len() != block.raw_len as usize {
        return Err(FormatError::Decompress { offset: block.offset });
    }
    Ok(raw)
}

/// The version the header names, and damage to the header itself. A version 4 header
/// whose version field was damaged is still known by its checksum, which covers the
/// version the writer wrote.
fn check_file_header(data: &[u8]) -> Result<(u32, Option<Damage>), FormatError> {
    if data.is_empty() {
        return Err(FormatError::Empty);
    }
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        return Err(FormatError::NotATrace);
    }
    if data.len() < FILE_HEADER_LEN {
        return Err(FormatError::Truncated { offset: 0 });
    }
    let word = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let (version, stored_crc) = (word(8), word(12));
    let damaged = || {
        let error = FormatError::BadFileHeader;
        Some(Damage { offset: 0, length: FILE_HEADER_LEN as u64, error })
    };
    if version == VERSION {
        let intact = crc32fast::hash(&data[..12]) == stored_crc;
        return Ok((VERSION, if intact { None } else { damaged() }));
    }
    let mut as_written = [0u8; 12];
    as_written[..8].copy_from_slice(MAGIC);
    as_written[8..].copy_from_slice(&VERSION.to_le_bytes());
    if crc32fast::hash(&as_written) == stored_crc {
        return Ok((VERSION, damaged()));
    }
    if !(OLDEST_VERSION..VERSION).contains(&version) {
        return Err(FormatError::UnsupportedVersion {
            found: version,
            oldest: OLDEST_VERSION,
            newest: VERSION,
        });
    }
    Ok((version, None))
}

fn segment_ranges(blocks: &[BlockRef]) -> Vec<Range<usize>> {
    let starts: Vec<usize> = blocks
        .iter()
        .enumerate()
        .filter(|(_, block)| block.kind == BlockKind::SegmentStart)
        .map(|(index, _)| index)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| start..starts.get(i + 1).copied().unwrap_or(blocks.len()))
        .collect()
}
