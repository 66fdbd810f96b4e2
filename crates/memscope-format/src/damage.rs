//! What the reader found wrong with a trace's framing, and where.

use crate::error::FormatError;

/// A stretch of a trace the reader could not use, with what it found there.
///
/// Bytes named here are skipped: reading goes on with the next block whose header
/// verifies. A block missing from the file (its sequence number skipped), a trace that
/// stops without its end record, and a count that disagrees are damage of length 0 at
/// the place where they show.
#[derive(Debug)]
pub struct Damage {
    /// The first byte concerned.
    pub offset: u64,
    /// How many bytes are unreadable or ignored from `offset` on.
    pub length: u64,
    /// What was found at `offset`.
    pub error: FormatError,
}

impl Damage {
    /// Damage of the bytes `offset..end`.
    pub(crate) fn bytes(offset: u64, end: u64, error: FormatError) -> Damage {
        Damage { offset, length: end.saturating_sub(offset), error }
    }

    /// Where the damaged bytes end (exclusive).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.length)
    }
}
