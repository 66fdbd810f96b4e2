//! Problems found in a trace, gathered from the reader and from the queries that run
//! on it, however many threads find them.

use std::sync::{Mutex, PoisonError};

use memscope_format::{BlockRef, Damage, FormatError};

/// One problem: where, how many bytes, what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub offset: u64,
    pub length: u64,
    pub message: String,
    /// What kind of loss it is, for counting the events it took.
    pub loss: Loss,
}

/// Whether a problem may have cost events.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Loss {
    /// Bytes or blocks that held events may be gone.
    Events,
    /// Nothing was lost: a repeat ignored, a block moved, the file header's checksum.
    Nothing,
    /// The trace was cut at its end: what came after is unknown.
    Tail,
    /// A count disagrees; it says itself how many events.
    Counted(u64),
}

impl Problem {
    /// What the reader found on indexing.
    pub(crate) fn from_damage(damage: &Damage) -> Problem {
        let loss = match damage.error {
            FormatError::RepeatedBlock { .. }
            | FormatError::OutOfOrder { .. }
            | FormatError::BadFileHeader => Loss::Nothing,
            FormatError::NoEnd { .. } => Loss::Tail,
            _ => Loss::Events,
        };
        let (offset, length) = (damage.offset, damage.length);
        Problem { offset, length, message: damage.error.to_string(), loss }
    }

    /// A problem of the trace as a whole, found by a query: it is placed at the end of
    /// the file (`file_len`), with no bytes.
    pub(crate) fn of_trace(file_len: u64, message: String, loss: Loss) -> Problem {
        Problem { offset: file_len, length: 0, message, loss }
    }

    /// A block that does not decode: all of it is lost.
    pub(crate) fn of_block(block: &BlockRef, error: &FormatError) -> Problem {
        Problem {
            offset: block.offset,
            length: block.end() - block.offset,
            message: error.to_string(),
            loss: Loss::Events,
        }
    }
}

/// The problems found so far, each once.
#[derive(Default)]
pub(crate) struct Problems {
    found: Mutex<Vec<Problem>>,
}

impl Problems {
    /// Adds `problem` unless one of the same bytes is known (a block found bad by two
    /// queries, or in two ways, is one problem).
    pub(crate) fn note(&self, problem: Problem) {
        let mut found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        let same = |p: &Problem| {
            p.offset == problem.offset
                && p.length == problem.length
                && (p.length > 0 || p.message == problem.message)
        };
        let known = found.iter().any(same);
        if !known {
            found.push(problem);
        }
    }

    /// Every problem, in file order.
    pub(crate) fn all(&self) -> Vec<Problem> {
        let mut all = self.found.lock().unwrap_or_else(PoisonError::into_inner).clone();
        all.sort_by_key(|p| (p.offset, p.length));
        all
    }
}
