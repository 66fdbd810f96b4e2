//! Every record survives a write and a read, and damage is reported at the exact byte.

use memscope_format::*;

fn sample_records() -> Vec<Record> {
    let module = Module {
        path: "/usr/lib/libfoo.so".into(),
        load_bias: 0x7f00_0000_0000,
        build_id: vec![0xab, 0xcd],
        ranges: std::iter::once(0x7f00_0000_0000..0x7f00_0001_0000).collect(),
    };
    vec![
        Record::SegmentStart(SegmentStart {
            index: 3,
            time_ns: 1_000_000,
            temporary: 4,
            frees: 9,
            stacks: vec![StackTotals {
                stack: StackId(2),
                live_bytes: 100,
                live_blocks: 1,
                alloc_bytes: 300,
                alloc_blocks: 3,
            }],
        }),
        Record::Modules(ModuleMap { time_ns: 7, modules: vec![module] }),
        Record::Stacks(vec![StackDef {
            id: StackId(2),
            frames: vec![0x7f00_0000_1234, 0x55_0000, 1],
        }]),
        Record::Events(EventBatch {
            thread: ThreadId(42),
            events: vec![
                Event { time_ns: 10, size: 100, stack: StackId(2), kind: EventKind::Alloc },
                Event { time_ns: 8, size: 100, stack: StackId(2), kind: EventKind::FreeTemporary },
                Event { time_ns: 30, size: u64::MAX, stack: StackId(0), kind: EventKind::Free },
            ],
        }),
        Record::Rss(vec![
            RssSample { time_ns: 5, rss_bytes: 4096 },
            RssSample { time_ns: 15, rss_bytes: 8192 },
        ]),
        Record::End(End {
            time_ns: 99,
            reason: EndReason::Signal(11),
            peak_rss_bytes: 1 << 20,
            dropped_events: 2,
            totals: Some(RunTotals {
                allocations: 7,
                frees: 5,
                temporary: 1,
                bytes_allocated: 700,
                leaked_blocks: 2,
                leaked_bytes: 200,
                peak_bytes: 600,
                peak_time_ns: 42_000,
                threads: 3,
            }),
        }),
    ]
}

fn meta() -> Meta {
    Meta {
        pid: 1234,
        start_unix_ms: 1_700_000_000_000,
        exe: "/bin/prog".into(),
        args: vec!["prog".into(), "--flag".into()],
        unwind: "dwarf".into(),
        max_frames: 64,
    }
}

fn write(records: &[Record]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = TraceWriter::new(&mut bytes, &meta(), 3).unwrap();
    for record in records {
        match record {
            Record::Meta(_) => unreachable!(),
            Record::SegmentStart(s) => writer.write_segment_start(s),
            Record::Modules(m) => writer.write_modules(m),
            Record::Stacks(s) => writer.write_stacks(s),
            Record::Events(b) => writer.write_events(b.thread, &b.events),
            Record::Rss(r) => writer.write_rss(r),
            Record::End(e) => writer.write_end(e),
        }
        .unwrap();
    }
    bytes
}

fn read_all(trace: &Trace) -> Vec<Record> {
    trace.blocks().iter().skip(1).map(|b| trace.decode_block(b).unwrap()).collect()
}

#[test]
fn every_record_round_trips() {
    let records = sample_records();
    let bytes = write(&records);
    let trace = Trace::parse(&bytes).unwrap();
    assert!(trace.damage().is_none());
    assert_eq!(trace.meta().unwrap(), meta());
    assert_eq!(read_all(&trace), records);
    assert_eq!(trace.segments().to_vec(), std::iter::once(1..7).collect::<Vec<_>>());
}

/// Version 2 wrote end records without totals: such a trace still reads, totals absent.
#[test]
fn a_version_2_trace_reads_without_totals() {
    let end = End { time_ns: 99, reason: EndReason::Exit, ..End::default() };
    let mut bytes = write(&[Record::End(end.clone())]);
    bytes[8] = 2;
    let trace = Trace::parse(&bytes).unwrap();
    assert_eq!(read_all(&trace), vec![Record::End(End { totals: None, ..end })]);
}

#[test]
fn truncated_tail_keeps_every_whole_block() {
    let bytes = write(&sample_records());
    let full = Trace::parse(&bytes).unwrap();
    let last = *full.blocks().last().unwrap();
    let cut = &bytes[..bytes.len() - 3];
    let trace = Trace::parse(cut).unwrap();
    assert_eq!(trace.blocks().len(), full.blocks().len() - 1);
    let damage = trace.damage().unwrap();
    assert!(matches!(damage, FormatError::Truncated { .. }));
    assert_eq!(damage.offset(), Some(last.offset));
    assert_eq!(damage.to_string(), format!("truncated at byte {}", last.offset));
}

#[test]
fn flipped_byte_is_found_at_its_block() {
    let mut bytes = write(&sample_records());
    let target = Trace::parse(&bytes).unwrap().blocks()[3];
    bytes[target.offset as usize + BLOCK_HEADER_LEN + 1] ^= 0x40;
    let trace = Trace::parse(&bytes).unwrap();
    assert_eq!(trace.blocks().len(), 3);
    assert_eq!(
        trace.damage().unwrap().to_string(),
        format!("checksum mismatch in block at byte {}", target.offset)
    );
}

#[test]
fn bad_kind_byte_is_reported_with_offset() {
    let mut bytes = write(&sample_records());
    let target = Trace::parse(&bytes).unwrap().blocks()[2];
    bytes[target.offset as usize] = 0xee;
    let trace = Trace::parse(&bytes).unwrap();
    assert_eq!(
        trace.damage().unwrap().to_string(),
        format!("unknown block kind 238 at byte {}", target.offset)
    );
}

#[test]
fn header_errors_are_fatal_and_specific() {
    assert!(matches!(Trace::parse(&[]), Err(FormatError::Empty)));
    assert!(matches!(Trace::parse(b"hello world, not a trace"), Err(FormatError::NotATrace)));
    let mut bytes = write(&[]);
    bytes[8] = 9;
    let err = Trace::parse(&bytes).err().unwrap();
    assert_eq!(
        err.to_string(),
        "trace format version 9 is not supported (this memscope reads versions 2 to 3)"
    );
    assert!(matches!(Trace::parse(&bytes[..12]), Err(FormatError::Truncated { offset: 0 })));
}

#[test]
fn valid_checksum_over_garbage_payload_is_a_decode_error() {
    let mut bytes = write(&sample_records());
    let target = Trace::parse(&bytes).unwrap().blocks()[1];
    let start = target.offset as usize + BLOCK_HEADER_LEN;
    let end = start + target.compressed_len as usize;
    bytes[start..end].fill(0x55);
    let crc = crc32fast_hash(&bytes[start..end]);
    bytes[target.offset as usize + 9..target.offset as usize + 13]
        .copy_from_slice(&crc.to_le_bytes());
    let trace = Trace::parse(&bytes).unwrap();
    assert!(trace.damage().is_none());
    let err = trace.decode_block(&trace.blocks()[1]).unwrap_err();
    assert_eq!(err.offset(), Some(target.offset));
}

/// The CRC-32 (IEEE) the format uses, computed bitwise so the test does not trust the
/// crate under test.
fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
