//! Framing: the file header and the header in front of every block.
//!
//! Version 4, which this crate writes:
//!
//! ```text
//! file   = "MEMSCOPE" version:u32le header_crc:u32le block*
//! block  = "MSBK" kind:u8 seq:u64le compressed_len:u32le raw_len:u32le
//!          payload_crc:u32le header_crc:u32le payload
//! ```
//! The file header's CRC covers its first twelve bytes, and a block header's CRC covers
//! every header byte before it, so the kind, the sequence number and both lengths are
//! checked before the reader acts on any of them; the payload CRC, itself covered,
//! checks the payload. The `MSBK` marker lets a reader find the next block after
//! damage without trusting any length: it scans for the marker and takes the first
//! header whose CRC verifies. Sequence numbers count blocks from 0 (the meta block), so
//! a block dropped, repeated or moved is found by its number.
//!
//! Versions 2 and 3, still read:
//!
//! ```text
//! file   = "MEMSCOPE" version:u32le flags:u32le block*
//! block  = kind:u8 compressed_len:u32le raw_len:u32le payload_crc:u32le payload
//! ```
//! There the CRC covers only the payload and blocks carry no numbers, so reading stops at
//! the first damaged block.

/// The first eight bytes of every trace.
pub const MAGIC: &[u8; 8] = b"MEMSCOPE";
/// The format version this crate writes. Version 3 added the recorder's totals to the
/// end record; version 4 checksums block headers and numbers the blocks.
pub const VERSION: u32 = 4;
/// The oldest version this crate still reads.
pub const OLDEST_VERSION: u32 = 2;
/// Bytes before the first block.
pub const FILE_HEADER_LEN: usize = 16;
/// Bytes of a block header (version 4).
pub const BLOCK_HEADER_LEN: usize = 29;
/// Bytes of a block header in versions 2 and 3.
pub const LEGACY_BLOCK_HEADER_LEN: usize = 13;
/// The marker that opens every version 4 block header.
pub const BLOCK_SYNC: &[u8; 4] = b"MSBK";
/// The largest payload, compressed or not, a version 4 block may have. The writer
/// splits what would be larger (events, stacks, samples), so a larger length is damage.
pub const MAX_BLOCK_LEN: u32 = 64 << 20;
/// The same limit for versions 2 and 3, whose writers had a larger one.
pub(crate) const LEGACY_MAX_BLOCK_LEN: u32 = 256 << 20;

/// The file header this crate writes.
pub(crate) fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut header = [0u8; FILE_HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    let crc = crc32fast::hash(&header[..12]);
    header[12..16].copy_from_slice(&crc.to_le_bytes());
    header
}

/// A little-endian u32 at `at` of a header already known to be long enough.
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A version 4 block header's fields, as read from the file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockHeader {
    pub kind: u8,
    pub seq: u64,
    pub compressed_len: u32,
    pub raw_len: u32,
    pub payload_crc: u32,
}

impl BlockHeader {
    /// Reads the header at the start of `bytes` if it is one: the marker is there and
    /// the header's CRC verifies. Nothing else is trusted before that.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        let header = bytes.get(..BLOCK_HEADER_LEN)?;
        if &header[..4] != BLOCK_SYNC || crc32fast::hash(&header[..25]) != u32_at(header, 25) {
            return None;
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&header[5..13]);
        Some(BlockHeader {
            kind: header[4],
            seq: u64::from_le_bytes(seq),
            compressed_len: u32_at(header, 13),
            raw_len: u32_at(header, 17),
            payload_crc: u32_at(header, 21),
        })
    }

    pub(crate) fn to_bytes(self) -> [u8; BLOCK_HEADER_LEN] {
        let mut out = [0u8; BLOCK_HEADER_LEN];
        out[..4].copy_from_slice(BLOCK_SYNC);
        out[4] = self.kind;
        out[5..13].copy_from_slice(&self.seq.to_le_bytes());
        out[13..17].copy_from_slice(&self.compressed_len.to_le_bytes());
        out[17..21].copy_from_slice(&self.raw_len.to_le_bytes());
        out[21..25].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32fast::hash(&out[..25]);
        out[25..29].copy_from_slice(&crc.to_le_bytes());
        out
    }
}

/// A version 2 or 3 block header's fields.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct LegacyBlockHeader {
    pub kind: u8,
    pub compressed_len: u32,
    pub raw_len: u32,
    pub payload_crc: u32,
}

impl LegacyBlockHeader {
    /// Reads the header at the start of `bytes`, if there are enough of them.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        let header = bytes.get(..LEGACY_BLOCK_HEADER_LEN)?;
        Some(LegacyBlockHeader {
            kind: header[0],
            compressed_len: u32_at(header, 1),
            raw_len: u32_at(header, 5),
            payload_crc: u32_at(header, 9),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_reads_back_and_any_changed_byte_is_refused() {
        let header =
            BlockHeader { kind: 5, seq: 7, compressed_len: 10, raw_len: 20, payload_crc: 0xabcd };
        let bytes = header.to_bytes();
        assert_eq!(BlockHeader::parse(&bytes), Some(header));
        for at in 0..BLOCK_HEADER_LEN {
            let mut changed = bytes;
            changed[at] ^= 0x01;
            assert_eq!(BlockHeader::parse(&changed), None, "byte {at}");
        }
        assert_eq!(BlockHeader::parse(&bytes[..BLOCK_HEADER_LEN - 1]), None);
    }
}
