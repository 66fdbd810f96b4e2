use std::io::Write;

use crate::block::{file_header, RawBlockHeader, BLOCK_HEADER_LEN};
use crate::codec::{self, BlockKind};
use crate::error::FormatError;
use crate::ids::ThreadId;
use crate::record::{End, Event, Meta, ModuleMap, RssSample, SegmentStart, StackDef};

/// Writes a trace block by block. Each block reaches `out` in one `write_all`, so a
/// process killed between blocks leaves a trace whose every complete block is valid.
pub struct TraceWriter<W: Write> {
    out: W,
    raw: Vec<u8>,
    block: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
    bytes_written: u64,
}

impl<W: Write> TraceWriter<W> {
    /// Writes the file header and the [`Meta`] block. `level` is the zstd level: the
    /// recorder uses a low one so compression keeps up with the program.
    pub fn new(out: W, meta: &Meta, level: i32) -> Result<Self, FormatError> {
        let compressor = zstd::bulk::Compressor::new(level).map_err(FormatError::Write)?;
        let mut writer =
            TraceWriter { out, raw: Vec::new(), block: Vec::new(), compressor, bytes_written: 0 };
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
        self.raw.clear();
        codec::encode_stacks(&mut self.raw, stacks);
        self.finish_block(BlockKind::Stacks)
    }

    /// Writes one thread's events, oldest first.
    pub fn write_events(&mut self, thread: ThreadId, events: &[Event]) -> Result<(), FormatError> {
        self.raw.clear();
        codec::encode_events(&mut self.raw, thread, events);
        self.finish_block(BlockKind::Events)
    }

    /// Writes resident-memory samples.
    pub fn write_rss(&mut self, samples: &[RssSample]) -> Result<(), FormatError> {
        self.raw.clear();
        codec::encode_rss(&mut self.raw, samples);
        self.finish_block(BlockKind::Rss)
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

    /// The underlying output.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    fn finish_block(&mut self, kind: BlockKind) -> Result<(), FormatError> {
        let bound = zstd::zstd_safe::compress_bound(self.raw.len());
        self.block.clear();
        self.block.resize(BLOCK_HEADER_LEN + bound, 0);
        let compressed_len = self
            .compressor
            .compress_to_buffer(&self.raw, &mut self.block[BLOCK_HEADER_LEN..])
            .map_err(FormatError::Write)?;
        self.block.truncate(BLOCK_HEADER_LEN + compressed_len);
        let header = RawBlockHeader {
            kind: kind as u8,
            compressed_len: compressed_len as u32,
            raw_len: self.raw.len() as u32,
            crc: crc32fast::hash(&self.block[BLOCK_HEADER_LEN..]),
        };
        self.block[..BLOCK_HEADER_LEN].copy_from_slice(&header.to_bytes());
        self.out.write_all(&self.block).map_err(FormatError::Write)?;
        self.bytes_written += self.block.len() as u64;
        Ok(())
    }
}
