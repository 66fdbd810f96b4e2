//! Records of the capture area's control log: what the collector needs besides the
//! events. Each is `len: u32le, kind: u8, payload[len]`; integers are little-endian,
//! strings and lists carry a u32 length.

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

const META: u8 = 1;
const MODULES: u8 = 2;
const STACK: u8 = 3;
const THREAD_NAME: u8 = 4;

/// Who is recorded and how: the log's first record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaRecord {
    /// The executable, as `/proc/self/exe` names it.
    pub exe: String,
    /// The command line, `argv[0]` first.
    pub args: Vec<String>,
    /// How stacks are captured (`dwarf` or `fp`).
    pub unwind: String,
    /// The deepest stack recorded.
    pub max_frames: u32,
}

/// A loaded module.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleRecord {
    /// Path as the dynamic loader reported it.
    pub path: String,
    /// Runtime address minus the ELF virtual address.
    pub load_bias: u64,
    /// GNU build id, empty if none.
    pub build_id: Vec<u8>,
    /// Runtime address ranges of the loadable segments.
    pub ranges: Vec<Range<u64>>,
}

/// One decoded log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The meta record.
    Meta(MetaRecord),
    /// Every module seen so far.
    Modules(Vec<ModuleRecord>),
    /// A new stack: its id and return addresses, innermost first.
    Stack(u32, Vec<u64>),
    /// A thread's name (its `comm`), at its first event or after it changed: the
    /// thread id and the name.
    ThreadName(u32, String),
}

/// Appends little-endian values.
#[derive(Default)]
pub(crate) struct Encoder(pub Vec<u8>);

impl Encoder {
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn bytes(&mut self, bytes: &[u8]) {
        self.u32(bytes.len() as u32);
        self.0.extend_from_slice(bytes);
    }
}

/// The meta record's kind and payload.
pub(crate) fn encode_meta(meta: &MetaRecord) -> (u8, Vec<u8>) {
    let mut out = Encoder::default();
    out.bytes(meta.exe.as_bytes());
    out.u32(meta.args.len() as u32);
    meta.args.iter().for_each(|arg| out.bytes(arg.as_bytes()));
    out.bytes(meta.unwind.as_bytes());
    out.u32(meta.max_frames);
    (META, out.0)
}

/// The modules record's kind and payload.
pub(crate) fn encode_modules(modules: &[ModuleRecord]) -> (u8, Vec<u8>) {
    let mut out = Encoder::default();
    out.u32(modules.len() as u32);
    for module in modules {
        out.bytes(module.path.as_bytes());
        out.u64(module.load_bias);
        out.bytes(&module.build_id);
        out.u32(module.ranges.len() as u32);
        for range in &module.ranges {
            out.u64(range.start);
            out.u64(range.end);
        }
    }
    (MODULES, out.0)
}

/// A stack record's kind and head (id and frame count); the frames follow as u64le.
pub(crate) fn stack_head(id: u32, frames: usize) -> (u8, [u8; 8]) {
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(&id.to_le_bytes());
    head[4..].copy_from_slice(&(frames as u32).to_le_bytes());
    (STACK, head)
}

/// A thread name record's kind and head (thread id and name length); the name's bytes
/// follow.
pub(crate) fn thread_name_head(tid: u32, name: &[u8]) -> (u8, [u8; 8]) {
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(&tid.to_le_bytes());
    head[4..].copy_from_slice(&(name.len() as u32).to_le_bytes());
    (THREAD_NAME, head)
}

struct Decoder<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.bytes.get(..n)?, self.bytes.get(n..)?);
        self.bytes = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    fn string(&mut self) -> Option<String> {
        Some(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
    /// A count of items each at least `min` bytes long: never more than the rest holds.
    fn count(&mut self, min: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.checked_mul(min)? <= self.bytes.len()).then_some(n)
    }
}

fn decode_meta(d: &mut Decoder) -> Option<MetaRecord> {
    let exe = d.string()?;
    let args = (0..d.count(4)?).map(|_| d.string()).collect::<Option<_>>()?;
    Some(MetaRecord { exe, args, unwind: d.string()?, max_frames: d.u32()? })
}

fn decode_modules(d: &mut Decoder) -> Option<Vec<ModuleRecord>> {
    (0..d.count(20)?)
        .map(|_| {
            let path = d.string()?;
            let load_bias = d.u64()?;
            let build_id = d.bytes()?.to_vec();
            let ranges =
                (0..d.count(16)?).map(|_| Some(d.u64()?..d.u64()?)).collect::<Option<_>>()?;
            Some(ModuleRecord { path, load_bias, build_id, ranges })
        })
        .collect()
}

fn decode_stack(d: &mut Decoder) -> Option<(u32, Vec<u64>)> {
    let id = d.u32()?;
    let frames = (0..d.count(8)?).map(|_| d.u64()).collect::<Option<_>>()?;
    Some((id, frames))
}

fn decode_thread_name(d: &mut Decoder) -> Option<(u32, String)> {
    Some((d.u32()?, d.string()?))
}

/// Decodes the complete records at the start of `bytes`; returns them with the number
/// of bytes they took, and whether a record did not decode (damage: the rest is skipped).
pub fn decode_records(bytes: &[u8]) -> (Vec<Record>, usize, bool) {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(head) = bytes.get(at..at + 5) {
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let Some(payload) = bytes.get(at + 5..at + 5 + len) else { break };
        let mut d = Decoder { bytes: payload };
        let record = match head[4] {
            META => decode_meta(&mut d).map(Record::Meta),
            MODULES => decode_modules(&mut d).map(Record::Modules),
            STACK => decode_stack(&mut d).map(|(id, frames)| Record::Stack(id, frames)),
            THREAD_NAME => {
                decode_thread_name(&mut d).map(|(tid, name)| Record::ThreadName(tid, name))
            }
            _ => None,
        };
        let Some(record) = record else { return (records, bytes.len(), true) };
        records.push(record);
        at += 5 + len;
    }
    (records, at, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed((kind, payload): (u8, Vec<u8>)) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_le_bytes().to_vec();
        out.push(kind);
        out.extend(payload);
        out
    }

    #[test]
    fn records_round_trip_and_a_partial_one_waits() {
        let meta = MetaRecord {
            exe: "/bin/x".into(),
            args: alloc::vec!["x".into(), "-v".into()],
            unwind: "dwarf".into(),
            max_frames: 64,
        };
        let module = ModuleRecord {
            path: "/lib/libc.so.6".into(),
            load_bias: 0x7f00,
            build_id: alloc::vec![1, 2, 3],
            ranges: alloc::vec![0x7f00..0x8f00],
        };
        let (kind, head) = stack_head(7, 2);
        let mut stack = head.to_vec();
        stack.extend(0x10u64.to_le_bytes());
        stack.extend(0x20u64.to_le_bytes());
        let mut log = framed(encode_meta(&meta));
        log.extend(framed(encode_modules(core::slice::from_ref(&module))));
        log.extend(framed((kind, stack)));
        let (kind, head) = thread_name_head(42, b"worker");
        let mut name = head.to_vec();
        name.extend(b"worker");
        log.extend(framed((kind, name)));
        let whole = log.len();
        log.extend(&[9, 0, 0]);
        let (records, used, damaged) = decode_records(&log);
        assert_eq!(
            records,
            [
                Record::Meta(meta),
                Record::Modules(alloc::vec![module]),
                Record::Stack(7, alloc::vec![0x10, 0x20]),
                Record::ThreadName(42, "worker".into()),
            ]
        );
        assert_eq!((used, damaged), (whole, false));
    }

    #[test]
    fn a_count_larger_than_the_record_is_damage() {
        let mut payload = 7u32.to_le_bytes().to_vec();
        payload.extend(u32::MAX.to_le_bytes());
        let (records, _, damaged) = decode_records(&framed((STACK, payload)));
        assert!(records.is_empty());
        assert!(damaged);
    }
}
