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
            | FormatError::Decode { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}
