use std::io;

/// What is wrong inside one block's payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload ended in the middle of a value.
    #[error("payload ends mid-value")]
    UnexpectedEnd,
    /// A varint ran past 64 bits.
    #[error("integer longer than 64 bits")]
    VarintOverflow,
    /// A value does not fit its field.
    #[error("value out of range")]
    ValueTooLarge,
    /// A length or count is larger than the rest of the payload.
    #[error("length {0} runs past the block")]
    LengthTooLarge(u64),
    /// An event kind byte that no version of the recorder writes.
    #[error("unknown event kind {0}")]
    BadEventKind(u8),
    /// A time unit other than nanoseconds or microseconds.
    #[error("unknown time unit {0}")]
    BadTimeUnit(u64),
    /// An end-reason tag that no version of the recorder writes.
    #[error("unknown end reason {0}")]
    BadEndReason(u64),
    /// Bytes left after the last field.
    #[error("bytes left after the record")]
    TrailingBytes,
    /// More items than a block may hold: events in a block, frames in a stack.
    #[error("{count} {what}, more than the {max} a block may hold")]
    TooMany {
        /// What is counted.
        what: &'static str,
        /// The count the block claims.
        count: u64,
        /// The most there may be.
        max: u64,
    },
    /// A size or time that no process can have: a block larger than the address space,
    /// a time past the limit, or one that runs past 2^64 as deltas add up.
    #[error("{what} {value} is beyond the limit of {max}")]
    OutOfRange {
        /// What the value is.
        what: &'static str,
        /// The value found (`u64::MAX` if it does not fit 64 bits).
        value: u64,
        /// The largest allowed.
        max: u64,
    },
}

/// Why a trace cannot be read, or where reading it had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The file has no bytes at all.
    #[error("the trace is empty")]
    Empty,
    /// The file does not start with the memscope magic.
    #[error("not a memscope trace (bad magic)")]
    NotATrace,
    /// The trace was written by a memscope with another format version.
    #[error(
        "trace format version {found} is not supported (this memscope reads versions {oldest} to {newest})"
    )]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// The oldest version this crate reads.
        oldest: u32,
        /// The version this crate writes.
        newest: u32,
    },
    /// The file ends inside a block header or payload.
    #[error("truncated at byte {offset}")]
    Truncated {
        /// Where the incomplete block starts.
        offset: u64,
    },
    /// The file header's checksum does not match it (version 4 on).
    #[error("file header checksum mismatch")]
    BadFileHeader,
    /// No block header whose checksum verifies starts here (version 4 on): the bytes up
    /// to the next one are unreadable.
    #[error("no valid block header at byte {offset}")]
    NoBlockHeader {
        /// Where the unreadable bytes start.
        offset: u64,
    },
    /// A block claims a payload larger than any block may hold.
    #[error("block at byte {offset} claims {len} bytes, more than a block may hold")]
    TooLarge {
        /// Where the block starts.
        offset: u64,
        /// The length it claims.
        len: u64,
    },
    /// Blocks are missing: the sequence numbers jump (version 4 on).
    #[error("{} missing before byte {offset}", block_span(*first, *last))]
    MissingBlocks {
        /// The block after the gap.
        offset: u64,
        /// The first missing sequence number.
        first: u64,
        /// The last missing sequence number.
        last: u64,
    },
    /// A block carries the sequence number of an earlier one (version 4 on); it is
    /// ignored.
    #[error("block #{seq} at byte {offset} repeats the block at byte {first}; ignored")]
    RepeatedBlock {
        /// Where the repeat starts.
        offset: u64,
        /// Its sequence number.
        seq: u64,
        /// Where the first block of that number starts.
        first: u64,
    },
    /// A block comes after blocks with higher sequence numbers (version 4 on); it is
    /// read in its place by number.
    #[error("block #{seq} at byte {offset} comes after block #{after}; read in sequence order")]
    OutOfOrder {
        /// Where the block starts.
        offset: u64,
        /// Its sequence number.
        seq: u64,
        /// The highest number seen before it.
        after: u64,
    },
    /// The last block is not an end record: the recording was cut off at a block
    /// boundary (`kill -9`, a full disk, a copy cut short).
    #[error("the trace ends at byte {offset} without an end record")]
    NoEnd {
        /// The file's length.
        offset: u64,
    },
    /// The trace's events disagree with a checkpoint or the end record, which count
    /// every event written before them, although no block is missing.
    #[error("the {what} at byte {offset} counts {} than the blocks before it hold", more_or_fewer(*missing))]
    CountMismatch {
        /// Where the checkpoint or end record starts.
        offset: u64,
        /// `checkpoint` or `end record`.
        what: &'static str,
        /// Events it counts that the blocks do not hold (negative: more are held).
        missing: i64,
    },
    /// A block header names a kind that does not exist.
    #[error("unknown block kind {kind} at byte {offset}")]
    BadBlockKind {
        /// Where the block starts.
        offset: u64,
        /// The kind byte found.
        kind: u8,
    },
    /// A block's checksum does not match its bytes.
    #[error("checksum mismatch in block at byte {offset}")]
    BadChecksum {
        /// Where the block starts.
        offset: u64,
    },
    /// A block's payload does not decompress.
    #[error("block at byte {offset} does not decompress")]
    Decompress {
        /// Where the block starts.
        offset: u64,
    },
    /// A block's payload does not decode.
    #[error("block at byte {offset} is corrupt: {source}")]
    Decode {
        /// Where the block starts.
        offset: u64,
        /// What is wrong inside it.
        source: DecodeError,
    },
    /// Events were asked of a block of another kind.
    #[error("block at byte {offset} holds no events")]
    NotEvents {
        /// Where the block starts.
        offset: u64,
    },
    /// The trace has no preamble block.
    #[error("the trace has no header block")]
    MissingMeta,
    /// Writing a block failed.
    #[error("cannot write trace")]
    Write(#[source] io::Error),
}

impl FormatError {
    /// The byte offset where damage starts, for errors that are about one place.
    pub fn offset(&self) -> Option<u64> {
        match self {
            FormatError::Truncated { offset }
            | FormatError::BadBlockKind { offset, .. }
            | FormatError::BadChecksum { offset }
            | FormatError::Decompress { offset }
            | FormatError::NotEvents { offset }
            | FormatError::Decode { offset, .. }
            | FormatError::NoBlockHeader { offset }
            | FormatError::TooLarge { offset, .. }
            | FormatError::MissingBlocks { offset, .. }
            | FormatError::RepeatedBlock { offset, .. }
            | FormatError::OutOfOrder { offset, .. }
            | FormatError::NoEnd { offset }
            | FormatError::CountMismatch { offset, .. } => Some(*offset),
            FormatError::BadFileHeader => Some(0),
            _ => None,
        }
    }
}

/// "block #5" or "blocks #5 to #7".
fn block_span(first: u64, last: u64) -> String {
    if first == last {
        format!("block #{first} is")
    } else {
        format!("blocks #{first} to #{last} are")
    }
}

/// "3 events more" (than the blocks hold) or "2 events fewer".
fn more_or_fewer(missing: i64) -> String {
    let (count, word) = if missing >= 0 { (missing, "more") } else { (-missing, "fewer") };
    let noun = if count == 1 { "event" } else { "events" };
    format!("{count} {noun} {word}")
}
