//! LEB128 integers: most deltas, sizes and ids fit in one or two bytes, which is what
//! keeps a trace small before compression even starts.

use crate::error::DecodeError;

pub(crate) fn put_u64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(crate) fn put_i64(out: &mut Vec<u8>, value: i64) {
    put_u64(out, zigzag(value));
}

/// The longest LEB128 encoding of a u64.
const MAX_LEN: usize = 10;

/// The zigzag form of a signed value: small magnitudes, either sign, stay small.
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Appends many values: room for all of them is reserved first, so the loop stores
/// bytes without growing the vector (an event column is thousands of values).
pub(crate) fn put_all(out: &mut Vec<u8>, values: impl ExactSizeIterator<Item = u64>) {
    out.reserve(values.len() * MAX_LEN);
    let spare = out.spare_capacity_mut();
    let mut written = 0;
    for mut value in values {
        while value >= 0x80 {
            spare[written].write((value as u8) | 0x80);
            written += 1;
            value >>= 7;
        }
        spare[written].write(value as u8);
        written += 1;
    }
    // SAFETY: the first `written` spare bytes were initialised just above.
    unsafe { out.set_len(out.len() + written) };
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A cursor over one decompressed block payload.
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    /// A cursor that resumes at byte `pos` of `data`.
    pub(crate) fn at(data: &'a [u8], pos: usize) -> Self {
        Cursor { data, pos }
    }

    /// How many bytes were read.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// All of the data, read or not.
    pub(crate) fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Marks everything as read (a caller decoded the rest by other means).
    pub(crate) fn skip_to_end(&mut self) {
        self.pos = self.data.len();
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.data.get(self.pos).ok_or(DecodeError::UnexpectedEnd)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintOverflow)
    }

    pub(crate) fn i64(&mut self) -> Result<i64, DecodeError> {
        let raw = self.u64()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.u64()?).map_err(|_| DecodeError::ValueTooLarge)
    }

    /// A length-prefixed byte string; the length is checked against what is left so a
    /// corrupt length can never make us allocate more than the block holds.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.len_prefix()?;
        let bytes = &self.data[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }

    /// A count of items that each take at least one byte, bounded by what is left.
    pub(crate) fn len_prefix(&mut self) -> Result<usize, DecodeError> {
        let len = self.u64()?;
        if len > (self.data.len() - self.pos) as u64 {
            return Err(DecodeError::LengthTooLarge(len));
        }
        Ok(len as usize)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_extremes() {
        let mut out = Vec::new();
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            put_u64(&mut out, v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            put_i64(&mut out, v);
        }
        let mut cur = Cursor::new(&out);
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(cur.u64().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(cur.i64().unwrap(), v);
        }
        assert!(cur.is_empty());
    }

    #[test]
    fn put_all_writes_what_put_u64_writes() {
        let values = [0, 1, 127, 128, 300, 1 << 35, u64::MAX];
        let (mut one_by_one, mut all) = (vec![7u8], vec![7u8]);
        values.iter().for_each(|&v| put_u64(&mut one_by_one, v));
        put_all(&mut all, values.iter().copied());
        assert_eq!(all, one_by_one);
    }

    #[test]
    fn rejects_overlong_varint() {
        let bytes = [0xffu8; 11];
        assert_eq!(Cursor::new(&bytes).u64(), Err(DecodeError::VarintOverflow));
    }

    #[test]
    fn rejects_length_beyond_block() {
        let mut out = Vec::new();
        put_u64(&mut out, 10);
        out.push(1);
        assert_eq!(Cursor::new(&out).bytes(), Err(DecodeError::LengthTooLarge(10)));
    }
}
