//! One or more trace files read as one trace: a single recording, or the files of a
//! rotated series, oldest first.
//!
//! Every file of a series opens with its own meta block and checkpoint, so each is
//! indexed on its own (in parallel). Their blocks are then numbered as one list, and
//! their bytes placed one after the other in one *virtual* offset space, so that the
//! queries and the damage accounting, which locate things by block index and byte
//! offset, work across files unchanged. [`TraceParts::locate`] turns a virtual offset
//! back into a file and the offset in it, for what the user is shown.

use std::io;
use std::ops::Range;
use std::path::Path;

use memscope_format::{BlockKind, BlockRef, EventReader, FormatError, Meta, Record, Trace};
use rayon::prelude::*;

use crate::error::AnalyzeError;
use crate::problems::Problem;
use crate::trace_file::TraceFile;

/// The files of one recording, indexed.
pub(crate) struct TraceParts<'a> {
    parts: Vec<Part<'a>>,
    /// Every intact block of every file, with virtual offsets.
    blocks: Vec<BlockRef>,
    /// Block index ranges of the segments, over all files.
    segments: Vec<Range<usize>>,
    /// What could not be read, with virtual offsets.
    damage: Vec<Problem>,
}

/// One file.
struct Part<'a> {
    file: &'a TraceFile,
    trace: Trace<'a>,
    /// Where its bytes start in the virtual offset space.
    base: u64,
    /// The index of its first block in the list of all blocks.
    first_block: usize,
}

impl<'a> TraceParts<'a> {
    /// Indexes `files` (oldest first), all at once. Fails if a file is not a trace at
    /// all; damage inside one is listed by [`TraceParts::damage`].
    pub(crate) fn index(files: &'a [TraceFile]) -> Result<TraceParts<'a>, AnalyzeError> {
        let traces: Vec<Trace<'a>> =
            files.par_iter().map(TraceFile::trace).collect::<Result<_, _>>()?;
        let mut parts = TraceParts {
            parts: Vec::with_capacity(files.len()),
            blocks: Vec::new(),
            segments: Vec::new(),
            damage: Vec::new(),
        };
        let last = files.len().saturating_sub(1);
        for (index, (file, trace)) in files.iter().zip(traces).enumerate() {
            parts.add(file, trace, index == last);
        }
        Ok(parts)
    }

    fn add(&mut self, file: &'a TraceFile, trace: Trace<'a>, is_last: bool) {
        let base = self.parts.last().map_or(0, |part| part.base + part.trace.len());
        let first_block = self.blocks.len();
        self.blocks.extend(trace.blocks().iter().map(|block| shifted(block, base)));
        self.segments.extend(
            trace.segments().iter().map(|range| range.start + first_block..range.end + first_block),
        );
        // Only the newest file of a series ends with an end record.
        let damage = trace
            .damage()
            .iter()
            .filter(|damage| is_last || !matches!(damage.error, FormatError::NoEnd { .. }));
        self.damage.extend(damage.map(|damage| {
            let problem = Problem::from_damage(damage);
            Problem { offset: problem.offset + base, ..problem }
        }));
        self.parts.push(Part { file, trace, base, first_block });
    }

    /// The format version of the oldest file.
    pub(crate) fn version(&self) -> u32 {
        self.parts.iter().map(|part| part.trace.version()).min().unwrap_or(0)
    }

    /// Every intact block, in order: file by file, in sequence order within each.
    pub(crate) fn blocks(&self) -> &[BlockRef] {
        &self.blocks
    }

    /// What could not be read on indexing, in order.
    pub(crate) fn damage(&self) -> &[Problem] {
        &self.damage
    }

    /// The bytes of all files.
    pub(crate) fn len(&self) -> u64 {
        self.parts.last().map_or(0, |part| part.base + part.trace.len())
    }

    /// Block index ranges of the segments; each begins with a `SegmentStart` block.
    pub(crate) fn segments(&self) -> &[Range<usize>] {
        &self.segments
    }

    /// The file the recording is read from first.
    pub(crate) fn first_path(&self) -> &Path {
        self.parts.first().map_or(Path::new(""), |part| part.file.path())
    }

    /// Who was recorded: the oldest file's meta block.
    pub(crate) fn meta(&self) -> Result<Meta, FormatError> {
        self.parts.first().map_or(Err(FormatError::MissingMeta), |part| part.trace.meta())
    }

    /// The meta block of the file that holds block `block`, if it is one.
    pub(crate) fn is_meta(&self, block: usize) -> bool {
        self.parts.iter().any(|part| part.first_block == block)
            && self.blocks.get(block).is_some_and(|b| b.kind == BlockKind::Meta)
    }

    /// Decompresses and decodes block `block`.
    pub(crate) fn decode(&self, block: usize) -> Result<Record, FormatError> {
        let (part, local) = self.local(block);
        part.trace.decode_block(&local)
    }

    /// A reader of events block `block`, fetched with a positioned read (see
    /// [`TraceFile`]).
    pub(crate) fn events(&self, block: usize) -> Result<EventReader, FormatError> {
        let (part, local) = self.local(block);
        // A read fails if the file shrank since it was indexed: the block is cut short.
        let payload = part
            .file
            .read_payload(&local)
            .map_err(|_: io::Error| FormatError::Truncated { offset: local.offset });
        payload.and_then(|payload| EventReader::from_compressed(&local, &payload))
    }

    /// The file that holds virtual offset `offset`, and the offset in that file.
    pub(crate) fn locate(&self, offset: u64) -> (&Path, u64) {
        let index = self.parts.partition_point(|part| part.base <= offset).saturating_sub(1);
        match self.parts.get(index) {
            Some(part) => (part.file.path(), offset - part.base),
            None => (Path::new(""), offset),
        }
    }

    /// Virtual offset `offset` as the offset inside its file, for messages.
    pub(crate) fn local_offset(&self, offset: u64) -> u64 {
        self.locate(offset).1
    }

    /// The first damage of a recording with no readable block, as the reason it is
    /// unreadable.
    pub(crate) fn first_damage(&self) -> Option<FormatError> {
        let first = self.parts.iter().find_map(|part| part.trace.damage().first())?;
        Some(match &first.error {
            FormatError::Truncated { offset } => FormatError::Truncated { offset: *offset },
            FormatError::NoBlockHeader { offset } => FormatError::NoBlockHeader { offset: *offset },
            FormatError::BadChecksum { offset } => FormatError::BadChecksum { offset: *offset },
            _ => return None,
        })
    }

    /// For each file, the range of blocks between its meta block and its first
    /// checkpoint (empty where there are none).
    pub(crate) fn before_first_checkpoints(&self) -> Vec<Range<usize>> {
        self.parts
            .iter()
            .map(|part| {
                let blocks = part.trace.blocks().len();
                let first = part.trace.segments().first().map_or(blocks, |s| s.start);
                part.first_block + 1.min(first)..part.first_block + first
            })
            .collect()
    }

    /// The part that holds block `block`, and the block as that file has it.
    fn local(&self, block: usize) -> (&Part<'a>, BlockRef) {
        let index = self.parts.partition_point(|part| part.first_block <= block) - 1;
        let part = &self.parts[index];
        (part, part.trace.blocks()[block - part.first_block])
    }
}

/// `block` moved by `base` bytes.
fn shifted(block: &BlockRef, base: u64) -> BlockRef {
    let mut block = *block;
    block.offset += base;
    block
}
