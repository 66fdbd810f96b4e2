//! Events decoded one at a time. A reader keeps one block's decompressed payload (a few
//! bytes per event) rather than a `Vec` of 24-byte events, so an analysis that merges many
//! blocks in time order holds little memory per open block.

use crate::codec::{decode_events_head, BlockKind, EventColumns};
use crate::error::{DecodeError, FormatError};
use crate::ids::ThreadId;
use crate::reader::{decompress, BlockRef};
use crate::record::Event;
use crate::varint::Cursor;

/// The events of one events block, oldest first, decoded as they are asked for
/// (see [`crate::Trace::events`]).
///
/// Iteration yields each event, or once the error that stopped decoding (with the block's
/// offset), and then nothing.
pub struct EventReader {
    payload: Vec<u8>,
    columns: EventColumns,
    offset: u64,
    thread: ThreadId,
    remaining: usize,
    failed: bool,
}

impl EventReader {
    /// Decompresses an events block's payload, as stored in the file at
    /// [`BlockRef::offset`] + [`BLOCK_HEADER_LEN`](crate::BLOCK_HEADER_LEN), for a reader
    /// that fetched it itself (with positioned reads, say, rather than a mapping).
    pub fn from_compressed(block: &BlockRef, compressed: &[u8]) -> Result<Self, FormatError> {
        if block.kind != BlockKind::Events {
            return Err(FormatError::NotEvents { offset: block.offset });
        }
        EventReader::from_raw(decompress(block, compressed)?, block.offset)
    }

    /// Reads a decompressed payload's head; `offset` is the block's, for errors.
    pub(crate) fn from_raw(payload: Vec<u8>, offset: u64) -> Result<Self, FormatError> {
        let mut cur = Cursor::new(&payload);
        let (thread, remaining, columns) = decode_events_head(&mut cur)
            .map_err(|source| FormatError::Decode { offset, source })?;
        Ok(EventReader { payload, columns, offset, thread, remaining, failed: false })
    }

    /// The thread that made the calls.
    pub fn thread(&self) -> ThreadId {
        self.thread
    }

    /// Events not yet read.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    fn fail(&mut self, source: DecodeError) -> Option<Result<Event, FormatError>> {
        self.failed = true;
        Some(Err(FormatError::Decode { offset: self.offset, source }))
    }
}

impl Iterator for EventReader {
    type Item = Result<Event, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.remaining == 0 {
            // Bytes after the last event mean the block is not what its kind says.
            return match self.columns.finish(&self.payload) {
                Ok(()) => None,
                Err(source) => self.fail(source),
            };
        }
        match self.columns.next_event(&self.payload) {
            Ok(event) => {
                self.remaining -= 1;
                Some(Ok(event))
            }
            Err(source) => self.fail(source),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining + 1))
    }
}
