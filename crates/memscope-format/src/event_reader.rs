//! Events decoded one at a time. A reader keeps one block's decompressed payload (a few
//! bytes per event) rather than a `Vec` of 24-byte events, so an analysis that merges many
//! blocks in time order holds little memory per open block.

use crate::codec::{decode_event, decode_events_head};
use crate::error::{DecodeError, FormatError};
use crate::ids::ThreadId;
use crate::record::Event;
use crate::varint::Cursor;

/// The events of one events block, oldest first, decoded as they are asked for
/// (see [`crate::Trace::events`]).
///
/// Iteration yields each event, or once the error that stopped decoding (with the block's
/// offset), and then nothing.
pub struct EventReader {
    payload: Vec<u8>,
    pos: usize,
    offset: u64,
    thread: ThreadId,
    remaining: usize,
    unit: u64,
    previous: u64,
    failed: bool,
}

impl EventReader {
    /// Reads the payload's head; `offset` is the block's, for errors.
    pub(crate) fn new(payload: Vec<u8>, offset: u64) -> Result<Self, FormatError> {
        let mut cur = Cursor::new(&payload);
        let (thread, remaining, unit) =
            decode_events_head(&mut cur).map_err(|source| FormatError::Decode { offset, source })?;
        let pos = cur.position();
        Ok(EventReader { payload, pos, offset, thread, remaining, unit, previous: 0, failed: false })
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
            if self.pos != self.payload.len() {
                return self.fail(DecodeError::TrailingBytes);
            }
            return None;
        }
        let mut cur = Cursor::at(&self.payload, self.pos);
        match decode_event(&mut cur, self.unit, &mut self.previous) {
            Ok(event) => {
                self.pos = cur.position();
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
