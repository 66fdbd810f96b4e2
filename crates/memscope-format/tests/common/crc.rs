//! The CRC-32 the trace format uses, written out here so that tests check the
//! checksums without trusting the crates that compute them. Also used by
//! memscope-cli's tests.

/// The CRC-32 (IEEE) the format uses, computed bitwise.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
