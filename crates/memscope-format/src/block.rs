//! Framing: the file header and the header in front of every block.
//!
//! ```text
//! file   = "MEMSCOPE" version:u32le flags:u32le block*
//! block  = kind:u8 compressed_len:u32le raw_len:u32le crc32:u32le payload
//! ```
//! The payload is zstd-compressed and the CRC covers it, so a reader can check a block
//! without decompressing it and can stop at the first damaged one.

/// The first eight bytes of every trace.
pub const MAGIC: &[u8; 8] = b"MEMSCOPE";
/// The format version this crate writes. Version 3 added the recorder's totals to the
/// end record.
pub const VERSION: u32 = 3;
/// The oldest version this crate still reads.
pub const OLDEST_VERSION: u32 = 2;
/// Bytes before the first block.
pub const FILE_HEADER_LEN: usize = 16;
/// Bytes of a block header.
pub const BLOCK_HEADER_LEN: usize = 13;
/// No writer makes blocks larger than this; a larger length means damage.
pub const MAX_BLOCK_LEN: u32 = 256 << 20;

pub(crate) fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut header = [0u8; FILE_HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header
}

/// A block's header fields, as read from the file.
pub(crate) struct RawBlockHeader {
    pub kind: u8,
    pub compressed_len: u32,
    pub raw_len: u32,
    pub crc: u32,
}

impl RawBlockHeader {
    pub(crate) fn parse(bytes: &[u8; BLOCK_HEADER_LEN]) -> Self {
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
        RawBlockHeader { kind: bytes[0], compressed_len: word(1), raw_len: word(5), crc: word(9) }
    }

    pub(crate) fn to_bytes(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut out = [0u8; BLOCK_HEADER_LEN];
        out[0] = self.kind;
        out[1..5].copy_from_slice(&self.compressed_len.to_le_bytes());
        out[5..9].copy_from_slice(&self.raw_len.to_le_bytes());
        out[9..13].copy_from_slice(&self.crc.to_le_bytes());
        out
    }
}
