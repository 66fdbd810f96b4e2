use std::ops::Range;

use crate::block::{
    RawBlockHeader, BLOCK_HEADER_LEN, FILE_HEADER_LEN, MAGIC, MAX_BLOCK_LEN, OLDEST_VERSION,
    VERSION,
};
use crate::codec::{self, BlockKind};
use crate::error::FormatError;
use crate::event_reader::EventReader;
use crate::record::{Meta, Record};

/// Where one block sits in the file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// Byte offset of the block header.
    pub offset: u64,
    /// What the block holds.
    pub kind: BlockKind,
    /// Payload bytes in the file.
    pub compressed_len: u32,
    /// Payload bytes once decompressed.
    pub raw_len: u32,
}

/// A trace opened for reading: its blocks are indexed and checksummed up front (cheap:
/// nothing is decompressed), and each segment can then be decoded on its own thread.
///
/// A damaged or truncated tail does not make the trace unreadable: every block before
/// the damage is kept, and [`Trace::damage`] says where it starts.
pub struct Trace<'a> {
    data: &'a [u8],
    blocks: Vec<BlockRef>,
    segments: Vec<Range<usize>>,
    damage: Option<FormatError>,
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
        check_file_header(data)?;
        let (blocks, damage) = index_blocks(data, checked);
        let segments = segment_ranges(&blocks);
        Ok(Trace { data, blocks, segments, damage })
    }

    /// Every intact block, in file order.
    pub fn blocks(&self) -> &[BlockRef] {
        &self.blocks
    }

    /// The first problem found while indexing, if the file is damaged or truncated.
    pub fn damage(&self) -> Option<&FormatError> {
        self.damage.as_ref()
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// True if the file holds nothing but its header.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Block index ranges of the segments; each begins with a `SegmentStart` block.
    pub fn segments(&self) -> &[Range<usize>] {
        &self.segments
    }

    /// The preamble: who was recorded, how.
    pub fn meta(&self) -> Result<Meta, FormatError> {
        match self.blocks.first().map(|block| self.decode_block(block)) {
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
        let start = block.offset as usize + BLOCK_HEADER_LEN;
        &self.data[start..start + block.compressed_len as usize]
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

/// Decompresses `compressed`, the payload of `block`.
pub(crate) fn decompress(block: &BlockRef, compressed: &[u8]) -> Result<Vec<u8>, FormatError> {
    let raw = zstd::bulk::decompress(compressed, block.raw_len as usize)
        .map_err(|_| FormatError::Decompress { offset: block.offset })?;
    if raw.len() != block.raw_len as usize {
        return Err(FormatError::Decompress { offset: block.offset });
    }
    Ok(raw)
}

fn check_file_header(data: &[u8]) -> Result<(), FormatError> {
    if data.is_empty() {
        return Err(FormatError::Empty);
    }
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        return Err(FormatError::NotATrace);
    }
    if data.len() < FILE_HEADER_LEN {
        return Err(FormatError::Truncated { offset: 0 });
    }
    let version = u32::from_le_bytes([data[8], data[9], data[10], data[11]]);
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(FormatError::UnsupportedVersion {
            found: version,
            oldest: OLDEST_VERSION,
            newest: VERSION,
        });
    }
    Ok(())
}

/// Walks the block headers, verifying each checksum, until the end or the first damage.
fn index_blocks(
    data: &[u8],
    mut checked: impl FnMut(Range<u64>),
) -> (Vec<BlockRef>, Option<FormatError>) {
    let mut blocks = Vec::new();
    let mut offset = FILE_HEADER_LEN;
    while offset < data.len() {
        match check_block(data, offset) {
            Ok(block) => {
                let end = offset + BLOCK_HEADER_LEN + block.compressed_len as usize;
                checked(offset as u64..end as u64);
                offset = end;
                blocks.push(block);
            }
            Err(err) => return (blocks, Some(err)),
        }
    }
    (blocks, None)
}

fn check_block(data: &[u8], offset: usize) -> Result<BlockRef, FormatError> {
    let at = offset as u64;
    let header_bytes: &[u8; BLOCK_HEADER_LEN] = data
        .get(offset..offset + BLOCK_HEADER_LEN)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(FormatError::Truncated { offset: at })?;
    let header = RawBlockHeader::parse(header_bytes);
    let kind = BlockKind::from_byte(header.kind)
        .ok_or(FormatError::BadBlockKind { offset: at, kind: header.kind })?;
    if header.compressed_len > MAX_BLOCK_LEN || header.raw_len > MAX_BLOCK_LEN {
        return Err(FormatError::BadChecksum { offset: at });
    }
    let start = offset + BLOCK_HEADER_LEN;
    let payload = data
        .get(start..start + header.compressed_len as usize)
        .ok_or(FormatError::Truncated { offset: at })?;
    if crc32fast::hash(payload) != header.crc {
        return Err(FormatError::BadChecksum { offset: at });
    }
    Ok(BlockRef {
        offset: at,
        kind,
        compressed_len: header.compressed_len,
        raw_len: header.raw_len,
    })
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
