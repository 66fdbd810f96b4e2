use std::io::Write;

use crate::block::{file_header, BlockHeader, BLOCK_HEADER_LEN, MAX_BLOCK_LEN};
use crate::codec::{self, BlockKind, MAX_BLOCK_EVENTS, MAX_BLOCK_SAMPLES};
use crate::error::FormatError;
use crate::ids::ThreadId;
use crate::record::{End, Event, Meta, ModuleMap, RssSample, SegmentStart, StackDef};

/// Stacks in one stacks block at most, and frames in all of them: a reader holds one
/// block's stacks at a time, so this keeps that small.
const STACKS_PER_BLOCK: usize = 4096;
const FRAMES_PER_BLOCK: usize = 1 << 18;

/// Writes a trace block by block. Each block reaches `out` in one `write_all`, so a
/// process killed between blocks leaves a trace whose every complete block is valid.
///
/// Blocks are numbered as they are written, from 0 for the meta block that
/// [`TraceWriter::new`] writes; a reader finds a block dropped, repeated or moved by its
/// number. A batch longer than a block may hold (events, stacks, samples) is written
/// as several blocks of the same kind, which readers take as one.
pub struct TraceWriter<W: Write> {
    out: W,
    raw: Vec<u8>,
    block: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
    bytes_written: u64,
    next_seq: u64,
}

impl<W: Write> TraceWriter<W> {
    /// Writes the file header and the [`Meta`] block. `level` is the zstd level: the
    /// recorder uses a low one so compression keeps up with the program.
    pub fn new(out: W, meta: &Meta, level: i32) -> Result<Self, FormatError> {
        let compressor = zstd::bulk::Compressor::new(level).map_err(FormatError::Write)?;
        let mut writer = TraceWriter {
            out,
            raw: Vec::new(),
            block: Vec::new(),
            compressor,
            bytes_written: 0,
            next_seq: 0,
        };
        writer.out.write_all(&file_header()).map_err(FormatError::Write)?;
        writer.bytes_written = file_header().len() as u64;
        writer.raw.clear();
        codec::encode_meta(&mut writer.raw, meta);
        writer.finish_block(BlockKind::Meta)?;
        Ok(writer)
    }

    /// Opens a new segment.
    pub fn write_segment_start(&mut self, start: &SegmentStart) -> Result<(), FormatError> {
        self.raw.clear();
        codec::encode_segment_start(&mut self.raw, start);
        self.finish_block(BlockKind::SegmentStart)
    }

    /// Records the module map.
    pub fn write_modules(&mut self, map: &ModuleMap) -> Result<(), FormatError> {
        self.raw.clear();
        codec::encode_modules(&mut self.raw, map);
        self.finish_block(BlockKind::Modules)
    }

    /// Defines stacks that events will refer to.
    pub fn write_stacks(&mut self, stacks: &[StackDef]) -> Result<(), FormatError> {
        let mut rest = stacks;
        loop {
            let take = stacks_for_one_block(rest);
            self.raw.clear();
            codec::encode_stacks(&mut self.raw, &rest[..take]);
            self.finish_block(BlockKind::Stacks)?;
            rest = &rest[take..];
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Writes one thread's events, oldest first.
    pub fn write_events(&mut self, thread: ThreadId, events: &[Event]) -> Result<(), FormatError> {
        for_each_part(events, MAX_BLOCK_EVENTS, |part| {
            self.raw.clear();
            codec::encode_events(&mut self.raw, thread, part);
            self.finish_block(BlockKind::Events)
        })
    }

    /// Writes resident-memory samples.
    pub fn write_rss(&mut self, samples: &[RssSample]) -> Result<(), FormatError> {
        for_each_part(samples, MAX_BLOCK_SAMPLES, |part| {
            self.raw.clear();
            codec::encode_rss(&mut self.raw, part);
            self.finish_block(BlockKind::Rss)
        })
    }

    /// Marks the end of the recording.
    pub fn write_end(&mut self, end: &End) -> Result<(), FormatError> {
        self.raw.clear();
        codec::encode_end(&mut self.raw, end);
        self.finish_block(BlockKind::End)
    }

    /// Bytes written so far, headers included.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// The sequence number the next block will carry: the number of blocks written.
    pub fn blocks_written(&self) -> u64 {
        self.next_seq
    }

    /// The underlying output.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    fn finish_block(&mut self, kind: BlockKind) -> Result<(), FormatError> {
        if self.raw.len() > MAX_BLOCK_LEN as usize {
            let len = self.raw.len() as u64;
            return Err(FormatError::TooLarge { offset: self.bytes_written, len });
        }
        let bound = zstd::zstd_safe::compress_bound(self.raw.len());
        self.block.clear();
        self.block.resize(BLOCK_HEADER_LEN + bound, 0);
        let compressed_len = self
            .compressor
            .compress_to_buffer(&self.raw, &mut self.block[BLOCK_HEADER_LEN..])
            .map_err(FormatError::Write)?;
        self.block.truncate(BLOCK_HEADER_LEN + compressed_len);
        let header = BlockHeader {
            kind: kind as u8,
            seq: self.next_seq,
            compressed_len: compressed_len as u32,
            raw_len: self.raw.len() as u32,
            payload_crc: crc32fast::hash(&self.block[BLOCK_HEADER_LEN..]),
        };
        self.block[..BLOCK_HEADER_LEN].copy_from_slice(&header.to_bytes());
        self.out.write_all(&self.block).map_err(FormatError::Write)?;
        // Numbered once written: a failed write leaves the number to the next attempt,
        // so the blocks that reach the file stay consecutive.
        self.next_seq += 1;
        self.bytes_written += self.block.len() as u64;
        Ok(())
    }
}

/// Calls `write` with parts of `items` of at most `max` each, and once with an empty
/// part if there are none, as a single call always wrote one block.
fn for_each_part<T>(
    items: &[T],
    max: u64,
    mut write: impl FnMut(&[T]) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    if items.is_empty() {
        return write(items);
    }
    items.chunks(max as usize).try_for_each(write)
}

/// How many of `stacks` go in the next block: at least one if there are any, and no
/// more than the block limits allow.
fn stacks_for_one_block(stacks: &[StackDef]) -> usize {
    let mut frames = 0;
    let mut take = 0;
    for stack in stacks.iter().take(STACKS_PER_BLOCK) {
        frames += stack.frames.len();
        if take > 0 && frames > FRAMES_PER_BLOCK {
            break;
        }
        take += 1;
    }
    take.max(1).min(stacks.len())
}
